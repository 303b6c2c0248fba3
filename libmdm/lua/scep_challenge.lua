-- Consumes a one-time challenge (SCEP, or the OTA phase-1 one of
-- mdm:enroll:ota:{<challenge>}): its fields, and it is gone, in one
-- step, so two requests with the same challenge cannot both pass.
-- KEYS[1] mdm:scep:chal:{<challenge>}
-- Returns the hash as a flat field/value array, empty when the challenge is
-- unknown, expired (TTL) or was used already.
local h = redis.call('HGETALL', KEYS[1])
if #h > 0 then
    redis.call('DEL', KEYS[1])
end
return h
