-- A job's whole read in one call (JobStore.load): its record, Celery meta, step
-- timeline and retries, and, when the record is gone, its tombstone's owner.
-- KEYS: job, meta, steps, retries, tombstone. Read-only.
local record = redis.call('HGETALL', KEYS[1])
if #record == 0 then
  return {record, false, {}, {}, redis.call('GET', KEYS[5])}
end
return {record, redis.call('GET', KEYS[2]), redis.call('HGETALL', KEYS[3]),
        redis.call('LRANGE', KEYS[4], 0, -1), false}
