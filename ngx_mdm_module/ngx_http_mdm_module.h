#ifndef _NGX_HTTP_MDM_MODULE_H_INCLUDED_
#define _NGX_HTTP_MDM_MODULE_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_checkin.h"
#include "mdm_event.h"
#include "mdm_store.h"
#include "mdm_report.h"
#include "ngx_mdm_redis.h"
#include "ngx_http_mdm_scep.h"
#include "ngx_http_mdm_acme_conf.h"
#include "ngx_http_mdm_wellknown.h"
#include "enroll/mdm_ca.h"


#define NGX_HTTP_MDM_CHECKIN        1
#define NGX_HTTP_MDM_CONNECT        2
#define NGX_HTTP_MDM_SERVER         3   /* check-ins and reports, one URL */
#define NGX_HTTP_MDM_API            4
#define NGX_HTTP_MDM_HEALTHZ        5
#define NGX_HTTP_MDM_METRICS        6
#define NGX_HTTP_MDM_SCEP           10
#define NGX_HTTP_MDM_ACME           11
#define NGX_HTTP_MDM_WELLKNOWN      13
#define NGX_HTTP_MDM_DDM_ASSETS     12  /* DDM asset data, device identity */
#define NGX_HTTP_MDM_VPP_NOTIFY     20

#define NGX_HTTP_MDM_ID_TLS         0x01
#define NGX_HTTP_MDM_ID_SIGNATURE   0x02
#define NGX_HTTP_MDM_ID_HEADER      0x04

#define NGX_HTTP_MDM_BIND_OFF       0
#define NGX_HTTP_MDM_BIND_ON        1
#define NGX_HTTP_MDM_BIND_RETRO     2

#define NGX_HTTP_MDM_UA_DECLINE     0
#define NGX_HTTP_MDM_UA_EMPTY       1

#define NGX_HTTP_MDM_GONE           410

/* mdm_message_max_size: one bound per MessageType and per Status */
#define NGX_HTTP_MDM_CHECKIN_TYPES  (MDM_CHECKIN_RETURN_TO_SERVICE + 1)
#define NGX_HTTP_MDM_STATUSES       (MDM_STATUS_NOT_NOW + 1)


typedef struct {
    ngx_mdm_redis_conf_t        redis;
    ngx_mdm_redis_t            *rd;          /* per worker process */
    ngx_flag_t                  used;        /* some location is mdm */
    ngx_uint_t                  events_maxlen;
    time_t                      result_retention;
    ngx_uint_t                  identity_cache_size;
    ngx_shm_zone_t             *metrics_zone;
    size_t                      event_raw_max_size;
    ngx_flag_t                  scep_used;   /* revoked set refreshed */
    ngx_msec_t                  revoked_refresh;
} ngx_http_mdm_main_conf_t;


typedef struct {
    ngx_uint_t                  endpoint;
    ngx_str_t                   api_key;
    ngx_array_t                *api_users;   /* ngx_str_t; NULL: by route */

    ngx_uint_t                  identity;    /* NGX_HTTP_MDM_ID_* bits */
    ngx_str_t                   device_ca;
    void                       *identity_ctx;  /* mdm_identity_t */
    ngx_str_t                   identity_header;
    ngx_array_t                *trusted_proxies;  /* ngx_cidr_t */
    ngx_uint_t                  cert_binding;
    ngx_flag_t                  topic_check;
    ngx_uint_t                  user_authenticate;
    ngx_array_t                *tokens;      /* ngx_keyval_t */
    ngx_flag_t                  return_to_service;
    ngx_flag_t                  idle_events;
    size_t                      checkin_max_size;
    size_t                      report_max_size;
    size_t                      checkin_type_max[NGX_HTTP_MDM_CHECKIN_TYPES];
    size_t                      status_max[NGX_HTTP_MDM_STATUSES];
    time_t                      renew_grace;  /* previous cert after renewal */
    ngx_http_mdm_scep_conf_t    scep;
    ngx_http_mdm_acme_conf_t    acme;
    ngx_http_mdm_wellknown_conf_t  wellknown;
} ngx_http_mdm_loc_conf_t;


/* per-request state */
typedef struct ngx_http_mdm_ctx_s  ngx_http_mdm_ctx_t;

typedef ngx_int_t (*ngx_http_mdm_reply_pt)(ngx_http_request_t *r,
    redisReply *reply);

struct ngx_http_mdm_ctx_s {
    ngx_mdm_redis_cmd_t        *cmd;
    ngx_http_mdm_reply_pt       reply_handler;
    void                       *data;        /* the endpoint's own state */

    ngx_str_t                   enrollment_id;   /* for logs and variables */
    ngx_str_t                   message_type;
    ngx_str_t                   status;
    ngx_str_t                   command_uuid;
    ngx_uint_t                  checkin_type;    /* mdm_checkin_type_e */
    ngx_uint_t                  report_status;   /* mdm_status_e */

    char                        cert_sha256[65];  /* the device's, or "" */

    /*
     * Device messages are read, authenticated and decoded in the rewrite
     * phase, so that limit_req (preaccess) can key by $mdm_enrollment_id:
     * 0 before, NGX_DONE while the body is read, then NGX_DECLINED (the
     * message is ready to store) or the status that refused it.
     */
    ngx_int_t                   intake;
    ngx_str_t                   body;
    ngx_uint_t                  checkin;     /* a check-in, not a report */
    void                       *renew;       /* ngx_http_mdm_renew.c */
    void                       *issuance;    /* ngx_http_mdm_issuance.c */
    void                       *record;      /* ngx_http_mdm_issuance_record.c */
    void                       *ddm;         /* ngx_http_mdm_ddm.c */
};


extern ngx_module_t  ngx_http_mdm_module;


/* Redis command arguments, allocated from the request pool */
typedef struct {
    const char                **argv;
    size_t                     *argvlen;
    int                         argc;
    int                         nalloc;
    unsigned                    overflow:1;  /* an add found no room */
} ngx_http_mdm_args_t;


/* ngx_http_mdm_request.c: plumbing shared by the endpoints */
ngx_int_t ngx_http_mdm_args_init(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, int n);
void ngx_http_mdm_args_add(ngx_http_mdm_args_t *args, const void *p,
    size_t len);
void ngx_http_mdm_args_add_cstr(ngx_http_mdm_args_t *args, const char *s);
ngx_int_t ngx_http_mdm_args_add_copy(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, const char *s, size_t len);
ngx_int_t ngx_http_mdm_args_add_int(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, int64_t n);
ngx_int_t ngx_http_mdm_args_script(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, const char *script, int nkeys);
ngx_int_t ngx_http_mdm_key_command(ngx_http_request_t *r, const char *cmd,
    mdm_key_id_t k, const char *owner, const char *member,
    ngx_http_mdm_reply_pt handler);
ngx_int_t ngx_http_mdm_eval(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, ngx_http_mdm_reply_pt handler);
ngx_int_t ngx_http_mdm_store_init(ngx_http_request_t *r, mdm_argv_t *a,
    int argc, int nkeys);
ngx_int_t ngx_http_mdm_store_eval(ngx_http_request_t *r, mdm_argv_t *a,
    ngx_http_mdm_reply_pt handler);
ngx_int_t ngx_http_mdm_args_add_event(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, mdm_event_t *ev, ngx_str_t *body);
ngx_int_t ngx_http_mdm_event_bytes(ngx_http_request_t *r, mdm_event_t *ev,
    ngx_str_t *body, ngx_str_t *out);
int64_t ngx_http_mdm_now_ms(void);
char *ngx_http_mdm_cstr(ngx_pool_t *pool, ngx_str_t *s);
ngx_uint_t ngx_http_mdm_location_path(ngx_http_request_t *r, ngx_str_t *path);
mdm_alloc_t ngx_http_mdm_allocator(ngx_http_request_t *r);
ngx_http_mdm_ctx_t *ngx_http_mdm_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_mdm_redis_call(ngx_http_request_t *r, int argc,
    const char **argv, const size_t *argvlen, ngx_http_mdm_reply_pt handler);
ngx_int_t ngx_http_mdm_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *content_type, const u_char *body, size_t len);
ngx_int_t ngx_http_mdm_send_json_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *message);
ngx_int_t ngx_http_mdm_read_body(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt post_handler);
ngx_int_t ngx_http_mdm_body(ngx_http_request_t *r, ngx_str_t *body);

/* ngx_http_mdm_variables.c: $mdm_* for access logs (preconfiguration) */
ngx_int_t ngx_http_mdm_add_variables(ngx_conf_t *cf);

/* endpoint handlers */
ngx_int_t ngx_http_mdm_api_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mdm_healthz_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mdm_vpp_notify_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mdm_device_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_mdm_device_intake(ngx_http_request_t *r);
ngx_int_t ngx_http_mdm_ddm_asset_handler(ngx_http_request_t *r);
/* decode (context filled, type bound checked), then store and answer */
ngx_int_t ngx_http_mdm_checkin_decode(ngx_http_request_t *r, ngx_str_t *body);
ngx_int_t ngx_http_mdm_checkin(ngx_http_request_t *r, ngx_str_t *body,
    const char *cert_sha256);
ngx_int_t ngx_http_mdm_connect_decode(ngx_http_request_t *r, ngx_str_t *body);
ngx_int_t ngx_http_mdm_connect(ngx_http_request_t *r, ngx_str_t *body,
    const char *cert_sha256);

/* ngx_http_mdm_limits.c: mdm_message_max_size */
void ngx_http_mdm_limits_create_conf(ngx_http_mdm_loc_conf_t *conf);
void ngx_http_mdm_limits_merge_conf(ngx_http_mdm_loc_conf_t *prev,
    ngx_http_mdm_loc_conf_t *conf);
char *ngx_http_mdm_set_message_max_size(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_mdm_limits_check(ngx_http_request_t *r,
    ngx_uint_t checkin, ngx_uint_t type, const char *name, size_t len);
ngx_int_t ngx_http_mdm_device_retry(ngx_http_request_t *r);

/* ngx_http_mdm_checkin.c: the stored step of a decoded check-in (ctx->data)
 * once the facts it needs are at hand */
ngx_int_t ngx_http_mdm_checkin_store(ngx_http_request_t *r, ngx_str_t *body,
    const char *cert_sha256);

/*
 * ngx_http_mdm_issuance.c: at Authenticate, what our CA recorded when it
 * issued the device's certificate (user, link, tags: mdm:ca:cert:{<sha>}),
 * read in a call of its own before the check-in is stored, then
 * ngx_http_mdm_checkin_store(). ngx_http_mdm_issuance_fields() puts them
 * into the checkin.lua call (enroll_user, enroll_link, enroll_tags).
 */
ngx_int_t ngx_http_mdm_issuance_read(ngx_http_request_t *r, ngx_str_t *body,
    const char *cert_sha256);
void ngx_http_mdm_issuance_fields(ngx_http_request_t *r,
    mdm_store_checkin_t *in);

/*
 * ngx_http_mdm_issuance_record.c: the record of a certificate our CA has
 * just issued (SCEP, ACME). ngx_http_mdm_issuance_args() starts the
 * ca_record.lua call with the fields every record has (room for facts
 * more field/value pairs), ngx_http_mdm_issuance_fact() adds one of the
 * caller's (when not empty), ngx_http_mdm_issuance_record() runs it, the
 * serial lookup and the index, then done.
 */
ngx_int_t ngx_http_mdm_issuance_args(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, int facts, const mdm_ca_issued_t *issued,
    time_t expires);
void ngx_http_mdm_issuance_fact(ngx_http_mdm_args_t *args, const char *field,
    ngx_str_t *value);
ngx_int_t ngx_http_mdm_issuance_record(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, const mdm_ca_issued_t *issued, time_t expires,
    ngx_http_mdm_reply_pt done);

/* ngx_http_mdm_renew.c: a refused certificate that our CA issued to renew
 * this enrollment is bound, then the message is processed again;
 * NGX_DECLINED when the refusal is not such a case */
ngx_int_t ngx_http_mdm_renew_bind(ngx_http_request_t *r, const char *reason,
    const char *bind_id);

#endif /* _NGX_HTTP_MDM_MODULE_H_INCLUDED_ */
