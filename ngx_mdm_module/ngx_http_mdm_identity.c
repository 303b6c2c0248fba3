/*
 * Device identity for the check-in and command endpoints (protocol.md §4):
 * the nginx side of libmdm's mdm_identity. Which sources count is chosen per
 * location with "mdm_identity"; the certificate must chain to "mdm_device_ca".
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mdm_identity.h"


static void ngx_http_mdm_identity_cleanup(void *data);
static ngx_int_t ngx_http_mdm_identity_tls(ngx_http_request_t *r,
    mdm_identity_t *id, mdm_identity_result_t *res);
static ngx_int_t ngx_http_mdm_identity_header(ngx_http_request_t *r,
    ngx_http_mdm_loc_conf_t *mlcf, mdm_identity_t *id,
    mdm_identity_result_t *res);
static ngx_uint_t ngx_http_mdm_trusted_peer(ngx_http_request_t *r,
    ngx_array_t *cidrs);


ngx_int_t
ngx_http_mdm_identity_init(ngx_conf_t *cf, ngx_http_mdm_loc_conf_t *conf,
    ngx_http_mdm_loc_conf_t *prev)
{
    const char                *err;
    ngx_pool_cleanup_t        *cln;
    ngx_http_mdm_main_conf_t  *mcf;

    if (conf->device_ca.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mdm device endpoints require \"mdm_device_ca\"");
        return NGX_ERROR;
    }

    if (prev->identity_ctx != NULL
        && prev->device_ca.data == conf->device_ca.data)
    {
        conf->identity_ctx = prev->identity_ctx;
        return NGX_OK;
    }

    if (ngx_conf_full_name(cf->cycle, &conf->device_ca, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mdm_module);

    conf->identity_ctx = mdm_identity_create((char *) conf->device_ca.data,
                                             mcf->identity_cache_size, &err);
    if (conf->identity_ctx == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mdm_device_ca\" \"%V\": %s",
                           &conf->device_ca, err);
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        mdm_identity_destroy(conf->identity_ctx);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_mdm_identity_cleanup;
    cln->data = conf->identity_ctx;

    return NGX_OK;
}


static void
ngx_http_mdm_identity_cleanup(void *data)
{
    mdm_identity_destroy(data);
}


ngx_int_t
ngx_http_mdm_identity_check(ngx_http_request_t *r, ngx_str_t *body,
    mdm_identity_result_t *res)
{
    mdm_identity_t           *id;
    ngx_table_elt_t          *sig;
    ngx_http_mdm_loc_conf_t  *mlcf;

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_mdm_module);
    id = mlcf->identity_ctx;

    res->error = NULL;
    res->reason = MDM_IDENTITY_OK;

    /* a signature also proves the body, so it wins over the TLS session */
    if (mlcf->identity & NGX_HTTP_MDM_ID_SIGNATURE) {
        sig = ngx_http_mdm_find_header(r, "Mdm-Signature",
                                       sizeof("Mdm-Signature") - 1);
        if (sig != NULL) {
            if (mdm_identity_from_signature(id, (char *) sig->value.data,
                                            sig->value.len, body->data,
                                            body->len, ngx_time(), res)
                != 0)
            {
                return NGX_DECLINED;
            }
            return NGX_OK;
        }
    }

    if (mlcf->identity & NGX_HTTP_MDM_ID_TLS) {
        switch (ngx_http_mdm_identity_tls(r, id, res)) {
        case NGX_OK:
            return NGX_OK;
        case NGX_DECLINED:
            return NGX_DECLINED;
        default:
            break;
        }
    }

    if (mlcf->identity & NGX_HTTP_MDM_ID_HEADER) {
        switch (ngx_http_mdm_identity_header(r, mlcf, id, res)) {
        case NGX_OK:
            return NGX_OK;
        case NGX_DECLINED:
            return NGX_DECLINED;
        default:
            break;
        }
    }

    res->error = "no device certificate";
    res->reason = MDM_IDENTITY_NO_CERTIFICATE;

    return NGX_DECLINED;
}


/* NGX_OK, NGX_DECLINED (a bad certificate) or NGX_ABORT (none). */
static ngx_int_t
ngx_http_mdm_identity_tls(ngx_http_request_t *r, mdm_identity_t *id,
    mdm_identity_result_t *res)
{
#if (NGX_HTTP_SSL)
    int             len;
    X509           *cert;
    u_char         *der, *p;

    if (r->connection->ssl == NULL) {
        return NGX_ABORT;
    }

    cert = SSL_get1_peer_certificate(r->connection->ssl->connection);
    if (cert == NULL) {
        return NGX_ABORT;
    }

    len = i2d_X509(cert, NULL);
    der = (len > 0) ? ngx_pnalloc(r->pool, len) : NULL;
    if (der == NULL) {
        X509_free(cert);
        res->error = "cannot encode the TLS client certificate";
        res->reason = MDM_IDENTITY_MALFORMED_CERTIFICATE;
        return NGX_DECLINED;
    }

    p = der;
    i2d_X509(cert, &p);
    X509_free(cert);

    return mdm_identity_from_der(id, der, len, ngx_time(), res) == 0
           ? NGX_OK : NGX_DECLINED;
#else
    return NGX_ABORT;
#endif
}


/*
 * A certificate forwarded by a TLS terminator: nginx's URL-escaped PEM
 * ($ssl_client_escaped_cert) or RFC 9440 ":base64-DER:". Only trusted peers
 * may set it; from anyone else it is ignored as if absent.
 */
static ngx_int_t
ngx_http_mdm_identity_header(ngx_http_request_t *r,
    ngx_http_mdm_loc_conf_t *mlcf, mdm_identity_t *id,
    mdm_identity_result_t *res)
{
    long              len;
    u_char           *der;
    ngx_table_elt_t  *h;

    h = ngx_http_mdm_find_header(r, (char *) mlcf->identity_header.data,
                                 mlcf->identity_header.len);
    if (h == NULL || h->value.len == 0) {
        return NGX_ABORT;
    }

    if (!ngx_http_mdm_trusted_peer(r, mlcf->trusted_proxies)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mdm: ignored \"%V\" from an untrusted peer",
                      &mlcf->identity_header);
        return NGX_ABORT;
    }

    der = ngx_pnalloc(r->pool, h->value.len);
    if (der == NULL) {
        res->error = "out of memory";
        res->reason = MDM_IDENTITY_OTHER;
        return NGX_DECLINED;
    }

    if (h->value.data[0] == ':') {
        len = mdm_identity_der_from_client_cert((char *) h->value.data,
                                                h->value.len, der);
    } else {
        len = mdm_identity_der_from_escaped_pem((char *) h->value.data,
                                                h->value.len, der);
    }

    if (len <= 0) {
        res->error = "malformed certificate header";
        res->reason = MDM_IDENTITY_MALFORMED_CERTIFICATE;
        return NGX_DECLINED;
    }

    return mdm_identity_from_der(id, der, len, ngx_time(), res) == 0
           ? NGX_OK : NGX_DECLINED;
}


static ngx_uint_t
ngx_http_mdm_trusted_peer(ngx_http_request_t *r, ngx_array_t *cidrs)
{
    if (cidrs == NULL) {
        return 0;
    }

    return ngx_cidr_match(r->connection->sockaddr, cidrs) == NGX_OK;
}


ngx_table_elt_t *
ngx_http_mdm_find_header(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}
