-- Queues one APNs push job per enrollment for the workers (the push API).
-- Only enrollments that can be pushed get a job; an ID named twice in one
-- call is pushed once.
--
-- KEYS: 1 push stream
-- ARGV: enrollment IDs
-- Returns one outcome per ID, in ARGV order: 'queued' or the reason the ID
-- was not pushed.

-- @include keys

local push = KEYS[1]
local out = {}
local seen = {}

for i = 1, #ARGV do
    local id = ARGV[i]
    if seen[id] then
        out[i] = seen[id]
    else
        local enr = K.enr(id)
        local state = redis.call('HMGET', enr, 'enabled', 'token',
                                 'push_dead')
        if redis.call('EXISTS', enr) == 0 then
            out[i] = 'unknown enrollment'
        elseif state[1] ~= '1' then
            out[i] = 'enrollment is not enabled'
        elseif not state[2] or state[2] == '' then
            out[i] = 'enrollment has no push token'
        elseif state[3] then
            out[i] = 'push token was rejected by APNs'
        else
            redis.call('XADD', push, '*', 'id', id)
            out[i] = 'queued'
        end
        seen[id] = out[i]
    end
end

return out
