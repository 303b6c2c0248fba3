/*
 * The schema walk over a profile's plist tree: one recursive descent beside
 * the generated key graph, a path buffer extended and cut back in place.
 * Every problem is recorded and the walk goes on, so that the API can list
 * them all at once.
 */

#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/mdm_profile.h"


static void mdm_profile_walk_value(mdm_profile_t *p,
    mdm_profile_problems_t *probs, const mdm_profile_key_t *key,
    plist_t node, char *path, int depth);
static void mdm_profile_walk_array(mdm_profile_t *p,
    mdm_profile_problems_t *probs, const mdm_profile_key_t *key,
    plist_t array, char *path, int depth);
static void mdm_profile_check_scalar(mdm_profile_problems_t *probs,
    const mdm_profile_key_t *key, plist_t node, const char *path);
static const mdm_profile_key_t *mdm_profile_child(unsigned first, unsigned n,
    const char *name, const mdm_profile_key_t **wildcard);
static int mdm_profile_type_matches(unsigned type, plist_t node);
static int mdm_profile_value_allowed(const mdm_profile_key_t *key,
    const char *s, int numeric, double d);
static int mdm_profile_format_matches(const char *format, const char *s);
static void mdm_profile_note_os_key(mdm_profile_t *p,
    const mdm_profile_key_t *key, const char *path);
static size_t mdm_profile_path_push(char *path, const char *fmt,
    const char *name, size_t i);


const mdm_profile_schema_t *
mdm_profile_schema_find(const char *type)
{
    int     cmp;
    size_t  lo, hi, mid;

    lo = 0;
    hi = mdm_profile_nschemas;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        cmp = strcmp(type, mdm_profile_schemas[mid].type);

        if (cmp == 0) {
            return &mdm_profile_schemas[mid];
        }

        if (cmp < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    return NULL;
}


void
mdm_profile_walk_dict(mdm_profile_t *p, mdm_profile_problems_t *probs,
    plist_t dict, unsigned first, unsigned n, unsigned common_first,
    unsigned common_n, char *path, int depth)
{
    char                     *name;
    size_t                    saved;
    unsigned                  i, pass;
    plist_t                   val;
    plist_dict_iter           it;
    const mdm_profile_key_t  *key, *wild, *cwild;

    it = NULL;
    plist_dict_new_iter(dict, &it);

    for ( ;; ) {
        name = NULL;
        val = NULL;
        plist_dict_next_item(dict, it, &name, &val);

        if (name == NULL) {
            break;
        }

        /* a payload type's own keys first, then the keys every payload
         * has; a wildcard only when neither names the key */
        key = mdm_profile_child(first, n, name, &wild);

        if (key == NULL && common_n != 0) {
            key = mdm_profile_child(common_first, common_n, name, &cwild);
        }

        if (key == NULL) {
            key = wild;
        }

        saved = mdm_profile_path_push(path, "%s%s", name, 0);

        if (key == NULL) {
            if (n != 0) {
                mdm_profile_problem(probs, MDM_PROFILE_WARNING, "unknown-key",
                                    path, "%s is not a key the schema knows",
                                    path);
            }

        } else {
            mdm_profile_walk_value(p, probs, key, val, path, depth);
        }

        path[saved] = '\0';
        free(name);
    }

    free(it);

    for (pass = 0; pass < 2; pass++) {
        unsigned  f = pass ? common_first : first;
        unsigned  m = pass ? common_n : n;

        for (i = 0; i < m; i++) {
            key = &mdm_profile_keys[f + i];

            if (!key->required || strcmp(key->name, MDM_KEY_WILDCARD) == 0
                || plist_dict_get_item(dict, key->name) != NULL
                || (pass && mdm_profile_child(first, n, key->name, &wild)
                            != NULL))
            {
                continue;
            }

            /* an encrypted profile has EncryptedPayloadContent instead */
            if (depth == 0 && p->encrypted
                && strcmp(key->name, "PayloadContent") == 0)
            {
                continue;
            }

            saved = mdm_profile_path_push(path, "%s%s", key->name, 0);
            mdm_profile_problem(probs, MDM_PROFILE_ERROR, "required", path,
                                "%s is required", path);
            path[saved] = '\0';
        }
    }
}


static void
mdm_profile_walk_value(mdm_profile_t *p, mdm_profile_problems_t *probs,
    const mdm_profile_key_t *key, plist_t node, char *path, int depth)
{
    if (key->os != 0) {
        mdm_profile_note_os_key(p, key, path);
    }

    if (!mdm_profile_type_matches(key->type, node)) {
        mdm_profile_problem(probs, MDM_PROFILE_ERROR, "type", path,
                            "%s must be a%s %s", path,
                            key->type == MDM_KEY_INTEGER
                            || key->type == MDM_KEY_ARRAY ? "n" : "",
                            mdm_command_key_type_name(key->type));
        return;
    }

    switch (key->type) {

    case MDM_KEY_DICT:
    case MDM_KEY_ARRAY:
        if (depth + 1 > MDM_PROFILE_MAX_DEPTH) {
            mdm_profile_problem(probs, MDM_PROFILE_ERROR, "depth", path,
                                "%s: nested deeper than %d levels", path,
                                MDM_PROFILE_MAX_DEPTH);
            return;
        }

        if (key->type == MDM_KEY_ARRAY) {
            mdm_profile_walk_array(p, probs, key, node, path, depth + 1);

        } else if (key->nsubkeys != 0) {
            mdm_profile_walk_dict(p, probs, node, key->subkeys, key->nsubkeys,
                                  0, 0, path, depth + 1);
        }

        return;

    default:
        mdm_profile_check_scalar(probs, key, node, path);
    }
}


static void
mdm_profile_walk_array(mdm_profile_t *p, mdm_profile_problems_t *probs,
    const mdm_profile_key_t *key, plist_t array, char *path, int depth)
{
    size_t                    saved;
    uint32_t                  i, count;
    const mdm_profile_key_t  *form;

    count = plist_array_get_size(array);

    if ((key->rep_min && count < key->rep_min)
        || (key->rep_max && count > key->rep_max))
    {
        mdm_profile_problem(probs, MDM_PROFILE_ERROR, "repetition", path,
                            "%s has %u elements, not %u..%u", path, count,
                            key->rep_min, key->rep_max);
    }

    form = key->nsubkeys ? &mdm_profile_keys[key->subkeys] : NULL;

    for (i = 0; form != NULL && i < count; i++) {
        saved = mdm_profile_path_push(path, "[%zu]", NULL, i);
        mdm_profile_walk_value(p, probs, form, plist_array_get_item(array, i),
                               path, depth);
        path[saved] = '\0';
    }
}


static void
mdm_profile_check_scalar(mdm_profile_problems_t *probs,
    const mdm_profile_key_t *key, plist_t node, const char *path)
{
    char      buf[64];
    char     *s;
    double    d;
    uint64_t  u;
    int64_t   n;

    switch (plist_get_node_type(node)) {

    case PLIST_STRING:
        s = NULL;
        plist_get_string_val(node, &s);

        if (s == NULL) {
            return;
        }

        if (key->format != NULL && !mdm_profile_format_matches(key->format, s))
        {
            mdm_profile_problem(probs, MDM_PROFILE_ERROR, "format", path,
                                "%s: \"%.64s\" does not match %s", path, s,
                                key->format);

        } else if (!mdm_profile_value_allowed(key, s, 0, 0)) {
            mdm_profile_problem(probs, MDM_PROFILE_ERROR, "value", path,
                                "%s: \"%.64s\" is not one of the allowed "
                                "values", path, s);
        }

        free(s);
        return;

    case PLIST_UINT:
        /* libplist 2.2 keeps negative integers as their two's complement */
        u = 0;
        plist_get_uint_val(node, &u);
        n = (int64_t) u;
        d = (double) n;
        snprintf(buf, sizeof(buf), "%lld", (long long) n);
        break;

    case PLIST_REAL:
        d = 0;
        plist_get_real_val(node, &d);
        snprintf(buf, sizeof(buf), "%g", d);
        break;

    default:
        return;
    }

    if (key->has_range && (d < key->min || d > key->max)) {
        mdm_profile_problem(probs, MDM_PROFILE_ERROR, "range", path,
                            "%s: %s is outside %g..%g", path, buf, key->min,
                            key->max);

    } else if (!mdm_profile_value_allowed(key, buf, 1, d)) {
        mdm_profile_problem(probs, MDM_PROFILE_ERROR, "value", path,
                            "%s: %s is not one of the allowed values", path,
                            buf);
    }
}


static const mdm_profile_key_t *
mdm_profile_child(unsigned first, unsigned n, const char *name,
    const mdm_profile_key_t **wildcard)
{
    unsigned  i;

    *wildcard = NULL;

    for (i = 0; i < n; i++) {
        if (strcmp(mdm_profile_keys[first + i].name, MDM_KEY_WILDCARD) == 0) {
            *wildcard = &mdm_profile_keys[first + i];

        } else if (strcmp(mdm_profile_keys[first + i].name, name) == 0) {
            return &mdm_profile_keys[first + i];
        }
    }

    return NULL;
}


static int
mdm_profile_type_matches(unsigned type, plist_t node)
{
    plist_type  t;

    t = plist_get_node_type(node);

    switch (type) {

    case MDM_KEY_STRING:
        return t == PLIST_STRING;

    case MDM_KEY_INTEGER:
        return t == PLIST_UINT;

    case MDM_KEY_REAL:
        /* <integer>1</integer> where a real is asked is what plist
         * editors write for whole numbers; devices take it */
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


static int
mdm_profile_value_allowed(const mdm_profile_key_t *key, const char *s,
    int numeric, double d)
{
    char        *end;
    unsigned     i;
    const char  *v;

    if (key->nvalues == 0) {
        return 1;
    }

    for (i = 0; i < key->nvalues; i++) {
        v = mdm_profile_values[key->values + i];

        if (strcmp(v, s) == 0) {
            return 1;
        }

        /* 1.0 in the table, 1 in the profile */
        if (numeric && strtod(v, &end) == d && *end == '\0') {
            return 1;
        }
    }

    return 0;
}


static int
mdm_profile_format_matches(const char *format, const char *s)
{
    int      rc;
    regex_t  re;

    /* a handful of keys have a format: compiling on use is cheap enough
     * and keeps libmdm free of state */
    if (regcomp(&re, format, REG_EXTENDED | REG_NOSUB) != 0) {
        return 1;
    }

    rc = regexec(&re, s, 0, NULL, 0);
    regfree(&re);

    return rc == 0;
}


static void
mdm_profile_note_os_key(mdm_profile_t *p, const mdm_profile_key_t *key,
    const char *path)
{
    mdm_profile_os_key_t  *k;

    if (p->nos_keys == MDM_PROFILE_OS_KEYS_MAX) {
        return;
    }

    k = &p->os_keys[p->nos_keys++];
    k->key = key;
    snprintf(k->path, sizeof(k->path), "%s", path);
}


/* Appends ".name" (or "name" at the top, or "[i]"); returns the length to
 * cut back to. A path too long for the buffer is cut. */
static size_t
mdm_profile_path_push(char *path, const char *fmt, const char *name, size_t i)
{
    int     n;
    size_t  saved;

    saved = strlen(path);

    if (name != NULL) {
        n = snprintf(path + saved, MDM_PROFILE_PATH_MAX - saved, fmt,
                     saved ? "." : "", name);

    } else {
        n = snprintf(path + saved, MDM_PROFILE_PATH_MAX - saved, fmt, i);
    }

    (void) n;

    return saved;
}
