#!/usr/bin/perl
# libmdm's Redis Cluster client against a real Redis Cluster: six
# redis-server --cluster-enabled yes (3 masters, 3 replicas) joined by
# redis-cli --cluster create. The client runs in build/unit/cluster_client
# (libmdm/t/cluster_client.c: one command per line, one answer per line).
# Routing, MOVED and ASK (a slot migrated by hand with CLUSTER SETSLOT),
# TRYAGAIN, CLUSTERDOWN and uncovered slots, NOSCRIPT, a seed that is not a
# cluster node, a node that answers garbage, and a master SIGKILLed until
# its replica takes over.

use strict;
use warnings;
use lib 't/lib';

use IO::Select;
use IO::Socket::INET;
use IPC::Open3;
use Symbol qw(gensym);
use Test::More;
use Time::HiRes qw(sleep time);

use MDM::Test;
use MDM::Redis;

my $t = MDM::Test->new;
my $bin = "$MDM::Test::BUILD/unit/cluster_client";
my @ports = $t->redis_cluster_start(masters => 3, replicas => 1);
my @seeds = map { "127.0.0.1:$_" } @ports;

# A driver process: ask() writes one line and reads its answer.
my $n_drivers = 0;
sub driver {
    my (@args) = @_;
    my $log = $t->dir . '/driver' . ++$n_drivers . '.err';
    open my $err, '>', $log or die "$log: $!";
    my $pid = open3(my $in, my $out, '>&' . fileno($err), $bin, @args);
    $in->autoflush(1);
    return { pid => $pid, in => $in, out => $out, log => $log,
             sel => IO::Select->new($out) };
}

sub ask {
    my ($d, $line, $timeout) = @_;
    print { $d->{in} } "$line\n";
    return undef unless $d->{sel}->can_read($timeout // 30);
    my $l = readline($d->{out});
    chomp $l if defined $l;
    return $l;
}

sub stats {
    my ($d) = @_;
    my %s = ask($d, 'STATS') =~ /(\w+)=(\d+)/g;
    return \%s;
}

sub quit {
    my ($d) = @_;
    close $d->{in};
    waitpid $d->{pid}, 0;
    return $? >> 8;
}

sub node_client { MDM::Redis->new('127.0.0.1', $_[0]) }

sub slot_of {
    my ($key) = @_;
    return node_client($ports[0])->call('CLUSTER', 'KEYSLOT', $key);
}

# --- routing -----------------------------------------------------------------

my $d = driver(@seeds[0, 1]);
is(ask($d, 'READY'), 'ready', 'the client reads the slot map from a seed');

# keys in many slots, so that every master is written
my @keys = map { "k$_" } 1 .. 60;
is(ask($d, "SET $_ v-$_"), '+OK', "SET $_") for @keys[0 .. 2];
ask($d, "SET $_ v-$_") for @keys[3 .. $#keys];
my %on;
for my $k (@keys) {
    my $m = $t->cluster_master_of(slot_of($k));
    $on{$m->{port}}++;
    is(node_client($m->{port})->call('GET', $k), "v-$k",
       "$k is on the master of its slot") if $k eq $keys[0];
}
is(scalar keys %on, 3, 'the keys were spread over the three masters');
is(ask($d, "GET $keys[-1]"), "\$v-$keys[-1]", 'a read comes back from its master');
is(ask($d, 'PING'), '+PONG', 'a keyless command goes to a master');
is(ask($d, 'MGET {t}a {t}b'), '*2 [(nil), (nil)]', 'one-slot multi-key command');
like(ask($d, 'MGET a b'), qr/^-CROSSSLOT/, 'keys of two slots: Redis says CROSSSLOT, passed on');
is(stats($d)->{moved}, 0, 'no MOVED while the map is right');

# replicas are sent nothing: no command that replication does not carry
# (GET, MGET, ASKING) ever ran on one
for my $n (grep { !$_->{master} } @{ $t->cluster_nodes }) {
    my $cs = node_client($n->{port})->call('INFO', 'commandstats');
    unlike($cs, qr/cmdstat_(get|mget|asking):/, "replica $n->{port} was sent no command");
}

# --- NOSCRIPT ------------------------------------------------------------------

my $sha = ask($d, 'SHA');
is(ask($d, "EVALSHA $sha 1 {e}key arg"), '*2 [${e}key, $arg]', 'the script was loaded on connect');
$t->cluster_call('SCRIPT', 'FLUSH');    # on every master
is(ask($d, "EVALSHA $sha 1 {e}key arg2"), '*2 [${e}key, $arg2]',
   'after SCRIPT FLUSH: NOSCRIPT, loaded again, resent');
is(stats($d)->{noscript}, 1, 'NOSCRIPT counted once');

# --- MOVED and ASK: slot of key "mig" migrated by hand ---------------------------

my $slot = slot_of('mig');
my $src = $t->cluster_master_of($slot);
my ($dst) = grep { $_->{master} && $_->{port} != $src->{port} } @{ $t->cluster_nodes };
is(ask($d, 'SET mig here'), '+OK', 'a key in the slot to migrate');
my $sc = node_client($src->{port});
my $dc = node_client($dst->{port});
# a refusal is an error reply (a hash): say which, and how the cluster looked
sub setslot {
    my ($c, @args) = @_;
    my $r = $c->call('CLUSTER', 'SETSLOT', $slot, @args);
    diag(explain($r), $t->cluster_nodes_text) if ref $r;
    return $r;
}
is(setslot($dc, 'IMPORTING', $src->{id}), 'OK', 'target imports the slot');
is(setslot($sc, 'MIGRATING', $dst->{id}), 'OK', 'source migrates it');

is(ask($d, 'GET mig'), '$here', 'during the migration a key still in the source is read there');
is(ask($d, 'SET {mig}new fresh'), '+OK', 'a new key of a migrating slot: ASK, then ASKING + SET on the target');
is(stats($d)->{ask}, 1, 'ASK counted');
is($dc->call('ASKING') && $dc->call('GET', '{mig}new'), 'fresh', 'the new key was written on the target');

# TRYAGAIN: a multi-key command whose keys are split between both nodes;
# the client retries until the migration ends, here while it waits.
# The source's MGETs refused so far (a TRYAGAIN is a rejected call in its
# command stats; earlier MGETs of this file may have run there too).
sub mget_rejected {
    my ($cs) = ($sc->call('INFO', 'commandstats') // '') =~ /^cmdstat_mget:(.*)$/m;
    return ($cs // '') =~ /rejected_calls=(\d+)/ ? $1 : 0;
}
my $rejected = mget_rejected();
print { $d->{in} } "MGET mig {mig}new\n";
# barrier: the source has refused this MGET at least once, so the migration
# below ends while the client retries
ok($t->wait_for(sub { mget_rejected() > $rejected }, 10),
   'the split MGET reached the source and was refused (TRYAGAIN)');
is($sc->call('MIGRATE', '127.0.0.1', $dst->{port}, '', 0, 5000, 'KEYS', 'mig'), 'OK', 'key moved to the target');
for my $n (@{ $t->cluster_nodes }) {
    next unless $n->{master};
    node_client($n->{port})->call('CLUSTER', 'SETSLOT', $slot, 'NODE', $dst->{id});
}
ok($d->{sel}->can_read(30), 'the split MGET was answered');
my $mget = readline($d->{out});
chomp $mget;
is($mget, '*2 [$here, $fresh]', 'after TRYAGAIN and the end of the migration the MGET is served');
cmp_ok(stats($d)->{tryagain}, '>=', 1, 'TRYAGAIN retried');

is(ask($d, 'GET mig'), '$here', 'after the migration the key is read from its new master');
# a second client with the old map must take a MOVED
my $d2 = driver($seeds[0]);
is(ask($d2, 'READY'), 'ready', 'second client ready');
is(ask($d2, 'GET mig'), '$here', 'second client reads the moved key');
is(quit($d2), 0, 'second client exits cleanly');

# MOVED for sure: the map a client holds goes stale when the slot moves back
is(ask($d, 'GET mig'), '$here', 'client knows the new owner');
$sc->call('CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $dst->{id});
$dc->call('CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $src->{id});
$dc->call('MIGRATE', '127.0.0.1', $src->{port}, '', 0, 5000, 'KEYS', 'mig', '{mig}new');
for my $n (@{ $t->cluster_nodes }) {
    next unless $n->{master};
    node_client($n->{port})->call('CLUSTER', 'SETSLOT', $slot, 'NODE', $src->{id});
}
my $m1 = stats($d)->{moved};
is(ask($d, 'GET mig'), '$here', 'slot moved back: served');
is(stats($d)->{moved}, $m1 + 1, 'by following one MOVED');
is(ask($d, 'GET mig'), '$here', 'and the next read goes straight there');
is(stats($d)->{moved}, $m1 + 1, 'without another MOVED');

# --- resharding under load: redis-cli --cluster reshard -----------------------

# redis-cli moves the source's lowest slots first: a key among them
my ($rsrc, $rdst) = grep { $_->{master} } @{ $t->cluster_nodes };
my @rslots = sort { $a <=> $b } map { $_->[0] .. $_->[1] } @{ $rsrc->{slots} };
my %moving = map { $_ => 1 } @rslots[0 .. 299];
my ($rkey) = grep { $moving{ slot_of($_) } } map { "rs$_" } 1 .. 5000;
ok(defined $rkey, "a key ($rkey) in the 300 slots to move");
my $before = stats($d);
print { $d->{in} } "FOR 5000 8 INCR $rkey\n";
my $rlog = $t->dir . '/reshard.log';
system("redis-cli --cluster reshard 127.0.0.1:$rsrc->{port} --cluster-from $rsrc->{id} "
       . "--cluster-to $rdst->{id} --cluster-slots 300 --cluster-yes > $rlog 2>&1");
is($?, 0, 'redis-cli --cluster reshard moved 300 slots while the client wrote')
    or diag(MDM::Test::slurp($rlog));
ok($d->{sel}->can_read(60), 'the writes during the reshard were answered');
my ($rok, $rerr, $rfail) = readline($d->{out}) =~ /ok=(\d+) err=(\d+) fail=(\d+)/;
cmp_ok($rok, '>', 0, "writes went on during the reshard ($rok)");
is($rerr + $rfail, 0, 'none failed: every redirection was followed within its retries');
is(ask($d, "GET $rkey"), "\$$rok", 'each acknowledged write counted exactly once');
my $after = stats($d);
cmp_ok($after->{moved}, '>', $before->{moved}, 'MOVED was followed');
note(sprintf('reshard under load: %d INCR, MOVED %d, ASK %d, TRYAGAIN %d',
             $rok, $after->{moved} - $before->{moved}, $after->{ask} - $before->{ask},
             $after->{tryagain} - $before->{tryagain}));
is($t->cluster_master_of(slot_of($rkey))->{port}, $rdst->{port}, 'the key now lives on the target');

# --- bounded load -----------------------------------------------------------------

print { $d->{in} } "REPEAT 2000 INCR {load}n\n";
my $load = readline($d->{out});
chomp $load;
is($load, 'ok=2000 err=0 fail=0', '2000 pipelined INCR');
is(ask($d, 'GET {load}n'), '$2000', 'all counted once');

# --- failover: SIGKILL the master of a slot ------------------------------------------

my $fslot = slot_of('fo');
is(ask($d, 'SET fo before'), '+OK', 'a key on the master about to die');
my $victim = $t->cluster_master_of($fslot);
my ($other) = grep { $t->cluster_master_of(slot_of($_))->{port} != $victim->{port} } @keys;
# writes in flight when the master dies: how many acknowledged ones survive
print { $d->{in} } "REPEAT 100000 INCR {fo}n\n";
my $vc = node_client($victim->{port});
ok($t->wait_for(sub { ($vc->call('GET', '{fo}n') // 0) >= 20000 }, 60),
   'the master is in the middle of the writes');
$t->kill9($t->cluster_node_name($victim->{port}));
my ($acked, $errs, $failed) = readline($d->{out}) =~ /ok=(\d+) err=(\d+) fail=(\d+)/;
ok(defined $acked, 'the writes in flight were all answered');
my (%seen, $served, $other_ok);
my $deadline = time + 60;
while (time < $deadline) {
    my $a = ask($d, 'GET fo');
    last unless defined $a;
    my $b = ask($d, "GET $other");
    $other_ok++ if $b eq "\$v-$other";
    for my $got ([$a, '$before'], [$b, "\$v-$other"]) {
        next if $got->[0] eq $got->[1];
        $seen{$got->[0] =~ /^(![a-z]+|-[A-Z]+)/ ? $1 : $got->[0]}++;
    }
    if ($a eq '$before') { $served = 1; last }
    sleep 0.05;
}
ok($served, 'after the replica took over, the key is served again (no restart)');
is_deeply([ grep { !/^(!lost|!unavailable|!refused|!timeout|-CLUSTERDOWN)$/ } keys %seen ], [],
          'meanwhile only clear failures, never a wrong answer') or diag(explain(\%seen));
ok($other_ok, "a key of another master ($other) was served during the failover too");
note('failures during the failover: ' . join(' ', map { "$_=$seen{$_}" } sort keys %seen));
my ($kept) = ask($d, 'GET {fo}n') =~ /^\$(\d+)$/;
$kept //= 0;
cmp_ok($kept, '<=', $acked + $failed, 'the promoted replica has no write that was never sent');
note(sprintf('failover under writes: %d INCR acknowledged, %d failed (lost '
             . 'connection: ran or not), %d error replies; the promoted '
             . 'replica has %d: %d acknowledged writes lost',
             $acked, $failed, $errs, $kept, $acked > $kept ? $acked - $kept : 0));
is(ask($d, 'SET fo after'), '+OK', 'writes go to the promoted replica');
is(ask($d, 'GET fo'), '$after', 'and are read back from it');
is(quit($d), 0, 'client exits cleanly');

# --- a seed that is not a cluster node -------------------------------------------------

my $plain = do { local $ENV{MDM_REDIS} = ''; $t->redis_start };
my $dp = driver("127.0.0.1:$plain");
like(ask($dp, 'GET x'), qr/^!(refused|unavailable)$/, 'no map from a plain Redis: a clear failure');
sleep 0.5;
like(ask($dp, 'GET x'), qr/^!(refused|unavailable)$/, 'and so is every later one');
is(quit($dp), 0, 'no crash');
like(MDM::Test::slurp($dp->{log}), qr/not a cluster node/, 'the log says the seed is not a cluster node');

# --- a node that answers garbage ------------------------------------------------------

my $junk = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => 0, ReuseAddr => 1)
    or die "listen: $!";
my $junk_port = $junk->sockport;
my $jpid = fork // die;
if ($jpid == 0) {
    while (my $c = $junk->accept) {
        sysread($c, my $buf, 4096);
        syswrite($c, "this is not RESP at all\r\n\x00\xff\r\n");
        close $c;
    }
    exit 0;
}
close $junk;
my $dg = driver("127.0.0.1:$junk_port");
like(ask($dg, 'GET x'), qr/^!(refused|unavailable)$/, 'a garbage-speaking seed: a clear failure');
like(ask($dg, 'STATS'), qr/map_errors=[1-9]/, 'counted as a map error, and the client still answers');
is(quit($dg), 0, 'no crash');
like(MDM::Test::slurp($dg->{log}), qr/no slot map/, 'the log says why');
kill 'TERM', $jpid;
waitpid $jpid, 0;

# --- uncovered slots, CLUSTERDOWN ---------------------------------------------------

my $u = MDM::Test->new;
my ($up) = $u->redis_cluster_start(masters => 1, replicas => 0, create => 0);
my $uc = node_client($up);
is($uc->call('CLUSTER', 'ADDSLOTSRANGE', 0, 8191), 'OK', 'a one-node cluster serving half the slots');
my $du = driver('--timeout', 600, "127.0.0.1:$up");
is(ask($du, 'READY'), 'ready', 'a partial map is still a map');
# 'foo' is slot 12182 (uncovered), 'hello' slot 866 (covered)
is(ask($du, 'GET foo'), '!refused', 'a key in an uncovered slot is refused at once');
like(ask($du, 'GET hello'), qr/^-CLUSTERDOWN/, 'a covered slot of a failed cluster: CLUSTERDOWN after bounded retries')
    or diag(MDM::Test::slurp($du->{log}));
cmp_ok(stats($du)->{clusterdown}, '>=', 2, 'CLUSTERDOWN was retried');
like(MDM::Test::slurp($du->{log}), qr/8192 of 16384 slots served/, 'the log names the uncovered slots');
is($uc->call('CLUSTER', 'ADDSLOTSRANGE', 8192, 16383), 'OK', 'the other half added');
ok($u->wait_for(sub { ask($du, 'SET foo 1') eq '+OK' }, 20), 'then every slot is served, without a restart');
is(quit($du), 0, 'no crash');

done_testing();
