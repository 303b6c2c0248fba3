#include <stdlib.h>
#include <string.h>

#include "recent.h"

typedef struct wk_recent_entry_s wk_recent_entry_t;

struct wk_recent_entry_s {
    wk_recent_entry_t  *hnext;
    wk_recent_entry_t  *older, *newer;    /* marking order */
    uint32_t            hash;
    double              when;
    size_t              len;
    char                id[];
};

struct wk_recent_s {
    double               window;
    wk_recent_entry_t  **buckets;
    size_t               nbuckets, n;
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
    r->nbuckets = 256;
    r->buckets = calloc(r->nbuckets, sizeof(*r->buckets));
    if (r->buckets == NULL) {
        free(r);
        return NULL;
    }
    return r;
}


static wk_recent_entry_t **
slot(wk_recent_t *r, const char *id, size_t len, uint32_t hash)
{
    wk_recent_entry_t **pp = &r->buckets[hash & (r->nbuckets - 1)];
    while (*pp && !((*pp)->hash == hash && (*pp)->len == len
                    && memcmp((*pp)->id, id, len) == 0))
    {
        pp = &(*pp)->hnext;
    }
    return pp;
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
        wk_recent_entry_t **pp = slot(r, e->id, e->len, e->hash);
        *pp = e->hnext;
        unlink_order(r, e);
        r->n--;
        free(e);
    }
}


static void
grow(wk_recent_t *r)
{
    size_t n = r->nbuckets * 2;
    wk_recent_entry_t **b = calloc(n, sizeof(*b));
    if (b == NULL) {
        return;                              /* longer chains, still right */
    }
    for (wk_recent_entry_t *e = r->oldest; e; e = e->newer) {
        e->hnext = b[e->hash & (n - 1)];
        b[e->hash & (n - 1)] = e;
    }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = n;
}


double
wk_recent_get(wk_recent_t *r, const char *id, size_t len, uint32_t hash,
              double now)
{
    if (r->window <= 0) {
        return 0;
    }
    prune(r, now);
    wk_recent_entry_t *e = *slot(r, id, len, hash);
    return e && now - e->when < r->window ? e->when : 0;
}


void
wk_recent_mark(wk_recent_t *r, const char *id, size_t len, uint32_t hash,
               double when, double now)
{
    if (r->window <= 0) {
        return;
    }
    prune(r, now);
    wk_recent_entry_t *e = *slot(r, id, len, hash);
    if (e) {
        if (when > e->when) {
            e->when = when;
            unlink_order(r, e);
            link_newest(r, e);
        }
        return;
    }
    if (r->n >= r->nbuckets) {
        grow(r);
    }
    if ((e = malloc(sizeof(*e) + len)) == NULL) {
        return;                              /* one push more, no harm */
    }
    memcpy(e->id, id, len);
    e->len = len;
    e->hash = hash;
    e->when = when;
    wk_recent_entry_t **b = &r->buckets[hash & (r->nbuckets - 1)];
    e->hnext = *b;
    *b = e;
    link_newest(r, e);
    r->n++;
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
    free(r->buckets);
    free(r);
}
