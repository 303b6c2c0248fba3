#ifndef MDM_BUF_H
#define MDM_BUF_H

/*
 * Where libmdm writes what it makes: into the caller's allocator (nginx
 * passes one over the request's pool, so nothing needs freeing), or, when
 * the caller passes none, into malloc'd memory freed with mdm_buf_free().
 * And the one growing byte buffer of the project.
 */

#include <stddef.h>

typedef struct {
    void    *(*alloc)(void *ctx, size_t size);
    void     *ctx;
} mdm_alloc_t;

typedef struct {
    char     *data;
    size_t    len;
    size_t    cap;      /* room for mdm_buf_append; 0 when not malloc'd */
} mdm_buf_t;

/* size bytes from a, or from malloc when a is NULL; NULL without memory.
 * libmdm asks only for bytes (strings, buffers): no alignment is needed. */
void *mdm_alloc(const mdm_alloc_t *a, size_t size);

/* out becomes a copy of len bytes, NUL-terminated, from a; 0 or -1. */
int mdm_buf_set(const mdm_alloc_t *a, mdm_buf_t *out, const void *data,
    size_t len);

/* out takes data, malloc'd by a library, as it is when a is NULL; else
 * gets a copy from a and data is released; 0 or -1 (data released). */
int mdm_buf_adopt(const mdm_alloc_t *a, mdm_buf_t *out, char *data,
    size_t len, void (*release)(char *data));

/* Makes room for extra more bytes and a NUL after buf->len in a malloc'd
 * buffer (zeroed to begin with), for a caller that writes in place (a
 * recv into data + len); 0, or -1 without memory (the buffer as it was). */
int mdm_buf_reserve(mdm_buf_t *buf, size_t extra);

/* Appends len bytes to a malloc'd buffer (zeroed to begin with), keeping a
 * NUL after them; 0, or -1 without memory (the buffer is left as it was). */
int mdm_buf_append(mdm_buf_t *buf, const void *data, size_t len);

/* Frees a buffer of no allocator and zeroes it; safe on a zeroed one. */
void mdm_buf_free(mdm_buf_t *buf);

#endif
