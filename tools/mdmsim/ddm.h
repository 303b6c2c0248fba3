#ifndef MDMSIM_DDM_H
#define MDMSIM_DDM_H

/*
 * The declarative management client of a simulated device (protocol.md §6,
 * services.md §1.3-§1.6), without I/O: the runner sends what this builds
 * and feeds back what the server answered.
 *
 * A sync, after a DeclarativeManagement command: `tokens` (skipped when the
 * command carried them in Data) -> `declaration-items` when the
 * DeclarationsToken differs from the one the device holds -> one
 * `declaration/<kind>/<Identifier>` per declaration that is new or whose
 * ServerToken changed (declarations no longer listed are dropped) ->
 * `status`. The device applies declarations as a real one does: an
 * activation is active when all its StandardConfigurations are present, a
 * configuration when an active activation names it (else
 * Info.NotReferencedByActivation, as the real report in
 * fixtures/ddm/status-report-error.json), an asset when an active
 * configuration references it; a payload the schema refuses is invalid.
 *
 * Status reports are incremental (only declarations whose status changed,
 * newly subscribed items, app.managed.list changes with `_removed` entries
 * for apps whose configuration went away) unless a full report is asked
 * for (`FullReport: true`, everything).
 */

#include <stddef.h>

#include "mdmsim.h"

struct mdmsim_ddm;

struct mdmsim_ddm *mdmsim_ddm_new(void);
void mdmsim_ddm_free(struct mdmsim_ddm *ddm);

/* A DeclarativeManagement check-in for endpoint, with Data unless NULL. */
int mdmsim_ddm_checkin(const struct mdmsim_device *dev, const char *endpoint,
    const char *data, size_t len, struct mdmsim_body *body);

/*
 * The DeclarativeManagement command's Data (a TokensResponse), or the
 * answer to `tokens`: 1 when the DeclarationsToken differs from the
 * device's (fetch declaration-items), 0 when it is the same, -1 when the
 * JSON is not a TokensResponse.
 */
int mdmsim_ddm_tokens(struct mdmsim_ddm *ddm, const char *json, size_t len);

/*
 * The answer to `declaration-items`: drops the declarations it no longer
 * lists and queues the new and changed ones; the number queued, or -1 when
 * it is not a DeclarationItemsResponse (all four arrays, every item an
 * Identifier and a ServerToken, its DeclarationsToken).
 */
int mdmsim_ddm_items(struct mdmsim_ddm *ddm, const char *json, size_t len);

/* The next endpoint to fetch ("declaration/configuration/cfg-1"), or NULL. */
const char *mdmsim_ddm_next_fetch(struct mdmsim_ddm *ddm);

/*
 * The answer to the fetch of mdmsim_ddm_next_fetch(): 404 drops the
 * declaration; 200 with a declaration whose Identifier, ServerToken and
 * kind match the manifest stores it. 0, or -1 for anything else (another
 * status, a mismatch, not JSON); the fetch is dequeued either way.
 */
int mdmsim_ddm_fetched(struct mdmsim_ddm *ddm, int status, const char *json,
    size_t len);

/* The status report the device sends now (malloc'd JSON); full: a
 * FullReport. What it reports counts as reported. */
char *mdmsim_ddm_status_report(struct mdmsim_ddm *ddm,
    const struct mdmsim_device *dev, int full, size_t *len);

/* How many declarations the device holds (for logs and tests). */
size_t mdmsim_ddm_count(const struct mdmsim_ddm *ddm);

#endif
