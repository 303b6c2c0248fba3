/*
 * ngx_http_mdm_module: directives, configuration and process start.
 * The endpoints live in their own files; this one wires them in.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_acme.h"
#include "ngx_http_mdm_identity.h"
#include "ngx_http_mdm_metrics.h"
#include "ngx_http_mdm_revoked.h"
#include "ngx_http_mdm_schema.h"
#include "ngx_http_mdm_conf_enum.h"


static ngx_int_t ngx_http_mdm_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_mdm_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_mdm_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_mdm_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mdm_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_mdm_set_api_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mdm_set_endpoint(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mdm_set_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mdm_set_identity(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mdm_set_trusted_proxy(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_mdm_check_body_buffer(ngx_conf_t *cf,
    ngx_http_mdm_loc_conf_t *conf);
static ngx_int_t ngx_http_mdm_init_process(ngx_cycle_t *cycle);
static void ngx_http_mdm_exit_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_mdm_cert_binding[] = {
    { ngx_string("off"), NGX_HTTP_MDM_BIND_OFF },
    { ngx_string("on"), NGX_HTTP_MDM_BIND_ON },
    { ngx_string("retro"), NGX_HTTP_MDM_BIND_RETRO },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_mdm_user_authenticate[] = {
    { ngx_string("decline"), NGX_HTTP_MDM_UA_DECLINE },
    { ngx_string("empty_digest"), NGX_HTTP_MDM_UA_EMPTY },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_mdm_commands[] = {

    { ngx_string("mdm_checkin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mdm_set_endpoint,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) NGX_HTTP_MDM_CHECKIN },

    { ngx_string("mdm_connect"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mdm_set_endpoint,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) NGX_HTTP_MDM_CONNECT },

    { ngx_string("mdm_server"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mdm_set_endpoint,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) NGX_HTTP_MDM_SERVER },

    { ngx_string("mdm_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mdm_set_endpoint,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) NGX_HTTP_MDM_API },

    { ngx_string("mdm_ddm_assets"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mdm_set_endpoint,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) NGX_HTTP_MDM_DDM_ASSETS },

    { ngx_string("mdm_vpp_notify"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mdm_set_endpoint,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) NGX_HTTP_MDM_VPP_NOTIFY },

    { ngx_string("mdm_healthz"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mdm_set_endpoint,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) NGX_HTTP_MDM_HEALTHZ },

    { ngx_string("mdm_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mdm_set_endpoint,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) NGX_HTTP_MDM_METRICS },

    { ngx_string("mdm_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_mdm_set_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mdm_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mdm_main_conf_t, redis.timeout),
      NULL },

    { ngx_string("mdm_redis_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mdm_main_conf_t, redis.connect_timeout),
      NULL },

    { ngx_string("mdm_redis_backoff_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mdm_main_conf_t, redis.backoff_max),
      NULL },

    { ngx_string("mdm_redis_error_log_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mdm_main_conf_t, redis.error_log_interval),
      NULL },

    { ngx_string("mdm_events_maxlen"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mdm_main_conf_t, events_maxlen),
      NULL },

    { ngx_string("mdm_result_retention"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mdm_main_conf_t, result_retention),
      NULL },

    { ngx_string("mdm_event_raw_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mdm_main_conf_t, event_raw_max_size),
      NULL },

    { ngx_string("mdm_identity_cache_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mdm_main_conf_t, identity_cache_size),
      NULL },

    { ngx_string("mdm_api_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mdm_set_api_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mdm_identity"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mdm_set_identity,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mdm_device_ca"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, device_ca),
      NULL },

    { ngx_string("mdm_identity_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, identity_header),
      NULL },

    { ngx_string("mdm_trusted_proxy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mdm_set_trusted_proxy,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mdm_cert_binding"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mdm_conf_set_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, cert_binding),
      &ngx_http_mdm_cert_binding },

    { ngx_string("mdm_cert_renew_grace"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, renew_grace),
      NULL },

    { ngx_string("mdm_topic_check"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, topic_check),
      NULL },

    { ngx_string("mdm_user_authenticate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mdm_conf_set_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, user_authenticate),
      &ngx_http_mdm_user_authenticate },

    { ngx_string("mdm_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_conf_set_keyval_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, tokens),
      NULL },

    { ngx_string("mdm_idle_events"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, idle_events),
      NULL },

    { ngx_string("mdm_checkin_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, checkin_max_size),
      NULL },

    { ngx_string("mdm_report_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, report_max_size),
      NULL },

    { ngx_string("mdm_message_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_mdm_set_message_max_size,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mdm_return_to_service"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, return_to_service),
      NULL },

    { ngx_string("mdm_revoked_refresh"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mdm_main_conf_t, revoked_refresh),
      NULL },

    { ngx_string("mdm_scep"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mdm_set_endpoint,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) NGX_HTTP_MDM_SCEP },

    { ngx_string("mdm_scep_ca"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE23,
      ngx_http_mdm_scep_set_ca,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, scep.ca_files),
      NULL },

    { ngx_string("mdm_scep_ra"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_mdm_scep_set_ca,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, scep.ra_files),
      NULL },

    { ngx_string("mdm_scep_validity"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, scep.validity),
      NULL },

    { ngx_string("mdm_scep_key_usage"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, scep.key_usage),
      &ngx_http_mdm_scep_key_usages },

    { ngx_string("mdm_scep_san"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, scep.san_types),
      &ngx_http_mdm_scep_san_types },

    { ngx_string("mdm_scep_min_key_bits"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, scep.min_key_bits),
      NULL },

    { ngx_string("mdm_scep_challenge"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, scep.challenge),
      NULL },

    { ngx_string("mdm_acme"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mdm_set_endpoint,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) NGX_HTTP_MDM_ACME },

    { ngx_string("mdm_acme_attestation_root"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, acme.root_file),
      NULL },

    { ngx_string("mdm_acme_base_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mdm_acme_set_base_url,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, acme.base_url),
      NULL },

    { ngx_string("mdm_acme_nonce_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, acme.nonce_ttl),
      NULL },

    { ngx_string("mdm_acme_order_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, acme.order_ttl),
      NULL },

    { ngx_string("mdm_wellknown"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mdm_set_endpoint,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) NGX_HTTP_MDM_WELLKNOWN },

    { ngx_string("mdm_wellknown_server"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_mdm_wellknown_set_server,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, wellknown.rules),
      NULL },

    { ngx_string("mdm_wellknown_message"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, wellknown.message),
      NULL },

    { ngx_string("mdm_scep_record_retention"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mdm_loc_conf_t, scep.record_retention),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mdm_module_ctx = {
    ngx_http_mdm_add_variables,            /* preconfiguration */
    ngx_http_mdm_postconfiguration,        /* postconfiguration */

    ngx_http_mdm_create_main_conf,         /* create main configuration */
    ngx_http_mdm_init_main_conf,           /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mdm_create_loc_conf,          /* create location configuration */
    ngx_http_mdm_merge_loc_conf            /* merge location configuration */
};


ngx_module_t  ngx_http_mdm_module = {
    NGX_MODULE_V1,
    &ngx_http_mdm_module_ctx,              /* module context */
    ngx_http_mdm_commands,                 /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_mdm_init_process,             /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_mdm_exit_process,             /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* ---------------------------------------------------------------------------
 * Configuration: create, init and merge; every default in merge_loc_conf
 * -------------------------------------------------------------------------- */

/*
 * Device messages are read and decoded in the rewrite phase, before
 * limit_req and limit_conn (preaccess) look at $mdm_enrollment_id.
 */
static ngx_int_t
ngx_http_mdm_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_mdm_main_conf_t   *mcf;

    if (ngx_http_mdm_metrics_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mdm_module);
    if (!mcf->used) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mdm_device_intake;

    return NGX_OK;
}


static void *
ngx_http_mdm_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mdm_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mdm_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    mcf->redis.pool_size = NGX_CONF_UNSET_UINT;
    mcf->redis.timeout = NGX_CONF_UNSET_MSEC;
    mcf->redis.connect_timeout = NGX_CONF_UNSET_MSEC;
    mcf->redis.backoff_max = NGX_CONF_UNSET_MSEC;
    mcf->redis.error_log_interval = NGX_CONF_UNSET_MSEC;
    mcf->events_maxlen = NGX_CONF_UNSET_UINT;
    mcf->result_retention = NGX_CONF_UNSET;
    mcf->identity_cache_size = NGX_CONF_UNSET_UINT;
    mcf->event_raw_max_size = NGX_CONF_UNSET_SIZE;
    mcf->revoked_refresh = NGX_CONF_UNSET_MSEC;

    return mcf;
}


static char *
ngx_http_mdm_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_mdm_main_conf_t  *mcf = conf;

    ngx_str_t  dflt = ngx_string("127.0.0.1:6379");
    char      *err;

    if (mcf->redis.addr.len == 0) {
        err = ngx_mdm_redis_parse_addr(cf->pool, &dflt, &mcf->redis);
        if (err != NULL) {
            return err;
        }
    }

    ngx_conf_init_uint_value(mcf->redis.pool_size, 2);
    ngx_conf_init_msec_value(mcf->redis.timeout, 1000);
    ngx_conf_init_msec_value(mcf->redis.connect_timeout, 1000);
    ngx_conf_init_msec_value(mcf->redis.backoff_max, 5000);
    ngx_conf_init_msec_value(mcf->redis.error_log_interval, 10000);
    ngx_conf_init_uint_value(mcf->events_maxlen, 1000000);
    ngx_conf_init_value(mcf->result_retention, 7 * 86400);
    ngx_conf_init_uint_value(mcf->identity_cache_size, 10000);
    ngx_conf_init_size_value(mcf->event_raw_max_size, 64 * 1024);
    ngx_conf_init_msec_value(mcf->revoked_refresh, 5000);

    return NGX_CONF_OK;
}


static void *
ngx_http_mdm_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mdm_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mdm_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->endpoint = 0;
     *     conf->api_key = { 0, NULL };
     *     conf->api_users = NULL;
     *     conf->device_ca = { 0, NULL };
     *     conf->identity_header = { 0, NULL };
     *     conf->identity_ctx = NULL;
     */

    conf->identity = NGX_CONF_UNSET_UINT;
    conf->trusted_proxies = NGX_CONF_UNSET_PTR;
    conf->cert_binding = NGX_CONF_UNSET_UINT;
    conf->topic_check = NGX_CONF_UNSET;
    conf->user_authenticate = NGX_CONF_UNSET_UINT;
    conf->tokens = NGX_CONF_UNSET_PTR;
    conf->return_to_service = NGX_CONF_UNSET;
    conf->idle_events = NGX_CONF_UNSET;
    conf->checkin_max_size = NGX_CONF_UNSET_SIZE;
    conf->report_max_size = NGX_CONF_UNSET_SIZE;
    conf->renew_grace = NGX_CONF_UNSET;
    ngx_http_mdm_limits_create_conf(conf);
    ngx_http_mdm_scep_create_conf(&conf->scep);
    ngx_http_mdm_acme_create_conf(&conf->acme);
    ngx_http_mdm_wellknown_create_conf(&conf->wellknown);

    return conf;
}


static char *
ngx_http_mdm_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mdm_loc_conf_t *prev = parent;
    ngx_http_mdm_loc_conf_t *conf = child;

    /* a key and its users are one setting: a key given here alone means
     * the routes' default users, not those of an outer level */
    if (conf->api_key.data == NULL) {
        conf->api_key = prev->api_key;
        conf->api_users = prev->api_users;
    }
    ngx_conf_merge_uint_value(conf->identity, prev->identity,
                              NGX_HTTP_MDM_ID_TLS|NGX_HTTP_MDM_ID_SIGNATURE);
    ngx_conf_merge_str_value(conf->device_ca, prev->device_ca, "");
    ngx_conf_merge_str_value(conf->identity_header, prev->identity_header,
                             "X-Client-Cert");
    ngx_conf_merge_ptr_value(conf->trusted_proxies, prev->trusted_proxies,
                             NULL);
    ngx_conf_merge_uint_value(conf->cert_binding, prev->cert_binding,
                              NGX_HTTP_MDM_BIND_ON);
    ngx_conf_merge_value(conf->topic_check, prev->topic_check, 0);
    ngx_conf_merge_uint_value(conf->user_authenticate,
                              prev->user_authenticate,
                              NGX_HTTP_MDM_UA_DECLINE);
    ngx_conf_merge_ptr_value(conf->tokens, prev->tokens, NULL);
    ngx_conf_merge_value(conf->return_to_service, prev->return_to_service,
                         0);
    ngx_conf_merge_value(conf->idle_events, prev->idle_events, 1);
    /*
     * Real check-ins are a few KB (an Authenticate ~0.6 KB, a TokenUpdate
     * ~2.5 KB); results of list queries can be MBs.
     */
    ngx_conf_merge_size_value(conf->checkin_max_size, prev->checkin_max_size,
                              64 * 1024);
    ngx_conf_merge_size_value(conf->report_max_size, prev->report_max_size,
                              8 * 1024 * 1024);
    ngx_http_mdm_limits_merge_conf(prev, conf);
    ngx_conf_merge_sec_value(conf->renew_grace, prev->renew_grace, 86400);

    if (ngx_http_mdm_scep_merge_conf(cf, &prev->scep, &conf->scep,
                                     conf->endpoint == NGX_HTTP_MDM_SCEP
                                     || conf->endpoint == NGX_HTTP_MDM_ACME)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_mdm_acme_merge_conf(cf, &prev->acme, &conf->acme,
                                     conf->endpoint == NGX_HTTP_MDM_ACME)
        != NGX_CONF_OK
        || ngx_http_mdm_wellknown_merge_conf(cf, &prev->wellknown,
                                             &conf->wellknown,
                                             conf->endpoint
                                             == NGX_HTTP_MDM_WELLKNOWN)
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->endpoint == NGX_HTTP_MDM_API && conf->api_key.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mdm_api\" requires \"mdm_api_key\"");
        return NGX_CONF_ERROR;
    }

    /* a SCEP pkiMessage and an ACME JWS are read into memory too */
    if ((conf->endpoint == NGX_HTTP_MDM_SCEP
         || conf->endpoint == NGX_HTTP_MDM_ACME)
        && ngx_http_mdm_check_body_buffer(cf, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->endpoint >= NGX_HTTP_MDM_CHECKIN
        && conf->endpoint <= NGX_HTTP_MDM_SERVER)
    {
        if (ngx_http_mdm_check_body_buffer(cf, conf) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_mdm_identity_init(cf, conf, prev) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    /* an asset is fetched with the device's identity, as a check-in */
    if (conf->endpoint == NGX_HTTP_MDM_DDM_ASSETS
        && ngx_http_mdm_identity_init(cf, conf, prev) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * Device bodies are kept in memory: a body that nginx spilled to a temp file
 * would have to be read back with blocking I/O. Say so at "nginx -t".
 */
static char *
ngx_http_mdm_check_body_buffer(ngx_conf_t *cf, ngx_http_mdm_loc_conf_t *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->client_max_body_size == 0
        || clcf->client_body_buffer_size < (size_t) clcf->client_max_body_size)
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "mdm: \"client_body_buffer_size\" %uz is less "
                           "than \"client_max_body_size\" %O; device bodies "
                           "larger than the buffer will be refused with 413",
                           clcf->client_body_buffer_size,
                           clcf->client_max_body_size);
    }

    return NGX_CONF_OK;
}


/* ---------------------------------------------------------------------------
 * Directives with their own setters
 * -------------------------------------------------------------------------- */

/* mdm_api_key KEY [USER ...]: without users, each route's realm name */
static char *
ngx_http_mdm_set_api_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mdm_loc_conf_t *mlcf = conf;

    ngx_str_t   *value, *user;
    ngx_uint_t   i;

    if (mlcf->api_key.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "has an empty key";
    }

    mlcf->api_key = value[1];

    if (cf->args->nelts == 2) {
        return NGX_CONF_OK;
    }

    mlcf->api_users = ngx_array_create(cf->pool, cf->args->nelts - 2,
                                       sizeof(ngx_str_t));
    if (mlcf->api_users == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        if (value[i].len == 0 || ngx_strlchr(value[i].data,
                                             value[i].data + value[i].len,
                                             ':') != NULL)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid user name \"%V\" in \"%V\": "
                               "empty or with ':'", &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }

        user = ngx_array_push(mlcf->api_users);
        if (user == NULL) {
            return NGX_CONF_ERROR;
        }

        *user = value[i];
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mdm_set_endpoint(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mdm_loc_conf_t *mlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_mdm_main_conf_t  *mcf;

    if (mlcf->endpoint != 0) {
        return "is duplicate: a location serves one mdm endpoint";
    }

    mlcf->endpoint = (ngx_uint_t) cmd->post;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mdm_module);
    mcf->used = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    switch (mlcf->endpoint) {
    case NGX_HTTP_MDM_API:
        clcf->handler = ngx_http_mdm_api_handler;
        break;
    case NGX_HTTP_MDM_HEALTHZ:
        clcf->handler = ngx_http_mdm_healthz_handler;
        break;
    case NGX_HTTP_MDM_DDM_ASSETS:
        clcf->handler = ngx_http_mdm_ddm_asset_handler;
        break;
    case NGX_HTTP_MDM_VPP_NOTIFY:
        clcf->handler = ngx_http_mdm_vpp_notify_handler;
        break;
    case NGX_HTTP_MDM_METRICS:
        clcf->handler = ngx_http_mdm_metrics_handler;
        break;
    case NGX_HTTP_MDM_SCEP:
        clcf->handler = ngx_http_mdm_scep_handler;
        mcf->scep_used = 1;
        break;
    case NGX_HTTP_MDM_ACME:
        /* the resources are paths below the location */
        if (clcf->exact_match || clcf->regex) {
            return "needs a prefix location (location /acme/ { ... })";
        }
        clcf->handler = ngx_http_mdm_acme_handler;
        mcf->scep_used = 1;
        break;
    case NGX_HTTP_MDM_WELLKNOWN:
        clcf->handler = ngx_http_mdm_wellknown_handler;
        break;
    default:
        clcf->handler = ngx_http_mdm_device_handler;
        break;
    }

    return NGX_CONF_OK;
}


/* "pool=N": 1..64 connections (per master in a cluster). */
static char *
ngx_http_mdm_set_redis_pool(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_mdm_main_conf_t *mcf)
{
    ngx_int_t  n;

    n = ngx_atoi(value->data + 5, value->len - 5);
    if (n < 1 || n > 64) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mdm_redis\" pool must be 1..64, not \"%V\"",
                           value);
        return NGX_CONF_ERROR;
    }

    mcf->redis.pool_size = n;

    return NGX_CONF_OK;
}


/*
 * mdm_redis host:port [pool=N];
 * mdm_redis cluster host:port [host:port ...] [pool=N];
 */
static char *
ngx_http_mdm_set_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mdm_main_conf_t *mcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i, first, cluster;
    char        *err;

    if (mcf->redis.addr.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    cluster = value[1].len == 7 && ngx_strncmp(value[1].data, "cluster", 7) == 0;
    first = cluster ? 2 : 1;

    for (i = first; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "pool=", 5) == 0) {
            if (ngx_http_mdm_set_redis_pool(cf, &value[i], mcf)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }
            continue;
        }

        if (!cluster && i > first) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"mdm_redis\" parameter \"%V\" "
                               "(several nodes are \"mdm_redis cluster "
                               "host:port ...\")", &value[i]);
            return NGX_CONF_ERROR;
        }

        err = cluster ? ngx_mdm_redis_add_seed(cf->pool, &value[i],
                                               &mcf->redis)
                      : ngx_mdm_redis_parse_addr(cf->pool, &value[i],
                                                 &mcf->redis);
        if (err != NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               cluster ? "\"mdm_redis\" cluster seed \"%V\" %s"
                                       : "\"mdm_redis\" address \"%V\" %s",
                               &value[i], err);
            return NGX_CONF_ERROR;
        }
    }

    if (cluster) {
        if (mcf->redis.seeds == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mdm_redis cluster\" needs at least one "
                               "seed \"host:port\"");
            return NGX_CONF_ERROR;
        }
        mcf->redis.addr.len = sizeof("cluster") - 1;
        mcf->redis.addr.data = (u_char *) "cluster";

    } else if (mcf->redis.addr.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mdm_redis\" needs an address");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mdm_set_identity(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mdm_loc_conf_t *mlcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (mlcf->identity != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    mlcf->identity = 0;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_strcmp(value[i].data, "tls") == 0) {
            mlcf->identity |= NGX_HTTP_MDM_ID_TLS;

        } else if (ngx_strcmp(value[i].data, "signature") == 0) {
            mlcf->identity |= NGX_HTTP_MDM_ID_SIGNATURE;

        } else if (ngx_strcmp(value[i].data, "header") == 0) {
            mlcf->identity |= NGX_HTTP_MDM_ID_HEADER;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"mdm_identity\" source \"%V\", "
                               "expected \"tls\", \"signature\" or \"header\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mdm_set_trusted_proxy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_mdm_loc_conf_t *mlcf = conf;

    ngx_str_t   *value;
    ngx_cidr_t  *cidr;

    if (mlcf->trusted_proxies == NGX_CONF_UNSET_PTR) {
        mlcf->trusted_proxies = ngx_array_create(cf->pool, 2,
                                                 sizeof(ngx_cidr_t));
        if (mlcf->trusted_proxies == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    cidr = ngx_array_push(mlcf->trusted_proxies);
    if (cidr == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    switch (ngx_ptocidr(&value[1], cidr)) {
    case NGX_ERROR:
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"mdm_trusted_proxy\" address \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    case NGX_DONE:
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "low address bits of %V are meaningless",
                           &value[1]);
        break;
    }

    return NGX_CONF_OK;
}


/* ---------------------------------------------------------------------------
 * Worker processes: the metrics zone, the Redis pool, the revoked set
 * -------------------------------------------------------------------------- */

static ngx_int_t
ngx_http_mdm_init_process(ngx_cycle_t *cycle)
{
    ngx_http_mdm_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_mdm_module);

    /* cache managers and loaders serve no requests: no Redis for them */
    if (mcf == NULL || !mcf->used
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    ngx_http_mdm_metrics_init_process(cycle);

    mcf->rd = ngx_mdm_redis_create(cycle, &mcf->redis);
    if (mcf->rd == NULL
        || ngx_http_mdm_schema_init_process(cycle, mcf->rd) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* our CA's revocations reach the identity check through this set */
    if (mcf->scep_used
        && ngx_http_mdm_revoked_init_process(cycle, mcf->rd,
                                             mcf->revoked_refresh)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_mdm_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_mdm_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_mdm_module);
    if (mcf != NULL && mcf->rd != NULL) {
        ngx_http_mdm_schema_exit_process();
        if (mcf->scep_used) {
            ngx_http_mdm_revoked_exit_process();
        }
        ngx_mdm_redis_destroy(mcf->rd);
        mcf->rd = NULL;
    }
}
