-- Fair dispatch (docs/flow-control.md), shared by every script after lib.lua.
-- A job's Celery message is sent (LPUSHed) only when a worker can take it
-- soon: at most as many messages per kind are out (sent, not final) as the
-- live workers of that kind have slots (f:slots, capped by the kind's cap),
-- and at most tenant_cap per tenant. The others wait in Redis, with their
-- message, in one sorted set per kind and tenant (priority, then submission);
-- a ring of the tenants that wait is served in turn, w jobs per turn for a
-- tenant of weight w. A capped tenant leaves the ring until one of its jobs
-- ends. Everything here runs inside the script that changed the job, so a
-- job is sent once, atomically with the change that made room for it.
-- P.fc (absent: defaults): tcap (tenant cap), kcap {kind=n}, w {tenant=n}.
local FP = P.prefix .. 'f:'
local FC = P.fc or {}

local function fk_wait(kind, tenant) return FP .. 'w:' .. kind .. ':' .. tenant end
local function fk_ring(kind) return FP .. 'ring:' .. kind end
local function fk_inring(kind) return FP .. 'inring:' .. kind end
local function fk_turn(kind) return FP .. 'used:' .. kind end
local function fk_held(kind) return FP .. 'held:' .. kind end
local function fk_out(kind) return FP .. 'out:' .. kind end
local function fk_tout(tenant) return FP .. 'tout:' .. tenant end
local function fk_blocked(tenant) return FP .. 'blocked:' .. tenant end

local function flow_weight(tenant)
  return tonumber((FC.w and FC.w[tenant]) or 1)
end

-- Messages of `kind` that may still be sent now.
local function flow_free(kind)
  local slots = tonumber(redis.call('HGET', FP .. 'slots', kind) or '0')
  local cap = tonumber((FC.kcap and FC.kcap[kind]) or 0)
  if cap > 0 and cap < slots then slots = cap end
  return slots - redis.call('ZCARD', fk_out(kind))
end

local function flow_tenant_ok(tenant)
  local cap = tonumber(FC.tcap or 0)
  return cap <= 0 or redis.call('ZCARD', fk_tout(tenant)) < cap
end

local function flow_send(id, kind, tenant, qkey, msg)
  redis.call('LPUSH', qkey, msg)
  redis.call('ZADD', fk_out(kind), P.now, id)
  redis.call('ZADD', fk_tout(tenant), P.now, id)
end

local function flow_leave_ring(kind, tenant)
  redis.call('LREM', fk_ring(kind), 1, tenant)
  redis.call('SREM', fk_inring(kind), tenant)
  redis.call('HDEL', fk_turn(kind), tenant)
end

local function flow_join_ring(kind, tenant)
  if redis.call('SADD', fk_inring(kind), tenant) == 1 then redis.call('RPUSH', fk_ring(kind), tenant) end
end

-- Send up to `budget` held jobs of `kind`, tenant by tenant; returns how many.
local function flow_pump(kind, budget)
  local ring = fk_ring(kind)
  local sent, looked = 0, 0
  local limit = budget + redis.call('LLEN', ring)
  while sent < budget and looked < limit do
    local tenant = redis.call('LINDEX', ring, 0)
    if not tenant or flow_free(kind) <= 0 then break end
    looked = looked + 1
    local wkey = fk_wait(kind, tenant)
    if not flow_tenant_ok(tenant) then
      flow_leave_ring(kind, tenant)
      redis.call('SADD', fk_blocked(tenant), kind)
    else
      local id = redis.call('ZRANGE', wkey, 0, 0)[1]
      if id then
        redis.call('ZREM', wkey, id)
        redis.call('ZREM', fk_held(kind), id)
        local jkey = P.prefix .. 'job:' .. id
        local job = redis.call('HMGET', jkey, 'status', 'msgq', 'msg')
        if job[1] == 'pending' and job[2] then
          redis.call('HDEL', jkey, 'msgq', 'msg')
          flow_send(id, kind, tenant, job[2], job[3])
          sent = sent + 1
        end
      end
      if redis.call('ZCARD', wkey) == 0 then
        flow_leave_ring(kind, tenant)
      elseif id and redis.call('HINCRBY', fk_turn(kind), tenant, 1) >= flow_weight(tenant) then
        redis.call('HDEL', fk_turn(kind), tenant)
        redis.call('RPUSH', ring, redis.call('LPOP', ring))  -- its turn is over: to the back
      end
    end
  end
  return sent
end

-- Keep a pending job's message in Redis until its turn.
local function flow_hold(id, kind, tenant, priority, qkey, msg)
  local seq = redis.call('INCR', FP .. 'seq')
  redis.call('HSET', P.prefix .. 'job:' .. id, 'msgq', qkey, 'msg', msg)
  redis.call('ZADD', fk_wait(kind, tenant), (9 - tonumber(priority or 0)) * 1e13 + seq, id)
  redis.call('ZADD', fk_held(kind), P.now, id)
  flow_join_ring(kind, tenant)
end

-- A job became pending: send it now when its kind has room and nobody waits
-- (the fast path: one LPUSH more than a plain publish), else hold it.
-- Returns 'sent' or 'held'.
local function flow_submit(id, kind, tenant, priority, qkey, msg)
  if redis.call('LLEN', fk_ring(kind)) == 0 and flow_tenant_ok(tenant) and flow_free(kind) > 0 then
    flow_send(id, kind, tenant, qkey, msg)
    return 'sent'
  end
  flow_hold(id, kind, tenant, priority, qkey, msg)
  flow_pump(kind, 2)
  if redis.call('ZSCORE', fk_out(kind), id) then return 'sent' end
  return 'held'
end

-- The job reached a final state: its slot (kind and tenant) is free; send the next.
flow_final = function(kind, tenant, was)
  redis.call('ZREM', fk_out(kind), P.id)
  redis.call('ZREM', fk_tout(tenant), P.id)
  if was ~= 'running' then  -- a running job was sent: it is neither held nor scheduled
    redis.call('ZREM', fk_wait(kind, tenant), P.id)  -- cancelled while held
    redis.call('ZREM', fk_held(kind), P.id)
    redis.call('ZREM', FP .. 'due', P.id)            -- cancelled while scheduled
  end
  for _, other in ipairs(redis.call('SMEMBERS', fk_blocked(tenant))) do
    redis.call('SREM', fk_blocked(tenant), other)
    if redis.call('ZCARD', fk_wait(other, tenant)) > 0 then flow_join_ring(other, tenant) end
    if other ~= kind then flow_pump(other, 1) end
  end
  flow_pump(kind, 2)
end

-- create.lua, P.flow: the new job's message (P.queue_key, P.message) is sent,
-- held, or kept with a scheduled job until P.run_at (P.run_at absent: until
-- its schedule's previous run ends, see longrun/schedules.py).
local function flow_created(status)
  if status == 'scheduled' then
    if P.queue_key then redis.call('HSET', K.job, 'msgq', P.queue_key, 'msg', P.message) end
    if P.run_at then redis.call('ZADD', FP .. 'due', P.run_at, P.id) end
    return 'scheduled'
  end
  return flow_submit(P.id, P.kind, P.tenant, P.priority, P.queue_key, P.message)
end
