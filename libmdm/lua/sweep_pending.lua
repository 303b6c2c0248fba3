-- The workers' re-push sweep (protocol.md §3.4): a push job for every
-- enrollment with queued commands that has not been heard of for
-- `silent_after` seconds (its score becomes now, so the next re-push comes
-- one interval later), and for every enrollment whose session ended with
-- NotNow'd commands `notnow_after` seconds ago (it leaves mdm:notnow).
-- Enrollments that cannot be pushed (not enabled, no token, dead token)
-- get no job; an enrollment that no longer exists leaves both indexes.
--
-- KEYS: 1 mdm:pending, 2 mdm:notnow, 3 mdm:push
-- ARGV: 1 now (unix s), 2 silent_after (s, 0 = off), 3 notnow_after (s,
--       0 = off), 4 batch (IDs per index)
-- Returns {silent jobs, NotNow jobs, IDs skipped, the first skip's error}.
--
-- A key of the wrong type (WRONGTYPE) must not stop every sweep after it:
-- an ID whose keys fail leaves the index it was read from, and is counted.

-- @include keys

local pending, notnow, push = unpack(KEYS)
local now = tonumber(ARGV[1])
local silent_after, notnow_after, batch =
      tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])

local pushed = {}

-- 'yes', 'no' (cannot be pushed now) or 'gone' (no such enrollment).
local function pushable(id)
    local enr = K.enr(id)
    local f = redis.call('HMGET', enr, 'enabled', 'token', 'push_dead')
    if f[1] == '1' and f[2] and f[2] ~= '' and not f[3] then
        return 'yes'
    end
    if redis.call('EXISTS', enr) == 0 then
        return 'gone'
    end
    return 'no'
end

-- One job per enrollment and call, whichever index asked first.
local function job(id)
    if pushed[id] then return 0 end
    pushed[id] = true
    redis.call('XADD', push, '*', 'id', id)
    return 1
end

local silent, nn, skipped = 0, 0, 0
local first_error = ''

local function repush_silent(id)
    local can = pushable(id)
    if can == 'gone' then
        redis.call('ZREM', pending, id)
        redis.call('ZREM', notnow, id)
    else
        redis.call('ZADD', pending, 'XX', now, id)
        if can == 'yes' then silent = silent + job(id) end
    end
end

local function repush_notnow(id)
    redis.call('ZREM', notnow, id)
    if pushable(id) == 'yes' then nn = nn + job(id) end
end

-- Runs fn(id); on an error the ID leaves `index` and is counted.
local function guarded(fn, id, index)
    local ok, err = pcall(fn, id)
    if not ok then
        redis.call('ZREM', index, id)
        skipped = skipped + 1
        if first_error == '' then
            first_error = type(err) == 'table' and err.err or tostring(err)
        end
    end
end

if silent_after > 0 then
    local ids = redis.call('ZRANGEBYSCORE', pending, '-inf',
                           now - silent_after, 'LIMIT', 0, batch)
    for _, id in ipairs(ids) do guarded(repush_silent, id, pending) end
end

if notnow_after > 0 then
    local ids = redis.call('ZRANGEBYSCORE', notnow, '-inf',
                           now - notnow_after, 'LIMIT', 0, batch)
    for _, id in ipairs(ids) do guarded(repush_notnow, id, notnow) end
end

return {silent, nn, skipped, first_error}
