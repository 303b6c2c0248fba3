-- Cancels a command for a chunk of its targets: the UUID leaves each queue
-- and the target's result hash says Canceled (kept for the result
-- retention). Final states (Acknowledged, Error, ..., and Expired once the
-- TTL passed) are not overwritten.
-- Given no IDs, the call walks the command's ID set one SSCAN step at a time;
-- after the last step the command body goes (connect.lua drops queue
-- entries without a body) and the ID set expires with the results. A queue
-- left empty leaves the workers' re-push indexes.
--
-- KEYS: 1 mdm:cmd:{<uuid>}, 2 mdm:cmd:{<uuid>}:ids, 3 expiry zset,
--       4 mdm:pending, 5 mdm:notnow
-- ARGV: 1 CommandUUID, 2 now (unix s), 3 result retention (s), 4 SSCAN
--       cursor ('' when IDs are given), 5.. enrollment IDs
-- Returns {'err', reason} or {'ok', next cursor ('' when done), id, error
-- ('' = cancelled), id, ...}.
--
-- Per-enrollment keys live in other slots: on Redis Cluster this script
-- would need one call per enrollment.

-- @include keys
-- @include queue

local cmd, ids, expiry, pending, notnow = unpack(KEYS)
local uuid, now, retention, cursor = unpack(ARGV, 1, 4)

if redis.call('EXISTS', cmd) == 0 and redis.call('EXISTS', ids) == 0 then
    return {'err', 'unknown command'}
end

local final = { Acknowledged = true, Error = true, CommandFormatError = true,
                Expired = true, Canceled = true }

-- past its TTL, a queued command is as good as Expired (connect.lua marks
-- it so when the device next connects)
local expires = tonumber(redis.call('HGET', cmd, 'expires') or '0') or 0
local expired = expires ~= 0 and expires <= tonumber(now)

local function cancel(id)
    if redis.call('SISMEMBER', ids, id) == 0 then
        if redis.call('EXISTS', K.enr(id)) == 0 then
            return 'unknown enrollment'
        end
        return 'command was not queued for this enrollment'
    end
    local r = K.r(id, uuid)
    local status = redis.call('HGET', r, 'status')
    if final[status] then
        return 'already ' .. status
    end
    if expired then
        return 'already Expired'
    end
    local q = queue_of(id, K.enr(id))
    if redis.call('LREM', q, 1, uuid) == 0 then
        return 'command is no longer queued'
    end
    if redis.call('EXISTS', q) == 0 then
        redis.call('ZREM', pending, id)
        redis.call('ZREM', notnow, id)
    end
    redis.call('HSET', r, 'status', 'Canceled', 'updated', now)
    redis.call('EXPIRE', r, retention)
    redis.call('SREM', K.nn(id), uuid)
    return ''
end

local out = {'ok', ''}

local function report(id)
    out[#out + 1] = id
    out[#out + 1] = cancel(id)
end

if cursor == '' then
    for i = 5, #ARGV do report(ARGV[i]) end
    return out
end

local res = redis.call('SSCAN', ids, cursor, 'COUNT', 256)
for _, id in ipairs(res[2]) do report(id) end

if res[1] ~= '0' then
    out[2] = res[1]
    return out
end

redis.call('DEL', cmd)
redis.call('ZREM', expiry, uuid)
redis.call('EXPIRE', ids, retention)
return out
