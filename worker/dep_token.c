#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "dep_token.h"


static char *
read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s", path);
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n > max) {
        snprintf(err, errlen, "%s is over %zu bytes", path, max);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}


static int
name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > WK_DEP_NAME_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char) s[i]) && !strchr("._-", s[i])) {
            return 0;
        }
    }
    return 1;
}


int
wk_dep_token_load(const char *line, wk_dep_token_t *t, char *err,
                  size_t errlen)
{
    char name[WK_DEP_NAME_MAX + 2], p7m_path[512], key_path[512];
    char *p7m = NULL, *keypem = NULL;
    size_t p7m_len = 0, key_len = 0;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    mdm_err_t e;
    int rc = -1;

    memset(t, 0, sizeof(*t));
    if (sscanf(line, "%65s %511s %511s", name, p7m_path, key_path) != 3) {
        snprintf(err, errlen, "dep_token: expected <name> <p7m file> "
                 "<key file>");
        return -1;
    }
    if (!name_ok(name)) {
        snprintf(err, errlen, "dep_token %.65s: a name is 1 to %d of "
                 "A-Z a-z 0-9 . _ -", name, WK_DEP_NAME_MAX);
        return -1;
    }
    memcpy(t->name, name, strlen(name) + 1);

    char why[600];
    p7m = read_file(p7m_path, MDM_DEP_TOKEN_MAX, &p7m_len, why, sizeof(why));
    keypem = p7m ? read_file(key_path, 64 * 1024, &key_len, why, sizeof(why))
                 : NULL;
    if (keypem == NULL) {
        snprintf(err, errlen, "dep_token %s: %s", name, why);
        goto done;
    }
    BIO *b = BIO_new_mem_buf(keypem, (int) key_len);
    key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    b = BIO_new_mem_buf(keypem, (int) key_len);
    cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;   /* optional */
    BIO_free(b);
    ERR_clear_error();
    if (key == NULL) {
        snprintf(err, errlen, "dep_token %s: %s holds no PEM private key",
                 name, key_path);
        goto done;
    }
    if (mdm_dep_token_decrypt(p7m, p7m_len, key, cert, &t->tok, &e)
        != MDM_OK)
    {
        snprintf(err, errlen, "dep_token %s: %s: %s", name, p7m_path, e.msg);
        goto done;
    }
    rc = 0;

done:
    if (keypem) {
        OPENSSL_cleanse(keypem, key_len);
    }
    free(keypem);
    free(p7m);
    EVP_PKEY_free(key);
    X509_free(cert);
    return rc;
}
