"""A small site for browser jobs, served on 127.0.0.1 (allow-listed for the session).

A form that greets by name, a page of links, redirects
(``/redirect?to=<url>``), and ``/never``, which sends the start of a page and
then never finishes it (for cancel and timeout tests). Every path asked for is
kept in ``hits``.
"""

from urllib.parse import parse_qs, urlsplit

from tests.support.http import LocalHTTPServer, QuietHandler

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


class _PagesHandler(QuietHandler):
    def _html(self, body: str, status: int = 200) -> None:
        self.send_body(status, body.encode(), "text/html; charset=utf-8")

    def do_GET(self) -> None:
        pages: PageServer = self.owner
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        pages.hits.append(parts.path)
        if parts.path == "/form":
            return self._html(FORM)
        if parts.path == "/hello":
            name = query.get("name", ["stranger"])[0].replace("<", "&lt;")
            return self._html(
                f"<!doctype html><html><head><title>Hello</title></head><body>"
                f"<h1 id='greeting'>Hello, {name}!</h1><a href='/links'>more</a></body></html>"
            )
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


class PageServer(LocalHTTPServer):
    Handler = _PagesHandler

    def __init__(self) -> None:
        self.hits: list[str] = []
        super().__init__()

    def url(self, path: str = "/") -> str:
        return f"{self.base_url}{path}"
