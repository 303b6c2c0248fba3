-- One page of a Device Assignment fetch or sync (worker/dep.c), stored
-- with the cursor that follows it in one call, so that a worker killed
-- between pages resumes from the page it had stored, and none is stored
-- twice: the page applies only if the stored cursor is still the one the
-- request was sent with (another worker may have taken over).
--
-- The same device may come several times (Apple's sync); a record is
-- replaced only by one with an op_date at least as late. Fetch records
-- have no op_date ('') and are the state at fetch time: they replace what
-- is stored unless a later sync op is there. A deleted device leaves its
-- op_date as field '-<serial>' so that an older duplicate does not bring
-- it back.
--
-- KEYS: 1 mdm:dep:{<name>}:cursor, 2 mdm:dep:{<name>}:devices
-- ARGV: 1 the cursor sent ('' for none), 2 the cursor received, 3 phase
--       after this page ('fetch' or 'sync'), 4 now (unix s),
--       then per device: serial, op_type ('' in a fetch), op_date, JSON
-- Returns {stored (1|0), applied, skipped as older, devices now}.

local cur, devs = KEYS[1], KEYS[2]
local sent = ARGV[1]

if (redis.call('HGET', cur, 'cursor') or '') ~= sent then
    return {0, 0, 0, redis.call('HGET', cur, 'devices') or 0}
end

local function stored_date(serial)
    local rec = redis.call('HGET', devs, serial)
    local d = rec and string.match(rec, '^(%S*) ') or ''
    local gone = redis.call('HGET', devs, '-' .. serial) or ''
    return (gone > d) and gone or d
end

local n = tonumber(redis.call('HGET', cur, 'devices') or '0')
local applied, skipped = 0, 0
for i = 5, #ARGV, 4 do
    local serial, op, date, json = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    if date ~= '' and date < stored_date(serial) then
        skipped = skipped + 1
    elseif op == 'deleted' then
        n = n - redis.call('HDEL', devs, serial)
        redis.call('HSET', devs, '-' .. serial, date)
        applied = applied + 1
    else
        n = n + redis.call('HSET', devs, serial, date .. ' ' .. json)
        redis.call('HDEL', devs, '-' .. serial)
        applied = applied + 1
    end
end

redis.call('HSET', cur, 'cursor', ARGV[2], 'phase', ARGV[3], 'updated', ARGV[4],
           'devices', n)
redis.call('HINCRBY', cur, 'pages', 1)
return {1, applied, skipped, n}
