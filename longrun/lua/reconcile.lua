-- The reconciler (workers/reconciler.py): jobs that are pending while no
-- broker message names them (a publish lost to a crash or a failover) are
-- published again, and never one whose message exists. A message exists when
-- it waits in one of the queues' priority lists, or was delivered to a worker
-- and not yet acked (kombu's unacked hash). Looking and pushing are one atomic
-- step, so no worker can take or give back a message in between; and a job is
-- pushed only after it looked stranded for confirm_after seconds, so a message
-- held for a moment by a client (popped, not yet in the unacked hash; being
-- restored from it) is never taken for a lost one.
-- P: queues (list keys), unacked (hash key), suspects (hash key), confirm_after,
--    jobs: list of {id} (look) or {id, list key, message} (push if stranded),
--    prune? (drop suspects that are not among jobs)
-- Returns flat {id, verdict, ...}: present | not_pending | suspect | waiting |
-- confirmed (stranded long enough; no message given) | pushed
local present = {}
local function note(message)
  if type(message) == 'table' and type(message.headers) == 'table' and message.headers.id then
    present[message.headers.id] = true
  end
end
for _, key in ipairs(P.queues) do
  for _, raw in ipairs(redis.call('LRANGE', key, 0, -1)) do
    local ok, message = pcall(cjson.decode, raw)
    if ok then note(message) end
  end
end
for _, raw in ipairs(redis.call('HVALS', P.unacked)) do
  local ok, entry = pcall(cjson.decode, raw)  -- [message, exchange, routing key]
  if ok and type(entry) == 'table' then note(entry[1]) end
end

local out = {}
local listed = {}
for _, job in ipairs(P.jobs) do
  local id = job[1]
  listed[id] = true
  local verdict
  local status = redis.call('HGET', P.prefix .. 'job:' .. id, 'status')
  if status ~= 'pending' or redis.call('EXISTS', P.prefix .. 'lease:' .. id) == 1 then
    verdict = 'not_pending'
  elseif present[id] then
    verdict = 'present'
  else
    local since = redis.call('HGET', P.suspects, id)
    if not since then
      redis.call('HSET', P.suspects, id, P.now)
      verdict = 'suspect'
    elseif tonumber(P.now) - tonumber(since) < tonumber(P.confirm_after) then
      verdict = 'waiting'
    elseif job[2] then
      redis.call('LPUSH', job[2], job[3])
      present[id] = true
      verdict = 'pushed'
    else
      verdict = 'confirmed'
    end
  end
  if verdict == 'not_pending' or verdict == 'present' or verdict == 'pushed' then
    redis.call('HDEL', P.suspects, id)
  end
  table.insert(out, id)
  table.insert(out, verdict)
end
if P.prune then
  for _, id in ipairs(redis.call('HKEYS', P.suspects)) do
    if not listed[id] then redis.call('HDEL', P.suspects, id) end
  end
end
return out
