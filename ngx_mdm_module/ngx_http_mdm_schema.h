#ifndef _NGX_HTTP_MDM_SCHEMA_H_INCLUDED_
#define _NGX_HTTP_MDM_SCHEMA_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_mdm_redis.h"

/* Starts this worker's check of mdm:schema (libmdm/mdm_schema.h). */
ngx_int_t ngx_http_mdm_schema_init_process(ngx_cycle_t *cycle,
    ngx_mdm_redis_t *rd);
void ngx_http_mdm_schema_exit_process(void);

/* Whether Redis holds another key layout: every call is then answered 503;
 * the reason is logged at most once per check. */
ngx_int_t ngx_http_mdm_schema_refused(ngx_log_t *log);

/* The deployment's shard count, for mdm_shard_of() (libmdm/mdm_shard.h) */
unsigned ngx_http_mdm_shards(void);

#endif /* _NGX_HTTP_MDM_SCHEMA_H_INCLUDED_ */
