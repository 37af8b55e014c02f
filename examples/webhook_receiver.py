"""A small webhook receiver: verifies each delivery with the `standardwebhooks` library, prints each event
on one line, and ignores duplicates by their `webhook-id`.

    pip install standardwebhooks
    python examples/webhook_receiver.py --secret whsec_... [--port 8000]

Register http://127.0.0.1:8000/webhooks as an endpoint (POST /v1/webhook_endpoints); the answer's
`secret` is the one to pass here. The local stack (`make run`) delivers to loopback URLs; deployed,
endpoints must be public https URLs.

What a receiver must do, and this one does:
- verify the signature over the raw body, before parsing it (a wrong signature or a timestamp more
  than 5 minutes away is refused: 400, and the gateway retries);
- answer 2xx quickly (the gateway waits 10 s at most), and do the work afterwards;
- ignore a duplicate: delivery is at least once (a retry after a lost answer, a region's takeover)
  and every delivery of one event carries the same `webhook-id`;
- not rely on the order: compare `created_at` and the object's `status` to ignore a stale event.
"""

from __future__ import annotations

import argparse
import json
import threading
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

MAX_REMEMBERED = 100_000  # ids seen: a real receiver keeps them in its database, with the processing


class SeenIds:
    """The webhook-ids already processed (the oldest forgotten past MAX_REMEMBERED)."""

    def __init__(self) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, webhook_id: str) -> bool:
        with self._lock:
            if webhook_id in self._ids:
                return False
            self._ids[webhook_id] = None
            if len(self._ids) > MAX_REMEMBERED:
                self._ids.popitem(last=False)
            return True


def make_handler(webhook: Webhook, seen: SeenIds) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                event = webhook.verify(body, headers)
            except WebhookVerificationError as error:
                print(f"refused: {error}", flush=True)
                self._answer(400)
                return
            if not seen.first_time(headers["webhook-id"]):
                print(f"duplicate {headers['webhook-id']} ignored", flush=True)
                self._answer(200)
                return
            data = event["data"]
            summary = {"status": data.get("status"), "amount": data.get("amount"), "currency": data.get("currency")}
            shown = " ".join(f"{k}={v}" for k, v in summary.items() if v is not None)
            print(f"{event['created_at']} {event['id']} {event['type']} {data.get('id')} {shown}", flush=True)
            self._answer(200)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print verified webhook events, one per line.")
    parser.add_argument("--secret", required=True, help="the endpoint's secret (whsec_...)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(Webhook(args.secret), SeenIds()))
    print(f"listening on http://{args.host}:{server.server_port}/webhooks", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print(json.dumps({"stopped": True}), flush=True)


if __name__ == "__main__":
    main()
