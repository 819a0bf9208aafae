"""Workers accept JSON messages only: a pickle-serialized message pushed into a
job queue is refused before anything is deserialized, and nothing runs."""

import os
import tempfile

import pytest

from longrun import keys
from tests.support.jobs import broker_copies
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


class MakesADirectory:
    """Unpickling this calls os.mkdir(path): the proof that a payload was unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def test_pickle_message_is_refused_and_nothing_runs(app, client, submit, wait_for_status, worker, redis_client):
    from workers.celery_app import app as celery_app

    # A pending job with no message of its own: a pickled message that got
    # through would run it (and unpickling its argument would make a directory).
    store = app.extensions["longrun"].store
    job_id, _, _ = store.create(tenant="pickle-test", kind="sleep", input={"seconds": 0}, timeout_seconds=60)
    marker = os.path.join(tempfile.mkdtemp(prefix="longrun-pickle-"), "unpickled")

    celery_app.send_task(
        keys.task_name("sleep"),
        args=[MakesADirectory(marker)],
        task_id=job_id,
        queue=keys.queue("sleep"),
        serializer="pickle",
    )

    wait_until(
        lambda: "untrusted content of type pickle" in worker.log(),
        timeout=30,
        message="the worker to refuse the pickle message",
    )
    wait_until(
        lambda: broker_copies(redis_client, job_id) == 0, timeout=10, message="the refused message to leave the queue"
    )
    assert not os.path.exists(marker)
    job = store.get(job_id)
    assert (job["status"], job["attempts"], job["started_at"]) == ("pending", 0, None)
    # The worker goes on serving JSON jobs.
    after = submit(input={"seconds": 0})
    assert wait_for_status(after["id"], "completed")["attempts"] == 1
    store.delete(job_id)
    os.rmdir(os.path.dirname(marker))
