#!/usr/bin/perl
# The key layout record (mdm:schema, docs/redis-schema.md): an empty Redis
# gets this build's version written by the first process; another version is
# refused: the module answers 503 with an alert naming both versions (and
# serves again once Redis holds its version), mdm-worker exits 1 saying why.
# A deployment that predates the record is layout 1: refused until
# `mdm-worker --migrate`, after which its enrollment, queue, result, binding
# and push certificate are all served as before.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX qw(WNOHANG);
use MDM::Test;
use MDM::Keys qw(:DEFAULT $SCHEMA_VERSION);

*plist = \&MDM::Plist::plist;
*data = \&MDM::Plist::data;

my $t = MDM::Test->new;
my $dir = $t->dir;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $https = $t->port('https');
my $worker_bin = "$MDM::Test::BUILD/mdm-worker";

is($t->redis('EXISTS', key_schema()), 0, 'an empty Redis has no record');

$t->nginx_start(<<"EOF", port => $https);
    mdm_redis 127.0.0.1:$redis;
    server {
        listen 127.0.0.1:$https ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_server; }
        location / { mdm_api; mdm_api_key secret; }
    }
EOF

sub api_status {
    $t->request('GET', $https, '/v1/enrollments', undef,
                headers => { MDM::Test::api_auth('secret') })->{status};
}

ok($t->wait_for(sub { ($t->redis('HGET', key_schema(), 'version') // '') eq $SCHEMA_VERSION }, 20),
   "nginx records this build's layout version ($SCHEMA_VERSION) in an empty Redis");
is(api_status(), 200, '... and serves');

# A worker: runs on the recorded version, refuses another one.
sub worker {
    my ($name) = @_;
    return $t->spawn($name, {}, $worker_bin, '--redis', "127.0.0.1:$redis",
                     '--apns-url', 'https://127.0.0.1:1', '--name', $name,
                     '--log-level', 'info');
}
sub worker_log { my $f = "$dir/$_[0].out"; -e $f ? MDM::Test::slurp($f) : '' }
sub exit_code {
    my ($pid) = @_;
    my $code;
    $t->wait_for(sub {
        my $w = waitpid($pid, WNOHANG);
        $code = $? >> 8 if $w == $pid;
        return $w == $pid;
    }, 20);
    return $code;
}

worker('w1');
ok($t->wait_for(sub { worker_log('w1') =~ /key layout version $SCHEMA_VERSION\b/ }, 20),
   'mdm-worker checks the layout and runs');
$t->stop('w1');

# Another version: a newer deployment.
$t->redis('HSET', key_schema(), 'version', 99);
ok($t->wait_for(sub { api_status() == 503 }, 30), 'Redis of another layout: the API answers 503');
like($t->error_log, qr/refusing Redis: Redis holds key layout version 99, newer than this build's $SCHEMA_VERSION/,
     '... with an alert that names both versions');
is($t->redis('HGET', key_schema(), 'version'), 99, '... and the record is left alone');

my $pid = worker('w2');
is(exit_code($pid), 1, 'mdm-worker refuses to start: exit 1');
like(worker_log('w2'), qr/\[alert\].*refusing to start: Redis holds key layout version 99, newer than this build's $SCHEMA_VERSION/,
     '... saying why');
unlike(worker_log('w2'), qr/XGROUP|consumer group/i, '... before it touched a stream');

$t->redis('HSET', key_schema(), 'version', 'abc');
$pid = worker('w3');
is(exit_code($pid), 1, 'an invalid version is refused too');
like(worker_log('w3'), qr/invalid version "abc"/, '... and named');

# Back to this build's version: nginx serves again without a restart.
$t->redis('HSET', key_schema(), 'version', $SCHEMA_VERSION);
ok($t->wait_for(sub { api_status() == 200 }, 30), 'the record fixed: the API serves again, no restart');

# A deployment from before the record (layout 1): a device enrolled, a
# command answered, one queued, a push certificate; then no mdm:schema.
my $D = 'MIGRATE-DEVICE-1';
my $did = $t->identity($D);
sub device {
    my ($type, %kv) = @_;
    my $ct = $type eq 'checkin' ? 'application/x-apple-aspen-mdm-checkin' : 'application/x-apple-aspen-mdm';
    return $t->request('PUT', $https, '/mdm', plist(UDID => $D, %kv), sign => $did,
                       headers => { 'Content-Type' => $ct });
}
sub enqueue {
    my ($uuid) = @_;
    my $cmd = plist(CommandUUID => $uuid, Command => MDM::Plist::subdict(RequestType => 'ProfileList'));
    return $t->request('PUT', $https, "/v1/enqueue/$D?nopush=1", $cmd,
                       headers => { MDM::Test::api_auth('secret') })->{status};
}
is(device('checkin', MessageType => 'Authenticate', Topic => 'com.apple.mgmt.External.mig')->{status}, 200,
   'layout 1 data: Authenticate');
is(device('checkin', MessageType => 'TokenUpdate', Topic => 'com.apple.mgmt.External.mig',
          Token => data('k' x 32), PushMagic => 'pm')->{status}, 200, '... TokenUpdate');
is(enqueue('MIG-1'), 200, '... a command');
like(device('connect', Status => 'Idle')->{body}, qr/MIG-1/, '... sent');
is(device('connect', Status => 'Acknowledged', CommandUUID => 'MIG-1')->{status}, 200, '... answered');
is(enqueue('MIG-2'), 200, '... another one queued');
$t->redis('HSET', key_pushcert('com.apple.mgmt.External.mig'), cert => 'PEM', key => 'KEY',
          not_after => 2000000000, updated => 1);
my %before = (enr => { @{ $t->redis('HGETALL', key_enr($D)) } },
              cert => $t->redis('GET', key_cert($t->redis('HGET', key_enr($D), 'cert'))));
is($t->redis('HGET', key_enr($D), 'qgen'), undef, '... queue generation 0: layout 1\'s queue name');
$t->redis('DEL', key_schema());

ok($t->wait_for(sub { api_status() == 503 }, 30), 'unrecorded data is layout 1: the API answers 503');
like($t->error_log, qr/Redis holds key layout version 1, this build needs $SCHEMA_VERSION: run mdm-worker --migrate/,
     '... saying what to run');
$pid = worker('w4');
is(exit_code($pid), 1, 'mdm-worker refuses layout 1');
like(worker_log('w4'), qr/needs $SCHEMA_VERSION: run mdm-worker --migrate/, '... and says what to run');

$pid = $t->spawn('migrate', {}, $worker_bin, '--redis', "127.0.0.1:$redis", '--migrate',
                 '--apns-url', 'https://127.0.0.1:1');
is(exit_code($pid), 0, 'mdm-worker --migrate succeeds');
like(worker_log('migrate'), qr/key layout version 1 -> 2/, '... from layout 1 to 2');
is($t->redis('HGET', key_schema(), 'version'), $SCHEMA_VERSION, '... and records it');
$pid = $t->spawn('migrate2', {}, $worker_bin, '--redis', "127.0.0.1:$redis", '--migrate',
                 '--apns-url', 'https://127.0.0.1:1');
is(exit_code($pid), 0, 'a second --migrate is a no-op');
like(worker_log('migrate2'), qr/already holds key layout version $SCHEMA_VERSION/, '... and says so');

ok($t->wait_for(sub { api_status() == 200 }, 30), 'after the migration nginx serves again, no restart');
is_deeply({ @{ $t->redis('HGETALL', key_enr($D)) } }, $before{enr}, 'the enrollment is carried over');
is($t->redis('GET', key_cert($before{enr}{cert})), $before{cert}, '... its certificate binding');
is($t->redis('HGET', key_r($D, 'MIG-1'), 'status'), 'Acknowledged', '... the result');
is($t->redis('HGET', key_pushcert('com.apple.mgmt.External.mig'), 'cert'), 'PEM', '... the push certificate');
my $r = device('connect', Status => 'Idle');
is($r->{status}, 200, 'the device is served (its binding holds)');
like($r->{body}, qr/MIG-2/, '... and gets the command queued before the migration');
worker('w5');
ok($t->wait_for(sub { worker_log('w5') =~ /key layout version $SCHEMA_VERSION\b/ }, 20),
   'mdm-worker runs on the migrated deployment');
$t->stop('w5');

done_testing;
