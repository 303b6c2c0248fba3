-- Spends a one-time enrollment link as its profile is downloaded: the first
-- download marks it `used`, every later one (and one after `expires`) is
-- refused. The key stays until its TTL so that a replay is told 410.
--
-- KEYS: 1 mdm:enroll:link:{<token>}
-- ARGV: 1 now (unix s)
-- Returns {'ok', user, tags} or {'err', 'unknown' | 'used' | 'expired'}.

local link = KEYS[1]
local now = tonumber(ARGV[1])
local h = redis.call('HMGET', link, 'expires', 'used', 'user', 'tags')

if not h[1] then
    return {'err', 'unknown'}
end

if h[2] then
    return {'err', 'used'}
end

if (tonumber(h[1]) or 0) <= now then
    return {'err', 'expired'}
end

redis.call('HSET', link, 'used', now)

return {'ok', h[3] or '', h[4] or '[]'}
