/*
 * The issuing CA and the SCEP message layer without a network: issuance
 * (serial, validity, extensions), what the parser refuses before anything
 * else is possible, CertRep FAILURE as a client reads it, GetCACert forms.
 * Full PKIOperation round trips are in t/140-scep.t and t/141.
 */

#include <stdlib.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/pkcs7.h>

#include "tap.h"
#include "testcert.h"
#include "enroll/mdm_ca.h"
#include "enroll/mdm_scep.h"


static char  dir[] = "/tmp/mdm-scep-unit-XXXXXX";


static const char *
tc_write(const char *name, X509 *x, EVP_PKEY *k)
{
    static char  path[4][256];
    static int   n;
    char        *p = path[n++ % 4];
    FILE        *f;

    snprintf(p, 256, "%s/%s", dir, name);
    f = fopen(p, "w");
    tc_check(f != NULL, "fopen");
    if (x) {
        PEM_write_X509(f, x);
    } else {
        PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    }
    fclose(f);

    return p;
}


static void
tc_cleanup(void)
{
    char         path[256];
    const char **f;
    static const char  *files[] = { "ca.pem", "ca.key", "ca2.key",
                                    "leaf.pem", "leaf.key", "ra.pem",
                                    "ra.key", NULL };

    for (f = files; *f; f++) {
        snprintf(path, sizeof(path), "%s/%s", dir, *f);
        unlink(path);
    }

    rmdir(dir);
}


static X509_REQ *
tc_csr(EVP_PKEY *key, const char *cn)
{
    X509_REQ   *req = X509_REQ_new();
    X509_NAME  *name = X509_NAME_new();

    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               (const unsigned char *) cn, -1, -1, 0);
    X509_REQ_set_subject_name(req, name);
    X509_NAME_free(name);
    X509_REQ_set_pubkey(req, key);
    tc_check(X509_REQ_sign(req, key, EVP_sha256()) > 0, "X509_REQ_sign");

    return req;
}


static void
test_load(X509 *ca_cert, EVP_PKEY *ca_key, X509 *leaf, EVP_PKEY *other)
{
    char       err[256];
    mdm_ca_t  *ca;

    ca = mdm_ca_load(tc_write("ca.pem", ca_cert, NULL),
                     tc_write("ca.key", NULL, ca_key), NULL, err,
                     sizeof(err));
    ok(ca != NULL, "a CA certificate with its key loads");
    mdm_ca_free(ca);

    ca = mdm_ca_load(tc_write("leaf.pem", leaf, NULL),
                     tc_write("leaf.key", NULL, other), NULL, err,
                     sizeof(err));
    ok(ca == NULL && strstr(err, "does not match"),
       "a key that is not the certificate's is refused (%s)", err);

    ca = mdm_ca_load(tc_write("ca.pem", ca_cert, NULL),
                     tc_write("ca2.key", NULL, ca_key), "/nonexistent", err,
                     sizeof(err));
    ok(ca == NULL && strstr(err, "cannot open"),
       "a missing chain file is refused (%s)", err);
}


static void
test_issue(mdm_ca_t *ca)
{
    int              crit;
    char             err[256], sha[65];
    X509_REQ        *csr;
    EVP_PKEY        *key = tc_rsa_key();
    mdm_ca_opts_t    opts = { 30 * TC_DAY, 300,
                              KU_DIGITAL_SIGNATURE, 0 };
    mdm_ca_issued_t  a, b;
    EXTENDED_KEY_USAGE *eku;
    ASN1_BIT_STRING  *ku;
    time_t           now = time(NULL);

    csr = tc_csr(key, "unit-device");

    is_int(mdm_ca_issue(ca, csr, &opts, now, &a, err, sizeof(err)), 0,
           "a CSR is issued");
    is_int(mdm_ca_issue(ca, csr, &opts, now, &b, err, sizeof(err)), 0,
           "twice");

    ok(strcmp(a.serial_hex, b.serial_hex) != 0, "with different serials");
    ok(strlen(a.serial_hex) >= 20 && strlen(a.serial_hex) <= 32 && a.serial_hex[0] != '0',
       "a random serial of at most 128 bits, no leading zero (%s)",
       a.serial_hex);
    is_int(a.not_after - now, 30 * TC_DAY, "not_after = now + validity");
    is_int(now - a.not_before, 300, "not_before backdated for clock skew");
    ok(X509_NAME_cmp(X509_get_subject_name(a.cert),
                     X509_REQ_get_subject_name(csr)) == 0,
       "the subject is the CSR's");
    ok(EVP_PKEY_eq(X509_get0_pubkey(a.cert), key) == 1, "and the key");
    ok(mdm_ca_issued_by(ca, a.cert), "issued by the CA");

    eku = X509_get_ext_d2i(a.cert, NID_ext_key_usage, &crit, NULL);
    ok(eku && sk_ASN1_OBJECT_num(eku) == 1
       && OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)) == NID_client_auth,
       "EKU clientAuth only");
    EXTENDED_KEY_USAGE_free(eku);

    ku = X509_get_ext_d2i(a.cert, NID_key_usage, &crit, NULL);
    ok(ku && crit && ASN1_BIT_STRING_get_bit(ku, 0)
       && !ASN1_BIT_STRING_get_bit(ku, 2),
       "key usage from the options, critical");
    ASN1_BIT_STRING_free(ku);

    ok(X509_check_ca(a.cert) == 0, "not a CA");
    mdm_ca_cert_sha256(a.cert, sha);
    is_str(a.sha256_hex, sha, "sha256 of the DER");

    /* validity is capped at the CA's own not_after */
    X509_free(b.cert);
    opts.validity_secs = 5000 * TC_DAY;
    mdm_ca_issue(ca, csr, &opts, now, &b, err, sizeof(err));
    ok(X509_cmp(a.cert, b.cert) != 0
       && ASN1_TIME_compare(X509_get0_notAfter(b.cert),
                            X509_get0_notAfter(mdm_ca_cert(ca))) == 0,
       "a validity beyond the CA's ends with the CA");

    X509_free(a.cert);
    X509_free(b.cert);
    X509_REQ_free(csr);
    EVP_PKEY_free(key);
}


/* a CSR with a subjectAltName extension in its extensionRequest */
static X509_REQ *
tc_csr_san(EVP_PKEY *key, const char *cn, const char *san)
{
    X509_REQ                  *req = tc_csr(key, cn);
    X509V3_CTX                 ctx;
    X509_EXTENSION            *ext;
    STACK_OF(X509_EXTENSION)  *exts = sk_X509_EXTENSION_new_null();

    X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
    tc_check(ext != NULL, "subjectAltName");
    sk_X509_EXTENSION_push(exts, ext);
    X509_REQ_add_extensions(req, exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    tc_check(X509_REQ_sign(req, key, EVP_sha256()) > 0, "X509_REQ_sign");

    return req;
}


/* the issued certificate's SANs as "DNS:a,email:b,..." */
static void
tc_sans_text(X509 *x, char *out, size_t len)
{
    int             i;
    GENERAL_NAME   *gn;
    GENERAL_NAMES  *names;
    size_t          n = 0;

    out[0] = '\0';
    names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        gn = sk_GENERAL_NAME_value(names, i);
        if (gn->type == GEN_DNS || gn->type == GEN_EMAIL
            || gn->type == GEN_URI)
        {
            n += snprintf(out + n, len - n, "%s%s:%s", n ? "," : "",
                          gn->type == GEN_DNS ? "DNS"
                          : gn->type == GEN_EMAIL ? "email" : "URI",
                          ASN1_STRING_get0_data(gn->d.ia5));
        } else if (gn->type == GEN_IPADD) {
            n += snprintf(out + n, len - n, "%sIP", n ? "," : "");
        }
    }
    GENERAL_NAMES_free(names);
}


static void
test_sans(mdm_ca_t *ca)
{
    int              dropped;
    char             err[256], text[512];
    X509_REQ        *csr;
    EVP_PKEY        *key = tc_rsa_key();
    GENERAL_NAMES   *names;
    mdm_ca_opts_t    opts = { 30 * TC_DAY, 300, KU_DIGITAL_SIGNATURE,
                              MDM_CA_SAN_DNS | MDM_CA_SAN_EMAIL
                              | MDM_CA_SAN_URI };
    mdm_ca_issued_t  a;
    time_t           now = time(NULL);

    csr = tc_csr_san(key, "san-device", "DNS:dev1.example.org,"
                     "email:alice@example.org,URI:urn:uuid:1234,"
                     "IP:10.0.0.1,otherName:1.2.3.4;UTF8:x");

    is_int(mdm_ca_csr_sans(csr, opts.san_types, &names, &dropped, err,
                           sizeof(err)), 0, "a CSR's SANs are read");
    ok(names && sk_GENERAL_NAME_num(names) == 3 && dropped == 2,
       "three allowed, the IP address and the otherName dropped (%d)",
       dropped);
    GENERAL_NAMES_free(names);

    is_int(mdm_ca_issue(ca, csr, &opts, now, &a, err, sizeof(err)), 0,
           "a CSR with SANs is issued");
    tc_sans_text(a.cert, text, sizeof(text));
    is_str(text, "DNS:dev1.example.org,email:alice@example.org,"
           "URI:urn:uuid:1234", "the allowed SANs are in the certificate");
    X509_free(a.cert);

    opts.san_types = MDM_CA_SAN_DNS | MDM_CA_SAN_IP;
    mdm_ca_issue(ca, csr, &opts, now, &a, err, sizeof(err));
    tc_sans_text(a.cert, text, sizeof(text));
    is_str(text, "DNS:dev1.example.org,IP", "only the types the policy names");
    X509_free(a.cert);

    opts.san_types = 0;
    mdm_ca_issue(ca, csr, &opts, now, &a, err, sizeof(err));
    ok(X509_get_ext_by_NID(a.cert, NID_subject_alt_name, -1) < 0,
       "no policy: no subjectAltName");
    X509_free(a.cert);
    X509_REQ_free(csr);

    csr = tc_csr_san(key, "san-device", "DNS:has space.example.org");
    is_int(mdm_ca_csr_sans(csr, MDM_CA_SAN_DNS, &names, &dropped, err,
                           sizeof(err)), -1,
           "a DNS name with a space is refused (%s)", err);
    X509_REQ_free(csr);

    csr = tc_csr_san(key, "san-device", "email:no-at-sign");
    is_int(mdm_ca_csr_sans(csr, MDM_CA_SAN_DNS, &names, &dropped, err,
                           sizeof(err)), -1,
           "an email without @ is refused, even of a type not copied");
    X509_REQ_free(csr);

    csr = tc_csr_san(key, "san-device",
                     "DNS:a1,DNS:a2,DNS:a3,DNS:a4,DNS:a5,DNS:a6,DNS:a7,"
                     "DNS:a8,DNS:a9,DNS:b1,DNS:b2,DNS:b3,DNS:b4,DNS:b5,"
                     "DNS:b6,DNS:b7,DNS:b8");
    is_int(mdm_ca_csr_sans(csr, MDM_CA_SAN_DNS, &names, &dropped, err,
                           sizeof(err)), -1,
           "17 names are too many (%s)", err);
    X509_REQ_free(csr);

    csr = tc_csr(key, "plain");
    is_int(mdm_ca_csr_sans(csr, MDM_CA_SAN_DNS, &names, &dropped, err,
                           sizeof(err)), 0, "a CSR without SANs is fine");
    ok(names == NULL && dropped == 0, "and has none");
    X509_REQ_free(csr);

    EVP_PKEY_free(key);
}


static void
test_parse_refusals(mdm_ca_t *ca)
{
    size_t            len;
    unsigned char    *der;
    mdm_scep_req_t    req;
    mdm_scep_conf_t   conf = { mdm_ca_cert(ca), mdm_ca_key(ca), 2048 };
    static const unsigned char  garbage[] = "\x30\x03\x02\x01\x01 garbage";

    is_int(mdm_scep_parse(&conf, garbage, sizeof(garbage), &req),
           MDM_SCEP_MALFORMED, "garbage is no pkiMessage");
    mdm_scep_req_free(&req);
    is_int(mdm_scep_parse(&conf, garbage, 0, &req), MDM_SCEP_MALFORMED,
           "nor is nothing");
    mdm_scep_req_free(&req);

    /* a CMS SignedData without the SCEP attributes (a plain signature) */
    der = tc_sign(mdm_ca_cert(ca), mdm_ca_key(ca), NULL, EVP_sha256(),
                  "x", 1, 0, &len);
    is_int(mdm_scep_parse(&conf, der, len, &req), MDM_SCEP_MALFORMED,
           "a SignedData without transactionID cannot be answered: 400");
    free(der);
    mdm_scep_req_free(&req);
}


static void
test_failure_reply(mdm_ca_t *ca)
{
    size_t            len;
    BIO              *out = BIO_new(BIO_s_mem());
    unsigned char    *der;
    X509_STORE       *store = X509_STORE_new();
    CMS_ContentInfo  *cms;
    CMS_SignerInfo   *si;
    ASN1_STRING      *s;
    ASN1_OBJECT      *fail = OBJ_txt2obj("2.16.840.1.113733.1.9.4", 1);
    ASN1_OBJECT      *rnonce = OBJ_txt2obj("2.16.840.1.113733.1.9.6", 1);
    mdm_scep_req_t    req;
    mdm_scep_conf_t   conf = { mdm_ca_cert(ca), mdm_ca_key(ca), 2048 };
    const unsigned char *p;

    memset(&req, 0, sizeof(req));
    strcpy(req.transaction_id, "TX-1");
    memcpy(req.sender_nonce, "0123456789abcdef", 16);
    req.sender_nonce_len = 16;

    is_int(mdm_scep_reply_failure(&conf, &req, MDM_SCEP_BAD_CERT_ID, &der,
                                  &len), 0, "a CertRep FAILURE is built");

    p = der;
    cms = d2i_CMS_ContentInfo(NULL, &p, len);
    X509_STORE_add_cert(store, mdm_ca_cert(ca));
    /* this CA's key usage is keyCertSign only: no S/MIME purpose check */
    X509_STORE_set_purpose(store, X509_PURPOSE_ANY);
    ok(cms && CMS_verify(cms, NULL, store, NULL, out, CMS_BINARY) == 1,
       "signed by the CA");

    si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
    s = CMS_signed_get0_data_by_OBJ(si, fail, -3, V_ASN1_PRINTABLESTRING);
    ok(s && ASN1_STRING_length(s) == 1 && ASN1_STRING_get0_data(s)[0] == '4',
       "failInfo badCertId");
    s = CMS_signed_get0_data_by_OBJ(si, rnonce, -3, V_ASN1_OCTET_STRING);
    ok(s && ASN1_STRING_length(s) == 16
       && memcmp(ASN1_STRING_get0_data(s), "0123456789abcdef", 16) == 0,
       "recipientNonce is the request's senderNonce");

    is_str(mdm_scep_fail_name(MDM_SCEP_BAD_MESSAGE_CHECK), "badMessageCheck",
           "failInfo names for logs");

    OPENSSL_free(der);
    CMS_ContentInfo_free(cms);
    X509_STORE_free(store);
    BIO_free(out);
    ASN1_OBJECT_free(fail);
    ASN1_OBJECT_free(rnonce);
}


static void
test_ca_certs(mdm_ca_t *ca, X509 *ra)
{
    int                  is_p7;
    size_t               len;
    unsigned char       *der;
    PKCS7               *p7;
    const unsigned char *p;

    is_int(mdm_scep_ca_certs(ca, NULL, &der, &len, &is_p7), 0,
           "GetCACert without RA");
    ok(!is_p7, "is one DER certificate");
    OPENSSL_free(der);

    is_int(mdm_scep_ca_certs(ca, ra, &der, &len, &is_p7), 0,
           "GetCACert with an RA");
    p = der;
    p7 = d2i_PKCS7(NULL, &p, len);
    ok(is_p7 && p7 && PKCS7_type_is_signed(p7)
       && sk_X509_num(p7->d.sign->cert) == 2
       && sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info) == 0,
       "is a degenerate PKCS#7 of CA and RA");
    PKCS7_free(p7);
    OPENSSL_free(der);
}


int
main(void)
{
    char       err[256];
    X509      *ca_cert, *leaf, *ra;
    EVP_PKEY  *ca_key, *leaf_key, *ra_key;
    mdm_ca_t  *ca, *ra_ca;

    tc_check(mkdtemp(dir) != NULL, "mkdtemp");

    ca_key = tc_rsa_key();
    leaf_key = tc_rsa_key();
    ra_key = tc_rsa_key();
    ca_cert = tc_cert("unit CA", ca_key, NULL, NULL, -TC_DAY, 365 * TC_DAY,
                      1, NULL);
    leaf = tc_cert("unit leaf", leaf_key, ca_cert, ca_key, -TC_DAY, TC_DAY,
                   0, "clientAuth");
    ra = tc_cert("unit RA", ra_key, ca_cert, ca_key, -TC_DAY, TC_DAY, 0,
                 NULL);

    test_load(ca_cert, ca_key, leaf, ca_key);

    ca = mdm_ca_load(tc_write("ca.pem", ca_cert, NULL),
                     tc_write("ca.key", NULL, ca_key), NULL, err,
                     sizeof(err));
    tc_check(ca != NULL, err);

    ra_ca = mdm_ca_load_ra(ca, tc_write("ra.pem", ra, NULL),
                           tc_write("ra.key", NULL, ra_key), err,
                           sizeof(err));
    ok(ra_ca != NULL, "an RA issued by the CA loads");
    mdm_ca_free(ra_ca);
    ok(mdm_ca_load_ra(ca, tc_write("ra.pem", ra, NULL),
                      tc_write("ra.key", NULL, leaf_key), err, sizeof(err))
       == NULL, "an RA whose key does not match is refused");

    test_issue(ca);
    test_sans(ca);
    test_parse_refusals(ca);
    test_failure_reply(ca);
    test_ca_certs(ca, ra);

    mdm_ca_free(ca);
    X509_free(ca_cert);
    X509_free(leaf);
    X509_free(ra);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(leaf_key);
    EVP_PKEY_free(ra_key);

    tc_cleanup();

    return done_testing();
}
