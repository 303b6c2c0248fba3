#ifndef _NGX_HTTP_MDM_ACME_CONF_H_INCLUDED_
#define _NGX_HTTP_MDM_ACME_CONF_H_INCLUDED_

/* The mdm_acme_* directives (docs/acme.md), a part of
 * ngx_http_mdm_loc_conf_t; the rest of ACME is in ngx_http_mdm_acme.h. */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/x509.h>


/* the mdm_acme_* directives, a part of ngx_http_mdm_loc_conf_t */
typedef struct {
    ngx_str_t                   base_url;     /* "" : from the request */
    ngx_str_t                   root_file;
    X509_STORE                 *roots;
    time_t                      nonce_ttl;
    time_t                      order_ttl;
} ngx_http_mdm_acme_conf_t;



void ngx_http_mdm_acme_create_conf(ngx_http_mdm_acme_conf_t *conf);
char *ngx_http_mdm_acme_merge_conf(ngx_conf_t *cf,
    ngx_http_mdm_acme_conf_t *prev, ngx_http_mdm_acme_conf_t *conf,
    ngx_uint_t is_acme);
char *ngx_http_mdm_acme_set_base_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

#endif /* _NGX_HTTP_MDM_ACME_CONF_H_INCLUDED_ */
