-- The known-serials registry (PUT/GET/DELETE /v1/enroll/devices/<serial>),
-- which an operator fills until device assignment exists.
--
-- KEYS: 1 mdm:enroll:known:{<serial>}, 2 mdm:enroll:dev:{<serial>}
-- ARGV: 1 'put' | 'get' | 'del', 2 now (unix s)
-- put: 1 (created) or 0 (already registered: kept as it was);
-- del: 1 or 0 (absent); get: {registered, {facts...}} or false.

local known, dev = KEYS[1], KEYS[2]
local op = ARGV[1]

if op == 'put' then
    return redis.call('HSETNX', known, 'registered', ARGV[2])
end

if op == 'del' then
    return redis.call('DEL', known)
end

if redis.call('EXISTS', known) == 0 then
    return false
end

return {redis.call('HGET', known, 'registered'), redis.call('HGETALL', dev)}
