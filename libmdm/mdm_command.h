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

#include <jansson.h>

#include "mdm_buf.h"
#include "mdm_plist.h"

typedef struct mdm_command_s  mdm_command_t;

/* Builds the XML command plist from a JSON command; cmd owns the results. */
int mdm_command_from_json(const char *json, size_t len, mdm_command_t *cmd,
    mdm_err_t *err);

/* The same from a JSON object the caller parsed already. Its "ids" (whom
 * to send the command to, not part of it) are taken out of root and handed
 * to the caller in *ids (NULL when absent; the caller releases them). The
 * strings in cmd come from a; with a NULL, cmd owns them as above. */
int mdm_command_build(json_t *root, const mdm_alloc_t *a, mdm_command_t *cmd,
    json_t **ids, mdm_err_t *err);

/* Checks a raw command plist for CommandUUID and Command.RequestType only. */
int mdm_command_check_plist(const char *body, size_t len,
    mdm_command_t *cmd, mdm_err_t *err);

/* As mdm_command_check_plist, and validates the payload keys as well. */
int mdm_command_validate_plist(const char *body, size_t len,
    mdm_command_t *cmd, mdm_err_t *err);

/* Frees the strings in cmd (none of a caller's allocator) and zeroes it;
 * cmd itself is the caller's. */
void mdm_command_free(mdm_command_t *cmd);

/* Longest CommandUUID accepted, in bytes (Apple only asks for unique). */
#define MDM_COMMAND_UUID_MAX     128

struct mdm_command_s {
    char                *uuid;           /* CommandUUID */
    char                *request_type;   /* RequestType */
    char                *plist;          /* built only: XML, NUL-terminated */
    size_t               plist_len;
    const mdm_alloc_t   *alloc;          /* of the strings; NULL: malloc */
};

#endif
