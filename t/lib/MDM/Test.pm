package MDM::Test;

# Test harness in the spirit of nginx's own test suite: every test gets a
# temp dir and free loopback ports, starts real processes (redis-server,
# Debian's nginx loading the built module, mdm-worker, apns-mock) and stops
# them by pid at the end, also when the test dies. It can also act as a
# device: mint an identity from a test CA, sign bodies (Mdm-Signature) and
# send them over TLS with or without a client certificate.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Fcntl qw(O_WRONLY O_CREAT O_EXCL LOCK_EX);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::SSL;
use MIME::Base64 qw(encode_base64 decode_base64);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

use MDM::Redis;
use MDM::Keys ();

our $ROOT = abs_path(dirname(__FILE__) . '/../../..');
our $BUILD = $ENV{MDM_BUILD} // 'build';
$BUILD = "$ROOT/$BUILD" unless $BUILD =~ m{^/};
# MDM_FIXTURES names the directory that holds devices/ and ddm/ (t/fixtures,
# see t/fixtures/SOURCE.md): the same meaning as in libmdm/t/plist_test.h.
our $FIXTURES = $ENV{MDM_FIXTURES} // "$ROOT/t/fixtures";
our $NGINX = $ENV{MDM_NGINX} // '/usr/sbin/nginx';

# Every wait of the harness is multiplied by MDM_TEST_TIMEOUT_SCALE (make
# test-asan and make test-stress set it): a slow machine makes a test slower,
# never wrong. Waits end on their condition, so the scale costs nothing when
# things go well.
our $SCALE = $ENV{MDM_TEST_TIMEOUT_SCALE} || 1;
$SCALE = 1 unless $SCALE =~ /^\d+(?:\.\d+)?$/ && $SCALE >= 1;

sub timeout { return $_[-1] * $SCALE }

my @all;    # every harness object, for END

sub new {
    my ($class, %args) = @_;
    my $self = bless {
        dir   => tempdir('mdm-test-XXXXXX', TMPDIR => 1,
                         CLEANUP => !$ENV{MDM_KEEP}),
        pids  => {},
        %args,
    }, $class;
    push @all, $self;
    return $self;
}

sub dir { $_[0]{dir} }

sub fixture {
    my ($self, $name) = @_;
    return slurp("$FIXTURES/$name");
}

# The arguments that give a certificate signed by `openssl x509 -req` a
# random 128-bit serial. Not -CAcreateserial: processes of one test that sign
# with the same CA at once (t/110's devices) race on its serial file, and one
# of them fails.
sub serial_args {
    open my $fh, '<:raw', '/dev/urandom' or croak "/dev/urandom: $!";
    read($fh, my $bytes, 16) == 16 or croak "/dev/urandom: short read";
    return ('-set_serial', '0x' . unpack('H*', $bytes));
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or croak "$path: $!";
    local $/;
    return scalar <$fh>;
}

our $CLUSTER_SELF;    # the harness whose Redis is a cluster (MDM_REDIS=cluster)

sub spew {
    my ($path, $data) = @_;
    # a worker configuration written for one Redis reads the cluster's seeds
    $data = $CLUSTER_SELF->cluster_rewrite($data)
        if $CLUSTER_SELF && $path =~ /\.conf$/;
    open my $fh, '>:raw', $path or croak "$path: $!";
    print $fh $data;
    close $fh;
}

# --- ports ------------------------------------------------------------------
#
# Test files run side by side (prove -j), so a port one of them picked must
# not be picked by another before its server binds it. Ports are taken
# below the kernel's ephemeral range, where no outgoing connection borrows
# them, and reserved across processes by a file named after the port in one
# shared directory, holding the reserving pid. A file whose pid is gone is
# stale and is taken over. The lock file serialises the reservations.

my $PORT_DIR = File::Spec->tmpdir . '/mdm-test-ports';
my %port_reserved;    # the ports this process reserved
my $PORT_OWNER = $$;

sub ephemeral_low {
    my $range = eval { slurp('/proc/sys/net/ipv4/ip_local_port_range') } // '';
    return $range =~ /^(\d+)/ ? $1 : 32768;
}

sub port_bindable {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => $port, ReuseAddr => 1)
        or return 0;
    close $s;
    return 1;
}

sub port_owner_alive {
    my ($port) = @_;
    my $pid = eval { slurp("$PORT_DIR/$port") } // '';
    return $pid =~ /^\d+$/ && (kill(0, $pid) || $!{EPERM});
}

sub port_claim {
    my ($port) = @_;
    my $path = "$PORT_DIR/$port";
    unlink $path if -e $path && !port_owner_alive($port);
    sysopen(my $fh, $path, O_WRONLY | O_CREAT | O_EXCL) or return 0;
    print $fh $$;
    close $fh;
    $port_reserved{$port} = 1;
    return 1;
}

# Reserves $count consecutive ports (each with its cluster bus port, 10000
# above, when $bus) and returns the first.
sub reserve_ports {
    my ($count, $bus) = @_;
    my $top = ephemeral_low() - 1 - ($bus ? 10000 : 0) - ($count - 1);
    my $low = $bus ? 10240 : 20000;
    $low = 1024 if $low > $top;
    croak "no port range below the ephemeral ports" if $top < $low;
    make_path($PORT_DIR);
    open my $lock, '>>', "$PORT_DIR/lock" or croak "$PORT_DIR/lock: $!";
    flock $lock, LOCK_EX or croak "flock: $!";
    for (1 .. 500) {
        my $first = $low + int rand($top - $low + 1);
        my @want = map { my $p = $first + $_; $bus ? ($p, $p + 10000) : $p }
                   0 .. $count - 1;
        next if grep { -e "$PORT_DIR/$_" && port_owner_alive($_) } @want;
        next if grep { !port_bindable($_) } @want;
        my @got = grep { port_claim($_) } @want;
        return $first if @got == @want;
        release_ports(@got);
    }
    croak "no $count free port(s) to reserve";
}

sub release_ports {
    for my $port (@_) {
        next unless delete $port_reserved{$port};
        unlink "$PORT_DIR/$port";
    }
}

sub free_port { return reserve_ports(1, 0) }

sub port {
    my ($self, $name) = @_;
    return $self->{ports}{$name} //= free_port();
}

# --- processes -------------------------------------------------------------

sub spawn {
    my ($self, $name, $env, @cmd) = @_;
    if ($self->{cluster_mode}) {
        for my $i (1 .. $#cmd) {
            $cmd[$i] = "cluster " . $self->cluster_seeds
                if $cmd[$i - 1] eq '--redis'
                   && $cmd[$i] eq "127.0.0.1:$self->{ports}{redis}";
        }
    }
    my $log = "$self->{dir}/$name.out";
    my $pid = fork // croak "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        @ENV{keys %$env} = values %$env;
        exec @cmd or POSIX::_exit(127);
    }
    $self->{pids}{$name} = $pid;
    return $pid;
}

sub pid { $_[0]{pids}{$_[1]} }

sub stop {
    my ($self, $name, $signal) = @_;
    return $self->cluster_each('stop', $signal) if $self->cluster_is($name);
    my $pid = delete $self->{pids}{$name} or return;
    kill $signal // 'TERM', $pid;
    my $deadline = time + timeout(10);
    while (time < $deadline) {
        return 1 if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return 0;
}

sub kill9 {
    my ($self, $name) = @_;
    return $self->cluster_each('kill9') if $self->cluster_is($name);
    my $pid = delete $self->{pids}{$name} or return;
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

sub wait_port {
    my ($self, $port, $what) = @_;
    my $deadline = time + timeout(10);
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                      Timeout => 1);
        return 1 if $s;
        sleep 0.02;
    }
    croak "$what did not listen on $port";
}

# Polls $cond until it is true (returns its value) or timeout seconds
# (default 10, times MDM_TEST_TIMEOUT_SCALE) have passed (returns undef).
sub wait_for {
    my ($self, $cond, $timeout) = @_;
    my $deadline = time + timeout($timeout // 10);
    while (time < $deadline) {
        my $v = $cond->();
        return $v if $v;
        sleep 0.05;
    }
    return $cond->() || undef;
}

# Returns once the wall clock has reached unix time $epoch: the barrier for
# "a TTL has passed". nginx and the worker read the same clock, so a request
# sent after this sees the TTL as passed. Not a guess at how long something
# takes: the event waited for is the clock itself.
sub until_epoch {
    my ($self, $epoch) = @_;
    my $left = $epoch - time;
    sleep $left if $left > 0;
    return 1;
}

# True once consumer group $group has read every entry of $stream and holds
# none pending: whatever it was given has been handled (a positive barrier
# before asserting that something did not happen).
sub stream_drained {
    my ($self, $stream, $group) = @_;
    my $info = $self->redis('XINFO', 'STREAM', $stream);
    return 0 unless ref $info eq 'ARRAY';
    my %s = @$info;
    my $groups = $self->redis('XINFO', 'GROUPS', $stream);
    my ($g) = grep { $_->{name} eq $group }
              map { +{@$_} } @{ ref $groups eq 'ARRAY' ? $groups : [] };
    return 0 unless $g;
    return $g->{pending} == 0
        && $g->{'last-delivered-id'} eq $s{'last-generated-id'};
}

# Bytes sent to redis-server that it has not read yet (its sockets' receive
# queues, from /proc/net/tcp): with Redis stopped (SIGSTOP), > 0 proves that
# a command is in flight.
sub redis_unread {
    my ($self) = @_;
    my $port = sprintf '%04X', $self->port('redis');
    my $n = 0;
    open my $fh, '<', '/proc/net/tcp' or return 0;
    while (<$fh>) {
        my @f = split;
        next unless ($f[1] // '') =~ /^0100007F:$port$/ && $f[3] eq '01';
        my (undef, $rx) = split /:/, $f[4];
        $n += hex $rx;
    }
    return $n;
}

sub stop_all {
    my ($self) = @_;
    $self->stop($_) for reverse sort keys %{ $self->{pids} };
}

# At the end of each test file every process is stopped, and the logs of
# all of them are read once more: a sanitizer report (ASan, UBSan, LSan at
# exit) fails the file even when no test looked for it.
END {
    my $status = $?;
    $_->stop_all for @all;
    release_ports(keys %port_reserved) if $$ == $PORT_OWNER;
    my @reports = map { $_->sanitizer_reports } @all;
    if (@reports) {
        print STDERR "# sanitizer report at exit: $_\n" for @reports;
        $status ||= 1;
    }
    $? = $status;
}

# LeakSanitizer's report of what nginx's own worker exit leaves behind: the
# connection and event arrays of ngx_event_process_init() are referenced
# only from the cycle whose pool ngx_worker_process_exit() destroys, so they
# look leaked whenever no live object of a module still points into them (a
# worker stopped while its Redis is unreachable). A report is dropped only
# when every leak in it was allocated by nginx while spawning a worker and
# no frame is ours (t/lsan.supp cannot say "no frame of the module").
sub without_nginx_exit_leaks {
    my ($text) = @_;
    my $report = qr/^=+\n==\d+==ERROR: LeakSanitizer: detected memory leaks\n(.*?)^SUMMARY: AddressSanitizer: [^\n]*\n/ms;
    $text =~ s{$report}{
        my ($all, $r) = ($&, $1);
        my @leaks = grep { /leak of/ } split /\n(?=(?:Direct|Indirect) leak)/, $r;
        (grep({ !/ngx_spawn_process/ } @leaks) || $r =~ /mdm/) ? $all : '';
    }ge;
    return $text;
}

sub sanitizer_reports {
    my ($self) = @_;
    return unless -d $self->{dir};
    my @bad;
    for my $f (glob("$self->{dir}/*.log"), glob("$self->{dir}/*.out")) {
        for (split /\n/, without_nginx_exit_leaks(slurp($f))) {
            push @bad, "$f: $_"
                if /ERROR: (?:Address|Leak)Sanitizer|runtime error:|SUMMARY: \w+Sanitizer/;
        }
    }
    return @bad;
}

# --- redis -----------------------------------------------------------------

sub redis_start {
    my ($self) = @_;
    return $self->redis_cluster_as_redis if ($ENV{MDM_REDIS} // '') eq 'cluster';
    my $port = $self->port('redis');
    mkdir "$self->{dir}/redis";
    $self->spawn('redis', {}, 'redis-server', '--port', $port,
                 '--bind', '127.0.0.1', '--dir', "$self->{dir}/redis",
                 '--save', '', '--appendonly', 'no', '--daemonize', 'no');
    $self->wait_port($port, 'redis-server');
    return $port;
}

sub redis {
    my ($self, @cmd) = @_;
    return $self->cluster_call(@cmd) if $self->{cluster_mode};
    $self->{redis_client} //= MDM::Redis->new('127.0.0.1', $self->port('redis'));
    return $self->{redis_client}->call(@cmd);
}

sub redis_close {
    delete $_[0]{redis_client};
    delete $_[0]{cluster_clients};
}

# --- redis cluster ---------------------------------------------------------

# A free port whose cluster bus port (port + 10000) is free as well.
sub cluster_free_port { return reserve_ports(1, 1) }

# Starts masters * (1 + replicas) redis-server --cluster-enabled yes on free
# loopback ports and joins them with redis-cli --cluster create, then waits
# until every node sees every other and the cluster state is ok. Returns the
# ports; nodes are named redis-c1..redis-cN for stop/kill9. create => 0
# leaves them unjoined (for uncovered-slot tests).
sub redis_cluster_start {
    my ($self, %o) = @_;
    my $masters = $o{masters} // 3;
    my $replicas = $o{replicas} // 1;
    my $n = $masters * (1 + $replicas);
    my @ports;
    for my $i (1 .. $n) {
        my $name = "redis-c$i";
        my $port = $self->{ports}{$name} //= cluster_free_port();
        my $d = "$self->{dir}/$name";
        mkdir $d;
        $self->spawn($name, {}, 'redis-server', '--port', $port,
                     '--bind', '127.0.0.1', '--dir', $d, '--save', '',
                     '--appendonly', 'no', '--daemonize', 'no',
                     '--cluster-enabled', 'yes',
                     '--cluster-config-file', "$d/nodes.conf",
                     # 1 s made a loaded 2-core machine fail over on its own
                     # (a node starved of CPU misses its pings), changing the
                     # masters under a test's feet; a test that kills a
                     # master waits for the promotion, however long
                     '--cluster-node-timeout',
                     $o{node_timeout} // int(timeout(3000)),
                     # replicas sync at once, not after the default 5 s
                     '--repl-diskless-sync-delay', 0);
        push @ports, $port;
    }
    $self->wait_port($_, 'redis-server (cluster node)') for @ports;
    # a restart: the nodes find each other again from their nodes.conf
    if ($self->{cluster} && $self->{cluster}{created}) {
        $self->cluster_wait_ok(scalar @ports)
            or croak "the cluster did not come back:\n" . $self->cluster_nodes_text;
        return @ports;
    }
    $self->{cluster} = { ports => \@ports, masters => $masters };
    return @ports if defined $o{create} && !$o{create};
    $self->{cluster}{created} = 1;

    my @addrs = map { "127.0.0.1:$_" } @ports;
    my $out = `redis-cli --cluster create @addrs --cluster-replicas $replicas --cluster-yes 2>&1`;
    croak "redis-cli --cluster create failed: $out" if $?;
    $self->cluster_wait_ok(scalar @ports)
        or croak "the cluster did not come up:\n" . $self->cluster_nodes_text;
    return @ports;
}

# Every live node says cluster_state:ok, knows every other as connected and
# sees as many masters as the cluster has.
sub cluster_wait_ok {
    my ($self, $live, $timeout) = @_;
    return $self->wait_for(sub {
        my $ok = 0;
        for my $port ($self->cluster_live_ports) {
            my $c = eval { MDM::Redis->new('127.0.0.1', $port) } or return 0;
            my $info = $c->call('CLUSTER', 'INFO');
            return 0 unless !ref $info && $info =~ /cluster_state:ok/;
            my $nodes = $c->call('CLUSTER', 'NODES');
            my $up = () = $nodes =~ /^\S+ \S+ (?![^ ]*fail)[^ ]* .* connected/mg;
            return 0 unless $up >= $live;
            # and sees each replica as one: right after --cluster create a
            # node may still list a replica-to-be as a master without slots
            my $masters = () = $nodes =~ /^\S+ \S+ (?![^ ]*fail)[^ ]*master/mg;
            return 0 if $masters > $self->{cluster}{masters};
            # a replica that has not synced could not take over
            my $repl = $c->call('INFO', 'replication');
            return 0 if $repl =~ /role:slave/ && $repl !~ /master_link_status:up/;
            $ok++;
        }
        return $ok >= $live;
    }, $timeout // 30);
}

sub cluster_live_ports {
    my ($self) = @_;
    my $c = $self->{cluster} or return ();
    my @ports;
    for my $i (1 .. @{ $c->{ports} }) {
        push @ports, $c->{ports}[$i - 1] if $self->pid("redis-c$i");
    }
    return @ports;
}

# The seed list as the module's directive and the worker's setting spell it.
sub cluster_seeds {
    my ($self) = @_;
    return join ' ', map { "127.0.0.1:$_" } @{ $self->{cluster}{ports} };
}

sub cluster_nodes_text {
    my ($self) = @_;
    for my $port ($self->cluster_live_ports) {
        my $c = eval { MDM::Redis->new('127.0.0.1', $port) } or next;
        my $nodes = $c->call('CLUSTER', 'NODES');
        return $nodes unless ref $nodes;
    }
    return '';
}

# [ { id, port, master (1/0), master_id, slots => [[a, b], ...] } ] of the
# nodes not marked failed, as a live node sees them.
sub cluster_nodes {
    my ($self) = @_;
    my @nodes;
    for my $line (split /\n/, $self->cluster_nodes_text) {
        my ($id, $addr, $flags, $master, undef, undef, undef, $link, @slots)
            = split ' ', $line;
        next if $flags =~ /fail|noaddr/ || $link ne 'connected';
        my ($port) = $addr =~ /:(\d+)/;
        push @nodes, {
            id => $id, port => $port, master => ($flags =~ /master/ ? 1 : 0),
            master_id => $master,
            slots => [ map { /^(\d+)(?:-(\d+))?$/ ? [$1, $2 // $1] : () }
                       @slots ],
        };
    }
    return \@nodes;
}

# The harness name (redis-cN) of the node on a port.
sub cluster_node_name {
    my ($self, $port) = @_;
    my $ports = $self->{cluster}{ports};
    for my $i (1 .. @$ports) {
        return "redis-c$i" if $ports->[$i - 1] == $port;
    }
    croak "no cluster node on port $port";
}

# The master serving slot, as a live node sees it.
sub cluster_master_of {
    my ($self, $slot) = @_;
    for my $n (@{ $self->cluster_nodes }) {
        next unless $n->{master};
        for my $r (@{ $n->{slots} }) {
            return $n if $slot >= $r->[0] && $slot <= $r->[1];
        }
    }
    return undef;
}

sub cluster_client {
    my ($self, $port) = @_;
    return $self->{cluster_clients}{$port} //= MDM::Redis->new('127.0.0.1', $port);
}

# One command, following MOVED and ASK as a cluster client must. Commands
# about the whole data set or server (KEYS, FLUSHALL, DBSIZE, SCRIPT, CLIENT
# PAUSE, CONFIG SET) go to every
# master; their array replies are joined and their integers summed.
my %CLUSTER_ALL = map { $_ => 1 } qw(KEYS FLUSHALL FLUSHDB DBSIZE SCRIPT CLIENT CONFIG);

sub cluster_call {
    my ($self, @cmd) = @_;
    if ($CLUSTER_ALL{uc $cmd[0]}) {
        my ($sum, @all) = (0);
        for my $n (grep { $_->{master} } @{ $self->cluster_nodes }) {
            my $r = $self->cluster_client($n->{port})->call(@cmd);
            if (ref $r eq 'ARRAY') { push @all, @$r }
            elsif (defined $r && $r =~ /^\d+$/) { $sum += $r }
            else { $sum = $r }
        }
        return uc $cmd[0] eq 'KEYS' ? \@all : $sum;
    }
    my $port = $self->{cluster_last} //= $self->{cluster}{ports}[0];
    my $asking;
    for (1 .. 16) {
        my $c = $self->cluster_client($port);
        $c->call('ASKING') if $asking;
        my $r = eval { $c->call(@cmd) };
        if (!defined $r && $@) {                 # node gone: try another
            delete $self->{cluster_clients}{$port};
            ($port) = grep { $_ != $port } $self->cluster_live_ports;
            sleep 0.1;
            next;
        }
        if (ref $r eq 'HASH' && $r->{error} =~ /^(MOVED|ASK) \d+ [^:]*:(\d+)/) {
            $asking = $1 eq 'ASK';
            $port = $2;
            $self->{cluster_last} = $port unless $asking;
            next;
        }
        if (ref $r eq 'HASH' && $r->{error} =~ /^(TRYAGAIN|CLUSTERDOWN)/) {
            sleep 0.1;
            next;
        }
        return $r;
    }
    croak "cluster: no answer for @cmd";
}

# MDM_REDIS=cluster: redis_start starts a 3-master, 3-replica cluster, and
# the configurations the tests write for one Redis on the port it returns
# are read as that cluster's seed list (nginx_start, spawn).
# In that mode "redis" as a process name (stop, kill9) is every node.
sub cluster_is {
    my ($self, $name) = @_;
    return $self->{cluster_mode} && $name eq 'redis';
}

sub cluster_each {
    my ($self, $how, @args) = @_;
    my $n = @{ $self->{cluster}{ports} };
    $self->$how("redis-c$_", @args) for 1 .. $n;
    delete $self->{cluster_clients};
    return 1;
}

sub redis_cluster_as_redis {
    my ($self) = @_;
    my @ports = $self->redis_cluster_start(masters => 3, replicas => 1);
    $self->{ports}{redis} = $ports[0];
    $self->{cluster_mode} = 1;
    $CLUSTER_SELF = $self;
    return $ports[0];
}

sub cluster_rewrite {
    my ($self, $text) = @_;
    return $text unless $self->{cluster_mode};
    my $port = $self->{ports}{redis};
    my $seeds = $self->cluster_seeds;
    $text =~ s/\bmdm_redis\s+127\.0\.0\.1:$port\b/mdm_redis cluster $seeds/g;
    $text =~ s/^(\s*redis\s*=\s*)127\.0\.0\.1:$port\s*$/$1cluster $seeds/mg;
    return $text;
}

# --- pki -------------------------------------------------------------------

sub openssl {
    my ($self, @args) = @_;
    my $pid = fork // croak "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec 'openssl', @args or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    croak "openssl @args failed" if $?;
}

# A device CA, a server certificate for 127.0.0.1/localhost and a
# foreign CA (for negative tests).
sub pki {
    my ($self) = @_;
    return $self->{pki} if $self->{pki};
    my $d = "$self->{dir}/pki";
    mkdir $d;
    for my $ca (qw(ca foreign)) {
        $self->openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes',
            '-keyout', "$d/$ca.key", '-out', "$d/$ca.pem", '-days', '30',
            '-subj', "/CN=ngx_mdm test $ca", '-batch');
    }
    spew("$d/server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        . "extendedKeyUsage=serverAuth\n");
    $self->openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout',
        "$d/server.key", '-out', "$d/server.csr", '-subj', '/CN=localhost');
    $self->openssl('x509', '-req', '-in', "$d/server.csr", '-CA', "$d/ca.pem",
        '-CAkey', "$d/ca.key", serial_args(), '-out', "$d/server.pem",
        '-days', '30', '-extfile', "$d/server.ext");
    return $self->{pki} = {
        dir => $d, ca => "$d/ca.pem", ca_key => "$d/ca.key",
        foreign => "$d/foreign.pem", foreign_key => "$d/foreign.key",
        cert => "$d/server.pem", key => "$d/server.key",
    };
}

# An APNs push certificate for topic (subject UID), CN = name, issued by the
# test CA that apns-mock trusts: { cert, key } as PEM text, pem (both, as
# PUT /v1/pushcert takes them) and serial (upper-case hex, as apns-mock
# logs it).
sub push_cert {
    my ($self, $name, $topic) = @_;
    my $pki = $self->pki;
    my $base = "$pki->{dir}/push-$name";
    $self->openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout',
        "$base.key", '-out', "$base.csr", '-subj', "/UID=$topic/CN=$name");
    $self->openssl('x509', '-req', '-in', "$base.csr", '-CA', $pki->{ca},
        '-CAkey', $pki->{ca_key}, serial_args(), '-out', "$base.pem",
        '-days', '30');
    my ($serial) = `openssl x509 -in $base.pem -noout -serial` =~ /serial=(\w+)/;
    my %c = (cert => slurp("$base.pem"), key => slurp("$base.key"));
    return { %c, pem => $c{cert} . $c{key}, serial => uc($serial // '') };
}

# A device identity: key + certificate with clientAuth, CN = name, signed
# by the test device CA (or by the foreign CA with ca => 'foreign').
sub identity {
    my ($self, $name, %opt) = @_;
    my $pki = $self->pki;
    my $ca = $opt{ca} // 'ca';
    my $base = "$pki->{dir}/id-$name-$ca" . ($opt{tag} // '');
    return { cert => "$base.pem", key => "$base.key" } if -e "$base.pem";
    my $days = $opt{days} // 30;
    spew("$base.ext", "extendedKeyUsage=clientAuth\n"
        . "keyUsage=digitalSignature,keyEncipherment\n");
    $self->openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout',
        "$base.key", '-out', "$base.csr", '-subj', "/CN=$name");
    $self->openssl('x509', '-req', '-in', "$base.csr", '-CA',
        "$pki->{dir}/$ca.pem", '-CAkey', "$pki->{dir}/$ca.key",
        serial_args(), '-out', "$base.pem", '-days', $days,
        '-extfile', "$base.ext");
    return { cert => "$base.pem", key => "$base.key" };
}

# Mdm-Signature value for body: base64 DER CMS SignedData, detached.
# digest: sha256 (default) or sha1; ber => 1 gives indefinite lengths.
sub sign {
    my ($self, $id, $body, %opt) = @_;
    # per process: forked simulated devices sign at the same time
    my $in = "$self->{dir}/sign-$$.in";
    my $out = "$self->{dir}/sign-$$.out";
    spew($in, $body);
    $self->openssl('cms', '-sign', '-binary', '-in', $in, '-signer',
        $id->{cert}, '-inkey', $id->{key}, '-outform', 'DER', '-out', $out,
        '-md', $opt{digest} // 'sha256', ($opt{ber} ? ('-stream') : ()));
    my $cms = slurp($out);
    $cms = ber_detach($cms) if $opt{ber};
    return encode_base64($cms, '');
}

# openssl's CLI streams BER only with the content attached; devices send it
# detached. With every enclosing length indefinite, cutting the eContent
# element out leaves valid BER, and the signature (over the signed
# attributes) stays valid.
sub ber_header_len {
    my ($buf, $pos) = @_;
    my $l = ord substr($buf, $pos + 1, 1);
    return 2 + (($l & 0x80) && $l != 0x80 ? ($l & 0x7f) : 0);
}

sub ber_elem_len {
    my ($buf, $pos) = @_;
    my $h = ber_header_len($buf, $pos);
    my $l = ord substr($buf, $pos + 1, 1);
    if ($l == 0x80) {
        my $p = $pos + $h;
        $p += ber_elem_len($buf, $p) while substr($buf, $p, 2) ne "\0\0";
        return $p + 2 - $pos;
    }
    if ($l & 0x80) {
        $l = 0;
        $l = $l * 256 + ord substr($buf, $pos + 2 + $_, 1)
            for 0 .. (ord(substr($buf, $pos + 1, 1)) & 0x7f) - 1;
    }
    return $h + $l;
}

sub ber_detach {
    my ($cms) = @_;
    my $p = ber_header_len($cms, 0);             # ContentInfo
    $p += ber_elem_len($cms, $p);                # contentType
    $p += ber_header_len($cms, $p);              # [0]
    $p += ber_header_len($cms, $p);              # SignedData
    $p += ber_elem_len($cms, $p);                # version
    $p += ber_elem_len($cms, $p);                # digestAlgorithms
    $p += ber_header_len($cms, $p);              # encapContentInfo
    $p += ber_elem_len($cms, $p);                # eContentType
    substr($cms, $p, ber_elem_len($cms, $p), '') # eContent
        if ord(substr($cms, $p, 1)) == 0xa0;
    return $cms;
}

# --- nginx -----------------------------------------------------------------

sub module_path { "$BUILD/nginx/ngx_http_mdm_module.so" }

# Writes nginx.conf around the given http{} contents and starts nginx in
# the foreground (master + workers) so the harness owns its pid.
sub nginx_start {
    my ($self, $http, %opt) = @_;
    my $d = $self->{dir};
    my $user = $> == 0 ? "user root;\n" : '';
    my $workers = $opt{workers} // 1;
    spew("$d/nginx.conf", <<"CONF");
load_module ${\ module_path()};
${user}worker_processes $workers;
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/error.log ${\ ($opt{log_level} // 'info')};
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/client_body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
${\ $self->cluster_rewrite($http) }
}
CONF
    $self->spawn('nginx', { nginx_env() }, $NGINX, '-p', "$d/", '-c', "$d/nginx.conf",
                 '-e', "$d/error.log");
    $self->wait_port($opt{port}, 'nginx') if $opt{port};
    $self->wait_schema($http);
    return 1;
}

# An nginx worker records the key layout in an empty Redis one round trip
# after it starts (docs/redis-schema.md): a test that snapshots or seeds
# Redis waits for that write first, when nginx uses the test's Redis.
sub wait_schema {
    my ($self, $http) = @_;
    my $port = $self->{ports}{redis};
    return unless $port && $self->{pids}{redis} && $http =~ /127\.0\.0\.1:\Q$port\E\b/;
    # a connection of its own: a test that kills Redis later must not find
    # this one cached
    my $had = $self->{redis_client};
    $self->wait_for(sub { eval { $self->redis('EXISTS', MDM::Keys::key_schema()) } }, 10);
    delete $self->{redis_client} unless $had;
}

# Debian's nginx is not built with sanitizers: a sanitized module needs
# their runtimes preloaded. LeakSanitizer checks every nginx process at its
# exit (master and workers free their cycle then; t/lsan.supp names what
# nginx itself leaves behind). nginx -t returns from main() with the whole
# configuration still allocated, by design: no leak check for it (test_conf).
sub nginx_env {
    my (%opt) = @_;
    return () unless $ENV{MDM_ASAN};
    chomp(my $asan = `gcc -print-file-name=libasan.so`);
    chomp(my $ubsan = `gcc -print-file-name=libubsan.so`);
    return (LD_PRELOAD => "$asan $ubsan",
            ASAN_OPTIONS => 'abort_on_error=0:detect_leaks='
                . ($opt{test_conf} ? 0 : 1),
            LSAN_OPTIONS => "suppressions=$ROOT/t/lsan.supp"
                . ':print_suppressions=0:fast_unwind_on_malloc=0');
}

sub nginx_test_conf {
    my ($self, $http) = @_;
    my $d = $self->{dir};
    spew("$d/test.conf", <<"CONF");
load_module ${\ module_path()};
events { }
pid $d/test.pid;
http {
$http
}
CONF
    my %env = nginx_env(test_conf => 1);
    local @ENV{keys %env} = values %env;
    my $out = `$NGINX -t -p $d/ -c $d/test.conf -e $d/test-error.log 2>&1`;
    return ($? == 0, $out);
}

sub error_log {
    my ($self) = @_;
    my $f = "$self->{dir}/error.log";
    return -e $f ? slurp($f) : '';
}

# Lines that must never appear: alerts, crashes, sanitizer reports.
sub error_log_problems {
    my ($self) = @_;
    my @bad;
    for my $f (grep { !/test-error\.log$/ } glob("$self->{dir}/*.log"),
               glob("$self->{dir}/*.out")) {
        for (split /\n/, without_nginx_exit_leaks(slurp($f))) {
            push @bad, $_ if /\[alert\]|\[emerg\]|AddressSanitizer|runtime error:|LeakSanitizer|exited on signal|segfault/;
        }
    }
    return @bad;
}

# --- http ------------------------------------------------------------------

# request(METHOD, port, path, body, headers => {...}, tls => 1,
#         identity => $id (client cert), sign => $id (Mdm-Signature),
#         digest => 'sha1', ber => 1) -> { status, headers, body }
sub request {
    my ($self, $method, $port, $path, $body, %opt) = @_;
    my $sock = $self->request_send($method, $port, $path, $body, %opt);
    local $/;
    my $resp = <$sock> // '';
    close $sock;
    return parse_response($resp);
}

# The sending half of request(): connects, writes the whole request and
# returns the socket without reading (a client that may go away).
sub request_send {
    my ($self, $method, $port, $path, $body, %opt) = @_;
    $body //= '';
    my %h = %{ $opt{headers} // {} };
    if ($opt{sign}) {
        $h{'Mdm-Signature'} = $self->sign($opt{sign}, $body,
            digest => $opt{digest}, ber => $opt{ber});
    }
    my $sock;
    if ($opt{tls} // 1) {
        $sock = IO::Socket::SSL->new(
            PeerAddr => "127.0.0.1:$port",
            SSL_verify_mode => SSL_VERIFY_PEER,
            SSL_ca_file => $self->pki->{ca},
            SSL_verifycn_name => 'localhost',
            ($opt{identity} ? (SSL_cert_file => $opt{identity}{cert},
                               SSL_key_file => $opt{identity}{key}) : ()),
        ) or croak "TLS connect to $port: $SSL_ERROR";
    } else {
        $sock = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
            or croak "connect to $port: $!";
    }
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n";
    $req .= "Content-Length: " . length($body) . "\r\n"
        unless exists $h{'Content-Length'} || $opt{no_length};
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    $req .= "\r\n";
    $sock->print($req . $body);
    return $sock;
}

sub parse_response {
    my ($resp) = @_;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    $head //= '';
    my ($status) = $head =~ m{^HTTP/1\.\d (\d{3})};
    my %headers;
    for (split /\r\n/, $head) {
        $headers{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }
    $body //= '';
    if (($headers{'transfer-encoding'} // '') =~ /chunked/i) {
        my $plain = '';
        while ($body =~ s/^([0-9a-fA-F]+)\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $plain .= substr($body, 0, $n, '');
            $body =~ s/^\r\n//;
        }
        $body = $plain;
    }
    return { status => $status // 0, headers => \%headers, body => $body };
}

# Basic auth header for the API.
sub api_auth {
    my ($key) = @_;
    return (Authorization => 'Basic ' . encode_base64("nanomdm:$key", ''));
}

1;

package MDM::Plist;

# Plist XML for test bodies: plist(Key => value, ...), keys in order.
# Values: plain scalar = <string>, data($bytes) = <data>, true/false,
# integer($n), [ ... ] = <array>, { ... } (hash ref of pairs) = <dict>.

use MIME::Base64 qw(encode_base64);

sub data { bless \(my $b = $_[0]), 'MDM::Plist::Data' }
sub integer { bless \(my $n = $_[0]), 'MDM::Plist::Integer' }
sub true { bless \(my $v = 1), 'MDM::Plist::Bool' }
sub false { bless \(my $v = 0), 'MDM::Plist::Bool' }

sub esc {
    my ($s) = @_;
    $s =~ s/&/&amp;/g; $s =~ s/</&lt;/g; $s =~ s/>/&gt;/g;
    return $s;
}

sub value {
    my ($v) = @_;
    my $r = ref $v;
    return '<string>' . esc($v) . '</string>' unless $r;
    return '<data>' . encode_base64($$v, '') . '</data>' if $r eq 'MDM::Plist::Data';
    return "<integer>$$v</integer>" if $r eq 'MDM::Plist::Integer';
    return $$v ? '<true/>' : '<false/>' if $r eq 'MDM::Plist::Bool';
    return '<array>' . join('', map { value($_) } @$v) . '</array>' if $r eq 'ARRAY';
    return dict(@$v) if $r eq 'MDM::Plist::Dict';
    die "plist: cannot encode $r";
}

sub dict {
    my @kv = @_;
    my $out = '<dict>';
    while (my ($k, $v) = splice @kv, 0, 2) {
        $out .= '<key>' . esc($k) . '</key>' . value($v);
    }
    return $out . '</dict>';
}

sub subdict { bless [@_], 'MDM::Plist::Dict' }

sub plist {
    return qq{<?xml version="1.0" encoding="UTF-8"?>\n}
        . qq{<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n}
        . '<plist version="1.0">' . dict(@_) . "</plist>\n";
}

package MDM::Test;

# Everything stored in Redis, as one comparable string: proves that a
# refused request changed nothing.
sub redis_snapshot {
    my ($self) = @_;
    my $keys = $self->redis('KEYS', '*');
    my @out;
    for my $k (sort @$keys) {
        my $type = $self->redis('TYPE', $k);
        my $v = $type eq 'stream' ? $self->redis('XLEN', $k)
              : $self->redis('DUMP', $k);
        push @out, "$k $type " . unpack('H*', $v // '');
    }
    return join "\n", @out;
}
