"""Pages for browser-job tests, served on 127.0.0.1 (allow-listed for the session),
and a way to count a job's Chromium processes.

``test_pages`` serves a small site: a form that greets by name, a page of
links, redirects (``/redirect?to=<url>``), and ``/never``, which sends the
start of a page and then never finishes it (for cancel and timeout tests).
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

FORM = """<!doctype html><html><head><title>Greeter</title></head><body>
<h1>Who are you?</h1>
<form action="/hello" method="get">
  <label for="name">Your name</label> <input id="name" name="name">
  <button id="submit" type="submit">Greet me</button>
</form></body></html>"""

LINKS = """<!doctype html><html><head><title>Links</title></head><body>
<ul><li><a id="to-form" href="/form">The form</a></li><li><a id="to-about" href="/about">About</a></li>
<li><a id="to-private" href="http://10.0.0.1/admin">Router</a></li></ul>
</body></html>"""

ABOUT = """<!doctype html><html><head><title>About</title></head><body>
<p id="about">Longrun test site</p></body></html>"""


class PageServer:
    def __init__(self):
        self.release = threading.Event()
        self.hits: list[str] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="test-pages", daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> "PageServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()


def _handler_for(pages: PageServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _html(self, body: str, status: int = 200) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            pages.hits.append(parts.path)
            if parts.path == "/form":
                return self._html(FORM)
            if parts.path == "/hello":
                name = query.get("name", ["stranger"])[0].replace("<", "&lt;")
                return self._html(f"<!doctype html><html><head><title>Hello</title></head><body>"
                                  f"<h1 id='greeting'>Hello, {name}!</h1><a href='/links'>more</a></body></html>")
            if parts.path == "/links":
                return self._html(LINKS)
            if parts.path == "/about":
                return self._html(ABOUT)
            if parts.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", query["to"][0])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if parts.path == "/never":
                # Headers and the start of a page, then nothing: "load" never fires.
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(b"<!doctype html><html><body><p>still loading")
                self.wfile.flush()
                pages.release.wait(120)
                return
            self._html("<h1>not found</h1>", status=404)

    return Handler


@pytest.fixture(scope="session")
def test_pages():
    pages = PageServer().start()
    yield pages
    pages.stop()


@pytest.fixture
def chromium_processes(redis_url):
    """``chromium_processes(job_id=None)``: pids of live Chromium processes of that
    job, or of any browser job of this test session (other sessions on the machine
    may run browsers too). Found by the job marker and the session's REDIS_URL,
    which Chromium inherits from its worker."""
    from backends.browser.processes import MARKER_ENV, marked_processes
    from pathlib import Path

    session = f"REDIS_URL={redis_url}".encode()

    def find(job_id: str | None = None) -> list[int]:
        if job_id is not None:
            return marked_processes(job_id)
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    env = (entry / "environ").read_bytes().split(b"\0")
                    stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                except OSError:
                    continue
                if stat != "Z" and session in env and any(v.startswith(MARKER_ENV.encode() + b"=") for v in env):
                    found.append(int(entry.name))
        return found
    return find
