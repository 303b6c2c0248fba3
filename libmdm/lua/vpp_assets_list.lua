-- A page of a location's synced assets for the API (GET /v1/vpp/assets/
-- <location>): adamIds in order, each with its fields.
--
-- KEYS: 1 mdm:vpp:{<location>}:token
-- ARGV: 1 location, 2 offset, 3 limit
-- Returns false for an unknown location, else {total, adamId, {fields},
-- adamId, {fields}, ...}.

-- @include keys

local loc, offset, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 0 then
    return false
end
local index = K.vpp_assets(loc)
local out = {redis.call('ZCARD', index)}
for _, adam in ipairs(redis.call('ZRANGE', index, offset, offset + limit - 1)) do
    out[#out + 1] = adam
    out[#out + 1] = redis.call('HGETALL', K.vpp_asset(loc, adam))
end
return out
