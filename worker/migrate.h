#ifndef WK_MIGRATE_H
#define WK_MIGRATE_H

/*
 * mdm-worker --migrate: brings the key layout of a deployment to this
 * build's (docs/redis-schema.md, "Key layout version"), then exits. Run it
 * with the processes of the old build stopped.
 */

#include "config.h"

/* 0 when Redis holds this build's layout afterwards, else 1 (said why). */
int wk_migrate(const wk_config_t *cf);

#endif
