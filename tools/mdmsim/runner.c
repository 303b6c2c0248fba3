/*
 * Jobs on concurrent connections. Each slot owns one connection and runs one
 * job at a time; a finished job hands the slot the next device from a FIFO
 * ring, so no two requests for the same device are ever in flight together
 * (a server may serialize per device, a real device never overlaps either).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddm.h"
#include "runner.h"


#define MDMSIM_CHECKIN_TYPE  "application/x-apple-aspen-mdm-checkin"
#define MDMSIM_REPORT_TYPE   "application/x-apple-aspen-mdm; charset=UTF-8"

/* Where a slot is in a DDM sync (slot->ddm_step). */
enum {
    MDMSIM_DDM_NONE = 0,
    MDMSIM_DDM_TOKENS,
    MDMSIM_DDM_ITEMS,
    MDMSIM_DDM_FETCH,
    MDMSIM_DDM_STATUS
};


static void mdmsim_job_start(struct mdmsim_slot *slot);
static void mdmsim_job_end(struct mdmsim_slot *slot, int failed);
static int mdmsim_job_more(struct mdmsim_runner *r);
static void mdmsim_send(struct mdmsim_slot *slot, const struct mdmsim_url *url,
    const char *content_type, struct mdmsim_body *body, const char *what);
static void mdmsim_request_done(struct mdmsim_conn *c,
    enum mdmsim_http_error error, const struct mdmsim_response *resp);
static void mdmsim_enroll_next(struct mdmsim_slot *slot);
static void mdmsim_session_next(struct mdmsim_slot *slot,
    const struct mdmsim_response *resp);
static void mdmsim_ddm_start(struct mdmsim_slot *slot);
static void mdmsim_ddm_next(struct mdmsim_slot *slot,
    const struct mdmsim_response *resp);
static void mdmsim_ddm_send(struct mdmsim_slot *slot, const char *endpoint,
    const char *data, size_t len, int step);
static void mdmsim_log(struct mdmsim_slot *slot, enum mdmsim_http_error error,
    const struct mdmsim_response *resp);
static void mdmsim_deadline(struct ev_loop *loop, ev_timer *w, int revents);
static void mdmsim_presign(struct mdmsim_runner *r);


static void
mdmsim_send(struct mdmsim_slot *slot, const struct mdmsim_url *url,
    const char *content_type, struct mdmsim_body *body, const char *what)
{
    struct mdmsim_runner   *r = slot->runner;
    struct mdmsim_request   req;

    memset(&req, 0, sizeof(req));
    req.url = url;
    req.content_type = content_type;
    req.body = body->data;
    req.body_len = body->len;
    /* the enroll scenario: a device resumes its own session, never the
     * one of the device before it on this slot */
    if (r->opts->scenario == MDMSIM_SCENARIO_ENROLL) {
        req.device = slot->dev;
    }
    if (r->opts->mode == MDMSIM_MODE_TLS) {
        req.identity = slot->dev;
    } else if (r->opts->mode == MDMSIM_MODE_SIGN) {
        req.signature = mdmsim_body_signature(slot->dev, body);
        if (req.signature == NULL) {
            /* Only a broken key gets here; every later request would fail. */
            fprintf(stderr, "mdmsim: cannot sign for %s\n", slot->dev->udid);
            exit(2);
        }
    }
    slot->what = what;
    r->requests_started++;
    slot->request_started = ev_time();
    mdmsim_conn_put(&slot->conn, &req);
}


static int
mdmsim_job_more(struct mdmsim_runner *r)
{
    return !r->stopping
           && (r->jobs_limit < 0 || r->jobs_started < r->jobs_limit)
           && (r->requests_limit < 0
               || r->requests_started < r->requests_limit);
}


static void
mdmsim_job_start(struct mdmsim_slot *slot)
{
    struct mdmsim_runner  *r = slot->runner;
    long                   index;

    if (!r->sticky || slot->dev == NULL) {
        index = r->ring[r->ring_head];
        r->ring_head = (r->ring_head + 1) % r->fleet->count;
        r->ring_len--;
        slot->dev = &r->fleet->devices[index];
    }
    r->jobs_started++;
    slot->step = 0;
    slot->ddm_step = MDMSIM_DDM_NONE;
    slot->commands = 0;

    switch (r->opts->scenario) {
    case MDMSIM_SCENARIO_ENROLL:
        mdmsim_send(slot, &r->check_in, MDMSIM_CHECKIN_TYPE,
                    &slot->dev->authenticate, "Authenticate");
        break;
    case MDMSIM_SCENARIO_CHECKIN_STORM:
        mdmsim_send(slot, &r->check_in, MDMSIM_CHECKIN_TYPE,
                    &slot->dev->token_update, "TokenUpdate");
        break;
    case MDMSIM_SCENARIO_DDM_ITEMS:
        mdmsim_send(slot, &r->check_in, MDMSIM_CHECKIN_TYPE,
                    &slot->dev->ddm_items, "declaration-items");
        break;
    default:
        mdmsim_send(slot, &r->server, MDMSIM_REPORT_TYPE, &slot->dev->idle,
                    "Idle");
    }
}


static void
mdmsim_job_end(struct mdmsim_slot *slot, int failed)
{
    struct mdmsim_runner  *r = slot->runner;

    r->stats.jobs++;
    r->stats.jobs_failed += failed != 0;
    mdmsim_body_free(&slot->report);
    if (!r->opts->keepalive) {
        mdmsim_conn_close(&slot->conn);
    }
    if (!r->sticky) {
        r->ring[(r->ring_head + r->ring_len) % r->fleet->count] =
            slot->dev->index - r->opts->first_device;
        r->ring_len++;
    }
    if (mdmsim_job_more(r)) {
        mdmsim_job_start(slot);
        return;
    }
    mdmsim_conn_close(&slot->conn);
    if (--r->active == 0) {
        ev_timer_stop(r->loop, &r->deadline);
        ev_break(r->loop, EVBREAK_ALL);
    }
}


static void
mdmsim_enroll_next(struct mdmsim_slot *slot)
{
    struct mdmsim_runner  *r = slot->runner;

    slot->step++;
    if (slot->step == 1) {
        mdmsim_send(slot, &r->check_in, MDMSIM_CHECKIN_TYPE,
                    &slot->dev->token_update, "TokenUpdate");
    } else if (slot->step == 2 && r->opts->user_channel) {
        mdmsim_send(slot, &r->check_in, MDMSIM_CHECKIN_TYPE,
                    &slot->dev->user_token_update, "TokenUpdate (user)");
    } else {
        mdmsim_job_end(slot, 0);
    }
}


static void
mdmsim_session_next(struct mdmsim_slot *slot,
    const struct mdmsim_response *resp)
{
    struct mdmsim_runner  *r = slot->runner;
    struct mdmsim_answer   answer;
    struct mdmsim_stats   *s = &r->stats;

    /* An empty 200 ends the session (protocol §3.2); a sync asked for by
     * a DeclarativeManagement command follows on the check-in URL. */
    if (resp->body_len == 0) {
        if (slot->dev->ddm_due) {
            mdmsim_ddm_start(slot);
            return;
        }
        mdmsim_job_end(slot, 0);
        return;
    }
    if (slot->commands++ >= r->opts->max_commands) {
        fprintf(stderr, "mdmsim: %s: more than %ld commands in one session, "
                "giving up\n", slot->dev->udid, r->opts->max_commands);
        mdmsim_job_end(slot, 1);
        return;
    }
    mdmsim_body_free(&slot->report);
    if (mdmsim_answer_command(r->fleet, slot->dev, resp->body, resp->body_len,
                              &slot->report, &answer) != 0)
    {
        fprintf(stderr, "mdmsim: cannot build a report\n");
        exit(2);
    }
    if (strcmp(answer.status, "Acknowledged") == 0) {
        s->acknowledged++;
    } else if (strcmp(answer.status, "NotNow") == 0) {
        s->notnow++;
    } else if (strcmp(answer.status, "Error") == 0) {
        s->errors_reported++;
    } else {
        s->format_errors++;
    }
    if (r->opts->verbose) {
        fprintf(stderr, "mdmsim: %s: command %s %s -> %s\n", slot->dev->udid,
                answer.command_uuid, answer.request_type, answer.status);
    }
    mdmsim_send(slot, &r->server, MDMSIM_REPORT_TYPE, &slot->report,
                answer.status);
}


static void
mdmsim_ddm_send(struct mdmsim_slot *slot, const char *endpoint,
    const char *data, size_t len, int step)
{
    struct mdmsim_runner  *r = slot->runner;

    mdmsim_body_free(&slot->report);
    if (mdmsim_ddm_checkin(slot->dev, endpoint, data, len, &slot->report)
        != 0)
    {
        fprintf(stderr, "mdmsim: cannot build a check-in\n");
        exit(2);
    }
    slot->ddm_step = step;
    /* the label lives as long as the request: the endpoint is copied */
    snprintf(slot->ddm_what, sizeof(slot->ddm_what), "DeclarativeManagement "
             "%s", endpoint);
    mdmsim_send(slot, &r->check_in, MDMSIM_CHECKIN_TYPE, &slot->report,
                slot->ddm_what);
}


/* After the session: the tokens the command carried, or a `tokens` fetch. */
static void
mdmsim_ddm_start(struct mdmsim_slot *slot)
{
    struct mdmsim_device  *dev = slot->dev;
    int                    changed;

    dev->ddm_due = 0;
    slot->runner->stats.ddm_syncs++;
    if (dev->ddm == NULL) {
        dev->ddm = mdmsim_ddm_new();
        if (dev->ddm == NULL) {
            fprintf(stderr, "mdmsim: out of memory\n");
            exit(2);
        }
    }
    if (dev->ddm_data == NULL) {
        mdmsim_ddm_send(slot, "tokens", NULL, 0, MDMSIM_DDM_TOKENS);
        return;
    }
    changed = mdmsim_ddm_tokens(dev->ddm, dev->ddm_data, dev->ddm_data_len);
    if (changed < 0) {
        fprintf(stderr, "mdmsim: %s: DeclarativeManagement Data is not a "
                "TokensResponse\n", dev->udid);
        mdmsim_job_end(slot, 1);
        return;
    }
    if (changed) {
        mdmsim_ddm_send(slot, "declaration-items", NULL, 0,
                        MDMSIM_DDM_ITEMS);
        return;
    }
    slot->ddm_step = MDMSIM_DDM_FETCH;
    mdmsim_ddm_next(slot, NULL);
}


/* One step of the sync on the answer to the previous one. */
static void
mdmsim_ddm_next(struct mdmsim_slot *slot, const struct mdmsim_response *resp)
{
    struct mdmsim_runner  *r = slot->runner;
    struct mdmsim_device  *dev = slot->dev;
    const char            *what, *path;
    char                  *report;
    size_t                 len;
    int                    rc;

    what = NULL;
    switch (slot->ddm_step) {
    case MDMSIM_DDM_TOKENS:
        rc = mdmsim_ddm_tokens(dev->ddm, resp->body, resp->body_len);
        what = rc < 0 ? "tokens is not a TokensResponse" : NULL;
        if (rc > 0) {
            mdmsim_ddm_send(slot, "declaration-items", NULL, 0,
                            MDMSIM_DDM_ITEMS);
            return;
        }
        break;
    case MDMSIM_DDM_ITEMS:
        rc = mdmsim_ddm_items(dev->ddm, resp->body, resp->body_len);
        what = rc < 0 ? "declaration-items is not a "
                        "DeclarationItemsResponse" : NULL;
        break;
    case MDMSIM_DDM_FETCH:
        if (resp != NULL) {
            r->stats.ddm_fetches++;
            rc = mdmsim_ddm_fetched(dev->ddm, resp->status, resp->body,
                                    resp->body_len);
            what = rc < 0 ? "a declaration does not match its manifest entry"
                          : NULL;
        }
        break;
    default:
        /* the status report was taken: the sync is over */
        mdmsim_job_end(slot, 0);
        return;
    }
    if (what != NULL) {
        fprintf(stderr, "mdmsim: %s: %s\n", dev->udid, what);
        mdmsim_job_end(slot, 1);
        return;
    }
    path = mdmsim_ddm_next_fetch(dev->ddm);
    if (path != NULL) {
        mdmsim_ddm_send(slot, path, NULL, 0, MDMSIM_DDM_FETCH);
        return;
    }
    report = mdmsim_ddm_status_report(dev->ddm, dev, r->opts->ddm_full_report,
                                      &len);
    if (report == NULL) {
        fprintf(stderr, "mdmsim: out of memory\n");
        exit(2);
    }
    r->stats.ddm_status_reports++;
    mdmsim_ddm_send(slot, "status", report, len, MDMSIM_DDM_STATUS);
    free(report);
}


static void
mdmsim_log(struct mdmsim_slot *slot, enum mdmsim_http_error error,
    const struct mdmsim_response *resp)
{
    if (error != MDMSIM_HTTP_OK) {
        fprintf(stderr, "mdmsim: %s: %s -> %s error\n", slot->dev->udid,
                slot->what, mdmsim_http_error_name(error));
    } else if (resp->status != 200 || slot->runner->opts->verbose) {
        fprintf(stderr, "mdmsim: %s: %s -> %d (%zu bytes)\n",
                slot->dev->udid, slot->what, resp->status, resp->body_len);
    }
}


static void
mdmsim_request_done(struct mdmsim_conn *c, enum mdmsim_http_error error,
    const struct mdmsim_response *resp)
{
    struct mdmsim_slot    *slot = c->data;
    struct mdmsim_runner  *r = slot->runner;
    int                    status = resp ? resp->status : 0;
    int                    gone, ok;

    /* a declaration fetch answered 404 is "removed": an answer */
    gone = slot->ddm_step == MDMSIM_DDM_FETCH && status == 404;
    ok = error == MDMSIM_HTTP_OK && (status == 200 || gone);
    mdmsim_stats_request(&r->stats, ev_time() - slot->request_started, status,
                         slot->ddm_step == MDMSIM_DDM_FETCH, error);
    /* In a load run, failures are counted; printing each would flood. */
    if (r->opts->verbose || (!r->opts->load && !ok)) {
        mdmsim_log(slot, error, resp);
    }
    if (!ok) {
        mdmsim_job_end(slot, 1);
        return;
    }
    if (slot->ddm_step != MDMSIM_DDM_NONE) {
        mdmsim_ddm_next(slot, resp);
        return;
    }

    switch (r->opts->scenario) {
    case MDMSIM_SCENARIO_ENROLL:
        mdmsim_enroll_next(slot);
        break;
    case MDMSIM_SCENARIO_SESSION:
        mdmsim_session_next(slot, resp);
        break;
    case MDMSIM_SCENARIO_IDLE:
        /* The idle scenario measures the Idle path only. */
        r->stats.commands_unanswered += resp->body_len > 0;
        mdmsim_job_end(slot, 0);
        break;
    default:
        mdmsim_job_end(slot, 0);
    }
}


static void
mdmsim_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct mdmsim_runner  *r = w->data;

    (void) loop;
    (void) revents;
    r->stopping = 1;
}


/*
 * Signs the body a load scenario repeats before the clock starts, so that
 * the first pass over the devices does not measure RSA signing.
 */
static void
mdmsim_presign(struct mdmsim_runner *r)
{
    struct mdmsim_device  *dev;
    struct mdmsim_body    *body;
    long                   i;

    for (i = 0; i < r->fleet->count; i++) {
        dev = &r->fleet->devices[i];
        switch (r->opts->scenario) {
        case MDMSIM_SCENARIO_ENROLL:
            body = &dev->authenticate;
            break;
        case MDMSIM_SCENARIO_CHECKIN_STORM:
            body = &dev->token_update;
            break;
        case MDMSIM_SCENARIO_DDM_ITEMS:
            body = &dev->ddm_items;
            break;
        default:
            body = &dev->idle;
        }
        mdmsim_body_signature(dev, body);
    }
}


static int
mdmsim_runner_init(struct mdmsim_runner *r, struct mdmsim_fleet *fleet)
{
    const struct mdmsim_opts  *opts = fleet->opts;
    long                       i;

    memset(r, 0, sizeof(*r));
    r->fleet = fleet;
    r->opts = opts;
    if ((opts->server_url && mdmsim_url_parse(opts->server_url, &r->server))
        || (opts->check_in_url
            && mdmsim_url_parse(opts->check_in_url, &r->check_in)))
    {
        return -1;
    }
    if (r->server.tls || r->check_in.tls) {
        r->ctx = mdmsim_tls_ctx(opts->ca_file, opts->insecure);
        if (r->ctx == NULL) {
            return -1;
        }
    }
    r->ring = malloc(fleet->count * sizeof(long));
    r->nslots = opts->concurrency < fleet->count ? opts->concurrency
                                                 : fleet->count;
    r->slots = calloc(r->nslots, sizeof(struct mdmsim_slot));
    r->loop = ev_default_loop(EVFLAG_AUTO);
    if (r->ring == NULL || r->slots == NULL || r->loop == NULL) {
        return -1;
    }
    for (i = 0; i < fleet->count; i++) {
        r->ring[i] = i;
    }
    r->ring_len = fleet->count;
    for (i = 0; i < r->nslots; i++) {
        r->slots[i].runner = r;
        mdmsim_conn_init(&r->slots[i].conn, r->loop, r->ctx, opts->timeout,
                         mdmsim_request_done, &r->slots[i]);
        r->slots[i].conn.verbose = opts->verbose;
        r->slots[i].conn.resume = opts->tls_resume;
    }
    return 0;
}


int
mdmsim_run(struct mdmsim_fleet *fleet, long jobs_limit, long requests_limit,
    double duration, const char *label)
{
    struct mdmsim_runner  r;
    const struct mdmsim_opts *opts = fleet->opts;
    long                  i;

    if (mdmsim_runner_init(&r, fleet) != 0) {
        return 2;
    }
    r.jobs_limit = jobs_limit;
    r.requests_limit = requests_limit;
    /*
     * A TLS client identity is bound to its connection: with keep-alive,
     * each connection stays with its own device instead of rotating.
     */
    r.sticky = opts->keepalive && opts->mode == MDMSIM_MODE_TLS
               && jobs_limit < 0;
    if (opts->load && opts->mode == MDMSIM_MODE_SIGN) {
        mdmsim_presign(&r);
    }

    /* The loop's clock is cached: without the update, presigning counts. */
    ev_now_update(r.loop);
    ev_timer_init(&r.deadline, mdmsim_deadline, duration, 0.);
    r.deadline.data = &r;
    if (duration > 0) {
        ev_timer_start(r.loop, &r.deadline);
    }
    mdmsim_stats_start(&r.stats);
    for (i = 0; i < r.nslots && mdmsim_job_more(&r); i++) {
        r.active++;
        mdmsim_job_start(&r.slots[i]);
    }
    if (r.active > 0) {
        ev_run(r.loop, 0);
    }
    mdmsim_stats_stop(&r.stats);
    for (i = 0; i < r.nslots; i++) {
        r.stats.tls_handshakes += r.slots[i].conn.handshakes;
        r.stats.tls_resumed += r.slots[i].conn.resumed;
    }
    mdmsim_stats_print(&r.stats, opts, r.nslots, label);

    for (i = 0; i < r.nslots; i++) {
        mdmsim_conn_close(&r.slots[i].conn);
        mdm_buf_free(&r.slots[i].conn.in);
        mdm_buf_free(&r.slots[i].conn.out);
        mdm_buf_free(&r.slots[i].conn.chunked);
        SSL_SESSION_free(r.slots[i].conn.session);
    }
    free(r.slots);
    free(r.ring);
    free(r.stats.latency_us);
    SSL_CTX_free(r.ctx);
    return r.stats.requests_failed > 0 || r.stats.jobs_failed > 0
           || r.stats.requests == 0;
}
