-- The per-enrollment states of one app of a location, for the API
-- (GET /v1/vpp/installs/<location>/<adamId>), and its asset fields.
--
-- KEYS: 1 mdm:vpp:{<location>}:token
-- ARGV: 1 location, 2 adamId
-- Returns false for an unknown location, else {asset fields, states}.

-- @include keys

local loc, adam = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 0 then
    return false
end
return {redis.call('HGETALL', K.vpp_asset(loc, adam)),
        redis.call('HGETALL', K.vpp_install(loc, adam))}
