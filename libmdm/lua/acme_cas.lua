-- One transition of an ACME state machine (libmdm/acme/mdm_acme_state.h):
-- the hash's guard field must hold the value the machine expects ('' for
-- a hash that does not exist yet, the creation of an account or order),
-- then the fields are written, in one step, so two requests racing over
-- the same order (two challenge posts, two finalizes) cannot both pass.
-- KEYS[1] mdm:acme:order:{<order>} or mdm:acme:acct:{<thumbprint>}
-- ARGV[1] unix time the hash expires at, 0 to leave its expiry alone
-- ARGV[2] guard field, ARGV[3] the value it must hold
-- ARGV[4..] field, value pairs to write
-- Returns {1} when written, {0, <current value or ''>} when not.
local cur = redis.call('HGET', KEYS[1], ARGV[2]) or ''
if cur ~= ARGV[3] then
    return {0, cur}
end
if #ARGV > 3 then
    redis.call('HSET', KEYS[1], unpack(ARGV, 4))
end
if ARGV[1] ~= '0' then
    redis.call('EXPIREAT', KEYS[1], ARGV[1])
end
return {1}
