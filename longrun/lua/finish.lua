-- A running attempt's final state (as transition.lua) and the end of its job
-- log in one step: the last lines it logged are appended (capped as
-- longrun/joblog.py's APPEND) and the log keeps the job's retention.
-- P: status, progress?, error?, meta?, token?, and either or both of: log_key,
-- log_meta_key, log_max_lines, log_max_bytes, log_ttl, log_lines (list, may be empty);
-- step_entries? (the step timeline entries held back, flat as step.lua's entries)
local seq = false
local holder = P.token and redis.call('GET', K.lease)
if not (holder and holder ~= P.token) then
  local cur = redis.call('HGET', K.job, 'status')
  if P.step_entries and cur and not FINAL[cur] then
    redis.call('HSET', P.prefix .. 'steps:' .. P.id, unpack(P.step_entries))
  end
  seq = transition(P.status, P.progress, P.error, P.meta)
end
-- A job deleted while it ran keeps no log (as joblog.py's APPEND): its keys are gone for good.
if redis.call('EXISTS', K.job) == 0 then return seq end
local added = 0
for _, line in ipairs(P.log_lines or {}) do
  redis.call('RPUSH', P.log_key, line)
  added = added + #line
end
if added > 0 then
  local bytes = redis.call('HINCRBY', P.log_meta_key, 'bytes', added)
  local n = redis.call('LLEN', P.log_key)
  local dropped = 0
  while n > 0 and (n > tonumber(P.log_max_lines) or bytes > tonumber(P.log_max_bytes)) do
    bytes = bytes - #redis.call('LPOP', P.log_key)
    n = n - 1
    dropped = dropped + 1
  end
  if dropped > 0 then
    redis.call('HSET', P.log_meta_key, 'bytes', bytes)
    redis.call('HINCRBY', P.log_meta_key, 'dropped', dropped)
  end
end
if P.log_key and tonumber(P.log_ttl) > 0 then
  redis.call('EXPIRE', P.log_key, P.log_ttl)
  redis.call('EXPIRE', P.log_meta_key, P.log_ttl)
end
return seq
