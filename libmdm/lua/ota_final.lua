-- OTA phase 3 (ngx_http_mdm_enroll_ota.c): the device signed its request
-- with the identity our SCEP CA issued in phase 2. That certificate's
-- issuance record says whom it was for; it serves one final profile.
--
-- KEYS: 1 mdm:ca:cert:{<sha256 hex of the signer>}
-- ARGV: 1 now (unix s), 2 the request's UDID
-- Returns {'ok', user, link, tags, udid, serial_number} or {'err', why};
-- nothing changes on a refusal.

local rec = KEYS[1]
local now, udid = tonumber(ARGV[1]), ARGV[2]
local h = redis.call('HMGET', rec, 'not_after', 'revoked', 'udid',
                     'ota_final', 'user', 'link', 'tags', 'serial_number')

if not h[1] then
    return {'err', 'signer is neither an Apple device identity nor one our CA issued'}
end
if h[2] then
    return {'err', 'signer certificate is revoked'}
end
if (tonumber(h[1]) or 0) <= now then
    return {'err', 'signer certificate has expired'}
end
if h[3] and h[3] ~= '' and h[3] ~= udid then
    return {'err', 'UDID is not the one the certificate was issued to'}
end
if h[4] then
    return {'err', 'this identity has had its final profile already'}
end

redis.call('HSET', rec, 'ota_final', now)

return {'ok', h[5] or '', h[6] or '', h[7] or '', h[3] or '', h[8] or ''}
