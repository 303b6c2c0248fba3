-- One check-in message, stored atomically (protocol.md §2): certificate
-- binding, enrollment state, and the event for the workers.
--
-- KEYS: 1 enrollment hash, 2 hash holding the binding (the device's, also
--       for a user channel), 3 mdm:cert:<sha>, 4 raw Authenticate,
--       5 mdm:qgc, 6 NotNow set, 7 the device's user-channel set,
--       8 events stream, 9 enrollment index, 10 push cert of the topic
--       ('' when the topic is not checked)
-- ARGV: 1 MessageType, 2 enrollment ID, 3 parent ID ('' for a device),
--       4 enrollment type, 5 certificate SHA-256 ('' when binding is off),
--       6 binding mode (on|retro), 7 now (unix s), 8 event (msgpack),
--       9 events MAXLEN, 10 Authenticate's plist to keep ('' for other
--       messages), 11.. field/value pairs to store
-- Returns {'ok', payload} or {'err', reason}.

local enr, bind_enr, cert_key, auth_key, qgc, nn_key, users_key,
      events, enrollments, pushcert = unpack(KEYS)
local mtype, id, parent, etype, sha, mode, now, event, maxlen, raw =
      unpack(ARGV, 1, 10)
local fields = {}
for i = 11, #ARGV do fields[#fields + 1] = ARGV[i] end

local bind_id = parent ~= '' and parent or id

-- @include keys
-- @include queue
-- @include binding

local function check_bound()
    return check_binding(bind_enr, cert_key, bind_id, sha, mode)
end

local function bind_authenticate()
    if sha == '' then return nil end
    local owner = redis.call('GET', cert_key)
    if owner and owner ~= id then
        return 'certificate is bound to another enrollment'
    end
    local old = redis.call('HGET', enr, 'cert')
    if old and old ~= sha then
        redis.call('DEL', K.cert(old))
    end
    redis.call('SET', cert_key, id)
    redis.call('HSET', enr, 'cert', sha)
    return nil
end

-- Authenticate drops what was queued, at a cost that does not grow with
-- the queue: a non-empty queue is retired (the enrollment's next queue
-- generation starts empty) and left to the worker's sweep, which deletes it
-- and its commands' result hashes in budgeted steps (queue_gc.lua). The
-- NotNow set is unlinked (freed outside the script by Redis).
local function clear_queue(uid, uenr)
    local gen = redis.call('HGET', uenr, 'qgen') or '0'
    if redis.call('EXISTS', queue_key(uid, gen)) == 1 then
        redis.call('HINCRBY', uenr, 'qgen', 1)
        redis.call('ZADD', qgc, now, gen .. ':' .. uid)
    end
    redis.call('UNLINK', K.nn(uid))
end

local function store_fields()
    if #fields > 0 then
        redis.call('HSET', enr, unpack(fields))
    end
end

local function touch()
    if redis.call('EXISTS', enr) == 1 then
        redis.call('HSET', enr, 'last_seen', now)
    end
end

local tally
local payload = ''

local function authenticate()
    local err = bind_authenticate()
    if err then return err end
    clear_queue(id, enr)
    for _, uid in ipairs(redis.call('SMEMBERS', users_key)) do
        clear_queue(uid, K.enr(uid))
        redis.call('HSET', K.enr(uid), 'enabled', '0')
    end
    -- enroll_*: from the issuance record of this certificate, if any
    -- (ngx_http_mdm_issuance.c); a new identity drops the old ones
    redis.call('HDEL', enr, 'token', 'push_magic', 'push_dead', 'tally',
               'awaiting_config', 'unlock_token', 'checked_out',
               'enroll_user', 'enroll_link', 'enroll_tags')
    store_fields()
    redis.call('HSET', enr, 'type', etype, 'enabled', '0', 'last_seen', now)
    redis.call('HSETNX', enr, 'created', now)
    redis.call('SET', auth_key, raw)
    redis.call('ZADD', enrollments, 'NX', now, id)
end

local function token_update()
    local err = check_bound()
    if err then return err end
    store_fields()
    redis.call('HDEL', enr, 'push_dead', 'checked_out')
    redis.call('HSET', enr, 'type', etype, 'enabled', '1', 'last_seen', now)
    if parent ~= '' then
        redis.call('HSET', enr, 'parent', parent)
        redis.call('SADD', users_key, id)
    end
    redis.call('HSETNX', enr, 'created', now)
    tally = redis.call('HINCRBY', enr, 'tally', 1)
    redis.call('ZADD', enrollments, 'NX', now, id)
end

-- A checked-out enrollment (docs/api.md, "Checked-out enrollments") takes
-- no new commands and gets none of its queued ones until it enrolls again:
-- the device removed its profile, the identity is no longer its.
local function check_out()
    local err = check_bound()
    if err then return err end
    redis.call('HSET', enr, 'enabled', '0', 'last_seen', now,
               'checked_out', now)
    for _, uid in ipairs(redis.call('SMEMBERS', users_key)) do
        redis.call('HSET', K.enr(uid), 'enabled', '0',
                   'checked_out', now)
    end
end

local function set_bootstrap_token()
    local err = check_bound()
    if err then return err end
    redis.call('HDEL', enr, 'bootstrap_token')
    store_fields()
    touch()
end

local function get_bootstrap_token()
    local err = check_bound()
    if err then return err end
    payload = redis.call('HGET', enr, 'bootstrap_token') or ''
    touch()
end

local function other()
    local err = check_bound()
    if err then return err end
    touch()
end

local handlers = {
    Authenticate = authenticate,
    TokenUpdate = token_update,
    CheckOut = check_out,
    SetBootstrapToken = set_bootstrap_token,
    GetBootstrapToken = get_bootstrap_token,
}

if pushcert ~= '' and redis.call('EXISTS', pushcert) == 0 then
    return {'err', 'topic has no push certificate'}
end

local err = (handlers[mtype] or other)()
if err then return {'err', err} end

if tally then
    redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'm', event,
               'tally', tally)
else
    redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'm', event)
end

return {'ok', payload}
