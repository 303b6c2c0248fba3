/*
 * ADE MachineInfo: CMS SignedData (content attached) over a plist of facts.
 *
 * Unlike Mdm-Signature (mdm_cms.c, detached, on every request of a fleet),
 * a MachineInfo arrives once per enrollment, so OpenSSL's CMS_verify() does
 * the work: signature over the attached content and the signer's chain to
 * the configured anchors. The plist goes through libmdm's strict intake.
 */

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include "mdm_utf8.h"
#include "enroll/mdm_machineinfo.h"


static int mdm_mi_string(plist_t dict, const char *key, int required,
    int tag_safe, char *out, mdm_err_t *err);
static int mdm_mi_bool(plist_t dict, const char *key, int *out,
    mdm_err_t *err);


X509_STORE *
mdm_machineinfo_anchors_load(const char *pem_file, mdm_err_t *err)
{
    X509_STORE   *store;
    X509_LOOKUP  *lookup;

    store = X509_STORE_new();
    if (store == NULL) {
        mdm_err(err, "out of memory");
        return NULL;
    }

    lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());

    if (lookup == NULL
        || X509_LOOKUP_load_file(lookup, pem_file, X509_FILETYPE_PEM) <= 0)
    {
        unsigned long e = ERR_peek_last_error();
        ERR_clear_error();
        X509_STORE_free(store);
        mdm_err(err, "no certificate read from \"%s\": %s", pem_file,
                e ? ERR_reason_error_string(e) : "empty");
        return NULL;
    }

    /* Apple's device identities carry no EKU for this use: the anchor and
     * the chain decide, not a purpose */
    X509_STORE_set_purpose(store, X509_PURPOSE_ANY);

    return store;
}


int
mdm_machineinfo_parse(const unsigned char *der, size_t len,
    X509_STORE *anchors, mdm_machineinfo_t *mi, mdm_err_t *err)
{
    int                   rc;
    BIO                  *out;
    char                 *content;
    long                  content_len;
    CMS_ContentInfo      *cms;
    const unsigned char  *p;
    const ASN1_OBJECT    *type;

    memset(mi, 0, sizeof(*mi));

    if (len == 0 || len > MDM_MACHINEINFO_MAX) {
        return mdm_err(err, "MachineInfo of %zu bytes (1 to %d accepted)",
                       len, MDM_MACHINEINFO_MAX);
    }

    p = der;
    cms = d2i_CMS_ContentInfo(NULL, &p, (long) len);

    if (cms == NULL || p != der + len) {
        ERR_clear_error();
        CMS_ContentInfo_free(cms);
        return mdm_err(err, "MachineInfo is not a DER CMS message");
    }

    type = CMS_get0_type(cms);

    if (OBJ_obj2nid(type) != NID_pkcs7_signed) {
        CMS_ContentInfo_free(cms);
        return mdm_err(err, "MachineInfo is not a CMS SignedData");
    }

    if (CMS_get0_content(cms) == NULL || *CMS_get0_content(cms) == NULL) {
        CMS_ContentInfo_free(cms);
        return mdm_err(err, "MachineInfo SignedData has no attached content");
    }

    out = BIO_new(BIO_s_mem());
    if (out == NULL) {
        CMS_ContentInfo_free(cms);
        return mdm_err(err, "out of memory");
    }

    rc = CMS_verify(cms, NULL, anchors, NULL, out, CMS_BINARY);
    CMS_ContentInfo_free(cms);

    if (rc != 1) {
        unsigned long e = ERR_peek_last_error();
        const char   *why = e ? ERR_reason_error_string(e) : NULL;

        ERR_clear_error();
        BIO_free(out);
        return mdm_err(err, "MachineInfo signature refused: %s",
                       why ? why : "verification failed");
    }

    content_len = BIO_get_mem_data(out, &content);
    rc = mdm_machineinfo_from_plist(content, (size_t) content_len, mi, err);
    BIO_free(out);

    return rc;
}


int
mdm_machineinfo_from_plist(const char *plist, size_t len,
    mdm_machineinfo_t *mi, mdm_err_t *err)
{
    int          rc;
    plist_t      dict;
    mdm_bytes_t  token;

    memset(mi, 0, sizeof(*mi));

    if (mdm_plist_parse(plist, len, MDM_MACHINEINFO_MAX, &dict, err)
        != MDM_OK)
    {
        return MDM_ERROR;
    }

    rc = MDM_ERROR;

    if (mdm_mi_string(dict, "UDID", 1, 1, mi->udid, err) == MDM_ERROR
        || mdm_mi_string(dict, "SERIAL", 1, 1, mi->serial, err) == MDM_ERROR
        || mdm_mi_string(dict, "PRODUCT", 1, 0, mi->product, err)
           == MDM_ERROR
        || mdm_mi_string(dict, "VERSION", 1, 0, mi->version, err)
           == MDM_ERROR
        /* required from iOS 17 / macOS 14 on; older systems lack it */
        || mdm_mi_string(dict, "OS_VERSION", 0, 0, mi->os_version, err)
           == MDM_ERROR
        || mdm_mi_string(dict, "IMEI", 0, 0, mi->imei, err) == MDM_ERROR
        || mdm_mi_string(dict, "MEID", 0, 0, mi->meid, err) == MDM_ERROR
        || mdm_mi_string(dict, "LANGUAGE", 0, 0, mi->language, err)
           == MDM_ERROR
        || mdm_mi_string(dict, "SOFTWARE_UPDATE_DEVICE_ID", 0, 0,
                         mi->software_update_device_id, err) == MDM_ERROR
        || mdm_mi_string(dict, "SUPPLEMENTAL_BUILD_VERSION", 0, 0,
                         mi->supplemental_build_version, err) == MDM_ERROR
        || mdm_mi_bool(dict, "MDM_CAN_REQUEST_SOFTWARE_UPDATE",
                       &mi->can_request_software_update, err) == MDM_ERROR
        || mdm_mi_bool(dict, "MDM_CAN_REQUEST_PSSO_CONFIG",
                       &mi->can_request_psso_config, err) == MDM_ERROR
        || mdm_mi_bool(dict, "MANDATORY_SOFTWARE_UPDATE_REQUIRED",
                       &mi->mandatory_software_update_required, err)
           == MDM_ERROR)
    {
        goto done;
    }

    switch (mdm_plist_get_data(dict, "PAIRING_TOKEN", &token, err)) {
    case MDM_ERROR:
        goto done;
    case MDM_OK:
        if (token.len == 0 || token.len > MDM_MACHINEINFO_TOKEN_MAX) {
            mdm_err(err, "PAIRING_TOKEN of %zu bytes (1 to %d accepted)",
                    token.len, MDM_MACHINEINFO_TOKEN_MAX);
            goto done;
        }
        memcpy(mi->pairing_token, token.data, token.len);
        mi->pairing_token_len = token.len;
        mi->has_pairing_token = 1;
        break;
    default:
        break;
    }

    rc = MDM_OK;

done:
    plist_free(dict);

    if (rc != MDM_OK) {
        memset(mi, 0, sizeof(*mi));
    }

    return rc;
}


/*
 * A bounded string into out. tag_safe: only [A-Za-z0-9-] (it becomes a
 * hash tag, a key part and a log field); else printable UTF-8.
 */
static int
mdm_mi_string(plist_t dict, const char *key, int required, int tag_safe,
    char *out, mdm_err_t *err)
{
    int          rc;
    size_t       n, i;
    const char  *s;

    rc = mdm_plist_get_string(dict, key, &s, err);

    if (rc == MDM_ABSENT) {
        return required ? mdm_err(err, "key %s is required", key) : MDM_OK;
    }

    if (rc != MDM_OK) {
        return MDM_ERROR;
    }

    n = strlen(s);

    if ((required && n == 0) || n > MDM_MACHINEINFO_STR_MAX) {
        return mdm_err(err, "key %s must be 1 to %d bytes", key,
                       MDM_MACHINEINFO_STR_MAX);
    }

    if (tag_safe && n > 0 && !mdm_machineinfo_id_valid(s, n)) {
        return mdm_err(err, "key %s has a character not accepted", key);
    }

    for (i = 0; i < n; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return mdm_err(err, "key %s has a character not accepted", key);
        }
    }

    if (!mdm_utf8_valid(s)) {
        return mdm_err(err, "key %s is not UTF-8", key);
    }

    memcpy(out, s, n + 1);

    return MDM_OK;
}


int
mdm_machineinfo_id_valid(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > MDM_MACHINEINFO_STR_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!(isalnum((unsigned char) s[i]) || s[i] == '-')) {
            return 0;
        }
    }

    return 1;
}


static int
mdm_mi_bool(plist_t dict, const char *key, int *out, mdm_err_t *err)
{
    int  rc;

    *out = 0;
    rc = mdm_plist_get_bool(dict, key, out, err);

    return rc == MDM_ERROR ? MDM_ERROR : MDM_OK;
}


int
mdm_machineinfo_version_cmp(const char *a, const char *b)
{
    unsigned long  x, y;

    for ( ;; ) {
        x = 0;
        y = 0;

        while (isdigit((unsigned char) *a)) {
            x = x * 10 + (unsigned long) (*a++ - '0');
            if (x > 1000000) {
                x = 1000000;
            }
        }

        while (isdigit((unsigned char) *b)) {
            y = y * 10 + (unsigned long) (*b++ - '0');
            if (y > 1000000) {
                y = 1000000;
            }
        }

        if (x != y) {
            return x < y ? -1 : 1;
        }

        /* skip a component's suffix up to the next dot */
        while (*a && *a != '.') {
            a++;
        }
        while (*b && *b != '.') {
            b++;
        }

        if (*a == '\0' && *b == '\0') {
            return 0;
        }

        if (*a == '.') {
            a++;
        }
        if (*b == '.') {
            b++;
        }
    }
}


size_t
mdm_machineinfo_family(const char *product, char *out, size_t outlen)
{
    size_t  n;

    for (n = 0; n + 1 < outlen && isalpha((unsigned char) product[n]); n++) {
        out[n] = product[n];
    }

    if (outlen) {
        out[n] = '\0';
    }

    return n;
}
