-- Shared by every Longrun script (prepended to each). A job's status only
-- moves forward: once final (completed, failed, cancelled) it never changes,
-- which is what makes a redelivered or late copy of a job harmless.
local FINAL = {completed = true, failed = true, cancelled = true}
local CELERY_STATE = {running = 'PROGRESS', completed = 'SUCCESS', failed = 'FAILURE', cancelled = 'REVOKED'}

-- KEYS: job, meta, events, lease, tombstone, cancel
local K = {job = KEYS[1], meta = KEYS[2], events = KEYS[3], lease = KEYS[4], tomb = KEYS[5], cancel = KEYS[6]}
local P = cjson.decode(ARGV[1])
-- Set by flow.lua (fair dispatch): frees a final job's dispatch slot and sends the next job.
local flow_final

local function index_key(tenant, status)
  if status then return P.prefix .. 't:' .. tenant .. ':s:' .. status end
  return P.prefix .. 't:' .. tenant .. ':jobs'
end

-- Celery's own result meta, for the writes this script makes itself.
local function celery_meta(status, result)
  local done = cjson.null
  if FINAL[status] then done = P.now_iso end
  return cjson.encode({status = CELERY_STATE[status], result = result or cjson.null,
                       traceback = cjson.null, children = {}, date_done = done, task_id = P.id})
end

-- Metrics (read at scrape time by longrun/metrics.py): one histogram is a
-- hash with fields "<kind>|<le>" (non-cumulative), "<kind>|count", "<kind>|sum".
local function observe(name, kind, seconds)
  local key = P.prefix .. name
  local field = '+Inf'
  for _, le in ipairs(P.buckets) do
    if seconds <= tonumber(le) then field = le; break end
  end
  redis.call('HINCRBY', key, kind .. '|' .. field, 1)
  redis.call('HINCRBY', key, kind .. '|count', 1)
  redis.call('HINCRBYFLOAT', key, kind .. '|sum', seconds)
end

-- Keep a job's stream at P.maxlen entries by dropping its oldest progress
-- event; lifecycle events (pending, each attempt's running, the final state)
-- are never dropped. The job remembers the newest id it dropped (ev_dropped),
-- so a reader resuming from before it is told to re-read the job.
local function bound_events()
  if redis.call('XLEN', K.events) <= tonumber(P.maxlen) then return end
  local start = '-'
  for _ = 1, 16 do
    local entries = redis.call('XRANGE', K.events, start, '+', 'COUNT', 16)
    if #entries == 0 then return end
    for _, entry in ipairs(entries) do
      local f = entry[2]
      for i = 1, #f, 2 do
        if f[i] == 'type' and f[i + 1] == 'progress' then
          redis.call('XDEL', K.events, entry[1])
          redis.call('HSET', K.job, 'ev_dropped', entry[1])
          return
        end
      end
      start = '(' .. entry[1]
    end
  end
end

-- A job of a batch (record field batch_id) moved from `from` to `to`: move
-- the batch's counters with it, note the change in the batch's event stream,
-- and end the batch when its last item is final. A deleted batch is left alone.
local function batch_moved(bid, from, to)
  local bkey = P.prefix .. 'batch:' .. bid
  if redis.call('EXISTS', bkey) == 0 then return end
  redis.call('HINCRBY', bkey, from, -1)
  redis.call('HINCRBY', bkey, to, 1)
  local b = redis.call('HMGET', bkey, 'status', 'total', 'completed', 'failed', 'cancelled', 'cancel_requested')
  local bstatus = b[1]
  if to == 'running' and bstatus == 'pending' then
    bstatus = 'running'
    redis.call('HSET', bkey, 'status', bstatus, 'started_at', P.now)
  end
  local done = tonumber(b[3] or 0) + tonumber(b[4] or 0) + tonumber(b[5] or 0)
  if FINAL[to] and done >= tonumber(b[2]) and bstatus ~= 'completed' and bstatus ~= 'cancelled' then
    bstatus = 'completed'
    if b[6] == '1' then bstatus = 'cancelled' end
    redis.call('HSET', bkey, 'status', bstatus, 'finished_at', P.now)
    -- The batch and every one of its jobs go together, retention after the batch ended.
    local ttl = tonumber(P.result_ttl)
    if ttl > 0 then redis.call('ZADD', P.prefix .. 'batch-expiry', tonumber(P.now) + ttl, bid) end
    if redis.call('HEXISTS', bkey, 'webhook') == 1 then redis.call('RPUSH', P.prefix .. 'batches-ended', bid) end
  end
  -- Bounded by the items' own transitions, so not trimmed: a reader can resume from any point.
  redis.call('XADD', bkey .. ':ev', '*', 'job_id', P.id, 'index', redis.call('HGET', K.job, 'batch_index') or '',
             'from', from, 'to', to, 'status', bstatus)
end

-- Move the job to `status`; returns the event's sequence number, or false
-- when the job is unknown, deleted or already final.
local function transition(status, progress, err, meta)
  -- One read of every field this needs (each redis.call from Lua costs as much as a small command).
  local f = redis.call('HMGET', K.job, 'status', 'tenant', 'created_us', 'batch_id', 'kind', 'created_at',
                       'started_at', 'idem_key')
  local cur = f[1]
  if (not cur) or FINAL[cur] then return false end
  local tenant, created, kind = f[2], f[3], f[5]
  -- A batch's jobs expire with their batch (the janitor), not one by one.
  local bid = f[4]
  local ttl = tonumber(P.result_ttl)
  if bid then ttl = 0 end
  local set = {'status', status}
  if progress then table.insert(set, 'progress'); table.insert(set, progress) end
  if err then table.insert(set, 'error'); table.insert(set, err) end
  if FINAL[status] then table.insert(set, 'finished_at'); table.insert(set, P.now) end
  redis.call('HSET', K.job, unpack(set))
  local seq = redis.call('HINCRBY', K.job, 'seq', 1)
  if cur == 'pending' and status ~= 'pending' then
    redis.call('ZREM', P.prefix .. 'pending:' .. kind, P.id)
    if status == 'running' then
      observe('m:wait', kind, tonumber(P.now) - tonumber(f[6]))
    end
  end
  if FINAL[status] then
    redis.call('HINCRBY', P.prefix .. 'm:finished', kind .. '|' .. status, 1)
    local started = f[7]
    if started then observe('m:run', kind, tonumber(P.now) - tonumber(started)) end
  end
  if cur ~= status then
    redis.call('ZREM', index_key(tenant, cur), P.id)
    redis.call('ZADD', index_key(tenant, status), created, P.id)
    if bid then batch_moved(bid, cur, status) end
  end
  meta = meta or celery_meta(status, cjson.null)
  if ttl > 0 then redis.call('SET', K.meta, meta, 'EX', ttl) else redis.call('SET', K.meta, meta) end
  redis.call('PUBLISH', K.meta, meta)
  -- A progress report of a running job (not a status change, not an attempt's
  -- start) is the one kind of event that may be dropped to bound the stream.
  local lifecycle = (cur ~= status) or (not progress) or FINAL[status]
  local ev = {'seq', seq, 'status', status, 'type', lifecycle and 'status' or 'progress'}
  if progress then table.insert(ev, 'progress'); table.insert(ev, progress) end
  if err then table.insert(ev, 'error'); table.insert(ev, err) end
  redis.call('XADD', K.events, '*', unpack(ev))
  -- The stream holds at most its creation event and one per seq: only a longer one needs a look.
  if seq + 1 > tonumber(P.maxlen) then bound_events() end
  if FINAL[status] then
    flow_final(kind, tenant, cur)
    redis.call('DEL', K.lease, K.cancel)
    redis.call('ZREM', P.prefix .. 'running', P.id)
    -- Step outputs only serve a resumed attempt; the steps' timeline lives as long as the job.
    redis.call('DEL', P.prefix .. 'stepout:' .. P.id)
    if ttl > 0 then redis.call('EXPIRE', P.prefix .. 'steps:' .. P.id, ttl) end
    local idem = f[8]
    if ttl > 0 then
      redis.call('EXPIRE', K.job, ttl)
      redis.call('EXPIRE', K.events, ttl)
      if idem then redis.call('EXPIRE', idem, ttl) end
      -- The tombstone names its tenant: only the owner learns that the job existed.
      redis.call('SET', K.tomb, tenant, 'EX', ttl + tonumber(P.tomb_ttl))
      redis.call('ZADD', P.prefix .. 'expiry', tonumber(P.now) + ttl, tenant .. '|' .. P.id)
    end
  end
  return seq
end
