/*
 * libFuzzer target for device identity (mdm_identity.c): the identity
 * header a trusted proxy sets (RFC 9440 Client-Cert, or nginx's URL-escaped
 * PEM), a certificate's DER, and the Mdm-Signature path from a detached CMS
 * signature to its signer certificate. The first byte picks the path:
 *
 *   0  Mdm-Signature: base64 signature, '\n', the signed body
 *   1  identity header value, then the certificate it carries
 *   2  certificate DER
 *
 * The trusted CA is fixed below (a throwaway CA made for fuzzing, its key
 * discarded; the seeds in corpus/identity/ are signed under it) and so is
 * the time, so that accepted identities stay reachable and runs repeat.
 */

#include <stdio.h>
#include <unistd.h>

#include "fuzz.h"
#include "mdm_identity.h"


/* 2027-06-01, inside the CA's and the seeds' validity. */
#define FUZZ_NOW  1811808000

static const char  fuzz_ca[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBmjCCAUGgAwIBAgIUZrTmYfKK8n9wXHrguLe0CcT8gBMwCgYIKoZIzj0EAwIw\n"
    "GzEZMBcGA1UEAwwQZnV6eiBpZGVudGl0eSBDQTAeFw0yNjEyMDIxOTM4MzFaFw00\n"
    "NjExMjcxOTM4MzFaMBsxGTAXBgNVBAMMEGZ1enogaWRlbnRpdHkgQ0EwWTATBgcq\n"
    "hkjOPQIBBggqhkjOPQMBBwNCAATWvORH0Pkuoh2VCjTxd3tQShUZTzzUAFLmZFfW\n"
    "vcw1DOsIWq2NPBNUiqVAcYcHquD9hoNzSYzmKBXOk5c9FXJbo2MwYTAdBgNVHQ4E\n"
    "FgQUbqyiXWI9TL0YRnTS3bG514VEVaQwHwYDVR0jBBgwFoAUbqyiXWI9TL0YRnTS\n"
    "3bG514VEVaQwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwCgYIKoZI\n"
    "zj0EAwIDRwAwRAIgEF++rl7Qggl9k3c0mEcVBBKXed6kla5UzkR17A2rCn4CIFtG\n"
    "TR3KSCzPuwLYKFzGAm795fwgRACFTS4nSpZOhT6z\n"
    "-----END CERTIFICATE-----\n"
    ;

static mdm_identity_t  *fuzz_id;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int          fd;
    char         path[] = "/tmp/fuzz-identity-ca-XXXXXX";
    const char  *err;

    (void) argc;
    (void) argv;

    fd = mkstemp(path);
    fuzz_assert(fd >= 0);
    fuzz_assert(write(fd, fuzz_ca, sizeof(fuzz_ca) - 1)
                == (ssize_t) sizeof(fuzz_ca) - 1);
    close(fd);

    /* A small cache, so that eviction runs as well as hits. */
    fuzz_id = mdm_identity_create(path, 4, &err);
    unlink(path);
    fuzz_assert(fuzz_id != NULL);

    return 0;
}


static void
fuzz_check_result(int rc, const mdm_identity_result_t *res)
{
    size_t  i;

    if (rc != 0) {
        fuzz_assert(rc == -1 && res->error != NULL);
        return;
    }

    fuzz_assert(res->error == NULL);
    for (i = 0; i < MDM_IDENTITY_SHA256_HEX_LEN; i++) {
        fuzz_assert(strchr("0123456789abcdef", res->sha256_hex[i]) != NULL);
    }
    fuzz_assert(res->sha256_hex[i] == '\0');
    fuzz_assert(memchr(res->cn, '\0', sizeof(res->cn)) != NULL);
}


static void
fuzz_header(const char *in, size_t len)
{
    int                     rc;
    long                    n;
    unsigned char          *der;
    mdm_identity_result_t   res;

    /* The module gives the decoders a buffer of the header's length. */
    der = malloc(len ? len : 1);
    fuzz_assert(der != NULL);

    if (len > 0 && in[0] == ':') {
        n = mdm_identity_der_from_client_cert(in, len, der);
    } else {
        n = mdm_identity_der_from_escaped_pem(in, len, der);
    }

    fuzz_assert(n >= -1 && n <= (long) len);

    if (n > 0) {
        rc = mdm_identity_from_der(fuzz_id, der, n, FUZZ_NOW, &res);
        fuzz_check_result(rc, &res);
    }

    free(der);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                     rc;
    const char             *in, *nl;
    mdm_identity_result_t   res;

    if (size < 1) {
        return 0;
    }

    in = (const char *) data + 1;
    size--;

    switch (data[0] % 3) {

    case 0:
        nl = memchr(in, '\n', size);
        if (nl == NULL) {
            return 0;
        }
        rc = mdm_identity_from_signature(fuzz_id, in, nl - in,
                                         (const unsigned char *) nl + 1,
                                         size - (nl + 1 - in), FUZZ_NOW, &res);
        fuzz_check_result(rc, &res);
        break;

    case 1:
        fuzz_header(in, size);
        break;

    default:
        rc = mdm_identity_from_der(fuzz_id, (const unsigned char *) in, size,
                                   FUZZ_NOW, &res);
        fuzz_check_result(rc, &res);
    }

    return 0;
}
