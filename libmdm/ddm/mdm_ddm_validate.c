/*
 * The Payload walk: one recursive descent over the JSON beside the schema's
 * key tree, a path buffer that grows and shrinks with it.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE                     /* strptime */
#endif

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mdm_plist.h"
#include "ddm/mdm_ddm_validate.h"


typedef struct {
    const mdm_ddm_schema_t  *schema;
    unsigned                 flags;
    mdm_ddm_refs_t          *refs;
    mdm_ddm_error_t         *err;
    char                     path[MDM_DDM_PATH_MAX];
    size_t                   path_len;
    int                      depth;
} mdm_ddm_walk_t;


static int mdm_ddm_walk_value(mdm_ddm_walk_t *w, const mdm_ddm_key_t *key,
    json_t *v);
static int mdm_ddm_walk_object(mdm_ddm_walk_t *w, json_t *obj,
    unsigned first, unsigned n, int strict);
static int mdm_ddm_walk_array(mdm_ddm_walk_t *w, const mdm_ddm_key_t *key,
    json_t *array);
static int mdm_ddm_walk_string(mdm_ddm_walk_t *w, const mdm_ddm_key_t *key,
    json_t *v);
static int mdm_ddm_walk_integer(mdm_ddm_walk_t *w, const mdm_ddm_key_t *key,
    json_t *v);
static const mdm_ddm_key_t *mdm_ddm_child(unsigned first, unsigned n,
    const char *name);
static int mdm_ddm_type_matches(unsigned type, json_t *v);
static int mdm_ddm_value_allowed(const mdm_ddm_key_t *key, const char *s);
static int mdm_ddm_note_ref(mdm_ddm_walk_t *w, const mdm_ddm_key_t *key,
    mdm_ddm_kind_e kind, json_t *v);
static size_t mdm_ddm_path_push_key(mdm_ddm_walk_t *w, const char *name);
static size_t mdm_ddm_path_push_index(mdm_ddm_walk_t *w, size_t i);
static void mdm_ddm_path_pop(mdm_ddm_walk_t *w, size_t saved);
static int mdm_ddm_walk_fail(mdm_ddm_walk_t *w, const char *rule,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int mdm_ddm_base64_valid(const char *s, size_t len);
static int mdm_ddm_date_valid(const char *s);


const mdm_ddm_schema_t *
mdm_ddm_schema_find(const char *type)
{
    size_t  lo, hi, mid;
    int     cmp;

    lo = 0;
    hi = mdm_ddm_nschemas;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        cmp = strcmp(type, mdm_ddm_schemas[mid].type);

        if (cmp == 0) {
            return &mdm_ddm_schemas[mid];
        }

        if (cmp < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    return NULL;
}


int
mdm_ddm_validate_payload(const mdm_ddm_schema_t *schema, json_t *payload,
    unsigned flags, mdm_ddm_refs_t *refs, mdm_ddm_error_t *err)
{
    mdm_ddm_walk_t  w;

    memset(&w, 0, sizeof(w));
    w.schema = schema;
    w.flags = flags;
    w.refs = refs;
    w.err = err;
    w.path_len = (size_t) snprintf(w.path, sizeof(w.path), "Payload");

    if (!json_is_object(payload)) {
        return mdm_ddm_walk_fail(&w, "type", "Payload must be a dictionary");
    }

    return mdm_ddm_walk_object(&w, payload, schema->keys, schema->nkeys, 1);
}


int
mdm_ddm_ref_accepts(const mdm_ddm_ref_t *ref, const char *type)
{
    unsigned  i;

    if (ref->key == NULL || ref->key->nassettypes == 0) {
        return 1;
    }

    for (i = 0; i < ref->key->nassettypes; i++) {
        if (strcmp(mdm_ddm_values[ref->key->assettypes + i], type) == 0) {
            return 1;
        }
    }

    return 0;
}


json_t *
mdm_ddm_refs_warnings(const mdm_ddm_refs_t *refs, mdm_ddm_lookup_pt lookup,
    void *ctx)
{
    size_t                i;
    json_t               *warnings;
    const char           *type, *warning;
    const mdm_ddm_ref_t  *ref;

    warnings = json_array();

    for (i = 0; warnings != NULL && i < refs->n; i++) {
        ref = &refs->refs[i];
        type = lookup(ctx, ref->identifier);

        warning = type == NULL ? "missing"
                : mdm_ddm_kind_of_type(type) != ref->kind ? "kind"
                : !mdm_ddm_ref_accepts(ref, type) ? "type"
                : NULL;

        if (warning != NULL
            && json_array_append_new(warnings,
                                     json_pack("{s:s, s:s, s:s}",
                                               "path", ref->path,
                                               "identifier", ref->identifier,
                                               "warning", warning)) != 0)
        {
            json_decref(warnings);
            return NULL;
        }
    }

    return warnings;
}


void
mdm_ddm_refs_free(mdm_ddm_refs_t *refs)
{
    free(refs->refs);
    memset(refs, 0, sizeof(*refs));
}


/*
 * Members of obj against the n keys from first. strict: the list is the
 * whole vocabulary (a dictionary the schema spells out); otherwise it is a
 * free-form dictionary (Details, no subkeys given) and anything goes.
 */
static int
mdm_ddm_walk_object(mdm_ddm_walk_t *w, json_t *obj, unsigned first,
    unsigned n, int strict)
{
    int                   rc;
    size_t                saved;
    unsigned              i;
    json_t               *val;
    const char           *name;
    const mdm_ddm_key_t  *key;

    json_object_foreach(obj, name, val) {
        key = mdm_ddm_child(first, n, name);
        saved = mdm_ddm_path_push_key(w, name);

        if (key == NULL && strict
            && !(w->flags & MDM_DDM_ALLOW_UNKNOWN_KEYS))
        {
            return mdm_ddm_walk_fail(w, "unknown-key",
                                     "%s is not a key of %s", w->path,
                                     w->schema->type);
        }

        rc = (key != NULL) ? mdm_ddm_walk_value(w, key, val) : MDM_OK;
        mdm_ddm_path_pop(w, saved);

        if (rc != MDM_OK) {
            return rc;
        }
    }

    for (i = 0; i < n; i++) {
        key = &mdm_ddm_keys[first + i];

        if (key->required && strcmp(key->name, MDM_KEY_WILDCARD) != 0
            && json_object_get(obj, key->name) == NULL)
        {
            saved = mdm_ddm_path_push_key(w, key->name);
            rc = mdm_ddm_walk_fail(w, "required", "%s is required",
                                   w->path);
            mdm_ddm_path_pop(w, saved);
            return rc;
        }
    }

    return MDM_OK;
}


static int
mdm_ddm_walk_value(mdm_ddm_walk_t *w, const mdm_ddm_key_t *key, json_t *v)
{
    int  rc;

    if (!mdm_ddm_type_matches(key->type, v)) {
        if (key->type == MDM_KEY_ANY) {
            return mdm_ddm_walk_fail(w, "type", "%s: null is not a value",
                                     w->path);
        }

        return mdm_ddm_walk_fail(w, "type", "%s must be a%s %s", w->path,
                                 key->type == MDM_KEY_INTEGER
                                 || key->type == MDM_KEY_ARRAY ? "n" : "",
                                 mdm_command_key_type_name(key->type));
    }

    switch (key->type) {

    case MDM_KEY_STRING:
    case MDM_KEY_DATA:
    case MDM_KEY_DATE:
        return mdm_ddm_walk_string(w, key, v);

    case MDM_KEY_INTEGER:
        return mdm_ddm_walk_integer(w, key, v);

    case MDM_KEY_DICT:
    case MDM_KEY_ARRAY:
        if (++w->depth > MDM_DDM_MAX_DEPTH) {
            return mdm_ddm_walk_fail(w, "depth",
                                     "%s: nested deeper than %d levels",
                                     w->path, MDM_DDM_MAX_DEPTH);
        }

        rc = (key->type == MDM_KEY_DICT)
             ? mdm_ddm_walk_object(w, v, key->subkeys, key->nsubkeys,
                                   key->nsubkeys != 0)
             : mdm_ddm_walk_array(w, key, v);
        w->depth--;

        return rc;

    default:
        return MDM_OK;
    }
}


static int
mdm_ddm_walk_array(mdm_ddm_walk_t *w, const mdm_ddm_key_t *key,
    json_t *array)
{
    int                   rc;
    size_t                i, saved;
    json_t               *elem;
    const mdm_ddm_key_t  *form;

    form = key->nsubkeys ? &mdm_ddm_keys[key->subkeys] : NULL;

    json_array_foreach(array, i, elem) {
        saved = mdm_ddm_path_push_index(w, i);
        rc = MDM_OK;

        if (form != NULL) {
            rc = mdm_ddm_walk_value(w, form, elem);
        }

        /* an array of asset references names its assets in its elements */
        if (rc == MDM_OK && key->nassettypes != 0) {
            rc = mdm_ddm_note_ref(w, key, MDM_DDM_ASSET, elem);
        }

        mdm_ddm_path_pop(w, saved);

        if (rc != MDM_OK) {
            return rc;
        }
    }

    return MDM_OK;
}


static int
mdm_ddm_walk_string(mdm_ddm_walk_t *w, const mdm_ddm_key_t *key, json_t *v)
{
    const char  *s;

    s = json_string_value(v);

    if (key->type == MDM_KEY_DATA
        && !mdm_ddm_base64_valid(s, json_string_length(v)))
    {
        return mdm_ddm_walk_fail(w, "type", "%s must be base64 data",
                                 w->path);
    }

    if (key->type == MDM_KEY_DATE && !mdm_ddm_date_valid(s)) {
        return mdm_ddm_walk_fail(w, "type",
                                 "%s must be an RFC 3339 date-time", w->path);
    }

    if (!mdm_ddm_value_allowed(key, s)) {
        return mdm_ddm_walk_fail(w, "value", "%s: \"%.64s\" is not one of "
                                 "the allowed values", w->path, s);
    }

    if (key->nassettypes != 0) {
        return mdm_ddm_note_ref(w, key, MDM_DDM_ASSET, v);
    }

    /* the activation's list of configurations, the one reference that the
     * schema does not mark */
    if (w->schema->kind == MDM_DDM_ACTIVATION && w->depth == 1
        && strncmp(w->path, "Payload.StandardConfigurations[", 31) == 0)
    {
        return mdm_ddm_note_ref(w, NULL, MDM_DDM_CONFIGURATION, v);
    }

    return MDM_OK;
}


static int
mdm_ddm_walk_integer(mdm_ddm_walk_t *w, const mdm_ddm_key_t *key, json_t *v)
{
    char        buf[32];
    json_int_t  n;

    n = json_integer_value(v);

    if (key->has_range && (n < key->min || n > key->max)) {
        return mdm_ddm_walk_fail(w, "range", "%s: %" JSON_INTEGER_FORMAT
                                 " is outside %ld..%ld", w->path, n,
                                 key->min, key->max);
    }

    snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, n);

    if (!mdm_ddm_value_allowed(key, buf)) {
        return mdm_ddm_walk_fail(w, "value", "%s: %s is not one of the "
                                 "allowed values", w->path, buf);
    }

    return MDM_OK;
}


static const mdm_ddm_key_t *
mdm_ddm_child(unsigned first, unsigned n, const char *name)
{
    unsigned              i;
    const mdm_ddm_key_t  *wildcard;

    wildcard = NULL;

    for (i = 0; i < n; i++) {
        if (strcmp(mdm_ddm_keys[first + i].name, name) == 0) {
            return &mdm_ddm_keys[first + i];
        }

        if (strcmp(mdm_ddm_keys[first + i].name, MDM_KEY_WILDCARD) == 0) {
            wildcard = &mdm_ddm_keys[first + i];
        }
    }

    return wildcard;
}


static int
mdm_ddm_type_matches(unsigned type, json_t *v)
{
    switch (type) {

    case MDM_KEY_STRING:
    case MDM_KEY_DATA:
    case MDM_KEY_DATE:
        return json_is_string(v);

    case MDM_KEY_INTEGER:
        return json_is_integer(v);

    case MDM_KEY_REAL:
        return json_is_number(v);

    case MDM_KEY_BOOLEAN:
        return json_is_boolean(v);

    case MDM_KEY_ARRAY:
        return json_is_array(v);

    case MDM_KEY_DICT:
        return json_is_object(v);

    default:
        /* <any> is any value a device can hold: JSON has null, plists not */
        return !json_is_null(v);
    }
}


static int
mdm_ddm_value_allowed(const mdm_ddm_key_t *key, const char *s)
{
    unsigned  i;

    if (key->nvalues == 0) {
        return 1;
    }

    for (i = 0; i < key->nvalues; i++) {
        if (strcmp(mdm_ddm_values[key->values + i], s) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
mdm_ddm_note_ref(mdm_ddm_walk_t *w, const mdm_ddm_key_t *key,
    mdm_ddm_kind_e kind, json_t *v)
{
    size_t          cap;
    mdm_ddm_ref_t  *refs, *ref;

    if (w->refs == NULL || !json_is_string(v)) {
        return MDM_OK;
    }

    if (w->refs->n == w->refs->cap) {
        cap = w->refs->cap ? w->refs->cap * 2 : 8;
        refs = realloc(w->refs->refs, cap * sizeof(mdm_ddm_ref_t));

        if (refs == NULL) {
            return mdm_ddm_walk_fail(w, "memory", "out of memory");
        }

        w->refs->refs = refs;
        w->refs->cap = cap;
    }

    ref = &w->refs->refs[w->refs->n++];
    ref->identifier = json_string_value(v);
    ref->kind = kind;
    ref->key = key;
    snprintf(ref->path, sizeof(ref->path), "%s", w->path);

    return MDM_OK;
}


/* Appends ".name" (or "name" at the top); returns the length to restore. */
static size_t
mdm_ddm_path_push_key(mdm_ddm_walk_t *w, const char *name)
{
    size_t  saved;
    int     n;

    saved = w->path_len;
    n = snprintf(w->path + w->path_len, sizeof(w->path) - w->path_len,
                 "%s%s", w->path_len ? "." : "", name);

    if (n > 0) {
        w->path_len += (size_t) n;
    }

    if (w->path_len >= sizeof(w->path)) {
        w->path_len = sizeof(w->path) - 1;
    }

    return saved;
}


static size_t
mdm_ddm_path_push_index(mdm_ddm_walk_t *w, size_t i)
{
    size_t  saved;
    int     n;

    saved = w->path_len;
    n = snprintf(w->path + w->path_len, sizeof(w->path) - w->path_len,
                 "[%zu]", i);

    if (n > 0) {
        w->path_len += (size_t) n;
    }

    if (w->path_len >= sizeof(w->path)) {
        w->path_len = sizeof(w->path) - 1;
    }

    return saved;
}


static void
mdm_ddm_path_pop(mdm_ddm_walk_t *w, size_t saved)
{
    w->path_len = saved;
    w->path[saved] = '\0';
}


static int
mdm_ddm_walk_fail(mdm_ddm_walk_t *w, const char *rule, const char *fmt, ...)
{
    char     msg[MDM_DDM_MSG_MAX];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    return mdm_ddm_fail(w->err, rule, w->path, "%s", msg);
}


static int
mdm_ddm_base64_valid(const char *s, size_t len)
{
    size_t  i, pad;

    if (len % 4 != 0) {
        return 0;
    }

    pad = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '=') {
            pad++;
            continue;
        }

        /* padding only at the end, at most two */
        if (pad != 0 || strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
                               "rstuvwxyz0123456789+/", s[i]) == NULL
            || s[i] == '\0')
        {
            return 0;
        }
    }

    return pad <= 2;
}


/* YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm) */
static int
mdm_ddm_date_valid(const char *s)
{
    struct tm    tm;
    const char  *p;

    memset(&tm, 0, sizeof(tm));

    if (strlen(s) < 20 || s[4] != '-' || s[7] != '-'
        || (s[10] != 'T' && s[10] != 't'))
    {
        return 0;
    }

    p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL) {
        return 0;
    }

    if (*p == '.') {
        p++;

        if (*p < '0' || *p > '9') {
            return 0;
        }

        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }

    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        return 1;
    }

    return (*p == '+' || *p == '-') && strlen(p) == 6
           && p[1] >= '0' && p[1] <= '2' && p[2] >= '0' && p[2] <= '9'
           && p[3] == ':' && p[4] >= '0' && p[4] <= '5'
           && p[5] >= '0' && p[5] <= '9';
}
