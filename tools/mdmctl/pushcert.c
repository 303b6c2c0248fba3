/*
 * mdmctl pushcert: upload (PEM files, or a .p12 opened here with OpenSSL)
 * and show, over PUT and GET /v1/pushcert.
 */

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include "mdmctl.h"


static void
mdmctl_pushcert_table(json_t *root)
{
    printf("%-60s %s\n", "TOPIC", "NOT AFTER");
    printf("%-60s %s\n", mdmctl_str(root, "topic"),
           mdmctl_str(root, "not_after"));
}


/* The certificate and key of a .p12 as the PEM body PUT /v1/pushcert takes. */
static char *
mdmctl_p12_to_pem(const char *file, const char *password, size_t *len)
{
    PKCS12    *p12;
    EVP_PKEY  *key = NULL;
    X509      *cert = NULL;
    BIO       *in, *out;
    char      *data, *pem = NULL;
    long       n;

    in = BIO_new_file(file, "rb");
    if (in == NULL) {
        fprintf(stderr, "mdmctl: %s: cannot open\n", file);
        return NULL;
    }
    p12 = d2i_PKCS12_bio(in, NULL);
    BIO_free(in);
    if (p12 == NULL) {
        fprintf(stderr, "mdmctl: %s: not a PKCS#12 file\n", file);
        return NULL;
    }
    if (!PKCS12_parse(p12, password, &key, &cert, NULL)
        || key == NULL || cert == NULL) {
        fprintf(stderr, "mdmctl: %s: wrong password, or no certificate and "
                "key in it\n", file);
        PKCS12_free(p12);
        EVP_PKEY_free(key);
        X509_free(cert);
        ERR_clear_error();
        return NULL;
    }
    out = BIO_new(BIO_s_mem());
    if (out && PEM_write_bio_X509(out, cert)
        && PEM_write_bio_PrivateKey(out, key, NULL, NULL, 0, NULL, NULL)) {
        n = BIO_get_mem_data(out, &data);
        pem = malloc((size_t) n + 1);
        if (pem) {
            memcpy(pem, data, (size_t) n);
            pem[n] = '\0';
            *len = (size_t) n;
        }
    }
    BIO_free(out);
    PKCS12_free(p12);
    EVP_PKEY_free(key);
    X509_free(cert);
    return pem;
}


static char *
mdmctl_concat_files(const char *a, const char *b, size_t *len)
{
    char    *x, *y, *out;
    size_t   xl, yl;

    x = mdmctl_read_file(a, &xl);
    y = b ? mdmctl_read_file(b, &yl) : NULL;
    if (x == NULL || (b && y == NULL)) {
        free(x);
        free(y);
        return NULL;
    }
    if (b == NULL) {
        *len = xl;
        return x;
    }
    out = malloc(xl + yl + 2);
    if (out) {
        memcpy(out, x, xl);
        out[xl] = '\n';
        memcpy(out + xl + 1, y, yl);
        out[xl + 1 + yl] = '\0';
        *len = xl + 1 + yl;
    }
    free(x);
    free(y);
    return out;
}


int
mdmctl_pushcert_upload(struct mdmctl_conf *conf, int argc, char **argv)
{
    static const struct option  opts[] = {
        { "cert", required_argument, NULL, 'c' },
        { "key", required_argument, NULL, 'k' },
        { "pem", required_argument, NULL, 'p' },
        { "p12", required_argument, NULL, 'P' },
        { "password", required_argument, NULL, 'w' },
        { "password-file", required_argument, NULL, 'W' },
        { NULL, 0, NULL, 0 }
    };
    const char          *cert = NULL, *key = NULL, *pem = NULL, *p12 = NULL;
    const char          *password = getenv("MDMCTL_P12_PASSWORD");
    char                *pwbuf = NULL, *body;
    struct mdmctl_resp   resp;
    size_t               len = 0;
    int                  c;

    optind = 0;
    while ((c = mdmctl_opt(argc, argv, opts)) != -1) {
        switch (c) {
        case 'c': cert = optarg; break;
        case 'k': key = optarg; break;
        case 'p': pem = optarg; break;
        case 'P': p12 = optarg; break;
        case 'w': password = optarg; break;
        case 'W':
            free(pwbuf);
            pwbuf = mdmctl_read_file(optarg, NULL);
            if (pwbuf == NULL)
                return MDMCTL_LOCAL;
            pwbuf[strcspn(pwbuf, "\r\n")] = '\0';
            password = pwbuf;
            break;
        default:
            free(pwbuf);
            return mdmctl_usage_error("pushcert", "upload", "bad option");
        }
    }
    if (optind != argc || (!!pem + !!p12 + !!cert) != 1 || (!!cert != !!key)) {
        free(pwbuf);
        return mdmctl_usage_error("pushcert", "upload",
            "give --cert and --key, or --pem, or --p12");
    }
    if (p12)
        body = mdmctl_p12_to_pem(p12, password ? password : "", &len);
    else
        body = mdmctl_concat_files(pem ? pem : cert, key, &len);
    free(pwbuf);
    if (body == NULL)
        return MDMCTL_LOCAL;
    mdmctl_http(conf, "PUT", "/v1/pushcert", body, len,
                "application/x-pem-file", &resp);
    OPENSSL_cleanse(body, len);
    free(body);
    return mdmctl_finish(conf, &resp, mdmctl_pushcert_table);
}


int
mdmctl_pushcert_show(struct mdmctl_conf *conf, int argc, char **argv)
{
    struct mdmctl_query  q = { .len = 0 };
    struct mdmctl_resp   resp;
    char                 path[4200];

    if (argc != 2)
        return mdmctl_usage_error("pushcert", "show", "one topic expected");
    q.buf[0] = '\0';
    mdmctl_query_add(&q, "topic", argv[1]);
    snprintf(path, sizeof(path), "/v1/pushcert%s", q.buf);
    mdmctl_http(conf, "GET", path, NULL, 0, NULL, &resp);
    return mdmctl_finish(conf, &resp, mdmctl_pushcert_table);
}


