#ifndef WK_RECENT_H
#define WK_RECENT_H

/*
 * When each enrollment last had a push delivered, for the push coalescing
 * window (push_coalesce_ms): entries in a dict (dict.h) by enrollment ID,
 * forgotten, oldest first, once they are older than the window; `hash` is
 * wk_dict_hash of the ID, computed once by the caller.
 */

#include <stddef.h>
#include <stdint.h>

typedef struct wk_recent_s wk_recent_t;

/* window in seconds; 0 remembers nothing. */
wk_recent_t *wk_recent_new(double window);

/* The time of id's push if within the window of now, else 0. */
double wk_recent_get(wk_recent_t *r, const char *id, size_t len,
                     uint64_t hash, double now);

/* Records a push to id made at `when`. */
void wk_recent_mark(wk_recent_t *r, const char *id, size_t len,
                    uint64_t hash, double when, double now);

void wk_recent_free(wk_recent_t *r);

#endif
