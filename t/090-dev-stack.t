#!/usr/bin/perl
# `make run` / `make stop`: tools/dev-stack.sh starts redis-server, nginx
# with the module, apns-mock and mdm-worker, writes dev.env, refuses to
# start twice, and stop leaves no process behind.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;

my $t = MDM::Test->new;
my %env = (
    MDM_VAR => $t->dir . '/var',
    MDM_PORT => $t->port('mdm'), API_PORT => $t->port('api'),
    REDIS_PORT => $t->port('redis'), APNS_PORT => $t->port('apns'),
);
local @ENV{keys %env} = values %env;

my $out = `tools/dev-stack.sh start $MDM::Test::BUILD 2>&1`;
is($?, 0, 'dev stack starts') or diag $out;
like($out, qr/dev stack is running/, 'start says it is running');

my %dev = map { /^(\w+)=(.*)$/ ? ($1, $2) : () } split /\n/, MDM::Test::slurp("$env{MDM_VAR}/dev.env");
for my $k (qw(MDM_URL API_URL API_KEY DEVICE_CA_CERT DEVICE_CA_KEY REDIS_URL)) {
    ok(length($dev{$k} // ''), "dev.env has $k");
}
like($dev{MDM_URL}, qr{^https://}, 'MDM_URL is https');
ok(-r $dev{DEVICE_CA_KEY}, 'the device CA key is there to mint test identities');

# The server certificate is issued by the same dev CA.
$t->{pki} = { ca => $dev{DEVICE_CA_CERT} };
my $r = $t->request('GET', $env{API_PORT}, '/version');
is($r->{status}, 200, 'API_URL/version answers');
is($t->request('GET', $env{API_PORT}, '/healthz')->{status}, 200, 'healthz is 200: Redis is up');

# Anyone can enroll a test device at MDM_URL, in both identity modes.
for my $mode (qw(tls sign)) {
    my @sim = ("$MDM::Test::BUILD/mdmsim", 'enroll', '--check-in-url', $dev{MDM_URL},
               '--server-url', $dev{MDM_URL}, '--ca-file', $dev{DEVICE_CA_CERT},
               '--ca-cert', $dev{DEVICE_CA_CERT}, '--ca-key', $dev{DEVICE_CA_KEY},
               '--id-dir', $t->dir . '/ids', '-n', 1, '--udid-prefix', "DEV-$mode-",
               '--topic', $dev{PUSH_TOPIC}, '--mode', $mode);
    my $sim = `@sim 2>&1`;
    is($?, 0, "a simulated device enrolls at MDM_URL with --mode $mode") or diag $sim;
}
$t->{ports}{redis} = $env{REDIS_PORT};
is($t->redis('ZCARD', 'mdm:enrollments'), 2, 'both enrollments are stored');
$t->redis_close;

$out = `tools/dev-stack.sh start $MDM::Test::BUILD 2>&1`;
like($out, qr/already running/, 'a second start says so instead of starting twice');

my @pids = map { MDM::Test::slurp($_) + 0 } glob("$env{MDM_VAR}/run/*.pid");
is(scalar @pids, 4, 'four processes started (redis, nginx, apns-mock, mdm-worker)');

$out = `tools/dev-stack.sh stop 2>&1`;
is($?, 0, 'stop succeeds');
ok(!kill(0, $_), "process $_ is gone after stop") for @pids;
is(scalar glob("$env{MDM_VAR}/run/*.pid"), undef, 'no pid file left');

done_testing();
