-- One notification Apple POSTed to mdm_vpp_notify for a location: the
-- Bearer must be the location's notificationAuthToken; a notificationId
-- seen before is acknowledged and not written again (Apple retries and
-- duplicates). It is kept in the location's stream, and a pending event
-- it names is polled at once instead of at its next scheduled poll.
--
-- KEYS: 1 mdm:vpp:{<location>}:token
-- ARGV: 1 location, 2 Bearer value, 3 notificationId, 4 notificationType,
--       5 eventId ('' = none), 6 body, 7 now
-- Returns 'ok', 'duplicate', 'denied' or 'unknown'.

-- @include keys

local token = KEYS[1]
local loc, bearer, id, ntype, event, body, now = unpack(ARGV, 1, 7)

local secret = redis.call('HGET', token, 'notify_secret')
if not secret then
    return 'unknown'
end
if secret ~= bearer then
    return 'denied'
end

local seen = K.vpp_notified(loc)
redis.call('ZREMRANGEBYSCORE', seen, '-inf', tonumber(now) - 86400)
if redis.call('ZADD', seen, 'NX', now, id) == 0 then
    return 'duplicate'
end
redis.call('XADD', K.vpp_notify(loc), 'MAXLEN', '~', 10000, '*',
           'id', id, 'type', ntype, 'event', event, 'body', body)
if event ~= '' then
    redis.call('ZADD', K.vpp_events(loc), 'XX', now, event)
end
return 'ok'
