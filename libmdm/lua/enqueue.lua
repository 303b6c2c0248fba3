-- Enqueues one command to a chunk of enrollments. The command body is stored
-- once, whatever the number of targets; the API calls this once per chunk of
-- IDs so that no single call holds Redis for long. Per ID it costs two
-- commands (HMGET, RPUSH); the set and index updates and the push job are one
-- call a chunk: one mdm:push entry carries the chunk's IDs (field `id`
-- repeated, at most 1000 per entry).
--
-- KEYS: 1 mdm:cmd:{<uuid>}, 2 mdm:cmd:{<uuid>}:ids, 3 expiry zset,
--       4 push stream, 5 mdm:pending
-- ARGV: 1 CommandUUID, 2 body, 3 RequestType, 4 now, 5 expires (unix s,
--       0 = never), 6 nopush (1|0), 7 first chunk (1|0), 8 last chunk
--       (1|0), 9.. enrollment IDs
-- Returns {'err', reason} or {'ok', queued, id, error, id, error, ...} with
-- an entry for every ID that was not queued or not pushed. After the last
-- chunk a command that no target got is deleted again: an enqueue that
-- queued nothing stores nothing, and a retry with its CommandUUID works.

-- @include keys
-- @include queue

local cmd, ids, expiry, push, pending = unpack(KEYS)
local uuid, body, rtype, now, expires, nopush, first, last =
    unpack(ARGV, 1, 8)

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

local function forget_if_unqueued()
    if last == '1' and redis.call('SCARD', ids) == 0 then
        redis.call('DEL', cmd)
        redis.call('ZREM', expiry, uuid)
    end
end

local chunk = {}
for i = 9, #ARGV do chunk[#chunk + 1] = ARGV[i] end
if #chunk == 0 then
    forget_if_unqueued()
    return {'ok', 0}
end

local queued_before = redis.call('SMISMEMBER', ids, unpack(chunk))
local out = {'ok', 0}
local added, seen, scores, jobs = {}, {}, {}, {}

local function refuse(id, why)
    out[#out + 1] = id
    out[#out + 1] = why
end

for i, id in ipairs(chunk) do
    if queued_before[i] == 1 or seen[id] then
        refuse(id, 'already queued')
    else
        seen[id] = true
        -- every stored enrollment has 'created' (checkin.lua sets it)
        local st = redis.call('HMGET', K.enr(id), 'created',
                              'enabled', 'token', 'push_dead', 'checked_out',
                              'qgen')
        if not st[1] and not st[2] then
            refuse(id, 'unknown enrollment')
        elseif st[5] then
            refuse(id, 'enrollment is checked out')
        else
            redis.call('RPUSH', queue_key(id, st[6]), uuid)
            added[#added + 1] = id
            scores[#scores + 1] = now
            scores[#scores + 1] = id
            if nopush == '1' then
                -- queued only
            elseif st[2] ~= '1' then
                refuse(id, 'push: enrollment is not enabled')
            elseif not st[3] or st[4] then
                refuse(id, 'push: enrollment has no live push token')
            else
                jobs[#jobs + 1] = 'id'
                jobs[#jobs + 1] = id
            end
        end
    end
end

if #added > 0 then
    redis.call('SADD', ids, unpack(added))
    redis.call('ZADD', pending, 'NX', unpack(scores))
end

for i = 1, #jobs, 2000 do
    redis.call('XADD', push, '*', unpack(jobs, i, math.min(i + 1999, #jobs)))
end

forget_if_unqueued()

out[2] = #added
return out
