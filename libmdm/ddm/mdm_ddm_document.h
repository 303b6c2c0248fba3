#ifndef MDM_DDM_DOCUMENT_H
#define MDM_DDM_DOCUMENT_H

/*
 * The JSON documents a device fetches besides the declarations themselves
 * (protocol.md §6.3, services.md §1.2), compact, keys in Apple's order:
 *
 *   tokens:            {"SyncTokens":{"DeclarationsToken":"…",
 *                                     "Timestamp":"2026-11-30T12:00:00Z"}}
 *   declaration-items: {"Declarations":{"Activations":[…],"Assets":[…],
 *                        "Configurations":[…],"Management":[…]},
 *                       "DeclarationsToken":"…"}
 *
 * All four arrays are always present (Apple requires them; empty is []),
 * each item {"Identifier":"…","ServerToken":"…"}, sorted by Identifier so
 * that the same items give the same bytes. The DeclarationsToken of the
 * items document is computed from the items themselves, so tokens and
 * declaration-items cannot disagree when both come from the same items.
 */

#include <stddef.h>
#include <time.h>

#include "ddm/mdm_ddm.h"
#include "ddm/mdm_ddm_token.h"

/* The TokensResponse; timestamp is when the enrollment's declarations last
 * changed (the same on every request). malloc'd; NULL on no memory. */
char *mdm_ddm_tokens_document(const char *declarations_token,
    time_t timestamp, size_t *len);

/*
 * The DeclarationItemsResponse of items (any order); its DeclarationsToken
 * is also written to token unless NULL. malloc'd, or NULL with err filled
 * (an invalid or duplicate item).
 */
char *mdm_ddm_items_document(const mdm_ddm_item_t *items, size_t n,
    char *token, size_t *len, mdm_ddm_error_t *err);

/* RFC 3339 in UTC to the second ("2026-11-30T12:00:00Z") into out[21]. */
void mdm_ddm_timestamp(time_t t, char out[21]);

#endif
