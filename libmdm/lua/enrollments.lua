-- A page of the enrollment index (oldest first), filtered. The scan stops
-- after `limit` matches or `budget` examined entries, whichever comes first,
-- so one call holds Redis for a bounded time; the cursor it returns (a rank
-- in the index) resumes it. The index only grows, at its end, so ranks stay
-- put between calls.
--
-- KEYS: 1 enrollment index (zset)
-- ARGV: 1 cursor (rank), 2 limit, 3 budget, 4 type ('' = any),
--       5 enabled ('1', '0', '' = any), 6 serial number ('' = any)
-- Returns {next cursor ('' at the end), id, type, enabled, serial,
-- last_seen, enroll_user, id, ...}; absent fields are false.
--
-- The enrollment hashes live in other slots: on Redis Cluster this script
-- would need them fetched in a second step.

-- @include keys

local index = KEYS[1]
local rank, limit, budget = tonumber(ARGV[1]), tonumber(ARGV[2]),
                            tonumber(ARGV[3])
local want_type, want_enabled, want_serial = ARGV[4], ARGV[5], ARGV[6]

local function matches(e)
    return (want_type == '' or e[1] == want_type)
       and (want_enabled == '' or (e[2] or '0') == want_enabled)
       and (want_serial == '' or e[3] == want_serial)
end

local out = {''}
local found = 0

while found < limit and budget > 0 do
    local batch = redis.call('ZRANGE', index, rank,
                             rank + math.min(budget, 128) - 1)
    if #batch == 0 then
        break
    end

    for _, id in ipairs(batch) do
        rank = rank + 1
        budget = budget - 1
        local e = redis.call('HMGET', K.enr(id), 'type',
                             'enabled', 'serial', 'last_seen',
                             'enroll_user')
        if e[1] and matches(e) then
            out[#out + 1] = id
            for i = 1, 5 do out[#out + 1] = e[i] end
            found = found + 1
            if found == limit then break end
        end
    end
end

if rank < redis.call('ZCARD', index) then
    out[1] = tostring(rank)
end

return out
