-- Records an event Apple answered an associate/disassociate with, and
-- (last = 1) takes the job that made it off the queue: a worker killed
-- before this sends the job again, which Apple completes without a
-- second licence (an association already held is kept).
--
-- KEYS: 1 mdm:vpp:{<location>}:token
-- ARGV: 1 location, 2 eventId, 3 op, 4 adamId, 5 pricing, 6 targets
--       (JSON [[id, serial], ...]), 7 now, 8 first poll (unix s),
--       9 last (1|0)
-- Returns 1.

-- @include keys

local loc, event, op, adam, pricing, targets, now, poll, last =
    unpack(ARGV, 1, 9)

redis.call('HSET', K.vpp_event(loc, event), 'op', op, 'adamId', adam,
           'pricing', pricing, 'targets', targets, 'created', now,
           'polls', 0)
redis.call('ZADD', K.vpp_events(loc), poll, event)
if last == '1' then
    redis.call('LPOP', K.vpp_jobs(loc))
end
return 1
