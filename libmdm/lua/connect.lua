-- One command report, stored atomically (protocol.md §3): certificate
-- binding, the reported command's state, the event for the workers, and the
-- next command to send. The cost does not grow with the queue's length: the
-- acknowledged command is found from the head, and only commands NotNow'd in
-- this session are skipped.
--
-- KEYS: 1 enrollment hash, 2 hash holding the binding, 3 mdm:cert:<sha>,
--       4 NotNow set, 5 this command's result hash (the enrollment hash for
--       Idle), 6 events stream, 7 mdm:pending, 8 mdm:notnow; the queue is
--       the one of the enrollment's generation (lib/queue.lua), same slot
-- ARGV: 1 enrollment ID, 2 parent ID, 3 certificate SHA-256 ('' when
--       binding is off), 4 binding mode, 5 now, 6 Status, 7 CommandUUID,
--       8 raw body of a final result ('' otherwise), 9 event (msgpack;
--       '' for none), 10 events MAXLEN, 11 result retention (s)
-- Returns {note, next command body or ''} with note ok|unknown|duplicate,
-- or {'err', reason}.
--
-- Command bodies (mdm:cmd:{<uuid>}) live in their own slot: on Redis Cluster
-- this script would need them fetched in a second step.

-- @include keys
-- @include queue

local enr, bind_enr, cert_key, nn, rkey, events, pending, notnow =
      unpack(KEYS)
local id, parent, sha, mode, now, status, uuid, raw, event, maxlen,
      retention = unpack(ARGV, 1, 11)
local q     -- the queue, once the enrollment is known

local bind_id = parent ~= '' and parent or id

-- @include binding

-- @include event

-- A report needs an enrollment made by check-ins: a user channel that never
-- sent its TokenUpdate has none, and must not get a stub from this script.
local function check_enrollment()
    if redis.call('EXISTS', enr) == 0 then
        return 'unknown enrollment'
    end
    if redis.call('HEXISTS', enr, 'checked_out') == 1 then
        return 'enrollment is checked out'
    end
    return check_binding(bind_enr, cert_key, bind_id, sha, mode)
end

local final = { Acknowledged = true, Error = true, CommandFormatError = true }

local function record()
    if status == 'Idle' then
        redis.call('DEL', nn)
        return 'ok'
    end
    if status == 'NotNow' then
        if not redis.call('LPOS', q, uuid) then return 'unknown' end
        redis.call('SADD', nn, uuid)
        redis.call('HINCRBY', rkey, 'notnow', 1)
        redis.call('HSET', rkey, 'status', 'NotNow', 'updated', now)
        return 'ok'
    end
    if final[redis.call('HGET', rkey, 'status')] then
        redis.call('LREM', q, 1, uuid)    -- however it got back in
        return 'duplicate'
    end
    if redis.call('LREM', q, 1, uuid) == 0 then
        return 'unknown'
    end
    redis.call('HSET', rkey, 'status', status, 'result', raw, 'updated', now)
    redis.call('EXPIRE', rkey, retention)
    redis.call('SREM', nn, uuid)
    return 'ok'
end

-- A queued command whose body is gone (cancelled) or whose TTL passed is
-- dropped from the queue on the way.
local function expire(cmd_uuid, dead)
    redis.call('LREM', q, 1, cmd_uuid)
    if not dead then return end
    local r = K.r(id, cmd_uuid)
    redis.call('HSET', r, 'status', 'Expired', 'updated', now)
    redis.call('EXPIRE', r, retention)
    redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'm',
               command_expired_event(id, parent, cmd_uuid,
                                     tonumber(now) * 1000))
end

-- Returns the body to send ('' for none) and whether the queue is empty.
local function next_command()
    local skipping = status ~= 'Idle' and redis.call('SCARD', nn) > 0
    local start = 0
    while true do
        local batch = redis.call('LRANGE', q, start, start + 15)
        if #batch == 0 then return '', start == 0 end
        local dropped = 0
        for _, cmd_uuid in ipairs(batch) do
            if not skipping or redis.call('SISMEMBER', nn, cmd_uuid) == 0 then
                local cmd = redis.call('HMGET', K.cmd(cmd_uuid),
                                       'body', 'expires')
                local expires = tonumber(cmd[2] or '0') or 0
                if cmd[1] and (expires == 0 or expires > tonumber(now)) then
                    return cmd[1], false
                end
                expire(cmd_uuid, cmd[1] ~= false)
                dropped = dropped + 1
            end
        end
        start = start + #batch - dropped
    end
end

local err = check_enrollment()
if err then return {'err', err} end

q = queue_of(id, enr)

redis.call('HSET', enr, 'last_seen', now)

local note = record()
if note ~= 'duplicate' and event ~= '' then
    redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'm', event)
end

local next_body, empty = next_command()

-- What the workers' sweeps look at: who still has work queued (and when it
-- was last heard of), and whose session ended with NotNow'd commands left
-- (protocol.md §3.4: unless NotNow was the last thing it said, such a device
-- will not poll again by itself; when it was, the delayed re-push is only a
-- safety net).
if empty then
    redis.call('ZREM', pending, id)
else
    redis.call('ZADD', pending, now, id)
end
if next_body == '' and not empty then
    redis.call('ZADD', notnow, now, id)
else
    redis.call('ZREM', notnow, id)
end

return {note, next_body}
