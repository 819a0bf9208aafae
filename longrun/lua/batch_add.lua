-- Write one chunk of a batch's items: each an ordinary pending job record
-- (as create.lua writes it, with batch_id and batch_index), indexed, with its
-- broker message pushed in the same step. One call per few hundred items, so a
-- 10,000-item batch costs tens of round trips, not 10,000.
-- P: bid, tenant, kind, items: [{id, created_us, fields (flat), queue_key?, message?}]
local ids = {}
for _, item in ipairs(P.items) do
  local jkey = P.prefix .. 'job:' .. item.id
  redis.call('HSET', jkey, 'status', 'pending', 'seq', 0, 'attempts', 0, 'tenant', P.tenant,
             'created_us', item.created_us, unpack(item.fields))
  redis.call('ZADD', index_key(P.tenant, nil), item.created_us, item.id)
  redis.call('ZADD', index_key(P.tenant, 'pending'), item.created_us, item.id)
  redis.call('ZADD', P.prefix .. 'pending:' .. P.kind, item.created_us, item.id)
  redis.call('XADD', P.prefix .. 'ev:' .. item.id, 'MAXLEN', '~', P.maxlen, '*', 'seq', 0, 'status', 'pending')
  if item.queue_key then redis.call('LPUSH', item.queue_key, item.message) end
  table.insert(ids, item.id)
end
redis.call('RPUSH', P.prefix .. 'batch:' .. P.bid .. ':items', unpack(ids))
redis.call('HINCRBY', P.prefix .. 'm:submitted', P.kind, #ids)
return #ids
