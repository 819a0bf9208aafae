-- Open a batch: refuse it whole when its items would overflow the kind's
-- queue, or return the batch an Idempotency-Key already names; else write the
-- batch hash with every item counted pending (its items follow in chunks,
-- batch_add.lua). Returns {'created', id}, {'existing', "<id> <hash>"} or
-- {'full', depth}. P: bid, tenant, total, created_us, fields (flat list),
-- idem_key?, body_hash?, idem_ttl, max_depth? + depth_keys?
if P.max_depth then
  local depth = 0
  for _, key in ipairs(P.depth_keys) do depth = depth + redis.call('LLEN', key) end
  if depth + tonumber(P.total) > tonumber(P.max_depth) then return {'full', tostring(depth)} end
end
if P.idem_key then
  local existing = redis.call('GET', P.idem_key)
  if existing then return {'existing', existing} end
  redis.call('SET', P.idem_key, P.bid .. ' ' .. P.body_hash, 'EX', P.idem_ttl)
end
local bkey = P.prefix .. 'batch:' .. P.bid
redis.call('HSET', bkey, 'status', 'pending', 'tenant', P.tenant, 'total', P.total, 'pending', P.total,
           'running', 0, 'completed', 0, 'failed', 0, 'cancelled', 0, 'created_us', P.created_us,
           unpack(P.fields))
redis.call('ZADD', P.prefix .. 't:' .. P.tenant .. ':batches', P.created_us, P.bid)
redis.call('SADD', P.prefix .. 'tenants', P.tenant)
return {'created', P.bid}
