-- Records one issued certificate (mdm:ca:cert:{<sha>}); the serial lookup
-- and the index are other slots and are written by their own calls.
-- KEYS[1] mdm:ca:cert:{<sha256 hex>}
-- ARGV[1] unix time the record expires (not_after + retention)
-- ARGV[2..] field, value pairs
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return 1
