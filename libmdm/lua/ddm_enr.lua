-- The sets assigned to one enrollment, in the enrollment's slot.
--
-- KEYS: 1 mdm:{<id>}:enr, 2 mdm:{<id>}:ddm:sets
-- ARGV: 1 op, then
--   add:   2 set -> added (1|0), or {'err', 'unknown enrollment'}
--   del:   2 set -> removed (1|0)
--   clear: -> {set, ...} the sets it had (all removed)
--   sets:  -> {set, ...}

local enr, esets = KEYS[1], KEYS[2]
local op = ARGV[1]

if op == 'add' then
    if redis.call('EXISTS', enr) == 0 then
        return {'err', 'unknown enrollment'}
    end
    return redis.call('SADD', esets, ARGV[2])
end

if op == 'del' then
    return redis.call('SREM', esets, ARGV[2])
end

if op == 'clear' then
    local sets = redis.call('SMEMBERS', esets)
    redis.call('DEL', esets)
    return sets
end

if op == 'sets' then
    return redis.call('SMEMBERS', esets)
end

return {'err', 'unknown op'}
