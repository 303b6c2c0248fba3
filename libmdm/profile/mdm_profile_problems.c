/*
 * The problem list a validation fills: bounded, every message valid UTF-8
 * (it quotes what the operator uploaded), and its JSON for the API.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mdm_utf8.h"
#include "profile/mdm_profile.h"


void
mdm_profile_problem(mdm_profile_problems_t *probs,
    mdm_profile_severity_e severity, const char *rule, const char *path,
    const char *fmt, ...)
{
    va_list                 ap;
    mdm_profile_problem_t  *pr;

    if (severity == MDM_PROFILE_ERROR) {
        probs->errors++;

    } else {
        probs->warnings++;
    }

    if (probs->n == MDM_PROFILE_PROBLEMS_MAX) {
        probs->dropped++;
        return;
    }

    pr = &probs->items[probs->n++];
    pr->severity = (unsigned char) severity;
    pr->rule = rule;
    snprintf(pr->path, sizeof(pr->path), "%s", path);
    mdm_utf8_sanitize(pr->path);

    va_start(ap, fmt);
    vsnprintf(pr->msg, sizeof(pr->msg), fmt, ap);
    va_end(ap);

    mdm_utf8_sanitize(pr->msg);
}


json_t *
mdm_profile_problems_json(const mdm_profile_problems_t *probs)
{
    size_t                        i;
    json_t                       *list, *item;
    const mdm_profile_problem_t  *pr;

    list = json_array();

    for (i = 0; list != NULL && i < probs->n; i++) {
        pr = &probs->items[i];
        item = json_pack("{s:s, s:s, s:s, s:s}", "severity",
                         pr->severity == MDM_PROFILE_ERROR ? "error"
                                                           : "warning",
                         "rule", pr->rule, "path", pr->path,
                         "message", pr->msg);

        if (item == NULL || json_array_append_new(list, item) != 0) {
            json_decref(list);
            return NULL;
        }
    }

    return list;
}
