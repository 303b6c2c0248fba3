/*
 * Command reports to ServerURL (protocol.md §3): connect.lua records the
 * result and picks the next command in one atomic step; the command's plist
 * was serialized at enqueue time, so answering is a copy.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_event.h"
#include "mdm_keys.h"
#include "mdm_report.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_metrics.h"


#define NGX_HTTP_MDM_CONNECT_KEYS   9
#define NGX_HTTP_MDM_CONNECT_ARGS   (3 + NGX_HTTP_MDM_CONNECT_KEYS + 11)


static void ngx_http_mdm_connect_cleanup(void *data);
static ngx_int_t ngx_http_mdm_connect_argv(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, mdm_report_t *rep, ngx_str_t *body,
    const char *sha);
static ngx_int_t ngx_http_mdm_connect_event(ngx_http_request_t *r,
    ngx_http_mdm_args_t *args, mdm_report_t *rep, ngx_str_t *body);
static ngx_int_t ngx_http_mdm_connect_reply(ngx_http_request_t *r,
    redisReply *reply);


/*
 * The body as a command report: its enrollment, Status and CommandUUID in
 * the context (for $mdm_enrollment_id, limit_req and the per-Status bound),
 * nothing stored yet.
 */
ngx_int_t
ngx_http_mdm_connect_decode(ngx_http_request_t *r, ngx_str_t *body)
{
    mdm_err_t                  err;
    mdm_report_t              *rep;
    ngx_pool_cleanup_t        *cln;
    ngx_http_mdm_ctx_t        *ctx;

    ctx = ngx_http_mdm_get_ctx(r);
    rep = ngx_pcalloc(r->pool, sizeof(mdm_report_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || rep == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* nginx has already held the body to client_max_body_size */
    if (mdm_report_decode((char *) body->data, body->len, body->len, rep,
                          &err)
        != MDM_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm report refused: %s", err.msg);
        return NGX_HTTP_BAD_REQUEST;
    }

    cln->handler = ngx_http_mdm_connect_cleanup;
    cln->data = rep;
    ctx->data = rep;

    ctx->enrollment_id.data = (u_char *) rep->enrollment.id;
    ctx->enrollment_id.len = ngx_strlen(rep->enrollment.id);
    ctx->status.data = (u_char *) rep->status_name;
    ctx->status.len = ngx_strlen(rep->status_name);
    if (rep->command_uuid != NULL) {
        ctx->command_uuid.data = (u_char *) rep->command_uuid;
        ctx->command_uuid.len = ngx_strlen(rep->command_uuid);
    }

    return ngx_http_mdm_limits_check(r, 0, rep->status, rep->status_name,
                                     body->len);
}


/* The decoded report recorded by connect.lua, answered with what is next. */
ngx_int_t
ngx_http_mdm_connect(ngx_http_request_t *r, ngx_str_t *body, const char *sha)
{
    mdm_report_t         *rep;
    ngx_http_mdm_ctx_t   *ctx;
    ngx_http_mdm_args_t   args;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    rep = ctx->data;

    if (ngx_http_mdm_args_init(r, &args, NGX_HTTP_MDM_CONNECT_ARGS) != NGX_OK
        || ngx_http_mdm_connect_argv(r, &args, rep, body, sha) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_connect_reply);
}


static void
ngx_http_mdm_connect_cleanup(void *data)
{
    mdm_report_free(data);
}


static ngx_int_t
ngx_http_mdm_connect_argv(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    mdm_report_t *rep, ngx_str_t *body, const char *sha)
{
    size_t                     n;
    char                       key[MDM_KEY_MAX];
    const char                *id, *device;
    ngx_http_mdm_loc_conf_t   *mlcf;
    ngx_http_mdm_main_conf_t  *mcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_mdm_module);

    id = rep->enrollment.id;
    device = rep->enrollment.parent[0] ? rep->enrollment.parent : id;

    if (ngx_http_mdm_args_script(r, args, "connect",
                                 NGX_HTTP_MDM_CONNECT_KEYS) != NGX_OK)
    {
        return NGX_ERROR;
    }

#define ngx_http_mdm_key(expr)                                              \
    n = (expr);                                                             \
    if (n == 0 || ngx_http_mdm_args_add_copy(r, args, key, n) != NGX_OK) {  \
        return NGX_ERROR;                                                   \
    }

    ngx_http_mdm_key(mdm_key_enrollment(key, id));
    ngx_http_mdm_key(mdm_key_enrollment(key, device));
    ngx_http_mdm_key(mdm_key_cert(key, sha));
    ngx_http_mdm_key(mdm_key_queue(key, id));
    ngx_http_mdm_key(mdm_key_notnow(key, id));

    if (rep->command_uuid != NULL) {
        ngx_http_mdm_key(mdm_key_result(key, id, rep->command_uuid));
    } else {
        ngx_http_mdm_key(mdm_key_enrollment(key, id));
    }

#undef ngx_http_mdm_key

    ngx_http_mdm_args_add_cstr(args, MDM_KEY_EVENTS);
    ngx_http_mdm_args_add_cstr(args, MDM_KEY_PENDING);
    ngx_http_mdm_args_add_cstr(args, MDM_KEY_NOTNOW);

    ngx_http_mdm_args_add_cstr(args, id);
    ngx_http_mdm_args_add_cstr(args, rep->enrollment.parent);
    ngx_http_mdm_args_add_cstr(args, sha);
    ngx_http_mdm_args_add_cstr(args,
                          mlcf->cert_binding == NGX_HTTP_MDM_BIND_RETRO
                          ? "retro" : "on");

    if (ngx_http_mdm_args_add_int(r, args, ngx_time()) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mdm_args_add_cstr(args, rep->status_name);
    ngx_http_mdm_args_add_cstr(args,
                            rep->command_uuid ? rep->command_uuid : "");
    /* only a final result is stored; the event carries every body */
    if (rep->status == MDM_STATUS_ACKNOWLEDGED
        || rep->status == MDM_STATUS_ERROR
        || rep->status == MDM_STATUS_COMMAND_FORMAT_ERROR)
    {
        ngx_http_mdm_args_add(args, body->data, body->len);

    } else {
        ngx_http_mdm_args_add(args, "", 0);
    }

    /* Idle reports are most of the traffic and rarely of interest */
    if (rep->status == MDM_STATUS_IDLE && !mlcf->idle_events) {
        ngx_http_mdm_args_add(args, "", 0);

    } else if (ngx_http_mdm_connect_event(r, args, rep, body) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_mdm_args_add_int(r, args, mcf->events_maxlen) != NGX_OK
        || ngx_http_mdm_args_add_int(r, args, mcf->result_retention)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mdm_connect_event(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    mdm_report_t *rep, ngx_str_t *body)
{
    mdm_event_t  ev;

    ngx_memzero(&ev, sizeof(mdm_event_t));

    ev.topic = "mdm.Connect";
    ev.id = rep->enrollment.id;
    ev.parent = rep->enrollment.parent[0] ? rep->enrollment.parent : NULL;
    ev.type = mdm_enrollment_type_name(rep->enrollment.type);
    ev.udid = rep->id_keys.udid;
    ev.enrollment_id = rep->id_keys.enrollment_id;
    ev.status = rep->status_name;
    ev.command_uuid = rep->command_uuid;
    return ngx_http_mdm_args_add_event(r, args, &ev, body);
}


static ngx_int_t
ngx_http_mdm_connect_reply(ngx_http_request_t *r, redisReply *reply)
{
    redisReply          *note, *next;
    ngx_http_mdm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm report: unexpected reply from connect.lua");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    note = reply->element[0];
    next = reply->element[1];

    if (ngx_strcmp(note->str, "err") == 0) {
        mdm_report_t  *rep = ctx->data;
        ngx_int_t      rc;

        rc = ngx_http_mdm_renew_bind(r, next->str,
                                     rep->enrollment.parent[0]
                                     ? rep->enrollment.parent
                                     : rep->enrollment.id);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        ngx_http_mdm_metrics_identity_failure(next->str);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm report: %V from \"%V\" refused: %s",
                      &ctx->status, &ctx->enrollment_id, next->str);
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_strcmp(note->str, "ok") != 0) {
        /* devices resend results: accepted, only worth a note */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm report: %V for %s command \"%V\" from \"%V\"",
                      &ctx->status, note->str, &ctx->command_uuid,
                      &ctx->enrollment_id);
    }

    if (next->len == 0) {
        return ngx_http_mdm_send(r, NGX_HTTP_OK, NULL, NULL, 0);
    }

    return ngx_http_mdm_send(r, NGX_HTTP_OK, "application/xml; charset=UTF-8",
                             (u_char *) next->str, next->len);
}
