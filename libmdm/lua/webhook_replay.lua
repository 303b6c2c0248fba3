-- Moves dead letters of one webhook back to its retry stream, which only
-- that webhook's consumer group reads (XADD to mdm:events would deliver
-- them again to every webhook). The dead letter's own fields go along
-- except its error and attempt count; event_id stays the original one so
-- that receivers can recognise a redelivery.
--
-- KEYS: 1 mdm:webhook:dead:<name>, 2 mdm:webhook:retry:<name>
-- ARGV: 1 entry ID of one dead letter ('' for all), 2 most to move
-- Returns the number moved.

local dead, retry = KEYS[1], KEYS[2]
local only, most = ARGV[1], tonumber(ARGV[2])

local function move(entry)
    local fields = {}
    local f = entry[2]
    for i = 1, #f, 2 do
        if f[i] ~= 'error' and f[i] ~= 'attempts' then
            fields[#fields + 1] = f[i]
            fields[#fields + 1] = f[i + 1]
        end
    end
    redis.call('XADD', retry, '*', unpack(fields))
    redis.call('XDEL', dead, entry[1])
end

if only ~= '' then
    local found = redis.call('XRANGE', dead, only, only)
    if #found == 0 then return 0 end
    move(found[1])
    return 1
end

local moved = 0
while moved < most do
    local batch = redis.call('XRANGE', dead, '-', '+', 'COUNT',
                             math.min(100, most - moved))
    if #batch == 0 then break end
    for _, entry in ipairs(batch) do
        move(entry)
        moved = moved + 1
    end
end
return moved
