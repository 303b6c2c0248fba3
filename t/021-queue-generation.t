#!/usr/bin/perl
# Authenticate does not walk the queue (docs/redis-schema.md, mdm:{<id>}:q:<gen>):
# a re-enrolling device's queue is retired in one step (the enrollment's
# queue generation moves on), the old queue and its commands' result hashes
# are deleted later by mdm-worker's sweep in budgeted steps, and what is
# enqueued afterwards goes to the new generation and reaches the device.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;
use MDM::Keys;

*plist = \&MDM::Plist::plist;
*data = \&MDM::Plist::data;

my $worker_bin = "$MDM::Test::BUILD/mdm-worker";
my $t = MDM::Test->new;
my $dir = $t->dir;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $port = $t->port('https');

$t->nginx_start(<<"EOF", port => $port);
    mdm_redis 127.0.0.1:$redis;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_server; }
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF

my %API = MDM::Test::api_auth('sekret');
my $topic = 'com.apple.mgmt.External.qgen';
my $A = 'QGEN-DEVICE-0001';
my $U = "$A:QGEN-USER";
my $id = $t->identity($A);

sub checkin {
    my (%kv) = @_;
    my $r = $t->request('PUT', $port, '/mdm', plist(UDID => $A, Topic => $topic, %kv), sign => $id,
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' });
    return $r->{status};
}
sub enroll {
    checkin(MessageType => 'Authenticate') == 200 or die 'Authenticate failed';
    checkin(MessageType => 'TokenUpdate', Token => data('t' x 32), PushMagic => 'm') == 200
        or die 'TokenUpdate failed';
}
sub report {
    my (%kv) = @_;
    my $r = $t->request('PUT', $port, '/mdm', plist(UDID => $A, %kv), sign => $id,
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm' });
    return $r;
}
sub enqueue {
    my ($to, $uuid) = @_;
    my $cmd = plist(CommandUUID => $uuid,
                    Command => MDM::Plist::subdict(RequestType => 'ProfileList'));
    return $t->request('PUT', $port, "/v1/enqueue/$to?nopush=1", $cmd, headers => \%API)->{status};
}

enroll();
checkin(MessageType => 'TokenUpdate', UserID => 'QGEN-USER', Token => data('u' x 32),
        PushMagic => 'mu') == 200 or die 'user TokenUpdate failed';
is(enqueue($A, "OLD-$_"), 200, "OLD-$_ queued") for 1 .. 3;
is(enqueue($U, 'OLD-USER'), 200, 'a command for the user channel queued');
my $r = report(Status => 'Idle');
like($r->{body}, qr/OLD-1/, 'the device gets OLD-1');
report(Status => 'NotNow', CommandUUID => 'OLD-1');
is($t->redis('HGET', key_r($A, 'OLD-1'), 'status'), 'NotNow', "OLD-1's result hash says NotNow");

# A long queue: Authenticate's cost must not depend on it.
$t->redis('RPUSH', key_q($A), map { "BULK-$_" } 1 .. 3000);
my $len = $t->redis('LLEN', key_q($A));

enroll();
is($t->redis('HGET', key_enr($A), 'qgen'), 1, 're-enrollment: the queue generation moved on');
is($t->redis('HGET', key_enr($U), 'qgen'), 1, '... for the user channel too');
is($t->redis('LLEN', key_q($A)), $len, '... the old queue was not walked (still all there)');
is_deeply([ sort @{ $t->redis('ZRANGE', key_qgc(), 0, -1) } ], [ sort "0:$A", "0:$U" ],
          '... it and the user channel\'s wait for the sweep in mdm:qgc');
my $q = $t->request('GET', $port, "/v1/queue/$A", undef, headers => \%API);
is($q->{status}, 200, 'the queue API answers');
unlike($q->{body}, qr/OLD-|BULK-/, '... and lists nothing of the old queue');
$r = report(Status => 'Idle');
is($r->{status}, 200, 'the re-enrolled device polls');
is($r->{body}, '', '... and gets nothing of the old queue');

is(enqueue($A, 'NEW-1'), 200, 'a command enqueued after re-enrollment');
is($t->redis('LRANGE', key_qg($A, 1), 0, -1)->[0], 'NEW-1', '... is in generation 1');
$r = report(Status => 'Idle');
like($r->{body}, qr/NEW-1/, '... and reaches the device');
$r = report(Status => 'Acknowledged', CommandUUID => 'NEW-1');
is($r->{status}, 200, 'NEW-1 acknowledged');
is($t->redis('HGET', key_r($A, 'NEW-1'), 'status'), 'Acknowledged', '... and recorded');
is($t->redis('LLEN', key_qg($A, 1)), 0, '... and it left the new queue');

# The sweep: budgeted steps (sweep_batch 500 queue entries a call).
MDM::Test::spew("$dir/mdm-worker.conf", <<"EOF");
redis = 127.0.0.1:$redis
log_level = info
sweep_interval_ms = 50
sweep_batch = 500
EOF
$t->spawn('worker', {}, $worker_bin, '-c', "$dir/mdm-worker.conf",
          '--apns-url', 'https://127.0.0.1:1', '--name', 'qgen-w1');
ok($t->wait_for(sub { $t->redis('ZCARD', key_qgc()) == 0 }, 60), 'the worker sweeps the retired queues');
is($t->redis('EXISTS', key_q($A), key_q($U)), 0, '... both old queues are gone');
is($t->redis('EXISTS', key_r($A, 'OLD-1')), 0, "... with the NotNow'd command's result hash");
is($t->redis('HGET', key_r($A, 'NEW-1'), 'status'), 'Acknowledged', '... and nothing of the new generation');
my @steps = MDM::Test::slurp("$dir/worker.out") =~ /deleted (\d+) queue entr/g;
cmp_ok(scalar @steps, '>=', 6, 'in budgeted steps (' . scalar(@steps) . ' calls)');
ok(!grep({ $_ > 500 } @steps), '... none over the budget');

# An enrollment whose queue is empty starts no generation.
enroll();
is($t->redis('HGET', key_enr($A), 'qgen'), 1, 'an Authenticate with an empty queue keeps the generation');
is($t->redis('ZCARD', key_qgc()), 0, '... and leaves the sweep nothing');

$t->stop('worker');
done_testing;
