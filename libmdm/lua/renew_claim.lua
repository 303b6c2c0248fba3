-- Claims the renewal of one certificate for this worker (worker/renew.c):
-- once per certificate, whatever the number of workers, except that a
-- renewal that failed may be claimed again once its backoff has passed
-- (renew_backoff.lua wrote renew_retry_at).
--
-- KEYS: 1 mdm:ca:cert:{<sha256 hex>} (the issuance record)
-- ARGV: 1 now (unix s)
-- Returns 1 when claimed, 0 when queued already or still backing off.

local rec = KEYS[1]
local now = tonumber(ARGV[1])

if redis.call('EXISTS', rec) == 0 then
    return 0
end

if redis.call('HEXISTS', rec, 'renew_queued') == 1 then
    local retry = tonumber(redis.call('HGET', rec, 'renew_retry_at'))
    if not retry or retry > now then
        return 0
    end
    redis.call('HDEL', rec, 'renew_retry_at')
end

redis.call('HSET', rec, 'renew_queued', now)

return 1
