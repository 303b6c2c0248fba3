#include <string.h>

#include "mdm_report.h"


static const struct {
    mdm_status_e   status;
    const char    *name;
} mdm_statuses[] = {
    { MDM_STATUS_IDLE, "Idle" },
    { MDM_STATUS_ACKNOWLEDGED, "Acknowledged" },
    { MDM_STATUS_ERROR, "Error" },
    { MDM_STATUS_COMMAND_FORMAT_ERROR, "CommandFormatError" },
    { MDM_STATUS_NOT_NOW, "NotNow" },
};

#define MDM_NSTATUSES  (sizeof(mdm_statuses) / sizeof(mdm_statuses[0]))


static int mdm_report_read(mdm_report_t *rep, mdm_err_t *err);
static int mdm_report_status(mdm_report_t *rep, mdm_err_t *err);


int
mdm_report_decode(const char *body, size_t len, size_t max_len,
    mdm_report_t *rep, mdm_err_t *err)
{
    memset(rep, 0, sizeof(mdm_report_t));

    if (mdm_plist_parse(body, len, max_len, &rep->root, err) != MDM_OK) {
        return MDM_ERROR;
    }

    if (mdm_report_read(rep, err) != MDM_OK) {
        mdm_report_free(rep);
        return MDM_ERROR;
    }

    return MDM_OK;
}


static int
mdm_report_read(mdm_report_t *rep, mdm_err_t *err)
{
    int  rc;

    if (mdm_report_status(rep, err) != MDM_OK
        || mdm_enrollment_keys_read(rep->root, &rep->id_keys, err) != MDM_OK
        || mdm_enrollment_resolve(&rep->id_keys, &rep->enrollment, err)
           != MDM_OK)
    {
        return MDM_ERROR;
    }

    /* undocumented, so only a hint: ignored unless it is a string */
    if (mdm_plist_get_string(rep->root, "RequestType", &rep->request_type,
                             err) != MDM_OK)
    {
        rep->request_type = NULL;
    }

    rc = mdm_plist_get_string(rep->root, "CommandUUID", &rep->command_uuid,
                              err);

    if (rc == MDM_ERROR) {
        return MDM_ERROR;
    }

    if (rc == MDM_ABSENT && rep->status != MDM_STATUS_IDLE) {
        return mdm_err_as(err, MDM_REFUSED_MISSING_KEY,
                          "missing required key CommandUUID");
    }

    /* the UUID names Redis keys, with braces as a hash tag */
    if (rc == MDM_OK
        && mdm_id_check("CommandUUID", rep->command_uuid, err) != MDM_OK)
    {
        return MDM_ERROR;
    }

    /*
     * An Error report without ErrorChain is still taken: refusing it would
     * make the device resend the same result forever (§3.3).
     */
    return mdm_plist_get_array(rep->root, "ErrorChain", &rep->error_chain,
                               err) == MDM_ERROR ? MDM_ERROR : MDM_OK;
}


static int
mdm_report_status(mdm_report_t *rep, mdm_err_t *err)
{
    int     rc;
    size_t  i;

    rc = mdm_plist_get_string(rep->root, "Status", &rep->status_name, err);

    if (rc == MDM_ABSENT) {
        return mdm_err_as(err, MDM_REFUSED_MISSING_KEY,
                          "missing required key Status");
    }

    if (rc != MDM_OK) {
        return MDM_ERROR;
    }

    for (i = 0; i < MDM_NSTATUSES; i++) {
        if (strcmp(rep->status_name, mdm_statuses[i].name) == 0) {
            rep->status = mdm_statuses[i].status;
            return MDM_OK;
        }
    }

    return mdm_err_as(err, MDM_REFUSED_UNKNOWN_TYPE, "unknown Status \"%.64s\"",
                      rep->status_name);
}


void
mdm_report_free(mdm_report_t *rep)
{
    if (rep->root != NULL) {
        plist_free(rep->root);
    }

    memset(rep, 0, sizeof(mdm_report_t));
}


const char *
mdm_status_name(mdm_status_e status)
{
    size_t  i;

    for (i = 0; i < MDM_NSTATUSES; i++) {
        if (mdm_statuses[i].status == status) {
            return mdm_statuses[i].name;
        }
    }

    return "unknown";
}
