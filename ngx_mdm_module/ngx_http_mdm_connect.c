/*
 * Command reports to ServerURL (protocol.md §3): connect.lua records the
 * result and picks the next command in one atomic step; the command's plist
 * was serialized at enqueue time, so answering is a copy.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_event.h"
#include "mdm_report.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_metrics.h"


static void ngx_http_mdm_connect_cleanup(void *data);
static ngx_int_t ngx_http_mdm_connect_argv(ngx_http_request_t *r,
    mdm_argv_t *a, mdm_report_t *rep, ngx_str_t *body, const char *sha);
static ngx_int_t ngx_http_mdm_connect_event(ngx_http_request_t *r,
    mdm_report_t *rep, ngx_str_t *body, ngx_str_t *out);
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
    mdm_err_t            err;
    mdm_report_t        *rep;
    ngx_pool_cleanup_t  *cln;
    ngx_http_mdm_ctx_t  *ctx;

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
                      "mdm report refused: %s (%s)", err.msg,
                      mdm_refused_name(err.reason));
        ngx_http_mdm_metrics_body_refused(1, err.reason);
        return NGX_HTTP_BAD_REQUEST;
    }

    cln->handler = ngx_http_mdm_connect_cleanup;
    cln->data = rep;
    ctx->data = rep;

    ctx->enrollment_id.data = (u_char *) rep->enrollment.id;
    ctx->enrollment_id.len = ngx_strlen(rep->enrollment.id);
    ctx->status.data = (u_char *) rep->status_name;
    ctx->status.len = ngx_strlen(rep->status_name);
    ctx->report_status = rep->status;
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
    mdm_argv_t           args;
    mdm_report_t        *rep;
    ngx_http_mdm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    rep = ctx->data;

    if (ngx_http_mdm_connect_argv(r, &args, rep, body, sha) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_store_eval(r, &args, ngx_http_mdm_connect_reply);
}


static void
ngx_http_mdm_connect_cleanup(void *data)
{
    mdm_report_free(data);
}


/* The connect.lua call (libmdm/mdm_store.c has its KEYS and ARGV). */
static ngx_int_t
ngx_http_mdm_connect_argv(ngx_http_request_t *r, mdm_argv_t *a,
    mdm_report_t *rep, ngx_str_t *body, const char *sha)
{
    ngx_str_t                  event;
    mdm_store_connect_t        in;
    ngx_http_mdm_loc_conf_t   *mlcf;
    ngx_http_mdm_main_conf_t  *mcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_mdm_module);

    /* Idle reports are most of the traffic and rarely of interest */
    ngx_str_null(&event);
    if (!(rep->status == MDM_STATUS_IDLE && !mlcf->idle_events)
        && ngx_http_mdm_connect_event(r, rep, body, &event) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memzero(&in, sizeof(mdm_store_connect_t));
    in.rep = rep;
    in.cert_sha = sha;
    in.retro = (mlcf->cert_binding == NGX_HTTP_MDM_BIND_RETRO);
    in.now = ngx_time();
    in.result = body->data;
    in.result_len = body->len;
    in.event = event.data;
    in.event_len = event.len;
    in.events_maxlen = mcf->events_maxlen;
    in.result_retention = mcf->result_retention;

    if (ngx_http_mdm_store_init(r, a, MDM_STORE_CONNECT_ARGC,
                                MDM_STORE_CONNECT_KEYS) != NGX_OK
        || mdm_store_connect_argv(&in, a) != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm report: cannot build the connect.lua call");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mdm_connect_event(ngx_http_request_t *r, mdm_report_t *rep,
    ngx_str_t *body, ngx_str_t *out)
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
    return ngx_http_mdm_event_bytes(r, &ev, body, out);
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

        ngx_http_mdm_metrics_identity_failure(
            mdm_identity_script_reason(next->str));
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
