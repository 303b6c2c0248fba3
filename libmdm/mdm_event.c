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


int
mdm_event_encode(const mdm_event_t *ev, mdm_buf_t *out)
{
    size_t                    n;
    msgpack_sbuffer           sbuf;
    msgpack_packer            pk;
    const mdm_event_field_t  *f;

    n = 2;  /* raw, ts */
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

    mdm_pack_str(&pk, "raw", 3);
    msgpack_pack_bin(&pk, ev->raw_len);
    if (ev->raw_len) {      /* a raw left out is NULL: no memcpy from it */
        msgpack_pack_bin_body(&pk, ev->raw, ev->raw_len);
    }

    mdm_pack_str(&pk, "ts", 2);
    msgpack_pack_int64(&pk, ev->ts_ms);

    if (sbuf.data == NULL) {
        return -1;
    }

    out->data = sbuf.data;
    out->len = sbuf.size;

    return 0;
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
        if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
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


void
mdm_buf_free(mdm_buf_t *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = 0;
}
