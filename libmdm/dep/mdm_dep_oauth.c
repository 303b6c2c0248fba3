/*
 * RFC 5849 section 3.4: the signature base string is
 *   METHOD & enc(base URL) & enc(k1=v1&k2=v2...)
 * with every name and value percent-encoded and the pairs sorted by name,
 * then value; the HMAC-SHA1 key is enc(consumer secret) & enc(token
 * secret). The parameters are few (six oauth_* and whatever query), so they
 * are sorted in a small array.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "mdm_dep_oauth.h"

#define OAUTH_MAX_PARAMS  16


size_t
mdm_dep_oauth_encode(const char *in, size_t len, char *out)
{
    static const char  hex[] = "0123456789ABCDEF";
    size_t             i, n = 0;
    unsigned char      ch;

    for (i = 0; i < len; i++) {
        ch = (unsigned char) in[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')
            || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'
            || ch == '_' || ch == '~')
        {
            out[n++] = (char) ch;
        } else {
            out[n++] = '%';
            out[n++] = hex[ch >> 4];
            out[n++] = hex[ch & 0x0f];
        }
    }
    out[n] = '\0';
    return n;
}


/* enc(s) appended to a growing string; 0 or -1 */
static int
append_enc(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    char  *p;

    if (*len + 3 * n + 1 > *cap) {
        *cap = (*len + 3 * n + 1) * 2;
        p = realloc(*buf, *cap);
        if (p == NULL) {
            return -1;
        }
        *buf = p;
    }
    *len += mdm_dep_oauth_encode(s, n, *buf + *len);
    return 0;
}


static int
append_raw(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t  n = strlen(s);
    char   *p;

    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        p = realloc(*buf, *cap);
        if (p == NULL) {
            return -1;
        }
        *buf = p;
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
    return 0;
}


typedef struct {
    char  *name;     /* encoded */
    char  *value;    /* encoded */
} enc_param_t;


static int
param_cmp(const void *a, const void *b)
{
    const enc_param_t  *x = a, *y = b;
    int                 c = strcmp(x->name, y->name);

    return c ? c : strcmp(x->value, y->value);
}


static char *
enc_dup(const char *s)
{
    size_t  n = strlen(s);
    char   *out = malloc(3 * n + 1);

    if (out != NULL) {
        mdm_dep_oauth_encode(s, n, out);
    }
    return out;
}


/* The normalized parameter string of RFC 5849 3.4.1.3.2, malloc'd. */
static char *
normalized(const mdm_dep_oauth_param_t *p, size_t n)
{
    enc_param_t  e[OAUTH_MAX_PARAMS];
    size_t       i, len = 0, cap = 0;
    char        *out = NULL;
    int          bad = 0;

    if (n > OAUTH_MAX_PARAMS) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        e[i].name = enc_dup(p[i].name);
        e[i].value = enc_dup(p[i].value);
        bad |= e[i].name == NULL || e[i].value == NULL;
    }
    if (!bad) {
        qsort(e, n, sizeof(e[0]), param_cmp);
        for (i = 0; i < n && !bad; i++) {
            bad |= (i > 0 && append_raw(&out, &len, &cap, "&") != 0)
                   || append_raw(&out, &len, &cap, e[i].name) != 0
                   || append_raw(&out, &len, &cap, "=") != 0
                   || append_raw(&out, &len, &cap, e[i].value) != 0;
        }
        if (n == 0 && !bad) {
            bad |= append_raw(&out, &len, &cap, "") != 0;
        }
    }
    for (i = 0; i < n; i++) {
        free(e[i].name);
        free(e[i].value);
    }
    if (bad) {
        free(out);
        return NULL;
    }
    return out;
}


int
mdm_dep_oauth_sign(const mdm_dep_oauth_creds_t *c, const char *method,
    const char *base_url, const mdm_dep_oauth_param_t *extra, size_t n_extra,
    int64_t timestamp, const char *nonce, int with_version, char sig[29])
{
    mdm_dep_oauth_param_t  p[OAUTH_MAX_PARAMS];
    char                   ts[24], *norm, *base = NULL, *key = NULL;
    size_t                 n = 0, i, len = 0, cap = 0, klen = 0, kcap = 0;
    unsigned char          mac[EVP_MAX_MD_SIZE];
    unsigned int           mac_len = 0;
    int                    rc = -1;

    if (n_extra > OAUTH_MAX_PARAMS - 6) {
        return -1;
    }
    snprintf(ts, sizeof(ts), "%lld", (long long) timestamp);
    p[n++] = (mdm_dep_oauth_param_t) { "oauth_consumer_key", c->consumer_key };
    p[n++] = (mdm_dep_oauth_param_t) { "oauth_token", c->access_token };
    p[n++] = (mdm_dep_oauth_param_t) { "oauth_signature_method", "HMAC-SHA1" };
    p[n++] = (mdm_dep_oauth_param_t) { "oauth_timestamp", ts };
    p[n++] = (mdm_dep_oauth_param_t) { "oauth_nonce", nonce };
    if (with_version) {
        p[n++] = (mdm_dep_oauth_param_t) { "oauth_version", "1.0" };
    }
    for (i = 0; i < n_extra; i++) {
        p[n++] = extra[i];
    }

    norm = normalized(p, n);
    if (norm == NULL
        || append_raw(&base, &len, &cap, method) != 0
        || append_raw(&base, &len, &cap, "&") != 0
        || append_enc(&base, &len, &cap, base_url, strlen(base_url)) != 0
        || append_raw(&base, &len, &cap, "&") != 0
        || append_enc(&base, &len, &cap, norm, strlen(norm)) != 0
        || append_enc(&key, &klen, &kcap, c->consumer_secret,
                      strlen(c->consumer_secret)) != 0
        || append_raw(&key, &klen, &kcap, "&") != 0
        || append_enc(&key, &klen, &kcap, c->access_secret,
                      strlen(c->access_secret)) != 0)
    {
        goto done;
    }

    if (HMAC(EVP_sha1(), key, (int) klen, (unsigned char *) base, len, mac,
             &mac_len) == NULL || mac_len != 20)
    {
        goto done;
    }
    EVP_EncodeBlock((unsigned char *) sig, mac, 20);
    rc = 0;

done:
    if (key != NULL) {
        OPENSSL_cleanse(key, klen);
    }
    free(key);
    free(base);
    free(norm);
    return rc;
}


int
mdm_dep_oauth_header(const mdm_dep_oauth_creds_t *c, const char *method,
    const char *base_url, int64_t timestamp, char *out, size_t out_len)
{
    unsigned char  rnd[16];
    char           nonce[33], sig[29], esig[3 * 28 + 1];
    char           eck[3 * 256 + 1], etok[3 * 256 + 1];
    size_t         i;
    int            n;

    if (c->consumer_key == NULL || c->consumer_secret == NULL
        || c->access_token == NULL || c->access_secret == NULL
        || strlen(c->consumer_key) > 256 || strlen(c->access_token) > 256
        || RAND_bytes(rnd, sizeof(rnd)) != 1)
    {
        return -1;
    }
    for (i = 0; i < sizeof(rnd); i++) {
        snprintf(nonce + 2 * i, 3, "%02x", rnd[i]);
    }
    if (mdm_dep_oauth_sign(c, method, base_url, NULL, 0, timestamp, nonce, 1,
                           sig) != 0)
    {
        return -1;
    }
    mdm_dep_oauth_encode(sig, strlen(sig), esig);
    mdm_dep_oauth_encode(c->consumer_key, strlen(c->consumer_key), eck);
    mdm_dep_oauth_encode(c->access_token, strlen(c->access_token), etok);

    n = snprintf(out, out_len,
                 "OAuth realm=\"ADM\", oauth_consumer_key=\"%s\", "
                 "oauth_token=\"%s\", oauth_signature_method=\"HMAC-SHA1\", "
                 "oauth_signature=\"%s\", oauth_timestamp=\"%lld\", "
                 "oauth_nonce=\"%s\", oauth_version=\"1.0\"",
                 eck, etok, esig, (long long) timestamp, nonce);
    return n > 0 && (size_t) n < out_len ? 0 : -1;
}
