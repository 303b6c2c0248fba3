#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "mdm_cms.h"


/* Deep enough for any real CMS; bounds the recursion on hostile BER. */
#define CMS_MAX_DEPTH  32

/* Apple includes the device certificate, sometimes with its issuers. */
#define CMS_MAX_CERTS  16

#define CMS_TAG_BOOLEAN       0x01
#define CMS_TAG_INTEGER       0x02
#define CMS_TAG_OCTET_STRING  0x04
#define CMS_TAG_NULL          0x05
#define CMS_TAG_OID           0x06
#define CMS_TAG_SEQUENCE      0x30
#define CMS_TAG_SET           0x31
#define CMS_TAG_CTX0          0xa0
#define CMS_TAG_CTX1          0xa1
#define CMS_TAG_CTX3          0xa3
#define CMS_TAG_CTX0_PRIM     0x80
#define CMS_CONSTRUCTED       0x20


/* A position inside one constructed value (or the whole input). */
typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;        /* outer bound when indefinite */
    unsigned              indefinite;
    unsigned              depth;
} cms_rd_t;

typedef struct {
    unsigned              tag;
    const unsigned char  *start;      /* the tag byte */
    const unsigned char  *body;
    size_t                len;        /* definite lengths only */
    unsigned              indefinite;
} cms_tlv_t;

typedef struct {
    const unsigned char  *start;
    size_t                len;
} cms_span_t;

typedef struct {
    cms_span_t            issuer;     /* whole Name TLV */
    cms_span_t            serial;     /* whole INTEGER TLV */
    cms_span_t            key_id;     /* SubjectKeyIdentifier contents */
} cms_sid_t;

typedef struct {
    const unsigned char  *oid;
    size_t                len;
    int                   sig;
    int                   md;         /* implied digest, 0 if none */
} cms_alg_t;


static int cms_header(cms_rd_t *rd, cms_tlv_t *t);
static int cms_more(const cms_rd_t *rd);
static int cms_peek(const cms_rd_t *rd);
static int cms_enter(const cms_rd_t *rd, const cms_tlv_t *t, cms_rd_t *in);
static int cms_leave(cms_rd_t *rd, const cms_rd_t *in);
static int cms_skip(cms_rd_t *rd, cms_tlv_t *t);
static int cms_expect(cms_rd_t *rd, unsigned tag, cms_tlv_t *t);
static int cms_expect_prim(cms_rd_t *rd, unsigned tag, cms_tlv_t *t);
static int cms_open(cms_rd_t *rd, unsigned tag, cms_rd_t *in);
static int cms_oid_is(const cms_tlv_t *t, const unsigned char *oid,
    size_t len);
static const cms_alg_t *cms_alg(cms_rd_t *rd, const cms_alg_t *table,
    const char **err);
static int cms_signed_data(cms_rd_t *rd, mdm_cms_t *cms, const char **err);
static int cms_encap(cms_rd_t *rd, cms_tlv_t *type, const char **err);
static int cms_certs(cms_rd_t *rd, cms_span_t *certs, size_t *n,
    const char **err);
static int cms_signer_infos(cms_rd_t *rd, mdm_cms_t *cms, cms_sid_t *sid,
    const cms_tlv_t *type, const char **err);
static int cms_signer_info(cms_rd_t *rd, mdm_cms_t *cms, cms_sid_t *sid,
    const cms_tlv_t *type, const char **err);
static int cms_sid(cms_rd_t *rd, cms_sid_t *sid);
static int cms_signed_attrs(cms_rd_t *rd, mdm_cms_t *cms,
    const cms_tlv_t *type, const char **err);
static int cms_attr(cms_rd_t *rd, mdm_cms_t *cms, const cms_tlv_t *type,
    unsigned *seen);
static int cms_pick_signer(mdm_cms_t *cms, const cms_span_t *certs, size_t n,
    const cms_sid_t *sid);
static int cms_cert_matches(const cms_span_t *cert, const cms_sid_t *sid);
static int cms_cert_key_id(cms_rd_t *rd, cms_span_t *key_id);
static int cms_ext_key_id(cms_rd_t *rd, cms_span_t *key_id);
static int cms_span_eq(const cms_span_t *a, const cms_span_t *b);
static int cms_digests(const mdm_cms_t *cms, const unsigned char *body,
    size_t body_len, EVP_MD_CTX *ctx, unsigned char *dig,
    unsigned int *dig_len, const char **err);
static int cms_digest(EVP_MD_CTX *ctx, const EVP_MD *md,
    const unsigned char *head, size_t head_len, const unsigned char *in,
    size_t len, unsigned char *out, unsigned int *out_len);
static int cms_verify_digest(const mdm_cms_t *cms, mdm_cms_verifier_t *v,
    const unsigned char *dig, size_t dig_len, const char **err);
static int cms_verifier_setup(const mdm_cms_t *cms, mdm_cms_verifier_t *v,
    const char **err);


static const unsigned char  oid_signed_data[] =
    { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02 };
static const unsigned char  oid_content_type[] =
    { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03 };
static const unsigned char  oid_message_digest[] =
    { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04 };
static const unsigned char  oid_subject_key_id[] = { 0x55, 0x1d, 0x0e };

static const unsigned char  oid_sha1[] = { 0x2b, 0x0e, 0x03, 0x02, 0x1a };
static const unsigned char  oid_sha256[] =
    { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 };
static const unsigned char  oid_sha384[] =
    { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02 };
static const unsigned char  oid_sha512[] =
    { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03 };

static const unsigned char  oid_rsa[] =
    { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };
static const unsigned char  oid_rsa_sha1[] =
    { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05 };
static const unsigned char  oid_rsa_sha256[] =
    { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b };
static const unsigned char  oid_rsa_sha384[] =
    { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c };
static const unsigned char  oid_rsa_sha512[] =
    { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d };
static const unsigned char  oid_ec_key[] =
    { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01 };
static const unsigned char  oid_ecdsa_sha1[] =
    { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01 };
static const unsigned char  oid_ecdsa_sha256[] =
    { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
static const unsigned char  oid_ecdsa_sha384[] =
    { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03 };
static const unsigned char  oid_ecdsa_sha512[] =
    { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04 };

#define CMS_OID(o)  o, sizeof(o)

static const cms_alg_t  cms_digest_algs[] = {
    { CMS_OID(oid_sha1), 0, MDM_CMS_MD_SHA1 },
    { CMS_OID(oid_sha256), 0, MDM_CMS_MD_SHA256 },
    { CMS_OID(oid_sha384), 0, MDM_CMS_MD_SHA384 },
    { CMS_OID(oid_sha512), 0, MDM_CMS_MD_SHA512 },
    { NULL, 0, 0, 0 }
};

/* Signers write either the bare key type or the combined OID. */
static const cms_alg_t  cms_sig_algs[] = {
    { CMS_OID(oid_rsa), MDM_CMS_SIG_RSA, 0 },
    { CMS_OID(oid_rsa_sha1), MDM_CMS_SIG_RSA, MDM_CMS_MD_SHA1 },
    { CMS_OID(oid_rsa_sha256), MDM_CMS_SIG_RSA, MDM_CMS_MD_SHA256 },
    { CMS_OID(oid_rsa_sha384), MDM_CMS_SIG_RSA, MDM_CMS_MD_SHA384 },
    { CMS_OID(oid_rsa_sha512), MDM_CMS_SIG_RSA, MDM_CMS_MD_SHA512 },
    { CMS_OID(oid_ec_key), MDM_CMS_SIG_ECDSA, 0 },
    { CMS_OID(oid_ecdsa_sha1), MDM_CMS_SIG_ECDSA, MDM_CMS_MD_SHA1 },
    { CMS_OID(oid_ecdsa_sha256), MDM_CMS_SIG_ECDSA, MDM_CMS_MD_SHA256 },
    { CMS_OID(oid_ecdsa_sha384), MDM_CMS_SIG_ECDSA, MDM_CMS_MD_SHA384 },
    { CMS_OID(oid_ecdsa_sha512), MDM_CMS_SIG_ECDSA, MDM_CMS_MD_SHA512 },
    { NULL, 0, 0, 0 }
};


int
mdm_cms_parse(const unsigned char *der, size_t len, mdm_cms_t *cms,
    const char **err)
{
    cms_rd_t  rd, info, content;
    cms_tlv_t  type;

    memset(cms, 0, sizeof(*cms));

    rd.p = der;
    rd.end = der + len;
    rd.indefinite = 0;
    rd.depth = 0;

    *err = "bad CMS: malformed ContentInfo";

    if (cms_open(&rd, CMS_TAG_SEQUENCE, &info) != 0
        || cms_expect_prim(&info, CMS_TAG_OID, &type) != 0)
    {
        return -1;
    }

    if (!cms_oid_is(&type, CMS_OID(oid_signed_data))) {
        *err = "bad CMS: not SignedData";
        return -1;
    }

    if (cms_open(&info, CMS_TAG_CTX0, &content) != 0) {
        return -1;
    }

    if (cms_signed_data(&content, cms, err) != 0) {
        return -1;
    }

    *err = "bad CMS: malformed ContentInfo";

    if (cms_leave(&info, &content) != 0 || cms_leave(&rd, &info) != 0) {
        return -1;
    }

    if (rd.p != rd.end) {
        *err = "bad CMS: trailing bytes";
        return -1;
    }

    *err = NULL;
    return 0;
}


static int
cms_signed_data(cms_rd_t *rd, mdm_cms_t *cms, const char **err)
{
    size_t      ncerts;
    cms_rd_t    sd, algs;
    cms_sid_t   sid;
    cms_tlv_t   t, type;
    cms_span_t  certs[CMS_MAX_CERTS];

    *err = "bad CMS: malformed SignedData";

    if (cms_open(rd, CMS_TAG_SEQUENCE, &sd) != 0
        || cms_expect_prim(&sd, CMS_TAG_INTEGER, &t) != 0
        || cms_open(&sd, CMS_TAG_SET, &algs) != 0)
    {
        return -1;
    }

    while (cms_more(&algs)) {
        if (cms_expect(&algs, CMS_TAG_SEQUENCE, &t) != 0) {
            return -1;
        }
    }

    if (cms_leave(&sd, &algs) != 0 || cms_encap(&sd, &type, err) != 0) {
        return -1;
    }

    ncerts = 0;

    if (cms_peek(&sd) == CMS_TAG_CTX0
        && cms_certs(&sd, certs, &ncerts, err) != 0)
    {
        return -1;
    }

    /* CRLs play no part: revocation is the binding store's business. */
    if (cms_peek(&sd) == CMS_TAG_CTX1 && cms_skip(&sd, &t) != 0) {
        return -1;
    }

    if (cms_signer_infos(&sd, cms, &sid, &type, err) != 0) {
        return -1;
    }

    *err = "bad CMS: malformed SignedData";

    if (cms_leave(rd, &sd) != 0) {
        return -1;
    }

    if (cms_pick_signer(cms, certs, ncerts, &sid) != 0) {
        *err = "bad CMS: signer certificate not included";
        return -1;
    }

    return 0;
}


static int
cms_encap(cms_rd_t *rd, cms_tlv_t *type, const char **err)
{
    cms_rd_t  encap;

    if (cms_open(rd, CMS_TAG_SEQUENCE, &encap) != 0
        || cms_expect_prim(&encap, CMS_TAG_OID, type) != 0)
    {
        return -1;
    }

    /* The body travels as HTTP payload; a copy inside would be unchecked. */
    if (cms_more(&encap)) {
        *err = "bad CMS: content is not detached";
        return -1;
    }

    return cms_leave(rd, &encap);
}


static int
cms_certs(cms_rd_t *rd, cms_span_t *certs, size_t *n, const char **err)
{
    cms_rd_t   set;
    cms_tlv_t  t;

    if (cms_open(rd, CMS_TAG_CTX0, &set) != 0) {
        return -1;
    }

    while (cms_more(&set)) {
        if (cms_skip(&set, &t) != 0) {
            return -1;
        }

        /* Other CertificateChoices (attribute certificates) cannot sign. */
        if (t.tag != CMS_TAG_SEQUENCE) {
            continue;
        }

        if (*n == CMS_MAX_CERTS) {
            *err = "bad CMS: too many certificates";
            return -1;
        }

        certs[*n].start = t.start;
        certs[*n].len = set.p - t.start;
        (*n)++;
    }

    return cms_leave(rd, &set);
}


static int
cms_signer_infos(cms_rd_t *rd, mdm_cms_t *cms, cms_sid_t *sid,
    const cms_tlv_t *type, const char **err)
{
    cms_rd_t  set;

    if (cms_open(rd, CMS_TAG_SET, &set) != 0) {
        return -1;
    }

    if (!cms_more(&set)) {
        *err = "bad CMS: no SignerInfo";
        return -1;
    }

    if (cms_signer_info(&set, cms, sid, type, err) != 0) {
        return -1;
    }

    /* One device, one key: a second signer would need a policy. */
    if (cms_more(&set)) {
        *err = "bad CMS: more than one SignerInfo";
        return -1;
    }

    return cms_leave(rd, &set);
}


static int
cms_signer_info(cms_rd_t *rd, mdm_cms_t *cms, cms_sid_t *sid,
    const cms_tlv_t *type, const char **err)
{
    cms_rd_t          si;
    cms_tlv_t         t;
    const cms_alg_t  *md, *sig;

    *err = "bad CMS: malformed SignerInfo";

    if (cms_open(rd, CMS_TAG_SEQUENCE, &si) != 0
        || cms_expect_prim(&si, CMS_TAG_INTEGER, &t) != 0
        || cms_sid(&si, sid) != 0)
    {
        return -1;
    }

    md = cms_alg(&si, cms_digest_algs, err);
    if (md == NULL) {
        return -1;
    }

    cms->md = md->md;

    if (cms_peek(&si) == CMS_TAG_CTX0
        && cms_signed_attrs(&si, cms, type, err) != 0)
    {
        return -1;
    }

    sig = cms_alg(&si, cms_sig_algs, err);
    if (sig == NULL) {
        return -1;
    }

    if (sig->md != 0 && sig->md != md->md) {
        *err = "bad CMS: signature and digest algorithms disagree";
        return -1;
    }

    cms->sig = sig->sig;
    *err = "bad CMS: malformed SignerInfo";

    if (cms_expect_prim(&si, CMS_TAG_OCTET_STRING, &t) != 0) {
        return -1;
    }

    cms->signature = t.body;
    cms->signature_len = t.len;

    if (cms_peek(&si) == CMS_TAG_CTX1 && cms_skip(&si, &t) != 0) {
        return -1;
    }

    return cms_leave(rd, &si);
}


static int
cms_sid(cms_rd_t *rd, cms_sid_t *sid)
{
    cms_rd_t   ias;
    cms_tlv_t  t;

    memset(sid, 0, sizeof(*sid));

    if (cms_peek(rd) == CMS_TAG_CTX0_PRIM) {
        if (cms_expect_prim(rd, CMS_TAG_CTX0_PRIM, &t) != 0) {
            return -1;
        }

        sid->key_id.start = t.body;
        sid->key_id.len = t.len;
        return 0;
    }

    if (cms_open(rd, CMS_TAG_SEQUENCE, &ias) != 0
        || cms_expect(&ias, CMS_TAG_SEQUENCE, &t) != 0)
    {
        return -1;
    }

    sid->issuer.start = t.start;
    sid->issuer.len = ias.p - t.start;

    if (cms_expect_prim(&ias, CMS_TAG_INTEGER, &t) != 0) {
        return -1;
    }

    sid->serial.start = t.start;
    sid->serial.len = ias.p - t.start;

    return cms_leave(rd, &ias);
}


static int
cms_signed_attrs(cms_rd_t *rd, mdm_cms_t *cms, const cms_tlv_t *type,
    const char **err)
{
    unsigned   seen;
    cms_rd_t   attrs;
    cms_tlv_t  t;

    if (cms_header(rd, &t) != 0 || t.indefinite) {
        *err = "bad CMS: signed attributes not DER";
        return -1;
    }

    /* The signature covers these bytes re-tagged as SET OF. */
    cms->signed_attrs = t.start;
    cms->signed_attrs_len = t.body + t.len - t.start;

    if (cms_enter(rd, &t, &attrs) != 0) {
        return -1;
    }

    seen = 0;

    while (cms_more(&attrs)) {
        if (cms_attr(&attrs, cms, type, &seen) != 0) {
            *err = "bad CMS: bad signed attribute";
            return -1;
        }
    }

    if (seen != 3) {
        *err = "bad CMS: contentType or messageDigest attribute missing";
        return -1;
    }

    return cms_leave(rd, &attrs);
}


/* seen: bit 1 contentType, bit 2 messageDigest; each at most once. */
static int
cms_attr(cms_rd_t *rd, mdm_cms_t *cms, const cms_tlv_t *type,
    unsigned *seen)
{
    unsigned   bit;
    cms_rd_t   attr, values;
    cms_tlv_t  oid, v;

    if (cms_open(rd, CMS_TAG_SEQUENCE, &attr) != 0
        || cms_expect_prim(&attr, CMS_TAG_OID, &oid) != 0
        || cms_open(&attr, CMS_TAG_SET, &values) != 0)
    {
        return -1;
    }

    bit = 0;

    if (cms_oid_is(&oid, CMS_OID(oid_content_type))) {
        if (cms_expect_prim(&values, CMS_TAG_OID, &v) != 0
            || !cms_oid_is(&v, type->body, type->len))
        {
            return -1;
        }

        bit = 1;

    } else if (cms_oid_is(&oid, CMS_OID(oid_message_digest))) {
        if (cms_expect_prim(&values, CMS_TAG_OCTET_STRING, &v) != 0) {
            return -1;
        }

        cms->message_digest = v.body;
        cms->message_digest_len = v.len;
        bit = 2;

    } else {
        while (cms_more(&values)) {
            if (cms_skip(&values, &v) != 0) {
                return -1;
            }
        }
    }

    if ((*seen & bit) || (bit && cms_more(&values))) {
        return -1;
    }

    *seen |= bit;

    if (cms_leave(&attr, &values) != 0) {
        return -1;
    }

    return cms_leave(rd, &attr);
}


/*
 * AlgorithmIdentifier whose parameters, if any, are NULL: true of every
 * algorithm we accept (RSA-PSS, whose parameters matter, is not one).
 */
static const cms_alg_t *
cms_alg(cms_rd_t *rd, const cms_alg_t *table, const char **err)
{
    cms_rd_t          alg;
    cms_tlv_t         oid, params;
    const cms_alg_t  *a;

    if (cms_open(rd, CMS_TAG_SEQUENCE, &alg) != 0
        || cms_expect_prim(&alg, CMS_TAG_OID, &oid) != 0)
    {
        return NULL;
    }

    if (cms_more(&alg)
        && (cms_expect_prim(&alg, CMS_TAG_NULL, &params) != 0
            || params.len != 0))
    {
        return NULL;
    }

    if (cms_leave(rd, &alg) != 0) {
        return NULL;
    }

    for (a = table; a->oid != NULL; a++) {
        if (cms_oid_is(&oid, a->oid, a->len)) {
            return a;
        }
    }

    *err = "bad CMS: unsupported algorithm";
    return NULL;
}


static int
cms_pick_signer(mdm_cms_t *cms, const cms_span_t *certs, size_t n,
    const cms_sid_t *sid)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (cms_cert_matches(&certs[i], sid)) {
            cms->cert = certs[i].start;
            cms->cert_len = certs[i].len;
            return 0;
        }
    }

    return -1;
}


/*
 * Reads just enough of the TBSCertificate to compare issuer and serial (or
 * the subjectKeyIdentifier extension) with the SignerInfo. The certificate
 * itself must be DER, its bytes being the identity's binding key:
 * mdm_identity refuses any other encoding of it.
 */
static int
cms_cert_matches(const cms_span_t *cert, const cms_sid_t *sid)
{
    cms_rd_t    rd, c, tbs;
    cms_tlv_t   t;
    cms_span_t  serial, issuer, key_id;

    rd.p = cert->start;
    rd.end = cert->start + cert->len;
    rd.indefinite = 0;
    rd.depth = 0;

    if (cms_header(&rd, &t) != 0 || t.indefinite
        || cms_enter(&rd, &t, &c) != 0
        || cms_open(&c, CMS_TAG_SEQUENCE, &tbs) != 0)
    {
        return 0;
    }

    if (cms_peek(&tbs) == CMS_TAG_CTX0 && cms_skip(&tbs, &t) != 0) {
        return 0;
    }

    if (cms_expect_prim(&tbs, CMS_TAG_INTEGER, &t) != 0) {
        return 0;
    }

    serial.start = t.start;
    serial.len = tbs.p - t.start;

    if (cms_expect(&tbs, CMS_TAG_SEQUENCE, &t) != 0
        || cms_expect(&tbs, CMS_TAG_SEQUENCE, &t) != 0)
    {
        return 0;
    }

    issuer.start = t.start;
    issuer.len = tbs.p - t.start;

    if (sid->key_id.start == NULL) {
        return cms_span_eq(&serial, &sid->serial)
               && cms_span_eq(&issuer, &sid->issuer);
    }

    return cms_cert_key_id(&tbs, &key_id) == 0
           && cms_span_eq(&key_id, &sid->key_id);
}


/* From after the issuer to the subjectKeyIdentifier in the extensions. */
static int
cms_cert_key_id(cms_rd_t *rd, cms_span_t *key_id)
{
    int        found;
    cms_rd_t   ext, exts;
    cms_tlv_t  t;

    /* validity, subject, subjectPublicKeyInfo */
    if (cms_expect(rd, CMS_TAG_SEQUENCE, &t) != 0
        || cms_expect(rd, CMS_TAG_SEQUENCE, &t) != 0
        || cms_expect(rd, CMS_TAG_SEQUENCE, &t) != 0)
    {
        return -1;
    }

    /* issuerUniqueID, subjectUniqueID */
    while (cms_more(rd) && cms_peek(rd) != CMS_TAG_CTX3) {
        if (cms_skip(rd, &t) != 0) {
            return -1;
        }
    }

    if (cms_open(rd, CMS_TAG_CTX3, &ext) != 0
        || cms_open(&ext, CMS_TAG_SEQUENCE, &exts) != 0)
    {
        return -1;
    }

    while (cms_more(&exts)) {
        found = cms_ext_key_id(&exts, key_id);

        if (found != 0) {
            return found == 1 ? 0 : -1;
        }
    }

    return -1;
}


/* 1 when this Extension is the key identifier, 0 when it is another one. */
static int
cms_ext_key_id(cms_rd_t *rd, cms_span_t *key_id)
{
    cms_rd_t   ext, value;
    cms_tlv_t  oid, t;

    if (cms_open(rd, CMS_TAG_SEQUENCE, &ext) != 0
        || cms_expect_prim(&ext, CMS_TAG_OID, &oid) != 0
        || (cms_peek(&ext) == CMS_TAG_BOOLEAN
            && cms_expect_prim(&ext, CMS_TAG_BOOLEAN, &t) != 0)
        || cms_expect_prim(&ext, CMS_TAG_OCTET_STRING, &t) != 0
        || cms_leave(rd, &ext) != 0)
    {
        return -1;
    }

    if (!cms_oid_is(&oid, CMS_OID(oid_subject_key_id))) {
        return 0;
    }

    /* extnValue wraps the DER of KeyIdentifier ::= OCTET STRING */
    value.p = t.body;
    value.end = t.body + t.len;
    value.indefinite = 0;
    value.depth = rd->depth + 1;

    if (cms_expect_prim(&value, CMS_TAG_OCTET_STRING, &t) != 0
        || value.p != value.end)
    {
        return -1;
    }

    key_id->start = t.body;
    key_id->len = t.len;

    return 1;
}


static int
cms_span_eq(const cms_span_t *a, const cms_span_t *b)
{
    return a->start != NULL && b->start != NULL && a->len == b->len
           && memcmp(a->start, b->start, a->len) == 0;
}


static int
cms_oid_is(const cms_tlv_t *t, const unsigned char *oid, size_t len)
{
    return t->len == len && memcmp(t->body, oid, len) == 0;
}


/* Reads tag and length; leaves rd->p at the contents. */
static int
cms_header(cms_rd_t *rd, cms_tlv_t *t)
{
    size_t    n, len;
    unsigned  b;

    if (rd->end - rd->p < 2) {
        return -1;
    }

    t->start = rd->p;
    t->tag = *rd->p++;
    t->indefinite = 0;

    /* Multi-byte tags and stray end-of-contents never occur in CMS. */
    if ((t->tag & 0x1f) == 0x1f || t->tag == 0) {
        return -1;
    }

    b = *rd->p++;

    if (b < 0x80) {
        len = b;

    } else if (b == 0x80) {
        if (!(t->tag & CMS_CONSTRUCTED)) {
            return -1;
        }

        t->indefinite = 1;
        t->body = rd->p;
        t->len = 0;
        return 0;

    } else {
        n = b & 0x7f;

        if (n > 4 || (size_t) (rd->end - rd->p) < n) {
            return -1;
        }

        for (len = 0; n > 0; n--) {
            len = (len << 8) | *rd->p++;
        }
    }

    if ((size_t) (rd->end - rd->p) < len) {
        return -1;
    }

    t->body = rd->p;
    t->len = len;
    return 0;
}


/* Whether another element follows before the end of this value. */
static int
cms_more(const cms_rd_t *rd)
{
    if (rd->p >= rd->end) {
        return 0;
    }

    if (rd->indefinite) {
        return !(rd->end - rd->p >= 2 && rd->p[0] == 0 && rd->p[1] == 0);
    }

    return 1;
}


/* The next tag, or -1 at the end of this value. */
static int
cms_peek(const cms_rd_t *rd)
{
    return cms_more(rd) ? *rd->p : -1;
}


static int
cms_enter(const cms_rd_t *rd, const cms_tlv_t *t, cms_rd_t *in)
{
    if (!(t->tag & CMS_CONSTRUCTED) || rd->depth >= CMS_MAX_DEPTH) {
        return -1;
    }

    in->p = t->body;
    in->end = t->indefinite ? rd->end : t->body + t->len;
    in->indefinite = t->indefinite;
    in->depth = rd->depth + 1;

    return 0;
}


/* Requires that `in` was read to its end and moves `rd` past it. */
static int
cms_leave(cms_rd_t *rd, const cms_rd_t *in)
{
    if (!in->indefinite) {
        if (in->p != in->end) {
            return -1;
        }

        rd->p = in->end;
        return 0;
    }

    if (in->end - in->p < 2 || in->p[0] != 0 || in->p[1] != 0) {
        return -1;
    }

    rd->p = in->p + 2;
    return 0;
}


/* Reads a whole element of any kind; rd->p ends up after it. */
static int
cms_skip(cms_rd_t *rd, cms_tlv_t *t)
{
    cms_rd_t   in;
    cms_tlv_t  child;

    if (!cms_more(rd) || cms_header(rd, t) != 0) {
        return -1;
    }

    if (!t->indefinite) {
        rd->p = t->body + t->len;
        return 0;
    }

    if (cms_enter(rd, t, &in) != 0) {
        return -1;
    }

    while (cms_more(&in)) {
        if (cms_skip(&in, &child) != 0) {
            return -1;
        }
    }

    return cms_leave(rd, &in);
}


/* Skips one element with the given tag. */
static int
cms_expect(cms_rd_t *rd, unsigned tag, cms_tlv_t *t)
{
    if (cms_peek(rd) != (int) tag) {
        return -1;
    }

    return cms_skip(rd, t);
}


/* A primitive element with the given tag; rd->p ends up after it. */
static int
cms_expect_prim(cms_rd_t *rd, unsigned tag, cms_tlv_t *t)
{
    if (cms_peek(rd) != (int) tag || cms_header(rd, t) != 0) {
        return -1;
    }

    rd->p = t->body + t->len;
    return 0;
}


/* Opens a constructed element with the given tag for reading inside it. */
static int
cms_open(cms_rd_t *rd, unsigned tag, cms_rd_t *in)
{
    cms_tlv_t  t;

    if (cms_peek(rd) != (int) tag || cms_header(rd, &t) != 0) {
        return -1;
    }

    return cms_enter(rd, &t, in);
}


const EVP_MD *
mdm_cms_md(mdm_cms_md_e md)
{
    switch (md) {
    case MDM_CMS_MD_SHA1:
        return EVP_sha1();
    case MDM_CMS_MD_SHA256:
        return EVP_sha256();
    case MDM_CMS_MD_SHA384:
        return EVP_sha384();
    case MDM_CMS_MD_SHA512:
        return EVP_sha512();
    }

    return NULL;
}


int
mdm_cms_verify(const mdm_cms_t *cms, const unsigned char *body,
    size_t body_len, EVP_PKEY *pkey, const char **err)
{
    int                  rc;
    mdm_cms_verifier_t   v;

    memset(&v, 0, sizeof(v));
    v.pkey = pkey;

    rc = mdm_cms_verify_with(cms, body, body_len, &v, NULL, err);

    mdm_cms_verifier_free(&v);
    return rc;
}


void
mdm_cms_verifier_free(mdm_cms_verifier_t *v)
{
    EVP_PKEY_CTX_free(v->ctx);
    v->ctx = NULL;
}


int
mdm_cms_verify_with(const mdm_cms_t *cms, const unsigned char *body,
    size_t body_len, mdm_cms_verifier_t *v, EVP_MD_CTX *md_ctx,
    const char **err)
{
    int             rc;
    EVP_MD_CTX     *own;
    unsigned char   dig[EVP_MAX_MD_SIZE];
    unsigned int    dig_len;

    own = NULL;

    if (md_ctx == NULL) {
        md_ctx = own = EVP_MD_CTX_new();

        if (md_ctx == NULL) {
            *err = "out of memory";
            return -1;
        }
    }

    rc = cms_digests(cms, body, body_len, md_ctx, dig, &dig_len, err);

    EVP_MD_CTX_free(own);

    if (rc != 0) {
        return rc;
    }

    return cms_verify_digest(cms, v, dig, dig_len, err);
}


/* What the signature covers: the body's digest, or with signed attributes
 * (checked to carry that digest) the digest of the attributes. */
static int
cms_digests(const mdm_cms_t *cms, const unsigned char *body, size_t body_len,
    EVP_MD_CTX *ctx, unsigned char *dig, unsigned int *dig_len,
    const char **err)
{
    const EVP_MD          *md;
    static const unsigned char  set_tag = CMS_TAG_SET;

    md = mdm_cms_md(cms->md);

    if (cms_digest(ctx, md, NULL, 0, body, body_len, dig, dig_len) != 0) {
        *err = "digest failed";
        return -1;
    }

    if (cms->signed_attrs == NULL) {
        return 0;
    }

    if (cms->message_digest_len != *dig_len
        || CRYPTO_memcmp(cms->message_digest, dig, *dig_len) != 0)
    {
        *err = "digest mismatch";
        return MDM_CMS_DIGEST_MISMATCH;
    }

    /* The attributes are signed with their universal SET OF tag. */
    if (cms_digest(ctx, md, &set_tag, 1, cms->signed_attrs + 1,
                   cms->signed_attrs_len - 1, dig, dig_len) != 0)
    {
        *err = "digest failed";
        return -1;
    }

    return 0;
}


static int
cms_digest(EVP_MD_CTX *ctx, const EVP_MD *md, const unsigned char *head,
    size_t head_len, const unsigned char *in, size_t len, unsigned char *out,
    unsigned int *out_len)
{
    if (md == NULL
        || EVP_DigestInit_ex(ctx, md, NULL) != 1
        || (head_len > 0 && EVP_DigestUpdate(ctx, head, head_len) != 1)
        || EVP_DigestUpdate(ctx, in, len) != 1
        || EVP_DigestFinal_ex(ctx, out, out_len) != 1)
    {
        ERR_clear_error();
        return -1;
    }

    return 0;
}


/*
 * Setting up an EVP_PKEY_CTX costs about a quarter of an RSA-2048 verify, so
 * a cached key keeps one, set up for the algorithms it last verified.
 */
static int
cms_verify_digest(const mdm_cms_t *cms, mdm_cms_verifier_t *v,
    const unsigned char *dig, size_t dig_len, const char **err)
{
    if (v->ctx == NULL || v->md != cms->md || v->sig != cms->sig) {
        mdm_cms_verifier_free(v);

        if (cms_verifier_setup(cms, v, err) != 0) {
            return MDM_CMS_BAD_SIGNATURE;
        }
    }

    if (EVP_PKEY_verify(v->ctx, cms->signature, cms->signature_len,
                        dig, dig_len) != 1)
    {
        /* The caller's TLS code reads the same per-thread error queue;
         * and a context that failed is not trusted to be reusable. */
        ERR_clear_error();
        mdm_cms_verifier_free(v);
        *err = "bad signature";
        return MDM_CMS_BAD_SIGNATURE;
    }

    return 0;
}


static int
cms_verifier_setup(const mdm_cms_t *cms, mdm_cms_verifier_t *v,
    const char **err)
{
    EVP_PKEY_CTX  *ctx;

    if (!EVP_PKEY_is_a(v->pkey,
                       cms->sig == MDM_CMS_SIG_RSA ? "RSA" : "EC"))
    {
        *err = "bad signature: algorithm does not match the key";
        return -1;
    }

    ctx = EVP_PKEY_CTX_new(v->pkey, NULL);

    if (ctx == NULL
        || EVP_PKEY_verify_init(ctx) != 1
        || (cms->sig == MDM_CMS_SIG_RSA
            && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1)
        || EVP_PKEY_CTX_set_signature_md(ctx, mdm_cms_md(cms->md)) != 1)
    {
        ERR_clear_error();
        EVP_PKEY_CTX_free(ctx);
        *err = "bad signature: key unusable";
        return -1;
    }

    v->ctx = ctx;
    v->md = cms->md;
    v->sig = cms->sig;

    return 0;
}
