-- The worker's lease on a location: taken if free, renewed if its own.
--
-- KEYS: 1 mdm:vpp:{<location>}:lease
-- ARGV: 1 worker name, 2 lease (ms)
-- Returns 1 if the caller holds the lease.

local lease, name, ms = KEYS[1], ARGV[1], ARGV[2]
if redis.call('SET', lease, name, 'NX', 'PX', ms) then
    return 1
end
if redis.call('GET', lease) == name then
    redis.call('PEXPIRE', lease, ms)
    return 1
end
return 0
