-- The mover (workers/dispatcher.py) found a scheduled job due: it becomes
-- pending and goes through fair dispatch like a new submit. Never early: a
-- job whose time (f:due) has not come is left alone. P: force? (a schedule's
-- queued run: due now whatever its score), flow? (fair dispatch on)
-- Returns {'sent' | 'held' | 'publish' (no stored message: the caller
-- publishes kind, priority, timeout) | 'early' | 'skip'}.
local due = P.prefix .. 'f:due'
local cur = redis.call('HGET', K.job, 'status')
if cur ~= 'scheduled' then
  redis.call('ZREM', due, P.id)
  return {'skip'}
end
local at = redis.call('ZSCORE', due, P.id)
if not P.force and (not at or tonumber(at) > tonumber(P.now)) then return {'early'} end
redis.call('ZREM', due, P.id)
transition('pending', nil, nil, nil)
local job = redis.call('HMGET', K.job, 'kind', 'tenant', 'priority', 'msgq', 'msg', 'timeout_seconds')
-- Its wait is counted from now (oldest pending age, queue-wait histogram).
redis.call('ZADD', P.prefix .. 'pending:' .. job[1], math.floor(tonumber(P.now) * 1e6), P.id)
if not job[4] then return {'publish', job[1], job[3] or '0', job[6] or '0'} end
redis.call('HDEL', K.job, 'msgq', 'msg')
if not P.flow then  -- fair dispatch off: published now, as a submit would be
  redis.call('LPUSH', job[4], job[5])
  return {'sent'}
end
return {flow_submit(P.id, job[1], job[2], job[3], job[4], job[5])}
