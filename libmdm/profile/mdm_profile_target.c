/*
 * supportedOS against one enrollment: whether a device of that kind would
 * install the profile. The rules are the YAML's, per payload type and per
 * key (a key's rules already overlaid on its payload's by the generator).
 */

#include <stdlib.h>
#include <string.h>

#include "profile/mdm_profile.h"


static void mdm_profile_check_rules(const mdm_profile_os_t *r,
    const mdm_profile_target_t *t, mdm_profile_severity_e severity,
    const char *what, const char *path, mdm_profile_problems_t *probs);
static int mdm_profile_count_type(const mdm_profile_t *p, const char *type);


int
mdm_profile_version_cmp(const char *a, const char *b)
{
    char           *end;
    unsigned long   x, y;

    /* dotted decimals, a missing part is 0: "17" == "17.0" < "17.0.1" */
    while (*a != '\0' || *b != '\0') {
        x = strtoul(a, &end, 10);
        a = (*end == '.') ? end + 1 : end;
        y = strtoul(b, &end, 10);
        b = (*end == '.') ? end + 1 : end;

        if (x != y) {
            return x < y ? -1 : 1;
        }

        if ((*a != '\0' && (*a < '0' || *a > '9'))
            || (*b != '\0' && (*b < '0' || *b > '9')))
        {
            break;                      /* not a version: stop comparing */
        }
    }

    return 0;
}


int
mdm_profile_check_target(const mdm_profile_t *p,
    const mdm_profile_target_t *t, mdm_profile_problems_t *probs)
{
    char                          path[64];
    size_t                        i, errors;
    const mdm_profile_os_t       *r;
    const mdm_profile_payload_t  *pl;

    errors = probs->errors;

    if (t->os >= MDM_OS_COUNT) {
        return MDM_ERROR;
    }

    r = &mdm_profile_os_rules[mdm_profile_toplevel.os][t->os];
    mdm_profile_check_rules(r, t, MDM_PROFILE_ERROR, "a profile", "", probs);

    for (i = 0; i < p->npayloads; i++) {
        pl = &p->payloads[i];

        if (pl->schema == NULL) {
            continue;                   /* a custom domain: no rules */
        }

        r = &mdm_profile_os_rules[pl->schema->os][t->os];
        snprintf(path, sizeof(path), "PayloadContent[%zu]", i);
        mdm_profile_check_rules(r, t, MDM_PROFILE_ERROR, pl->type, path,
                                probs);
    }

    /* once per type that allows one payload and has several */
    for (i = 0; i < p->npayloads; i++) {
        pl = &p->payloads[i];

        if (pl->schema == NULL) {
            continue;
        }

        r = &mdm_profile_os_rules[pl->schema->os][t->os];

        if (r->multiple == 0 && mdm_profile_count_type(p, pl->type) > 1) {
            size_t  j;

            for (j = 0; j < i && (p->payloads[j].type == NULL
                                  || strcmp(p->payloads[j].type, pl->type)
                                     != 0);
                 j++)
            {
                /* the first payload of the type reports it */
            }

            if (j == i) {
                snprintf(path, sizeof(path), "PayloadContent[%zu]", i);
                mdm_profile_problem(probs, MDM_PROFILE_ERROR, "multiple",
                                    path, "%s: one %.64s payload at most on "
                                    "%s", path, pl->type,
                                    mdm_command_os_names[t->os]);
            }
        }
    }

    for (i = 0; i < p->nos_keys; i++) {
        r = &mdm_profile_os_rules[p->os_keys[i].key->os - 1][t->os];
        mdm_profile_check_rules(r, t, MDM_PROFILE_WARNING,
                                p->os_keys[i].key->name, p->os_keys[i].path,
                                probs);
    }

    return probs->errors != errors ? MDM_ERROR : MDM_OK;
}


static void
mdm_profile_check_rules(const mdm_profile_os_t *r,
    const mdm_profile_target_t *t, mdm_profile_severity_e severity,
    const char *what, const char *path, mdm_profile_problems_t *probs)
{
    const char  *os;

    os = mdm_command_os_names[t->os];

    if (r->introduced != NULL && strcmp(r->introduced, "n/a") == 0) {
        mdm_profile_problem(probs, severity, "os", path,
                            "%.64s is not supported on %s", what, os);
        return;
    }

    if (t->version != NULL && r->introduced != NULL
        && mdm_profile_version_cmp(t->version, r->introduced) < 0)
    {
        mdm_profile_problem(probs, severity, "os-version", path,
                            "%.64s needs %s %s, the device has %.16s", what,
                            os, r->introduced, t->version);
    }

    if (t->version != NULL && r->removed != NULL
        && mdm_profile_version_cmp(t->version, r->removed) >= 0)
    {
        mdm_profile_problem(probs, severity, "os-removed", path,
                            "%.64s was removed in %s %s", what, os,
                            r->removed);
    }

    if (r->supervised == 1 && !t->supervised) {
        mdm_profile_problem(probs, severity, "supervised", path,
                            "%.64s needs a supervised device", what);
    }

    if ((t->user_channel && r->user_channel == 0)
        || (!t->user_channel && r->device_channel == 0))
    {
        mdm_profile_problem(probs, severity, "channel", path,
                            "%.64s is not for the %s channel", what,
                            t->user_channel ? "user" : "device");
    }

    if (r->requires_dep == 1 && !t->dep) {
        mdm_profile_problem(probs, severity, "dep", path,
                            "%.64s needs Automated Device Enrollment", what);
    }

    if ((t->user_enrollment && r->user_enrollment == MDM_PROFILE_MODE_FORBIDDEN)
        || (!t->user_enrollment
            && r->user_enrollment == MDM_PROFILE_MODE_REQUIRED))
    {
        mdm_profile_problem(probs, severity, "user-enrollment", path,
                            "%.64s is %s with User Enrollment", what,
                            t->user_enrollment ? "forbidden" : "only");
    }

    if (t->shared_ipad && r->shared_ipad == MDM_PROFILE_MODE_FORBIDDEN) {
        mdm_profile_problem(probs, severity, "shared-ipad", path,
                            "%.64s is forbidden on Shared iPad", what);
    }
}


static int
mdm_profile_count_type(const mdm_profile_t *p, const char *type)
{
    int     n;
    size_t  i;

    n = 0;

    for (i = 0; i < p->npayloads; i++) {
        if (p->payloads[i].type != NULL
            && strcmp(p->payloads[i].type, type) == 0)
        {
            n++;
        }
    }

    return n;
}
