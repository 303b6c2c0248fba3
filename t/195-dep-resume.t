#!/usr/bin/perl
# Device Assignment sync across workers, against tools/dep-mock: a worker
# SIGKILLed mid-fetch is resumed by the next from the stored cursor
# (nothing fetched twice from the start, nothing lost); two workers at once
# share the token through the lease (one syncs, the other waits, no
# duplicate calls); bad token files (a .p7m for another key, a corrupted
# one, a missing one, a key file without a key, another consumer key) are
# one clear error each and store nothing.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;
use MDM::Keys;
use MDM::DepMock;

my $worker_bin = "$MDM::Test::BUILD/mdm-worker";
plan skip_all => 'mdm-worker not built' unless -x $worker_bin;

my $t = MDM::Test->new;
my $dir = $t->dir;
my $redis = $t->redis_start;
my $m = MDM::DepMock->start($t, seed => 3000);
my $tf = $m->token_files($t, 'acme');
my $seal = '3c' x 32;

sub conf {
    my ($file, @lines) = @_;
    MDM::Test::spew("$dir/$file", join("\n",
        "redis = 127.0.0.1:$redis", 'log_level = debug',
        'dep_url = ' . $m->url, "dep_seal_key = $seal",
        'dep_interval_ms = 300', 'dep_page_limit = 10',
        'dep_lease_ms = ' . int(MDM::Test::timeout(1) * 1000),
        'dep_backoff_base_ms = 50', 'dep_backoff_max_ms = 200', @lines) . "\n");
    return "$dir/$file";
}
sub wlog { my $f = "$dir/$_[0].out"; -e $f ? MDM::Test::slurp($f) : '' }
sub cursor { my %h = @{ $t->redis('HGETALL', key_dep_cursor('acme')) || [] }; \%h }
sub fetches { [ grep { $_->{path} eq '/server/devices' } @{ $m->requests } ] }

# --- a worker killed mid-fetch ----------------------------------------------------------

my $good = conf('good.conf', "dep_token = $tf->{line}");
$t->spawn('w1', {}, $worker_bin, '-c', $good, '--name', 'w1');
ok($t->wait_for(sub { (cursor()->{pages} // 0) >= 5 }, 20), 'the first worker is fetching');
$t->kill9('w1');
my $at = cursor();
is($at->{phase}, 'fetch', 'killed mid-fetch (' . $at->{pages} . ' pages stored)');
ok($at->{cursor}, '... with a cursor stored');

$t->spawn('w2', {}, $worker_bin, '-c', $good, '--name', 'w2');
ok($t->wait_for(sub { (cursor()->{phase} // '') eq 'sync' }, 60),
   'a second worker finishes the fetch');
like(wlog('w2'), qr/dep acme: resuming the fetch from the stored cursor/,
     '... resuming from the stored cursor');
is(cursor()->{devices}, 3000, '... every device stored, none lost');
is($t->redis('HLEN', key_dep_devices('acme')), 3000, '... each once');
my @f = @{ fetches() };
is(scalar(grep { $_->{body} !~ /"cursor"/ } @f), 1, 'only the first worker fetched from the start');
my %sent;
$sent{ $_->{body} }++ for grep { $_->{status} == 200 } @f;
ok((grep { $_ > 2 } values %sent) == 0,
   'no page was asked for more than twice (the killed worker\'s last one at most)');

# --- two workers, one lease -----------------------------------------------------------------

$t->spawn('w3', {}, $worker_bin, '-c', $good, '--name', 'w3');
ok($t->wait_for(sub { wlog('w3') =~ /dep acme: another worker holds the lease/ }, 20),
   'a third worker started meanwhile waits: the second holds the lease');
$m->control('DELETE', 'requests');
$m->control('POST', 'devices', { add => [ { serial_number => 'LEASE0000001', model => 'Mac' } ] });
ok($t->wait_for(sub { defined $t->redis('HGET', key_dep_devices('acme'), 'LEASE0000001') }, 20),
   'the change is synced');
my @s = grep { $_->{path} eq '/devices/sync' } @{ $m->requests };
ok(@s >= 1, 'sync calls were made');
is($t->redis('GET', key_dep_lease('acme')), 'w2', '... by the lease holder');
unlike(wlog('w3'), qr/page of \d+ devices stored/, 'the waiting worker stored nothing');
$t->stop('w2');
ok($t->wait_for(sub { ($t->redis('GET', key_dep_lease('acme')) // '') eq 'w3' }, 20),
   'when the holder stops, the other takes the lease');
$t->stop('w3');

# --- bad token files ----------------------------------------------------------------------------

my $other = MDM::DepMock::token_pki($t, 'other');
# the S/MIME headers and the first half of the base64: a cut download
my ($head, $b64) = split /\r?\n\r?\n/, MDM::Test::slurp($tf->{p7m}), 2;
MDM::Test::spew("$dir/corrupt.p7m", "$head\n\n" . substr($b64, 0, length($b64) / 2));
MDM::Test::spew("$dir/nokey.pem", "not a key\n");
my %bad = (
    foreign  => [ "foreign $tf->{p7m} $other->{key}", qr/does not decrypt with this server's key/ ],
    corrupt  => [ "corrupt $dir/corrupt.p7m $tf->{key}", qr/corrupt: .*corrupt\.p7m: the server token is not an S\/MIME CMS message/ ],
    missing  => [ "missing $dir/nope.p7m $tf->{key}", qr/cannot open .*nope\.p7m/ ],
    nokey    => [ "nokey $tf->{p7m} $dir/nokey.pem", qr/holds no PEM private key/ ],
    'bad{name' => [ "bad{name $tf->{p7m} $tf->{key}", qr/a name is 1 to 64 of/ ],
);
my $badconf = conf('bad.conf', map { "dep_token = $bad{$_}[0]" } sort keys %bad);
my $check = `$worker_bin --check-config -c $badconf 2>&1`;
is($? >> 8, 1, '--check-config refuses the bad tokens');
is(scalar(() = $check =~ /^mdm-worker: dep_token /mg), scalar keys %bad,
   '... one line each') or diag $check;
like($check, qr/does not decrypt with this server's key/, '... saying why');
is(system("$worker_bin --check-config -c $good >/dev/null 2>&1"), 0,
   '--check-config passes the good one');
$t->spawn('wb', {}, $worker_bin, '-c', $badconf, '--name', 'wb');
ok($t->wait_for(sub { (() = wlog('wb') =~ /nothing of it is stored/g) == keys %bad }, 10),
   'each bad token is one error line');
for my $name (sort keys %bad) {
    like(wlog('wb'), $bad{$name}[1], "$name: the error says why");
    next if $name =~ /\{/;
    ok(!$t->redis('EXISTS', key_dep_token($name)), "$name: nothing stored");
}
ok(MDM::Test::slurp("$dir/wb.out") !~ /\[alert\]/, 'the worker keeps running (no alert)');
$t->stop('wb');

# another server's token under a stored name: refused unless forced
my $tf2 = $m->token_files($t, 'acme2');
my $swap = conf('swap.conf', "dep_token = acme $tf2->{p7m} $tf2->{key}");
$t->spawn('ws', {}, $worker_bin, '-c', $swap, '--name', 'ws');
ok($t->wait_for(sub { wlog('ws') =~ /consumer key \S+ is not the stored/ }, 10),
   'a token with another consumer key under a stored name is refused');
is($t->redis('HGET', key_dep_token('acme'), 'consumer_key'), $tf->{tok}{consumer_key},
   '... the stored token is kept');
$t->stop('ws');
my $force = conf('force.conf', "dep_token = acme $tf2->{p7m} $tf2->{key} force");
$t->spawn('wf', {}, $worker_bin, '-c', $force, '--name', 'wf');
ok($t->wait_for(sub { ($t->redis('HGET', key_dep_token('acme'), 'consumer_key') // '')
                      eq $tf2->{tok}{consumer_key} }, 10),
   '... and replaces it with force');
$t->stop('wf');

unlike(join('', map { wlog($_) } qw(w2 w3 wb ws wf)), qr/AddressSanitizer|runtime error:/,
       'no sanitizer report');

done_testing;
