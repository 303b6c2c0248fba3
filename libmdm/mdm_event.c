#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "mdm_event.h"


typedef struct {
    const char  *name;
    size_t       offset;
} mdm_event_field_t;


/* The string fields, in the order they are written. */
static const mdm_event_field_t  mdm_event_strings[] = {
    { "topic", offsetof(mdm_event_t, topic) },
    { "id", offsetof(mdm_event_t, id) },
    { "parent", offsetof(mdm_event_t, parent) },
    { "type", offsetof(mdm_event_t, type) },
    { "udid", offsetof(mdm_event_t, udid) },
    { "enrollment_id", offsetof(mdm_event_t, enrollment_id) },
    { "status", offsetof(mdm_event_t, status) },
    { "command_uuid", offsetof(mdm_event_t, command_uuid) },
    { "params", offsetof(mdm_event_t, params) },
    { NULL, 0 }
};


#define mdm_event_str(ev, f)                                                \
    (*(const char **) ((const char *) (ev) + (f)->offset))


static void
mdm_pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}


static void
mdm_event_release(char *data)
{
    free(data);
}


int
mdm_event_encode(const mdm_event_t *ev, const mdm_alloc_t *a,
    mdm_buf_t *out)
{
    size_t                    n;
    msgpack_sbuffer           sbuf;
    msgpack_packer            pk;
    const mdm_event_field_t  *f;

    n = 1 + (ev->raw != NULL);  /* ts, raw */
    for (f = mdm_event_strings; f->name; f++) {
        n += mdm_event_str(ev, f) != NULL;
    }

    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);

    msgpack_pack_map(&pk, n);

    for (f = mdm_event_strings; f->name; f++) {
        if (mdm_event_str(ev, f) != NULL) {
            mdm_pack_str(&pk, f->name, strlen(f->name));
            mdm_pack_str(&pk, mdm_event_str(ev, f),
                         strlen(mdm_event_str(ev, f)));
        }
    }

    /* left out when NULL, as the Lua writers leave it (lib/event.lua) */
    if (ev->raw != NULL) {
        mdm_pack_str(&pk, "raw", 3);
        msgpack_pack_bin(&pk, ev->raw_len);
        msgpack_pack_bin_body(&pk, ev->raw, ev->raw_len);
    }

    mdm_pack_str(&pk, "ts", 2);
    msgpack_pack_int64(&pk, ev->ts_ms);

    if (sbuf.data == NULL) {
        return -1;
    }

    /* without an allocator the packer's own (malloc'd) buffer is taken */
    return mdm_buf_adopt(a, out, sbuf.data, sbuf.size, mdm_event_release);
}


static int
mdm_event_set(mdm_event_t *ev, const msgpack_object_kv *kv, char **heap)
{
    const mdm_event_field_t  *f;
    const msgpack_object     *k = &kv->key, *v = &kv->val;

    if (k->type != MSGPACK_OBJECT_STR) {
        return -1;
    }

    if (k->via.str.size == 3 && memcmp(k->via.str.ptr, "raw", 3) == 0) {
        if (v->type != MSGPACK_OBJECT_BIN) {
            return -1;
        }
        ev->raw = (const unsigned char *) v->via.bin.ptr;
        ev->raw_len = v->via.bin.size;
        return 0;
    }

    if (k->via.str.size == 2 && memcmp(k->via.str.ptr, "ts", 2) == 0) {
        /* above INT64_MAX it would turn negative, and not encode back */
        if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER
            || v->via.u64 > INT64_MAX)
        {
            return -1;
        }
        ev->ts_ms = (int64_t) v->via.u64;
        return 0;
    }

    for (f = mdm_event_strings; f->name; f++) {
        if (strlen(f->name) == k->via.str.size
            && memcmp(f->name, k->via.str.ptr, k->via.str.size) == 0)
        {
            if (v->type != MSGPACK_OBJECT_STR) {
                return -1;
            }

            /* NUL-terminated copies, laid out one after the other */
            memcpy(*heap, v->via.str.ptr, v->via.str.size);
            (*heap)[v->via.str.size] = '\0';
            *(const char **) ((char *) ev + f->offset) = *heap;
            *heap += v->via.str.size + 1;
            return 0;
        }
    }

    return 0;   /* a newer writer's field: ignored */
}


/* Big-endian unsigned integer of n (1, 2 or 4) bytes. */
static size_t
mdm_event_be(const unsigned char *p, size_t n)
{
    size_t  v = 0;

    while (n-- > 0) {
        v = (v << 8) | *p++;
    }

    return v;
}


/*
 * msgpack-c allocates a container's elements when it reads the header, so
 * a 5-byte array32 header asks for gigabytes. Every element takes at least
 * one byte: a message never declares more elements than it has bytes left.
 * Walks the first object's headers and checks that before unpacking.
 */
static int
mdm_event_counts_fit(const unsigned char *p, size_t len)
{
    size_t         i, pending, n, skip, hdr;
    unsigned char  b;

    i = 0;
    pending = 1;            /* objects still to read */

    while (pending > 0) {
        if (i >= len) {
            return 0;
        }

        b = p[i++];
        n = 0;              /* elements this object contains */
        skip = 0;           /* payload bytes after its header */
        hdr = 0;            /* length bytes after the type byte */

        if (b <= 0x7f || b >= 0xe0 || (b >= 0xc0 && b <= 0xc3)) {
            /* fixint, nil, bool (0xc1 is refused by the unpacker) */
        } else if (b <= 0x8f) {
            n = 2 * (size_t) (b & 0x0f);
        } else if (b <= 0x9f) {
            n = b & 0x0f;
        } else if (b <= 0xbf) {
            skip = b & 0x1f;
        } else if (b == 0xc4 || b == 0xd9) {
            hdr = 1;
        } else if (b == 0xc5 || b == 0xda) {
            hdr = 2;
        } else if (b == 0xc6 || b == 0xdb) {
            hdr = 4;
        } else if (b >= 0xc7 && b <= 0xc9) {
            /* ext 8/16/32: length, then a type byte */
            hdr = (size_t) 1 << (b - 0xc7);
            skip = 1;
        } else if (b >= 0xca && b <= 0xd3) {
            /* float 32/64, (u)int 8..64 */
            skip = b == 0xca ? 4 : b == 0xcb ? 8
                   : (size_t) 1 << ((b - 0xcc) % 4);
        } else if (b <= 0xd8) {
            skip = 1 + ((size_t) 1 << (b - 0xd4));   /* fixext */
        } else {
            /* array 16/32, map 16/32 */
            hdr = (b == 0xdc || b == 0xde) ? 2 : 4;
        }

        if (hdr > len - i) {
            return 0;
        }

        if (b >= 0xdc && b <= 0xdf) {
            n = mdm_event_be(p + i, hdr) * (b >= 0xde ? 2 : 1);
        } else {
            skip += mdm_event_be(p + i, hdr);
        }
        i += hdr;

        if (skip > len - i || n > len - i) {
            return 0;
        }
        i += skip;

        pending += n - 1;
        if (pending > len - i) {
            return 0;
        }
    }

    return 1;
}


int
mdm_event_decode(const char *data, size_t len, mdm_event_t *ev,
    mdm_buf_t *store)
{
    int                  rc;
    char                *heap;
    size_t               i;
    msgpack_unpacked     msg;
    msgpack_object_map  *map;

    memset(ev, 0, sizeof(*ev));
    store->data = NULL;
    store->len = 0;
    store->cap = 0;

    if (!mdm_event_counts_fit((const unsigned char *) data, len)) {
        return -1;
    }

    store->data = malloc(2 * len + 1);
    store->len = 0;
    if (store->data == NULL) {
        return -1;
    }

    /* strings go to the first half, raw bytes are copied to the second */
    heap = store->data;
    memcpy(store->data + len, data, len);

    msgpack_unpacked_init(&msg);
    rc = -1;

    if (msgpack_unpack_next(&msg, store->data + len, len, NULL)
            == MSGPACK_UNPACK_SUCCESS
        && msg.data.type == MSGPACK_OBJECT_MAP)
    {
        map = &msg.data.via.map;
        rc = 0;
        for (i = 0; i < map->size && rc == 0; i++) {
            rc = mdm_event_set(ev, &map->ptr[i], &heap);
        }
    }

    msgpack_unpacked_destroy(&msg);

    if (rc != 0 || ev->topic == NULL || ev->id == NULL) {
        mdm_buf_free(store);
        return -1;
    }

    return 0;
}

