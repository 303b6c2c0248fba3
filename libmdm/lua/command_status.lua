-- A command and a page of its targets' states. Targets are paged with SSCAN,
-- so a call costs about `limit` targets whatever the set's size; the cursor
-- is SSCAN's, with ':<n>' when the page ended inside the batch one SSCAN step
-- returned (the next call repeats that step and skips n entries).
--
-- KEYS: 1 mdm:cmd:{<uuid>}, 2 mdm:cmd:{<uuid>}:ids
-- ARGV: 1 CommandUUID, 2 cursor, 3 limit, 4 now (unix s), 5 with body
--       (1|0), 6 one enrollment ID ('' = page through all)
-- Returns {'err', reason} or {'ok', {RequestType, created, expires, body},
-- next cursor ('' at the end), id, status, updated, NotNow count, result,
-- id, ...}. status is '' when nothing is known any more (result retention
-- passed, or the queue was dropped by a re-enrollment). Telling Queued from
-- that takes an LPOS in the target's queue: queues are short, but this is
-- the one cost here that grows with a queue's length.
--
-- Per-enrollment keys live in other slots: on Redis Cluster this script
-- would need them fetched in a second step.

-- @include keys
-- @include queue

local cmd, ids = unpack(KEYS)
local uuid, cursor, limit, now, with_body, one = unpack(ARGV, 1, 6)
limit, now = tonumber(limit), tonumber(now)

local head = redis.call('HMGET', cmd, 'type', 'created', 'expires', 'body')

if not head[2] and redis.call('EXISTS', ids) == 0 then
    return {'err', 'unknown command'}
end

if with_body ~= '1' then
    head[4] = false
end

local expires = tonumber(head[3] or '0') or 0
local final = { Acknowledged = true, Error = true, CommandFormatError = true,
                Expired = true, Canceled = true }

local out = {'ok', head, ''}

local function state(id)
    local r = redis.call('HMGET', K.r(id, uuid), 'status',
                         'updated', 'notnow', 'result')
    local status = r[1]
    if not final[status] then
        if not redis.call('LPOS', queue_of(id, K.enr(id)), uuid) then
            status = ''
        elseif expires ~= 0 and expires <= now then
            status = 'Expired'
        else
            status = status or 'Queued'
        end
    end
    out[#out + 1] = id
    out[#out + 1] = status
    out[#out + 1] = r[2]
    out[#out + 1] = r[3] or '0'
    out[#out + 1] = r[4]
end

if one ~= '' then
    if redis.call('SISMEMBER', ids, one) == 0 then
        return {'err', 'command was not queued for this enrollment'}
    end
    state(one)
    return out
end

local scan, skip = string.match(cursor, '^(%d+):(%d+)$')
if scan then
    skip = tonumber(skip)
else
    scan, skip = cursor, 0
end

local found = 0

for _ = 1, 64 do
    local res = redis.call('SSCAN', ids, scan, 'COUNT', limit)
    local batch = res[2]
    local i = skip + 1
    while i <= #batch and found < limit do
        state(batch[i])
        found = found + 1
        i = i + 1
    end
    if i <= #batch then
        out[3] = scan .. ':' .. (i - 1)
        return out
    end
    scan, skip = res[1], 0
    if scan == '0' then
        return out
    end
    if found == limit then
        break
    end
end

out[3] = scan
return out
