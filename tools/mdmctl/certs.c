/*
 * The certificate verbs over /v1/certificates (docs/api.md): the identities
 * mdm_scep issued, and their revocation.
 */

#include <string.h>

#include "mdmctl.h"


static void
mdmctl_certs_table(json_t *root)
{
    json_t  *e;
    size_t   i;

    printf("%-64s %s\n", "SHA256", "NOT AFTER");
    json_array_foreach(json_object_get(root, "certificates"), i, e)
        printf("%-64s %s\n", mdmctl_str(e, "sha256"),
               mdmctl_str(e, "not_after"));
    mdmctl_print_cursor(root);
}


int
mdmctl_certs_list(struct mdmctl_conf *conf, int argc, char **argv)
{
    struct mdmctl_page_args  a;
    char                     path[8192];

    if (mdmctl_page_parse(argc, argv, "lca", &a) != 0 || optind < argc)
        return mdmctl_usage_error("certs", "list", "bad arguments");
    snprintf(path, sizeof(path), "/v1/certificates%s", a.q.buf);
    return mdmctl_paged(conf, path, "certificates", a.all,
                        mdmctl_certs_table);
}


/* The record without `der` (a screenful of base64; --json has it). */
static void
mdmctl_cert_table(json_t *root)
{
    json_t  *copy = json_copy(root);

    json_object_del(copy, "der");
    mdmctl_print_object(copy);
    json_decref(copy);
}


int
mdmctl_certs_show(struct mdmctl_conf *conf, int argc, char **argv)
{
    return mdmctl_one_call(conf, argc, argv, "certs", "GET",
                           "/v1/certificates/", "", mdmctl_cert_table, NULL);
}


static void
mdmctl_revoked_table(json_t *root)
{
    printf("%s %s\n", json_is_true(json_object_get(root, "revoked"))
           ? "revoked" : "not revoked", mdmctl_str(root, "sha256"));
}


int
mdmctl_certs_revoke(struct mdmctl_conf *conf, int argc, char **argv)
{
    return mdmctl_one_call(conf, argc, argv, "certs", "POST",
                           "/v1/certificates/", "/revoke",
                           mdmctl_revoked_table, NULL);
}


int
mdmctl_certs_unrevoke(struct mdmctl_conf *conf, int argc, char **argv)
{
    return mdmctl_one_call(conf, argc, argv, "certs", "DELETE",
                           "/v1/certificates/", "/revoke",
                           mdmctl_revoked_table, NULL);
}
