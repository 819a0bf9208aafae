-- Send held jobs of the kinds in P.kinds while they have room (the mover
-- calls it when workers come or go; a job's end calls flow_pump itself).
-- P: kinds, budget. Returns the number of messages sent.
local sent = 0
for _, kind in ipairs(P.kinds) do sent = sent + flow_pump(kind, tonumber(P.budget)) end
return sent
