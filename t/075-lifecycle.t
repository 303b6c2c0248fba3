#!/usr/bin/perl
# The command lifecycle in mdm-worker: commands past their TTL expire even
# when the device never connects; devices silent too long and sessions that
# ended with NotNow are pushed again; two quick enqueues make one push; a
# final push failure becomes an mdm.PushFailed event; the worker's counters
# reach mdm:metrics:worker.
# Has component sections (state written to Redis directly, listed with their
# end-to-end counterparts in t/README.md).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256);
use JSON::PP;
use MDM::Test;
use MDM::Keys;

*plist = \&MDM::Plist::plist;
*data = \&MDM::Plist::data;

my $worker_bin = "$MDM::Test::BUILD/mdm-worker";
my $mock_bin = "$MDM::Test::BUILD/apns-mock";
plan skip_all => 'mdm-worker or apns-mock not built'
    unless -x $worker_bin && -x $mock_bin;

my $t = MDM::Test->new;
my $dir = $t->dir;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $port = $t->port('https');
my $topic = 'com.apple.mgmt.External.lifecycle-test';

$t->nginx_start(<<"EOF", port => $port);
    mdm_redis 127.0.0.1:$redis;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_server; }
        location = /metrics { mdm_metrics; }
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF

my %API = MDM::Test::api_auth('sekret');

# --- push certificate, APNs mock ---------------------------------------------

{
    my $push = $t->push_cert('push', $topic);
    $t->redis('HSET', key_pushcert($topic), cert => $push->{cert},
        key => $push->{key}, not_after => time + 86400, updated => 1);
}

sub token { sha256("token-$_[0]") }
sub token_hex { unpack 'H*', token($_[0]) }

MDM::Test::spew("$dir/script", token_hex('GONE-0001') . " 410 Unregistered\n"
    . token_hex('BADT-0001') . " 400 BadDeviceToken\n");
my $mock_log = "$dir/mock.log";
$t->spawn('mock', {}, $mock_bin, '--port', 0, '--cert', $pki->{cert},
    '--key', $pki->{key}, '--ca', $pki->{ca}, '--log', $mock_log,
    '--script', "$dir/script");
my $mock_port = $t->wait_for(sub {
    -e "$dir/mock.out" && MDM::Test::slurp("$dir/mock.out") =~ /^port=(\d+)$/m
        ? $1 : undef
}) or BAIL_OUT('apns-mock did not start');

# Pushes the mock answered to one device: [status, ...] each.
sub pushes_to {
    my ($udid) = @_;
    return [] unless -e $mock_log;
    my $hex = token_hex($udid);
    return [ grep { $_->[2] eq $hex }
             map { my (undef, @f) = split / /, $_, 5; \@f }
             split /\n/, MDM::Test::slurp($mock_log) ];
}

# --- devices and the API -------------------------------------------------------

sub device {
    my ($udid) = @_;
    my $id = $t->identity($udid);
    for my $msg (plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic),
                 plist(MessageType => 'TokenUpdate', UDID => $udid, Topic => $topic,
                       Token => data(token($udid)), PushMagic => "magic-$udid")) {
        my $r = $t->request('PUT', $port, '/mdm', $msg, sign => $id,
            headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' });
        die "enrollment of $udid failed: $r->{status}" unless $r->{status} == 200;
    }
    # heard of a minute ago: the worker's coalescing compares with this
    $t->redis('HSET', key_enr($udid), last_seen => time - 60);
    return $id;
}

sub report {
    my ($id, $udid, %kv) = @_;
    return $t->request('PUT', $port, '/mdm',
        plist(UDID => $udid, map { $_ => $kv{$_} } sort keys %kv), sign => $id,
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm; charset=UTF-8' });
}

sub enqueue {
    my ($udid, $uuid, $query) = @_;
    my $body = plist(CommandUUID => $uuid,
        Command => MDM::Plist::subdict(RequestType => 'ProfileList'));
    my $r = $t->request('PUT', $port, "/v1/enqueue/$udid" . ($query // ''),
        $body, headers => \%API);
    die "enqueue $uuid: $r->{status} $r->{body}" unless $r->{status} == 200;
    return $r;
}

sub api_json {
    my ($path) = @_;
    my $r = $t->request('GET', $port, $path, '', headers => \%API);
    return eval { decode_json($r->{body}) } // {};
}

# A small msgpack reader for the event maps (libmdm/mdm_event.h): maps,
# strings, binaries, integers, nil and booleans are all they hold.
sub unpack_msgpack {
    my ($buf, $pos) = @_;
    my $b = ord substr $$buf, $$pos++, 1;
    my $take = sub { my $s = substr $$buf, $$pos, $_[0]; $$pos += $_[0]; $s };
    return $b if $b <= 0x7f;
    return $b - 0x100 if $b >= 0xe0;
    if (($b & 0xf0) == 0x80 || $b == 0xde || $b == 0xdf) {
        my $n = $b == 0xde ? unpack('n', $take->(2))
              : $b == 0xdf ? unpack('N', $take->(4)) : $b & 0x0f;
        my %m;
        for (1 .. $n) {
            my $k = unpack_msgpack($buf, $pos);
            $m{$k} = unpack_msgpack($buf, $pos);
        }
        return \%m;
    }
    return $take->($b & 0x1f) if ($b & 0xe0) == 0xa0;
    my %len = (0xd9 => 'C', 0xda => 'n', 0xdb => 'N',
               0xc4 => 'C', 0xc5 => 'n', 0xc6 => 'N');
    if (my $f = $len{$b}) {
        return $take->(unpack $f, $take->($f eq 'C' ? 1 : $f eq 'n' ? 2 : 4));
    }
    my %int = (0xcc => ['C', 1], 0xcd => ['n', 2], 0xce => ['N', 4],
               0xcf => ['Q>', 8], 0xd0 => ['c', 1], 0xd1 => ['s>', 2],
               0xd2 => ['l>', 4], 0xd3 => ['q>', 8]);
    if (my $i = $int{$b}) {
        return unpack $i->[0], $take->($i->[1]);
    }
    return undef if $b == 0xc0;
    return 0 if $b == 0xc2;
    return 1 if $b == 0xc3;
    die sprintf "msgpack type 0x%02x not expected in an event", $b;
}

# mdm:events entries with this topic, decoded.
sub events {
    my ($topic) = @_;
    my @ev;
    for my $e (@{ $t->redis('XRANGE', key_events(), '-', '+') }) {
        my %f = @{ $e->[1] };
        my $pos = 0;
        my $ev = unpack_msgpack(\$f{m}, \$pos);
        push @ev, $ev if $ev->{topic} eq $topic;
    }
    return @ev;
}

sub metrics { +{ @{ $t->redis('HGETALL', key_worker_metrics()) } } }

# --- the worker ------------------------------------------------------------------

MDM::Test::spew("$dir/mdm-worker.conf", <<"EOF");
redis = 127.0.0.1:$redis
apns_url = https://127.0.0.1:$mock_port
apns_ca = $pki->{ca}
log_level = debug
backoff_base_ms = 50
backoff_max_ms = 200
sweep_interval_ms = 200
metrics_interval_ms = 200
push_coalesce_ms = ${\ int(MDM::Test::timeout(3000)) }
result_retention = 3600
EOF
# push_coalesce_ms is longer than the gap between two API requests on a
# loaded machine: a second enqueue must fall within the window to be
# coalesced, however slowly the test gets to send it.

sub start_worker {
    my ($name, @args) = @_;
    $t->spawn($name, {}, $worker_bin, '-c', "$dir/mdm-worker.conf",
        '--name', $name, @args);
}

sub worker_log { MDM::Test::slurp("$dir/$_[0].out") }

# The barrier before "no further push": every push job is read and acked,
# so nothing the worker was given can still make a push.
sub push_drained { $t->stream_drained(key_push(), 'pushers') }

# A small batch: a command with many targets takes several calls.
start_worker('w1', '--repush-silent-after', 0, '--repush-notnow-after', 0,
    '--sweep-batch', 20);

# --- expiry --------------------------------------------------------------------------

my $EXP = 'EXPR-DEVICE-0001';
device($EXP);
enqueue($EXP, 'TTL1', '?ttl=1&nopush=1');
ok $t->wait_for(sub {
    ($t->redis('HGET', key_r($EXP, "TTL1"), 'status') // '') eq 'Expired'
}, 10), 'a command past its TTL is Expired although the device never connected';
is $t->redis('LLEN', key_q($EXP)), 0, '... it left the queue';
is $t->redis('EXISTS', key_cmd('TTL1')), 0, '... its body is deleted';
ok !defined $t->redis('ZSCORE', key_expiry(), 'TTL1'), '... and it left mdm:expiry';
ok !defined $t->redis('ZSCORE', key_pending(), $EXP),
    '... an enrollment left without work leaves mdm:pending';
my $ttl = $t->redis('TTL', key_r($EXP, "TTL1"));
ok $ttl > 3500 && $ttl <= 3600, '... the result is kept for result_retention';
ok $t->redis('TTL', key_cmd_ids('TTL1')) > 0, '... so is the target set';
my $st = api_json('/v1/commands/TTL1');
is $st->{enrollments}[0]{status}, 'Expired', 'GET /v1/commands says Expired';
my @exp = events('mdm.CommandExpired');
is scalar @exp, 1, 'one mdm.CommandExpired event';
is_deeply [ @{ $exp[0] }{qw(id command_uuid)} ], [$EXP, 'TTL1'],
    '... with the enrollment and the command';
ok abs($exp[0]{ts} / 1000 - time) < 10, '... and a time in ms';

# More targets than one set listpack holds: SSCAN walks them in steps, and
# the sweep keeps its cursor between calls.
my @many = map { sprintf 'MANY-%04d', $_ } 1 .. 200;
$t->redis('HSET', key_enr($_), enabled => 0, created => time) for @many;
enqueue(join(',', @many), 'TTLMANY', '?ttl=1&nopush=1');
ok $t->wait_for(sub { !$t->redis('EXISTS', key_cmd('TTLMANY')) }, 10),
    'a command with 200 targets is expired in batches of 20';
is scalar(grep { ($t->redis('HGET', key_r($_, "TTLMANY"), 'status') // '') eq 'Expired' } @many),
    200, '... every target is Expired';
is scalar(grep { $t->redis('LLEN', key_q($_)) == 0 } @many), 200,
    '... every queue is empty';
is scalar(grep { $_->{command_uuid} eq 'TTLMANY' } events('mdm.CommandExpired')),
    200, '... one event per target';
ok worker_log('w1') =~ /expired \d+ queued command\(s\); 0 command/,
    '... over several calls';

enqueue($EXP, 'TTL2', '?ttl=3600&nopush=1');
# barrier: a command queued behind it with a TTL of 1 s is expired by a sweep
enqueue($EXP, 'TTL3', '?ttl=1&nopush=1');
ok $t->wait_for(sub {
    ($t->redis('HGET', key_r($EXP, "TTL3"), 'status') // '') eq 'Expired'
}, 10), 'a command queued behind it expires';
is $t->redis('LINDEX', key_q($EXP), 0), 'TTL2', 'a command within its TTL stays queued';

# --- coalescing --------------------------------------------------------------------

my $CO = 'COAL-DEVICE-0001';
device($CO);
enqueue($CO, 'CO1');
# the worker has seen the answer (and noted the push) before the next job
ok $t->wait_for(sub { worker_log('w1') =~ /push $CO: delivered/ }, 10),
    'the first enqueue pushes';
is scalar @{ pushes_to($CO) }, 1, '... once';
enqueue($CO, 'CO2');
# barrier: the worker decides about the second job when the window ends
ok $t->wait_for(sub { worker_log('w1') =~ /push $CO: coalesced with the one delivered/ }, 15),
    'a second enqueue within push_coalesce_ms is coalesced with the first push';
is scalar @{ pushes_to($CO) }, 1,
    '... and makes no second push: the device has not answered the first';

my $CA = 'COAL-DEVICE-0002';
my $ida = device($CA);
enqueue($CA, 'CA1');
ok $t->wait_for(sub { @{ pushes_to($CA) } >= 1 }, 10), 'another device is pushed';
like report($ida, $CA, Status => 'Idle')->{body}, qr/CA1/,
    '... answers and fetches its queue';
enqueue($CA, 'CA2');
ok $t->wait_for(sub { @{ pushes_to($CA) } >= 2 }, 15),
    'a command enqueued within the window after that makes a second push '
    . '(the device may have fetched its queue before it)';

# --- a dead token: mdm.PushFailed ---------------------------------------------------

my $GONE = 'GONE-0001';
device($GONE);
enqueue($GONE, 'G1');
ok $t->wait_for(sub { events('mdm.PushFailed') }, 10), 'a 410 makes an mdm.PushFailed event';
my ($pf) = events('mdm.PushFailed');
is_deeply [ @{$pf}{qw(id status params)} ], [$GONE, '410', 'reason=Unregistered'],
    '... with the enrollment, the HTTP status and the APNs reason';
ok $t->wait_for(sub { $t->redis('HGET', key_enr($GONE), 'push_dead') }, 10),
    '... and the token is marked dead';
like enqueue($GONE, 'G2')->{body}, qr/no live push token/,
    'a later command for a dead token is queued without a push job';
ok $t->wait_for(\&push_drained, 10), '... and every push job is done';
is scalar @{ pushes_to($GONE) }, 1, 'no further push to a dead token';

# 400 BadDeviceToken is as final as 410 (protocol.md §5): the token is dead
my $BADT = 'BADT-0001';
device($BADT);
enqueue($BADT, 'B1');
ok $t->wait_for(sub { $t->redis('HGET', key_enr($BADT), 'push_dead') }, 10),
    'a 400 BadDeviceToken marks the token dead';
ok $t->wait_for(sub { grep { $_->{id} eq $BADT && $_->{status} eq '400' }
                      events('mdm.PushFailed') }, 10),
    '... with an mdm.PushFailed event';
like enqueue($BADT, 'B2')->{body}, qr/no live push token/,
    '... and no push job for its next command';

# --- counters ------------------------------------------------------------------------

ok $t->wait_for(sub {
    my $m = metrics();
    ($m->{'pushes_total{result="200"}'} // 0) >= 1
        && ($m->{'pushes_total{result="410"}'} // 0) >= 1
        && ($m->{commands_expired_total} // 0) >= 1
        && ($m->{pushes_coalesced_total} // 0) >= 1
        && ($m->{push_failures_total} // 0) >= 1
}, 10), 'the worker metrics hash counts pushes by result, expiry, coalescing and failures'
    or diag explain metrics();

# End to end: what the worker counts is what nginx's /metrics shows
# (t/050-metrics.t renders a hand-written mdm:metrics:worker).
my %scraped = map { /^(\S+) (\S+)$/ ? ($1 => $2) : () }
    split /\n/, $t->request('GET', $port, '/metrics')->{body};
is $scraped{'mdm_worker_pushes_total{result="410"}'},
    metrics()->{'pushes_total{result="410"}'},
    "/metrics shows the worker's counters as mdm:metrics:worker holds them";
ok exists $scraped{'mdm_worker_commands_expired_total'},
    '... the expiry counter among them';

# --- NotNow re-push --------------------------------------------------------------------

$t->stop('w1');
start_worker('w2', '--repush-silent-after', 0, '--repush-notnow-after', 1);

my $NN = 'NOTN-DEVICE-0001';
my $idn = device($NN);
enqueue($NN, 'NN1');
ok $t->wait_for(sub { @{ pushes_to($NN) } >= 1 }, 10), 'NotNow device: first push';
my $r = report($idn, $NN, Status => 'Idle');
like $r->{body}, qr/NN1/, 'the device fetches the command';
$r = report($idn, $NN, Status => 'NotNow', CommandUUID => 'NN1');
is $r->{body}, '', '... says NotNow, the session ends';
ok defined $t->redis('ZSCORE', key_notnow(), $NN), '... and it is in mdm:notnow';
ok $t->wait_for(sub { @{ pushes_to($NN) } >= 2 }, 15),
    'after repush_notnow_after it is pushed again';
ok !defined $t->redis('ZSCORE', key_notnow(), $NN), '... and leaves mdm:notnow';
# barrier: another device's NotNow, later, is re-pushed by a later sweep
like report($ida, $CA, Status => 'Acknowledged', CommandUUID => 'CA1')->{body},
    qr/CA2/, 'another device fetches its next command';
is report($ida, $CA, Status => 'NotNow', CommandUUID => 'CA2')->{body}, '',
    '... and says NotNow';
ok $t->wait_for(sub { @{ pushes_to($CA) } >= 3 }, 15), '... and is re-pushed';
is scalar @{ pushes_to($NN) }, 2, 'the first NotNow device was re-pushed once';
ok $t->wait_for(sub { (metrics()->{'repushes_total{reason="notnow"}'} // 0) >= 1 }, 10),
    'NotNow re-pushes are counted';

# --- silent devices ---------------------------------------------------------------------

$t->stop('w2');
my $before = scalar @{ pushes_to($CO) };
my $t0 = time;
start_worker('w3', '--repush-silent-after', 1, '--repush-notnow-after', 0);
ok $t->wait_for(sub { @{ pushes_to($CO) } > $before }, 10),
    'a device silent longer than repush_silent_after with work queued is pushed again';
ok $t->redis('ZSCORE', key_pending(), $CO) >= $t0, '... and its clock restarts';
# barrier: the sweep has handled the dead token too (its clock restarted)
# and every job it made is done
ok $t->wait_for(sub {
    ($t->redis('ZSCORE', key_pending(), $GONE) // 0) >= $t0 && push_drained() }, 10),
    'the sweep passes the dead token as well';
is scalar @{ pushes_to($GONE) }, 1, '... without pushing it';
ok $t->wait_for(sub { (metrics()->{'repushes_total{reason="silent"}'} // 0) >= 1 }, 10),
    'silent re-pushes are counted';

unlike worker_log('w1') . worker_log('w2') . worker_log('w3'),
    qr/NOSCRIPT|SCRIPT LOAD .*:/, 'scripts loaded and found';

# --- scripts flushed ----------------------------------------------------------------

# Written the way enqueue.lua would: nginx's own scripts are not involved.
$t->redis('SCRIPT', 'FLUSH');
$t->redis('HSET', key_cmd('FLUSHED'), body => 'x', type => 'ProfileList',
    created => time - 5, expires => time - 1);
$t->redis('SADD', key_cmd_ids('FLUSHED'), $EXP);
$t->redis('RPUSH', key_q($EXP), 'FLUSHED');
$t->redis('ZADD', key_expiry(), time - 1, 'FLUSHED');
ok $t->wait_for(sub {
    ($t->redis('HGET', key_r($EXP, "FLUSHED"), 'status') // '') eq 'Expired'
}, 10), 'after SCRIPT FLUSH the worker loads its scripts again and sweeps on';

# --- a key of the wrong type does not stop the sweeps ----------------------------------

# A command whose target set is a string, due before a good one.
$t->redis('HSET', key_cmd('BADIDS'), body => 'x', type => 'ProfileList');
$t->redis('SET', key_cmd_ids('BADIDS'), 'not a set');
$t->redis('ZADD', key_expiry(), time - 10, 'BADIDS');
# A command with a target whose queue is a string, and a good target.
my ($BADQ, $GOODQ) = ('BADQ-DEVICE-0001', 'GOODQ-DEVICE-0001');
$t->redis('SET', key_q($BADQ), 'not a list');
$t->redis('HSET', key_cmd('BADTGT'), body => 'x', type => 'ProfileList');
$t->redis('SADD', key_cmd_ids('BADTGT'), $BADQ, $GOODQ);
$t->redis('RPUSH', key_q($GOODQ), 'BADTGT');
$t->redis('ZADD', key_expiry(), time - 5, 'BADTGT');
# An enrollment in mdm:pending whose hash is a string.
$t->redis('SET', key_enr('BADENR'), 'not a hash');
$t->redis('ZADD', key_pending(), 0, 'BADENR');
ok $t->wait_for(sub {
    ($t->redis('HGET', key_r($GOODQ, "BADTGT"), 'status') // '') eq 'Expired'
}, 10), 'a WRONGTYPE target is skipped: the command expires for the others';
ok $t->wait_for(sub { !defined $t->redis('ZSCORE', key_expiry(), 'BADTGT') }, 10),
    '... and finishes';
ok !defined $t->redis('ZSCORE', key_expiry(), 'BADIDS'),
    'a command whose target set is not a set leaves mdm:expiry';
ok $t->wait_for(sub { !defined $t->redis('ZSCORE', key_pending(), 'BADENR') }, 10),
    'an enrollment whose hash is not a hash leaves mdm:pending';
ok $t->wait_for(sub {
    worker_log('w3') =~ /\[warn\] sweep: skipped \d+ item\(s\) on a Redis error.*WRONGTYPE/
}, 10), 'the skips are logged as a warning, with the error';

$t->stop('w3', 'TERM');
is $? >> 8, 0, 'SIGTERM: exit 0';

my $log = join '', map { worker_log($_) } qw(w1 w2 w3);
unlike $log, qr/\[alert\]/, 'no [alert] lines';
unlike $log, qr/AddressSanitizer|LeakSanitizer|runtime error:/, 'no sanitizer output';
is_deeply [ $t->error_log_problems ], [], 'no alerts in nginx error.log';

done_testing;
