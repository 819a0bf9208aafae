-- A pool process died mid-job: free its lease so that the requeued copy can
-- start at once, but only if that process holds it (P.holder is the token
-- prefix "<hostname>:<pid>:"); another copy's lease is never touched.
local holder = redis.call('GET', K.lease)
if holder and string.sub(holder, 1, string.len(P.holder)) == P.holder then
  redis.call('DEL', K.lease)
  return 1
end
return 0
