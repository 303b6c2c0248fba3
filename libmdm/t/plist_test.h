#ifndef MDM_PLIST_TEST_H
#define MDM_PLIST_TEST_H

/*
 * Helpers shared by the decoders' unit tests: XML bodies spelled inline,
 * fixture loading, and a tiny binary plist writer that, unlike libplist's,
 * can write the hostile shapes (duplicate keys, cycles, shared subtrees).
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLIST(entries)                                                      \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                          \
    "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "               \
    "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"                 \
    "<plist version=\"1.0\"><dict>" entries "</dict></plist>\n"

#define STR(k, v)   "<key>" k "</key><string>" v "</string>"
#define DATA(k, v)  "<key>" k "</key><data>" v "</data>"
#define INT(k, v)   "<key>" k "</key><integer>" v "</integer>"
#define TRUE(k)     "<key>" k "</key><true/>"
#define FALSE(k)    "<key>" k "</key><false/>"

#define TEST_MAX_BODY  (1024 * 1024)


/*
 * Reads $MDM_FIXTURES/name, name as "devices/ios-authenticate.plist".
 * MDM_FIXTURES means what it means to the Perl harness (t/lib/MDM/Test.pm):
 * the directory holding devices/ and ddm/, by default the repository's
 * t/fixtures (the Makefile passes its path, so a test runs from anywhere).
 */
#ifndef MDM_TEST_FIXTURES
#define MDM_TEST_FIXTURES  "t/fixtures"
#endif

static inline char *
fixture(const char *name, size_t *len)
{
    char         path[1024];
    FILE        *f;
    char        *buf;
    long         size;
    const char  *dir;

    dir = getenv("MDM_FIXTURES");
    snprintf(path, sizeof(path), "%s/%s",
             dir != NULL ? dir : MDM_TEST_FIXTURES, name);

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc(size + 1);
    *len = fread(buf, 1, size, f);
    buf[*len] = '\0';
    fclose(f);

    return buf;
}


/* Binary plist objects, appended to one buffer with 4-byte offsets/refs. */
typedef struct {
    unsigned char  buf[1 << 16];
    size_t         len;
    uint32_t       offsets[4096];
    uint32_t       nobjects;
} bplist_t;


static inline void
bp_put32(unsigned char *p, uint64_t v)
{
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}


static inline uint32_t
bp_begin(bplist_t *bp)
{
    if (bp->len == 0) {
        memcpy(bp->buf, "bplist00", 8);
        bp->len = 8;
    }

    bp->offsets[bp->nobjects] = bp->len;

    return bp->nobjects++;
}


/* An ASCII string object of under 15 bytes; returns its reference. */
static inline uint32_t
bp_ascii(bplist_t *bp, const char *s)
{
    uint32_t  ref;
    size_t    n;

    ref = bp_begin(bp);
    n = strlen(s);
    bp->buf[bp->len++] = 0x50 | n;
    memcpy(bp->buf + bp->len, s, n);
    bp->len += n;

    return ref;
}


/* An array (marker 0xA0) or dict (0xD0, keys then values) of refs. */
static inline uint32_t
bp_coll(bplist_t *bp, unsigned marker, const uint32_t *refs, size_t nrefs)
{
    size_t    i, count;
    uint32_t  ref;

    ref = bp_begin(bp);
    count = marker == 0xD0 ? nrefs / 2 : nrefs;
    bp->buf[bp->len++] = marker | (count < 15 ? count : 15);

    if (count >= 15) {
        bp->buf[bp->len++] = 0x12;
        bp_put32(bp->buf + bp->len, count);
        bp->len += 4;
    }

    for (i = 0; i < nrefs; i++) {
        bp_put32(bp->buf + bp->len, refs[i]);
        bp->len += 4;
    }

    return ref;
}


/* Writes the offset table and trailer; returns the body length. */
static inline size_t
bp_finish(bplist_t *bp, uint32_t top)
{
    uint32_t  i;
    size_t    table;

    table = bp->len;

    for (i = 0; i < bp->nobjects; i++) {
        bp_put32(bp->buf + bp->len, bp->offsets[i]);
        bp->len += 4;
    }

    memset(bp->buf + bp->len, 0, 32);
    bp->buf[bp->len + 6] = 4;
    bp->buf[bp->len + 7] = 4;
    bp_put32(bp->buf + bp->len + 12, bp->nobjects);
    bp_put32(bp->buf + bp->len + 20, top);
    bp_put32(bp->buf + bp->len + 28, table);
    bp->len += 32;

    return bp->len;
}

#endif
