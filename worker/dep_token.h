#ifndef WK_DEP_TOKEN_H
#define WK_DEP_TOKEN_H

/*
 * A Device Assignment server token as the worker's configuration names it:
 * `dep_token = <name> <p7m file> <key file>` (the .p7m downloaded from
 * Apple Business/School Manager and the token PKI's private key, PEM, with
 * or without its certificate). Read and decrypted at start; a bad file is
 * one clear error and that token is not used, nothing of it is stored.
 */

#include "dep/mdm_dep_seal.h"
#include "dep/mdm_dep_token.h"

#define WK_DEP_NAME_MAX 64

typedef struct {
    char             name[WK_DEP_NAME_MAX + 1];
    mdm_dep_token_t  tok;
} wk_dep_token_t;

/* Parses the line and decrypts the files; 0, or -1 with err. A name is
 * 1..64 of [A-Za-z0-9._-] (it is a Redis hash tag). */
int wk_dep_token_load(const char *line, wk_dep_token_t *t, char *err,
                      size_t errlen);

#endif
