#ifndef MDM_DDM_VALIDATE_H
#define MDM_DDM_VALIDATE_H

/*
 * A declaration's Payload checked against Apple's schema tables
 * (mdm_ddm_schema.h): required keys present, every value of its key's type,
 * strings and integers among the allowed values, integers in range, unknown
 * keys refused unless MDM_DDM_ALLOW_UNKNOWN_KEYS. The first broken rule is
 * reported with its key path ("Payload.Reference.DataURL").
 *
 * The walk also collects what the payload references by Identifier: an
 * activation's StandardConfigurations (configurations) and every key the
 * schema marks with asset types (assets), so that the API can warn about
 * references to declarations that do not exist, as devices would report
 * them (Error.MissingConfigurations, Error.MissingAssets).
 */

#include <jansson.h>

#include "ddm/mdm_ddm.h"
#include "ddm/mdm_ddm_schema.h"

/* Payload keys the schema does not list are accepted (newer OS releases). */
#define MDM_DDM_ALLOW_UNKNOWN_KEYS   0x01
/* A com.apple.<kind>.* Type the schema does not know is accepted with only
 * its envelope checked (see mdm_ddm_declaration.h). */
#define MDM_DDM_ALLOW_UNKNOWN_TYPES  0x02

typedef struct {
    const char           *identifier;   /* borrowed from the payload */
    mdm_ddm_kind_e        kind;         /* what it must name */
    const mdm_ddm_key_t  *key;          /* asset: key->assettypes allowed */
    char                  path[MDM_DDM_PATH_MAX];
} mdm_ddm_ref_t;

typedef struct {
    mdm_ddm_ref_t        *refs;
    size_t                n;
    size_t                cap;
} mdm_ddm_refs_t;

/* Finds a declaration Type; NULL if the schema has none. */
const mdm_ddm_schema_t *mdm_ddm_schema_find(const char *type);

/*
 * Checks payload against schema. References are appended to refs unless it
 * is NULL. MDM_OK, or MDM_ERROR with the path and rule in err.
 */
int mdm_ddm_validate_payload(const mdm_ddm_schema_t *schema, json_t *payload,
    unsigned flags, mdm_ddm_refs_t *refs, mdm_ddm_error_t *err);

/* 1 when an asset of Type type may satisfy ref (any, if none listed). */
int mdm_ddm_ref_accepts(const mdm_ddm_ref_t *ref, const char *type);

/* The Type of the declaration stored under identifier, or NULL if none. */
typedef const char *(*mdm_ddm_lookup_pt)(void *ctx, const char *identifier);

/*
 * The API's warnings about refs: a JSON array (empty when all is well) of
 * {"path", "identifier", "warning"} with warning "missing" (nothing stored
 * under it), "kind" (a declaration of another kind) or "type" (an asset of
 * a Type the key does not take). NULL on no memory.
 */
json_t *mdm_ddm_refs_warnings(const mdm_ddm_refs_t *refs,
    mdm_ddm_lookup_pt lookup, void *ctx);

void mdm_ddm_refs_free(mdm_ddm_refs_t *refs);

#endif
