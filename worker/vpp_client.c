/*
 * The calls of the Apps and Books client: one at a time, spaced to the
 * service's maxRequestPerSecond, with the location's sToken as Bearer;
 * every answer classified, the ErrorResponse looked for whatever the HTTP
 * status (Apple answers some token errors with 200, services.md §7.2).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "vpp_int.h"


static void
on_reply(void *data, const wk_http_reply_t *hr)
{
    wk_vpp_t          *v = data;
    wk_vpp_reply_cb    cb = v->cb;
    mdm_vpp_reply_t    r;
    mdm_err_t          err;
    wk_vpp_outcome_e   o;

    memset(&r, 0, sizeof(r));
    v->retry_after = hr->retry_after;
    wk_metric_add(WK_M_VPP_REQUESTS, 1);

    if (hr->status == 0 || hr->status == 429 || hr->status >= 500) {
        if (hr->status == 0) {
            wk_warn("vpp %s: no answer: %s", v->url, hr->error);
        } else {
            wk_warn("vpp %s: HTTP %ld", v->url, hr->status);
        }
        o = WK_VPP_RETRY;
    } else if (hr->body == NULL || hr->truncated
               || mdm_vpp_reply_parse(hr->body, hr->len, &r, &err) != MDM_OK)
    {
        wk_error("vpp %s: HTTP %ld, a reply we cannot read: %s", v->url,
                 hr->status, hr->body == NULL ? "no body"
                 : hr->truncated ? "too large" : err.msg);
        o = WK_VPP_BAD;
    } else if (r.error_number == MDM_VPP_E_TOO_MANY
               || r.error_number == MDM_VPP_E_UNAVAILABLE)
    {
        wk_warn("vpp %s: %lld %s", v->url, (long long) r.error_number,
                r.error_message);
        o = WK_VPP_RETRY;
    } else if (r.error_number != 0 && mdm_vpp_error_is_token(r.error_number)) {
        o = WK_VPP_TOKEN;
    } else if (r.error_number != 0 || hr->status != 200) {
        o = WK_VPP_APPLE_ERROR;
    } else {
        o = WK_VPP_OK;
    }
    if (o != WK_VPP_OK) {
        wk_metric_add(WK_M_VPP_ERRORS, 1);
    }

    free(v->url);
    free(v->body);
    v->url = v->body = NULL;
    v->cb = NULL;
    cb(v, o, &r);
    mdm_vpp_reply_free(&r);
}


static void
send_now(wk_vpp_t *v)
{
    char         auth[64 + 16384];
    const char  *headers[4];
    int          n = 0;

    headers[n++] = "Accept: application/json";
    if (v->body) {
        headers[n++] = "Content-Type: application/json";
    }
    if (v->with_token && v->cur.stoken) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", v->cur.stoken);
        headers[n++] = auth;
    }
    headers[n] = NULL;

    v->last_call = ev_now(v->loop);
    if (wk_http_request(v->http, v->url, v->body, v->body ? strlen(v->body) : 0,
                        headers, v->cf->vpp_ca, v->cf->vpp_timeout_ms,
                        WK_VPP_MAX_BODY, on_reply, v) != 0)
    {
        wk_http_reply_t hr = { .status = 0, .error = "request not started",
                               .retry_after = -1 };
        on_reply(v, &hr);
    }
}


static void
on_spacing(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void) loop;
    (void) revents;
    send_now(t->data);
}


void
wk_vpp_call(wk_vpp_t *v, const char *path, const char *body, int with_token,
            wk_vpp_reply_cb cb)
{
    size_t  n = strlen(v->cf->vpp_url) + strlen(path) + 2;
    double  gap = 1.0 / (double) (v->limits.max_requests_per_second > 0
                                  ? v->limits.max_requests_per_second : 1);
    double  wait = v->last_call + gap - ev_now(v->loop);

    v->url = malloc(n);
    v->body = body ? strdup(body) : NULL;
    v->cb = cb;
    v->with_token = with_token;
    if (v->url == NULL || (body && v->body == NULL)) {
        wk_http_reply_t hr = { .status = 0, .error = "out of memory",
                               .retry_after = -1 };
        free(v->url);
        v->url = NULL;
        on_reply(v, &hr);
        return;
    }
    snprintf(v->url, n, "%s/%s", v->cf->vpp_url, path);
    if (wait > 0) {
        ev_timer_set(&v->spacing, wait, 0.);
        ev_timer_start(v->loop, &v->spacing);
        return;
    }
    send_now(v);
}


void
wk_vpp_client_init(wk_vpp_t *v)
{
    ev_timer_init(&v->spacing, on_spacing, 0., 0.);
    v->spacing.data = v;
}
