#include <stdarg.h>
#include <stdio.h>

#include "mdm_keys.h"


static size_t
mdm_key_format(char *buf, const char *fmt, ...)
{
    int      n;
    va_list  ap;

    va_start(ap, fmt);
    n = vsnprintf(buf, MDM_KEY_MAX, fmt, ap);
    va_end(ap);

    /* IDs are bounded by mdm_id_check(), so this only guards misuse */
    return (n < 0 || n >= MDM_KEY_MAX) ? 0 : (size_t) n;
}


size_t
mdm_key_enrollment(char *buf, const char *id)
{
    return mdm_key_format(buf, "mdm:{%s}:enr", id);
}


size_t
mdm_key_auth(char *buf, const char *id)
{
    return mdm_key_format(buf, "mdm:{%s}:auth", id);
}


size_t
mdm_key_queue(char *buf, const char *id)
{
    return mdm_key_format(buf, "mdm:{%s}:q", id);
}


size_t
mdm_key_notnow(char *buf, const char *id)
{
    return mdm_key_format(buf, "mdm:{%s}:nn", id);
}


size_t
mdm_key_users(char *buf, const char *id)
{
    return mdm_key_format(buf, "mdm:{%s}:users", id);
}


size_t
mdm_key_result(char *buf, const char *id, const char *uuid)
{
    return mdm_key_format(buf, "mdm:{%s}:r:%s", id, uuid);
}


size_t
mdm_key_command(char *buf, const char *uuid)
{
    return mdm_key_format(buf, MDM_KEY_CMD_PREFIX "{%s}", uuid);
}


size_t
mdm_key_command_ids(char *buf, const char *uuid)
{
    return mdm_key_format(buf, MDM_KEY_CMD_PREFIX "{%s}:ids", uuid);
}


size_t
mdm_key_cert(char *buf, const char *sha256_hex)
{
    return mdm_key_format(buf, "mdm:cert:%s", sha256_hex);
}


size_t
mdm_key_pushcert(char *buf, const char *topic)
{
    return mdm_key_format(buf, MDM_KEY_PUSHCERT "%s", topic);
}


size_t
mdm_key_enroll_link(char *buf, const char *token)
{
    return mdm_key_format(buf, "mdm:enroll:link:{%s}", token);
}


size_t
mdm_key_scep_challenge(char *buf, const char *challenge)
{
    return mdm_key_format(buf, "mdm:scep:chal:{%s}", challenge);
}


size_t
mdm_key_enroll_ota(char *buf, const char *challenge)
{
    return mdm_key_format(buf, "mdm:enroll:ota:{%s}", challenge);
}


size_t
mdm_key_enroll_dev(char *buf, const char *serial)
{
    return mdm_key_format(buf, "mdm:enroll:dev:{%s}", serial);
}


size_t
mdm_key_enroll_known(char *buf, const char *serial)
{
    return mdm_key_format(buf, "mdm:enroll:known:{%s}", serial);
}


size_t
mdm_key_ca_cert(char *buf, const char *sha256_hex)
{
    return mdm_key_format(buf, "mdm:ca:cert:{%s}", sha256_hex);
}


size_t
mdm_key_ca_serial(char *buf, const char *serial_hex)
{
    return mdm_key_format(buf, "mdm:ca:serial:{%s}", serial_hex);
}
