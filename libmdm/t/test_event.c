#include <string.h>

#include "mdm_event.h"
#include "tap.h"


int
main(void)
{
    mdm_event_t  ev, back;
    mdm_buf_t    enc, store;
    const char   raw[] = "<plist><dict/></plist>";

    memset(&ev, 0, sizeof(ev));
    ev.topic = "mdm.Connect";
    ev.id = "UDID-1:USER";
    ev.parent = "UDID-1";
    ev.type = "User";
    ev.status = "Acknowledged";
    ev.command_uuid = "C-1";
    ev.raw = (const unsigned char *) raw;
    ev.raw_len = sizeof(raw) - 1;
    ev.ts_ms = 1700000000123LL;

    ok(mdm_event_encode(&ev, &enc) == 0, "event encodes");
    ok(mdm_event_decode(enc.data, enc.len, &back, &store) == 0,
       "event decodes");
    is_str(back.topic, "mdm.Connect", "topic round-trips");
    is_str(back.id, "UDID-1:USER", "id round-trips");
    is_str(back.parent, "UDID-1", "parent round-trips");
    is_str(back.status, "Acknowledged", "status round-trips");
    is_str(back.command_uuid, "C-1", "command uuid round-trips");
    ok(back.udid == NULL, "absent string stays absent");
    is_int(back.raw_len, sizeof(raw) - 1, "raw length round-trips");
    ok(memcmp(back.raw, raw, back.raw_len) == 0, "raw bytes round-trip");
    is_int(back.ts_ms, 1700000000123LL, "timestamp round-trips");
    mdm_buf_free(&store);

    ok(mdm_event_decode(enc.data, enc.len - 3, &back, &store) == -1,
       "truncated event is refused");
    ok(mdm_event_decode("\x93\x01\x02\x03", 4, &back, &store) == -1,
       "a non-map is refused");
    mdm_buf_free(&enc);

    return done_testing();
}
