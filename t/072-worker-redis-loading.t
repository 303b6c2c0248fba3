#!/usr/bin/perl
# mdm-worker while Redis is loading its dataset: every command answered
# "-LOADING" (a RESP proxy, t/lib/resp-proxy.pl, stands in front of a real
# redis-server and answers so while a flag file exists). The worker must back
# off rather than retry at once (it sends few commands over the loading time),
# log at most one Redis error line per redis_error_log_interval_ms, and push
# again once Redis is back.
# component test: mdm-worker alone behind a RESP proxy that answers LOADING;
# enrollments and push jobs written to Redis directly (t/README.md).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256);
use Time::HiRes qw(sleep time);
use MDM::Test;
use MDM::Keys;

my $worker_bin = "$MDM::Test::BUILD/mdm-worker";
my $mock_bin = "$MDM::Test::BUILD/apns-mock";

my $t = MDM::Test->new;
my $dir = $t->dir;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $topic = 'com.apple.mgmt.External.loading-test';

my $base = "$pki->{dir}/push";
$t->openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', "$base.key",
    '-out', "$base.csr", '-subj', "/UID=$topic/CN=push");
$t->openssl('x509', '-req', '-in', "$base.csr", '-CA', $pki->{ca}, '-CAkey',
    $pki->{ca_key}, MDM::Test::serial_args(), '-out', "$base.pem", '-days', '30');
$t->redis('HSET', key_pushcert($topic), cert => MDM::Test::slurp("$base.pem"),
    key => MDM::Test::slurp("$base.key"), not_after => time + 86400, updated => 1);

sub token_hex { unpack 'H*', sha256("token-$_[0]") }
sub enroll {
    my ($id) = @_;
    $t->redis('HSET', key_enr($id), token => sha256("token-$id"),
        push_magic => "magic-$id", topic => $topic, enabled => 1, last_seen => int time);
}
sub job { $t->redis('XADD', key_push(), '*', id => $_) for @_ }

sub port_of {
    my ($name) = @_;
    my $out = "$dir/$name.out";
    my $port = $t->wait_for(sub {
        -e $out && MDM::Test::slurp($out) =~ /^port=(\d+)$/m ? $1 : undef
    }) or BAIL_OUT("$name did not start");
    return $port;
}

my $mock_log = "$dir/mock.log";
$t->spawn('mock', {}, $mock_bin, '--port', 0, '--cert', $pki->{cert},
    '--key', $pki->{key}, '--ca', $pki->{ca}, '--log', $mock_log);
my $mock_port = port_of('mock');

my $flag = "$dir/loading";
my $count = "$dir/loading-answers";
$t->spawn('proxy', {}, $^X, "$MDM::Test::ROOT/t/lib/resp-proxy.pl", '--listen', 0,
    '--upstream', $redis, '--loading', $flag, '--count', $count);
my $proxy = port_of('proxy');

MDM::Test::spew("$dir/mdm-worker.conf", <<"EOF");
redis = 127.0.0.1:$proxy
log_level = info
push_block_ms = 200
sweep_interval_ms = 50
metrics_interval_ms = 100
push_claim_interval_ms = 100
redis_error_log_interval_ms = 60000

EOF
$t->spawn('worker', {}, $worker_bin, '-c', "$dir/mdm-worker.conf",
    '--apns-url', "https://127.0.0.1:$mock_port", '--apns-ca', $pki->{ca},
    '--name', 'w1');

sub delivered {
    my ($id) = @_;
    return 0 unless -e $mock_log;
    my $tok = token_hex($id);
    return scalar grep { /^\S+ 200 \S+ $tok / } split /\n/, MDM::Test::slurp($mock_log);
}
sub worker_log { -e "$dir/worker.out" ? MDM::Test::slurp("$dir/worker.out") : '' }

enroll('dev-before');
job('dev-before');
ok $t->wait_for(sub { delivered('dev-before') }, 30), 'through the proxy, a push goes out';

# --- Redis "loading" for a while ---------------------------------------------

my $lines_before = () = worker_log() =~ /\[error\]/g;
MDM::Test::spew($flag, '');
ok $t->wait_for(sub { -s $count }, 20), 'the worker meets LOADING answers';
my $t0 = time;
# the loading lasts 3 s: the scenario, not a synchronisation wait (the
# bounds below are rates, which a slow machine can only lower)
sleep 3;
unlink $flag;
my $window = time - $t0;
my @answers = split /\n/, MDM::Test::slurp($count);
my %by; $by{$_}++ for @answers;
diag sprintf "%d LOADING answers in %.1f s: %s", scalar @answers, $window,
    join ' ', map { "$_=$by{$_}" } sort keys %by;
# Retrying at once makes thousands over 3 s; the backoff (0.1 s doubling to
# 5 s per connection, three connections) allows a few dozen at most.
cmp_ok scalar @answers, '<=', 150, 'the worker backs off instead of spinning';
cmp_ok $by{XREADGROUP} // 0, '<=', 20, '... XREADGROUP included';

enroll('dev-after');
job('dev-after');
ok $t->wait_for(sub { delivered('dev-after') }, 30), 'once Redis has loaded, pushes go out again';

my @errors = grep { /\[error\]/ } split /\n/, worker_log();
my @loading = grep { /LOADING/ } @errors;
diag "worker Redis error lines: ", scalar @loading;
cmp_ok scalar @loading, '<=', 1, 'at most one LOADING line per log interval (60 s here)';
like worker_log(), qr/LOADING/, '... and that one is there';

$t->stop('worker');
$t->stop('proxy');
is_deeply([ $t->error_log_problems ], [], 'no crashes or sanitizer reports');

done_testing();
