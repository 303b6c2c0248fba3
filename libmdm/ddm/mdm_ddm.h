#ifndef MDM_DDM_H
#define MDM_DDM_H

/*
 * Declarative device management, the parts that need neither nginx nor
 * Redis (docs/ddm.md): what every DDM file shares, the declaration kinds,
 * the limits, and the error that names a key path and the rule it broke.
 */

#include <stddef.h>

#include <jansson.h>

#include "mdm_plist.h"         /* MDM_OK, MDM_ERROR */

/* Identifier and ServerToken, as Apple bounds them (declarationbase.yaml) */
#define MDM_DDM_ID_MAX           64
#define MDM_DDM_TYPE_MAX         128

/* A declaration as uploaded; a status report as a device sends it */
#define MDM_DDM_DECLARATION_MAX  (1024 * 1024)
#define MDM_DDM_STATUS_MAX       (1024 * 1024)
#define MDM_DDM_MAX_DEPTH        32

#define MDM_DDM_PATH_MAX         256
#define MDM_DDM_MSG_MAX          256

/* The manifest bucket of a declaration: the word after "com.apple." */
typedef enum {
    MDM_DDM_ACTIVATION = 0,
    MDM_DDM_ASSET,
    MDM_DDM_CONFIGURATION,
    MDM_DDM_MANAGEMENT,
    MDM_DDM_NKINDS
} mdm_ddm_kind_e;

/*
 * Why something was refused: rule is a short fixed word ("required",
 * "type", "value", "range", "length", "unknown-key", "unknown-type",
 * "json", "size", "depth", "shape", "count"), path the key path in the
 * document ("Payload.Reference.DataURL", "Payload.StandardConfigurations[1]",
 * "" for the document itself), msg a sentence for people.
 */
typedef struct {
    const char  *rule;
    char         path[MDM_DDM_PATH_MAX];
    char         msg[MDM_DDM_MSG_MAX];
} mdm_ddm_error_t;

/* "activation", "asset", "configuration", "management" (the URL word) */
const char *mdm_ddm_kind_name(mdm_ddm_kind_e kind);

/* "Activations", "Assets", "Configurations", "Management" (the manifest) */
const char *mdm_ddm_kind_manifest(mdm_ddm_kind_e kind);

/* "activations", ... "management" (the status report's arrays) */
const char *mdm_ddm_kind_status(mdm_ddm_kind_e kind);

/* The kind of "com.apple.<kind>.…"; MDM_DDM_NKINDS if it has none. */
mdm_ddm_kind_e mdm_ddm_kind_of_type(const char *type);

/* The kind named by a URL word ("configuration"); MDM_DDM_NKINDS if none. */
mdm_ddm_kind_e mdm_ddm_kind_from_name(const char *name, size_t len);

/*
 * Whether s (len bytes) may be an Identifier or a ServerToken: 1 to
 * MDM_DDM_ID_MAX octets, no control characters (they end up in URL paths,
 * Redis keys and the newline-separated DeclarationsToken input) and no
 * braces (they would move the hash tag of the catalogue key).
 */
int mdm_ddm_id_valid(const char *s, size_t len);

/* Fills err; the message is cut at a character boundary and made UTF-8. */
int mdm_ddm_fail(mdm_ddm_error_t *err, const char *rule, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The API's 400 body: {"error": msg, "rule": rule, "path": path}. */
json_t *mdm_ddm_error_json(const mdm_ddm_error_t *err);

#endif
