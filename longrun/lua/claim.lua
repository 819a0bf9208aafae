-- A worker is about to run the job: decide whether this copy may run it.
-- Returns {verdict, ...}: run (input, attempts), busy (lease ttl), tenant_busy
-- (seconds to defer: the tenant is at its running-job cap), done, gone,
-- cancelled, exhausted. P: token, lease_ttl, max_attempts, lost_error, lost_meta,
-- tenant_cap? (0/absent: no cap), tenant_retry
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
          redis.call('HGET', K.job, 'webhook') or ''}
end
if holder and holder ~= P.token then
  return {'busy', tostring(redis.call('TTL', K.lease))}
end
local cap = tonumber(P.tenant_cap or 0)
if cap > 0 and holder ~= P.token then
  local tenant = redis.call('HGET', K.job, 'tenant')
  local running = redis.call('ZCARD', index_key(tenant, 'running'))
  -- A redelivered job still marked running counts itself: not against it.
  if cur == 'running' then running = running - 1 end
  if running >= cap then
    return {'tenant_busy', tostring(P.tenant_retry)}
  end
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
-- The webhook config rides along, so the worker need not read it again.
return {'run', redis.call('HGET', K.job, 'input'), tostring(attempts), redis.call('HGET', K.job, 'webhook') or ''}
