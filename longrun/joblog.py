"""Per-job logs in Redis: what a job logged, capped in lines and bytes.

Lines are JSON objects ``{"ts", "level", "logger", "message"}`` appended by
the worker (``workers/job_logs.py``). One Lua script appends a batch and drops
the oldest lines while the log is over ``job_log_max_lines`` or
``job_log_max_bytes``, counting what it dropped, so a chatty job can never
grow Redis without bound. The keys expire with the job and are deleted with it.
"""

import json
from typing import Any, cast

import redis

from longrun import keys
from longrun.jobstore import iso
from longrun.settings import Settings

# KEYS: log list, meta hash, job record. ARGV: max_lines, max_bytes, ttl, line...
# Lines of a job deleted while it ran are dropped: its log must not outlive it.
APPEND = """
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
local max_lines, max_bytes, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local added = 0
for i = 4, #ARGV do
  redis.call('RPUSH', KEYS[1], ARGV[i])
  added = added + #ARGV[i]
end
local bytes = redis.call('HINCRBY', KEYS[2], 'bytes', added)
local n = redis.call('LLEN', KEYS[1])
local dropped = 0
while n > 0 and (n > max_lines or bytes > max_bytes) do
  bytes = bytes - #redis.call('LPOP', KEYS[1])
  n = n - 1
  dropped = dropped + 1
end
if dropped > 0 then
  redis.call('HSET', KEYS[2], 'bytes', bytes)
  redis.call('HINCRBY', KEYS[2], 'dropped', dropped)
end
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return dropped
"""


def cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, marked when cut."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[: max(0, limit - 3)].decode(errors="ignore") + "..."


def make_line(created: float, level: str, logger: str, message: str, line_bytes: int) -> str:
    return json.dumps(
        {"ts": iso(created), "level": level, "logger": logger, "message": cut(message, line_bytes)}, ensure_ascii=False
    )


class JobLogStore:
    def __init__(self, client: redis.Redis, settings: Settings):
        self.redis = client
        self.settings = settings
        self._append = client.register_script(APPEND)

    def running_ttl(self) -> int:
        """TTL while the job runs: it cannot outlive its longest possible run plus retention."""
        s = self.settings
        return s.retention_seconds + s.max_timeout_seconds if s.retention_seconds else 0

    def append(self, job_id: str, lines: list[str], ttl: int | None = None) -> int:
        """Append lines; returns how many old lines were dropped to stay in the caps."""
        if not lines:
            return 0
        s = self.settings
        ttl = self.running_ttl() if ttl is None else ttl
        return cast(
            int,
            self._append(
                keys=[keys.job_log(job_id), keys.job_log_meta(job_id), keys.job(job_id)],
                args=[s.job_log_max_lines, s.job_log_max_bytes, ttl, *lines],
            ),
        )  # lines dropped

    def expire_with_job(self, job_id: str) -> None:
        """The job finished: keep its log exactly as long as the job."""
        ttl = self.settings.retention_seconds
        if ttl:
            pipe = self.redis.pipeline(transaction=False)
            pipe.expire(keys.job_log(job_id), ttl)
            pipe.expire(keys.job_log_meta(job_id), ttl)
            pipe.execute()

    def read(self, job_id: str, tail: int | None = None) -> dict[str, Any]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.lrange(keys.job_log(job_id), -tail if tail else 0, -1)
        pipe.hgetall(keys.job_log_meta(job_id))
        lines, meta = pipe.execute()
        return {
            "lines": [json.loads(line) for line in lines],
            "dropped": int(meta.get("dropped", 0)),
            "bytes": int(meta.get("bytes", 0)),
        }


def as_text(lines: list[dict[str, Any]]) -> str:
    return "".join(f"{line['ts']} {line['level']:<8} {line['logger']}: {line['message']}\n" for line in lines)
