#ifndef MDM_PROFILE_H
#define MDM_PROFILE_H

/*
 * A configuration profile as an operator uploads it (docs/profiles.md,
 * services.md §2): an XML or binary plist, or that plist inside a CMS
 * SignedData with the content attached (the signer is verified over it and
 * kept). Parsing takes the bytes apart, checks the identity rules the
 * server depends on and validates every payload against Apple's schema
 * (mdm_profile_schema.h), collecting every problem, not only the first:
 *
 * - the top level: TopLevel.yaml's keys (PayloadType "Configuration",
 *   PayloadVersion 1, ...), PayloadContent unless IsEncrypted, then
 *   EncryptedPayloadContent;
 * - each PayloadContent item: a dict, CommonPayloadKeys.yaml's keys and its
 *   PayloadType's; a com.apple.* type the schema does not know is an error,
 *   any other reverse-DNS type is a custom preference domain (a warning:
 *   its keys are the app's);
 * - PayloadIdentifier: 1..MDM_PROFILE_ID_MAX bytes of UTF-8 without control
 *   characters, spaces or braces (it names Redis keys and the RemoveProfile
 *   command), unique among the payloads; PayloadUUID: 1..MDM_PROFILE_ID_MAX
 *   bytes without control characters, unique in the whole profile;
 * - per key: required keys present, types, allowed values, ranges, formats
 *   and array repetition. A key the schema does not list is a warning
 *   (devices ignore it; the YAML is not exhaustive).
 */

#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <plist/plist.h>

#include "mdm_buf.h"
#include "mdm_plist.h"
#include "profile/mdm_profile_schema.h"

/* A profile as uploaded; fonts and certificates make some large */
#define MDM_PROFILE_MAX           (4 * 1024 * 1024)
#define MDM_PROFILE_ID_MAX        255
#define MDM_PROFILE_MAX_DEPTH     MDM_PLIST_MAX_DEPTH
#define MDM_PROFILE_PROBLEMS_MAX  64
#define MDM_PROFILE_PATH_MAX      256
#define MDM_PROFILE_MSG_MAX       200
/* keys with their own supportedOS rules, kept for the target check */
#define MDM_PROFILE_OS_KEYS_MAX   64

typedef enum {
    MDM_PROFILE_ERROR = 0,
    MDM_PROFILE_WARNING
} mdm_profile_severity_e;

/*
 * One problem: rule is a short fixed word ("plist", "cms", "signature",
 * "size", "required", "type", "value", "range", "format", "repetition",
 * "unknown-key", "unknown-type", "custom-type", "identifier",
 * "duplicate-uuid", "duplicate-identifier", "encrypted", "depth", and for a
 * target "os", "os-version", "os-removed", "supervised", "channel", "dep",
 * "user-enrollment", "shared-ipad", "multiple"), path the key path
 * ("PayloadContent[1].SSID_STR", "" for the profile itself).
 */
typedef struct {
    unsigned char  severity;            /* mdm_profile_severity_e */
    const char    *rule;
    char           path[MDM_PROFILE_PATH_MAX];
    char           msg[MDM_PROFILE_MSG_MAX];
} mdm_profile_problem_t;

typedef struct {
    mdm_profile_problem_t  items[MDM_PROFILE_PROBLEMS_MAX];
    size_t                 n;
    size_t                 errors;
    size_t                 warnings;
    size_t                 dropped;     /* past MDM_PROFILE_PROBLEMS_MAX */
} mdm_profile_problems_t;

typedef struct {
    const char                  *type;        /* into root */
    const char                  *identifier;
    const char                  *uuid;
    const mdm_profile_schema_t  *schema;      /* NULL: a custom domain */
} mdm_profile_payload_t;

/* a key met in the walk that has its own supportedOS rules */
typedef struct {
    const mdm_profile_key_t     *key;
    char                         path[MDM_PROFILE_PATH_MAX];
} mdm_profile_os_key_t;

typedef struct {
    plist_t                 root;           /* the profile's dict */
    const char             *identifier;     /* into root */
    const char             *uuid;
    const char             *display_name;   /* NULL if absent */
    int                     encrypted;

    /* the plist bytes (taken out of the CMS if signed), and their hash:
     * what the catalogue stores and names */
    unsigned char          *content;
    size_t                  content_len;
    char                    sha256[65];

    /* a signed upload: the signer as it signed */
    int                     is_signed;
    char                    signer_subject[256];
    char                    signer_sha256[65];

    mdm_profile_payload_t  *payloads;
    size_t                  npayloads;

    mdm_profile_os_key_t    os_keys[MDM_PROFILE_OS_KEYS_MAX];
    size_t                  nos_keys;
} mdm_profile_t;

/* Lets a com.apple.* PayloadType the schema does not know through as a
 * warning (a newer OS's payload) instead of an error. */
#define MDM_PROFILE_ALLOW_UNKNOWN_TYPES  0x01

/*
 * Parses and validates body (len bytes, at most max_len). MDM_OK when no
 * error was found (warnings may be in probs), with *p filled; MDM_ERROR
 * with every problem found in probs and the first in err (its reason for
 * metrics), *p empty. Free with mdm_profile_free() either way.
 */
int mdm_profile_parse(const unsigned char *body, size_t len, size_t max_len,
    unsigned flags, mdm_profile_t *p, mdm_profile_problems_t *probs,
    mdm_err_t *err);

void mdm_profile_free(mdm_profile_t *p);

/* Whether s (len bytes) may be a profile's PayloadIdentifier (the rule
 * above): what the API checks of an identifier in a path. */
int mdm_profile_identifier_valid(const char *s, size_t len);

/* Whether body looks like CMS (DER SEQUENCE) rather than a plist. */
int mdm_profile_is_cms(const unsigned char *body, size_t len);

/*
 * The enrollment a profile is meant for: what supportedOS rules depend on.
 * version "17.4" (NULL: not known, versions not checked).
 */
typedef struct {
    mdm_command_os_e  os;
    const char       *version;
    int               user_channel;
    int               supervised;
    int               dep;
    int               user_enrollment;
    int               shared_ipad;
} mdm_profile_target_t;

/*
 * Whether p can apply to target: payload types supported on its OS and
 * version, channel, supervision, DEP, user enrollment and Shared iPad
 * (errors: the device would refuse it), more than one payload of a type
 * that allows one (error), keys with rules of their own (warnings: the
 * device ignores them). MDM_OK, or MDM_ERROR when probs got an error.
 */
int mdm_profile_check_target(const mdm_profile_t *p,
    const mdm_profile_target_t *target, mdm_profile_problems_t *probs);

/* -1, 0, 1 as version a is below, equal to, above b ("17.4" vs "17.4.1"). */
int mdm_profile_version_cmp(const char *a, const char *b);

/* The problems as the API's JSON array of {"severity", "rule", "path",
 * "message"}; NULL without memory. */
json_t *mdm_profile_problems_json(const mdm_profile_problems_t *probs);

/* Appends a problem (counted in dropped past the limit). */
void mdm_profile_problem(mdm_profile_problems_t *probs,
    mdm_profile_severity_e severity, const char *rule, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * The validation walk (mdm_profile_validate.c): members of dict against
 * the n keys from first, and, for a payload, the common keys as well
 * (common_n 0 for none). path is the dict's key path and is extended in
 * place (room MDM_PROFILE_PATH_MAX). Problems go to probs, keys with own
 * supportedOS rules to p->os_keys.
 */
void mdm_profile_walk_dict(mdm_profile_t *p, mdm_profile_problems_t *probs,
    plist_t dict, unsigned first, unsigned n, unsigned common_first,
    unsigned common_n, char *path, int depth);

/*
 * CMS (mdm_profile_cms.c). Unwrap: body is a SignedData with the content
 * attached; its signature verifies with the certificate it carries (trust
 * in that certificate is the operator's: any organisation's identity may
 * sign a profile). MDM_OK with the content (malloc'd) and the signer in
 * p, or MDM_ERROR with a problem.
 */
int mdm_profile_cms_unwrap(const unsigned char *body, size_t len,
    mdm_profile_t *p, mdm_buf_t *content, mdm_err_t *err);

/*
 * The commands that put a profile on a device and take it off
 * (mdm_profile_command.c): the command plist (XML) of InstallProfile with
 * payload as its Payload data (the profile as stored: plist or signed),
 * and of RemoveProfile with the profile's PayloadIdentifier. 0 with out
 * malloc'd (free with mdm_buf_free), or -1 without memory.
 */
int mdm_profile_install_command(const char *uuid,
    const unsigned char *payload, size_t len, mdm_buf_t *out);
int mdm_profile_remove_command(const char *uuid, const char *identifier,
    mdm_buf_t *out);

/* Signing at send time is mdm_enroll_profile_sign() (enroll/
 * mdm_enroll_profile.h): the one CMS signer of profiles in libmdm. */

#endif
