"""A client that keeps submitting and reading jobs through a fault, and the longest
window in which it got no success."""

import threading
import time
import uuid


class Prober(threading.Thread):
    """Submits a job and reads one back every ``interval`` seconds, recording
    (time, method, status); a submit is retried with its Idempotency-Key until accepted."""

    def __init__(self, call, interval: float = 0.1):
        super().__init__(daemon=True)
        self.call = call  # call(method, path, json=None, headers=None) -> (status, body)
        self.interval = interval
        self.seen: list[tuple[float, str, int]] = []
        self.accepted: list[str] = []
        self.stopping = threading.Event()

    def run(self):
        key = uuid.uuid4().hex
        while not self.stopping.is_set():
            status, body = self.call(
                "POST",
                "/api/v1/jobs",
                json={"kind": "sleep", "input": {"seconds": 0.1}},
                headers={"Idempotency-Key": key},
            )
            self.seen.append((time.monotonic(), "POST", status))
            if status in (200, 201, 202):
                self.accepted.append(body["id"])
                key = uuid.uuid4().hex
                status, _ = self.call("GET", f"/api/v1/jobs/{body['id']}")
                self.seen.append((time.monotonic(), "GET", status))
            time.sleep(self.interval)

    def stop(self):
        self.stopping.set()
        self.join(30)

    def longest_unavailable(self) -> float:
        """The longest run of non-2xx answers: from the first of them to the next success."""
        longest, since = 0.0, None
        for at, _, status in self.seen:
            if status >= 300 and since is None:
                since = at
            elif status < 300 and since is not None:
                longest, since = max(longest, at - since), None
        return longest
