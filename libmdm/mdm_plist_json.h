#ifndef MDM_PLIST_JSON_H
#define MDM_PLIST_JSON_H

/*
 * plist values as JSON, for the API's views of device reports: dict ->
 * object, array -> array, string -> string (null if not UTF-8), integer
 * and UID -> integer, real -> real (null if not finite), boolean ->
 * true/false, date -> RFC 3339 string (UTC), data -> base64 string.
 */

#include <stddef.h>
#include <jansson.h>
#include <plist/plist.h>

/* The JSON form of node, or NULL when memory runs out. */
json_t *mdm_plist_to_json(plist_t node);

/* The JSON form of key in the top-level dict of a plist body; NULL when
 * the body is not a plist dict or has no such key. */
json_t *mdm_plist_key_to_json(const char *body, size_t len, const char *key);

#endif
