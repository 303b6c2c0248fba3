-- A renewal that failed after its claim (worker/renew.c): counts the
-- failure on the issuance record and schedules the next attempt with an
-- exponential backoff, base * 2^(failures - 1) capped at max, until
-- `attempts` failures; then the claim stays and nothing is retried (the
-- operator's HDEL of renew_queued starts over, docs/ade.md).
--
-- KEYS: 1 mdm:ca:cert:{<sha256 hex>}
-- ARGV: 1 now (unix s), 2 base (s), 3 max (s), 4 attempts, 5 why
-- Returns {failures, delay (s)}; delay -1 when given up.

local rec = KEYS[1]
local now, base, max, attempts = tonumber(ARGV[1]), tonumber(ARGV[2]),
                                 tonumber(ARGV[3]), tonumber(ARGV[4])

if redis.call('EXISTS', rec) == 0 then
    return {0, -1}
end

local failures = redis.call('HINCRBY', rec, 'renew_failures', 1)
redis.call('HSET', rec, 'renew_error', ARGV[5], 'renew_failed_at', now)

if failures >= attempts then
    redis.call('HDEL', rec, 'renew_retry_at')
    return {failures, -1}
end

local delay = math.min(base * 2 ^ (failures - 1), max)
redis.call('HSET', rec, 'renew_retry_at', now + delay)

return {failures, delay}
