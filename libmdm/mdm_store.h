#ifndef MDM_STORE_H
#define MDM_STORE_H

/*
 * The contract of each script call, in one place: one function per call
 * that fills a caller-owned argv (EVALSHA <sha> <numkeys> KEYS... ARGV...)
 * from typed input. The KEYS/ARGV order of libmdm/lua/<script>.lua lives
 * here, beside the script, not in the module or the worker; the keys come
 * from the schema table (mdm_schema.h).
 *
 * The caller owns the argv arrays and a buffer for the keys and numbers the
 * call needs (MDM_STORE_BUF(nkeys) is enough); strings of the input are
 * referenced, not copied, so they must live until the command is sent.
 * argv[1] is left for the caller, which knows the script's SHA-1 by the name
 * in out->script (mdm_argv_set_sha). Every function returns 0, or -1 when
 * argv or the buffer is too small or an input is missing (a bug).
 */

#include <stddef.h>
#include <stdint.h>

#include "mdm_checkin.h"
#include "mdm_keys.h"
#include "mdm_report.h"

typedef struct {
    const char   **argv;
    size_t        *argvlen;
    int            argc;
    int            nalloc;
    char          *buf;
    size_t         used;
    size_t         size;
    const char    *script;    /* libmdm/lua/<script>.lua */
    int            nkeys;
    int            failed;
} mdm_argv_t;

/* Room for the keys and numbers of a call with nkeys keys */
#define MDM_STORE_BUF(nkeys)  ((nkeys) * MDM_KEY_MAX + 512)

void mdm_argv_init(mdm_argv_t *a, const char **argv, size_t *argvlen,
    int nalloc, char *buf, size_t size);
void mdm_argv_set_sha(mdm_argv_t *a, const char *sha);


/* checkin.lua: one check-in message (protocol.md §2) */
#define MDM_STORE_CHECKIN_KEYS  10
#define MDM_STORE_CHECKIN_ARGC  (3 + MDM_STORE_CHECKIN_KEYS + 10 + 40)

typedef struct {
    const mdm_checkin_t  *ci;
    const char           *cert_sha;     /* "" when binding is off */
    int                   retro;        /* mdm_cert_binding retro */
    int                   topic_check;  /* refuse a topic with no push cert */
    int64_t               now;          /* unix s */
    const void           *event;        /* the encoded mdm.<MessageType> */
    size_t                event_len;
    const void           *auth;         /* Authenticate's plist to keep */
    size_t                auth_len;
    int64_t               events_maxlen;
    /* Authenticate: what our CA's issuance record of the certificate says
     * (empty: nothing, and the enrollment forgets what it had) */
    mdm_bytes_t           enroll_user;
    mdm_bytes_t           enroll_link;
    mdm_bytes_t           enroll_tags;
} mdm_store_checkin_t;

int mdm_store_checkin_argv(const mdm_store_checkin_t *in, mdm_argv_t *out);


/* connect.lua: one command report (protocol.md §3) */
#define MDM_STORE_CONNECT_KEYS  8
#define MDM_STORE_CONNECT_ARGC  (3 + MDM_STORE_CONNECT_KEYS + 11)

typedef struct {
    const mdm_report_t   *rep;
    const char           *cert_sha;     /* "" when binding is off */
    int                   retro;
    int64_t               now;          /* unix s */
    const void           *result;       /* a final result's raw body, or */
    size_t                result_len;   /* 0 */
    const void           *event;        /* the encoded mdm.Connect, or */
    size_t                event_len;    /* 0 for none */
    int64_t               events_maxlen;
    int64_t               result_retention;
} mdm_store_connect_t;

int mdm_store_connect_argv(const mdm_store_connect_t *in, mdm_argv_t *out);


/* enqueue.lua: one command to a chunk of enrollments */
#define MDM_STORE_ENQUEUE_KEYS  5
#define MDM_STORE_ENQUEUE_ARGC(nids)  (3 + MDM_STORE_ENQUEUE_KEYS + 8 + (nids))

typedef struct {
    const char           *uuid;
    const void           *body;         /* the serialized command plist */
    size_t                body_len;
    const char           *request_type;
    int64_t               now;          /* unix s */
    int64_t               expires;      /* unix s, 0 = never */
    int                   nopush;
    int                   first;        /* the first chunk of the command */
    int                   last;         /* its last chunk */
    char *const          *ids;
    int                   nids;
} mdm_store_enqueue_t;

int mdm_store_enqueue_argv(const mdm_store_enqueue_t *in, mdm_argv_t *out);


/* push.lua: a push job for each of some enrollments (the push API) */
#define MDM_STORE_PUSH_KEYS  1
#define MDM_STORE_PUSH_ARGC(nids)  (3 + MDM_STORE_PUSH_KEYS + (nids))

int mdm_store_push_argv(char *const *ids, int nids, mdm_argv_t *out);


/* expire.lua: the worker's expiry sweep, one batch */
#define MDM_STORE_EXPIRE_KEYS  4
#define MDM_STORE_EXPIRE_ARGC  (3 + MDM_STORE_EXPIRE_KEYS + 4)

int mdm_store_expire_argv(int64_t now_ms, long batch, long retention,
    long events_maxlen, mdm_argv_t *out);


/* queue_gc.lua: the worker's sweep of retired queue generations */
#define MDM_STORE_QUEUE_GC_KEYS  1
#define MDM_STORE_QUEUE_GC_ARGC  (3 + MDM_STORE_QUEUE_GC_KEYS + 2)

int mdm_store_queue_gc_argv(int64_t now, long budget, mdm_argv_t *out);


/* sweep_pending.lua: the worker's silent-device and NotNow re-push sweep */
#define MDM_STORE_SWEEP_PENDING_KEYS  3
#define MDM_STORE_SWEEP_PENDING_ARGC  (3 + MDM_STORE_SWEEP_PENDING_KEYS + 4)

int mdm_store_sweep_pending_argv(int64_t now, long silent_after,
    long notnow_after, long batch, mdm_argv_t *out);

#endif
