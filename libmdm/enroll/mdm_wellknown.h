#ifndef MDM_WELLKNOWN_H
#define MDM_WELLKNOWN_H

/*
 * Account-driven enrollment discovery (services.md §4.1, Apple's
 * "onboarding users with account-driven enrollment"): the device GETs
 * https://<domain>/.well-known/com.apple.remotemanagement
 * ?user-identifier=<user@domain>&model-family=<family> and expects
 * {"Servers":[{"Version":"mdm-byod"|"mdm-adde","BaseURL":"https://..."}]}
 * or a 403 with ErrorWellKnownFailed {"code":"com.apple.well-known.failed",
 * "description", "message"}. The operator writes the rules (nginx.conf):
 * the first rule whose domain and model family match answers.
 */

#include <stddef.h>

#define MDM_WELLKNOWN_FAILED        "com.apple.well-known.failed"
#define MDM_WELLKNOWN_USER_MAX      320     /* an address: 64 @ 255 */
#define MDM_WELLKNOWN_FAMILIES      6       /* AppleTV iPad iPhone Mac
                                               RealityDevice Watch */

typedef struct {
    const char  *domain;          /* lowercase; "*" matches any */
    const char  *version;         /* "mdm-byod" or "mdm-adde" */
    const char  *base_url;        /* https:// */
    unsigned     families;        /* MDM_WELLKNOWN_FAMILY bits, 0: any */
} mdm_wellknown_rule_t;

/* The bit of a model family name ("iPhone"), or 0 for none we know. */
unsigned mdm_wellknown_family(const char *name, size_t len);

/*
 * The domain of a user-identifier (after the last '@'), lowercased into
 * out (size bytes); 0, or -1 for an identifier that is no address (no '@',
 * empty parts, longer than MDM_WELLKNOWN_USER_MAX, bytes outside printable
 * ASCII, a domain that is not letters, digits, '-' and '.').
 */
int mdm_wellknown_domain(const char *user, size_t len, char *out,
    size_t size);

/* The first of n rules for domain and family bit (0: the device sent
 * none or one we do not know, which only a rule for any family matches),
 * or NULL. */
const mdm_wellknown_rule_t *mdm_wellknown_match(
    const mdm_wellknown_rule_t *rules, size_t n, const char *domain,
    unsigned family);

/* {"Servers":[{"Version":..., "BaseURL":...}]}, malloc'd, or NULL. */
char *mdm_wellknown_servers_json(const mdm_wellknown_rule_t *rule);

/* ErrorWellKnownFailed with description and message (each may be NULL),
 * malloc'd, or NULL. */
char *mdm_wellknown_failed_json(const char *description,
    const char *message);

#endif
