#!/usr/bin/perl
# The module and the worker on a real Redis Cluster (3 masters, 3 replicas):
# nginx -t and mdm-worker --check-config name a bad seed list; nginx serves
# through the cluster client; a master SIGKILLed under requests gives 503
# (never 500) for its slots until its replica is promoted, then the same
# nginx and worker serve again, restarted by nobody. A seed that is a plain
# Redis, or answers garbage: 503 for every request, a log line saying why,
# no crash. The requests used here
# are one key each (GET /v1/certificates/<serial>, /healthz), so they are
# one slot whatever the device scripts do.

use strict;
use warnings;
use lib 't/lib';

use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep time);

use MDM::Test;
use MDM::Keys;
use MDM::Redis;

my $t = MDM::Test->new;
diag('dir ' . $t->dir) if $ENV{MDM_KEEP};
my $d = $t->dir;
my $worker_bin = "$MDM::Test::BUILD/mdm-worker";

# --- configuration --------------------------------------------------------

my @bad = (
    [ 'mdm_redis cluster;', qr/"mdm_redis cluster" needs at least one seed/ ],
    [ 'mdm_redis cluster 127.0.0.1:7000 no-such-host.invalid:7000;',
      qr/"mdm_redis" cluster seed "no-such-host.invalid:7000" host not found/ ],
    [ 'mdm_redis cluster 127.0.0.1:99999;',
      qr/"mdm_redis" cluster seed "127.0.0.1:99999" invalid port/ ],
    [ 'mdm_redis cluster 127.0.0.1;',
      qr/"mdm_redis" cluster seed "127.0.0.1" needs a port/ ],
    [ 'mdm_redis cluster [::1:7000;', qr/"mdm_redis" cluster seed "\[::1:7000"/ ],
    [ 'mdm_redis cluster unix:/run/redis.sock;',
      qr/"mdm_redis" cluster seed "unix:\/run\/redis.sock" cannot be a unix socket/ ],
    [ 'mdm_redis 127.0.0.1:7000 127.0.0.1:7001;',
      qr/invalid "mdm_redis" parameter "127.0.0.1:7001" \(several nodes are "mdm_redis cluster/ ],
    [ 'mdm_redis cluster 127.0.0.1:7000 pool=0;', qr/"mdm_redis" pool must be 1\.\.64/ ],
);
for my $case (@bad) {
    my ($conf, $want) = @$case;
    my ($ok, $out) = $t->nginx_test_conf($conf);
    ok(!$ok, "nginx -t refuses: $conf");
    like($out, $want, '... naming the seed and why') or diag($out);
}
my ($ok, $out) = $t->nginx_test_conf(
    'mdm_redis cluster 127.0.0.1:7000 [::1]:7001 localhost:7002 pool=2;');
ok($ok, 'a seed list of an IPv4, an IPv6 literal and a host name is accepted') or diag($out);

sub worker_check {
    my ($redis) = @_;
    MDM::Test::spew("$d/w.conf", "redis = $redis\n");
    my $out = `$worker_bin --check-config -c $d/w.conf 2>&1`;
    return ($? >> 8, $out);
}
my ($rc, $wout) = worker_check('cluster 127.0.0.1:7000 [::1]:7001 localhost:7002');
is($rc, 0, 'mdm-worker accepts the same seed list') or diag($wout);
($rc, $wout) = worker_check('cluster 127.0.0.1:7000 no-such-host.invalid:7000');
is($rc, 1, 'mdm-worker refuses a seed that does not resolve');
like($wout, qr/redis: .*"no-such-host.invalid:7000"/, '... naming it');
($rc, $wout) = worker_check('cluster');
like($wout, qr/redis: .*needs at least one seed/, 'mdm-worker refuses an empty seed list');
($rc, $wout) = worker_check('cluster 127.0.0.1:0');
like($wout, qr/redis: .*"127.0.0.1:0" has an invalid port/, 'mdm-worker names a bad port');
($rc, $wout) = worker_check('[::1]:6379');
is($rc, 0, 'mdm-worker accepts an IPv6 literal for one Redis') or diag($wout);

# --- serving through the cluster ------------------------------------------

my @ports = $t->redis_cluster_start(masters => 3, replicas => 1);
my $seeds = $t->cluster_seeds;
my $port = $t->port('https');
my $pki = $t->pki;
$t->nginx_start(<<"EOF", port => $port, workers => 2);
    mdm_redis cluster $seeds;
    mdm_redis_timeout 1s;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        location /healthz { mdm_healthz; }
        location = /metrics { mdm_metrics; }
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF
my %API = MDM::Test::api_auth('sekret');

sub keyslot { MDM::Redis->new('127.0.0.1', $ports[0])->call('CLUSTER', 'KEYSLOT', $_[0]) }

# one absent serial per master: the key is mdm:ca:serial:{<hex>}
my (%serial_on, @serials);
for my $n (1 .. 400) {
    my $hex = sprintf('%x', 0xa000 + $n);
    my $m = $t->cluster_master_of(keyslot(key_ca_serial($hex)))->{port};
    next if $serial_on{$m};
    $serial_on{$m} = $hex;
    last if keys %serial_on == 3;
}
is(scalar keys %serial_on, 3, 'a serial for each master');

sub cert_status {
    my ($hex) = @_;
    return $t->request('GET', $port, "/v1/certificates/$hex", undef, headers => \%API)->{status};
}

ok($t->wait_for(sub { $t->request('GET', $port, '/healthz')->{status} == 200 }, 20),
   'healthz answers 200 through the cluster');
for my $m (sort keys %serial_on) {
    is(cert_status($serial_on{$m}), 404, "an absent certificate on master $m: 404");
}

# the worker on the same cluster
$t->spawn('worker', {}, $worker_bin, '--redis', "cluster $seeds", '--name', 'w1',
          '--apns-url', 'https://127.0.0.1:1', '--log-level', 'info');
ok($t->wait_for(sub { -e "$d/worker.out" && MDM::Test::slurp("$d/worker.out") =~ /cluster map from/ }, 20),
   'the worker reads the slot map');

# --- MOVED and ASK through nginx, counted in /metrics -------------------------

sub metric {
    my ($name) = @_;
    my $body = $t->request('GET', $port, '/metrics')->{body} // '';
    return $body =~ /^\Q$name\E (\d+)$/m ? $1 : undef;
}
my %used = map { (keyslot(key_ca_serial($_)) => 1) } values %serial_on;
my ($mig) = grep { !$used{ keyslot(key_ca_serial($_)) } } map { sprintf('%x', 0xb000 + $_) } 1 .. 50;
my $mslot = keyslot(key_ca_serial($mig));
my $msrc = $t->cluster_master_of($mslot);
my ($mdst) = grep { $_->{master} && $_->{port} != $msrc->{port} } @{ $t->cluster_nodes };
my $ask0 = metric('mdm_redis_cluster_redirects_total{reply="ask"}');
my $moved0 = metric('mdm_redis_cluster_redirects_total{reply="moved"}');
is($ask0, 0, '/metrics lists ASK redirects, none yet');
MDM::Redis->new('127.0.0.1', $mdst->{port})->call('CLUSTER', 'SETSLOT', $mslot, 'IMPORTING', $msrc->{id});
MDM::Redis->new('127.0.0.1', $msrc->{port})->call('CLUSTER', 'SETSLOT', $mslot, 'MIGRATING', $mdst->{id});
is(cert_status($mig), 404, 'a key absent from a migrating slot: ASK followed, 404');
cmp_ok(metric('mdm_redis_cluster_redirects_total{reply="ask"}'), '>', $ask0, 'the ASK is counted');
for my $n (grep { $_->{master} } @{ $t->cluster_nodes }) {
    MDM::Redis->new('127.0.0.1', $n->{port})->call('CLUSTER', 'SETSLOT', $mslot, 'NODE', $mdst->{id});
}
is(cert_status($mig), 404, 'the slot moved: MOVED followed, 404') for 1 .. 4;
cmp_ok(metric('mdm_redis_cluster_redirects_total{reply="moved"}'), '>', $moved0, 'the MOVED is counted');

# --- failover ---------------------------------------------------------------

my ($victim) = sort keys %serial_on;
my $hex = $serial_on{$victim};
my ($other) = grep { $_ != $victim } sort keys %serial_on;
$t->kill9($t->cluster_node_name($victim));
# served again: ten 404s in a row, so that both nginx workers (each with
# its own cluster client) have found the promoted replica
my (%st, %other_st, $back, $run);
my $deadline = time + 60;
while (time < $deadline) {
    my $s = cert_status($hex);
    $st{$s}++;
    $other_st{ cert_status($serial_on{$other}) }++;
    $run = $s == 404 && $st{503} ? ($run // 0) + 1 : 0;
    if ($run >= 10) { $back = 1; last }
    sleep 0.05;
}
note('statuses for the failed master\'s slot: ' . join(' ', map { "$_=$st{$_}" } sort keys %st));
note('statuses for another master\'s slot: ' . join(' ', map { "$_=$other_st{$_}" } sort keys %other_st));
ok($st{503}, 'requests for the failed master\'s slots answered 503');
ok($back, 'then were served again by the promoted replica, nginx not restarted');
is_deeply([ grep { $_ != 404 && $_ != 503 } keys %st, keys %other_st ], [],
          'never a 500 or any other status');
ok($other_st{404}, 'the other masters\' slots were served during the failover');
is(cert_status($hex), 404, 'and stay served');
ok(kill(0, $t->pid('worker')), 'the worker lived through the failover');
$t->stop('worker');
$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');
unlike(MDM::Test::slurp("$d/worker.out"), qr/Segmentation|Aborted|AddressSanitizer/, 'the worker did not crash');

# --- seeds that are no cluster: a plain Redis, a node answering garbage ------

my $plain = do { local $ENV{MDM_REDIS} = ''; $t->redis_start };
my $junk = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => 0,
                                 ReuseAddr => 1) or die "listen: $!";
my $junk_port = $junk->sockport;
my $jpid = fork // die;
if ($jpid == 0) {
    while (my $c = $junk->accept) {
        sysread($c, my $buf, 4096);
        syswrite($c, "garbage, not RESP\r\n\x00\xff\r\n");
        close $c;
    }
    exit 0;
}
close $junk;

for my $case ([ "127.0.0.1:$plain", qr/127\.0\.0\.1:$plain: no slot map: it is not a cluster node/ ],
              [ "127.0.0.1:$junk_port", qr/127\.0\.0\.1:$junk_port: (?:no slot map|connection lost: Protocol error)/ ]) {
    my ($seed, $why) = @$case;
    unlink "$d/error.log";
    $t->nginx_start(<<"EOF", port => $port);
    mdm_redis cluster $seed;
    mdm_redis_timeout 500ms;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        location /healthz { mdm_healthz; }
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF
    my @s = map { ($t->request('GET', $port, '/healthz')->{status}, cert_status('abc')) } 1 .. 3;
    is_deeply([ grep { $_ != 503 } @s ], [], "seed $seed: every request 503");
    ok($t->wait_for(sub { $t->error_log =~ $why }, 10), '... and the log says why')
        or diag($t->error_log);
    $t->stop('nginx');
    is_deeply([ $t->error_log_problems ], [], '... no alerts or crashes');
}
kill 'TERM', $jpid;
waitpid $jpid, 0;

done_testing();
