"""Publishing a job's message (and a webhook delivery's): the one place that knows their shape.

Only the job id travels through the broker (the record holds the input). The
API publishes a new job; the janitor's reaper republishes one whose worker
vanished. Both use the job id as the task id, so every copy of a job's message
names the same job and the claim (lua/claim.lua) lets only one copy run it.
"""

from longrun import keys
from longrun.settings import Settings


def publish_job(celery, settings: Settings, job_id: str, kind: str, priority: int, timeout: int) -> None:
    celery.send_task(
        keys.task_name(kind),
        args=[job_id],
        task_id=job_id,
        queue=keys.queue(kind),
        priority=keys.broker_priority(priority),
        soft_time_limit=timeout,
        time_limit=timeout + settings.job_grace_seconds,
    )


def publish_webhook(celery, job_id: str, delivery_id: str) -> None:
    """Send a delivery to the webhook queue (from a worker or the API; workers/webhook_task.py runs it)."""
    celery.send_task(keys.WEBHOOK_TASK, args=[job_id, delivery_id], queue=keys.WEBHOOK_QUEUE)
