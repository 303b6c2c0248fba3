/*
 * libFuzzer target for device-attest-01 attestation objects
 * (mdm_acme_attest_verify: libcbor, then the x5c certificates): with an
 * empty trust store nothing verifies, so every input must be refused with
 * a problem type and a message; the decoding of the CBOR and of the DER
 * certificates is what is fuzzed. Seeds: the attestations of
 * t/fixtures/acme. Built by `make fuzz` from the repository root.
 */

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "acme/mdm_acme_attest.h"
#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static X509_STORE  *store;
    mdm_acme_err_t      err;
    mdm_acme_attest_t   att;

    if (store == NULL) {
        store = X509_STORE_new();
    }

    fuzz_assert(mdm_acme_attest_verify(data, size, store,
                                       "DGyRejmCefe7v4NfDGDKfA",
                                       "C02TEST0001", 1764000000, &att,
                                       &err) == -1);
    fuzz_assert(err.type == MDM_ACME_MALFORMED
                || err.type == MDM_ACME_BAD_ATTESTATION
                || err.type == MDM_ACME_SERVER_INTERNAL);
    fuzz_check_msg(err.detail, sizeof(err.detail));

    return 0;
}
