-- A configuration profile of the library (docs/profiles.md), in the
-- profile's own slot. The API parses and validates it first
-- (libmdm/profile); this only stores what the module computed.
--
-- KEYS: 1 mdm:prof:{<ident>}, 2 mdm:prof:{<ident>}:enrs
-- ARGV: 1 op, 2 PayloadIdentifier, then
--   put:      3 sha256, 4 PayloadUUID, 5 name, 6 signer, 7 payloads,
--             8 body, 9 now
--             -> {0, sha256} unchanged, or {1, old sha256 or '', id, ...}
--                with the enrollments it is assigned to
--   get:      -> {sha256, uuid, name, signer, payloads, created, updated,
--                 assigned count} or false
--   body:     -> {sha256, body} or false
--   assign:   3.. IDs -> {sha256, body} or {'err', reason}
--   unassign: 3.. IDs -> removed count
--   del:      -> 1 deleted, 0 absent, or {'err', reason} while assigned

-- @include keys

local prof, enrs = KEYS[1], KEYS[2]
local op, ident = ARGV[1], ARGV[2]

if op == 'put' then
    local sha, uuid, name, signer, payloads, body, now = unpack(ARGV, 3, 9)
    local old = redis.call('HGET', prof, 'sha256')
    if old == sha then
        return {0, sha}
    end
    -- the body is stored once per content; an older version stays while
    -- devices may still be sent it (the version the last reconcile queued)
    redis.call('SET', K.prof_body(ident, sha), body)
    if old then
        redis.call('DEL', K.prof_body(ident, old))
    end
    redis.call('HSET', prof, 'sha256', sha, 'uuid', uuid, 'name', name,
               'signer', signer, 'payloads', payloads, 'updated', now)
    redis.call('HSETNX', prof, 'created', now)
    local out = {1, old or ''}
    for _, id in ipairs(redis.call('SMEMBERS', enrs)) do out[#out + 1] = id end
    return out
end

if op == 'get' then
    local v = redis.call('HMGET', prof, 'sha256', 'uuid', 'name', 'signer',
                         'payloads', 'created', 'updated')
    if not v[1] then return false end
    v[8] = redis.call('SCARD', enrs)
    return v
end

if op == 'body' or op == 'assign' then
    local sha = redis.call('HGET', prof, 'sha256')
    if not sha then
        if op == 'body' then return false end
        return {'err', 'unknown profile'}
    end
    if op == 'assign' and #ARGV > 2 then
        redis.call('SADD', enrs, unpack(ARGV, 3))
    end
    return {sha, redis.call('GET', K.prof_body(ident, sha))}
end

if op == 'unassign' then
    if #ARGV < 3 then return 0 end
    return redis.call('SREM', enrs, unpack(ARGV, 3))
end

if op == 'del' then
    local sha = redis.call('HGET', prof, 'sha256')
    if not sha then return 0 end
    if redis.call('SCARD', enrs) > 0 then
        return {'err', 'profile is assigned to enrollments'}
    end
    redis.call('DEL', prof, K.prof_body(ident, sha))
    return 1
end

return {'err', 'unknown op'}
