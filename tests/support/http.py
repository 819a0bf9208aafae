"""The one threaded HTTP test server: a free loopback port, a daemon thread per request.

A server is a subclass that names its ``Handler``; the handler reaches the
server object (its script, what it recorded) as ``self.owner``. ``release``
is set on ``stop()``, so a handler that waits on it (a hang, a stalled stream)
ends with the server instead of holding a thread.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps pytest's output clean and knows its server object."""

    server: "_Server"

    @property
    def owner(self) -> Any:
        return self.server.owner

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_body(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: "LocalHTTPServer"


class LocalHTTPServer:
    """Serves ``Handler`` on ``host`` (127.0.0.1, allow-listed for the session) once started."""

    Handler: type[QuietHandler] = QuietHandler

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.release = threading.Event()
        self._httpd = _Server((host, 0), self.Handler)
        self._httpd.owner = self
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=type(self).__name__, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
