#!/usr/bin/perl
# mdm-worker delivers the pushes queued in mdm:push to APNs (tools/apns-mock):
# one push per enrollment with the right token, topic, headers and push
# magic; dead tokens marked and skipped; faults retried until delivered; a
# killed worker's jobs finished by another; push certificates reloaded.
# component test: mdm-worker alone. Enrollments and push jobs are written to
# Redis the way checkin.lua and enqueue.lua write them; no nginx. End to end
# through the module: t/075-lifecycle.t, t/100-webhooks.t, t/130-mdmctl.t
# (t/README.md lists what each covers).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256);
use Time::HiRes qw(sleep);
use MDM::Test;
use MDM::Keys;

my $worker_bin = "$MDM::Test::BUILD/mdm-worker";
my $mock_bin = "$MDM::Test::BUILD/apns-mock";
plan skip_all => 'mdm-worker or apns-mock not built'
    unless -x $worker_bin && -x $mock_bin;

my $t = MDM::Test->new;
my $dir = $t->dir;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $topic = 'com.apple.mgmt.External.2f1c6e3a-test';

# Push certificates: subject UID = topic, issued by the CA the mock trusts.
my %cert = (
    first  => $t->push_cert('first', $topic),
    second => $t->push_cert('second', $topic),
    wrong  => $t->push_cert('wrong', 'com.example.not-mdm'),
);
my $updated = 0;

sub set_push_cert {
    my ($which) = @_;
    $t->redis('HSET', key_pushcert($topic), cert => $cert{$which}{cert},
        key => $cert{$which}{key}, not_after => time + 86400,
        updated => ++$updated);
}

sub token { sha256("token-$_[0]") }
sub token_hex { unpack 'H*', token($_[0]) }

sub enroll {
    my ($id, %f) = @_;
    $t->redis('HSET', key_enr($id), token => token($id),
        push_magic => "magic-$id", topic => $topic, enabled => 1,
        last_seen => time, %f);
}

sub job { $t->redis('XADD', key_push(), '*', id => $_) for @_ }

# --- processes --------------------------------------------------------------

my $mock_port;
my $mock_log;

sub start_mock {
    my (@args) = @_;
    $t->stop('mock');
    $mock_log = "$dir/mock-" . (time . int(rand 1e6)) . '.log';
    my $out = "$dir/mock.out";
    unlink $out;
    $t->spawn('mock', {}, $mock_bin, '--port', 0, '--cert', $pki->{cert},
        '--key', $pki->{key}, '--ca', $pki->{ca}, '--log', $mock_log, @args);
    $mock_port = $t->wait_for(sub {
        -e $out && MDM::Test::slurp($out) =~ /^port=(\d+)$/m ? $1 : undef
    }) or BAIL_OUT('apns-mock did not start');
}

MDM::Test::spew("$dir/mdm-worker.conf", <<"EOF");
# as in conf/mdm-worker.conf, tuned for a fast test
redis = 127.0.0.1:$redis
log_level = debug
backoff_base_ms = 50
backoff_max_ms = 400
max_attempts = 40
push_claim_idle_ms = 1000
push_claim_interval_ms = 200
cert_check_interval = 1
EOF

sub start_worker {
    my ($name, @args) = @_;
    $t->spawn($name, {}, $worker_bin, '-c', "$dir/mdm-worker.conf",
        '--apns-url', "https://127.0.0.1:$mock_port",
        '--apns-ca', $pki->{ca}, '--name', $name, @args);
}

# [status, topic, token, body] per push the mock answered.
sub pushes {
    return [] unless -e $mock_log;
    my @p;
    for (split /\n/, MDM::Test::slurp($mock_log)) {
        my (undef, @f) = split / /, $_, 5;
        push @p, \@f;
    }
    return \@p;
}

sub delivered_tokens {
    my %seen;
    $seen{ $_->[2] }++ for grep { $_->[0] == 200 } @{ pushes() };
    return \%seen;
}

sub wait_delivered {
    my ($n, $timeout) = @_;
    return $t->wait_for(sub { keys %{ delivered_tokens() } >= $n }, $timeout);
}

# Jobs neither read nor acked yet (XINFO GROUPS: lag + pending).
sub unfinished {
    my $groups = $t->redis('XINFO', 'GROUPS', key_push());
    return -1 unless ref $groups eq 'ARRAY' && @$groups;
    my %g = @{ $groups->[0] };
    return ($g{lag} // 1) + $g{pending};
}

sub pending {
    my $r = $t->redis('XPENDING', key_push(), 'pushers');
    return ref $r eq 'ARRAY' ? $r->[0] : -1;
}

sub wait_no_pending {
    return $t->wait_for(sub { unfinished() == 0 }, $_[0]);
}

sub worker_log { -e "$dir/$_[0].out" ? MDM::Test::slurp("$dir/$_[0].out") : "" }

# Consumer names in a group (XINFO CONSUMERS).
sub consumers {
    my ($stream, $group) = @_;
    my $r = $t->redis('XINFO', 'CONSUMERS', $stream, $group);
    return ref $r eq 'ARRAY' ? [ map { +{@$_}->{name} } @$r ] : [];
}

sub in_group { my ($name, @sg) = @_; scalar grep { $_ eq $name } @{ consumers(@sg) } }

# --- one push, coalesced, exact request -------------------------------------

set_push_cert('first');
start_mock();
enroll('dev-a', push_magic => 'magic "quoted" \\ a');
enroll('dev-b');
enroll('dev-off', enabled => 0);
enroll('dev-notoken', token => '');
job('dev-a', 'dev-a', 'dev-a', 'dev-off', 'dev-notoken');
start_worker('w1');

ok wait_no_pending(10), 'every job of the first batch is acked';
ok $t->wait_for(sub { $t->redis('XLEN', key_push()) == 0 }, 5),
    'acked jobs are deleted: the push stream does not grow';

# The barrier before counting: a job queued after the batch is delivered, so
# the worker is past every push the batch could have made.
job('dev-b');
ok wait_delivered(2), 'a job for another enrollment is pushed';
my $p = pushes();
is scalar(grep { $_->[2] eq token_hex('dev-a') } @$p), 1,
    'three jobs for one enrollment make one push';
is scalar @$p, 2, '... disabled and tokenless enrollments none, '
    . 'the other enrollment exactly one';
is_deeply $p->[0], [200, $topic, token_hex('dev-a'),
    '{"mdm":"magic \"quoted\" \\\\ a"}'],
    'the mock accepted it: token in hex, topic, mdm headers, '
    . 'push magic JSON-escaped';

# --- dead tokens -------------------------------------------------------------

MDM::Test::spew("$dir/script", join '',
    token_hex('dev-gone') . " 410 Unregistered\n",
    token_hex('dev-bad') . " 400 BadDeviceToken\n",
    token_hex('dev-gone-odd') . " 410 SomethingNew\n",
    token_hex('dev-badtopic') . " 400 BadTopic\n");
start_mock('--script', "$dir/script");
$t->stop('w1');
start_worker('w1');
enroll($_) for qw(dev-gone dev-bad dev-badtopic dev-gone-odd);
job(qw(dev-gone dev-bad dev-badtopic dev-gone-odd));
ok wait_no_pending(10), '410 and 400 answers are final';
ok $t->redis('HGET', key_enr('dev-gone'), 'push_dead'),
    '410 Unregistered sets push_dead';
ok $t->redis('HGET', key_enr('dev-bad'), 'push_dead'),
    '400 BadDeviceToken sets push_dead';
ok !$t->redis('HGET', key_enr('dev-badtopic'), 'push_dead'),
    '400 BadTopic leaves the token alone';
ok !$t->redis('HGET', key_enr('dev-gone-odd'), 'push_dead'),
    '410 with an unknown reason leaves the token alone';
is scalar(grep { $_->[0] == 400 } @{ pushes() }), 2,
    'rejected pushes are not retried';
is scalar(grep { $_->[0] == 410 } @{ pushes() }), 2,
    '... nor is a 410 with an unknown reason';
like worker_log('w1'), qr/\[error\] push dev-gone-odd: APNs 410 SomethingNew/,
    '... which is logged as an error';
like worker_log('w1'), qr/\[error\] push dev-badtopic: APNs 400 BadTopic/,
    'the rejection is logged as an error';

my $before = scalar @{ pushes() };
job(qw(dev-gone dev-bad));
ok wait_no_pending(10), 'jobs for dead tokens are acked';
# barrier: a job queued after them is delivered
job('dev-b');
ok $t->wait_for(sub { grep { $_->[2] eq token_hex('dev-b') } @{ pushes() } }, 10),
    '... a job queued after them is pushed';
is scalar @{ pushes() }, $before + 1, '... and theirs made no push';

# --- faults: 503s, 429 bursts, GOAWAY ---------------------------------------

my @many = map { "dev-f$_" } 1 .. 60;
enroll($_) for @many;
for my $fault (['--fail-every', 3], ['--burst-429', '10:5'],
               ['--goaway-after', 7], ['--max-streams', 4])
{
    start_mock(@$fault);
    $t->stop('w1');
    # One run by name: resolved without blocking, each address tried.
    start_worker('w1', $fault->[0] eq '--goaway-after'
        ? ('--apns-url', "https://localhost:$mock_port") : ());
    job(@many);
    ok wait_delivered(scalar @many, 20),
        "@$fault: every push is delivered in the end";
    ok wait_no_pending(5), "@$fault: and every job acked";
    if ($fault->[0] eq '--goaway-after') {
        my $d = delivered_tokens();
        my @dup = grep { $d->{$_} > 1 } keys %$d;
        is scalar @dup, 0, "@$fault: no push answered 200 twice (the mock "
            . 'answers nothing above the GOAWAY last stream)';
    }
}
like worker_log('w1'), qr/GOAWAY/, 'the GOAWAY was seen';

# --- a server that sends GOAWAY before answering anything ---------------------

sub connects { scalar(() = worker_log($_[0]) =~ /\] apns \S+: connected to/g) }

$t->stop('w1');
start_mock('--goaway-at-start', '0:Shutdown');
enroll('dev-g1');
job('dev-g1');
my $t0 = Time::HiRes::time();
start_worker('wg');
ok $t->wait_for(sub { connects('wg') >= 4 }, 10),
    'a GOAWAY on a connection that answered nothing is a failure: '
    . 'the worker reconnects';
my $took = Time::HiRes::time() - $t0;
my $connects = connects('wg');
# Backoffs of 50 ms doubling to 400 ms: at least 25 ms between connects on
# average, however slow the machine (load only lengthens the gaps).
cmp_ok $connects, '<=', 1 + $took / 0.025,
    sprintf '... after a backoff, not at once (%d in %.1f s)', $connects, $took;
like worker_log('wg'),
    qr/ended by GOAWAY NO_ERROR after 0 answers: reconnecting after a backoff/,
    '... and say so';
unlike worker_log('wg'), qr/closed by the server/,
    'a close announced by a GOAWAY is no failure of its own';
ok $t->wait_for(sub {
    worker_log('wg') =~ /push dev-g1: attempt 1 failed \(0 refused 3 times\)/ }, 10),
    'a request refused three times spends an attempt';

# (a new mock is on a new port: the worker follows it)
$t->stop('wg');
start_mock('--goaway-at-start', '2:InternalServerError');
start_worker('wg');
# (the job left pending by the last run is claimed after push_claim_idle_ms)
ok $t->wait_for(sub {
    worker_log('wg') =~ /\[error\] apns \S+: GOAWAY last_stream_id=0 error=INTERNAL_ERROR/
}, 5), 'a GOAWAY with an error code is logged as an error';

$t->stop('wg');
start_mock('--goaway-at-start', '0:BadCertificate');
start_worker('wg');
ok wait_no_pending(10), 'a GOAWAY with a 403 reason fails the waiting pushes';
like worker_log('wg'),
    qr/\[alert\] apns \S+: GOAWAY BadCertificate: topic stopped/,
    '... because it stops the topic, as a 403 does';
is scalar(grep { $_->[2] eq token_hex('dev-g1') } @{ pushes() }), 0,
    '... without any push having reached APNs';
$t->stop('wg');
start_mock();
start_worker('w1');

# --- one entry, many ids (enqueue writes one entry per chunk) ------------------

sub entry { $t->redis('XADD', key_push(), '*', map { (id => $_) } @_) }

sub answers {
    my ($id, $status) = @_;
    return scalar grep { $_->[2] eq token_hex($id) && $_->[0] == $status }
        @{ pushes() };
}

$t->stop('w1');
my @multi = map { "dev-m$_" } 1 .. 3;
enroll($_) for @multi;
MDM::Test::spew("$dir/script-m", token_hex('dev-m3') . " 503 ServiceUnavailable 3\n");
start_mock('--script', "$dir/script-m");
start_worker('wm1');
entry(@multi);
ok wait_delivered(3, 10), 'one entry with three ids makes three pushes';
ok wait_no_pending(5), '... and is acked once all three are final';
ok $t->wait_for(sub { $t->redis('XLEN', key_push()) == 0 }, 5), '... and deleted';
is_deeply [map { answers($_, 200) } @multi], [1, 1, 1], '... each delivered once';
is answers('dev-m3', 503), 3, '... the third after three 503s';

my @held = map { "dev-m$_" } 4 .. 6;
enroll($_) for @held;
MDM::Test::spew("$dir/script-m", token_hex('dev-m6') . " 503 ServiceUnavailable\n");
start_mock('--script', "$dir/script-m");
$t->stop('wm1');
start_worker('wm1');
entry(@held);
ok $t->wait_for(sub { answers('dev-m4', 200) && answers('dev-m5', 200)
                      && answers('dev-m6', 503) >= 2 }, 10),
    'two ids of an entry delivered while the third is retried';
is pending(), 1, '... the entry stays pending';
is $t->redis('XLEN', key_push()), 1, '... and in the stream';
$t->kill9('wm1');
start_mock();
start_worker('wm2');
ok wait_delivered(3, 15),
    'a second worker claims the killed one\'s entry and pushes all its ids '
    . '(the delivered ones again: at least once)';
ok wait_no_pending(5), '... and acks it once all are final';
ok $t->wait_for(sub { $t->redis('XLEN', key_push()) == 0 }, 5), '... and deletes it';
like worker_log('wm2'), qr/claimed 3 jobs/, 'the claim counts the entry\'s ids';
$t->stop('wm2');
unlike worker_log('wm1') . worker_log('wm2'),
    qr/\[alert\]|AddressSanitizer|LeakSanitizer|runtime error:/,
    'no alert or sanitizer output';

# --- a killed worker's jobs are finished by another ---------------------------

$t->stop('w1');
$t->stop('mock');                 # nothing answers: jobs stay pending in w1
my @late = map { "dev-k$_" } 1 .. 20;
enroll($_) for @late;
start_worker('w1');
job(@late);
ok $t->wait_for(sub { pending() == @late }, 5),
    'the first worker holds the jobs while APNs is down';
$t->kill9('w1');
start_mock();
start_worker('w2');
ok wait_delivered(scalar @late, 15),
    'a second worker claims and delivers every job of the killed one';
ok wait_no_pending(5), '... and acks them';
my $counts = delivered_tokens();
ok !(grep { $_ != 1 } values %$counts), '... each exactly once';
like worker_log('w2'), qr/claimed \d+ jobs/, 'the claim is logged';

# --- push certificate replaced -----------------------------------------------

set_push_cert('wrong');
kill 'HUP', $t->pid('w2');
ok $t->wait_for(sub { worker_log('w2') =~ /push certificate loaded \(updated $updated\)/ }),
    'SIGHUP reloads the push certificate';
enroll('dev-cert');
job('dev-cert');
ok $t->wait_for(sub { grep { $_->[0] == 403 } @{ pushes() } }),
    'the new certificate is used (here one APNs refuses)';
ok $t->wait_for(sub { worker_log('w2') =~ /\[alert\] apns .*403 BadCertificate/ }),
    '403 stops the topic with an alert';

set_push_cert('second');
kill 'HUP', $t->pid('w2');
job('dev-cert');
ok $t->wait_for(sub { delivered_tokens()->{ token_hex('dev-cert') } }),
    'after the fix and SIGHUP the topic delivers again';

set_push_cert('first');
ok $t->wait_for(sub { worker_log('w2') =~ /push certificate changed in Redis/ }, 5),
    'a new `updated` is noticed without a signal';

# --- graceful stop -----------------------------------------------------------

ok in_group('w2', key_push(), 'pushers'), 'a running worker is a consumer of pushers';
$t->stop('w2', 'TERM');
is $? >> 8, 0, 'SIGTERM drains and exits 0';
ok !in_group('w2', key_push(), 'pushers'),
    '... and leaves the pushers group: consumers do not pile up';
# (the inventory group on mdm:events counts too once its consumer read an
# event, which depends on the events of the moment: one or two)
like worker_log('w2'), qr/left [12] consumer group\(s\); stayed in 0/,
    '... which it logs';

# Webhook groups are left too. Redis makes a consumer only once it read an
# entry: an mdm.PushFailed event (token too long for APNs) the webhook skips.
start_worker('wh', '--webhook', 'audit http://127.0.0.1:9/ topics=mdm.Nothing');
ok $t->wait_for(sub {
    grep { ref $_ && +{@$_}->{name} eq 'webhook:audit' }
        @{ $t->redis('XINFO', 'GROUPS', key_events()) }
}, 5), 'the webhook group is created';
enroll('dev-wh', token => 'x' x 120);
job('dev-wh');
ok $t->wait_for(sub { in_group('wh', key_events(), 'webhook:audit') }, 5),
    'a worker with a webhook is a consumer of its group';
ok $t->wait_for(sub { unfinished() == 0 }, 5), '... its push is final';
$t->stop('wh', 'TERM');
ok !in_group('wh', key_events(), 'webhook:audit')
    && !in_group('wh', key_webhook_retry('audit'), 'webhook:audit')
    && !in_group('wh', key_push(), 'pushers'),
    '... and leaves it on SIGTERM, with pushers';
# A job backing off at SIGTERM stays pending: the consumer must stay too,
# or the job could never be claimed.
start_mock('--fail-every', 1);
start_worker('wp');
enroll('dev-p');
job('dev-p');
ok $t->wait_for(sub { worker_log('wp') =~ /push dev-p: attempt 1 failed/ }, 5),
    'a push that gets 503 backs off';
$t->stop('wp', 'TERM');
is $? >> 8, 0, '... SIGTERM still exits 0';
ok in_group('wp', key_push(), 'pushers'),
    '... but the worker stays a consumer, its job pending for another one';
like worker_log('wp'), qr/left [01] consumer group\(s\); stayed in 1/,
    '... which it logs (the inventory group, if it was read, left)';
start_mock();
start_worker('w1');
ok wait_no_pending(10), '... which claims it';
$t->stop('w1');

my $log = worker_log('w1') . worker_log('w2') . worker_log('wg')
    . worker_log('wh') . worker_log('wp');
my @alerts = grep { !/403|GOAWAY BadCertificate/ } $log =~ /^.*\[alert\].*$/mg;
is_deeply \@alerts, [], 'no other [alert] lines';
unlike $log, qr/AddressSanitizer|LeakSanitizer|runtime error:/,
    'no sanitizer output';

# --- ALPN h2 is required --------------------------------------------------------

my $h1 = $t->port('h1');
$t->spawn('h1', {}, 'openssl', 's_server', '-accept', "127.0.0.1:$h1",
    '-cert', $pki->{cert}, '-key', $pki->{key}, '-www');
$t->wait_port($h1, 'openssl s_server');
start_worker('w3', '--apns-url', "https://127.0.0.1:$h1");
enroll('dev-h1');
job('dev-h1');
ok $t->wait_for(sub { worker_log('w3') =~ /did not select ALPN h2, refusing/ }),
    'a server that does not select h2 is refused';
$t->stop('w3');

# --- a 403 stops what waits behind it -----------------------------------------

# One stream at a time: the requests behind the first wait in the queue and
# must not go out once its 403 stopped the topic.
start_mock('--max-streams', 1);
set_push_cert('wrong');
my @stop = map { "dev-s$_" } 1 .. 5;
enroll($_) for @stop;
start_worker('ws');
job(@stop);
ok wait_no_pending(10), 'every push on a topic stopped by a 403 is final';
my %stop = map { token_hex($_) => 1 } @stop;
my $sent = grep { $stop{ $_->[2] } } @{ pushes() };
ok $sent <= 1, "... and at most the first reached APNs ($sent)";
$t->stop('ws');

# --- an entry deleted while pending: XAUTOCLAIM's deleted IDs (Redis 7) -------

# A worker SIGKILLed with a job pending, then the entry trimmed from the
# stream: the next worker's claim learns it is gone, the group forgets it
# and the loss is logged; nothing is pushed for it.
$t->stop('mock');                 # nothing answers: the job stays pending
enroll('dev-del');
start_worker('wd1');
my $gone = $t->redis('XADD', key_push(), '*', id => 'dev-del');
ok $t->wait_for(sub { pending() == 1 }, 5),
    'a job is pending with a worker that cannot reach APNs';
$t->kill9('wd1');
is $t->redis('XDEL', key_push(), $gone), 1, '... and its entry is deleted';
start_worker('wd2');
ok $t->wait_for(sub {
    worker_log('wd2') =~ /\[warn\] push: 1 pending entries of mdm:push were deleted before they were finished; lost/
}, 10), 'the next worker\'s claim logs the deleted entry as lost';
is pending(), 0, '... and the group no longer holds it';
unlike worker_log('wd2'), qr/push dev-del:/, '... nothing is pushed for it';
$t->stop('wd2');

done_testing;
