-- Assigns an app of a location to enrollments, or takes it back
-- (POST /v1/vpp/assign|unassign/<location>): checks the location and the
-- asset, marks each enrollment's state and queues the job for the worker,
-- which associates the licences and then queues InstallApplication. A
-- refusal stores nothing.
--
-- KEYS: 1 mdm:vpp:{<location>}:token
-- ARGV: 1 location, 2 op (assign|unassign), 3 adamId, 4 now,
--       5.. enrollment IDs
-- Returns {'ok', n} or {'err', http status, reason}.

-- @include keys

local token = KEYS[1]
local loc, op, adam, now = unpack(ARGV, 1, 4)

local status = redis.call('HGET', token, 'status')
if not status then
    return {'err', '404', 'unknown location'}
end
if status ~= 'ok' and status ~= 'pending' then
    local why = redis.call('HGET', token, 'error') or ''
    return {'err', '409', 'the location is stopped: token ' .. status
                          .. (why ~= '' and (': ' .. why) or '')}
end

local asset = K.vpp_asset(loc, adam)
local a = redis.call('HMGET', asset, 'pricing', 'device_assignable')
if not a[1] then
    return {'err', '404', 'unknown adamId ' .. adam
                          .. ' (not among the location\'s synced assets)'}
end
if op == 'assign' and a[2] ~= '1' then
    return {'err', '409', 'adamId ' .. adam .. ' is not device-assignable'}
end

local install = K.vpp_install(loc, adam)
local ids = {}
for i = 5, #ARGV do
    local id = ARGV[i]
    ids[#ids + 1] = id
    local state = op == 'assign' and 'pending' or 'unassigning'
    local serial = ''
    local old = redis.call('HGET', install, id)
    if old then
        serial = string.match(old, '^%S+ (%S+)') or ''
    elseif op == 'unassign' then
        state = nil
    end
    if state then
        redis.call('HSET', install, id, state .. ' ' .. serial)
    end
end

redis.call('RPUSH', K.vpp_jobs(loc), cjson.encode({
    op = op, adamId = adam, pricing = a[1], ids = ids, at = tonumber(now)
}))
return {'ok', #ids}
