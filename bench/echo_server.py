"""The load benchmark's baseline: the least an HTTP server on this machine can do per request.

The standard library's ThreadingHTTPServer (the local gateway is built on it too), HTTP/1.1
keep-alive, Nagle off; POST answers 201 with a new payment id, anything else 200, no storage.
`python -m bench.echo_server` prints `{"port": N}` and serves until its stdin closes.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(201, {"id": "pay_" + uuid.uuid4().hex[:26].upper(), "status": "authorized"})

    def do_GET(self) -> None:
        self._answer(200, {"data": [], "next_cursor": None})

    def _answer(self, status: int, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        return None


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # socketserver's default backlog of 5 drops SYNs under a burst of connects

    def handle_error(self, request: object, client_address: object) -> None:
        return None  # a load generator that stops mid-request resets its connections: not news


def main() -> None:
    server = EchoServer(("127.0.0.1", 0), EchoHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdout.write(json.dumps({"port": server.server_port}) + "\n")
    sys.stdout.flush()
    sys.stdin.read()  # until the parent closes our stdin (or dies)
    server.shutdown()


if __name__ == "__main__":
    main()
