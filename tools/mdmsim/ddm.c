/*
 * The device side of declarative management: what the device holds, what
 * it fetches, how it applies declarations, and the status it reports.
 * libmdm checks the declarations the way the device's own schema would
 * (mdm_ddm_declaration_parse) and finds their references.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <plist/plist.h>

#include "ddm/mdm_ddm_declaration.h"
#include "ddm/mdm_ddm_schema.h"
#include "ddm.h"


#define MDMSIM_DDM_TOKEN_MAX  256

struct mdmsim_ddm_decl {
    mdm_ddm_kind_e           kind;
    char                     identifier[MDM_DDM_ID_MAX + 1];
    char                     server_token[MDM_DDM_ID_MAX + 1];
    int                      fetched;
    int                      valid;
    mdm_ddm_declaration_t    parsed;        /* when valid */
    char                    *reported;      /* status last reported */
};

struct mdmsim_ddm {
    char                     token[MDMSIM_DDM_TOKEN_MAX + 1];
    struct mdmsim_ddm_decl  *decls;
    size_t                   n, cap;
    char                   (*queue)[MDM_DDM_ID_MAX + 1];
    size_t                   nqueue, queue_head;
    char                     path[32 + MDM_DDM_ID_MAX];
    json_t                  *apps_reported;  /* bundle ID -> element */
    json_t                  *values_reported;
    int                      reported_once;
};


static struct mdmsim_ddm_decl *mdmsim_ddm_find(struct mdmsim_ddm *ddm,
    const char *identifier);
static void mdmsim_ddm_drop(struct mdmsim_ddm *ddm, size_t i);
static int mdmsim_ddm_usable(const struct mdmsim_ddm_decl *d,
    mdm_ddm_kind_e kind);
static int mdmsim_ddm_active(struct mdmsim_ddm *ddm,
    const struct mdmsim_ddm_decl *d);
static json_t *mdmsim_ddm_decl_status(struct mdmsim_ddm *ddm,
    const struct mdmsim_ddm_decl *d);
static json_t *mdmsim_ddm_reason(const char *code,
    const struct mdmsim_ddm_decl *d, const char *list_key, json_t *list);
static json_t *mdmsim_ddm_missing(struct mdmsim_ddm *ddm,
    const struct mdmsim_ddm_decl *d, mdm_ddm_kind_e kind);
static json_t *mdmsim_ddm_apps(struct mdmsim_ddm *ddm);
static json_t *mdmsim_ddm_subscribed(struct mdmsim_ddm *ddm);
static json_t *mdmsim_ddm_value(const struct mdmsim_device *dev,
    const char *name);
static json_t *mdmsim_ddm_capabilities(void);
static int mdmsim_ddm_set_path(json_t *items, const char *name, json_t *v);
static const char *mdmsim_ddm_payload_string(const struct mdmsim_ddm_decl *d,
    const char *key);


struct mdmsim_ddm *
mdmsim_ddm_new(void)
{
    struct mdmsim_ddm  *ddm;

    ddm = calloc(1, sizeof(*ddm));
    if (ddm == NULL) {
        return NULL;
    }
    ddm->apps_reported = json_object();
    ddm->values_reported = json_object();
    if (ddm->apps_reported == NULL || ddm->values_reported == NULL) {
        mdmsim_ddm_free(ddm);
        return NULL;
    }
    return ddm;
}


void
mdmsim_ddm_free(struct mdmsim_ddm *ddm)
{
    if (ddm == NULL) {
        return;
    }
    while (ddm->n > 0) {
        mdmsim_ddm_drop(ddm, ddm->n - 1);
    }
    free(ddm->decls);
    free(ddm->queue);
    json_decref(ddm->apps_reported);
    json_decref(ddm->values_reported);
    free(ddm);
}


size_t
mdmsim_ddm_count(const struct mdmsim_ddm *ddm)
{
    return ddm->n;
}


int
mdmsim_ddm_checkin(const struct mdmsim_device *dev, const char *endpoint,
    const char *data, size_t len, struct mdmsim_body *body)
{
    int      rc;
    plist_t  dict;

    dict = plist_new_dict();
    plist_dict_set_item(dict, "MessageType",
                        plist_new_string("DeclarativeManagement"));
    plist_dict_set_item(dict, "UDID", plist_new_string(dev->udid));
    plist_dict_set_item(dict, "Endpoint", plist_new_string(endpoint));
    if (data != NULL) {
        plist_dict_set_item(dict, "Data", plist_new_data(data, len));
    }
    rc = mdmsim_plist_body(dict, body);
    plist_free(dict);
    return rc;
}


int
mdmsim_ddm_tokens(struct mdmsim_ddm *ddm, const char *json, size_t len)
{
    int          changed;
    json_t      *root, *sync, *token;
    const char  *t;

    root = json_loadb(json, len, 0, NULL);
    sync = json_object_get(root, "SyncTokens");
    token = json_object_get(sync, "DeclarationsToken");

    if (!json_is_string(token)
        || !json_is_string(json_object_get(sync, "Timestamp"))
        || json_string_length(token) > MDMSIM_DDM_TOKEN_MAX)
    {
        json_decref(root);
        return -1;
    }

    t = json_string_value(token);
    changed = strcmp(t, ddm->token) != 0;
    json_decref(root);
    return changed;
}


int
mdmsim_ddm_items(struct mdmsim_ddm *ddm, const char *json, size_t len)
{
    int                      k, ok;
    size_t                   i, j, total;
    json_t                  *root, *decls, *array, *item, *id, *st, *token;
    void                    *grown;
    struct mdmsim_ddm_decl  *d;

    root = json_loadb(json, len, 0, NULL);
    decls = json_object_get(root, "Declarations");
    token = json_object_get(root, "DeclarationsToken");
    ok = json_is_object(decls) && json_is_string(token)
         && json_string_length(token) <= MDMSIM_DDM_TOKEN_MAX;
    total = 0;

    /* all four arrays present, every item an Identifier and a ServerToken */
    for (k = 0; ok && k < MDM_DDM_NKINDS; k++) {
        array = json_object_get(decls, mdm_ddm_kind_manifest(k));
        ok = json_is_array(array);
        json_array_foreach(array, i, item) {
            id = json_object_get(item, "Identifier");
            st = json_object_get(item, "ServerToken");
            ok = ok && json_is_string(id) && json_is_string(st)
                 && mdm_ddm_id_valid(json_string_value(id),
                                     json_string_length(id))
                 && mdm_ddm_id_valid(json_string_value(st),
                                     json_string_length(st));
        }
        total += ok ? json_array_size(array) : 0;
    }
    if (!ok) {
        json_decref(root);
        return -1;
    }

    /* what is no longer listed is removed from the device */
    for (i = ddm->n; i-- > 0;) {
        array = json_object_get(decls,
                                mdm_ddm_kind_manifest(ddm->decls[i].kind));
        ok = 0;
        json_array_foreach(array, j, item) {
            ok = ok || strcmp(json_string_value(json_object_get(item,
                              "Identifier")), ddm->decls[i].identifier) == 0;
        }
        if (!ok) {
            mdmsim_ddm_drop(ddm, i);
        }
    }

    grown = realloc(ddm->queue, (total ? total : 1) * sizeof(*ddm->queue));
    if (grown == NULL) {
        json_decref(root);
        return -1;
    }
    ddm->queue = grown;
    ddm->nqueue = 0;
    ddm->queue_head = 0;

    for (k = 0; k < MDM_DDM_NKINDS; k++) {
        array = json_object_get(decls, mdm_ddm_kind_manifest(k));
        json_array_foreach(array, i, item) {
            id = json_object_get(item, "Identifier");
            st = json_object_get(item, "ServerToken");
            d = mdmsim_ddm_find(ddm, json_string_value(id));

            if (d != NULL && d->kind == (mdm_ddm_kind_e) k && d->fetched
                && strcmp(d->server_token, json_string_value(st)) == 0)
            {
                continue;           /* the device has this revision */
            }
            if (d == NULL) {
                if (ddm->n == ddm->cap) {
                    ddm->cap = ddm->cap ? ddm->cap * 2 : 16;
                    grown = realloc(ddm->decls, ddm->cap * sizeof(*d));
                    if (grown == NULL) {
                        json_decref(root);
                        return -1;
                    }
                    ddm->decls = grown;
                }
                d = &ddm->decls[ddm->n++];
                memset(d, 0, sizeof(*d));
                snprintf(d->identifier, sizeof(d->identifier), "%s",
                         json_string_value(id));
            }
            d->kind = (mdm_ddm_kind_e) k;
            snprintf(d->server_token, sizeof(d->server_token), "%s",
                     json_string_value(st));
            snprintf(ddm->queue[ddm->nqueue++], sizeof(*ddm->queue), "%s",
                     d->identifier);
        }
    }

    snprintf(ddm->token, sizeof(ddm->token), "%s", json_string_value(token));
    json_decref(root);
    return (int) ddm->nqueue;
}


const char *
mdmsim_ddm_next_fetch(struct mdmsim_ddm *ddm)
{
    struct mdmsim_ddm_decl  *d;

    while (ddm->queue_head < ddm->nqueue) {
        d = mdmsim_ddm_find(ddm, ddm->queue[ddm->queue_head]);
        if (d != NULL) {
            snprintf(ddm->path, sizeof(ddm->path), "declaration/%s/%s",
                     mdm_ddm_kind_name(d->kind), d->identifier);
            return ddm->path;
        }
        ddm->queue_head++;
    }
    return NULL;
}


int
mdmsim_ddm_fetched(struct mdmsim_ddm *ddm, int status, const char *json,
    size_t len)
{
    int                      rc;
    json_t                  *root;
    mdm_ddm_error_t          err;
    struct mdmsim_ddm_decl  *d;

    if (ddm->queue_head >= ddm->nqueue) {
        return -1;
    }
    d = mdmsim_ddm_find(ddm, ddm->queue[ddm->queue_head++]);
    if (d == NULL) {
        return -1;
    }
    if (status == 404) {
        /* "gone, delete it" (services.md §1.1) */
        mdmsim_ddm_drop(ddm, (size_t) (d - ddm->decls));
        return 0;
    }
    if (status != 200) {
        return -1;
    }

    root = json_loadb(json, len, 0, NULL);
    rc = json_is_string(json_object_get(root, "Type"))
         && strcmp(json_string_value(json_object_get(root, "Identifier"))
                   ? json_string_value(json_object_get(root, "Identifier"))
                   : "", d->identifier) == 0
         && json_is_string(json_object_get(root, "ServerToken"))
         && strcmp(json_string_value(json_object_get(root, "ServerToken")),
                   d->server_token) == 0
         && mdm_ddm_kind_of_type(json_string_value(json_object_get(root,
                                 "Type"))) == d->kind;
    json_decref(root);
    if (!rc) {
        return -1;
    }

    mdm_ddm_declaration_free(&d->parsed);
    d->fetched = 1;
    d->valid = mdm_ddm_declaration_parse(json, len, 0, &d->parsed, &err)
               == MDM_OK;
    return 0;
}


char *
mdmsim_ddm_status_report(struct mdmsim_ddm *ddm,
    const struct mdmsim_device *dev, int full, size_t *len)
{
    int          k;
    char        *s, *text;
    size_t       i;
    json_t      *report, *items, *arrays[MDM_DDM_NKINDS], *st, *apps, *list;
    json_t      *subscribed, *v, *elem;
    const char  *name;
    void        *tmp;

    report = json_object();
    items = json_object();
    json_object_set_new(report, "StatusItems", items);
    json_object_set_new(report, "Errors", json_array());
    json_object_set_new(report, "FullReport", json_boolean(full));

    for (k = 0; k < MDM_DDM_NKINDS; k++) {
        arrays[k] = json_array();
        mdmsim_ddm_set_path(items, "management.declarations", NULL);
        json_object_set_new(json_object_get(json_object_get(items,
                            "management"), "declarations"),
                            mdm_ddm_kind_status(k), arrays[k]);
    }

    /* declarations whose status changed (all of them in a full report) */
    for (i = 0; i < ddm->n; i++) {
        if (!ddm->decls[i].fetched) {
            continue;
        }
        st = mdmsim_ddm_decl_status(ddm, &ddm->decls[i]);
        text = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
        if (full || ddm->decls[i].reported == NULL
            || strcmp(ddm->decls[i].reported, text) != 0)
        {
            json_array_append(arrays[ddm->decls[i].kind], st);
            free(ddm->decls[i].reported);
            ddm->decls[i].reported = text;
        } else {
            free(text);
        }
        json_decref(st);
    }

    if (full || !ddm->reported_once) {
        mdmsim_ddm_set_path(items, "management.client-capabilities",
                            mdmsim_ddm_capabilities());
    }

    /* subscribed items: each once, and again in every full report */
    subscribed = mdmsim_ddm_subscribed(ddm);
    json_object_foreach(subscribed, name, v) {
        if (strcmp(name, "app.managed.list") == 0
            || (!full && json_object_get(ddm->values_reported, name)))
        {
            continue;
        }
        v = mdmsim_ddm_value(dev, name);
        if (v != NULL) {
            mdmsim_ddm_set_path(items, name, v);
            json_object_set_new(ddm->values_reported, name, json_true());
        }
    }

    /* app.managed.list: changed apps, and _removed for those gone */
    if (json_object_get(subscribed, "app.managed.list") != NULL) {
        apps = mdmsim_ddm_apps(ddm);
        list = json_array();
        json_object_foreach(apps, name, elem) {
            if (full || !json_equal(elem, json_object_get(ddm->apps_reported,
                                                         name)))
            {
                json_array_append(list, elem);
            }
        }
        json_object_foreach_safe(ddm->apps_reported, tmp, name, elem) {
            if (!full && json_object_get(apps, name) == NULL) {
                json_array_append_new(list, json_pack("{s:s, s:b}",
                                      "identifier", name, "_removed", 1));
            }
        }
        if (full || json_array_size(list) != 0) {
            mdmsim_ddm_set_path(items, "app.managed.list", list);
        } else {
            json_decref(list);
        }
        json_decref(ddm->apps_reported);
        ddm->apps_reported = apps;
    }
    json_decref(subscribed);

    ddm->reported_once = 1;
    s = json_dumps(report, JSON_COMPACT);
    json_decref(report);
    if (s != NULL && len != NULL) {
        *len = strlen(s);
    }
    return s;
}


static struct mdmsim_ddm_decl *
mdmsim_ddm_find(struct mdmsim_ddm *ddm, const char *identifier)
{
    size_t  i;

    for (i = 0; i < ddm->n; i++) {
        if (strcmp(ddm->decls[i].identifier, identifier) == 0) {
            return &ddm->decls[i];
        }
    }
    return NULL;
}


static void
mdmsim_ddm_drop(struct mdmsim_ddm *ddm, size_t i)
{
    mdm_ddm_declaration_free(&ddm->decls[i].parsed);
    free(ddm->decls[i].reported);
    memmove(&ddm->decls[i], &ddm->decls[i + 1],
            (ddm->n - i - 1) * sizeof(ddm->decls[0]));
    ddm->n--;
}


/* Present, with content the schema accepted, of the kind wanted. */
static int
mdmsim_ddm_usable(const struct mdmsim_ddm_decl *d, mdm_ddm_kind_e kind)
{
    return d != NULL && d->fetched && d->valid && d->kind == kind;
}


static int
mdmsim_ddm_active(struct mdmsim_ddm *ddm, const struct mdmsim_ddm_decl *d)
{
    size_t                   i, j;
    json_t                  *missing;
    const mdm_ddm_ref_t     *ref;
    struct mdmsim_ddm_decl  *a;
    int                      active;

    if (!d->fetched || !d->valid) {
        return 0;
    }
    switch (d->kind) {
    case MDM_DDM_MANAGEMENT:
        return 1;
    case MDM_DDM_ACTIVATION:
        missing = mdmsim_ddm_missing(ddm, d, MDM_DDM_CONFIGURATION);
        active = json_array_size(missing) == 0;
        json_decref(missing);
        return active;
    case MDM_DDM_CONFIGURATION:
        missing = mdmsim_ddm_missing(ddm, d, MDM_DDM_ASSET);
        active = json_array_size(missing) == 0;
        json_decref(missing);
        if (!active) {
            return 0;
        }
        /* named by an active activation */
        for (i = 0; i < ddm->n; i++) {
            a = &ddm->decls[i];
            if (!mdmsim_ddm_usable(a, MDM_DDM_ACTIVATION)
                || !mdmsim_ddm_active(ddm, a))
            {
                continue;
            }
            for (j = 0; j < a->parsed.refs.n; j++) {
                if (strcmp(a->parsed.refs.refs[j].identifier,
                           d->identifier) == 0)
                {
                    return 1;
                }
            }
        }
        return 0;
    default:
        /* referenced by an active configuration */
        for (i = 0; i < ddm->n; i++) {
            a = &ddm->decls[i];
            if (!mdmsim_ddm_usable(a, MDM_DDM_CONFIGURATION)) {
                continue;
            }
            for (j = 0; j < a->parsed.refs.n; j++) {
                ref = &a->parsed.refs.refs[j];
                if (strcmp(ref->identifier, d->identifier) == 0
                    && mdmsim_ddm_active(ddm, a))
                {
                    return 1;
                }
            }
        }
        return 0;
    }
}


/* The Identifiers d references that the device does not hold usable. */
static json_t *
mdmsim_ddm_missing(struct mdmsim_ddm *ddm, const struct mdmsim_ddm_decl *d,
    mdm_ddm_kind_e kind)
{
    size_t                 i;
    json_t                *missing;
    const mdm_ddm_ref_t   *ref;

    missing = json_array();
    for (i = 0; i < d->parsed.refs.n; i++) {
        ref = &d->parsed.refs.refs[i];
        if (ref->kind == kind
            && !mdmsim_ddm_usable(mdmsim_ddm_find(ddm, ref->identifier),
                                  kind))
        {
            json_array_append_new(missing, json_string(ref->identifier));
        }
    }
    return missing;
}


static json_t *
mdmsim_ddm_decl_status(struct mdmsim_ddm *ddm,
    const struct mdmsim_ddm_decl *d)
{
    int          active;
    json_t      *st, *reasons, *missing;
    const char  *valid;

    active = mdmsim_ddm_active(ddm, d);
    valid = d->valid ? "valid" : "invalid";
    reasons = json_array();

    if (!d->valid) {
        json_array_append_new(reasons, mdmsim_ddm_reason(
            d->kind == MDM_DDM_ASSET ? "Error.AssetCannotBeDeserialized"
                                     : "Error.ConfigurationCannotBeDeserialized",
            d, NULL, NULL));
    } else if (d->kind == MDM_DDM_ACTIVATION && !active) {
        missing = mdmsim_ddm_missing(ddm, d, MDM_DDM_CONFIGURATION);
        json_array_append_new(reasons, mdmsim_ddm_reason(
            "Error.MissingConfigurations", d, "ConfigurationIdentifiers",
            missing));
    } else if (d->kind == MDM_DDM_CONFIGURATION && !active) {
        missing = mdmsim_ddm_missing(ddm, d, MDM_DDM_ASSET);
        if (json_array_size(missing) != 0) {
            json_array_append_new(reasons, mdmsim_ddm_reason(
                "Error.MissingAssets", d, "AssetIdentifiers", missing));
        } else {
            json_decref(missing);
            json_array_append_new(reasons, mdmsim_ddm_reason(
                "Info.NotReferencedByActivation", d, NULL, NULL));
            valid = "unknown";
        }
    } else if (d->kind == MDM_DDM_ASSET && !active) {
        json_array_append_new(reasons, mdmsim_ddm_reason(
            "Info.NotReferencedByConfiguration", d, NULL, NULL));
        valid = "unknown";
    }

    st = json_pack("{s:s, s:s, s:b, s:s}", "identifier", d->identifier,
                   "server-token", d->server_token, "active", active,
                   "valid", valid);
    if (json_array_size(reasons) != 0) {
        json_object_set(st, "reasons", reasons);
    }
    json_decref(reasons);
    return st;
}


/* A per-declaration reason as devices send it (lower-case keys). */
static json_t *
mdmsim_ddm_reason(const char *code, const struct mdmsim_ddm_decl *d,
    const char *list_key, json_t *list)
{
    json_t  *details;

    details = json_pack("{s:s, s:s}", "Identifier", d->identifier,
                        "ServerToken", d->server_token);
    if (list_key != NULL) {
        json_object_set_new(details, list_key, list);
    }
    return json_pack("{s:s, s:s, s:o}", "code", code, "description", code,
                     "details", details);
}


/* Bundle ID -> app.managed.list element, for active app configurations. */
static json_t *
mdmsim_ddm_apps(struct mdmsim_ddm *ddm)
{
    size_t       i;
    json_t      *apps;
    const char  *bundle;

    apps = json_object();
    for (i = 0; i < ddm->n; i++) {
        if (!mdmsim_ddm_usable(&ddm->decls[i], MDM_DDM_CONFIGURATION)
            || strcmp(ddm->decls[i].parsed.type,
                      "com.apple.configuration.app.managed") != 0
            || !mdmsim_ddm_active(ddm, &ddm->decls[i]))
        {
            continue;
        }
        bundle = mdmsim_ddm_payload_string(&ddm->decls[i], "BundleID");
        if (bundle == NULL) {
            bundle = mdmsim_ddm_payload_string(&ddm->decls[i], "AppStoreID");
        }
        if (bundle != NULL) {
            json_object_set_new(apps, bundle, json_pack(
                "{s:s, s:s, s:s, s:s}", "identifier", bundle,
                "declaration-identifier", ddm->decls[i].identifier,
                "name", bundle, "state", "managed"));
        }
    }
    return apps;
}


/* The union of the active status subscriptions' item names. */
static json_t *
mdmsim_ddm_subscribed(struct mdmsim_ddm *ddm)
{
    size_t   i, j;
    json_t  *names, *list, *item, *name;

    names = json_object();
    for (i = 0; i < ddm->n; i++) {
        if (!mdmsim_ddm_usable(&ddm->decls[i], MDM_DDM_CONFIGURATION)
            || strcmp(ddm->decls[i].parsed.type, "com.apple.configuration."
                      "management.status-subscriptions") != 0
            || !mdmsim_ddm_active(ddm, &ddm->decls[i]))
        {
            continue;
        }
        list = json_object_get(json_object_get(ddm->decls[i].parsed.root,
                                               "Payload"), "StatusItems");
        json_array_foreach(list, j, item) {
            name = json_object_get(item, "Name");
            if (json_is_string(name)) {
                json_object_set_new(names, json_string_value(name),
                                    json_true());
            }
        }
    }
    return names;
}


/* What the simulated device reports for a status item; NULL: unknown. */
static json_t *
mdmsim_ddm_value(const struct mdmsim_device *dev, const char *name)
{
    static const struct {
        const char  *name;
        const char  *value;
    } fixed[] = {
        /* the same facts as the device's Authenticate (device.c) */
        { "device.model.family", "iPhone" },
        { "device.model.identifier", "iPhone15,2" },
        { "device.model.marketing-name", "iPhone 14 Pro" },
        { "device.operating-system.family", "iOS" },
        { "device.operating-system.version", "17.5.1" },
        { "device.operating-system.build-version", "21F90" },
        { "device.operating-system.marketing-name", "iOS 17.5.1" },
    };
    size_t  i;

    if (strcmp(name, "device.identifier.udid") == 0) {
        return json_string(dev->udid);
    }
    if (strcmp(name, "device.identifier.serial-number") == 0) {
        return json_string(dev->serial);
    }
    if (strcmp(name, "passcode.is-present") == 0) {
        return json_true();
    }
    if (strcmp(name, "passcode.is-compliant") == 0) {
        return json_true();
    }
    for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (strcmp(fixed[i].name, name) == 0) {
            return json_string(fixed[i].value);
        }
    }
    return NULL;
}


/* management.client-capabilities: every type of the schema is supported. */
static json_t *
mdmsim_ddm_capabilities(void)
{
    int      k;
    size_t   i;
    json_t  *caps, *decls, *items;
    static const char *const  status_items[] = {
        "app.managed.list", "device.identifier.serial-number",
        "device.identifier.udid", "device.model.family",
        "device.model.identifier", "device.model.marketing-name",
        "device.operating-system.build-version",
        "device.operating-system.family",
        "device.operating-system.marketing-name",
        "device.operating-system.version", "management.client-capabilities",
        "management.declarations", "passcode.is-compliant",
        "passcode.is-present",
    };

    decls = json_object();
    for (k = 0; k < MDM_DDM_NKINDS; k++) {
        json_object_set_new(decls, mdm_ddm_kind_status(k), json_array());
    }
    for (i = 0; i < mdm_ddm_nschemas; i++) {
        json_array_append_new(json_object_get(decls,
                              mdm_ddm_kind_status(mdm_ddm_schemas[i].kind)),
                              json_string(mdm_ddm_schemas[i].type));
    }
    items = json_array();
    for (i = 0; i < sizeof(status_items) / sizeof(status_items[0]); i++) {
        json_array_append_new(items, json_string(status_items[i]));
    }
    caps = json_pack("{s:[s], s:{s:o, s:o}, s:{}}", "supported-versions",
                     "1.0.0", "supported-payloads", "declarations", decls,
                     "status-items", items, "supported-features");
    return caps;
}


/* Sets items.<a>.<b>… (each dot a level); v NULL only makes the levels. */
static int
mdmsim_ddm_set_path(json_t *items, const char *name, json_t *v)
{
    char         part[128];
    size_t       n;
    json_t      *node, *next;
    const char  *p, *dot;

    node = items;
    p = name;
    for (;;) {
        dot = strchr(p, '.');
        n = dot ? (size_t) (dot - p) : strlen(p);
        if (n >= sizeof(part)) {
            json_decref(v);
            return -1;
        }
        memcpy(part, p, n);
        part[n] = '\0';
        if (dot == NULL) {
            if (v != NULL) {
                json_object_set_new(node, part, v);
            } else if (json_object_get(node, part) == NULL) {
                json_object_set_new(node, part, json_object());
            }
            return 0;
        }
        next = json_object_get(node, part);
        if (!json_is_object(next)) {
            next = json_object();
            json_object_set_new(node, part, next);
        }
        node = next;
        p = dot + 1;
    }
}


static const char *
mdmsim_ddm_payload_string(const struct mdmsim_ddm_decl *d, const char *key)
{
    return json_string_value(json_object_get(json_object_get(d->parsed.root,
                                                             "Payload"), key));
}
