-- One DeclarativeManagement check-in (protocol.md §6), in the enrollment's
-- slot, after the same certificate binding check as every check-in: the
-- enrollment's view for tokens, declaration-items and declaration/…, or a
-- status report stored. A declaration's body is fetched by the module in a
-- call of its own (the catalogue's slot), once this says the device may
-- have it.
--
-- KEYS: 1 enrollment hash, 2 hash holding the binding (the device's, also
--       for a user channel), 3 mdm:cert:<sha>, 4 mdm:{<id>}:ddm:items,
--       5 mdm:{<id>}:ddm, 6 :ddm:status, 7 :ddm:values, 8 :ddm:errors,
--       9 :ddm:reports, 10 events stream
-- ARGV: 1 op (tokens|items|declaration|status), 2 enrollment ID, 3 the
--       binding's enrollment ID, 4 certificate SHA-256 ('' when binding is
--       off), 5 binding mode (on|retro), 6 now, then
--   declaration: 7 kind, 8 Identifier
--   status: 7 raw report line, 8 history bound, 9 full report (1|0),
--       10 event (msgpack, '' for none), 11 events MAXLEN, 12 number of
--       declaration entries, 13 number of values, then the declaration
--       entries (Identifier, JSON | '' removed), the values (path, JSON |
--       '' removed), the errors (JSON)
-- Returns {'err', reason}, or {'ok', ...}: tokens {token, ts, ''}; items
-- {token, ts, the DeclarationItemsResponse ddm_view.lua stored ('' when
-- there is no view)}; declaration {'<token>'} or {''} when not assigned;
-- status {}.

local enr, bind_enr, cert_key, items, view, status, values, errors,
      reports, events = unpack(KEYS)
local op, id, bind_id, sha, mode, now = unpack(ARGV, 1, 6)

-- @include binding

local err = check_binding(bind_enr, cert_key, bind_id, sha, mode)
if err then return {'err', err} end
if redis.call('EXISTS', enr) == 0 then
    return {'err', 'unknown enrollment'}
end

redis.call('HSET', enr, 'last_seen', now)

if op == 'tokens' or op == 'items' then
    local v = redis.call('HMGET', view, 'token', 'ts',
                         op == 'items' and 'doc' or 'ts')
    redis.call('HDEL', view, 'notify')
    return {'ok', v[1] or '', v[2] or '0', op == 'items' and v[3] or ''}
end

if op == 'declaration' then
    local item = redis.call('HGET', items, ARGV[8])
    if not item then return {'ok', ''} end
    local kind, token = string.match(item, '^(%S+) (.*)$')
    if kind ~= ARGV[7] then return {'ok', ''} end
    return {'ok', token}
end

if op ~= 'status' then
    return {'err', 'unknown op'}
end

-- a status report from an enrollment that was never given declarations
if redis.call('HEXISTS', view, 'token') == 0 then
    return {'err', 'enrollment is not DDM-enabled'}
end

local raw, history, full, event, maxlen = unpack(ARGV, 7, 11)
local nd, nv = tonumber(ARGV[12]), tonumber(ARGV[13])

if full == '1' then
    redis.call('DEL', status, values)
end

local function apply(hash, first, n)
    for i = first, first + 2 * n - 1, 2 do
        if ARGV[i + 1] == '' then
            redis.call('HDEL', hash, ARGV[i])
        else
            redis.call('HSET', hash, ARGV[i], ARGV[i + 1])
        end
    end
end

apply(status, 14, nd)
apply(values, 14 + 2 * nd, nv)

local first_error = 14 + 2 * nd + 2 * nv
if #ARGV >= first_error then
    for i = first_error, #ARGV do
        redis.call('LPUSH', errors, ARGV[i])
    end
    redis.call('LTRIM', errors, 0, 99)
end

redis.call('LPUSH', reports, raw)
redis.call('LTRIM', reports, 0, tonumber(history) - 1)
redis.call('HSET', view, 'status_at', now)

if event ~= '' then
    redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'm', event)
end

return {'ok'}
