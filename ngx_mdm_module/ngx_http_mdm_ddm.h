#ifndef _NGX_HTTP_MDM_DDM_H_INCLUDED_
#define _NGX_HTTP_MDM_DDM_H_INCLUDED_

/*
 * Declarative device management served by the module (docs/ddm.md): the
 * catalogue API (ngx_http_mdm_api_ddm.c), the views it materialises into
 * each affected enrollment's keys and the coalesced notification
 * (ngx_http_mdm_ddm_view.c), the device endpoints (ngx_http_mdm_ddm.c) and
 * the status API (ngx_http_mdm_api_ddm_status.c).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ddm/mdm_ddm_declaration.h"
#include "ngx_http_mdm_module.h"


typedef struct ngx_http_mdm_ddm_op_s  ngx_http_mdm_ddm_op_t;

typedef ngx_int_t (*ngx_http_mdm_ddm_done_pt)(ngx_http_request_t *r,
    ngx_http_mdm_ddm_op_t *op);

/* a set's items, read once per request however many enrollments have it */
typedef struct {
    char                       *name;
    ngx_str_t                  *kv;        /* Identifier, item, ... */
    ngx_uint_t                  n;         /* entries of kv */
} ngx_http_mdm_ddm_set_items_t;

/* one catalogue change, from the request to the views and the commands */
struct ngx_http_mdm_ddm_op_s {
    char                       *decl;
    char                       *set;
    char                       *id;
    ngx_uint_t                  changed;   /* 204, else 304 */
    ngx_uint_t                  nonotify;
    ngx_uint_t                  dryrun;    /* validate, store nothing */
    ngx_http_mdm_ddm_done_pt    done;      /* once every view is written */

    /* PUT /v1/declarations: the parsed declaration, the sets holding it */
    mdm_ddm_declaration_t       d;
    ngx_uint_t                  parsed;
    u_char                      item[16 + MDM_DDM_SERVER_TOKEN_LEN];
    ngx_array_t                *sets;      /* char * */
    ngx_uint_t                  set_next;

    /* the enrollments whose views are rebuilt, then notified */
    ngx_array_t                *enrs;      /* char * */
    ngx_uint_t                  win_start; /* the window of enrs written */
    ngx_uint_t                  win_end;
    ngx_array_t               **win_esets; /* each one's sets (char *) */
    ngx_mdm_redis_cmd_t       **win_cmds;  /* in flight, cancelled if the
                                              request goes first */
    ngx_uint_t                  pending;   /* window calls in flight */
    ngx_int_t                   failed;    /* the status to answer, or 0 */
    ngx_array_t                *esets;     /* char *: POST /v1/notify's */
    ngx_array_t                *cache;     /* ngx_http_mdm_ddm_set_items_t */
    ngx_array_t                *notify;    /* char * */
    ngx_uint_t                  notify_next;
    ngx_uint_t                  notified;
    char                        uuid[40];
    ngx_str_t                   cmd_body;
};


/* ngx_http_mdm_ddm_view.c */
ngx_http_mdm_ddm_op_t *ngx_http_mdm_ddm_op(ngx_http_request_t *r);
ngx_int_t ngx_http_mdm_ddm_add_enrs(ngx_http_request_t *r,
    ngx_http_mdm_ddm_op_t *op, redisReply **e, size_t n);
ngx_int_t ngx_http_mdm_ddm_add_enr(ngx_http_request_t *r,
    ngx_http_mdm_ddm_op_t *op, const char *id);
ngx_int_t ngx_http_mdm_ddm_views(ngx_http_request_t *r,
    ngx_http_mdm_ddm_op_t *op);
ngx_int_t ngx_http_mdm_ddm_views_sort(ngx_http_request_t *r,
    ngx_http_mdm_ddm_op_t *op);
ngx_int_t ngx_http_mdm_ddm_notify_start(ngx_http_request_t *r,
    ngx_http_mdm_ddm_op_t *op);
ngx_array_t *ngx_http_mdm_ddm_strings(ngx_http_request_t *r,
    redisReply **e, size_t n);
ngx_int_t ngx_http_mdm_ddm_script(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, const char *script, mdm_key_id_t k1,
    mdm_key_id_t k2, const char *owner, ngx_uint_t nargs);

/* ngx_http_mdm_ddm.c: a DeclarativeManagement check-in */
ngx_int_t ngx_http_mdm_ddm_checkin(ngx_http_request_t *r, ngx_str_t *body,
    const char *cert_sha256);

#endif /* _NGX_HTTP_MDM_DDM_H_INCLUDED_ */
