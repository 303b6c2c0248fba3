#ifndef MDM_EVENT_H
#define MDM_EVENT_H

/*
 * Events for the workers (docs/redis-schema.md, stream mdm:events, field m):
 * one msgpack map per accepted check-in or command report. Absent strings
 * and an absent raw (NULL) are left out of the map. The keys come in a fixed
 * order (the Lua writers of mdm.CommandExpired use the same, lib/event.lua):
 * the same event is the same bytes, t/golden/event-command-expired.msgpack.
 */

#include <stddef.h>
#include <stdint.h>

#include "mdm_buf.h"

typedef struct {
    const char            *topic;          /* "mdm.TokenUpdate", ... */
    const char            *id;             /* enrollment ID */
    const char            *parent;
    const char            *type;           /* enrollment type */
    const char            *udid;
    const char            *enrollment_id;
    const char            *status;         /* reports */
    const char            *command_uuid;   /* reports */
    const char            *params;         /* URL query string */
    const unsigned char   *raw;            /* the raw plist */
    size_t                 raw_len;
    int64_t                ts_ms;
} mdm_event_t;

/* Encodes ev into out, from a (NULL: malloc'd, free with mdm_buf_free);
 * 0 or -1. */
int mdm_event_encode(const mdm_event_t *ev, const mdm_alloc_t *a,
    mdm_buf_t *out);

/* Decodes a map made by mdm_event_encode; strings point into `data`
 * copies owned by `store` (free with mdm_buf_free); 0 or -1. */
int mdm_event_decode(const char *data, size_t len, mdm_event_t *ev,
    mdm_buf_t *store);

#endif
