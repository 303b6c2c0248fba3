#ifndef WK_WEBHOOK_JSON_H
#define WK_WEBHOOK_JSON_H

/*
 * One event of mdm:events rendered as a webhook body in MicroMDM/NanoMDM's
 * format (docs/webhooks.md): an envelope with topic, event_id, created_at
 * and one of checkin_event, acknowledge_event or (ours) push_event.
 */

#include <stddef.h>

#include "mdm_event.h"

/*
 * The body as compact JSON (malloc'd, NUL-terminated; free()), or NULL with
 * a reason in err. tally: the stream field `tally` or NULL; created_ms is
 * used when the event has no `ts`.
 */
char *wk_webhook_json(const mdm_event_t *ev, const char *event_id,
                      const char *tally, long long created_ms, char *err,
                      size_t errlen);

#endif
