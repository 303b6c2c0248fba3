-- Enqueues one command to a chunk of enrollments. The command body is stored
-- once, whatever the number of targets; the API calls this once per chunk of
-- IDs so that no single call holds Redis for long.
--
-- KEYS: 1 mdm:cmd:{<uuid>}, 2 mdm:cmd:{<uuid>}:ids, 3 expiry zset,
--       4 push stream, 5 mdm:pending
-- ARGV: 1 CommandUUID, 2 body, 3 RequestType, 4 now, 5 expires (unix s,
--       0 = never), 6 nopush (1|0), 7 first chunk (1|0), 8.. enrollment IDs
-- Returns {'err', reason} or {'ok', queued, id, error, id, error, ...} with
-- an entry for every ID that was not queued or not pushed.

local cmd, ids, expiry, push, pending = unpack(KEYS)
local uuid, body, rtype, now, expires, nopush, first = unpack(ARGV, 1, 7)

if first == '1' then
    if redis.call('EXISTS', cmd) == 1 then
        return {'err', 'duplicate CommandUUID'}
    end
    redis.call('HSET', cmd, 'body', body, 'type', rtype, 'created', now,
               'expires', expires)
    if expires ~= '0' then
        redis.call('ZADD', expiry, expires, uuid)
    end
elseif redis.call('EXISTS', cmd) == 0 then
    return {'err', 'command vanished while it was being enqueued'}
end

local out = {'ok', 0}
local queued = 0

for i = 8, #ARGV do
    local id = ARGV[i]
    local enr = 'mdm:{' .. id .. '}:enr'
    local state = redis.call('HMGET', enr, 'enabled', 'token', 'push_dead')
    if redis.call('EXISTS', enr) == 0 then
        out[#out + 1] = id
        out[#out + 1] = 'unknown enrollment'
    elseif redis.call('SADD', ids, id) == 0 then
        out[#out + 1] = id
        out[#out + 1] = 'already queued'
    else
        redis.call('RPUSH', 'mdm:{' .. id .. '}:q', uuid)
        redis.call('ZADD', pending, 'NX', now, id)
        queued = queued + 1
        if nopush ~= '1' then
            if state[1] ~= '1' then
                out[#out + 1] = id
                out[#out + 1] = 'push: enrollment is not enabled'
            elseif not state[2] or state[3] then
                out[#out + 1] = id
                out[#out + 1] = 'push: enrollment has no live push token'
            else
                redis.call('XADD', push, '*', 'id', id)
            end
        end
    end
end

out[2] = queued
return out
