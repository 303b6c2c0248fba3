#ifndef MDM_SCHEMA_H
#define MDM_SCHEMA_H

/*
 * The Redis key schema as data (docs/redis-schema.md): every key the module,
 * the worker, the scripts and the tests touch is one row of mdm_schema_keys.
 * The C key builders (mdm_keys.h), the Lua key helpers (libmdm/lua/lib/
 * keys.lua), the Perl tests' view (t/lib/MDM/Keys.pm) and the table in
 * docs/redis-schema.md are all made from these rows: `build/mdm-schema`
 * prints them, t/005-schema.t checks that the files in the tree are what it
 * prints, and `make schema` rewrites them.
 *
 * A pattern is literal text with <placeholders>, filled in order: the
 * builder takes one argument per placeholder.
 */

#include <stddef.h>

/* Which slot a key lives in (the Cluster rules, docs/redis-schema.md) */
typedef enum {
    MDM_TAG_DEVICE = 0,   /* tagged by the device channel: what a device
                             request touches */
    MDM_TAG_OWNER,        /* a catalogue key, tagged by its owner */
    MDM_TAG_GLOBAL        /* one key for the deployment (no tag) */
} mdm_tag_kind_t;

typedef enum {
    MDM_K_ENR = 0,
    MDM_K_AUTH,
    MDM_K_Q,
    MDM_K_QG,
    MDM_K_NN,
    MDM_K_R,
    MDM_K_USERS,
    MDM_K_CMD,
    MDM_K_CMD_IDS,
    MDM_K_CERT,
    MDM_K_ENROLLMENTS,
    MDM_K_PUSHCERT,
    MDM_K_EVENTS,
    MDM_K_PUSH,
    MDM_K_EXPIRY,
    MDM_K_PENDING,
    MDM_K_NOTNOW,
    MDM_K_QGC,
    MDM_K_WEBHOOK_DEAD,
    MDM_K_WEBHOOK_RETRY,
    MDM_K_WORKER_METRICS,
    MDM_K_SCEP_CHAL,
    MDM_K_CA_CERT,
    MDM_K_CA_SERIAL,
    MDM_K_CA_INDEX,
    MDM_K_CA_REVOKED,
    MDM_K_ENROLL_LINK,
    MDM_K_ENROLL_OTA,
    MDM_K_ENROLL_INDEX,
    MDM_K_ENROLL_DEV,
    MDM_K_ENROLL_KNOWN,
    MDM_K_SCHEMA,
    MDM_K_DDM_DECL,
    MDM_K_DDM_DECL_SETS,
    MDM_K_DDM_SET,
    MDM_K_DDM_SET_ENRS,
    MDM_K_DDM_DECLS,
    MDM_K_DDM_SETS,
    MDM_K_DDM_ESETS,
    MDM_K_DDM_ITEMS,
    MDM_K_DDM,
    MDM_K_DDM_STATUS,
    MDM_K_DDM_VALUES,
    MDM_K_DDM_ERRORS,
    MDM_K_DDM_REPORTS,
    MDM_K_DDM_ASSET,
    MDM_K_ACME_NONCE,
    MDM_K_ACME_ACCT,
    MDM_K_ACME_ORDERS,
    MDM_K_ACME_ORDER,
    MDM_K_PROF,
    MDM_K_PROF_BODY,
    MDM_K_PROF_ENRS,
    MDM_K_PROFS,
    MDM_K_PROF_DEV,
    MDM_K_INV,
    MDM_K_INV_APPS,
    MDM_K_INV_PROFILES,
    MDM_K_ALBC,
    MDM_K_VPP_LOCATIONS,
    MDM_K_VPP_TOKEN,
    MDM_K_VPP_ASSET,
    MDM_K_VPP_ASSETS,
    MDM_K_VPP_JOBS,
    MDM_K_VPP_EVENT,
    MDM_K_VPP_EVENTS,
    MDM_K_VPP_INSTALL,
    MDM_K_VPP_NOTIFY,
    MDM_K_VPP_NOTIFIED,
    MDM_K_VPP_LEASE,
    MDM_K_DEP_TOKEN,
    MDM_K_DEP_SESSION,
    MDM_K_DEP_LEASE,
    MDM_K_DEP_CURSOR,
    MDM_K_DEP_DEVICES,
    MDM_K_DEP_SERIAL,
    MDM_K_COUNT
} mdm_key_id_t;

typedef struct {
    const char      *name;     /* Lua K.<name>, Perl key_<name> */
    const char      *type;     /* Redis type */
    mdm_tag_kind_t   tag;
    const char      *pattern;  /* "mdm:{<id>}:r:<uuid>" */
    const char      *holds;    /* what it holds, Markdown (the docs table) */
} mdm_schema_key_t;

#define MDM_SCHEMA_MAX_PARAMS  2

extern const mdm_schema_key_t mdm_schema_keys[MDM_K_COUNT];

const char *mdm_schema_tag_name(mdm_tag_kind_t tag);

/* The number of <placeholders> of key k's pattern. */
int mdm_schema_nparams(mdm_key_id_t k);

/* The name of placeholder i (0-based) of key k, as an identifier
 * ("sha256 hex" -> "sha256_hex") into name (at least 32 bytes); 0 or -1. */
int mdm_schema_param(mdm_key_id_t k, int i, char *name, size_t size);

/*
 * Writes key k into buf (size bytes) with p[i] for placeholder i; returns
 * the length, or 0 when it does not fit or an argument is missing.
 */
size_t mdm_schema_key(char *buf, size_t size, mdm_key_id_t k,
                      const char *const *p, int np);


/*
 * The layout version of the keys, recorded in mdm:schema (field `version`)
 * when a deployment is bootstrapped. A process of another version refuses
 * to work on it: the module answers 503, mdm-worker exits, both saying why.
 * Version 1 is the first layout; deployments made before the record existed
 * are version 1. Version 2 gives each enrollment's queue a generation (enr
 * field qgen): generation 0 keeps version 1's name, so version 1 data is
 * version 2 data as it stands and `mdm-worker --migrate` only records the
 * new version; a process of version 1 must not run on it any more (its
 * Authenticate would walk the generation-0 name only).
 */
#define MDM_SCHEMA_VERSION  2

typedef enum {
    MDM_SCHEMA_OK = 0,       /* recorded and ours */
    MDM_SCHEMA_RECORD,       /* write `version` (HSETNX), then ask again */
    MDM_SCHEMA_MISMATCH      /* refuse; why is in err */
} mdm_schema_verdict_t;

/*
 * What to do with the version found in mdm:schema (NULL: none) in a
 * deployment that holds enrollments or not (has_data: mdm:enrollments
 * exists). *record is the version to write for MDM_SCHEMA_RECORD.
 */
mdm_schema_verdict_t mdm_schema_check(const char *recorded, int has_data,
    long *record, char *err, size_t size);

#endif
