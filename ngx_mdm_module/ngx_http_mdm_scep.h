#ifndef _NGX_HTTP_MDM_SCEP_H_INCLUDED_
#define _NGX_HTTP_MDM_SCEP_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* the mdm_scep_* directives, a part of ngx_http_mdm_loc_conf_t */
typedef struct {
    ngx_array_t                *ca_files;     /* cert, key[, chain] */
    void                       *ca;           /* mdm_ca_t */
    ngx_array_t                *ra_files;     /* cert, key */
    void                       *ra;           /* mdm_ca_t, or NULL */
    ngx_str_t                   ca_der;       /* GetCACert answer */
    time_t                      validity;
    ngx_uint_t                  key_usage;    /* KU_* bits */
    ngx_uint_t                  min_key_bits;
    ngx_uint_t                  san_types;    /* MDM_CA_SAN_* << 1 */
    ngx_str_t                   challenge;    /* static; empty: none */
    time_t                      record_retention;  /* after not_after */
} ngx_http_mdm_scep_conf_t;


void ngx_http_mdm_scep_create_conf(ngx_http_mdm_scep_conf_t *conf);
char *ngx_http_mdm_scep_merge_conf(ngx_conf_t *cf,
    ngx_http_mdm_scep_conf_t *prev, ngx_http_mdm_scep_conf_t *conf,
    ngx_uint_t is_scep);
char *ngx_http_mdm_scep_set_ca(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_mdm_scep_handler(ngx_http_request_t *r);

extern ngx_conf_bitmask_t  ngx_http_mdm_scep_key_usages[];
extern ngx_conf_bitmask_t  ngx_http_mdm_scep_san_types[];

#endif /* _NGX_HTTP_MDM_SCEP_H_INCLUDED_ */
