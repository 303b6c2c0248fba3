-- The lease that lets one worker sync one Device Assignment token
-- (worker/dep.c): taken when free, extended by its holder, never taken
-- from another worker before it expires. Adding workers therefore never
-- duplicates calls to Apple.
--
-- KEYS: 1 mdm:dep:{<name>}:lease
-- ARGV: 1 worker name, 2 lease (ms), 3 op: 'take' or 'drop'
-- Returns 1 when this worker holds the lease (take) or gave it up (drop).

local lease = KEYS[1]
local me, ms, op = ARGV[1], ARGV[2], ARGV[3]
local holder = redis.call('GET', lease)

if op == 'drop' then
    if holder == me then
        redis.call('DEL', lease)
        return 1
    end
    return 0
end

if holder == me then
    redis.call('PEXPIRE', lease, ms)
    return 1
end
if holder then
    return 0
end
redis.call('SET', lease, me, 'PX', ms)
return 1
