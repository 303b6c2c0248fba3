#ifndef WK_SCHEMA_H
#define WK_SCHEMA_H

/*
 * The key layout check at start (mdm:schema, libmdm/mdm_schema.h): an empty
 * Redis gets this build's version recorded; another version is refused.
 */

#include "redis.h"

/* ok is 1 when the layout is this build's, 0 when it is refused (logged),
 * -1 when the connection was lost first (check again on reconnect). */
typedef void (*wk_schema_cb)(int ok, void *data);

/* Runs the check on link; cb gets the verdict. */
void wk_schema_check(wk_redis_t *link, wk_schema_cb cb, void *data);

#endif
