"""Conversation history per chat, in Redis, with retention.

A chat (``chat_id``, scoped by tenant) keeps its messages in a list and its
owner, title and counters in a hash. Each turn appends the user's question and
the model's answer together in one transaction, trims the list to the newest
``max_messages`` and renews both keys' expiry, so an idle chat disappears
``retention_seconds`` after its last turn. Each message carries the id of the
job that wrote it, so a redelivered job does not append its turn twice.
"""

import json
import time
from dataclasses import dataclass

import redis

from longrun import keys
from longrun.errors import ChatOwnedByAnotherUser

TITLE_CHARS = 30


def session_title(first_input: str) -> str:
    """The chat's title: the start of its first question (as seed 001 shows it)."""
    text = " ".join(first_input.split())
    return text if len(text) <= TITLE_CHARS else text[:TITLE_CHARS] + "..."


@dataclass
class ChatHistory:
    redis: redis.Redis
    tenant: str
    chat_id: str
    retention_seconds: int
    max_messages: int

    @property
    def _messages_key(self) -> str:
        return keys.chat_messages(self.tenant, self.chat_id)

    @property
    def _meta_key(self) -> str:
        return keys.chat_meta(self.tenant, self.chat_id)

    def meta(self) -> dict:
        return self.redis.hgetall(self._meta_key)

    def messages(self) -> list[dict]:
        return [json.loads(m) for m in self.redis.lrange(self._messages_key, 0, -1)]

    def check_owner(self, meta: dict, user_id: str | None) -> None:
        owner = meta.get("user_id")
        if owner and user_id and owner != user_id:
            raise ChatOwnedByAnotherUser(
                f"chat {self.chat_id!r} belongs to another user", details={"chat_id": self.chat_id}
            )

    def turn_of(self, job_id: str, messages: list[dict]) -> list[dict]:
        """The messages a job already appended (a redelivered job finds its own turn)."""
        return [m for m in messages if m.get("job_id") == job_id]

    def append_turn(
        self,
        job_id: str,
        user_message: dict,
        assistant_message: dict,
        *,
        user_id: str | None,
        user_type: str | None,
        model: str,
    ) -> dict:
        """Append one question and its answer atomically; returns the chat's meta after it."""
        now = f"{time.time():.6f}"
        encoded = [json.dumps({**m, "job_id": job_id}, ensure_ascii=False) for m in (user_message, assistant_message)]
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.rpush(self._messages_key, *encoded)
            pipe.ltrim(self._messages_key, -self.max_messages, -1)
            pipe.hsetnx(self._meta_key, "created_at", now)
            pipe.hsetnx(self._meta_key, "session_title", session_title(user_message["content"]))
            if user_id:
                pipe.hsetnx(self._meta_key, "user_id", user_id)
            pipe.hset(self._meta_key, mapping={"updated_at": now, "user_type": user_type or "", "model": model})
            pipe.hincrby(self._meta_key, "turns", 1)
            if self.retention_seconds:
                pipe.expire(self._messages_key, self.retention_seconds)
                pipe.expire(self._meta_key, self.retention_seconds)
            pipe.hgetall(self._meta_key)
            return pipe.execute()[-1]
