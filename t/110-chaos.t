#!/usr/bin/perl
# Chaos: device load (forked simulated devices: TokenUpdates, API enqueues,
# connects, Acknowledged results) while Redis is SIGKILLed and restarted from
# its AOF and mdm-worker is SIGKILLed and restarted. Two invariants:
#   1. no write answered 200 is lost: after a last Redis kill and restart,
#      each device's stored PushMagic is the one of its last TokenUpdate
#      answered 200 or of a later attempt (one that reached Redis but whose
#      answer was lost), and every result answered 200 is stored;
#   2. no Acknowledged command is delivered again: a command whose
#      Acknowledged report was answered 200 never comes back to the device.
# Redis runs with appendfsync always (docs/redis-schema.md says why: under
# everysec a slow background fsync lets Redis postpone its AOF writes while
# it answers, a loss this test would report though it is no bug of ours).
# Bounded: CHAOS_ROUNDS rounds (default 3) of about 2 s each; `make chaos`
# runs more.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256);
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep time);
use MDM::Test;
use MDM::Keys;

*plist = \&MDM::Plist::plist;
*data = \&MDM::Plist::data;

my $rounds = $ENV{CHAOS_ROUNDS} // 3;
my $ndev = $ENV{CHAOS_DEVICES} // 3;
my $worker_bin = "$MDM::Test::BUILD/mdm-worker";
my $mock_bin = "$MDM::Test::BUILD/apns-mock";

my $t = MDM::Test->new;
my $dir = $t->dir;
my $pki = $t->pki;
my $redis = $t->port('redis');
mkdir "$dir/redis";

sub redis_up {
    $t->spawn('redis', {}, 'redis-server', '--port', $redis, '--bind', '127.0.0.1',
        '--dir', "$dir/redis", '--save', '', '--appendonly', 'yes',
        '--appendfsync', 'always', '--daemonize', 'no');
    $t->wait_port($redis, 'redis-server');
    # a restarted Redis answers LOADING until its AOF is read
    $t->redis_close;
    # (an error reply comes back as a hash: {error => 'LOADING ...'})
    $t->wait_for(sub {
        my $v = eval { $t->redis('EXISTS', key_enrollments()) };
        !$@ && defined $v && !ref $v;
    }, 30) or BAIL_OUT('redis did not come back');
}
redis_up();

my $port = $t->port('https');
$t->nginx_start(<<"EOF", port => $port);
    mdm_redis 127.0.0.1:$redis;
    mdm_redis_backoff_max 200ms;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        client_max_body_size 64k;
        client_body_buffer_size 64k;
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_server; }
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF

my $topic = 'com.apple.mgmt.External.chaos';
my $base = "$pki->{dir}/push";
$t->openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', "$base.key",
    '-out', "$base.csr", '-subj', "/UID=$topic/CN=push");
$t->openssl('x509', '-req', '-in', "$base.csr", '-CA', $pki->{ca}, '-CAkey',
    $pki->{ca_key}, MDM::Test::serial_args(), '-out', "$base.pem", '-days', '30');
$t->redis('HSET', key_pushcert($topic), cert => MDM::Test::slurp("$base.pem"),
    key => MDM::Test::slurp("$base.key"), not_after => time + 86400, updated => 1);

$t->spawn('mock', {}, $mock_bin, '--port', 0, '--cert', $pki->{cert}, '--key',
    $pki->{key}, '--ca', $pki->{ca}, '--quiet');
my $mock_port = $t->wait_for(sub {
    -e "$dir/mock.out" && MDM::Test::slurp("$dir/mock.out") =~ /^port=(\d+)$/m ? $1 : undef
}) or BAIL_OUT('apns-mock did not start');

MDM::Test::spew("$dir/mdm-worker.conf", <<"EOF");
redis = 127.0.0.1:$redis
push_claim_idle_ms = 1000
push_claim_interval_ms = 200
sweep_interval_ms = 100
EOF
sub worker_up {
    $t->spawn('worker', {}, $worker_bin, '-c', "$dir/mdm-worker.conf",
        '--apns-url', "https://127.0.0.1:$mock_port", '--apns-ca', $pki->{ca},
        '--name', 'chaos');
}
worker_up();

my %API = MDM::Test::api_auth('sekret');
my $CHECKIN = 'application/x-apple-aspen-mdm-checkin';
my $CONNECT = 'application/x-apple-aspen-mdm';

# --- a device: runs until $stop exists, one line per answered write ----------

my $stop = "$dir/stop";

sub device_loop {
    my ($n) = @_;
    my $udid = "CHAOS-$n";
    my $id = $t->identity($udid);
    open my $log, '>>', "$dir/dev-$n.log" or die;
    $log->autoflush(1);
    my $req = sub {
        my ($ct, $body) = @_;
        my $r = eval { $t->request('PUT', $port, '/mdm', $body, sign => $id,
                                   headers => { 'Content-Type' => $ct }) };
        return $r // { status => 0, body => '' };
    };
    my %acked;
    my $i = 0;
    while (!-e $stop) {
        $i++;
        my $r = $req->($CHECKIN, plist(MessageType => 'Authenticate', UDID => $udid,
                                       Topic => $topic));
        next unless $r->{status} == 200;
        $r = $req->($CHECKIN, plist(MessageType => 'TokenUpdate', UDID => $udid,
            Topic => $topic, Token => data(sha256("tok-$udid")),
            PushMagic => "m-$i"));
        print $log "tu $i $r->{status}\n";
        my $uuid = "C-$n-$i";
        my $q = encode_json({ request_type => 'ProfileList', command_uuid => $uuid });
        $r = eval { $t->request('POST', $port, "/v1/commands/$udid", $q,
                                headers => \%API) } // { status => 0 };
        print $log "enq $uuid $r->{status}\n";
        # a session: Idle, then acknowledge what comes until the queue is empty
        my $body = plist(UDID => $udid, Status => 'Idle');
        for (1 .. 20) {
            $r = $req->($CONNECT, $body);
            last unless $r->{status} == 200;
            my ($got) = $r->{body} =~ m{<key>CommandUUID</key>\s*<string>([^<]+)</string>};
            last unless defined $got;
            print $log "again $got\n" if $acked{$got};
            $body = plist(UDID => $udid, Status => 'Acknowledged', CommandUUID => $got);
            my $a = $req->($CONNECT, $body);
            print $log "ack $got $a->{status}\n";
            $acked{$got} = 1 if $a->{status} == 200;
            last unless $a->{status} == 200;
            $r = $a;
            ($got) = $a->{body} =~ m{<key>CommandUUID</key>\s*<string>([^<]+)</string>};
            last unless defined $got;
            # the answer to the ack already carries the next command
            print $log "again $got\n" if $acked{$got};
            $body = plist(UDID => $udid, Status => 'Acknowledged', CommandUUID => $got);
            my $b = $req->($CONNECT, $body);
            print $log "ack $got $b->{status}\n";
            $acked{$got} = 1 if $b->{status} == 200;
            $body = plist(UDID => $udid, Status => 'Idle');
        }
    }
    close $log;
}

my @kids;
for my $n (1 .. $ndev) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        device_loop($n);
        POSIX::_exit(0);
    }
    push @kids, $pid;
}

sub lines_of {
    my ($n) = @_;
    my $f = "$dir/dev-$n.log";
    return -e $f ? split(/\n/, MDM::Test::slurp($f)) : ();
}
sub acked_writes { scalar grep { / 200$/ } map { lines_of($_) } 1 .. $ndev }

# --- chaos --------------------------------------------------------------------

my $kills = 0;
for my $round (1 .. $rounds) {
    my $before = acked_writes();
    # barrier: the devices got writes through since the last restart
    $t->wait_for(sub { acked_writes() >= $before + 2 * $ndev }, 60)
        or diag "round $round: no progress";
    sleep rand 0.5;
    $t->kill9('redis');
    $kills++;
    sleep rand 0.3;
    $t->kill9('worker') if $round % 2;
    redis_up();
    worker_up() unless $t->pid('worker');
}
my $before = acked_writes();
ok $t->wait_for(sub { acked_writes() >= $before + 2 * $ndev }, 60),
   'devices are served again after the last restart';

MDM::Test::spew($stop, '');
waitpid $_, 0 for @kids;

# a last kill: what is in Redis now is what its AOF kept
$t->kill9('redis');
redis_up();

my ($writes, $tus, $acks) = (0, 0, 0);
for my $n (1 .. $ndev) {
    my @l = lines_of($n);
    my @again = grep { /^again / } @l;
    is scalar @again, 0, "device $n: no Acknowledged command delivered again"
        or diag "@again";
    my ($last_ok) = reverse map { /^tu (\d+) 200$/ ? $1 : () } @l;
    my ($last_try) = reverse map { /^tu (\d+) / ? $1 : () } @l;
    my $stored = $t->redis('HGET', key_enr("CHAOS-$n"), 'push_magic') // '';
    my ($j) = $stored =~ /^m-(\d+)$/;
    ok defined $last_ok && defined $j && $j >= $last_ok && $j <= $last_try,
        "device $n: the last TokenUpdate answered 200 (m-" . ($last_ok // '?')
        . ") or a later one is stored ($stored)";
    my @lost;
    for (grep { /^ack \S+ 200$/ } @l) {
        my ($u) = /^ack (\S+)/;
        my $st = $t->redis('HGET', key_r("CHAOS-$n", "$u"), 'status') // '';
        push @lost, $u unless $st eq 'Acknowledged';
        $acks++;
    }
    is scalar @lost, 0, "device $n: every Acknowledged answered 200 is stored"
        or diag "lost: @lost";
    $tus += grep { /^tu \d+ 200$/ } @l;
}
diag "$kills Redis kills, $tus TokenUpdates and $acks results answered 200";
cmp_ok $acks, '>', 0, 'results were acknowledged under chaos';

$t->stop('worker');
$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');

done_testing();
