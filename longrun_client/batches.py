"""Batches in the Python client: many inputs of one kind, one handle.

``Client.submit_batch`` sends the items as JSON (or a JSONL file as a multipart
upload); ``BatchHandle.wait`` follows the batch's event stream (resumed with
``Last-Event-ID`` when cut; polling the constant-time status read when the
server has no stream) and calls ``on_progress`` with the batch's counts;
``results`` streams the finished items' results in item order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from longrun_client.errors import LongrunClientError, Unavailable, WaitTimeout
from longrun_client.sse import Backoff, iter_sse

API = "/api/v1"
BATCH_FINAL = frozenset({"completed", "cancelled"})
MAX_STREAM_FAILURES = 8


class _Client(Protocol):
    """What a handle needs of ``longrun_client.Client`` (named here: client.py imports this module)."""

    _http: httpx.Client
    sse: bool
    timeout: float
    stream_read_timeout: float

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response: ...

    def request_error(self, response: httpx.Response) -> LongrunClientError: ...


def done_count(counts: dict[str, Any]) -> int:
    return sum(int(counts.get(name) or 0) for name in ("completed", "failed", "cancelled"))


class BatchHandle:
    """One batch on the server. ``last`` is the most recent batch document fetched."""

    def __init__(self, client: _Client, batch_id: str, document: dict[str, Any] | None = None):
        self.client = client
        self.id = batch_id
        self.last = document

    def __repr__(self) -> str:
        return f"<BatchHandle {self.id} {self.last.get('status') if self.last else '?'}>"

    @property
    def path(self) -> str:
        return f"{API}/batches/{quote(self.id, safe='')}"

    def status(self) -> dict[str, Any]:
        """The batch document: id, kind, status, counts {total, pending, running, completed, failed, cancelled}."""
        self.last = self.client.request("GET", self.path).json()
        return self.last

    def cancel(self) -> dict[str, Any]:
        """Pending items never start; running ones are stopped."""
        self.last = self.client.request("POST", f"{self.path}/cancel").json()
        return self.last

    def delete(self) -> None:
        """The batch, all its jobs and their files."""
        self.client.request("DELETE", self.path)

    def jobs(self, status: str | None = None, page_size: int = 200) -> Iterator[dict[str, Any]]:
        """The batch's job documents in item order (optionally only one status), page by page."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if status:
                params["status"] = status
            if cursor:
                params["cursor"] = cursor
            body = self.client.request("GET", f"{self.path}/jobs", params=params).json()
            yield from body["jobs"]
            cursor = body.get("next_cursor")
            if not cursor:
                return

    def results(self) -> Iterator[dict[str, Any]]:
        """``{index, job_id, status, result, error}`` per item finished so far, in item order (streamed)."""
        with self.client._http.stream("GET", f"{self.path}/results") as response:
            if response.is_error:
                response.read()
                raise self.client.request_error(response)
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)

    def wait(
        self, timeout: float | None = None, on_progress: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        """Block until every item is final; ``on_progress(batch document)`` on each count change."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last_id: str | None = None
        failures = 0
        backoff = Backoff(0.25, 1.6, 5.0)
        streaming = self.client.sse
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"batch {self.id} did not finish in time", self.last or {})
            if streaming:
                try:
                    final, last_id, supported = self._stream_once(last_id, deadline, on_progress)
                except Unavailable:
                    failures += 1
                    if failures >= MAX_STREAM_FAILURES:
                        raise
                    time.sleep(backoff.next())
                    continue
                if final is not None:
                    return final
                streaming = supported
                continue
            document = self.status()
            if on_progress:
                on_progress(document)
            if document["status"] in BATCH_FINAL:
                return document
            delay = backoff.next()
            if deadline is not None:
                delay = min(delay, max(0.0, deadline - time.monotonic()))
            time.sleep(delay)

    def _stream_once(
        self, last_id: str | None, deadline: float | None, on_progress: Callable[[dict[str, Any]], None] | None
    ) -> tuple[dict[str, Any] | None, str | None, bool]:
        """One connection to the event stream: (final document or None, last event id, stream supported)."""
        headers = {"Accept": "text/event-stream"}
        if last_id:
            headers["Last-Event-ID"] = last_id
        read = self.client.stream_read_timeout
        if deadline is not None:
            read = max(0.05, min(read, deadline - time.monotonic()))
        try:
            with self.client._http.stream(
                "GET", f"{self.path}/events", headers=headers, timeout=httpx.Timeout(self.client.timeout, read=read)
            ) as response:
                if response.status_code in (404, 405, 406, 429, 501) or not response.headers.get(
                    "Content-Type", ""
                ).startswith("text/event-stream"):
                    response.read()
                    self.status()  # raises NotFound when it is the batch that is missing
                    return None, last_id, False
                if response.is_error:
                    response.read()
                    raise self.client.request_error(response)
                for event in iter_sse(response.iter_lines()):
                    last_id = event.id or last_id
                    if event.event == "counts" and on_progress:
                        data = json.loads(event.data)
                        self.last = {
                            **(self.last or {}),
                            "id": self.id,
                            "counts": data["counts"],
                            "status": data["status"],
                        }
                        on_progress(self.last)
                    elif event.event in ("done", "gone"):
                        document = self.status()  # "gone" raises NotFound/Expired here
                        if on_progress:
                            on_progress(document)
                        return document, last_id, True
        except httpx.TransportError as exc:
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"batch {self.id} did not finish in time", self.last or {}) from None
            raise Unavailable(f"the event stream of batch {self.id} was cut: {exc}") from exc
        return None, last_id, True
