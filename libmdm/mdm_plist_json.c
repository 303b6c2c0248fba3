/*
 * plist to JSON (mdm_plist_json.h). The trees come from mdm_plist_parse,
 * which bounds their depth, so the recursion is bounded too.
 */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "mdm_plist.h"
#include "mdm_plist_json.h"

/* seconds from the Unix epoch to plist dates' epoch, 2001-01-01 */
#define MDM_PLIST_EPOCH  978307200


static json_t *mdm_plist_dict_to_json(plist_t node);
static json_t *mdm_plist_array_to_json(plist_t node);
static json_t *mdm_plist_data_to_json(plist_t node);
static json_t *mdm_plist_date_to_json(plist_t node);
static json_t *mdm_plist_string_to_json(plist_t node);


json_t *
mdm_plist_to_json(plist_t node)
{
    double    d;
    uint8_t   b;
    uint64_t  u;

    switch (plist_get_node_type(node)) {

    case PLIST_DICT:
        return mdm_plist_dict_to_json(node);

    case PLIST_ARRAY:
        return mdm_plist_array_to_json(node);

    case PLIST_STRING:
    case PLIST_KEY:
        return mdm_plist_string_to_json(node);

    case PLIST_BOOLEAN:
        plist_get_bool_val(node, &b);
        return json_boolean(b);

    case PLIST_UINT:
        u = 0;
        plist_get_uint_val(node, &u);
        /* libplist 2.2 keeps negative integers as their two's complement */
        return json_integer((json_int_t) u);

    case PLIST_UID:
        u = 0;
        plist_get_uid_val(node, &u);
        return json_integer((json_int_t) u);

    case PLIST_REAL:
        d = 0;
        plist_get_real_val(node, &d);
        return isfinite(d) ? json_real(d) : json_null();

    case PLIST_DATE:
        return mdm_plist_date_to_json(node);

    case PLIST_DATA:
        return mdm_plist_data_to_json(node);

    default:
        return json_null();
    }
}


json_t *
mdm_plist_key_to_json(const char *body, size_t len, const char *key)
{
    json_t     *json;
    plist_t     dict, val;
    mdm_err_t   err;

    if (mdm_plist_parse(body, len, len, &dict, &err) != MDM_OK) {
        return NULL;
    }

    val = plist_dict_get_item(dict, key);
    json = val ? mdm_plist_to_json(val) : NULL;

    plist_free(dict);

    return json;
}


static json_t *
mdm_plist_dict_to_json(plist_t node)
{
    int              rc;
    char            *key;
    json_t          *obj;
    plist_t          val;
    plist_dict_iter  it;

    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }

    it = NULL;
    plist_dict_new_iter(node, &it);
    if (it == NULL) {
        json_decref(obj);
        return NULL;
    }

    for ( ;; ) {
        key = NULL;
        val = NULL;
        plist_dict_next_item(node, it, &key, &val);
        if (key == NULL) {
            break;
        }

        rc = json_object_set_new(obj, key, mdm_plist_to_json(val));
        free(key);

        if (rc != 0) {
            json_decref(obj);
            obj = NULL;
            break;
        }
    }

    free(it);

    return obj;
}


static json_t *
mdm_plist_array_to_json(plist_t node)
{
    json_t    *arr;
    uint32_t   i, n;

    arr = json_array();
    if (arr == NULL) {
        return NULL;
    }

    n = plist_array_get_size(node);

    for (i = 0; i < n; i++) {
        if (json_array_append_new(arr,
                mdm_plist_to_json(plist_array_get_item(node, i)))
            != 0)
        {
            json_decref(arr);
            return NULL;
        }
    }

    return arr;
}


static json_t *
mdm_plist_string_to_json(plist_t node)
{
    json_t      *s;
    uint64_t     len;
    const char  *p;

    len = 0;
    p = plist_get_string_ptr(node, &len);
    if (p == NULL) {
        return json_null();
    }

    s = json_stringn(p, len);

    return s ? s : json_null();
}


static json_t *
mdm_plist_data_to_json(plist_t node)
{
    char           *b64;
    json_t         *s;
    uint64_t        len;
    const uint8_t  *p;

    len = 0;
    p = (const uint8_t *) plist_get_data_ptr(node, &len);

    if (len > INT32_MAX / 2) {
        return json_null();
    }

    b64 = malloc(4 * ((len + 2) / 3) + 1);
    if (b64 == NULL) {
        return NULL;
    }

    EVP_EncodeBlock((unsigned char *) b64, p ? p : (const uint8_t *) "",
                    (int) len);
    s = json_string(b64);
    free(b64);

    return s;
}


static json_t *
mdm_plist_date_to_json(plist_t node)
{
    char       buf[32];
    int32_t    sec, usec;
    time_t     t;
    struct tm  tm;

    sec = 0;
    usec = 0;
    plist_get_date_val(node, &sec, &usec);

    t = (time_t) sec + MDM_PLIST_EPOCH;

    if (gmtime_r(&t, &tm) == NULL
        || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    {
        return json_null();
    }

    return json_string(buf);
}
