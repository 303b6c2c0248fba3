/*
 * libFuzzer target for the OTA profile service's device requests
 * (mdm_ota_parse): with an empty trust store nothing is phase 2; a
 * SignedData whose signature verifies by its own certificate is phase 3,
 * and then carries the attributes and the signer's digest. Built by
 * `make fuzz` from the repository root.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enroll/mdm_ota.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static X509_STORE  *store;
    mdm_err_t           err;
    mdm_ota_req_t       req;

    if (store == NULL) {
        store = X509_STORE_new();
    }

    if (mdm_ota_parse(data, size, store, &req, &err) == MDM_OK
        && (req.phase != MDM_OTA_PHASE3 || req.attrs.udid[0] == '\0'
            || strlen(req.signer_sha256) != 64
            || strpbrk(req.attrs.serial, "{}:") != NULL))
    {
        abort();
    }

    return 0;
}
