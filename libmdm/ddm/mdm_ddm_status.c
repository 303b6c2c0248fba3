/*
 * Status reports: the envelope, the declarations' statuses, the Errors,
 * and a walk that flattens every other status item to path -> value.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mdm_plist.h"
#include "ddm/mdm_ddm_status.h"


typedef struct {
    mdm_ddm_status_t  *st;
    mdm_ddm_error_t   *err;
    char               path[MDM_DDM_PATH_MAX];
    size_t             path_len;
    int                depth;
} mdm_ddm_flat_t;


static mdm_ddm_status_rc_e mdm_ddm_status_envelope(mdm_ddm_status_t *st,
    mdm_ddm_error_t *err);
static mdm_ddm_status_rc_e mdm_ddm_status_declarations(mdm_ddm_status_t *st,
    json_t *decls, mdm_ddm_error_t *err);
static mdm_ddm_status_rc_e mdm_ddm_status_declaration(json_t *entry,
    mdm_ddm_kind_e kind, size_t i, mdm_ddm_decl_status_t *ds,
    mdm_ddm_error_t *err);
static mdm_ddm_status_rc_e mdm_ddm_status_errors(mdm_ddm_status_t *st,
    json_t *errors, mdm_ddm_error_t *err);
static mdm_ddm_status_rc_e mdm_ddm_flatten(mdm_ddm_flat_t *f, json_t *v);
static mdm_ddm_status_rc_e mdm_ddm_flatten_object(mdm_ddm_flat_t *f,
    json_t *obj);
static mdm_ddm_status_rc_e mdm_ddm_flatten_keyed(mdm_ddm_flat_t *f,
    json_t *array);
static int mdm_ddm_keyed_array(json_t *array);
static mdm_ddm_status_rc_e mdm_ddm_add_value(mdm_ddm_flat_t *f,
    const char *suffix, json_t *v);
static int mdm_ddm_path_push(mdm_ddm_flat_t *f, const char *name);
static mdm_ddm_status_rc_e mdm_ddm_status_fail(mdm_ddm_error_t *err,
    mdm_ddm_status_rc_e rc, const char *rule, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));


static const char *const  mdm_ddm_rc_names[] = {
    "ok", "too-large", "not-json", "shape", "too-many", "no-memory"
};

static const char *const  mdm_ddm_valid_names[] = {
    "", "unknown", "invalid", "valid"
};


mdm_ddm_status_rc_e
mdm_ddm_status_parse(const char *json, size_t len, size_t max_len,
    mdm_ddm_status_t *st, mdm_ddm_error_t *err)
{
    mdm_ddm_status_rc_e  rc;
    json_error_t         jerr;

    memset(st, 0, sizeof(*st));

    if (max_len == 0) {
        max_len = MDM_DDM_STATUS_MAX;
    }

    if (len > max_len) {
        return mdm_ddm_status_fail(err, MDM_DDM_STATUS_TOO_LARGE, "size", "",
                                   "status report is larger than %zu bytes",
                                   max_len);
    }

    st->root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (st->root == NULL) {
        return mdm_ddm_status_fail(err, MDM_DDM_STATUS_NOT_JSON, "json", "",
                                   "invalid JSON: %s (line %d, column %d)",
                                   jerr.text, jerr.line, jerr.column);
    }

    rc = mdm_ddm_status_envelope(st, err);

    if (rc != MDM_DDM_STATUS_OK) {
        mdm_ddm_status_free(st);
    }

    return rc;
}


const char *
mdm_ddm_status_rc_name(mdm_ddm_status_rc_e rc)
{
    if ((unsigned) rc >= sizeof(mdm_ddm_rc_names) / sizeof(char *)) {
        return "unknown";
    }

    return mdm_ddm_rc_names[rc];
}


const char *
mdm_ddm_valid_name(mdm_ddm_valid_e valid)
{
    if ((unsigned) valid > MDM_DDM_VALID_VALID) {
        return "";
    }

    return mdm_ddm_valid_names[valid];
}


void
mdm_ddm_status_free(mdm_ddm_status_t *st)
{
    size_t  i;

    for (i = 0; i < st->nvalues; i++) {
        free(st->values[i].path);
        free(st->values[i].value);
    }

    free(st->values);
    free(st->declarations);
    free(st->errors);
    json_decref(st->root);
    memset(st, 0, sizeof(*st));
}


static mdm_ddm_status_rc_e
mdm_ddm_status_envelope(mdm_ddm_status_t *st, mdm_ddm_error_t *err)
{
    json_t               *items, *errors, *full, *mgmt, *decls;
    mdm_ddm_flat_t        f;
    mdm_ddm_status_rc_e   rc;

    if (!json_is_object(st->root)) {
        return mdm_ddm_status_fail(err, MDM_DDM_STATUS_NOT_JSON, "type", "",
                                   "a status report is a JSON object");
    }

    items = json_object_get(st->root, "StatusItems");
    errors = json_object_get(st->root, "Errors");
    full = json_object_get(st->root, "FullReport");

    if (!json_is_object(items)) {
        return mdm_ddm_status_fail(err, MDM_DDM_STATUS_SHAPE,
                                   items ? "type" : "required", "StatusItems",
                                   "StatusItems must be a dictionary");
    }

    if (full != NULL && !json_is_boolean(full)) {
        return mdm_ddm_status_fail(err, MDM_DDM_STATUS_SHAPE, "type",
                                   "FullReport",
                                   "FullReport must be a boolean");
    }

    st->full_report = json_is_true(full);

    /* Errors is required by the schema, but a report without it says the
     * same as one with an empty array */
    if (errors != NULL) {
        rc = mdm_ddm_status_errors(st, errors, err);
        if (rc != MDM_DDM_STATUS_OK) {
            return rc;
        }
    }

    mgmt = json_object_get(items, "management");
    decls = json_is_object(mgmt) ? json_object_get(mgmt, "declarations")
                                 : NULL;

    if (decls != NULL) {
        rc = mdm_ddm_status_declarations(st, decls, err);
        if (rc != MDM_DDM_STATUS_OK) {
            return rc;
        }
    }

    memset(&f, 0, sizeof(f));
    f.st = st;
    f.err = err;

    return mdm_ddm_flatten_object(&f, items);
}


static mdm_ddm_status_rc_e
mdm_ddm_status_declarations(mdm_ddm_status_t *st, json_t *decls,
    mdm_ddm_error_t *err)
{
    int                   k;
    char                  path[64];
    size_t                i, n;
    json_t               *array, *entry;
    const char           *name;
    mdm_ddm_status_rc_e   rc;

    if (!json_is_object(decls)) {
        return mdm_ddm_status_fail(err, MDM_DDM_STATUS_SHAPE, "type",
                                   "StatusItems.management.declarations",
                                   "management.declarations must be a "
                                   "dictionary");
    }

    n = 0;

    for (k = 0; k < MDM_DDM_NKINDS; k++) {
        name = mdm_ddm_kind_status((mdm_ddm_kind_e) k);
        array = json_object_get(decls, name);

        if (array != NULL && !json_is_array(array)) {
            snprintf(path, sizeof(path),
                     "StatusItems.management.declarations.%s", name);
            return mdm_ddm_status_fail(err, MDM_DDM_STATUS_SHAPE, "type",
                                       path, "%s must be an array", path);
        }

        n += json_array_size(array);
    }

    if (n > MDM_DDM_STATUS_DECLS_MAX) {
        return mdm_ddm_status_fail(err, MDM_DDM_STATUS_TOO_MANY, "count",
                                   "StatusItems.management.declarations",
                                   "more than %d declarations",
                                   MDM_DDM_STATUS_DECLS_MAX);
    }

    if (n == 0) {
        return MDM_DDM_STATUS_OK;
    }

    st->declarations = calloc(n, sizeof(mdm_ddm_decl_status_t));
    if (st->declarations == NULL) {
        return mdm_ddm_status_fail(err, MDM_DDM_STATUS_NOMEM, "memory", "",
                                   "out of memory");
    }

    for (k = 0; k < MDM_DDM_NKINDS; k++) {
        array = json_object_get(decls, mdm_ddm_kind_status((mdm_ddm_kind_e) k));

        json_array_foreach(array, i, entry) {
            rc = mdm_ddm_status_declaration(entry, (mdm_ddm_kind_e) k, i,
                                    &st->declarations[st->ndeclarations],
                                    err);
            if (rc != MDM_DDM_STATUS_OK) {
                return rc;
            }

            st->ndeclarations++;
        }
    }

    return MDM_DDM_STATUS_OK;
}


static mdm_ddm_status_rc_e
mdm_ddm_status_declaration(json_t *entry, mdm_ddm_kind_e kind, size_t i,
    mdm_ddm_decl_status_t *ds, mdm_ddm_error_t *err)
{
    char         path[96];
    json_t      *id, *token, *active, *valid, *reasons, *removed;
    const char  *v;

    snprintf(path, sizeof(path), "StatusItems.management.declarations.%s[%zu]",
             mdm_ddm_kind_status(kind), i);

    if (!json_is_object(entry)) {
        return mdm_ddm_status_fail(err, MDM_DDM_STATUS_SHAPE, "type", path,
                                   "%s must be a dictionary", path);
    }

    id = json_object_get(entry, "identifier");
    token = json_object_get(entry, "server-token");
    active = json_object_get(entry, "active");
    valid = json_object_get(entry, "valid");
    reasons = json_object_get(entry, "reasons");
    removed = json_object_get(entry, "_removed");

    if (!json_is_string(id)
        || !mdm_ddm_id_valid(json_string_value(id), json_string_length(id)))
    {
        return mdm_ddm_status_fail(err, MDM_DDM_STATUS_SHAPE,
                                   id ? "length" : "required", path,
                                   "%s.identifier must be a string of 1 to "
                                   "%d octets", path, MDM_DDM_ID_MAX);
    }

    if ((token != NULL
         && (!json_is_string(token)
             || !mdm_ddm_id_valid(json_string_value(token),
                                  json_string_length(token))))
        || (active != NULL && !json_is_boolean(active))
        || (valid != NULL && !json_is_string(valid))
        || (reasons != NULL && !json_is_array(reasons))
        || (removed != NULL && !json_is_boolean(removed)))
    {
        return mdm_ddm_status_fail(err, MDM_DDM_STATUS_SHAPE, "type", path,
                                   "%s: server-token must be a string of 1 "
                                   "to %d octets, active and _removed "
                                   "booleans, valid a string, reasons an "
                                   "array", path, MDM_DDM_ID_MAX);
    }

    ds->kind = kind;
    ds->identifier = json_string_value(id);
    ds->server_token = json_string_value(token);
    ds->active = active ? json_is_true(active) : -1;
    ds->valid_text = json_string_value(valid);
    ds->reasons = reasons;
    ds->removed = json_is_true(removed);

    v = ds->valid_text;

    /* a value newer than Apple's three is kept as text, counted unknown */
    ds->valid = v == NULL ? MDM_DDM_VALID_ABSENT
              : strcmp(v, "valid") == 0 ? MDM_DDM_VALID_VALID
              : strcmp(v, "invalid") == 0 ? MDM_DDM_VALID_INVALID
              : MDM_DDM_VALID_UNKNOWN;

    /* KMFDDM's rule: inactive and not valid is an error worth listing */
    ds->is_error = ds->active == 0 && ds->valid != MDM_DDM_VALID_VALID;

    return MDM_DDM_STATUS_OK;
}


static mdm_ddm_status_rc_e
mdm_ddm_status_errors(mdm_ddm_status_t *st, json_t *errors,
    mdm_ddm_error_t *err)
{
    char     path[32];
    size_t   i;
    json_t  *e, *item, *reasons;

    if (!json_is_array(errors)) {
        return mdm_ddm_status_fail(err, MDM_DDM_STATUS_SHAPE, "type",
                                   "Errors", "Errors must be an array");
    }

    if (json_array_size(errors) > MDM_DDM_STATUS_ERRORS_MAX) {
        return mdm_ddm_status_fail(err, MDM_DDM_STATUS_TOO_MANY, "count",
                                   "Errors", "more than %d Errors",
                                   MDM_DDM_STATUS_ERRORS_MAX);
    }

    if (json_array_size(errors) == 0) {
        return MDM_DDM_STATUS_OK;
    }

    st->errors = calloc(json_array_size(errors),
                        sizeof(mdm_ddm_status_error_t));
    if (st->errors == NULL) {
        return mdm_ddm_status_fail(err, MDM_DDM_STATUS_NOMEM, "memory", "",
                                   "out of memory");
    }

    json_array_foreach(errors, i, e) {
        snprintf(path, sizeof(path), "Errors[%zu]", i);
        item = json_object_get(e, "StatusItem");
        reasons = json_object_get(e, "Reasons");

        if (!json_is_object(e) || !json_is_string(item)
            || json_string_length(item) == 0
            || json_string_length(item) > MDM_DDM_PATH_MAX / 2
            || (reasons != NULL && !json_is_array(reasons)))
        {
            return mdm_ddm_status_fail(err, MDM_DDM_STATUS_SHAPE, "type",
                                       path, "%s must be a dictionary with a "
                                       "StatusItem string and a Reasons "
                                       "array", path);
        }

        st->errors[st->nerrors].status_item = json_string_value(item);
        st->errors[st->nerrors].reasons = reasons;
        st->nerrors++;
    }

    return MDM_DDM_STATUS_OK;
}


static mdm_ddm_status_rc_e
mdm_ddm_flatten(mdm_ddm_flat_t *f, json_t *v)
{
    mdm_ddm_status_rc_e  rc;

    if (json_is_object(v) && json_object_size(v) != 0) {
        if (++f->depth > MDM_DDM_MAX_DEPTH) {
            return mdm_ddm_status_fail(f->err, MDM_DDM_STATUS_TOO_MANY,
                                       "depth", f->path, "%s: nested deeper "
                                       "than %d levels", f->path,
                                       MDM_DDM_MAX_DEPTH);
        }

        rc = mdm_ddm_flatten_object(f, v);
        f->depth--;

        return rc;
    }

    if (mdm_ddm_keyed_array(v)) {
        return mdm_ddm_flatten_keyed(f, v);
    }

    return mdm_ddm_add_value(f, NULL, v);
}


static mdm_ddm_status_rc_e
mdm_ddm_flatten_object(mdm_ddm_flat_t *f, json_t *obj)
{
    size_t               saved;
    json_t              *v;
    const char          *name;
    mdm_ddm_status_rc_e  rc;

    json_object_foreach(obj, name, v) {
        /* stored apart (st->declarations), not as values */
        if (strcmp(f->path, "management") == 0
            && strcmp(name, "declarations") == 0)
        {
            continue;
        }

        saved = f->path_len;

        if (mdm_ddm_path_push(f, name) != MDM_OK) {
            return mdm_ddm_status_fail(f->err, MDM_DDM_STATUS_TOO_MANY,
                                       "length", f->path, "status item path "
                                       "longer than %d bytes",
                                       MDM_DDM_PATH_MAX - 1);
        }

        rc = mdm_ddm_flatten(f, v);
        f->path_len = saved;
        f->path[saved] = '\0';

        if (rc != MDM_DDM_STATUS_OK) {
            return rc;
        }
    }

    return MDM_DDM_STATUS_OK;
}


static mdm_ddm_status_rc_e
mdm_ddm_flatten_keyed(mdm_ddm_flat_t *f, json_t *array)
{
    char                 suffix[MDM_DDM_PATH_MAX];
    size_t               i;
    json_t              *elem;
    mdm_ddm_status_rc_e  rc;

    json_array_foreach(array, i, elem) {
        snprintf(suffix, sizeof(suffix), "[%s]",
                 json_string_value(json_object_get(elem, "identifier")));

        rc = mdm_ddm_add_value(f, suffix,
                               json_is_true(json_object_get(elem, "_removed"))
                               ? NULL : elem);
        if (rc != MDM_DDM_STATUS_OK) {
            return rc;
        }
    }

    return MDM_DDM_STATUS_OK;
}


/* An array of dictionaries that all carry a string "identifier". */
static int
mdm_ddm_keyed_array(json_t *array)
{
    size_t   i;
    json_t  *elem;

    if (!json_is_array(array) || json_array_size(array) == 0) {
        return 0;
    }

    json_array_foreach(array, i, elem) {
        if (!json_is_string(json_object_get(elem, "identifier"))) {
            return 0;
        }
    }

    return 1;
}


/* v NULL: a removed entry. */
static mdm_ddm_status_rc_e
mdm_ddm_add_value(mdm_ddm_flat_t *f, const char *suffix, json_t *v)
{
    size_t                   cap, plen, slen;
    mdm_ddm_status_t        *st;
    mdm_ddm_status_value_t  *values, *val;

    st = f->st;
    plen = f->path_len;
    slen = suffix ? strlen(suffix) : 0;

    if (plen + slen >= MDM_DDM_PATH_MAX) {
        return mdm_ddm_status_fail(f->err, MDM_DDM_STATUS_TOO_MANY, "length",
                                   f->path, "status item path longer than "
                                   "%d bytes", MDM_DDM_PATH_MAX - 1);
    }

    if (st->nvalues == MDM_DDM_STATUS_VALUES_MAX) {
        return mdm_ddm_status_fail(f->err, MDM_DDM_STATUS_TOO_MANY, "count",
                                   f->path, "more than %d status values",
                                   MDM_DDM_STATUS_VALUES_MAX);
    }

    if (st->nvalues == st->values_cap) {
        cap = st->values_cap ? st->values_cap * 2 : 32;
        values = realloc(st->values, cap * sizeof(*values));

        if (values == NULL) {
            goto nomem;
        }

        st->values = values;
        st->values_cap = cap;
    }

    val = &st->values[st->nvalues];
    val->path = malloc(plen + slen + 1);
    val->value = NULL;

    if (val->path == NULL) {
        goto nomem;
    }

    memcpy(val->path, f->path, plen);
    memcpy(val->path + plen, suffix ? suffix : "", slen + 1);

    if (v != NULL) {
        val->value = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS
                                   | JSON_ENCODE_ANY);
        if (val->value == NULL) {
            free(val->path);
            goto nomem;
        }
    }

    st->nvalues++;

    return MDM_DDM_STATUS_OK;

nomem:

    return mdm_ddm_status_fail(f->err, MDM_DDM_STATUS_NOMEM, "memory", "",
                               "out of memory");
}


static int
mdm_ddm_path_push(mdm_ddm_flat_t *f, const char *name)
{
    size_t  n;

    n = strlen(name);

    if (f->path_len + (f->path_len ? 1 : 0) + n >= sizeof(f->path)) {
        return MDM_ERROR;
    }

    if (f->path_len) {
        f->path[f->path_len++] = '.';
    }

    memcpy(f->path + f->path_len, name, n + 1);
    f->path_len += n;

    return MDM_OK;
}


static mdm_ddm_status_rc_e
mdm_ddm_status_fail(mdm_ddm_error_t *err, mdm_ddm_status_rc_e rc,
    const char *rule, const char *path, const char *fmt, ...)
{
    char     msg[MDM_DDM_MSG_MAX];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    mdm_ddm_fail(err, rule, path, "%s", msg);

    return rc;
}
