-- The index of enrollment links for listing (GET /v1/enroll/tokens), in its
-- own call: the links themselves live in one slot each. Expired entries are
-- pruned on every write, so the index is bounded by the links alive.
--
-- KEYS: 1 mdm:enroll:index
-- ARGV: 1 now (unix s), 2 'add' | 'del', 3 token, 4 expires (for 'add')
-- Returns the number of entries left.

local index = KEYS[1]
local now, op, token, expires = unpack(ARGV, 1, 4)

redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. now)

if op == 'add' then
    redis.call('ZADD', index, expires, token)
else
    redis.call('ZREM', index, token)
end

return redis.call('ZCARD', index)
