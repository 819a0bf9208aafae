"""A small forward proxy on loopback through which a launched Chromium makes
every connection, so that the URL rules (longrun/urls.py) hold for all of them.

Playwright's request routing sees a request's first URL but not the hops of a
redirect, nor WebSockets; a proxy sees every connection: each redirect hop,
subresource and socket. Each is checked with ``checked_addresses`` and then
made to exactly the address that was checked, so a DNS answer that changes
between the check and the connection (rebinding) cannot reach a private host.

Plain HTTP requests arrive in absolute form and are sent on with
``Connection: close`` (one request per connection keeps hosts apart); HTTPS
and WSS arrive as CONNECT tunnels and are checked by host and port.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from typing import cast
from urllib.parse import urlsplit

from longrun.errors import UnsafeURL
from longrun.urls import checked_addresses

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
CONNECT_TIMEOUT = 10.0
IDLE_TIMEOUT = 300.0


class EgressProxy:
    """Start with ``start()``; ``refusals`` lists (url, reason) of refused connections."""

    def __init__(self, allowlist=None):
        self.allowlist = allowlist
        self.refusals: list[tuple[str, str]] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._accept_loop, name="longrun-egress-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EgressProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed = True
        try:
            self._server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._server.close()
        with self._lock:
            live, self._sockets = list(self._sockets), set()
        for sock in live:
            _close(sock)
        self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._closed:
                return False
            self._sockets.add(sock)
            return True

    def _untrack(self, *socks: socket.socket) -> None:
        with self._lock:
            for sock in socks:
                self._sockets.discard(sock)
        for sock in socks:
            _close(sock)

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._track(client):
                _close(client)
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        try:
            client.settimeout(CONNECT_TIMEOUT)
            head, pending = _read_head(client)
            if head is None:
                return
            request_line, _, rest = head.partition(b"\r\n")
            method, target, version = request_line.decode("latin-1").split(" ", 2)
            if method.upper() == "CONNECT":
                url = f"https://{target}/"
                upstream = self._connect(client, url)
                if upstream is None:
                    return
                client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                _pipe(client, upstream, pending)
                return
            url = target
            parts = urlsplit(url)
            if parts.scheme.lower() != "http" or not parts.hostname:
                self._refuse(client, url, "only absolute http:// requests and CONNECT are proxied")
                return
            upstream = self._connect(client, url)
            if upstream is None:
                return
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            headers = [
                line
                for line in rest.split(b"\r\n")
                if line
                and not line.lower().startswith(
                    (b"proxy-connection:", b"connection:", b"keep-alive:", b"proxy-authorization:")
                )
            ]
            upstream.sendall(
                f"{method} {path} {version}\r\n".encode("latin-1")
                + b"\r\n".join(headers + [b"Connection: close"])
                + b"\r\n\r\n"
            )
            _pipe(client, upstream, pending)
        except (OSError, ValueError) as exc:
            log.debug("egress proxy: %s", exc)
        finally:
            self._untrack(*(s for s in (client, upstream) if s is not None))

    def _connect(self, client: socket.socket, url: str) -> socket.socket | None:
        try:
            addresses = checked_addresses(url, allowlist=self.allowlist)
        except UnsafeURL as exc:
            self._refuse(client, url, exc.message)
            return None
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        targets = [str(a) for a in addresses] or [cast(str, parts.hostname)]  # allow-listed by name (so it has one)
        last_error = None
        for target in targets:
            try:
                upstream = socket.create_connection((target, port), timeout=CONNECT_TIMEOUT)
            except OSError as exc:
                last_error = exc
                continue
            if not self._track(upstream):
                _close(upstream)
                return None
            return upstream
        client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        log.info("egress proxy: %s unreachable: %s", url, last_error)
        return None

    def _refuse(self, client: socket.socket, url: str, reason: str) -> None:
        self.refusals.append((url, reason))
        body = f"refused by Longrun's URL rules: {reason}\n".encode()
        client.sendall(
            b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )


def _read_head(sock: socket.socket) -> tuple[bytes | None, bytes]:
    """The request head, and any bytes the client sent past it (a body's start)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return None, b""
        data += chunk
        if len(data) > MAX_HEAD:
            raise ValueError("request head too large")
    head, _, pending = data.partition(b"\r\n\r\n")
    return head, pending


def _pipe(a: socket.socket, b: socket.socket, pending: bytes = b"") -> None:
    if pending:
        b.sendall(pending)
    a.settimeout(None)
    b.settimeout(None)
    socks = [a, b]
    while True:
        readable, _, _ = select.select(socks, [], [], IDLE_TIMEOUT)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            (b if sock is a else a).sendall(data)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
