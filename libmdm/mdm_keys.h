#ifndef MDM_KEYS_H
#define MDM_KEYS_H

/*
 * The Redis key schema (docs/redis-schema.md), spelled once. Each function
 * writes the key into buf (at least MDM_KEY_MAX bytes) and returns its
 * length. Per-enrollment keys carry the enrollment ID as a hash tag.
 */

#include <stddef.h>

/* the longest: mdm:{<256-byte ID>}:r:<256-byte CommandUUID>, with room */
#define MDM_KEY_MAX         640

#define MDM_KEY_EVENTS      "mdm:events"
#define MDM_KEY_PUSH        "mdm:push"
#define MDM_GROUP_PUSHERS   "pushers"     /* the consumer group of mdm:push */
#define MDM_KEY_ENROLLMENTS "mdm:enrollments"
#define MDM_KEY_EXPIRY      "mdm:expiry"
#define MDM_KEY_PENDING     "mdm:pending"
#define MDM_KEY_NOTNOW      "mdm:notnow"
#define MDM_KEY_PUSHCERT    "mdm:pushcert:"
#define MDM_KEY_CMD_PREFIX  "mdm:cmd:"
#define MDM_KEY_WORKER_METRICS "mdm:metrics:worker"

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

/* Enrollment (issue 12): one-time links and their index */
#define MDM_KEY_ENROLL_INDEX "mdm:enroll:index"

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
#define MDM_KEY_CA_INDEX    "mdm:ca:index"
#define MDM_KEY_CA_REVOKED  "mdm:ca:revoked"

/* mdm:scep:chal:{<challenge>}, mdm:ca:cert:{<sha256 hex>},
 * mdm:ca:serial:{<serial hex>} */
size_t mdm_key_scep_challenge(char *buf, const char *challenge);
size_t mdm_key_ca_cert(char *buf, const char *sha256_hex);
size_t mdm_key_ca_serial(char *buf, const char *serial_hex);

#endif
