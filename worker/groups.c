#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "groups.h"
#include "log.h"
#include "mdm_keys.h"
#include "mdm_script.h"

typedef struct {
    void      (*done)(void *);
    void       *data;
} wk_leave_t;

typedef struct {
    const char **keys;          /* the streams */
    const char **groups;
    int          n, cap;
} wk_group_list_t;


static void
group_list_add(const char *stream, const char *group, void *data)
{
    wk_group_list_t *l = data;

    if (l->n < 0) {
        return;                 /* out of memory before */
    }
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 8;
        const char **k = realloc(l->keys, (size_t) cap * sizeof(*k));
        if (k) {
            l->keys = k;
        }
        const char **g = realloc(l->groups, (size_t) cap * sizeof(*g));
        if (g) {
            l->groups = g;
        }
        if (k == NULL || g == NULL) {
            l->n = -1;
            return;
        }
        l->cap = cap;
    }
    l->keys[l->n] = stream;
    l->groups[l->n] = group;
    l->n++;
}


static long long
reply_int(const redisReply *r, size_t i)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements
        || r->element[i]->type != REDIS_REPLY_INTEGER)
    {
        return 0;
    }
    return r->element[i]->integer;
}


static void
on_left(wk_redis_t *link, redisReply *r, void *data)
{
    wk_leave_t *lv = data;
    (void) link;

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        wk_error("leaving the consumer groups: %s",
                 r ? r->str : "Redis connection lost");
    } else {
        wk_info("left %lld consumer group(s); stayed in %lld that hold "
                "entries of ours for another worker to claim",
                reply_int(r, 0), reply_int(r, 1));
    }
    lv->done(lv->data);
    free(lv);
}


void
wk_groups_leave(wk_redis_t *cmd, const wk_config_t *cf,
                const wk_webhooks_t *wh, void (*done)(void *), void *data)
{
    wk_group_list_t l = { NULL, NULL, 0, 0 };
    const mdm_script_t *script = mdm_script_find("leave_groups");
    wk_leave_t *lv = malloc(sizeof(*lv));
    const char **argv = NULL;
    char nkeys[16];
    int sent = 0;

    group_list_add(MDM_KEY_PUSH, MDM_GROUP_PUSHERS, &l);
    wk_webhooks_each_group(wh, group_list_add, &l);
    if (l.n > 0) {
        argv = malloc((size_t) (2 * l.n + 4) * sizeof(*argv));
    }
    if (lv == NULL || argv == NULL || script == NULL) {
        wk_error("cannot leave the consumer groups: %s",
                 script ? "out of memory" : "leave_groups.lua not built in");
        goto done;
    }

    /* rare (once per run), so plain EVAL: no SHA bookkeeping here */
    int argc = 0;
    snprintf(nkeys, sizeof(nkeys), "%d", l.n);
    argv[argc++] = "EVAL";
    argv[argc++] = script->src;
    argv[argc++] = nkeys;
    for (int i = 0; i < l.n; i++) {
        argv[argc++] = l.keys[i];
    }
    argv[argc++] = cf->name;
    for (int i = 0; i < l.n; i++) {
        argv[argc++] = l.groups[i];
    }
    lv->done = done;
    lv->data = data;
    sent = wk_redis_cmdargv(cmd, on_left, lv, argc, argv, NULL) == 0;
    if (!sent) {
        wk_error("cannot leave the consumer groups: Redis is down");
    }

done:
    free(argv);
    free(l.keys);
    free(l.groups);
    if (!sent) {                /* else on_left frees lv and calls done */
        free(lv);
        done(data);
    }
}
