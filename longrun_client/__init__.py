"""Longrun's Python client and CLI: submit jobs, follow them, fetch results.

Imports neither Flask nor Celery nor the server's packages, so it installs and
loads light. Its one dependency is httpx, chosen over requests for per-phase
timeouts (a long read timeout for the event stream, short ones elsewhere) and
line-wise streaming that Server-Sent Events need.

    from longrun_client import Client

    with Client("http://127.0.0.1:8000", api_key="...") as client:
        job = client.submit("sleep", {"seconds": 2, "steps": 4})
        job.wait(on_progress=lambda ev: print(ev.status, ev.percentage))
        print(job.result())
"""

from longrun_client.batches import BatchHandle
from longrun_client.client import FINAL_STATUSES, Client, JobHandle, JobPage, ProgressEvent
from longrun_client.errors import (
    Conflict,
    Expired,
    InvalidInput,
    JobCancelled,
    JobFailed,
    JobNotFinished,
    LongrunClientError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    Unavailable,
    WaitTimeout,
)

__all__ = [
    "FINAL_STATUSES",
    "BatchHandle",
    "Client",
    "Conflict",
    "Expired",
    "InvalidInput",
    "JobCancelled",
    "JobFailed",
    "JobHandle",
    "JobNotFinished",
    "JobPage",
    "LongrunClientError",
    "NotFound",
    "ProgressEvent",
    "RateLimited",
    "ServerError",
    "Unauthorized",
    "Unavailable",
    "WaitTimeout",
]
