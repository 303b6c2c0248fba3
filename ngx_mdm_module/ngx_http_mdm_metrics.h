#ifndef _NGX_HTTP_MDM_METRICS_H_INCLUDED_
#define _NGX_HTTP_MDM_METRICS_H_INCLUDED_

/*
 * Prometheus counters shared by every nginx worker process: one shared
 * memory zone of atomic counters, no locks on the request path. Requests are
 * counted once, in the log phase; identity refusals and Redis outcomes where
 * they happen. docs/metrics.md lists every metric.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_identity.h"


/* postconfiguration: the zone, the log-phase counter, the Redis observer */
ngx_int_t ngx_http_mdm_metrics_init(ngx_conf_t *cf);

/* init_process: binds this worker to the zone of its cycle */
void ngx_http_mdm_metrics_init_process(ngx_cycle_t *cycle);

/* Counts a refused device identity or binding, by its reason. */
void ngx_http_mdm_metrics_identity_failure(mdm_identity_reason_e reason);

/* Counts a check-in (connect 0) or report (1) body libmdm refused, by why */
void ngx_http_mdm_metrics_body_refused(ngx_uint_t connect,
    mdm_refused_e reason);

/* GET /metrics: as an API route, and as the "mdm_metrics" location */
ngx_int_t ngx_http_mdm_metrics_api(ngx_http_request_t *r, ngx_str_t *path);
ngx_int_t ngx_http_mdm_metrics_handler(ngx_http_request_t *r);

#endif /* _NGX_HTTP_MDM_METRICS_H_INCLUDED_ */
