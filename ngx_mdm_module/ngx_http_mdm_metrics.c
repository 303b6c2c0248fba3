/*
 * Prometheus metrics (docs/metrics.md), the counting. Every nginx worker
 * adds to the same fixed array of counters in one shared memory zone with
 * atomic increments: a request once, in the log phase; identity refusals
 * and Redis outcomes where they happen. GET /metrics asks metrics.lua for
 * the fleet figures and has ngx_http_mdm_metrics_prometheus.c print both.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_keys.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_metrics.h"
#include "ngx_http_mdm_metrics_shm.h"


#define NGX_HTTP_MDM_METRICS_KEYS       6    /* of metrics.lua */
#define NGX_HTTP_MDM_METRICS_ARGS       (3 + NGX_HTTP_MDM_METRICS_KEYS)


static ngx_int_t ngx_http_mdm_metrics_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_http_mdm_metrics_log_handler(ngx_http_request_t *r);
static void ngx_http_mdm_metrics_count_device(ngx_http_request_t *r,
    ngx_uint_t endpoint);
static void ngx_http_mdm_metrics_count_api(ngx_http_request_t *r);
static ngx_uint_t ngx_http_mdm_metrics_code(ngx_http_request_t *r);
static void ngx_http_mdm_metrics_redis(ngx_mdm_redis_event_e event,
    uint64_t usec);
static void ngx_http_mdm_metrics_redis_done(void *data, redisReply *reply);


/*
 * The zone's name carries the size of the layout, so a module with another
 * layout gets a zone of its own on reload: old workers still draining keep
 * writing to the old one, which nginx unmaps when the last of them exits.
 */
#define NGX_HTTP_MDM_METRICS_ZONE  "ngx_http_mdm_metrics_%uz"

/* this worker's view of the zone; NULL until a worker has one */
static ngx_http_mdm_metrics_shm_t  *ngx_http_mdm_metrics;


/* the codes these endpoints answer get a label each; others their class */
static ngx_uint_t  ngx_http_mdm_metrics_known[NGX_HTTP_MDM_METRICS_KNOWN] = {
    200, 204, 400, 401, 403, 404, 405, 410, 413, 499, 500, 501, 502, 503,
    504
};

/*
 * Labels, not the routing table: a metric's labels are an interface that
 * dashboards rely on, so they change only on purpose. A route not listed
 * here, or no route at all, counts as "other".
 */
ngx_str_t  ngx_http_mdm_metrics_routes[NGX_HTTP_MDM_METRICS_ROUTES] = {
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


/* upper bounds in microseconds of the latency buckets */
static uint64_t  ngx_http_mdm_metrics_bounds[] = {
    250, 500, 1000, 2000, 5000, 10000, 25000, 50000, 100000, 250000
};


ngx_int_t
ngx_http_mdm_metrics_init(ngx_conf_t *cf)
{
    size_t                      size;
    ngx_str_t                   name;
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

    name.data = ngx_pnalloc(cf->pool, sizeof(NGX_HTTP_MDM_METRICS_ZONE)
                                      + NGX_SIZE_T_LEN);
    if (name.data == NULL) {
        return NGX_ERROR;
    }

    name.len = ngx_sprintf(name.data, NGX_HTTP_MDM_METRICS_ZONE,
                           sizeof(ngx_http_mdm_metrics_shm_t))
               - name.data;

    zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_mdm_module);
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


/* Counters survive a reload: a zone of this name has this layout. */
static ngx_int_t
ngx_http_mdm_metrics_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_slab_pool_t             *shpool;
    ngx_http_mdm_metrics_shm_t  *m;

    if (data != NULL) {
        zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        zone->data = shpool->data;
        return NGX_OK;
    }

    m = ngx_slab_calloc(shpool, sizeof(ngx_http_mdm_metrics_shm_t));
    if (m == NULL) {
        return NGX_ERROR;
    }

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
        message = ctx->checkin_type;

    } else if (ctx != NULL && ctx->status.len) {
        endpoint = NGX_HTTP_MDM_METRICS_EP_CONNECT;
        message = ctx->report_status != MDM_STATUS_UNKNOWN
                  ? NGX_HTTP_MDM_METRICS_CHECKINS + ctx->report_status : 0;
    }

    if (message >= NGX_HTTP_MDM_METRICS_MESSAGES) {
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
    (void) ngx_http_mdm_location_path(r, &path);

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


void
ngx_http_mdm_metrics_identity_failure(mdm_identity_reason_e reason)
{
    if (ngx_http_mdm_metrics == NULL) {
        return;
    }

    if (reason == MDM_IDENTITY_OK || reason >= MDM_IDENTITY_REASONS) {
        reason = MDM_IDENTITY_OTHER;
    }

    ngx_atomic_fetch_add(&ngx_http_mdm_metrics->identity[reason], 1);
}


void
ngx_http_mdm_metrics_body_refused(ngx_uint_t connect, mdm_refused_e reason)
{
    if (ngx_http_mdm_metrics == NULL) {
        return;
    }

    if ((ngx_uint_t) reason >= MDM_REFUSED_REASONS) {
        reason = MDM_REFUSED_INVALID;
    }

    ngx_atomic_fetch_add(&ngx_http_mdm_metrics->refused
                         [connect ? NGX_HTTP_MDM_METRICS_EP_CONNECT
                                  : NGX_HTTP_MDM_METRICS_EP_CHECKIN][reason],
                         1);
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
        return ngx_http_mdm_metrics_prometheus_send(r, ngx_http_mdm_metrics,
                                                    NULL);
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

    ngx_http_finalize_request(r,
        ngx_http_mdm_metrics_prometheus_send(r, ngx_http_mdm_metrics, reply));
    ngx_http_run_posted_requests(c);
}
