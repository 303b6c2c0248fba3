/*
 * One-time enrollment links (docs/api.md, "Enrollment links"):
 * POST /v1/enroll/tokens creates one, GET lists the live ones,
 * GET|DELETE /v1/enroll/tokens/<token> shows or withdraws one. A link is a
 * hash in its own slot (mdm:enroll:link:{<token>}); the listing index is
 * written in a second call, after the link, so a link is never listed
 * before it works.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <jansson.h>

#include "mdm_keys.h"
#include "mdm_pushcert.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"
#include "ngx_http_mdm_enroll.h"


#define NGX_HTTP_MDM_LINK_MAX_TAGS     32
#define NGX_HTTP_MDM_LINK_TAG_MAX      64
#define NGX_HTTP_MDM_LINK_MAX_TTL      (365 * 86400)
#define NGX_HTTP_MDM_LINK_BODY_MAX     16384
/* an expired link stays known this long, to answer 410 and not 403 */
#define NGX_HTTP_MDM_LINK_KEEP         86400


typedef struct {
    char                          token[MDM_ENROLL_CHALLENGE_LEN];
    json_t                       *json;      /* the answer being built */
    time_t                        expires;
    ngx_int_t                     cursor;    /* listing */
    ngx_int_t                     limit;
} ngx_http_mdm_api_enroll_link_t;


static void ngx_http_mdm_api_enroll_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_enroll_store(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_enroll_parse(ngx_http_request_t *r,
    ngx_str_t *body, json_t **user, json_t **tags, time_t *ttl,
    const char **err);
static ngx_int_t ngx_http_mdm_api_enroll_stored(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_enroll_indexed(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_enroll_index(ngx_http_request_t *r,
    const char *op, const char *token, time_t expires,
    ngx_http_mdm_reply_pt handler);
static ngx_int_t ngx_http_mdm_api_enroll_page(ngx_http_request_t *r);
static ngx_int_t ngx_http_mdm_api_enroll_listed(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_enroll_key_call(ngx_http_request_t *r,
    const char *command, char *token, ngx_http_mdm_reply_pt handler);
static ngx_int_t ngx_http_mdm_api_enroll_fetch(ngx_http_request_t *r,
    char *token);
static ngx_int_t ngx_http_mdm_api_enroll_got(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_enroll_remove(ngx_http_request_t *r,
    char *token);
static ngx_int_t ngx_http_mdm_api_enroll_deleted(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_http_mdm_api_enroll_unlisted(ngx_http_request_t *r,
    redisReply *reply);
static json_t *ngx_http_mdm_api_enroll_url(ngx_http_request_t *r,
    const char *token);
static json_t *ngx_http_mdm_api_enroll_time(time_t t);
static ngx_http_mdm_api_enroll_link_t *ngx_http_mdm_api_enroll_state(
    ngx_http_request_t *r);
static ngx_http_mdm_api_enroll_link_t *ngx_http_mdm_api_enroll_named(
    ngx_http_request_t *r, ngx_str_t *token);
static ngx_int_t ngx_http_mdm_api_enroll_one(ngx_http_request_t *r,
    ngx_str_t *token, ngx_int_t (*action)(ngx_http_request_t *r, char *token));


ngx_int_t
ngx_http_mdm_api_enroll_create(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_mdm_read_body(r, ngx_http_mdm_api_enroll_body);
}


ngx_int_t
ngx_http_mdm_api_enroll_list(ngx_http_request_t *r, ngx_str_t *path)
{
    return ngx_http_mdm_api_enroll_page(r);
}


ngx_int_t
ngx_http_mdm_api_enroll_get(ngx_http_request_t *r, ngx_str_t *token)
{
    return ngx_http_mdm_api_enroll_one(r, token, ngx_http_mdm_api_enroll_fetch);
}


ngx_int_t
ngx_http_mdm_api_enroll_delete(ngx_http_request_t *r, ngx_str_t *token)
{
    return ngx_http_mdm_api_enroll_one(r, token,
                                       ngx_http_mdm_api_enroll_remove);
}


/* GET or DELETE of the link of a valid token */
static ngx_int_t
ngx_http_mdm_api_enroll_one(ngx_http_request_t *r, ngx_str_t *token,
    ngx_int_t (*action)(ngx_http_request_t *r, char *token))
{
    ngx_http_mdm_api_enroll_link_t  *link;

    link = ngx_http_mdm_api_enroll_named(r, token);
    if (link == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (link->token[0] == '\0') {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                       "token must be 32 lowercase hex "
                                       "digits");
    }

    return action(r, link->token);
}


/* The state of a request about one link; its token empty when not valid. */
static ngx_http_mdm_api_enroll_link_t *
ngx_http_mdm_api_enroll_named(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_http_mdm_api_enroll_link_t  *link;

    link = ngx_http_mdm_api_enroll_state(r);
    if (link == NULL) {
        return NULL;
    }

    if (mdm_enroll_challenge_valid((char *) token->data, token->len)) {
        ngx_memcpy(link->token, token->data, token->len);
        link->token[token->len] = '\0';
    }

    return link;
}


static ngx_http_mdm_api_enroll_link_t *
ngx_http_mdm_api_enroll_state(ngx_http_request_t *r)
{
    ngx_http_mdm_ctx_t              *ctx;
    ngx_http_mdm_api_enroll_link_t  *link;

    ctx = ngx_http_mdm_get_ctx(r);
    if (ctx == NULL) {
        return NULL;
    }

    if (ctx->data == NULL) {
        ctx->data = ngx_pcalloc(r->pool,
                                sizeof(ngx_http_mdm_api_enroll_link_t));
    }

    link = ctx->data;

    return link;
}


static void
ngx_http_mdm_api_enroll_body(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_mdm_api_enroll_store(r));
}


static void
ngx_http_mdm_api_enroll_json_cleanup(void *data)
{
    ngx_http_mdm_api_enroll_link_t  *link = data;

    json_decref(link->json);
}


static ngx_int_t
ngx_http_mdm_api_enroll_store(ngx_http_request_t *r)
{
    char                            *tags_text;
    time_t                           ttl, now;
    json_t                          *user, *tags;
    size_t                           len;
    ngx_int_t                        rc;
    ngx_str_t                        body;
    const char                      *err;
    ngx_pool_cleanup_t              *cln;
    ngx_http_mdm_args_t              args;
    ngx_http_mdm_api_enroll_link_t  *link;
    char                             key[MDM_KEY_MAX];
    ngx_http_mdm_enroll_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_enroll_module);

    rc = ngx_http_mdm_body(r, &body);
    if (rc == NGX_DECLINED || body.len > NGX_HTTP_MDM_LINK_BODY_MAX) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "body too large");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    link = ngx_http_mdm_api_enroll_state(r);
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (link == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    link->json = json_object();
    cln->handler = ngx_http_mdm_api_enroll_json_cleanup;
    cln->data = link;

    ttl = elcf->link_ttl;
    user = NULL;
    tags = NULL;

    if (ngx_http_mdm_api_enroll_parse(r, &body, &user, &tags, &ttl, &err)
        != NGX_OK)
    {
        json_decref(user);
        json_decref(tags);
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST, err);
    }

    if (tags == NULL) {
        tags = json_array();
    }

    tags_text = json_dumps(tags, JSON_COMPACT);
    now = ngx_time();
    link->expires = now + ttl;

    if (link->json == NULL || tags == NULL || tags_text == NULL
        || mdm_enroll_challenge_new(link->token) != 0)
    {
        json_decref(user);
        json_decref(tags);
        free(tags_text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = mdm_key_enroll_link(key, link->token);

    rc = (ngx_http_mdm_args_init(r, &args, 3 + 1 + 5) == NGX_OK
          && ngx_http_mdm_args_script(r, &args, "enroll_link_put", 1)
             == NGX_OK
          && ngx_http_mdm_args_add_copy(r, &args, key, len) == NGX_OK
          && ngx_http_mdm_args_add_int(r, &args, now) == NGX_OK
          && ngx_http_mdm_args_add_int(r, &args, link->expires) == NGX_OK
          && ngx_http_mdm_args_add_copy(r, &args,
                                        user ? json_string_value(user) : "",
                                        user ? json_string_length(user) : 0)
             == NGX_OK
          && ngx_http_mdm_args_add_copy(r, &args, tags_text,
                                        ngx_strlen(tags_text)) == NGX_OK
          && ngx_http_mdm_args_add_int(r, &args, NGX_HTTP_MDM_LINK_KEEP)
             == NGX_OK)
         ? NGX_OK : NGX_ERROR;

    free(tags_text);

    json_object_set_new(link->json, "token", json_string(link->token));
    json_object_set_new(link->json, "url",
                        ngx_http_mdm_api_enroll_url(r, link->token));
    json_object_set_new(link->json, "expires",
                        ngx_http_mdm_api_enroll_time(link->expires));
    json_object_set_new(link->json, "user", user ? user : json_null());
    json_object_set_new(link->json, "tags", tags);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_enroll_stored);
}


/* {"user": "...", "tags": ["..."], "expires_in": seconds}, all optional */
static ngx_int_t
ngx_http_mdm_api_enroll_parse(ngx_http_request_t *r, ngx_str_t *body,
    json_t **user, json_t **tags, time_t *ttl, const char **err)
{
    size_t        i;
    json_t       *root, *v, *e;
    const char   *k;
    json_int_t    n;

    if (body->len == 0) {
        return NGX_OK;
    }

    root = json_loadb((char *) body->data, body->len, JSON_REJECT_DUPLICATES,
                      NULL);

    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        *err = "body must be a JSON object";
        return NGX_DECLINED;
    }

    json_object_foreach(root, k, v) {
        if (ngx_strcmp(k, "user") == 0) {
            if (!json_is_string(v) || json_string_length(v) == 0
                || json_string_length(v) > MDM_ENROLL_USER_MAX
                || ngx_strlen(json_string_value(v)) != json_string_length(v))
            {
                *err = "user must be a string of 1 to 64 bytes";
                goto failed;
            }

            for (i = 0; i < json_string_length(v); i++) {
                if ((u_char) json_string_value(v)[i] < 0x20) {
                    *err = "user must not hold control characters";
                    goto failed;
                }
            }

            *user = json_incref(v);

        } else if (ngx_strcmp(k, "tags") == 0) {
            if (!json_is_array(v)
                || json_array_size(v) > NGX_HTTP_MDM_LINK_MAX_TAGS)
            {
                *err = "tags must be an array of at most 32 strings";
                goto failed;
            }

            json_array_foreach(v, i, e) {
                if (!json_is_string(e) || json_string_length(e) == 0
                    || json_string_length(e) > NGX_HTTP_MDM_LINK_TAG_MAX)
                {
                    *err = "each tag must be a string of 1 to 64 bytes";
                    goto failed;
                }
            }

            *tags = json_incref(v);

        } else if (ngx_strcmp(k, "expires_in") == 0) {
            n = json_is_integer(v) ? json_integer_value(v) : -1;

            if (n < 60 || n > NGX_HTTP_MDM_LINK_MAX_TTL) {
                *err = "expires_in must be an integer from 60 to 31536000";
                goto failed;
            }

            *ttl = (time_t) n;

        } else {
            *err = "unknown key (expected user, tags, expires_in)";
            goto failed;
        }
    }

    json_decref(root);

    return NGX_OK;

failed:

    json_decref(root);
    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_mdm_api_enroll_stored(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_api_enroll_link_t  *link;

    link = ngx_http_mdm_api_enroll_state(r);

    if (reply->type != REDIS_REPLY_INTEGER || reply->integer != 1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mdm api: fresh enrollment link token exists already");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_api_enroll_index(r, "add", link->token, link->expires,
                                         ngx_http_mdm_api_enroll_indexed);
}


static ngx_int_t
ngx_http_mdm_api_enroll_index(ngx_http_request_t *r, const char *op,
    const char *token, time_t expires, ngx_http_mdm_reply_pt handler)
{
    ngx_http_mdm_args_t  args;

    if (ngx_http_mdm_args_init(r, &args, 3 + 1 + 4) != NGX_OK
        || ngx_http_mdm_args_script(r, &args, "enroll_index", 1) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_ENROLL_INDEX);

    if (ngx_http_mdm_args_add_int(r, &args, ngx_time()) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, op);
    ngx_http_mdm_args_add_cstr(&args, token);

    if (ngx_http_mdm_args_add_int(r, &args, expires) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, handler);
}


static ngx_int_t
ngx_http_mdm_api_enroll_indexed(ngx_http_request_t *r, redisReply *reply)
{
    json_t                          *json;
    ngx_http_mdm_api_enroll_link_t  *link;

    link = ngx_http_mdm_api_enroll_state(r);
    json = link->json;
    link->json = NULL;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm api: enrollment link %s created", link->token);

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_CREATED, json);
}


/* GET /v1/enroll/tokens[?cursor=<offset>&limit=N]: live links, soonest
 * expiry first */
static ngx_int_t
ngx_http_mdm_api_enroll_page(ngx_http_request_t *r)
{
    u_char                          *p;
    ngx_int_t                        cursor, limit;
    ngx_str_t                        v;
    ngx_http_mdm_args_t              args;
    ngx_http_mdm_api_enroll_link_t  *link;

    cursor = 0;
    limit = 100;

    if (ngx_http_arg(r, (u_char *) "cursor", 6, &v) == NGX_OK) {
        cursor = ngx_atoi(v.data, v.len);
        if (cursor < 0) {
            return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                           "cursor must be a next_cursor");
        }
    }

    if (ngx_http_arg(r, (u_char *) "limit", 5, &v) == NGX_OK) {
        limit = ngx_atoi(v.data, v.len);
        if (limit < 1 || limit > 1000) {
            return ngx_http_mdm_api_refuse(r, NGX_HTTP_BAD_REQUEST,
                                           "limit must be 1 to 1000");
        }
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 1);
    link = ngx_http_mdm_api_enroll_state(r);

    if (p == NULL || link == NULL
        || ngx_http_mdm_args_init(r, &args, 8) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, "ZRANGEBYSCORE");
    ngx_http_mdm_args_add_cstr(&args, MDM_KEY_ENROLL_INDEX);
    ngx_http_mdm_args_add(&args, p, ngx_sprintf(p, "(%T", ngx_time()) - p);
    ngx_http_mdm_args_add_cstr(&args, "+inf");
    ngx_http_mdm_args_add_cstr(&args, "WITHSCORES");
    ngx_http_mdm_args_add_cstr(&args, "LIMIT");

    if (ngx_http_mdm_args_add_int(r, &args, cursor) != NGX_OK
        || ngx_http_mdm_args_add_int(r, &args, limit) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    link->cursor = cursor;
    link->limit = limit;

    return ngx_http_mdm_eval(r, &args, ngx_http_mdm_api_enroll_listed);
}


static ngx_int_t
ngx_http_mdm_api_enroll_listed(ngx_http_request_t *r, redisReply *reply)
{
    char                             next[NGX_INT_T_LEN + 1];
    size_t                           i;
    json_t                          *root, *list, *one;
    ngx_http_mdm_api_enroll_link_t  *link;

    link = ngx_http_mdm_api_enroll_state(r);

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    root = json_object();
    list = json_array();

    if (root == NULL || list == NULL) {
        json_decref(root);
        json_decref(list);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(root, "tokens", list);

    for (i = 0; i + 1 < reply->elements; i += 2) {
        one = json_object();
        json_object_set_new(one, "token",
                            json_stringn(reply->element[i]->str,
                                         reply->element[i]->len));
        json_object_set_new(one, "url",
                            ngx_http_mdm_api_enroll_url(r,
                                reply->element[i]->str));
        json_object_set_new(one, "expires",
                            ngx_http_mdm_api_enroll_time(
                                ngx_atotm((u_char *) reply->element[i + 1]->str,
                                          reply->element[i + 1]->len)));
        json_array_append_new(list, one);
    }

    if ((ngx_int_t) (reply->elements / 2) == link->limit) {
        ngx_sprintf((u_char *) next, "%i%Z", link->cursor + link->limit);
        json_object_set_new(root, "next_cursor", json_string(next));

    } else {
        json_object_set_new(root, "next_cursor", json_null());
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, root);
}


/* GET and DELETE of one link are one command on its key each. */
static ngx_int_t
ngx_http_mdm_api_enroll_key_call(ngx_http_request_t *r, const char *command,
    char *token, ngx_http_mdm_reply_pt handler)
{
    char                  key[MDM_KEY_MAX];
    size_t                len;
    ngx_http_mdm_args_t   args;

    len = mdm_key_enroll_link(key, token);

    if (ngx_http_mdm_args_init(r, &args, 2) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mdm_args_add_cstr(&args, command);

    if (ngx_http_mdm_args_add_copy(r, &args, key, len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mdm_eval(r, &args, handler);
}


static ngx_int_t
ngx_http_mdm_api_enroll_fetch(ngx_http_request_t *r, char *token)
{
    return ngx_http_mdm_api_enroll_key_call(r, "HGETALL", token,
                                            ngx_http_mdm_api_enroll_got);
}


static ngx_int_t
ngx_http_mdm_api_enroll_got(ngx_http_request_t *r, redisReply *reply)
{
    size_t                           i;
    json_t                          *root, *v;
    redisReply                      *f, *val;
    ngx_http_mdm_api_enroll_link_t  *link;

    link = ngx_http_mdm_api_enroll_state(r);

    if (reply->type != REDIS_REPLY_ARRAY) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (reply->elements == 0) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       "unknown enrollment link");
    }

    root = json_object();
    if (root == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(root, "token", json_string(link->token));
    json_object_set_new(root, "url",
                        ngx_http_mdm_api_enroll_url(r, link->token));
    json_object_set_new(root, "used", json_null());

    for (i = 0; i + 1 < reply->elements; i += 2) {
        f = reply->element[i];
        val = reply->element[i + 1];

        if (ngx_strcmp(f->str, "user") == 0) {
            v = val->len ? json_stringn(val->str, val->len) : json_null();

        } else if (ngx_strcmp(f->str, "tags") == 0) {
            v = json_loadb(val->str, val->len, 0, NULL);

        } else {
            v = ngx_http_mdm_api_enroll_time(ngx_atotm((u_char *) val->str,
                                                       val->len));
        }

        json_object_set_new(root, f->str, v ? v : json_null());
    }

    return ngx_http_mdm_api_send_json(r, NGX_HTTP_OK, root);
}


static ngx_int_t
ngx_http_mdm_api_enroll_remove(ngx_http_request_t *r, char *token)
{
    return ngx_http_mdm_api_enroll_key_call(r, "DEL", token,
                                            ngx_http_mdm_api_enroll_deleted);
}


static ngx_int_t
ngx_http_mdm_api_enroll_deleted(ngx_http_request_t *r, redisReply *reply)
{
    ngx_http_mdm_api_enroll_link_t  *link;

    link = ngx_http_mdm_api_enroll_state(r);

    if (reply->type != REDIS_REPLY_INTEGER) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (reply->integer == 0) {
        return ngx_http_mdm_api_refuse(r, NGX_HTTP_NOT_FOUND,
                                       "unknown enrollment link");
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mdm api: enrollment link %s deleted", link->token);

    return ngx_http_mdm_api_enroll_index(r, "del", link->token, 0,
                                         ngx_http_mdm_api_enroll_unlisted);
}


static ngx_int_t
ngx_http_mdm_api_enroll_unlisted(ngx_http_request_t *r, redisReply *reply)
{
    return ngx_http_mdm_send(r, NGX_HTTP_NO_CONTENT, NULL, NULL, 0);
}


/* mdm_enroll_link_url + "?token=<t>" ("/<t>" when it ends with a slash);
 * null without the directive */
static json_t *
ngx_http_mdm_api_enroll_url(ngx_http_request_t *r, const char *token)
{
    json_t                          *url;
    ngx_str_t                       *base;
    u_char                          *buf, *p;
    ngx_http_mdm_enroll_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_enroll_module);
    base = &elcf->link_url;

    if (base->len == 0) {
        return json_null();
    }

    buf = ngx_pnalloc(r->pool, base->len + sizeof("?token=") - 1
                               + MDM_ENROLL_CHALLENGE_LEN);
    if (buf == NULL) {
        return json_null();
    }

    p = ngx_cpymem(buf, base->data, base->len);

    if (base->data[base->len - 1] != '/') {
        p = ngx_cpymem(p, "?token=", sizeof("?token=") - 1);
    }

    p = ngx_cpymem(p, token, ngx_strlen(token));
    url = json_stringn((char *) buf, p - buf);

    return url ? url : json_null();
}


static json_t *
ngx_http_mdm_api_enroll_time(time_t t)
{
    char  text[MDM_PUSHCERT_TIME_LEN + 1];

    if (t <= 0) {
        return json_null();
    }

    mdm_pushcert_time_text(t, text);

    return json_string(text);
}
