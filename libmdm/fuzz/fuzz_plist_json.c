/*
 * libFuzzer target for plist → JSON as the API shows a command result's
 * ErrorChain (GET /v1/commands/<uuid>): the input is the device's report
 * body. Whatever it gives must serialise as JSON.
 */

#include <jansson.h>

#include "fuzz.h"
#include "mdm_plist_json.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char    *text;
    json_t  *json;

    json = mdm_plist_key_to_json((const char *) data, size, "ErrorChain");
    if (json == NULL) {
        return 0;
    }

    text = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY);
    fuzz_assert(text != NULL);

    free(text);
    json_decref(json);
    return 0;
}
