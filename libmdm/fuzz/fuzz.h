#ifndef MDM_FUZZ_H
#define MDM_FUZZ_H

/*
 * What every libFuzzer target here checks beyond "no sanitizer report":
 * an error message is a non-empty NUL-terminated string in its buffer.
 * docs/fuzzing.md lists the targets and how to add one.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


#define fuzz_assert(cond)  do { if (!(cond)) abort(); } while (0)


static inline void
fuzz_check_msg(const char *msg, size_t size)
{
    fuzz_assert(memchr(msg, '\0', size) != NULL && msg[0] != '\0');
}


#endif
