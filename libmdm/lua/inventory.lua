-- An enrollment's inventory from a command result (docs/profiles.md), in
-- the enrollment's slot, written by mdm-worker; the worker parsed the
-- report (libmdm/inventory) and hands over JSON.
--
-- KEYS: 1 mdm:{<id>}:inv, 2 mdm:{<id>}:inv:apps, 3 mdm:{<id>}:inv:profiles,
--       4 mdm:{<id>}:prof
-- ARGV: 1 op, 2 now, then
--   facts:    3 RequestType, 4.. key, JSON value, ...      -> count stored
--   apps:     3 digest, 4 count, 5 the list as JSON        -> 1 changed, 0 not
--   profiles: 3 count, 4.. PayloadIdentifier, PayloadUUID, ...
--             -> {PayloadIdentifier, ...}: profiles of the desired state
--                the device had installed and lists no more (removed by
--                hand), now marked `missing` for the worker to queue again
-- A fact is stored as {"at": now, "value": <JSON>}.

local inv, apps, listed, prof = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op, now = ARGV[1], ARGV[2]

local function fact(name, json)
    return name, '{"at":' .. now .. ',"value":' .. json .. '}'
end

if op == 'facts' then
    local rtype, out = ARGV[3], {}
    for i = 4, #ARGV - 1, 2 do
        local k, v = fact(rtype .. '.' .. ARGV[i], ARGV[i + 1])
        out[#out + 1] = k
        out[#out + 1] = v
    end
    for i = 1, #out, 500 do
        redis.call('HSET', inv, unpack(out, i, math.min(i + 499, #out)))
    end
    return #out / 2
end

if op == 'apps' then
    local digest, count, list = ARGV[3], ARGV[4], ARGV[5]
    local old = redis.call('HGET', inv, 'InstalledApplicationList.digest')
    redis.call('HSET', inv,
               fact('InstalledApplicationList.digest', '"' .. digest .. '"'))
    redis.call('HSET', inv, fact('InstalledApplicationList.count', count))
    if old and string.find(old, '"' .. digest .. '"', 1, true) then
        return 0
    end
    redis.call('SET', apps, list)
    return 1
end

if op == 'profiles' then
    local count = ARGV[3]
    local have = {}
    redis.call('DEL', listed)
    for i = 4, #ARGV - 1, 2 do
        have[ARGV[i]] = true
        redis.call('HSET', listed, ARGV[i], ARGV[i + 1])
    end
    redis.call('HSET', inv, fact('ProfileList.count', count))
    local missing = {}
    local all = redis.call('HGETALL', prof)
    for i = 1, #all, 2 do
        local state, sha, uuid = string.match(all[i + 1],
                                              '^(%S+) (%S+) (%S+) %S+$')
        if state == 'installed' and not have[all[i]] then
            redis.call('HSET', prof, all[i],
                       'missing ' .. sha .. ' ' .. uuid .. ' ' .. now)
            missing[#missing + 1] = all[i]
        end
    end
    return missing
end

return {'err', 'unknown op'}
