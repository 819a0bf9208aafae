-- A client asks to cancel. A pending (or scheduled) job is cancelled here and now (its queued
-- message is skipped when a worker claims it); a running job gets the cancel
-- flag, which its worker notices. P: cancel_ttl
local cur = redis.call('HGET', K.job, 'status')
if not cur then return {'gone'} end
if FINAL[cur] then return {'final', cur} end
redis.call('SET', K.cancel, '1', 'EX', P.cancel_ttl)
if cur == 'pending' or cur == 'scheduled' then
  transition('cancelled', nil, P.error, nil)
  return {'cancelled'}
end
return {'requested'}
