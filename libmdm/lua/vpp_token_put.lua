-- Stores an uploaded Apps and Books content token for a location
-- (PUT /v1/vpp/tokens/<location>); the worker validates it with Apple's
-- /client/config (status pending until then). A new upload replaces the
-- token and its notification secret and starts the location over.
--
-- KEYS: 1 mdm:vpp:{<location>}:token
-- ARGV: 1 location, 2 sToken (the file), 3 orgName, 4 expDate,
--       5 expires (unix s), 6 now, 7 notification secret
-- Returns 1 (new) or 0 (replaced).

local token = KEYS[1]
local stoken, org, exp_date, expires, now, secret = unpack(ARGV, 2, 7)
local existed = redis.call('EXISTS', token)

redis.call('DEL', token)
redis.call('HSET', token, 'stoken', stoken, 'org_name', org,
           'exp_date', exp_date, 'expires', expires, 'uploaded', now,
           'notify_secret', secret, 'status', 'pending')
return existed == 1 and 0 or 1
