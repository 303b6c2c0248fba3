-- Moves dead letters of one webhook back to its retry stream, which only
-- that webhook's consumer group reads (XADD to mdm:events would deliver
-- them again to every webhook). The dead letter's own fields go along
-- except its error and attempt count; event_id stays the original one so
-- that receivers can recognise a redelivery. An entry with no other field
-- has nothing to deliver: it is deleted, not moved.
--
-- "All" is the dead letters there at the first call, at most `most` per
-- call so that Redis is not held: the first call finds the newest ID and
-- returns it, the caller calls again with it until it gets ''.
--
-- KEYS: 1 mdm:webhook:dead:<name>, 2 mdm:webhook:retry:<name>
-- ARGV: 1 entry ID of one dead letter ('' for all), 2 most to move,
--       3 newest entry ID to move ('' at the first call)
-- Returns {number moved, newest entry ID to call again with, or ''}.

local dead, retry = KEYS[1], KEYS[2]
local only, most, newest = ARGV[1], tonumber(ARGV[2]), ARGV[3]

local function move(entry)
    local fields = {}
    local f = entry[2]
    for i = 1, #f, 2 do
        if f[i] ~= 'error' and f[i] ~= 'attempts' then
            fields[#fields + 1] = f[i]
            fields[#fields + 1] = f[i + 1]
        end
    end
    if #fields > 0 then
        redis.call('XADD', retry, '*', unpack(fields))
    end
    redis.call('XDEL', dead, entry[1])
    return #fields > 0 and 1 or 0
end

if only ~= '' then
    local found = redis.call('XRANGE', dead, only, only)
    if #found == 0 then return {0, ''} end
    return {move(found[1]), ''}
end

if newest == '' then
    local last = redis.call('XREVRANGE', dead, '+', '-', 'COUNT', 1)
    if #last == 0 then return {0, ''} end
    newest = last[1][1]
end

local batch = redis.call('XRANGE', dead, '-', newest, 'COUNT', most)
local moved = 0
for _, entry in ipairs(batch) do
    moved = moved + move(entry)
end
if #batch < most then
    newest = ''
end
return {moved, newest}
