/*
 * libFuzzer target for the Device Assignment server token: the .p7m an
 * admin uploads (first byte 'P': S/MIME CMS EnvelopedData, decrypted with a
 * key made once per run), the decrypted MESSAGE text ('M') or the stored
 * JSON (anything else). What is accepted has its four OAuth strings, and
 * its JSON form parses again to the same tokens; what is refused says why.
 */

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "dep/mdm_dep_token.h"
#include "fuzz.h"


static EVP_PKEY *key;
static X509     *cert;


static void
init(void)
{
    char  *c, *k;
    BIO   *b;

    fuzz_assert(mdm_dep_tokenpki_make("fuzz", 30, &c, &k) == 0);
    b = BIO_new_mem_buf(c, -1);
    cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    b = BIO_new_mem_buf(k, -1);
    key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    fuzz_assert(cert != NULL && key != NULL);
    free(c);
    free(k);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mdm_dep_token_t   tok, again;
    mdm_err_t         err;
    const char       *body = (const char *) data + 1;
    char             *json;
    int               rc;

    if (size == 0) {
        return 0;
    }
    if (key == NULL) {
        init();
    }
    switch (data[0]) {
    case 'P':
        rc = mdm_dep_token_decrypt(body, size - 1, key, cert, &tok, &err);
        break;
    case 'M':
        rc = mdm_dep_token_unwrap(body, size - 1, &tok, &err);
        break;
    default:
        rc = mdm_dep_token_parse_json(body, size - 1, &tok, &err);
    }
    if (rc != MDM_OK) {
        fuzz_check_msg(err.msg, sizeof(err.msg));
        return 0;
    }

    fuzz_assert(tok.consumer_key[0] && tok.consumer_secret[0]
                && tok.access_token[0] && tok.access_secret[0]);
    json = mdm_dep_token_to_json(&tok);
    fuzz_assert(json != NULL);
    fuzz_assert(mdm_dep_token_parse_json(json, strlen(json), &again, &err)
                == MDM_OK);
    fuzz_assert(memcmp(&tok, &again, sizeof(tok)) == 0);
    free(json);
    return 0;
}
