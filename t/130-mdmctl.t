#!/usr/bin/perl
# mdmctl against the real stack (redis-server, nginx with the module,
# mdm-worker, apns-mock): each verb in table and JSON form, exit codes,
# config precedence (flags > env > file), the Basic user, a .p12 push
# certificate, a push that reaches apns-mock, real webhook dead letters and
# their replay, and `import nanomdm` from a MySQL dump and a file-storage
# tree written after NanoMDM's schema.sql and storage/file layout, through
# /migration and the enqueue API: dry run, import, and a second run that
# changes nothing.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use MDM::Test;
use MDM::Keys;

*plist = \&MDM::Plist::plist;
*data = \&MDM::Plist::data;

my $t = MDM::Test->new;
my $pki = $t->pki;
my $dir = $t->dir;
my $redis = $t->redis_start;
my $port = $t->port('https');
my $CTL = "$MDM::Test::BUILD/mdmctl";

$t->nginx_start(<<"EOF2", port => $port);
    mdm_redis 127.0.0.1:$redis;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        client_max_body_size 1m;
        client_body_buffer_size 1m;
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_cert_binding retro; mdm_server; }
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF2

my $topic = 'com.apple.mgmt.External.ctl';

# apns-mock for pushes, mdm-worker with a webhook nobody answers (dead letters)
$t->spawn('mock', {}, "$MDM::Test::BUILD/apns-mock", '--port', 0, '--cert', $pki->{cert},
    '--key', $pki->{key}, '--ca', $pki->{ca}, '--log', "$dir/mock.log");
my $mock_port = $t->wait_for(sub {
    -e "$dir/mock.out" && MDM::Test::slurp("$dir/mock.out") =~ /^port=(\d+)$/m ? $1 : undef
}, 30) or BAIL_OUT('apns-mock did not start');
my $dead_port = $t->free_port;
MDM::Test::spew("$dir/mdm-worker.conf", <<"EOF2");
redis = 127.0.0.1:$redis
apns_url = https://127.0.0.1:$mock_port
apns_ca = $pki->{ca}
push_block_ms = 200
webhook = main http://127.0.0.1:$dead_port/hook
webhook_timeout_ms = 500
webhook_retry_for = 1
webhook_backoff_base_ms = 50
webhook_backoff_max_ms = 200
EOF2
$t->spawn('worker', {}, "$MDM::Test::BUILD/mdm-worker", '-c', "$dir/mdm-worker.conf", '--name', 'w1');
sub pushes { -e "$dir/mock.log" ? split(/\n/, MDM::Test::slurp("$dir/mock.log")) : () }
my $token = pack('H*', '0a1b' x 16);

sub checkin {
    my ($id, $body) = @_;
    my $r = $t->request('PUT', $port, '/mdm', $body, sign => $id,
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' });
    die "check-in failed: $r->{status}" unless $r->{status} == 200;
}

sub device {
    my ($udid, %facts) = @_;
    my $id = $t->identity($udid);
    checkin($id, plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic, %facts));
    checkin($id, plist(MessageType => 'TokenUpdate', UDID => $udid, Topic => $topic,
                       Token => data($token), PushMagic => "magic-$udid"));
}

# ctl(env => {...}, args...) -> { rc, out, err }
my $URL = "https://127.0.0.1:$port";
my %BASE_ENV = (MDMCTL_URL => $URL, MDMCTL_API_KEY => 'sekret',
                MDMCTL_CACERT => $pki->{ca}, XDG_CONFIG_HOME => "$dir/xdg",
                MDMCTL_CONFIG => undef, MDMCTL_USER => undef);
sub ctl {
    my %env = %BASE_ENV;
    if (ref $_[0] eq 'HASH') { my $e = shift; @env{keys %$e} = values %$e }
    my @args = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        for (keys %env) { defined $env{$_} ? ($ENV{$_} = $env{$_}) : delete $ENV{$_} }
        open STDOUT, '>', "$dir/ctl.out";
        open STDERR, '>', "$dir/ctl.err";
        exec $CTL, @args or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    return { rc => $? >> 8, out => MDM::Test::slurp("$dir/ctl.out"),
             err => MDM::Test::slurp("$dir/ctl.err") };
}
sub ctl_json { my $r = ctl(@_); return ($r, eval { decode_json($r->{out}) }) }

device('CTL-DEV-1', SerialNumber => 'SER-1');
device('CTL-DEV-2', SerialNumber => 'SER-2');
device('CTL-DEV-3', SerialNumber => 'SER-3');

# --- usage, help, version ---------------------------------------------------
my $r = ctl('--help');
is($r->{rc}, 0, '--help exits 0');
like($r->{out}, qr/exit codes: 0 ok/, '--help documents the exit codes');
for my $v (['enrollments', 'list'], ['commands', 'send'], ['pushcert', 'upload'],
           ['import', 'nanomdm'], ['push']) {
    $r = ctl(@$v, '--help');
    is($r->{rc}, 0, "@$v --help exits 0");
    like($r->{out}, qr/^usage: mdmctl \[global flags\] \Q@$v\E /, "@$v --help shows its usage");
}
is(ctl('frobnicate')->{rc}, 2, 'an unknown command is a usage error (2)');
is(ctl('enrollments', 'show')->{rc}, 2, 'a missing argument is a usage error (2)');
is(ctl('enrollments', 'list', '--bogus')->{rc}, 2, 'an unknown flag is a usage error (2)');
is(ctl({ MDMCTL_URL => undef }, 'version')->{rc}, 2, 'no URL at all is a usage error (2)');

$r = ctl('version');
is($r->{rc}, 0, 'version exits 0');
like($r->{out}, qr/^server \d+\.\d+\.\d+/, 'version prints the server version');
my ($rj, $j) = ctl_json('--json', 'version');
like($j->{version} // '', qr/^\d+\.\d+/, 'version --json is the API\'s JSON');

# --- errors and exit codes --------------------------------------------------
$r = ctl({ MDMCTL_API_KEY => 'wrong' }, 'enrollments', 'list');
is($r->{rc}, 1, 'a wrong API key (401) exits 1');
like($r->{err}, qr/HTTP 401/, 'and says HTTP 401');
my $closed = $t->free_port;
$r = ctl({ MDMCTL_URL => "https://127.0.0.1:$closed" }, 'version');
is($r->{rc}, 3, 'a refused connection exits 3');
$r = ctl({ MDMCTL_CACERT => $pki->{foreign} }, 'version');
is($r->{rc}, 3, 'a server certificate the CA did not sign exits 3 (TLS)');
is(ctl({ MDMCTL_CACERT => $pki->{foreign}, MDMCTL_INSECURE => 1 }, 'version')->{rc}, 0,
   'MDMCTL_INSECURE=1 skips TLS verification');
$r = ctl('enrollments', 'show', 'NOBODY');
is($r->{rc}, 1, 'an unknown enrollment (404) exits 1');
like($r->{err}, qr/unknown enrollment/, 'and says why');

# the Basic user: nanomdm by default, configurable (the API checks it)
is(ctl({ MDMCTL_USER => 'kmfddm' }, 'enrollments', 'list')->{rc}, 1, 'MDMCTL_USER=kmfddm on a NanoMDM route is 401 (1)');
is(ctl({ MDMCTL_USER => 'kmfddm' }, '--user', 'nanomdm', 'enrollments', 'list')->{rc}, 0, '--user overrides MDMCTL_USER');

# --- config precedence: flags > env > file -----------------------------------
mkdir "$dir/xdg"; mkdir "$dir/xdg/mdmctl";
MDM::Test::spew("$dir/xdg/mdmctl/config",
    "# mdmctl config\nurl = $URL\napi_key = sekret\ncacert = $pki->{ca}\n");
is(ctl({ MDMCTL_URL => undef, MDMCTL_API_KEY => undef, MDMCTL_CACERT => undef },
       'enrollments', 'list')->{rc}, 0, 'the XDG config file alone is enough');
MDM::Test::spew("$dir/xdg/mdmctl/config", "url = $URL\napi_key = wrong-in-file\ncacert = $pki->{ca}\n");
is(ctl({ MDMCTL_URL => undef, MDMCTL_CACERT => undef }, 'enrollments', 'list')->{rc}, 0,
   'MDMCTL_API_KEY overrides the file');
is(ctl({ MDMCTL_API_KEY => undef }, 'enrollments', 'list')->{rc}, 1,
   'without it the file\'s wrong key is used (401)');
is(ctl({ MDMCTL_API_KEY => 'wrong-in-env' }, '--api-key', 'sekret', 'enrollments', 'list')->{rc}, 0,
   '--api-key overrides MDMCTL_API_KEY');
is(ctl({ MDMCTL_URL => "https://127.0.0.1:$closed" }, '--url', $URL, 'version')->{rc}, 0,
   '--url overrides MDMCTL_URL');
MDM::Test::spew("$dir/other.conf", "url = $URL\napi_key = sekret\ncacert = $pki->{ca}\n");
is(ctl({ MDMCTL_URL => undef, MDMCTL_API_KEY => undef, MDMCTL_CACERT => undef },
       '--config', "$dir/other.conf", 'enrollments', 'list')->{rc}, 0, '--config names another file');
is(ctl('--config', "$dir/missing.conf", 'version')->{rc}, 4, 'a named config file that is missing exits 4');
MDM::Test::spew("$dir/bad.conf", "colour = blue\n");
$r = ctl('--config', "$dir/bad.conf", 'version');
is($r->{rc}, 4, 'an unknown config key exits 4');
like($r->{err}, qr/bad\.conf:1/, 'naming file and line');
unlink "$dir/xdg/mdmctl/config";

# --- enrollments ------------------------------------------------------------
$r = ctl('enrollments', 'list');
is($r->{rc}, 0, 'enrollments list exits 0');
like($r->{out}, qr/^ID\s+TYPE\s+ENABLED\s+SERIAL/m, 'with a table header');
like($r->{out}, qr/^CTL-DEV-2\s+Device\s+true\s+SER-2/m, 'and a row per enrollment');
($r, $j) = ctl_json('--json', 'enrollments', 'list', '--serial', 'SER-3');
is_deeply([map { $_->{id} } @{ $j->{enrollments} }], ['CTL-DEV-3'], '--serial filters (JSON)');
($r, $j) = ctl_json('--json', 'enrollments', 'list', '--limit', '1');
is(scalar @{ $j->{enrollments} }, 1, '--limit 1 gives one');
ok(defined $j->{next_cursor}, 'and a next_cursor');
my ($r2, $j2) = ctl_json('--json', 'enrollments', 'list', '--limit', '1', '--cursor', $j->{next_cursor});
isnt($j2->{enrollments}[0]{id}, $j->{enrollments}[0]{id}, '--cursor gives the next page');
($r, $j) = ctl_json('--json', 'enrollments', 'list', '--limit', '1', '--all');
is_deeply([sort map { $_->{id} } @{ $j->{enrollments} }], [qw(CTL-DEV-1 CTL-DEV-2 CTL-DEV-3)],
          '--all follows the cursors to the end');
ok(!defined $j->{next_cursor}, 'the merged list has no next_cursor');
($r, $j) = ctl_json('--json', 'enrollments', 'list', '--type', 'User Enrollment (Device)');
is_deeply($j->{enrollments}, [], '--type with spaces is encoded (no match here)');
is(ctl('enrollments', 'list', '--enabled', 'maybe')->{rc}, 1, 'a bad filter value (400) exits 1');
$r = ctl('enrollments', 'show', 'CTL-DEV-1');
like($r->{out}, qr/^serial\s+SER-1$/m, 'enrollments show prints key: value lines');
($r, $j) = ctl_json('--json', 'enrollments', 'show', 'CTL-DEV-1');
is($j->{token}, '0a1b' x 16, 'enrollments show --json is the API\'s object');

# --- commands ---------------------------------------------------------------
$r = ctl('commands', 'send', '--body', '{"request_type":"ProfileList"}');
is($r->{rc}, 0, 'commands send without IDs is a dry run');
like($r->{out}, qr/<key>RequestType<\/key>\s*<string>ProfileList<\/string>/, 'printing the plist');
$r = ctl('commands', 'send', '--nopush', '--body',
         '{"request_type":"DeviceInformation","Queries":["OSVersion"]}', 'CTL-DEV-1', 'NOBODY');
is($r->{rc}, 1, 'a command for a known and an unknown ID (207) exits 1');
like($r->{out}, qr/^command \S+ \(DeviceInformation\): 1 queued, no push$/m, 'the table says what was queued');
like($r->{out}, qr/^NOBODY\s+command_error=unknown enrollment/m, 'and the refused one');
is(ctl('commands', 'send', '--body', '{"request_type":"NoSuchThing"}', 'CTL-DEV-1')->{rc}, 1,
   'an invalid command (400) exits 1');
is(ctl('commands', 'send', '--body', 'not json', 'CTL-DEV-1')->{rc}, 2, 'a body that is not JSON exits 2');

my $uuid = 'ctl-plist-0001';
MDM::Test::spew("$dir/cmd.plist", plist(CommandUUID => $uuid,
    Command => MDM::Plist::subdict(RequestType => 'SecurityInfo')));
($r, $j) = ctl_json('--json', 'commands', 'send-plist', "$dir/cmd.plist", '--nopush', 'CTL-DEV-1', 'CTL-DEV-2');
is($r->{rc}, 0, 'send-plist to two IDs exits 0');
is($j->{command_uuid}, $uuid, 'the raw plist was enqueued (JSON answer)');
is(ctl('commands', 'send-plist', "$dir/cmd.plist", 'CTL-DEV-3')->{rc}, 1, 'a duplicate CommandUUID (409) exits 1');
is(ctl('commands', 'send-plist', "$dir/nothing.plist", 'CTL-DEV-3')->{rc}, 4, 'an unreadable plist file exits 4');

# bulk: more IDs than go in a URL path here, through the JSON body
MDM::Test::spew("$dir/ids.txt", "# fleet\nCTL-DEV-1\nCTL-DEV-2\n\nCTL-DEV-3\n" . join('', map { "GONE-$_\n" } 1..150));
MDM::Test::spew("$dir/bulk.plist", plist(CommandUUID => 'ctl-bulk-0001',
    Command => MDM::Plist::subdict(RequestType => 'ProfileList')));
($r, $j) = ctl_json('--json', 'commands', 'send-plist', "$dir/bulk.plist", '--nopush', '--ids-file', "$dir/ids.txt");
is($j->{queued}, 3, 'send-plist --ids-file queues for the three known of 153 IDs');
is($r->{rc}, 1, 'and exits 1 for the unknown ones');
($r, $j) = ctl_json('--json', 'commands', 'send', '--nopush', '--body', '{"request_type":"ProfileList"}',
                   '--ids-file', "$dir/ids.txt");
is($j->{queued}, 3, 'commands send --ids-file (JSON builder, ids in the body)');

$r = ctl('commands', 'status', $uuid);
is($r->{rc}, 0, 'commands status exits 0');
like($r->{out}, qr/^CTL-DEV-2\s+Queued/m, 'the table shows each target\'s state');
($r, $j) = ctl_json('--json', 'commands', 'status', $uuid, '--id', 'CTL-DEV-1', '--plist');
is(scalar @{ $j->{enrollments} }, 1, 'status --id gives one target');
like($j->{plist}, qr/SecurityInfo/, 'status --plist includes the body');
is(ctl('commands', 'status', 'never-was')->{rc}, 1, 'status of an unknown command exits 1');
is(ctl('commands', 'status', $uuid, '--report')->{rc}, 2, '--report without --id is a usage error');

$r = ctl('queue', 'list', 'CTL-DEV-1');
like($r->{out}, qr/^ctl-plist-0001\s+SecurityInfo\s+Queued/m, 'queue list shows the queued command');
($r, $j) = ctl_json('--json', 'queue', 'list', 'CTL-DEV-2', '--limit', '1', '--all');
is($j->{commands}[0]{command_uuid}, $uuid, 'queue list --all (JSON)');
cmp_ok(scalar @{ $j->{commands} }, '>=', 2, 'with every page');

($r, $j) = ctl_json('--json', 'commands', 'cancel', $uuid, '--ids', 'CTL-DEV-2');
is($r->{rc}, 0, 'commands cancel --ids exits 0');
is_deeply($j->{status}{'CTL-DEV-2'}, {}, 'the target was cancelled');
$r = ctl('commands', 'cancel', $uuid, '--ids', 'CTL-DEV-2');
is($r->{rc}, 1, 'cancelling again (500, per ID) exits 1');
like($r->{out}, qr/already Canceled/, 'and says why');
($r, $j) = ctl_json('--json', 'commands', 'status', $uuid, '--id', 'CTL-DEV-2');
is($j->{enrollments}[0]{status}, 'Canceled', 'status shows the cancellation');

$r = ctl('queue', 'clear', 'CTL-DEV-3', 'NOBODY');
is($r->{rc}, 1, 'queue clear of a known and an unknown ID (207) exits 1');
like($r->{out}, qr/^CTL-DEV-3\s+canceled=2/m, 'the known one\'s commands were cancelled');
($r, $j) = ctl_json('--json', 'queue', 'list', 'CTL-DEV-3');
is_deeply($j->{commands}, [], 'its queue is empty');

# --- push certificates ------------------------------------------------------
sub push_cert {
    my ($name, $tp) = @_;
    my $base = "$dir/push-$name";
    $t->openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', "$base.key",
        '-out', "$base.csr", '-subj', "/UID=$tp/CN=APSP:$name");
    $t->openssl('x509', '-req', '-in', "$base.csr", '-CA', $pki->{ca},
        '-CAkey', $pki->{ca_key}, MDM::Test::serial_args(), '-out', "$base.pem", '-days', '30');
    return $base;
}
my $pc = push_cert('one', $topic);
$r = ctl('pushcert', 'upload', '--cert', "$pc.pem", '--key', "$pc.key");
is($r->{rc}, 0, 'pushcert upload --cert --key exits 0');
like($r->{out}, qr/^\Q$topic\E\s+\d{4}-/m, 'and prints the topic and expiry');
my $updated = $t->redis('HGET', key_pushcert($topic), 'updated');
$t->openssl('pkcs12', '-export', '-in', "$pc.pem", '-inkey', "$pc.key", '-out', "$pc.p12",
            '-passout', 'pass:s3cret');
($r, $j) = ctl_json('--json', 'pushcert', 'upload', '--p12', "$pc.p12", '--password', 's3cret');
is($r->{rc}, 0, 'pushcert upload --p12 --password exits 0');
is($j->{topic}, $topic, 'the .p12\'s certificate was stored');
cmp_ok($t->redis('HGET', key_pushcert($topic), 'updated'), '>', $updated, 'replacing the earlier upload');
is(ctl({ MDMCTL_P12_PASSWORD => 's3cret' }, 'pushcert', 'upload', '--p12', "$pc.p12")->{rc}, 0,
   'the password may come from MDMCTL_P12_PASSWORD');
$r = ctl('pushcert', 'upload', '--p12', "$pc.p12", '--password', 'wrong');
is($r->{rc}, 4, 'a wrong .p12 password exits 4');
like($r->{err}, qr/wrong password/, 'and says so');
is(ctl('pushcert', 'upload', '--pem', "$pc.key")->{rc}, 1, 'a key without certificate (400) exits 1');
is(ctl('pushcert', 'upload', '--cert', "$pc.pem")->{rc}, 2, '--cert without --key is a usage error');
($r, $j) = ctl_json('--json', 'pushcert', 'show', $topic);
is($j->{topic}, $topic, 'pushcert show --json');
is(ctl('pushcert', 'show', 'com.apple.mgmt.nothing')->{rc}, 1, 'pushcert show of an unknown topic (404) exits 1');

# --- push -------------------------------------------------------------------
$r = ctl('push', 'CTL-DEV-1');
is($r->{rc}, 0, 'push exits 0');
like($r->{out}, qr/^CTL-DEV-1\s+push_result=queued/m, 'and shows the queued push');
ok($t->wait_for(sub { grep { /\Q$topic\E ${\ ('0a1b' x 16)} .*magic-CTL-DEV-1/ } pushes() }, 30),
   'mdm-worker delivered the push to apns-mock');
is(ctl('push', 'NOBODY')->{rc}, 1, 'push of an unknown ID (500, per ID) exits 1');

# --- webhooks, metrics ------------------------------------------------------
($r, $j) = ctl_json('--json', 'webhooks', 'dead', 'main', '--count', '5');
is($r->{rc}, 0, 'webhooks dead exits 0');
ok($t->wait_for(sub { $t->redis('XLEN', key_webhook_dead('main')) >= 6 }, 60),
   'the check-in events died at the unreachable webhook');
($r, $j) = ctl_json('--json', 'webhooks', 'dead', 'main', '--count', '2');
is(scalar @{ $j->{dead} }, 2, 'webhooks dead --count 2 lists two (JSON)');
my $dead_id = $j->{dead}[0]{id};
$r = ctl('webhooks', 'dead', 'main');
like($r->{out}, qr/^ID\s+TOPIC\s+TRIES/, 'webhooks dead table header');
like($r->{out}, qr/^\Q$dead_id\E\s+mdm\.\w+\s+\d+\s+CTL-DEV-\d/m, 'and a row per dead letter');
$r = ctl('webhooks', 'replay', 'main', '--id', $dead_id);
is($r->{rc}, 0, 'webhooks replay --id exits 0');
like($r->{out}, qr/^replayed 1 dead letter\(s\) of webhook main$/m, 'and replays one');
($r, $j) = ctl_json('--json', 'webhooks', 'dead', 'main', '--count', '100');
ok(!grep({ $_->{id} eq $dead_id } @{ $j->{dead} }), 'it left the dead letters');
is(ctl('webhooks', 'replay', 'main', '--id', '1-1')->{rc}, 1, 'replaying an unknown dead letter (404) exits 1');
is(ctl('webhooks', 'replay', 'main', '--id', 'nonsense')->{rc}, 1, 'a malformed dead letter id (400) exits 1');
is(ctl('webhooks', 'dead', 'main', '--id', 'x')->{rc}, 2, 'an option of another verb is a usage error');
$r = ctl('metrics');
is($r->{rc}, 0, 'metrics exits 0');
like($r->{out}, qr/^# (HELP|TYPE) mdm_/m, 'and prints Prometheus text');

# --- import nanomdm: MySQL dump ----------------------------------------------
# CTL-DEV-1 is enrolled already with the same token (a re-run after the
# cut-over); OLD-DEV is disabled (checked out) in NanoMDM.
sub sqlq {
    my ($s) = @_;
    return 'NULL' unless defined $s;
    $s =~ s/\\/\\\\/g; $s =~ s/'/\\'/g; $s =~ s/\n/\\n/g; $s =~ s/\r/\\r/g;
    return "'$s'";
}
my $mtopic = 'com.apple.mgmt.External.migrated';
my $mc = push_cert('mig', $mtopic);
my $auth1 = plist(MessageType => 'Authenticate', UDID => 'CTL-DEV-1', Topic => $topic);
my $tu1 = plist(MessageType => 'TokenUpdate', UDID => 'CTL-DEV-1', Topic => $topic,
                Token => data($token), PushMagic => 'magic-CTL-DEV-1');
my $q1 = plist(CommandUUID => 'nano-q-0001', Command => MDM::Plist::subdict(RequestType => 'DeviceInformation'));
my $q2 = plist(CommandUUID => 'nano-q-0002', Command => MDM::Plist::subdict(RequestType => 'ProfileList'));
my $done = plist(CommandUUID => 'nano-done-0001', Command => MDM::Plist::subdict(RequestType => 'ProfileList'));
my $ts = "'2026-11-01 10:00:00'";
# NEW-DEV-1 is not enrolled here yet: it arrives through /migration with its
# UnlockToken (kept apart by NanoMDM), its bootstrap token and a user channel
my $new_token = pack('H*', 'beef' x 16);
my $auth_new = plist(MessageType => 'Authenticate', UDID => 'NEW-DEV-1', Topic => $topic, SerialNumber => 'SER-NEW');
my $tu_new = plist(MessageType => 'TokenUpdate', UDID => 'NEW-DEV-1', Topic => $topic,
                   Token => data($new_token), PushMagic => 'magic-NEW-DEV-1');
my $tu_user = plist(MessageType => 'TokenUpdate', UDID => 'NEW-DEV-1', UserID => 'USER-1',
                    UserShortName => 'ada', Topic => $topic, Token => data(pack('H*', 'cafe' x 16)),
                    PushMagic => 'magic-USER-1');
my $q3 = plist(CommandUUID => 'nano-q-0003', Command => MDM::Plist::subdict(RequestType => 'InstalledApplicationList'));
my $dump = <<"SQL";
-- MySQL dump 10.13  Distrib 8.0.40, for Linux (x86_64)
/*!40101 SET NAMES utf8mb4 */;
DROP TABLE IF EXISTS `nano_devices`;
CREATE TABLE `nano_devices` (`id` varchar(255) NOT NULL) ENGINE=InnoDB;
LOCK TABLES `nano_devices` WRITE;
INSERT INTO `nano_devices` VALUES (${\ sqlq('CTL-DEV-1')},NULL,'SER-1',NULL,NULL,${\ sqlq($auth1)},$ts,${\ sqlq($tu1)},$ts,NULL,NULL,$ts,$ts),('OLD-DEV',NULL,'SER-OLD',NULL,NULL,${\ sqlq(plist(MessageType => 'Authenticate', UDID => 'OLD-DEV', Topic => $topic))},$ts,NULL,NULL,NULL,NULL,$ts,$ts),('NEW-DEV-1',NULL,'SER-NEW',0x${\ unpack('H*', 'unlock-bytes')},$ts,${\ sqlq($auth_new)},$ts,${\ sqlq($tu_new)},$ts,'Ym9vdHN0cmFwLXRva2Vu',$ts,$ts,$ts);
UNLOCK TABLES;
INSERT INTO `nano_users` VALUES ('USER-1','NEW-DEV-1','ada',NULL,${\ sqlq($tu_user)},$ts,NULL,NULL,NULL,NULL,$ts,$ts);
INSERT INTO `nano_enrollments` VALUES ('CTL-DEV-1','CTL-DEV-1',NULL,'Device','$topic','magic-CTL-DEV-1','${\ ('0a1b' x 16)}',1,1,$ts,$ts,$ts),('OLD-DEV','OLD-DEV',NULL,'Device','$topic','m','00ff',0,1,$ts,$ts,$ts),('NEW-DEV-1','NEW-DEV-1',NULL,'Device','$topic','magic-NEW-DEV-1','${\ ('beef' x 16)}',1,1,$ts,$ts,$ts),('NEW-DEV-1:USER-1','NEW-DEV-1','USER-1','User','$topic','magic-USER-1','${\ ('cafe' x 16)}',1,1,$ts,$ts,$ts);
INSERT INTO `nano_commands` VALUES ('nano-q-0001','DeviceInformation',${\ sqlq($q1)},$ts,$ts),('nano-q-0002','ProfileList',${\ sqlq($q2)},$ts,$ts),('nano-done-0001','ProfileList',${\ sqlq($done)},$ts,$ts),('nano-q-0003','InstalledApplicationList',${\ sqlq($q3)},$ts,$ts);
INSERT INTO `nano_enrollment_queue` (`id`, `command_uuid`, `active`, `priority`, `created_at`, `updated_at`) VALUES ('CTL-DEV-1','nano-q-0002',1,0,'2026-11-01 10:00:02',$ts),('CTL-DEV-1','nano-q-0001',1,0,'2026-11-01 10:00:01',$ts),('CTL-DEV-1','nano-done-0001',1,0,$ts,$ts),('NEW-DEV-1','nano-q-0003',1,0,$ts,$ts);
INSERT INTO `nano_command_results` VALUES ('CTL-DEV-1','nano-done-0001','Acknowledged',${\ sqlq(plist(Status => 'Acknowledged', CommandUUID => 'nano-done-0001', UDID => 'CTL-DEV-1'))},NULL,0,$ts,$ts);
INSERT INTO `nano_push_certs` VALUES ('$mtopic',${\ sqlq(MDM::Test::slurp("$mc.pem"))},${\ sqlq(MDM::Test::slurp("$mc.key"))},1,$ts,$ts);
INSERT INTO `nano_cert_auth_associations` VALUES ('CTL-DEV-1','${\ ('ab' x 32)}',$ts,$ts);
SQL
MDM::Test::spew("$dir/nano.sql", $dump);

($r, $j) = ctl_json('--json', 'import', 'nanomdm', '--mysql-dump', "$dir/nano.sql", '--dry-run');
is($r->{rc}, 0, 'import --dry-run exits 0');
ok($j->{dry_run}, 'and says it is a dry run');
my %item = map { ("$_->{kind} $_->{id}" => $_) } @{ $j->{items} };
like($item{"pushcert $mtopic"}{detail}, qr/would upload/, 'dry run: the push certificate would be uploaded');
is($item{'device CTL-DEV-1'}{outcome}, 'unchanged', 'dry run: the enrolled device is unchanged');
like($item{'device OLD-DEV'}{detail}, qr/disabled/, 'dry run: the checked-out device is skipped');
like($item{'device NEW-DEV-1'}{detail}, qr/would migrate/, 'dry run: the new device would be migrated');
like($item{'user NEW-DEV-1:USER-1'}{detail}, qr/would migrate/, 'dry run: and its user channel');
like($item{'command nano-q-0001'}{detail}, qr/would queue for 1/, 'dry run: a pending command would be queued');
ok(!$item{'command nano-done-0001'}, 'an acknowledged command is not pending');
is($j->{cert_bindings}, 1, 'the cert binding is counted, left to mdm_cert_binding retro');
is($t->redis('EXISTS', key_pushcert($mtopic)), 0, 'the dry run stored no certificate');
($r2, $j2) = ctl_json('--json', 'commands', 'status', 'nano-q-0001');
is($r2->{rc}, 1, 'nor any command');
is(ctl('enrollments', 'show', 'NEW-DEV-1')->{rc}, 1, 'nor any enrollment');

$r = ctl('import', 'nanomdm', '--mysql-dump', "$dir/nano.sql");
is($r->{rc}, 0, 'import exits 0');
like($r->{out}, qr/^import: 6 written, 1 unchanged, 1 skipped, 0 failed$/m, 'import summary');
like($r->{out}, qr/^device\s+NEW-DEV-1\s+migrated with UnlockToken, bootstrap token$/m,
     'the new device was migrated with both tokens');
($r2, $j2) = ctl_json('--json', 'enrollments', 'show', 'NEW-DEV-1');
is($j2->{token}, 'beef' x 16, 'it is enrolled with its NanoMDM push token');
ok($j2->{enabled} && $j2->{has_unlock_token} && $j2->{has_bootstrap_token},
   'enabled, with the UnlockToken and the bootstrap token');
is($j2->{serial}, 'SER-NEW', 'with the facts of its Authenticate');
ok(!defined $j2->{cert}, 'and no certificate binding (left to mdm_cert_binding retro)');
is_deeply($j2->{user_channels}, ['NEW-DEV-1:USER-1'], 'its user channel came along');
($r2, $j2) = ctl_json('--json', 'enrollments', 'show', 'NEW-DEV-1:USER-1');
is($j2->{token}, 'cafe' x 16, 'the user channel has its own token');
($r2, $j2) = ctl_json('--json', 'queue', 'list', 'NEW-DEV-1');
is_deeply([map { $_->{command_uuid} } @{ $j2->{commands} }], ['nano-q-0003'],
          'the migrated device\'s pending command is queued after its enrollment');
like($r->{out}, qr/1 certificate binding\(s\) not imported.*retro/, 'the bindings are reported');
is($t->redis('EXISTS', key_pushcert($mtopic)), 1, 'the push certificate was stored');
($r, $j) = ctl_json('--json', 'queue', 'list', 'CTL-DEV-1');
my @q = map { $_->{command_uuid} } @{ $j->{commands} };
is_deeply([grep { /^nano-/ } @q], ['nano-q-0001', 'nano-q-0002'],
          'the pending commands are queued in NanoMDM\'s order, not the acknowledged one');
# barrier: a push queued after the import reaches APNs after any it queued
is(ctl('push', 'CTL-DEV-2')->{rc}, 0, 'a push after the import');
ok($t->wait_for(sub { grep { /magic-CTL-DEV-2/ } pushes() }, 30), 'reaches apns-mock');
is(scalar(grep { /magic-CTL-DEV-1|magic-NEW-DEV-1/ } pushes()), 1,
   'the imported commands queued no push (nopush)');

$r = ctl('import', 'nanomdm', '--mysql-dump', "$dir/nano.sql");
is($r->{rc}, 0, 'a second import exits 0');
like($r->{out}, qr/^import: 0 written, 7 unchanged, 1 skipped, 0 failed$/m, 'and writes nothing');
($r2, $j2) = ctl_json('--json', 'queue', 'list', 'NEW-DEV-1');
is(scalar @{ $j2->{commands} }, 1, 'the migrated device\'s queue was not reset by a second Authenticate');
like($r->{out}, qr/^nothing to change$/m, 'saying so');

MDM::Test::spew("$dir/broken.sql", "INSERT INTO `nano_commands` VALUES ('x','y','<?xml");
is(ctl('import', 'nanomdm', '--mysql-dump', "$dir/broken.sql")->{rc}, 4, 'a truncated dump exits 4');
is(ctl('import', 'nanomdm')->{rc}, 2, 'import without a source is a usage error');

# --- import nanomdm: file storage --------------------------------------------
my $kv = "$dir/filekv";
mkdir $kv; mkdir "$kv/CTL-DEV-2"; mkdir "$kv/CTL-DEV-2/Queue"; mkdir "$kv/CTL-DEV-2/QueueDone";
MDM::Test::spew("$kv/CTL-DEV-2/Authenticate.plist", plist(MessageType => 'Authenticate', UDID => 'CTL-DEV-2', Topic => $topic));
MDM::Test::spew("$kv/CTL-DEV-2/TokenUpdate.plist", plist(MessageType => 'TokenUpdate', UDID => 'CTL-DEV-2',
    Topic => $topic, Token => data($token), PushMagic => 'magic-CTL-DEV-2'));
MDM::Test::spew("$kv/CTL-DEV-2/SerialNumber.txt", 'SER-2');
MDM::Test::spew("$kv/CTL-DEV-2/Queue/kv-q-0001.plist", plist(CommandUUID => 'kv-q-0001',
    Command => MDM::Plist::subdict(RequestType => 'CertificateList')));
MDM::Test::spew("$kv/CTL-DEV-2/QueueDone/kv-done.plist", plist(CommandUUID => 'kv-done',
    Command => MDM::Plist::subdict(RequestType => 'ProfileList')));
MDM::Test::spew("$kv/CTL-DEV-2/CertAuth.sha256.txt", 'cd' x 32);
MDM::Test::spew("$kv/CertAuth.txt", 'CTL-DEV-2,' . ('cd' x 32) . "\n");
mkdir "$kv/NEW-KV-1"; mkdir "$kv/NEW-KV-1/SubEnrollments"; mkdir "$kv/NEW-KV-1:USER-K";
MDM::Test::spew("$kv/NEW-KV-1/Authenticate.plist", plist(MessageType => 'Authenticate', UDID => 'NEW-KV-1', Topic => $topic));
MDM::Test::spew("$kv/NEW-KV-1/TokenUpdate.plist", plist(MessageType => 'TokenUpdate', UDID => 'NEW-KV-1',
    Topic => $topic, Token => data(pack('H*', 'f00d' x 16)), PushMagic => 'magic-NEW-KV-1'));
MDM::Test::spew("$kv/NEW-KV-1/UnlockToken.dat", "\x00\x01unlock\xff");
MDM::Test::spew("$kv/NEW-KV-1/BootstrapToken.dat", "bs\x00token");
MDM::Test::spew("$kv/NEW-KV-1/SubEnrollments/NEW-KV-1:USER-K", '');
MDM::Test::spew("$kv/NEW-KV-1:USER-K/TokenUpdate.plist", plist(MessageType => 'TokenUpdate', UDID => 'NEW-KV-1',
    UserID => 'USER-K', Topic => $topic, Token => data(pack('H*', 'd00d' x 16)), PushMagic => 'magic-USER-K'));
my $kc = push_cert('kv', 'com.apple.mgmt.External.filekv');
MDM::Test::spew("$kv/com.apple.mgmt.External.filekv.pem", MDM::Test::slurp("$kc.pem"));
MDM::Test::spew("$kv/com.apple.mgmt.External.filekv.key", MDM::Test::slurp("$kc.key"));

$r = ctl('import', 'nanomdm', '--filekv', $kv, '--dry-run');
like($r->{out}, qr/^dry run: 4 to write, 1 unchanged/m, 'filekv dry run: certificate, device, user channel and command to write');
$r = ctl('import', 'nanomdm', '--filekv', $kv);
is($r->{rc}, 0, 'filekv import exits 0');
like($r->{out}, qr/^command\s+kv-q-0001\s+queued for 1 target/m, 'the Queue/ command was queued');
ok($r->{out} !~ /kv-done/, 'QueueDone/ is not');
like($r->{out}, qr/^device\s+NEW-KV-1\s+migrated with UnlockToken, bootstrap token$/m, 'the filekv device was migrated');
($r2, $j2) = ctl_json('--json', 'enrollments', 'show', 'NEW-KV-1');
ok($j2->{enabled} && $j2->{has_unlock_token} && $j2->{has_bootstrap_token} && $j2->{token} eq 'f00d' x 16,
   'with its token, UnlockToken.dat and BootstrapToken.dat');
is_deeply($j2->{user_channels}, ['NEW-KV-1:USER-K'], 'and its user channel');
is($t->redis('EXISTS', key_pushcert('com.apple.mgmt.External.filekv')), 1, '<topic>.pem + .key were uploaded');
$r = ctl('import', 'nanomdm', '--filekv', $kv);
like($r->{out}, qr/^import: 0 written, 5 unchanged/m, 'a second filekv import writes nothing');
is(ctl('import', 'nanomdm', '--filekv', "$dir/none")->{rc}, 4, 'a missing directory exits 4');

# NanoMDM's later file storage: BootstrapToken without .dat, Disabled files
my $kv2 = "$dir/filekv2";
mkdir $kv2;
for my $udid ('NEW-KV-2', 'GONE-KV-3') {
    mkdir "$kv2/$udid";
    MDM::Test::spew("$kv2/$udid/Authenticate.plist", plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic));
    MDM::Test::spew("$kv2/$udid/TokenUpdate.plist", plist(MessageType => 'TokenUpdate', UDID => $udid,
        Topic => $topic, Token => data(pack('H*', 'beef' x 16)), PushMagic => "magic-$udid"));
}
MDM::Test::spew("$kv2/NEW-KV-2/BootstrapToken", "bs2\x00token");
MDM::Test::spew("$kv2/GONE-KV-3/Disabled", '');
$r = ctl('import', 'nanomdm', '--filekv', $kv2);
is($r->{rc}, 0, 'import of the later file layout exits 0');
($r2, $j2) = ctl_json('--json', 'enrollments', 'show', 'NEW-KV-2');
ok($j2->{enabled} && $j2->{has_bootstrap_token}, '... a BootstrapToken file is the bootstrap token');
like($r->{out}, qr/GONE-KV-3.*skipped: disabled/m, '... an enrollment with a Disabled file is skipped');
is(ctl('enrollments', 'show', 'GONE-KV-3')->{rc}, 1, '... and not created');

# --- links, known serials, certificates -------------------------------------
for my $v (['links', 'create'], ['devices', 'register'], ['certs', 'revoke']) {
    $r = ctl(@$v, '--help');
    like($r->{out}, qr/^usage: mdmctl \[global flags\] \Q@$v\E /, "@$v --help shows its usage");
}
($r, $j) = ctl_json('--json', 'links', 'create', '--user', 'bob@example.org', '--tag', 'sales',
                    '--tag', 'emea', '--expires-in', 3600);
is($r->{rc}, 0, 'links create --json exits 0');
like($j->{token} // '', qr/^[0-9a-f]{32}$/, 'and prints the API answer with the token');
is_deeply($j->{tags}, ['sales', 'emea'], 'every --tag was sent');
is($j->{user}, 'bob@example.org', '--user was sent');
my $link = $j->{token};
$r = ctl('links', 'create');
is($r->{rc}, 0, 'links create without flags exits 0');
like($r->{out}, qr/^token [0-9a-f]{32}\nurl   \S+$/m, 'and prints the token and the url');
is(ctl('links', 'create', '--expires-in', 'soon')->{rc}, 2, 'a non-numeric --expires-in is a usage error');
$r = ctl('links', 'create', '--expires-in', 5);
is($r->{rc}, 1, 'an --expires-in the server refuses (400) exits 1');
like($r->{err}, qr/HTTP 400: .*expires_in/, 'with the server\'s reason');
$r = ctl('links', 'list');
is($r->{rc}, 0, 'links list exits 0');
like($r->{out}, qr/^\Q$link\E\s+\d+/m, 'and shows the new link');
($r, $j) = ctl_json('--json', 'links', 'list', '--limit', 1, '--all');
is(scalar @{ $j->{tokens} }, 2, 'links list --all follows the cursor to both links');
$r = ctl('links', 'show', $link);
is($r->{rc}, 0, 'links show exits 0');
like($r->{out}, qr/^user\s+bob\@example\.org$/m, 'and prints the link\'s user');
like($r->{out}, qr/^tags\s+sales, emea$/m, 'and its tags');
$r = ctl('links', 'delete', $link);
is($r->{rc}, 0, 'links delete exits 0');
like($r->{out}, qr/^deleted \Q$link\E$/m, 'and says so');
$r = ctl('links', 'show', $link);
is($r->{rc}, 1, 'a deleted link: show exits 1');
like($r->{err}, qr/HTTP 404: unknown enrollment link/, 'with the 404 message');
is(ctl('links', 'show', 'NOT-HEX')->{rc}, 1, 'a malformed token (400) exits 1');
is(ctl('links', 'show')->{rc}, 2, 'links show without a token is a usage error');

$r = ctl('devices', 'register', 'C02CTLADE001');
is($r->{rc}, 0, 'devices register exits 0');
like($r->{out}, qr/^registered C02CTLADE001$/m, 'and says registered');
like(ctl('devices', 'register', 'C02CTLADE001')->{out}, qr/^already registered C02CTLADE001$/m,
     'a second register says already registered');
($r, $j) = ctl_json('--json', 'devices', 'show', 'C02CTLADE001');
is($j->{serial}, 'C02CTLADE001', 'devices show --json is the API\'s record');
like($j->{registered} // '', qr/^\d+$/, 'with its registration time');
$r = ctl('devices', 'unregister', 'C02CTLADE001');
is($r->{rc}, 0, 'devices unregister exits 0');
$r = ctl('devices', 'show', 'C02CTLADE001');
is($r->{rc}, 1, 'an unregistered serial: show exits 1');
like($r->{err}, qr/HTTP 404/, 'with the 404');
is(ctl('devices', 'register', 'bad_serial!')->{rc}, 1, 'a malformed serial (400) exits 1');

$r = ctl('certs', 'list');
is($r->{rc}, 0, 'certs list exits 0');
is($r->{out}, "SHA256" . (' ' x 59) . "NOT AFTER\n", 'an empty table without a SCEP CA');
($r, $j) = ctl_json('--json', 'certs', 'list', '--all');
is_deeply($j->{certificates}, [], 'certs list --all --json: no certificates');
for my $v ('show', 'revoke', 'unrevoke') {
    $r = ctl('certs', $v, '5a2e23f5fdd8b4f6e65a2cffa46f5ee2');
    is($r->{rc}, 1, "certs $v of an unknown serial exits 1");
    like($r->{err}, qr/HTTP 404: no certificate with that serial/, 'with the 404 message');
}
is(ctl('certs', 'show', 'xyz')->{rc}, 1, 'a serial that is not hex (400) exits 1');
is(ctl('certs', 'revoke')->{rc}, 2, 'certs revoke without a serial is a usage error');

# --- bash completion ---------------------------------------------------------
sub complete {
    my ($cword, @words) = @_;
    my $script = "$MDM::Test::ROOT/tools/mdmctl/mdmctl.bash-completion";
    my $code = 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=' . $cword
             . '; _mdmctl; printf "%s\n" "${COMPREPLY[@]}"';
    open(my $fh, '-|', 'bash', '-c', $code, 'bash', $script, @words) or die "bash: $!";
    my @out = grep { length } map { chomp; $_ } <$fh>;
    close $fh;
    return [sort @out];
}
is_deeply(complete(1, 'mdmctl', 'comm'), ['commands'], 'completion: a noun');
is_deeply(complete(2, 'mdmctl', 'commands', 's'), ['send', 'send-plist', 'status'], 'completion: its verbs');
is_deeply(complete(4, 'mdmctl', '--json', 'import', 'nanomdm', '--d'), ['--dry-run'],
          'completion: a verb\'s flags, after a global flag');
is_deeply(complete(4, 'mdmctl', 'enrollments', 'list', '--enabled', 't'), ['true'], 'completion: a flag\'s values');
is_deeply(complete(2, 'mdmctl', 'certs', ''), ['list', 'revoke', 'show', 'unrevoke'], 'completion: certs verbs');
is_deeply(complete(3, 'mdmctl', 'links', 'create', '--'), ['--expires-in', '--help', '--tag', '--user'],
          'completion: links create flags');
is_deeply(complete(2, 'mdmctl', 'devices', 'un'), ['unregister'], 'completion: devices verbs');

is_deeply([$t->error_log_problems], [], 'no alerts or crashes in the logs');
done_testing;
