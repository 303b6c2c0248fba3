-- Identity renewal (docs/ade.md): binds an enrollment to the certificate
-- our CA issued to renew it, once the module has checked the issuance
-- record (its own call: mdm:ca:cert:{<sha>} is in another slot). The
-- previous certificate stays accepted until `until` (check_binding).
--
-- KEYS: 1 mdm:{<id>}:enr
-- ARGV: 1 new certificate SHA-256, 2 until (unix s)
-- Returns the previous certificate's SHA-256, '' when it was this one
-- already, or false for an unknown enrollment or one without a binding.

local enr = KEYS[1]
local new, until_ = ARGV[1], ARGV[2]

local old = redis.call('HGET', enr, 'cert')
if not old then
    return false
end
if old == new then
    return ''
end

redis.call('HSET', enr, 'cert', new, 'cert_prev', old,
           'cert_prev_until', until_)
return old
