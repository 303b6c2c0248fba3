/*
 * device-attest-01 attestation objects (mdm_acme_attest.h): CBOR by
 * libcbor, the chain and the extensions by OpenSSL.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <jansson.h>
#include <jose/b64.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "acme/mdm_acme_attest.h"
#include "mdm_hex.h"


#define MDM_ACME_CBOR_DEPTH  8


/*
 * A walk over the CBOR before libcbor sees it: definite lengths only, no
 * nesting deeper than MDM_ACME_CBOR_DEPTH, and every count no larger than
 * the bytes left (libcbor allocates an array of the declared size before
 * reading its items: a 5-byte header could ask for gigabytes). Returns the
 * bytes the item at p takes, or 0 when it is not acceptable.
 */
static size_t
mdm_acme_cbor_item(const unsigned char *p, size_t len, int depth)
{
    int       major, ai;
    size_t    n, head, i, used, m;
    uint64_t  v = 0;

    if (len == 0 || depth > MDM_ACME_CBOR_DEPTH) {
        return 0;
    }

    major = p[0] >> 5;
    ai = p[0] & 0x1f;

    if (ai < 24) {
        v = ai;
        head = 1;
    } else if (ai <= 27) {
        n = (size_t) 1 << (ai - 24);
        if (len < 1 + n) {
            return 0;
        }
        for (i = 0; i < n; i++) {
            v = (v << 8) | p[1 + i];
        }
        head = 1 + n;
    } else {
        return 0;                   /* reserved, or indefinite length */
    }

    switch (major) {
    case 0: case 1: case 7:
        return head;
    case 2: case 3:
        return (v <= len - head) ? head + v : 0;
    case 6:
        m = mdm_acme_cbor_item(p + head, len - head, depth + 1);
        return m ? head + m : 0;
    default:                        /* 4 array, 5 map */
        n = (major == 5) ? 2 : 1;
        if (v > (len - head) / n) {
            return 0;
        }
        used = head;
        for (i = 0; i < v * n; i++) {
            m = mdm_acme_cbor_item(p + used, len - used, depth + 1);
            if (m == 0) {
                return 0;
            }
            used += m;
        }
        return used;
    }
}


/* the value of key name in a CBOR map, or NULL */
static cbor_item_t *
mdm_acme_cbor_get(cbor_item_t *map, const char *name)
{
    size_t             i, n, len = strlen(name);
    struct cbor_pair  *p;

    n = cbor_map_size(map);
    p = cbor_map_handle(map);

    for (i = 0; i < n; i++) {
        if (cbor_isa_string(p[i].key) && cbor_string_is_definite(p[i].key)
            && cbor_string_length(p[i].key) == len
            && memcmp(cbor_string_handle(p[i].key), name, len) == 0)
        {
            return p[i].value;
        }
    }

    return NULL;
}


/* x5c: 1..MDM_ACME_ATTEST_CHAIN definite byte strings of DER */
static int
mdm_acme_attest_chain(cbor_item_t *x5c, X509 **leaf, STACK_OF(X509) *rest,
    mdm_acme_err_t *err)
{
    size_t                i, n;
    X509                 *x;
    cbor_item_t          *v;
    const unsigned char  *p;

    if (x5c == NULL || !cbor_isa_array(x5c) || !cbor_array_is_definite(x5c)) {
        return mdm_acme_fail(err, MDM_ACME_BAD_ATTESTATION,
                             "attStmt without an x5c array");
    }

    n = cbor_array_size(x5c);
    if (n == 0 || n > MDM_ACME_ATTEST_CHAIN) {
        return mdm_acme_fail(err, MDM_ACME_BAD_ATTESTATION,
                             "x5c of %zu certificates", n);
    }

    for (i = 0; i < n; i++) {
        v = cbor_array_handle(x5c)[i];

        if (!cbor_isa_bytestring(v) || !cbor_bytestring_is_definite(v)) {
            return mdm_acme_fail(err, MDM_ACME_BAD_ATTESTATION,
                                 "x5c[%zu] is not a byte string", i);
        }

        p = cbor_bytestring_handle(v);
        x = d2i_X509(NULL, &p, (long) cbor_bytestring_length(v));
        if (x == NULL
            || p != cbor_bytestring_handle(v) + cbor_bytestring_length(v))
        {
            X509_free(x);
            return mdm_acme_fail(err, MDM_ACME_BAD_ATTESTATION,
                                 "x5c[%zu] is not a DER certificate", i);
        }

        if (i == 0) {
            *leaf = x;
        } else if (!sk_X509_push(rest, x)) {
            X509_free(x);
            return mdm_acme_fail(err, MDM_ACME_SERVER_INTERNAL,
                                 "out of memory");
        }
    }

    return 0;
}


static int
mdm_acme_attest_trust(X509 *leaf, STACK_OF(X509) *rest, X509_STORE *roots,
    time_t now, mdm_acme_err_t *err)
{
    int              ok, code;
    X509_STORE_CTX  *ctx;

    ctx = X509_STORE_CTX_new();
    if (ctx == NULL || !X509_STORE_CTX_init(ctx, roots, leaf, rest)) {
        X509_STORE_CTX_free(ctx);
        return mdm_acme_fail(err, MDM_ACME_SERVER_INTERNAL, "out of memory");
    }

    X509_STORE_CTX_set_time(ctx, 0, now);
    ok = X509_verify_cert(ctx);
    code = X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);

    if (ok != 1) {
        return mdm_acme_fail(err, MDM_ACME_BAD_ATTESTATION,
                             "attestation chain not trusted: %s",
                             X509_verify_cert_error_string(code));
    }

    return 0;
}


/* the raw value of the leaf's extension oid into buf (NUL-terminated when
 * text); its length, or -1 when absent or longer than size - 1 */
static int
mdm_acme_attest_ext(X509 *leaf, const char *oid, unsigned char *buf,
    size_t size)
{
    int                 i, n;
    ASN1_OBJECT        *obj;
    X509_EXTENSION     *ext;
    ASN1_OCTET_STRING  *v;

    obj = OBJ_txt2obj(oid, 1);
    if (obj == NULL) {
        return -1;
    }

    i = X509_get_ext_by_OBJ(leaf, obj, -1);
    ASN1_OBJECT_free(obj);

    if (i < 0) {
        return -1;
    }

    ext = X509_get_ext(leaf, i);
    v = X509_EXTENSION_get_data(ext);
    n = ASN1_STRING_length(v);

    if (n < 0 || (size_t) n >= size) {
        return -1;
    }

    memcpy(buf, ASN1_STRING_get0_data(v), n);
    buf[n] = '\0';

    return n;
}


/* a text extension: printable ASCII only, so that it can be stored,
 * logged and compared as a string */
static int
mdm_acme_attest_text(X509 *leaf, const char *oid, char *out, size_t size)
{
    int  n, i;

    n = mdm_acme_attest_ext(leaf, oid, (unsigned char *) out, size);
    if (n < 0) {
        out[0] = '\0';
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (out[i] < 0x21 || out[i] > 0x7e || out[i] == '{'
            || out[i] == '}')
        {
            out[0] = '\0';
            return -1;
        }
    }

    return 0;
}


int
mdm_acme_key_sha256(EVP_PKEY *key, char out[65])
{
    int             n;
    unsigned char  *der = NULL, md[32];

    n = i2d_PUBKEY(key, &der);
    if (n <= 0) {
        return -1;
    }

    EVP_Digest(der, n, md, NULL, EVP_sha256(), NULL);
    OPENSSL_free(der);
    mdm_hex_encode(md, sizeof(md), out);

    return 0;
}


static int
mdm_acme_attest_leaf(X509 *leaf, const char *token, const char *identifier,
    mdm_acme_attest_t *out, mdm_acme_err_t *err)
{
    int             n;
    unsigned char   code[64], want[32];

    n = mdm_acme_attest_ext(leaf, MDM_ACME_OID_FRESHNESS, code, sizeof(code));
    if (n < 0) {
        return mdm_acme_fail(err, MDM_ACME_BAD_ATTESTATION,
                             "attestation without a freshness code");
    }

    EVP_Digest(token, strlen(token), want, NULL, EVP_sha256(), NULL);

    if (n != (int) sizeof(want) || CRYPTO_memcmp(code, want, n) != 0) {
        return mdm_acme_fail(err, MDM_ACME_BAD_ATTESTATION,
                             "freshness code is not SHA-256 of this "
                             "challenge's token");
    }

    if (mdm_acme_attest_text(leaf, MDM_ACME_OID_SERIAL, out->serial,
                             sizeof(out->serial)) != 0
        || mdm_acme_attest_text(leaf, MDM_ACME_OID_UDID, out->udid,
                                sizeof(out->udid)) != 0
        || mdm_acme_attest_text(leaf, MDM_ACME_OID_OS_VERSION,
                                out->os_version, sizeof(out->os_version))
           != 0
        || mdm_acme_attest_text(leaf, MDM_ACME_OID_SEPOS, out->sepos_version,
                                sizeof(out->sepos_version)) != 0)
    {
        return mdm_acme_fail(err, MDM_ACME_BAD_ATTESTATION,
                             "attestation with an unreadable device "
                             "property");
    }

    if ((out->serial[0] == '\0' || strcmp(identifier, out->serial) != 0)
        && (out->udid[0] == '\0' || strcmp(identifier, out->udid) != 0))
    {
        mdm_acme_fail(err, MDM_ACME_BAD_ATTESTATION,
                      "the attested device (serial \"%.64s\") is not the "
                      "order's identifier", out->serial);
        snprintf(err->identifier, sizeof(err->identifier), "%s", identifier);
        return -1;
    }

    if (mdm_acme_key_sha256(X509_get0_pubkey(leaf), out->key_sha256) != 0) {
        return mdm_acme_fail(err, MDM_ACME_BAD_ATTESTATION,
                             "attested key unreadable");
    }

    return 0;
}


int
mdm_acme_attest_verify(const unsigned char *cbor, size_t len,
    X509_STORE *roots, const char *token, const char *identifier,
    time_t now, mdm_acme_attest_t *out, mdm_acme_err_t *err)
{
    int                  rc = -1;
    X509                *leaf = NULL;
    cbor_item_t         *root, *fmt, *stmt;
    STACK_OF(X509)      *rest;
    struct cbor_load_result  res;

    memset(out, 0, sizeof(*out));

    if (len == 0 || len > MDM_ACME_ATTEST_MAX) {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                             "attestation object of %zu bytes", len);
    }

    if (mdm_acme_cbor_item(cbor, len, 0) != len) {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                             "attestation object is not one definite-length "
                             "CBOR item");
    }

    root = cbor_load(cbor, len, &res);
    if (root == NULL || res.error.code != CBOR_ERR_NONE
        || res.read != len || !cbor_isa_map(root)
        || !cbor_map_is_definite(root))
    {
        if (root != NULL) {
            cbor_decref(&root);
        }
        return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                             "attestation object is not a CBOR map");
    }

    rest = sk_X509_new_null();
    if (rest == NULL) {
        cbor_decref(&root);
        return mdm_acme_fail(err, MDM_ACME_SERVER_INTERNAL, "out of memory");
    }

    fmt = mdm_acme_cbor_get(root, "fmt");
    stmt = mdm_acme_cbor_get(root, "attStmt");

    if (fmt == NULL || !cbor_isa_string(fmt)
        || !cbor_string_is_definite(fmt) || cbor_string_length(fmt) != 5
        || memcmp(cbor_string_handle(fmt), "apple", 5) != 0)
    {
        mdm_acme_fail(err, MDM_ACME_BAD_ATTESTATION,
                      "attestation format is not \"apple\"");
        goto done;
    }

    if (stmt == NULL || !cbor_isa_map(stmt)) {
        mdm_acme_fail(err, MDM_ACME_BAD_ATTESTATION,
                      "attestation without attStmt");
        goto done;
    }

    if (mdm_acme_attest_chain(mdm_acme_cbor_get(stmt, "x5c"), &leaf, rest,
                              err) != 0
        || mdm_acme_attest_trust(leaf, rest, roots, now, err) != 0
        || mdm_acme_attest_leaf(leaf, token, identifier, out, err) != 0)
    {
        goto done;
    }

    rc = 0;

done:

    X509_free(leaf);
    sk_X509_pop_free(rest, X509_free);
    cbor_decref(&root);

    return rc;
}


int
mdm_acme_attest_payload(const char *attobj, unsigned char **cbor,
    size_t *len, mdm_acme_err_t *err)
{
    size_t  n, max;

    max = (MDM_ACME_ATTEST_MAX * 4 + 2) / 3;

    if (attobj == NULL || strlen(attobj) > max) {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                             "challenge payload without a usable attObj");
    }

    n = jose_b64_dec_buf(attobj, strlen(attobj), NULL, 0);
    if (n == SIZE_MAX || n == 0) {
        return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                             "attObj is not base64url");
    }

    *cbor = malloc(n);
    if (*cbor == NULL) {
        return mdm_acme_fail(err, MDM_ACME_SERVER_INTERNAL, "out of memory");
    }

    if (jose_b64_dec_buf(attobj, strlen(attobj), *cbor, n) != n) {
        free(*cbor);
        *cbor = NULL;
        return mdm_acme_fail(err, MDM_ACME_MALFORMED,
                             "attObj is not base64url");
    }

    *len = n;

    return 0;
}
