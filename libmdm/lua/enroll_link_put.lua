-- Stores a one-time enrollment link (POST /v1/enroll/tokens). The key
-- outlives the link's expiry by `keep` seconds so that a late click is told
-- 410 (expired) rather than 403 (unknown).
--
-- KEYS: 1 mdm:enroll:link:{<token>}
-- ARGV: 1 created, 2 expires (unix s), 3 user, 4 tags (JSON array),
--       5 keep (s)
-- Returns 1, or 0 when the token exists already.

local link = KEYS[1]
local created, expires, user, tags, keep = unpack(ARGV, 1, 5)

if redis.call('EXISTS', link) == 1 then
    return 0
end

redis.call('HSET', link, 'created', created, 'expires', expires,
           'user', user, 'tags', tags)
redis.call('EXPIREAT', link, tonumber(expires) + tonumber(keep))

return 1
