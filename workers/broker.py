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
