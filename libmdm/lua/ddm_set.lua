-- A set of declarations and the enrollments it is assigned to, in the
-- set's own slot. The set keeps each declaration's kind and ServerToken
-- (ddm_decl.lua's put hands them on), so that an enrollment's view is
-- built from its sets without reading every declaration.
--
-- KEYS: 1 mdm:ddm:set:{<set>}, 2 mdm:ddm:set:{<set>}:enrs
-- ARGV: 1 op, then
--   put:      2 Identifier, 3 '<kind> <ServerToken>'
--   update:   the same, only if the set holds the declaration
--   del:      2 Identifier
--             -> {changed (1|0), declarations left, enrollment, ...}
--                (the enrollments only when changed)
--   items:    -> {Identifier, '<kind> <token>', ...}
--   enrs:     -> {enrollment ID, ...}
--   assign:   2 enrollment ID -> added (1|0), or {'err', reason} when the
--             set holds no declaration
--   unassign: 2 enrollment ID -> removed (1|0)

local set, enrs = KEYS[1], KEYS[2]
local op = ARGV[1]

local function changed()
    local out = {1, redis.call('HLEN', set)}
    for _, e in ipairs(redis.call('SMEMBERS', enrs)) do out[#out + 1] = e end
    return out
end

if op == 'put' or op == 'update' then
    local old = redis.call('HGET', set, ARGV[2])
    if old == ARGV[3] or (op == 'update' and not old) then
        return {0, redis.call('HLEN', set)}
    end
    redis.call('HSET', set, ARGV[2], ARGV[3])
    return changed()
end

if op == 'del' then
    if redis.call('HDEL', set, ARGV[2]) == 0 then
        return {0, redis.call('HLEN', set)}
    end
    return changed()
end

if op == 'items' then
    return redis.call('HGETALL', set)
end

if op == 'enrs' then
    return redis.call('SMEMBERS', enrs)
end

if op == 'assign' then
    if redis.call('EXISTS', set) == 0 then
        return {'err', 'unknown set'}
    end
    return redis.call('SADD', enrs, ARGV[2])
end

if op == 'unassign' then
    return redis.call('SREM', enrs, ARGV[2])
end

return {'err', 'unknown op'}
