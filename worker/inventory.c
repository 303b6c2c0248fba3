/*
 * Command results into state (docs/profiles.md): the consumer group
 * "inventory" reads mdm:events and, for each Acknowledged or Error report,
 * looks up the command's RequestType (mdm:cmd:{<uuid>}, its slot), then
 *
 * - InstallProfile, RemoveProfile: the enrollment's profile state moves to
 *   its outcome (prof_device.lua result, the enrollment's slot);
 * - DeviceInformation, SecurityInfo, InstalledApplicationList, ProfileList
 *   (Acknowledged): the report is parsed (libmdm/inventory; the event's raw
 *   body, or the stored result when the event left it out for its size)
 *   and stored in the enrollment's inventory (inventory.lua). A ProfileList
 *   that lacks an installed profile of the desired state (removed by hand)
 *   gets it queued again: its body from the profile's slot (prof.lua), its
 *   state pending (prof_device.lua), an InstallProfile (enqueue.lua).
 *
 * Each report is one job, a chain of one-slot calls; an entry is acked once
 * its chain ends, whatever the outcome (a report that cannot be used is
 * logged, not retried), and left pending for another worker if Redis goes
 * away meanwhile.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "log.h"
#include "mdm_event.h"
#include "mdm_keys.h"
#include "mdm_script.h"
#include "mdm_store.h"
#include "mdm_uuid.h"
#include "albc/mdm_albc.h"
#include "inventory/mdm_inventory.h"
#include "profile/mdm_profile.h"
#include "stream.h"

#define INV_MAX_HELD  64

typedef struct wk_inv_job_s wk_inv_job_t;

typedef struct {
    const mdm_script_t  *script;
    char                 sha[MDM_SHA1_HEX_LEN + 1];
} wk_inv_script_t;

struct wk_inventory_s {
    struct ev_loop      *loop;
    const wk_config_t   *cf;
    wk_redis_t           reader;
    int                  reader_open;
    int                  started;       /* the key layout is known */
    wk_redis_t          *cmd;
    wk_stream_group_t   *sg;
    size_t               held;
    int                  draining;
    wk_inv_script_t      prof, prof_device, inventory, enqueue;
    unsigned long        stored, results, skipped, failed, requeued;
};

struct wk_inv_job_s {
    wk_stream_entry_t    se;
    wk_inventory_t      *inv;
    mdm_event_t          ev;
    mdm_buf_t            store;
    char                 type[64];
    char               **missing;
    size_t               nmissing;
    size_t               next;
    char                 sha[65];
    char                 uuid[MDM_UUID_LEN];
    mdm_buf_t            cmdbody;
};


static void job_end(wk_inv_job_t *j, int ack);
static void on_type(wk_redis_t *link, redisReply *r, void *data);
static void on_result(wk_redis_t *link, redisReply *r, void *data);
static void on_raw(wk_redis_t *link, redisReply *r, void *data);
static void job_inventory(wk_inv_job_t *j, const char *raw, size_t len);
static void on_stored(wk_redis_t *link, redisReply *r, void *data);
static void on_profiles(wk_redis_t *link, redisReply *r, void *data);
static void reinstall_next(wk_inv_job_t *j);
static void on_body(wk_redis_t *link, redisReply *r, void *data);
static void on_pending(wk_redis_t *link, redisReply *r, void *data);
static void on_enqueued(wk_redis_t *link, redisReply *r, void *data);
static void job_bypass_code(wk_inv_job_t *j, const char *raw, size_t len);
static void on_bypass_stored(wk_redis_t *link, redisReply *r, void *data);


/* EVALSHA sha 2 k1 k2 args... */
static int
call2(wk_inv_job_t *j, const wk_inv_script_t *s, const char *k1,
      const char *k2, const char **args, int nargs, const size_t *lens,
      wk_redis_cb cb)
{
    const char *argv[16];
    size_t argvlen[16];
    int argc = 0;

    if (nargs > 11) {
        return -1;
    }
    argv[argc] = "EVALSHA"; argvlen[argc++] = 7;
    argv[argc] = s->sha; argvlen[argc++] = MDM_SHA1_HEX_LEN;
    argv[argc] = "2"; argvlen[argc++] = 1;
    argv[argc] = k1; argvlen[argc++] = strlen(k1);
    argv[argc] = k2; argvlen[argc++] = strlen(k2);
    for (int i = 0; i < nargs; i++) {
        argv[argc] = args[i];
        argvlen[argc++] = lens ? lens[i] : strlen(args[i]);
    }
    return wk_redis_cmdargv(j->inv->cmd, cb, j, argc, argv, argvlen);
}


static void
job_free(wk_inv_job_t *j)
{
    for (size_t i = 0; i < j->nmissing; i++) {
        free(j->missing[i]);
    }
    free(j->missing);
    mdm_buf_free(&j->store);
    mdm_buf_free(&j->cmdbody);
    free(j);
}


/* ack: the report is done with; else it stays pending (Redis went away). */
static void
job_end(wk_inv_job_t *j, int ack)
{
    wk_inventory_t *inv = j->inv;

    if (ack) {
        wk_stream_ack(inv->sg, &j->se);
    } else {
        wk_stream_release(inv->sg, &j->se);
    }
    inv->held--;
    job_free(j);
}


static int
is_final(const char *status)
{
    return status && (strcmp(status, "Acknowledged") == 0
                      || strcmp(status, "Error") == 0
                      || strcmp(status, "CommandFormatError") == 0);
}


static size_t
on_entry(void *data, unsigned key, const char *id, const redisReply *fields,
         int claimed)
{
    wk_inventory_t *inv = data;
    const redisReply *m = wk_reply_field(fields, "m");
    char k[MDM_KEY_MAX];
    (void) claimed;

    wk_inv_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        wk_error("inventory: out of memory, event %s left pending", id);
        return 0;
    }
    j->inv = inv;
    if (m == NULL || mdm_event_decode(m->str, m->len, &j->ev, &j->store) != 0
        || j->ev.topic == NULL || strcmp(j->ev.topic, "mdm.Connect") != 0
        || !is_final(j->ev.status) || j->ev.command_uuid == NULL
        || j->ev.id == NULL)
    {
        /* not a final report: nothing for the inventory */
        wk_stream_ack_id(inv->sg, key, id);
        job_free(j);
        return 0;
    }
    if (wk_stream_hold(inv->sg, &j->se, key, id) != 0) {
        job_free(j);
        return 0;
    }
    inv->held++;
    mdm_key_command(k, j->ev.command_uuid);
    if (wk_redis_cmd(inv->cmd, on_type, j, "HGET %s type", k) != 0) {
        job_end(j, 0);
    }
    return 1;
}


static void
on_type(wk_redis_t *link, redisReply *r, void *data)
{
    wk_inv_job_t *j = data;
    wk_inventory_t *inv = j->inv;
    char k1[MDM_KEY_MAX], k2[MDM_KEY_MAX], now[24];
    (void) link;

    if (r == NULL) {
        job_end(j, 0);
        return;
    }
    if (r->type != REDIS_REPLY_STRING || r->len >= sizeof(j->type)) {
        inv->skipped++;                 /* expired, or not ours */
        job_end(j, 1);
        return;
    }
    memcpy(j->type, r->str, r->len);
    j->type[r->len] = '\0';
    snprintf(now, sizeof(now), "%lld", (long long) ev_now(inv->loop));

    if (strcmp(j->type, "InstallProfile") == 0
        || strcmp(j->type, "RemoveProfile") == 0)
    {
        const char *args[] = { "result", j->ev.command_uuid, j->ev.status,
                               now };
        mdm_key(k1, MDM_K_PROF_DEV, j->ev.id, NULL);
        mdm_key(k2, MDM_K_ENR, j->ev.id, NULL);
        if (call2(j, &inv->prof_device, k1, k2, args, 4, NULL, on_result)
            != 0)
        {
            job_end(j, 0);
        }
        return;
    }

    int albc = strcmp(j->type, "ActivationLockBypassCode") == 0;

    if ((!albc && mdm_inventory_kind(j->type) == MDM_INV_NONE)
        || strcmp(j->ev.status, "Acknowledged") != 0)
    {
        inv->skipped++;
        job_end(j, 1);
        return;
    }

    if (j->ev.raw != NULL && j->ev.raw_len > 0) {
        if (albc) {
            job_bypass_code(j, (const char *) j->ev.raw, j->ev.raw_len);
        } else {
            job_inventory(j, (const char *) j->ev.raw, j->ev.raw_len);
        }
        return;
    }

    /* too large for the event: the stored result has it */
    mdm_key_result(k1, j->ev.id, j->ev.command_uuid);
    if (wk_redis_cmd(inv->cmd, on_raw, j, "HGET %s result", k1) != 0) {
        job_end(j, 0);
    }
}


static void
on_result(wk_redis_t *link, redisReply *r, void *data)
{
    wk_inv_job_t *j = data;
    (void) link;

    if (r == NULL) {
        job_end(j, 0);
        return;
    }
    if (r->type == REDIS_REPLY_STRING) {
        j->inv->results++;
        wk_debug("inventory: %s %s on %s: %s", j->type, j->ev.command_uuid,
                 j->ev.id, j->ev.status);
    } else if (r->type == REDIS_REPLY_ERROR) {
        wk_redis_error("inventory: prof_device: %s", r->str);
    }
    job_end(j, 1);
}


static void
on_raw(wk_redis_t *link, redisReply *r, void *data)
{
    wk_inv_job_t *j = data;
    (void) link;

    if (r == NULL) {
        job_end(j, 0);
        return;
    }
    if (r->type != REDIS_REPLY_STRING) {
        j->inv->skipped++;             /* the result expired meanwhile */
        job_end(j, 1);
        return;
    }
    if (strcmp(j->type, "ActivationLockBypassCode") == 0) {
        job_bypass_code(j, r->str, r->len);
        return;
    }
    job_inventory(j, r->str, r->len);
}


/* A fact's value as the inventory script stores it */
static char *
json_value(json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}


static void
job_inventory(wk_inv_job_t *j, const char *raw, size_t len)
{
    wk_inventory_t *inv = j->inv;
    mdm_inventory_t it;
    mdm_err_t err;
    char keys[4][MDM_KEY_MAX], now[24], count[24];
    const char *argv[8];
    size_t argvlen[8];
    int rc;

    if (mdm_inventory_parse(mdm_inventory_kind(j->type), raw, len, &it, &err)
        != MDM_OK)
    {
        inv->failed++;
        wk_warn("inventory: %s %s of %s not stored: %s", j->type,
                j->ev.command_uuid, j->ev.id, err.msg);
        job_end(j, 1);
        return;
    }

    mdm_key(keys[0], MDM_K_INV, j->ev.id, NULL);
    mdm_key(keys[1], MDM_K_INV_APPS, j->ev.id, NULL);
    mdm_key(keys[2], MDM_K_INV_PROFILES, j->ev.id, NULL);
    mdm_key(keys[3], MDM_K_PROF_DEV, j->ev.id, NULL);
    snprintf(now, sizeof(now), "%lld", (long long) ev_now(inv->loop));

    size_t n = it.facts ? json_object_size(it.facts)
             : it.kind == MDM_INV_PROFILES ? json_array_size(it.list) : 0;
    size_t nalloc = 3 + 4 + 3 + 2 * n + 3;
    const char **av = calloc(nalloc, sizeof(char *));
    size_t *al = calloc(nalloc, sizeof(size_t));
    char **owned = calloc(n + 1, sizeof(char *));
    int ac = 0;

    if (av == NULL || al == NULL || owned == NULL) {
        free(av); free(al); free(owned);
        mdm_inventory_free(&it);
        job_end(j, 0);
        return;
    }

#define ARG(s, l)  do { av[ac] = (s); al[ac] = (l); ac++; } while (0)
    ARG("EVALSHA", 7);
    ARG(inv->inventory.sha, MDM_SHA1_HEX_LEN);
    ARG("4", 1);
    for (int i = 0; i < 4; i++) {
        ARG(keys[i], strlen(keys[i]));
    }

    wk_redis_cb cb = on_stored;
    size_t no = 0;

    if (it.facts) {
        const char *k;
        json_t *v;
        ARG("facts", 5);
        ARG(now, strlen(now));
        ARG(j->type, strlen(j->type));
        json_object_foreach(it.facts, k, v) {
            char *s = json_value(v);
            if (s == NULL) {
                continue;
            }
            owned[no++] = s;
            ARG(k, strlen(k));
            ARG(s, strlen(s));
        }
    } else if (it.kind == MDM_INV_APPLICATIONS) {
        snprintf(count, sizeof(count), "%zu", json_array_size(it.list));
        ARG("apps", 4);
        ARG(now, strlen(now));
        ARG(it.digest, 64);
        ARG(count, strlen(count));
        ARG(it.list_json, strlen(it.list_json));
    } else {
        size_t i;
        json_t *item;
        snprintf(count, sizeof(count), "%zu", json_array_size(it.list));
        ARG("profiles", 8);
        ARG(now, strlen(now));
        ARG(count, strlen(count));
        json_array_foreach(it.list, i, item) {
            const char *pid = json_string_value(json_object_get(item,
                                                "PayloadIdentifier"));
            const char *pu = json_string_value(json_object_get(item,
                                               "PayloadUUID"));
            ARG(pid, strlen(pid));
            ARG(pu ? pu : "", pu ? strlen(pu) : 0);
        }
        cb = on_profiles;
    }
#undef ARG

    rc = wk_redis_cmdargv(inv->cmd, cb, j, ac, av, al);
    (void) argv;
    (void) argvlen;

    for (size_t i = 0; i < no; i++) {
        free(owned[i]);
    }
    free(owned);
    free(av);
    free(al);
    mdm_inventory_free(&it);

    if (rc != 0) {
        job_end(j, 0);
    }
}


static void
on_stored(wk_redis_t *link, redisReply *r, void *data)
{
    wk_inv_job_t *j = data;
    (void) link;

    if (r == NULL) {
        job_end(j, 0);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        wk_redis_error("inventory: %s: %s", j->type, r->str);
    } else {
        j->inv->stored++;
        wk_debug("inventory: %s of %s stored", j->type, j->ev.id);
    }
    job_end(j, 1);
}


static void
on_profiles(wk_redis_t *link, redisReply *r, void *data)
{
    wk_inv_job_t *j = data;
    (void) link;

    if (r == NULL) {
        job_end(j, 0);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        if (r->type == REDIS_REPLY_ERROR) {
            wk_redis_error("inventory: ProfileList: %s", r->str);
        }
        job_end(j, 1);
        return;
    }
    j->inv->stored++;
    j->missing = calloc(r->elements + 1, sizeof(char *));
    if (j->missing == NULL) {
        job_end(j, 1);
        return;
    }
    for (size_t i = 0; i < r->elements; i++) {
        if (r->element[i]->type == REDIS_REPLY_STRING) {
            j->missing[j->nmissing] = strdup(r->element[i]->str);
            if (j->missing[j->nmissing] != NULL) {
                j->nmissing++;
            }
        }
    }
    j->next = 0;
    reinstall_next(j);
}


/* A profile of the desired state the device no longer lists: again. */
static void
reinstall_next(wk_inv_job_t *j)
{
    char k1[MDM_KEY_MAX], k2[MDM_KEY_MAX];

    if (j->next == j->nmissing) {
        job_end(j, 1);
        return;
    }
    const char *ident = j->missing[j->next];
    const char *args[] = { "body", ident };
    mdm_key(k1, MDM_K_PROF, ident, NULL);
    mdm_key(k2, MDM_K_PROF_ENRS, ident, NULL);
    if (call2(j, &j->inv->prof, k1, k2, args, 2, NULL, on_body) != 0) {
        job_end(j, 0);
    }
}


static void
on_body(wk_redis_t *link, redisReply *r, void *data)
{
    wk_inv_job_t *j = data;
    char k1[MDM_KEY_MAX], k2[MDM_KEY_MAX], now[24];
    (void) link;

    if (r == NULL) {
        job_end(j, 0);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[0]->len != 64
        || r->element[1]->type != REDIS_REPLY_STRING)
    {
        j->next++;                      /* deleted meanwhile */
        reinstall_next(j);
        return;
    }
    memcpy(j->sha, r->element[0]->str, 64);
    j->sha[64] = '\0';
    mdm_buf_free(&j->cmdbody);
    if (mdm_uuid_generate(j->uuid) != 0
        || mdm_profile_install_command(j->uuid,
                                       (const unsigned char *) r->element[1]->str,
                                       r->element[1]->len, &j->cmdbody) != 0)
    {
        job_end(j, 1);
        return;
    }
    snprintf(now, sizeof(now), "%lld", (long long) ev_now(j->inv->loop));
    const char *args[] = { "install", j->missing[j->next], j->sha, j->uuid,
                           now };
    mdm_key(k1, MDM_K_PROF_DEV, j->ev.id, NULL);
    mdm_key(k2, MDM_K_ENR, j->ev.id, NULL);
    if (call2(j, &j->inv->prof_device, k1, k2, args, 5, NULL, on_pending)
        != 0)
    {
        job_end(j, 0);
    }
}


static void
on_pending(wk_redis_t *link, redisReply *r, void *data)
{
    wk_inv_job_t *j = data;
    (void) link;

    if (r == NULL) {
        job_end(j, 0);
        return;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
        j->next++;                      /* pending already */
        reinstall_next(j);
        return;
    }

    char *ids[] = { (char *) j->ev.id };
    mdm_store_enqueue_t in = {
        .uuid = j->uuid, .body = j->cmdbody.data, .body_len = j->cmdbody.len,
        .request_type = "InstallProfile",
        .now = (int64_t) ev_now(j->inv->loop),
        .first = 1, .last = 1, .ids = ids, .nids = 1,
    };
    const char *argv[MDM_STORE_ENQUEUE_ARGC(1)];
    size_t argvlen[MDM_STORE_ENQUEUE_ARGC(1)];
    char buf[MDM_STORE_BUF(MDM_STORE_ENQUEUE_KEYS)];
    mdm_argv_t a;

    mdm_argv_init(&a, argv, argvlen, MDM_STORE_ENQUEUE_ARGC(1), buf,
                  sizeof(buf));
    if (mdm_store_enqueue_argv(&in, &a) != 0) {
        job_end(j, 1);
        return;
    }
    mdm_argv_set_sha(&a, j->inv->enqueue.sha);
    if (wk_redis_cmdargv(j->inv->cmd, on_enqueued, j, a.argc, argv, argvlen)
        != 0)
    {
        job_end(j, 0);
    }
}


static void
on_enqueued(wk_redis_t *link, redisReply *r, void *data)
{
    wk_inv_job_t *j = data;
    (void) link;

    if (r == NULL) {
        job_end(j, 0);
        return;
    }
    size_t len;
    const char *ok = wk_reply_str(r, 0, &len);
    if (ok != NULL && strcmp(ok, "ok") == 0 && wk_reply_int(r, 1) == 1) {
        j->inv->requeued++;
        wk_info("inventory: %s lists no %s: InstallProfile %s queued again",
                j->ev.id, j->missing[j->next], j->uuid);
    } else {
        wk_warn("inventory: %s: InstallProfile of %s not queued again",
                j->ev.id, j->missing[j->next]);
    }
    j->next++;
    reinstall_next(j);
}


/*
 * An ActivationLockBypassCode result: the code kept if it is one; an empty
 * or absent code (the device has none now) never replaces a kept one.
 */
static void
job_bypass_code(wk_inv_job_t *j, const char *raw, size_t len)
{
    plist_t root;
    mdm_err_t err;
    const char *code = NULL;
    unsigned char bytes[MDM_ALBC_RAW_LEN];
    char k[MDM_KEY_MAX], now[24];

    if (mdm_plist_parse(raw, len, 64 * 1024, &root, &err) != MDM_OK) {
        j->inv->failed++;
        wk_warn("inventory: ActivationLockBypassCode %s of %s not stored: %s",
                j->ev.command_uuid, j->ev.id, err.msg);
        job_end(j, 1);
        return;
    }
    int rc = mdm_plist_get_string(root, "ActivationLockBypassCode", &code,
                                  &err);
    if (rc != MDM_OK || code == NULL || code[0] == '\0') {
        plist_free(root);
        j->inv->skipped++;
        wk_debug("inventory: %s reports no bypass code; the kept one stays",
                 j->ev.id);
        job_end(j, 1);
        return;
    }
    if (mdm_albc_decode(code, strlen(code), bytes) != 0) {
        plist_free(root);
        j->inv->failed++;
        wk_warn("inventory: ActivationLockBypassCode %s of %s not stored: "
                "not a bypass code", j->ev.command_uuid, j->ev.id);
        job_end(j, 1);
        return;
    }
    mdm_key(k, MDM_K_ALBC, j->ev.id, NULL);
    snprintf(now, sizeof(now), "%lld", (long long) ev_now(j->inv->loop));
    rc = wk_redis_cmd(j->inv->cmd, on_bypass_stored, j,
                      "HSET %s device_code %s device_at %s", k, code, now);
    plist_free(root);
    if (rc != 0) {
        job_end(j, 0);
    }
}


static void
on_bypass_stored(wk_redis_t *link, redisReply *r, void *data)
{
    wk_inv_job_t *j = data;
    (void) link;

    if (r == NULL) {
        job_end(j, 0);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        wk_redis_error("inventory: bypass code: %s", r->str);
    } else {
        j->inv->stored++;
        wk_debug("inventory: bypass code of %s stored", j->ev.id);
    }
    job_end(j, 1);
}


static void
on_batch(void *data, int claimed, size_t units)
{
    (void) data;
    (void) claimed;
    (void) units;
}


static size_t
room(void *data)
{
    const wk_inventory_t *inv = data;

    if (inv->draining) {
        return 0;
    }
    return inv->held < INV_MAX_HELD ? INV_MAX_HELD - inv->held : 0;
}


static const wk_stream_ops_t inventory_ops = { on_entry, on_batch, room };


/* Nothing reads the stream before the key layout is known
 * (wk_inventory_start). */
static void
on_reader_ready(wk_redis_t *link, void *data)
{
    wk_inventory_t *inv = data;
    (void) link;

    if (inv->started) {
        wk_stream_group_on_ready(inv->sg);
    }
}


void
wk_inventory_start(wk_inventory_t *inv)
{
    if (inv == NULL || inv->started) {
        return;
    }
    inv->started = 1;
    if (inv->reader_open && inv->reader.connected) {
        wk_stream_group_on_ready(inv->sg);
    }
}


static int
script(wk_inv_script_t *s, const char *name)
{
    s->script = mdm_script_find(name);
    if (s->script == NULL) {
        return -1;
    }
    mdm_script_sha1_hex(s->script, s->sha);
    return 0;
}


wk_inventory_t *
wk_inventory_new(struct ev_loop *loop, const wk_config_t *cf, wk_redis_t *cmd)
{
    wk_inventory_t *inv = calloc(1, sizeof(*inv));
    const wk_stream_key_t keys[] = { { MDM_KEY_EVENTS, "$", 0 } };

    if (inv == NULL) {
        return NULL;
    }
    inv->loop = loop;
    inv->cf = cf;
    inv->cmd = cmd;
    if (script(&inv->prof, "prof") != 0
        || script(&inv->prof_device, "prof_device") != 0
        || script(&inv->inventory, "inventory") != 0
        || script(&inv->enqueue, "enqueue") != 0)
    {
        free(inv);
        return NULL;
    }

    wk_stream_conf_t sc = {
        "inventory", cf->name, "inventory", "reports", keys, 1,
        cf->webhook_block_ms, cf->webhook_claim_idle_ms,
        cf->webhook_claim_interval_ms, &inv->reader, cmd
    };
    if (wk_redis_init(&inv->reader, loop, cf->redis, "inventory",
                      cf->redis_timeout_ms / 1000.0, on_reader_ready, inv)
        != 0)
    {
        free(inv);
        return NULL;
    }
    inv->reader_open = 1;
    inv->sg = wk_stream_group_new(loop, &sc, &inventory_ops, inv);
    if (inv->sg == NULL) {
        wk_inventory_free(inv);
        return NULL;
    }
    return inv;
}


void
wk_inventory_flush(wk_inventory_t *inv)
{
    if (inv) {
        wk_stream_flush(inv->sg);
    }
}


void
wk_inventory_read(wk_inventory_t *inv)
{
    if (inv && inv->started && !inv->draining) {
        wk_stream_read(inv->sg);
    }
}


void
wk_inventory_drain(wk_inventory_t *inv, void (*drained)(void *), void *data)
{
    inv->draining = 1;
    if (inv->reader_open) {
        inv->reader_open = 0;
        wk_redis_close(&inv->reader);
    }
    wk_stream_drain(inv->sg, drained, data);
}


void
wk_inventory_leave(wk_inventory_t *inv, wk_stream_leave_t *lv)
{
    if (inv) {
        wk_stream_leave(inv->sg, lv);
    }
}


void
wk_inventory_free(wk_inventory_t *inv)
{
    if (inv == NULL) {
        return;
    }
    wk_info("inventory: stored=%lu results=%lu skipped=%lu failed=%lu "
            "requeued=%lu", inv->stored, inv->results, inv->skipped,
            inv->failed, inv->requeued);
    if (inv->reader_open) {
        inv->reader_open = 0;
        wk_redis_close(&inv->reader);
    }
    if (inv->sg) {
        wk_stream_group_free(inv->sg);
    }
    free(inv);
}
