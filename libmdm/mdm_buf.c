/*
 * Caller allocators and the growing byte buffer (mdm_buf.h).
 */

#include <stdlib.h>
#include <string.h>

#include "mdm_buf.h"


void *
mdm_alloc(const mdm_alloc_t *a, size_t size)
{
    return a != NULL ? a->alloc(a->ctx, size) : malloc(size);
}


int
mdm_buf_set(const mdm_alloc_t *a, mdm_buf_t *out, const void *data,
    size_t len)
{
    char  *p;

    p = mdm_alloc(a, len + 1);
    if (p == NULL) {
        return -1;
    }

    if (len > 0) {
        memcpy(p, data, len);
    }

    p[len] = '\0';

    out->data = p;
    out->len = len;
    out->cap = 0;

    return 0;
}


int
mdm_buf_adopt(const mdm_alloc_t *a, mdm_buf_t *out, char *data, size_t len,
    void (*release)(char *data))
{
    int  rc;

    if (a == NULL) {
        out->data = data;
        out->len = len;
        out->cap = 0;
        return 0;
    }

    rc = mdm_buf_set(a, out, data, len);
    release(data);

    return rc;
}


int
mdm_buf_reserve(mdm_buf_t *buf, size_t extra)
{
    char    *p;
    size_t   cap;

    if (buf->len + extra + 1 <= buf->cap) {
        return 0;
    }

    cap = buf->cap ? buf->cap : 256;

    while (cap < buf->len + extra + 1) {
        cap *= 2;
    }

    p = realloc(buf->data, cap);
    if (p == NULL) {
        return -1;
    }

    buf->data = p;
    buf->cap = cap;

    return 0;
}


int
mdm_buf_append(mdm_buf_t *buf, const void *data, size_t len)
{
    if (mdm_buf_reserve(buf, len) != 0) {
        return -1;
    }

    if (len > 0) {
        memcpy(buf->data + buf->len, data, len);
    }

    buf->len += len;
    buf->data[buf->len] = '\0';

    return 0;
}


void
mdm_buf_free(mdm_buf_t *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}
