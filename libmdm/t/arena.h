#ifndef MDM_TEST_ARENA_H
#define MDM_TEST_ARENA_H

/*
 * A caller allocator for the tests, as nginx's pool is one: memory handed
 * out of a fixed block and never freed one by one, so a test can check
 * that an output lies in it and that nothing needed freeing.
 */

#include <stddef.h>

#include "mdm_buf.h"

typedef struct {
    char     block[256 * 1024];
    size_t   used;
    int      calls;
} test_arena_t;


static void *
test_arena_alloc(void *ctx, size_t size)
{
    test_arena_t  *t = ctx;
    void          *p;

    if (size > sizeof(t->block) - t->used) {
        return NULL;
    }

    p = t->block + t->used;
    t->used += size;
    t->calls++;

    return p;
}


static int
test_arena_has(const test_arena_t *t, const void *p)
{
    return (const char *) p >= t->block
           && (const char *) p < t->block + t->used;
}

#endif
