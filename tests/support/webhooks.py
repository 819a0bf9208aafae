"""A webhook receiver on 127.0.0.1: records every POST and answers as the test scripts."""

import threading
from collections.abc import Callable

from tests.support.http import LocalHTTPServer, QuietHandler


class _ReceiverHandler(QuietHandler):
    def do_POST(self) -> None:
        receiver: WebhookReceiver = self.owner
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with receiver.lock:
            status = receiver.respond(body)
            receiver.requests.append(
                {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body, "status": status}
            )
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


class WebhookReceiver(LocalHTTPServer):
    Handler = _ReceiverHandler

    def __init__(self) -> None:
        self.requests: list[dict] = []
        # respond(body bytes) -> status code; 200 for everything by default.
        self.respond: Callable[[bytes], int] = lambda body: 200
        self.lock = threading.Lock()
        super().__init__()

    @property
    def url(self) -> str:
        return f"{self.base_url}/hook"

    def received(self) -> list[dict]:
        with self.lock:
            return list(self.requests)

    def close(self) -> None:
        self.stop()
