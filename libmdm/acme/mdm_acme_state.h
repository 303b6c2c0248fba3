#ifndef MDM_ACME_STATE_H
#define MDM_ACME_STATE_H

/*
 * The state machines of RFC 8555 §7.1.6 as this server runs them. An
 * order names one identifier (a device's permanent-identifier), so it has
 * one authorization with one challenge (device-attest-01), and the three
 * live in one Redis hash (mdm:acme:order:{<id>}, fields `status`, `authz`,
 * `chall`): a transition is one compare-and-set of that hash
 * (acme_cas.lua), guarded by the field the event depends on.
 *
 *   challenge  pending -> valid                 (the attestation is checked
 *                                                 when it is posted)
 *   authz      pending -> valid                 (with its challenge)
 *   order      pending -> ready                 (authz valid)
 *              ready -> processing -> valid     (finalize, issued)
 *              processing -> invalid            (issuance failed)
 *
 * A refused attestation writes nothing (bad input changes no state): the
 * challenge stays pending and the device may post again until the order
 * expires.
 *   any not valid, past `expires`: invalid      (read time, no write)
 *   account    valid -> deactivated             (RFC 8555 §7.3.6)
 */

#include <time.h>

typedef enum {
    MDM_ACME_ST_PENDING = 0,
    MDM_ACME_ST_READY,
    MDM_ACME_ST_PROCESSING,
    MDM_ACME_ST_VALID,
    MDM_ACME_ST_INVALID,
    MDM_ACME_ST_DEACTIVATED,
    MDM_ACME_ST_COUNT
} mdm_acme_status_e;

typedef enum {
    MDM_ACME_EV_ATTESTED = 0,    /* the challenge's attestation verified */
    MDM_ACME_EV_FINALIZE,        /* a CSR was accepted for issuance */
    MDM_ACME_EV_ISSUED,
    MDM_ACME_EV_ISSUE_FAILED,
    MDM_ACME_EV_DEACTIVATE,      /* an account */
    MDM_ACME_EV_COUNT
} mdm_acme_event_e;

#define MDM_ACME_STEP_SETS  3

/* one transition as the compare-and-set writes it */
typedef struct {
    const char  *guard_field;          /* must hold guard_value ... */
    const char  *guard_value;
    const char  *set[MDM_ACME_STEP_SETS][2];   /* ... then these are set;
                                                  NULL-terminated */
} mdm_acme_step_t;

/* "pending", ...; NULL out of range */
const char *mdm_acme_status_name(mdm_acme_status_e st);

/* the status of a name, or -1 */
int mdm_acme_status_of(const char *name);

/* The compare-and-set of event ev, or NULL for none. */
const mdm_acme_step_t *mdm_acme_step(mdm_acme_event_e ev);

/*
 * Whether ev may happen to an order whose fields are status / chall
 * (names as stored): 0, or -1 when the machine has no such edge.
 */
int mdm_acme_can(mdm_acme_event_e ev, const char *status, const char *chall);

/* The status to show of an order stored as status with expires (unix s,
 * 0: none) at now: an order past its expiry that is not valid is invalid. */
mdm_acme_status_e mdm_acme_order_status(const char *status, time_t expires,
    time_t now);

#endif
