/*
 * libFuzzer target for the Mdm-Signature parser (mdm_cms_parse) and the
 * verification that follows it, fed with hostile DER/BER.
 *
 * Build and run from the repository root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilibmdm \
 *       libmdm/fuzz/fuzz_cms.c libmdm/mdm_cms.c -lcrypto -o build/fuzz_cms
 *   mkdir -p build/fuzz-corpus
 *   build/fuzz_cms -max_total_time=300 build/fuzz-corpus
 *
 * Seeds: any `openssl cms -sign -binary -outform DER` output (detached, with
 * and without -noattr, -keyid, -stream) dropped into the corpus directory.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "mdm_cms.h"


static EVP_PKEY  *fuzz_rsa;
static EVP_PKEY  *fuzz_ec;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;

    /* Verification must fail cleanly, never crash, on any parsed input. */
    fuzz_rsa = EVP_RSA_gen(1024);
    fuzz_ec = EVP_EC_gen("P-256");

    if (fuzz_rsa == NULL || fuzz_ec == NULL) {
        abort();
    }

    return 0;
}


static void
fuzz_within(const uint8_t *data, size_t size, const unsigned char *p,
    size_t len)
{
    if (p != NULL && (p < data || len > size || p + len > data + size)) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mdm_cms_t    cms;
    const char  *err;

    if (mdm_cms_parse(data, size, &cms, &err) != 0) {
        if (err == NULL) {
            abort();
        }

        return 0;
    }

    /* Everything the parser hands out points inside the input. */
    fuzz_within(data, size, cms.cert, cms.cert_len);
    fuzz_within(data, size, cms.signed_attrs, cms.signed_attrs_len);
    fuzz_within(data, size, cms.message_digest, cms.message_digest_len);
    fuzz_within(data, size, cms.signature, cms.signature_len);

    if (cms.cert == NULL || cms.signature == NULL) {
        abort();
    }

    (void) mdm_cms_verify(&cms, data, size,
                          cms.sig == MDM_CMS_SIG_RSA ? fuzz_rsa : fuzz_ec,
                          &err);

    return 0;
}
