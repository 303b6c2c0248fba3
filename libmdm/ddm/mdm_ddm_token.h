#ifndef MDM_DDM_TOKEN_H
#define MDM_DDM_TOKEN_H

/*
 * Canonical content and the two tokens (docs/ddm.md "Tokens").
 *
 * Canonical JSON is jansson's compact form with object keys sorted by their
 * UTF-8 bytes: no whitespace, strings escaped the one way jansson escapes
 * them. Two uploads that differ only in key order or spacing are the same
 * declaration, byte for byte.
 *
 * ServerToken = the first 32 hex digits of SHA-256 over the declaration's
 * canonical JSON without its ServerToken (a client's is ignored), followed
 * by "\n<touch>" once the declaration was touched. Same content, same token.
 *
 * DeclarationsToken = the 40 hex digits of SHA-1 over
 * "<Identifier>\n<ServerToken>\n" for every declaration of the enrollment,
 * sorted by Identifier bytes. SHA-1 because it is the one digest Redis Lua
 * has (redis.sha1hex): a script that changes an enrollment's items can
 * recompute the token in the same atomic step. Identifiers and tokens hold
 * no control characters (mdm_ddm_id_valid), so the input is unambiguous.
 */

#include <stddef.h>

#include <jansson.h>

#include "ddm/mdm_ddm.h"

#define MDM_DDM_SERVER_TOKEN_LEN        32
#define MDM_DDM_DECLARATIONS_TOKEN_LEN  40

/* One manifest entry of an enrollment. */
typedef struct {
    mdm_ddm_kind_e   kind;
    const char      *identifier;
    const char      *server_token;
} mdm_ddm_item_t;

/* v as canonical JSON, malloc'd and NUL-terminated; NULL on no memory. */
char *mdm_ddm_canonical(json_t *v, size_t *len);

/* The ServerToken of canonical content (touch 0: never touched); MDM_OK,
 * or MDM_ERROR when OpenSSL has no memory for the digest. */
int mdm_ddm_server_token(const char *canonical, size_t len,
    unsigned long touch, char out[MDM_DDM_SERVER_TOKEN_LEN + 1]);

/*
 * The items sorted by Identifier as a malloc'd array of n pointers (NULL for
 * n == 0). MDM_ERROR when an Identifier or ServerToken is not valid, a kind
 * is out of range, or an Identifier appears twice.
 */
int mdm_ddm_items_sort(const mdm_ddm_item_t *items, size_t n,
    const mdm_ddm_item_t ***sorted, mdm_ddm_error_t *err);

/* The DeclarationsToken of items in any order; MDM_OK or MDM_ERROR. */
int mdm_ddm_declarations_token(const mdm_ddm_item_t *items, size_t n,
    char out[MDM_DDM_DECLARATIONS_TOKEN_LEN + 1], mdm_ddm_error_t *err);

/* The same, over items already sorted by mdm_ddm_items_sort(). */
int mdm_ddm_declarations_token_sorted(const mdm_ddm_item_t *const *sorted,
    size_t n, char out[MDM_DDM_DECLARATIONS_TOKEN_LEN + 1],
    mdm_ddm_error_t *err);

#endif
