-- One page of GET /assets into the location's catalogue (the worker's
-- sync); with done = 1, assets no page of this sync named are removed
-- and the sync is recorded.
--
-- KEYS: 1 mdm:vpp:{<location>}:token
-- ARGV: 1 location, 2 sync start (unix s), 3 done (1|0), then per asset
--       10 values: adamId, pricing, product_type, total, assigned,
--       available, retired, device_assignable, revocable, platforms
-- Returns the number of assets written.

-- @include keys

local token = KEYS[1]
local loc, started, done = ARGV[1], ARGV[2], ARGV[3]
local index = K.vpp_assets(loc)
local n = 0

for i = 4, #ARGV - 9, 10 do
    local adam = ARGV[i]
    redis.call('HSET', K.vpp_asset(loc, adam), 'pricing', ARGV[i + 1],
               'product_type', ARGV[i + 2], 'total', ARGV[i + 3],
               'assigned', ARGV[i + 4], 'available', ARGV[i + 5],
               'retired', ARGV[i + 6], 'device_assignable', ARGV[i + 7],
               'revocable', ARGV[i + 8], 'platforms', ARGV[i + 9],
               'synced', started)
    redis.call('ZADD', index, started, adam)
    n = n + 1
end

if done == '1' then
    local gone = redis.call('ZRANGEBYSCORE', index, '-inf', '(' .. started)
    for _, adam in ipairs(gone) do
        redis.call('DEL', K.vpp_asset(loc, adam))
    end
    redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. started)
    redis.call('HSET', token, 'synced', started)
end
return n
