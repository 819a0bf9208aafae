"""A loopback "internal service" that records every TCP connection, HTTP request
and UDP datagram it gets and answers a secret, and a "public" server (the one
loopback port a security test allow-lists) that tries to bounce jobs into it:
with a redirect, a CDP endpoint naming an internal websocket, a WebRTC page."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class InternalService:
    """What a job must never reach: counts TCP connections (with the bytes each sent)
    and UDP datagrams; answers every TCP request with ``secret``."""

    def __init__(self) -> None:
        self.secret = f"INTERNAL-SECRET-{uuid.uuid4().hex}"
        self.connections: list[bytes] = []
        self.datagrams: list[tuple[bytes, tuple]] = []
        self._tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self._tcp.getsockname()[1]
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind(("127.0.0.1", 0))
        self.udp_port = self._udp.getsockname()[1]
        self._closed = False
        for target in (self._accept_loop, self._udp_loop):
            threading.Thread(target=target, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        index = len(self.connections)
        self.connections.append(b"")
        conn.settimeout(3)
        data = b""
        try:
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        self.connections[index] = data
        body = self.secret.encode()
        try:
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
        except OSError:
            pass
        conn.close()

    def _udp_loop(self) -> None:
        while not self._closed:
            try:
                data, addr = self._udp.recvfrom(65536)
            except OSError:
                return
            self.datagrams.append((data, addr))

    def seen(self) -> dict:
        return {
            "tcp_connections": len(self.connections),
            "http_requests": [c.split(b"\r\n", 1)[0] for c in self.connections if c],
            "udp_datagrams": len(self.datagrams),
        }

    def assert_nothing_seen(self) -> None:
        assert self.seen() == {"tcp_connections": 0, "http_requests": [], "udp_datagrams": 0}

    def close(self) -> None:
        self._closed = True
        for sock in (self._tcp, self._udp):
            sock.close()


WEBRTC_PAGE = """<!doctype html><html><head><title>webrtc</title></head><body><script>
const found = [];
async function probe() {
  try {
    const pc = new RTCPeerConnection({iceServers: [{urls: 'stun:127.0.0.1:%(udp)d'},
      {urls: 'turn:127.0.0.1:%(udp)d?transport=udp', username: 'u', credential: 'p'}]});
    pc.onicecandidate = (e) => { if (e.candidate) found.push(e.candidate.candidate); };
    pc.createDataChannel('x');
    await pc.setLocalDescription(await pc.createOffer());
  } catch (e) { found.push('rtc-error:' + e.name); }
  try {
    const wt = new WebTransport('https://127.0.0.1:%(udp)d/');
    wt.ready.catch(() => {}); wt.closed.catch(() => {});
  } catch (e) { found.push('webtransport-error:' + e.name); }
  setTimeout(() => { fetch('/report?ran=1&candidates=' + encodeURIComponent(found.join('|')))
    .then(() => { document.title = 'reported'; }); }, 2500);
}
probe();
</script></body></html>"""


@dataclass
class PublicService:
    """The allow-listed stand-in for a public host, trying to bounce jobs into ``internal``."""

    internal: InternalService
    hits: list[str] = field(default_factory=list)
    reports: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _public_handler(self))
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _public_handler(public: PublicService):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _route(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            parts = urlsplit(self.path)
            public.hits.append(f"{self.command} {parts.path}")
            segments = parts.path.strip("/").split("/")
            if segments[0] == "redirect":  # /redirect/<status>/<anything>: into the internal service
                return self._send(int(segments[1]), headers={"Location": public.internal.url + "/v1/chat/completions"})
            if segments[0] == "cdp" and segments[1:3] == ["json", "version"]:
                ws = f"ws://127.0.0.1:{public.internal.port}/devtools/browser/{uuid.uuid4()}"
                return self._send(
                    200,
                    json.dumps({"Browser": "Chrome/120", "webSocketDebuggerUrl": ws}).encode(),
                    {"Content-Type": "application/json"},
                )
            if parts.path == "/webrtc":
                page = WEBRTC_PAGE % {"udp": public.internal.udp_port}
                return self._send(200, page.encode(), {"Content-Type": "text/html"})
            if parts.path == "/report":
                public.reports.append({k: v[0] for k, v in parse_qs(parts.query).items()})
                return self._send(204)
            return self._send(404, b"not found")

        do_GET = do_POST = do_PUT = _route

    return Handler
