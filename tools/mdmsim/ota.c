/*
 * OTA profile service, the device's side (ota.h).
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>
#include <plist/plist.h>

#include "ade.h"
#include "ota.h"


static int mdmsim_ota_post(const struct mdmsim_opts *opts,
    const struct mdmsim_device *dev, const char *url, const char *challenge,
    X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain, mdm_buf_t *xml,
    char *err, size_t errlen);
static char *mdmsim_ota_get(plist_t dict, const char *key);
static plist_t mdmsim_ota_content(mdm_buf_t *xml, plist_t *top,
    const char *type);


int
mdmsim_ota_phases(const struct mdmsim_opts *opts, struct mdmsim_device *dev,
    mdm_buf_t *xml, char *err, size_t errlen)
{
    int                        rc;
    char                      *url, *challenge, *scep_url, *scep_chal;
    X509                      *apple;
    plist_t                    top, service, scep;
    EVP_PKEY                  *apple_key;
    STACK_OF(X509)            *chain;
    mdm_buf_t          p2 = { NULL, 0, 0 }, p3 = { NULL, 0, 0 };
    struct mdmsim_scep_opts    so;
    struct mdmsim_scep_result  res;

    if (mdmsim_ade_identity(opts->ota_identity, &apple, &apple_key, &chain)
        != 0)
    {
        return mdmsim_fail(err, errlen, "--ota: no certificate and key");
    }

    /* phase 1's profile: PayloadType "Profile Service" at the top */
    service = mdmsim_ota_content(xml, &top, "Profile Service");
    url = service ? mdmsim_ota_get(service, "URL") : NULL;
    challenge = service ? mdmsim_ota_get(service, "Challenge") : NULL;
    plist_free(top);

    if (url == NULL || challenge == NULL) {
        free(url);
        free(challenge);
        return mdmsim_fail(err, errlen, "OTA phase 1: no Profile Service "
                           "with URL and Challenge");
    }

    /* phase 2: attributes and challenge, signed as Apple's device */
    rc = mdmsim_ota_post(opts, dev, url, challenge, apple, apple_key, chain,
                         &p2, err, errlen);
    free(challenge);

    scep = NULL;
    top = NULL;
    if (rc == 0) {
        scep = mdmsim_ota_content(&p2, &top, NULL);
    }

    scep_url = scep ? mdmsim_ota_get(scep, "URL") : NULL;
    scep_chal = scep ? mdmsim_ota_get(scep, "Challenge") : NULL;
    plist_free(top);
    free(p2.data);

    if (rc == 0 && (scep_url == NULL || scep_chal == NULL)) {
        rc = mdmsim_fail(err, errlen, "OTA phase 2: the answer has no SCEP "
                         "payload with URL and Challenge");
    }

    /* the identity phase 3 is signed with */
    memset(&res, 0, sizeof(res));
    if (rc == 0) {
        memset(&so, 0, sizeof(so));
        so.url = scep_url;
        so.challenge = scep_chal;
        so.tls_ca_file = opts->ca_file;
        so.insecure = opts->insecure;
        so.subject_cn = dev->udid;
        so.verbose = opts->verbose;

        if (mdmsim_scep_enroll(&so, &res) != 0) {
            rc = mdmsim_fail(err, errlen, "OTA phase 2 SCEP %s: %s",
                             scep_url, res.error);
        }
    }

    free(scep_chal);

    if (rc == 0) {
        rc = mdmsim_ota_post(opts, dev, url, NULL, res.cert, res.key, NULL,
                             &p3, err, errlen);
    }

    free(url);
    free(scep_url);
    X509_free(res.cert);
    EVP_PKEY_free(res.key);

    if (rc != 0) {
        free(p3.data);
        return -1;
    }

    free(xml->data);
    *xml = p3;

    return 0;
}


/* The device attributes the profile service asked for, signed, POSTed;
 * the verified content of the answer into *xml. */
static int
mdmsim_ota_post(const struct mdmsim_opts *opts,
    const struct mdmsim_device *dev, const char *url, const char *challenge,
    X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain, mdm_buf_t *xml,
    char *err, size_t errlen)
{
    int                rc;
    char              *attrs = NULL;
    size_t             der_len;
    uint32_t           attrs_len = 0;
    plist_t            d;
    unsigned char     *der;
    mdm_buf_t  answer = { NULL, 0, 0 };

    d = plist_new_dict();
    plist_dict_set_item(d, "UDID", plist_new_string(dev->udid));
    plist_dict_set_item(d, "SERIAL", plist_new_string(dev->serial));
    plist_dict_set_item(d, "PRODUCT", plist_new_string("iPhone14,2"));
    plist_dict_set_item(d, "VERSION", plist_new_string("22C152"));
    plist_dict_set_item(d, "IMEI", plist_new_string("35 000000 000000 0"));
    if (challenge != NULL) {
        plist_dict_set_item(d, "CHALLENGE", plist_new_string(challenge));
    }
    plist_to_xml(d, &attrs, &attrs_len);
    plist_free(d);

    if (attrs == NULL
        || mdmsim_ade_sign(cert, key, chain, attrs, attrs_len, &der,
                           &der_len) != 0)
    {
        free(attrs);
        return mdmsim_fail(err, errlen, "OTA: attributes not signed");
    }
    free(attrs);

    rc = mdmsim_profile_fetch(opts, url, der, der_len, &answer, err, errlen);
    free(der);

    if (rc == 0) {
        rc = mdmsim_profile_verify(opts, &answer, xml, err, errlen);
    }

    free(answer.data);

    return rc;
}


/* type: the top-level PayloadType's PayloadContent dict; NULL: the first
 * com.apple.security.scep payload's PayloadContent. *top to free. */
static plist_t
mdmsim_ota_content(mdm_buf_t *xml, plist_t *top, const char *type)
{
    char      *t;
    uint32_t   i;
    plist_t    content, p, c;
    int        match;

    *top = NULL;
    plist_from_xml(xml->data, (uint32_t) xml->len, top);

    if (*top == NULL || plist_get_node_type(*top) != PLIST_DICT) {
        return NULL;
    }

    content = plist_dict_get_item(*top, "PayloadContent");

    if (type != NULL) {
        t = mdmsim_ota_get(*top, "PayloadType");
        match = t != NULL && strcmp(t, type) == 0;
        free(t);
        return match && content && plist_get_node_type(content) == PLIST_DICT
               ? content : NULL;
    }

    if (content == NULL || plist_get_node_type(content) != PLIST_ARRAY) {
        return NULL;
    }

    for (i = 0; i < plist_array_get_size(content); i++) {
        p = plist_array_get_item(content, i);
        t = plist_get_node_type(p) == PLIST_DICT
            ? mdmsim_ota_get(p, "PayloadType") : NULL;
        match = t != NULL && strcmp(t, "com.apple.security.scep") == 0;
        free(t);
        c = match ? plist_dict_get_item(p, "PayloadContent") : NULL;

        if (c != NULL && plist_get_node_type(c) == PLIST_DICT) {
            return c;
        }
    }

    return NULL;
}


static char *
mdmsim_ota_get(plist_t dict, const char *key)
{
    char     *s;
    plist_t   node;

    node = plist_dict_get_item(dict, key);
    if (node == NULL || plist_get_node_type(node) != PLIST_STRING) {
        return NULL;
    }

    s = NULL;
    plist_get_string_val(node, &s);
    return s;
}
