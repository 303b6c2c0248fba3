#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "enroll/mdm_enroll_profile.h"
#include "mdm_hex.h"
#include "mdm_utf8.h"
#include "mdm_uuid.h"


#define MDM_ENROLL_URL_MAX  2048

static int mdm_enroll_check_string(const char *key, const char *s,
    size_t max, mdm_err_t *err);
static int mdm_enroll_check_url(const char *key, const char *url,
    int https_only, mdm_err_t *err);
static int mdm_enroll_check_rights(int64_t rights, mdm_err_t *err);
static int mdm_enroll_check_anchors(const mdm_enroll_profile_conf_t *conf,
    mdm_err_t *err);
static plist_t mdm_enroll_payload(const char *type, const char *identifier,
    const char *suffix, const char *display_name, char *uuid);
static plist_t mdm_enroll_acme_payload(const mdm_enroll_profile_conf_t *conf,
    const mdm_enroll_profile_req_t *req, char *uuid);
static plist_t mdm_enroll_scep_payload(const mdm_enroll_profile_conf_t *conf,
    const mdm_enroll_profile_req_t *req, char *uuid);
static plist_t mdm_enroll_scep_subject(const mdm_enroll_profile_conf_t *conf,
    const char *user);
static plist_t mdm_enroll_mdm_payload(const mdm_enroll_profile_conf_t *conf,
    const char *identity_uuid);
static plist_t mdm_enroll_anchor_payload(const mdm_enroll_profile_conf_t *conf,
    size_t i);
static plist_t mdm_enroll_rdn(const char *type, const char *value);
static int mdm_enroll_profile_xml(plist_t top, char **xml, size_t *len,
    mdm_err_t *err);
static void mdm_enroll_set_string(plist_t dict, const char *key,
    const char *value);


/* The schema's rangelist of ServerCapabilitiesItems, by MDM_ENROLL_CAP_* bit */
static const char *mdm_enroll_caps[] = {
    "com.apple.mdm.per-user-connections",
    "com.apple.mdm.bootstraptoken",
    "com.apple.mdm.token",
};


/*
 * Hand-written rules rather than a table generated from the YAML: the
 * builder emits a fixed set of keys whose plist types are fixed by this
 * file, so a key/type table could never fail; what an operator can get
 * wrong are values, and the schema states those constraints partly as
 * regexes (ServerURL, IdentityCertificateUUID), rangelists (Keysize,
 * ServerCapabilities) and partly only in prose (Topic's prefix, the
 * AccessRights dependencies), which no generated table would carry.
 */
int
mdm_enroll_profile_check(const mdm_enroll_profile_conf_t *conf,
    mdm_err_t *err)
{
    if (mdm_enroll_check_url("ServerURL", conf->server_url, 1, err) != MDM_OK
        || (conf->checkin_url != NULL
            && mdm_enroll_check_url("CheckInURL", conf->checkin_url, 1, err)
               != MDM_OK)
        || mdm_enroll_check_url("URL (SCEP)", conf->scep_url, 0, err)
           != MDM_OK
        || (conf->acme_url != NULL
            && mdm_enroll_check_url("DirectoryURL (ACME)", conf->acme_url, 1,
                                    err) != MDM_OK))
    {
        return MDM_ERROR;
    }

    if (mdm_enroll_check_string("Topic", conf->topic, 255, err) != MDM_OK) {
        return MDM_ERROR;
    }

    if (strncmp(conf->topic, "com.apple.mgmt.", 15) != 0
        || conf->topic[15] == '\0')
    {
        return mdm_err(err, "Topic: \"%s\" must begin with com.apple.mgmt.",
                       conf->topic);
    }

    if (mdm_enroll_check_rights(conf->access_rights, err) != MDM_OK) {
        return MDM_ERROR;
    }

    if (conf->capabilities & ~(unsigned) (MDM_ENROLL_CAP_PER_USER
                                          | MDM_ENROLL_CAP_BOOTSTRAP
                                          | MDM_ENROLL_CAP_TOKEN))
    {
        return mdm_err(err, "ServerCapabilities: unknown capability");
    }

    /* the schema allows 1024, but our CA (and RFC 8894 practice) refuses
     * keys under 2048 bits, so a 1024 profile could never enroll */
    if (conf->key_size != 0 && conf->key_size != 2048
        && conf->key_size != 4096)
    {
        return mdm_err(err, "Keysize: %u is not 2048 or 4096",
                       conf->key_size);
    }

    if (mdm_enroll_check_string("PayloadIdentifier", conf->identifier, 255,
                                err) != MDM_OK
        || (conf->display_name != NULL
            && mdm_enroll_check_string("PayloadDisplayName",
                                       conf->display_name, 255, err) != MDM_OK)
        || (conf->organization != NULL
            && mdm_enroll_check_string("PayloadOrganization",
                                       conf->organization, 255, err) != MDM_OK)
        || (conf->description != NULL
            && mdm_enroll_check_string("PayloadDescription",
                                       conf->description, 1024, err) != MDM_OK)
        || (conf->scep_name != NULL
            && mdm_enroll_check_string("Name (SCEP)", conf->scep_name, 255,
                                       err) != MDM_OK)
        || (conf->subject_o != NULL
            && mdm_enroll_check_string("Subject O (SCEP)", conf->subject_o,
                                       64, err) != MDM_OK)
        || (conf->subject_cn != NULL
            && mdm_enroll_check_string("Subject CN (SCEP)", conf->subject_cn,
                                       64 - MDM_UUID_LEN, err) != MDM_OK))
    {
        return MDM_ERROR;
    }

    if (strchr(conf->identifier, ' ') != NULL) {
        return mdm_err(err, "PayloadIdentifier: \"%s\" contains a space",
                       conf->identifier);
    }

    return mdm_enroll_check_anchors(conf, err);
}


static int
mdm_enroll_check_string(const char *key, const char *s, size_t max,
    mdm_err_t *err)
{
    size_t  len;

    if (s == NULL || s[0] == '\0') {
        return mdm_err(err, "%s: must not be empty", key);
    }

    len = strlen(s);

    if (len > max) {
        return mdm_err(err, "%s: longer than %zu bytes", key, max);
    }

    if (!mdm_utf8_valid(s)) {
        return mdm_err(err, "%s: not UTF-8", key);
    }

    return MDM_OK;
}


static int
mdm_enroll_check_url(const char *key, const char *url, int https_only,
    mdm_err_t *err)
{
    size_t       i;
    const char  *host;

    if (mdm_enroll_check_string(key, url, MDM_ENROLL_URL_MAX, err) != MDM_OK) {
        return MDM_ERROR;
    }

    if (strncmp(url, "https://", 8) == 0) {
        host = url + 8;

    } else if (!https_only && strncmp(url, "http://", 7) == 0) {
        host = url + 7;

    } else {
        return mdm_err(err, "%s: \"%s\" must begin with %s", key, url,
                       https_only ? "https://" : "http:// or https://");
    }

    if (*host == '\0' || *host == '/') {
        return mdm_err(err, "%s: \"%s\" has no host", key, url);
    }

    for (i = 0; url[i] != '\0'; i++) {
        if ((unsigned char) url[i] <= ' ' || url[i] == 0x7f) {
            return mdm_err(err, "%s: \"%s\" contains a space or control "
                           "character", key, url);
        }
    }

    return MDM_OK;
}


/* com.apple.mdm.yaml: never 0, 2 requires 1, 128 requires 64; 13 bits. */
static int
mdm_enroll_check_rights(int64_t rights, mdm_err_t *err)
{
    if (rights == 0) {
        return MDM_OK;          /* the default: every right */
    }

    if (rights < 0 || rights > MDM_ENROLL_ACCESS_ALL) {
        return mdm_err(err, "AccessRights: %lld is outside 1..%d",
                       (long long) rights, MDM_ENROLL_ACCESS_ALL);
    }

    if ((rights & 2) && !(rights & 1)) {
        return mdm_err(err, "AccessRights: %lld has 2 without 1",
                       (long long) rights);
    }

    if ((rights & 128) && !(rights & 64)) {
        return mdm_err(err, "AccessRights: %lld has 128 without 64",
                       (long long) rights);
    }

    return MDM_OK;
}


static int
mdm_enroll_check_anchors(const mdm_enroll_profile_conf_t *conf,
    mdm_err_t *err)
{
    size_t                i;
    X509                 *x;
    const unsigned char  *p;

    for (i = 0; i < conf->nanchors; i++) {
        p = conf->anchors[i].der;
        x = d2i_X509(NULL, &p, (long) conf->anchors[i].len);

        if (x == NULL || p != conf->anchors[i].der + conf->anchors[i].len) {
            X509_free(x);
            ERR_clear_error();
            return mdm_err(err, "PayloadContent (anchor %zu): not one DER "
                           "certificate", i + 1);
        }

        X509_free(x);

        if (conf->anchors[i].name != NULL
            && mdm_enroll_check_string("PayloadDisplayName (anchor)",
                                       conf->anchors[i].name, 255, err)
               != MDM_OK)
        {
            return MDM_ERROR;
        }
    }

    return MDM_OK;
}


int
mdm_enroll_profile_build(const mdm_enroll_profile_conf_t *conf,
    const mdm_enroll_profile_req_t *req, char **xml, size_t *len,
    mdm_err_t *err)
{
    size_t     i;
    plist_t    top, content, scep, mdm, anchor;
    char       top_uuid[MDM_UUID_LEN], scep_uuid[MDM_UUID_LEN];
    char       desc[1024 + MDM_ENROLL_USER_MAX + 32];

    if (req->challenge == NULL || req->challenge[0] == '\0'
        || !mdm_utf8_valid(req->challenge))
    {
        return mdm_err(err, "Challenge: missing");
    }

    if (req->user != NULL
        && (req->user[0] == '\0' || strlen(req->user) > MDM_ENROLL_USER_MAX
            || !mdm_utf8_valid(req->user)))
    {
        return mdm_err(err, "user: empty, longer than %d bytes or not UTF-8",
                       MDM_ENROLL_USER_MAX);
    }

    top = mdm_enroll_payload("Configuration", conf->identifier,
                             req->scep_only ? "ota" : NULL,
                             conf->display_name ? conf->display_name
                                                : "MDM enrollment",
                             top_uuid);
    content = plist_new_array();

    if (top == NULL || content == NULL) {
        plist_free(top);
        plist_free(content);
        return mdm_err(err, "out of memory or randomness");
    }

    plist_dict_set_item(top, "PayloadContent", content);
    mdm_enroll_set_string(top, "PayloadOrganization", conf->organization);

    if (conf->description != NULL || req->user != NULL) {
        snprintf(desc, sizeof(desc), "%s%s%s%s",
                 conf->description ? conf->description : "",
                 conf->description && req->user ? " " : "",
                 req->user ? "Enrolled for " : "",
                 req->user ? req->user : "");
        mdm_enroll_set_string(top, "PayloadDescription", desc);
    }

    /* phase 2 of OTA installs the identity alone; the anchors come with
     * the final profile */
    for (i = 0; !req->scep_only && i < conf->nanchors; i++) {
        anchor = mdm_enroll_anchor_payload(conf, i);

        if (anchor == NULL) {
            goto failed;
        }

        plist_array_append_item(content, anchor);
    }

    scep = (conf->acme_url != NULL && req->serial != NULL && !req->scep_only)
           ? mdm_enroll_acme_payload(conf, req, scep_uuid)
           : mdm_enroll_scep_payload(conf, req, scep_uuid);

    if (scep == NULL) {
        goto failed;
    }

    plist_array_append_item(content, scep);

    if (!req->scep_only) {
        mdm = mdm_enroll_mdm_payload(conf, scep_uuid);

        if (mdm == NULL) {
            goto failed;
        }

        plist_array_append_item(content, mdm);
    }

    return mdm_enroll_profile_xml(top, xml, len, err);

failed:

    plist_free(top);
    return mdm_err(err, "out of memory or randomness");
}


int
mdm_enroll_ota_profile_build(const mdm_enroll_profile_conf_t *conf,
    const char *url, const char *challenge, char **xml, size_t *len,
    mdm_err_t *err)
{
    size_t       i;
    plist_t      top, content, attrs;
    char         uuid[MDM_UUID_LEN];
    static const char  *wanted[] = {
        "UDID", "VERSION", "PRODUCT", "SERIAL", "MEID", "IMEI"
    };

    if (url == NULL || challenge == NULL || challenge[0] == '\0') {
        return mdm_err(err, "URL and Challenge are required");
    }

    top = mdm_enroll_payload("Profile Service", conf->identifier, "ota",
                             conf->display_name ? conf->display_name
                                                : "MDM enrollment",
                             uuid);
    content = plist_new_dict();
    attrs = plist_new_array();

    if (top == NULL || content == NULL || attrs == NULL) {
        plist_free(top);
        plist_free(content);
        plist_free(attrs);
        return mdm_err(err, "out of memory or randomness");
    }

    mdm_enroll_set_string(top, "PayloadOrganization", conf->organization);
    mdm_enroll_set_string(top, "PayloadDescription", conf->description);
    mdm_enroll_set_string(content, "URL", url);
    mdm_enroll_set_string(content, "Challenge", challenge);

    for (i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        plist_array_append_item(attrs, plist_new_string(wanted[i]));
    }

    plist_dict_set_item(content, "DeviceAttributes", attrs);
    plist_dict_set_item(top, "PayloadContent", content);

    return mdm_enroll_profile_xml(top, xml, len, err);
}


/* top as XML into a malloc'd copy (the caller frees with free(), whatever
 * libplist allocates with); top is freed */
static int
mdm_enroll_profile_xml(plist_t top, char **xml, size_t *len, mdm_err_t *err)
{
    char      *out;
    uint32_t   xml_len;

    out = NULL;
    plist_to_xml(top, &out, &xml_len);
    plist_free(top);

    if (out == NULL) {
        return mdm_err(err, "out of memory");
    }

    /* a copy, so that the caller frees with free() whatever libplist uses */
    *xml = malloc(xml_len);

    if (*xml == NULL) {
        plist_to_xml_free(out);
        return mdm_err(err, "out of memory");
    }

    memcpy(*xml, out, xml_len);
    *len = xml_len;
    plist_to_xml_free(out);

    return MDM_OK;
}


/* A payload dict with the common keys (CommonPayloadKeys.yaml). */
static plist_t
mdm_enroll_payload(const char *type, const char *identifier,
    const char *suffix, const char *display_name, char *uuid)
{
    plist_t  p;
    char     id[512];

    if (mdm_uuid_generate(uuid) != 0) {
        return NULL;
    }

    p = plist_new_dict();

    if (p == NULL) {
        return NULL;
    }

    snprintf(id, sizeof(id), "%s%s%s", identifier, suffix ? "." : "",
             suffix ? suffix : "");

    mdm_enroll_set_string(p, "PayloadType", type);
    plist_dict_set_item(p, "PayloadVersion", plist_new_uint(1));
    mdm_enroll_set_string(p, "PayloadIdentifier", id);
    mdm_enroll_set_string(p, "PayloadUUID", uuid);
    mdm_enroll_set_string(p, "PayloadDisplayName", display_name);

    return p;
}


static plist_t
mdm_enroll_scep_payload(const mdm_enroll_profile_conf_t *conf,
    const mdm_enroll_profile_req_t *req, char *uuid)
{
    plist_t  p, c, subject;

    p = mdm_enroll_payload("com.apple.security.scep", conf->identifier,
                           "scep", "MDM identity", uuid);
    c = plist_new_dict();
    subject = mdm_enroll_scep_subject(conf, req->user);

    if (p == NULL || c == NULL || subject == NULL) {
        plist_free(p);
        plist_free(c);
        plist_free(subject);
        return NULL;
    }

    mdm_enroll_set_string(c, "URL", conf->scep_url);
    mdm_enroll_set_string(c, "Name", conf->scep_name);
    plist_dict_set_item(c, "Subject", subject);
    mdm_enroll_set_string(c, "Challenge", req->challenge);
    plist_dict_set_item(c, "Keysize",
                        plist_new_uint(conf->key_size ? conf->key_size
                                                      : 2048));
    mdm_enroll_set_string(c, "Key Type", "RSA");
    /* signing (Mdm-Signature, TLS client auth) and encryption (profiles
     * encrypted to the device) */
    plist_dict_set_item(c, "Key Usage", plist_new_uint(5));
    plist_dict_set_item(p, "PayloadContent", c);

    return p;
}


/* AP mdm/profiles/com.apple.security.acme.yaml; Attest needs HardwareBound,
 * which allows EC 256 or 384 only (services.md §3.3) */
static plist_t
mdm_enroll_acme_payload(const mdm_enroll_profile_conf_t *conf,
    const mdm_enroll_profile_req_t *req, char *uuid)
{
    plist_t  p, c, subject, eku;

    p = mdm_enroll_payload("com.apple.security.acme", conf->identifier,
                           "acme", "MDM identity", uuid);
    c = plist_new_dict();
    eku = plist_new_array();
    subject = mdm_enroll_scep_subject(conf, req->user);

    if (p == NULL || c == NULL || subject == NULL || eku == NULL) {
        plist_free(p);
        plist_free(c);
        plist_free(eku);
        plist_free(subject);
        return NULL;
    }

    mdm_enroll_set_string(c, "DirectoryURL", conf->acme_url);
    mdm_enroll_set_string(c, "ClientIdentifier", req->serial);
    mdm_enroll_set_string(c, "KeyType", "ECSECPrimeRandom");
    plist_dict_set_item(c, "KeySize", plist_new_uint(384));
    plist_dict_set_item(c, "HardwareBound", plist_new_bool(1));
    plist_dict_set_item(c, "Attest", plist_new_bool(1));
    plist_dict_set_item(c, "Subject", subject);
    /* signing: Mdm-Signature and TLS client authentication */
    plist_dict_set_item(c, "UsageFlags", plist_new_uint(1));
    plist_array_append_item(eku, plist_new_string("1.3.6.1.5.5.7.3.2"));
    plist_dict_set_item(c, "ExtendedKeyUsage", eku);
    plist_dict_set_item(p, "PayloadContent", c);

    return p;
}


/* [[["O", o]], [["CN", "<prefix> <uuid>"]], [["0.9.2342.19200300.100.1.1",
 * user]]]: the UUID makes every subject unique, the user (UID) lets the
 * certificate say whom it was issued for. */
static plist_t
mdm_enroll_scep_subject(const mdm_enroll_profile_conf_t *conf,
    const char *user)
{
    plist_t  s, rdn;
    char     uuid[MDM_UUID_LEN], cn[128];

    if (mdm_uuid_generate(uuid) != 0) {
        return NULL;
    }

    s = plist_new_array();

    if (s == NULL) {
        return NULL;
    }

    if (conf->subject_o != NULL) {
        rdn = mdm_enroll_rdn("O", conf->subject_o);

        if (rdn == NULL) {
            goto failed;
        }

        plist_array_append_item(s, rdn);
    }

    snprintf(cn, sizeof(cn), "%s %s",
             conf->subject_cn ? conf->subject_cn : "ngx_mdm", uuid);
    rdn = mdm_enroll_rdn("CN", cn);

    if (rdn == NULL) {
        goto failed;
    }

    plist_array_append_item(s, rdn);

    if (user != NULL) {
        rdn = mdm_enroll_rdn("0.9.2342.19200300.100.1.1", user);

        if (rdn == NULL) {
            goto failed;
        }

        plist_array_append_item(s, rdn);
    }

    return s;

failed:

    plist_free(s);
    return NULL;
}


/* One RDN with one attribute: [[type, value]]. */
static plist_t
mdm_enroll_rdn(const char *type, const char *value)
{
    plist_t  rdn, pair;

    rdn = plist_new_array();
    pair = plist_new_array();

    if (rdn == NULL || pair == NULL) {
        plist_free(rdn);
        plist_free(pair);
        return NULL;
    }

    plist_array_append_item(pair, plist_new_string(type));
    plist_array_append_item(pair, plist_new_string(value));
    plist_array_append_item(rdn, pair);

    return rdn;
}


static plist_t
mdm_enroll_mdm_payload(const mdm_enroll_profile_conf_t *conf,
    const char *identity_uuid)
{
    size_t   i;
    plist_t  p, caps;
    char     uuid[MDM_UUID_LEN];

    p = mdm_enroll_payload("com.apple.mdm", conf->identifier, "mdm",
                           "Mobile Device Management", uuid);

    if (p == NULL) {
        return NULL;
    }

    mdm_enroll_set_string(p, "IdentityCertificateUUID", identity_uuid);
    mdm_enroll_set_string(p, "Topic", conf->topic);
    mdm_enroll_set_string(p, "ServerURL", conf->server_url);
    mdm_enroll_set_string(p, "CheckInURL", conf->checkin_url);
    plist_dict_set_item(p, "SignMessage", plist_new_bool(conf->sign_message));
    plist_dict_set_item(p, "AccessRights",
                        plist_new_uint(conf->access_rights
                                       ? (uint64_t) conf->access_rights
                                       : MDM_ENROLL_ACCESS_ALL));
    plist_dict_set_item(p, "CheckOutWhenRemoved",
                        plist_new_bool(conf->check_out_when_removed));

    if (conf->capabilities != 0) {
        caps = plist_new_array();

        if (caps == NULL) {
            plist_free(p);
            return NULL;
        }

        for (i = 0; i < sizeof(mdm_enroll_caps) / sizeof(mdm_enroll_caps[0]);
             i++)
        {
            if (conf->capabilities & (1u << i)) {
                plist_array_append_item(caps,
                                        plist_new_string(mdm_enroll_caps[i]));
            }
        }

        plist_dict_set_item(p, "ServerCapabilities", caps);
    }

    return p;
}


/* com.apple.security.root carries a DER certificate in PayloadContent;
 * the identifier suffix is the anchor's position, stable across builds. */
static plist_t
mdm_enroll_anchor_payload(const mdm_enroll_profile_conf_t *conf, size_t i)
{
    plist_t  p;
    char     uuid[MDM_UUID_LEN], suffix[32];

    snprintf(suffix, sizeof(suffix), "anchor%zu", i + 1);

    p = mdm_enroll_payload("com.apple.security.root", conf->identifier,
                           suffix, conf->anchors[i].name
                                   ? conf->anchors[i].name
                                   : "MDM server CA",
                           uuid);

    if (p == NULL) {
        return NULL;
    }

    plist_dict_set_item(p, "PayloadContent",
                        plist_new_data((const char *) conf->anchors[i].der,
                                       conf->anchors[i].len));

    return p;
}


static void
mdm_enroll_set_string(plist_t dict, const char *key, const char *value)
{
    if (value != NULL) {
        plist_dict_set_item(dict, key, plist_new_string(value));
    }
}


int
mdm_enroll_profile_sign(const unsigned char *content, size_t len,
    X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain, unsigned char **der,
    size_t *der_len, mdm_err_t *err)
{
    int               n;
    BIO              *in;
    CMS_ContentInfo  *cms;

    in = BIO_new_mem_buf(content, (int) len);

    if (in == NULL) {
        return mdm_err(err, "out of memory");
    }

    /* CMS_BINARY: the plist is signed byte for byte (no MIME canonical
     * line endings); CMS_NOSMIMECAP: no S/MIME capabilities attribute,
     * which means nothing for a profile */
    cms = CMS_sign(cert, key, chain, in, CMS_BINARY | CMS_NOSMIMECAP);
    BIO_free(in);

    if (cms == NULL) {
        ERR_clear_error();
        return mdm_err(err, "CMS signing failed (does the key match the "
                       "certificate?)");
    }

    *der = NULL;
    n = i2d_CMS_ContentInfo(cms, der);
    CMS_ContentInfo_free(cms);

    if (n <= 0) {
        ERR_clear_error();
        return mdm_err(err, "CMS encoding failed");
    }

    *der_len = (size_t) n;

    return MDM_OK;
}


int
mdm_enroll_challenge_new(char *out)
{
    unsigned char  b[16];

    if (RAND_bytes(b, sizeof(b)) != 1) {
        return -1;
    }

    mdm_hex_encode(b, sizeof(b), out);

    return 0;
}


int
mdm_enroll_challenge_valid(const char *s, size_t len)
{
    size_t  i;

    if (len != MDM_ENROLL_CHALLENGE_LEN - 1) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }

    return 1;
}
