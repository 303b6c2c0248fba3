-- Fleet figures for GET /metrics, read in one step (docs/metrics.md).
-- Only O(1) or O(groups) reads: exact queue depths would cost a scan of
-- every enrollment, so the streams' backlogs stand in for them.
--
-- KEYS: 1 enrollment index, 2 events stream, 3 push stream,
--       4 worker counters hash, 5 mdm:pending, 6 mdm:notnow
-- Returns {enrollments, streams, worker, with queued commands, NotNow'd,
--          used_memory, maxmemory (0 = none)}:
--   streams: one {stream, length, groups} per stream, groups a flat list of
--            group name, pending entries, lag (-1 when Redis cannot tell)
--   worker:  flat field, value list of the worker counters, sorted by the
--            metric name before any '{' first, so that the lines of one
--            metric family come out together

local function groups_of(stream)
    local out = {}
    if redis.call('TYPE', stream).ok ~= 'stream' then
        return out
    end
    for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
        local info = {}
        for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
        out[#out + 1] = info['name']
        out[#out + 1] = info['pending'] or 0
        out[#out + 1] = info['lag'] or -1
    end
    return out
end

local streams = {}
for i = 2, 3 do
    streams[#streams + 1] = {KEYS[i], redis.call('XLEN', KEYS[i]),
                             groups_of(KEYS[i])}
end

local all = redis.call('HGETALL', KEYS[4])
local values, fields = {}, {}
for i = 1, #all, 2 do
    fields[#fields + 1] = all[i]
    values[all[i]] = all[i + 1]
end
local function family(field)
    return (string.match(field, '^[^{]*'))
end
table.sort(fields, function(a, b)
    local fa, fb = family(a), family(b)
    if fa ~= fb then return fa < fb end
    return a < b
end)

local worker = {}
for _, f in ipairs(fields) do
    worker[#worker + 1] = f
    worker[#worker + 1] = values[f]
end

-- Redis' own memory against its bound: the alarm for a Redis filling up
local mem = redis.call('INFO', 'memory')
local used = tonumber(string.match(mem, 'used_memory:(%d+)')) or 0
local maxmem = tonumber(string.match(mem, 'maxmemory:(%d+)')) or 0

return {redis.call('ZCARD', KEYS[1]), streams, worker,
        redis.call('ZCARD', KEYS[5]), redis.call('ZCARD', KEYS[6]),
        used, maxmem}
