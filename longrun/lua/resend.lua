-- Fair dispatch's own lost-message check (the mover, workers/dispatcher.py):
-- a job counted as sent (f:out) that is still pending, unclaimed, and whose
-- message is in none of the kind's queue lists nor kombu's unacked hash was
-- lost (e.g. delivered by a Redis that then crashed). Held jobs wait behind its
-- slot, so it is not left to the reconciler's slower pass: seen lost on two
-- looks at least P.confirm_after apart, its message (P.jobs: {id, list key,
-- message}, captured anew) is pushed again, in the same step as the look.
-- With fair dispatch the queue lists hold at most a kind's slots, so looking is cheap.
-- A delivery in the unacked hash that no worker started within P.unacked_grace
-- counts as lost too: the worker that took it lost its connection (a Redis
-- restart) and kombu gives it back only after the visibility timeout, while the
-- job holds its slot. If that worker does still run it, the claim drops the copy.
-- P: queues, unacked, unacked_index, unacked_grace, suspects, confirm_after, jobs.
-- Returns the ids pushed.
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
local stale = {}  -- job id -> delivery tag of a delivery never started
local entries = redis.call('HGETALL', P.unacked)
for i = 1, #entries, 2 do
  local ok, entry = pcall(cjson.decode, entries[i + 1])
  if ok and type(entry) == 'table' and type(entry[1]) == 'table' and type(entry[1].headers) == 'table' then
    local id = entry[1].headers.id
    local at = redis.call('ZSCORE', P.unacked_index, entries[i])
    if id and at and tonumber(P.now) - tonumber(at) >= tonumber(P.unacked_grace) then
      stale[id] = entries[i]
    else
      note(entry[1])
    end
  end
end
local pushed = {}
for _, job in ipairs(P.jobs) do
  local id = job[1]
  local jkey = P.prefix .. 'job:' .. id
  local lost = redis.call('HGET', jkey, 'status') == 'pending' and not present[id]
    and redis.call('EXISTS', P.prefix .. 'lease:' .. id) == 0 and redis.call('HEXISTS', jkey, 'msgq') == 0
  if not lost then
    redis.call('HDEL', P.suspects, id)
  else
    local since = redis.call('HGET', P.suspects, id)
    if not since then
      redis.call('HSET', P.suspects, id, P.now)
    elseif tonumber(P.now) - tonumber(since) >= tonumber(P.confirm_after) then
      if stale[id] then
        redis.call('HDEL', P.unacked, stale[id])
        redis.call('ZREM', P.unacked_index, stale[id])
      end
      redis.call('LPUSH', job[2], job[3])
      redis.call('HDEL', P.suspects, id)
      table.insert(pushed, id)
    end
  end
end
return pushed
