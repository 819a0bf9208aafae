"""Browser automation for the ``browser`` job kind: Playwright driving Debian's
Chromium (``executable_path``, headless, never a downloaded browser), or an
existing browser reached through an allow-listed ``cdp_url``.

``BrowserSession`` owns one browser for one job and always ends it: on success,
failure, cancel and timeout (the watchdog's interrupt arrives as an exception
in the middle of a Playwright call, and ``close`` still runs). A close that
hangs, or a driver that died, is backed by killing every process that carries
the job's marker in its environment, so no Chromium outlives its job.

Every URL the browser reaches obeys longrun/urls.py twice over: Playwright
request routing refuses a request's URL before it leaves (clear errors for the
first hop), and a launched Chromium makes all its connections through
``EgressProxy``, which checks every redirect hop, subresource and WebSocket and
connects to exactly the address it checked.

``run_steps`` carries out scripted steps; ``run_agent`` lets a language model
pick the next action from the page's text and interactive elements, in JSON
mode, until it answers ``done``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from longrun.errors import BrowserStepFailed, JobTimedOut, UnsafeURL
from longrun.settings import Settings, get_settings
from longrun.urls import check_url
from backends.egress_proxy import EgressProxy

log = logging.getLogger(__name__)

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-domain-reliability", "--no-pings"]
# Every Chromium process of a job carries this in its environment (found and ended by it).
MARKER_ENV = "LONGRUN_BROWSER_JOB"
ACTIONS = ("goto", "click", "fill", "press", "extract", "screenshot", "wait_for")
MAX_TEXT_IN_RESULT = 10_000
CLOSE_TIMEOUT = 10.0


def marked_processes(marker: str) -> list[int]:
    """Pids of live processes whose environment has MARKER_ENV=marker."""
    needle = f"{MARKER_ENV}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:  # gone, or not ours to read
            continue
    return found


def kill_marked(marker: str) -> int:
    """SIGKILL every process carrying ``marker``; returns how many there were."""
    pids = marked_processes(marker)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)


PROFILE_PREFIX = "longrun-chromium-"


def new_profile_dir() -> str:
    """A fresh, empty user-data-dir whose name says when it was made."""
    return tempfile.mkdtemp(prefix=f"{PROFILE_PREFIX}{int(time.time())}-")


def sweep_stale_profiles(max_age_seconds: float, now: float | None = None) -> list[str]:
    """Remove profiles older than any job can run: those whose process was killed
    outright (hard time limit, OOM) and so never ran its cleanup."""
    now = time.time() if now is None else now
    removed = []
    for path in Path(tempfile.gettempdir()).glob(PROFILE_PREFIX + "*"):
        stamp = path.name[len(PROFILE_PREFIX):].split("-", 1)[0]
        if stamp.isdigit() and now - int(stamp) > max_age_seconds:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    return removed


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    default = {"http": 80, "https": 443}
    try:
        return (pa.scheme, pa.hostname, pa.port or default.get(pa.scheme)) == \
            (pb.scheme, pb.hostname, pb.port or default.get(pb.scheme))
    except ValueError:
        return False


@dataclass
class Guard:
    """Requests refused by the URL rules, and whether the page itself was sent to one."""

    allowlist: object = None
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
            self.blocked_navigation = UnsafeURL(f"navigation to {url} refused: {reason}",
                                                details={"url": url})

    def raise_if_blocked(self) -> None:
        if self.blocked_navigation is not None:
            raise self.blocked_navigation


class BrowserSession:
    """One browser for one job: ``with BrowserSession(...) as session: session.page``."""

    def __init__(self, marker: str, *, settings: Settings | None = None, cdp_url: str | None = None,
                 allowlist=None, viewport: dict | None = None):
        self.settings = settings or get_settings()
        self.marker = marker
        self.cdp_url = cdp_url
        self.guard = Guard(allowlist)
        self.viewport = {"width": 1280, "height": 800, **(viewport or {})}
        self.step_timeout_ms = int(self.settings.browser_step_timeout_seconds * 1000)
        self._playwright = None
        self._browser = None
        self._context = None
        self._proxy: EgressProxy | None = None
        self._profile_dir: str | None = None
        self._page_urls: set[str] = set()
        self.page = None

    def __enter__(self) -> "BrowserSession":
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
            check_url(self.cdp_url, allowlist=self.guard.allowlist)
            self._browser = chromium.connect_over_cdp(self.cdp_url, timeout=self.step_timeout_ms)
            self._context = self._browser.new_context(service_workers="block", viewport=self.viewport)
        else:
            path = self.settings.chromium_path
            if not os.access(path, os.X_OK):
                raise BrowserStepFailed(f"no Chromium at {path} (apt-get install chromium, "
                                        "or set LONGRUN_CHROMIUM_PATH)")
            self._proxy = EgressProxy(self.guard.allowlist).start()
            self.guard.refusals = self._proxy.refusals  # one list for both checks
            # No job outlives its hard time limit, so an older profile is litter.
            sweep_stale_profiles(self.settings.max_timeout_seconds + self.settings.job_grace_seconds + 600)
            self._profile_dir = new_profile_dir()
            self._context = chromium.launch_persistent_context(
                self._profile_dir, executable_path=path, headless=True,
                args=LAUNCH_ARGS + [f"--proxy-server={self._proxy.url}",
                                    # Chromium skips the proxy for loopback unless told not to.
                                    "--proxy-bypass-list=<-loopback>"],
                env={**os.environ, MARKER_ENV: self.marker},
                service_workers="block", viewport=self.viewport, timeout=60_000,
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
        return [{"url": url, "reason": reason} for url, reason in self.guard.refusals
                if url in self._page_urls or any(same_origin(url, seen) for seen in self._page_urls)][:50]

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


# -- scripted steps --------------------------------------------------------

def describe_step(step: dict) -> str:
    action = step["action"]
    target = step.get("url") or step.get("selector") or step.get("key") or step.get("name") or ""
    return f"{action} {target}".strip()


@dataclass
class StepContext:
    """What a step needs besides the page: where files go and how to stop early."""

    save_artifact: object            # (name, bytes|str) -> None
    check_cancelled: object          # () -> None
    artifacts: list[str] = field(default_factory=list)
    extracted: dict[str, object] = field(default_factory=dict)
    deadline: float | None = None    # time.monotonic() past which the job stops

    def check(self) -> None:
        self.check_cancelled()
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise JobTimedOut("the browser job ran past its timeout")


def run_step(session: BrowserSession, ctx: StepContext, index: int, step: dict) -> dict:
    """Carry out one step; returns what it did. Playwright errors become BrowserStepFailed."""
    from playwright.sync_api import Error as PlaywrightError

    page = session.page
    action = step["action"]
    timeout = step.get("timeout_ms") or session.step_timeout_ms
    record: dict = {"step": index, "action": action}
    try:
        if action == "goto":
            url = check_url(step["url"], allowlist=session.guard.allowlist)
            response = page.goto(url, wait_until=step.get("wait_until", "load"), timeout=timeout)
            record["status"] = response.status if response else None
        elif action == "click":
            page.click(step["selector"], timeout=timeout)
        elif action == "fill":
            page.fill(step["selector"], step["value"], timeout=timeout)
        elif action == "press":
            if step.get("selector"):
                page.press(step["selector"], step["key"], timeout=timeout)
            else:
                page.keyboard.press(step["key"])
        elif action == "extract":
            record.update(_extract(page, ctx, index, step, timeout))
        elif action == "screenshot":
            name = step.get("name") or f"screenshot-{index}.png"
            if step.get("selector"):
                png = page.locator(step["selector"]).first.screenshot(timeout=timeout)
            else:
                png = page.screenshot(full_page=step.get("full_page", False), timeout=timeout)
            ctx.save_artifact(name, png)
            ctx.artifacts.append(name)
            record["artifact"] = name
        elif action == "wait_for":
            _wait_for(page, ctx, step, timeout)
        else:  # the schema admits only ACTIONS
            raise BrowserStepFailed(f"unknown action {action!r}")
        # Let a click or press that navigates settle before the next step looks.
        if action in ("click", "press"):
            _settle(page)
    except PlaywrightError as exc:
        session.guard.raise_if_blocked()
        if action == "goto":
            reason = session.guard.reason_for(step["url"])
            if reason:
                raise UnsafeURL(f"navigation to {step['url']} refused: {reason}",
                                details={"url": step["url"], "step": index}) from None
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BrowserStepFailed(f"step {index} ({describe_step(step)}) failed: {message}",
                                details={"step": index, "action": action}) from None
    session.guard.raise_if_blocked()
    record["url"] = page.url
    return record


def _settle(page) -> None:
    from playwright.sync_api import Error as PlaywrightError
    try:
        page.wait_for_load_state("load", timeout=5_000)
    except PlaywrightError:
        pass  # a page still loading is the next step's business


def _extract(page, ctx: StepContext, index: int, step: dict, timeout: int) -> dict:
    selector = step.get("selector") or "body"
    locator = page.locator(selector)
    locator.first.wait_for(state="attached", timeout=timeout)
    if step.get("attribute"):
        values = [locator.nth(i).get_attribute(step["attribute"]) or "" for i in range(locator.count())]
    else:
        values = locator.all_inner_texts()
    value: object = values if step.get("all") else (values[0] if values else "")
    name = step.get("name") or f"extract-{index}.txt"
    text = "\n".join(values) if step.get("all") else str(value)
    ctx.save_artifact(name, text)
    ctx.artifacts.append(name)
    ctx.extracted[name] = _clip(value)
    return {"artifact": name, "text": _clip(text)}


def _clip(value):
    if isinstance(value, str) and len(value) > MAX_TEXT_IN_RESULT:
        return value[:MAX_TEXT_IN_RESULT] + "…"
    if isinstance(value, list):
        return [_clip(v) for v in value]
    return value


def _wait_for(page, ctx: StepContext, step: dict, timeout: int) -> None:
    if step.get("selector"):
        page.wait_for_selector(step["selector"], state=step.get("state", "visible"), timeout=timeout)
    elif step.get("url"):
        page.wait_for_url(step["url"], timeout=timeout)
    else:  # a pause, in slices so that a cancel is noticed
        deadline = time.monotonic() + step["ms"] / 1000
        while (left := deadline - time.monotonic()) > 0:
            page.wait_for_timeout(min(left, 0.25) * 1000)
            ctx.check()


def run_steps(session: BrowserSession, job, steps: list[dict], ctx: StepContext) -> dict:
    done = []
    for index, step in enumerate(steps, start=1):
        ctx.check()
        job.progress.step(index, len(steps), describe_step(step))
        done.append(run_step(session, ctx, index, step))
    job.progress.report(percentage=100, current_step=len(steps), message="all steps done")
    return {"mode": "steps", "steps": done}


# -- agent mode ------------------------------------------------------------

# Short on purpose: small local models read every token of it each turn.
AGENT_SYSTEM_PROMPT = """You operate a web browser to do the user's task. Reply with ONE JSON object: one action.
Actions: goto {"url"}, click {"element"}, fill {"element", "value"}, press {"key", "element"?},
extract {"element"?}, screenshot {}, wait_for {"ms"}, done {"answer"}.
Example: {"action": "fill", "element": 2, "value": "Ada"}
"element" is a number from the page's list of interactive elements (a CSS "selector" also works).
Once the task is complete, reply {"action": "done", "answer": "<the result>"}."""

# Numbers the visible interactive elements (data-lr-id) and describes them for the model.
PAGE_VIEW_SCRIPT = """() => {
  const sel = 'a[href], button, input, select, textarea, [role=button], [role=link], [onclick], [contenteditable=true]';
  const out = [];
  let n = 0;
  for (const el of document.querySelectorAll(sel)) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (el.type === 'hidden') continue;
    n += 1;
    el.setAttribute('data-lr-id', String(n));
    const label = (el.labels && el.labels[0] && el.labels[0].innerText) || el.getAttribute('aria-label')
      || el.getAttribute('placeholder') || el.getAttribute('title') || el.getAttribute('name') || '';
    out.push({id: n, tag: el.tagName.toLowerCase(), type: el.getAttribute('type') || '',
              text: (el.innerText || el.value || '').trim().slice(0, 80), label: label.trim().slice(0, 80),
              href: el.getAttribute('href') || ''});
    if (n >= 60) break;
  }
  return out;
}"""


def page_view(page, max_text: int = 3000) -> str:
    """The page as the model sees it: URL, title, visible text, interactive elements."""
    try:
        elements = page.evaluate(PAGE_VIEW_SCRIPT)
        text = page.inner_text("body", timeout=5_000)
    except Exception as exc:  # a page mid-navigation: show what we can
        elements, text = [], f"(page not readable: {str(exc).splitlines()[0]})"
    lines = [f"URL: {page.url}", f"Title: {_safe_title(page)}", "Text:", text.strip()[:max_text],
             "Interactive elements:"]
    for el in elements:
        bits = [f"[{el['id']}] <{el['tag']}{' type=' + el['type'] if el['type'] else ''}>"]
        bits += [repr(v) for v in (el["text"], el["label"]) if v]
        if el["href"]:
            bits.append(f"href={el['href']}")
        lines.append(" ".join(bits))
    if not elements:
        lines.append("(none)")
    return "\n".join(lines)


def _safe_title(page) -> str:
    try:
        return page.title()
    except Exception:
        return ""


def parse_action(content: str) -> dict:
    """The model's answer as a step (or a ``done``); BrowserStepFailed says what is wrong."""
    try:
        action = json.loads(content)
    except (TypeError, ValueError):
        raise BrowserStepFailed(f"the model's answer is not JSON: {str(content)[:200]!r}") from None
    if not isinstance(action, dict) or not isinstance(action.get("action"), str):
        raise BrowserStepFailed(f"the model's answer has no \"action\": {str(content)[:200]!r}")
    name = action["action"].strip().lower()
    if name == "done":
        return {"action": "done", "answer": action.get("answer", action.get("result", ""))}
    if name not in ACTIONS:
        raise BrowserStepFailed(f"the model chose an unknown action {name!r}; "
                                f"known: {', '.join(ACTIONS + ('done',))}")
    step = {"action": name}
    if "element" in action and action["element"] is not None:
        step["selector"] = f'[data-lr-id="{int(action["element"])}"]'
    elif action.get("selector"):
        step["selector"] = str(action["selector"])
    for key in ("url", "value", "key"):
        if action.get(key) is not None:
            step[key] = str(action[key])
    if name == "wait_for" and "selector" not in step:
        step["ms"] = min(max(int(action.get("ms", 1000)), 0), 10_000)
    missing = {"goto": ["url"], "click": ["selector"], "fill": ["selector", "value"],
               "press": ["key"]}.get(name, [])
    absent = [k for k in missing if k not in step]
    if absent:
        raise BrowserStepFailed(f"the model's {name!r} action lacks {', '.join(absent)}")
    return step


def run_agent(session: BrowserSession, job, ctx: StepContext, llm, *, task: str, max_steps: int,
              model: str | None = None, start_url: str | None = None, temperature: float | None = None,
              max_tokens: int = 256) -> dict:
    """Let the model drive: one action per turn until it says done or max_steps run out."""
    if start_url:
        run_step(session, ctx, 0, {"action": "goto", "url": start_url})
    history: list[dict] = []
    notes: list[str] = []  # what happened last turn, for the model
    model_name = None
    for turn in range(1, max_steps + 1):
        ctx.check()
        job.progress.step(turn, max_steps, f"agent step {turn}")
        messages = [{"role": "system", "content": AGENT_SYSTEM_PROMPT},
                    {"role": "user", "content": _agent_prompt(task, history, notes, page_view(session.page))}]
        # One action is a short JSON object; the cap keeps a rambling model from stalling a turn.
        reply = llm.chat(messages, model=model, temperature=temperature, max_tokens=max_tokens, json_mode=True)
        model_name = reply.model
        notes = []
        try:
            step = parse_action(reply.content)
        except BrowserStepFailed as exc:
            history.append({"turn": turn, "error": exc.message})
            notes.append(f"Your last answer was refused: {exc.message}")
            continue
        if step["action"] == "done":
            history.append({"turn": turn, "action": "done"})
            job.progress.report(percentage=100, current_step=turn, message="the agent said done")
            return {"mode": "agent", "done": True, "answer": step["answer"], "steps_taken": turn,
                    "history": history, "model": model_name}
        try:
            record = run_step(session, ctx, turn, step)
        except (BrowserStepFailed, UnsafeURL) as exc:
            # The model may recover from a missed element, or from a link it may not follow
            # (that request was refused; nothing reached the address).
            history.append({"turn": turn, **step, "error": exc.message})
            notes.append(f"Your last action failed: {exc.message}")
            if isinstance(exc, UnsafeURL):
                session.recover_from_refusal()
            continue
        history.append({"turn": turn, **step, **{k: v for k, v in record.items() if k in ("text", "status")}})
    return {"mode": "agent", "done": False, "answer": None, "steps_taken": max_steps,
            "history": history, "model": model_name,
            "message": f"the agent did not finish within max_steps={max_steps}"}


def _agent_prompt(task: str, history: list[dict], notes: list[str], view: str) -> str:
    lines = [f"Task: {task}", ""]
    if history:
        lines.append("Actions so far:")
        lines += [json.dumps(h, ensure_ascii=False)[:300] for h in history[-10:]]
        lines.append("")
    lines += notes
    lines += ["Current page:", view, "", "Your next action (one JSON object):"]
    return "\n".join(lines)


# -- the job ---------------------------------------------------------------

def llm_for(settings: Settings, host: str | None, allowlist=None):
    """The LLM client for a job; a per-job ``host`` must pass the URL rules and never
    receives the operator's API key."""
    from backends.llm import LLMClient
    client = LLMClient.from_settings(settings)
    if host:
        check_url(host, allowlist=allowlist)
        client = LLMClient(host, settings.llm_model, "",
                           connect_timeout=settings.llm_connect_timeout_seconds,
                           read_timeout=settings.llm_read_timeout_seconds,
                           max_retries=settings.llm_max_retries,
                           retry_backoff=settings.llm_retry_backoff_seconds)
    return client


def run_browser_job(job, *, steps: list[dict] | None = None, task: str | None = None, max_steps: int = 10,
                    start_url: str | None = None, cdp_url: str | None = None, model: str | None = None,
                    host: str | None = None, temperature: float | None = None, max_tokens: int = 256,
                    timeout: float | None = None,
                    viewport: dict | None = None, settings: Settings | None = None, **ignored) -> dict:
    """The ``browser`` kind's work: scripted ``steps`` or an agent ``task``; returns the result."""
    settings = settings or get_settings()
    allowlist = settings.url_allowlist
    started = time.monotonic()
    ctx = StepContext(save_artifact=job.save_artifact, check_cancelled=job.check_cancelled,
                      deadline=started + timeout if timeout else None)
    llm = llm_for(settings, host, allowlist) if task else None  # refuse a bad host before a browser starts
    job.progress.report(message="starting the browser", force=True)
    with BrowserSession(job.id, settings=settings, cdp_url=cdp_url, allowlist=allowlist,
                        viewport=viewport) as session:
        if task:
            result = run_agent(session, job, ctx, llm, task=task, max_steps=max_steps, model=model,
                               start_url=start_url, temperature=temperature, max_tokens=max_tokens)
        else:
            result = run_steps(session, job, steps or [], ctx)
        result.update(final_url=session.page.url, title=_safe_title(session.page))
        result["blocked_requests"] = session.page_refusals()
    result.update(artifacts=ctx.artifacts, extracted=ctx.extracted,
                  duration_seconds=round(time.monotonic() - started, 3))
    return result
