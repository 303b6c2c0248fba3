/*
 * The mdm_acme_* directives (docs/acme.md): the attestation root is loaded
 * when nginx reads its configuration, so that `nginx -t` names a missing,
 * unreadable or non-CA file; an ACME location also needs the issuing CA of
 * mdm_scep_ca (ngx_http_mdm_scep.c loads it for both).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ngx_http_mdm_acme_conf.h"


void
ngx_http_mdm_acme_create_conf(ngx_http_mdm_acme_conf_t *conf)
{
    /*
     * set by ngx_pcalloc() with the rest of the location's conf:
     *     conf->base_url = { 0, NULL };
     *     conf->root_file = { 0, NULL };
     *     conf->roots = NULL;
     */

    conf->nonce_ttl = NGX_CONF_UNSET;
    conf->order_ttl = NGX_CONF_UNSET;
}


static void
ngx_http_mdm_acme_free_roots(void *data)
{
    X509_STORE_free(data);
}


/* every certificate of the file must be a CA: a leaf there would make
 * anything it signed look attested */
static char *
ngx_http_mdm_acme_load_roots(ngx_conf_t *cf, ngx_http_mdm_acme_conf_t *conf)
{
    int                  n = 0;
    X509                *x;
    FILE                *f;
    X509_STORE          *store;
    ngx_pool_cleanup_t  *cln;

    if (ngx_conf_full_name(cf->cycle, &conf->root_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    f = fopen((char *) conf->root_file.data, "r");
    if (f == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"mdm_acme_attestation_root\": cannot open "
                           "\"%V\"", &conf->root_file);
        return NGX_CONF_ERROR;
    }

    store = X509_STORE_new();
    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (store == NULL || cln == NULL) {
        fclose(f);
        X509_STORE_free(store);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_mdm_acme_free_roots;
    cln->data = store;

    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        if (X509_check_ca(x) < 1 || !X509_STORE_add_cert(store, x)) {
            X509_free(x);
            fclose(f);
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mdm_acme_attestation_root\": a certificate "
                               "of \"%V\" is not a CA", &conf->root_file);
            return NGX_CONF_ERROR;
        }
        X509_free(x);
        n++;
    }

    fclose(f);

    if (n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mdm_acme_attestation_root\": no PEM "
                           "certificate in \"%V\"", &conf->root_file);
        return NGX_CONF_ERROR;
    }

    conf->roots = store;

    return NGX_CONF_OK;
}


char *
ngx_http_mdm_acme_merge_conf(ngx_conf_t *cf, ngx_http_mdm_acme_conf_t *prev,
    ngx_http_mdm_acme_conf_t *conf, ngx_uint_t is_acme)
{
    ngx_conf_merge_str_value(conf->base_url, prev->base_url, "");
    ngx_conf_merge_sec_value(conf->nonce_ttl, prev->nonce_ttl, 600);
    ngx_conf_merge_sec_value(conf->order_ttl, prev->order_ttl, 3600);

    if (conf->root_file.data == NULL) {
        conf->root_file = prev->root_file;
        conf->roots = prev->roots;
    }

    if (conf->nonce_ttl < 10 || conf->order_ttl < 60) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mdm_acme_nonce_ttl\" must be at least 10s and "
                           "\"mdm_acme_order_ttl\" at least 1m");
        return NGX_CONF_ERROR;
    }

    if (!is_acme) {
        return NGX_CONF_OK;
    }

    if (conf->root_file.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mdm_acme\" requires "
                           "\"mdm_acme_attestation_root\"");
        return NGX_CONF_ERROR;
    }

    if (conf->roots == NULL) {
        return ngx_http_mdm_acme_load_roots(cf, conf);
    }

    return NGX_CONF_OK;
}


/* mdm_acme_base_url https://host[:port]/path; no trailing slash, https */
char *
ngx_http_mdm_acme_set_base_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    ngx_str_t  *value, *url;

    url = (ngx_str_t *) (p + cmd->offset);
    if (url->data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    *url = value[1];

    if (url->len <= sizeof("https://") - 1
        || ngx_strncmp(url->data, "https://", sizeof("https://") - 1) != 0
        || url->data[url->len - 1] == '/'
        || ngx_strlchr(url->data, url->data + url->len, '?') != NULL)
    {
        return "must be an https:// URL without a trailing slash or query";
    }

    return NGX_CONF_OK;
}
