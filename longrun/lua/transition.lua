-- Record a state change written through Celery's result backend (progress,
-- success, failure) or by the API: job record, Celery meta, status index and
-- event stream change together in one step. With P.token (a running attempt's
-- own write) it is refused when another attempt holds the lease: a copy that
-- was abandoned or lost the job never overwrites the one that owns it.
-- P: status, progress?, error?, meta?, token?
if P.token then
  local holder = redis.call('GET', K.lease)
  if holder and holder ~= P.token then return false end
end
return transition(P.status, P.progress, P.error, P.meta)
