-- An enrollment's profiles (docs/profiles.md), in the enrollment's slot:
-- the desired state the API materialises from the assignments, and the
-- outcome of the commands that carry it out.
--
-- KEYS: 1 mdm:{<id>}:prof, 2 mdm:{<id>}:enr
-- ARGV: 1 op, then
--   install: 2 PayloadIdentifier, 3 sha256, 4 CommandUUID, 5 now
--   remove:  2 PayloadIdentifier, 3 CommandUUID, 4 now
--            -> 1 the caller enqueues the command to this enrollment,
--               0 nothing to do (that version already pending or installed;
--               nothing to remove), or {'err', reason}
--   result:  2 CommandUUID, 3 Status, 4 now
--            -> the PayloadIdentifier whose command it was, or false
--   list:    -> {PayloadIdentifier, value, ...}
-- A value is '<state> <sha256> <CommandUUID> <unix s>'.

local prof, enr = KEYS[1], KEYS[2]
local op = ARGV[1]

local function parse(v)
    if not v then return nil end
    return string.match(v, '^(%S+) (%S+) (%S+) (%S+)$')
end

if op == 'install' or op == 'remove' then
    if redis.call('HEXISTS', enr, 'created') == 0 then
        return {'err', 'unknown enrollment'}
    end
    local ident = ARGV[2]
    local state, sha = parse(redis.call('HGET', prof, ident))
    if op == 'install' then
        local want, uuid, now = ARGV[3], ARGV[4], ARGV[5]
        -- one outstanding command per profile and device
        if sha == want and (state == 'pending' or state == 'installed') then
            return 0
        end
        redis.call('HSET', prof, ident,
                   'pending ' .. want .. ' ' .. uuid .. ' ' .. now)
        return 1
    end
    local uuid, now = ARGV[3], ARGV[4]
    if not state or state == 'removing' or state == 'removed' then
        return 0
    end
    redis.call('HSET', prof, ident,
               'removing ' .. sha .. ' ' .. uuid .. ' ' .. now)
    return 1
end

if op == 'result' then
    local uuid, status, now = ARGV[2], ARGV[3], ARGV[4]
    local all = redis.call('HGETALL', prof)
    for i = 1, #all, 2 do
        local state, sha, cmd = parse(all[i + 1])
        if cmd == uuid and (state == 'pending' or state == 'removing') then
            local new
            if status == 'Acknowledged' then
                new = (state == 'pending') and 'installed' or 'removed'
            elseif status == 'Error' or status == 'CommandFormatError' then
                new = 'failed'
            else
                return false            -- NotNow: it comes again
            end
            if new == 'removed' then
                redis.call('HDEL', prof, all[i])
            else
                redis.call('HSET', prof, all[i],
                           new .. ' ' .. sha .. ' ' .. uuid .. ' ' .. now)
            end
            return all[i]
        end
    end
    return false
end

if op == 'list' then
    return redis.call('HGETALL', prof)
end

return {'err', 'unknown op'}
