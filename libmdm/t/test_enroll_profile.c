#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>

#include "enroll/mdm_enroll_profile.h"
#include "mdm_plist.h"
#include "tap.h"
#include "testcert.h"


#define TOPIC  "com.apple.mgmt.External.11111111-unit"


static mdm_enroll_profile_conf_t
base_conf(void)
{
    mdm_enroll_profile_conf_t  c;

    memset(&c, 0, sizeof(c));
    c.server_url = "https://mdm.example.org/mdm/connect";
    c.checkin_url = "https://mdm.example.org/mdm/checkin";
    c.topic = TOPIC;
    c.scep_url = "https://mdm.example.org/scep";
    c.identifier = "org.example.mdm.enroll";
    c.subject_o = "Example";
    c.sign_message = 1;
    c.check_out_when_removed = 1;
    c.capabilities = MDM_ENROLL_CAP_PER_USER | MDM_ENROLL_CAP_BOOTSTRAP;

    return c;
}


/* the payload of PayloadContent whose PayloadType is type, or NULL */
static plist_t
payload_of(plist_t top, const char *type)
{
    uint32_t     i;
    plist_t      content, p;
    const char  *t;
    mdm_err_t    err;

    if (mdm_plist_get_array(top, "PayloadContent", &content, &err) != MDM_OK) {
        return NULL;
    }

    for (i = 0; i < plist_array_get_size(content); i++) {
        p = plist_array_get_item(content, i);

        if (mdm_plist_get_string(p, "PayloadType", &t, &err) == MDM_OK
            && strcmp(t, type) == 0)
        {
            return p;
        }
    }

    return NULL;
}


static const char *
str(plist_t dict, const char *key)
{
    const char  *v;
    mdm_err_t    err;

    return mdm_plist_get_string(dict, key, &v, &err) == MDM_OK ? v : NULL;
}


static int64_t
num(plist_t dict, const char *key)
{
    int64_t    v;
    mdm_err_t  err;

    return mdm_plist_get_integer(dict, key, &v, &err) == MDM_OK ? v : -1;
}


static int
flag(plist_t dict, const char *key)
{
    int        v;
    mdm_err_t  err;

    return mdm_plist_get_bool(dict, key, &v, &err) == MDM_OK ? v : -1;
}


static plist_t
build(const mdm_enroll_profile_conf_t *c, const char *chal, const char *user,
    char **xml, size_t *len)
{
    plist_t                   top = NULL;
    mdm_err_t                 err;
    mdm_enroll_profile_req_t  req = { chal, user, 0, NULL };

    if (mdm_enroll_profile_build(c, &req, xml, len, &err) != MDM_OK) {
        diag("build: %s", err.msg);
        return NULL;
    }

    if (mdm_plist_parse(*xml, *len, 1 << 20, &top, &err) != MDM_OK) {
        diag("parse: %s", err.msg);
        return NULL;
    }

    return top;
}


static void
test_content(void)
{
    char                      *xml, *xml2, subj[256];
    size_t                     len, len2;
    plist_t                    top, top2, scep, sc, mdm, caps, subject;
    mdm_err_t                  err;
    mdm_enroll_profile_conf_t  c = base_conf();

    ok(mdm_enroll_profile_check(&c, &err) == MDM_OK, "base conf passes");

    top = build(&c, "0123456789abcdef0123456789abcdef", "alice", &xml, &len);
    ok(top != NULL, "profile builds and parses as a strict plist");

    if (top == NULL) {
        return;
    }

    ok(strncmp(xml, "<?xml", 5) == 0, "XML plist");
    is_str(str(top, "PayloadType"), "Configuration", "top PayloadType");
    is_int(num(top, "PayloadVersion"), 1, "top PayloadVersion");
    is_str(str(top, "PayloadIdentifier"), "org.example.mdm.enroll",
           "top PayloadIdentifier is the configured one");
    ok(str(top, "PayloadDescription") != NULL
       && strstr(str(top, "PayloadDescription"), "alice") != NULL,
       "user in PayloadDescription");

    scep = payload_of(top, "com.apple.security.scep");
    mdm = payload_of(top, "com.apple.mdm");
    ok(scep != NULL && mdm != NULL, "SCEP and MDM payloads");

    if (scep == NULL || mdm == NULL) {
        return;
    }

    is_str(str(mdm, "IdentityCertificateUUID"), str(scep, "PayloadUUID"),
           "IdentityCertificateUUID = SCEP PayloadUUID");
    is_str(str(mdm, "Topic"), TOPIC, "Topic");
    is_str(str(mdm, "ServerURL"), c.server_url, "ServerURL");
    is_str(str(mdm, "CheckInURL"), c.checkin_url, "CheckInURL");
    is_int(flag(mdm, "SignMessage"), 1, "SignMessage");
    is_int(flag(mdm, "CheckOutWhenRemoved"), 1, "CheckOutWhenRemoved");
    is_int(num(mdm, "AccessRights"), 8191, "AccessRights default");
    is_int(num(mdm, "PayloadVersion"), 1, "MDM PayloadVersion");
    is_str(str(mdm, "PayloadIdentifier"), "org.example.mdm.enroll.mdm",
           "MDM PayloadIdentifier stable");

    caps = plist_dict_get_item(mdm, "ServerCapabilities");
    ok(caps != NULL && plist_array_get_size(caps) == 2,
       "two ServerCapabilities");

    sc = plist_dict_get_item(scep, "PayloadContent");
    ok(sc != NULL && plist_get_node_type(sc) == PLIST_DICT,
       "SCEP PayloadContent dict");
    is_str(str(sc, "URL"), c.scep_url, "SCEP URL");
    is_str(str(sc, "Challenge"), "0123456789abcdef0123456789abcdef",
           "SCEP Challenge");
    is_int(num(sc, "Keysize"), 2048, "Keysize 2048");
    is_str(str(sc, "Key Type"), "RSA", "Key Type");

    subject = plist_dict_get_item(sc, "Subject");
    ok(subject != NULL && plist_array_get_size(subject) == 3,
       "subject O, CN, UID");

    if (subject != NULL && plist_array_get_size(subject) == 3) {
        plist_t  rdn = plist_array_get_item(subject, 1);
        plist_t  pair = plist_array_get_item(rdn, 0);
        char    *v = NULL;

        plist_get_string_val(plist_array_get_item(pair, 1), &v);
        ok(v != NULL && strncmp(v, "ngx_mdm ", 8) == 0 && strlen(v) == 44,
           "CN is the prefix and a UUID");
        snprintf(subj, sizeof(subj), "%s", v ? v : "");
        free(v);

        rdn = plist_array_get_item(subject, 2);
        pair = plist_array_get_item(rdn, 0);
        v = NULL;
        plist_get_string_val(plist_array_get_item(pair, 1), &v);
        is_str(v, "alice", "UID is the user");
        free(v);
    }

    top2 = build(&c, "fedcba9876543210fedcba9876543210", NULL, &xml2, &len2);
    ok(top2 != NULL, "second profile builds");

    if (top2 != NULL) {
        plist_t  scep2 = payload_of(top2, "com.apple.security.scep");
        plist_t  sub2 = plist_dict_get_item(plist_dict_get_item(scep2,
                                                 "PayloadContent"), "Subject");
        char    *v = NULL;

        ok(strcmp(str(top, "PayloadUUID"), str(top2, "PayloadUUID")) != 0
           && strcmp(str(scep, "PayloadUUID"), str(scep2, "PayloadUUID")) != 0,
           "fresh PayloadUUIDs per build");
        is_str(str(top2, "PayloadIdentifier"), str(top, "PayloadIdentifier"),
               "stable PayloadIdentifier");
        is_int(plist_array_get_size(sub2), 2, "no UID without a user");
        plist_get_string_val(plist_array_get_item(
            plist_array_get_item(plist_array_get_item(sub2, 1), 0), 1), &v);
        ok(v != NULL && strcmp(v, subj) != 0, "unique subject per build");
        free(v);
        ok(str(top2, "PayloadDescription") == NULL, "no description");
        plist_free(top2);
        free(xml2);
    }

    plist_free(top);
    free(xml);

    c.capabilities = 0;
    c.checkin_url = NULL;
    c.access_rights = 1 | 2 | 16;
    top = build(&c, "0123456789abcdef0123456789abcdef", NULL, &xml, &len);
    mdm = top ? payload_of(top, "com.apple.mdm") : NULL;
    ok(mdm != NULL && plist_dict_get_item(mdm, "ServerCapabilities") == NULL
       && plist_dict_get_item(mdm, "CheckInURL") == NULL,
       "no capabilities, no CheckInURL when not configured");
    is_int(mdm ? num(mdm, "AccessRights") : -1, 19, "AccessRights as set");
    plist_free(top);
    free(xml);
}


static void
expect_refused(mdm_enroll_profile_conf_t *c, const char *key, const char *what)
{
    mdm_err_t  err;
    int        rc = mdm_enroll_profile_check(c, &err);

    ok(rc == MDM_ERROR && strncmp(err.msg, key, strlen(key)) == 0,
       "refused: %s (%s)", what, rc == MDM_ERROR ? err.msg : "accepted");
}


/* OTA: phase 1's profile service, phase 2's SCEP-only profile */
static void
test_ota(void)
{
    char                      *xml;
    size_t                     len;
    plist_t                    top, content, attrs;
    mdm_err_t                  err;
    mdm_enroll_profile_conf_t  c = base_conf();
    mdm_enroll_profile_req_t   req = { "0123456789abcdef0123456789abcdef",
                                       "alice", 1, NULL };

    ok(mdm_enroll_ota_profile_build(&c, "https://mdm.example.org/ota",
                                    "fedcba9876543210fedcba9876543210",
                                    &xml, &len, &err) == MDM_OK,
       "the OTA profile service builds");
    top = NULL;
    mdm_plist_parse(xml, len, 1 << 20, &top, &err);
    free(xml);
    is_str(str(top, "PayloadType"), "Profile Service", "PayloadType");
    is_str(str(top, "PayloadIdentifier"), "org.example.mdm.enroll.ota",
           "its identifier");
    content = top ? plist_dict_get_item(top, "PayloadContent") : NULL;
    is_str(content ? str(content, "URL") : NULL,
           "https://mdm.example.org/ota", "URL");
    is_str(content ? str(content, "Challenge") : NULL,
           "fedcba9876543210fedcba9876543210", "Challenge");
    attrs = content ? plist_dict_get_item(content, "DeviceAttributes") : NULL;
    ok(attrs && plist_get_node_type(attrs) == PLIST_ARRAY
       && plist_array_get_size(attrs) == 6, "six DeviceAttributes");
    plist_free(top);

    ok(mdm_enroll_ota_profile_build(&c, "https://mdm.example.org/ota", "",
                                    &xml, &len, &err) == MDM_ERROR,
       "no challenge, no profile service");

    ok(mdm_enroll_profile_build(&c, &req, &xml, &len, &err) == MDM_OK,
       "the SCEP-only profile of phase 2 builds");
    top = NULL;
    mdm_plist_parse(xml, len, 1 << 20, &top, &err);
    free(xml);
    ok(payload_of(top, "com.apple.security.scep") != NULL
       && payload_of(top, "com.apple.mdm") == NULL,
       "it has the SCEP payload and no MDM payload");
    is_str(str(top, "PayloadIdentifier"), "org.example.mdm.enroll.ota",
           "with the OTA identifier");
    plist_free(top);
}


static void
test_check(void)
{
    mdm_err_t                  err;
    mdm_enroll_profile_conf_t  c;
    mdm_enroll_anchor_t        bad = { (const unsigned char *) "xx", 2, NULL };

    c = base_conf(); c.server_url = "http://mdm.example.org/";
    expect_refused(&c, "ServerURL", "http ServerURL");
    c = base_conf(); c.server_url = NULL;
    expect_refused(&c, "ServerURL", "no ServerURL");
    c = base_conf(); c.server_url = "https://";
    expect_refused(&c, "ServerURL", "ServerURL without host");
    c = base_conf(); c.checkin_url = "ftp://x/";
    expect_refused(&c, "CheckInURL", "ftp CheckInURL");
    c = base_conf(); c.checkin_url = "https://a b/";
    expect_refused(&c, "CheckInURL", "space in CheckInURL");
    c = base_conf(); c.topic = "com.example.push";
    expect_refused(&c, "Topic", "Topic without com.apple.mgmt.");
    c = base_conf(); c.topic = "com.apple.mgmt.";
    expect_refused(&c, "Topic", "bare prefix");
    c = base_conf(); c.access_rights = 2;
    expect_refused(&c, "AccessRights", "2 without 1");
    c = base_conf(); c.access_rights = 128 | 1;
    expect_refused(&c, "AccessRights", "128 without 64");
    c = base_conf(); c.access_rights = 8192;
    expect_refused(&c, "AccessRights", "unknown bit");
    c = base_conf(); c.access_rights = -1;
    expect_refused(&c, "AccessRights", "negative");
    c = base_conf(); c.key_size = 1024;
    expect_refused(&c, "Keysize", "1024-bit keys");
    c = base_conf(); c.key_size = 3000;
    expect_refused(&c, "Keysize", "3000-bit keys");
    c = base_conf(); c.capabilities = 0x10;
    expect_refused(&c, "ServerCapabilities", "unknown capability");
    c = base_conf(); c.scep_url = "scep.example.org";
    expect_refused(&c, "URL (SCEP)", "SCEP URL without scheme");
    c = base_conf(); c.identifier = "";
    expect_refused(&c, "PayloadIdentifier", "empty identifier");
    c = base_conf(); c.identifier = "a b";
    expect_refused(&c, "PayloadIdentifier", "identifier with a space");
    c = base_conf(); c.display_name = "\xff\xfe";
    expect_refused(&c, "PayloadDisplayName", "name not UTF-8");
    c = base_conf(); c.subject_cn = "a-prefix-that-is-far-too-long-for-a-CN";
    expect_refused(&c, "Subject CN", "CN prefix too long");
    c = base_conf(); c.anchors = &bad; c.nanchors = 1;
    expect_refused(&c, "PayloadContent (anchor 1)", "anchor not DER");

    c = base_conf(); c.access_rights = 1 | 2 | 64 | 128;
    ok(mdm_enroll_profile_check(&c, &err) == MDM_OK,
       "rights with their prerequisites pass");
}


static void
test_bad_request(void)
{
    char                      *xml = NULL;
    size_t                     len;
    mdm_err_t                  err;
    mdm_enroll_profile_conf_t  c = base_conf();
    mdm_enroll_profile_req_t   r1 = { NULL, NULL, 0, NULL };
    mdm_enroll_profile_req_t   r2 = { "0123456789abcdef0123456789abcdef",
        "a-user-name-that-is-longer-than-sixty-four-bytes-which-is-x520s-ub",
        0, NULL };
    mdm_enroll_profile_req_t   r3 = { "0123456789abcdef0123456789abcdef",
                                      "\xc3", 0, NULL };

    ok(mdm_enroll_profile_build(&c, &r1, &xml, &len, &err) == MDM_ERROR,
       "no challenge refused");
    ok(mdm_enroll_profile_build(&c, &r2, &xml, &len, &err) == MDM_ERROR,
       "overlong user refused");
    ok(mdm_enroll_profile_build(&c, &r3, &xml, &len, &err) == MDM_ERROR,
       "user not UTF-8 refused");
    ok(xml == NULL, "nothing allocated on refusal");
}


static void
test_challenge(void)
{
    int   i, j, unique = 1, valid = 1;
    char  seen[64][MDM_ENROLL_CHALLENGE_LEN];

    for (i = 0; i < 64; i++) {
        valid &= mdm_enroll_challenge_new(seen[i]) == 0
                 && mdm_enroll_challenge_valid(seen[i], strlen(seen[i]));

        for (j = 0; j < i; j++) {
            unique &= strcmp(seen[i], seen[j]) != 0;
        }
    }

    ok(valid, "challenges are 32 lowercase hex digits");
    ok(unique, "64 challenges all differ");
    ok(!mdm_enroll_challenge_valid("0123456789abcdef0123456789abcde{", 32),
       "brace refused");
    ok(!mdm_enroll_challenge_valid("0123", 4), "short refused");
    ok(!mdm_enroll_challenge_valid("0123456789ABCDEF0123456789ABCDEF", 32),
       "upper case refused");
}


static void
test_sign(void)
{
    int                   rc;
    char                 *xml;
    BIO                  *out;
    size_t                len, der_len, anchor_len, got_len;
    X509                 *ca, *signer, *foreign;
    plist_t               top;
    EVP_PKEY             *ca_key, *key, *other;
    mdm_err_t             err;
    X509_STORE           *store;
    unsigned char        *der, *anchor, *got;
    CMS_ContentInfo      *cms;
    const unsigned char  *p;
    STACK_OF(X509)       *chain;
    mdm_enroll_anchor_t   a;
    mdm_enroll_profile_conf_t  c = base_conf();

    ca_key = tc_rsa_key();
    key = tc_rsa_key();
    other = tc_rsa_key();
    ca = tc_cert("Unit Server CA", ca_key, NULL, NULL, -3600, 86400, 1, NULL);
    signer = tc_cert("Unit profile signer", key, ca, ca_key, -3600, 86400, 0,
                     NULL);
    foreign = tc_cert("Other CA", other, NULL, NULL, -3600, 86400, 1, NULL);

    anchor = tc_der(ca, &anchor_len);
    a.der = anchor;
    a.len = anchor_len;
    a.name = "Unit Server CA";
    c.anchors = &a;
    c.nanchors = 1;
    ok(mdm_enroll_profile_check(&c, &err) == MDM_OK, "conf with an anchor");

    top = build(&c, "0123456789abcdef0123456789abcdef", NULL, &xml, &len);
    ok(top != NULL && payload_of(top, "com.apple.security.root") != NULL,
       "anchor payload present");

    if (top != NULL) {
        mdm_bytes_t  d;
        plist_t      root = payload_of(top, "com.apple.security.root");

        ok(root != NULL
           && mdm_plist_get_data(root, "PayloadContent", &d, &err) == MDM_OK
           && d.len == anchor_len && memcmp(d.data, anchor, d.len) == 0,
           "anchor payload carries the DER");
        plist_free(top);
    }

    chain = sk_X509_new_null();
    sk_X509_push(chain, ca);

    rc = mdm_enroll_profile_sign((unsigned char *) xml, len, signer, key,
                                 chain, &der, &der_len, &err);
    ok(rc == MDM_OK, "signed");

    p = der;
    cms = d2i_CMS_ContentInfo(NULL, &p, (long) der_len);
    ok(cms != NULL && p == der + der_len, "DER CMS, nothing after it");
    ok(cms != NULL && OBJ_obj2nid(CMS_get0_type(cms)) == NID_pkcs7_signed,
       "SignedData");
    ok(cms != NULL && CMS_get0_content(cms) != NULL
       && *CMS_get0_content(cms) != NULL, "content attached");

    store = X509_STORE_new();
    X509_STORE_add_cert(store, ca);
    out = BIO_new(BIO_s_mem());
    /* the chain comes from the SignedData itself: only the CA is trusted */
    ok(cms != NULL && CMS_verify(cms, NULL, store, NULL, out, CMS_BINARY) == 1,
       "verifies against the CA with the chain carried inside");
    got = tc_bio_bytes(out, &got_len);
    ok(got_len == len && memcmp(got, xml, len) == 0,
       "signed content is the profile byte for byte");
    free(got);
    BIO_free(out);
    X509_STORE_free(store);

    store = X509_STORE_new();
    X509_STORE_add_cert(store, foreign);
    ok(cms != NULL
       && CMS_verify(cms, NULL, store, NULL, NULL, CMS_BINARY) != 1,
       "does not verify against another CA");
    ERR_clear_error();
    X509_STORE_free(store);
    CMS_ContentInfo_free(cms);
    OPENSSL_free(der);

    rc = mdm_enroll_profile_sign((unsigned char *) xml, len, signer, other,
                                 NULL, &der, &der_len, &err);
    ok(rc == MDM_ERROR, "key not matching the certificate refused (%s)",
       rc == MDM_ERROR ? err.msg : "signed");

    sk_X509_free(chain);
    free(xml);
    free(anchor);
    X509_free(ca);
    X509_free(signer);
    X509_free(foreign);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    EVP_PKEY_free(other);
}


/* with an ACME directory and a known serial: the attested ACME identity */
static void
test_acme(void)
{
    char                      *xml;
    size_t                     len;
    plist_t                    top, acme, ac, mdm, eku;
    mdm_err_t                  err;
    uint8_t                    b;
    mdm_enroll_profile_conf_t  c = base_conf();
    mdm_enroll_profile_req_t   req = { "0123456789abcdef0123456789abcdef",
                                       NULL, 0, "C02TEST0001" };

    c.acme_url = "http://mdm.example.org/acme/directory";
    ok(mdm_enroll_profile_check(&c, &err) == MDM_ERROR
       && strstr(err.msg, "DirectoryURL (ACME)") != NULL,
       "an http DirectoryURL is refused");
    c.acme_url = "https://mdm.example.org/acme/directory";
    ok(mdm_enroll_profile_check(&c, &err) == MDM_OK, "an https one passes");

    if (mdm_enroll_profile_build(&c, &req, &xml, &len, &err) != MDM_OK
        || mdm_plist_parse(xml, len, 1 << 20, &top, &err) != MDM_OK)
    {
        ok(0, "ACME profile builds: %s", err.msg);
        return;
    }
    free(xml);

    acme = payload_of(top, "com.apple.security.acme");
    mdm = payload_of(top, "com.apple.mdm");
    ok(acme != NULL && payload_of(top, "com.apple.security.scep") == NULL,
       "a known serial gets the ACME payload instead of SCEP");
    ac = acme ? plist_dict_get_item(acme, "PayloadContent") : NULL;
    is_str(str(ac, "DirectoryURL"), c.acme_url, "DirectoryURL");
    is_str(str(ac, "ClientIdentifier"), "C02TEST0001",
           "ClientIdentifier is the serial (the order's identifier)");
    is_str(str(ac, "KeyType"), "ECSECPrimeRandom", "KeyType");
    is_int(num(ac, "KeySize"), 384, "KeySize 384");
    b = 0;
    plist_get_bool_val(plist_dict_get_item(ac, "HardwareBound"), &b);
    ok(b, "HardwareBound");
    b = 0;
    plist_get_bool_val(plist_dict_get_item(ac, "Attest"), &b);
    ok(b, "Attest");
    eku = plist_dict_get_item(ac, "ExtendedKeyUsage");
    ok(eku != NULL && plist_array_get_size(eku) == 1,
       "ExtendedKeyUsage clientAuth");
    ok(plist_dict_get_item(ac, "Subject") != NULL, "Subject");
    is_str(str(mdm, "IdentityCertificateUUID"), str(acme, "PayloadUUID"),
           "the MDM payload's identity is the ACME payload");
    plist_free(top);

    req.serial = NULL;
    if (mdm_enroll_profile_build(&c, &req, &xml, &len, &err) == MDM_OK
        && mdm_plist_parse(xml, len, 1 << 20, &top, &err) == MDM_OK)
    {
        ok(payload_of(top, "com.apple.security.scep") != NULL
           && payload_of(top, "com.apple.security.acme") == NULL,
           "without a serial: SCEP");
        plist_free(top);
        free(xml);
    } else {
        ok(0, "SCEP fallback builds");
    }
}


int
main(void)
{
    test_content();
    test_ota();
    test_check();
    test_bad_request();
    test_challenge();
    test_sign();

    test_acme();

    return done_testing();
}
