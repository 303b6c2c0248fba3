-- Sets the per-enrollment states of one app of a location (the worker),
-- and finishes an event ('' = no event) or a job (pop = 1).
--
-- KEYS: 1 mdm:vpp:{<location>}:token
-- ARGV: 1 location, 2 adamId, 3 eventId ('' = none), 4 pop job (1|0),
--       then pairs: enrollment ID, state ('' = forget the enrollment)
-- Returns the number of states written.

-- @include keys

local loc, adam, event, pop = unpack(ARGV, 1, 4)
local install = K.vpp_install(loc, adam)
local n = 0

for i = 5, #ARGV - 1, 2 do
    if ARGV[i + 1] == '' then
        redis.call('HDEL', install, ARGV[i])
    else
        redis.call('HSET', install, ARGV[i], ARGV[i + 1])
    end
    n = n + 1
end
if event ~= '' then
    redis.call('DEL', K.vpp_event(loc, event))
    redis.call('ZREM', K.vpp_events(loc), event)
end
if pop == '1' then
    redis.call('LPOP', K.vpp_jobs(loc))
end
return n
