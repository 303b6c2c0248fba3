-- Adds a certificate to (or removes it from) the revoked set the nginx
-- workers refresh, and prunes what has expired, so the set stays as small
-- as the revocations still in force.
-- KEYS[1] mdm:ca:revoked
-- ARGV[1] "revoke" | "unrevoke", ARGV[2] sha256 hex, ARGV[3] its not_after,
-- ARGV[4] now (unix s)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4])
if ARGV[1] == 'revoke' then
    if tonumber(ARGV[3]) >= tonumber(ARGV[4]) then
        redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
    end
else
    redis.call('ZREM', KEYS[1], ARGV[2])
end
return redis.call('ZCARD', KEYS[1])
