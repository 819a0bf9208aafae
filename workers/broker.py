"""kombu's Redis transport, able to hand a message over instead of sending it.

Submitting a job writes its record (a Lua script) and publishes its message.
As two steps that is two Redis round trips, and a crash between them leaves a
record no message will run. When the broker is the job store's Redis, the API
lets Celery and kombu build the message exactly as they would send it (routing,
priority list, headers, serialization), takes it here at the last step instead
of the LPUSH, and the create script pushes it in the same atomic step as the
record (longrun/lua/create.lua). Outside ``capture()`` this is kombu's
transport unchanged (its Redis one, or its Sentinel one); workers use it too.
"""

import base64
import json
import threading
import uuid
from collections.abc import Callable, Hashable
from contextlib import contextmanager
from contextvars import ContextVar

from kombu.transport import redis as kombu_redis
from kombu.utils.json import dumps

from longrun.errors import CannotCapture

_captured: ContextVar[list | None] = ContextVar("longrun_captured_messages", default=None)


class CapturingChannel(kombu_redis.Channel):
    """kombu's Redis channel, able to hand over; mixed in before kombu's Sentinel
    channel too (its MRO then runs this _put first), so both share one _put."""

    def _put(self, queue, message, **kwargs):
        captured = _captured.get()
        if captured is None:
            return super()._put(queue, message, **kwargs)
        if kwargs.get("_publish_batch") is not None or (self._expires and queue in self._expires):
            raise CannotCapture(f"queue {queue} needs more than a plain LPUSH")
        priority = self._get_message_priority(message, reverse=False)
        captured.append((self._q_for_pri(queue, priority), dumps(message)))


class Channel(CapturingChannel):
    pass


class SentinelChannel(CapturingChannel, kombu_redis.SentinelChannel):
    pass


class Transport(kombu_redis.Transport):
    Channel = Channel


class SentinelTransport(kombu_redis.SentinelTransport):
    """kombu's Sentinel transport (LONGRUN_REDIS_SENTINELS, see longrun/redis_conn.py)."""

    Channel = SentinelChannel


CAPTURING_TRANSPORTS = (Transport, SentinelTransport)


@contextmanager
def capture():
    """Inside: publishing appends (list key, payload) to the yielded list instead of sending."""
    messages: list[tuple[str, str]] = []
    token = _captured.set(messages)
    try:
        yield messages
    finally:
        _captured.reset(token)


class MessageTemplates:
    """Job messages built by Celery once per (app, kind, priority, timeout), then filled in.

    Building a message through ``send_task`` (routing, headers, serialization,
    kombu's publish path) was a quarter of a submit's CPU, the same for every
    job of a kind but for its id. A template is Celery's own message for a
    placeholder id; a job's message is that one with its id (task id, root id,
    correlation id, args) and a fresh delivery tag. A message whose
    placeholder turns up anywhere else is never templated (built in full each
    time), so a Celery that adds an id-bearing field stays correct.
    """

    PLACEHOLDER = "f" * 32
    MAX = 512

    def __init__(self) -> None:
        self._templates: dict[Hashable, tuple[str, dict, list] | None] = {}
        self._lock = threading.Lock()

    def message(
        self, key: Hashable, job_id: str, build: Callable[[str], tuple[str, str] | None]
    ) -> tuple[str, str] | None:
        """The job's (list key, payload); ``build(job_id)`` makes one the slow way."""
        if key not in self._templates:
            template = self._template(build)
            with self._lock:
                if len(self._templates) >= self.MAX:
                    self._templates.clear()
                self._templates[key] = template
        template = self._templates.get(key)
        if template is None:
            return build(job_id)
        queue_key, message, body = template
        headers = {**message["headers"], "id": job_id, "root_id": job_id, "argsrepr": repr([job_id])}
        properties = {**message["properties"], "correlation_id": job_id, "delivery_tag": str(uuid.uuid4())}
        encoded = base64.b64encode(dumps([[job_id], *body[1:]]).encode()).decode()
        return queue_key, dumps({**message, "headers": headers, "properties": properties, "body": encoded})

    def _template(self, build: Callable[[str], tuple[str, str] | None]) -> tuple[str, dict, list] | None:
        built = build(self.PLACEHOLDER)
        if built is None:
            return None
        queue_key, payload = built
        message = json.loads(payload)
        if message.get("properties", {}).get("body_encoding") != "base64":
            return None
        body = json.loads(base64.b64decode(message["body"]))
        headers, properties = message["headers"], message["properties"]
        ids = (headers.get("id"), headers.get("root_id"), properties.get("correlation_id"), body[0])
        if ids != (self.PLACEHOLDER, self.PLACEHOLDER, self.PLACEHOLDER, [self.PLACEHOLDER]):
            return None
        rest = {
            **message,
            "body": None,
            "headers": {**headers, "id": "", "root_id": "", "argsrepr": ""},
            "properties": {**properties, "correlation_id": ""},
            "_body": body[1:],
        }
        if self.PLACEHOLDER in json.dumps(rest) or self.PLACEHOLDER in queue_key:
            return None  # the id is somewhere we do not fill in
        return queue_key, message, body


TEMPLATES = MessageTemplates()
