-- The mdm.CommandExpired event (libmdm/mdm_event.h), packed as
-- mdm_event_encode packs it: one msgpack map with its keys in the encoder's
-- order (topic, id, parent, command_uuid, ts; parent left out when there is
-- none), so that an event is the same bytes whichever process writes it
-- (t/golden/event-command-expired.msgpack, checked by libmdm/t/test_event.c
-- and t/125-golden-msgpack.t). cmsgpack.pack of a table would write the keys
-- in Lua's hash order; packing the pairs as arguments keeps ours.
local function command_expired_event(id, parent, uuid, ts_ms)
    local kv = { 'topic', 'mdm.CommandExpired', 'id', id }
    if parent and parent ~= '' then
        kv[#kv + 1] = 'parent'
        kv[#kv + 1] = parent
    end
    kv[#kv + 1] = 'command_uuid'
    kv[#kv + 1] = uuid
    kv[#kv + 1] = 'ts'
    kv[#kv + 1] = ts_ms
    return string.char(0x80 + #kv / 2) .. cmsgpack.pack(unpack(kv))
end
