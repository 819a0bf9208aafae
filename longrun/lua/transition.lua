-- Record a state change written through Celery's result backend (progress,
-- success, failure) or by the API: job record, Celery meta, status index and
-- event stream change together in one step.
-- P: status, progress?, error?, meta?
return transition(P.status, P.progress, P.error, P.meta)
