#ifndef MDM_KEYS_H
#define MDM_KEYS_H

/*
 * C builders of the Redis keys of mdm_schema.c's table, where each key is
 * spelled once. Each function writes the key into buf (at least MDM_KEY_MAX
 * bytes) and returns its length (0 when an argument is too long).
 * Per-enrollment keys carry the enrollment ID as a hash tag.
 */

#include <stddef.h>

#include "mdm_schema.h"

/* the longest: mdm:{<256-byte ID>}:r:<256-byte CommandUUID>, with room */
#define MDM_KEY_MAX         640

#define MDM_KEY_EVENTS mdm_schema_keys[MDM_K_EVENTS].pattern
#define MDM_KEY_PUSH mdm_schema_keys[MDM_K_PUSH].pattern
#define MDM_GROUP_PUSHERS   "pushers"     /* the consumer group of mdm:push */
#define MDM_KEY_ENROLLMENTS mdm_schema_keys[MDM_K_ENROLLMENTS].pattern
#define MDM_KEY_EXPIRY mdm_schema_keys[MDM_K_EXPIRY].pattern
#define MDM_KEY_PENDING mdm_schema_keys[MDM_K_PENDING].pattern
#define MDM_KEY_NOTNOW mdm_schema_keys[MDM_K_NOTNOW].pattern
#define MDM_KEY_WORKER_METRICS mdm_schema_keys[MDM_K_WORKER_METRICS].pattern

/* Key k with its placeholders p1, p2 (NULL when it has fewer) */
size_t mdm_key(char *buf, mdm_key_id_t k, const char *p1, const char *p2);

/* mdm:{<id>}:enr, :auth, :q, :nn, :users */
size_t mdm_key_enrollment(char *buf, const char *id);
size_t mdm_key_auth(char *buf, const char *id);
size_t mdm_key_queue(char *buf, const char *id);
size_t mdm_key_notnow(char *buf, const char *id);
size_t mdm_key_users(char *buf, const char *id);

/* mdm:{<id>}:r:<uuid> */
size_t mdm_key_result(char *buf, const char *id, const char *uuid);

/* mdm:cmd:{<uuid>} and mdm:cmd:{<uuid>}:ids */
size_t mdm_key_command(char *buf, const char *uuid);
size_t mdm_key_command_ids(char *buf, const char *uuid);

/* mdm:cert:<sha256 hex> */
size_t mdm_key_cert(char *buf, const char *sha256_hex);

/* mdm:pushcert:<topic> */
size_t mdm_key_pushcert(char *buf, const char *topic);

/* mdm:webhook:dead:<name>, mdm:webhook:retry:<name> */
size_t mdm_key_webhook_dead(char *buf, const char *name);
size_t mdm_key_webhook_retry(char *buf, const char *name);

/* Enrollment (issue 12): one-time links and their index */
#define MDM_KEY_ENROLL_INDEX mdm_schema_keys[MDM_K_ENROLL_INDEX].pattern

/* mdm:enroll:link:{<token>} */
size_t mdm_key_enroll_link(char *buf, const char *token);

/* OTA profile service: mdm:enroll:ota:{<challenge>}, the phase-1
 * challenge a phase-2 request spends */
size_t mdm_key_enroll_ota(char *buf, const char *challenge);

/* ADE (one slot per device serial): mdm:enroll:dev:{<serial>} (the facts
 * of its last MachineInfo), mdm:enroll:known:{<serial>} (registered) */
size_t mdm_key_enroll_dev(char *buf, const char *serial);
size_t mdm_key_enroll_known(char *buf, const char *serial);

/* SCEP CA (docs/redis-schema.md, "Enrollment"): catalogue keys, own tag */
#define MDM_KEY_CA_INDEX mdm_schema_keys[MDM_K_CA_INDEX].pattern
#define MDM_KEY_CA_REVOKED mdm_schema_keys[MDM_K_CA_REVOKED].pattern

/* mdm:scep:chal:{<challenge>}, mdm:ca:cert:{<sha256 hex>},
 * mdm:ca:serial:{<serial hex>} */
size_t mdm_key_scep_challenge(char *buf, const char *challenge);
size_t mdm_key_ca_cert(char *buf, const char *sha256_hex);
size_t mdm_key_ca_serial(char *buf, const char *serial_hex);

/* ACME (docs/acme.md): mdm:acme:nonce:{<nonce>}, mdm:acme:acct:{<thumbprint>}
 * and its :orders, mdm:acme:order:{<order>}; each its own slot */
size_t mdm_key_acme_nonce(char *buf, const char *nonce);
size_t mdm_key_acme_acct(char *buf, const char *thumbprint);
size_t mdm_key_acme_orders(char *buf, const char *thumbprint);
size_t mdm_key_acme_order(char *buf, const char *order);

#endif
