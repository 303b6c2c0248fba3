/*
 * libFuzzer target for the small readers of device-chosen strings in
 * enrollment (libmdm/enroll/): the first byte picks one, the rest is its
 * input.
 *
 *   'A': Setup Assistant's Accept, NUL, Content-Type -> the ADE error
 *        document's format (mdm_ade_error_format): JSON or plist;
 *   'V': two OS versions from MachineInfo, NUL-separated, compared as
 *        mdm_enroll_ade_min_os does (mdm_machineinfo_version_cmp): a
 *        version equals itself, and a < b exactly when b > a;
 *   'F': a MachineInfo PRODUCT -> its family (mdm_machineinfo_family):
 *        the leading letters, terminated in the buffer;
 *   other: an API path or enrollment-link segment -> the ID and challenge
 *        checks (mdm_machineinfo_id_valid, mdm_enroll_challenge_valid):
 *        what they accept is of their alphabet and length.
 */

#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "enroll/mdm_ade_error.h"
#include "enroll/mdm_enroll_profile.h"
#include "enroll/mdm_machineinfo.h"


#define FUZZ_FIELD_MAX  1024

static int
fuzz_sign(int v)
{
    return (v > 0) - (v < 0);
}


static void
fuzz_versions(const char *a, const char *b)
{
    fuzz_assert(mdm_machineinfo_version_cmp(a, a) == 0);
    fuzz_assert(mdm_machineinfo_version_cmp(b, b) == 0);
    fuzz_assert(fuzz_sign(mdm_machineinfo_version_cmp(a, b))
                == -fuzz_sign(mdm_machineinfo_version_cmp(b, a)));
}


static void
fuzz_family(const char *product)
{
    char    out[32];
    size_t  n, i;

    n = mdm_machineinfo_family(product, out, sizeof(out));
    fuzz_assert(n < sizeof(out) && strlen(out) == n);
    fuzz_assert(strncmp(out, product, n) == 0);
    for (i = 0; i < n; i++) {
        fuzz_assert(isalpha((unsigned char) out[i]));
    }
}


static void
fuzz_ids(const char *s, size_t len)
{
    size_t  i;

    if (mdm_machineinfo_id_valid(s, len)) {
        fuzz_assert(len >= 1 && len <= MDM_MACHINEINFO_STR_MAX);
        for (i = 0; i < len; i++) {
            fuzz_assert(isalnum((unsigned char) s[i]) || s[i] == '-');
        }
    }

    if (mdm_enroll_challenge_valid(s, len)) {
        fuzz_assert(len == MDM_ENROLL_CHALLENGE_LEN - 1);
        fuzz_assert(memchr(s, '{', len) == NULL
                    && memchr(s, '}', len) == NULL);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           buf[FUZZ_FIELD_MAX + 2];
    size_t         n, first;
    mdm_ade_fmt_e  fmt;

    if (size < 1) {
        return 0;
    }

    /* the input as C strings: a NUL after it and after its first part */
    n = size - 1 < FUZZ_FIELD_MAX ? size - 1 : FUZZ_FIELD_MAX;
    memcpy(buf, data + 1, n);
    buf[n] = buf[n + 1] = '\0';
    first = strlen(buf);

    switch (data[0]) {
    case 'A':
        fmt = mdm_ade_error_format(buf, first, buf + first + 1,
                                   first < n ? n - first - 1 : 0);
        fuzz_assert(fmt == MDM_ADE_FMT_JSON || fmt == MDM_ADE_FMT_PLIST);
        fmt = mdm_ade_error_format(NULL, 0, buf, first);
        fuzz_assert(fmt == MDM_ADE_FMT_JSON || fmt == MDM_ADE_FMT_PLIST);
        break;
    case 'V':
        fuzz_versions(buf, buf + first + (first < n ? 1 : 0));
        break;
    case 'F':
        fuzz_family(buf);
        break;
    default:
        fuzz_ids((const char *) data + 1, size - 1);
        break;
    }

    return 0;
}
