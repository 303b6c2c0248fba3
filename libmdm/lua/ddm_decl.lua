-- A declaration in the catalogue (docs/ddm.md), in the declaration's own
-- slot. The API parses, validates and renders it first (libmdm/ddm); this
-- only stores what the module computed.
--
-- KEYS: 1 mdm:ddm:decl:{<decl>}, 2 mdm:ddm:decl:{<decl>}:sets
-- ARGV: 1 op, then
--   put:    2 type, 3 kind, 4 ServerToken, 5 document, 6 canonical content,
--           7 touch count, 8 now
--           -> {0} unchanged (same content and touch), or {1, set, ...}
--              with the sets whose items must follow
--   get:    -> {type, kind, token, doc, touch} or false
--   attach: 2 set -> {added (1|0), kind, token}, or {'err', reason}
--   detach: 2 set -> removed (1|0)
--   sets:   -> {set, ...}
--   del:    -> 1 deleted, 0 absent, or {'err', reason} while in a set

local decl, sets = KEYS[1], KEYS[2]
local op = ARGV[1]

if op == 'put' then
    local type, kind, token, doc, canon, touch, now = unpack(ARGV, 2, 8)
    local old = redis.call('HMGET', decl, 'canon', 'touch', 'type')
    if old[1] == canon and (old[2] or '0') == touch and old[3] == type then
        return {0}
    end
    redis.call('HSET', decl, 'type', type, 'kind', kind, 'token', token,
               'doc', doc, 'canon', canon, 'touch', touch, 'updated', now)
    redis.call('HSETNX', decl, 'created', now)
    local out = {1}
    for _, s in ipairs(redis.call('SMEMBERS', sets)) do out[#out + 1] = s end
    return out
end

if op == 'get' then
    local v = redis.call('HMGET', decl, 'type', 'kind', 'token', 'doc',
                         'touch')
    if not v[1] then return false end
    return v
end

if op == 'attach' then
    local v = redis.call('HMGET', decl, 'kind', 'token')
    if not v[1] then return {'err', 'unknown declaration'} end
    return {redis.call('SADD', sets, ARGV[2]), v[1], v[2]}
end

if op == 'detach' then
    return redis.call('SREM', sets, ARGV[2])
end

if op == 'sets' then
    return redis.call('SMEMBERS', sets)
end

if op == 'del' then
    if redis.call('SCARD', sets) > 0 then
        return {'err', 'declaration is in a set'}
    end
    return redis.call('DEL', decl)
end

return {'err', 'unknown op'}
