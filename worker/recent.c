#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "recent.h"

typedef struct wk_recent_entry_s wk_recent_entry_t;

struct wk_recent_entry_s {
    wk_dict_node_t      node;             /* key id */
    wk_recent_entry_t  *older, *newer;    /* marking order */
    double              when;
    char                id[];
};

struct wk_recent_s {
    double               window;
    wk_dict_t            ids;
    wk_recent_entry_t   *oldest, *newest;
};


wk_recent_t *
wk_recent_new(double window)
{
    wk_recent_t *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    r->window = window;
    if (wk_dict_init(&r->ids, 256) != 0) {
        free(r);
        return NULL;
    }
    return r;
}


static wk_recent_entry_t *
recent_find(wk_recent_t *r, const char *id, size_t len, uint64_t hash)
{
    wk_dict_node_t *n = wk_dict_find(&r->ids, id, len, hash);

    return n ? wk_dict_entry(n, wk_recent_entry_t, node) : NULL;
}


static void
unlink_order(wk_recent_t *r, wk_recent_entry_t *e)
{
    if (e->older) {
        e->older->newer = e->newer;
    } else {
        r->oldest = e->newer;
    }
    if (e->newer) {
        e->newer->older = e->older;
    } else {
        r->newest = e->older;
    }
}


static void
link_newest(wk_recent_t *r, wk_recent_entry_t *e)
{
    e->newer = NULL;
    e->older = r->newest;
    if (r->newest) {
        r->newest->newer = e;
    } else {
        r->oldest = e;
    }
    r->newest = e;
}


/* Drops the entries past the window; marks come in time order, nearly. */
static void
prune(wk_recent_t *r, double now)
{
    while (r->oldest && now - r->oldest->when >= r->window) {
        wk_recent_entry_t *e = r->oldest;
        wk_dict_delete(&r->ids, &e->node);
        unlink_order(r, e);
        free(e);
    }
}


double
wk_recent_get(wk_recent_t *r, const char *id, size_t len, uint64_t hash,
              double now)
{
    if (r->window <= 0) {
        return 0;
    }
    prune(r, now);
    wk_recent_entry_t *e = recent_find(r, id, len, hash);
    return e && now - e->when < r->window ? e->when : 0;
}


void
wk_recent_mark(wk_recent_t *r, const char *id, size_t len, uint64_t hash,
               double when, double now)
{
    if (r->window <= 0) {
        return;
    }
    prune(r, now);
    wk_recent_entry_t *e = recent_find(r, id, len, hash);
    if (e) {
        if (when > e->when) {
            e->when = when;
            unlink_order(r, e);
            link_newest(r, e);
        }
        return;
    }
    if ((e = malloc(sizeof(*e) + len)) == NULL) {
        return;                              /* one push more, no harm */
    }
    memcpy(e->id, id, len);
    e->when = when;
    wk_dict_node_set(&e->node, e->id, len, hash);
    wk_dict_add(&r->ids, &e->node);
    link_newest(r, e);
}


void
wk_recent_free(wk_recent_t *r)
{
    if (r == NULL) {
        return;
    }
    while (r->oldest) {
        wk_recent_entry_t *e = r->oldest;
        r->oldest = e->newer;
        free(e);
    }
    wk_dict_free(&r->ids);
    free(r);
}
