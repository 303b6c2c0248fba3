/*
 * The ADE MachineInfo of a simulated device (ade.h): the plist Apple
 * documents (other/machineinfo.yaml) with the device's UDID and serial,
 * signed as Setup Assistant does, content attached, with the chain.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <plist/plist.h>

#include "ade.h"


static int
mdmsim_ade_fail(char *err, size_t errlen, const char *what)
{
    unsigned long  e = ERR_get_error();

    snprintf(err, errlen, "ADE: %s%s%s", what, e ? ": " : "",
             e ? ERR_reason_error_string(e) : "");
    ERR_clear_error();
    return -1;
}


/* Certificate, key and chain from one PEM file (read once per process). */
int
mdmsim_ade_identity(const char *file, X509 **cert, EVP_PKEY **key,
    STACK_OF(X509) **chain)
{
    static X509            *c;
    static EVP_PKEY        *k;
    static STACK_OF(X509)  *ch;
    X509                   *x;
    BIO                    *b;

    if (c == NULL) {
        if ((b = BIO_new_file(file, "r")) == NULL) {
            return -1;
        }
        c = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);

        if ((b = BIO_new_file(file, "r")) == NULL) {
            return -1;
        }
        k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
        BIO_free(b);

        /* every certificate after the first is chain */
        ch = sk_X509_new_null();
        if ((b = BIO_new_file(file, "r")) == NULL || ch == NULL) {
            return -1;
        }
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        X509_free(x);
        while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
            sk_X509_push(ch, x);
        }
        BIO_free(b);
        ERR_clear_error();

        if (c == NULL || k == NULL || X509_check_private_key(c, k) != 1) {
            return -1;
        }
    }

    *cert = c;
    *key = k;
    *chain = ch;
    return 0;
}


int
mdmsim_ade_machineinfo(const struct mdmsim_opts *opts,
    const struct mdmsim_device *dev, unsigned char **der, size_t *len,
    char *err, size_t errlen)
{
    int               ok;
    char             *xml = NULL;
    uint32_t          xml_len = 0;
    X509             *cert;
    plist_t           mi;
    EVP_PKEY         *key;
    STACK_OF(X509)   *chain;

    if (mdmsim_ade_identity(opts->ade_identity, &cert, &key, &chain) != 0) {
        return mdmsim_ade_fail(err, errlen, "--ade-identity: no certificate "
                               "and matching key");
    }

    mi = plist_new_dict();
    plist_dict_set_item(mi, "UDID", plist_new_string(dev->udid));
    plist_dict_set_item(mi, "SERIAL", plist_new_string(dev->serial));
    plist_dict_set_item(mi, "PRODUCT", plist_new_string("iPhone14,2"));
    plist_dict_set_item(mi, "VERSION", plist_new_string("22C152"));
    plist_dict_set_item(mi, "OS_VERSION", plist_new_string("18.2"));
    plist_dict_set_item(mi, "LANGUAGE", plist_new_string("en"));
    plist_dict_set_item(mi, "MDM_CAN_REQUEST_SOFTWARE_UPDATE",
                        plist_new_bool(1));
    plist_to_xml(mi, &xml, &xml_len);
    plist_free(mi);

    if (xml == NULL) {
        return mdmsim_ade_fail(err, errlen, "no MachineInfo plist");
    }

    ok = mdmsim_ade_sign(cert, key, chain, xml, xml_len, der, len);
    free(xml);

    return ok == 0 ? 0 : mdmsim_ade_fail(err, errlen,
                                         "MachineInfo not signed");
}


int
mdmsim_ade_sign(X509 *cert, EVP_PKEY *key, STACK_OF(X509) *chain,
    const char *content, size_t content_len, unsigned char **der,
    size_t *len)
{
    int               ok;
    long              n;
    char             *p;
    BIO              *in, *out;
    CMS_ContentInfo  *cms;

    in = BIO_new_mem_buf(content, (int) content_len);
    out = BIO_new(BIO_s_mem());
    cms = CMS_sign(cert, key, chain, in, CMS_BINARY);
    ok = cms != NULL && out != NULL && i2d_CMS_bio(out, cms) == 1;
    CMS_ContentInfo_free(cms);
    BIO_free(in);

    if (!ok) {
        BIO_free(out);
        return -1;
    }

    n = BIO_get_mem_data(out, &p);
    *der = malloc(n);
    if (*der == NULL) {
        BIO_free(out);
        return -1;
    }
    memcpy(*der, p, n);
    *len = (size_t) n;
    BIO_free(out);

    return 0;
}
