-- A worker that exits cleanly leaves its consumer groups: its consumer name
-- is <host>-<pid> by default, so every run would otherwise leave one more
-- consumer in `pushers` and in every webhook's group. Only a consumer with
-- nothing pending is deleted, since deleting one drops its pending entries
-- from the group for good. The check and the delete are one atomic call:
-- an entry delivered to the consumer later (a blocked XREADGROUP served
-- after this) creates the consumer again, with the entry pending.
--
-- KEYS: the streams (the worker calls it once per stream key, so that
--       each call is one Cluster slot; any number works on one Redis)
-- ARGV: 1 the consumer, then the group of each stream, in KEYS' order
-- Returns {groups left, groups where the consumer still holds entries}.
-- A group or stream that does not exist is neither.

local consumer = ARGV[1]
local left, kept = 0, 0

for i, stream in ipairs(KEYS) do
    local group = ARGV[i + 1]
    local ok, pending = pcall(redis.call, 'XPENDING', stream, group,
                              '-', '+', 1, consumer)
    if ok and #pending > 0 then
        kept = kept + 1
    elseif ok then
        redis.call('XGROUP', 'DELCONSUMER', stream, group, consumer)
        left = left + 1
    end
end

return {left, kept}
