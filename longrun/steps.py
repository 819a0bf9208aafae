"""Durable steps: a job's finished steps are checkpoints, so a job that runs
again (its process killed, its worker lost, Redis restarted, a warm shutdown)
goes on from its first unfinished step instead of starting over.

A kind runs its work in named steps through its ``Job`` context
(``job.step(name, fn, *args)``, longrun/job.py). ``StepStore`` is the Redis side:
each step's entry in the job's timeline (``keys.steps``) and a finished step's
output (``keys.step_outputs``; large outputs go to a file in the job's artifact
folder) are written by one Lua script (lua/step.lua) together with the progress
event that reports them, and only by the attempt holding the job's lease.
``StepRunner`` is one attempt's view: a step that finished in an earlier
attempt returns its stored output without running; steps are keyed by position
and name, so a job whose steps changed between attempts fails (StepsChanged)
instead of mixing outputs. The job document's ``steps`` is built by
longrun/jobstore.py (``timeline``). docs/steps.md is the kind author's page.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from longrun import keys
from longrun.errors import (
    REDIS_UNREACHABLE,
    CheckpointFailed,
    JobCancelled,
    JobRequeued,
    LeaseLost,
    ServiceUnavailable,
    StepsChanged,
)
from longrun.metrics import BUCKETS

if TYPE_CHECKING:
    from longrun.artifacts import ArtifactStore
    from longrun.jobstore import JobStore


class Progress(Protocol):
    """What the runner needs of the job's progress reporter (longrun/job.py's ProgressReporter)."""

    @property
    def interval(self) -> float:
        """Checkpoints closer together than this are written together (as progress reports are)."""

    def report(self, *, force: bool = False, **fields: Any) -> None: ...

    def check_cancelled(self) -> None: ...

    def checkpointed(self, **fields: Any) -> dict[str, Any]: ...


log = logging.getLogger(__name__)

STATUSES = ("pending", "running", "completed", "failed")
# How long a checkpoint write keeps trying while Redis is unreachable (a restart) before the job fails.
WRITE_RETRY_SECONDS = 30.0
# The folder (inside the job's artifact folder, hidden from its file list) of outputs too large for Redis.
OUTPUT_DIR = ".steps"


def _script(name: str) -> str:
    lua = resources.files("longrun") / "lua"
    return (lua / "lib.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()


SCRIPTS = {name: _script(name) for name in ("step", "requeue")}


def flat_entries(entries: dict[int, dict[str, Any]]) -> list[str]:
    """Step entries as a script takes them: position, JSON entry, position, ..."""
    return [str(x) for pos, entry in entries.items() for x in (pos, json.dumps(entry))]


def parse_entries(raw: dict[str, str]) -> dict[int, dict[str, Any]]:
    """Step entries by position, from the raw hash (keys.steps)."""
    return {int(pos): json.loads(entry) for pos, entry in raw.items()}


class StepStore:
    """The Redis side of checkpoints; one per job store."""

    def __init__(self, store: JobStore):
        self.store = store
        self.redis = store.redis
        self.settings = store.settings
        self._scripts = {name: self.redis.register_script(src) for name, src in SCRIPTS.items()}

    def _run(self, name: str, job_id: str, **params: Any) -> Any:
        now = time.time()
        params.update(
            id=job_id,
            prefix=keys.PREFIX,
            now=f"{now:.6f}",
            result_ttl=self.settings.retention_seconds,
            tomb_ttl=self.settings.tombstone_seconds,
            maxlen=self.settings.events_maxlen,
            buckets=[format(b, "g") for b in BUCKETS],
            # A running job's checkpoints outlive its longest run and a redelivery.
            keep_ttl=self.settings.max_timeout_seconds
            + self.settings.visibility_timeout_seconds
            + self.settings.retention_seconds
            + 3600,
        )
        params = {k: v for k, v in params.items() if v is not None}
        script_keys = [
            keys.job(job_id),
            keys.meta(job_id),
            keys.events(job_id),
            keys.lease(job_id),
            keys.tombstone(job_id),
            keys.cancel(job_id),
        ]
        # A checkpoint is worth waiting for: Redis restarting (it keeps an append-only
        # file) comes back within seconds, and the job goes on without losing the step.
        deadline = time.monotonic() + WRITE_RETRY_SECONDS
        pause = 0.1
        while True:
            try:
                return self._scripts[name](keys=script_keys, args=[json.dumps(params)])
            except REDIS_UNREACHABLE as exc:
                if time.monotonic() + pause > deadline:
                    raise ServiceUnavailable("Redis is unreachable: the step could not be checkpointed") from exc
                log.warning("job %s: checkpoint write failed (%s); retrying in %.1fs", job_id, exc, pause)
                time.sleep(pause)
                pause = min(2.0, pause * 2)

    def load(self, job_id: str) -> tuple[dict[int, dict[str, Any]], dict[str, str]]:
        """The job's step entries by position, and its stored outputs (raw JSON by field)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.steps(job_id))
        pipe.hgetall(keys.step_outputs(job_id))
        entries, outputs = pipe.execute()
        return parse_entries(entries), outputs

    def write(
        self,
        job_id: str,
        token: str,
        *,
        entries: dict[int, dict[str, Any]] | None = None,
        outputs: dict[str, str] | None = None,
        drop: list[str] | None = None,
        progress: dict[str, Any] | None = None,
    ) -> int:
        """One checkpoint write (lua/step.lua); LeaseLost / JobCancelled when this attempt may not write."""
        flat = flat_entries(entries or {})
        out = [x for field, raw in (outputs or {}).items() for x in (field, raw)]
        reply = self._run(
            "step",
            job_id,
            token=token,
            entries=flat or None,
            outputs=out or None,
            drop=drop or None,
            progress=json.dumps(progress) if progress is not None else None,
        )
        if reply[0] == "lost":
            raise LeaseLost(f"job {job_id}: another attempt holds its lease")
        if reply[0] == "over":
            raise JobCancelled(f"job {job_id} is over (cancelled, finished or deleted)")
        if progress is not None:
            from longrun.states import JobStatus

            self.store._notify(job_id, JobStatus.RUNNING, progress)
        return int(reply[1])

    def requeue(self, job_id: str, token: str, *, progress: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Warm shutdown: back to pending, the attempt not charged (lua/requeue.lua).

        Returns the kind, priority and timeout to republish with; None when this
        attempt no longer holds the job (then another copy or nobody runs it)."""
        reply = self._run(
            "requeue",
            job_id,
            token=token,
            requeue_grace=self.settings.visibility_timeout_seconds,
            progress=json.dumps(progress) if progress is not None else None,
        )
        if reply[0] != "requeue":
            return None
        from longrun.states import JobStatus

        self.store._notify(job_id, JobStatus.PENDING, progress)
        return {"kind": reply[1], "priority": int(reply[2]), "timeout": int(reply[3])}


class StepRunner:
    """One attempt's steps: runs what is unfinished, returns what is stored."""

    def __init__(
        self,
        store: StepStore,
        job_id: str,
        token: str,
        attempt: int,
        progress: Progress,
        artifacts: ArtifactStore | None,
        *,
        draining: Callable[[], bool] = lambda: False,
        output_max_bytes: int = 64 * 1024,
        job_log: logging.Logger | None = None,
        loaded: tuple[dict[int, dict[str, Any]], dict[str, str]] | None = None,
        written_at: float = float("-inf"),
    ):
        """``loaded``: the checkpoints as ``StepStore.load`` returns them, when the caller
        has them already (the claim reads them): then they are not read again.
        ``written_at``: when (monotonic) the job's last event was written (its claim's
        "running" event): a first step starting within the interval rides on a later write."""
        self.store = store
        self.job_id = job_id
        self.token = token
        self.attempt = attempt
        self.progress = progress
        self.artifacts = artifacts
        self.draining = draining
        self.output_max_bytes = output_max_bytes
        self.log = job_log or log
        self.position = 0  # of the last step called
        self.current: int | None = None  # the step running now
        self.current_name: str | None = None
        self.names: list[str] | None = None
        self.total: int | None = None
        self._entries: dict[int, dict[str, Any]] | None = None
        self._outputs: dict[str, str] = {}
        self._started: set[int] = set()  # started in this attempt (a finish may start the next step)
        self._resume_pending = False
        # Finished steps not yet written: a step that ends within ``progress.interval`` of the
        # last write waits for the next one (at most that long: a timer writes it), so a job
        # of many quick steps costs a write per interval, not per step.
        self._lock = threading.RLock()
        self._held_entries: dict[int, dict[str, Any]] = {}
        self._held_outputs: dict[str, str] = {}
        self._held_drop: list[str] = []
        self._held_progress: dict[str, Any] | None = None
        # When the job's last event was written (monotonic): by the claim, for a new attempt.
        self._last_write = written_at
        self._armed = False  # due to be written by the process's flusher
        if loaded is not None:
            self._loaded(*loaded)

    # -- loading -----------------------------------------------------------

    def _load(self) -> dict[int, dict[str, Any]]:
        if self._entries is None:
            self._loaded(*self.store.load(self.job_id))
        return self._entries  # type: ignore[return-value]  # set by _loaded

    def _loaded(self, entries: dict[int, dict[str, Any]], outputs: dict[str, str]) -> None:
        self._entries, self._outputs = entries, outputs
        # An earlier attempt got somewhere: the first step this one runs says so.
        self._resume_pending = any(e["status"] != "pending" for e in entries.values())

    def plan(self, names: list[str]) -> None:
        """The steps this job will run, in order: shown as pending until they run,
        and a finished step starts the next in the same write."""
        entries = self._load()
        for pos, entry in entries.items():
            if pos <= len(names) and entry["name"] != names[pos - 1]:
                raise self._changed(pos, entry["name"], names[pos - 1])
        self.names = list(names)
        self.total = len(names)

    def set_total(self, total: int | None) -> None:
        self.total = total

    # -- running -----------------------------------------------------------

    def run(
        self,
        name: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        message: str | None = None,
    ) -> Any:
        entries = self._load()
        self.position += 1
        pos = self.position
        if self.names is not None and (pos > len(self.names) or self.names[pos - 1] != name):
            planned = self.names[pos - 1] if pos <= len(self.names) else "(no step)"
            raise self._changed(pos, planned, name, planned_by="its plan")
        stored = entries.get(pos)
        if stored is not None and stored["name"] != name:
            raise self._changed(pos, stored["name"], name)
        if stored is not None and stored["status"] == "completed" and str(pos) in self._outputs:
            return self._stored_output(pos)
        self.progress.check_cancelled()
        if self.draining():
            self.close(report=True)  # what finished is written before the job goes back to its queue
            raise JobRequeued(f"the worker is shutting down: job {self.job_id} stops before step {pos} ({name})")
        self._start(pos, name, message)
        self.current, self.current_name = pos, name
        try:
            value = fn(*args, **kwargs)
        except (JobCancelled, JobRequeued, LeaseLost):
            raise  # the step stays unfinished: a later attempt runs it again
        except Exception:
            self._failed(pos, name)
            raise
        finally:
            self.current = self.current_name = None
        return self._finish(pos, name, value)

    def _entry(
        self, name: str, status: str, started_at: float | None, finished_at: float | None = None
    ) -> dict[str, Any]:
        return {
            "name": name,
            "status": status,
            "attempt": self.attempt,
            "started_at": started_at,
            "finished_at": finished_at,
        }

    def _step_fields(self, pos: int, name: str, done: bool) -> dict[str, Any]:
        fields: dict[str, Any] = {"current_step": pos, "total_steps": self.total, "step_name": name}
        if self.total:
            fields["percentage"] = round(100 * (pos if done else pos - 1) / self.total, 1)
        return fields

    def _start(self, pos: int, name: str, message: str | None) -> None:
        if pos in self._started:  # the previous step's finish started it (and wrote its event)
            if message:  # rides on the next write: one event per step, as without checkpoints
                self.progress.checkpointed(message=message)
            return
        now = time.time()
        fields = self._step_fields(pos, name, done=False)
        fields["message"] = message
        extra: dict[str, Any] = {}
        if self._resume_pending:
            done = sum(1 for e in (self._entries or {}).values() if e["status"] == "completed")
            extra["resumed"] = {"attempt": self.attempt, "from_step": pos, "step_name": name, "steps_done": done}
            fields["message"] = f"attempt {self.attempt} resumed at step {pos} ({name}); {done} steps done before"
            self.log.info("%s", fields["message"])
            self._resume_pending = False
        entries = {pos: self._entry(name, "running", now)}
        if self.names is not None:  # the steps still to come, as pending
            for later in range(pos + 1, len(self.names) + 1):
                if later not in self._entries:  # type: ignore[operator]
                    entries[later] = self._entry(self.names[later - 1], "pending", None)
        self._entries.update(entries)  # type: ignore[union-attr]
        progress = {**self.progress.checkpointed(**fields), **extra}
        with self._lock:
            if extra or time.monotonic() - self._last_write >= self.progress.interval:
                self._write(entries=entries, progress=progress)
            else:  # a quick run of steps: written with the next write, within the interval
                self._held_entries.update(entries)
                self._held_progress = progress
                self._arm_timer()
        self._started.add(pos)

    def _finish(self, pos: int, name: str, value: Any) -> Any:
        try:
            encoded = json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise CheckpointFailed(f"step {pos} ({name}) returned what JSON cannot hold: {exc}") from None
        if len(encoded) <= self.output_max_bytes:
            output = '{"value": ' + encoded + "}"  # json.dumps({"value": value}), without encoding twice
        else:
            output = json.dumps({"file": self._save_large(pos, encoded)})
        now = time.time()
        started = (self._entries or {}).get(pos, {}).get("started_at") or now
        entries = {pos: {**self._entry(name, "completed", started, now)}}
        fields = self._step_fields(pos, name, done=True)
        fields["message"] = f"step {pos} ({name}) done"
        nxt = pos + 1
        report = True
        if self.names is not None and nxt <= len(self.names):
            # With a plan, a step's finish is the next one's start: one event for both.
            entries[nxt] = self._entry(self.names[nxt - 1], "running", now)
            fields = self._step_fields(nxt, self.names[nxt - 1], done=False)
            fields["message"] = f"step {pos} ({name}) done"
            self._started.add(nxt)
        elif self.names is not None:
            # The plan's last step: its finish is reported by the job's final state, which
            # follows at once (a resumed attempt's event says how many steps were done).
            report = False
        self._entries.update(entries)  # type: ignore[union-attr]
        self._outputs[str(pos)] = output
        with self._lock:
            self._held_entries.update(entries)
            self._held_outputs[str(pos)] = output
            self._held_drop.append(f"{pos}:partial")
            progress = self.progress.checkpointed(**fields)
            if report:
                self._held_progress = progress
            if time.monotonic() - self._last_write >= self.progress.interval and report:
                self._write()
            else:
                self._arm_timer()
        return json.loads(encoded)  # what a resumed attempt gets back, so both paths see the same

    # -- writing ---------------------------------------------------------------

    def _write(
        self,
        *,
        entries: dict[int, dict[str, Any]] | None = None,
        outputs: dict[str, str] | None = None,
        progress: dict[str, Any] | None = None,
    ) -> None:
        """One checkpoint write: what is held back, then ``entries`` / ``outputs``, with one event."""
        with self._lock:
            all_entries = {**self._held_entries, **(entries or {})}
            all_outputs = {**self._held_outputs, **(outputs or {})}
            drop = [f for f in self._held_drop if f not in all_outputs]
            event = progress if progress is not None else self._held_progress
            if not (all_entries or all_outputs or drop or event):
                return
            self.store.write(
                self.job_id, self.token, entries=all_entries, outputs=all_outputs, drop=drop, progress=event
            )
            self._held_entries, self._held_outputs, self._held_drop = {}, {}, []
            self._held_progress = None
            self._last_write = time.monotonic()
            self._disarm()

    def _arm_timer(self) -> None:
        if not self._armed:
            self._armed = True
            FLUSHER.schedule(self, self._last_write + self.progress.interval)

    def _disarm(self) -> None:
        if self._armed:
            self._armed = False
            FLUSHER.cancel(self)

    def _timer_flush(self) -> None:
        with self._lock:
            self._armed = False
            try:
                self._write()
            except Exception as exc:  # the job's own thread writes them at its next step or end
                log.debug("job %s: held checkpoints not written yet: %s", self.job_id, exc)

    def close(self, report: bool = False) -> None:
        """Write what is held back: at the job's end (its final state is the event) or, with
        ``report``, before it goes back to its queue."""
        with self._lock:
            self._disarm()
            if not report:
                self._held_progress = None
            self._write()

    def detach(self) -> dict[int, dict[str, Any]]:
        """At the job's end, instead of ``close``: the timeline entries still held back, for
        the final state's script to write (lua/finish.lua, one write fewer per job).
        Held outputs are left out: a final job's outputs are dropped."""
        with self._lock:
            self._disarm()
            entries = self._held_entries
            self._held_entries, self._held_outputs, self._held_drop, self._held_progress = {}, {}, [], None
        return entries

    def _failed(self, pos: int, name: str) -> None:
        started = (self._entries or {}).get(pos, {}).get("started_at")
        try:
            self._write(entries={pos: self._entry(name, "failed", started, time.time())})
        except Exception:  # the job's own failure matters more than its timeline
            log.warning("job %s: could not mark step %d failed", self.job_id, pos, exc_info=True)

    def _stored_output(self, pos: int) -> Any:
        stored = json.loads(self._outputs[str(pos)])
        if "file" in stored:
            return json.loads(self._large_path(pos).read_text())
        return stored["value"]

    def _large_path(self, pos: int) -> Path:
        if self.artifacts is None:
            raise CheckpointFailed("a large step output needs the artifact store")
        return self.artifacts.internal_path(self.job_id, OUTPUT_DIR, f"{pos}.json")

    def _save_large(self, pos: int, encoded: str) -> str:
        path = self._large_path(pos)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_text(encoded)
        tmp.replace(path)
        return path.name

    # -- partial state of a running step --------------------------------------

    def partial(self) -> Any:
        """What the running step saved (``save_partial``) in an earlier attempt, or None."""
        if self.current is None:
            return None
        raw = self._outputs.get(f"{self.current}:partial")
        return json.loads(raw)["value"] if raw else None

    def save_partial(self, value: Any, **progress_fields: Any) -> None:
        """Keep the running step's state so far (with a progress event); at a warm
        shutdown the job stops here and a resumed attempt gets it from ``partial()``."""
        if self.current is None:
            raise RuntimeError("save_partial is only for the step that is running")
        raw = json.dumps({"value": value})
        progress = self.progress.checkpointed(**progress_fields) if progress_fields else None
        self._write(outputs={f"{self.current}:partial": raw}, progress=progress)
        self._outputs[f"{self.current}:partial"] = raw
        if self.draining():
            raise JobRequeued(f"the worker is shutting down: job {self.job_id} stops in step {self.current}")

    def _changed(self, pos: int, before: str, now: str, planned_by: str = "an earlier attempt") -> StepsChanged:
        return StepsChanged(
            f"step {pos} is {before!r} in {planned_by} but {now!r} now: the job's steps changed "
            "between attempts, so its checkpoints cannot be used",
            details={"position": pos, "before": before, "now": now},
        )


class _Flusher:
    """One thread per process that writes held checkpoints once they are due (a
    ``threading.Timer`` per quick step started a thread for every job)."""

    def __init__(self) -> None:
        self._due: dict[StepRunner, float] = {}
        self._cond = threading.Condition()
        self._pid: int | None = None
        self._wake_at = float("inf")  # when the thread looks next

    def schedule(self, runner: StepRunner, at: float) -> None:
        with self._cond:
            if self._pid != os.getpid():  # first use, or a forked child: no thread here yet
                self._pid, self._due, self._wake_at = os.getpid(), {}, float("inf")
                threading.Thread(target=self._loop, name="longrun-checkpoints", daemon=True).start()
            self._due[runner] = at
            if at < self._wake_at:  # else the thread wakes in time anyway: no GIL hand-over now
                self._cond.notify()

    def cancel(self, runner: StepRunner) -> None:
        with self._cond:
            self._due.pop(runner, None)

    def _loop(self) -> None:
        while True:
            with self._cond:
                now = time.monotonic()
                ready = [runner for runner, at in self._due.items() if at <= now]
                for runner in ready:
                    del self._due[runner]
                if not ready:
                    self._wake_at = min(self._due.values(), default=now + 60)
                    self._cond.wait(self._wake_at - now)
                    self._wake_at = float("inf")
                    continue
            for runner in ready:  # outside the lock: a write takes a round trip
                runner._timer_flush()


FLUSHER = _Flusher()
