"""Routes each job kind's task to its own queue."""

from longrun import keys


def route_job(name, args, kwargs, options, task=None, **kw):
    if keys.is_job_task(name):
        return {"queue": keys.queue(name[len(keys.JOB_TASK_PREFIX) :])}
    if name == keys.WEBHOOK_TASK:
        return {"queue": keys.WEBHOOK_QUEUE}
    return None
