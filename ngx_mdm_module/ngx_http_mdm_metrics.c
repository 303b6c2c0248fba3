/*
 * Prometheus metrics (docs/metrics.md). Every nginx worker adds to the same
 * fixed array of counters in one shared memory zone with atomic increments;
 * GET /metrics prints them together with the fleet figures one Lua script
 * reads from Redis, in the text exposition format 0.0.4.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_keys.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"
#include "ngx_http_mdm_metrics.h"


#define NGX_HTTP_MDM_METRICS_MESSAGES   15
#define NGX_HTTP_MDM_METRICS_CODES      21
#define NGX_HTTP_MDM_METRICS_KNOWN      15   /* codes with their own label */
#define NGX_HTTP_MDM_METRICS_ROUTES     9
#define NGX_HTTP_MDM_METRICS_REDIS      5
#define NGX_HTTP_MDM_METRICS_CLUSTER    4
#define NGX_HTTP_MDM_METRICS_BUCKETS    10   /* and +Inf */

#define NGX_HTTP_MDM_METRICS_KEYS       6    /* of metrics.lua */
#define NGX_HTTP_MDM_METRICS_ARGS       (3 + NGX_HTTP_MDM_METRICS_KEYS)

/* the longest line printed; worker fields are checked against it */
#define NGX_HTTP_MDM_METRICS_LINE       1024
#define NGX_HTTP_MDM_METRICS_BUF        16384


/* indexes of ngx_http_mdm_metrics_endpoints[] */
enum {
    NGX_HTTP_MDM_METRICS_EP_CHECKIN = 0,
    NGX_HTTP_MDM_METRICS_EP_CONNECT,
    NGX_HTTP_MDM_METRICS_EP_SERVER,
    NGX_HTTP_MDM_METRICS_ENDPOINTS
};


/* indexes of ngx_http_mdm_metrics_reasons[] */
enum {
    NGX_HTTP_MDM_REASON_NO_CERTIFICATE = 0,
    NGX_HTTP_MDM_REASON_MALFORMED_SIGNATURE,
    NGX_HTTP_MDM_REASON_BAD_SIGNATURE,
    NGX_HTTP_MDM_REASON_DIGEST_MISMATCH,
    NGX_HTTP_MDM_REASON_MALFORMED_CERTIFICATE,
    NGX_HTTP_MDM_REASON_UNTRUSTED_CHAIN,
    NGX_HTTP_MDM_REASON_WRONG_USAGE,
    NGX_HTTP_MDM_REASON_EXPIRED,
    NGX_HTTP_MDM_REASON_NOT_YET_VALID,
    NGX_HTTP_MDM_REASON_BINDING_MISMATCH,
    NGX_HTTP_MDM_REASON_UNBOUND_ENROLLMENT,
    NGX_HTTP_MDM_REASON_UNKNOWN_ENROLLMENT,
    NGX_HTTP_MDM_REASON_REVOKED,
    NGX_HTTP_MDM_REASON_OTHER,
    NGX_HTTP_MDM_METRICS_REASONS
};


typedef struct {
    size_t        size;             /* the layout, checked on reload */
    ngx_atomic_t  device[NGX_HTTP_MDM_METRICS_ENDPOINTS]
                        [NGX_HTTP_MDM_METRICS_MESSAGES]
                        [NGX_HTTP_MDM_METRICS_CODES];
    ngx_atomic_t  api[NGX_HTTP_MDM_METRICS_ROUTES]
                     [NGX_HTTP_MDM_METRICS_CODES];
    ngx_atomic_t  identity[NGX_HTTP_MDM_METRICS_REASONS];
    ngx_atomic_t  redis_errors[NGX_HTTP_MDM_METRICS_REDIS];
    ngx_atomic_t  redis_cluster[NGX_HTTP_MDM_METRICS_CLUSTER];
    ngx_atomic_t  redis_latency[NGX_HTTP_MDM_METRICS_BUCKETS + 1];
    ngx_atomic_t  redis_latency_usec;
} ngx_http_mdm_metrics_shm_t;


typedef struct {
    const char   *prefix;
    ngx_uint_t    reason;
} ngx_http_mdm_metrics_reason_t;


/* the response body, a chain of buffers filled line by line */
typedef struct {
    ngx_http_request_t   *r;
    ngx_chain_t          *out;
    ngx_chain_t         **last;
    ngx_buf_t            *buf;
    off_t                 len;
    ngx_uint_t            failed;
} ngx_http_mdm_metrics_out_t;


static ngx_int_t ngx_http_mdm_metrics_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_http_mdm_metrics_log_handler(ngx_http_request_t *r);
static void ngx_http_mdm_metrics_count_device(ngx_http_request_t *r,
    ngx_uint_t endpoint);
static void ngx_http_mdm_metrics_count_api(ngx_http_request_t *r);
static ngx_uint_t ngx_http_mdm_metrics_code(ngx_http_request_t *r);
static ngx_uint_t ngx_http_mdm_metrics_find(ngx_str_t *names, ngx_uint_t n,
    ngx_str_t *value);
static void ngx_http_mdm_metrics_redis(ngx_mdm_redis_event_e event,
    uint64_t usec);
static void ngx_http_mdm_metrics_redis_done(void *data, redisReply *reply);
static ngx_int_t ngx_http_mdm_metrics_send(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_mdm_metrics_print_device(ngx_http_mdm_metrics_out_t *o);
static void ngx_http_mdm_metrics_print_api(ngx_http_mdm_metrics_out_t *o);
static void ngx_http_mdm_metrics_print_list(ngx_http_mdm_metrics_out_t *o,
    const char *name, const char *help, const char *label,
    ngx_str_t *values, ngx_atomic_t *counters, ngx_uint_t n);
static void ngx_http_mdm_metrics_print_latency(
    ngx_http_mdm_metrics_out_t *o);
static ngx_uint_t ngx_http_mdm_metrics_print_redis(
    ngx_http_mdm_metrics_out_t *o, redisReply *reply);
static void ngx_http_mdm_metrics_print_streams(ngx_http_mdm_metrics_out_t *o,
    redisReply *streams);
static void ngx_http_mdm_metrics_print_worker(ngx_http_mdm_metrics_out_t *o,
    redisReply *worker);
static ngx_uint_t ngx_http_mdm_metrics_valid_field(redisReply *name,
    redisReply *value, size_t *base);
static ngx_uint_t ngx_http_mdm_metrics_valid_label(redisReply *value);
static void ngx_http_mdm_metrics_printf(ngx_http_mdm_metrics_out_t *o,
    const char *fmt, ...);


static ngx_str_t  ngx_http_mdm_metrics_zone_name =
    ngx_string("ngx_http_mdm_metrics");

/* this worker's view of the zone; NULL until a worker has one */
static ngx_http_mdm_metrics_shm_t  *ngx_http_mdm_metrics;


static ngx_str_t  ngx_http_mdm_metrics_endpoints[NGX_HTTP_MDM_METRICS_ENDPOINTS]
    = {
    ngx_string("checkin"),
    ngx_string("connect"),
    ngx_string("server")        /* refused before it said which */
};


/* check-in MessageTypes, then report Statuses */
static ngx_str_t  ngx_http_mdm_metrics_messages[NGX_HTTP_MDM_METRICS_MESSAGES]
    = {
    ngx_string("none"),
    ngx_string("Authenticate"),
    ngx_string("TokenUpdate"),
    ngx_string("CheckOut"),
    ngx_string("UserAuthenticate"),
    ngx_string("SetBootstrapToken"),
    ngx_string("GetBootstrapToken"),
    ngx_string("DeclarativeManagement"),
    ngx_string("GetToken"),
    ngx_string("ReturnToService"),
    ngx_string("Idle"),
    ngx_string("Acknowledged"),
    ngx_string("Error"),
    ngx_string("CommandFormatError"),
    ngx_string("NotNow")
};


/* the codes these endpoints answer get a label each; others their class */
static ngx_uint_t  ngx_http_mdm_metrics_known[NGX_HTTP_MDM_METRICS_KNOWN] = {
    200, 204, 400, 401, 403, 404, 405, 410, 413, 499, 500, 501, 502, 503,
    504
};

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


/*
 * Labels, not the routing table: a metric's labels are an interface that
 * dashboards rely on, so they change only on purpose. A route not listed
 * here, or no route at all, counts as "other".
 */
static ngx_str_t  ngx_http_mdm_metrics_routes[NGX_HTTP_MDM_METRICS_ROUTES] = {
    ngx_string("/version"),
    ngx_string("/metrics"),
    ngx_string("/v1/enqueue"),
    ngx_string("/v1/commands"),
    ngx_string("/v1/push"),
    ngx_string("/v1/pushcert"),
    ngx_string("/v1/enrollments"),
    ngx_string("/v1/queue"),
    ngx_string("other")
};


static ngx_str_t  ngx_http_mdm_metrics_reasons[NGX_HTTP_MDM_METRICS_REASONS] = {
    ngx_string("no_certificate"),
    ngx_string("malformed_signature"),
    ngx_string("bad_signature"),
    ngx_string("digest_mismatch"),
    ngx_string("malformed_certificate"),
    ngx_string("untrusted_chain"),
    ngx_string("wrong_usage"),
    ngx_string("expired"),
    ngx_string("not_yet_valid"),
    ngx_string("binding_mismatch"),
    ngx_string("unbound_enrollment"),
    ngx_string("unknown_enrollment"),
    ngx_string("revoked"),
    ngx_string("other")
};


/* reason texts of libmdm's identity checks and the check-in scripts */
static ngx_http_mdm_metrics_reason_t  ngx_http_mdm_metrics_reason_map[] = {
    { "no device certificate", NGX_HTTP_MDM_REASON_NO_CERTIFICATE },
    { "bad CMS", NGX_HTTP_MDM_REASON_MALFORMED_SIGNATURE },
    { "bad base64", NGX_HTTP_MDM_REASON_MALFORMED_SIGNATURE },
    { "bad signature", NGX_HTTP_MDM_REASON_BAD_SIGNATURE },
    { "digest mismatch", NGX_HTTP_MDM_REASON_DIGEST_MISMATCH },
    { "bad certificate", NGX_HTTP_MDM_REASON_MALFORMED_CERTIFICATE },
    { "malformed certificate", NGX_HTTP_MDM_REASON_MALFORMED_CERTIFICATE },
    { "certificate is not DER", NGX_HTTP_MDM_REASON_MALFORMED_CERTIFICATE },
    { "unsupported public key", NGX_HTTP_MDM_REASON_MALFORMED_CERTIFICATE },
    { "cannot encode", NGX_HTTP_MDM_REASON_MALFORMED_CERTIFICATE },
    { "untrusted chain", NGX_HTTP_MDM_REASON_UNTRUSTED_CHAIN },
    { "wrong usage", NGX_HTTP_MDM_REASON_WRONG_USAGE },
    { "expired", NGX_HTTP_MDM_REASON_EXPIRED },
    { "not yet valid", NGX_HTTP_MDM_REASON_NOT_YET_VALID },
    { "certificate does not match", NGX_HTTP_MDM_REASON_BINDING_MISMATCH },
    { "certificate is bound to another",
      NGX_HTTP_MDM_REASON_BINDING_MISMATCH },
    { "enrollment has no bound certificate",
      NGX_HTTP_MDM_REASON_UNBOUND_ENROLLMENT },
    { "unknown enrollment", NGX_HTTP_MDM_REASON_UNKNOWN_ENROLLMENT },
    { "certificate is revoked", NGX_HTTP_MDM_REASON_REVOKED },
    { NULL, NGX_HTTP_MDM_REASON_OTHER }
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


/* upper bounds in microseconds, and as the "le" labels (seconds) */
static uint64_t  ngx_http_mdm_metrics_bounds[] = {
    250, 500, 1000, 2000, 5000, 10000, 25000, 50000, 100000, 250000
};

static ngx_str_t  ngx_http_mdm_metrics_le[] = {
    ngx_string("0.00025"), ngx_string("0.0005"), ngx_string("0.001"),
    ngx_string("0.002"), ngx_string("0.005"), ngx_string("0.01"),
    ngx_string("0.025"), ngx_string("0.05"), ngx_string("0.1"),
    ngx_string("0.25"), ngx_string("+Inf")
};


ngx_int_t
ngx_http_mdm_metrics_init(ngx_conf_t *cf)
{
    size_t                      size;
    ngx_shm_zone_t             *zone;
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_mdm_main_conf_t   *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mdm_module);
    if (!mcf->used) {
        return NGX_OK;
    }

    /* the slab pool's own pages, then the counters */
    size = 8 * ngx_pagesize
           + ngx_align(sizeof(ngx_http_mdm_metrics_shm_t), ngx_pagesize);

    zone = ngx_shared_memory_add(cf, &ngx_http_mdm_metrics_zone_name, size,
                                 &ngx_http_mdm_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_mdm_metrics_init_zone;
    mcf->metrics_zone = zone;
    mcf->redis.observe = ngx_http_mdm_metrics_redis;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mdm_metrics_log_handler;

    return NGX_OK;
}


/* Counters survive a reload unless the new module lays them out anew. */
static ngx_int_t
ngx_http_mdm_metrics_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t             *shpool;
    ngx_http_mdm_metrics_shm_t  *old = data, *m;

    if (old != NULL && old->size == sizeof(ngx_http_mdm_metrics_shm_t)) {
        zone->data = old;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        zone->data = shpool->data;
        return NGX_OK;
    }

    /*
     * Same zone, new layout: without the free every such reload would take
     * another block until the zone is full. Old workers still draining may
     * count a few requests into the new counters; they reset anyway.
     */
    if (old != NULL) {
        ngx_slab_free(shpool, old);
    }

    m = ngx_slab_calloc(shpool, sizeof(ngx_http_mdm_metrics_shm_t));
    if (m == NULL) {
        return NGX_ERROR;
    }

    m->size = sizeof(ngx_http_mdm_metrics_shm_t);
    shpool->data = m;
    zone->data = m;

    return NGX_OK;
}


void
ngx_http_mdm_metrics_init_process(ngx_cycle_t *cycle)
{
    ngx_http_mdm_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_mdm_module);

    ngx_http_mdm_metrics = (mcf != NULL && mcf->metrics_zone != NULL)
                           ? mcf->metrics_zone->data : NULL;
}


/* Every request to an mdm location is counted once, when it is logged. */
static ngx_int_t
ngx_http_mdm_metrics_log_handler(ngx_http_request_t *r)
{
    ngx_http_mdm_loc_conf_t  *mlcf;

    if (ngx_http_mdm_metrics == NULL) {
        return NGX_OK;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    switch (mlcf->endpoint) {
    case NGX_HTTP_MDM_CHECKIN:
        ngx_http_mdm_metrics_count_device(r, NGX_HTTP_MDM_METRICS_EP_CHECKIN);
        break;
    case NGX_HTTP_MDM_CONNECT:
        ngx_http_mdm_metrics_count_device(r, NGX_HTTP_MDM_METRICS_EP_CONNECT);
        break;
    case NGX_HTTP_MDM_SERVER:
        ngx_http_mdm_metrics_count_device(r, NGX_HTTP_MDM_METRICS_EP_SERVER);
        break;
    case NGX_HTTP_MDM_API:
        ngx_http_mdm_metrics_count_api(r);
        break;
    default:
        break;
    }

    return NGX_OK;
}


/*
 * What the handlers decoded says which endpoint a request to a shared
 * ServerURL was; a request refused before that keeps the location's.
 */
static void
ngx_http_mdm_metrics_count_device(ngx_http_request_t *r, ngx_uint_t endpoint)
{
    ngx_uint_t           message, code;
    ngx_http_mdm_ctx_t  *ctx;

    message = 0;
    code = ngx_http_mdm_metrics_code(r);
    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    if (ctx != NULL && ctx->message_type.len) {
        endpoint = NGX_HTTP_MDM_METRICS_EP_CHECKIN;
        message = ngx_http_mdm_metrics_find(ngx_http_mdm_metrics_messages,
                                            NGX_HTTP_MDM_METRICS_MESSAGES,
                                            &ctx->message_type);

    } else if (ctx != NULL && ctx->status.len) {
        endpoint = NGX_HTTP_MDM_METRICS_EP_CONNECT;
        message = ngx_http_mdm_metrics_find(ngx_http_mdm_metrics_messages,
                                            NGX_HTTP_MDM_METRICS_MESSAGES,
                                            &ctx->status);
    }

    if (message == NGX_HTTP_MDM_METRICS_MESSAGES) {
        message = 0;
    }

    ngx_atomic_fetch_add(&ngx_http_mdm_metrics->device[endpoint][message]
                                                       [code], 1);
}


static void
ngx_http_mdm_metrics_count_api(ngx_http_request_t *r)
{
    ngx_str_t   path, *route;
    ngx_uint_t  i, code;

    code = ngx_http_mdm_metrics_code(r);
    ngx_http_mdm_api_route(r, &path);

    route = ngx_http_mdm_metrics_routes;

    for (i = 0; i < NGX_HTTP_MDM_METRICS_ROUTES - 1; i++) {
        if (path.len >= route[i].len
            && ngx_strncmp(path.data, route[i].data, route[i].len) == 0
            && (path.len == route[i].len || path.data[route[i].len] == '/'))
        {
            break;
        }
    }

    ngx_atomic_fetch_add(&ngx_http_mdm_metrics->api[i][code], 1);
}


/* The index of the status as $status prints it. */
static ngx_uint_t
ngx_http_mdm_metrics_code(ngx_http_request_t *r)
{
    ngx_uint_t  i, status;

    status = r->err_status ? r->err_status : r->headers_out.status;

    for (i = 0; i < NGX_HTTP_MDM_METRICS_KNOWN; i++) {
        if (ngx_http_mdm_metrics_known[i] == status) {
            return i;
        }
    }

    if (status >= 100 && status < 600) {
        return NGX_HTTP_MDM_METRICS_KNOWN + status / 100 - 1;
    }

    return NGX_HTTP_MDM_METRICS_CODES - 1;
}


/* The index of value in names, or n. */
static ngx_uint_t
ngx_http_mdm_metrics_find(ngx_str_t *names, ngx_uint_t n, ngx_str_t *value)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (names[i].len == value->len
            && ngx_strncmp(names[i].data, value->data, value->len) == 0)
        {
            return i;
        }
    }

    return n;
}


void
ngx_http_mdm_metrics_identity_failure(const char *reason)
{
    ngx_http_mdm_metrics_reason_t  *m;

    if (ngx_http_mdm_metrics == NULL) {
        return;
    }

    for (m = ngx_http_mdm_metrics_reason_map; m->prefix != NULL; m++) {
        if (reason != NULL
            && ngx_strncmp(reason, m->prefix, ngx_strlen(m->prefix)) == 0)
        {
            break;
        }
    }

    ngx_atomic_fetch_add(&ngx_http_mdm_metrics->identity[m->reason], 1);
}


/* The Redis adapter's observer: every event but a plain reply is an error. */
static void
ngx_http_mdm_metrics_redis(ngx_mdm_redis_event_e event, uint64_t usec)
{
    ngx_uint_t  i;

    if (ngx_http_mdm_metrics == NULL) {
        return;
    }

    if (event >= NGX_MDM_REDIS_MOVED) {
        ngx_atomic_fetch_add(
            &ngx_http_mdm_metrics->redis_cluster[event - NGX_MDM_REDIS_MOVED],
            1);
        return;
    }

    if (event != NGX_MDM_REDIS_REPLY) {
        ngx_atomic_fetch_add(&ngx_http_mdm_metrics->redis_errors[event - 1],
                             1);
    }

    if (event != NGX_MDM_REDIS_REPLY && event != NGX_MDM_REDIS_ERROR_REPLY) {
        return;
    }

    for (i = 0; i < NGX_HTTP_MDM_METRICS_BUCKETS; i++) {
        if (usec <= ngx_http_mdm_metrics_bounds[i]) {
            break;
        }
    }

    ngx_atomic_fetch_add(&ngx_http_mdm_metrics->redis_latency[i], 1);
    ngx_atomic_fetch_add(&ngx_http_mdm_metrics->redis_latency_usec, usec);
}


ngx_int_t
ngx_http_mdm_metrics_api(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_mdm_metrics_handler(r);
}


/*
 * The nginx counters are answered even when Redis is not: an outage is when
 * they matter most. So the reply comes here whatever it is, instead of
 * through ngx_http_mdm_redis_call(), which answers 503 for the caller.
 */
ngx_int_t
ngx_http_mdm_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_mdm_ctx_t        *ctx;
    ngx_http_mdm_args_t        args;
    ngx_http_mdm_main_conf_t  *mcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_mdm_get_ctx(r);
    if (ctx == NULL
        || ngx_http_mdm_args_init(r, &args, NGX_HTTP_MDM_METRICS_ARGS)
           != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "metrics",
                                    NGX_HTTP_MDM_METRICS_KEYS)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_ENROLLMENTS);
    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_EVENTS);
    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_PUSH);
    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_WORKER_METRICS);
    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_PENDING);
    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_NOTNOW);

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mdm_module);

    ctx->cmd = ngx_mdm_redis_send(mcf->rd, args.argc, args.argv,
                                  args.argvlen,
                                  ngx_http_mdm_metrics_redis_done, r);
    if (ctx->cmd == NULL) {
        return ngx_http_mdm_metrics_send(r, NULL);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_mdm_metrics_redis_done(void *data, redisReply *reply)
{
    ngx_http_request_t  *r = data;

    ngx_connection_t    *c;
    ngx_http_mdm_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    ctx->cmd = NULL;

    ngx_http_finalize_request(r, ngx_http_mdm_metrics_send(r, reply));
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_mdm_metrics_send(ngx_http_request_t *r, redisReply *reply)
{
    ngx_int_t                    rc;
    ngx_uint_t                   up;
    ngx_http_mdm_metrics_out_t   o;
    ngx_http_mdm_metrics_shm_t  *m = ngx_http_mdm_metrics;

    if (m == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ngx_memzero(&o, sizeof(ngx_http_mdm_metrics_out_t));
    o.r = r;
    o.last = &o.out;

    ngx_http_mdm_metrics_print_device(&o);
    ngx_http_mdm_metrics_print_api(&o);
    ngx_http_mdm_metrics_print_list(&o, "mdm_identity_failures_total",
        "Device requests refused for who sent them, by reason.",
        "reason", ngx_http_mdm_metrics_reasons, m->identity,
        NGX_HTTP_MDM_METRICS_REASONS);
    ngx_http_mdm_metrics_print_list(&o, "mdm_redis_errors_total",
        "Redis failures seen by nginx, by kind.",
        "error", ngx_http_mdm_metrics_redis_errors, m->redis_errors,
        NGX_HTTP_MDM_METRICS_REDIS);
    ngx_http_mdm_metrics_print_list(&o, "mdm_redis_cluster_redirects_total",
        "Redis Cluster replies the cluster client followed (resent), by "
        "reply.",
        "reply", ngx_http_mdm_metrics_redis_cluster, m->redis_cluster,
        NGX_HTTP_MDM_METRICS_CLUSTER);
    ngx_http_mdm_metrics_print_latency(&o);

    up = ngx_http_mdm_metrics_print_redis(&o, reply);

    ngx_http_mdm_metrics_printf(&o,
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
ngx_http_mdm_metrics_print_device(ngx_http_mdm_metrics_out_t *o)
{
    ngx_uint_t         e, m, c;
    ngx_atomic_uint_t  n;

    ngx_http_mdm_metrics_printf(o,
        "# HELP mdm_device_requests_total Device requests by endpoint, "
        "check-in MessageType or report Status, and HTTP status.\n"
        "# TYPE mdm_device_requests_total counter\n");

    for (e = 0; e < NGX_HTTP_MDM_METRICS_ENDPOINTS; e++) {
        for (m = 0; m < NGX_HTTP_MDM_METRICS_MESSAGES; m++) {
            for (c = 0; c < NGX_HTTP_MDM_METRICS_CODES; c++) {
                n = ngx_http_mdm_metrics->device[e][m][c];
                if (n == 0) {
                    continue;
                }

                ngx_http_mdm_metrics_printf(o,
                    "mdm_device_requests_total{endpoint=\"%V\","
                    "message=\"%V\",code=\"%V\"} %uA\n",
                    &ngx_http_mdm_metrics_endpoints[e],
                    &ngx_http_mdm_metrics_messages[m],
                    &ngx_http_mdm_metrics_codes[c], n);
            }
        }
    }
}


static void
ngx_http_mdm_metrics_print_api(ngx_http_mdm_metrics_out_t *o)
{
    ngx_uint_t         i, c;
    ngx_atomic_uint_t  n;

    ngx_http_mdm_metrics_printf(o,
        "# HELP mdm_api_requests_total API requests by route and HTTP "
        "status.\n"
        "# TYPE mdm_api_requests_total counter\n");

    for (i = 0; i < NGX_HTTP_MDM_METRICS_ROUTES; i++) {
        for (c = 0; c < NGX_HTTP_MDM_METRICS_CODES; c++) {
            n = ngx_http_mdm_metrics->api[i][c];
            if (n == 0) {
                continue;
            }

            ngx_http_mdm_metrics_printf(o,
                "mdm_api_requests_total{route=\"%V\",code=\"%V\"} %uA\n",
                &ngx_http_mdm_metrics_routes[i],
                &ngx_http_mdm_metrics_codes[c], n);
        }
    }
}


/* A counter with one label, every value printed, zeros too. */
static void
ngx_http_mdm_metrics_print_list(ngx_http_mdm_metrics_out_t *o,
    const char *name, const char *help, const char *label,
    ngx_str_t *values, ngx_atomic_t *counters, ngx_uint_t n)
{
    ngx_uint_t  i;

    ngx_http_mdm_metrics_printf(o, "# HELP %s %s\n# TYPE %s counter\n",
                                name, help, name);

    for (i = 0; i < n; i++) {
        ngx_http_mdm_metrics_printf(o, "%s{%s=\"%V\"} %uA\n", name, label,
                                    &values[i], counters[i]);
    }
}


/*
 * The buckets are kept apart and added up here, so the cumulative counts
 * and _count always agree, whatever the workers do meanwhile.
 */
static void
ngx_http_mdm_metrics_print_latency(ngx_http_mdm_metrics_out_t *o)
{
    ngx_uint_t         i;
    ngx_atomic_uint_t  total, usec;

    ngx_http_mdm_metrics_printf(o,
        "# HELP mdm_redis_command_duration_seconds Redis commands from "
        "sending to the reply.\n"
        "# TYPE mdm_redis_command_duration_seconds histogram\n");

    total = 0;

    for (i = 0; i <= NGX_HTTP_MDM_METRICS_BUCKETS; i++) {
        total += ngx_http_mdm_metrics->redis_latency[i];

        ngx_http_mdm_metrics_printf(o,
            "mdm_redis_command_duration_seconds_bucket{le=\"%V\"} %uA\n",
            &ngx_http_mdm_metrics_le[i], total);
    }

    usec = ngx_http_mdm_metrics->redis_latency_usec;

    ngx_http_mdm_metrics_printf(o,
        "mdm_redis_command_duration_seconds_sum %uA.%06uA\n"
        "mdm_redis_command_duration_seconds_count %uA\n",
        usec / 1000000, usec % 1000000, total);
}


/* The figures of metrics.lua: 1 when its reply was printed, else 0. */
static ngx_uint_t
ngx_http_mdm_metrics_print_redis(ngx_http_mdm_metrics_out_t *o,
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

    ngx_http_mdm_metrics_printf(o,
        "# HELP mdm_enrollments Enrollment IDs in the enrollment index.\n"
        "# TYPE mdm_enrollments gauge\n"
        "mdm_enrollments %L\n", reply->element[0]->integer);

    /* exact queue depths would need a scan of every queue */
    ngx_http_mdm_metrics_printf(o,
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
    ngx_http_mdm_metrics_printf(o,
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

    ngx_http_mdm_metrics_print_streams(o, reply->element[1]);
    ngx_http_mdm_metrics_print_worker(o, reply->element[2]);

    return 1;
}


/* One family at a time: the format wants a family's lines together. */
static void
ngx_http_mdm_metrics_print_streams(ngx_http_mdm_metrics_out_t *o,
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
        ngx_http_mdm_metrics_printf(o, "%s", family[f]);

        for (i = 0; i < streams->elements; i++) {
            s = streams->element[i];

            if (s->type != REDIS_REPLY_ARRAY || s->elements != 3
                || !ngx_http_mdm_metrics_valid_label(s->element[0])
                || s->element[1]->type != REDIS_REPLY_INTEGER
                || s->element[2]->type != REDIS_REPLY_ARRAY)
            {
                continue;
            }

            if (f == 0) {
                ngx_http_mdm_metrics_printf(o,
                    "mdm_stream_length{stream=\"%s\"} %L\n",
                    s->element[0]->str, s->element[1]->integer);
                continue;
            }

            g = s->element[2];

            for (j = 0; j + 2 < g->elements; j += 3) {
                if (!ngx_http_mdm_metrics_valid_label(g->element[j])
                    || g->element[j + f]->type != REDIS_REPLY_INTEGER
                    || g->element[j + f]->integer < 0)
                {
                    continue;
                }

                ngx_http_mdm_metrics_printf(o,
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
ngx_http_mdm_metrics_print_worker(ngx_http_mdm_metrics_out_t *o,
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

        if (!ngx_http_mdm_metrics_valid_field(name, value, &base)) {
            ngx_log_error(NGX_LOG_WARN, o->r->connection->log, 0,
                          "mdm metrics: invalid field in \"%s\" left out",
                          MDM_KEY_WORKER_METRICS);
            continue;
        }

        if (prev == NULL || base != prev_len
            || ngx_strncmp(name->str, prev, base) != 0)
        {
            ngx_http_mdm_metrics_printf(o,
                "# TYPE mdm_worker_%*s counter\n", base, name->str);
            prev = name->str;
            prev_len = base;
        }

        ngx_http_mdm_metrics_printf(o, "mdm_worker_%s %s\n", name->str,
                                    value->str);
    }
}


/*
 * A metric name, optionally {labels} with quoted values and no line break,
 * and a number. *base is the length of the name without the labels.
 */
static ngx_uint_t
ngx_http_mdm_metrics_valid_field(redisReply *name, redisReply *value,
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
ngx_http_mdm_metrics_valid_label(redisReply *value)
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
ngx_http_mdm_metrics_printf(ngx_http_mdm_metrics_out_t *o, const char *fmt,
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
