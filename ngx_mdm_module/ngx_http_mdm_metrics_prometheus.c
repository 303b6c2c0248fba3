/*
 * The Prometheus text exposition format 0.0.4 of the counters that
 * ngx_http_mdm_metrics.c keeps, followed by the fleet figures of
 * metrics.lua (docs/metrics.md). Label combinations that were never
 * counted are left out; the response is built in the request's pool.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_keys.h"
#include "ngx_http_mdm_metrics_shm.h"


/* the longest line printed; worker fields are checked against it */
#define NGX_HTTP_MDM_METRICS_LINE       1024
#define NGX_HTTP_MDM_METRICS_BUF        16384


/* the response body, a chain of buffers filled line by line */
typedef struct {
    ngx_http_request_t          *r;
    ngx_http_mdm_metrics_shm_t  *m;
    ngx_chain_t                 *out;
    ngx_chain_t                **last;
    ngx_buf_t                   *buf;
    off_t                        len;
    ngx_uint_t                   failed;
} ngx_http_mdm_metrics_out_t;


static void ngx_http_mdm_metrics_prometheus_device(
    ngx_http_mdm_metrics_out_t *o);
static const char *ngx_http_mdm_metrics_prometheus_message(ngx_uint_t m);
static void ngx_http_mdm_metrics_prometheus_api(ngx_http_mdm_metrics_out_t *o);
static void ngx_http_mdm_metrics_prometheus_identity(
    ngx_http_mdm_metrics_out_t *o);
static void ngx_http_mdm_metrics_prometheus_refused(
    ngx_http_mdm_metrics_out_t *o);
static void ngx_http_mdm_metrics_prometheus_list(
    ngx_http_mdm_metrics_out_t *o, const char *name, const char *help,
    const char *label, ngx_str_t *values, ngx_atomic_t *counters,
    ngx_uint_t n);
static void ngx_http_mdm_metrics_prometheus_latency(
    ngx_http_mdm_metrics_out_t *o);
static ngx_uint_t ngx_http_mdm_metrics_prometheus_redis(
    ngx_http_mdm_metrics_out_t *o, redisReply *reply);
static void ngx_http_mdm_metrics_prometheus_streams(
    ngx_http_mdm_metrics_out_t *o, redisReply *streams);
static void ngx_http_mdm_metrics_prometheus_worker(
    ngx_http_mdm_metrics_out_t *o, redisReply *worker);
static ngx_uint_t ngx_http_mdm_metrics_prometheus_valid_field(
    redisReply *name, redisReply *value, size_t *base);
static ngx_uint_t ngx_http_mdm_metrics_prometheus_valid_label(
    redisReply *value);
static void ngx_http_mdm_metrics_prometheus_printf(
    ngx_http_mdm_metrics_out_t *o, const char *fmt, ...);


static ngx_str_t  ngx_http_mdm_metrics_endpoints[NGX_HTTP_MDM_METRICS_ENDPOINTS]
    = {
    ngx_string("checkin"),
    ngx_string("connect"),
    ngx_string("server")        /* refused before it said which */
};


/* in the order of ngx_http_mdm_metrics_known[], then the classes */
static ngx_str_t  ngx_http_mdm_metrics_codes[NGX_HTTP_MDM_METRICS_CODES] = {
    ngx_string("200"), ngx_string("204"), ngx_string("400"),
    ngx_string("401"), ngx_string("403"), ngx_string("404"),
    ngx_string("405"), ngx_string("410"), ngx_string("413"),
    ngx_string("499"), ngx_string("500"), ngx_string("501"),
    ngx_string("502"), ngx_string("503"), ngx_string("504"),
    ngx_string("1xx"), ngx_string("2xx"), ngx_string("3xx"),
    ngx_string("4xx"), ngx_string("5xx"),
    ngx_string("000")           /* no response: the client went away */
};


/* in the order of ngx_mdm_redis_event_e, which starts with the plain reply */
static ngx_str_t  ngx_http_mdm_metrics_redis_errors[NGX_HTTP_MDM_METRICS_REDIS]
    = {
    ngx_string("error_reply"),
    ngx_string("timeout"),
    ngx_string("unavailable"),
    ngx_string("connection_lost"),
    ngx_string("connect_failed")
};


/* in the order of ngx_mdm_redis_event_e from NGX_MDM_REDIS_MOVED on */
static ngx_str_t  ngx_http_mdm_metrics_redis_cluster[NGX_HTTP_MDM_METRICS_CLUSTER]
    = {
    ngx_string("moved"),
    ngx_string("ask"),
    ngx_string("tryagain"),
    ngx_string("clusterdown")
};


/* the "le" labels (seconds) of ngx_http_mdm_metrics_bounds[] */
static ngx_str_t  ngx_http_mdm_metrics_le[] = {
    ngx_string("0.00025"), ngx_string("0.0005"), ngx_string("0.001"),
    ngx_string("0.002"), ngx_string("0.005"), ngx_string("0.01"),
    ngx_string("0.025"), ngx_string("0.05"), ngx_string("0.1"),
    ngx_string("0.25"), ngx_string("+Inf")
};


ngx_int_t
ngx_http_mdm_metrics_prometheus_send(ngx_http_request_t *r,
    ngx_http_mdm_metrics_shm_t *m, redisReply *reply)
{
    ngx_int_t                    rc;
    ngx_uint_t                   up;
    ngx_http_mdm_metrics_out_t   o;

    if (m == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ngx_memzero(&o, sizeof(ngx_http_mdm_metrics_out_t));
    o.r = r;
    o.m = m;
    o.last = &o.out;

    ngx_http_mdm_metrics_prometheus_device(&o);
    ngx_http_mdm_metrics_prometheus_api(&o);
    ngx_http_mdm_metrics_prometheus_identity(&o);
    ngx_http_mdm_metrics_prometheus_refused(&o);
    ngx_http_mdm_metrics_prometheus_list(&o, "mdm_redis_errors_total",
        "Redis failures seen by nginx, by kind.",
        "error", ngx_http_mdm_metrics_redis_errors, m->redis_errors,
        NGX_HTTP_MDM_METRICS_REDIS);
    ngx_http_mdm_metrics_prometheus_list(&o,
        "mdm_redis_cluster_redirects_total",
        "Redis Cluster replies the cluster client followed (resent), by "
        "reply.",
        "reply", ngx_http_mdm_metrics_redis_cluster, m->redis_cluster,
        NGX_HTTP_MDM_METRICS_CLUSTER);
    ngx_http_mdm_metrics_prometheus_latency(&o);

    up = ngx_http_mdm_metrics_prometheus_redis(&o, reply);

    ngx_http_mdm_metrics_prometheus_printf(&o,
        "# HELP mdm_redis_up Whether Redis answered the metrics script.\n"
        "# TYPE mdm_redis_up gauge\n"
        "mdm_redis_up %ui\n", up);

    if (o.failed || o.out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    o.buf->last_buf = (r == r->main) ? 1 : 0;
    o.buf->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = o.len;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, o.out);
}


/* Label combinations never seen are left out: most of them never are. */
static void
ngx_http_mdm_metrics_prometheus_device(ngx_http_mdm_metrics_out_t *o)
{
    ngx_uint_t         e, m, c;
    ngx_atomic_uint_t  n;

    ngx_http_mdm_metrics_prometheus_printf(o,
        "# HELP mdm_device_requests_total Device requests by endpoint, "
        "check-in MessageType or report Status, and HTTP status.\n"
        "# TYPE mdm_device_requests_total counter\n");

    for (e = 0; e < NGX_HTTP_MDM_METRICS_ENDPOINTS; e++) {
        for (m = 0; m < NGX_HTTP_MDM_METRICS_MESSAGES; m++) {
            for (c = 0; c < NGX_HTTP_MDM_METRICS_CODES; c++) {
                n = o->m->device[e][m][c];
                if (n == 0) {
                    continue;
                }

                ngx_http_mdm_metrics_prometheus_printf(o,
                    "mdm_device_requests_total{endpoint=\"%V\","
                    "message=\"%s\",code=\"%V\"} %uA\n",
                    &ngx_http_mdm_metrics_endpoints[e],
                    ngx_http_mdm_metrics_prometheus_message(m),
                    &ngx_http_mdm_metrics_codes[c], n);
            }
        }
    }
}


/* The label of a message index: libmdm's own names of its codes. */
static const char *
ngx_http_mdm_metrics_prometheus_message(ngx_uint_t m)
{
    if (m == 0) {
        return "none";
    }

    if (m <= NGX_HTTP_MDM_METRICS_CHECKINS) {
        return mdm_checkin_type_name((mdm_checkin_type_e) m);
    }

    return mdm_status_name((mdm_status_e) (m - NGX_HTTP_MDM_METRICS_CHECKINS));
}


static void
ngx_http_mdm_metrics_prometheus_api(ngx_http_mdm_metrics_out_t *o)
{
    ngx_uint_t         i, c;
    ngx_atomic_uint_t  n;

    ngx_http_mdm_metrics_prometheus_printf(o,
        "# HELP mdm_api_requests_total API requests by route and HTTP "
        "status.\n"
        "# TYPE mdm_api_requests_total counter\n");

    for (i = 0; i < NGX_HTTP_MDM_METRICS_ROUTES; i++) {
        for (c = 0; c < NGX_HTTP_MDM_METRICS_CODES; c++) {
            n = o->m->api[i][c];
            if (n == 0) {
                continue;
            }

            ngx_http_mdm_metrics_prometheus_printf(o,
                "mdm_api_requests_total{route=\"%V\",code=\"%V\"} %uA\n",
                &ngx_http_mdm_metrics_routes[i],
                &ngx_http_mdm_metrics_codes[c], n);
        }
    }
}


/* Every reason libmdm names, zeros too; the labels are its names. */
static void
ngx_http_mdm_metrics_prometheus_identity(ngx_http_mdm_metrics_out_t *o)
{
    ngx_uint_t  i;

    ngx_http_mdm_metrics_prometheus_printf(o,
        "# HELP mdm_identity_failures_total Device requests refused for who "
        "sent them, by reason.\n"
        "# TYPE mdm_identity_failures_total counter\n");

    for (i = MDM_IDENTITY_OK + 1; i < MDM_IDENTITY_REASONS; i++) {
        ngx_http_mdm_metrics_prometheus_printf(o,
            "mdm_identity_failures_total{reason=\"%s\"} %uA\n",
            mdm_identity_reason_name(i), o->m->identity[i]);
    }
}


/* Every reason for both endpoints, zeros too; the labels are libmdm's. */
static void
ngx_http_mdm_metrics_prometheus_refused(ngx_http_mdm_metrics_out_t *o)
{
    ngx_uint_t  e, i;

    ngx_http_mdm_metrics_prometheus_printf(o,
        "# HELP mdm_device_bodies_refused_total Check-in and report bodies "
        "refused before anything was stored, by endpoint and reason.\n"
        "# TYPE mdm_device_bodies_refused_total counter\n");

    for (e = 0; e < NGX_HTTP_MDM_METRICS_EP_SERVER; e++) {
        for (i = 0; i < MDM_REFUSED_REASONS; i++) {
            ngx_http_mdm_metrics_prometheus_printf(o,
                "mdm_device_bodies_refused_total{endpoint=\"%V\","
                "reason=\"%s\"} %uA\n",
                &ngx_http_mdm_metrics_endpoints[e], mdm_refused_name(i),
                o->m->refused[e][i]);
        }
    }
}


/* A counter with one label, every value printed, zeros too. */
static void
ngx_http_mdm_metrics_prometheus_list(ngx_http_mdm_metrics_out_t *o,
    const char *name, const char *help, const char *label,
    ngx_str_t *values, ngx_atomic_t *counters, ngx_uint_t n)
{
    ngx_uint_t  i;

    ngx_http_mdm_metrics_prometheus_printf(o,
        "# HELP %s %s\n# TYPE %s counter\n", name, help, name);

    for (i = 0; i < n; i++) {
        ngx_http_mdm_metrics_prometheus_printf(o, "%s{%s=\"%V\"} %uA\n",
                                               name, label, &values[i],
                                               counters[i]);
    }
}


/*
 * The buckets are kept apart and added up here, so the cumulative counts
 * and _count always agree, whatever the workers do meanwhile.
 */
static void
ngx_http_mdm_metrics_prometheus_latency(ngx_http_mdm_metrics_out_t *o)
{
    ngx_uint_t         i;
    ngx_atomic_uint_t  total, usec;

    ngx_http_mdm_metrics_prometheus_printf(o,
        "# HELP mdm_redis_command_duration_seconds Redis commands from "
        "sending to the reply.\n"
        "# TYPE mdm_redis_command_duration_seconds histogram\n");

    total = 0;

    for (i = 0; i <= NGX_HTTP_MDM_METRICS_BUCKETS; i++) {
        total += o->m->redis_latency[i];

        ngx_http_mdm_metrics_prometheus_printf(o,
            "mdm_redis_command_duration_seconds_bucket{le=\"%V\"} %uA\n",
            &ngx_http_mdm_metrics_le[i], total);
    }

    usec = o->m->redis_latency_usec;

    ngx_http_mdm_metrics_prometheus_printf(o,
        "mdm_redis_command_duration_seconds_sum %uA.%06uA\n"
        "mdm_redis_command_duration_seconds_count %uA\n",
        usec / 1000000, usec % 1000000, total);
}


/* The figures of metrics.lua: 1 when its reply was printed, else 0. */
static ngx_uint_t
ngx_http_mdm_metrics_prometheus_redis(ngx_http_mdm_metrics_out_t *o,
    redisReply *reply)
{
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 7
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_ARRAY
        || reply->element[2]->type != REDIS_REPLY_ARRAY
        || reply->element[3]->type != REDIS_REPLY_INTEGER
        || reply->element[4]->type != REDIS_REPLY_INTEGER
        || reply->element[5]->type != REDIS_REPLY_INTEGER
        || reply->element[6]->type != REDIS_REPLY_INTEGER)
    {
        if (reply != NULL) {
            ngx_log_error(NGX_LOG_ERR, o->r->connection->log, 0,
                          "mdm metrics: unexpected reply from metrics.lua%s%s",
                          reply->type == REDIS_REPLY_ERROR ? ": " : "",
                          reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        }

        return 0;
    }

    ngx_http_mdm_metrics_prometheus_printf(o,
        "# HELP mdm_enrollments Enrollment IDs in the enrollment index.\n"
        "# TYPE mdm_enrollments gauge\n"
        "mdm_enrollments %L\n", reply->element[0]->integer);

    /* exact queue depths would need a scan of every queue */
    ngx_http_mdm_metrics_prometheus_printf(o,
        "# HELP mdm_enrollments_with_queued_commands Enrollments whose "
        "command queue is not empty.\n"
        "# TYPE mdm_enrollments_with_queued_commands gauge\n"
        "mdm_enrollments_with_queued_commands %L\n"
        "# HELP mdm_enrollments_notnow Enrollments whose last session ended "
        "with NotNow'd commands queued.\n"
        "# TYPE mdm_enrollments_notnow gauge\n"
        "mdm_enrollments_notnow %L\n",
        reply->element[3]->integer, reply->element[4]->integer);

    /* noeviction refuses writes at maxmemory: alarm at 90 % of it */
    ngx_http_mdm_metrics_prometheus_printf(o,
        "# HELP mdm_redis_used_memory_bytes Redis used_memory.\n"
        "# TYPE mdm_redis_used_memory_bytes gauge\n"
        "mdm_redis_used_memory_bytes %L\n"
        "# HELP mdm_redis_maxmemory_bytes Redis maxmemory (0: none set).\n"
        "# TYPE mdm_redis_maxmemory_bytes gauge\n"
        "mdm_redis_maxmemory_bytes %L\n"
        "# HELP mdm_redis_memory_alarm 1 when used_memory is at 90 %% of "
        "maxmemory or more.\n"
        "# TYPE mdm_redis_memory_alarm gauge\n"
        "mdm_redis_memory_alarm %d\n",
        reply->element[5]->integer, reply->element[6]->integer,
        reply->element[6]->integer > 0
        && reply->element[5]->integer * 10 >= reply->element[6]->integer * 9);

    ngx_http_mdm_metrics_prometheus_streams(o, reply->element[1]);
    ngx_http_mdm_metrics_prometheus_worker(o, reply->element[2]);

    return 1;
}


/* One family at a time: the format wants a family's lines together. */
static void
ngx_http_mdm_metrics_prometheus_streams(ngx_http_mdm_metrics_out_t *o,
    redisReply *streams)
{
    size_t       i, j, f;
    redisReply  *s, *g;

    static const char  *family[] = {
        "# HELP mdm_stream_length Entries in a Redis stream.\n"
        "# TYPE mdm_stream_length gauge\n",
        "# HELP mdm_stream_pending Entries delivered to a consumer group "
        "and not acknowledged yet.\n"
        "# TYPE mdm_stream_pending gauge\n",
        "# HELP mdm_stream_lag Entries not delivered to a consumer group "
        "yet.\n"
        "# TYPE mdm_stream_lag gauge\n"
    };

    for (f = 0; f < 3; f++) {
        ngx_http_mdm_metrics_prometheus_printf(o, "%s", family[f]);

        for (i = 0; i < streams->elements; i++) {
            s = streams->element[i];

            if (s->type != REDIS_REPLY_ARRAY || s->elements != 3
                || !ngx_http_mdm_metrics_prometheus_valid_label(s->element[0])
                || s->element[1]->type != REDIS_REPLY_INTEGER
                || s->element[2]->type != REDIS_REPLY_ARRAY)
            {
                continue;
            }

            if (f == 0) {
                ngx_http_mdm_metrics_prometheus_printf(o,
                    "mdm_stream_length{stream=\"%s\"} %L\n",
                    s->element[0]->str, s->element[1]->integer);
                continue;
            }

            g = s->element[2];

            for (j = 0; j + 2 < g->elements; j += 3) {
                if (!ngx_http_mdm_metrics_prometheus_valid_label(g->element[j])
                    || g->element[j + f]->type != REDIS_REPLY_INTEGER
                    || g->element[j + f]->integer < 0)
                {
                    continue;
                }

                ngx_http_mdm_metrics_prometheus_printf(o,
                    "mdm_%s{stream=\"%s\",group=\"%s\"} %L\n",
                    f == 1 ? "stream_pending" : "stream_lag",
                    s->element[0]->str, g->element[j]->str,
                    g->element[j + f]->integer);
            }
        }
    }
}


/*
 * mdm-worker's counters as it wrote them: "name{labels}" -> value, exported
 * as mdm_worker_<name>{labels}. Fields come sorted, so a family's lines are
 * together and get one TYPE line. A field that would break the format is
 * left out and logged.
 */
static void
ngx_http_mdm_metrics_prometheus_worker(ngx_http_mdm_metrics_out_t *o,
    redisReply *worker)
{
    size_t       i, base, prev_len;
    redisReply  *name, *value;
    const char  *prev;

    prev = NULL;
    prev_len = 0;

    for (i = 0; i + 1 < worker->elements; i += 2) {
        name = worker->element[i];
        value = worker->element[i + 1];

        if (!ngx_http_mdm_metrics_prometheus_valid_field(name, value, &base)) {
            ngx_log_error(NGX_LOG_WARN, o->r->connection->log, 0,
                          "mdm metrics: invalid field in \"%s\" left out",
                          MDM_KEY_WORKER_METRICS);
            continue;
        }

        if (prev == NULL || base != prev_len
            || ngx_strncmp(name->str, prev, base) != 0)
        {
            ngx_http_mdm_metrics_prometheus_printf(o,
                "# TYPE mdm_worker_%*s counter\n", base, name->str);
            prev = name->str;
            prev_len = base;
        }

        ngx_http_mdm_metrics_prometheus_printf(o, "mdm_worker_%s %s\n",
                                               name->str, value->str);
    }
}


/*
 * A metric name, optionally {labels} with quoted values and no line break,
 * and a number. *base is the length of the name without the labels.
 */
static ngx_uint_t
ngx_http_mdm_metrics_prometheus_valid_field(redisReply *name, redisReply *value,
    size_t *base)
{
    size_t   i;
    u_char   ch;

    if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING
        || name->len == 0 || name->len > NGX_HTTP_MDM_METRICS_LINE / 2
        || value->len == 0 || value->len > 32)
    {
        return 0;
    }

    for (i = 0; i < name->len; i++) {
        ch = name->str[i];

        if (ch == '{') {
            break;
        }

        if (!(ch == '_' || ch == ':' || (ch >= 'a' && ch <= 'z')
              || (ch >= 'A' && ch <= 'Z') || (i > 0 && ch >= '0' && ch <= '9')))
        {
            return 0;
        }
    }

    *base = i;

    if (i == 0 || (i < name->len && name->str[name->len - 1] != '}')
        || ngx_strlchr((u_char *) name->str, (u_char *) name->str + name->len,
                       '\n')
           != NULL)
    {
        return 0;
    }

    for (i = 0; i < value->len; i++) {
        ch = value->str[i];

        if (!((ch >= '0' && ch <= '9') || ch == '.' || ch == '-'
              || ch == '+' || ch == 'e' || ch == 'E'))
        {
            return 0;
        }
    }

    return 1;
}


/* Stream and group names go into label values unescaped: plain ones only. */
static ngx_uint_t
ngx_http_mdm_metrics_prometheus_valid_label(redisReply *value)
{
    size_t  i;

    if (value->type != REDIS_REPLY_STRING || value->len == 0
        || value->len > 200)
    {
        return 0;
    }

    for (i = 0; i < value->len; i++) {
        if (value->str[i] == '"' || value->str[i] == '\\'
            || value->str[i] < 0x20)
        {
            return 0;
        }
    }

    return 1;
}


/* Appends one formatted piece of at most NGX_HTTP_MDM_METRICS_LINE bytes. */
static void
ngx_http_mdm_metrics_prometheus_printf(ngx_http_mdm_metrics_out_t *o,
    const char *fmt,
    ...)
{
    u_char       *p;
    va_list       args;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (o->failed) {
        return;
    }

    b = o->buf;

    if (b == NULL || b->end - b->last < NGX_HTTP_MDM_METRICS_LINE) {
        b = ngx_create_temp_buf(o->r->pool, NGX_HTTP_MDM_METRICS_BUF);
        cl = ngx_alloc_chain_link(o->r->pool);
        if (b == NULL || cl == NULL) {
            o->failed = 1;
            return;
        }

        cl->buf = b;
        cl->next = NULL;
        *o->last = cl;
        o->last = &cl->next;
        o->buf = b;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(b->last, b->last + NGX_HTTP_MDM_METRICS_LINE, fmt,
                      args);
    va_end(args);

    o->len += p - b->last;
    b->last = p;
}
