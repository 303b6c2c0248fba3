#ifndef MDM_OTA_H
#define MDM_OTA_H

/*
 * The OTA profile service's device requests (services.md §3.4, Apple's
 * "Over-the-Air Profile Delivery and Configuration"): after installing the
 * phase-1 "Profile Service" profile, the device POSTs a CMS SignedData
 * (content attached) over a plist of its attributes (UDID, VERSION,
 * PRODUCT, SERIAL, IMEI, MEID, CHALLENGE).
 *
 *   phase 2: signed by its Apple device identity, which must chain to the
 *            Apple device CA (the anchors ADE uses); carries CHALLENGE
 *   phase 3: signed by the identity our SCEP CA issued in phase 2; the
 *            caller proves that by the issuance record of the signer
 *
 * mdm_ota_parse tells them apart by the signer: chains to the anchors ->
 * phase 2; else a good signature by its embedded certificate -> phase 3
 * (to be confirmed by the caller). The attributes pass the same strict
 * intake as an ADE MachineInfo.
 */

#include <stddef.h>

#include <openssl/x509.h>

#include "enroll/mdm_enroll_profile.h"
#include "enroll/mdm_machineinfo.h"

#define MDM_OTA_PHASE2  2
#define MDM_OTA_PHASE3  3

typedef struct {
    int                phase;
    mdm_machineinfo_t  attrs;
    char               challenge[MDM_ENROLL_CHALLENGE_LEN];  /* phase 2 */
    char               signer_sha256[65];                    /* phase 3 */
} mdm_ota_req_t;

/*
 * The entry point on the raw body (fuzz target): DER SignedData with
 * attached content, a valid signature, then the attributes. Phase 2 also
 * needs a well-formed CHALLENGE. MDM_OK, or MDM_ERROR with err.
 */
int mdm_ota_parse(const unsigned char *der, size_t len, X509_STORE *anchors,
    mdm_ota_req_t *req, mdm_err_t *err);

#endif
