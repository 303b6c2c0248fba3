#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mdm_enrollment.h"
#include "mdm_store.h"


void
mdm_argv_init(mdm_argv_t *a, const char **argv, size_t *argvlen, int nalloc,
    char *buf, size_t size)
{
    memset(a, 0, sizeof(mdm_argv_t));
    a->argv = argv;
    a->argvlen = argvlen;
    a->nalloc = nalloc;
    a->buf = buf;
    a->size = size;
}


void
mdm_argv_set_sha(mdm_argv_t *a, const char *sha)
{
    a->argv[1] = sha;
    a->argvlen[1] = strlen(sha);
}


static void
arg_bytes(mdm_argv_t *a, const void *p, size_t len)
{
    if (a->argc == a->nalloc || (p == NULL && len > 0)) {
        a->failed = 1;
        return;
    }
    a->argv[a->argc] = p ? p : "";
    a->argvlen[a->argc] = len;
    a->argc++;
}


static void
arg_str(mdm_argv_t *a, const char *s)
{
    arg_bytes(a, s ? s : "", s ? strlen(s) : 0);
}


/* A value made here (a key, a number) goes into the caller's buffer. */
static char *
arg_room(mdm_argv_t *a, size_t *room)
{
    *room = a->size - a->used;
    return (*room > 0) ? a->buf + a->used : NULL;
}


static void
arg_made(mdm_argv_t *a, char *p, size_t len)
{
    if (len == 0) {
        a->failed = 1;
        return;
    }
    a->used += len + 1;
    arg_bytes(a, p, len);
}


static void
arg_int(mdm_argv_t *a, int64_t n)
{
    int     len;
    char   *p;
    size_t  room;

    p = arg_room(a, &room);
    len = p ? snprintf(p, room, "%" PRId64, n) : -1;
    arg_made(a, p, (len > 0 && (size_t) len < room) ? (size_t) len : 0);
}


static void
arg_key(mdm_argv_t *a, mdm_key_id_t k, const char *p1, const char *p2)
{
    char        *p;
    size_t       room;
    const char  *params[MDM_SCHEMA_MAX_PARAMS] = { p1, p2 };

    p = arg_room(a, &room);
    arg_made(a, p, p ? mdm_schema_key(p, room, k, params,
                                      mdm_schema_nparams(k))
                     : 0);
}


/* EVALSHA <sha, set by the caller> <nkeys> */
static void
arg_script(mdm_argv_t *a, const char *script, int nkeys)
{
    a->argc = 0;
    a->used = 0;
    a->failed = 0;
    a->script = script;
    a->nkeys = nkeys;
    arg_bytes(a, "EVALSHA", 7);
    arg_bytes(a, "", 0);
    arg_int(a, nkeys);
}


static int
arg_done(mdm_argv_t *a, int nkeys_at)
{
    /* the KEYS count said in argv[2] is the number of keys added */
    if (!a->failed && a->argc - 3 < nkeys_at) {
        a->failed = 1;
    }
    return a->failed ? -1 : 0;
}


/* -- checkin.lua ---------------------------------------------------------- */

static void
field(mdm_argv_t *a, const char *name, const char *value)
{
    if (value != NULL) {
        arg_str(a, name);
        arg_str(a, value);
    }
}


static void
field_bytes(mdm_argv_t *a, const char *name, const mdm_bytes_t *b)
{
    if (b->len > 0) {
        arg_str(a, name);
        arg_bytes(a, b->data, b->len);
    }
}


/* What each message stores in the enrollment hash (docs/redis-schema.md). */
static void
checkin_fields(mdm_argv_t *a, const mdm_checkin_t *ci)
{
    const mdm_enrollment_keys_t  *k = &ci->id_keys;

    switch (ci->type) {

    case MDM_CHECKIN_AUTHENTICATE:
        field(a, "udid", k->udid);
        field(a, "enrollment_id", k->enrollment_id);
        field(a, "topic", ci->topic);
        field(a, "serial", ci->serial_number);
        field(a, "model", ci->model);
        field(a, "model_name", ci->model_name);
        field(a, "product", ci->product_name);
        field(a, "os_version", ci->os_version);
        field(a, "build_version", ci->build_version);
        field(a, "device_name", ci->device_name);
        field(a, "imei", ci->imei);
        field(a, "meid", ci->meid);
        break;

    case MDM_CHECKIN_TOKEN_UPDATE:
        field(a, "udid", k->udid);
        field(a, "enrollment_id", k->enrollment_id);
        field(a, "user_id", k->user_id);
        field(a, "user_short_name", k->user_short_name);
        field(a, "user_long_name", k->user_long_name);
        field(a, "enrollment_user_id", k->enrollment_user_id);
        field(a, "topic", ci->topic);
        field_bytes(a, "token", &ci->token);
        field(a, "push_magic", ci->push_magic);
        field_bytes(a, "unlock_token", &ci->unlock_token);
        field(a, "awaiting_config", ci->awaiting_configuration ? "1" : "0");
        break;

    case MDM_CHECKIN_SET_BOOTSTRAP_TOKEN:
        field_bytes(a, "bootstrap_token", &ci->bootstrap_token);
        break;

    default:
        break;
    }
}


static int
checkin_topical(const mdm_checkin_t *ci)
{
    return ci->type == MDM_CHECKIN_AUTHENTICATE
           || ci->type == MDM_CHECKIN_TOKEN_UPDATE
           || ci->type == MDM_CHECKIN_CHECK_OUT;
}


int
mdm_store_checkin_argv(const mdm_store_checkin_t *in, mdm_argv_t *out)
{
    const mdm_checkin_t  *ci = in->ci;
    const char           *id = ci->enrollment.id;
    const char           *device = ci->enrollment.parent[0]
                                   ? ci->enrollment.parent : id;

    arg_script(out, "checkin", MDM_STORE_CHECKIN_KEYS);

    arg_key(out, MDM_K_ENR, id, NULL);
    arg_key(out, MDM_K_ENR, device, NULL);
    arg_key(out, MDM_K_CERT, in->cert_sha, NULL);
    arg_key(out, MDM_K_AUTH, id, NULL);
    arg_key(out, MDM_K_QGC, NULL, NULL);
    arg_key(out, MDM_K_NN, id, NULL);
    arg_key(out, MDM_K_USERS, device, NULL);
    arg_key(out, MDM_K_EVENTS, NULL, NULL);
    arg_key(out, MDM_K_ENROLLMENTS, NULL, NULL);

    if (in->topic_check && checkin_topical(ci) && ci->topic != NULL) {
        arg_key(out, MDM_K_PUSHCERT, ci->topic, NULL);
    } else {
        arg_bytes(out, "", 0);
    }

    arg_str(out, ci->message_type);
    arg_str(out, id);
    arg_str(out, ci->enrollment.parent);
    arg_str(out, mdm_enrollment_type_name(ci->enrollment.type));
    arg_str(out, in->cert_sha);
    arg_str(out, in->retro ? "retro" : "on");
    arg_int(out, in->now);
    arg_bytes(out, in->event, in->event_len);
    arg_int(out, in->events_maxlen);
    /* Authenticate's plist; other messages store no raw body */
    arg_bytes(out, ci->type == MDM_CHECKIN_AUTHENTICATE ? in->auth : "",
              ci->type == MDM_CHECKIN_AUTHENTICATE ? in->auth_len : 0);

    checkin_fields(out, ci);

    if (ci->type == MDM_CHECKIN_AUTHENTICATE) {
        field_bytes(out, "enroll_user", &in->enroll_user);
        field_bytes(out, "enroll_link", &in->enroll_link);
        field_bytes(out, "enroll_tags", &in->enroll_tags);
    }

    return arg_done(out, MDM_STORE_CHECKIN_KEYS);
}


/* -- connect.lua ---------------------------------------------------------- */

static int
report_final(mdm_status_e status)
{
    return status == MDM_STATUS_ACKNOWLEDGED || status == MDM_STATUS_ERROR
           || status == MDM_STATUS_COMMAND_FORMAT_ERROR;
}


int
mdm_store_connect_argv(const mdm_store_connect_t *in, mdm_argv_t *out)
{
    const mdm_report_t  *rep = in->rep;
    const char          *id = rep->enrollment.id;
    const char          *device = rep->enrollment.parent[0]
                                  ? rep->enrollment.parent : id;

    arg_script(out, "connect", MDM_STORE_CONNECT_KEYS);

    arg_key(out, MDM_K_ENR, id, NULL);
    arg_key(out, MDM_K_ENR, device, NULL);
    arg_key(out, MDM_K_CERT, in->cert_sha, NULL);
    arg_key(out, MDM_K_NN, id, NULL);
    /* this command's result hash; the enrollment hash for Idle */
    if (rep->command_uuid != NULL) {
        arg_key(out, MDM_K_R, id, rep->command_uuid);
    } else {
        arg_key(out, MDM_K_ENR, id, NULL);
    }
    arg_key(out, MDM_K_EVENTS, NULL, NULL);
    arg_key(out, MDM_K_PENDING, NULL, NULL);
    arg_key(out, MDM_K_NOTNOW, NULL, NULL);

    arg_str(out, id);
    arg_str(out, rep->enrollment.parent);
    arg_str(out, in->cert_sha);
    arg_str(out, in->retro ? "retro" : "on");
    arg_int(out, in->now);
    arg_str(out, rep->status_name);
    arg_str(out, rep->command_uuid);
    /* only a final result is stored; the event carries every body */
    if (report_final(rep->status)) {
        arg_bytes(out, in->result, in->result_len);
    } else {
        arg_bytes(out, "", 0);
    }
    arg_bytes(out, in->event, in->event_len);
    arg_int(out, in->events_maxlen);
    arg_int(out, in->result_retention);

    return arg_done(out, MDM_STORE_CONNECT_KEYS);
}


/* -- enqueue.lua ---------------------------------------------------------- */

int
mdm_store_enqueue_argv(const mdm_store_enqueue_t *in, mdm_argv_t *out)
{
    arg_script(out, "enqueue", MDM_STORE_ENQUEUE_KEYS);

    arg_key(out, MDM_K_CMD, in->uuid, NULL);
    arg_key(out, MDM_K_CMD_IDS, in->uuid, NULL);
    arg_key(out, MDM_K_EXPIRY, NULL, NULL);
    arg_key(out, MDM_K_PUSH, NULL, NULL);
    arg_key(out, MDM_K_PENDING, NULL, NULL);

    arg_str(out, in->uuid);
    arg_bytes(out, in->body, in->body_len);
    arg_str(out, in->request_type);
    arg_int(out, in->now);
    arg_int(out, in->expires);
    arg_str(out, in->nopush ? "1" : "0");
    arg_str(out, in->first ? "1" : "0");
    arg_str(out, in->last ? "1" : "0");
    for (int i = 0; i < in->nids; i++) {
        arg_str(out, in->ids[i]);
    }

    return arg_done(out, MDM_STORE_ENQUEUE_KEYS);
}


/* -- push.lua ------------------------------------------------------------- */

int
mdm_store_push_argv(char *const *ids, int nids, mdm_argv_t *out)
{
    arg_script(out, "push", MDM_STORE_PUSH_KEYS);

    arg_key(out, MDM_K_PUSH, NULL, NULL);

    for (int i = 0; i < nids; i++) {
        arg_str(out, ids[i]);
    }

    return arg_done(out, MDM_STORE_PUSH_KEYS);
}


/* -- the worker's sweeps -------------------------------------------------- */

int
mdm_store_expire_argv(int64_t now_ms, long batch, long retention,
    long events_maxlen, mdm_argv_t *out)
{
    arg_script(out, "expire", MDM_STORE_EXPIRE_KEYS);

    arg_key(out, MDM_K_EXPIRY, NULL, NULL);
    arg_key(out, MDM_K_EVENTS, NULL, NULL);
    arg_key(out, MDM_K_PENDING, NULL, NULL);
    arg_key(out, MDM_K_NOTNOW, NULL, NULL);

    arg_int(out, now_ms);
    arg_int(out, batch);
    arg_int(out, retention);
    arg_int(out, events_maxlen);

    return arg_done(out, MDM_STORE_EXPIRE_KEYS);
}


int
mdm_store_queue_gc_argv(int64_t now, long budget, mdm_argv_t *out)
{
    arg_script(out, "queue_gc", MDM_STORE_QUEUE_GC_KEYS);

    arg_key(out, MDM_K_QGC, NULL, NULL);

    arg_int(out, now);
    arg_int(out, budget);

    return arg_done(out, MDM_STORE_QUEUE_GC_KEYS);
}


int
mdm_store_sweep_pending_argv(int64_t now, long silent_after,
    long notnow_after, long batch, mdm_argv_t *out)
{
    arg_script(out, "sweep_pending", MDM_STORE_SWEEP_PENDING_KEYS);

    arg_key(out, MDM_K_PENDING, NULL, NULL);
    arg_key(out, MDM_K_NOTNOW, NULL, NULL);
    arg_key(out, MDM_K_PUSH, NULL, NULL);

    arg_int(out, now);
    arg_int(out, silent_after);
    arg_int(out, notnow_after);
    arg_int(out, batch);

    return arg_done(out, MDM_STORE_SWEEP_PENDING_KEYS);
}
