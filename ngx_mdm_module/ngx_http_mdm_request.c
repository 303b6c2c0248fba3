/*
 * Request plumbing shared by every mdm endpoint: the path below the
 * location, the per-request context, in-memory body intake, Redis calls
 * bound to a request, and responses.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_event.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_schema.h"


static void *ngx_http_mdm_pool_alloc(void *ctx, size_t size);
static void ngx_http_mdm_redis_done(void *data, redisReply *reply);
static void ngx_http_mdm_request_cleanup(void *data);
static ngx_int_t ngx_http_mdm_redis_error(ngx_http_request_t *r,
    redisReply *reply);


/*
 * The request's path below the location's prefix, with a leading slash, as
 * sent (not decoded). A URI whose raw prefix is not the location's (it
 * reached it only once nginx normalised it) gives an empty path, which no
 * route matches. After a rewrite nginx keeps no raw URI: its decoded one is
 * used and the result is 0, else 1.
 */
ngx_uint_t
ngx_http_mdm_location_path(ngx_http_request_t *r, ngx_str_t *path)
{
    size_t                     skip;
    u_char                    *last;
    ngx_str_t                  uri;
    ngx_uint_t                 raw;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    raw = r->valid_unparsed_uri && r->unparsed_uri.len > 0;

    uri = raw ? r->unparsed_uri : r->uri;

    if (raw) {
        last = ngx_strlchr(uri.data, uri.data + uri.len, '?');
        if (last != NULL) {
            uri.len = last - uri.data;
        }
    }

    skip = clcf->name.len;
    if (skip && clcf->name.data[skip - 1] == '/') {
        skip--;
    }

    if (clcf->exact_match || clcf->regex) {
        skip = 0;
    }

    if (skip > uri.len
        || (raw && ngx_strncmp(uri.data, clcf->name.data, skip) != 0))
    {
        path->data = uri.data;
        path->len = 0;
        return raw;
    }

    path->data = uri.data + skip;
    path->len = uri.len - skip;

    return raw;
}


/* libmdm's outputs go straight into the request's pool. */
mdm_alloc_t
ngx_http_mdm_allocator(ngx_http_request_t *r)
{
    mdm_alloc_t  a;

    a.alloc = ngx_http_mdm_pool_alloc;
    a.ctx = r->pool;

    return a;
}


static void *
ngx_http_mdm_pool_alloc(void *ctx, size_t size)
{
    return ngx_pnalloc(ctx, size);
}


ngx_http_mdm_ctx_t *
ngx_http_mdm_get_ctx(ngx_http_request_t *r)
{
    ngx_http_mdm_ctx_t  *ctx;
    ngx_pool_cleanup_t  *cln;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    if (ctx != NULL) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_mdm_request_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_mdm_module);

    return ctx;
}


/* The request is going away: a reply still in flight must not touch it. */
static void
ngx_http_mdm_request_cleanup(void *data)
{
    ngx_http_mdm_ctx_t  *ctx = data;

    if (ctx->cmd != NULL) {
        ngx_mdm_redis_cancel(ctx->cmd);
        ctx->cmd = NULL;
    }
}


/*
 * Sends one command for this request. The request stays alive (count++) until
 * the reply arrives; then handler's return code finalizes it. A handler that
 * sends another command returns NGX_DONE.
 */
ngx_int_t
ngx_http_mdm_redis_call(ngx_http_request_t *r, int argc, const char **argv,
    const size_t *argvlen, ngx_http_mdm_reply_pt handler)
{
    ngx_http_mdm_ctx_t        *ctx;
    ngx_http_mdm_main_conf_t  *mcf;

    ctx = ngx_http_mdm_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mdm_module);

    /* another key layout in Redis: nothing is read or written */
    if (ngx_http_mdm_schema_refused(r->connection->log)) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ctx->reply_handler = handler;
    ctx->cmd = ngx_mdm_redis_send(mcf->rd, argc, argv, argvlen,
                                  ngx_http_mdm_redis_done, r);
    if (ctx->cmd == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    r->main->count++;

    /* a client that goes away meanwhile ends the request: nothing waits */
    r->read_event_handler = ngx_http_test_reading;

    return NGX_DONE;
}


static void
ngx_http_mdm_redis_done(void *data, redisReply *reply)
{
    ngx_http_request_t  *r = data;

    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_mdm_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);
    ctx->cmd = NULL;

    if (reply == NULL) {
        rc = NGX_HTTP_SERVICE_UNAVAILABLE;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        rc = ngx_http_mdm_redis_error(r, reply);

    } else {
        rc = ctx->reply_handler(r, reply);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * Errors Redis gives while it is not ready (still loading its data, scripts
 * flushed, a replica without a master, a master without the replicas
 * min-replicas-to-write asks for, a cluster failing over or moving
 * slots after the cluster client's bounded retries) pass: 503, and the
 * Redis layer has logged them once per interval. Anything else is a bug
 * worth a line each.
 */
static ngx_int_t
ngx_http_mdm_redis_error(ngx_http_request_t *r, redisReply *reply)
{
    static const char  *transient[] = { "NOSCRIPT", "LOADING", "BUSY",
                                        "MASTERDOWN", "TRYAGAIN",
                                        "CLUSTERDOWN", "MOVED", "ASK ",
                                        "NOREPLICAS",
                                        NULL };
    const char        **t;

    for (t = transient; *t != NULL; t++) {
        if (ngx_strncmp(reply->str, *t, ngx_strlen(*t)) == 0) {
            return NGX_HTTP_SERVICE_UNAVAILABLE;
        }
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "mdm redis error: %s", reply->str);

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


ngx_int_t
ngx_http_mdm_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *content_type, const u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;

    if (content_type != NULL) {
        r->headers_out.content_type.data = (u_char *) content_type;
        r->headers_out.content_type.len = ngx_strlen(content_type);
        r->headers_out.content_type_len = r->headers_out.content_type.len;
    }

    if (len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    /* the body may live in a Redis reply that is freed after this call */
    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->pos, body, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_mdm_send_json_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *message)
{
    u_char  *p, *buf;
    size_t   len;

    /* ngx_escape_json(NULL, ...) counts only the bytes escaping adds */
    len = sizeof("{\"error\":\"\"}\n") - 1 + ngx_strlen(message)
          + ngx_escape_json(NULL, (u_char *) message, ngx_strlen(message));

    buf = ngx_pnalloc(r->pool, len);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(buf, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, (u_char *) message,
                                   ngx_strlen(message));
    p = ngx_cpymem(p, "\"}\n", 3);

    return ngx_http_mdm_send(r, status, "application/json", buf, p - buf);
}


ngx_int_t
ngx_http_mdm_read_body(ngx_http_request_t *r,
    ngx_http_client_body_handler_pt post_handler)
{
    ngx_int_t  rc;

    r->request_body_in_single_buf = 1;
    r->request_body_in_persistent_file = 0;

    rc = ngx_http_read_client_request_body(r, post_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * The whole body as one contiguous memory block. NGX_DECLINED when the body
 * went to a temp file (bigger than client_body_buffer_size). A chunked body
 * comes as one buffer per chunk plus an empty last buffer whose pos is NULL:
 * empty buffers are skipped, memcpy must never see their NULL.
 */
ngx_int_t
ngx_http_mdm_body(ngx_http_request_t *r, ngx_str_t *body)
{
    size_t        len, n;
    u_char       *p;
    ngx_buf_t    *one;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL) {
        return NGX_OK;
    }

    if (r->request_body->temp_file != NULL) {
        return NGX_DECLINED;
    }

    len = 0;
    one = NULL;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        if (cl->buf->in_file) {
            return NGX_DECLINED;
        }

        n = cl->buf->last - cl->buf->pos;
        if (n) {
            one = (len == 0) ? cl->buf : NULL;
            len += n;
        }
    }

    if (len == 0) {
        return NGX_OK;
    }

    /* one non-empty buffer: no copy */
    if (one != NULL) {
        body->data = one->pos;
        body->len = len;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;
    body->len = len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        n = cl->buf->last - cl->buf->pos;
        if (n) {
            p = ngx_cpymem(p, cl->buf->pos, n);
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_mdm_args_init(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    int n)
{
    args->argv = ngx_palloc(r->pool, n * sizeof(char *));
    args->argvlen = ngx_palloc(r->pool, n * sizeof(size_t));
    args->argc = 0;
    args->nalloc = n;
    args->overflow = 0;

    return (args->argv && args->argvlen) ? NGX_OK : NGX_ERROR;
}


/*
 * Callers size the array for what they add: overflow is a bug. It is
 * remembered, and ngx_http_mdm_eval() then refuses to send the call: a
 * script run with its ARGV shifted would store wrong state.
 */
void
ngx_http_mdm_args_add(ngx_http_mdm_args_t *args, const void *p, size_t len)
{
    if (args->argc == args->nalloc) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "mdm: redis argument array overflow");
        args->overflow = 1;
        return;
    }

    args->argv[args->argc] = p;
    args->argvlen[args->argc] = len;
    args->argc++;
}


void
ngx_http_mdm_args_add_cstr(ngx_http_mdm_args_t *args, const char *s)
{
    ngx_http_mdm_args_add(args, s, ngx_strlen(s));
}


/* For values built in a stack buffer: copied to the request pool. */
ngx_int_t
ngx_http_mdm_args_add_copy(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    const char *s, size_t len)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, len ? len : 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, s, len);
    ngx_http_mdm_args_add(args, p, len);

    return NGX_OK;
}


ngx_int_t
ngx_http_mdm_args_add_int(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    int64_t n)
{
    u_char  *p, *last;

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    last = ngx_sprintf(p, "%L", n);
    ngx_http_mdm_args_add(args, p, last - p);

    return NGX_OK;
}


/* EVALSHA <sha of script> <nkeys>: keys and arguments follow. */
ngx_int_t
ngx_http_mdm_args_script(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    const char *script, int nkeys)
{
    const char                *sha;
    ngx_http_mdm_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mdm_module);

    sha = ngx_mdm_redis_script_sha(mcf->rd, script);
    if (sha == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm: no script \"%s\"", script);
        return NGX_ERROR;
    }

    ngx_http_mdm_args_add(args, "EVALSHA", 7);
    ngx_http_mdm_args_add_cstr(args, sha);

    return ngx_http_mdm_args_add_int(r, args, nkeys);
}


/*
 * One plain Redis command on one schema key: CMD <key of k and owner>
 * [member]. For the API's reads and index updates that need no script.
 */
ngx_int_t
ngx_http_mdm_key_command(ngx_http_request_t *r, const char *cmd,
    mdm_key_id_t k, const char *owner, const char *member,
    ngx_http_mdm_reply_pt handler)
{
    char                 buf[MDM_KEY_MAX];
    size_t               len;
    ngx_http_mdm_args_t  args;

    len = mdm_key(buf, k, owner, NULL);

    if (len == 0 || ngx_http_mdm_args_init(r, &args, 3) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, cmd);

    if (ngx_http_mdm_args_add_copy(r, &args, buf, len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (member != NULL) {
        ngx_http_mdm_args_add_cstr(&args, member);
    }

    return ngx_http_mdm_eval(r, &args, handler);
}


ngx_int_t
ngx_http_mdm_eval(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    ngx_http_mdm_reply_pt handler)
{
    if (args->overflow) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm: a script call lost arguments, not sent");
        return NGX_ERROR;
    }

    return ngx_http_mdm_redis_call(r, args->argc, args->argv, args->argvlen,
                                   handler);
}


/* Room for a libmdm script call (mdm_store.h), from the request pool. */
ngx_int_t
ngx_http_mdm_store_init(ngx_http_request_t *r, mdm_argv_t *a, int argc,
    int nkeys)
{
    char         *buf;
    size_t       *argvlen;
    const char  **argv;

    argv = ngx_palloc(r->pool, argc * sizeof(char *));
    argvlen = ngx_palloc(r->pool, argc * sizeof(size_t));
    buf = ngx_pnalloc(r->pool, MDM_STORE_BUF(nkeys));
    if (argv == NULL || argvlen == NULL || buf == NULL) {
        return NGX_ERROR;
    }

    mdm_argv_init(a, argv, argvlen, argc, buf, MDM_STORE_BUF(nkeys));

    return NGX_OK;
}


/* Sends a call filled by an mdm_store function: its script's SHA-1 first. */
ngx_int_t
ngx_http_mdm_store_eval(ngx_http_request_t *r, mdm_argv_t *a,
    ngx_http_mdm_reply_pt handler)
{
    const char                *sha;
    ngx_http_mdm_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mdm_module);

    sha = ngx_mdm_redis_script_sha(mcf->rd, a->script);
    if (sha == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm: no script \"%s\"", a->script);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mdm_argv_set_sha(a, sha);

    return ngx_http_mdm_redis_call(r, a->argc, a->argv, a->argvlen, handler);
}


int64_t
ngx_http_mdm_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


/* A NUL-terminated copy, for libmdm, which takes C strings. */
char *
ngx_http_mdm_cstr(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    *ngx_cpymem(p, s->data, s->len) = '\0';

    return (char *) p;
}


/*
 * The event for the workers (docs/redis-schema.md): what the caller filled
 * in, plus what every event carries: the raw body, the query string and
 * the time.
 */
ngx_int_t
ngx_http_mdm_args_add_event(ngx_http_request_t *r, ngx_http_mdm_args_t *args,
    mdm_event_t *ev, ngx_str_t *body)
{
    ngx_str_t  enc;

    if (ngx_http_mdm_event_bytes(r, ev, body, &enc) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_mdm_args_add(args, enc.data, enc.len);

    return NGX_OK;
}


/* The event encoded for the events stream, in the request pool. */
ngx_int_t
ngx_http_mdm_event_bytes(ngx_http_request_t *r, mdm_event_t *ev,
    ngx_str_t *body, ngx_str_t *out)
{
    mdm_buf_t                  enc;
    mdm_alloc_t                pool;
    ngx_http_mdm_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mdm_module);

    ev->params = r->args.len ? ngx_http_mdm_cstr(r->pool, &r->args) : NULL;

    /*
     * mdm:events is bounded by entries: a body over mdm_event_raw_max_size
     * is not copied into it (raw empty, so raw_payload "" as
     * docs/webhooks.md says; a result stays readable through
     * GET /v1/commands/<uuid>?format=plist). A NULL raw would leave the
     * field out, which is for events without a body.
     */
    if (body->len <= mcf->event_raw_max_size) {
        ev->raw = body->data;
        ev->raw_len = body->len;

    } else {
        ev->raw = (const unsigned char *) "";
        ev->raw_len = 0;
    }
    ev->ts_ms = ngx_http_mdm_now_ms();

    pool = ngx_http_mdm_allocator(r);

    if (mdm_event_encode(ev, &pool, &enc) != 0) {
        return NGX_ERROR;
    }

    out->data = (u_char *) enc.data;   /* in r->pool */
    out->len = enc.len;

    return NGX_OK;
}
