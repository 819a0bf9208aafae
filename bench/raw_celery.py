"""The raw-Celery baseline: a no-op task on an app with Longrun's own Celery
settings (celeryconfig: JSON, acks late, prefetch 1, reject on worker lost,
the same broker transport options), but Celery's stock Redis result backend
and none of Longrun's job index, claim, lease or events.

``celery -A bench.raw_celery worker`` runs it.
"""

from celery import Celery
from kombu import Queue

import celeryconfig
from longrun.settings import get_settings

QUEUE = "bench.raw"

app = Celery("bench_raw", set_as_current=False)
app.config_from_object(celeryconfig)
app.conf.update(
    result_backend=get_settings().result_backend_url,  # stock RedisBackend, same Redis
    broker_transport=None,  # kombu's own Redis transport
    task_routes=None,
    task_default_queue=QUEUE,
    task_queues=[Queue(QUEUE)],
)


@app.task(name="bench.noop")
def noop(job_id: str) -> None:
    """Does nothing; Celery stores its (empty) result like any other."""
    return None


@app.task(name="bench.llm")
def llm(job_id: str) -> None:
    """One streamed chat completion through the same LLM client, nothing else
    (the raw-Celery side of the I/O-bound figure, bench/io.py)."""
    from backends.llm import LLMClient

    LLMClient.from_settings().chat([{"role": "user", "content": "hi"}], on_token=lambda text: None)
