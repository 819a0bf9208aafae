"""Agent mode: a language model drives the browser, one action per turn.

Each turn the model sees the task, its last actions and the page (URL, title,
visible text, numbered interactive elements) and answers one JSON object (JSON
mode): a step the step runner carries out (backends/browser/steps.py), or
``done`` with the answer.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from backends.browser.steps import ACTIONS, StepContext, StepJob, reopen, restore, run_step
from longrun.errors import BrowserStepFailed, UnsafeURL

if TYPE_CHECKING:
    from backends.browser.session import BrowserSession
    from backends.llm import LLMClient

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
    lines = [
        f"URL: {page.url}",
        f"Title: {safe_title(page)}",
        "Text:",
        text.strip()[:max_text],
        "Interactive elements:",
    ]
    for el in elements:
        bits = [f"[{el['id']}] <{el['tag']}{' type=' + el['type'] if el['type'] else ''}>"]
        bits += [repr(v) for v in (el["text"], el["label"]) if v]
        if el["href"]:
            bits.append(f"href={el['href']}")
        lines.append(" ".join(bits))
    if not elements:
        lines.append("(none)")
    return "\n".join(lines)


def safe_title(page: Any) -> str:
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
        raise BrowserStepFailed(f'the model\'s answer has no "action": {str(content)[:200]!r}')
    name = action["action"].strip().lower()
    if name == "done":
        return {"action": "done", "answer": action.get("answer", action.get("result", ""))}
    if name not in ACTIONS:
        raise BrowserStepFailed(f"the model chose an unknown action {name!r}; known: {', '.join(ACTIONS + ('done',))}")
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
    missing = {"goto": ["url"], "click": ["selector"], "fill": ["selector", "value"], "press": ["key"]}.get(name, [])
    absent = [k for k in missing if k not in step]
    if absent:
        raise BrowserStepFailed(f"the model's {name!r} action lacks {', '.join(absent)}")
    return step


def run_agent(
    session: BrowserSession,
    job: StepJob,
    ctx: StepContext,
    llm: LLMClient,
    *,
    task: str,
    max_steps: int,
    model: str | None = None,
    start_url: str | None = None,
    temperature: float | None = None,
    max_tokens: int = 256,
) -> dict:
    """Let the model drive: one action per turn until it says done or max_steps run out.

    Each turn is a checkpointed step whose output is the turn's history entry, the
    notes for the next turn and the page it left: a resumed job reopens that page
    and goes on with the same history instead of starting the task over."""
    if start_url:
        run_step(session, ctx, 0, {"action": "goto", "url": start_url})
    history: list[dict] = []
    notes: list[str] = []  # what happened last turn, for the model
    model_name = None
    url: str | None = None
    job.plan(total=max_steps)
    for turn in range(1, max_steps + 1):
        ctx.check()
        out = job.step(
            f"agent step {turn}",
            _agent_turn,
            session,
            ctx,
            llm,
            task,
            turn,
            history,
            notes,
            url,
            model,
            temperature,
            max_tokens,
        )
        restore(ctx, out)
        history.append(out["entry"])
        notes = out["notes"]
        model_name = out["model"] or model_name
        url = out["url"] or url
        if out["done"]:
            job.progress.report(percentage=100, current_step=turn, message="the agent said done")
            return {
                "mode": "agent",
                "done": True,
                "answer": out["answer"],
                "steps_taken": turn,
                "history": history,
                "model": model_name,
            }
    return {
        "mode": "agent",
        "done": False,
        "answer": None,
        "steps_taken": max_steps,
        "history": history,
        "model": model_name,
        "message": f"the agent did not finish within max_steps={max_steps}",
    }


def _agent_turn(
    session: BrowserSession,
    ctx: StepContext,
    llm: LLMClient,
    task: str,
    turn: int,
    history: list[dict],
    notes: list[str],
    url: str | None,
    model: str | None,
    temperature: float | None,
    max_tokens: int,
) -> dict:
    """One turn: ask the model, carry out its action; returns what the next turn needs."""
    reopen(session, url)
    artifacts, extracted = len(ctx.artifacts), set(ctx.extracted)
    messages = [
        {"role": "system", "content": AGENT_SYSTEM_PROMPT},
        {"role": "user", "content": _agent_prompt(task, history, notes, page_view(session.page))},
    ]
    # One action is a short JSON object; the cap keeps a rambling model from stalling a turn.
    reply = llm.chat(messages, model=model, temperature=temperature, max_tokens=max_tokens, json_mode=True)
    out: dict = {"model": reply.model, "notes": [], "done": False, "answer": None}
    try:
        step = parse_action(reply.content)
    except BrowserStepFailed as exc:
        out.update(entry={"turn": turn, "error": exc.message}, notes=[f"Your last answer was refused: {exc.message}"])
    else:
        if step["action"] == "done":
            out.update(entry={"turn": turn, "action": "done"}, done=True, answer=step["answer"])
        else:
            try:
                record = run_step(session, ctx, turn, step)
            except (BrowserStepFailed, UnsafeURL) as exc:
                # The model may recover from a missed element, or from a link it may not follow
                # (that request was refused; nothing reached the address).
                out.update(
                    entry={"turn": turn, **step, "error": exc.message},
                    notes=[f"Your last action failed: {exc.message}"],
                )
                if isinstance(exc, UnsafeURL):
                    session.recover_from_refusal()
            else:
                out["entry"] = {"turn": turn, **step, **{k: v for k, v in record.items() if k in ("text", "status")}}
    out.update(
        url=session.page.url,
        artifacts=ctx.artifacts[artifacts:],
        extracted={k: v for k, v in ctx.extracted.items() if k not in extracted},
    )
    return out


def _agent_prompt(task: str, history: list[dict], notes: list[str], view: str) -> str:
    lines = [f"Task: {task}", ""]
    if history:
        lines.append("Actions so far:")
        lines += [json.dumps(h, ensure_ascii=False)[:300] for h in history[-10:]]
        lines.append("")
    lines += notes
    lines += ["Current page:", view, "", "Your next action (one JSON object):"]
    return "\n".join(lines)
