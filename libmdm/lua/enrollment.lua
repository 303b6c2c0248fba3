-- One enrollment for the inspection API: its hash, its user channels and the
-- length of its queue, read at once (all three keys are in its slot).
-- Secrets are not shipped: unlock_token and bootstrap_token come back as '1'
-- when present.
--
-- KEYS: 1 enrollment hash, 2 user-channel set (the queue of the
--       enrollment's generation is in their slot)
-- ARGV: 1 enrollment ID
-- Returns {} for an unknown enrollment, else {field/value pairs, user-channel
-- IDs, queue length}.

-- @include keys
-- @include queue

local enr, users = unpack(KEYS)

if redis.call('EXISTS', enr) == 0 then
    return {}
end

local secret = { unlock_token = true, bootstrap_token = true }
local fields = redis.call('HGETALL', enr)

for i = 1, #fields, 2 do
    if secret[fields[i]] then
        fields[i + 1] = '1'
    end
end

local id = ARGV[1]
return {fields, redis.call('SMEMBERS', users),
        redis.call('LLEN', queue_of(id, enr))}
