#ifndef MDM_DDM_DECLARATION_H
#define MDM_DDM_DECLARATION_H

/*
 * A declaration as the API receives it and as devices get it (protocol.md
 * §6.3, services.md §1.2): {Type, Identifier, Payload, [ServerToken]}.
 *
 * Parsing checks the envelope (Type com.apple.<kind>.… and known to the
 * schema, Identifier 1..64 octets without control characters, Payload a
 * dictionary, no other top-level key), drops the client's ServerToken,
 * validates Payload (mdm_ddm_validate.h), computes the ServerToken from the
 * canonical content and renders the document served on every fetch: the
 * canonical JSON with the computed ServerToken in it, so two fetches, and
 * two uploads of the same content in any key order, are the same bytes.
 */

#include <stddef.h>

#include <jansson.h>

#include "ddm/mdm_ddm.h"
#include "ddm/mdm_ddm_token.h"
#include "ddm/mdm_ddm_validate.h"

typedef struct {
    json_t                  *root;        /* with the computed ServerToken */
    const char              *type;        /* into root */
    const char              *identifier;  /* into root */
    mdm_ddm_kind_e           kind;
    const mdm_ddm_schema_t  *schema;      /* NULL: unknown Type let through */
    unsigned long            touch;
    char                     server_token[MDM_DDM_SERVER_TOKEN_LEN + 1];

    /* what the ServerToken hashes: the content without a ServerToken, the
     * bytes to compare when an API PUT asks "changed?" */
    char                    *canonical;
    size_t                   canonical_len;

    /* what devices get from declaration/<kind>/<Identifier> */
    char                    *document;
    size_t                   document_len;

    /* Identifiers the payload references (see mdm_ddm_validate.h) */
    mdm_ddm_refs_t           refs;
} mdm_ddm_declaration_t;

/*
 * Parses and validates the JSON body of a declaration (flags:
 * MDM_DDM_ALLOW_UNKNOWN_KEYS, MDM_DDM_ALLOW_UNKNOWN_TYPES). MDM_OK with *d
 * filled (free with mdm_ddm_declaration_free()), or MDM_ERROR with the path
 * and rule in err and *d empty.
 */
int mdm_ddm_declaration_parse(const char *json, size_t len, unsigned flags,
    mdm_ddm_declaration_t *d, mdm_ddm_error_t *err);

/*
 * Gives the declaration the ServerToken of its touch count (the API's
 * "touch": a new token, so devices fetch it again, with the same content)
 * and renders its document again.
 */
int mdm_ddm_declaration_touch(mdm_ddm_declaration_t *d, unsigned long touch,
    mdm_ddm_error_t *err);

void mdm_ddm_declaration_free(mdm_ddm_declaration_t *d);

#endif
