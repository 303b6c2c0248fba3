/*
 * libFuzzer target for the JWS of ACME requests (mdm_acme_jws_parse, then
 * the signature check with the header's jwk as newAccount does): what
 * parses has an allowed alg, a base64url nonce, the fuzzer's URL and one
 * of jwk and kid. Built by `make fuzz` from the repository root.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme/mdm_acme_jws.h"
#include "fuzz.h"

#define URL  "https://mdm.example.com/acme/new-account"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mdm_acme_jws_t  jws;
    mdm_acme_err_t  err;
    char            thp[MDM_ACME_THUMBPRINT_LEN + 1];

    if (mdm_acme_jws_parse((const char *) data, size, URL, &jws, &err)
        != 0)
    {
        fuzz_check_msg(err.detail, sizeof(err.detail));
        fuzz_assert(err.type != MDM_ACME_OK);
        mdm_acme_jws_free(&jws);
        return 0;
    }

    fuzz_assert(mdm_acme_alg_name(jws.alg) != NULL);
    fuzz_assert(strcmp(jws.url, URL) == 0);
    fuzz_assert(mdm_acme_b64url_ok(jws.nonce, strlen(jws.nonce),
                                   MDM_ACME_NONCE_MAX));
    fuzz_assert((jws.kid == NULL) != (jws.jwk == NULL));
    fuzz_assert(jws.payload_len == 0 || jws.payload_json != NULL);

    if (jws.jwk != NULL) {
        fuzz_assert(mdm_acme_jwk_thumbprint(jws.jwk, thp) == 0);
        if (mdm_acme_jws_verify(&jws, jws.jwk, &err) != 0) {
            fuzz_check_msg(err.detail, sizeof(err.detail));
        }
    }

    mdm_acme_jws_free(&jws);

    return 0;
}
