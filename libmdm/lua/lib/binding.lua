-- Certificate binding (protocol.md §4.3), inlined into the scripts that
-- say "-- @include binding" by tools/embed-lua.sh. Every message but
-- Authenticate must come with the certificate bound to its device; in
-- 'retro' mode an enrollment that has no binding yet (migrated from another
-- server) is bound to the certificate of its next message.
-- After an identity renewal (rebind.lua) the previous certificate is
-- accepted until cert_prev_until; the including script defines `now`.
-- Returns nil, or why the message is refused.
local function check_binding(bind_enr, cert_key, bind_id, sha, mode)
    if sha == '' then return nil end
    local bound = redis.call('HGET', bind_enr, 'cert')
    if bound == sha then return nil end
    if bound then
        local prev = redis.call('HMGET', bind_enr, 'cert_prev',
                                'cert_prev_until')
        if prev[1] == sha and tonumber(prev[2] or 0) >= tonumber(now) then
            return nil
        end
        return 'certificate does not match the one bound to the enrollment'
    end
    if redis.call('EXISTS', bind_enr) == 0 then
        return 'unknown enrollment'
    end
    if mode ~= 'retro' then
        return 'enrollment has no bound certificate'
    end
    local owner = redis.call('GET', cert_key)
    if owner and owner ~= bind_id then
        return 'certificate is bound to another enrollment'
    end
    redis.call('HSET', bind_enr, 'cert', sha)
    redis.call('SET', cert_key, bind_id)
    return nil
end
