/*
 * mdmsim: simulated Apple devices for ngx_mdm or any other MDM server.
 *
 *   mdmsim gen-ids  create (or check) the cached device identities
 *   mdmsim enroll   Authenticate + TokenUpdate for every device
 *   mdmsim session  one command session per device: Idle, answer, ... empty
 *   mdmsim load     a bounded load run of one scenario, with statistics
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <openssl/x509.h>

#include "ddm.h"
#include "runner.h"
#include "profile.h"


enum {
    OPT_CHECK_IN_URL = 256, OPT_SERVER_URL, OPT_CA_FILE, OPT_INSECURE,
    OPT_CA_CERT, OPT_CA_KEY, OPT_ID_DIR, OPT_UDID_PREFIX, OPT_FIRST_DEVICE,
    OPT_TOPIC, OPT_MODE, OPT_EC, OPT_USER_CHANNEL, OPT_UNLOCK_TOKEN,
    OPT_DDM_FULL_REPORT,
    OPT_SCENARIO, OPT_DURATION, OPT_REQUESTS, OPT_SESSIONS, OPT_KEEPALIVE,
    OPT_TLS_RESUME,
    OPT_NOTNOW, OPT_TIMEOUT, OPT_MAX_COMMANDS, OPT_APPS, OPT_JOBS, OPT_SEED,
    OPT_JSON, OPT_PROFILE, OPT_PROFILE_CA, OPT_ADE, OPT_OTA
};


static void mdmsim_usage(FILE *f);
static int mdmsim_parse_opts(int argc, char **argv, struct mdmsim_opts *o);
static int mdmsim_parse_choice(const char *value, const char *const *names,
    int *out, const char *flag);
static int mdmsim_fleet_init(struct mdmsim_fleet *fleet,
    struct mdmsim_opts *opts, int need_ids);
static void mdmsim_fleet_free(struct mdmsim_fleet *fleet);
static void mdmsim_raise_fd_limit(void);


static const struct option  mdmsim_options[] = {
    { "check-in-url",  required_argument, NULL, OPT_CHECK_IN_URL },
    { "server-url",    required_argument, NULL, OPT_SERVER_URL },
    { "ca-file",       required_argument, NULL, OPT_CA_FILE },
    { "insecure",      no_argument,       NULL, OPT_INSECURE },
    { "ca-cert",       required_argument, NULL, OPT_CA_CERT },
    { "ca-key",        required_argument, NULL, OPT_CA_KEY },
    { "id-dir",        required_argument, NULL, OPT_ID_DIR },
    { "udid-prefix",   required_argument, NULL, OPT_UDID_PREFIX },
    { "first-device",  required_argument, NULL, OPT_FIRST_DEVICE },
    { "topic",         required_argument, NULL, OPT_TOPIC },
    { "mode",          required_argument, NULL, OPT_MODE },
    { "ec",            no_argument,       NULL, OPT_EC },
    { "user-channel",  no_argument,       NULL, OPT_USER_CHANNEL },
    { "unlock-token",  no_argument,       NULL, OPT_UNLOCK_TOKEN },
    { "ddm-full-report", no_argument,     NULL, OPT_DDM_FULL_REPORT },
    { "scenario",      required_argument, NULL, OPT_SCENARIO },
    { "devices",       required_argument, NULL, 'n' },
    { "concurrency",   required_argument, NULL, 'c' },
    { "duration",      required_argument, NULL, OPT_DURATION },
    { "requests",      required_argument, NULL, OPT_REQUESTS },
    { "sessions",      required_argument, NULL, OPT_SESSIONS },
    { "keepalive",     no_argument,       NULL, OPT_KEEPALIVE },
    { "tls-resume",    no_argument,       NULL, OPT_TLS_RESUME },
    { "notnow-share",  required_argument, NULL, OPT_NOTNOW },
    { "timeout",       required_argument, NULL, OPT_TIMEOUT },
    { "max-commands",  required_argument, NULL, OPT_MAX_COMMANDS },
    { "apps",          required_argument, NULL, OPT_APPS },
    { "jobs",          required_argument, NULL, OPT_JOBS },
    { "seed",          required_argument, NULL, OPT_SEED },
    { "json",          no_argument,       NULL, OPT_JSON },
    { "profile",       required_argument, NULL, OPT_PROFILE },
    { "profile-ca",    required_argument, NULL, OPT_PROFILE_CA },
    { "ade",           required_argument, NULL, OPT_ADE },
    { "ota",           required_argument, NULL, OPT_OTA },
    { "verbose",       no_argument,       NULL, 'v' },
    { "help",          no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};

static const char *const  mdmsim_modes[] = { "none", "tls", "sign", NULL };

static const char *const  mdmsim_load_scenarios[] = {
    "enroll", "session", "idle", "checkin-storm", "ddm-items", NULL
};


static void
mdmsim_usage(FILE *f)
{
    fprintf(f,
"usage: mdmsim gen-ids|enroll|session|load|scep [options]\n"
"  --check-in-url URL   check-in endpoint (default: the server URL)\n"
"  --server-url URL     command endpoint (ServerURL)\n"
"  --ca-file PEM        CA to verify the server; --insecure skips it\n"
"  --mode tls|sign|none device identity on TLS, as Mdm-Signature, or none\n"
"                       (default sign)\n"
"  --ca-cert PEM --ca-key PEM   CA that issues the device identities\n"
"  --id-dir DIR         identity cache; --ec for P-256 instead of RSA 2048\n"
"  --jobs N             processes generating identities (default: cores)\n"
"  -n, --devices N      devices (default 1); --first-device I (default 0)\n"
"  --udid-prefix P      UDID = P + 16 hex digits of the device number\n"
"  --topic T            APNs topic; --user-channel; --unlock-token\n"
"  --seed S             varies serials, tokens, PushMagic, NotNow draws\n"
"  -c, --concurrency N  connections in parallel (default 1, load 64)\n"
"  --scenario idle|session|checkin-storm|enroll|ddm-items   (load)\n"
"  --duration S | --requests N | --sessions N     (load; default 10 s)\n"
"  --keepalive          reuse connections across jobs\n"
"  --tls-resume         resume TLS sessions on new connections\n"
"  --notnow-share F     answer this share of commands with NotNow\n"
"  --apps N             apps in InstalledApplicationList (default 40)\n"
"  --max-commands N     per session (default 1000); --timeout S (10)\n"
"  --ddm-full-report    DDM status reports are FullReports\n"
"  --json               one JSON object on stdout; -v logs every request\n"
"  --profile URL        enroll: download the enrollment profile (user:pass@\n"
"                       for Basic auth), verify it, SCEP, then check in as\n"
"                       it says; --profile-ca PEM (default --ca-file)\n"
"  --ade PEM            with --profile: POST a MachineInfo signed by the\n"
"                       \"Apple device\" identity in PEM (cert, key, chain)\n"
"                       as ADE does, instead of GET\n"
"  --ota PEM            with --profile: the URL serves Apple's OTA profile\n"
"                       service; phase 2 is signed by the \"Apple device\"\n"
"                       identity in PEM, phase 3 by the SCEP identity\n");
}


static int
mdmsim_parse_choice(const char *value, const char *const *names, int *out,
    const char *flag)
{
    int  i;

    for (i = 0; names[i] != NULL; i++) {
        if (strcmp(value, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    fprintf(stderr, "mdmsim: %s: unknown value \"%s\"\n", flag, value);
    return -1;
}


static int
mdmsim_parse_opts(int argc, char **argv, struct mdmsim_opts *o)
{
    int  c, choice;

    while ((c = getopt_long(argc, argv, "n:c:vh", mdmsim_options, NULL))
           != -1)
    {
        switch (c) {
        case OPT_CHECK_IN_URL: o->check_in_url = optarg; break;
        case OPT_SERVER_URL: o->server_url = optarg; break;
        case OPT_CA_FILE: o->ca_file = optarg; break;
        case OPT_INSECURE: o->insecure = 1; break;
        case OPT_CA_CERT: o->ca_cert = optarg; break;
        case OPT_CA_KEY: o->ca_key = optarg; break;
        case OPT_ID_DIR: o->id_dir = optarg; break;
        case OPT_UDID_PREFIX: o->udid_prefix = optarg; break;
        case OPT_FIRST_DEVICE: o->first_device = atol(optarg); break;
        case OPT_TOPIC: o->topic = optarg; break;
        case OPT_MODE:
            if (mdmsim_parse_choice(optarg, mdmsim_modes, &choice, "--mode")) {
                return -1;
            }
            o->mode = choice;
            break;
        case OPT_EC: o->ec = 1; break;
        case OPT_USER_CHANNEL: o->user_channel = 1; break;
        case OPT_UNLOCK_TOKEN: o->unlock_token = 1; break;
        case OPT_DDM_FULL_REPORT: o->ddm_full_report = 1; break;
        case OPT_SCENARIO:
            if (mdmsim_parse_choice(optarg, mdmsim_load_scenarios, &choice,
                                    "--scenario"))
            {
                return -1;
            }
            o->scenario = choice;
            break;
        case 'n': o->devices = atol(optarg); break;
        case 'c': o->concurrency = atol(optarg); break;
        case OPT_DURATION: o->duration = atof(optarg); break;
        case OPT_REQUESTS: o->requests = atol(optarg); break;
        case OPT_SESSIONS: o->sessions = atol(optarg); break;
        case OPT_KEEPALIVE: o->keepalive = 1; break;
        case OPT_TLS_RESUME: o->tls_resume = 1; break;
        case OPT_NOTNOW: o->notnow_share = atof(optarg); break;
        case OPT_TIMEOUT: o->timeout = atof(optarg); break;
        case OPT_MAX_COMMANDS: o->max_commands = atol(optarg); break;
        case OPT_APPS: o->apps = atol(optarg); break;
        case OPT_JOBS: o->jobs = atol(optarg); break;
        case OPT_SEED: o->seed = strtoull(optarg, NULL, 0); break;
        case OPT_JSON: o->json = 1; break;
        case OPT_PROFILE: o->profile_url = optarg; break;
        case OPT_PROFILE_CA: o->profile_ca = optarg; break;
        case OPT_ADE: o->ade_identity = optarg; break;
        case OPT_OTA: o->ota_identity = optarg; break;
        case 'v': o->verbose = 1; break;
        case 'h': mdmsim_usage(stdout); exit(0);
        default: return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "mdmsim: unexpected argument \"%s\"\n", argv[optind]);
        return -1;
    }
    if (o->devices < 1 || o->concurrency < 1 || o->timeout <= 0
        || o->apps < 0 || o->max_commands < 0)
    {
        fprintf(stderr, "mdmsim: --devices, --concurrency and --timeout "
                "must be positive\n");
        return -1;
    }
    if (o->check_in_url == NULL) {
        o->check_in_url = o->server_url;
    }
    return 0;
}


static int
mdmsim_fleet_init(struct mdmsim_fleet *fleet, struct mdmsim_opts *opts,
    int need_ids)
{
    long  i;

    memset(fleet, 0, sizeof(*fleet));
    fleet->opts = opts;
    fleet->count = opts->devices;
    fleet->rng = opts->seed;
    fleet->devices = calloc(opts->devices, sizeof(struct mdmsim_device));
    if (fleet->devices == NULL) {
        fprintf(stderr, "mdmsim: out of memory\n");
        return -1;
    }
    for (i = 0; i < fleet->count; i++) {
        mdmsim_device_init(&fleet->devices[i], opts, opts->first_device + i);
    }
    if (need_ids && mdmsim_identities_load(fleet) != 0) {
        return -1;
    }
    /* the identities come from SCEP, the topic from the profile */
    if (opts->profile_url && mdmsim_profile_enroll(fleet, opts) != 0) {
        return -1;
    }
    for (i = 0; i < fleet->count; i++) {
        if (mdmsim_device_build_bodies(&fleet->devices[i], opts) != 0) {
            fprintf(stderr, "mdmsim: cannot build device messages\n");
            return -1;
        }
    }
    return 0;
}


static void
mdmsim_fleet_free(struct mdmsim_fleet *fleet)
{
    struct mdmsim_device  *d;
    long                   i;

    for (i = 0; i < fleet->count; i++) {
        d = &fleet->devices[i];
        mdmsim_body_free(&d->authenticate);
        mdmsim_body_free(&d->token_update);
        mdmsim_body_free(&d->user_token_update);
        mdmsim_body_free(&d->idle);
        mdmsim_body_free(&d->ddm_items);
        mdmsim_ddm_free(d->ddm);
        free(d->ddm_data);
        EVP_PKEY_free(d->key);
        X509_free(d->cert);
        SSL_SESSION_free(d->tls_session);
    }
    free(fleet->devices);
    X509_free(fleet->ca_cert);
}


/* One descriptor per connection: allow as many as the hard limit does. */
static void
mdmsim_raise_fd_limit(void)
{
    struct rlimit  rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}


static int
mdmsim_main(const char *command, struct mdmsim_opts *opts,
    struct mdmsim_fleet *fleet)
{
    long  limit;

    if (strcmp(command, "gen-ids") == 0) {
        if (opts->id_dir == NULL) {
            fprintf(stderr, "mdmsim gen-ids: --id-dir is required\n");
            return 2;
        }
        if (mdmsim_fleet_init(fleet, opts, 1) != 0) {
            return 2;
        }
        printf("mdmsim gen-ids: %ld identities in %s\n", fleet->count,
               opts->id_dir);
        return 0;
    }

    if (strcmp(command, "enroll") == 0) {
        opts->scenario = MDMSIM_SCENARIO_ENROLL;
    } else if (strcmp(command, "session") == 0) {
        opts->scenario = MDMSIM_SCENARIO_SESSION;
    } else if (strcmp(command, "load") == 0) {
        opts->load = 1;
    } else {
        mdmsim_usage(stderr);
        return 2;
    }
    if (opts->server_url == NULL && (opts->scenario == MDMSIM_SCENARIO_SESSION
                                     || opts->scenario == MDMSIM_SCENARIO_IDLE))
    {
        fprintf(stderr, "mdmsim %s: --server-url is required\n", command);
        return 2;
    }
    if ((opts->ade_identity != NULL || opts->ota_identity != NULL)
        && opts->profile_url == NULL)
    {
        fprintf(stderr, "mdmsim %s: --ade and --ota need --profile URL\n",
                command);
        return 2;
    }
    if (opts->profile_url != NULL && opts->scenario != MDMSIM_SCENARIO_ENROLL)
    {
        fprintf(stderr, "mdmsim %s: --profile is for enroll\n", command);
        return 2;
    }
    if (opts->profile_url != NULL) {
        mdmsim_raise_fd_limit();
        if (mdmsim_fleet_init(fleet, opts, 0) != 0) {
            return 2;
        }
        return mdmsim_run(fleet, opts->devices, -1, 0, command);
    }
    if (opts->check_in_url == NULL) {
        fprintf(stderr, "mdmsim %s: --check-in-url is required\n", command);
        return 2;
    }
    if (opts->mode == MDMSIM_MODE_TLS
        && (strncmp(opts->check_in_url, "https:", 6) != 0
            || (opts->server_url && strncmp(opts->server_url, "https:", 6))))
    {
        fprintf(stderr, "mdmsim %s: --mode tls needs https:// URLs\n",
                command);
        return 2;
    }
    mdmsim_raise_fd_limit();
    if (mdmsim_fleet_init(fleet, opts, opts->mode != MDMSIM_MODE_NONE) != 0) {
        return 2;
    }
    if (!opts->load) {
        return mdmsim_run(fleet, opts->devices, -1, 0, command);
    }

    limit = opts->sessions > 0 ? opts->sessions : -1;
    if (opts->duration <= 0 && opts->requests <= 0 && opts->sessions <= 0) {
        opts->duration = 10;
    }
    return mdmsim_run(fleet, limit, opts->requests > 0 ? opts->requests : -1,
                      opts->duration, command);
}


int
main(int argc, char **argv)
{
    struct mdmsim_opts   opts;
    struct mdmsim_fleet  fleet;
    const char          *command;
    int                  rc;

    if (argc < 2 || argv[1][0] == '-') {
        mdmsim_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    command = argv[1];

    if (strcmp(command, "scep") == 0) {
        return mdmsim_scep_main(argc - 1, argv + 1);
    }

    memset(&opts, 0, sizeof(opts));
    opts.udid_prefix = "00008101-";
    opts.topic = "com.apple.mgmt.External.mdmsim";
    opts.mode = MDMSIM_MODE_SIGN;
    opts.scenario = MDMSIM_SCENARIO_IDLE;
    opts.devices = 1;
    opts.concurrency = strcmp(command, "load") == 0 ? 64 : 1;
    opts.timeout = 10;
    opts.max_commands = 1000;
    opts.apps = 40;
    opts.jobs = sysconf(_SC_NPROCESSORS_ONLN);

    if (mdmsim_parse_opts(argc - 1, argv + 1, &opts) != 0) {
        mdmsim_usage(stderr);
        return 2;
    }
    memset(&fleet, 0, sizeof(fleet));
    rc = mdmsim_main(command, &opts, &fleet);
    mdmsim_fleet_free(&fleet);
    return rc;
}
