#ifndef _GNU_SOURCE
#define _GNU_SOURCE            /* memmem(), timegm() */
#endif

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "mdm_base64.h"
#include "mdm_cms.h"
#include "mdm_hex.h"
#include "mdm_identity.h"


/* A signed request carries one ~2 KB CMS; this leaves room for chains. */
#define ID_MAX_SIGNATURE_B64  (64 * 1024)

#define ID_NONE  UINT32_MAX

/* A cached refusal: its text for the log and its reason for the count. */
typedef struct {
    const char             *text;
    mdm_identity_reason_e   reason;
} id_verdict_t;

static const id_verdict_t  id_no_memory = {
    "out of memory", MDM_IDENTITY_OTHER
};
static const id_verdict_t  id_bad_certificate = {
    "bad certificate", MDM_IDENTITY_MALFORMED_CERTIFICATE
};
static const id_verdict_t  id_not_der = {
    "certificate is not DER", MDM_IDENTITY_MALFORMED_CERTIFICATE
};
static const id_verdict_t  id_bad_validity = {
    "bad certificate validity", MDM_IDENTITY_MALFORMED_CERTIFICATE
};
static const id_verdict_t  id_unsupported_key = {
    "unsupported public key", MDM_IDENTITY_MALFORMED_CERTIFICATE
};
static const id_verdict_t  id_wrong_usage = {
    "wrong usage", MDM_IDENTITY_WRONG_USAGE
};
static const id_verdict_t  id_untrusted_chain = {
    "untrusted chain", MDM_IDENTITY_UNTRUSTED_CHAIN
};

/* in the order of mdm_identity_reason_e */
static const char  *id_reason_names[MDM_IDENTITY_REASONS] = {
    "ok",
    "no_certificate",
    "malformed_signature",
    "bad_signature",
    "digest_mismatch",
    "malformed_certificate",
    "untrusted_chain",
    "wrong_usage",
    "expired",
    "not_yet_valid",
    "binding_mismatch",
    "unbound_enrollment",
    "unknown_enrollment",
    "revoked",
    "other"
};

/* the refusals of lua/lib/binding.lua, by the start of their text */
static const struct {
    const char             *prefix;
    mdm_identity_reason_e   reason;
} id_script_reasons[] = {
    { "certificate does not match", MDM_IDENTITY_BINDING_MISMATCH },
    { "certificate is bound to another", MDM_IDENTITY_BINDING_MISMATCH },
    { "enrollment has no bound certificate", MDM_IDENTITY_UNBOUND_ENROLLMENT },
    { "unknown enrollment", MDM_IDENTITY_UNKNOWN_ENROLLMENT },
    { NULL, MDM_IDENTITY_OTHER }
};


typedef struct {
    uint64_t             hash;
    unsigned char       *der;
    size_t               der_len;
    mdm_cms_verifier_t   verifier;      /* owns verifier.pkey */
    const id_verdict_t  *verdict;       /* NULL when the chain verified */
    unsigned             retry:1;       /* memory ran out: no verdict */
    time_t               not_before;    /* latest notBefore along the chain */
    time_t               not_after;     /* earliest notAfter along the chain */
    uint32_t             bucket_next;
    uint32_t             lru_prev;
    uint32_t             lru_next;
    char                 sha256_hex[MDM_IDENTITY_SHA256_HEX_LEN + 1];
    char                 cn[MDM_IDENTITY_CN_MAX + 1];
} id_entry_t;

struct mdm_identity_s {
    X509_STORE            *store;
    id_entry_t            *entries;
    uint32_t              *buckets;
    uint32_t               mask;
    uint32_t               size;
    uint32_t               used;
    uint32_t               lru_head;   /* most recently used */
    uint32_t               lru_tail;
    uint64_t               seed[2];
    EVP_MD_CTX            *md_ctx;     /* reused for every digest */
    unsigned char         *buf;        /* decoded Mdm-Signature */
    size_t                 buf_size;
    mdm_identity_stats_t   stats;
};


static id_entry_t *id_cache_get(mdm_identity_t *id, const unsigned char *der,
    size_t len);
static id_entry_t *id_cache_add(mdm_identity_t *id, uint64_t hash,
    const unsigned char *der, size_t len);
static void id_cache_drop(mdm_identity_t *id, uint32_t i);
static void id_entry_free(id_entry_t *e);
static void id_lru_unlink(mdm_identity_t *id, uint32_t i);
static void id_lru_push(mdm_identity_t *id, uint32_t i);
static void id_examine(mdm_identity_t *id, id_entry_t *e);
static const id_verdict_t *id_decode(id_entry_t *e, X509 **x);
static const id_verdict_t *id_verify_chain(mdm_identity_t *id, X509 *x,
    id_entry_t *e);
static int id_out_of_memory(void);
static void id_cn(X509 *x, char *out);
static time_t id_time(const ASN1_TIME *t);
static int id_accept(const id_entry_t *e, time_t now,
    mdm_identity_result_t *res);
static int id_refuse(mdm_identity_result_t *res,
    mdm_identity_reason_e reason, const char *text);
static uint64_t id_siphash(const uint64_t key[2], const unsigned char *in,
    size_t len);
static int id_unhex(int c);


mdm_identity_t *
mdm_identity_create(const char *ca_pem_path, size_t cache_size,
    const char **err)
{
    uint32_t         n;
    mdm_identity_t  *id;

    if (cache_size == 0 || cache_size >= ID_NONE / 2) {
        *err = "bad cache size";
        return NULL;
    }

    id = calloc(1, sizeof(*id));
    if (id == NULL) {
        *err = "out of memory";
        return NULL;
    }

    /* Buckets: a power of two at least the entry count, load <= 1. */
    for (n = 1; n < cache_size; n <<= 1) { /* void */ }

    id->size = cache_size;
    id->mask = n - 1;
    id->lru_head = ID_NONE;
    id->lru_tail = ID_NONE;
    id->entries = calloc(cache_size, sizeof(id_entry_t));
    id->buckets = malloc(n * sizeof(uint32_t));
    id->store = X509_STORE_new();
    id->md_ctx = EVP_MD_CTX_new();

    if (id->entries == NULL || id->buckets == NULL || id->store == NULL
        || id->md_ctx == NULL)
    {
        *err = "out of memory";
        goto failed;
    }

    memset(id->buckets, 0xff, n * sizeof(uint32_t));

    /* Keyed bucket hash: failed certificates are cached too, so anyone
     * can choose keys; a secret seed keeps the chains short. */
    if (RAND_bytes((unsigned char *) id->seed, sizeof(id->seed)) != 1) {
        *err = "no randomness for the cache seed";
        goto failed;
    }

    if (X509_STORE_load_file(id->store, ca_pem_path) != 1) {
        *err = "cannot load the CA bundle";
        goto failed;
    }

    /* Any configured certificate is an anchor, intermediates included;
     * time is checked per request against the cached validity window. */
    X509_STORE_set_flags(id->store,
                         X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_NO_CHECK_TIME);

    return id;

failed:

    ERR_clear_error();
    mdm_identity_destroy(id);
    return NULL;
}


void
mdm_identity_destroy(mdm_identity_t *id)
{
    uint32_t  i;

    if (id == NULL) {
        return;
    }

    for (i = 0; i < id->used; i++) {
        id_entry_free(&id->entries[i]);
    }

    X509_STORE_free(id->store);
    EVP_MD_CTX_free(id->md_ctx);
    free(id->entries);
    free(id->buckets);
    free(id->buf);
    free(id);
}


void
mdm_identity_stats(const mdm_identity_t *id, mdm_identity_stats_t *st)
{
    *st = id->stats;
    st->entries = id->used;
}


int
mdm_identity_from_signature(mdm_identity_t *id, const char *b64,
    size_t b64_len, const unsigned char *body, size_t body_len, time_t now,
    mdm_identity_result_t *res)
{
    int          rc;
    long         len;
    mdm_cms_t    cms;
    id_entry_t  *e;

    memset(res, 0, sizeof(*res));

    if (b64_len > ID_MAX_SIGNATURE_B64) {
        return id_refuse(res, MDM_IDENTITY_MALFORMED_SIGNATURE,
                         "bad base64: signature too long");
    }

    if (id->buf_size < b64_len) {
        free(id->buf);
        id->buf_size = 0;
        id->buf = malloc(b64_len);

        if (id->buf == NULL) {
            return id_refuse(res, MDM_IDENTITY_OTHER, "out of memory");
        }

        id->buf_size = b64_len;
    }

    len = mdm_base64_decode(b64, b64_len, id->buf, 0);
    if (len < 0) {
        return id_refuse(res, MDM_IDENTITY_MALFORMED_SIGNATURE, "bad base64");
    }

    if (mdm_cms_parse(id->buf, len, &cms, &res->error) != 0) {
        res->reason = MDM_IDENTITY_MALFORMED_SIGNATURE;
        return -1;
    }

    e = id_cache_get(id, cms.cert, cms.cert_len);
    if (e == NULL) {
        return id_refuse(res, MDM_IDENTITY_OTHER, "out of memory");
    }

    if (id_accept(e, now, res) != 0) {
        return -1;
    }

    rc = mdm_cms_verify_with(&cms, body, body_len, &e->verifier, id->md_ctx,
                             &res->error);
    if (rc != 0) {
        res->reason = rc == MDM_CMS_DIGEST_MISMATCH
                      ? MDM_IDENTITY_DIGEST_MISMATCH
                      : rc == MDM_CMS_BAD_SIGNATURE
                      ? MDM_IDENTITY_BAD_SIGNATURE : MDM_IDENTITY_OTHER;
        return -1;
    }

    return 0;
}


int
mdm_identity_from_der(mdm_identity_t *id, const unsigned char *der,
    size_t len, time_t now, mdm_identity_result_t *res)
{
    id_entry_t  *e;

    memset(res, 0, sizeof(*res));

    e = id_cache_get(id, der, len);
    if (e == NULL) {
        return id_refuse(res, MDM_IDENTITY_OTHER, "out of memory");
    }

    return id_accept(e, now, res);
}


const char *
mdm_identity_reason_name(mdm_identity_reason_e reason)
{
    return reason < MDM_IDENTITY_REASONS ? id_reason_names[reason]
                                         : id_reason_names[MDM_IDENTITY_OTHER];
}


mdm_identity_reason_e
mdm_identity_script_reason(const char *text)
{
    size_t  i;

    for (i = 0; id_script_reasons[i].prefix != NULL; i++) {
        if (text != NULL
            && strncmp(text, id_script_reasons[i].prefix,
                       strlen(id_script_reasons[i].prefix))
               == 0)
        {
            break;
        }
    }

    return id_script_reasons[i].reason;
}


/* Fills res from a cached verdict and checks it against the clock. */
static int
id_accept(const id_entry_t *e, time_t now, mdm_identity_result_t *res)
{
    memcpy(res->sha256_hex, e->sha256_hex, sizeof(res->sha256_hex));
    memcpy(res->cn, e->cn, sizeof(res->cn));
    res->not_after = e->not_after;

    if (e->verdict != NULL) {
        return id_refuse(res, e->verdict->reason, e->verdict->text);
    }

    if (now > e->not_after) {
        return id_refuse(res, MDM_IDENTITY_EXPIRED, "expired");
    }

    if (now < e->not_before) {
        return id_refuse(res, MDM_IDENTITY_NOT_YET_VALID, "not yet valid");
    }

    return 0;
}


static int
id_refuse(mdm_identity_result_t *res, mdm_identity_reason_e reason,
    const char *text)
{
    res->reason = reason;
    res->error = text;

    return -1;
}


/* The cached entry for these bytes, examined on first sight. */
static id_entry_t *
id_cache_get(mdm_identity_t *id, const unsigned char *der, size_t len)
{
    uint32_t     i;
    uint64_t     hash;
    id_entry_t  *e;

    hash = id_siphash(id->seed, der, len);

    for (i = id->buckets[hash & id->mask]; i != ID_NONE; i = e->bucket_next) {
        e = &id->entries[i];

        if (e->hash == hash && e->der_len == len
            && memcmp(e->der, der, len) == 0)
        {
            id_lru_unlink(id, i);
            id_lru_push(id, i);

            if (e->retry) {
                id->stats.misses++;
                id_examine(id, e);
                return e;
            }

            id->stats.hits++;
            return e;
        }
    }

    id->stats.misses++;

    e = id_cache_add(id, hash, der, len);
    if (e != NULL) {
        id_examine(id, e);
    }

    return e;
}


static id_entry_t *
id_cache_add(mdm_identity_t *id, uint64_t hash, const unsigned char *der,
    size_t len)
{
    uint32_t        i;
    unsigned char  *copy;
    id_entry_t     *e;

    copy = malloc(len ? len : 1);
    if (copy == NULL) {
        return NULL;
    }

    memcpy(copy, der, len);

    if (id->used < id->size) {
        i = id->used++;

    } else {
        i = id->lru_tail;
        id_cache_drop(id, i);
        id->stats.evictions++;
    }

    e = &id->entries[i];
    memset(e, 0, sizeof(*e));
    e->hash = hash;
    e->der = copy;
    e->der_len = len;

    e->bucket_next = id->buckets[hash & id->mask];
    id->buckets[hash & id->mask] = i;
    id_lru_push(id, i);

    return e;
}


/* Frees entry i and unlinks it, leaving the slot for reuse. */
static void
id_cache_drop(mdm_identity_t *id, uint32_t i)
{
    uint32_t    *link;
    id_entry_t  *e;

    e = &id->entries[i];

    for (link = &id->buckets[e->hash & id->mask];
         *link != i;
         link = &id->entries[*link].bucket_next)
    { /* void */ }

    *link = e->bucket_next;
    id_lru_unlink(id, i);
    id_entry_free(e);
}


static void
id_entry_free(id_entry_t *e)
{
    free(e->der);
    mdm_cms_verifier_free(&e->verifier);
    EVP_PKEY_free(e->verifier.pkey);
    e->der = NULL;
    e->verifier.pkey = NULL;
}


static void
id_lru_unlink(mdm_identity_t *id, uint32_t i)
{
    id_entry_t  *e;

    e = &id->entries[i];

    if (e->lru_prev != ID_NONE) {
        id->entries[e->lru_prev].lru_next = e->lru_next;

    } else {
        id->lru_head = e->lru_next;
    }

    if (e->lru_next != ID_NONE) {
        id->entries[e->lru_next].lru_prev = e->lru_prev;

    } else {
        id->lru_tail = e->lru_prev;
    }
}


static void
id_lru_push(mdm_identity_t *id, uint32_t i)
{
    id_entry_t  *e;

    e = &id->entries[i];
    e->lru_prev = ID_NONE;
    e->lru_next = id->lru_head;

    if (id->lru_head != ID_NONE) {
        id->entries[id->lru_head].lru_prev = i;

    } else {
        id->lru_tail = i;
    }

    id->lru_head = i;
}


/*
 * The expensive part, once per certificate: decode, verify the chain and
 * keep the public key. The verdict is cached whatever it is, so a bad
 * certificate sent again costs no more than a good one; only running out of
 * memory is no verdict, and the next request examines the bytes again.
 */
static void
id_examine(mdm_identity_t *id, id_entry_t *e)
{
    X509  *x;

    ERR_clear_error();

    e->retry = 0;
    e->verdict = id_decode(e, &x);

    if (e->verdict == NULL) {
        id_cn(x, e->cn);
        e->verdict = id_verify_chain(id, x, e);
    }

    if (e->verdict == NULL) {
        e->verifier.pkey = X509_get_pubkey(x);

        if (e->verifier.pkey == NULL) {
            e->verdict = &id_unsupported_key;
        }
    }

    if (e->verdict == &id_no_memory || id_out_of_memory()) {
        EVP_PKEY_free(e->verifier.pkey);
        e->verifier.pkey = NULL;
        e->verdict = &id_no_memory;
        e->retry = 1;
    }

    X509_free(x);
    ERR_clear_error();
}


/*
 * The certificate must be DER, the one encoding of it: its SHA-256 is the
 * binding key, and BER's freedom outside the signed part would give one
 * certificate many keys and many cache entries.
 */
static const id_verdict_t *
id_decode(id_entry_t *e, X509 **x)
{
    int                   len;
    unsigned int          n;
    unsigned char        *der, dig[32];
    const unsigned char  *p;

    if (EVP_Digest(e->der, e->der_len, dig, &n, EVP_sha256(), NULL) != 1) {
        *x = NULL;
        return &id_no_memory;
    }

    mdm_hex_encode(dig, n, e->sha256_hex);

    p = e->der;
    *x = d2i_X509(NULL, &p, e->der_len);

    if (*x == NULL || p != e->der + e->der_len) {
        return &id_bad_certificate;
    }

    der = NULL;
    len = i2d_X509(*x, &der);

    if (len < 0) {
        return &id_no_memory;
    }

    if ((size_t) len != e->der_len || memcmp(der, e->der, len) != 0) {
        OPENSSL_free(der);
        return &id_not_der;
    }

    OPENSSL_free(der);

    return NULL;
}


static const id_verdict_t *
id_verify_chain(mdm_identity_t *id, X509 *x, id_entry_t *e)
{
    int              i, rc, reason;
    time_t           nb, na;
    X509            *c;
    X509_STORE_CTX  *ctx;
    STACK_OF(X509)  *chain;

    ctx = X509_STORE_CTX_new();

    if (ctx == NULL || X509_STORE_CTX_init(ctx, id->store, x, NULL) != 1) {
        X509_STORE_CTX_free(ctx);
        return &id_no_memory;
    }

    /* clientAuth is required only where an extendedKeyUsage is present. */
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);

    rc = X509_verify_cert(ctx);
    reason = X509_STORE_CTX_get_error(ctx);

    if (rc != 1) {
        X509_STORE_CTX_free(ctx);

        if (rc < 0 || reason == X509_V_ERR_OUT_OF_MEM) {
            return &id_no_memory;
        }

        return reason == X509_V_ERR_INVALID_PURPOSE ? &id_wrong_usage
                                                    : &id_untrusted_chain;
    }

    chain = X509_STORE_CTX_get0_chain(ctx);
    e->not_before = 0;
    e->not_after = (time_t) INT64_MAX;

    for (i = 0; i < sk_X509_num(chain); i++) {
        c = sk_X509_value(chain, i);

        nb = id_time(X509_get0_notBefore(c));
        na = id_time(X509_get0_notAfter(c));

        if (nb == (time_t) -1 || na == (time_t) -1) {
            X509_STORE_CTX_free(ctx);
            return &id_bad_validity;
        }

        e->not_before = nb > e->not_before ? nb : e->not_before;
        e->not_after = na < e->not_after ? na : e->not_after;
    }

    X509_STORE_CTX_free(ctx);

    return NULL;
}


/* Whether OpenSSL ran out of memory since the error queue was cleared. */
static int
id_out_of_memory(void)
{
    unsigned long  err;

    while ((err = ERR_get_error()) != 0) {
        if (ERR_GET_REASON(err) == ERR_R_MALLOC_FAILURE) {
            return 1;
        }
    }

    return 0;
}


static time_t
id_time(const ASN1_TIME *t)
{
    struct tm  tm;

    /* -1 doubles as "unreadable": no device certificate ends in 1969. */
    if (ASN1_TIME_to_tm(t, &tm) != 1) {
        return (time_t) -1;
    }

    return timegm(&tm);
}


static void
id_cn(X509 *x, char *out)
{
    int              i, len;
    unsigned char   *utf8;
    X509_NAME       *name;

    name = X509_get_subject_name(x);
    i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);

    if (i < 0) {
        return;
    }

    len = ASN1_STRING_to_UTF8(&utf8,
              X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    if (len < 0) {
        return;
    }

    if (len > MDM_IDENTITY_CN_MAX) {
        len = MDM_IDENTITY_CN_MAX;
    }

    /* Log lines must not carry control bytes or half UTF-8 sequences. */
    for (i = 0; i < len; i++) {
        out[i] = (utf8[i] >= 0x20 && utf8[i] < 0x7f) ? utf8[i] : '?';
    }

    out[len] = '\0';
    OPENSSL_free(utf8);
}


#define ID_ROTL(x, b)  (uint64_t) (((x) << (b)) | ((x) >> (64 - (b))))

#define ID_SIPROUND                                                          \
    do {                                                                     \
        v0 += v1; v1 = ID_ROTL(v1, 13); v1 ^= v0; v0 = ID_ROTL(v0, 32);      \
        v2 += v3; v3 = ID_ROTL(v3, 16); v3 ^= v2;                            \
        v0 += v3; v3 = ID_ROTL(v3, 21); v3 ^= v0;                            \
        v2 += v1; v1 = ID_ROTL(v1, 17); v1 ^= v2; v2 = ID_ROTL(v2, 32);      \
    } while (0)


/* SipHash-2-4: a keyed hash, so bucket collisions cannot be precomputed. */
static uint64_t
id_siphash(const uint64_t key[2], const unsigned char *in, size_t len)
{
    int       i;
    size_t    off;
    uint64_t  v0, v1, v2, v3, m;

    v0 = 0x736f6d6570736575ULL ^ key[0];
    v1 = 0x646f72616e646f6dULL ^ key[1];
    v2 = 0x6c7967656e657261ULL ^ key[0];
    v3 = 0x7465646279746573ULL ^ key[1];

    for (off = 0; off + 8 <= len; off += 8) {
        for (m = 0, i = 7; i >= 0; i--) {
            m = (m << 8) | in[off + i];
        }

        v3 ^= m;
        ID_SIPROUND;
        ID_SIPROUND;
        v0 ^= m;
    }

    for (m = (uint64_t) len << 56, i = 0; off + i < len; i++) {
        m |= (uint64_t) in[off + i] << (8 * i);
    }

    v3 ^= m;
    ID_SIPROUND;
    ID_SIPROUND;
    v0 ^= m;
    v2 ^= 0xff;
    ID_SIPROUND;
    ID_SIPROUND;
    ID_SIPROUND;
    ID_SIPROUND;

    return v0 ^ v1 ^ v2 ^ v3;
}


long
mdm_identity_der_from_escaped_pem(const char *in, size_t len,
    unsigned char *out)
{
    int           hi, lo;
    size_t        i, n;
    const char   *begin, *end;
    static const char  head[] = "-----BEGIN CERTIFICATE-----";
    static const char  tail[] = "-----END CERTIFICATE-----";

    /* Unescape into out first; the base64 then decodes in place. */
    for (i = 0, n = 0; i < len; i++, n++) {
        if (in[i] != '%') {
            out[n] = in[i];
            continue;
        }

        if (len - i < 3) {
            return -1;
        }

        hi = id_unhex(in[i + 1]);
        lo = id_unhex(in[i + 2]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        out[n] = (unsigned char) (hi << 4 | lo);
        i += 2;
    }

    begin = memmem(out, n, head, sizeof(head) - 1);
    if (begin == NULL) {
        return -1;
    }

    begin += sizeof(head) - 1;
    end = memmem(begin, n - (begin - (char *) out), tail, sizeof(tail) - 1);

    if (end == NULL) {
        return -1;
    }

    return mdm_base64_decode(begin, end - begin, out,
                             MDM_BASE64_SPACE);
}


long
mdm_identity_der_from_client_cert(const char *in, size_t len,
    unsigned char *out)
{
    /* RFC 9110 optional whitespace around the field value. */
    while (len > 0 && (*in == ' ' || *in == '\t')) {
        in++;
        len--;
    }

    while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t')) {
        len--;
    }

    if (len < 2 || in[0] != ':' || in[len - 1] != ':') {
        return -1;
    }

    return mdm_base64_decode(in + 1, len - 2, out, 0);
}


static int
id_unhex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}
