-- What an enrollment reported (the status API, docs/ddm.md), in its slot.
--
-- KEYS: 1 mdm:{<id>}:ddm:items, 2 :ddm:status, 3 :ddm:values,
--       4 :ddm:errors, 5 :ddm:reports
-- ARGV: 1 op, then
--   declarations: -> {{Identifier, '<kind> <token>', ...},
--                     {Identifier, status JSON, ...}}
--   errors:       -> {JSON, ...} the 10 newest
--   values:       -> {path, JSON, ...}
--   report:       2 index (0 = newest) -> the stored report or false

local items, status, values, errors, reports = unpack(KEYS)
local op = ARGV[1]

if op == 'declarations' then
    return {redis.call('HGETALL', items), redis.call('HGETALL', status)}
end

if op == 'errors' then
    return redis.call('LRANGE', errors, 0, 9)
end

if op == 'values' then
    return redis.call('HGETALL', values)
end

if op == 'report' then
    return redis.call('LINDEX', reports, tonumber(ARGV[2]))
end

return {'err', 'unknown op'}
