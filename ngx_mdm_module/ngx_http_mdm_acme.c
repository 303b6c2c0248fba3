/*
 * mdm_acme: the ACME server's routes (docs/acme.md). GET directory, HEAD or
 * GET new-nonce; everything else is a POST of a JWS (ngx_http_mdm_acme_
 * intake.c) answered by its resource. Every answer to a POST, success or
 * problem, carries a fresh Replay-Nonce (RFC 8555 §6.5), stored before the
 * answer is sent: one SET with the nonce TTL.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_keys.h"
#include "ngx_http_mdm_acme.h"


#define NGX_HTTP_MDM_ACME_CT_JSON  "application/json"


static ngx_int_t ngx_http_mdm_acme_base(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q, ngx_str_t *path);
static ngx_int_t ngx_http_mdm_acme_nonce_reply(ngx_http_request_t *r,
    redisReply *reply);
static void ngx_http_mdm_acme_cleanup(void *data);


static const ngx_http_mdm_acme_route_t  ngx_http_mdm_acme_routes[] = {
    { "new-account", 0, 1, ngx_http_mdm_acme_new_account },
    { "acct",        1, 0, ngx_http_mdm_acme_account },
    { "new-order",   0, 0, ngx_http_mdm_acme_new_order },
    { "order",       1, 0, ngx_http_mdm_acme_order_read },
    { "authz",       1, 0, ngx_http_mdm_acme_order_read },
    { "chall",       1, 0, ngx_http_mdm_acme_order_read },
    { "finalize",    1, 0, ngx_http_mdm_acme_order_read },
    { "cert",        1, 0, ngx_http_mdm_acme_order_read },
    { "revoke-cert", 0, 0, ngx_http_mdm_acme_unsupported },
    { "key-change",  0, 0, ngx_http_mdm_acme_unsupported },
    { NULL, 0, 0, NULL }
};


ngx_http_mdm_acme_req_t *
ngx_http_mdm_acme_req(ngx_http_request_t *r)
{
    ngx_http_mdm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mdm_module);

    return ctx->data;
}


char *
ngx_http_mdm_acme_url(ngx_http_request_t *r, ngx_http_mdm_acme_req_t *q,
    const char *what, const char *id)
{
    u_char  *p;
    size_t   len;

    len = ngx_strlen(q->base) + ngx_strlen(what) + (id ? ngx_strlen(id) : 0)
          + 3;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NULL;
    }

    ngx_snprintf(p, len, "%s/%s%s%s%Z", q->base, what, id ? "/" : "",
                 id ? id : "");

    return (char *) p;
}


char *
ngx_http_mdm_acme_str(ngx_http_request_t *r, redisReply *v)
{
    char  *s;

    if (v == NULL || v->type != REDIS_REPLY_STRING) {
        return NULL;
    }

    s = ngx_pnalloc(r->pool, v->len + 1);
    if (s == NULL) {
        return NULL;
    }

    ngx_memcpy(s, v->str, v->len);
    s[v->len] = '\0';

    return s;
}


/* path: "" or "/<route>[/<id>[/<sub>]]" after the location */
static ngx_int_t
ngx_http_mdm_acme_route(ngx_http_request_t *r, ngx_http_mdm_acme_req_t *q,
    ngx_str_t *path)
{
    char                             *s, *id, *sub;
    const ngx_http_mdm_acme_route_t  *rt;

    s = ngx_pnalloc(r->pool, path->len + 1);
    if (s == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(s, path->data, path->len);
    s[path->len] = '\0';

    if (*s == '/') {
        s++;
    }

    id = ngx_strchr(s, '/');
    sub = NULL;

    if (id != NULL) {
        *id++ = '\0';
        sub = ngx_strchr(id, '/');
        if (sub != NULL) {
            *sub++ = '\0';
        }
    }

    for (rt = ngx_http_mdm_acme_routes; rt->name; rt++) {
        if (ngx_strcmp(rt->name, s) != 0 || (id != NULL) != rt->with_id) {
            continue;
        }

        /* IDs are ours: base64url, so that they can be key tags */
        if (id != NULL && !mdm_acme_b64url_ok(id, ngx_strlen(id), 64)) {
            return NGX_DECLINED;
        }

        /* only an account has a sub-resource, its orders */
        if (sub != NULL && (ngx_strcmp(s, "acct") != 0
                            || ngx_strcmp(sub, "orders") != 0))
        {
            return NGX_DECLINED;
        }

        q->route = rt;
        q->id = id;
        q->sub = sub;

        return NGX_OK;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_mdm_acme_directory(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q)
{
    char       *json;
    ngx_int_t   rc;

    json = mdm_acme_directory_json(q->base);
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mdm_send(r, NGX_HTTP_OK, NGX_HTTP_MDM_ACME_CT_JSON,
                           (u_char *) json, ngx_strlen(json));
    free(json);

    return rc;
}


ngx_int_t
ngx_http_mdm_acme_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_str_t                 path;
    ngx_pool_cleanup_t       *cln;
    ngx_http_mdm_ctx_t       *ctx;
    ngx_http_mdm_acme_req_t  *q;

    ctx = ngx_http_mdm_get_ctx(r);
    q = ngx_pcalloc(r->pool, sizeof(ngx_http_mdm_acme_req_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || q == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_mdm_acme_cleanup;
    cln->data = q;
    ctx->data = q;

    ngx_http_mdm_location_path(r, &path);

    rc = ngx_http_mdm_acme_base(r, q, &path);
    if (rc != NGX_OK) {
        return rc;
    }

    if (path.len == sizeof("/directory") - 1
        && ngx_strncmp(path.data, "/directory", path.len) == 0)
    {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return NGX_HTTP_NOT_ALLOWED;
        }
        ngx_str_set(&ctx->message_type, "directory");
        rc = ngx_http_discard_request_body(r);
        return rc != NGX_OK ? rc : ngx_http_mdm_acme_directory(r, q);
    }

    if (path.len == sizeof("/new-nonce") - 1
        && ngx_strncmp(path.data, "/new-nonce", path.len) == 0)
    {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return NGX_HTTP_NOT_ALLOWED;
        }
        ngx_str_set(&ctx->message_type, "new-nonce");
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }
        /* RFC 8555 §7.2: 200 to HEAD, 204 to GET */
        return ngx_http_mdm_acme_reply(r, q, r->method == NGX_HTTP_HEAD
                                             ? NGX_HTTP_OK
                                             : NGX_HTTP_NO_CONTENT, NULL);
    }

    if (ngx_http_mdm_acme_route(r, q, &path) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm acme: no resource \"%V\"", &path);
        return NGX_HTTP_NOT_FOUND;
    }

    ctx->message_type.data = (u_char *) q->route->name;
    ctx->message_type.len = ngx_strlen(q->route->name);

    if (r->method != NGX_HTTP_POST) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    return ngx_http_mdm_read_body(r, ngx_http_mdm_acme_post);
}


/* the absolute URL of the location (mdm_acme_base_url, or the request's
 * scheme, Host and the location's prefix) and of this request */
static ngx_int_t
ngx_http_mdm_acme_base(ngx_http_request_t *r, ngx_http_mdm_acme_req_t *q,
    ngx_str_t *path)
{
    u_char                    *p;
    size_t                     len, plen;
    ngx_str_t                  prefix, host;
    ngx_http_mdm_loc_conf_t   *mlcf;
    ngx_http_core_loc_conf_t  *clcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    prefix = clcf->name;
    if (prefix.len && prefix.data[prefix.len - 1] == '/') {
        prefix.len--;
    }

    if (mlcf->acme.base_url.len) {
        host = mlcf->acme.base_url;
        prefix.len = 0;
    } else if (r->headers_in.host == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm acme: request without Host refused");
        return NGX_HTTP_BAD_REQUEST;
    } else {
        host = r->headers_in.host->value;
    }

    plen = path->len;
    len = sizeof("https://") + host.len + prefix.len + 1;

    q->base = ngx_pnalloc(r->pool, len);
    q->url = ngx_pnalloc(r->pool, len + plen);
    if (q->base == NULL || q->url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (mlcf->acme.base_url.len) {
        p = ngx_snprintf((u_char *) q->base, len, "%V%Z", &host);
    } else {
        p = ngx_snprintf((u_char *) q->base, len, "%s://%V%V%Z",
#if (NGX_HTTP_SSL)
                         r->connection->ssl ? "https" : "http",
#else
                         "http",
#endif
                         &host, &prefix);
    }

    ngx_snprintf((u_char *) q->url, len + plen, "%s%V%Z", q->base, path);
    (void) p;

    return NGX_OK;
}


ngx_int_t
ngx_http_mdm_acme_reply(ngx_http_request_t *r, ngx_http_mdm_acme_req_t *q,
    ngx_uint_t status, char *json)
{
    char                     *key;
    ngx_http_mdm_args_t       args;
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);

    q->status = status;

    if (json != NULL) {
        q->body_len = ngx_strlen(json);
        q->body = ngx_pnalloc(r->pool, q->body_len);
        if (q->body == NULL) {
            free(json);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_memcpy(q->body, json, q->body_len);
        free(json);
        if (q->content_type == NULL) {
            q->content_type = NGX_HTTP_MDM_ACME_CT_JSON;
        }
    }

    key = ngx_pnalloc(r->pool, MDM_KEY_MAX);

    if (key == NULL
        || mdm_acme_random_id(q->nonce, sizeof(q->nonce), 16) != 0
        || ngx_http_mdm_args_init(r, &args, 6) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add(&args, "SET", 3);
    ngx_http_mdm_args_add(&args, key, mdm_key_acme_nonce(key, q->nonce));
    ngx_http_mdm_args_add(&args, "1", 1);
    ngx_http_mdm_args_add(&args, "EX", 2);

    if (ngx_http_mdm_args_add_int(r, &args, mlcf->acme.nonce_ttl) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_acme_nonce_reply);
}


static ngx_int_t
ngx_http_mdm_acme_header(ngx_http_request_t *r, const char *name,
    const char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


static ngx_int_t
ngx_http_mdm_acme_nonce_reply(ngx_http_request_t *r, redisReply *reply)
{
    char                     *index, *up;
    ngx_http_mdm_acme_req_t  *q;

    q = ngx_http_mdm_acme_req(r);

    index = ngx_pnalloc(r->pool, ngx_strlen(q->base) + 32);
    if (index == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf((u_char *) index, "<%s/directory>;rel=\"index\"%Z", q->base);

    if (ngx_http_mdm_acme_header(r, "Replay-Nonce", q->nonce) != NGX_OK
        || ngx_http_mdm_acme_header(r, "Cache-Control", "no-store")
           != NGX_OK
        || ngx_http_mdm_acme_header(r, "Link", index) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (q->location != NULL
        && ngx_http_mdm_acme_header(r, "Location", q->location) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (q->link_up != NULL) {
        up = ngx_pnalloc(r->pool, ngx_strlen(q->link_up) + 16);
        if (up == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        ngx_sprintf((u_char *) up, "<%s>;rel=\"up\"%Z", q->link_up);
        if (ngx_http_mdm_acme_header(r, "Link", up) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_mdm_send(r, q->status, q->content_type, q->body,
                             q->body_len);
}


ngx_int_t
ngx_http_mdm_acme_problem(ngx_http_request_t *r, ngx_http_mdm_acme_req_t *q)
{
    char  *doc;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm acme: %s refused with %s: %s%s%s",
                  q->route ? q->route->name : "request",
                  mdm_acme_problem_name(q->err.type), q->err.detail,
                  q->account[0] ? " (account " : "",
                  q->account[0] ? q->account : "");

    doc = mdm_acme_problem_json(&q->err, NULL);
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q->content_type = MDM_ACME_CT_PROBLEM;
    q->location = NULL;
    q->link_up = NULL;

    return ngx_http_mdm_acme_reply(r, q,
                                   mdm_acme_problem_status(q->err.type), doc);
}


ngx_int_t
ngx_http_mdm_acme_unsupported(ngx_http_request_t *r,
    ngx_http_mdm_acme_req_t *q)
{
    mdm_acme_fail(&q->err, MDM_ACME_MALFORMED, "%s is not supported by "
                  "this server", q->route->name);

    return ngx_http_mdm_acme_problem(r, q);
}


ngx_int_t
ngx_http_mdm_acme_cas(ngx_http_request_t *r, const char *key, size_t key_len,
    time_t expires, const char *guard, const char *value, const char **pairs,
    ngx_http_mdm_reply_pt handler)
{
    int                  n;
    ngx_http_mdm_args_t  args;

    for (n = 0; pairs[n] != NULL; n++) { /* count */ }

    if (ngx_http_mdm_args_init(r, &args, n + 10) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "acme_cas", 1) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add(&args, key, key_len);

    if (ngx_http_mdm_args_add_int(r, &args, expires) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, guard);
    ngx_http_mdm_args_add_cstr(&args, value);

    for (n = 0; pairs[n] != NULL; n++) {
        ngx_http_mdm_args_add_cstr(&args, pairs[n]);
    }

    return ngx_http_mdm_eval(r, &args, handler);
}


static void
ngx_http_mdm_acme_cleanup(void *data)
{
    ngx_http_mdm_acme_req_t  *q = data;

    mdm_acme_jws_free(&q->jws);
    json_decref(q->account_jwk);
    X509_REQ_free(q->csr);
    X509_free(q->issued.cert);
    q->account_jwk = NULL;
    q->csr = NULL;
    q->issued.cert = NULL;
}
