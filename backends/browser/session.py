"""One browser for one job, and the URL guard around it.

``BrowserSession`` always ends its browser: on success, failure, cancel and
timeout (the watchdog's interrupt arrives as an exception in the middle of a
Playwright call, and ``close`` still runs). A close that hangs, or a driver
that died, is backed by killing every process that carries the job's marker
(backends/browser/processes.py), so no Chromium outlives its job.

Every URL the browser reaches obeys longrun/urls.py twice over: Playwright
request routing refuses a request's URL before it leaves (clear errors for the
first hop), and a launched Chromium makes all its connections through
``EgressProxy``, which checks every redirect hop, subresource and WebSocket and
connects to exactly the address it checked.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from backends.browser.cdp import checked_websocket
from backends.browser.processes import MARKER_ENV, kill_marked
from backends.browser.profiles import new_profile_dir, sweep_stale_profiles
from backends.egress_proxy import EgressProxy
from longrun.errors import BrowserStepFailed, UnsafeURL
from longrun.settings import Settings, get_settings
from longrun.urls import AllowlistSpec, check_url

if TYPE_CHECKING:  # imported where a browser starts, not with this module
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, ViewportSize

log = logging.getLogger(__name__)

# No channel around the egress proxy: WebRTC sends no UDP that does not go through
# the proxy (i.e. none: Chrome's switch, and content's for headless-shell builds),
# QUIC is off (HTTP/3 and WebTransport are UDP), no background services phone home.
# docs/security.md lists what was checked and how.
WEBRTC_POLICY = "disable_non_proxied_udp"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--no-pings",
    f"--webrtc-ip-handling-policy={WEBRTC_POLICY}",
    f"--force-webrtc-ip-handling-policy={WEBRTC_POLICY}",
]
CLOSE_TIMEOUT = 10.0


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    default = {"http": 80, "https": 443}
    try:
        return (pa.scheme, pa.hostname, pa.port or default.get(pa.scheme)) == (
            pb.scheme,
            pb.hostname,
            pb.port or default.get(pb.scheme),
        )
    except ValueError:
        return False


@dataclass
class Guard:
    """Requests refused by the URL rules, and whether the page itself was sent to one."""

    allowlist: AllowlistSpec = None
    refusals: list[tuple[str, str]] = field(default_factory=list)
    blocked_navigation: UnsafeURL | None = None

    def reason_for(self, url: str) -> str | None:
        for refused, reason in reversed(self.refusals):
            if refused == url:
                return reason
        for refused, reason in reversed(self.refusals):
            if same_origin(refused, url):  # an https tunnel is refused by origin
                return reason
        return None

    def navigation_refused(self, url: str) -> None:
        reason = self.reason_for(url)
        if reason and self.blocked_navigation is None:
            self.blocked_navigation = UnsafeURL(f"navigation to {url} refused: {reason}", details={"url": url})

    def raise_if_blocked(self) -> None:
        if self.blocked_navigation is not None:
            raise self.blocked_navigation


class BrowserSession:
    """One browser for one job: ``with BrowserSession(...) as session: session.page``."""

    def __init__(
        self,
        marker: str,
        *,
        settings: Settings | None = None,
        cdp_url: str | None = None,
        allowlist: AllowlistSpec = None,
        viewport: dict | None = None,
    ):
        self.settings = settings or get_settings()
        self.marker = marker
        self.cdp_url = cdp_url
        self.guard = Guard(allowlist)
        self.viewport: ViewportSize = {"width": 1280, "height": 800, **(viewport or {})}
        self.step_timeout_ms = int(self.settings.browser_step_timeout_seconds * 1000)
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._context: BrowserContext | None = None
        self._proxy: EgressProxy | None = None
        self._profile_dir: str | None = None
        self._page_urls: set[str] = set()
        # Set by _open, so always a Page inside ``with``, where the session is used.
        self.page: Page = None  # type: ignore[assignment]  # None only before _open

    def __enter__(self) -> BrowserSession:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _open(self) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        chromium = self._playwright.chromium
        if self.cdp_url:
            websocket = checked_websocket(
                self.cdp_url, allowlist=self.guard.allowlist, timeout=self.step_timeout_ms / 1000
            )
            from playwright.sync_api import Error as PlaywrightError

            try:
                self._browser = chromium.connect_over_cdp(websocket, timeout=self.step_timeout_ms)
            except PlaywrightError:  # its message may quote what the websocket answered
                raise BrowserStepFailed("cannot connect to the browser that cdp_url names") from None
            self._context = self._browser.new_context(service_workers="block", viewport=self.viewport)
        else:
            path = self.settings.chromium_path
            if not os.access(path, os.X_OK):
                raise BrowserStepFailed(
                    f"no Chromium at {path} (apt-get install chromium, or set LONGRUN_CHROMIUM_PATH)"
                )
            self._proxy = EgressProxy(self.guard.allowlist).start()
            self.guard.refusals = self._proxy.refusals  # one list for both checks
            # No job outlives its hard time limit, so an older profile is litter.
            sweep_stale_profiles(self.settings.max_timeout_seconds + self.settings.job_grace_seconds + 600)
            self._profile_dir = new_profile_dir()
            self._context = chromium.launch_persistent_context(
                self._profile_dir,
                executable_path=path,
                headless=True,
                args=LAUNCH_ARGS
                + [
                    f"--proxy-server={self._proxy.url}",
                    # Chromium skips the proxy for loopback unless told not to.
                    "--proxy-bypass-list=<-loopback>",
                ],
                env={**os.environ, MARKER_ENV: self.marker},
                service_workers="block",
                viewport=self.viewport,
                timeout=60_000,
            )
        self._context.set_default_timeout(self.step_timeout_ms)
        self._context.route("**/*", self._route)
        self.page = self._context.pages[0] if self._context.pages else self._context.new_page()
        self.page.on("request", self._on_request)
        self.page.on("response", self._on_response)
        self.page.on("requestfailed", self._on_request_failed)

    # -- the URL rules, in the browser -----------------------------------

    def _route(self, route, request) -> None:
        url = request.url
        if url.startswith(("data:", "blob:", "about:")):  # never leave the browser
            route.continue_()
            return
        try:
            # With the proxy in place it resolves and checks addresses; here the text suffices.
            check_url(url, allowlist=self.guard.allowlist, resolve=self._proxy is None)
        except UnsafeURL as exc:
            self.guard.refusals.append((url, exc.message))
            if request.is_navigation_request() and request.frame.parent_frame is None:
                self.guard.navigation_refused(url)
            route.abort("blockedbyclient")
            return
        route.continue_()

    def recover_from_refusal(self) -> None:
        """Forget a refused navigation and go back to the page the agent was on."""
        self.guard.blocked_navigation = None
        from playwright.sync_api import Error as PlaywrightError

        try:
            if self.page.url.startswith("chrome-error:") or self.guard.reason_for(self.page.url):
                self.page.go_back(timeout=5_000)
        except PlaywrightError:
            pass  # the model sees where it is and can goto elsewhere

    def _on_request(self, request) -> None:
        if len(self._page_urls) < 10_000:
            self._page_urls.add(request.url)

    def page_refusals(self) -> list[dict]:
        """Refusals of requests this page made (not Chromium's own background traffic)."""
        return [
            {"url": url, "reason": reason}
            for url, reason in self.guard.refusals
            if url in self._page_urls or any(same_origin(url, seen) for seen in self._page_urls)
        ][:50]

    def _is_main_navigation(self, request) -> bool:
        try:
            return request.is_navigation_request() and request.frame.parent_frame is None
        except Exception:  # a frame already gone
            return False

    def _on_response(self, response) -> None:
        if response.status == 403 and self._is_main_navigation(response.request):
            self.guard.navigation_refused(response.url)

    def _on_request_failed(self, request) -> None:
        if self._is_main_navigation(request):
            self.guard.navigation_refused(request.url)

    # -- ending it, whatever happened ------------------------------------

    def close(self) -> None:
        """End the browser and every process it started; never raises."""
        # A close that hangs (a wedged driver) is cut short by killing the browser,
        # which makes Playwright's pending calls return.
        killer = threading.Timer(CLOSE_TIMEOUT, kill_marked, args=(self.marker,))
        killer.daemon = True
        killer.start()
        try:
            for step in (self._close_context, self._close_browser, self._stop_playwright):
                try:
                    step()
                except BaseException as exc:  # keep cleaning up, even after an interrupt
                    log.warning("browser cleanup: %s failed: %r", step.__name__, exc)
        finally:
            killer.cancel()
            leftover = kill_marked(self.marker)
            if leftover:
                log.warning("browser cleanup: killed %d leftover Chromium processes", leftover)
            if self._proxy is not None:
                self._proxy.close()
                self._proxy = None
            if self._profile_dir:
                shutil.rmtree(self._profile_dir, ignore_errors=True)
                self._profile_dir = None

    def _close_context(self):
        context, self._context = self._context, None
        if context is not None:
            context.close()

    def _close_browser(self):
        browser, self._browser = self._browser, None
        if browser is not None:
            browser.close()

    def _stop_playwright(self):
        playwright, self._playwright = self._playwright, None
        if playwright is not None:
            playwright.stop()
