#ifndef MDM_ACME_OBJECT_H
#define MDM_ACME_OBJECT_H

/*
 * The JSON resources of RFC 8555 §7.1 as this server shows them, from the
 * fields stored in Redis (mdm:acme:order:{<id>}, docs/redis-schema.md).
 * URLs are made from the base (the ACME location's absolute URL, no
 * trailing slash): <base>/directory, /new-nonce, /new-account,
 * /new-order, /revoke-cert, /key-change, /acct/<thumbprint>[/orders],
 * /order/<id>, /authz/<id>, /chall/<id>, /finalize/<id>, /cert/<id> (an
 * order's authorization and challenge share its ID). Each function
 * returns malloc'd compact JSON (free()), or NULL without memory.
 */

#include <time.h>

#define MDM_ACME_CHALLENGE_TYPE  "device-attest-01"
#define MDM_ACME_IDENTIFIER_TYPE "permanent-identifier"

/* an order as stored; absent fields are NULL or 0 */
typedef struct {
    const char  *status;
    const char  *authz;
    const char  *chall;
    const char  *identifier;
    const char  *token;
    const char  *cert;
    time_t       expires;
    time_t       validated;
} mdm_acme_order_t;

char *mdm_acme_directory_json(const char *base);

/* contact: a JSON array as stored, or NULL */
char *mdm_acme_account_json(const char *base, const char *thumbprint,
    const char *status, const char *contact);

char *mdm_acme_order_json(const char *base, const char *id,
    const mdm_acme_order_t *o, time_t now);
char *mdm_acme_authz_json(const char *base, const char *id,
    const mdm_acme_order_t *o, time_t now);
char *mdm_acme_chall_json(const char *base, const char *id,
    const mdm_acme_order_t *o);

/* RFC 3339 UTC ("2026-12-03T14:25:00Z") into out[21] */
void mdm_acme_time(time_t t, char out[21]);

#endif
