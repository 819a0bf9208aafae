-- The janitor found the job's heartbeat stale in lr:running: no attempt has
-- renewed it for a lease period. Decide what becomes of the job:
--   gone      no record, or already final: dropped from lr:running
--   alive     a lease is still held: its holder runs it; leave it alone
--   cancelled a cancel was asked for while it had no live worker
--   failed    it used up its attempts (error: worker lost)
--   requeue   back to pending; the caller republishes its id. It stays in
--             lr:running until requeue_grace, so that a copy nobody claims
--             (lost message) is republished again, but not on every pass.
-- Returns {verdict} or {'requeue', kind, priority, timeout_seconds}.
-- P: max_attempts, lost_error, lost_meta, requeue_grace
local running = P.prefix .. 'running'
local cur = redis.call('HGET', K.job, 'status')
if (not cur) or FINAL[cur] then
  redis.call('ZREM', running, P.id)
  return {'gone'}
end
if redis.call('EXISTS', K.lease) == 1 then return {'alive'} end
if redis.call('EXISTS', K.cancel) == 1 then
  transition('cancelled', nil, nil, nil)
  return {'cancelled'}
end
local attempts = tonumber(redis.call('HGET', K.job, 'attempts') or '0')
if attempts >= tonumber(P.max_attempts) then
  transition('failed', nil, P.lost_error, P.lost_meta)
  return {'failed'}
end
redis.call('ZADD', running, tonumber(P.now) + tonumber(P.requeue_grace), P.id)
if cur ~= 'pending' then transition('pending', nil, nil, nil) end
local job = redis.call('HMGET', K.job, 'kind', 'priority', 'timeout_seconds')
return {'requeue', job[1], job[2] or '0', job[3] or '0'}
