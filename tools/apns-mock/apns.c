/*
 * What APNs would answer to one push (protocol.md §5): fault injection
 * first, then request validation in a fixed order, then the script.
 */

#include <ctype.h>
#include <string.h>

#include "mock.h"

#define AM_PATH_PREFIX "/3/device/"


typedef struct {
    const char     *name;
    size_t          len;
} am_name_t;


static const am_name_t am_header_names[AM_H_COUNT] = {
    [AM_H_METHOD]      = { ":method", 7 },
    [AM_H_PATH]        = { ":path", 5 },
    [AM_H_TOPIC]       = { "apns-topic", 10 },
    [AM_H_PUSH_TYPE]   = { "apns-push-type", 14 },
    [AM_H_PRIORITY]    = { "apns-priority", 13 },
    [AM_H_EXPIRATION]  = { "apns-expiration", 15 },
    [AM_H_ID]          = { "apns-id", 7 },
    [AM_H_COLLAPSE_ID] = { "apns-collapse-id", 16 },
};


static int am_field_is(const am_field_t *f, const char *s);
static int am_is_hex(const char *s, size_t len);
static int am_is_digits(const char *s, size_t len);
static int am_is_uuid(const char *s, size_t len);
static int am_fault(am_server_t *srv, am_answer_t *ans);
static const char *am_check_request(const am_stream_t *s, int *status);
static const char *am_check_headers(const am_stream_t *s, const char *topic);
static const char *am_check_body(const am_stream_t *s, int *status);
static void am_apns_id(am_server_t *srv, am_stream_t *s);


void
am_apns_stream_reset(am_stream_t *s, int32_t id)
{
    int  i;

    /* Only the bookkeeping: buffers are overwritten before use. */
    for (i = 0; i < AM_H_COUNT; i++) {
        s->hdr[i].len = 0;
        s->hdr[i].count = 0;
        s->hdr[i].truncated = 0;
        s->hdr[i].v[0] = '\0';
    }
    s->id = id;
    s->answered = 0;
    s->body_len = 0;
    s->body_overflow = 0;
    s->resp_len = 0;
    s->resp_sent = 0;
}


void
am_apns_header(am_stream_t *s, const uint8_t *name, size_t namelen,
    const uint8_t *value, size_t valuelen)
{
    am_field_t  *f;
    int          i;

    for (i = 0; i < AM_H_COUNT; i++) {
        if (am_header_names[i].len == namelen
            && memcmp(am_header_names[i].name, name, namelen) == 0)
        {
            break;
        }
    }
    if (i == AM_H_COUNT) {
        return;
    }

    f = &s->hdr[i];
    if (f->count++ > 0) {
        return;
    }
    if (valuelen > AM_MAX_FIELD) {
        valuelen = AM_MAX_FIELD;
        f->truncated = 1;
    }
    memcpy(f->v, value, valuelen);
    f->v[valuelen] = '\0';
    f->len = valuelen;
}


void
am_apns_body(am_stream_t *s, const uint8_t *data, size_t len)
{
    if (s->body_overflow || s->body_len + len > AM_MAX_PAYLOAD) {
        s->body_overflow = 1;
        return;
    }
    memcpy(s->body + s->body_len, data, len);
    s->body_len += len;
}


static int
am_field_is(const am_field_t *f, const char *s)
{
    return !f->truncated && strcmp(f->v, s) == 0;
}


static int
am_is_hex(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (!isxdigit((unsigned char) s[i])) {
            return 0;
        }
    }
    return 1;
}


static int
am_is_digits(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > 19) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}


static int
am_is_uuid(const char *s, size_t len)
{
    size_t  i;

    if (len != AM_UUID_LEN) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') {
                return 0;
            }
        } else if (!isxdigit((unsigned char) s[i])) {
            return 0;
        }
    }
    return 1;
}


/* --fail-every and --burst-429 count every request the mock receives. */
static int
am_fault(am_server_t *srv, am_answer_t *ans)
{
    const am_config_t  *cfg = &srv->cfg;
    unsigned long       n = srv->stats.requests;

    if (cfg->fail_every && n % cfg->fail_every == 0) {
        ans->status = 503;
        ans->reason = "ServiceUnavailable";
        return 1;
    }

    if (cfg->burst_len
        && (n - 1) % (cfg->burst_after + cfg->burst_len) >= cfg->burst_after)
    {
        ans->status = 429;
        ans->reason = "TooManyRequests";
        return 1;
    }

    return 0;
}


/* Path, method and device token. */
static const char *
am_check_request(const am_stream_t *s, int *status)
{
    const am_field_t  *path = &s->hdr[AM_H_PATH];
    const char        *token;
    size_t             len;

    if (path->len < sizeof(AM_PATH_PREFIX) - 1
        || memcmp(path->v, AM_PATH_PREFIX, sizeof(AM_PATH_PREFIX) - 1) != 0)
    {
        *status = 404;
        return "BadPath";
    }
    token = path->v + sizeof(AM_PATH_PREFIX) - 1;
    len = path->len - (sizeof(AM_PATH_PREFIX) - 1);
    if (!am_field_is(&s->hdr[AM_H_METHOD], "POST")) {
        *status = 405;
        return "MethodNotAllowed";
    }

    *status = 400;
    if (len == 0) {
        return "MissingDeviceToken";
    }
    if (path->truncated || len > AM_MAX_TOKEN || len % 2
        || !am_is_hex(token, len))
    {
        return "BadDeviceToken";
    }

    return NULL;
}


/* The apns-* headers; any failure is a 400. */
static const char *
am_check_headers(const am_stream_t *s, const char *topic)
{
    const am_field_t  *h = s->hdr;
    int                i;

    for (i = 0; i < AM_H_COUNT; i++) {
        if (h[i].count > 1) {
            return "DuplicateHeaders";
        }
    }

    if (h[AM_H_ID].count && !am_is_uuid(h[AM_H_ID].v, h[AM_H_ID].len)) {
        return "BadMessageId";
    }
    /*
     * With certificate auth the topic defaults to the certificate's;
     * an empty one is malformed, another one is not ours to push to.
     */
    if (h[AM_H_TOPIC].count && h[AM_H_TOPIC].len == 0) {
        return "BadTopic";
    }
    if (h[AM_H_TOPIC].count && !am_field_is(&h[AM_H_TOPIC], topic)) {
        return "TopicDisallowed";
    }
    if (h[AM_H_PUSH_TYPE].count && !am_field_is(&h[AM_H_PUSH_TYPE], "mdm")) {
        return "InvalidPushType";
    }
    if (h[AM_H_PRIORITY].count
        && !am_field_is(&h[AM_H_PRIORITY], "10")
        && !am_field_is(&h[AM_H_PRIORITY], "5")
        && !am_field_is(&h[AM_H_PRIORITY], "1"))
    {
        return "BadPriority";
    }
    if (h[AM_H_EXPIRATION].count
        && !am_is_digits(h[AM_H_EXPIRATION].v, h[AM_H_EXPIRATION].len))
    {
        return "BadExpirationDate";
    }
    if (h[AM_H_COLLAPSE_ID].count
        && h[AM_H_COLLAPSE_ID].len > AM_MAX_COLLAPSE_ID)
    {
        return "BadCollapseId";
    }

    return NULL;
}


static const char *
am_check_body(const am_stream_t *s, int *status)
{
    if (s->body_overflow) {
        *status = 413;
        return "PayloadTooLarge";
    }

    *status = 400;
    if (s->body_len == 0) {
        return "PayloadEmpty";
    }
    /* Not an Apple reason: APNs documents none for a malformed body. */
    if (!am_payload_is_mdm(s->body, s->body_len)) {
        return "BadPayload";
    }

    return NULL;
}


/* Echo the client's apns-id, as APNs does, or make a fresh UUID. */
static void
am_apns_id(am_server_t *srv, am_stream_t *s)
{
    const am_field_t  *id = &s->hdr[AM_H_ID];

    if (id->count == 1 && am_is_uuid(id->v, id->len)) {
        memcpy(s->apns_id, id->v, AM_UUID_LEN + 1);
        return;
    }

    /* The prefix is random per process; the sequence keeps ids unique. */
    snprintf(s->apns_id, sizeof(s->apns_id), "%s%012llx", srv->uuid_prefix,
             (unsigned long long) (++srv->uuid_seq & 0xffffffffffffULL));
}


am_answer_t
am_apns_answer(am_server_t *srv, const char *topic, int topic_ok,
    am_stream_t *s)
{
    am_answer_t   ans = { 200, NULL };
    const char   *reason;
    const char   *token = s->hdr[AM_H_PATH].v + sizeof(AM_PATH_PREFIX) - 1;
    int           status;

    srv->stats.requests++;
    am_apns_id(srv, s);

    if (am_fault(srv, &ans)) {
        return ans;
    }

    if (!topic_ok) {
        ans.status = 403;
        ans.reason = "BadCertificate";
        return ans;
    }

    reason = am_check_request(s, &status);
    if (reason == NULL) {
        status = 400;
        reason = am_check_headers(s, topic);
    }
    if (reason == NULL) {
        reason = am_check_body(s, &status);
    }
    if (reason != NULL) {
        ans.status = status;
        ans.reason = reason;
        return ans;
    }

    am_script_take(srv->script, token, strlen(token), &ans);
    return ans;
}


/* "<unix ms> <status> <topic> <token> <body>", one line per push. */
void
am_apns_log(am_server_t *srv, const char *topic, const am_stream_t *s,
    am_answer_t ans)
{
    const am_field_t  *path = &s->hdr[AM_H_PATH];
    const char        *token = "-";
    char               body[AM_MAX_PAYLOAD + 1];
    size_t             i;

    if (path->len > sizeof(AM_PATH_PREFIX) - 1
        && memcmp(path->v, AM_PATH_PREFIX, sizeof(AM_PATH_PREFIX) - 1) == 0)
    {
        token = path->v + sizeof(AM_PATH_PREFIX) - 1;
    }

    /* Keep one push on one line whatever the body holds. */
    for (i = 0; i < s->body_len; i++) {
        unsigned char c = (unsigned char) s->body[i];
        body[i] = (c < 0x20 || c == 0x7f) ? '.' : (char) c;
    }
    body[i] = '\0';

    fprintf(srv->log, "%lld %d %s %s %s\n",
            (long long) (ev_now(srv->loop) * 1000), ans.status,
            topic[0] ? topic : "-", token, i ? body : "-");
}
