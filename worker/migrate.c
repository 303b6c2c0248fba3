/*
 * The one-off migration of the key layout, over a blocking connection: it
 * runs alone, before the workers start, so nothing waits on it.
 *
 * Layout 1 -> 2 (queue generations): generation 0 keeps layout 1's queue
 * name, so every enrollment, queue, result, binding and push certificate is
 * already where layout 2 reads it; the step records version 2. A later
 * layout adds its own step here (one function per step, oldest first), so
 * that a deployment of any older layout is carried through all of them.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "mdm_keys.h"
#include "migrate.h"


static redisContext *
migrate_connect(const char *addr)
{
    struct timeval tv = { 5, 0 };
    const char *colon = strrchr(addr, ':');

    if (addr[0] == '/' || colon == NULL) {
        return redisConnectUnixWithTimeout(addr, tv);
    }
    char host[256];
    size_t n = (size_t) (colon - addr);
    if (n >= sizeof(host)) {
        return NULL;
    }
    memcpy(host, addr, n);
    host[n] = '\0';
    if (host[0] == '[' && n > 1 && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    return redisConnectWithTimeout(host, atoi(colon + 1), tv);
}


/* The reply to one command; NULL (said why) on an error. */
static redisReply *
migrate_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r == NULL) {
        wk_alert("migrate: Redis: %s", c->errstr);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        wk_alert("migrate: Redis: %s", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}


/* The recorded version, 1 for data from before the record, 0 when empty,
 * -1 on an error or a record that is not a version. */
static long
migrate_version(redisContext *c)
{
    const char *schema = mdm_schema_keys[MDM_K_SCHEMA].pattern;
    redisReply *r = migrate_cmd(c, "HGET %s version", schema);
    if (r == NULL) {
        return -1;
    }
    long v = 0;
    if (r->type == REDIS_REPLY_STRING) {
        char *end;
        v = strtol(r->str, &end, 10);
        if (end == r->str || *end != '\0' || v <= 0) {
            wk_alert("migrate: %s has an invalid version \"%s\"", schema,
                     r->str);
            v = -1;
        }
        freeReplyObject(r);
        return v;
    }
    freeReplyObject(r);
    r = migrate_cmd(c, "EXISTS %s", MDM_KEY_ENROLLMENTS);
    if (r == NULL) {
        return -1;
    }
    v = r->integer > 0 ? 1 : 0;
    freeReplyObject(r);
    return v;
}


static int
migrate_record(redisContext *c, long version)
{
    redisReply *r = migrate_cmd(c, "HSET %s version %ld",
                                mdm_schema_keys[MDM_K_SCHEMA].pattern,
                                version);
    if (r == NULL) {
        return -1;
    }
    freeReplyObject(r);
    return 0;
}


/* 1 -> 2: nothing moves (see the top of this file). */
static int
migrate_1_to_2(redisContext *c)
{
    return migrate_record(c, 2);
}


int
wk_migrate(const wk_config_t *cf)
{
    redisContext *c = migrate_connect(cf->redis);
    if (c == NULL || c->err) {
        wk_alert("migrate: cannot connect to Redis %s: %s", cf->redis,
                 c ? c->errstr : "bad address");
        if (c) {
            redisFree(c);
        }
        return 1;
    }

    int rc = 1;
    long v = migrate_version(c);
    if (v < 0) {
        goto done;
    }
    if (v == 0) {
        if (migrate_record(c, MDM_SCHEMA_VERSION) == 0) {
            wk_info("migrate: an empty Redis: recorded key layout version "
                    "%d", MDM_SCHEMA_VERSION);
            rc = 0;
        }
        goto done;
    }
    if (v > MDM_SCHEMA_VERSION) {
        wk_alert("migrate: Redis holds key layout version %ld, newer than "
                 "this build's %d: nothing done", v, MDM_SCHEMA_VERSION);
        goto done;
    }
    if (v == MDM_SCHEMA_VERSION) {
        wk_info("migrate: Redis already holds key layout version %ld", v);
        rc = 0;
        goto done;
    }
    if (v == 1) {
        if (migrate_1_to_2(c) != 0) {
            goto done;
        }
        wk_info("migrate: key layout version 1 -> 2 (queue generations)");
        v = 2;
    }
    rc = (v == MDM_SCHEMA_VERSION) ? 0 : 1;

done:
    redisFree(c);
    return rc;
}
