/*
 * Revoked device certificates, per worker process: the sha256s of
 * mdm:ca:revoked (written by the certificates API) as a sorted array,
 * refreshed on a timer, so the identity check costs a binary search and no
 * Redis call. A revocation takes effect within one refresh interval
 * (mdm_revoked_refresh) plus one Redis round trip.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_keys.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_revoked.h"


#define NGX_HTTP_MDM_REVOKED_RETRY  100     /* ms, until the first answer */


typedef struct {
    ngx_event_t                 timer;
    ngx_mdm_redis_t            *rd;
    ngx_mdm_redis_cmd_t        *cmd;
    ngx_msec_t                  interval;
    u_char                     *shas;        /* n * 32 bytes, sorted */
    ngx_uint_t                  n;
    ngx_flag_t                  loaded;
} ngx_http_mdm_revoked_t;


static void ngx_http_mdm_revoked_refresh(ngx_event_t *ev);
static void ngx_http_mdm_revoked_reply(void *data, redisReply *reply);
static int ngx_http_mdm_revoked_cmp(const void *a, const void *b);
static ngx_int_t ngx_http_mdm_revoked_unhex(const char *hex, size_t len,
    u_char *out);


/* this worker process's set; nothing is shared between processes */
static ngx_http_mdm_revoked_t  ngx_http_mdm_revoked;


ngx_int_t
ngx_http_mdm_revoked_init_process(ngx_cycle_t *cycle, ngx_mdm_redis_t *rd,
    ngx_msec_t interval)
{
    ngx_http_mdm_revoked_t  *rv = &ngx_http_mdm_revoked;

    ngx_memzero(rv, sizeof(ngx_http_mdm_revoked_t));
    rv->rd = rd;
    rv->interval = interval;
    rv->timer.handler = ngx_http_mdm_revoked_refresh;
    rv->timer.data = rv;
    rv->timer.log = cycle->log;
    rv->timer.cancelable = 1;

    ngx_add_timer(&rv->timer, NGX_HTTP_MDM_REVOKED_RETRY);

    return NGX_OK;
}


void
ngx_http_mdm_revoked_exit_process(void)
{
    ngx_http_mdm_revoked_t  *rv = &ngx_http_mdm_revoked;

    if (rv->cmd != NULL) {
        ngx_mdm_redis_cancel(rv->cmd);
        rv->cmd = NULL;
    }

    if (rv->timer.timer_set) {
        ngx_del_timer(&rv->timer);
    }

    ngx_free(rv->shas);
    rv->shas = NULL;
    rv->n = 0;
}


ngx_int_t
ngx_http_mdm_revoked_is(const char *sha256_hex)
{
    u_char                   key[32];
    ngx_http_mdm_revoked_t  *rv = &ngx_http_mdm_revoked;

    if (rv->n == 0
        || ngx_http_mdm_revoked_unhex(sha256_hex, ngx_strlen(sha256_hex),
                                      key)
           != NGX_OK)
    {
        return 0;
    }

    return bsearch(key, rv->shas, rv->n, 32, ngx_http_mdm_revoked_cmp)
           != NULL;
}


static void
ngx_http_mdm_revoked_refresh(ngx_event_t *ev)
{
    ngx_http_mdm_revoked_t  *rv = ev->data;

    u_char       now[NGX_TIME_T_LEN];
    const char  *argv[6];
    size_t       argvlen[6];

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    argv[0] = "ZRANGE";
    argvlen[0] = 6;
    argv[1] = MDM_KEY_CA_REVOKED;
    argvlen[1] = ngx_strlen(MDM_KEY_CA_REVOKED);
    argv[2] = (char *) now;
    argvlen[2] = ngx_sprintf(now, "%T", ngx_time()) - now;
    argv[3] = "+inf";
    argvlen[3] = 4;
    argv[4] = "BYSCORE";
    argvlen[4] = 7;

    /* expired certificates are refused anyway: only the live ones count */
    rv->cmd = ngx_mdm_redis_send(rv->rd, 5, argv, argvlen,
                                 ngx_http_mdm_revoked_reply, rv);
    if (rv->cmd == NULL) {
        ngx_add_timer(&rv->timer, rv->loaded ? rv->interval
                                             : NGX_HTTP_MDM_REVOKED_RETRY);
    }
}


static void
ngx_http_mdm_revoked_reply(void *data, redisReply *reply)
{
    ngx_http_mdm_revoked_t  *rv = data;

    size_t   i, n;
    u_char  *shas;

    rv->cmd = NULL;

    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY) {
        shas = reply->elements
               ? ngx_alloc(reply->elements * 32, ngx_cycle->log) : NULL;

        if (reply->elements == 0 || shas != NULL) {
            for (i = 0, n = 0; i < reply->elements; i++) {
                if (reply->element[i]->type == REDIS_REPLY_STRING
                    && ngx_http_mdm_revoked_unhex(reply->element[i]->str,
                                                  reply->element[i]->len,
                                                  shas + n * 32)
                       == NGX_OK)
                {
                    n++;
                }
            }

            if (n) {
                qsort(shas, n, 32, ngx_http_mdm_revoked_cmp);
            }

            ngx_free(rv->shas);
            rv->shas = shas;
            rv->n = n;
            rv->loaded = 1;
        }
    }

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(&rv->timer, rv->loaded ? rv->interval
                                             : NGX_HTTP_MDM_REVOKED_RETRY);
    }
}


static int
ngx_http_mdm_revoked_cmp(const void *a, const void *b)
{
    return ngx_memcmp(a, b, 32);
}


static ngx_int_t
ngx_http_mdm_revoked_unhex(const char *hex, size_t len, u_char *out)
{
    ngx_int_t  hi, lo;
    size_t     i;

    if (len != 64) {
        return NGX_ERROR;
    }

    for (i = 0; i < 32; i++) {
        hi = ngx_hextoi((u_char *) hex + 2 * i, 1);
        lo = ngx_hextoi((u_char *) hex + 2 * i + 1, 1);
        if (hi == NGX_ERROR || lo == NGX_ERROR) {
            return NGX_ERROR;
        }
        out[i] = (u_char) (hi << 4 | lo);
    }

    return NGX_OK;
}
