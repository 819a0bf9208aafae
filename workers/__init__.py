"""The Celery runtime of Longrun, and nothing else: the app and its config,
the result backend, the broker transport, publishing, the job task base
(claim, progress, cancel, heartbeat, logs), the kinds wrapped as tasks
(kind_tasks), the watchdog, janitor and bootsteps, and the webhook task.
The work itself is in tasks/ and backends/."""
