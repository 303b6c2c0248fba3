#ifndef MDM_PUSHCERT_H
#define MDM_PUSHCERT_H

/*
 * MDM push certificates as NanoMDM takes them: one PEM body holding the
 * APNs certificate and its unencrypted private key, in any order. The topic
 * is the subject's UID attribute (OID 0.9.2342.19200300.100.1.1) and must be
 * an MDM topic ("com.apple.mgmt."...), because it names the Redis key
 * mdm:pushcert:<topic> and the worker's APNs connection.
 */

#include <stddef.h>
#include <stdint.h>

#include "mdm_plist.h"

#define MDM_PUSHCERT_TOPIC_PREFIX  "com.apple.mgmt."
#define MDM_PUSHCERT_TOPIC_MAX     255

/* "2026-01-07T04:04:46Z" and its NUL */
#define MDM_PUSHCERT_TIME_LEN      (sizeof("YYYY-MM-DDTHH:MM:SSZ") - 1)

typedef struct {
    char      topic[MDM_PUSHCERT_TOPIC_MAX + 1];
    int64_t   not_after;                  /* unix seconds */
    char      not_after_text[MDM_PUSHCERT_TIME_LEN + 1];   /* RFC 3339 */
    char     *cert_pem;                   /* re-encoded, malloc'd */
    size_t    cert_pem_len;
    char     *key_pem;                    /* PKCS#8, unencrypted, malloc'd */
    size_t    key_pem_len;
} mdm_pushcert_t;

/*
 * Parses a certificate + private key PEM body. Refuses anything else in PEM
 * form, a second certificate or key, an encrypted key, a key that does not
 * belong to the certificate, a topic that is not an MDM topic, and a
 * certificate that expired at or before `now`. MDM_OK or MDM_ERROR with the
 * reason in err; on MDM_OK release pc with mdm_pushcert_free().
 */
int mdm_pushcert_parse(const char *body, size_t len, int64_t now,
    mdm_pushcert_t *pc, mdm_err_t *err);

/* Frees the PEM copies of a parsed certificate; safe on a zeroed one. */
void mdm_pushcert_free(mdm_pushcert_t *pc);

/* MDM_OK if topic is an MDM topic made of characters safe in a key. */
int mdm_pushcert_topic_check(const char *topic, size_t len, mdm_err_t *err);

/* Formats unix seconds as RFC 3339 UTC ("2026-01-07T04:04:46Z"). */
void mdm_pushcert_time_text(int64_t t, char out[MDM_PUSHCERT_TIME_LEN + 1]);

#endif
