-- A running attempt's heartbeat (the watchdog, every heartbeat_seconds):
-- renew its lease and heartbeat deadline, and say whether a cancel was asked.
-- An attempt only ever renews its own lease. If the lease lapsed (the worker
-- could not reach Redis for a while) and nobody took it, the attempt takes it
-- back (and the job is running again if the reaper had re-queued it); if
-- another attempt holds it, this one has lost the job and must stop.
-- Returns {lease, cancelled}: lease is held, lost or over (job gone or final).
-- P: token, lease_ttl
local cancelled = redis.call('EXISTS', K.cancel)
local cur = redis.call('HGET', K.job, 'status')
if (not cur) or FINAL[cur] then return {'over', cancelled} end
local holder = redis.call('GET', K.lease)
if holder and holder ~= P.token then return {'lost', cancelled} end
redis.call('SET', K.lease, P.token, 'EX', P.lease_ttl)
redis.call('ZADD', P.prefix .. 'running', tonumber(P.now) + tonumber(P.lease_ttl), P.id)
if cur == 'pending' then transition('running', nil, nil, nil) end
return {'held', cancelled}
