-- Clears the queues of a chunk of enrollments: every pending command's
-- result hash says Canceled (kept for the result retention) and the queue
-- and NotNow set go. The enrollment stays listed in each command's ID set,
-- so the command's status keeps showing the cancellation. At most `budget`
-- queue entries are handled per call; the caller calls again with the IDs
-- not yet reported. An emptied queue leaves the workers' re-push indexes.
--
-- KEYS: 1 mdm:pending, 2 mdm:notnow
-- ARGV: 1 now (unix s), 2 result retention (s), 3 budget, 4.. enrollment IDs
-- Returns {id, state, cancelled count, id, ...} for the IDs handled in this
-- call, in order; state is 'ok', an error, or 'more' for an ID whose queue
-- is not empty yet (the last one: call again from it).
--
-- Keys of several enrollments are touched: on Redis Cluster this script
-- would need one call per enrollment.

local pending, notnow = unpack(KEYS)
local now, retention, budget = ARGV[1], ARGV[2], tonumber(ARGV[3])

-- @include keys
-- @include queue

local out = {}

for i = 4, #ARGV do
    if budget <= 0 then
        break
    end
    local id = ARGV[i]
    local q = queue_of(id, K.enr(id))
    if redis.call('EXISTS', K.enr(id)) == 0 then
        out[#out + 1] = id
        out[#out + 1] = 'unknown enrollment'
        out[#out + 1] = 0
        budget = budget - 1
    else
        local uuids = redis.call('LRANGE', q, 0, budget - 1)
        for _, uuid in ipairs(uuids) do
            local r = K.r(id, uuid)
            redis.call('HSET', r, 'status', 'Canceled', 'updated', now)
            redis.call('EXPIRE', r, retention)
        end
        redis.call('LTRIM', q, #uuids, -1)
        budget = budget - #uuids - 1
        out[#out + 1] = id
        out[#out + 1] = 'ok'
        out[#out + 1] = #uuids
        if redis.call('EXISTS', q) == 1 then
            out[#out - 1] = 'more'
            break
        end
        redis.call('DEL', K.nn(id))
        redis.call('ZREM', pending, id)
        redis.call('ZREM', notnow, id)
    end
end

return out
