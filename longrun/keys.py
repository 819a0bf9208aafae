"""Every Redis key and queue name Longrun uses, named once.

Keys share one prefix so that an operator can find (and a test can count)
everything Longrun keeps. Celery's own result keys keep Celery's names so that
Flower and ``AsyncResult`` keep working.
"""

PREFIX = "lr:"

# Celery names its result keys this way; the job store writes them itself in
# the same atomic step as the job record (see lua/transition.lua).
CELERY_META_PREFIX = "celery-task-meta-"

# Job tasks are named "jobs.<kind>" and run on queue "longrun.<kind>".
JOB_TASK_PREFIX = "jobs."
QUEUE_PREFIX = "longrun."


def job(job_id: str) -> str:
    """Hash: the job record (kind, tenant, status, progress, timestamps...)."""
    return f"{PREFIX}job:{job_id}"


def meta(job_id: str) -> str:
    """String: Celery's result meta for the job (status, result, traceback)."""
    return f"{CELERY_META_PREFIX}{job_id}"


def events(job_id: str) -> str:
    """Stream: every state change and progress event of a job, in order."""
    return f"{PREFIX}ev:{job_id}"


def cancel(job_id: str) -> str:
    """String: set when a client asked to cancel; survives worker restarts."""
    return f"{PREFIX}cancel:{job_id}"


def lease(job_id: str) -> str:
    """String: token of the attempt that runs the job now (one runner at a time)."""
    return f"{PREFIX}lease:{job_id}"


def tombstone(job_id: str) -> str:
    """String: left when a job's retention runs out, so GET answers 410, not 404."""
    return f"{PREFIX}tomb:{job_id}"


def idempotency(tenant: str, key: str) -> str:
    """String: "<job id> <body hash>" for an Idempotency-Key header."""
    return f"{PREFIX}idem:{tenant}:{key}"


def tenant_index(tenant: str, status: str | None = None) -> str:
    """Sorted set of a tenant's job ids scored by creation time (µs).

    Without a status: every job of the tenant; with one: the jobs in it now.
    """
    if status is None:
        return f"{PREFIX}t:{tenant}:jobs"
    return f"{PREFIX}t:{tenant}:s:{status}"


TENANTS = f"{PREFIX}tenants"
"""Set: every tenant that has submitted a job (for the janitor and metrics)."""

EXPIRY = f"{PREFIX}expiry"
"""Sorted set of "<tenant>|<id>" scored by when the job's retention ends."""

RUNNING = f"{PREFIX}running"
"""Sorted set of running job ids scored by when their heartbeat goes stale."""

WORKERS = f"{PREFIX}workers"
"""Sorted set of worker hostnames scored by when they were last seen."""

JANITOR_LOCK = f"{PREFIX}janitor:lock"

RECONCILER_LOCK = f"{PREFIX}reconciler:lock"
"""String with a TTL: held by the one worker whose reconciler runs this period."""

RECONCILE_SUSPECTS = f"{PREFIX}reconcile:suspects"
"""Hash: job id -> when the reconciler first found it pending with no message
(it is published again only if still so a period later; workers/reconciler.py)."""

REPLICATION_PROBE = f"{PREFIX}ha:probe"
"""String: a write whose only use is to make WAIT cover everything written before it."""

# kombu's Redis transport keeps delivered, not yet acked messages here
# (its defaults, which celeryconfig keeps): delivery tag -> [message, exchange, routing key].
BROKER_UNACKED = "unacked"
BROKER_UNACKED_INDEX = "unacked_index"
"""Sorted set: delivery tag -> when kombu delivered it (the unacked hash's index)."""

CONSOLE_SECRET = f"{PREFIX}console:secret"
"""String: the random secret console session cookies are signed with (when
LONGRUN_CONSOLE_SECRET is not set), made once and shared by every API process."""


def chat_messages(tenant: str, chat_id: str) -> str:
    """List: a chat's messages as JSON, oldest first (kept LONGRUN_CHAT_HISTORY_SECONDS after its last turn)."""
    return f"{PREFIX}chat:{tenant}:{chat_id}:msgs"


def chat_meta(tenant: str, chat_id: str) -> str:
    """Hash: a chat's owner (user_id, user_type), session title, timestamps and turn count."""
    return f"{PREFIX}chat:{tenant}:{chat_id}:meta"


def rate(identity: str, window: int) -> str:
    """Counter: requests of one API key in one rate-limit window (expires with it)."""
    return f"{PREFIX}rate:{identity}:{window}"


def queue(kind: str) -> str:
    """The broker queue that carries jobs of one kind."""
    return f"{QUEUE_PREFIX}{kind}"


def task_name(kind: str) -> str:
    return f"{JOB_TASK_PREFIX}{kind}"


def is_job_task(name: str | None) -> bool:
    return name is not None and name.startswith(JOB_TASK_PREFIX)


def queue_keys(kind: str) -> list[str]:
    """The Redis lists behind a kind's queue, one per priority step (see celeryconfig)."""
    name = queue(kind)
    return [name] + [f"{name}:{step}" for step in range(1, 10)]


def broker_priority(priority: int) -> int:
    """Job priority (0 lowest … 9 highest) -> kombu's Redis priority (0 served first)."""
    return 9 - priority


# -- live stream, webhooks, per-job logs, metrics -----------------------------

WEBHOOK_QUEUE = f"{QUEUE_PREFIX}webhooks"
"""The Celery queue of webhook deliveries (kept apart from the job queues)."""

WEBHOOK_TASK = "longrun.webhooks.deliver"


def stream_slots(tenant: str) -> str:
    """Sorted set: a tenant's open event streams scored by when their lease lapses."""
    return f"{PREFIX}sse:{tenant}"


def webhook_log(job_id: str) -> str:
    """Hash: delivery id -> JSON delivery record (payload, attempts) of a job's webhook."""
    return f"{PREFIX}wh:{job_id}"


def webhook_throttle(job_id: str) -> str:
    """String with a TTL: set while a job's progress deliveries are throttled."""
    return f"{PREFIX}wh:throttle:{job_id}"


def job_log(job_id: str) -> str:
    """List: the job's captured log lines (JSON), oldest first, capped."""
    return f"{PREFIX}log:{job_id}"


def job_log_meta(job_id: str) -> str:
    """Hash: bytes and dropped-line count of the job's captured log."""
    return f"{PREFIX}logm:{job_id}"


# Metrics kept by the job store's Lua scripts (lua/lib.lua spells them with the prefix).
METRICS_SUBMITTED = f"{PREFIX}m:submitted"
"""Hash: kind -> jobs submitted."""
METRICS_FINISHED = f"{PREFIX}m:finished"
"""Hash: "<kind>|<status>" -> jobs that reached that final status."""
METRICS_RUN_SECONDS = f"{PREFIX}m:run"
"""Hash: histogram of run time, fields "<kind>|<le>", "<kind>|count", "<kind>|sum"."""
METRICS_WAIT_SECONDS = f"{PREFIX}m:wait"
"""Hash: histogram of queue wait (submitted -> first started), same fields."""
METRICS_WEBHOOKS = f"{PREFIX}m:webhooks"
"""Hash: webhook delivery attempts by outcome (delivered, failed, gave_up, refused)."""


def pending_by_kind(kind: str) -> str:
    """Sorted set: a kind's pending job ids scored by creation time (oldest first)."""
    return f"{PREFIX}pending:{kind}"


# -- durable steps, retries and replays (longrun/steps.py, longrun/replay.py) --


def steps(job_id: str) -> str:
    """Hash: step position (1-based) -> JSON {name, status, attempt, started_at, finished_at}."""
    return f"{PREFIX}steps:{job_id}"


def step_outputs(job_id: str) -> str:
    """Hash: step position -> JSON output of a finished step ("<pos>:partial": a running
    step's saved state); read by a resumed attempt, dropped when the job is final."""
    return f"{PREFIX}stepout:{job_id}"


def retries(job_id: str) -> str:
    """List: ids of the jobs retried from this one, oldest first."""
    return f"{PREFIX}retries:{job_id}"


def replay(replay_id: str) -> str:
    """Hash: a bulk replay (POST /api/v1/jobs/retry): tenant, filter, cursor, counts, status."""
    return f"{PREFIX}replay:{replay_id}"


def replay_lock(replay_id: str) -> str:
    """String with a TTL: held by the one process advancing the replay now."""
    return f"{PREFIX}replay:{replay_id}:lock"


REPLAYS_ACTIVE = f"{PREFIX}replays"
"""Set: ids of bulk replays still going through their jobs (the janitor carries them on)."""


def job_extra_keys(job_id: str) -> list[str]:
    """Per-job keys beyond the record that go when the job is deleted."""
    return [
        webhook_log(job_id),
        webhook_throttle(job_id),
        job_log(job_id),
        job_log_meta(job_id),
        steps(job_id),
        step_outputs(job_id),
        retries(job_id),
    ]


METRICS_KEYS = (METRICS_SUBMITTED, METRICS_FINISHED, METRICS_RUN_SECONDS, METRICS_WAIT_SECONDS, METRICS_WEBHOOKS)
"""Service-wide counters: they outlive every job (Prometheus counters never go down)."""


# -- flow control: fair dispatch, delayed jobs, schedules, backend quotas -----
# (docs/flow-control.md; lua/flow.lua spells the fair-dispatch keys with the prefix)

FLOW_PREFIX = f"{PREFIX}f:"


def flow_waiting(kind: str, tenant: str) -> str:
    """Sorted set: a tenant's jobs of one kind held in Redis, scored (9 - priority) * 1e13 + submission seq."""
    return f"{FLOW_PREFIX}w:{kind}:{tenant}"


def flow_ring(kind: str) -> str:
    """List: the tenants with held jobs of a kind, served in turn from the head."""
    return f"{FLOW_PREFIX}ring:{kind}"


def flow_in_ring(kind: str) -> str:
    """Set: the members of flow_ring(kind) (so a tenant is in the ring once)."""
    return f"{FLOW_PREFIX}inring:{kind}"


def flow_turn(kind: str) -> str:
    """Hash: tenant -> jobs dispatched in its current turn (a tenant of weight w gets w per turn)."""
    return f"{FLOW_PREFIX}used:{kind}"


def flow_held(kind: str) -> str:
    """Sorted set: every held job id of a kind, scored by when it began to wait (counts, oldest age)."""
    return f"{FLOW_PREFIX}held:{kind}"


def flow_out(kind: str) -> str:
    """Sorted set: jobs of a kind whose message was sent and that are not final yet (scored by send time)."""
    return f"{FLOW_PREFIX}out:{kind}"


def flow_tenant_out(tenant: str) -> str:
    """Sorted set: a tenant's sent, unfinished jobs of every kind (its running cap counts these)."""
    return f"{FLOW_PREFIX}tout:{tenant}"


def flow_blocked(tenant: str) -> str:
    """Set: kinds whose ring the tenant left because it was at its running cap."""
    return f"{FLOW_PREFIX}blocked:{tenant}"


FLOW_SEQ = f"{FLOW_PREFIX}seq"
"""Counter: submission order of held jobs (ties of created_us cannot reorder them)."""

FLOW_SLOTS = f"{FLOW_PREFIX}slots"
"""Hash: kind -> job slots of the live workers that take that kind (messages allowed out at once)."""

FLOW_WORKER_SLOTS = f"{FLOW_PREFIX}wslots"
"""Hash: worker hostname -> JSON {"kinds": [...], "slots": n}, written by each worker."""

FLOW_DUE = f"{FLOW_PREFIX}due"
"""Sorted set: scheduled (delayed) job ids scored by the epoch second they may start."""

FLOW_SUSPECTS = f"{FLOW_PREFIX}suspects"
"""Hash: job id -> when a sent job was first seen with no message anywhere (lua/resend.lua)."""

FLOW_MOVER_LEASE = f"{FLOW_PREFIX}mover"
"""String with a TTL: the token of the one worker that moves due jobs and schedule ticks."""


def schedule(schedule_id: str) -> str:
    """Hash: a cron schedule (cron, timezone, job template, overlap, paused, next/last run)."""
    return f"{PREFIX}sched:{schedule_id}"


def tenant_schedules(tenant: str) -> str:
    """Sorted set: a tenant's schedule ids scored by creation time."""
    return f"{PREFIX}t:{tenant}:schedules"


SCHEDULES_DUE = f"{PREFIX}sched:due"
"""Sorted set: active schedule ids scored by their next tick (epoch seconds)."""

SCHEDULES_QUEUED = f"{PREFIX}sched:queued"
"""Set: schedules holding a run (overlap "queue") until their previous job ends."""


def llm_pause(backend: str) -> str:
    """String with a TTL: set while every worker holds off calls to one LLM base URL + model (a 429)."""
    return f"{PREFIX}rl:pause:{backend}"


def llm_rate(model: str) -> str:
    """String: the GCRA "theoretical arrival time" of a model's shared request rate."""
    return f"{PREFIX}rl:rate:{model}"


# -- batches and the OpenAI Batch API files (issue 14) ------------------------
# A batch's counters live in its hash and are kept by the job state scripts
# (lua/lib.lua: a job record with batch_id moves its batch's counts in the same
# atomic step as its own status), so reading a batch never scans its items.


def batch(batch_id: str) -> str:
    """Hash: the batch (tenant, kind, status, total and one counter per job status, times...)."""
    return f"{PREFIX}batch:{batch_id}"


def batch_items(batch_id: str) -> str:
    """List: the batch's job ids in item order."""
    return f"{PREFIX}batch:{batch_id}:items"


def batch_events(batch_id: str) -> str:
    """Stream: count changes and item completions of a batch, in order."""
    return f"{PREFIX}batch:{batch_id}:ev"


def batch_tombstone(batch_id: str) -> str:
    """String: the owner of a batch whose retention ran out (GET answers 410)."""
    return f"{PREFIX}batch:{batch_id}:tomb"


def tenant_batches(tenant: str) -> str:
    """Sorted set of a tenant's batch ids scored by creation time (µs)."""
    return f"{PREFIX}t:{tenant}:batches"


BATCH_EXPIRY = f"{PREFIX}batch-expiry"
"""Sorted set of batch ids scored by when the finished batch (and all its jobs) goes."""

BATCH_DEADLINES = f"{PREFIX}batch-deadlines"
"""Sorted set of batch ids scored by the end of their completion window (OpenAI batches)."""

BATCHES_ENDED = f"{PREFIX}batches-ended"
"""List: ids of batches that just ended and have a webhook to fire (drained by the janitor)."""


def file(file_id: str) -> str:
    """Hash: an uploaded file's metadata (tenant, purpose, filename, bytes, created_at)."""
    return f"{PREFIX}file:{file_id}"


def file_data(file_id: str) -> str:
    """String: an uploaded file's content."""
    return f"{PREFIX}file:{file_id}:data"


def tenant_files(tenant: str) -> str:
    """Sorted set of a tenant's file ids scored by creation time (µs)."""
    return f"{PREFIX}t:{tenant}:files"
