-- Jobs that the tenant index shows running but that have no heartbeat
-- deadline in lr:running and no live lease: their message was acked (or lost)
-- and no attempt will ever finish them, yet the reaper only looks at
-- lr:running. Give each a deadline of now, so that the reaper's next pass
-- re-queues them (or fails them at the attempt cap). P: ids. Returns the ids adopted.
local adopted = {}
local running = P.prefix .. 'running'
for _, id in ipairs(P.ids) do
  if redis.call('HGET', P.prefix .. 'job:' .. id, 'status') == 'running'
      and not redis.call('ZSCORE', running, id)
      and redis.call('EXISTS', P.prefix .. 'lease:' .. id) == 0 then
    redis.call('ZADD', running, tonumber(P.now), id)
    table.insert(adopted, id)
  end
end
return adopted
