-- A worker is about to run the job: decide whether this copy may run it.
-- Returns {verdict, ...}: run (input, attempts, webhook, the step timeline and
-- step outputs of earlier attempts, flat), busy (lease ttl), done, gone,
-- cancelled, exhausted. P: token, lease_ttl, max_attempts, lost_error, lost_meta.
-- (Running caps are kept by fair dispatch, lua/flow.lua: a capped job is never sent.)
local cur = redis.call('HGET', K.job, 'status')
if not cur then return {'gone'} end
if FINAL[cur] then return {'done'} end
if redis.call('EXISTS', K.cancel) == 1 then
  transition('cancelled', nil, nil, nil)
  return {'cancelled'}
end
local holder = redis.call('GET', K.lease)
if holder and holder == P.token and cur == 'running' then
  -- This attempt's own claim again: its reply was lost (Redis restarted or
  -- failed over) and the worker asked once more. Not another attempt.
  return {'run', redis.call('HGET', K.job, 'input'), redis.call('HGET', K.job, 'attempts'),
          redis.call('HGET', K.job, 'webhook') or '', redis.call('HGETALL', P.prefix .. 'steps:' .. P.id),
          redis.call('HGETALL', P.prefix .. 'stepout:' .. P.id)}
end
if holder and holder ~= P.token then
  return {'busy', tostring(redis.call('TTL', K.lease))}
end
local attempts = redis.call('HINCRBY', K.job, 'attempts', 1)
if attempts > tonumber(P.max_attempts) then
  redis.call('HINCRBY', K.job, 'attempts', -1)
  transition('failed', nil, P.lost_error, P.lost_meta)
  return {'exhausted'}
end
redis.call('SET', K.lease, P.token, 'EX', P.lease_ttl)
redis.call('HSETNX', K.job, 'started_at', P.now)
redis.call('ZADD', P.prefix .. 'running', tonumber(P.now) + tonumber(P.lease_ttl), P.id)
transition('running', nil, nil, nil)
-- The webhook config and the checkpoints ride along, so the worker need not read them again.
return {'run', redis.call('HGET', K.job, 'input'), tostring(attempts), redis.call('HGET', K.job, 'webhook') or '',
        redis.call('HGETALL', P.prefix .. 'steps:' .. P.id), redis.call('HGETALL', P.prefix .. 'stepout:' .. P.id)}
