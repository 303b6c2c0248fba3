-- Revokes (or lifts the revocation of) one issued certificate; the module
-- then adds it to (removes it from) mdm:ca:revoked in its own call.
-- KEYS[1] mdm:ca:cert:{<sha256 hex>}
-- ARGV[1] "revoke" | "unrevoke", ARGV[2] now (unix s)
-- Returns the certificate's not_after, 0 when there is no such record.
local not_after = redis.call('HGET', KEYS[1], 'not_after')
if not not_after then
    return 0
end
if ARGV[1] == 'revoke' then
    if redis.call('HEXISTS', KEYS[1], 'revoked') == 0 then
        redis.call('HSET', KEYS[1], 'revoked', ARGV[2])
    end
else
    redis.call('HDEL', KEYS[1], 'revoked')
end
return tonumber(not_after)
