"""Standard Webhooks receiver: verifies webhook-id / webhook-timestamp /
webhook-signature with the reference PyPI library `standardwebhooks`.

Env: STANDARD_WEBHOOK_SECRET (the endpoint's `whsec_...` secret),
     PORT (0 or unset = pick a free port).
Listens on 127.0.0.1 (ThreadingHTTPServer), accepts POST on any path.
Stdout: first line `LISTENING <port>`, then one line per request:
`VERIFIED <event id>` (answer 200) or `REJECTED <reason>` (answer 401).

The library (1.1.0) checks the timestamp against now with a 5-minute
tolerance either way, and accepts a space-separated list of signatures when
any `v1,` entry matches (secret rotation).
"""

import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

SECRET = os.environ.get("STANDARD_WEBHOOK_SECRET")
if not SECRET:
    sys.exit("standard_check.py: STANDARD_WEBHOOK_SECRET is not set")
WEBHOOK = Webhook(SECRET)

_out = threading.Lock()


def say(line):
    with _out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers up to the empty line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self._read_body()
        headers = {k: v for k, v in self.headers.items()}
        try:
            event = WEBHOOK.verify(body, headers)
        except Exception as e:  # WebhookVerificationError, but also ValueError etc.
            say(f"REJECTED {type(e).__name__}: {e}")
            self._answer(401, "Invalid signature")
            return
        event_id = event.get("id") if isinstance(event, dict) else None
        say(f"VERIFIED {event_id if event_id is not None else headers.get('webhook-id')}")
        self._answer(200, "OK")

    def do_GET(self):
        self._answer(405, "Method not allowed")

    def log_message(self, fmt, *args):  # access log to stderr, as http.server does
        sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT") or 0)), Handler)
    server.daemon_threads = True
    say(f"LISTENING {server.server_address[1]}")
    server.serve_forever()


if __name__ == "__main__":
    main()
