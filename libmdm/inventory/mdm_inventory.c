/*
 * Command results into inventory: the report's plist, the dict or array
 * that carries the facts, each value as JSON.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "mdm_hex.h"
#include "mdm_plist_json.h"
#include "inventory/mdm_inventory.h"


static const char *const  mdm_inventory_types[] = {
    NULL, "DeviceInformation", "SecurityInfo", "InstalledApplicationList",
    "ProfileList"
};

/* the key of the report that holds the facts, per kind */
static const char *const  mdm_inventory_keys[] = {
    NULL, "QueryResponses", "SecurityInfo", "InstalledApplicationList",
    "ProfileList"
};


static int mdm_inventory_list(mdm_inventory_t *inv, plist_t array,
    mdm_err_t *err);


mdm_inventory_kind_e
mdm_inventory_kind(const char *request_type)
{
    unsigned  i;

    for (i = 1; request_type != NULL && i < 5; i++) {
        if (strcmp(request_type, mdm_inventory_types[i]) == 0) {
            return (mdm_inventory_kind_e) i;
        }
    }

    return MDM_INV_NONE;
}


const char *
mdm_inventory_request_type(mdm_inventory_kind_e kind)
{
    return (kind > MDM_INV_NONE && kind <= MDM_INV_PROFILES)
           ? mdm_inventory_types[kind] : NULL;
}


int
mdm_inventory_parse(mdm_inventory_kind_e kind, const char *raw, size_t len,
    mdm_inventory_t *inv, mdm_err_t *err)
{
    int          rc, got;
    plist_t      root, node;
    const char  *key;

    memset(inv, 0, sizeof(*inv));

    if (kind <= MDM_INV_NONE || kind > MDM_INV_PROFILES) {
        return mdm_err_as(err, MDM_REFUSED_UNKNOWN_TYPE,
                          "not an inventory command");
    }

    if (mdm_plist_parse(raw, len, MDM_INVENTORY_MAX, &root, err) != MDM_OK) {
        return MDM_ERROR;
    }

    inv->kind = kind;
    key = mdm_inventory_keys[kind];
    rc = MDM_ERROR;

    node = NULL;

    if (kind == MDM_INV_DEVICE_INFORMATION || kind == MDM_INV_SECURITY_INFO) {
        got = mdm_plist_get_dict(root, key, &node, err);

        if (got == MDM_OK) {
            inv->facts = mdm_plist_to_json(node);
            rc = inv->facts ? MDM_OK
                            : mdm_err_as(err, MDM_REFUSED_NO_MEMORY,
                                         "out of memory");
        }

    } else {
        got = mdm_plist_get_array(root, key, &node, err);

        if (got == MDM_OK) {
            rc = mdm_inventory_list(inv, node, err);
        }
    }

    if (got == MDM_ABSENT) {
        mdm_err_as(err, MDM_REFUSED_MISSING_KEY, "the report has no %s", key);
    }

    plist_free(root);

    if (rc != MDM_OK) {
        mdm_inventory_free(inv);
    }

    return rc;
}


/* The list, its canonical JSON and digest: what tells "changed" apart. */
static int
mdm_inventory_list(mdm_inventory_t *inv, plist_t array, mdm_err_t *err)
{
    size_t          i;
    json_t         *item;
    unsigned char   md[SHA256_DIGEST_LENGTH];

    inv->list = mdm_plist_to_json(array);

    if (inv->list == NULL) {
        return mdm_err_as(err, MDM_REFUSED_NO_MEMORY, "out of memory");
    }

    json_array_foreach(inv->list, i, item) {
        if (!json_is_object(item)) {
            return mdm_err_as(err, MDM_REFUSED_WRONG_TYPE,
                              "%s[%zu] is not a dict",
                              mdm_inventory_keys[inv->kind], i);
        }

        if (inv->kind == MDM_INV_PROFILES) {
            json_object_del(item, "PayloadContent");

            if (!json_is_string(json_object_get(item, "PayloadIdentifier"))) {
                return mdm_err_as(err, MDM_REFUSED_MISSING_KEY,
                                  "ProfileList[%zu] has no "
                                  "PayloadIdentifier", i);
            }
        }
    }

    inv->list_json = json_dumps(inv->list, JSON_COMPACT | JSON_SORT_KEYS);

    if (inv->list_json == NULL) {
        return mdm_err_as(err, MDM_REFUSED_NO_MEMORY, "out of memory");
    }

    SHA256((const unsigned char *) inv->list_json, strlen(inv->list_json), md);
    mdm_hex_encode(md, sizeof(md), inv->digest);

    return MDM_OK;
}


void
mdm_inventory_free(mdm_inventory_t *inv)
{
    json_decref(inv->facts);
    json_decref(inv->list);
    free(inv->list_json);
    memset(inv, 0, sizeof(*inv));
}
