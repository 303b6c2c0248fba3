#ifndef MDM_DDM_SCHEMA_H
#define MDM_DDM_SCHEMA_H

/*
 * The declaration tables generated from Apple's device-management YAML
 * (declarative/declarations/<kind>s/ YAML files) by tools/gen-ddm-schema.py into
 * mdm_ddm_schema.c. Static const data, each table ending with a NULL-named
 * sentinel, lengths exported as well.
 *
 * The layout is the command tables' (mdm_command_schema.h) and shares their
 * key type enum: keys form a tree stored flat, a key's children are the
 * nsubkeys entries of mdm_ddm_keys starting at subkeys, in YAML order; a
 * child named MDM_KEY_WILDCARD stands for any key not otherwise listed; an
 * array has one child, the form of its elements. Allowed values (Apple's
 * rangelist) are strings, integers in decimal. A key with asset types names
 * an asset declaration by its Identifier (an array of them: its elements do),
 * and the asset must be of one of those Types.
 */

#include <stddef.h>

#include "mdm_command_schema.h"
#include "ddm/mdm_ddm.h"

typedef struct {
    const char     *name;
    unsigned char   type;               /* mdm_command_key_type_e */
    unsigned char   required;
    unsigned char   has_range;          /* integer min..max inclusive */
    long            min;
    long            max;
    unsigned short  subkeys;
    unsigned short  nsubkeys;
    unsigned short  values;             /* index into mdm_ddm_values */
    unsigned short  nvalues;
    unsigned short  assettypes;         /* index into mdm_ddm_values */
    unsigned short  nassettypes;
} mdm_ddm_key_t;

typedef struct {
    const char     *type;               /* "com.apple.activation.simple" */
    const char     *file;               /* "activations/simple.yaml" */
    unsigned char   kind;               /* mdm_ddm_kind_e */
    unsigned short  keys;               /* Payload's keys */
    unsigned short  nkeys;
} mdm_ddm_schema_t;

/* Finds a declaration Type; NULL if the schema has none. */
const mdm_ddm_schema_t *mdm_ddm_schema_find(const char *type);

extern const mdm_ddm_schema_t  mdm_ddm_schemas[];
extern const size_t            mdm_ddm_nschemas;
extern const mdm_ddm_key_t     mdm_ddm_keys[];
extern const size_t            mdm_ddm_nkeys;
extern const char *const       mdm_ddm_values[];
extern const size_t            mdm_ddm_nvalues;

#endif
