/* GET /healthz: 200 only when Redis answers PING, else 503. */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mdm_module.h"


static ngx_int_t ngx_http_mdm_healthz_reply(ngx_http_request_t *r,
    redisReply *reply);


ngx_int_t
ngx_http_mdm_healthz_handler(ngx_http_request_t *r)
{
    static const char   *argv[] = { "PING" };
    static const size_t  argvlen[] = { 4 };
    ngx_int_t            rc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_mdm_redis_call(r, 1, argv, argvlen,
                                   ngx_http_mdm_healthz_reply);
}


static ngx_int_t
ngx_http_mdm_healthz_reply(ngx_http_request_t *r, redisReply *reply)
{
    static const u_char  ok[] = "ok\n";

    if (reply->type != REDIS_REPLY_STATUS
        || ngx_strcmp(reply->str, "PONG") != 0)
    {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return ngx_http_mdm_send(r, NGX_HTTP_OK, "text/plain", ok,
                             sizeof(ok) - 1);
}
