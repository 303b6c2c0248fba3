/*
 * libFuzzer target for the msgpack events on mdm:events (the worker reads
 * them back with mdm_event_decode). A decoded event must encode and decode
 * again to the same fields.
 */

#include "fuzz.h"
#include "mdm_event.h"


static void
fuzz_same(const char *a, const char *b)
{
    fuzz_assert((a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0));
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mdm_buf_t    store, enc, store2;
    mdm_event_t  ev, ev2;

    if (mdm_event_decode((const char *) data, size, &ev, &store) != 0) {
        return 0;
    }

    fuzz_assert(ev.topic != NULL && ev.id != NULL);
    fuzz_assert(mdm_event_encode(&ev, NULL, &enc) == 0);
    fuzz_assert(mdm_event_decode(enc.data, enc.len, &ev2, &store2) == 0);

    fuzz_same(ev.topic, ev2.topic);
    fuzz_same(ev.id, ev2.id);
    fuzz_same(ev.parent, ev2.parent);
    fuzz_same(ev.type, ev2.type);
    fuzz_same(ev.udid, ev2.udid);
    fuzz_same(ev.enrollment_id, ev2.enrollment_id);
    fuzz_same(ev.status, ev2.status);
    fuzz_same(ev.command_uuid, ev2.command_uuid);
    fuzz_same(ev.params, ev2.params);
    fuzz_assert(ev.raw_len == ev2.raw_len && ev.ts_ms == ev2.ts_ms
                && (ev.raw_len == 0
                    || memcmp(ev.raw, ev2.raw, ev.raw_len) == 0));

    mdm_buf_free(&store2);
    mdm_buf_free(&enc);
    mdm_buf_free(&store);
    return 0;
}
