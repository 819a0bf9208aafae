-- A job's step checkpoint: the steps' entries in its timeline (and a step's
-- output, when it finished) change in the same atomic step as the progress
-- event that reports them, so a resumed attempt never sees a step done that no
-- event reported, nor the reverse. Only the attempt holding the lease writes.
-- P: token, op (start | finish | partial | fail), pos, entries? (flat list of
-- position, JSON entry: this step's and, e.g., the next one it starts),
-- output? (JSON), progress? (the event's progress JSON), keep_ttl.
-- Returns {'ok', seq}, {'lost'} (another attempt holds the lease) or {'over'}.
local cur = redis.call('HGET', K.job, 'status')
if (not cur) or FINAL[cur] then return {'over'} end
if redis.call('GET', K.lease) ~= P.token then return {'lost'} end
local steps = P.prefix .. 'steps:' .. P.id
local outputs = P.prefix .. 'stepout:' .. P.id
-- Until the job is final its checkpoints outlive any attempt (lib.lua settles them then).
local ttl = tonumber(P.keep_ttl)
if P.entries and #P.entries > 0 then
  redis.call('HSET', steps, unpack(P.entries))
  redis.call('EXPIRE', steps, ttl)
end
if P.op == 'partial' then
  redis.call('HSET', outputs, P.pos .. ':partial', P.output)
  redis.call('EXPIRE', outputs, ttl)
elseif P.op == 'finish' then
  redis.call('HSET', outputs, P.pos, P.output)
  redis.call('HDEL', outputs, P.pos .. ':partial')
  redis.call('EXPIRE', outputs, ttl)
end
local seq = false
if P.progress then
  seq = transition('running', P.progress, nil, celery_meta('running', cjson.decode(P.progress)))
end
return {'ok', tostring(seq or 0)}
