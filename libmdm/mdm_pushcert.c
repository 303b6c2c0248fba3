#ifndef _GNU_SOURCE
#define _GNU_SOURCE            /* memmem(), timegm() */
#endif

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "mdm_pushcert.h"


/* Certificates beyond the push certificate itself: its chain, if sent. */
#define PC_MAX_CERTS  8


typedef struct {
    X509      *certs[PC_MAX_CERTS];
    int        ncerts;
    EVP_PKEY  *key;
} pc_parts_t;


static char *pc_unglue(const char *body, size_t len, size_t *out_len);
static int pc_read(BIO *in, pc_parts_t *parts, mdm_err_t *err);
static int pc_block(const char *name, const char *header,
    const unsigned char *data, long len, pc_parts_t *parts, mdm_err_t *err);
static EVP_PKEY *pc_key(const char *name, const char *header,
    const unsigned char *data, long len);
static int pc_no_password(char *buf, int size, int rwflag, void *u);
static int pc_leaf_first(pc_parts_t *parts, mdm_err_t *err);
static int pc_topic(X509 *x, mdm_pushcert_t *pc, mdm_err_t *err);
static int pc_pem(pc_parts_t *parts, mdm_pushcert_t *pc, mdm_err_t *err);
static char *pc_bio_string(BIO *b, size_t *len);


int
mdm_pushcert_parse(const char *body, size_t len, int64_t now,
    mdm_pushcert_t *pc, mdm_err_t *err)
{
    int          i, rc;
    BIO         *in;
    char        *unglued;
    size_t       n;
    struct tm    tm;
    pc_parts_t   parts;

    memset(pc, 0, sizeof(mdm_pushcert_t));
    memset(&parts, 0, sizeof(pc_parts_t));

    if (len == 0) {
        return mdm_err(err, "no PEM certificate in body");
    }

    if (len > INT_MAX / 2) {
        return mdm_err(err, "body is too large");
    }

    unglued = pc_unglue(body, len, &n);
    in = unglued ? BIO_new_mem_buf(unglued, (int) n)
                 : BIO_new_mem_buf(body, (int) len);

    rc = MDM_ERROR;

    if (in == NULL) {
        mdm_err(err, "out of memory");
        goto done;
    }

    if (pc_read(in, &parts, err) != MDM_OK
        || pc_leaf_first(&parts, err) != MDM_OK
        || pc_topic(parts.certs[0], pc, err) != MDM_OK)
    {
        goto done;
    }

    if (ASN1_TIME_to_tm(X509_get0_notAfter(parts.certs[0]), &tm) != 1) {
        mdm_err(err, "push certificate has an unreadable notAfter");
        goto done;
    }

    pc->not_after = (int64_t) timegm(&tm);
    mdm_pushcert_time_text(pc->not_after, pc->not_after_text);

    if (pc->not_after <= now) {
        mdm_err(err, "push certificate expired at %s", pc->not_after_text);
        goto done;
    }

    rc = pc_pem(&parts, pc, err);

done:

    for (i = 0; i < parts.ncerts; i++) {
        X509_free(parts.certs[i]);
    }

    EVP_PKEY_free(parts.key);
    BIO_free(in);
    free(unglued);

    if (rc != MDM_OK) {
        mdm_pushcert_free(pc);
    }

    /* nothing of this parse may linger in the thread's error queue */
    ERR_clear_error();

    return rc;
}


void
mdm_pushcert_free(mdm_pushcert_t *pc)
{
    if (pc->key_pem != NULL) {
        OPENSSL_cleanse(pc->key_pem, pc->key_pem_len);
    }

    free(pc->cert_pem);
    free(pc->key_pem);
    pc->cert_pem = NULL;
    pc->key_pem = NULL;
    pc->cert_pem_len = 0;
    pc->key_pem_len = 0;
}


int
mdm_pushcert_topic_check(const char *topic, size_t len, mdm_err_t *err)
{
    size_t  i;
    size_t  plen = sizeof(MDM_PUSHCERT_TOPIC_PREFIX) - 1;

    if (len <= plen || strncmp(topic, MDM_PUSHCERT_TOPIC_PREFIX, plen) != 0) {
        return mdm_err(err, "topic must start with \"%s\"",
                       MDM_PUSHCERT_TOPIC_PREFIX);
    }

    if (len > MDM_PUSHCERT_TOPIC_MAX) {
        return mdm_err(err, "topic is longer than %d bytes",
                       MDM_PUSHCERT_TOPIC_MAX);
    }

    /* the topic names a Redis key: no hash tag braces, no spaces */
    for (i = 0; i < len; i++) {
        if (!((topic[i] >= 'a' && topic[i] <= 'z')
              || (topic[i] >= 'A' && topic[i] <= 'Z')
              || (topic[i] >= '0' && topic[i] <= '9')
              || topic[i] == '.' || topic[i] == '-' || topic[i] == '_'
              || topic[i] == ':'))
        {
            return mdm_err(err, "topic has a character other than "
                           "A-Z a-z 0-9 . - _ :");
        }
    }

    return MDM_OK;
}


void
mdm_pushcert_time_text(int64_t t, char out[MDM_PUSHCERT_TIME_LEN + 1])
{
    time_t     tt = (time_t) t;
    struct tm  tm;

    if (gmtime_r(&tt, &tm) == NULL
        || strftime(out, MDM_PUSHCERT_TIME_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm)
           != MDM_PUSHCERT_TIME_LEN)
    {
        /* years past 9999 or before 0: not a certificate anyone has */
        strcpy(out, "0000-00-00T00:00:00Z");
    }
}


/*
 * Bodies made by concatenating files without a final newline glue an END
 * line to the next BEGIN line ("-----END X----------BEGIN Y-----"), which
 * OpenSSL's PEM reader does not split. A copy with the newlines put back,
 * or NULL when the body needs none.
 */
static char *
pc_unglue(const char *body, size_t len, size_t *out_len)
{
    char    *copy;
    size_t   i, n;

    if (memmem(body, len, "----------", 10) == NULL) {
        return NULL;
    }

    /* a run of k dashes inserts k - 9 newlines: never more than len */
    copy = malloc(2 * len + 1);
    if (copy == NULL) {
        return NULL;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        copy[n++] = body[i];

        /* after the fifth of ten dashes: one line ends, the next begins */
        if (i >= 4 && i + 5 < len
            && memcmp(body + i - 4, "----------", 10) == 0)
        {
            copy[n++] = '\n';
        }
    }

    *out_len = n;

    return copy;
}


static int
pc_read(BIO *in, pc_parts_t *parts, mdm_err_t *err)
{
    int             rc;
    long            len;
    char           *name, *header;
    unsigned long   e;
    unsigned char  *data;

    for ( ;; ) {
        ERR_clear_error();

        if (PEM_read_bio(in, &name, &header, &data, &len) != 1) {
            e = ERR_peek_last_error();

            if (ERR_GET_LIB(e) == ERR_LIB_PEM
                && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
            {
                break;
            }

            return mdm_err(err, "malformed PEM block");
        }

        rc = pc_block(name, header, data, len, parts, err);

        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_clear_free(data, len);

        if (rc != MDM_OK) {
            return rc;
        }
    }

    if (parts->ncerts == 0) {
        return mdm_err(err, "no PEM certificate in body");
    }

    if (parts->key == NULL) {
        return mdm_err(err, "no PEM private key in body");
    }

    return MDM_OK;
}


static int
pc_block(const char *name, const char *header, const unsigned char *data,
    long len, pc_parts_t *parts, mdm_err_t *err)
{
    X509                 *x;
    size_t                nlen;
    const unsigned char  *p;

    if (strcmp(name, "CERTIFICATE") == 0) {
        if (parts->ncerts == PC_MAX_CERTS) {
            return mdm_err(err, "more than %d certificates in body",
                           PC_MAX_CERTS);
        }

        p = data;
        x = d2i_X509(NULL, &p, len);
        if (x == NULL || p != data + len) {
            X509_free(x);
            return mdm_err(err, "certificate %d cannot be decoded",
                           parts->ncerts + 1);
        }

        parts->certs[parts->ncerts++] = x;
        return MDM_OK;
    }

    nlen = strlen(name);

    if (nlen < sizeof("PRIVATE KEY") - 1
        || strcmp(name + nlen - (sizeof("PRIVATE KEY") - 1), "PRIVATE KEY")
           != 0)
    {
        return mdm_err(err, "unexpected PEM block \"%.40s\"", name);
    }

    if (strcmp(name, "ENCRYPTED PRIVATE KEY") == 0
        || (header != NULL && strstr(header, "ENCRYPTED") != NULL))
    {
        return mdm_err(err, "private key is encrypted: send it unencrypted");
    }

    if (parts->key != NULL) {
        return mdm_err(err, "more than one private key in body");
    }

    parts->key = pc_key(name, header, data, len);
    if (parts->key == NULL) {
        return mdm_err(err, "private key cannot be decoded");
    }

    return MDM_OK;
}


/* Any unencrypted key PEM OpenSSL knows (PKCS#8, PKCS#1, SEC1). */
static EVP_PKEY *
pc_key(const char *name, const char *header, const unsigned char *data,
    long len)
{
    BIO       *b;
    EVP_PKEY  *key;

    b = BIO_new(BIO_s_secmem());
    if (b == NULL) {
        return NULL;
    }

    key = NULL;

    if (PEM_write_bio(b, name, header, data, len) > 0) {
        key = PEM_read_bio_PrivateKey(b, NULL, pc_no_password, NULL);
    }

    BIO_free(b);

    return key;
}


static int
pc_no_password(char *buf, int size, int rwflag, void *u)
{
    (void) buf;
    (void) size;
    (void) rwflag;
    (void) u;

    return -1;
}


/* The certificate of the key goes first; the others are its chain. */
static int
pc_leaf_first(pc_parts_t *parts, mdm_err_t *err)
{
    int    i;
    X509  *leaf;

    for (i = 0; i < parts->ncerts; i++) {
        if (X509_check_private_key(parts->certs[i], parts->key) == 1) {
            break;
        }
    }

    if (i == parts->ncerts) {
        return mdm_err(err, "private key does not match the certificate");
    }

    leaf = parts->certs[i];
    memmove(&parts->certs[1], &parts->certs[0], i * sizeof(X509 *));
    parts->certs[0] = leaf;

    return MDM_OK;
}


static int
pc_topic(X509 *x, mdm_pushcert_t *pc, mdm_err_t *err)
{
    int               i, len;
    X509_NAME        *subject;
    unsigned char    *utf8;
    X509_NAME_ENTRY  *entry;

    subject = X509_get_subject_name(x);

    i = X509_NAME_get_index_by_NID(subject, NID_userId, -1);
    if (i < 0) {
        return mdm_err(err, "certificate subject has no UID (topic)");
    }

    entry = X509_NAME_get_entry(subject, i);
    len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
    if (len < 0) {
        return mdm_err(err, "certificate subject UID cannot be read");
    }

    /* the topic check refuses a NUL byte as any other odd character */
    if (mdm_pushcert_topic_check((char *) utf8, len, err) != MDM_OK) {
        OPENSSL_free(utf8);
        return MDM_ERROR;
    }

    memcpy(pc->topic, utf8, len);
    pc->topic[len] = '\0';
    OPENSSL_free(utf8);

    return MDM_OK;
}


/* The stored form: certificate then chain, and a PKCS#8 key. */
static int
pc_pem(pc_parts_t *parts, mdm_pushcert_t *pc, mdm_err_t *err)
{
    int   i, ok;
    BIO  *b;

    b = BIO_new(BIO_s_mem());
    ok = b != NULL;

    for (i = 0; ok && i < parts->ncerts; i++) {
        ok = PEM_write_bio_X509(b, parts->certs[i]) == 1;
    }

    if (ok) {
        pc->cert_pem = pc_bio_string(b, &pc->cert_pem_len);
    }

    BIO_free(b);

    b = BIO_new(BIO_s_secmem());

    if (pc->cert_pem != NULL && b != NULL
        && PEM_write_bio_PrivateKey(b, parts->key, NULL, NULL, 0, NULL, NULL)
           == 1)
    {
        pc->key_pem = pc_bio_string(b, &pc->key_pem_len);
    }

    BIO_free(b);

    if (pc->key_pem == NULL) {
        return mdm_err(err, "cannot encode the certificate and key");
    }

    return MDM_OK;
}


/* A NUL-terminated malloc'd copy of a memory BIO's contents. */
static char *
pc_bio_string(BIO *b, size_t *len)
{
    long   n;
    char  *data, *s;

    n = BIO_get_mem_data(b, &data);
    if (n <= 0) {
        return NULL;
    }

    s = malloc(n + 1);
    if (s == NULL) {
        return NULL;
    }

    memcpy(s, data, n);
    s[n] = '\0';
    *len = n;

    return s;
}
