-- Warm shutdown: the attempt holding the job's lease stopped at a step
-- boundary, its steps checkpointed. Put the job back to pending without
-- charging the attempt (attempts - 1, requeues + 1), free the lease, and keep
-- it in lr:running until requeue_grace so that the reaper republishes it if
-- the new message is lost. Returns {'requeue', kind, priority, timeout_seconds},
-- or {'lost'} / {'over'}. P: token, requeue_grace, progress?
local cur = redis.call('HGET', K.job, 'status')
if (not cur) or FINAL[cur] then return {'over'} end
if redis.call('GET', K.lease) ~= P.token then return {'lost'} end
redis.call('DEL', K.lease)
redis.call('HINCRBY', K.job, 'attempts', -1)
redis.call('HINCRBY', K.job, 'requeues', 1)
redis.call('ZADD', P.prefix .. 'running', tonumber(P.now) + tonumber(P.requeue_grace), P.id)
transition('pending', P.progress, nil, nil)
local job = redis.call('HMGET', K.job, 'kind', 'priority', 'timeout_seconds')
return {'requeue', job[1], job[2] or '0', job[3] or '0'}
