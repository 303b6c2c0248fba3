/*
 * InstallProfile and RemoveProfile as a device receives them (AP
 * mdm/commands/profile.install.yaml, profile.remove.yaml): built with
 * libplist, so the profile's bytes go into <data> as they are.
 */

#include <stdlib.h>
#include <string.h>

#include "profile/mdm_profile.h"


static int mdm_profile_command(const char *uuid, plist_t command,
    mdm_buf_t *out);


int
mdm_profile_install_command(const char *uuid, const unsigned char *payload,
    size_t len, mdm_buf_t *out)
{
    plist_t  cmd;

    cmd = plist_new_dict();
    if (cmd == NULL) {
        return -1;
    }

    plist_dict_set_item(cmd, "RequestType", plist_new_string("InstallProfile"));
    plist_dict_set_item(cmd, "Payload",
                        plist_new_data((const char *) payload, len));

    return mdm_profile_command(uuid, cmd, out);
}


int
mdm_profile_remove_command(const char *uuid, const char *identifier,
    mdm_buf_t *out)
{
    plist_t  cmd;

    cmd = plist_new_dict();
    if (cmd == NULL) {
        return -1;
    }

    plist_dict_set_item(cmd, "RequestType", plist_new_string("RemoveProfile"));
    plist_dict_set_item(cmd, "Identifier", plist_new_string(identifier));

    return mdm_profile_command(uuid, cmd, out);
}


/* {CommandUUID, Command}: takes command */
static int
mdm_profile_command(const char *uuid, plist_t command, mdm_buf_t *out)
{
    int       rc;
    char     *xml;
    plist_t   top;
    uint32_t  len;

    memset(out, 0, sizeof(*out));
    top = plist_new_dict();

    if (top == NULL) {
        plist_free(command);
        return -1;
    }

    plist_dict_set_item(top, "CommandUUID", plist_new_string(uuid));
    plist_dict_set_item(top, "Command", command);

    xml = NULL;
    len = 0;
    plist_to_xml(top, &xml, &len);
    plist_free(top);

    if (xml == NULL) {
        return -1;
    }

    rc = mdm_buf_set(NULL, out, xml, len);
    free(xml);

    return rc;
}
