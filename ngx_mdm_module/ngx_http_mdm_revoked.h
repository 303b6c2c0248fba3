#ifndef _NGX_HTTP_MDM_REVOKED_H_INCLUDED_
#define _NGX_HTTP_MDM_REVOKED_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_mdm_redis.h"


/* Starts this worker's refresh of mdm:ca:revoked every interval. */
ngx_int_t ngx_http_mdm_revoked_init_process(ngx_cycle_t *cycle,
    ngx_mdm_redis_t *rd, ngx_msec_t interval);
void ngx_http_mdm_revoked_exit_process(void);

/* Whether the certificate (lowercase hex SHA-256) is revoked, as of the
 * last refresh. */
ngx_int_t ngx_http_mdm_revoked_is(const char *sha256_hex);

#endif /* _NGX_HTTP_MDM_REVOKED_H_INCLUDED_ */
