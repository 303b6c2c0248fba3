/* The caller allocators and the one growing buffer (mdm_buf.h). */

#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "mdm_buf.h"
#include "tap.h"


static void
free_released(char *data)
{
    free(data);
}


int
main(void)
{
    mdm_buf_t      b = { NULL, 0, 0 };
    test_arena_t   arena = { .used = 0 };
    mdm_alloc_t    a = { test_arena_alloc, &arena };
    char           big[1000];

    /* appending */
    ok(mdm_buf_append(&b, "", 0) == 0 && b.data != NULL && b.data[0] == '\0',
       "appending nothing to an empty buffer makes an empty string");
    ok(mdm_buf_append(&b, "abc", 3) == 0 && mdm_buf_append(&b, "de", 2) == 0,
       "two appends");
    is_str(b.data, "abcde", "... are kept in order, NUL-terminated");
    is_int(b.len, 5, "... and counted");

    memset(big, 'x', sizeof(big));
    ok(mdm_buf_append(&b, big, sizeof(big)) == 0 && b.len == 1005
       && b.cap >= 1006 && b.data[1005] == '\0' && b.data[4] == 'e',
       "a large append grows the buffer and keeps what it held");

    /* reserving room to write in place, as a recv does */
    b.len = 0;
    ok(mdm_buf_reserve(&b, 10) == 0 && b.cap >= 11,
       "reserve makes room for the bytes and a NUL");
    {
        size_t  cap = b.cap;
        ok(mdm_buf_reserve(&b, cap - 1) == 0 && b.cap == cap,
           "room that is there already costs nothing");
        ok(mdm_buf_reserve(&b, cap) == 0 && b.cap > cap,
           "one byte more than the room grows it");
    }
    memcpy(b.data + b.len, "in place", 8);
    b.len += 8;
    b.data[b.len] = '\0';
    is_str(b.data, "in place", "bytes written into the room are the buffer");

    mdm_buf_free(&b);
    ok(b.data == NULL && b.len == 0 && b.cap == 0, "free zeroes the buffer");
    mdm_buf_free(&b);
    ok(1, "free of a zeroed buffer is safe");

    /* copies into the caller's allocator */
    ok(mdm_buf_set(&a, &b, "pool", 4) == 0 && test_arena_has(&arena, b.data),
       "set with an allocator copies into it");
    is_str(b.data, "pool", "... NUL-terminated");
    ok(b.cap == 0, "... and is not a growing buffer");

    ok(mdm_buf_adopt(&a, &b, strdup("library"), 7, free_released) == 0
       && test_arena_has(&arena, b.data), "adopt with an allocator copies");
    is_str(b.data, "library", "... the library's bytes");

    ok(mdm_buf_adopt(NULL, &b, strdup("kept"), 4, free_released) == 0,
       "adopt without an allocator takes the memory as it is");
    is_str(b.data, "kept", "... unchanged");
    mdm_buf_free(&b);

    return done_testing();
}
