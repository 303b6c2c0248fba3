-- A page of one enrollment's pending commands, in the order the device will
-- get them. The cursor is a position in the queue: the device consuming the
-- head between two calls shifts it.
--
-- KEYS: 1 enrollment hash (the queue of its generation is in its slot)
-- ARGV: 1 enrollment ID, 2 cursor (position), 3 limit, 4 now (unix s)
-- Returns {'err', reason} or {'ok', next cursor ('' at the end), uuid,
-- RequestType, status, NotNow count, created, expires, uuid, ...}; status is
-- Queued, NotNow or Expired (past its TTL, dropped at the next connect).
-- Entries whose command body is gone (cancelled) are left out: connect.lua
-- drops them unsent, so a page may be shorter than `limit`.
--
-- Command bodies live in their own slots: on Redis Cluster this script would
-- need them fetched in a second step.

-- @include keys
-- @include queue

local enr = KEYS[1]
local id, pos, limit, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
                            tonumber(ARGV[4])

if redis.call('EXISTS', enr) == 0 then
    return {'err', 'unknown enrollment'}
end

local out = {'ok', ''}
local q = queue_of(id, enr)

for _, uuid in ipairs(redis.call('LRANGE', q, pos, pos + limit - 1)) do
    local cmd = redis.call('HMGET', K.cmd(uuid), 'type',
                           'created', 'expires')
    if cmd[2] then
        local r = redis.call('HMGET', K.r(id, uuid),
                             'status', 'notnow')
        local expires = tonumber(cmd[3] or '0') or 0
        local status = r[1] == 'NotNow' and 'NotNow' or 'Queued'
        if expires ~= 0 and expires <= now then
            status = 'Expired'
        end
        out[#out + 1] = uuid
        out[#out + 1] = cmd[1]
        out[#out + 1] = status
        out[#out + 1] = r[2] or '0'
        out[#out + 1] = cmd[2]
        out[#out + 1] = tostring(expires)
    end
end

if pos + limit < redis.call('LLEN', q) then
    out[2] = tostring(pos + limit)
end

return out
