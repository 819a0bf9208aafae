"""The Celery task that delivers one webhook (queue ``longrun.webhooks``).

Plain work lives in ``longrun.webhooks.attempt_delivery``; this task only
turns "retry" into a Celery retry with the backoff it computed, so a delivery
survives worker restarts like any other message.
"""

from celery import shared_task

from longrun import keys
from longrun.settings import get_settings
from longrun.webhooks import attempt_delivery
from workers.store import job_store


@shared_task(bind=True, name=keys.WEBHOOK_TASK, acks_late=True, max_retries=None, ignore_result=True)
def deliver_webhook(self, job_id: str, delivery_id: str) -> str:
    settings = get_settings()
    retries_left = self.request.retries + 1 < settings.webhook_max_attempts
    outcome, wait = attempt_delivery(job_store().redis, settings, job_id, delivery_id, retries_left=retries_left)
    if outcome == "retry":
        raise self.retry(countdown=wait, queue=keys.WEBHOOK_QUEUE)
    return outcome
