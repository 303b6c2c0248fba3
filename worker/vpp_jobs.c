/*
 * A location's work after its sync (vpp.h): the API's jobs at the head of
 * mdm:vpp:{<location>}:jobs become associate/disassociate calls in batches
 * of the service's maxSerialNumbers, each recorded as an event; the due
 * events are polled on /status, and a completed association queues
 * InstallApplication for the enrollments that got their licence (those
 * in the event's failures[] are marked failed with Apple's reason).
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <plist/plist.h>

#include "log.h"
#include "mdm_keys.h"
#include "mdm_store.h"
#include "mdm_script.h"
#include "mdm_uuid.h"
#include "metrics.h"
#include "vpp_int.h"

#define WK_VPP_JOBS_PER_ROUND    20
#define WK_VPP_EVENTS_PER_ROUND  50
#define WK_VPP_BATCH_MAX         1000     /* enqueue.lua's IDs per call */

static void events(wk_vpp_t *v);
static void event_next(wk_vpp_t *v);


/* vpp_states.lua: pairs of enrollment ID and state ('' = forget). */
static int
states(wk_vpp_t *v, const char *adam, const char *event, int pop,
       json_t *pairs, wk_redis_cb cb)
{
    size_t       n = json_array_size(pairs), i, argc = 8;
    const char **argv = calloc(8 + n, sizeof(*argv));
    size_t      *argvlen = calloc(8 + n, sizeof(*argvlen));
    char         key[MDM_KEY_MAX];
    int          rc;

    if (argv == NULL || argvlen == NULL) {
        free(argv);
        free(argvlen);
        return -1;
    }
    mdm_key(key, MDM_K_VPP_TOKEN, v->cur.name, NULL);
    argv[3] = key;
    argv[4] = v->cur.name;
    argv[5] = adam;
    argv[6] = event;
    argv[7] = pop ? "1" : "0";
    for (i = 0; i < n; i++) {
        argv[argc++] = json_string_value(json_array_get(pairs, i));
    }
    for (i = 3; i < argc; i++) {
        argvlen[i] = strlen(argv[i]);
    }
    rc = wk_vpp_eval(v, "vpp_states", 1, argv, argvlen, (int) argc, cb);
    free(argv);
    free(argvlen);
    return rc;
}


static void
add_state(json_t *pairs, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
add_state(json_t *pairs, const char *id, const char *fmt, ...)
{
    char     buf[512];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    json_array_append_new(pairs, json_string(id));
    json_array_append_new(pairs, json_string(buf));
}


static const char *
job_str(wk_vpp_t *v, const char *key)
{
    return json_string_value(json_object_get(v->cur.job, key));
}


/* --- jobs ------------------------------------------------------------ */

static void on_job(wk_redis_t *link, redisReply *r, void *data);
static void job_batch(wk_vpp_t *v);


static void
next_job(wk_vpp_t *v)
{
    wk_vpp_loc_t *l = &v->cur;
    size_t        i;

    for (i = 0; l->serials && i < l->nids; i++) {
        free(l->serials[i]);
    }
    free(l->serials);
    free(l->slots);
    json_decref(l->job);
    json_decref(l->batch);
    l->serials = NULL;
    l->slots = NULL;
    l->job = l->batch = NULL;
    l->nids = l->next = l->waiting = 0;
    l->lost = 0;
    wk_vpp_jobs(v);
}


static void
on_job_states(wk_redis_t *link, redisReply *r, void *data)
{
    wk_vpp_t *v = data;
    (void) link;

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        wk_error("vpp %s: states not stored: %s", v->cur.name,
                 r ? r->str : "Redis lost");
        wk_vpp_next_location(v);
        return;
    }
    if (v->cur.next < v->cur.nids && !v->cur.last) {
        job_batch(v);
        return;
    }
    next_job(v);
}


/* The enrollments of the job without a known serial number, once the
 * job's batches are sent (pop: the job has no batch at all). */
static void
job_finish(wk_vpp_t *v, int pop)
{
    json_t  *pairs = json_array();
    size_t   i;
    json_t  *ids = json_object_get(v->cur.job, "ids");

    for (i = 0; i < v->cur.nids; i++) {
        if (v->cur.serials[i] == NULL) {
            add_state(pairs, json_string_value(json_array_get(ids, i)),
                      "failed - 0 no serial number is known for the enrollment");
        }
    }
    v->cur.next = v->cur.nids;
    if (json_array_size(pairs) == 0 && !pop) {
        json_decref(pairs);
        next_job(v);
        return;
    }
    if (states(v, job_str(v, "adamId"), "", pop, pairs, on_job_states) != 0) {
        wk_vpp_next_location(v);
    }
    json_decref(pairs);
}


static void
on_event_added(wk_redis_t *link, redisReply *r, void *data)
{
    wk_vpp_t *v = data;
    (void) link;

    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        wk_error("vpp %s: event not recorded: %s", v->cur.name,
                 r && r->type == REDIS_REPLY_ERROR ? r->str : "Redis lost");
        wk_vpp_next_location(v);
        return;
    }
    if (!v->cur.last) {
        job_batch(v);
        return;
    }
    job_finish(v, 0);
}


static void
on_job_reply(wk_vpp_t *v, wk_vpp_outcome_e o, mdm_vpp_reply_t *r)
{
    wk_vpp_loc_t  *l = &v->cur;
    char           key[MDM_KEY_MAX], now[24], poll[24];
    char          *targets;
    const char    *argv[12];
    size_t         argvlen[12], i;
    json_t        *pairs;

    if (o == WK_VPP_TOKEN) {
        wk_vpp_stop_location(v, r);
        return;
    }
    if (o == WK_VPP_RETRY) {
        wk_vpp_back_off(v, v->retry_after);   /* the job stays queued */
        return;
    }
    if (o != WK_VPP_OK || r->event_id == NULL) {
        /* refused at once (9718 no such asset, 9707, ...): every target of
         * the batch carries Apple's reason */
        pairs = json_array();
        for (i = 0; i < json_array_size(l->batch); i++) {
            json_t *t = json_array_get(l->batch, i);
            add_state(pairs, json_string_value(json_array_get(t, 0)),
                      "failed %s %lld %s",
                      json_string_value(json_array_get(t, 1)),
                      r->root ? (long long) r->error_number : 0LL,
                      r->root && r->error_message[0] ? r->error_message
                                                     : "no event in the answer");
        }
        wk_error("vpp %s: %s of %s refused: %lld %s", l->name, job_str(v, "op"),
                 job_str(v, "adamId"), r->root ? (long long) r->error_number : 0LL,
                 r->root ? r->error_message : "unreadable");
        wk_metric_add(WK_M_VPP_LICENSES_FAILED, json_array_size(l->batch));
        if (states(v, job_str(v, "adamId"), "", l->last, pairs, on_job_states) != 0) {
            wk_vpp_next_location(v);
        }
        json_decref(pairs);
        return;
    }

    targets = json_dumps(l->batch, JSON_COMPACT);
    if (targets == NULL) {
        wk_vpp_next_location(v);
        return;
    }
    mdm_key(key, MDM_K_VPP_TOKEN, l->name, NULL);
    snprintf(now, sizeof(now), "%lld", (long long) ev_now(v->loop));
    /* the notification will bring it forward; the poll is the fallback */
    snprintf(poll, sizeof(poll), "%lld",
             (long long) ev_now(v->loop) + v->cf->vpp_poll_interval);
    argv[3] = key;
    argv[4] = l->name;
    argv[5] = r->event_id;
    argv[6] = job_str(v, "op");
    argv[7] = job_str(v, "adamId");
    argv[8] = job_str(v, "pricing");
    argv[9] = targets;
    argv[10] = now;
    argv[11] = poll;
    for (i = 3; i < 12; i++) {
        argvlen[i] = strlen(argv[i]);
    }
    {
        const char *all[13];
        size_t      alllen[13];

        memcpy(all, argv, sizeof(argv));
        memcpy(alllen, argvlen, sizeof(argvlen));
        all[12] = l->last ? "1" : "0";
        alllen[12] = 1;
        wk_info("vpp %s: %s of %s for %zu devices: event %s", l->name,
                job_str(v, "op"), job_str(v, "adamId"), json_array_size(l->batch),
                r->event_id);
        if (wk_vpp_eval(v, "vpp_event_add", 1, all, alllen, 13, on_event_added) != 0) {
            wk_vpp_next_location(v);
        }
    }
    free(targets);
}


static void
job_batch(wk_vpp_t *v)
{
    wk_vpp_loc_t  *l = &v->cur;
    json_t        *ids = json_object_get(l->job, "ids");
    json_t        *serials = json_array(), *body;
    size_t         max = (size_t) v->limits.max_serials, i;
    char          *text;
    int            unassign = strcmp(job_str(v, "op"), "unassign") == 0;

    if (max > WK_VPP_BATCH_MAX) {
        max = WK_VPP_BATCH_MAX;
    }
    json_decref(l->batch);
    l->batch = json_array();
    while (l->next < l->nids && json_array_size(l->batch) < max) {
        i = l->next++;
        if (l->serials[i] == NULL) {
            continue;
        }
        json_array_append_new(l->batch, json_pack("[s,s]",
            json_string_value(json_array_get(ids, i)), l->serials[i]));
        json_array_append_new(serials, json_string(l->serials[i]));
    }
    /* the last batch: nothing with a serial is left after it */
    l->last = 1;
    for (i = l->next; i < l->nids; i++) {
        if (l->serials[i]) {
            l->last = 0;
            break;
        }
    }
    if (json_array_size(l->batch) == 0) {
        json_decref(serials);
        job_finish(v, 1);
        return;
    }
    body = json_pack("{s:[{s:s,s:s}],s:o}", "assets",
                     "adamId", job_str(v, "adamId"),
                     "pricingParam", job_str(v, "pricing"),
                     "serialNumbers", serials);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) {
        wk_vpp_next_location(v);
        return;
    }
    wk_vpp_call(v, unassign ? "assets/disassociate" : "assets/associate",
                text, 1, on_job_reply);
    free(text);
}


static void
on_serial(wk_redis_t *link, redisReply *r, void *data)
{
    wk_vpp_slot_t *s = data;
    wk_vpp_t      *v = s->v;
    wk_vpp_loc_t  *l = &v->cur;
    (void) link;

    if (r == NULL) {
        l->lost = 1;
    } else if (r->type == REDIS_REPLY_STRING && mdm_vpp_id_ok(r->str)) {
        l->serials[s->i] = strdup(r->str);
    }
    if (--l->waiting > 0) {
        return;
    }
    if (l->lost) {
        wk_vpp_next_location(v);
        return;
    }
    job_batch(v);
}


/* Drops a job nobody can carry out (logged once). */
static void
on_dropped(wk_redis_t *link, redisReply *r, void *data)
{
    (void) link;
    (void) r;
    next_job(data);
}


static void
on_job(wk_redis_t *link, redisReply *r, void *data)
{
    wk_vpp_t      *v = data;
    wk_vpp_loc_t  *l = &v->cur;
    json_t        *ids;
    json_error_t   jerr;
    size_t         i;
    char           key[MDM_KEY_MAX];
    const char    *op, *adam, *pricing;
    (void) link;

    if (r == NULL) {
        wk_vpp_next_location(v);
        return;
    }
    if (r->type != REDIS_REPLY_STRING) {
        events(v);
        return;
    }
    l->jobs_done++;
    l->job = json_loads(r->str, 0, &jerr);
    ids = json_object_get(l->job, "ids");
    op = job_str(v, "op");
    adam = job_str(v, "adamId");
    pricing = job_str(v, "pricing");
    if (!json_is_array(ids) || op == NULL || adam == NULL || pricing == NULL
        || !mdm_vpp_adam_id_ok(adam)
        || (strcmp(op, "assign") != 0 && strcmp(op, "unassign") != 0))
    {
        wk_error("vpp %s: a job that is not one dropped: %.200s", l->name, r->str);
        mdm_key(key, MDM_K_VPP_JOBS, l->name, NULL);
        if (wk_redis_cmd(v->redis, on_dropped, v, "LPOP %s", key) != 0) {
            wk_vpp_next_location(v);
        }
        return;
    }
    l->nids = json_array_size(ids);
    l->serials = calloc(l->nids + 1, sizeof(char *));
    l->slots = calloc(l->nids + 1, sizeof(wk_vpp_slot_t));
    if (l->serials == NULL || l->slots == NULL) {
        wk_vpp_next_location(v);
        return;
    }
    if (l->nids == 0) {
        job_finish(v, 1);
        return;
    }
    /* the serial of each enrollment: one lookup in each device's slot */
    l->waiting = l->nids;
    for (i = 0; i < l->nids; i++) {
        const char *id = json_string_value(json_array_get(ids, i));

        l->slots[i].v = v;
        l->slots[i].i = i;
        if (id == NULL || !mdm_vpp_id_ok(id)
            || mdm_key(key, MDM_K_ENR, id, NULL) == 0
            || wk_redis_cmd(v->redis, on_serial, &l->slots[i], "HGET %s serial",
                            key) != 0)
        {
            l->lost = 1;
            if (--l->waiting == 0) {
                wk_vpp_next_location(v);
            }
        }
    }
}


void
wk_vpp_jobs(wk_vpp_t *v)
{
    char key[MDM_KEY_MAX];

    if (v->stopped || v->cur.jobs_done >= WK_VPP_JOBS_PER_ROUND) {
        events(v);
        return;
    }
    mdm_key(key, MDM_K_VPP_JOBS, v->cur.name, NULL);
    if (wk_redis_cmd(v->redis, on_job, v, "LINDEX %s 0", key) != 0) {
        wk_vpp_next_location(v);
    }
}


/* --- events ---------------------------------------------------------- */

static void
on_event_states(wk_redis_t *link, redisReply *r, void *data)
{
    wk_vpp_t *v = data;
    (void) link;

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        wk_error("vpp %s: event states not stored: %s", v->cur.name,
                 r ? r->str : "Redis lost");
        wk_vpp_next_location(v);
        return;
    }
    event_next(v);
}


/* The InstallApplication command of an App Store app bought in volume
 * (services.md §7.6): the licence is the device's (PurchaseMethod 1). */
static char *
install_plist(const char *adam, const char *uuid, uint32_t *len)
{
    char     *xml = NULL;
    plist_t   top = plist_new_dict(), cmd = plist_new_dict(),
              opt = plist_new_dict();

    plist_dict_set_item(cmd, "RequestType", plist_new_string("InstallApplication"));
    plist_dict_set_item(cmd, "iTunesStoreID",
                        plist_new_uint(strtoull(adam, NULL, 10)));
    plist_dict_set_item(opt, "PurchaseMethod", plist_new_uint(1));
    plist_dict_set_item(cmd, "Options", opt);
    plist_dict_set_item(cmd, "ManagementFlags", plist_new_uint(1));
    plist_dict_set_item(cmd, "InstallAsManaged", plist_new_bool(1));
    plist_dict_set_item(top, "Command", cmd);
    plist_dict_set_item(top, "CommandUUID", plist_new_string(uuid));
    plist_to_xml(top, &xml, len);
    plist_free(top);
    return xml;
}


typedef struct {
    wk_vpp_t  *v;
    json_t    *pairs;        /* the states so far */
    json_t    *licensed;     /* [[id, serial], ...] */
    char       uuid[MDM_UUID_LEN];
} wk_vpp_install_t;


static void
on_enqueued(wk_redis_t *link, redisReply *r, void *data)
{
    wk_vpp_install_t *in = data;
    wk_vpp_t         *v = in->v;
    json_t           *refused = json_object();
    size_t            i, queued = 0;
    (void) link;

    if (r == NULL) {
        json_decref(refused);
        json_decref(in->pairs);
        json_decref(in->licensed);
        free(in);
        wk_vpp_next_location(v);
        return;
    }
    /* {'ok', queued, id, why, ...}: an entry for each ID not queued */
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2
        && r->element[0]->type == REDIS_REPLY_STRING
        && strcmp(r->element[0]->str, "ok") == 0)
    {
        for (i = 2; i + 1 < r->elements; i += 2) {
            if (r->element[i]->type == REDIS_REPLY_STRING
                && r->element[i + 1]->type == REDIS_REPLY_STRING)
            {
                json_object_set_new(refused, r->element[i]->str,
                                    json_string(r->element[i + 1]->str));
            }
        }
    } else {
        wk_error("vpp %s: InstallApplication not queued: %s", v->cur.name,
                 r->type == REDIS_REPLY_ERROR ? r->str
                 : r->type == REDIS_REPLY_ARRAY && r->elements >= 2
                   && r->element[1]->type == REDIS_REPLY_STRING
                 ? r->element[1]->str : "bad reply");
        json_decref(refused);
        refused = NULL;
    }
    for (i = 0; i < json_array_size(in->licensed); i++) {
        json_t     *t = json_array_get(in->licensed, i);
        const char *id = json_string_value(json_array_get(t, 0));
        const char *serial = json_string_value(json_array_get(t, 1));
        const char *why = refused ? json_string_value(json_object_get(refused, id))
                                  : "the command was not queued";

        if (why) {
            add_state(in->pairs, id, "licensed %s %s", serial, why);
        } else {
            add_state(in->pairs, id, "queued %s %s", serial, in->uuid);
            queued++;
        }
    }
    wk_metric_add(WK_M_VPP_INSTALLS_QUEUED, queued);
    wk_info("vpp %s: InstallApplication %s (adamId %s) queued for %zu "
            "enrollments", v->cur.name, in->uuid, v->cur.ev_adam, queued);
    if (states(v, v->cur.ev_adam, v->cur.ev_id, 0, in->pairs, on_event_states) != 0) {
        wk_vpp_next_location(v);
    }
    json_decref(refused);
    json_decref(in->pairs);
    json_decref(in->licensed);
    free(in);
}


static void
install(wk_vpp_t *v, json_t *pairs, json_t *licensed)
{
    wk_vpp_install_t *in = calloc(1, sizeof(*in));
    size_t            n = json_array_size(licensed), i;
    char            **ids = calloc(n + 1, sizeof(char *));
    char             *body = NULL;
    uint32_t          body_len = 0;
    const char      **argv = NULL;
    size_t           *argvlen = NULL;
    char              buf[MDM_STORE_BUF(MDM_STORE_ENQUEUE_KEYS)];
    char              nk[8];         /* read by wk_redis_cmdargv below */
    mdm_argv_t        a;

    if (in == NULL || ids == NULL || mdm_uuid_generate(in->uuid) != 0
        || (body = install_plist(v->cur.ev_adam, in->uuid, &body_len)) == NULL
        || (argv = calloc(MDM_STORE_ENQUEUE_ARGC(n), sizeof(*argv))) == NULL
        || (argvlen = calloc(MDM_STORE_ENQUEUE_ARGC(n), sizeof(*argvlen))) == NULL)
    {
        goto failed;
    }
    for (i = 0; i < n; i++) {
        ids[i] = (char *) json_string_value(json_array_get(json_array_get(licensed, i), 0));
    }
    mdm_store_enqueue_t e = {
        .uuid = in->uuid, .body = body, .body_len = body_len,
        .request_type = "InstallApplication",
        .now = (int64_t) ev_now(v->loop), .expires = 0,
        .first = 1, .last = 1, .ids = ids, .nids = (int) n,
    };
    mdm_argv_init(&a, argv, argvlen, MDM_STORE_ENQUEUE_ARGC(n), buf, sizeof(buf));
    if (mdm_store_enqueue_argv(&e, &a) != 0) {
        goto failed;
    }
    /* EVAL, not EVALSHA: the worker may be the first to run enqueue.lua */
    {
        const mdm_script_t *s = mdm_script_find("enqueue");

        if (s == NULL) {
            goto failed;
        }
        snprintf(nk, sizeof(nk), "%d", MDM_STORE_ENQUEUE_KEYS);
        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = s->src;
        argvlen[1] = s->len;
        argv[2] = nk;
        argvlen[2] = strlen(nk);
    }
    in->v = v;
    in->pairs = pairs;
    in->licensed = licensed;
    if (wk_redis_cmdargv(v->redis, on_enqueued, in, a.argc, argv, argvlen) != 0) {
        in->pairs = in->licensed = NULL;
        goto failed;
    }
    free(body);
    free(ids);
    free(argv);
    free(argvlen);
    return;

failed:
    wk_error("vpp %s: InstallApplication not built", v->cur.name);
    free(body);
    free(ids);
    free(argv);
    free(argvlen);
    free(in);
    json_decref(pairs);
    json_decref(licensed);
    wk_vpp_next_location(v);
}


/* failures[] as serial -> "errorNumber message" */
static json_t *
failed_serials(mdm_vpp_status_t *st)
{
    json_t             *out = json_object();
    mdm_vpp_failure_t   f;
    mdm_err_t           err;
    size_t              i, j;
    char                why[300];

    for (i = 0; i < json_array_size(st->failures); i++) {
        if (mdm_vpp_failure_of(json_array_get(st->failures, i), &f, &err) != MDM_OK) {
            continue;
        }
        snprintf(why, sizeof(why), "%lld %s", (long long) f.number, f.message);
        for (j = 0; j < json_array_size(f.serials); j++) {
            const char *s = mdm_vpp_id_at(f.serials, j);
            if (s) {
                json_object_set_new(out, s, json_string(why));
            }
        }
    }
    return out;
}


static void
event_done(wk_vpp_t *v, mdm_vpp_status_t *st, const char *why_all)
{
    wk_vpp_loc_t *l = &v->cur;
    json_t       *failed = st ? failed_serials(st) : json_object();
    json_t       *pairs = json_array(), *licensed = json_array();
    int           assign = strcmp(l->ev_op, "assign") == 0;
    size_t        i, nfailed = 0;

    for (i = 0; i < json_array_size(l->ev); i++) {
        json_t     *t = json_array_get(l->ev, i);
        const char *id = json_string_value(json_array_get(t, 0));
        const char *serial = json_string_value(json_array_get(t, 1));
        const char *why = why_all ? why_all
                          : json_string_value(json_object_get(failed, serial));

        if (id == NULL || serial == NULL) {
            continue;
        }
        if (why) {
            add_state(pairs, id, "failed %s %s", serial, why);
            nfailed++;
        } else if (assign) {
            json_array_append_new(licensed, json_pack("[s,s]", id, serial));
        } else {
            json_array_append_new(pairs, json_string(id));
            json_array_append_new(pairs, json_string(""));
        }
    }
    json_decref(failed);
    wk_metric_add(WK_M_VPP_EVENTS_DONE, 1);
    wk_metric_add(WK_M_VPP_LICENSES_FAILED, nfailed);
    wk_info("vpp %s: event %s (%s of %s) done: %zu failed", l->name, l->ev_id,
            l->ev_op, l->ev_adam, nfailed);
    if (json_array_size(licensed) > 0) {
        install(v, pairs, licensed);
        return;
    }
    json_decref(licensed);
    if (states(v, l->ev_adam, l->ev_id, 0, pairs, on_event_states) != 0) {
        wk_vpp_next_location(v);
    }
    json_decref(pairs);
}


static void
on_rescheduled(wk_redis_t *link, redisReply *r, void *data)
{
    (void) link;
    (void) r;
    event_next(data);
}


static void
on_status(wk_vpp_t *v, wk_vpp_outcome_e o, mdm_vpp_reply_t *r)
{
    mdm_vpp_status_t  st;
    mdm_err_t         err;
    char              key[MDM_KEY_MAX], at[24];

    if (o == WK_VPP_TOKEN) {
        wk_vpp_stop_location(v, r);
        return;
    }
    if (o == WK_VPP_RETRY) {
        wk_vpp_back_off(v, v->retry_after);
        return;
    }
    if (o == WK_VPP_APPLE_ERROR && r->error_number == 9708) {
        event_done(v, NULL, "9708 Apple does not know the event");
        return;
    }
    if (o == WK_VPP_OK && mdm_vpp_status_of(r, &st, &err) == MDM_OK
        && st.status != MDM_VPP_EVENT_PENDING)
    {
        event_done(v, &st, NULL);
        return;
    }
    if (o != WK_VPP_OK) {
        wk_error("vpp %s: /status of %s: %s", v->cur.name, v->cur.ev_id,
                 r->root ? r->error_message : "unreadable");
    }
    /* PENDING (or unreadable): ask again after the poll interval */
    mdm_key(key, MDM_K_VPP_EVENTS, v->cur.name, NULL);
    snprintf(at, sizeof(at), "%lld",
             (long long) ev_now(v->loop) + v->cf->vpp_poll_interval);
    if (wk_redis_cmd(v->redis, on_rescheduled, v, "ZADD %s XX %s %s", key, at,
                     v->cur.ev_id) != 0)
    {
        wk_vpp_next_location(v);
    }
}


static void
on_event_loaded(wk_redis_t *link, redisReply *r, void *data)
{
    wk_vpp_t         *v = data;
    wk_vpp_loc_t     *l = &v->cur;
    const redisReply *op, *adam, *pricing, *targets;
    char              key[MDM_KEY_MAX], path[MDM_VPP_MAX_ID + 32];
    (void) link;

    if (r == NULL) {
        wk_vpp_next_location(v);
        return;
    }
    op = wk_reply_field(r, "op");
    adam = wk_reply_field(r, "adamId");
    pricing = wk_reply_field(r, "pricing");
    targets = wk_reply_field(r, "targets");
    json_decref(l->ev);
    l->ev = targets ? json_loads(targets->str, 0, NULL) : NULL;
    if (op == NULL || adam == NULL || pricing == NULL || !json_is_array(l->ev)) {
        /* an index entry whose event is gone: drop it */
        mdm_key(key, MDM_K_VPP_EVENTS, l->name, NULL);
        if (wk_redis_cmd(v->redis, on_rescheduled, v, "ZREM %s %s", key,
                         l->ev_id) != 0)
        {
            wk_vpp_next_location(v);
        }
        return;
    }
    snprintf(l->ev_op, sizeof(l->ev_op), "%s", op->str);
    snprintf(l->ev_adam, sizeof(l->ev_adam), "%s", adam->str);
    snprintf(l->ev_pricing, sizeof(l->ev_pricing), "%s", pricing->str);
    snprintf(path, sizeof(path), "status?eventId=%s", l->ev_id);
    wk_vpp_call(v, path, NULL, 1, on_status);
}


static void
event_next(wk_vpp_t *v)
{
    wk_vpp_loc_t *l = &v->cur;
    char          key[MDM_KEY_MAX];

    if (v->stopped || l->ei >= l->nevents) {
        wk_vpp_next_location(v);
        return;
    }
    snprintf(l->ev_id, sizeof(l->ev_id), "%s", l->events[l->ei++]);
    mdm_key(key, MDM_K_VPP_EVENT, l->name, l->ev_id);
    if (wk_redis_cmd(v->redis, on_event_loaded, v, "HGETALL %s", key) != 0) {
        wk_vpp_next_location(v);
    }
}


static void
on_due(wk_redis_t *link, redisReply *r, void *data)
{
    wk_vpp_t     *v = data;
    wk_vpp_loc_t *l = &v->cur;
    size_t        i;
    (void) link;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        wk_vpp_next_location(v);
        return;
    }
    l->events = calloc(r->elements + 1, sizeof(char *));
    for (i = 0; l->events && i < r->elements; i++) {
        if (r->element[i]->type == REDIS_REPLY_STRING
            && mdm_vpp_id_ok(r->element[i]->str))
        {
            l->events[l->nevents++] = strdup(r->element[i]->str);
        }
    }
    l->ei = 0;
    event_next(v);
}


static void
events(wk_vpp_t *v)
{
    char key[MDM_KEY_MAX], now[24];

    mdm_key(key, MDM_K_VPP_EVENTS, v->cur.name, NULL);
    snprintf(now, sizeof(now), "%lld", (long long) ev_now(v->loop));
    if (wk_redis_cmd(v->redis, on_due, v, "ZRANGEBYSCORE %s -inf %s LIMIT 0 %d",
                     key, now, WK_VPP_EVENTS_PER_ROUND) != 0)
    {
        wk_vpp_next_location(v);
    }
}
