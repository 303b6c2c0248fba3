/*
 * Identity renewal sweep (renew.h). One certificate at a time, each step a
 * call of one slot: GET mdm:cert:<sha> (enrollment), HGET of the
 * enrollment's bound cert (only a certificate still in use is renewed),
 * renew_claim.lua on the issuance record (the claim: once per
 * certificate, whatever the number of workers), the challenge
 * (enroll_challenge.lua), then enqueue.lua with the signed profile. A
 * failure after the claim is retried with backoff (renew_failed()).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <plist/plist.h>

#include "enroll/mdm_enroll_profile.h"
#include "log.h"
#include "mdm_keys.h"
#include "mdm_store.h"
#include "mdm_script.h"
#include "mdm_uuid.h"
#include "renew.h"

#define WK_RENEW_SHA_LEN  64
#define WK_RENEW_ID_MAX   256

typedef struct {
    const mdm_script_t  *script;
    char                 sha[MDM_SHA1_HEX_LEN + 1];
} wk_renew_script_t;

struct wk_renew_s {
    struct ev_loop             *loop;
    const wk_config_t          *cf;
    wk_redis_t                 *redis;
    wk_renew_script_t           chal, enqueue, claim, backoff;
    mdm_enroll_profile_conf_t   profile;
    X509                       *cert;
    EVP_PKEY                   *key;
    STACK_OF(X509)             *chain;

    long                        offset;     /* into the window, this round */
    char                      (*shas)[WK_RENEW_SHA_LEN + 1];
    size_t                      nshas, next;
    char                        id[WK_RENEW_ID_MAX + 1];
    int                         running, stopped;
    int                         ready;   /* scripts loaded once (on_ready) */
    unsigned long               queued;
    ev_timer                    timer;
};

static void renew_next(wk_renew_t *rn);


static const char *
current(wk_renew_t *rn)
{
    return rn->shas[rn->next - 1];
}


static void
on_loaded(wk_redis_t *link, redisReply *r, void *data)
{
    wk_renew_script_t *sc = data;
    (void) link;

    if (r && r->type == REDIS_REPLY_ERROR) {
        wk_error("SCRIPT LOAD %s: %s", sc->script->name, r->str);
    }
}


static void
script_load(wk_renew_t *rn, wk_renew_script_t *sc)
{
    const char *argv[] = { "SCRIPT", "LOAD", sc->script->src };
    const size_t argvlen[] = { 6, 4, sc->script->len };

    wk_redis_cmdargv(rn->redis, on_loaded, sc, 3, argv, argvlen);
}


static void
on_backoff(wk_redis_t *link, redisReply *r, void *data)
{
    wk_renew_t *rn = data;
    (void) link;

    if (r == NULL) {
        rn->running = 0;
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_INTEGER
        || r->element[1]->type != REDIS_REPLY_INTEGER)
    {
        wk_error("renewal of certificate %s: its failure not recorded: %s",
                 current(rn), r->type == REDIS_REPLY_ERROR ? r->str
                                                           : "bad reply");
    } else if (r->element[1]->integer < 0) {
        wk_error("renewal of certificate %s (enrollment %s): given up "
                 "after %lld attempts", current(rn), rn->id,
                 r->element[0]->integer);
    } else {
        wk_warn("renewal of certificate %s (enrollment %s): attempt %lld "
                "failed, retried in %lld s", current(rn), rn->id,
                r->element[0]->integer, r->element[1]->integer);
    }
    renew_next(rn);
}


/*
 * A failure after the claim: the issuance record counts it and names the
 * time of the next attempt (renew_backoff.lua), which a later tick's claim
 * honours. Exponential, capped and bounded: a renewal that keeps failing
 * does not pile up challenges and commands.
 */
static void
renew_failed(wk_renew_t *rn, const char *why)
{
    char  key[MDM_KEY_MAX], now[24], base[24], max[24], tries[24];

    wk_error("renewal of certificate %s (enrollment %s) not queued: %s",
             current(rn), rn->id, why);

    mdm_key_ca_cert(key, current(rn));
    snprintf(now, sizeof(now), "%ld", (long) ev_now(rn->loop));
    snprintf(base, sizeof(base), "%ld", rn->cf->renew_retry_base);
    snprintf(max, sizeof(max), "%ld", rn->cf->renew_retry_max);
    snprintf(tries, sizeof(tries), "%ld", rn->cf->renew_retries);

    const char *argv[] = { "EVALSHA", rn->backoff.sha, "1", key, now, base,
                           max, tries, why };
    if (wk_redis_cmdargv(rn->redis, on_backoff, rn, 9, argv, NULL) != 0) {
        rn->running = 0;
    }
}


static void
on_enqueued(wk_redis_t *link, redisReply *r, void *data)
{
    wk_renew_t *rn = data;
    (void) link;

    if (r == NULL) {
        rn->running = 0;
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || strcmp(r->element[0]->str, "ok") != 0
        || r->element[1]->type != REDIS_REPLY_INTEGER
        || r->element[1]->integer != 1)
    {
        /* {'ok', 0, id, why} names why the enrollment took nothing */
        renew_failed(rn, r->type == REDIS_REPLY_ERROR ? r->str
                         : r->elements >= 4
                           && r->element[3]->type == REDIS_REPLY_STRING
                         ? r->element[3]->str : "enqueue refused it");
        return;
    }
    rn->queued++;
    wk_info("renewal: InstallProfile queued for enrollment %s, whose "
            "certificate %s expires soon", rn->id, current(rn));
    renew_next(rn);
}


/* The InstallProfile command carrying the signed profile, as XML. */
static char *
command_plist(const unsigned char *der, size_t len, const char *uuid,
              uint32_t *out_len)
{
    char     *xml = NULL;
    plist_t   top = plist_new_dict(), cmd = plist_new_dict();

    plist_dict_set_item(cmd, "RequestType", plist_new_string("InstallProfile"));
    plist_dict_set_item(cmd, "Payload", plist_new_data((const char *) der,
                                                       (uint64_t) len));
    plist_dict_set_item(top, "Command", cmd);
    plist_dict_set_item(top, "CommandUUID", plist_new_string(uuid));
    plist_to_xml(top, &xml, out_len);
    plist_free(top);
    return xml;
}


static void
enqueue(wk_renew_t *rn, const char *challenge)
{
    char            *xml, *body, uuid[MDM_UUID_LEN];
    size_t           len, der_len;
    uint32_t         body_len;
    mdm_err_t        err;
    unsigned char   *der;
    mdm_enroll_profile_req_t req = { challenge, NULL, 0, NULL };

    if (mdm_enroll_profile_build(&rn->profile, &req, &xml, &len, &err)
        != MDM_OK)
    {
        renew_failed(rn, err.msg);
        return;
    }
    if (mdm_enroll_profile_sign((unsigned char *) xml, len, rn->cert,
                                rn->key, rn->chain, &der, &der_len, &err)
        != MDM_OK)
    {
        free(xml);
        renew_failed(rn, err.msg);
        return;
    }
    free(xml);

    if (mdm_uuid_generate(uuid) != 0
        || (body = command_plist(der, der_len, uuid, &body_len)) == NULL)
    {
        OPENSSL_free(der);
        renew_failed(rn, "no command built");
        return;
    }
    OPENSSL_free(der);

    char *ids[] = { rn->id };
    mdm_store_enqueue_t in = {
        .uuid = uuid, .body = body, .body_len = body_len,
        .request_type = "InstallProfile",
        .now = (int64_t) ev_now(rn->loop),
        /* the command is worth as long as its challenge */
        .expires = (int64_t) ev_now(rn->loop) + rn->cf->renew_challenge_ttl,
        .first = 1, .last = 1,             /* one chunk */
        .ids = ids, .nids = 1,
    };
    const char *argv[MDM_STORE_ENQUEUE_ARGC(1)];
    size_t argvlen[MDM_STORE_ENQUEUE_ARGC(1)];
    char buf[MDM_STORE_BUF(MDM_STORE_ENQUEUE_KEYS)];
    mdm_argv_t a;

    mdm_argv_init(&a, argv, argvlen, MDM_STORE_ENQUEUE_ARGC(1), buf,
                  sizeof(buf));
    if (mdm_store_enqueue_argv(&in, &a) != 0) {
        free(body);
        renew_failed(rn, "no enqueue call built");
        return;
    }
    mdm_argv_set_sha(&a, rn->enqueue.sha);
    if (wk_redis_cmdargv(rn->redis, on_enqueued, rn, a.argc, argv, argvlen)
        != 0)
    {
        rn->running = 0;
    }
    free(body);
}


static void
on_challenge(wk_redis_t *link, redisReply *r, void *data)
{
    wk_renew_t *rn = data;
    (void) link;

    if (r == NULL) {
        rn->running = 0;
        return;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
        renew_failed(rn, r->type == REDIS_REPLY_ERROR ? r->str
                                                 : "challenge not stored");
        return;
    }
    /* the slot after the batch holds the challenge: see on_claimed */
    enqueue(rn, rn->shas[rn->nshas]);
}


static void
on_claimed(wk_redis_t *link, redisReply *r, void *data)
{
    wk_renew_t *rn = data;
    char        key[MDM_KEY_MAX], now[24], expires[24];
    char       *challenge;
    (void) link;

    if (r == NULL) {
        rn->running = 0;
        return;
    }
    if (r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
        /* queued before, by us or another, or backing off */
        if (r->type == REDIS_REPLY_ERROR) {
            wk_error("renewal: renew_claim: %s", r->str);
        }
        renew_next(rn);
        return;
    }

    /* the slot after the batch holds the challenge (allocated for it) */
    challenge = rn->shas[rn->nshas];
    if (mdm_enroll_challenge_new(challenge) != 0) {
        renew_failed(rn, "no randomness for a challenge");
        return;
    }
    mdm_key_scep_challenge(key, challenge);
    snprintf(now, sizeof(now), "%ld", (long) ev_now(rn->loop));
    snprintf(expires, sizeof(expires), "%ld",
             (long) ev_now(rn->loop) + rn->cf->renew_challenge_ttl);

    const char *argv[] = { "EVALSHA", rn->chal.sha, "1", key, now, expires,
                           "", "", "", "", rn->id };
    if (wk_redis_cmdargv(rn->redis, on_challenge, rn, 11, argv, NULL) != 0) {
        rn->running = 0;
    }
}


static void
on_bound(wk_redis_t *link, redisReply *r, void *data)
{
    wk_renew_t *rn = data;
    char        key[MDM_KEY_MAX], now[24];
    (void) link;

    if (r == NULL) {
        rn->running = 0;
        return;
    }
    /* renewed already, or the enrollment has moved on: nothing to do */
    if (r->type != REDIS_REPLY_STRING || strcmp(r->str, current(rn)) != 0) {
        renew_next(rn);
        return;
    }
    mdm_key_ca_cert(key, current(rn));
    snprintf(now, sizeof(now), "%ld", (long) ev_now(rn->loop));
    const char *argv[] = { "EVALSHA", rn->claim.sha, "1", key, now };
    if (wk_redis_cmdargv(rn->redis, on_claimed, rn, 5, argv, NULL) != 0) {
        rn->running = 0;
    }
}


static void
on_owner(wk_redis_t *link, redisReply *r, void *data)
{
    wk_renew_t *rn = data;
    char        key[MDM_KEY_MAX];
    (void) link;

    if (r == NULL) {
        rn->running = 0;
        return;
    }
    if (r->type != REDIS_REPLY_STRING || r->len == 0
        || r->len > WK_RENEW_ID_MAX || strpbrk(r->str, "{}") != NULL)
    {
        renew_next(rn);            /* not bound to any enrollment */
        return;
    }
    memcpy(rn->id, r->str, r->len + 1);
    mdm_key_enrollment(key, rn->id);
    const char *argv[] = { "HGET", key, "cert" };
    if (wk_redis_cmdargv(rn->redis, on_bound, rn, 3, argv, NULL) != 0) {
        rn->running = 0;
    }
}


static void
renew_next(wk_renew_t *rn)
{
    char key[MDM_KEY_MAX];

    if (rn->next >= rn->nshas || rn->stopped) {
        rn->running = 0;
        return;
    }
    rn->next++;
    rn->id[0] = '\0';
    mdm_key_cert(key, current(rn));
    const char *argv[] = { "GET", key };
    if (wk_redis_cmdargv(rn->redis, on_owner, rn, 2, argv, NULL) != 0) {
        rn->running = 0;
    }
}


static void
on_index(wk_redis_t *link, redisReply *r, void *data)
{
    wk_renew_t *rn = data;
    (void) link;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        if (r && r->type == REDIS_REPLY_ERROR) {
            wk_error("renewal: ZRANGE %s: %s", MDM_KEY_CA_INDEX, r->str);
        }
        rn->running = 0;
        return;
    }

    rn->nshas = 0;
    rn->next = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        redisReply *m = r->element[i], *s = r->element[i + 1];
        if (m->type != REDIS_REPLY_STRING || m->len != WK_RENEW_SHA_LEN
            || strspn(m->str, "0123456789abcdef") != WK_RENEW_SHA_LEN)
        {
            continue;
        }
        (void) s;
        memcpy(rn->shas[rn->nshas++], m->str, WK_RENEW_SHA_LEN + 1);
    }
    /* pages by offset (scores tie: many certificates share a second); a
     * short page ends the round, the next tick starts over */
    rn->offset += (long) (r->elements / 2);
    if (r->elements / 2 < (size_t) rn->cf->renew_batch) {
        rn->offset = 0;
    }
    renew_next(rn);
}


static void
on_renew_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    wk_renew_t *rn = t->data;
    char        min[32], max[32], offset[24], batch[24];
    (void) loop;
    (void) revents;

    if (rn->running || rn->stopped || !rn->ready) {
        return;
    }
    double now = ev_now(rn->loop);
    /* expired certificates are past renewing */
    snprintf(min, sizeof(min), "%.0f", now);
    snprintf(max, sizeof(max), "%.0f", now + rn->cf->renew_window);
    snprintf(offset, sizeof(offset), "%ld", rn->offset);
    snprintf(batch, sizeof(batch), "%ld", rn->cf->renew_batch);

    const char *argv[] = { "ZRANGEBYSCORE", MDM_KEY_CA_INDEX, min, max,
                           "WITHSCORES", "LIMIT", offset, batch };
    if (wk_redis_cmdargv(rn->redis, on_index, rn, 8, argv, NULL) == 0) {
        rn->running = 1;
    }
}


static int
load_signer(wk_renew_t *rn)
{
    const wk_config_t *cf = rn->cf;
    FILE *f;

    if ((f = fopen(cf->renew_signer_cert, "r")) != NULL) {
        rn->cert = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
    }
    if ((f = fopen(cf->renew_signer_key, "r")) != NULL) {
        rn->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (rn->cert == NULL || rn->key == NULL
        || X509_check_private_key(rn->cert, rn->key) != 1)
    {
        wk_alert("renewal: renew_signer_cert/renew_signer_key: no "
                 "certificate and matching key read");
        return -1;
    }
    if (cf->renew_signer_chain[0]) {
        X509 *x;
        rn->chain = sk_X509_new_null();
        if (rn->chain == NULL
            || (f = fopen(cf->renew_signer_chain, "r")) == NULL)
        {
            wk_alert("renewal: renew_signer_chain: cannot read %s",
                     cf->renew_signer_chain);
            return -1;
        }
        while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
            sk_X509_push(rn->chain, x);
        }
        fclose(f);
    }
    return 0;
}


static const char *
opt(const char *s)
{
    return s[0] ? s : NULL;
}


wk_renew_t *
wk_renew_new(struct ev_loop *loop, const wk_config_t *cf, wk_redis_t *redis,
             int *failed)
{
    mdm_err_t err;

    *failed = 0;
    wk_renew_t *rn = calloc(1, sizeof(*rn));
    if (rn == NULL) {
        *failed = 1;
        return NULL;
    }
    rn->loop = loop;
    rn->cf = cf;
    rn->redis = redis;
    if (cf->renew_interval_ms == 0) {
        return rn;                 /* renewal off */
    }

    /* the profile the device has: same identifiers and URLs as the
     * nginx mdm_enroll location, the enroll defaults otherwise */
    rn->profile.server_url = cf->renew_server_url;
    rn->profile.checkin_url = opt(cf->renew_checkin_url);
    rn->profile.topic = cf->renew_topic;
    rn->profile.scep_url = cf->renew_scep_url;
    rn->profile.identifier = cf->renew_identifier;
    rn->profile.organization = opt(cf->renew_organization);
    rn->profile.subject_o = opt(cf->renew_organization);
    rn->profile.sign_message = 1;
    rn->profile.check_out_when_removed = 1;
    rn->profile.capabilities = MDM_ENROLL_CAP_PER_USER
                               | MDM_ENROLL_CAP_BOOTSTRAP;

    if (mdm_enroll_profile_check(&rn->profile, &err) != MDM_OK) {
        wk_alert("renewal: the renew_* profile settings are refused: %s",
                 err.msg);
        goto fail;
    }
    if (load_signer(rn) != 0) {
        goto fail;
    }

    /* the batch, and one slot more for the challenge being written */
    rn->shas = calloc((size_t) cf->renew_batch + 1, sizeof(*rn->shas));
    if (rn->shas == NULL
        || (rn->chal.script = mdm_script_find("enroll_challenge")) == NULL
        || (rn->enqueue.script = mdm_script_find("enqueue")) == NULL
        || (rn->claim.script = mdm_script_find("renew_claim")) == NULL
        || (rn->backoff.script = mdm_script_find("renew_backoff")) == NULL)
    {
        goto fail;
    }
    mdm_script_sha1_hex(rn->chal.script, rn->chal.sha);
    mdm_script_sha1_hex(rn->enqueue.script, rn->enqueue.sha);
    mdm_script_sha1_hex(rn->claim.script, rn->claim.sha);
    mdm_script_sha1_hex(rn->backoff.script, rn->backoff.sha);

    double every = cf->renew_interval_ms / 1000.0;
    ev_timer_init(&rn->timer, on_renew_timer, every, every);
    rn->timer.data = rn;
    ev_timer_start(loop, &rn->timer);
    ev_unref(loop);
    return rn;

fail:
    *failed = 1;
    wk_renew_free(rn);
    return NULL;
}


void
wk_renew_on_redis_ready(wk_renew_t *rn)
{
    rn->running = 0;               /* a lost connection ended the chain */
    rn->ready = 1;
    if (rn->cf->renew_interval_ms) {
        script_load(rn, &rn->chal);
        script_load(rn, &rn->enqueue);
        script_load(rn, &rn->claim);
        script_load(rn, &rn->backoff);
    }
}


void
wk_renew_stop(wk_renew_t *rn)
{
    if (rn == NULL || rn->stopped) {
        return;
    }
    rn->stopped = 1;
    if (rn->cf->renew_interval_ms) {
        ev_ref(rn->loop);
        ev_timer_stop(rn->loop, &rn->timer);
    }
}


void
wk_renew_free(wk_renew_t *rn)
{
    if (rn == NULL) {
        return;
    }
    wk_renew_stop(rn);
    X509_free(rn->cert);
    EVP_PKEY_free(rn->key);
    sk_X509_pop_free(rn->chain, X509_free);
    free(rn->shas);
    free(rn);
}
