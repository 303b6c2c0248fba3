/*
 * The worker's configuration parser (worker/config.c) without starting a
 * worker: defaults, values and their errors, files, flags over files, and
 * the webhook groups' settings that follow the push group's.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

typedef struct {
    int     n;
    char    last[512];
} problems_t;


static void
note(void *ctx, const char *msg)
{
    problems_t *p = ctx;

    p->n++;
    snprintf(p->last, sizeof(p->last), "%s", msg);
}


static char *
write_file(const char *text)
{
    static char path[64];
    int fd;

    snprintf(path, sizeof(path), "/tmp/mdm-worker-conf-XXXXXX");
    fd = mkstemp(path);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t) strlen(text)) {
        return NULL;
    }
    close(fd);
    return path;
}


static void
test_defaults(void)
{
    wk_config_t cf;

    wk_config_defaults(&cf);
    is_str(cf.redis, "127.0.0.1:6379", "redis defaults to the local one");
    is_int(cf.push_claim_idle_ms, 60000, "push_claim_idle_ms 60 s");
    is_int(cf.max_attempts, 8, "max_attempts 8");
    is_int(cf.webhook_claim_idle_ms, 0,
           "webhook_claim_idle_ms 0 until resolved: it follows push's");
    is_int(cf.nwebhooks, 0, "no webhook");
}


static void
test_set(void)
{
    wk_config_t cf;
    char err[256];

    wk_config_defaults(&cf);
    is_int(wk_config_set(&cf, "push_batch", "50", err, sizeof(err)), 0,
           "a number sets");
    is_int(cf.push_batch, 50, "... to its value");
    is_int(wk_config_set(&cf, "push_batch", "0", err, sizeof(err)), -1,
           "below its minimum is refused");
    ok(strstr(err, "push_batch") && strstr(err, ">= 1"),
       "... naming the key and the minimum: %s", err);
    is_int(wk_config_set(&cf, "push_batch", "12x", err, sizeof(err)), -1,
           "trailing garbage is refused");
    is_int(wk_config_set(&cf, "push_batch", "", err, sizeof(err)), -1,
           "an empty number is refused");
    is_int(cf.push_batch, 50, "... and none of them changed the value");
    is_int(wk_config_set(&cf, "no_such_key", "1", err, sizeof(err)), -1,
           "an unknown key is refused");
    ok(strstr(err, "unknown key \"no_such_key\"") != NULL, "... saying so");
    is_int(wk_config_set(&cf, "log_level", "loud", err, sizeof(err)), -1,
           "an unknown log level is refused");
    is_int(wk_config_set(&cf, "webhook_claim_idle_ms", "0", err,
                         sizeof(err)), 0,
           "0 is accepted where it means 'as the push key'");
    is_int(wk_config_set(&cf, "webhook_claim_idle_ms", "50", err,
                         sizeof(err)), -1,
           "... but another value below the minimum is not");
    ok(strstr(err, "0 or a number >= 100") != NULL, "... saying so: %s",
       err);

    char big[WK_CONFIG_STR_MAX + 10];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    is_int(wk_config_set(&cf, "apns_ca", big, err, sizeof(err)), -1,
           "a string longer than the limit is refused");
    for (int i = 0; i < WK_WEBHOOKS_MAX; i++) {
        wk_config_set(&cf, "webhook", "w http://127.0.0.1/", err,
                      sizeof(err));
    }
    is_int(cf.nwebhooks, WK_WEBHOOKS_MAX, "webhook lines add up");
    is_int(wk_config_set(&cf, "webhook", "x http://127.0.0.1/", err,
                         sizeof(err)), -1,
           "... up to the limit");
}


static void
test_file(void)
{
    wk_config_t cf;
    problems_t p = { 0, "" };
    const char *text =
        "# comment\n"
        "\n"
        "  redis =  /run/redis.sock  \n"
        "push_block_ms=250\n"
        "this line has no equals sign\n"
        "max_attempts = many\n"
        "unknown_thing = 1\n"
        "webhook = a http://127.0.0.1:9/ topics=mdm.Connect\n";
    char *path = write_file(text);

    ok(path != NULL, "a temporary file");
    wk_config_defaults(&cf);
    is_int(wk_config_load_each(&cf, path, note, &p), 3,
           "every bad line is one problem");
    is_int(p.n, 3, "... each reported");
    ok(strstr(p.last, ":7: unknown key") != NULL,
       "... with the file and line: %s", p.last);
    is_str(cf.redis, "/run/redis.sock", "keys and values are trimmed");
    is_int(cf.push_block_ms, 250, "key=value without spaces reads");
    is_str(cf.webhooks[0], "a http://127.0.0.1:9/ topics=mdm.Connect",
           "a webhook line is kept as written");

    char err[256];
    wk_config_defaults(&cf);
    is_int(wk_config_load(&cf, path, err, sizeof(err)), -1,
           "wk_config_load stops at a problem");
    ok(strstr(err, ":5: expected key = value") != NULL,
       "... the first: %s", err);
    unlink(path);

    p.n = 0;
    is_int(wk_config_load_each(&cf, "/nonexistent/mdm-worker.conf", note,
                               &p), 1,
           "a file that cannot be read is one problem");
}


static void
test_args(void)
{
    wk_config_t cf;
    char err[256];
    char *path = write_file("push_claim_idle_ms = 3000\n"
                            "push_block_ms = 700\n"
                            "name = from-file\n");
    char *argv[] = { "mdm-worker", "--push-block-ms", "900", "-c", path,
                     "--webhook-claim-interval-ms", "400", NULL };

    wk_config_defaults(&cf);
    is_int(wk_config_from_args(&cf, 7, argv, err, sizeof(err)), 0,
           "file and flags parse");
    is_int(cf.push_block_ms, 900,
           "a flag overrides the file wherever it stands");
    is_int(cf.push_claim_idle_ms, 3000, "the file's keys apply");
    is_str(cf.name, "from-file", "name from the file");
    is_int(cf.webhook_claim_idle_ms, 3000,
           "webhook_claim_idle_ms unset: the push group's");
    is_int(cf.webhook_block_ms, 900, "webhook_block_ms unset: the push's");
    is_int(cf.webhook_claim_interval_ms, 400,
           "webhook_claim_interval_ms set: its own");
    unlink(path);

    char *bad[] = { "mdm-worker", "--push-batch", NULL };
    wk_config_defaults(&cf);
    is_int(wk_config_from_args(&cf, 2, bad, err, sizeof(err)), -1,
           "a flag without a value is refused");
    char *noname[] = { "mdm-worker", NULL };
    wk_config_defaults(&cf);
    wk_config_from_args(&cf, 1, noname, err, sizeof(err));
    char want[32];
    snprintf(want, sizeof(want), "-%d", (int) getpid());
    ok(strlen(cf.name) > strlen(want)
       && strcmp(cf.name + strlen(cf.name) - strlen(want), want) == 0,
       "no name: <host>-<pid> (%s)", cf.name);
}


int
main(void)
{
    test_defaults();
    test_set();
    test_file();
    test_args();
    return done_testing();
}
