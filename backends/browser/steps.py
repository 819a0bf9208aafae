"""Scripted browser steps: a table from action name to handler.

``ACTIONS`` (the input schema's list, tasks/inputs.py) is this table's keys,
so an action exists in exactly one place. A handler carries out one step on
the session's page and returns what it adds to the step's record; Playwright
errors become BrowserStepFailed, or UnsafeURL when the URL rules refused the
navigation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from longrun.errors import BrowserStepFailed, JobTimedOut, UnsafeURL
from longrun.urls import check_url

if TYPE_CHECKING:
    from backends.browser.session import BrowserSession

MAX_TEXT_IN_RESULT = 10_000


class StepJob(Protocol):
    """What the step runner needs of the job: its progress reporter and its
    checkpointed steps (longrun/job.py)."""

    progress: Any

    def step(self, name: str, fn: Callable[..., Any], *args: Any, message: str | None = None, **kwargs: Any) -> Any: ...

    def plan(self, names: list[str] | None = None, total: int | None = None) -> None: ...


def describe_step(step: dict) -> str:
    action = step["action"]
    target = step.get("url") or step.get("selector") or step.get("key") or step.get("name") or ""
    return f"{action} {target}".strip()


@dataclass
class StepContext:
    """What a step needs besides the page: where files go and how to stop early."""

    save_artifact: Callable[[str, bytes | str], object]
    check_cancelled: Callable[[], None]
    artifacts: list[str] = field(default_factory=list)
    extracted: dict[str, object] = field(default_factory=dict)
    deadline: float | None = None  # time.monotonic() past which the job stops

    def check(self) -> None:
        self.check_cancelled()
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise JobTimedOut("the browser job ran past its timeout")


# -- the handlers: (session, ctx, index, step, timeout_ms) -> fields for the step's record --


def _goto(session: BrowserSession, ctx: StepContext, index: int, step: dict, timeout: int) -> dict:
    url = check_url(step["url"], allowlist=session.guard.allowlist)
    response = session.page.goto(url, wait_until=step.get("wait_until", "load"), timeout=timeout)
    return {"status": response.status if response else None}


def _click(session: BrowserSession, ctx: StepContext, index: int, step: dict, timeout: int) -> dict:
    session.page.click(step["selector"], timeout=timeout)
    _settle(session.page)
    return {}


def _fill(session: BrowserSession, ctx: StepContext, index: int, step: dict, timeout: int) -> dict:
    session.page.fill(step["selector"], step["value"], timeout=timeout)
    return {}


def _press(session: BrowserSession, ctx: StepContext, index: int, step: dict, timeout: int) -> dict:
    if step.get("selector"):
        session.page.press(step["selector"], step["key"], timeout=timeout)
    else:
        session.page.keyboard.press(step["key"])
    _settle(session.page)
    return {}


def _extract(session: BrowserSession, ctx: StepContext, index: int, step: dict, timeout: int) -> dict:
    selector = step.get("selector") or "body"
    locator = session.page.locator(selector)
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


def _screenshot(session: BrowserSession, ctx: StepContext, index: int, step: dict, timeout: int) -> dict:
    page = session.page
    name = step.get("name") or f"screenshot-{index}.png"
    if step.get("selector"):
        png = page.locator(step["selector"]).first.screenshot(timeout=timeout)
    else:
        png = page.screenshot(full_page=step.get("full_page", False), timeout=timeout)
    ctx.save_artifact(name, png)
    ctx.artifacts.append(name)
    return {"artifact": name}


def _wait_for(session: BrowserSession, ctx: StepContext, index: int, step: dict, timeout: int) -> dict:
    page = session.page
    if step.get("selector"):
        page.wait_for_selector(step["selector"], state=step.get("state", "visible"), timeout=timeout)
    elif step.get("url"):
        page.wait_for_url(step["url"], timeout=timeout)
    else:  # a pause, in slices so that a cancel is noticed
        deadline = time.monotonic() + step["ms"] / 1000
        while (left := deadline - time.monotonic()) > 0:
            page.wait_for_timeout(min(left, 0.25) * 1000)
            ctx.check()
    return {}


Handler = Callable[["BrowserSession", StepContext, int, dict, int], dict]

STEP_HANDLERS: dict[str, Handler] = {
    "goto": _goto,
    "click": _click,
    "fill": _fill,
    "press": _press,
    "extract": _extract,
    "screenshot": _screenshot,
    "wait_for": _wait_for,
}
ACTIONS: tuple[str, ...] = tuple(STEP_HANDLERS)


def _settle(page: Any) -> None:
    """Let a click or press that navigates settle before the next step looks."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        page.wait_for_load_state("load", timeout=5_000)
    except PlaywrightError:
        pass  # a page still loading is the next step's business


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT_IN_RESULT:
        return value[:MAX_TEXT_IN_RESULT] + "…"
    if isinstance(value, list):
        return [_clip(v) for v in value]
    return value


def run_step(session: BrowserSession, ctx: StepContext, index: int, step: dict) -> dict:
    """Carry out one step; returns what it did. Playwright errors become BrowserStepFailed."""
    from playwright.sync_api import Error as PlaywrightError

    action = step["action"]
    handler = STEP_HANDLERS.get(action)
    if handler is None:  # the schema admits only ACTIONS
        raise BrowserStepFailed(f"unknown action {action!r}")
    timeout = step.get("timeout_ms") or session.step_timeout_ms
    record: dict = {"step": index, "action": action}
    try:
        record.update(handler(session, ctx, index, step, timeout))
    except PlaywrightError as exc:
        session.guard.raise_if_blocked()
        if action == "goto":
            reason = session.guard.reason_for(step["url"])
            if reason:
                raise UnsafeURL(
                    f"navigation to {step['url']} refused: {reason}", details={"url": step["url"], "step": index}
                ) from None
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BrowserStepFailed(
            f"step {index} ({describe_step(step)}) failed: {message}", details={"step": index, "action": action}
        ) from None
    session.guard.raise_if_blocked()
    record["url"] = session.page.url
    return record


def reopen(session: BrowserSession, url: str | None) -> None:
    """A resumed job's browser is new: take it back to the page the last finished step left."""
    if url and session.page.url != url and not url.startswith(("about:", "chrome-error:")):
        _goto(
            session,
            StepContext(save_artifact=lambda *a: None, check_cancelled=lambda: None),
            0,
            {"action": "goto", "url": url},
            session.step_timeout_ms,
        )


def checkpointed(session: BrowserSession, ctx: StepContext, index: int, step: dict, url: str | None) -> dict:
    """One scripted step as a checkpoint's output: its record and the files and text it added."""
    reopen(session, url)
    artifacts, extracted = len(ctx.artifacts), set(ctx.extracted)
    record = run_step(session, ctx, index, step)
    return {
        "record": record,
        "artifacts": ctx.artifacts[artifacts:],
        "extracted": {k: v for k, v in ctx.extracted.items() if k not in extracted},
    }


def restore(ctx: StepContext, output: dict) -> None:
    """Put a step's files and text (from its checkpoint, or just made) into the job's result."""
    for name in output["artifacts"]:
        if name not in ctx.artifacts:
            ctx.artifacts.append(name)
    ctx.extracted.update(output["extracted"])


def run_steps(session: BrowserSession, job: StepJob, steps: list[dict], ctx: StepContext) -> dict:
    """Each scripted step is a checkpoint: a resumed job reopens the last page and goes on."""
    done: list[dict] = []
    url: str | None = None
    job.plan([describe_step(step) for step in steps])
    for index, step in enumerate(steps, start=1):
        ctx.check()
        output = job.step(describe_step(step), checkpointed, session, ctx, index, step, url)
        restore(ctx, output)
        done.append(output["record"])
        url = output["record"].get("url") or url
    job.progress.report(percentage=100, current_step=len(steps), message="all steps done")
    return {"mode": "steps", "steps": done}
