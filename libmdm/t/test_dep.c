/*
 * libmdm/dep: OAuth 1.0a signing against RFC 5849's own example, the
 * server token's .p7m (made here as Apple makes it: S/MIME CMS
 * EnvelopedData to the token PKI's certificate) and its refusals, and the
 * AES-GCM seal of secrets at rest.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "dep/mdm_dep_oauth.h"
#include "dep/mdm_dep_seal.h"
#include "dep/mdm_dep_token.h"
#include "tap.h"

#define TOKEN_JSON                                                           \
    "{\"consumer_key\":\"CK_0123\",\"consumer_secret\":\"CS_4567\","         \
    "\"access_token\":\"AT_89ab\",\"access_secret\":\"AS_cdef\","            \
    "\"access_token_expiry\":\"2027-01-07T04:04:46Z\"}"

#define INNER(json)                                                          \
    "Content-Type: text/plain;charset=UTF-8\r\n"                             \
    "Content-Transfer-Encoding: 7bit\r\n\r\n"                                \
    "-----BEGIN MESSAGE-----\n" json "\n-----END MESSAGE-----\n"


static void
test_oauth(void)
{
    /* RFC 5849 1.2 (the photos.example.net request) */
    mdm_dep_oauth_creds_t  c = { "dpf43f3p2l4k3l03", "kd94hf93k423kf44",
                                 "nnch734d00sl2jdk", "pfkkdhi9sl3r4s00" };
    mdm_dep_oauth_param_t  q[] = { { "file", "vacation.jpg" },
                                   { "size", "original" } };
    char                   sig[29], enc[64], hdr[1024];

    ok(mdm_dep_oauth_sign(&c, "GET", "http://photos.example.net/photos", q, 2,
                          137131202, "chapoH", 0, sig) == 0,
       "RFC 5849 1.2's request is signed");
    is_str(sig, "MdpQcU8iPSUjWoN/UDMsK2sui9I=", "... to the RFC's signature");

    mdm_dep_oauth_encode("Ladies + Gentlemen", 18, enc);
    is_str(enc, "Ladies%20%2B%20Gentlemen", "RFC 5849 3.6 percent-encoding");
    mdm_dep_oauth_encode("a-b._~\xc3\xa9", 8, enc);
    is_str(enc, "a-b._~%C3%A9", "... unreserved kept, UTF-8 bytes encoded");

    ok(mdm_dep_oauth_header(&c, "GET", "https://mdmenrollment.apple.com/session",
                            1700000000, hdr, sizeof(hdr)) == 0,
       "an Authorization header for /session");
    ok(strncmp(hdr, "OAuth realm=\"ADM\", ", 19) == 0, "... realm ADM");
    ok(strstr(hdr, "oauth_consumer_key=\"dpf43f3p2l4k3l03\"") != NULL
       && strstr(hdr, "oauth_token=\"nnch734d00sl2jdk\"") != NULL
       && strstr(hdr, "oauth_timestamp=\"1700000000\"") != NULL
       && strstr(hdr, "oauth_signature_method=\"HMAC-SHA1\"") != NULL
       && strstr(hdr, "oauth_version=\"1.0\"") != NULL,
       "... with the key, token, timestamp, method and version");
    ok(strstr(hdr, "kd94hf93k423kf44") == NULL
       && strstr(hdr, "pfkkdhi9sl3r4s00") == NULL, "... and no secret");
    ok(mdm_dep_oauth_header(&c, "GET", "https://x/session", 1, hdr, 40) == -1,
       "too small a buffer: -1");
}


/* The .p7m of text for cert, as openssl cms -encrypt writes it */
static char *
p7m_for(X509 *cert, const char *text)
{
    STACK_OF(X509)   *rcpt = sk_X509_new_null();
    BIO              *in, *out;
    CMS_ContentInfo  *cms;
    char             *p, *s;
    long              n;

    sk_X509_push(rcpt, cert);
    in = BIO_new_mem_buf(text, -1);
    out = BIO_new(BIO_s_mem());
    cms = CMS_encrypt(rcpt, in, EVP_aes_256_cbc(), CMS_BINARY);
    SMIME_write_CMS(out, cms, NULL, CMS_BINARY);
    n = BIO_get_mem_data(out, &p);
    s = malloc((size_t) n + 1);
    memcpy(s, p, (size_t) n);
    s[n] = '\0';
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    BIO_free(out);
    sk_X509_free(rcpt);
    return s;
}


static void
load(const char *cert_pem, const char *key_pem, X509 **x, EVP_PKEY **k)
{
    BIO  *b = BIO_new_mem_buf(cert_pem, -1);

    *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    b = BIO_new_mem_buf(key_pem, -1);
    *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
}


static int
refused(const char *p7m, X509 *x, EVP_PKEY *k, const char *want)
{
    mdm_dep_token_t  tok;
    mdm_err_t        err;
    int              rc;

    rc = mdm_dep_token_decrypt(p7m, strlen(p7m), k, x, &tok, &err);
    if (rc == MDM_OK) {
        return 0;
    }
    if (strstr(err.msg, want) == NULL) {
        printf("# error was: %s\n", err.msg);
        return 0;
    }
    return 1;
}


static void
test_token(void)
{
    char             *cert_pem, *key_pem, *cert2, *key2, *p7m, *json, *big;
    X509             *x, *x2;
    EVP_PKEY         *k, *k2;
    mdm_dep_token_t   tok, again;
    mdm_err_t         err;

    ok(mdm_dep_tokenpki_make("depserver", 30, &cert_pem, &key_pem) == 0,
       "the token PKI makes a key and a certificate");
    ok(strstr(cert_pem, "BEGIN CERTIFICATE") && strstr(key_pem, "PRIVATE KEY"),
       "... as PEM");
    load(cert_pem, key_pem, &x, &k);
    ok(x != NULL && k != NULL && X509_check_private_key(x, k) == 1,
       "... that belong together");
    ok((X509_get_key_usage(x) & KU_KEY_ENCIPHERMENT) != 0,
       "... keyEncipherment, so ABM can encrypt to it");
    mdm_dep_tokenpki_make("other", 30, &cert2, &key2);
    load(cert2, key2, &x2, &k2);

    p7m = p7m_for(x, INNER(TOKEN_JSON));
    ok(mdm_dep_token_decrypt(p7m, strlen(p7m), k, x, &tok, &err) == MDM_OK,
       "a .p7m decrypts and parses");
    is_str(tok.consumer_key, "CK_0123", "... consumer_key");
    is_str(tok.consumer_secret, "CS_4567", "... consumer_secret");
    is_str(tok.access_token, "AT_89ab", "... access_token");
    is_str(tok.access_secret, "AS_cdef", "... access_secret");
    is_int(tok.expiry, 1799294686, "... access_token_expiry as unix time");

    json = mdm_dep_token_to_json(&tok);
    ok(json != NULL && mdm_dep_token_parse_json(json, strlen(json), &again,
                                                &err) == MDM_OK
       && memcmp(&tok, &again, sizeof(tok)) == 0,
       "the tokens as JSON parse back to the same");
    free(json);
    free(p7m);

    p7m = p7m_for(x2, INNER(TOKEN_JSON));
    ok(refused(p7m, x, k, "another certificate"),
       "a .p7m for another key: refused, says so");
    free(p7m);
    ok(refused("hello", x, k, "not an S/MIME"), "not S/MIME: refused");
    ok(refused("", x, k, "empty"), "empty: refused");
    big = malloc(MDM_DEP_TOKEN_MAX + 2);
    memset(big, 'A', MDM_DEP_TOKEN_MAX + 1);
    big[MDM_DEP_TOKEN_MAX + 1] = '\0';
    ok(refused(big, x, k, "over"), "over 64 KiB: refused");
    free(big);

    p7m = p7m_for(x, "just text, no message\n");
    ok(refused(p7m, x, k, "BEGIN MESSAGE"), "no MESSAGE block: refused");
    free(p7m);
    p7m = p7m_for(x, INNER("{\"consumer_key\":\"CK\"}"));
    ok(refused(p7m, x, k, "no consumer_secret"), "a missing field: refused");
    free(p7m);
    p7m = p7m_for(x, INNER("{\"consumer_key\":\"CK\",\"consumer_secret\":1,"
                           "\"access_token\":\"AT\",\"access_secret\":\"AS\"}"));
    ok(refused(p7m, x, k, "consumer_secret must be a string"),
       "a number for a secret: refused");
    free(p7m);
    p7m = p7m_for(x, INNER("{\"consumer_key\":\"CK\",\"consumer_secret\":\"CS\","
                           "\"access_token\":\"AT\",\"access_secret\":\"AS\","
                           "\"access_token_expiry\":\"next year\"}"));
    ok(refused(p7m, x, k, "RFC 3339"), "an expiry that is no date: refused");
    free(p7m);
    p7m = p7m_for(x, INNER("[1,2]"));
    ok(refused(p7m, x, k, "not a JSON object"), "a JSON array: refused");
    free(p7m);

    json = "{\"consumer_key\":\"CK\",\"consumer_secret\":\"CS\","
           "\"access_token\":\"AT\",\"access_secret\":\"AS\","
           "\"access_token_expiry\":\"2027-01-07T06:04:46+02:00\"}";
    ok(mdm_dep_token_parse_json(json, strlen(json), &tok, &err) == MDM_OK
       && tok.expiry == 1799294686,
       "an expiry with an offset");

    X509_free(x);
    X509_free(x2);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
    free(cert_pem);
    free(key_pem);
    free(cert2);
    free(key2);
}


static void
test_seal(void)
{
    unsigned char   key[32], key2[32];
    char           *s;
    unsigned char  *p;
    size_t          n = 0;

    ok(mdm_dep_seal_key_hex("000102030405060708090a0b0c0d0e0f"
                            "101112131415161718191a1b1c1d1e1f", key) == 0,
       "a 64-hex seal key");
    ok(mdm_dep_seal_key_hex("0001", key2) == -1, "a short one is refused");
    ok(mdm_dep_seal_key_hex("zz0102030405060708090a0b0c0d0e0f"
                            "101112131415161718191a1b1c1d1e1f", key2) == -1,
       "... and one that is not hex");
    memcpy(key2, key, 32);
    key2[0] ^= 1;

    s = mdm_dep_seal(key, "dep-token:acme", TOKEN_JSON, strlen(TOKEN_JSON));
    ok(s != NULL && strncmp(s, "v1:", 3) == 0, "sealed: v1:base64");
    ok(strstr(s, "CS_4567") == NULL, "... the secret is not in it");
    p = mdm_dep_unseal(key, "dep-token:acme", s, strlen(s), &n);
    ok(p != NULL && n == strlen(TOKEN_JSON) && memcmp(p, TOKEN_JSON, n) == 0,
       "unsealed: the same bytes");
    free(p);
    ok(mdm_dep_unseal(key, "dep-token:other", s, strlen(s), &n) == NULL,
       "another context does not open it");
    ok(mdm_dep_unseal(key2, "dep-token:acme", s, strlen(s), &n) == NULL,
       "another key does not open it");
    s[10] = s[10] == 'A' ? 'B' : 'A';
    ok(mdm_dep_unseal(key, "dep-token:acme", s, strlen(s), &n) == NULL,
       "an altered one does not open");
    ok(mdm_dep_unseal(key, "dep-token:acme", "v2:AAAA", 7, &n) == NULL
       && mdm_dep_unseal(key, "dep-token:acme", "v1:", 3, &n) == NULL
       && mdm_dep_unseal(key, "dep-token:acme", "v1:!!!!", 7, &n) == NULL,
       "malformed ones are refused");
    free(s);
}


int
main(void)
{
    test_oauth();
    test_token();
    test_seal();
    return done_testing();
}
