-- Stores an APNs push certificate (PUT /v1/pushcert). Workers reload a
-- topic's certificate when `updated` changes, so a replacement within the
-- same second still moves it forward.
--
-- KEYS: 1 mdm:pushcert:<topic>
-- ARGV: 1 certificate PEM, 2 key PEM, 3 not_after (unix s), 4 now (unix s)
-- Returns the new `updated`.

local old = tonumber(redis.call('HGET', KEYS[1], 'updated') or '0') or 0
local updated = tonumber(ARGV[4])

if updated <= old then
    updated = old + 1
end

redis.call('HSET', KEYS[1], 'cert', ARGV[1], 'key', ARGV[2],
           'not_after', ARGV[3], 'updated', updated)

return updated
