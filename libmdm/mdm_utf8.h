#ifndef MDM_UTF8_H
#define MDM_UTF8_H

/*
 * UTF-8 checks for text that ends up in JSON (API answers, webhooks), which
 * must be valid UTF-8.
 */

/* 1 when the NUL-terminated s is well-formed UTF-8, else 0. */
int mdm_utf8_valid(const char *s);

/* Replaces, in place, every byte that does not start a well-formed
 * sequence with '?'. */
void mdm_utf8_sanitize(char *s);

#endif
