/*
 * HGET mdm:schema version; when there is none, EXISTS mdm:enrollments says
 * whether the deployment predates the record, HSETNX writes the version and
 * the check starts over (two processes bootstrapping at once agree on the
 * one HSETNX that won).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mdm_keys.h"
#include "schema.h"

typedef struct {
    wk_redis_t    *link;
    wk_schema_cb   cb;
    void          *data;
    int            rounds;
} wk_schema_t;

static void schema_read(wk_schema_t *s);


static void
schema_done(wk_schema_t *s, int ok)
{
    s->cb(ok, s->data);
    free(s);
}


/* An error reply (LOADING...) starts over: the link backs off by itself.
 * A lost connection ends this check: the reconnect's on_ready starts one. */
static int
schema_lost(wk_schema_t *s, redisReply *r, const char *what)
{
    if (r != NULL && r->type != REDIS_REPLY_ERROR) {
        return 0;
    }
    wk_redis_error("schema check: %s: %s", what, r ? r->str : "no reply");
    if (r != NULL) {
        schema_read(s);
    } else {
        schema_done(s, -1);
    }
    return 1;
}


static void
on_recorded(wk_redis_t *link, redisReply *r, void *data)
{
    wk_schema_t *s = data;
    (void) link;

    if (!schema_lost(s, r, "HSETNX")) {
        schema_read(s);
    }
}


static void
on_has_data(wk_redis_t *link, redisReply *r, void *data)
{
    wk_schema_t *s = data;
    long version;
    char err[160];
    (void) link;

    if (schema_lost(s, r, "EXISTS")) {
        return;
    }
    mdm_schema_check(NULL, r->integer > 0, &version, err, sizeof(err));
    if (wk_redis_cmd(s->link, on_recorded, s, "HSETNX %s version %ld",
                     mdm_schema_keys[MDM_K_SCHEMA].pattern, version) != 0)
    {
        schema_done(s, -1);
    }
}


static void
on_version(wk_redis_t *link, redisReply *r, void *data)
{
    wk_schema_t *s = data;
    long version;
    char err[160];
    (void) link;

    if (schema_lost(s, r, "HGET")) {
        return;
    }
    const char *recorded = r->type == REDIS_REPLY_STRING ? r->str : NULL;
    switch (mdm_schema_check(recorded, 0, &version, err, sizeof(err))) {
    case MDM_SCHEMA_OK:
        wk_info("key layout version %d", MDM_SCHEMA_VERSION);
        schema_done(s, 1);
        return;
    case MDM_SCHEMA_MISMATCH:
        wk_alert("refusing to start: %s", err);
        schema_done(s, 0);
        return;
    case MDM_SCHEMA_RECORD:
        if (++s->rounds > 2) {
            wk_alert("refusing to start: the layout record does not keep its "
                     "version");
            schema_done(s, 0);
            return;
        }
        if (wk_redis_cmd(s->link, on_has_data, s, "EXISTS %s",
                         MDM_KEY_ENROLLMENTS) != 0)
        {
            schema_done(s, -1);
        }
        return;
    }
}


static void
schema_read(wk_schema_t *s)
{
    if (wk_redis_cmd(s->link, on_version, s, "HGET %s version",
                     mdm_schema_keys[MDM_K_SCHEMA].pattern) != 0)
    {
        schema_done(s, -1);
    }
}


void
wk_schema_check(wk_redis_t *link, wk_schema_cb cb, void *data)
{
    wk_schema_t *s = calloc(1, sizeof(wk_schema_t));
    if (s == NULL) {
        return;
    }
    s->link = link;
    s->cb = cb;
    s->data = data;
    schema_read(s);
}
