/*
 * libFuzzer target for the worker's webhook bodies: an event read from
 * mdm:events (msgpack, as the worker decodes it) turned into the JSON a
 * webhook receives. The result must be valid JSON with the event's topic.
 */

#include <jansson.h>

#include "fuzz.h"
#include "mdm_event.h"
#include "webhook_json.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char         *body, err[256];
    json_t       *root;
    mdm_buf_t     store;
    mdm_event_t   ev;

    if (mdm_event_decode((const char *) data, size, &ev, &store) != 0) {
        return 0;
    }

    err[0] = '\0';
    body = wk_webhook_json(&ev, "1700000000000-0", "3", 1700000000000LL,
                           err, sizeof(err));
    if (body == NULL) {
        fuzz_check_msg(err, sizeof(err));

    } else {
        root = json_loads(body, 0, NULL);
        fuzz_assert(json_is_object(root));
        fuzz_assert(strcmp(json_string_value(json_object_get(root, "topic")),
                           ev.topic) == 0);
        json_decref(root);
        free(body);
    }

    mdm_buf_free(&store);
    return 0;
}
