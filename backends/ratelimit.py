"""Backend quotas shared by every worker, through Redis (docs/flow-control.md).

Two things hold an LLM call back, both kept per backend in Redis so that all
workers on all hosts obey them together:

- A pause: when a backend answers 429, calls to that base URL and model stop
  for its ``Retry-After`` (or, without one, the client's backoff), for every
  worker, instead of each job retrying on its own and prolonging the overload.
- A rate: ``LONGRUN_LLM_RATE_LIMITS`` (``gpt-4o-mini=500/m``) spaces calls to a
  model by GCRA (one Redis key holding the "theoretical arrival time"), with a
  burst of at most one second's worth of calls.

A call that waits says so in its job's progress message (``reporting``), and
waits at most ``llm_rate_limit_max_wait_seconds`` in all before it fails.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache

import redis

from longrun import keys
from longrun.errors import LLMUnavailable
from longrun.settings import Settings, get_settings

# Seconds to wait before the next call may go (0: go now), and why ("pause" | "rate").
# KEYS: pause, rate. ARGV: interval (0: no rate), tolerance.
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if paused > now then return {tostring(paused - now), 'pause'} end
local interval = tonumber(ARGV[1])
if interval <= 0 then return {'0', ''} end
local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
if tat < now then tat = now end
local wait = tat - tonumber(ARGV[2]) - now
if wait > 0 then return {tostring(wait), 'rate'} end
redis.call('SET', KEYS[2], tostring(tat + interval), 'PX', math.ceil((tat + interval - now) * 1000) + 1000)
return {'0', ''}
"""
# Pause the backend for ARGV[1] seconds from now, unless a longer pause is set. KEYS: pause.
PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local untl = now + tonumber(ARGV[1])
if tonumber(redis.call('GET', KEYS[1]) or '0') >= untl then return 0 end
redis.call('SET', KEYS[1], tostring(untl), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1)
return 1
"""

# Called with a sentence while a call waits for its quota (the job's progress message).
Notify = Callable[[str], None]
_notify: ContextVar[Notify | None] = ContextVar("longrun_quota_notify", default=None)


@contextmanager
def reporting(notify: Notify) -> Iterator[None]:
    """Inside: a call that waits for a quota tells ``notify`` (the worker binds it to the job's progress)."""
    token = _notify.set(notify)
    try:
        yield
    finally:
        _notify.reset(token)


def backend_id(base_url: str, model: str) -> str:
    return hashlib.sha256(f"{base_url}|{model}".encode()).hexdigest()[:16]


class Quota:
    """The shared pause and rate of one backend (base URL + model), for one call."""

    def __init__(
        self,
        client: redis.Redis,
        base_url: str,
        model: str,
        per_second: float | None,
        max_wait: float,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.redis = client
        self.base_url = base_url
        self.model = model
        self.interval = 1.0 / per_second if per_second else 0.0
        self.tolerance = max(0.0, (per_second or 0) - 1) * self.interval  # a burst of one second's worth
        self.max_wait = max_wait
        self.waited = 0.0
        self.sleep = sleep
        self._keys = [keys.llm_pause(backend_id(base_url, model)), keys.llm_rate(model)]
        self._acquire = client.register_script(ACQUIRE)
        self._pause = client.register_script(PAUSE)

    def wait_turn(self) -> None:
        """Return when this call may go; raise LLMUnavailable past the wait budget."""
        while True:
            try:
                wait, reason = self._acquire(keys=self._keys, args=[repr(self.interval), repr(self.tolerance)])
            except redis.RedisError:
                return  # no Redis, no shared quota: the backend's own 429s still bound us
            wait = float(wait)
            if wait <= 0:
                return
            if self.waited + wait > self.max_wait:
                raise LLMUnavailable(
                    f"{self.base_url} ({self.model}): waited {self.waited:.0f}s for its quota; "
                    f"{wait:.0f}s more would pass the limit of {self.max_wait:.0f}s",
                    details={"waited_seconds": round(self.waited, 1)},
                )
            notify = _notify.get()
            if notify is not None:
                why = "paused after a 429 (rate limited)" if reason == "pause" else "at its request rate"
                notify(f"waiting {wait:.1f}s for the quota of model {self.model or '(default)'}: {why}")
            step = min(wait, 1.0)
            self.sleep(step)
            self.waited += step

    def pause(self, seconds: float) -> bool:
        """A 429: hold every worker's calls to this backend for ``seconds``; False past the wait budget."""
        if self.waited + seconds > self.max_wait:
            return False
        try:
            self._pause(keys=self._keys[:1], args=[repr(max(0.05, seconds))])
        except redis.RedisError:
            self.sleep(seconds)  # at least this call waits
            self.waited += seconds
        return True


@lru_cache(maxsize=4)
def _client(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout)


def quota(base_url: str, model: str, settings: Settings | None = None) -> Quota:
    s = settings or get_settings()
    return Quota(
        _client(s.redis_url, s.redis_timeout_seconds),
        base_url,
        model,
        s.rate_limits.get(model),
        s.llm_rate_limit_max_wait_seconds,
    )
