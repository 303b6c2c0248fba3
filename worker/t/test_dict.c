/* The worker's one hash table (worker/dict.c). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dict.h"
#include "tap.h"

typedef struct {
    char            key[16];
    wk_dict_node_t  node;
    int             value;
} item_t;


static item_t *
find(wk_dict_t *d, const char *key)
{
    size_t len = strlen(key);
    wk_dict_node_t *n = wk_dict_find(d, key, len, wk_dict_hash(key, len));

    return n ? wk_dict_entry(n, item_t, node) : NULL;
}


int
main(void)
{
    enum { N = 5000 };
    item_t *items = calloc(N, sizeof(*items));
    wk_dict_t d;

    is_int(wk_dict_init(&d, 3), 0, "a dict");
    is_int(d.size, 4, "... sized to a power of two");
    ok(find(&d, "x") == NULL, "an empty dict finds nothing");

    for (int i = 0; i < N; i++) {
        snprintf(items[i].key, sizeof(items[i].key), "id-%d", i);
        items[i].value = i;
        size_t len = strlen(items[i].key);
        wk_dict_node_set(&items[i].node, items[i].key, len,
                         wk_dict_hash(items[i].key, len));
        wk_dict_add(&d, &items[i].node);
    }
    is_int(d.used, N, "5000 added");
    ok(d.size >= N, "... the buckets grew with them (%zu)", d.size);
    int all = 1;
    for (int i = 0; i < N; i++) {
        char key[16];
        snprintf(key, sizeof(key), "id-%d", i);
        item_t *it = find(&d, key);
        all = all && it && it->value == i;
    }
    ok(all, "each is found by its key after the growth");
    ok(find(&d, "id-5000") == NULL && find(&d, "id-") == NULL,
       "keys never added are not found");

    for (int i = 0; i < N; i += 2) {
        wk_dict_delete(&d, &items[i].node);
    }
    is_int(d.used, N / 2, "half deleted");
    ok(find(&d, "id-0") == NULL && find(&d, "id-1") != NULL,
       "deleted keys are gone, the others stay");

    size_t cursor = 0, seen = 0;
    wk_dict_node_t *n, *pos = NULL;
    while ((n = wk_dict_next(&d, &cursor, &pos)) != NULL) {
        seen++;
        wk_dict_delete(&d, n);          /* allowed while walking */
    }
    is_int(seen, N / 2, "a walk meets every node once");
    is_int(d.used, 0, "... and may delete each one it meets");

    wk_dict_add(&d, &items[1].node);
    wk_dict_clear(&d);
    ok(d.used == 0 && find(&d, "id-1") == NULL, "clear forgets every node");
    ok(wk_dict_hash("a", 1) != wk_dict_hash("b", 1)
       && wk_dict_hash("", 0) == 1469598103934665603ULL,
       "FNV-1a: the offset basis for the empty key");
    wk_dict_free(&d);
    free(items);
    return done_testing();
}
