/*
 * SMIME_read_CMS takes the MIME headers and base64 as the .p7m has them;
 * CMS_decrypt with the certificate picks the recipient. The decrypted text
 * is small, so the MESSAGE block is found with plain string searches.
 */

#define _XOPEN_SOURCE 700    /* strptime */
#define _DEFAULT_SOURCE      /* timegm */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "mdm_dep_token.h"

#define BEGIN_MESSAGE  "-----BEGIN MESSAGE-----"
#define END_MESSAGE    "-----END MESSAGE-----"


static const char *const fields[] = {
    "consumer_key", "consumer_secret", "access_token", "access_secret"
};


static char *
field_of(mdm_dep_token_t *tok, size_t i)
{
    switch (i) {
    case 0: return tok->consumer_key;
    case 1: return tok->consumer_secret;
    case 2: return tok->access_token;
    default: return tok->access_secret;
    }
}


/* "2027-01-07T04:04:46Z" or with a numeric offset or fraction: unix time */
static int
rfc3339(const char *s, int64_t *out)
{
    struct tm   tm;
    const char *p;
    int         off = 0, sign;
    unsigned    hh, mm;

    memset(&tm, 0, sizeof(tm));
    p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL) {
        return -1;
    }
    if (*p == '.') {
        for (p++; isdigit((unsigned char) *p); p++) { }
    }
    if (*p == 'Z' && p[1] == '\0') {
        off = 0;
    } else if ((*p == '+' || *p == '-')
               && sscanf(p + 1, "%2u:%2u", &hh, &mm) == 2
               && strlen(p) == 6 && hh < 24 && mm < 60)
    {
        sign = *p == '-' ? -1 : 1;
        off = sign * (int) (hh * 3600 + mm * 60);
    } else {
        return -1;
    }
    *out = (int64_t) timegm(&tm) - off;
    return 0;
}


int
mdm_dep_token_parse_json(const char *json, size_t len, mdm_dep_token_t *tok,
    mdm_err_t *err)
{
    json_t       *root, *v;
    json_error_t  jerr;
    const char   *s;
    size_t        i, n, k;
    int           rc = MDM_ERROR;

    memset(tok, 0, sizeof(*tok));
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        mdm_err_as(err, MDM_REFUSED_MALFORMED,
                   "the server token is not a JSON object");
        goto done;
    }
    for (i = 0; i < 4; i++) {
        v = json_object_get(root, fields[i]);
        if (v == NULL) {
            mdm_err_as(err, MDM_REFUSED_MISSING_KEY,
                       "the server token has no %s", fields[i]);
            goto done;
        }
        s = json_string_value(v);
        n = json_string_length(v);
        if (s == NULL || n == 0 || n > MDM_DEP_TOKEN_FIELD_MAX) {
            mdm_err_as(err, MDM_REFUSED_WRONG_TYPE,
                       "the server token's %s must be a string of 1 to %d "
                       "characters", fields[i], MDM_DEP_TOKEN_FIELD_MAX);
            goto done;
        }
        for (k = 0; k < n; k++) {
            if (!isgraph((unsigned char) s[k])) {
                mdm_err(err, "the server token's %s has a character that is "
                        "not printable ASCII", fields[i]);
                goto done;
            }
        }
        memcpy(field_of(tok, i), s, n + 1);
    }
    v = json_object_get(root, "access_token_expiry");
    s = json_string_value(v);
    if (s == NULL || strlen(s) >= sizeof(tok->expiry_text)
        || rfc3339(s, &tok->expiry) != 0)
    {
        mdm_err(err, "the server token's access_token_expiry must be an "
                "RFC 3339 date");
        goto done;
    }
    memcpy(tok->expiry_text, s, strlen(s) + 1);
    rc = MDM_OK;

done:
    json_decref(root);
    if (rc != MDM_OK) {
        mdm_dep_token_clear(tok);
    }
    return rc;
}


static const char *
memfind(const char *hay, size_t n, const char *needle)
{
    size_t  m = strlen(needle), i;

    for (i = 0; n >= m && i <= n - m; i++) {
        if (memcmp(hay + i, needle, m) == 0) {
            return hay + i;
        }
    }
    return NULL;
}


int
mdm_dep_token_unwrap(const char *text, size_t len, mdm_dep_token_t *tok,
    mdm_err_t *err)
{
    const char  *b, *e;

    memset(tok, 0, sizeof(*tok));
    b = memfind(text, len, BEGIN_MESSAGE);
    if (b == NULL) {
        return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                          "the decrypted server token has no "
                          BEGIN_MESSAGE " line");
    }
    b += sizeof(BEGIN_MESSAGE) - 1;
    e = memfind(b, (size_t) (text + len - b), END_MESSAGE);
    if (e == NULL) {
        return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                          "the decrypted server token has no "
                          END_MESSAGE " line");
    }
    return mdm_dep_token_parse_json(b, (size_t) (e - b), tok, err);
}


int
mdm_dep_token_decrypt(const char *p7m, size_t len, EVP_PKEY *key,
    X509 *cert, mdm_dep_token_t *tok, mdm_err_t *err)
{
    BIO           *in = NULL, *out = NULL;
    CMS_ContentInfo *cms = NULL;
    char          *text;
    long           n;
    int            rc = MDM_ERROR;

    memset(tok, 0, sizeof(*tok));
    if (len == 0) {
        return mdm_err_as(err, MDM_REFUSED_EMPTY, "the server token is empty");
    }
    if (len > MDM_DEP_TOKEN_MAX) {
        return mdm_err_as(err, MDM_REFUSED_TOO_LARGE,
                          "the server token is over %d bytes",
                          MDM_DEP_TOKEN_MAX);
    }
    in = BIO_new_mem_buf(p7m, (int) len);
    out = BIO_new(BIO_s_mem());
    if (in == NULL || out == NULL) {
        mdm_err_as(err, MDM_REFUSED_NO_MEMORY, "no memory");
        goto done;
    }
    cms = SMIME_read_CMS(in, NULL);
    if (cms == NULL) {
        mdm_err_as(err, MDM_REFUSED_MALFORMED,
                   "the server token is not an S/MIME CMS message");
        goto done;
    }
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_enveloped) {
        mdm_err(err, "the server token is not CMS EnvelopedData");
        goto done;
    }
    if (CMS_decrypt(cms, key, cert, NULL, out, 0) != 1) {
        mdm_err(err, "the server token does not decrypt with this server's "
                "key (a token for another certificate?)");
        goto done;
    }
    n = BIO_get_mem_data(out, &text);
    if (n <= 0 || n > MDM_DEP_TOKEN_MAX) {
        mdm_err(err, "the decrypted server token is empty or too large");
        goto done;
    }
    rc = mdm_dep_token_unwrap(text, (size_t) n, tok, err);

done:
    ERR_clear_error();
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    if (out != NULL) {
        n = BIO_get_mem_data(out, &text);
        if (n > 0) {
            OPENSSL_cleanse(text, (size_t) n);
        }
    }
    BIO_free(out);
    return rc;
}


char *
mdm_dep_token_to_json(const mdm_dep_token_t *tok)
{
    json_t  *o;
    char    *s;

    o = json_pack("{s:s, s:s, s:s, s:s, s:s}",
                  "consumer_key", tok->consumer_key,
                  "consumer_secret", tok->consumer_secret,
                  "access_token", tok->access_token,
                  "access_secret", tok->access_secret,
                  "access_token_expiry", tok->expiry_text);
    if (o == NULL) {
        return NULL;
    }
    s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}


void
mdm_dep_token_clear(mdm_dep_token_t *tok)
{
    OPENSSL_cleanse(tok, sizeof(*tok));
}


static char *
pem_of(BIO *b)
{
    char  *p, *s;
    long   n = BIO_get_mem_data(b, &p);

    if (n <= 0 || (s = malloc((size_t) n + 1)) == NULL) {
        return NULL;
    }
    memcpy(s, p, (size_t) n);
    s[n] = '\0';
    return s;
}


int
mdm_dep_tokenpki_make(const char *cn, int days, char **cert_pem,
    char **key_pem)
{
    EVP_PKEY       *pkey;
    X509           *x = NULL;
    X509_NAME      *name;
    X509_EXTENSION *ext;
    X509V3_CTX      ctx;
    BIO            *cb = NULL, *kb = NULL;
    unsigned char   serial[16];
    BIGNUM         *bn = NULL;
    int             ok = 0;

    *cert_pem = *key_pem = NULL;
    pkey = EVP_RSA_gen(2048);
    if (pkey == NULL || (x = X509_new()) == NULL
        || RAND_bytes(serial, sizeof(serial)) != 1)
    {
        goto done;
    }
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    name = X509_get_subject_name(x);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ok = bn != NULL
         && X509_set_version(x, 2) == 1
         && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL
         && X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL
         && X509_gmtime_adj(X509_getm_notAfter(x), 86400L * days) != NULL
         && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                       (const unsigned char *) cn, -1, -1,
                                       0) == 1
         && X509_set_issuer_name(x, name) == 1
         && X509_set_pubkey(x, pkey) == 1;
    if (ok) {
        ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage,
                                  "critical,keyEncipherment,digitalSignature");
        ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
        X509_EXTENSION_free(ext);
    }
    ok = ok && X509_sign(x, pkey, EVP_sha256()) > 0
         && (cb = BIO_new(BIO_s_mem())) != NULL
         && (kb = BIO_new(BIO_s_mem())) != NULL
         && PEM_write_bio_X509(cb, x) == 1
         && PEM_write_bio_PrivateKey(kb, pkey, NULL, NULL, 0, NULL, NULL) == 1
         && (*cert_pem = pem_of(cb)) != NULL
         && (*key_pem = pem_of(kb)) != NULL;

done:
    if (kb != NULL) {
        char  *kp;
        long   kn = BIO_get_mem_data(kb, &kp);

        if (kn > 0) {
            OPENSSL_cleanse(kp, (size_t) kn);
        }
    }
    if (!ok) {
        free(*cert_pem);
        free(*key_pem);
        *cert_pem = *key_pem = NULL;
    }
    BN_free(bn);
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return ok ? 0 : -1;
}
