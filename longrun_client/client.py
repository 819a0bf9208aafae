"""The Longrun HTTP client: submit jobs, follow them, fetch results and files.

Built on httpx alone (see ``__init__``). ``JobHandle.wait`` follows the job's
Server-Sent Events stream when the server has one and falls back to polling
with backoff when it does not (older server, proxy that strips streams, stream
limit reached); a cut stream is resumed with ``Last-Event-ID``.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from longrun_client import errors
from longrun_client.batches import BatchHandle
from longrun_client.errors import LongrunClientError, Unavailable, WaitTimeout
from longrun_client.sse import Backoff, iter_sse

FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
DEFAULT_URL = "http://127.0.0.1:8000"
API = "/api/v1"

# Longer than the server's heartbeat interval, so an idle but healthy stream is not cut.
SSE_READ_TIMEOUT = 60.0
# Consecutive failed attempts (connection refused, 503) before wait() gives up.
MAX_CONSECUTIVE_FAILURES = 8
# The event a server sends a resuming stream whose missed events it no longer keeps.
RESYNC_EVENT = "resync"
# Status codes that mean "this server does not stream events here": poll instead.
SSE_UNSUPPORTED = frozenset({404, 405, 406, 501})


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a job as ``on_progress`` sees it, from the stream or from polling."""

    job_id: str
    status: str
    seq: int
    progress: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None

    @property
    def percentage(self) -> float:
        return float(self.progress.get("percentage") or 0)

    @property
    def step_name(self) -> str | None:
        step = self.progress.get("step_name")
        return None if step is None else str(step)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass
class JobPage:
    """One page of ``Client.list``: jobs newest first, the cursor of the next page, counts."""

    jobs: list[dict[str, Any]]
    next_cursor: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.jobs)

    def __len__(self) -> int:
        return len(self.jobs)


FileValue = Any  # a path, bytes, an open binary file, or a (filename, content[, content_type]) tuple


class Client:
    """A connection to one Longrun server; close it (or use ``with``) when done.

    ``api_key`` is sent as ``Authorization: Bearer <key>``; ``timeout`` bounds each
    request (seconds). ``sse=False`` makes ``wait`` poll without trying the event
    stream; polls start ``poll_interval`` apart and back off to ``max_poll_interval``.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        timeout: float = 30.0,
        *,
        sse: bool = True,
        poll_interval: float = 0.25,
        max_poll_interval: float = 5.0,
        stream_read_timeout: float = SSE_READ_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ):
        headers = {"Accept": "application/json", "User-Agent": "longrun-client"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.sse = sse
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        # A stream silent this long (no event, no heartbeat) is dropped and resumed.
        self.stream_read_timeout = stream_read_timeout
        # None until the first stream attempt tells whether the server streams events.
        self.sse_supported: bool | None = None
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; any error status or transport failure becomes a LongrunClientError."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from exc
        if response.is_error:
            raise error_from(response)
        return response

    def request_error(self, response: httpx.Response) -> LongrunClientError:
        """The error an error response means (for callers that stream a response themselves)."""
        return error_from(response)

    # -- batches (longrun_client/batches.py) ------------------------------------------------

    def submit_batch(
        self,
        kind: str,
        items: Iterable[Mapping[str, Any]] | None = None,
        *,
        jsonl: str | os.PathLike[str] | bytes | None = None,
        priority: int | None = None,
        timeout_seconds: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> BatchHandle:
        """Submit many inputs of one kind as one batch: ``items`` (sent as JSON), or ``jsonl``
        (a path or bytes, one input per line, uploaded as a file). One invalid item refuses it all."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        options = {
            k: v
            for k, v in (
                ("priority", priority),
                ("timeout_seconds", timeout_seconds),
                ("metadata", dict(metadata) if metadata is not None else None),
            )
            if v is not None
        }
        if jsonl is None:
            body = {"kind": kind, "items": [dict(item) for item in items or ()], **options}
            response = self.request("POST", f"{API}/batches", json=body, headers=headers)
        else:
            data = jsonl if isinstance(jsonl, bytes) else Path(jsonl).read_bytes()
            form = {"kind": kind, **{k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in options.items()}}
            response = self.request(
                "POST",
                f"{API}/batches",
                data=form,
                headers=headers,
                files=[("items", ("items.jsonl", data, "application/jsonl"))],
            )
        document = response.json()
        return BatchHandle(self, document["id"], document)

    def batch(self, batch_id: str) -> BatchHandle:
        """A handle on an existing batch (no request is made until it is used)."""
        return BatchHandle(self, batch_id)

    def batches(self, limit: int | None = None, cursor: str | None = None) -> list[dict[str, Any]]:
        """One page of this key's batches, newest first."""
        params = {k: v for k, v in (("limit", limit), ("cursor", cursor)) if v is not None}
        found: list[dict[str, Any]] = self.request("GET", f"{API}/batches", params=params).json()["batches"]
        return found

    # -- jobs ------------------------------------------------------------------------------

    def submit(
        self,
        kind: str,
        input: Mapping[str, Any] | None = None,
        *,
        files: Mapping[str, FileValue] | Iterable[tuple[str, FileValue]] | None = None,
        priority: int | None = None,
        timeout_seconds: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> JobHandle:
        """Submit a job; returns at once with its handle (the server answers 202).

        ``files`` maps the kind's file fields to paths, bytes or open binary files; with
        files the request is multipart/form-data (``kind``, ``input`` as a JSON string
        and one part per file), otherwise JSON.
        """
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        options: dict[str, Any] = {
            "priority": priority,
            "timeout_seconds": timeout_seconds,
            "metadata": dict(metadata) if metadata is not None else None,
        }
        options = {k: v for k, v in options.items() if v is not None}
        if not files:
            body: dict[str, Any] = {"kind": kind, "input": dict(input or {}), **options}
            response = self.request("POST", f"{API}/jobs", json=body, headers=headers)
        else:
            form = {"kind": kind, "input": json.dumps(dict(input or {}))}
            form.update({k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in options.items()})
            with contextlib.ExitStack() as stack:
                parts = [(name, _file_part(value, stack)) for name, value in _pairs(files)]
                response = self.request("POST", f"{API}/jobs", data=form, files=parts, headers=headers)
        document = response.json()
        return JobHandle(self, document["id"], document)

    def job(self, job_id: str) -> JobHandle:
        """A handle on an existing job (no request is made until it is used)."""
        return JobHandle(self, job_id)

    def list(
        self, status: str | None = None, kind: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> JobPage:
        """One page of this key's jobs, newest first, optionally filtered by status and kind."""
        params = {
            k: v for k, v in (("status", status), ("kind", kind), ("limit", limit), ("cursor", cursor)) if v is not None
        }
        body = self.request("GET", f"{API}/jobs", params=params).json()
        return JobPage(body.get("jobs", []), body.get("next_cursor"), body.get("stats", {}))

    def retry_many(
        self,
        statuses: Iterable[str] = ("failed",),
        *,
        kind: str | None = None,
        finished_after: str | None = None,
        finished_before: str | None = None,
        all: bool = False,
    ) -> dict[str, Any]:
        """Replay every job of this key that matches: ``statuses`` (finished ones), ``kind``,
        finished between two ISO 8601 times (a bound is required unless ``all``).

        Returns the replay document (``status`` done, or running: follow it with ``replay(id)``)."""
        body: dict[str, Any] = {"statuses": builtins.list(statuses), "all": all}
        for name, value in (("kind", kind), ("finished_after", finished_after), ("finished_before", finished_before)):
            if value is not None:
                body[name] = value
        document: dict[str, Any] = self.request("POST", f"{API}/jobs/retry", json=body).json()
        return document

    def replay(self, replay_id: str) -> dict[str, Any]:
        """A bulk replay's progress: scanned, retried, failed, status."""
        document: dict[str, Any] = self.request("GET", f"{API}/jobs/retry/{quote(replay_id, safe='')}").json()
        return document

    def kinds(self) -> builtins.list[dict[str, Any]]:
        """The job kinds the server runs, with their input schemas and file fields."""
        kinds: builtins.list[dict[str, Any]] = self.request("GET", f"{API}/kinds").json()["kinds"]
        return kinds

    def health(self) -> dict[str, Any]:
        """The server's health document (raises Unavailable when it is not ready)."""
        document: dict[str, Any] = self.request("GET", f"{API}/health").json()
        return document


class JobHandle:
    """One job on the server. ``last`` is the most recent document fetched."""

    def __init__(self, client: Client, job_id: str, document: dict[str, Any] | None = None):
        self.client = client
        self.id = job_id
        self.last = document
        # How the last wait() followed the job ("events" or "polling"), and how often it resumed the stream.
        self.followed_by: str | None = None
        self.reconnects = 0

    def __repr__(self) -> str:
        status = self.last.get("status") if self.last else "?"
        return f"<JobHandle {self.id} {status}>"

    @property
    def path(self) -> str:
        return f"{API}/jobs/{quote(self.id, safe='')}"

    def status(self) -> dict[str, Any]:
        """The job document: id, kind, status, progress, timestamps, result, error."""
        document: dict[str, Any] = self.client.request("GET", self.path).json()
        self.last = document
        return document

    def result(self) -> Any:
        """The result of the completed job.

        Raises JobFailed or JobCancelled when it ended otherwise, JobNotFinished while it runs.
        """
        return self.client.request("GET", f"{self.path}/result").json()["result"]

    def cancel(self) -> dict[str, Any]:
        """Cancel: a pending job never starts, a running one stops within seconds.

        Returns the job document (``status`` is ``cancelled`` at once for a pending job);
        raises Conflict when the job had already finished.
        """
        document: dict[str, Any] = self.client.request("POST", f"{self.path}/cancel").json()
        self.last = document
        return document

    def retry(self) -> JobHandle:
        """Run this finished job again as a new job (same kind, input, options and files);
        returns the new job's handle. Raises Conflict while this one is pending or running."""
        document: dict[str, Any] = self.client.request("POST", f"{self.path}/retry").json()
        return JobHandle(self.client, document["id"], document)

    def delete(self) -> None:
        """Delete the job, its result, events and files (a running job is cancelled first)."""
        self.client.request("DELETE", self.path)

    def logs(self) -> list[Any]:
        """What the job logged, oldest first: a list of records (dicts) or lines."""
        response = self.client.request("GET", f"{self.path}/logs")
        if "json" not in response.headers.get("Content-Type", ""):
            return response.text.splitlines()
        body = response.json()
        if isinstance(body, dict):
            for key in ("logs", "lines", "records", "entries"):
                lines = body.get(key)
                if isinstance(lines, list):
                    return lines
        return body if isinstance(body, list) else [body]

    def artifacts(self) -> list[str]:
        """Names of the files the job took in or produced."""
        names: list[str] = self.client.request("GET", f"{self.path}/artifacts").json()["artifacts"]
        return names

    def download(self, name: str, path: str | os.PathLike[str] | None = None) -> Path:
        """Save the job's file ``name`` to ``path``: a file, or a folder to put it in (an
        existing one, or a path ending in ``/``); by default ``name`` in the current folder.

        The file appears complete or not at all; returns where it was saved.
        """
        target = Path(path) if path is not None else Path(name)
        if target.is_dir() or str(path).endswith(("/", os.sep)):  # a folder, made if missing
            target.mkdir(parents=True, exist_ok=True)
            target = target / Path(name).name
        partial = target.with_name(f".{target.name}.part")
        url = f"{self.path}/artifacts/{quote(name, safe='')}"
        try:
            with self.client._http.stream("GET", url, headers={"Accept": "*/*"}) as response:
                if response.is_error:
                    response.read()
                    raise error_from(response)
                with open(partial, "wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise _unreachable(self.client.base_url, exc) from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)
        return target

    # -- waiting ---------------------------------------------------------------------------

    def wait(
        self, timeout: float | None = None, on_progress: Callable[[ProgressEvent], None] | None = None
    ) -> dict[str, Any]:
        """Block until the job is completed, failed or cancelled; returns its final document.

        ``on_progress`` is called once per new event (status change or progress report),
        in order. Follows the server's event stream when it has one, else polls with
        backoff. Raises WaitTimeout after ``timeout`` seconds (None: no limit).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        tracker = _Tracker(self.id, on_progress)
        if self.client.sse and self.client.sse_supported is not False:
            document = self._wait_stream(deadline, tracker)
            if document is not None:
                return document
        return self._wait_poll(deadline, tracker)

    def _wait_poll(self, deadline: float | None, tracker: _Tracker) -> dict[str, Any]:
        self.followed_by = "polling"
        backoff = Backoff(self.client.poll_interval, 1.6, self.client.max_poll_interval)
        failures = 0
        while True:
            retry_after = None
            try:
                document = self.status()
            except Unavailable as exc:
                failures += 1
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    raise
                retry_after = exc.retry_after
            else:
                failures = 0
                if tracker.feed(document.get("status"), document.get("progress"), document.get("error")):
                    backoff.reset()
                if document.get("status") in FINAL_STATUSES:
                    return document
            self._sleep(backoff.next(retry_after), deadline)

    def _wait_stream(self, deadline: float | None, tracker: _Tracker) -> dict[str, Any] | None:
        """Follow the event stream to the final state; None when the server has no stream."""
        stream = _Stream()
        backoff = Backoff(0.5, 2.0, 10.0)
        failures = 0
        while True:
            retry_after = None
            received = stream.events
            try:
                document = self._stream_once(stream, deadline, tracker)
            except Unavailable as exc:
                failures = 0 if stream.events > received else failures + 1
                if failures >= MAX_CONSECUTIVE_FAILURES:
                    raise
                retry_after = exc.retry_after
                stream.reconnects += 1
            else:
                if stream.unsupported:
                    return None
                if document is not None:
                    return document
                stream.reconnects += 1  # ended without the final state: resume where it stopped
            finally:
                self.reconnects = stream.reconnects
            if stream.events > received:
                backoff.reset()
            self._sleep(backoff.next(retry_after), deadline)

    def _stream_once(self, stream: _Stream, deadline: float | None, tracker: _Tracker) -> dict[str, Any] | None:
        """One connection to the event stream; the final document, or None to reconnect."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if stream.last_event_id:
            headers["Last-Event-ID"] = stream.last_event_id
        read_timeout = self.client.stream_read_timeout
        if deadline is not None:  # a silent stream must not hold wait() past its deadline
            read_timeout = max(0.05, min(read_timeout, deadline - time.monotonic()))
        timeout = httpx.Timeout(self.client.timeout, read=read_timeout)
        try:
            with self.client._http.stream("GET", f"{self.path}/events", headers=headers, timeout=timeout) as response:
                content_type = response.headers.get("Content-Type", "")
                if (
                    response.status_code == 429
                    or response.status_code in SSE_UNSUPPORTED
                    or (response.is_success and not content_type.startswith("text/event-stream"))
                ):
                    response.read()
                    if response.status_code == 404:
                        self.status()  # raises NotFound when it is the job, not the route, that is missing
                    if response.status_code != 429:  # a stream limit is temporary; the route exists
                        self.client.sse_supported = False
                    stream.unsupported = True
                    return None
                if response.is_error:
                    response.read()
                    raise error_from(response)
                self.client.sse_supported = True
                self.followed_by = "events"
                for event in iter_sse(_until(response.iter_lines(), deadline)):
                    if event.id:
                        stream.last_event_id = event.id
                    stream.events += 1
                    payload = _event_payload(event.data)
                    if payload is None:
                        continue
                    if event.event == RESYNC_EVENT:
                        # Events after our Last-Event-ID were dropped: the job itself says where it is.
                        document = self.status()
                        tracker.feed(document.get("status"), document.get("progress"), document.get("error"))
                        if document.get("status") in FINAL_STATUSES:
                            return document
                        continue
                    status = payload.get("status")
                    if status in FINAL_STATUSES:
                        # The full document (result or error), whose progress is the final one
                        # (100 when completed), as polling would report it.
                        document = self.status()
                        tracker.feed(
                            status,
                            document.get("progress") or payload.get("progress"),
                            payload.get("error") or document.get("error"),
                            payload.get("seq"),
                        )
                        return document
                    tracker.feed(status, payload.get("progress"), payload.get("error"), payload.get("seq"))
        except httpx.TransportError as exc:  # cut off, or silent past the read timeout
            raise _unreachable(self.client.base_url, exc) from exc
        except _DeadlinePassed:
            raise WaitTimeout(f"job {self.id} did not finish in time", self._last_document()) from None
        # The server ended the stream without a final event (the job may be gone: status() says).
        document = self.status()
        if document.get("status") in FINAL_STATUSES:
            tracker.feed(document["status"], document.get("progress"), document.get("error"))
            return document
        return None

    def _sleep(self, delay: float, deadline: float | None) -> None:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(f"job {self.id} did not finish in time", self._last_document())
            delay = min(delay, left)
        time.sleep(delay)

    def _last_document(self) -> dict[str, Any]:
        try:
            return self.status()
        except LongrunClientError:
            return self.last or {"id": self.id}


@dataclass
class _Stream:
    """Where a followed event stream is, across reconnects."""

    last_event_id: str | None = None
    events: int = 0
    reconnects: int = 0
    unsupported: bool = False


class _DeadlinePassed(Exception):
    pass


class _Tracker:
    """Calls on_progress once per new event, whichever channel it came from.

    Events are told apart by (seq, status, percentage, step); a seq lower than one
    already seen is a replay (a stream resumed from its start) and is skipped.
    """

    def __init__(self, job_id: str, on_progress: Callable[[ProgressEvent], None] | None):
        self.job_id = job_id
        self.on_progress = on_progress
        self.last_seq = -1
        self.last_key: tuple[int, str, Any, Any] | None = None

    def feed(self, status: str | None, progress: Any, error: Any = None, seq: Any = None) -> bool:
        if not status:
            return False
        progress = _as_dict(progress)
        try:
            number = int(seq if seq is not None else progress.get("seq", -1))
        except (TypeError, ValueError):
            number = -1
        key = (number, status, progress.get("percentage"), progress.get("step_name"))
        if (0 <= number < self.last_seq) or key == self.last_key:
            return False
        self.last_key, self.last_seq = key, max(number, self.last_seq)
        if self.on_progress:
            self.on_progress(ProgressEvent(self.job_id, status, number, progress, _as_dict(error) or None))
        return True


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _event_payload(data: str) -> dict[str, Any] | None:
    try:
        payload = json.loads(data) if data else None
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _until(lines: Iterator[str], deadline: float | None) -> Iterator[str]:
    # Heartbeats keep lines coming, so the deadline is checked per line, not per event.
    for line in lines:
        if deadline is not None and time.monotonic() > deadline:
            raise _DeadlinePassed()
        yield line


def error_from(response: httpx.Response) -> LongrunClientError:
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return errors.from_response(response.status_code, body, response.headers)


def _unreachable(base_url: str, exc: Exception) -> Unavailable:
    return Unavailable(f"cannot reach {base_url}: {exc or type(exc).__name__}", code="unreachable")


def _pairs(files: Mapping[str, FileValue] | Iterable[tuple[str, FileValue]]) -> list[tuple[str, FileValue]]:
    return list(files.items()) if isinstance(files, Mapping) else list(files)


def _file_part(value: FileValue, stack: contextlib.ExitStack[bool | None]) -> FileValue:
    """What httpx takes for one file: (filename, open file), (filename, bytes) or the caller's tuple."""
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        return (path.name, stack.enter_context(open(path, "rb")))
    if isinstance(value, (bytes, bytearray)):
        return ("upload", bytes(value))
    return value


__all__ = ["FINAL_STATUSES", "Client", "JobHandle", "JobPage", "ProgressEvent"]
