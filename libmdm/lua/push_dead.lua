-- Marks an enrollment's push token dead after APNs refused it (410,
-- BadDeviceToken), but only if the token is still the one that was pushed:
-- a TokenUpdate may have brought a new one while the push was in flight.
--
-- KEYS: 1 enrollment hash
-- ARGV: 1 the pushed token, lowercase hex; 2 now (unix s)
-- Returns 1 when marked, 0 when the token has changed or is gone.

local token = redis.call('HGET', KEYS[1], 'token')
if not token then return 0 end

local hex = token:gsub('.', function(c)
    return string.format('%02x', c:byte())
end)
if hex ~= ARGV[1] then return 0 end

redis.call('HSET', KEYS[1], 'push_dead', ARGV[2])
return 1
