"""Server-Sent Events parsing and the backoff the client waits with.

Plain functions over lines and numbers, so they are tested without a server.
The parser follows the WHATWG event-stream rules that matter here: ``event``,
``data`` (multi-line), ``id`` (kept until changed, sent back as
``Last-Event-ID``), ``retry``, and comment lines (heartbeats) that are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


def iter_sse(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """Events from the lines of an event stream (line endings already removed)."""
    event, last_id, retry = "", None, None
    data: list[str] = []
    for line in lines:
        if not line:
            if data or event:
                yield ServerSentEvent(event or "message", "\n".join(data), last_id, retry)
            event, data, retry = "", [], None
            continue
        if line.startswith(":"):
            continue  # comment: a heartbeat keeping the connection open
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            if "\0" not in value:
                last_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)
    # A stream cut mid-event: the partial event is dropped, as the spec says.


def backoff_delays(initial: float = 0.25, factor: float = 1.6, maximum: float = 5.0) -> Iterator[float]:
    """Delays between polls: ``initial`` growing by ``factor`` up to ``maximum``, forever."""
    delay = initial
    while True:
        yield delay
        delay = min(delay * factor, maximum)


class Backoff:
    """Poll delays that grow while nothing changes and start over when something does."""

    def __init__(self, initial: float = 0.25, factor: float = 1.6, maximum: float = 5.0):
        self.initial, self.factor, self.maximum = initial, factor, maximum
        self._delays = backoff_delays(initial, factor, maximum)

    def next(self, retry_after: float | None = None) -> float:
        """The next delay; a server's Retry-After wins when it is longer."""
        delay = next(self._delays)
        return max(delay, retry_after) if retry_after is not None else delay

    def reset(self) -> None:
        self._delays = backoff_delays(self.initial, self.factor, self.maximum)
