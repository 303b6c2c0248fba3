#!/usr/bin/perl
# `make run CLUSTER=1`: tools/dev-stack.sh with MDM_CLUSTER=1 starts a
# 3-master, 3-replica Redis Cluster instead of one Redis, points nginx and
# the worker at its seeds, and stop leaves none of the six nodes behind.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;
use MDM::Keys;
use MDM::Redis;

my $t = MDM::Test->new;

# six consecutive free ports whose bus ports (10000 above) are free too
my $first = MDM::Test::reserve_ports(6, 1);
my %env = (
    MDM_VAR => $t->dir . '/var', MDM_CLUSTER => 1,
    MDM_PORT => $t->port('mdm'), API_PORT => $t->port('api'),
    REDIS_PORT => $first, APNS_PORT => $t->port('apns'),
    VPP_PORT => $t->port('vpp'),
);
local @ENV{keys %env} = values %env;

END {
    system("MDM_VAR='$env{MDM_VAR}' tools/dev-stack.sh stop >/dev/null 2>&1")
        if $env{MDM_VAR};
}

my $out = `tools/dev-stack.sh start $MDM::Test::BUILD 2>&1`;
is($?, 0, 'dev stack starts on a cluster') or diag $out;

my %dev = map { /^(\w+)=(.*)$/ ? ($1, $2) : () } split /\n/, MDM::Test::slurp("$env{MDM_VAR}/dev.env");
my @seeds = map { "127.0.0.1:" . ($first + $_) } 0 .. 5;
is($dev{REDIS}, "cluster @seeds", 'dev.env names the seed list');

my $info = MDM::Redis->new('127.0.0.1', $first)->call('CLUSTER', 'INFO');
like($info, qr/cluster_state:ok/, 'the cluster is up');
like($info, qr/cluster_size:3/, 'with three masters');
ok($t->wait_for(sub {
    my $nodes = MDM::Redis->new('127.0.0.1', $first)->call('CLUSTER', 'NODES');
    return 3 == (() = $nodes =~ /\bslave\b/g);
}, 20), 'and three replicas');

$t->{pki} = { ca => $dev{DEVICE_CA_CERT} };
is($t->request('GET', $env{API_PORT}, '/healthz')->{status}, 200, 'healthz is 200 through the cluster');
my $log = "$env{MDM_VAR}/log";
like(MDM::Test::slurp("$log/nginx-error.log"), qr/mdm redis cluster: cluster map from .*: 3 masters, 16384 of 16384 slots served/,
     'nginx read the slot map');
ok($t->wait_for(sub { MDM::Test::slurp("$log/mdm-worker.log") =~ /redis cmd: cluster map from/ }, 20),
   'the worker read it too');
# the push certificate went to the master of its slot (redis-cli -c)
my ($stored) = grep { !ref } map {
    MDM::Redis->new('127.0.0.1', $first + $_)->call('HEXISTS', key_pushcert($dev{PUSH_TOPIC}), 'cert')
} 0 .. 5;
is($stored, 1, 'the dev push certificate is stored in the cluster');

my @pids = map { MDM::Test::slurp("$env{MDM_VAR}/run/redis-$_.pid") =~ /(\d+)/ } 1 .. 6;
is(scalar @pids, 6, 'six node pid files');
$out = `tools/dev-stack.sh stop 2>&1`;
is($?, 0, 'stop succeeds');
like($out, qr/stopped redis-6/, 'stop names the nodes');
is(scalar(grep { kill 0, $_ } @pids), 0, 'no node is left running');

done_testing();
