-- Lists a location for the workers (after vpp_token_put.lua, in its own
-- call: the list is global, the token is the location's).
--
-- KEYS: 1 mdm:vpp:locations
-- ARGV: 1 location
-- Returns 1 if it was new.

return redis.call('SADD', KEYS[1], ARGV[1])
