#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/rand.h>
#include <plist/plist.h>

#include "mdm_base64.h"
#include "mdm_command.h"
#include "mdm_utf8.h"
#include "mdm_command_schema.h"
#include "mdm_uuid.h"


/* Deep enough for any path the schema can name, plus a user's bad key. */
#define MDM_PATH_SIZE           160

/* User-supplied text quoted in a message is cut to this many bytes. */
#define MDM_QUOTE_MAX           64

/* Seconds from the Unix epoch to Apple's, 2001-01-01T00:00:00Z. */
#define MDM_APPLE_EPOCH         978307200LL


/*
 * State of one walk over a command: where the error message goes and the
 * path of the value being looked at, e.g. "Settings[0].Item", so that
 * every message can name the exact spot.
 */
typedef struct {
    mdm_err_t  *err;
    int         json;           /* name data and date as JSON spells them */
    int         depth;          /* containers open while converting JSON */
    size_t      path_len;
    char        path[MDM_PATH_SIZE];
} mdm_cmd_walk_t;


static void mdm_walk_init(mdm_cmd_walk_t *w, mdm_err_t *err, int json);
static int mdm_walk_fail(mdm_cmd_walk_t *w, mdm_refused_e reason,
    const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int mdm_walk_oom(mdm_cmd_walk_t *w);
static size_t mdm_walk_append(mdm_cmd_walk_t *w, const char *fmt,
    const char *s, size_t i);
static size_t mdm_walk_push_key(mdm_cmd_walk_t *w, const char *key);
static size_t mdm_walk_push_index(mdm_cmd_walk_t *w, size_t i);
static void mdm_walk_pop(mdm_cmd_walk_t *w, size_t saved);

static const mdm_command_key_t *mdm_key_find(unsigned first, unsigned n,
    const char *name, int top);
static const mdm_command_key_t *mdm_form_single_valued(
    const mdm_command_key_t *form, const char *name);
static const char *mdm_variant_key(const mdm_command_key_t *array);
static const mdm_command_key_t *mdm_variant_find(
    const mdm_command_key_t *array, const char *disc, const char *value);
static const char *mdm_expected_name(mdm_cmd_walk_t *w, unsigned type);
static const char *mdm_plist_kind_name(plist_t v);
static int mdm_kind_matches(plist_t v, unsigned type);

static int mdm_validate_dict(mdm_cmd_walk_t *w, plist_t dict, unsigned first,
    unsigned n, int top);
static int mdm_validate_member(mdm_cmd_walk_t *w, const char *name,
    plist_t item, unsigned first, unsigned n, int top);
static int mdm_validate_required(mdm_cmd_walk_t *w, plist_t dict,
    unsigned first, unsigned n);
static int mdm_validate_value(mdm_cmd_walk_t *w, plist_t v,
    const mdm_command_key_t *key);
static int mdm_validate_array(mdm_cmd_walk_t *w, plist_t array,
    const mdm_command_key_t *key);
static int mdm_validate_variant(mdm_cmd_walk_t *w, plist_t elem,
    const mdm_command_key_t *array);
static int mdm_validate_allowed(mdm_cmd_walk_t *w, plist_t v,
    const mdm_command_key_t *key);
static void mdm_list_add(char *list, size_t size, const char *item);

static int mdm_json_command(mdm_cmd_walk_t *w, json_t *root, plist_t *out);
static int mdm_json_uuid(mdm_cmd_walk_t *w, json_t *root, char *uuid);
static int mdm_json_member(mdm_cmd_walk_t *w, plist_t dict, const char *name,
    json_t *val, unsigned first, unsigned n, int top);
static int mdm_json_convert(mdm_cmd_walk_t *w, json_t *v,
    const mdm_command_key_t *key, plist_t *out);
static int mdm_json_object(mdm_cmd_walk_t *w, json_t *obj,
    const mdm_command_key_t *key, plist_t *out);
static int mdm_json_array(mdm_cmd_walk_t *w, json_t *array,
    const mdm_command_key_t *key, plist_t *out);
static const mdm_command_key_t *mdm_json_element_form(
    const mdm_command_key_t *array, json_t *elem);
static int mdm_json_string(mdm_cmd_walk_t *w, json_t *v,
    const mdm_command_key_t *key, plist_t *out);
static int mdm_json_data(mdm_cmd_walk_t *w, const char *s, size_t len,
    plist_t *out);
static int mdm_json_date(mdm_cmd_walk_t *w, const char *s, plist_t *out);

static int mdm_command_plist(const char *body, size_t len,
    mdm_command_t *cmd, mdm_err_t *err, int validate);
static int mdm_plist_envelope(mdm_cmd_walk_t *w, plist_t root,
    const char **uuid, const char **request_type, plist_t *command);
static int mdm_command_from_root(mdm_cmd_walk_t *w, json_t *root,
    const mdm_alloc_t *a, mdm_command_t *cmd);
static int mdm_command_set(mdm_cmd_walk_t *w, mdm_command_t *cmd,
    const char *uuid, const char *request_type);
static char *mdm_command_strdup(const mdm_alloc_t *a, const char *s);

static int mdm_uuid_acceptable(const char *s, size_t len);
static int mdm_digits(const char *s, int n, int *val);
static const char *mdm_rfc3339_fraction(const char *p, int *usec);
static int mdm_rfc3339_offset(const char *p, long long *offset);
static int mdm_rfc3339_parse(const char *s, long long *sec, int *usec);


/*
 * Apple's Command dictionary takes this key on every command, but the YAML
 * lists it on none (see docs/protocol.md §8), so it is allowed here.
 */
static const mdm_command_key_t  mdm_common_keys[] = {
    { "RequestRequiresNetworkTether", MDM_KEY_BOOLEAN, 0, 0, 0, 0, 0 },
};


static const char *const  mdm_key_type_names[] = {
    "string", "integer", "real", "boolean", "data", "date", "array",
    "dictionary", "any"
};


const mdm_command_schema_t *
mdm_command_schema_find(const char *request_type)
{
    size_t  lo, hi, mid;
    int     cmp;

    lo = 0;
    hi = mdm_command_nschemas;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        cmp = strcmp(request_type, mdm_command_schemas[mid].request_type);

        if (cmp == 0) {
            return &mdm_command_schemas[mid];
        }

        if (cmp < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    return NULL;
}


const char *
mdm_command_key_type_name(unsigned type)
{
    if (type >= sizeof(mdm_key_type_names) / sizeof(mdm_key_type_names[0])) {
        return "unknown";
    }

    return mdm_key_type_names[type];
}


int
mdm_command_from_json(const char *json, size_t len, mdm_command_t *cmd,
    mdm_err_t *err)
{
    int             rc;
    json_t         *root;
    mdm_cmd_walk_t  w;
    json_error_t    jerr;

    memset(cmd, 0, sizeof(*cmd));
    mdm_walk_init(&w, err, 1);

    root = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                     &jerr);
    if (root == NULL) {
        return mdm_walk_fail(&w, MDM_REFUSED_MALFORMED,
                             "invalid JSON: %s (line %d, column %d)",
                             jerr.text, jerr.line, jerr.column);
    }

    rc = mdm_command_from_root(&w, root, NULL, cmd);
    json_decref(root);

    return rc;
}


int
mdm_command_build(json_t *root, const mdm_alloc_t *a, mdm_command_t *cmd,
    json_t **ids, mdm_err_t *err)
{
    mdm_cmd_walk_t  w;

    memset(cmd, 0, sizeof(*cmd));
    mdm_walk_init(&w, err, 1);

    *ids = json_incref(json_object_get(root, "ids"));
    json_object_del(root, "ids");

    return mdm_command_from_root(&w, root, a, cmd);
}


/* The command plist of a parsed JSON command, its strings from a. */
static int
mdm_command_from_root(mdm_cmd_walk_t *w, json_t *root, const mdm_alloc_t *a,
    mdm_command_t *cmd)
{
    int        rc;
    char      *xml;
    plist_t    plist, node;
    uint32_t   xml_len;

    cmd->alloc = a;
    plist = NULL;

    if (!json_is_object(root)) {
        rc = mdm_walk_fail(w, MDM_REFUSED_WRONG_TYPE,
                           "command must be a JSON object");

    } else {
        rc = mdm_json_command(w, root, &plist);
    }

    if (rc == MDM_OK) {
        node = plist_access_path(plist, 2, "Command", "RequestType");
        rc = mdm_command_set(w, cmd,
                 plist_get_string_ptr(plist_dict_get_item(plist,
                                                          "CommandUUID"),
                                      NULL),
                 plist_get_string_ptr(node, NULL));
    }

    if (rc == MDM_OK) {
        xml = NULL;
        xml_len = 0;
        plist_to_xml(plist, &xml, &xml_len);

        cmd->plist = xml;
        cmd->plist_len = xml_len;

        if (xml != NULL && a != NULL) {
            cmd->plist = mdm_alloc(a, (size_t) xml_len + 1);
            if (cmd->plist != NULL) {
                memcpy(cmd->plist, xml, (size_t) xml_len + 1);
            }
            plist_to_xml_free(xml);
        }

        if (cmd->plist == NULL) {
            mdm_command_free(cmd);
            rc = mdm_walk_oom(w);
        }
    }

    plist_free(plist);

    return rc;
}


int
mdm_command_check_plist(const char *body, size_t len, mdm_command_t *cmd,
    mdm_err_t *err)
{
    return mdm_command_plist(body, len, cmd, err, 0);
}


int
mdm_command_validate_plist(const char *body, size_t len, mdm_command_t *cmd,
    mdm_err_t *err)
{
    return mdm_command_plist(body, len, cmd, err, 1);
}


void
mdm_command_free(mdm_command_t *cmd)
{
    if (cmd->alloc == NULL) {
        free(cmd->uuid);
        free(cmd->request_type);

        if (cmd->plist != NULL) {
            plist_to_xml_free(cmd->plist);
        }
    }

    memset(cmd, 0, sizeof(*cmd));
}


/* ---------------------------------------------------------------------------
 * Walk state and messages
 * -------------------------------------------------------------------------- */

static void
mdm_walk_init(mdm_cmd_walk_t *w, mdm_err_t *err, int json)
{
    w->err = err;
    w->json = json;
    w->depth = 0;
    w->path_len = 0;
    w->path[0] = '\0';
    err->reason = MDM_REFUSED_INVALID;
    err->msg[0] = '\0';
}


static int
mdm_walk_fail(mdm_cmd_walk_t *w, mdm_refused_e reason, const char *fmt, ...)
{
    va_list  ap;

    w->err->reason = reason;
    va_start(ap, fmt);
    vsnprintf(w->err->msg, sizeof(w->err->msg), fmt, ap);
    va_end(ap);
    /* messages quote the caller's bytes, cut where a character may split,
     * and go into JSON */
    mdm_utf8_sanitize(w->err->msg);

    return MDM_ERROR;
}


static int
mdm_walk_oom(mdm_cmd_walk_t *w)
{
    return mdm_walk_fail(w, MDM_REFUSED_NO_MEMORY, "out of memory");
}


static size_t
mdm_walk_append(mdm_cmd_walk_t *w, const char *fmt, const char *s, size_t i)
{
    size_t  saved, room;
    int     n;

    saved = w->path_len;
    room = sizeof(w->path) - saved;
    n = snprintf(w->path + saved, room, fmt, s, i);

    w->path_len = (n < 0 || (size_t) n >= room) ? sizeof(w->path) - 1
                                                 : saved + n;

    return saved;
}


static size_t
mdm_walk_push_key(mdm_cmd_walk_t *w, const char *key)
{
    return mdm_walk_append(w, w->path_len ? ".%s" : "%s", key, 0);
}


static size_t
mdm_walk_push_index(mdm_cmd_walk_t *w, size_t i)
{
    return mdm_walk_append(w, "%s[%zu]", "", i);
}


static void
mdm_walk_pop(mdm_cmd_walk_t *w, size_t saved)
{
    w->path_len = saved;
    w->path[saved] = '\0';
}


/* ---------------------------------------------------------------------------
 * Schema lookups
 * -------------------------------------------------------------------------- */

/*
 * The key called name among n keys from first: an exact name wins over
 * Apple's "ANY" wildcard. At the top of a command the keys Apple allows on
 * every command are tried last.
 */
static const mdm_command_key_t *
mdm_key_find(unsigned first, unsigned n, const char *name, int top)
{
    unsigned                  i;
    const mdm_command_key_t  *k, *wildcard;

    wildcard = NULL;

    for (i = 0; i < n; i++) {
        k = &mdm_command_keys[first + i];

        if (strcmp(k->name, MDM_KEY_WILDCARD) == 0) {
            wildcard = k;

        } else if (strcmp(k->name, name) == 0) {
            return k;
        }
    }

    if (wildcard == NULL && top) {
        for (i = 0; i < sizeof(mdm_common_keys) / sizeof(mdm_common_keys[0]);
             i++)
        {
            if (strcmp(mdm_common_keys[i].name, name) == 0) {
                return &mdm_common_keys[i];
            }
        }
    }

    return wildcard;
}


static const mdm_command_key_t *
mdm_form_single_valued(const mdm_command_key_t *form, const char *name)
{
    const mdm_command_key_t  *k;

    if (form->type != MDM_KEY_DICT) {
        return NULL;
    }

    k = mdm_key_find(form->subkeys, form->nsubkeys, name, 0);

    if (k == NULL || k->type != MDM_KEY_STRING || k->nvalues != 1) {
        return NULL;
    }

    return k;
}


/*
 * An array with several element forms (Settings) holds dicts that say
 * which form they are in a string key allowed exactly one value in each
 * form ("Item"). Returns that key's name, or NULL if the forms have none.
 */
static const char *
mdm_variant_key(const mdm_command_key_t *array)
{
    unsigned                  i, f;
    const mdm_command_key_t  *forms, *k;

    forms = &mdm_command_keys[array->subkeys];

    if (forms[0].type != MDM_KEY_DICT) {
        return NULL;
    }

    for (i = 0; i < forms[0].nsubkeys; i++) {
        k = &mdm_command_keys[forms[0].subkeys + i];

        for (f = 0; f < array->nsubkeys; f++) {
            if (mdm_form_single_valued(&forms[f], k->name) == NULL) {
                break;
            }
        }

        if (f == array->nsubkeys) {
            return k->name;
        }
    }

    return NULL;
}


static const mdm_command_key_t *
mdm_variant_find(const mdm_command_key_t *array, const char *disc,
    const char *value)
{
    unsigned                  f;
    const mdm_command_key_t  *form, *k;

    for (f = 0; f < array->nsubkeys; f++) {
        form = &mdm_command_keys[array->subkeys + f];
        k = mdm_form_single_valued(form, disc);

        if (k != NULL && strcmp(mdm_command_values[k->values], value) == 0) {
            return form;
        }
    }

    return NULL;
}


static const char *
mdm_expected_name(mdm_cmd_walk_t *w, unsigned type)
{
    if (w->json && type == MDM_KEY_DATA) {
        return "data (a base64 string)";
    }

    if (w->json && type == MDM_KEY_DATE) {
        return "date (an RFC 3339 string)";
    }

    return mdm_command_key_type_name(type);
}


static const char *
mdm_plist_kind_name(plist_t v)
{
    switch (plist_get_node_type(v)) {
    case PLIST_STRING:
        return "string";
    case PLIST_UINT:
        return "integer";
    case PLIST_REAL:
        return "real";
    case PLIST_BOOLEAN:
        return "boolean";
    case PLIST_DATA:
        return "data";
    case PLIST_DATE:
        return "date";
    case PLIST_ARRAY:
        return "array";
    case PLIST_DICT:
        return "dictionary";
    default:
        return "another type";
    }
}


static int
mdm_kind_matches(plist_t v, unsigned type)
{
    plist_type  t;

    t = plist_get_node_type(v);

    switch (type) {
    case MDM_KEY_STRING:
        return t == PLIST_STRING;
    case MDM_KEY_INTEGER:
        return t == PLIST_UINT;
    case MDM_KEY_REAL:
        /* a whole number is a fine real; JSON and XML both drop ".0" */
        return t == PLIST_REAL || t == PLIST_UINT;
    case MDM_KEY_BOOLEAN:
        return t == PLIST_BOOLEAN;
    case MDM_KEY_DATA:
        return t == PLIST_DATA;
    case MDM_KEY_DATE:
        return t == PLIST_DATE;
    case MDM_KEY_ARRAY:
        return t == PLIST_ARRAY;
    case MDM_KEY_DICT:
        return t == PLIST_DICT;
    default:
        return 1;
    }
}


/* ---------------------------------------------------------------------------
 * Validation of a plist against the schema
 * -------------------------------------------------------------------------- */

/*
 * Checks dict against the n keys from first. With top set dict is the
 * Command itself: RequestType was checked by the caller and the keys
 * common to all commands are allowed.
 */
static int
mdm_validate_dict(mdm_cmd_walk_t *w, plist_t dict, unsigned first, unsigned n,
    int top)
{
    int              rc;
    char            *name;
    plist_t          item;
    plist_dict_iter  it;

    it = NULL;
    plist_dict_new_iter(dict, &it);
    if (it == NULL) {
        return mdm_walk_oom(w);
    }

    rc = MDM_OK;

    while (rc == MDM_OK) {
        name = NULL;
        item = NULL;
        plist_dict_next_item(dict, it, &name, &item);

        if (item == NULL) {
            free(name);
            break;
        }

        if (!(top && strcmp(name, "RequestType") == 0)) {
            rc = mdm_validate_member(w, name, item, first, n, top);
        }

        free(name);
    }

    free(it);

    if (rc != MDM_OK) {
        return rc;
    }

    return mdm_validate_required(w, dict, first, n);
}


static int
mdm_validate_member(mdm_cmd_walk_t *w, const char *name, plist_t item,
    unsigned first, unsigned n, int top)
{
    int                       rc;
    size_t                    saved;
    const mdm_command_key_t  *key;

    key = mdm_key_find(first, n, name, top);
    saved = mdm_walk_push_key(w, name);

    if (key == NULL) {
        rc = mdm_walk_fail(w, MDM_REFUSED_INVALID, "unknown key %s", w->path);

    } else {
        rc = mdm_validate_value(w, item, key);
    }

    mdm_walk_pop(w, saved);

    return rc;
}


static int
mdm_validate_required(mdm_cmd_walk_t *w, plist_t dict, unsigned first,
    unsigned n)
{
    int                       rc;
    size_t                    saved;
    unsigned                  i;
    const mdm_command_key_t  *k;

    for (i = 0; i < n; i++) {
        k = &mdm_command_keys[first + i];

        if (!k->required || strcmp(k->name, MDM_KEY_WILDCARD) == 0
            || plist_dict_get_item(dict, k->name) != NULL)
        {
            continue;
        }

        saved = mdm_walk_push_key(w, k->name);
        rc = mdm_walk_fail(w, MDM_REFUSED_MISSING_KEY,
                           "missing required key %s", w->path);
        mdm_walk_pop(w, saved);

        return rc;
    }

    return MDM_OK;
}


static int
mdm_validate_value(mdm_cmd_walk_t *w, plist_t v, const mdm_command_key_t *key)
{
    if (!mdm_kind_matches(v, key->type)) {
        return mdm_walk_fail(w, MDM_REFUSED_WRONG_TYPE,
                             "%s: expected %s, got %s", w->path,
                             mdm_expected_name(w, key->type),
                             mdm_plist_kind_name(v));
    }

    switch (key->type) {
    case MDM_KEY_DICT:
        /* a dictionary Apple lists no keys for may hold anything */
        if (key->nsubkeys == 0) {
            return MDM_OK;
        }

        return mdm_validate_dict(w, v, key->subkeys, key->nsubkeys, 0);

    case MDM_KEY_ARRAY:
        return mdm_validate_array(w, v, key);

    case MDM_KEY_STRING:
    case MDM_KEY_INTEGER:
        return mdm_validate_allowed(w, v, key);

    default:
        return MDM_OK;
    }
}


static int
mdm_validate_array(mdm_cmd_walk_t *w, plist_t array,
    const mdm_command_key_t *key)
{
    int       rc;
    size_t    saved;
    uint32_t  i, n;
    plist_t   elem;

    if (key->nsubkeys == 0) {
        return MDM_OK;
    }

    n = plist_array_get_size(array);

    for (i = 0; i < n; i++) {
        elem = plist_array_get_item(array, i);
        saved = mdm_walk_push_index(w, i);

        if (key->nsubkeys == 1) {
            rc = mdm_validate_value(w, elem, &mdm_command_keys[key->subkeys]);

        } else {
            rc = mdm_validate_variant(w, elem, key);
        }

        mdm_walk_pop(w, saved);

        if (rc != MDM_OK) {
            return rc;
        }
    }

    return MDM_OK;
}


/* Appends ", item" (or just item, first) to list; cut short if full. */
static void
mdm_list_add(char *list, size_t size, const char *item)
{
    size_t  len;

    len = strlen(list);
    snprintf(list + len, size - len, "%s%s", len ? ", " : "", item);
}


static int
mdm_validate_variant(mdm_cmd_walk_t *w, plist_t elem,
    const mdm_command_key_t *array)
{
    int                       rc;
    char                      allowed[MDM_ERR_LEN];
    size_t                    saved;
    unsigned                  f;
    plist_t                   d;
    const char               *disc, *value;
    const mdm_command_key_t  *form, *k;

    disc = mdm_variant_key(array);
    if (disc == NULL) {
        return MDM_OK;
    }

    if (plist_get_node_type(elem) != PLIST_DICT) {
        return mdm_walk_fail(w, MDM_REFUSED_WRONG_TYPE,
                             "%s: expected dictionary, got %s", w->path,
                             mdm_plist_kind_name(elem));
    }

    d = plist_dict_get_item(elem, disc);
    value = plist_get_string_ptr(d, NULL);
    form = value ? mdm_variant_find(array, disc, value) : NULL;

    if (form != NULL) {
        return mdm_validate_value(w, elem, form);
    }

    saved = mdm_walk_push_key(w, disc);

    if (d == NULL) {
        rc = mdm_walk_fail(w, MDM_REFUSED_MISSING_KEY,
                           "missing required key %s", w->path);

    } else if (value == NULL) {
        rc = mdm_walk_fail(w, MDM_REFUSED_WRONG_TYPE,
                           "%s: expected string, got %s", w->path,
                           mdm_plist_kind_name(d));

    } else {
        allowed[0] = '\0';

        for (f = 0; f < array->nsubkeys; f++) {
            k = mdm_form_single_valued(
                    &mdm_command_keys[array->subkeys + f], disc);
            mdm_list_add(allowed, sizeof(allowed),
                         mdm_command_values[k->values]);
        }

        rc = mdm_walk_fail(w, MDM_REFUSED_INVALID,
                           "%s: %.*s is not one of: %s", w->path,
                           MDM_QUOTE_MAX, value, allowed);
    }

    mdm_walk_pop(w, saved);

    return rc;
}


/* Checks a string or integer against Apple's list of allowed values. */
static int
mdm_validate_allowed(mdm_cmd_walk_t *w, plist_t v, const mdm_command_key_t *key)
{
    char         number[24], allowed[MDM_ERR_LEN];
    unsigned     i;
    uint64_t     u;
    const char  *text;

    if (key->nvalues == 0) {
        return MDM_OK;
    }

    if (plist_get_node_type(v) == PLIST_UINT) {
        plist_get_uint_val(v, &u);
        snprintf(number, sizeof(number), "%lld", (long long) (int64_t) u);
        text = number;

    } else {
        text = plist_get_string_ptr(v, NULL);
    }

    allowed[0] = '\0';

    for (i = 0; i < key->nvalues; i++) {
        if (strcmp(text, mdm_command_values[key->values + i]) == 0) {
            return MDM_OK;
        }

        mdm_list_add(allowed, sizeof(allowed),
                     mdm_command_values[key->values + i]);
    }

    return mdm_walk_fail(w, MDM_REFUSED_INVALID,
                         "%s: %.*s is not one of: %s", w->path,
                         MDM_QUOTE_MAX, text, allowed);
}


/* JSON to plist */

static int
mdm_json_command(mdm_cmd_walk_t *w, json_t *root, plist_t *out)
{
    int                          rc;
    char                         uuid[MDM_COMMAND_UUID_MAX + 1];
    json_t                      *rt, *val;
    plist_t                      command;
    const char                  *name;
    const mdm_command_schema_t  *schema;

    rt = json_object_get(root, "request_type");

    if (rt == NULL) {
        return mdm_walk_fail(w, MDM_REFUSED_MISSING_KEY,
                             "missing request_type");
    }

    if (!json_is_string(rt)) {
        return mdm_walk_fail(w, MDM_REFUSED_WRONG_TYPE,
                             "request_type must be a string");
    }

    schema = mdm_command_schema_find(json_string_value(rt));
    if (schema == NULL) {
        return mdm_walk_fail(w, MDM_REFUSED_UNKNOWN_TYPE,
                             "unknown RequestType %.*s", MDM_QUOTE_MAX,
                             json_string_value(rt));
    }

    rc = mdm_json_uuid(w, root, uuid);
    if (rc != MDM_OK) {
        return rc;
    }

    *out = plist_new_dict();
    command = plist_new_dict();
    if (*out == NULL || command == NULL) {
        plist_free(command);
        return mdm_walk_oom(w);
    }

    plist_dict_set_item(*out, "CommandUUID", plist_new_string(uuid));
    plist_dict_set_item(*out, "Command", command);
    plist_dict_set_item(command, "RequestType",
                        plist_new_string(schema->request_type));

    json_object_foreach(root, name, val) {
        if (strcmp(name, "request_type") == 0
            || strcmp(name, "command_uuid") == 0)
        {
            continue;
        }

        /* it would silently replace the RequestType set above */
        if (strcmp(name, "RequestType") == 0) {
            return mdm_walk_fail(w, MDM_REFUSED_INVALID,
                                 "unknown key %s", name);
        }

        rc = mdm_json_member(w, command, name, val, schema->keys,
                             schema->nkeys, 1);
        if (rc != MDM_OK) {
            return rc;
        }
    }

    return mdm_validate_dict(w, command, schema->keys, schema->nkeys, 1);
}


static int
mdm_json_uuid(mdm_cmd_walk_t *w, json_t *root, char *uuid)
{
    json_t  *cu;

    cu = json_object_get(root, "command_uuid");

    if (cu == NULL) {
        if (mdm_uuid_generate(uuid) != 0) {
            return mdm_walk_fail(w, MDM_REFUSED_INVALID,
                                 "no random bytes for a CommandUUID");
        }

        return MDM_OK;
    }

    if (!json_is_string(cu)
        || !mdm_uuid_acceptable(json_string_value(cu), json_string_length(cu)))
    {
        return mdm_walk_fail(w, MDM_REFUSED_INVALID,
                             "command_uuid must be a string of 1 to %d "
                             "bytes without control characters or braces",
                             MDM_COMMAND_UUID_MAX);
    }

    memcpy(uuid, json_string_value(cu), json_string_length(cu) + 1);

    return MDM_OK;
}


static int
mdm_json_member(mdm_cmd_walk_t *w, plist_t dict, const char *name, json_t *val,
    unsigned first, unsigned n, int top)
{
    int      rc;
    size_t   saved;
    plist_t  item;

    saved = mdm_walk_push_key(w, name);
    rc = mdm_json_convert(w, val, mdm_key_find(first, n, name, top), &item);
    mdm_walk_pop(w, saved);

    if (rc == MDM_OK) {
        plist_dict_set_item(dict, name, item);
    }

    return rc;
}


/*
 * Converts v to a plist, using key (NULL when the schema has nothing to
 * say) only where JSON cannot tell the plist type: base64 data, dates and
 * whole-number reals. Everything else is checked afterwards on the plist,
 * by the same code that validates raw plists.
 */
static int
mdm_json_convert(mdm_cmd_walk_t *w, json_t *v, const mdm_command_key_t *key,
    plist_t *out)
{
    int  rc;

    *out = NULL;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
    case JSON_ARRAY:
        /* held to what mdm_plist_parse() accepts back from the queue */
        if (++w->depth > MDM_PLIST_MAX_DEPTH) {
            return mdm_walk_fail(w, MDM_REFUSED_TOO_LARGE,
                                 "%s: nested deeper than %d levels",
                                 w->path, MDM_PLIST_MAX_DEPTH);
        }

        rc = json_is_object(v) ? mdm_json_object(w, v, key, out)
                               : mdm_json_array(w, v, key, out);
        w->depth--;

        return rc;

    case JSON_STRING:
        return mdm_json_string(w, v, key, out);

    case JSON_INTEGER:
        if (key != NULL && key->type == MDM_KEY_REAL) {
            *out = plist_new_real((double) json_integer_value(v));

        } else {
            *out = plist_new_uint((uint64_t) json_integer_value(v));
        }

        break;

    case JSON_REAL:
        *out = plist_new_real(json_real_value(v));
        break;

    case JSON_TRUE:
    case JSON_FALSE:
        *out = plist_new_bool(json_is_true(v));
        break;

    default:
        return mdm_walk_fail(w, MDM_REFUSED_INVALID,
                             "%s: null is not allowed", w->path);
    }

    return (*out != NULL) ? MDM_OK : mdm_walk_oom(w);
}


static int
mdm_json_object(mdm_cmd_walk_t *w, json_t *obj, const mdm_command_key_t *key,
    plist_t *out)
{
    int          rc;
    json_t      *val;
    unsigned     first, n;
    const char  *name;

    *out = plist_new_dict();
    if (*out == NULL) {
        return mdm_walk_oom(w);
    }

    first = 0;
    n = 0;

    if (key != NULL && key->type == MDM_KEY_DICT) {
        first = key->subkeys;
        n = key->nsubkeys;
    }

    json_object_foreach(obj, name, val) {
        rc = mdm_json_member(w, *out, name, val, first, n, 0);

        if (rc != MDM_OK) {
            plist_free(*out);
            *out = NULL;
            return rc;
        }
    }

    return MDM_OK;
}


static int
mdm_json_array(mdm_cmd_walk_t *w, json_t *array, const mdm_command_key_t *key,
    plist_t *out)
{
    int      rc;
    size_t   i, saved;
    json_t  *elem;
    plist_t  item;

    *out = plist_new_array();
    if (*out == NULL) {
        return mdm_walk_oom(w);
    }

    json_array_foreach(array, i, elem) {
        saved = mdm_walk_push_index(w, i);
        rc = mdm_json_convert(w, elem, mdm_json_element_form(key, elem),
                              &item);
        mdm_walk_pop(w, saved);

        if (rc != MDM_OK) {
            plist_free(*out);
            *out = NULL;
            return rc;
        }

        plist_array_append_item(*out, item);
    }

    return MDM_OK;
}


static const mdm_command_key_t *
mdm_json_element_form(const mdm_command_key_t *array, json_t *elem)
{
    const char  *disc, *value;

    if (array == NULL || array->type != MDM_KEY_ARRAY
        || array->nsubkeys == 0)
    {
        return NULL;
    }

    if (array->nsubkeys == 1) {
        return &mdm_command_keys[array->subkeys];
    }

    disc = mdm_variant_key(array);
    if (disc == NULL) {
        return NULL;
    }

    value = json_string_value(json_object_get(elem, disc));

    return value ? mdm_variant_find(array, disc, value) : NULL;
}


static int
mdm_json_string(mdm_cmd_walk_t *w, json_t *v, const mdm_command_key_t *key,
    plist_t *out)
{
    const char  *s;

    s = json_string_value(v);

    if (key != NULL && key->type == MDM_KEY_DATA) {
        return mdm_json_data(w, s, json_string_length(v), out);
    }

    if (key != NULL && key->type == MDM_KEY_DATE) {
        return mdm_json_date(w, s, out);
    }

    *out = plist_new_string(s);

    return (*out != NULL) ? MDM_OK : mdm_walk_oom(w);
}


static int
mdm_json_data(mdm_cmd_walk_t *w, const char *s, size_t len, plist_t *out)
{
    long            n;
    unsigned char  *buf;

    buf = malloc(len / 4 * 3 + 3);
    if (buf == NULL) {
        return mdm_walk_oom(w);
    }

    /* profiles are often pasted as wrapped base64 */
    n = mdm_base64_decode(s, len, buf, MDM_BASE64_SPACE);

    if (n < 0) {
        free(buf);
        return mdm_walk_fail(w, MDM_REFUSED_INVALID,
                             "%s: invalid base64", w->path);
    }

    *out = plist_new_data((const char *) buf, (uint64_t) n);
    free(buf);

    return (*out != NULL) ? MDM_OK : mdm_walk_oom(w);
}


static int
mdm_json_date(mdm_cmd_walk_t *w, const char *s, plist_t *out)
{
    int        usec;
    long long  sec;

    if (mdm_rfc3339_parse(s, &sec, &usec) != 0) {
        return mdm_walk_fail(w, MDM_REFUSED_INVALID,
                             "%s: invalid RFC 3339 date", w->path);
    }

    /* libplist keeps seconds since 2001 in 32 bits */
    sec -= MDM_APPLE_EPOCH;

    if (sec < INT32_MIN || sec > INT32_MAX) {
        return mdm_walk_fail(w, MDM_REFUSED_INVALID,
                             "%s: date out of range", w->path);
    }

    *out = plist_new_date((int32_t) sec, usec);

    return (*out != NULL) ? MDM_OK : mdm_walk_oom(w);
}


/* ---------------------------------------------------------------------------
 * Raw plists
 * -------------------------------------------------------------------------- */

static int
mdm_command_plist(const char *body, size_t len, mdm_command_t *cmd,
    mdm_err_t *err, int validate)
{
    int                          rc;
    plist_t                      root, command;
    mdm_cmd_walk_t               w;
    const char                  *uuid, *request_type;
    const mdm_command_schema_t  *schema;

    memset(cmd, 0, sizeof(*cmd));
    mdm_walk_init(&w, err, 0);

    /* the body's size is bounded by the server's request body limit */
    if (mdm_plist_parse(body, len, len, &root, err) != MDM_OK) {
        return MDM_ERROR;
    }

    command = NULL;
    uuid = NULL;
    request_type = NULL;

    rc = mdm_plist_envelope(&w, root, &uuid, &request_type, &command);

    if (rc == MDM_OK && validate) {
        schema = mdm_command_schema_find(request_type);

        if (schema == NULL) {
            rc = mdm_walk_fail(&w, MDM_REFUSED_UNKNOWN_TYPE,
                               "unknown RequestType %.*s", MDM_QUOTE_MAX,
                               request_type);

        } else {
            rc = mdm_validate_dict(&w, command, schema->keys, schema->nkeys,
                                   1);
        }
    }

    if (rc == MDM_OK) {
        rc = mdm_command_set(&w, cmd, uuid, request_type);
    }

    plist_free(root);

    return rc;
}


/* The parts every command has, as docs/protocol.md §3.2 describes them. */
static int
mdm_plist_envelope(mdm_cmd_walk_t *w, plist_t root, const char **uuid,
    const char **request_type, plist_t *command)
{
    int  rc;

    rc = mdm_plist_get_string(root, "CommandUUID", uuid, w->err);
    if (rc == MDM_ABSENT) {
        return mdm_walk_fail(w, MDM_REFUSED_MISSING_KEY,
                             "missing CommandUUID");
    }

    if (rc != MDM_OK) {
        return MDM_ERROR;
    }

    if (!mdm_uuid_acceptable(*uuid, strlen(*uuid))) {
        return mdm_walk_fail(w, MDM_REFUSED_INVALID,
                             "CommandUUID must be 1 to %d bytes without "
                             "control characters or braces",
                             MDM_COMMAND_UUID_MAX);
    }

    rc = mdm_plist_get_dict(root, "Command", command, w->err);
    if (rc == MDM_ABSENT) {
        return mdm_walk_fail(w, MDM_REFUSED_MISSING_KEY, "missing Command");
    }

    if (rc != MDM_OK) {
        return MDM_ERROR;
    }

    rc = mdm_plist_get_string(*command, "RequestType", request_type, w->err);
    if (rc == MDM_ABSENT) {
        return mdm_walk_fail(w, MDM_REFUSED_MISSING_KEY,
                             "missing Command.RequestType");
    }

    if (rc != MDM_OK) {
        return MDM_ERROR;
    }

    if (**request_type == '\0') {
        return mdm_walk_fail(w, MDM_REFUSED_INVALID,
                             "Command.RequestType is empty");
    }

    return MDM_OK;
}


static int
mdm_command_set(mdm_cmd_walk_t *w, mdm_command_t *cmd, const char *uuid,
    const char *request_type)
{
    cmd->uuid = mdm_command_strdup(cmd->alloc, uuid);
    cmd->request_type = mdm_command_strdup(cmd->alloc, request_type);

    if (cmd->uuid == NULL || cmd->request_type == NULL) {
        mdm_command_free(cmd);
        return mdm_walk_oom(w);
    }

    return MDM_OK;
}


static char *
mdm_command_strdup(const mdm_alloc_t *a, const char *s)
{
    char    *p;
    size_t   len;

    len = strlen(s) + 1;
    p = mdm_alloc(a, len);

    return p != NULL ? memcpy(p, s, len) : NULL;
}


/* ---------------------------------------------------------------------------
 * Small parsers
 * -------------------------------------------------------------------------- */

/*
 * Apple asks only that a CommandUUID be unique; the limits keep it usable
 * as part of a Redis key and in log lines.
 */
static int
mdm_uuid_acceptable(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > MDM_COMMAND_UUID_MAX) {
        return 0;
    }

    /* braces would break the hash tag of the mdm:cmd:{<uuid>} keys */
    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f
            || s[i] == '{' || s[i] == '}')
        {
            return 0;
        }
    }

    return 1;
}


static int
mdm_digits(const char *s, int n, int *val)
{
    int  i;

    *val = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }

        *val = *val * 10 + (s[i] - '0');
    }

    return 1;
}


/* Reads an optional ".fraction" as microseconds; returns what follows. */
static const char *
mdm_rfc3339_fraction(const char *p, int *usec)
{
    int  scale;

    *usec = 0;

    if (*p != '.') {
        return p;
    }

    p++;
    if (*p < '0' || *p > '9') {
        return NULL;
    }

    for (scale = 100000; *p >= '0' && *p <= '9'; p++) {
        *usec += (*p - '0') * scale;
        scale /= 10;
    }

    return p;
}


/* Reads "Z", "+HH:MM" or "+HHMM" (the last as Apple's YAML writes it). */
static int
mdm_rfc3339_offset(const char *p, long long *offset)
{
    int  sign, h, m;

    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        *offset = 0;
        return 0;
    }

    if (*p != '+' && *p != '-') {
        return -1;
    }

    sign = (*p == '-') ? -1 : 1;

    if (!mdm_digits(p + 1, 2, &h)) {
        return -1;
    }

    p += 3;
    if (*p == ':') {
        p++;
    }

    if (!mdm_digits(p, 2, &m) || p[2] != '\0' || h > 23 || m > 59) {
        return -1;
    }

    *offset = sign * (h * 3600LL + m * 60);

    return 0;
}


/* Parses an RFC 3339 date-time into seconds since the Unix epoch. */
static int
mdm_rfc3339_parse(const char *s, long long *sec, int *usec)
{
    int         y, mo, d, h, mi, se, mdays;
    struct tm   tm;
    long long   offset;
    const char *p;

    static const int  days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
                                 30, 31 };

    if (!mdm_digits(s, 4, &y) || s[4] != '-' || !mdm_digits(s + 5, 2, &mo)
        || s[7] != '-' || !mdm_digits(s + 8, 2, &d)
        || (s[10] != 'T' && s[10] != 't') || !mdm_digits(s + 11, 2, &h)
        || s[13] != ':' || !mdm_digits(s + 14, 2, &mi) || s[16] != ':'
        || !mdm_digits(s + 17, 2, &se))
    {
        return -1;
    }

    p = mdm_rfc3339_fraction(s + 19, usec);

    if (p == NULL || mdm_rfc3339_offset(p, &offset) != 0
        || mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 60)
    {
        return -1;
    }

    mdays = days[mo - 1]
            + (mo == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));

    if (d < 1 || d > mdays) {
        return -1;
    }

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;

    *sec = (long long) timegm(&tm) - offset;

    return 0;
}
