#include <stdlib.h>
#include <string.h>

#include "dict.h"


uint64_t
wk_dict_hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char) key[i]) * 1099511628211ULL;
    }
    return h;
}


int
wk_dict_init(wk_dict_t *d, size_t size)
{
    size_t n = 4;

    while (n < size) {
        n *= 2;
    }
    d->buckets = calloc(n, sizeof(*d->buckets));
    d->size = d->buckets ? n : 0;
    d->used = 0;
    return d->buckets ? 0 : -1;
}


void
wk_dict_node_set(wk_dict_node_t *n, const char *key, size_t len,
                 uint64_t hash)
{
    n->next = NULL;
    n->key = key;
    n->len = len;
    n->hash = hash;
}


wk_dict_node_t *
wk_dict_find(const wk_dict_t *d, const char *key, size_t len, uint64_t hash)
{
    if (d->size == 0) {
        return NULL;
    }
    for (wk_dict_node_t *n = d->buckets[hash & (d->size - 1)]; n;
         n = n->next)
    {
        if (n->hash == hash && n->len == len
            && memcmp(n->key, key, len) == 0)
        {
            return n;
        }
    }
    return NULL;
}


/* Doubles the buckets; on no memory the chains just get longer. */
static void
dict_grow(wk_dict_t *d)
{
    size_t size = d->size ? d->size * 2 : 4;
    wk_dict_node_t **b = calloc(size, sizeof(*b));

    if (b == NULL) {
        return;
    }
    for (size_t i = 0; i < d->size; i++) {
        wk_dict_node_t *n = d->buckets[i];
        while (n) {
            wk_dict_node_t *next = n->next;
            n->next = b[n->hash & (size - 1)];
            b[n->hash & (size - 1)] = n;
            n = next;
        }
    }
    free(d->buckets);
    d->buckets = b;
    d->size = size;
}


void
wk_dict_add(wk_dict_t *d, wk_dict_node_t *n)
{
    if (d->used >= d->size) {
        dict_grow(d);
    }
    if (d->size == 0) {
        return;                 /* never had memory: the caller finds none */
    }
    wk_dict_node_t **b = &d->buckets[n->hash & (d->size - 1)];
    n->next = *b;
    *b = n;
    d->used++;
}


void
wk_dict_delete(wk_dict_t *d, wk_dict_node_t *n)
{
    if (d->size == 0) {
        return;
    }
    wk_dict_node_t **pp = &d->buckets[n->hash & (d->size - 1)];
    while (*pp && *pp != n) {
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = n->next;
        n->next = NULL;
        d->used--;
    }
}


wk_dict_node_t *
wk_dict_next(const wk_dict_t *d, size_t *cursor, wk_dict_node_t **pos)
{
    wk_dict_node_t *n = *cursor ? *pos : NULL;

    while (n == NULL) {
        if (*cursor >= d->size) {
            return NULL;
        }
        n = d->buckets[(*cursor)++];
    }
    *pos = n->next;             /* read now: the caller may delete n */
    return n;
}


void
wk_dict_clear(wk_dict_t *d)
{
    if (d->used) {
        memset(d->buckets, 0, d->size * sizeof(*d->buckets));
        d->used = 0;
    }
}


void
wk_dict_free(wk_dict_t *d)
{
    free(d->buckets);
    d->buckets = NULL;
    d->size = d->used = 0;
}
