/*
 * TokensResponse and DeclarationItemsResponse, built with jansson in
 * insertion order and dumped compact.
 */

#include <stdlib.h>
#include <string.h>

#include "mdm_plist.h"
#include "ddm/mdm_ddm_document.h"


static json_t *mdm_ddm_manifest(const mdm_ddm_item_t *const *sorted,
    size_t n);


char *
mdm_ddm_tokens_document(const char *declarations_token, time_t timestamp,
    size_t *len)
{
    char     ts[21], *s;
    json_t  *doc;

    mdm_ddm_timestamp(timestamp, ts);

    doc = json_pack("{s:{s:s, s:s}}", "SyncTokens",
                    "DeclarationsToken", declarations_token,
                    "Timestamp", ts);
    if (doc == NULL) {
        return NULL;
    }

    s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    if (s != NULL && len != NULL) {
        *len = strlen(s);
    }

    return s;
}


char *
mdm_ddm_items_document(const mdm_ddm_item_t *items, size_t n, char *token,
    size_t *len, mdm_ddm_error_t *err)
{
    char                    dtoken[MDM_DDM_DECLARATIONS_TOKEN_LEN + 1];
    char                   *s;
    json_t                 *doc, *manifest;
    const mdm_ddm_item_t  **sorted;

    if (mdm_ddm_items_sort(items, n, &sorted, err) != MDM_OK) {
        return NULL;
    }

    if (mdm_ddm_declarations_token_sorted(sorted, n, dtoken, err)
        != MDM_OK)
    {
        free(sorted);
        return NULL;
    }

    manifest = mdm_ddm_manifest(sorted, n);
    free(sorted);

    doc = manifest ? json_pack("{s:o, s:s}", "Declarations", manifest,
                               "DeclarationsToken", dtoken)
                   : NULL;
    s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);

    if (s == NULL) {
        mdm_ddm_fail(err, "memory", "", "out of memory");
        return NULL;
    }

    if (len != NULL) {
        *len = strlen(s);
    }

    if (token != NULL) {
        memcpy(token, dtoken, sizeof(dtoken));
    }

    return s;
}


void
mdm_ddm_timestamp(time_t t, char out[21])
{
    struct tm  tm;

    if (gmtime_r(&t, &tm) == NULL
        || strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    {
        /* a year beyond 9999 does not fit the device's format either */
        memcpy(out, "1970-01-01T00:00:00Z", 21);
    }
}


/* The four arrays, always all four, in the order the kinds are numbered. */
static json_t *
mdm_ddm_manifest(const mdm_ddm_item_t *const *sorted, size_t n)
{
    int          k;
    size_t       i;
    json_t      *manifest, *arrays[MDM_DDM_NKINDS], *item;
    const char  *name;

    manifest = json_object();
    if (manifest == NULL) {
        return NULL;
    }

    for (k = 0; k < MDM_DDM_NKINDS; k++) {
        name = mdm_ddm_kind_manifest((mdm_ddm_kind_e) k);

        if (json_object_set_new(manifest, name, json_array()) != 0) {
            json_decref(manifest);
            return NULL;
        }

        arrays[k] = json_object_get(manifest, name);
    }

    for (i = 0; i < n; i++) {
        item = json_pack("{s:s, s:s}", "Identifier", sorted[i]->identifier,
                         "ServerToken", sorted[i]->server_token);

        if (json_array_append_new(arrays[sorted[i]->kind], item) != 0) {
            json_decref(manifest);
            return NULL;
        }
    }

    return manifest;
}
