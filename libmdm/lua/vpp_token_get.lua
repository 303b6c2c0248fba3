-- A location's token state for the API (GET /v1/vpp/tokens/<location>),
-- without the secrets: the token fields and the counts of its assets,
-- queued jobs and pending events.
--
-- KEYS: 1 mdm:vpp:{<location>}:token
-- ARGV: 1 location
-- Returns false for an unknown location, else {field, value, ...}.

-- @include keys

local token, loc = KEYS[1], ARGV[1]
local all = redis.call('HGETALL', token)
if #all == 0 then
    return false
end

local out = {}
for i = 1, #all, 2 do
    if all[i] ~= 'stoken' and all[i] ~= 'notify_secret' then
        out[#out + 1] = all[i]
        out[#out + 1] = all[i + 1]
    end
end
out[#out + 1] = 'assets'
out[#out + 1] = tostring(redis.call('ZCARD', K.vpp_assets(loc)))
out[#out + 1] = 'jobs'
out[#out + 1] = tostring(redis.call('LLEN', K.vpp_jobs(loc)))
out[#out + 1] = 'events'
out[#out + 1] = tostring(redis.call('ZCARD', K.vpp_events(loc)))
return out
