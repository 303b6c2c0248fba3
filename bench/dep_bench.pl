#!/usr/bin/perl
# Device Assignment sync throughput (BENCHMARKS.md): mdm-worker fetching an
# organisation of N devices from tools/dep-mock in pages of 1000, each page
# stored with its cursor (dep_page.lua) and each serial linked, against a
# reference in the same run: a client that fetches the same pages from the
# same mock and stores nothing (what the mock and the wire cost alone).
#
#   perl bench/dep_bench.pl [build dir]     BENCH_DEP_N (20000), BENCH_RUNS (3)
#
# Prints one line per figure: name median min max.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time);
use POSIX ();
use HTTP::Tiny;
use MDM::Test;
use MDM::Keys;
use MDM::DepMock;

my $N = $ENV{BENCH_DEP_N} || 20000;
my $RUNS = $ENV{BENCH_RUNS} || 3;
my $worker = "$MDM::Test::BUILD/mdm-worker";
-x $worker or die "dep_bench: $worker missing; run make first\n";
my $TICK = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;

sub cpu_s {
    my ($pid) = @_;
    my @f = split ' ', (MDM::Test::slurp("/proc/$pid/stat") =~ s/^.*\) //r);
    return ($f[11] + $f[12]) / $TICK;
}

sub median { my @s = sort { $a <=> $b } @_; $s[$#s / 2] }

my (@rate, @ref, @cpu, @mem);
for my $run (1 .. $RUNS) {
    my $t = MDM::Test->new;
    my $redis = $t->redis_start;
    my $m = MDM::DepMock->start($t, seed => $N);
    my $tf = $m->token_files($t, 'bench');

    # reference: the pages alone, read but not parsed nor stored (the
    # cursor and the count are cut out of the raw body)
    my $s = $m->session($tf->{tok});
    my ($cursor, $more, $got) = (undef, 1, 0);
    my $http = HTTP::Tiny->new(keep_alive => 1);
    my $t0 = time;
    while ($more) {
        my $r = $http->request('POST', $m->url . '/server/devices', {
            headers => { 'X-ADM-Auth-Session' => $s, 'X-Server-Protocol-Version' => 10,
                         'User-Agent' => 'dep-bench', 'Content-Type' => 'application/json' },
            content => '{"limit":1000' . ($cursor ? qq(,"cursor":"$cursor") : '') . '}' });
        die "dep_bench: fetch $r->{status}\n" unless $r->{status} == 200;
        $got += () = $r->{content} =~ /"serial_number"/g;
        ($cursor) = $r->{content} =~ /"cursor": *"([^"]+)"/;
        $more = $r->{content} =~ /"more_to_follow": *true/;
    }
    push @ref, $got / (time - $t0);

    my $mem0 = ($t->redis('INFO', 'memory') =~ /used_memory:(\d+)/)[0];
    MDM::Test::spew($t->dir . '/w.conf', join "\n",
        "redis = 127.0.0.1:$redis", "dep_token = $tf->{line}",
        'dep_url = ' . $m->url, 'dep_seal_key = ' . ('ab' x 32),
        'dep_page_limit = 1000', 'dep_interval_ms = 3600000', '');
    $t0 = time;
    my $pid = $t->spawn('w', {}, $worker, '-c', $t->dir . '/w.conf', '--name', 'bench');
    $t->wait_for(sub {
        my %c = @{ $t->redis('HGETALL', key_dep_cursor('bench')) || [] };
        ($c{phase} // '') eq 'sync' && ($c{devices} // 0) == $N }, 600)
        or die "dep_bench: the worker did not store $N devices\n";
    my $secs = time - $t0;
    push @rate, $N / $secs;
    push @cpu, cpu_s($pid) * 1e6 / $N;
    my $mem1 = ($t->redis('INFO', 'memory') =~ /used_memory:(\d+)/)[0];
    push @mem, ($mem1 - $mem0) / $N;
    printf STDERR "dep_bench run %d: %d devices in %.2f s (%.0f/s), reference %.0f/s\n",
        $run, $N, $secs, $rate[-1], $ref[-1];
    $t->stop('w');
    $m->stop;
    $t->stop_all;
}
printf "dep_sync_devices_per_s %.0f %.0f %.0f\n", median(@rate), (sort { $a <=> $b } @rate)[0, -1];
printf "dep_fetch_only_devices_per_s %.0f %.0f %.0f\n", median(@ref), (sort { $a <=> $b } @ref)[0, -1];
printf "dep_worker_cpu_us_per_device %.1f %.1f %.1f\n", median(@cpu), (sort { $a <=> $b } @cpu)[0, -1];
printf "dep_redis_bytes_per_device %.0f %.0f %.0f\n", median(@mem), (sort { $a <=> $b } @mem)[0, -1];
