#ifndef MDMSIM_OTA_H
#define MDMSIM_OTA_H

/*
 * enroll --ota: Apple's OTA profile service as a device runs it
 * (docs/enrollment.md, "OTA profile service"). Phase 1's verified profile
 * service is in *xml; phase 2 POSTs the device attributes signed by the
 * "Apple device" identity (--ota PEM) and gets a SCEP profile, enrolls by
 * SCEP; phase 3 POSTs the attributes signed by that identity and gets the
 * enrollment profile, whose verified content replaces *xml.
 */

#include "mdmsim.h"
#include "profile.h"

int mdmsim_ota_phases(const struct mdmsim_opts *opts,
    struct mdmsim_device *dev, mdm_buf_t *xml, char *err,
    size_t errlen);

#endif
