/*
 * OTA profile service requests (mdm_ota.h). Once per enrollment, so
 * OpenSSL's CMS_verify() does the work, as for an ADE MachineInfo.
 */

#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>

#include "enroll/mdm_ca.h"
#include "enroll/mdm_ota.h"


static int mdm_ota_verify(CMS_ContentInfo *cms, X509_STORE *anchors,
    unsigned flags, BIO **out);
static int mdm_ota_attributes(const char *plist, size_t len,
    mdm_ota_req_t *req, mdm_err_t *err);


int
mdm_ota_parse(const unsigned char *der, size_t len, X509_STORE *anchors,
    mdm_ota_req_t *req, mdm_err_t *err)
{
    int                   rc;
    BIO                  *out;
    char                 *content;
    long                  content_len;
    X509                 *signer;
    CMS_ContentInfo      *cms;
    const unsigned char  *p;
    STACK_OF(X509)       *signers;

    memset(req, 0, sizeof(*req));

    if (len == 0 || len > MDM_MACHINEINFO_MAX) {
        return mdm_err(err, "request of %zu bytes (1 to %d accepted)",
                       len, MDM_MACHINEINFO_MAX);
    }

    p = der;
    cms = d2i_CMS_ContentInfo(NULL, &p, (long) len);

    if (cms == NULL || p != der + len
        || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed
        || CMS_get0_content(cms) == NULL || *CMS_get0_content(cms) == NULL)
    {
        ERR_clear_error();
        CMS_ContentInfo_free(cms);
        return mdm_err(err, "not a DER CMS SignedData with its content");
    }

    /* Apple's device CA: phase 2 */
    if (mdm_ota_verify(cms, anchors, 0, &out) == 1) {
        req->phase = MDM_OTA_PHASE2;

    /* else only the signature, by the certificate in the message: phase 3
     * if the caller finds that certificate in our CA's records */
    } else if (mdm_ota_verify(cms, NULL, CMS_NO_SIGNER_CERT_VERIFY, &out)
               == 1)
    {
        signers = CMS_get0_signers(cms);
        signer = signers && sk_X509_num(signers) == 1
                 ? sk_X509_value(signers, 0) : NULL;

        if (signer == NULL
            || mdm_ca_cert_sha256(signer, req->signer_sha256) != 0)
        {
            sk_X509_free(signers);
            CMS_ContentInfo_free(cms);
            BIO_free(out);
            return mdm_err(err, "not one signer");
        }

        sk_X509_free(signers);
        req->phase = MDM_OTA_PHASE3;

    } else {
        CMS_ContentInfo_free(cms);
        return mdm_err(err, "signature does not verify");
    }

    CMS_ContentInfo_free(cms);

    content_len = BIO_get_mem_data(out, &content);
    rc = mdm_ota_attributes(content, (size_t) content_len, req, err);
    BIO_free(out);

    if (rc != MDM_OK) {
        int  phase = req->phase;

        memset(req, 0, sizeof(*req));
        req->phase = phase;
    }

    return rc;
}


/* CMS_verify into a fresh memory BIO; 1, or 0 with the BIO freed */
static int
mdm_ota_verify(CMS_ContentInfo *cms, X509_STORE *anchors, unsigned flags,
    BIO **out)
{
    *out = BIO_new(BIO_s_mem());

    if (*out != NULL
        && CMS_verify(cms, NULL, anchors, NULL, *out, CMS_BINARY | flags)
           == 1)
    {
        return 1;
    }

    ERR_clear_error();
    BIO_free(*out);
    *out = NULL;

    return 0;
}


static int
mdm_ota_attributes(const char *plist, size_t len, mdm_ota_req_t *req,
    mdm_err_t *err)
{
    int          rc;
    plist_t      dict;
    const char  *challenge;

    if (mdm_machineinfo_from_plist(plist, len, &req->attrs, err) != MDM_OK) {
        return MDM_ERROR;
    }

    if (req->phase != MDM_OTA_PHASE2) {
        return MDM_OK;
    }

    if (mdm_plist_parse(plist, len, MDM_MACHINEINFO_MAX, &dict, err)
        != MDM_OK)
    {
        return MDM_ERROR;
    }

    rc = mdm_plist_get_string(dict, "CHALLENGE", &challenge, err);

    if (rc == MDM_OK
        && !mdm_enroll_challenge_valid(challenge, strlen(challenge)))
    {
        rc = mdm_err(err, "CHALLENGE is not one of ours");

    } else if (rc == MDM_ABSENT) {
        rc = mdm_err(err, "key CHALLENGE is required");
    }

    if (rc == MDM_OK) {
        memcpy(req->challenge, challenge, strlen(challenge) + 1);
    }

    plist_free(dict);

    return rc;
}
