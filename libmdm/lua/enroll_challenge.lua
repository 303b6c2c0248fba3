-- Stores a one-time SCEP challenge for an enrollment profile being served
-- (GET of the profile, an ADE request, an identity renewal). mdm_scep
-- consumes it (HGETALL + DEL) when the device's PKCSReq arrives; until then
-- it expires on its own.
--
-- KEYS: 1 mdm:scep:chal:{<challenge>}
-- ARGV: 1 created, 2 expires (unix s), 3 user, 4 link (token), 5 udid,
--       6 serial, 7 renew (enrollment ID; '' = not a renewal),
--       8 tags (the link's, a JSON array; '' or absent = none)
-- Returns 1, or 0 when the challenge exists already (never overwritten).

local chal = KEYS[1]
local created, expires, user, link, udid, serial, renew, tags =
      unpack(ARGV, 1, 8)

if redis.call('EXISTS', chal) == 1 then
    return 0
end

redis.call('HSET', chal, 'created', created, 'expires', expires,
           'user', user, 'link', link, 'udid', udid, 'serial', serial)

if renew ~= '' then
    redis.call('HSET', chal, 'renew', renew)
end

if tags and tags ~= '' and tags ~= '[]' then
    redis.call('HSET', chal, 'tags', tags)
end

redis.call('EXPIREAT', chal, expires)

return 1
