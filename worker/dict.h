#ifndef WK_DICT_H
#define WK_DICT_H

/*
 * The worker's one hash table: chained, keyed by byte strings, intrusive
 * (the caller embeds a wk_dict_node_t in its own struct and owns it, so
 * adding allocates nothing but, now and then, a larger bucket array). It
 * serves push coalescing, the coalescing window's memory (recent.c), the
 * stream entries a consumer group holds (stream.c) and the webhooks'
 * per-enrollment ordering.
 */

#include <stddef.h>
#include <stdint.h>

typedef struct wk_dict_node_s wk_dict_node_t;

struct wk_dict_node_s {
    wk_dict_node_t  *next;
    const char      *key;           /* owned by the node's container */
    size_t           len;
    uint64_t         hash;          /* wk_dict_hash(key, len) */
};

typedef struct {
    wk_dict_node_t **buckets;
    size_t           size;          /* a power of two */
    size_t           used;
} wk_dict_t;

/* The container of a node: wk_dict_entry(n, wk_push_t, node). */
#define wk_dict_entry(n, type, member)                                       \
    ((type *) (void *) ((char *) (n) - offsetof(type, member)))

/* FNV-1a, 64 bits: cheap, and good enough for IDs that are ours. */
uint64_t wk_dict_hash(const char *key, size_t len);

/* size: initial buckets, rounded up to a power of two; -1 out of memory. */
int wk_dict_init(wk_dict_t *d, size_t size);

/* Sets the node's key (not copied: it must live as long as the node). */
void wk_dict_node_set(wk_dict_node_t *n, const char *key, size_t len,
                      uint64_t hash);

wk_dict_node_t *wk_dict_find(const wk_dict_t *d, const char *key, size_t len,
                             uint64_t hash);

/* Adds a node whose key is set; the caller checked it is not there yet. */
void wk_dict_add(wk_dict_t *d, wk_dict_node_t *n);

/* Removes a node that is in the dict. */
void wk_dict_delete(wk_dict_t *d, wk_dict_node_t *n);

/* Walks every node: *cursor starts at 0; NULL once done. The node
 * returned may be deleted before the next call. */
wk_dict_node_t *wk_dict_next(const wk_dict_t *d, size_t *cursor,
                             wk_dict_node_t **pos);

/* Forgets every node (they are the caller's), keeps the buckets. */
void wk_dict_clear(wk_dict_t *d);

/* Frees the buckets; the nodes are the caller's. */
void wk_dict_free(wk_dict_t *d);

#endif
