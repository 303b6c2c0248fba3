/*
 * Field names and types follow NanoMDM's microwebhook package, which
 * copies MicroMDM's: raw_payload is base64 (Go's []byte), url_params an
 * object of strings (first value of a repeated key), token_update_tally a
 * number, created_at RFC 3339 in UTC. Absent identifiers are left out, as
 * Go's omitempty does.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "webhook_json.h"

typedef enum { BODY_CHECKIN, BODY_ACKNOWLEDGE, BODY_PUSH } body_kind_t;


static body_kind_t
body_kind(const char *topic)
{
    if (strcmp(topic, "mdm.Connect") == 0
        || strcmp(topic, "mdm.CommandExpired") == 0)
    {
        return BODY_ACKNOWLEDGE;
    }
    if (strcmp(topic, "mdm.PushFailed") == 0) {
        return BODY_PUSH;
    }
    return BODY_CHECKIN;
}


/* Sets key to a string unless s is absent or empty; -1 if not UTF-8. */
static int
set_str(json_t *obj, const char *key, const char *s)
{
    if (s == NULL || *s == '\0') {
        return 0;
    }
    return json_object_set_new(obj, key, json_string(s));
}


static int
hex_value(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}


/* Decodes %XX and '+' of a query component of n bytes into out. */
static void
unescape(const char *s, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n
                   && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0)
        {
            out[o++] = (char) (hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
}


/* The query string as {"key": "first value"}; pairs not UTF-8 are left out. */
static json_t *
url_params(const char *query)
{
    json_t *obj = json_object();

    if (obj == NULL || query == NULL) {
        return obj;
    }
    size_t qlen = strlen(query);
    char *key = malloc(qlen + 1), *value = malloc(qlen + 1);
    if (key == NULL || value == NULL) {
        free(key);
        free(value);
        json_decref(obj);
        return NULL;
    }
    for (const char *p = query; *p; ) {
        size_t n = strcspn(p, "&");
        const char *eq = memchr(p, '=', n);
        size_t klen = eq ? (size_t) (eq - p) : n;
        unescape(p, klen, key);
        unescape(eq ? eq + 1 : p + n, eq ? n - klen - 1 : 0, value);
        if (key[0] != '\0' && json_object_get(obj, key) == NULL) {
            json_t *v = json_string(value);
            if (v) {
                json_object_set_new(obj, key, v);
            }
        }
        p += n;
        if (*p == '&') {
            p++;
        }
    }
    free(key);
    free(value);
    return obj;
}


/* Go marshals a nil []byte as null, any other as standard base64. */
static json_t *
base64(const unsigned char *data, size_t len)
{
    if (data == NULL) {
        return json_null();
    }
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out == NULL) {
        return NULL;
    }
    EVP_EncodeBlock((unsigned char *) out, data, (int) len);
    json_t *s = json_string(out);
    free(out);
    return s;
}


static void
rfc3339(long long ms, char *out, size_t len)
{
    time_t secs = (time_t) (ms / 1000);
    struct tm tm;
    char date[32];

    gmtime_r(&secs, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%03dZ", date, (int) (ms % 1000));
}


/* NanoMDM's enrollment identifiers: the ID we key everything by. */
static json_t *
enrollment_ids(const mdm_event_t *ev)
{
    json_t *ids = json_object();

    if (ids == NULL
        || json_object_set_new(ids, "id", json_string(ev->id)) != 0
        || set_str(ids, "parent_id", ev->parent) != 0
        || set_str(ids, "type", ev->type) != 0)
    {
        json_decref(ids);
        return NULL;
    }
    return ids;
}


static int
fill_checkin(json_t *b, const mdm_event_t *ev, const char *tally)
{
    if (set_str(b, "udid", ev->udid) != 0
        || set_str(b, "enrollment_id", ev->enrollment_id) != 0
        || json_object_set_new(b, "url_params", url_params(ev->params)) != 0
        || json_object_set_new(b, "raw_payload",
                               base64(ev->raw, ev->raw_len)) != 0)
    {
        return -1;
    }
    if (tally && *tally) {
        return json_object_set_new(b, "token_update_tally",
                                   json_integer(atoll(tally)));
    }
    return 0;
}


static int
fill_acknowledge(json_t *b, const mdm_event_t *ev)
{
    const char *status = ev->status ? ev->status
                         : strcmp(ev->topic, "mdm.CommandExpired") == 0
                           ? "Expired" : "";
    json_t *params = url_params(ev->params);

    if (params == NULL
        || set_str(b, "udid", ev->udid) != 0
        || set_str(b, "enrollment_id", ev->enrollment_id) != 0
        || json_object_set_new(b, "status", json_string(status)) != 0
        || set_str(b, "command_uuid", ev->command_uuid) != 0)
    {
        json_decref(params);
        return -1;
    }
    /* omitempty on the acknowledge side only, as in NanoMDM */
    if (json_object_size(params) > 0) {
        json_object_set_new(b, "url_params", params);
    } else {
        json_decref(params);
    }
    return json_object_set_new(b, "raw_payload",
                               base64(ev->raw, ev->raw_len));
}


/* Ours (mdm.PushFailed): the APNs status (0: no answer) and reason. */
static int
fill_push(json_t *b, const mdm_event_t *ev)
{
    json_t *params = url_params(ev->params);
    json_t *reason = params ? json_object_get(params, "reason") : NULL;
    int rc = json_object_set_new(b, "status",
                 json_integer(ev->status ? atoll(ev->status) : 0));

    if (rc == 0) {
        rc = json_object_set_new(b, "reason",
                 json_string(reason ? json_string_value(reason) : ""));
    }
    json_decref(params);
    return rc;
}


char *
wk_webhook_json(const mdm_event_t *ev, const char *event_id,
                const char *tally, long long created_ms, char *err,
                size_t errlen)
{
    static const char *names[] = {
        "checkin_event", "acknowledge_event", "push_event"
    };
    char created[64];
    char *out = NULL;
    body_kind_t kind = body_kind(ev->topic);
    json_t *root = json_object(), *b = json_object();

    rfc3339(ev->ts_ms > 0 ? (long long) ev->ts_ms : created_ms, created,
            sizeof(created));
    int rc = (root && b) ? 0 : -1;
    if (rc == 0) {
        rc = kind == BODY_CHECKIN ? fill_checkin(b, ev, tally)
             : kind == BODY_ACKNOWLEDGE ? fill_acknowledge(b, ev)
             : fill_push(b, ev);
    }
    if (rc == 0
        && json_object_set_new(b, "ids", enrollment_ids(ev)) == 0
        && json_object_set_new(root, "topic", json_string(ev->topic)) == 0
        && json_object_set_new(root, "event_id", json_string(event_id)) == 0
        && json_object_set_new(root, "created_at", json_string(created)) == 0)
    {
        /* set_new takes b's reference whatever it returns */
        rc = json_object_set_new(root, names[kind], b);
        b = NULL;
        if (rc == 0) {
            out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
        }
    }
    if (out == NULL) {
        snprintf(err, errlen, "event not representable as JSON "
                 "(a string is not UTF-8)");
    }
    json_decref(b);
    json_decref(root);
    return out;
}
