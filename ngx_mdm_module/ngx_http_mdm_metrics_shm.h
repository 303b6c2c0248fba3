#ifndef _NGX_HTTP_MDM_METRICS_SHM_H_INCLUDED_
#define _NGX_HTTP_MDM_METRICS_SHM_H_INCLUDED_

/*
 * The layout of the counters in the shared memory zone, shared by the file
 * that counts (ngx_http_mdm_metrics.c) and the one that renders them
 * (ngx_http_mdm_metrics_prometheus.c). Index tables that are also label
 * values are defined once, in the counting file.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>

#include "mdm_checkin.h"
#include "mdm_identity.h"
#include "mdm_report.h"


/* message labels: none, libmdm's check-in MessageTypes, then its Statuses */
#define NGX_HTTP_MDM_METRICS_CHECKINS   MDM_CHECKIN_RETURN_TO_SERVICE
#define NGX_HTTP_MDM_METRICS_MESSAGES   (1 + NGX_HTTP_MDM_METRICS_CHECKINS  \
                                         + MDM_STATUS_NOT_NOW)
#define NGX_HTTP_MDM_METRICS_CODES      21
#define NGX_HTTP_MDM_METRICS_KNOWN      15   /* codes with their own label */
#define NGX_HTTP_MDM_METRICS_ROUTES     9
#define NGX_HTTP_MDM_METRICS_REDIS      5
#define NGX_HTTP_MDM_METRICS_CLUSTER    4
#define NGX_HTTP_MDM_METRICS_BUCKETS    10   /* and +Inf */


/* indexes of ngx_http_mdm_metrics_endpoints[] */
enum {
    NGX_HTTP_MDM_METRICS_EP_CHECKIN = 0,
    NGX_HTTP_MDM_METRICS_EP_CONNECT,
    NGX_HTTP_MDM_METRICS_EP_SERVER,
    NGX_HTTP_MDM_METRICS_ENDPOINTS
};


typedef struct {
    ngx_atomic_t  device[NGX_HTTP_MDM_METRICS_ENDPOINTS]
                        [NGX_HTTP_MDM_METRICS_MESSAGES]
                        [NGX_HTTP_MDM_METRICS_CODES];
    ngx_atomic_t  api[NGX_HTTP_MDM_METRICS_ROUTES]
                     [NGX_HTTP_MDM_METRICS_CODES];
    ngx_atomic_t  identity[MDM_IDENTITY_REASONS];   /* 0 (ok) unused */
    ngx_atomic_t  refused[NGX_HTTP_MDM_METRICS_EP_SERVER]
                         [MDM_REFUSED_REASONS];      /* bodies libmdm refused */
    ngx_atomic_t  redis_errors[NGX_HTTP_MDM_METRICS_REDIS];
    ngx_atomic_t  redis_cluster[NGX_HTTP_MDM_METRICS_CLUSTER];
    ngx_atomic_t  redis_latency[NGX_HTTP_MDM_METRICS_BUCKETS + 1];
    ngx_atomic_t  redis_latency_usec;
} ngx_http_mdm_metrics_shm_t;


/* label values that are also what a request is matched against */
extern ngx_str_t  ngx_http_mdm_metrics_routes[NGX_HTTP_MDM_METRICS_ROUTES];


/* ngx_http_mdm_metrics_prometheus.c: the counters of m and the figures of
 * metrics.lua (reply, NULL when Redis did not answer) as the response */
ngx_int_t ngx_http_mdm_metrics_prometheus_send(ngx_http_request_t *r,
    ngx_http_mdm_metrics_shm_t *m, redisReply *reply);

#endif /* _NGX_HTTP_MDM_METRICS_SHM_H_INCLUDED_ */
