-- Write a new job record and index it, or return the job an Idempotency-Key
-- already names. Returns {'created', id} or {'existing', "<id> <body hash>"}.
-- P: tenant, kind, created_us, idem_key?, body_hash?, idem_ttl, fields (flat list),
-- queue_key? + message? (the job's broker message, pushed with a new record),
-- max_depth? + depth_keys? (backpressure: {'full', depth} when the kind's
-- priority lists hold max_depth messages; nothing is written then)
if P.max_depth then
  local depth = 0
  for _, key in ipairs(P.depth_keys) do depth = depth + redis.call('LLEN', key) end
  if depth >= tonumber(P.max_depth) then return {'full', tostring(depth)} end
end
if P.idem_key then
  local existing = redis.call('GET', P.idem_key)
  if existing then return {'existing', existing} end
  redis.call('SET', P.idem_key, P.id .. ' ' .. P.body_hash, 'EX', P.idem_ttl)
end
redis.call('HSET', K.job, 'status', 'pending', 'seq', 0, 'attempts', 0,
           'tenant', P.tenant, 'created_us', P.created_us, unpack(P.fields))
redis.call('ZADD', index_key(P.tenant, nil), P.created_us, P.id)
redis.call('ZADD', index_key(P.tenant, 'pending'), P.created_us, P.id)
redis.call('SADD', P.prefix .. 'tenants', P.tenant)
redis.call('ZADD', P.prefix .. 'pending:' .. P.kind, P.created_us, P.id)
redis.call('HINCRBY', P.prefix .. 'm:submitted', P.kind, 1)
redis.call('XADD', K.events, '*', 'seq', 0, 'status', 'pending', 'type', 'status')
if P.queue_key then redis.call('LPUSH', P.queue_key, P.message) end
return {'created', P.id}
