#ifndef _NGX_MDM_REDIS_CLUSTER_H_INCLUDED_
#define _NGX_MDM_REDIS_CLUSTER_H_INCLUDED_

/*
 * nginx's event adapter of libmdm's cluster client: each hiredis context the
 * client makes gets an nginx connection for its fd (level-triggered, as in
 * ngx_mdm_redis.c), and one timer drives mdm_cluster_tick().
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "redis/mdm_cluster.h"


typedef struct {
    mdm_cluster_t  *cl;
    ngx_event_t     tick;
    ngx_log_t      *log;
} ngx_mdm_redis_cluster_t;


/* Starts the client; NULL when out of memory. ev must outlive it. */
mdm_cluster_t *ngx_mdm_redis_cluster_start(ngx_mdm_redis_cluster_t *ev,
    ngx_log_t *log, const mdm_cluster_conf_t *conf);

void ngx_mdm_redis_cluster_stop(ngx_mdm_redis_cluster_t *ev);

#endif /* _NGX_MDM_REDIS_CLUSTER_H_INCLUDED_ */
