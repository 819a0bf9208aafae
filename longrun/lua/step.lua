-- A job's step checkpoints: entries of its timeline and outputs of finished
-- steps change in the same atomic step as the progress event that reports
-- them, so a resumed attempt never sees a step done that no event reported,
-- nor the reverse. Only the attempt holding the lease writes.
-- P: token, keep_ttl; entries? (flat list: position, JSON entry), outputs?
-- (flat list: field, JSON; "<pos>" a finished step's, "<pos>:partial" a running
-- one's), drop? (output fields to remove), progress? (the event's progress JSON).
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
if P.outputs and #P.outputs > 0 then
  redis.call('HSET', outputs, unpack(P.outputs))
  redis.call('EXPIRE', outputs, ttl)
end
if P.drop and #P.drop > 0 then redis.call('HDEL', outputs, unpack(P.drop)) end
local seq = false
if P.progress then
  seq = transition('running', P.progress, nil, celery_meta('running', cjson.decode(P.progress)))
end
return {'ok', tostring(seq or 0)}
