#!/usr/bin/perl
# Two faults of the push path end to end, through Debian's nginx with the
# module, real Redis, mdm-worker and apns-mock, with state made only by
# devices and the API: a worker SIGKILLed while it holds the push jobs of an
# API enqueue (another worker claims them, every device is pushed once and
# is served its command), and a push certificate replaced through
# `PUT /v1/pushcert` while the worker runs (the next connection to APNs uses
# the new certificate, no signal sent). t/070-push.t has the same
# behaviours as component tests of the worker alone.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256);
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
my $topic = 'com.apple.mgmt.External.push-e2e';

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

# --- push certificates through the API ---------------------------------------

sub upload {
    my ($cert) = @_;
    return $t->request('PUT', $port, '/v1/pushcert', $cert->{pem},
                       headers => \%API)->{status};
}

my %cert = (first => $t->push_cert('first', $topic),
            second => $t->push_cert('second', $topic));
isnt($cert{first}{serial}, $cert{second}{serial}, 'two certificates for one topic');
is(upload($cert{first}), 200, 'PUT /v1/pushcert stores the first certificate');

# --- devices -------------------------------------------------------------------

sub token { sha256("token-$_[0]") }
sub token_hex { unpack 'H*', token($_[0]) }

my %ident;
sub checkin {
    my ($udid, %kv) = @_;
    return $t->request('PUT', $port, '/mdm',
        plist(UDID => $udid, Topic => $topic, map { $_ => $kv{$_} } sort keys %kv),
        sign => $ident{$udid},
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' })->{status};
}

sub report {
    my ($udid, %kv) = @_;
    return $t->request('PUT', $port, '/mdm',
        plist(UDID => $udid, map { $_ => $kv{$_} } sort keys %kv), sign => $ident{$udid},
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm; charset=UTF-8' });
}

my @udids = map { sprintf 'PUSH-E2E-%04d', $_ } 1 .. 8;
my $enrolled = 0;
for my $udid (@udids) {
    $ident{$udid} = $t->identity($udid);
    $enrolled++ if checkin($udid, MessageType => 'Authenticate') == 200
        && checkin($udid, MessageType => 'TokenUpdate', Token => data(token($udid)),
                   PushMagic => "magic-$udid") == 200;
}
is($enrolled, scalar @udids, 'eight devices enroll through nginx');

# --- apns-mock and workers -------------------------------------------------------

my ($mock_log, $mock_port);
sub start_mock {
    $mock_log = "$dir/mock-" . int(rand 1e9) . '.log';
    unlink "$dir/mock.out";
    $t->spawn('mock', {}, $mock_bin, '--port', 0, '--cert', $pki->{cert},
        '--key', $pki->{key}, '--ca', $pki->{ca}, '--log', $mock_log);
    $mock_port = $t->wait_for(sub {
        -e "$dir/mock.out" && MDM::Test::slurp("$dir/mock.out") =~ /^port=(\d+)$/m
            ? $1 : undef
    }) or BAIL_OUT('apns-mock did not start');
}

# [status, topic, token] of each push the mock answered
sub pushes {
    return [] unless -e $mock_log;
    return [ map { my (undef, @f) = split / /, $_, 5; \@f }
             split /\n/, MDM::Test::slurp($mock_log) ];
}

sub delivered {
    my %n;
    $n{ $_->[2] }++ for grep { $_->[0] == 200 } @{ pushes() };
    return \%n;
}

MDM::Test::spew("$dir/mdm-worker.conf", <<"EOF");
redis = 127.0.0.1:$redis
log_level = debug
backoff_base_ms = 50
backoff_max_ms = 400
max_attempts = 1000
push_claim_idle_ms = 1000
push_claim_interval_ms = 200
cert_check_interval = 1
EOF

sub start_worker {
    my ($name, $apns_port) = @_;
    $t->spawn($name, {}, $worker_bin, '-c', "$dir/mdm-worker.conf",
        '--apns-url', "https://127.0.0.1:$apns_port", '--apns-ca', $pki->{ca},
        '--name', $name);
}

sub worker_log { my $f = "$dir/$_[0].out"; -e $f ? MDM::Test::slurp($f) : '' }

sub pending {
    my $r = $t->redis('XPENDING', key_push(), 'pushers');
    return ref $r eq 'ARRAY' ? $r->[0] : -1;
}

# --- a worker killed while it holds the jobs of an API enqueue ----------------

# APNs is down for the first worker: a port nothing listens on
start_worker('w1', $t->port('apns-down'));
my $uuid = 'PUSH-E2E-CMD-0001';
my $r = $t->request('PUT', $port, '/v1/enqueue/' . join(',', @udids),
    plist(CommandUUID => $uuid,
          Command => MDM::Plist::subdict(RequestType => 'ProfileList')),
    headers => \%API);
is($r->{status}, 200, 'the API enqueues one command to the eight devices');
ok($t->wait_for(sub { pending() >= 1 }, 10),
   'the first worker has read the push job and holds it while APNs is down');
$t->kill9('w1');

start_mock();
start_worker('w2', $mock_port);
ok($t->wait_for(sub { keys %{ delivered() } == @udids }, 20),
   'a second worker claims the killed one\'s job and pushes all eight devices');
ok($t->wait_for(sub { pending() == 0 }, 10), '... and acks the job');
is_deeply([ map { delivered()->{ token_hex($_) } // 0 } @udids ], [ (1) x @udids ],
          '... each device pushed once');
like(worker_log('w2'), qr/claimed \d+ jobs/, 'the claim is logged');

my $served = 0;
for my $udid (@udids) {
    my $rr = report($udid, Status => 'Idle');
    $served++ if $rr->{status} == 200 && $rr->{body} =~ /<string>\Q$uuid\E<\/string>/;
}
is($served, scalar @udids, 'every pushed device is served the command on its Idle');

# --- the push certificate replaced through the API while the worker runs ----

sub connected_with {
    my ($serial) = @_;
    my $out = -e "$dir/mock.out" ? MDM::Test::slurp("$dir/mock.out") : '';
    return scalar(() = $out =~ /connection with certificate serial \Q$serial\E$/mg);
}

ok(connected_with($cert{first}{serial}) >= 1,
   'the worker connected to APNs with the first certificate');
is(upload($cert{second}), 200, 'PUT /v1/pushcert replaces it while the worker runs');
ok($t->wait_for(sub { worker_log('w2') =~ /push certificate changed in Redis/ }, 10),
   'the worker notices the new certificate without a signal');

my $uuid2 = 'PUSH-E2E-CMD-0002';
$r = $t->request('PUT', $port, "/v1/enqueue/$udids[0]",
    plist(CommandUUID => $uuid2,
          Command => MDM::Plist::subdict(RequestType => 'DeviceInformation')),
    headers => \%API);
is($r->{status}, 200, 'a second command is enqueued');
ok($t->wait_for(sub { (delivered()->{ token_hex($udids[0]) } // 0) == 2 }, 20),
   '... and its push delivered');
ok(connected_with($cert{second}{serial}) >= 1,
   '... over a connection made with the new certificate');

$t->stop('w2');
unlike(worker_log('w1') . worker_log('w2'),
       qr/\[alert\]|AddressSanitizer|LeakSanitizer|runtime error:/,
       'no alert or sanitizer output from the workers');

done_testing;
