/*
 * libFuzzer target for the device-message decoders: every input goes
 * through the check-in and the report decoder. Built apart from the main
 * tree, from the repository root:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilibmdm libmdm/fuzz/fuzz_checkin.c libmdm/mdm_plist.c libmdm/mdm_enrollment.c libmdm/mdm_checkin.c libmdm/mdm_report.c $(pkg-config --libs libplist-2.0) -o build/fuzz_checkin
 *   build/fuzz_checkin -dict=libmdm/fuzz/plist.dict -max_total_time=120 CORPUS_DIR ../shared/fixtures/devices
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mdm_checkin.h"
#include "mdm_report.h"


#define FUZZ_MAX_BODY  (256 * 1024)


/* What every accepted message must satisfy, whatever the input was. */
static void
fuzz_check_enrollment(const mdm_enrollment_t *enr)
{
    size_t  len;

    len = strlen(enr->id);

    if (len == 0 || len > MDM_ENROLLMENT_ID_MAX
        || strpbrk(enr->id, "{}") != NULL
        || (enr->parent[0] != '\0'
            && strncmp(enr->id, enr->parent, strlen(enr->parent)) != 0))
    {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mdm_err_t      err;
    mdm_report_t   rep;
    mdm_checkin_t  ci;

    if (mdm_checkin_decode((const char *) data, size, FUZZ_MAX_BODY, &ci,
                           &err) == MDM_OK)
    {
        if (ci.type == MDM_CHECKIN_UNKNOWN || ci.message_type == NULL) {
            abort();
        }

        fuzz_check_enrollment(&ci.enrollment);
        mdm_checkin_free(&ci);

    } else if (memchr(err.msg, '\0', sizeof(err.msg)) == NULL
               || err.msg[0] == '\0')
    {
        abort();
    }

    if (mdm_report_decode((const char *) data, size, FUZZ_MAX_BODY, &rep,
                          &err) == MDM_OK)
    {
        if (rep.status == MDM_STATUS_UNKNOWN
            || (rep.command_uuid == NULL && rep.status != MDM_STATUS_IDLE))
        {
            abort();
        }

        fuzz_check_enrollment(&rep.enrollment);
        mdm_report_free(&rep);
    }

    return 0;
}
