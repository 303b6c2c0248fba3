/* mdmctl import nanomdm: NanoMDM's storage read into one model, then written. */

#ifndef MDMCTL_IMPORT_H
#define MDMCTL_IMPORT_H

#include "mdmctl.h"

#define MDMCTL_MAX_COLS  32

struct mdmctl_val {
    char    *s;         /* NUL-terminated copy (may hold NULs: see len) */
    size_t   len;
    int      null;
};

struct mdmctl_dump {
    const char  *pos, *end;
    const char  *table;
    char        *cols[MDMCTL_MAX_COLS];
    int          ncols;
};

struct mdmctl_blob {
    char    *p;
    size_t   len;
};

/* a device channel or user channel enrollment */
struct mdmctl_enr {
    char               *id;
    struct mdmctl_blob  authenticate;   /* device channel only */
    struct mdmctl_blob  token_update;
    struct mdmctl_blob  unlock_token;   /* raw bytes */
    struct mdmctl_blob  bootstrap;      /* raw bytes */
    int                 disabled;
    int                 user;
};

struct mdmctl_cmd {
    char               *uuid;
    struct mdmctl_blob  plist;
    char              **ids;            /* pending targets, queue order */
    int                 nids;
};

struct mdmctl_cert {
    char  *topic;
    char  *pem;                         /* certificate + key */
};

struct mdmctl_model {
    struct mdmctl_enr   *enr;
    int                  nenr;
    struct mdmctl_cmd   *cmd;
    int                  ncmd;
    struct mdmctl_cert  *cert;
    int                  ncert;
    int                  bindings;      /* cert hash associations seen */
};

int mdmctl_dump_next(struct mdmctl_dump *d);
int mdmctl_dump_row(struct mdmctl_dump *d, struct mdmctl_val *vals, int *n);
void mdmctl_dump_cols_free(struct mdmctl_dump *d);

int mdmctl_read_mysql(const char *file, struct mdmctl_model *m);
int mdmctl_read_filekv(const char *dir, struct mdmctl_model *m);

struct mdmctl_enr *mdmctl_model_enr(struct mdmctl_model *m, const char *id);
struct mdmctl_cmd *mdmctl_model_cmd(struct mdmctl_model *m,
    const char *uuid);
void mdmctl_model_target(struct mdmctl_cmd *c, const char *id);

#endif
