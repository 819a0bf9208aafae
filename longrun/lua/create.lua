-- Write a new job record and index it, or return the job an Idempotency-Key
-- already names. Returns {'created', id} or {'existing', "<id> <body hash>"}.
-- P: tenant, kind, created_us, idem_key?, body_hash?, idem_ttl, fields (flat list),
-- queue_key? + message? (the job's broker message, pushed with a new record),
-- max_depth? + depth_keys? (backpressure: {'full', depth} when the kind's
-- priority lists hold max_depth messages; nothing is written then), flow? (fair
-- dispatch, lua/flow.lua: {'created', id, 'sent' | 'held' | 'scheduled'})
if P.max_depth then
  local depth = 0
  for _, key in ipairs(P.depth_keys) do depth = depth + redis.call('LLEN', key) end
  if P.held_key then depth = depth + redis.call('ZCARD', P.held_key) end  -- held by fair dispatch
  if depth >= tonumber(P.max_depth) then return {'full', tostring(depth)} end
end
if P.idem_key then
  local existing = redis.call('GET', P.idem_key)
  if existing then return {'existing', existing} end
  redis.call('SET', P.idem_key, P.id .. ' ' .. P.body_hash, 'EX', P.idem_ttl)
end
-- status: pending, or scheduled (a delayed job: flow.lua's due set holds it until P.run_at)
local status = P.status or 'pending'
redis.call('HSET', K.job, 'status', status, 'seq', 0, 'attempts', 0,
           'tenant', P.tenant, 'created_us', P.created_us, unpack(P.fields))
redis.call('ZADD', index_key(P.tenant, nil), P.created_us, P.id)
redis.call('ZADD', index_key(P.tenant, status), P.created_us, P.id)
redis.call('SADD', P.prefix .. 'tenants', P.tenant)
if status == 'pending' then redis.call('ZADD', P.prefix .. 'pending:' .. P.kind, P.created_us, P.id) end
redis.call('HINCRBY', P.prefix .. 'm:submitted', P.kind, 1)
redis.call('XADD', K.events, '*', 'seq', 0, 'status', status, 'type', 'status')
if P.flow or status == 'scheduled' then return {'created', P.id, flow_created(status)} end
if P.queue_key then redis.call('LPUSH', P.queue_key, P.message) end
return {'created', P.id}
