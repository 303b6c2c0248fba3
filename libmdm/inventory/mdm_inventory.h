#ifndef MDM_INVENTORY_H
#define MDM_INVENTORY_H

/*
 * Inventory from command results (services.md §8.2, docs/profiles.md):
 * the report of a DeviceInformation, SecurityInfo, InstalledApplicationList
 * or ProfileList command taken apart into what the worker stores per
 * enrollment. Tolerant by design: every key a device sends is kept as it
 * comes (as JSON, mdm_plist_json.h), keys Apple removed or added change
 * nothing, a value of an unexpected type is kept as that type. Only the
 * shape that carries the facts is required (QueryResponses a dict, ...).
 */

#include <stddef.h>

#include <jansson.h>

#include "mdm_plist.h"

/* An InstalledApplicationList of a Mac can be megabytes */
#define MDM_INVENTORY_MAX  (16 * 1024 * 1024)

typedef enum {
    MDM_INV_NONE = 0,
    MDM_INV_DEVICE_INFORMATION,
    MDM_INV_SECURITY_INFO,
    MDM_INV_APPLICATIONS,
    MDM_INV_PROFILES
} mdm_inventory_kind_e;

typedef struct {
    mdm_inventory_kind_e  kind;
    /* DeviceInformation's QueryResponses, SecurityInfo's SecurityInfo:
     * {key: value} */
    json_t               *facts;
    /* InstalledApplicationList: [{Identifier, Name, Version, ...}];
     * ProfileList: [{PayloadIdentifier, PayloadUUID, ...}], each item as
     * the device sent it but a ProfileList item's PayloadContent (the
     * per-payload summaries, kept out of the inventory's size) */
    json_t               *list;
    char                 *list_json;      /* compact, keys sorted */
    char                  digest[65];     /* SHA-256 hex of list_json */
} mdm_inventory_t;

/* The kind of a RequestType; MDM_INV_NONE for the others. */
mdm_inventory_kind_e mdm_inventory_kind(const char *request_type);

/* The RequestType of a kind ("DeviceInformation", ...). */
const char *mdm_inventory_request_type(mdm_inventory_kind_e kind);

/*
 * Parses an Acknowledged report (the raw plist, at most
 * MDM_INVENTORY_MAX bytes) of a command of that kind. MDM_OK with *inv
 * filled (free with mdm_inventory_free), or MDM_ERROR with err.
 */
int mdm_inventory_parse(mdm_inventory_kind_e kind, const char *raw,
    size_t len, mdm_inventory_t *inv, mdm_err_t *err);

void mdm_inventory_free(mdm_inventory_t *inv);

#endif
