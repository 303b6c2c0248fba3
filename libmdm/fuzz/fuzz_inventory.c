/*
 * libFuzzer target for the inventory parser (what mdm-worker runs on a
 * command result): mdm_inventory_parse of every kind on the same bytes.
 * Built by `make fuzz`.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "inventory/mdm_inventory.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int              kind;
    size_t           i;
    json_t          *item;
    mdm_err_t        err;
    mdm_inventory_t  inv;

    for (kind = MDM_INV_DEVICE_INFORMATION; kind <= MDM_INV_PROFILES;
         kind++)
    {
        if (mdm_inventory_parse((mdm_inventory_kind_e) kind,
                                (const char *) data, size, &inv, &err)
            != MDM_OK)
        {
            fuzz_check_msg(err.msg, sizeof(err.msg));
            fuzz_assert(inv.facts == NULL && inv.list == NULL
                        && inv.list_json == NULL);
            continue;
        }

        /* facts or a list of dicts, never both */
        fuzz_assert((inv.facts != NULL) != (inv.list != NULL));

        if (inv.list != NULL) {
            fuzz_assert(strlen(inv.digest) == 64 && inv.list_json != NULL);

            json_array_foreach(inv.list, i, item) {
                fuzz_assert(json_is_object(item));
                fuzz_assert(kind != MDM_INV_PROFILES
                            || json_is_string(json_object_get(item,
                                              "PayloadIdentifier")));
            }
        }

        mdm_inventory_free(&inv);
    }

    return 0;
}
