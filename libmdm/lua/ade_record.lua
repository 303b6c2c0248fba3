-- Records the facts of a verified ADE MachineInfo, unless the operator
-- requires registered serials and this one is not registered: then nothing
-- is written. Both keys carry the serial's tag (one slot).
--
-- KEYS: 1 mdm:enroll:dev:{<serial>}, 2 mdm:enroll:known:{<serial>}
-- ARGV: 1 require_known ('1' or '0'), 2 now (unix s), 3 ttl (s),
--       4.. field, value pairs of facts
-- Returns 'ok' or 'unknown'.

local dev, known = KEYS[1], KEYS[2]

if ARGV[1] == '1' and redis.call('EXISTS', known) == 0 then
    return 'unknown'
end

redis.call('DEL', dev)
redis.call('HSET', dev, 'seen', ARGV[2], unpack(ARGV, 4))
redis.call('EXPIRE', dev, ARGV[3])

return 'ok'
