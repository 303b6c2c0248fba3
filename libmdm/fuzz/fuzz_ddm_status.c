/*
 * libFuzzer target for DDM status reports (the `status` endpoint's JSON):
 * mdm_ddm_status_parse. Built by `make fuzz` from the repository root.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "ddm/mdm_ddm_status.h"


static void
fuzz_check(const mdm_ddm_status_t *st)
{
    size_t   i;
    json_t  *v;

    fuzz_assert(st->ndeclarations <= MDM_DDM_STATUS_DECLS_MAX);
    fuzz_assert(st->nvalues <= MDM_DDM_STATUS_VALUES_MAX);
    fuzz_assert(st->nerrors <= MDM_DDM_STATUS_ERRORS_MAX);

    for (i = 0; i < st->ndeclarations; i++) {
        fuzz_assert(st->declarations[i].kind < MDM_DDM_NKINDS);
        fuzz_assert(mdm_ddm_id_valid(st->declarations[i].identifier,
                                     strlen(st->declarations[i].identifier)));
    }

    /* every stored value is a path and JSON that parses again */
    for (i = 0; i < st->nvalues; i++) {
        fuzz_assert(st->values[i].path[0] != '\0');
        fuzz_assert(strlen(st->values[i].path) < MDM_DDM_PATH_MAX);

        if (st->values[i].value != NULL) {
            v = json_loads(st->values[i].value, JSON_DECODE_ANY, NULL);
            fuzz_assert(v != NULL);
            json_decref(v);
        }
    }

    for (i = 0; i < st->nerrors; i++) {
        fuzz_assert(st->errors[i].status_item[0] != '\0');
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mdm_ddm_error_t      err;
    mdm_ddm_status_t     st;
    mdm_ddm_status_rc_e  rc;

    rc = mdm_ddm_status_parse((const char *) data, size, 0, &st, &err);

    if (rc == MDM_DDM_STATUS_OK) {
        fuzz_check(&st);
        mdm_ddm_status_free(&st);
        return 0;
    }

    /* refused: a code, a rule, a message, and nothing left behind */
    fuzz_assert(strcmp(mdm_ddm_status_rc_name(rc), "unknown") != 0);
    fuzz_assert(err.rule != NULL);
    fuzz_check_msg(err.msg, sizeof(err.msg));
    fuzz_assert(st.root == NULL && st.values == NULL);

    return 0;
}
