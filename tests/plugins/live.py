"""Fixtures for live events, webhooks, logs and metrics.

``webhook_receiver``: an HTTP server on 127.0.0.1 that records every request
and answers with the status codes a test scripts. ``read_sse`` parses a
streaming ``requests`` response into events.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class WebhookReceiver:
    def __init__(self):
        self.requests: list[dict] = []
        # respond(body bytes) -> status code; 200 for everything by default.
        self.respond = lambda body: 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    status = receiver.respond(body)
                    receiver.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                              "body": body, "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def received(self) -> list[dict]:
        with self._lock:
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def read_sse(response, until_final: bool = True, limit: int | None = None) -> list[dict]:
    """Events ({id, event, data}) from a streaming requests response.

    Stops after the stream ends, or after ``limit`` events; comment lines are
    kept as {"comment": text} so heartbeat tests can see them.
    """
    events, current = [], {}
    for raw in response.iter_lines(decode_unicode=True):
        line = raw if isinstance(raw, str) else raw.decode()
        if line.startswith(":"):
            events.append({"comment": line[1:].strip()})
            continue
        if not line:
            if "data" in current:
                current["data"] = json.loads(current["data"])
                events.append(current)
                if limit is not None and sum(1 for e in events if "data" in e) >= limit:
                    return events
            current = {}
            continue
        name, _, value = line.partition(":")
        current[name] = value[1:] if value.startswith(" ") else value
    return events
