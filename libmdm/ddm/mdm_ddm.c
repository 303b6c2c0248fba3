/*
 * What the DDM files share: kind names and the path-and-rule error.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mdm_plist.h"
#include "mdm_utf8.h"
#include "ddm/mdm_ddm.h"


static const char *const  mdm_ddm_kind_names[MDM_DDM_NKINDS] = {
    "activation", "asset", "configuration", "management"
};

static const char *const  mdm_ddm_kind_manifests[MDM_DDM_NKINDS] = {
    "Activations", "Assets", "Configurations", "Management"
};

static const char *const  mdm_ddm_kind_statuses[MDM_DDM_NKINDS] = {
    "activations", "assets", "configurations", "management"
};


const char *
mdm_ddm_kind_name(mdm_ddm_kind_e kind)
{
    return (unsigned) kind < MDM_DDM_NKINDS ? mdm_ddm_kind_names[kind] : "";
}


const char *
mdm_ddm_kind_manifest(mdm_ddm_kind_e kind)
{
    return (unsigned) kind < MDM_DDM_NKINDS ? mdm_ddm_kind_manifests[kind]
                                            : "";
}


const char *
mdm_ddm_kind_status(mdm_ddm_kind_e kind)
{
    return (unsigned) kind < MDM_DDM_NKINDS ? mdm_ddm_kind_statuses[kind]
                                            : "";
}


mdm_ddm_kind_e
mdm_ddm_kind_of_type(const char *type)
{
    size_t       len;
    const char  *word, *dot;

    if (strncmp(type, "com.apple.", 10) != 0) {
        return MDM_DDM_NKINDS;
    }

    word = type + 10;
    dot = strchr(word, '.');

    /* "com.apple.configuration" alone names no declaration */
    if (dot == NULL || dot[1] == '\0') {
        return MDM_DDM_NKINDS;
    }

    len = (size_t) (dot - word);

    return mdm_ddm_kind_from_name(word, len);
}


mdm_ddm_kind_e
mdm_ddm_kind_from_name(const char *name, size_t len)
{
    int  k;

    for (k = 0; k < MDM_DDM_NKINDS; k++) {
        if (strlen(mdm_ddm_kind_names[k]) == len
            && memcmp(mdm_ddm_kind_names[k], name, len) == 0)
        {
            return (mdm_ddm_kind_e) k;
        }
    }

    return MDM_DDM_NKINDS;
}


int
mdm_ddm_id_valid(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > MDM_DDM_ID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        /* a brace would end the Redis hash tag of the catalogue key
         * (mdm:ddm:decl:{<id>}) early: its keys would change slot */
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f
            || s[i] == '{' || s[i] == '}')
        {
            return 0;
        }
    }

    return 1;
}


int
mdm_ddm_fail(mdm_ddm_error_t *err, const char *rule, const char *path,
    const char *fmt, ...)
{
    va_list  ap;

    err->rule = rule;
    snprintf(err->path, sizeof(err->path), "%s", path);
    mdm_utf8_sanitize(err->path);

    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    /* messages quote the caller's bytes and may be cut inside a character;
     * they go into JSON */
    mdm_utf8_sanitize(err->msg);

    return MDM_ERROR;
}


json_t *
mdm_ddm_error_json(const mdm_ddm_error_t *err)
{
    return json_pack("{s:s, s:s, s:s}", "error", err->msg,
                     "rule", err->rule != NULL ? err->rule : "",
                     "path", err->path);
}
