-- The workers' sweep of retired queue generations (lib/queue.lua): for each
-- entry of mdm:qgc, oldest first, the result hashes of the commands still in
-- that queue are deleted (only NotNow'd commands have one: every other
-- state left the queue) and the queue is trimmed, at most `budget` queue
-- entries per call; a queue emptied leaves mdm:qgc. The next call, by any
-- worker, goes on where this one stopped: each call is atomic.
--
-- KEYS: 1 mdm:qgc
-- ARGV: 1 now (unix s, only entries retired before it), 2 budget
-- Returns {queue entries deleted, queues finished, more (1 if the budget
-- ran out first)}.
--
-- The queues live in their enrollments' slots: on Redis Cluster this sweep
-- runs per shard.

-- @include keys
-- @include queue

local qgc = KEYS[1]
local now, budget = tonumber(ARGV[1]), tonumber(ARGV[2])
local deleted, finished = 0, 0

for _, member in ipairs(redis.call('ZRANGEBYSCORE', qgc, '-inf', now,
                                   'LIMIT', 0, budget)) do
    if budget <= 0 then
        return {deleted, finished, 1}
    end
    local gen, id = string.match(member, '^(%d+):(.*)$')
    if not gen then
        redis.call('ZREM', qgc, member)          -- not ours: dropped
    else
        local q = queue_key(id, gen)
        local uuids = redis.call('LRANGE', q, 0, budget - 1)
        for _, uuid in ipairs(uuids) do
            redis.call('DEL', K.r(id, uuid))
        end
        redis.call('LTRIM', q, #uuids, -1)
        deleted = deleted + #uuids
        budget = budget - #uuids - 1
        if redis.call('EXISTS', q) == 0 then
            redis.call('ZREM', qgc, member)
            finished = finished + 1
        end
    end
end

return {deleted, finished, budget <= 0 and 1 or 0}
