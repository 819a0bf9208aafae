"""The websocket a ``cdp_url`` names, checked before anything connects to it.

Playwright's ``connect_over_cdp(http_url)`` reads ``<http_url>/json/version/``
and connects to whatever ``webSocketDebuggerUrl`` it names, so an endpoint
that passed the URL rules could send the worker to any websocket inside the
network. Here the endpoint is read once, without following redirects, and the
websocket it names must pass the rules and the allow-list like ``cdp_url``
itself; Playwright is then given that checked ``ws://`` URL. Errors name what
failed and the status, never what the endpoint answered.
"""

from __future__ import annotations

import httpx

from longrun.errors import BrowserStepFailed, UnsafeURL
from longrun.urls import check_allowlisted

VERSION_PATH = "/json/version/"
MAX_VERSION_BYTES = 64 * 1024


def checked_websocket(cdp_url: str, *, allowlist=None, timeout: float = 10.0) -> str:
    """The ``ws(s)://`` URL to connect to for ``cdp_url``, every hop checked; raises
    UnsafeURL when a rule refuses one, BrowserStepFailed when the endpoint does not say."""
    check_allowlisted(cdp_url, allowlist=allowlist, field="cdp_url")
    if cdp_url.lower().startswith(("ws://", "wss://")):
        return cdp_url
    version_url = cdp_url.rstrip("/") + VERSION_PATH
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as http:
            response = http.get(version_url)
    except httpx.HTTPError as exc:
        raise BrowserStepFailed(f"cannot read {version_url} ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise BrowserStepFailed(f"{version_url} answered {response.status_code}, not 200")
    try:
        if len(response.content) > MAX_VERSION_BYTES:
            raise ValueError("too large")
        websocket = response.json()["webSocketDebuggerUrl"]
        if not isinstance(websocket, str):
            raise TypeError("not a string")
    except (ValueError, KeyError, TypeError):
        raise BrowserStepFailed(f"{version_url} names no webSocketDebuggerUrl") from None
    try:
        return check_allowlisted(websocket, allowlist=allowlist, field="cdp_url")
    except UnsafeURL as exc:
        raise UnsafeURL(
            f"the browser endpoint at cdp_url names a websocket that is refused: {exc.message}",
            details={"url": cdp_url},
        ) from None
