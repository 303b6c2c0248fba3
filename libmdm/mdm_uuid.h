#ifndef MDM_UUID_H
#define MDM_UUID_H

/* 36 characters and the NUL */
#define MDM_UUID_LEN  37

/* A random (version 4) UUID in upper case, as Apple's examples write it;
 * 0, or -1 when the random generator fails. */
int mdm_uuid_generate(char *out);

#endif
