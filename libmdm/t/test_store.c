/*
 * mdm_store: each script call's argv, KEYS and ARGV where the script reads
 * them; and the slot arithmetic the Cluster rules rest on.
 */
#include <stdlib.h>
#include <string.h>

#include "mdm_slot.h"
#include "mdm_store.h"
#include "tap.h"


static const char  *argv_[256];
static size_t       argvlen_[256];
static char         buf_[MDM_STORE_BUF(16)];


static mdm_argv_t
fresh(void)
{
    mdm_argv_t  a;

    mdm_argv_init(&a, argv_, argvlen_, 256, buf_, sizeof(buf_));
    return a;
}


/* argv[i] as a C string (it may not be NUL-terminated in general) */
static const char *
arg(const mdm_argv_t *a, int i)
{
    static char  s[1024];
    size_t       n;

    if (i >= a->argc) {
        return "(missing)";
    }
    n = a->argvlen[i] < sizeof(s) - 1 ? a->argvlen[i] : sizeof(s) - 1;
    memcpy(s, a->argv[i], n);
    s[n] = '\0';
    return s;
}


static void
header(const mdm_argv_t *a, const char *script, int nkeys)
{
    char  n[16];

    snprintf(n, sizeof(n), "%d", nkeys);
    is_str(a->script, script, "%s: the script's name for its SHA", script);
    is_str(arg(a, 0), "EVALSHA", "%s: EVALSHA", script);
    is_str(arg(a, 2), n, "%s: %d keys", script, nkeys);
    is_int(a->nkeys, nkeys, "%s: nkeys", script);
}


static void
test_connect(void)
{
    mdm_argv_t           a = fresh();
    mdm_report_t         rep;
    mdm_store_connect_t  in;

    memset(&rep, 0, sizeof(rep));
    strcpy(rep.enrollment.id, "DEV-1:USER-1");
    strcpy(rep.enrollment.parent, "DEV-1");
    rep.status = MDM_STATUS_ACKNOWLEDGED;
    rep.status_name = "Acknowledged";
    rep.command_uuid = "CMD-1";

    memset(&in, 0, sizeof(in));
    in.rep = &rep;
    in.cert_sha = "abc";
    in.now = 1700000000;
    in.result = "<plist/>";
    in.result_len = 8;
    in.event = "EV";
    in.event_len = 2;
    in.events_maxlen = 1000;
    in.result_retention = 86400;

    ok(mdm_store_connect_argv(&in, &a) == 0, "connect: built");
    header(&a, "connect", MDM_STORE_CONNECT_KEYS);
    is_str(arg(&a, 3), "mdm:{DEV-1:USER-1}:enr", "connect KEYS[1] enrollment");
    is_str(arg(&a, 4), "mdm:{DEV-1}:enr", "connect KEYS[2] the binding's hash");
    is_str(arg(&a, 7), "mdm:{DEV-1:USER-1}:r:CMD-1", "connect KEYS[5] result");
    is_str(arg(&a, 11), "DEV-1:USER-1", "connect ARGV[1] ID");
    is_str(arg(&a, 13), "abc", "connect ARGV[3] certificate");
    is_str(arg(&a, 14), "on", "connect ARGV[4] binding mode");
    is_str(arg(&a, 15), "1700000000", "connect ARGV[5] now");
    is_str(arg(&a, 18), "<plist/>", "connect ARGV[8] a final result's body");
    is_str(arg(&a, 21), "86400", "connect ARGV[11] retention");
    is_int(a.argc, 3 + 8 + 11, "connect: argc");

    rep.status = MDM_STATUS_IDLE;
    rep.status_name = "Idle";
    rep.command_uuid = NULL;
    in.event_len = 0;
    in.event = NULL;
    ok(mdm_store_connect_argv(&in, &a) == 0, "connect Idle: built again");
    is_str(arg(&a, 7), "mdm:{DEV-1:USER-1}:enr", "Idle: KEYS[5] is the enrollment");
    is_str(arg(&a, 18), "", "Idle: no body stored");
    is_str(arg(&a, 19), "", "Idle: no event");
}


static void
test_checkin(void)
{
    mdm_argv_t           a = fresh();
    mdm_checkin_t        ci;
    mdm_store_checkin_t  in;

    memset(&ci, 0, sizeof(ci));
    ci.type = MDM_CHECKIN_TOKEN_UPDATE;
    ci.message_type = "TokenUpdate";
    strcpy(ci.enrollment.id, "DEV-2");
    ci.enrollment.type = MDM_ENROLLMENT_DEVICE;
    ci.id_keys.udid = "DEV-2";
    ci.topic = "com.apple.mgmt.X";
    ci.token.data = (unsigned char *) "\x01\x02";
    ci.token.len = 2;
    ci.push_magic = "magic";

    memset(&in, 0, sizeof(in));
    in.ci = &ci;
    in.cert_sha = "";
    in.retro = 1;
    in.topic_check = 1;
    in.now = 42;
    in.event = "E";
    in.event_len = 1;
    in.events_maxlen = 7;

    ok(mdm_store_checkin_argv(&in, &a) == 0, "checkin: built");
    header(&a, "checkin", MDM_STORE_CHECKIN_KEYS);
    is_str(arg(&a, 3), "mdm:{DEV-2}:enr", "checkin KEYS[1]");
    is_str(arg(&a, 7), "mdm:qgc", "checkin KEYS[5] retired queues");
    is_str(arg(&a, 12), "mdm:pushcert:com.apple.mgmt.X", "checkin KEYS[10] topic's push certificate");
    is_str(arg(&a, 13), "TokenUpdate", "checkin ARGV[1] MessageType");
    is_str(arg(&a, 18), "retro", "checkin ARGV[6] binding mode");
    is_str(arg(&a, 22), "", "checkin ARGV[10]: no Authenticate plist");
    is_str(arg(&a, 23), "udid", "checkin ARGV[11..] field names ...");
    is_str(arg(&a, 24), "DEV-2", "... and values");

    int found = 0;
    for (int i = 23; i + 1 < a.argc; i += 2) {
        if (strcmp(arg(&a, i), "token") == 0) {
            found = a.argvlen[i + 1] == 2 && memcmp(a.argv[i + 1], "\x01\x02", 2) == 0;
        }
    }
    ok(found, "checkin: the token is stored as raw bytes");

    in.topic_check = 0;
    ok(mdm_store_checkin_argv(&in, &a) == 0, "checkin without topic check");
    is_str(arg(&a, 12), "", "... KEYS[10] is empty");
}


static void
test_enqueue_and_sweeps(void)
{
    mdm_argv_t           a = fresh();
    char                *ids[] = { "A", "B", "C" };
    mdm_store_enqueue_t  in;

    memset(&in, 0, sizeof(in));
    in.uuid = "U1";
    in.body = "BODY";
    in.body_len = 4;
    in.request_type = "ProfileList";
    in.now = 5;
    in.first = 1;
    in.ids = ids;
    in.nids = 3;
    ok(mdm_store_enqueue_argv(&in, &a) == 0, "enqueue: built");
    header(&a, "enqueue", MDM_STORE_ENQUEUE_KEYS);
    is_str(arg(&a, 3), "mdm:cmd:{U1}", "enqueue KEYS[1]");
    is_str(arg(&a, 14), "1", "enqueue ARGV[7] first chunk");
    is_str(arg(&a, 15), "0", "enqueue ARGV[8] not the last");
    is_str(arg(&a, 18), "C", "enqueue ARGV[9..] the IDs");
    is_int(a.argc, MDM_STORE_ENQUEUE_ARGC(3), "enqueue: argc");

    mdm_argv_t small;
    mdm_argv_init(&small, argv_, argvlen_, 10, buf_, sizeof(buf_));
    ok(mdm_store_enqueue_argv(&in, &small) == -1, "too small an argv is refused");
    mdm_argv_init(&small, argv_, argvlen_, 256, buf_, 20);
    ok(mdm_store_enqueue_argv(&in, &small) == -1, "too small a buffer is refused");

    a = fresh();
    ok(mdm_store_push_argv(ids, 2, &a) == 0, "push: built");
    header(&a, "push", MDM_STORE_PUSH_KEYS);
    is_str(arg(&a, 3), "mdm:push", "push KEYS[1]");
    is_str(arg(&a, 5), "B", "push ARGV: the IDs");
    is_int(a.argc, MDM_STORE_PUSH_ARGC(2), "push: argc");

    a = fresh();
    ok(mdm_store_expire_argv(1000, 50, 86400, 100000, &a) == 0, "expire: built");
    header(&a, "expire", MDM_STORE_EXPIRE_KEYS);
    is_str(arg(&a, 7), "1000", "expire ARGV[1] now (ms)");
    a = fresh();
    ok(mdm_store_queue_gc_argv(77, 500, &a) == 0, "queue_gc: built");
    header(&a, "queue_gc", MDM_STORE_QUEUE_GC_KEYS);
    is_str(arg(&a, 3), "mdm:qgc", "queue_gc KEYS[1]");
    is_str(arg(&a, 5), "500", "queue_gc ARGV[2] budget");
    a = fresh();
    ok(mdm_store_sweep_pending_argv(10, 600, 30, 100, &a) == 0, "sweep_pending: built");
    header(&a, "sweep_pending", MDM_STORE_SWEEP_PENDING_KEYS);
    is_str(arg(&a, 8), "30", "sweep_pending ARGV[3] NotNow delay");
}


static void
test_slots(void)
{
    /* values from the Redis Cluster specification and CLUSTER KEYSLOT */
    is_int(mdm_crc16("123456789", 9), 0x31c3, "CRC16/XMODEM check value");
    is_int(mdm_key_slot("foo", 3), 12182, "slot of foo");
    is_int(mdm_key_slot("{user1000}.following", 20), mdm_key_slot("user1000", 8),
           "a hash tag picks the slot");
    is_int(mdm_key_slot("foo{}{bar}", 10), mdm_crc16("foo{}{bar}", 10) & 16383,
           "an empty first tag hashes the whole key");
    is_int(mdm_key_slot("foo{{bar}}zap", 13), mdm_crc16("{bar", 4) & 16383,
           "the tag ends at the first }");
}


int
main(void)
{
    test_connect();
    test_checkin();
    test_enqueue_and_sweeps();
    test_slots();

    return done_testing();
}
