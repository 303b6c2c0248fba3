#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mdm_event.h"
#include "arena.h"
#include "tap.h"


static test_arena_t  arena;


#ifndef MDM_TEST_GOLDEN
#define MDM_TEST_GOLDEN  "t/golden"
#endif


/*
 * The golden event (t/golden/README.md): written byte by byte from the
 * msgpack spec, and the same file is what connect.lua and expire.lua must
 * write for the same event on a real Redis (t/125-golden-msgpack.t). A
 * round trip through our own decoder would not notice a change of encoding.
 */
static void
test_golden(void)
{
    FILE         *f;
    char          want[512];
    size_t        len;
    mdm_buf_t     enc;
    mdm_event_t   ev = {
        .topic = "mdm.CommandExpired",
        .id = "GOLD-DEVICE-0001:C0FFEE00-1111-2222-3333-444455556666",
        .parent = "GOLD-DEVICE-0001",
        .command_uuid = "CMD-GOLDEN",
        .ts_ms = 1700000000000LL,
    };

    f = fopen(MDM_TEST_GOLDEN "/event-command-expired.msgpack", "rb");
    ok(f != NULL, "golden event file is readable");
    if (f == NULL) {
        return;
    }
    len = fread(want, 1, sizeof(want), f);
    fclose(f);

    ok(mdm_event_encode(&ev, NULL, &enc) == 0, "golden event encodes");
    is_int(enc.len, len, "golden event: as many bytes as the golden file");
    ok(enc.len == len && memcmp(enc.data, want, len) == 0,
       "golden event: the same bytes as the golden file");
    mdm_buf_free(&enc);
}


int
main(void)
{
    mdm_event_t  ev, back;
    mdm_buf_t    enc, store, pooled;
    mdm_alloc_t  a = { test_arena_alloc, &arena };
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
    ev.ts_ms = 1700000000000LL;

    ok(mdm_event_encode(&ev, NULL, &enc) == 0, "event encodes");
    ok(mdm_event_encode(&ev, &a, &pooled) == 0
       && test_arena_has(&arena, pooled.data),
       "event encodes into the caller's allocator");
    ok(pooled.len == enc.len && memcmp(pooled.data, enc.data, enc.len) == 0,
       "... the same bytes as malloc'd");
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
    is_int(back.ts_ms, 1700000000000LL, "timestamp round-trips");
    mdm_buf_free(&store);

    ok(mdm_event_decode(enc.data, enc.len - 3, &back, &store) == -1,
       "truncated event is refused");
    ok(mdm_event_decode("\x93\x01\x02\x03", 4, &back, &store) == -1,
       "a non-map is refused");
    mdm_buf_free(&enc);

    /* found by fuzz_event: {topic, id, ts: 2^63} decoded to a negative ts
     * that encoded as a negative integer the decoder refuses */
    ok(mdm_event_decode("\x83\xa5topic\xa1t\xa2id\xa1i"
                        "\xa2ts\xcf\x80\0\0\0\0\0\0\0", 26, &back,
                        &store) == -1,
       "a timestamp above INT64_MAX is refused");
    ok(mdm_event_decode("\x83\xa5topic\xa1t\xa2id\xa1i"
                        "\xa2ts\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", 26,
                        &back, &store) == 0 && back.ts_ms == INT64_MAX,
       "INT64_MAX itself is a timestamp");
    mdm_buf_free(&store);

    /* found by fuzz_event: msgpack-c allocated 2^32 elements for a 10-byte
     * array32 header (ASan aborts: out of memory) */
    ok(mdm_event_decode("\x85\x38\xdd\xa5\0\0\x30\x60\0\0", 10, &back,
                        &store) == -1,
       "an element count beyond the message's length is refused unread");
    ok(mdm_event_decode("\xdf\xff\xff\xff\xff", 5, &back, &store) == -1,
       "so is a map32 count");

    /* a newer writer's fields of any shape are still skipped */
    ok(mdm_event_decode("\x84\xa5topic\xa1t\xa2id\xa1i"
                        "\xa1x\x92\x01\xdc\0\x01\xc7\x02\x05" "ab"
                        "\xa1y\xde\0\x01\xcb\0\0\0\0\0\0\0\0\xc3",
                        41, &back, &store) == 0
       && strcmp(back.id, "i") == 0,
       "nested arrays, maps and ext values in an unknown field decode");
    mdm_buf_free(&store);

    test_golden();

    return done_testing();
}
