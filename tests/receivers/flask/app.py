# [herald] The seed's Python Flask Implementation (seed/webhook-integration-guide.md),
# copied as is. Every line added for the test harness is marked [herald].
from flask import Flask, request, abort
import hmac
import hashlib
import json
import os

app = Flask(__name__)

# [herald] Whole lines, flushed at once, never interleaved between the
# threaded server's request threads (shadows print for this module only).
import builtins, threading  # noqa: E402
_print_lock = threading.Lock()


def print(*args, **kwargs):
    with _print_lock:
        builtins.print(*args, **kwargs, flush=True)

WEBHOOK_SECRET = os.environ.get('BRAINSAIT_WEBHOOK_SECRET')

def verify_webhook_signature(payload, signature):
    """Verify webhook signature"""
    expected_signature = hmac.new(
        WEBHOOK_SECRET.encode(),
        payload,
        hashlib.sha256
    ).hexdigest()
    
    return hmac.compare_digest(signature, expected_signature)

@app.route('/webhooks/brainsait', methods=['POST'])
def handle_webhook():
    signature = request.headers.get('X-BrainSAIT-Signature')
    payload = request.get_data()
    
    if not verify_webhook_signature(payload, signature):
        print('REJECTED')  # [herald] verdict line
        abort(401, 'Invalid signature')
    
    try:
        event = json.loads(payload.decode())
        print(f"VERIFIED {event.get('id')}")  # [herald] verdict line
        handle_webhook_event(event)
        return 'OK', 200
    except Exception as e:
        print(f'Webhook error: {e}')
        return 'Error', 500

def handle_webhook_event(event):
    """Handle different webhook events"""
    event_type = event['event']
    data = event['data']['object']
    
    handlers = {
        'payment.completed': handle_payment_completed,
        'order.created': handle_order_created,
        'user.created': handle_user_created,
    }
    
    handler = handlers.get(event_type)
    if handler:
        handler(data)
    else:
        print(f'Unhandled event type: {event_type}')

def handle_payment_completed(payment):
    """Handle completed payment"""
    print(f'Payment completed: {payment["id"]}')
    
    # Update order status
    # Send receipt email
    # Update analytics
    # Process fulfillment

def handle_order_created(order):
    """Handle new order"""
    print(f'Order created: {order["id"]}')
    
    # Validate inventory
    # Create fulfillment task
    # Send confirmation
    # Update CRM


# [herald] The seed's handlers dict names handle_user_created but the seed never
# defines it: without this, building the dict raises NameError for EVERY event
# and the seed's except answers 500. Defined in the shape of the other handlers.
def handle_user_created(user):
    """Handle new user"""
    print(f'User created: {user["id"]}')


# [herald] An exception outside the seed's try (compare_digest(None, str) when
# the X-BrainSAIT-Signature header is missing raises TypeError) is answered 500
# by Flask as before; this only prints the verdict line for it.
@app.teardown_request
def _herald_log_unhandled(exc):
    if exc is not None:
        print('REJECTED')


# [herald] Loopback only; PORT=0 (default) picks a free port. Threaded server.
if __name__ == '__main__':
    from werkzeug.serving import make_server

    server = make_server('127.0.0.1', int(os.environ.get('PORT') or 0), app, threaded=True)
    print(f'LISTENING {server.server_port}')
    server.serve_forever()
