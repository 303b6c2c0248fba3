-- An enrollment's view of its declarations, materialised by the API from
-- the items of its sets (ddm_set.lua), in the enrollment's slot: what the
-- device endpoints answer from in one call.
--
-- DeclarationsToken = SHA-1 hex over '<Identifier>\n<ServerToken>\n' of
-- every item sorted by the Identifier's bytes (libmdm/ddm/mdm_ddm_token.h;
-- Lua's '<' on strings follows the locale's collation, so the sort compares
-- bytes itself).
--
-- KEYS: 1 mdm:{<id>}:ddm:items, 2 mdm:{<id>}:ddm
-- ARGV: 1 now, 2 notify ('1': the caller sends a DeclarativeManagement
-- command to what this marks; '0': nonotify, nothing is marked, as no
-- command would clear the mark), 3.. Identifier, '<kind> <ServerToken>', ...
-- Returns 0 (token unchanged), 1 (changed, a command is already pending,
-- or nonotify) or 2 (changed, and the enrollment is now marked for a
-- DeclarativeManagement command: the caller enqueues one).

local items, view = KEYS[1], KEYS[2]
local now, notify = ARGV[1], ARGV[2]

local function bytes_lt(a, b)
    local n = math.min(#a, #b)
    for i = 1, n do
        local x, y = string.byte(a, i), string.byte(b, i)
        if x ~= y then return x < y end
    end
    return #a < #b
end

local ids, value = {}, {}
for i = 3, #ARGV - 1, 2 do
    if not value[ARGV[i]] then ids[#ids + 1] = ARGV[i] end
    value[ARGV[i]] = ARGV[i + 1]
end
table.sort(ids, bytes_lt)

local input = {}
for _, id in ipairs(ids) do
    local token = string.match(value[id], ' (.*)$')
    input[#input + 1] = id .. '\n' .. token .. '\n'
end
local token = redis.sha1hex(table.concat(input))

if redis.call('HGET', view, 'token') == token then
    return 0
end

redis.call('DEL', items)
for i = 1, #ids, 500 do
    local chunk = {}
    for j = i, math.min(i + 499, #ids) do
        chunk[#chunk + 1] = ids[j]
        chunk[#chunk + 1] = value[ids[j]]
    end
    redis.call('HSET', items, unpack(chunk))
end
redis.call('HSET', view, 'token', token, 'ts', now)

if notify == '1' and redis.call('HSETNX', view, 'notify', now) == 1 then
    return 2
end
return 1
