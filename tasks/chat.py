"""``chat``: one question-and-answer turn of a conversation (seed 001's QA workflow).

Input ``{input, chat_id, user_id, user_type, file_ids, options}``. The chat's
earlier messages (kept in Redis per tenant and ``chat_id``, see
backends/chat_history.py) are sent to the model with the new question; the
answer is streamed into progress like ``inference``; then the turn is appended
to the history. Result, in seed 001's shape:
``{chat_meta, session_title, messages}`` where ``messages`` are this turn's
question and answer.
"""

import time
import uuid
from typing import cast

from backends.chat_history import ChatHistory
from backends.llm import LLMClient
from longrun import keys
from longrun.job import Job
from longrun.jobstore import iso
from longrun.settings import get_settings
from tasks.inference import generate

# Earlier messages sent with a question, newest first, up to this many characters
# (about 3k tokens: room in a 4k context for the question and a short answer).
HISTORY_CHAR_BUDGET = 12_000


def system_prompt(user_type: str) -> str:
    who = "" if user_type == "user" else f" The user is a {user_type.replace('_', ' ')}."
    return "You are a helpful, concise assistant." + who


def history_window(messages: list[dict], budget: int = HISTORY_CHAR_BUDGET) -> list[dict]:
    """The newest earlier messages that fit the budget, oldest first, as the model wants them."""
    window, used = [], 0
    for message in reversed(messages):
        used += len(message["content"])
        if used > budget:
            break
        window.append({"role": message["role"], "content": message["content"]})
    return window[::-1]


def run_chat_turn(
    job: Job,
    llm: LLMClient,
    history: ChatHistory,
    *,
    input: str,
    user_id: str | None,
    user_type: str,
    file_ids: list[str],
    options: dict,
) -> dict:
    meta = history.meta()
    history.check_owner(meta, user_id)
    earlier = history.messages()
    turn = history.turn_of(job.id, earlier)
    if len(turn) == 2:  # a redelivered job whose turn is already recorded
        return chat_result(history.chat_id, meta, turn)
    prompt = [
        {"role": "system", "content": system_prompt(user_type)},
        *history_window(earlier),
        {"role": "user", "content": input},
    ]
    answer = generate(job, llm, prompt, options)
    now = iso(time.time())
    question = {"role": "user", "content": input, "file_ids": file_ids, "created_at": now}
    reply = {
        "role": "assistant",
        "content": answer.content,
        "model": answer.model,
        "usage": answer.usage,
        "created_at": now,
    }
    meta = history.append_turn(job.id, question, reply, user_id=user_id, user_type=user_type, model=answer.model)
    return chat_result(history.chat_id, meta, [question, reply])


def chat_result(chat_id: str, meta: dict, turn: list[dict]) -> dict:
    messages = [{k: v for k, v in m.items() if k != "job_id"} for m in turn]
    return {
        "chat_meta": {
            "chat_id": chat_id,
            "user_id": meta.get("user_id"),
            "user_type": meta.get("user_type"),
            "turns": int(meta.get("turns") or 0),
            "model": meta.get("model"),
            "created_at": iso(meta.get("created_at")),
            "updated_at": iso(meta.get("updated_at")),
        },
        "session_title": meta.get("session_title"),
        "messages": messages,
    }


def chat(
    job: Job,
    input: str,
    chat_id: str | None = None,
    user_id: str | None = None,
    user_type: str = "user",
    file_ids: list | None = None,
    options: dict | None = None,
) -> dict:
    settings = get_settings()
    store = job.store
    if store is None:
        raise RuntimeError("a chat job needs the job store (Job.store)")
    tenant = cast(str | None, store.redis.hget(keys.job(job.id), "tenant")) or "default"  # decoded replies
    # A job without chat_id starts a new chat; its id is stable across redeliveries.
    history = ChatHistory(
        store.redis,
        tenant,
        chat_id or f"chat-{uuid.uuid5(uuid.NAMESPACE_URL, job.id)}",
        settings.chat_history_seconds,
        settings.chat_history_max_messages,
    )
    return run_chat_turn(
        job,
        LLMClient.from_settings(settings),
        history,
        input=input,
        user_id=user_id,
        user_type=user_type,
        file_ids=file_ids or [],
        options=options or {},
    )
