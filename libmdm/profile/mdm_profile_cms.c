/*
 * A signed profile taken apart: CMS SignedData, content attached, one
 * signer whose signature verifies with the certificate it carries. An
 * upload happens once per profile version, so OpenSSL's CMS_verify() does
 * the work (the hot-path parser of mdm_cms.h is for detached signatures).
 */

#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/sha.h>

#include "mdm_hex.h"
#include "profile/mdm_profile.h"


static void mdm_profile_note_signer(mdm_profile_t *p, X509 *signer);


int
mdm_profile_cms_unwrap(const unsigned char *body, size_t len,
    mdm_profile_t *p, mdm_buf_t *content, mdm_err_t *err)
{
    int                rc;
    BIO               *in, *out;
    char              *data;
    long               n;
    STACK_OF(X509)    *signers;
    CMS_ContentInfo   *cms;

    in = BIO_new_mem_buf(body, (int) len);
    cms = in ? d2i_CMS_bio(in, NULL) : NULL;
    BIO_free(in);

    if (cms == NULL) {
        ERR_clear_error();
        return mdm_err_as(err, MDM_REFUSED_MALFORMED,
                          "not a plist nor a DER CMS message");
    }

    rc = MDM_ERROR;
    out = NULL;

    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
        mdm_err_as(err, MDM_REFUSED_MALFORMED, "the CMS message is not "
                   "SignedData");
        goto done;
    }

    if (CMS_get0_content(cms) == NULL || *CMS_get0_content(cms) == NULL) {
        mdm_err_as(err, MDM_REFUSED_MALFORMED, "the SignedData has no "
                   "content attached");
        goto done;
    }

    if (sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)) != 1) {
        mdm_err_as(err, MDM_REFUSED_MALFORMED, "the SignedData must have "
                   "exactly one signer");
        goto done;
    }

    /* from here on it is a signed profile: a failure is its signature's */
    p->is_signed = 1;
    out = BIO_new(BIO_s_mem());

    if (out == NULL
        || CMS_verify(cms, NULL, NULL, NULL, out,
                      CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1)
    {
        mdm_err(err, "the signature does not verify with the signer "
                "certificate the profile carries");
        goto done;
    }

    signers = CMS_get0_signers(cms);

    if (signers == NULL || sk_X509_num(signers) != 1) {
        sk_X509_free(signers);
        mdm_err(err, "the signer certificate is missing");
        goto done;
    }

    mdm_profile_note_signer(p, sk_X509_value(signers, 0));
    sk_X509_free(signers);

    n = BIO_get_mem_data(out, &data);

    if (n <= 0) {
        mdm_err_as(err, MDM_REFUSED_EMPTY, "the signed content is empty");
        goto done;
    }

    if (mdm_buf_set(NULL, content, data, (size_t) n) != 0) {
        mdm_err_as(err, MDM_REFUSED_NO_MEMORY, "out of memory");
        goto done;
    }

    rc = MDM_OK;

done:

    ERR_clear_error();
    BIO_free(out);
    CMS_ContentInfo_free(cms);

    return rc;
}


static void
mdm_profile_note_signer(mdm_profile_t *p, X509 *signer)
{
    int             n;
    unsigned char  *der, md[SHA256_DIGEST_LENGTH];

    X509_NAME_oneline(X509_get_subject_name(signer), p->signer_subject,
                      sizeof(p->signer_subject));

    der = NULL;
    n = i2d_X509(signer, &der);

    if (n > 0) {
        SHA256(der, (size_t) n, md);
        mdm_hex_encode(md, sizeof(md), p->signer_sha256);
    }

    OPENSSL_free(der);
}
