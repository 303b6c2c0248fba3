/*
 * libFuzzer target for the Apps and Books readers (libmdm/vpp/): the first
 * byte picks the .vpptoken parser, a Management API reply (read with every
 * typed reader, as the worker does) or a notification envelope. A refusal
 * must come with a message; what is accepted as an identifier must be one.
 */

#include "fuzz.h"
#include "vpp/mdm_vpp_reply.h"
#include "vpp/mdm_vpp_token.h"


static void
each(json_t *root, const char *key, int kind)
{
    json_t                *arr;
    mdm_err_t              err;
    mdm_vpp_asset_t        a;
    mdm_vpp_assignment_t   as;
    mdm_vpp_user_t         u;
    mdm_vpp_failure_t      f;
    size_t                 i, j;
    int                    rc = MDM_OK;

    if (mdm_vpp_items(root, key, &arr, &err) == MDM_ERROR) {
        fuzz_check_msg(err.msg, sizeof(err.msg));
        return;
    }
    for (i = 0; i < json_array_size(arr); i++) {
        json_t *item = json_array_get(arr, i);

        switch (kind) {
        case 0:
            rc = mdm_vpp_asset_of(item, &a, &err);
            fuzz_assert(rc != MDM_OK || mdm_vpp_adam_id_ok(a.adam_id));
            break;
        case 1:
            rc = mdm_vpp_assignment_of(item, &as, &err);
            fuzz_assert(rc != MDM_OK || (as.serial == NULL) != (as.client_user_id == NULL));
            fuzz_assert(rc != MDM_OK || mdm_vpp_id_ok(as.serial ? as.serial : as.client_user_id));
            break;
        case 2:
            rc = mdm_vpp_user_of(item, &u, &err);
            fuzz_assert(rc != MDM_OK || mdm_vpp_id_ok(u.client_user_id));
            break;
        default:
            rc = mdm_vpp_failure_of(item, &f, &err);
            for (j = 0; rc == MDM_OK && j < json_array_size(f.serials); j++) {
                const char *s = mdm_vpp_id_at(f.serials, j);
                fuzz_assert(s == NULL || mdm_vpp_id_ok(s));
            }
        }
        if (rc != MDM_OK) {
            fuzz_check_msg(err.msg, sizeof(err.msg));
        }
    }
}


static void
reply(const char *p, size_t n)
{
    mdm_vpp_reply_t          r;
    mdm_vpp_status_t         s;
    mdm_vpp_client_config_t  c;
    mdm_vpp_limits_t         l;
    mdm_err_t                err;

    if (mdm_vpp_reply_parse(p, n, &r, &err) != MDM_OK) {
        fuzz_check_msg(err.msg, sizeof(err.msg));
        return;
    }
    fuzz_assert(r.event_id == NULL || mdm_vpp_id_ok(r.event_id));
    each(r.root, "assets", 0);
    each(r.root, "assignments", 1);
    each(r.root, "users", 2);
    each(r.root, "failures", 3);
    if (mdm_vpp_status_of(&r, &s, &err) != MDM_OK
        || mdm_vpp_client_config_of(&r, &c, &err) != MDM_OK)
    {
        fuzz_check_msg(err.msg, sizeof(err.msg));
    }
    if (mdm_vpp_limits_of(&r, &l, &err) == MDM_OK) {
        fuzz_assert(l.max_assets >= 1 && l.max_serials >= 1);
    } else {
        fuzz_check_msg(err.msg, sizeof(err.msg));
    }
    mdm_vpp_reply_free(&r);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char              *p = (const char *) data + 1;
    mdm_vpp_token_t          t;
    mdm_vpp_notification_t   n;
    mdm_err_t                err;

    if (size == 0) {
        return 0;
    }
    switch (data[0] % 3) {
    case 0:
        if (mdm_vpp_token_parse(p, size - 1, &t, &err) == MDM_OK) {
            fuzz_assert(t.token[0] && t.org_name[0] && t.expires >= INT64_MIN / 2);
            mdm_vpp_token_free(&t);
        } else {
            fuzz_check_msg(err.msg, sizeof(err.msg));
        }
        break;
    case 1:
        reply(p, size - 1);
        break;
    default:
        if (mdm_vpp_notification_parse(p, size - 1, &n, &err) == MDM_OK) {
            fuzz_assert(mdm_vpp_id_ok(n.id) && json_is_object(n.body));
            mdm_vpp_notification_free(&n);
        } else {
            fuzz_check_msg(err.msg, sizeof(err.msg));
        }
    }
    return 0;
}
