/*
 * ACME order, authorization and challenge states (mdm_acme_state.h).
 */

#include <string.h>

#include "acme/mdm_acme_state.h"


static const char  *mdm_acme_status_names[MDM_ACME_ST_COUNT] = {
    [MDM_ACME_ST_PENDING]     = "pending",
    [MDM_ACME_ST_READY]       = "ready",
    [MDM_ACME_ST_PROCESSING]  = "processing",
    [MDM_ACME_ST_VALID]       = "valid",
    [MDM_ACME_ST_INVALID]     = "invalid",
    [MDM_ACME_ST_DEACTIVATED] = "deactivated",
};


/* the edges: guard, then what is written (the hash's status, authz and
 * chall fields, or an account's status) */
static const mdm_acme_step_t  mdm_acme_steps[MDM_ACME_EV_COUNT] = {
    [MDM_ACME_EV_ATTESTED] = { "chall", "pending",
        { { "chall", "valid" }, { "authz", "valid" },
          { "status", "ready" } } },
    [MDM_ACME_EV_FINALIZE] = { "status", "ready",
        { { "status", "processing" } } },
    [MDM_ACME_EV_ISSUED] = { "status", "processing",
        { { "status", "valid" } } },
    [MDM_ACME_EV_ISSUE_FAILED] = { "status", "processing",
        { { "status", "invalid" } } },
    [MDM_ACME_EV_DEACTIVATE] = { "status", "valid",
        { { "status", "deactivated" } } },
};


const char *
mdm_acme_status_name(mdm_acme_status_e st)
{
    if ((unsigned) st >= MDM_ACME_ST_COUNT) {
        return NULL;
    }

    return mdm_acme_status_names[st];
}


int
mdm_acme_status_of(const char *name)
{
    int  i;

    for (i = 0; name != NULL && i < MDM_ACME_ST_COUNT; i++) {
        if (strcmp(name, mdm_acme_status_names[i]) == 0) {
            return i;
        }
    }

    return -1;
}


const mdm_acme_step_t *
mdm_acme_step(mdm_acme_event_e ev)
{
    if ((unsigned) ev >= MDM_ACME_EV_COUNT) {
        return NULL;
    }

    return &mdm_acme_steps[ev];
}


int
mdm_acme_can(mdm_acme_event_e ev, const char *status, const char *chall)
{
    const char             *have;
    const mdm_acme_step_t  *s;

    s = mdm_acme_step(ev);
    if (s == NULL) {
        return -1;
    }

    have = strcmp(s->guard_field, "chall") == 0 ? chall : status;

    return (have != NULL && strcmp(have, s->guard_value) == 0) ? 0 : -1;
}


mdm_acme_status_e
mdm_acme_order_status(const char *status, time_t expires, time_t now)
{
    int  st;

    st = mdm_acme_status_of(status);
    if (st < 0) {
        return MDM_ACME_ST_INVALID;
    }

    if (st != MDM_ACME_ST_VALID && expires > 0 && now >= expires) {
        return MDM_ACME_ST_INVALID;
    }

    return (mdm_acme_status_e) st;
}
