/*
 * libFuzzer target for the API's command bodies: the JSON command builder
 * (POST /v1/commands) and the raw plist checks (POST /v1/enqueue). A
 * command the builder accepts must pass the plist checks it is stored
 * under, with the same CommandUUID and RequestType.
 */

#include "fuzz.h"
#include "mdm_command.h"


static void
fuzz_plist(const char *data, size_t size)
{
    mdm_err_t      err;
    mdm_command_t  cmd;

    if (mdm_command_check_plist(data, size, &cmd, &err) == MDM_OK) {
        fuzz_assert(cmd.uuid != NULL && cmd.request_type != NULL);
        mdm_command_free(&cmd);

    } else {
        fuzz_check_msg(err.msg, sizeof(err.msg));
    }

    if (mdm_command_validate_plist(data, size, &cmd, &err) == MDM_OK) {
        fuzz_assert(cmd.uuid != NULL && cmd.request_type != NULL);
        mdm_command_free(&cmd);

    } else {
        fuzz_check_msg(err.msg, sizeof(err.msg));
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mdm_err_t      err;
    mdm_command_t  cmd, back;

    fuzz_plist((const char *) data, size);

    if (mdm_command_from_json((const char *) data, size, &cmd, &err)
        != MDM_OK)
    {
        fuzz_check_msg(err.msg, sizeof(err.msg));
        return 0;
    }

    fuzz_assert(cmd.uuid != NULL && cmd.request_type != NULL
                && cmd.plist != NULL && cmd.plist[cmd.plist_len] == '\0');

    fuzz_assert(mdm_command_check_plist(cmd.plist, cmd.plist_len, &back,
                                        &err) == MDM_OK);
    fuzz_assert(strcmp(back.uuid, cmd.uuid) == 0
                && strcmp(back.request_type, cmd.request_type) == 0);
    mdm_command_free(&back);

    mdm_command_free(&cmd);
    return 0;
}
