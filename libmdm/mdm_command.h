#ifndef MDM_COMMAND_H
#define MDM_COMMAND_H

/*
 * MDM commands as the API receives them: either a JSON object checked
 * against the schema generated from Apple's YAML (mdm_command_schema.h)
 * and turned into the command plist, or a ready-made plist (the NanoMDM
 * enqueue path). docs/commands.md describes the mapping and the messages.
 *
 * Every function returns MDM_OK, or MDM_ERROR with err->msg saying why in
 * valid UTF-8, fit for {"error": "..."}; messages name the offending key by
 * its path in Command, e.g. "Settings[0].Item". On error cmd is zeroed.
 */

#include <stddef.h>

#include "mdm_plist.h"

typedef struct mdm_command_s  mdm_command_t;

/* Builds the XML command plist from a JSON command; cmd owns the results. */
int mdm_command_from_json(const char *json, size_t len, mdm_command_t *cmd,
    mdm_err_t *err);

/* Checks a raw command plist for CommandUUID and Command.RequestType only. */
int mdm_command_check_plist(const char *body, size_t len,
    mdm_command_t *cmd, mdm_err_t *err);

/* As mdm_command_check_plist, and validates the payload keys as well. */
int mdm_command_validate_plist(const char *body, size_t len,
    mdm_command_t *cmd, mdm_err_t *err);

/* Frees the strings in cmd and zeroes it; cmd itself is the caller's. */
void mdm_command_free(mdm_command_t *cmd);

/* Longest CommandUUID accepted, in bytes (Apple only asks for unique). */
#define MDM_COMMAND_UUID_MAX     128

struct mdm_command_s {
    char       *uuid;           /* CommandUUID, malloc'd */
    char       *request_type;   /* RequestType, malloc'd */
    char       *plist;          /* from_json only: XML, NUL-terminated */
    size_t      plist_len;
};

#endif
