-- Expires commands whose TTL passed, for the mdm-worker sweep: each target
-- whose queue still holds the command loses it, its result hash says
-- Expired and an mdm.CommandExpired event goes to the workers (the same
-- shape connect.lua writes when a device meets an expired command first).
-- One call touches at most `batch` targets; a command with more targets
-- keeps its SSCAN cursor in its own hash (field `expire_cursor`) and the
-- next call, by any worker, goes on from there. Each call is atomic, so
-- several workers may sweep at once without doing anything twice.
--
-- KEYS: 1 mdm:expiry, 2 mdm:events, 3 mdm:pending, 4 mdm:notnow
-- ARGV: 1 now (unix ms), 2 batch, 3 result retention (s), 4 events MAXLEN
-- Returns {targets expired, commands finished, more (1 if the batch ran
-- out before the due commands did), items skipped, the first skip's error}.
--
-- A key of the wrong type (WRONGTYPE) must not stop every sweep after it:
-- a target whose keys fail is skipped (the command still finishes), a
-- command whose own keys fail leaves mdm:expiry. Redis keeps what the item
-- wrote before the error; the worker logs the skips.
--
-- Per-enrollment keys live in other slots: on Redis Cluster this script
-- would need one call per enrollment.

-- @include keys
-- @include queue

local expiry, events, pending, notnow = unpack(KEYS)
local now_ms, batch, retention, maxlen = unpack(ARGV, 1, 4)
now_ms = tonumber(now_ms)
batch = tonumber(batch)
local now = math.floor(now_ms / 1000)

-- @include event

local expired, finished, skipped = 0, 0, 0
local first_error = ''
local budget = batch

-- Runs fn(...) for one item; false (counted, first error kept) if it failed.
local function guarded(fn, ...)
    local ok, err = pcall(fn, ...)
    if not ok then
        skipped = skipped + 1
        if first_error == '' then
            first_error = type(err) == 'table' and err.err or tostring(err)
        end
    end
    return ok, err
end

local function expire_target(id, uuid)
    local q = queue_of(id, K.enr(id))
    if redis.call('LREM', q, 1, uuid) == 0 then
        return                  -- answered, cancelled or already dropped
    end
    local r = K.r(id, uuid)
    redis.call('HSET', r, 'status', 'Expired', 'updated', now)
    redis.call('EXPIRE', r, retention)
    redis.call('SREM', K.nn(id), uuid)
    if redis.call('EXISTS', q) == 0 then
        redis.call('ZREM', pending, id)
        redis.call('ZREM', notnow, id)
    end
    local parent = redis.call('HGET', K.enr(id), 'parent')
    redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'm',
               command_expired_event(id, parent, uuid, now_ms))
    expired = expired + 1
end

-- Walks the command's targets from its saved cursor; true once all done.
local function sweep_command(uuid)
    local cmd = K.cmd(uuid)
    local ids = cmd .. ':ids'
    local cursor = redis.call('HGET', cmd, 'expire_cursor') or '0'
    repeat
        local count = budget < 256 and budget or 256
        local res = redis.call('SSCAN', ids, cursor, 'COUNT', count)
        for _, id in ipairs(res[2]) do guarded(expire_target, id, uuid) end
        -- an empty step still costs: a sparse set must not loop for free
        budget = budget - math.max(#res[2], 1)
        cursor = res[1]
    until cursor == '0' or budget <= 0
    if cursor ~= '0' then
        redis.call('HSET', cmd, 'expire_cursor', cursor)
        return false
    end
    redis.call('DEL', cmd)
    redis.call('ZREM', expiry, uuid)
    redis.call('EXPIRE', ids, retention)
    finished = finished + 1
    return true
end

local due = redis.call('ZRANGEBYSCORE', expiry, '-inf', now,
                       'LIMIT', 0, batch)
for _, uuid in ipairs(due) do
    if budget <= 0 then
        return {expired, finished, 1, skipped, first_error}
    end
    local ok, done = guarded(sweep_command, uuid)
    if not ok then
        redis.call('ZREM', expiry, uuid)
    elseif not done then
        return {expired, finished, 1, skipped, first_error}
    end
end
return {expired, finished, #due == batch and 1 or 0, skipped, first_error}
