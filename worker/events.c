#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "events.h"
#include "log.h"
#include "mdm_event.h"
#include "mdm_keys.h"


static void
on_added(wk_redis_t *link, redisReply *r, void *data)
{
    (void) link;
    (void) data;
    if (r && r->type == REDIS_REPLY_ERROR) {
        wk_redis_error("XADD %s: %s", MDM_KEY_EVENTS, r->str);
    }
}


void
wk_event_push_failed(wk_redis_t *redis, const wk_config_t *cf,
                     const char *id, int status, const char *reason)
{
    char status_text[16], params[96], maxlen[24];
    struct timeval tv;
    mdm_buf_t buf;

    gettimeofday(&tv, NULL);
    snprintf(status_text, sizeof(status_text), "%d", status);
    snprintf(params, sizeof(params), "reason=%s", reason);
    snprintf(maxlen, sizeof(maxlen), "%ld", cf->events_maxlen);

    mdm_event_t ev = {
        .topic = "mdm.PushFailed",
        .id = id,
        .status = status_text,
        .params = params,
        .ts_ms = (int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000,
    };
    if (mdm_event_encode(&ev, NULL, &buf) != 0) {
        wk_error("push %s: cannot encode the mdm.PushFailed event", id);
        return;
    }
    const char *argv[] = { "XADD", MDM_KEY_EVENTS, "MAXLEN", "~", maxlen, "*",
                           "m", buf.data };
    const size_t argvlen[] = { 4, strlen(MDM_KEY_EVENTS), 6, 1,
                               strlen(maxlen), 1, 1, buf.len };
    if (wk_redis_cmdargv(redis, on_added, NULL, 8, argv, argvlen) != 0) {
        wk_error("push %s: mdm.PushFailed event lost: Redis is down", id);
    }
    mdm_buf_free(&buf);
}
