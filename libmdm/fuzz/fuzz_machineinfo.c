/*
 * libFuzzer target for ADE MachineInfo: every input goes through the
 * SignedData entry point (with an empty trust store: parsing and the
 * refusal paths) and through the plist reader on its own. Built by
 * `make fuzz` from the repository root.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll/mdm_machineinfo.h"


static void
fuzz_check(const mdm_machineinfo_t *mi)
{
    /* what every accepted MachineInfo must satisfy */
    if (mi->udid[0] == '\0' || mi->serial[0] == '\0'
        || strpbrk(mi->serial, "{}:") != NULL
        || mi->pairing_token_len > MDM_MACHINEINFO_TOKEN_MAX)
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static X509_STORE  *store;
    mdm_err_t           err;
    mdm_machineinfo_t   mi;

    if (store == NULL) {
        store = X509_STORE_new();
    }

    if (mdm_machineinfo_parse(data, size, store, &mi, &err) == MDM_OK) {
        abort();    /* nothing chains to an empty store */
    }

    if (mdm_machineinfo_from_plist((const char *) data, size, &mi, &err)
        == MDM_OK)
    {
        fuzz_check(&mi);
    }

    return 0;
}
