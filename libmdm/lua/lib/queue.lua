-- The command queue of an enrollment has a generation (enr field `qgen`,
-- 0 when absent): Authenticate starts a new one instead of walking the old
-- queue (checkin.lua), and the worker's sweep deletes old ones in budgeted
-- steps (queue_gc.lua). Generation 0 keeps the name of key layout 1.
-- Inlined by tools/embed-lua.sh where a script says "-- @include queue",
-- after "-- @include keys".
local function queue_key(id, gen)
    if gen == nil or gen == false or gen == '0' then return K.q(id) end
    return K.qg(id, gen)
end

local function queue_of(id, enr_key)
    return queue_key(id, redis.call('HGET', enr_key, 'qgen'))
end
