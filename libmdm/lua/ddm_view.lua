-- An enrollment's view of its declarations, materialised by the API from
-- the items of its sets (ddm_set.lua), in the enrollment's slot: what the
-- device endpoints answer from in one call. The module renders the
-- DeclarationItemsResponse and computes its DeclarationsToken
-- (libmdm/ddm/mdm_ddm_document.h) once per change, so that a device's
-- declaration-items costs one HGET, not a rendering.
--
-- KEYS: 1 mdm:{<id>}:ddm:items, 2 mdm:{<id>}:ddm
-- ARGV: 1 now, 2 DeclarationsToken, 3 the DeclarationItemsResponse,
--       4 notify ('1': the caller sends a DeclarativeManagement command to
--       what this marks; '0': nonotify, nothing is marked, as no command
--       would clear the mark), 5.. Identifier, '<kind> <ServerToken>', ...
--       (each Identifier once)
-- Returns 0 (token unchanged), 1 (changed, a command is already pending,
-- or nonotify) or 2 (changed, and the enrollment is now marked for a
-- DeclarativeManagement command: the caller enqueues one).

local items, view = KEYS[1], KEYS[2]
local now, token, doc, notify = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local old = redis.call('HMGET', view, 'token', 'doc')
if old[1] == token and old[2] then
    return 0
end

redis.call('DEL', items)
for i = 5, #ARGV, 1000 do
    redis.call('HSET', items, unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('HSET', view, 'token', token, 'doc', doc)

-- a view written again with the same token (a layout without `doc`) is
-- no change the device must hear of
if old[1] == token then
    return 0
end
redis.call('HSET', view, 'ts', now)

if notify == '1' and redis.call('HSETNX', view, 'notify', now) == 1 then
    return 2
end
return 1
