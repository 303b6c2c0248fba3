/*
 * Mdm-Signature (protocol §4.2): base64 of a DER CMS SignedData, detached,
 * over the exact body, with the signer certificate included.
 */

#include <stdlib.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>

#include "mdmsim.h"


char *
mdmsim_sign(EVP_PKEY *key, X509 *cert, const char *data, size_t len)
{
    BIO            *in, *out;
    CMS_ContentInfo *cms;
    unsigned char  *der;
    char           *b64 = NULL;
    long            der_len;

    in = BIO_new_mem_buf(data, (int) len);
    out = BIO_new(BIO_s_mem());
    if (in == NULL || out == NULL) {
        goto done;
    }

    /*
     * CMS_BINARY: the signature must cover the body byte for byte, with no
     * MIME canonicalization of line endings. No S/MIME capabilities: devices
     * do not send them and they only make every request bigger.
     */
    cms = CMS_sign(cert, key, NULL, in,
                   CMS_DETACHED | CMS_BINARY | CMS_NOSMIMECAP);
    if (cms == NULL) {
        goto done;
    }
    if (i2d_CMS_bio(out, cms) == 1) {
        der_len = BIO_get_mem_data(out, (char **) &der);
        b64 = malloc(4 * ((der_len + 2) / 3) + 1);
        if (b64 != NULL) {
            EVP_EncodeBlock((unsigned char *) b64, der, (int) der_len);
        }
    }
    CMS_ContentInfo_free(cms);

done:
    BIO_free(in);
    BIO_free(out);
    return b64;
}


const char *
mdmsim_body_signature(const struct mdmsim_device *dev,
    struct mdmsim_body *body)
{
    if (body->signature == NULL) {
        body->signature = mdmsim_sign(dev->key, dev->cert, body->data,
                                      body->len);
    }
    return body->signature;
}


void
mdmsim_body_free(struct mdmsim_body *body)
{
    free(body->data);
    free(body->signature);
    body->data = NULL;
    body->signature = NULL;
    body->len = 0;
}
