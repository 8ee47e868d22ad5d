// [herald] The seed's Express.js Implementation (seed/webhook-integration-guide.md),
// copied as is. Every line added for the test harness is marked [herald].
const express = require('express');
const crypto = require('crypto');
const app = express();

// Use raw body parser for webhook verification
app.use('/webhooks', express.raw({ type: 'application/json' }));

const WEBHOOK_SECRET = process.env.BRAINSAIT_WEBHOOK_SECRET;

function verifyWebhookSignature(payload, signature) {
  const expectedSignature = crypto
    .createHmac('sha256', WEBHOOK_SECRET)
    .update(payload)
    .digest('hex');
  
  return crypto.timingSafeEqual(
    Buffer.from(signature, 'hex'),
    Buffer.from(expectedSignature, 'hex')
  );
}

app.post('/webhooks/brainsait', (req, res) => {
  const signature = req.headers['x-brainsait-signature'];
  const payload = req.body;
  
  // Verify webhook signature
  if (!verifyWebhookSignature(payload, signature)) {
    console.error('Invalid webhook signature');
    console.log('REJECTED'); // [herald] verdict line
    return res.status(401).send('Invalid signature');
  }
  
  const event = JSON.parse(payload.toString());
  console.log(`VERIFIED ${event.id}`); // [herald] verdict line
  
  try {
    handleWebhookEvent(event);
    res.status(200).send('OK');
  } catch (error) {
    console.error('Webhook handling error:', error);
    res.status(500).send('Internal server error');
  }
});

function handleWebhookEvent(event) {
  switch (event.event) {
    case 'payment.completed':
      handlePaymentCompleted(event.data.object);
      break;
    case 'order.created':
      handleOrderCreated(event.data.object);
      break;
    case 'user.created':
      handleUserCreated(event.data.object);
      break;
    default:
      console.log(`Unhandled event type: ${event.event}`);
  }
}

function handlePaymentCompleted(payment) {
  console.log('Payment completed:', payment.id);
  
  // Update local database
  // Send confirmation email
  // Update analytics
  // Fulfill order
}

function handleOrderCreated(order) {
  console.log('New order created:', order.id);
  
  // Process inventory
  // Send order confirmation
  // Update CRM
  // Generate invoice
}

// [herald] The seed calls handleUserCreated but never defines it, so every
// user.created event would end in a ReferenceError (500). Defined here in the
// same shape as the seed's other handlers.
function handleUserCreated(user) {
  console.log('User created:', user.id);
}

// [herald] A throw in the route (e.g. timingSafeEqual on a missing or
// wrong-length signature, or a body that express.raw did not read) is answered
// by Express's default error handler (500; stack on stderr). Print the verdict
// line, then hand the error on unchanged.
app.use((err, req, res, next) => {
  console.log('REJECTED');
  next(err);
});

// [herald] Loopback only; PORT=0 (default) picks a free port. First stdout line.
const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`LISTENING ${server.address().port}`);
});
