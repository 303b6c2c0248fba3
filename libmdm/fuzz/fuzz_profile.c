/*
 * libFuzzer target for the profile validator (what an upload to
 * /v1/profiles runs): mdm_profile_parse, then, for an accepted profile,
 * the supportedOS check against each OS. Built by `make fuzz`.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "profile/mdm_profile.h"


static mdm_profile_problems_t  probs;


static void
fuzz_check_problems(const mdm_profile_problems_t *pr)
{
    size_t  i;

    fuzz_assert(pr->n <= MDM_PROFILE_PROBLEMS_MAX);
    fuzz_assert(pr->n + pr->dropped == pr->errors + pr->warnings);

    for (i = 0; i < pr->n; i++) {
        fuzz_assert(pr->items[i].rule != NULL && pr->items[i].rule[0]);
        fuzz_check_msg(pr->items[i].msg, sizeof(pr->items[i].msg));
        fuzz_assert(memchr(pr->items[i].path, '\0',
                           sizeof(pr->items[i].path)) != NULL);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   os;
    json_t               *j;
    mdm_err_t             err;
    mdm_profile_t         p;
    mdm_profile_target_t  t;

    if (mdm_profile_parse(data, size, 64 * 1024, 0, &p, &probs, &err)
        != MDM_OK)
    {
        fuzz_assert(probs.errors != 0);
        fuzz_check_msg(err.msg, sizeof(err.msg));
        fuzz_check_problems(&probs);
        fuzz_assert(p.root == NULL && p.content == NULL);
        return 0;
    }

    /* accepted: an identity a catalogue key and RemoveProfile can use */
    fuzz_assert(probs.errors == 0);
    fuzz_check_problems(&probs);
    fuzz_assert(p.identifier != NULL && p.uuid != NULL);
    fuzz_assert(strlen(p.identifier) <= MDM_PROFILE_ID_MAX
                && strchr(p.identifier, '{') == NULL
                && strchr(p.identifier, '}') == NULL);
    fuzz_assert(strlen(p.sha256) == 64);
    fuzz_assert(p.encrypted || p.payloads != NULL);

    j = mdm_profile_problems_json(&probs);
    fuzz_assert(j != NULL);
    json_decref(j);

    for (os = 0; os < MDM_OS_COUNT; os++) {
        memset(&t, 0, sizeof(t));
        t.os = (mdm_command_os_e) os;
        t.version = "1.0";
        t.user_enrollment = os & 1;
        memset(&probs, 0, sizeof(probs));
        mdm_profile_check_target(&p, &t, &probs);
        fuzz_check_problems(&probs);
    }

    mdm_profile_free(&p);

    return 0;
}
