/*
 * libFuzzer target for the SCEP pkiMessage parser (mdm_scep_parse): the
 * bytes a client POSTs to PKIOperation, before any authorisation. A fixed
 * throw-away RA key is made once so decryption paths are reachable.
 *
 *   make fuzz   (builds and runs it next to the CMS and check-in targets)
 *
 * Seeds: `mdmsim scep --message-out F` writes a real pkiMessage (PEM;
 * convert with `openssl pkcs7 -outform DER`).
 */

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "enroll/mdm_scep.h"


static mdm_scep_conf_t  fuzz_conf;


static int
fuzz_init(void)
{
    X509      *x = X509_new();
    EVP_PKEY  *k = EVP_RSA_gen(2048);

    X509_set_pubkey(x, k);
    X509_sign(x, k, EVP_sha256());
    fuzz_conf.ra_cert = x;
    fuzz_conf.ra_key = k;
    fuzz_conf.min_rsa_bits = 2048;

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int      once = -1;
    mdm_scep_req_t  req;

    if (once < 0) {
        once = fuzz_init();
    }

    mdm_scep_parse(&fuzz_conf, data, size, &req);
    mdm_scep_req_free(&req);

    return 0;
}
