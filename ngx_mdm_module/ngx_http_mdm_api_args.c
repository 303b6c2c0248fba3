/*
 * What an API request names, read the same way on every route: the path
 * below the route's prefix and the query parameters. Both are taken from the
 * request as sent and percent-decoded here, strictly: nginx's own decoding
 * merges "//", resolves "." and "..", and lets "%zz" through, so enrollment
 * IDs containing '/' could not be addressed exactly and two spellings could
 * name the same one (docs/api.md, "IDs in paths").
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mdm_utf8.h"
#include "ngx_http_mdm_module.h"
#include "ngx_http_mdm_api.h"


static const char *ngx_http_mdm_api_arg_msg(ngx_http_request_t *r,
    const char *what, const char *in, ngx_str_t *name);


/*
 * Percent-decodes in into a NUL-terminated copy: '%' must be followed by
 * two hex digits, and the result must be UTF-8 without NUL. '+' is kept
 * (a path has no form encoding; IDs do not contain spaces). NGX_DECLINED
 * with *err for a 400.
 */
ngx_int_t
ngx_http_mdm_api_unescape(ngx_http_request_t *r, ngx_str_t *in,
    ngx_str_t *out, const char **err)
{
    u_char      *p, *last, *dst, c;
    ngx_uint_t   hi, lo;

    out->data = ngx_pnalloc(r->pool, in->len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    dst = out->data;
    last = in->data + in->len;

    for (p = in->data; p < last; p++) {
        c = *p;

        if (c == '%') {
            if (last - p < 3
                || (hi = ngx_hextoi(p + 1, 1)) == (ngx_uint_t) NGX_ERROR
                || (lo = ngx_hextoi(p + 2, 1)) == (ngx_uint_t) NGX_ERROR)
            {
                *err = "invalid percent-escape";
                return NGX_DECLINED;
            }

            c = (u_char) (hi << 4 | lo);
            p += 2;
        }

        if (c == '\0') {
            *err = "NUL byte";
            return NGX_DECLINED;
        }

        *dst++ = c;
    }

    *dst = '\0';
    out->len = dst - out->data;

    if (!mdm_utf8_valid((char *) out->data)) {
        *err = "invalid UTF-8";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Parses r->args against q (ended by a null name): every parameter must be
 * one of q's, at most once (?ttl=1&ttl=99999 is refused, not "first wins").
 * Values are decoded by ngx_http_mdm_api_unescape and NUL-terminated.
 */
ngx_int_t
ngx_http_mdm_api_args(ngx_http_request_t *r, ngx_http_mdm_api_arg_t *q,
    const char **err)
{
    u_char                  *p, *last, *amp, *eq;
    ngx_int_t                rc;
    ngx_str_t                name, value;
    const char              *why;
    ngx_http_mdm_api_arg_t  *a;

    p = r->args.data;
    last = r->args.data + r->args.len;

    for ( /* void */ ; p < last; p = amp + 1) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp == p) {
            continue;
        }

        eq = ngx_strlchr(p, amp, '=');
        if (eq == NULL) {
            eq = amp;
        }

        name.data = p;
        name.len = eq - p;

        for (a = q; a->name.len; a++) {
            if (a->name.len == name.len
                && ngx_strncmp(a->name.data, name.data, name.len) == 0)
            {
                break;
            }
        }

        if (a->name.len == 0 || a->set) {
            *err = ngx_http_mdm_api_arg_msg(r, a->set
                                            ? "repeated query parameter"
                                            : "unknown query parameter",
                                            "", &name);
            return *err ? NGX_DECLINED : NGX_ERROR;
        }

        value.data = (eq < amp) ? eq + 1 : eq;
        value.len = amp - value.data;

        rc = ngx_http_mdm_api_unescape(r, &value, &a->value, &why);
        if (rc != NGX_OK) {
            if (rc == NGX_DECLINED) {
                *err = ngx_http_mdm_api_arg_msg(r, why,
                                                " in query parameter", &name);
                if (*err == NULL) {
                    return NGX_ERROR;
                }
            }
            return rc;
        }

        a->set = 1;
    }

    return NGX_OK;
}


/* A route that takes no query parameter: NGX_DECLINED with *err for a 400. */
ngx_int_t
ngx_http_mdm_api_no_args(ngx_http_request_t *r, const char **err)
{
    ngx_http_mdm_api_arg_t  none[] = {
        { ngx_null_string, ngx_null_string, 0 }
    };

    return ngx_http_mdm_api_args(r, none, err);
}


/* "<what><in> "<name>"", naming the parameter only when it is plain text */
static const char *
ngx_http_mdm_api_arg_msg(ngx_http_request_t *r, const char *what,
    const char *in, ngx_str_t *name)
{
    u_char  *p, *last;
    size_t   i;

    for (i = 0; i < name->len && i < 64; i++) {
        if (name->data[i] < 0x20 || name->data[i] > 0x7e
            || name->data[i] == '"' || name->data[i] == '\\')
        {
            break;
        }
    }

    p = ngx_pnalloc(r->pool, ngx_strlen(what) + ngx_strlen(in) + name->len
                             + 4);
    if (p == NULL) {
        return NULL;
    }

    if (i < name->len) {
        last = ngx_sprintf(p, "%s%s", what, in);

    } else {
        last = ngx_sprintf(p, "%s%s \"%V\"", what, in, name);
    }

    *last = '\0';

    return (char *) p;
}
