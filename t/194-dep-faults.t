#!/usr/bin/perl
# mdm-worker's Device Assignment client under Apple's faults, against
# tools/dep-mock: an expired session (401) renewed once and the call sent
# again, depsim's 403 FORBIDDEN after a restart, a rotated
# X-ADM-Auth-Session, 429 with Retry-After (the worker waits at least as
# long), 503, Apple's cursor echo (no spinning), EXPIRED_CURSOR (a new
# fetch) and 403 T_C_NOT_SIGNED (the token stops with an alert).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time);
use MDM::Test;
use MDM::Keys;
use MDM::DepMock;

my $worker_bin = "$MDM::Test::BUILD/mdm-worker";
plan skip_all => 'mdm-worker not built' unless -x $worker_bin;

my $t = MDM::Test->new;
my $dir = $t->dir;
my $redis = $t->redis_start;
my $m = MDM::DepMock->start($t, seed => 30);
my $tf = $m->token_files($t, 'acme');

MDM::Test::spew("$dir/mdm-worker.conf", <<"EOF");
redis = 127.0.0.1:$redis
log_level = debug
dep_token = $tf->{line}
dep_url = @{[ $m->url ]}
dep_seal_key = @{[ '7a' x 32 ]}
dep_interval_ms = 200
dep_page_limit = 10
dep_lease_ms = 2000
dep_backoff_base_ms = 50
dep_backoff_max_ms = 200
metrics_interval_ms = 100
EOF
$t->spawn('w1', {}, $worker_bin, '-c', "$dir/mdm-worker.conf", '--name', 'w1');
sub wlog { my $f = "$dir/w1.out"; -e $f ? MDM::Test::slurp($f) : '' }
sub cursor { my %h = @{ $t->redis('HGETALL', key_dep_cursor('acme')) || [] }; \%h }
sub has { defined $t->redis('HGET', key_dep_devices('acme'), $_[0]) }
sub reqs { [ grep { $_->{path} eq $_[0] } @{ $m->requests } ] }
my $n = 0;
sub change { my $s = sprintf 'FAULT%07d', ++$n;
             $m->control('POST', 'devices', { add => [ { serial_number => $s, model => 'Mac' } ] });
             return $s }

ok($t->wait_for(sub { (cursor()->{phase} // '') eq 'sync' && cursor()->{devices} == 30 }, 20),
   'the first fetch is stored');
is(scalar @{ reqs('/session') }, 1, 'one session so far');

# --- 401: an expired session ------------------------------------------------------------

$m->control('POST', 'config', { session_ttl => 600 });
$m->control('POST', 'clock', { advance => 601 });
my $s = change();
ok($t->wait_for(sub { has($s) }, 20), 'after a 401 the change still arrives');
my @sync = @{ reqs('/devices/sync') };
ok((grep { $_->{status} == 401 } @sync) >= 1, 'the mock answered 401 to a sync');
ok(scalar @{ reqs('/session') } >= 2, '... and the worker opened a new session');
like(wlog(), qr/dep acme: POST \/devices\/sync: 401, a new session/, '... and says why');

# --- depsim's 403 FORBIDDEN after a restart ----------------------------------------------

my $before = scalar @{ reqs('/session') };
$m->control('POST', 'config', { restart => 1 });
$s = change();
ok($t->wait_for(sub { has($s) }, 20), 'after 403 FORBIDDEN the change still arrives');
is(scalar @{ reqs('/session') }, $before + 1, '... through exactly one new session');

# --- a rotated session --------------------------------------------------------------------

$m->control('POST', 'config', { rotate_every => 1 });
$m->control('DELETE', 'requests');
$s = change();
ok($t->wait_for(sub { has($s) && @{ reqs('/devices/sync') } >= 3 }, 20),
   'sync goes on while every response rotates the session');
my @rot = @{ reqs('/devices/sync') };
ok($rot[1]{session} ne $rot[0]{session} && $rot[2]{session} ne $rot[1]{session},
   '... each call uses the session the previous response handed out');
is(scalar @{ reqs('/session') }, 0, '... and no /session is needed');
$m->control('POST', 'config', { rotate_every => 0 });

# --- 429 with Retry-After, then 503 ---------------------------------------------------------

$m->control('DELETE', 'requests');
$m->control('POST', 'fault', { path => '/devices/sync', status => 429,
                               body => 'TOO_MANY_REQUESTS', retry_after => 1, count => 2 });
$s = change();
ok($t->wait_for(sub { has($s) }, 20), 'after two 429s the change arrives');
my @t429 = @{ reqs('/devices/sync') };
shift @t429 while @t429 && $t429[0]{status} != 429;
is(scalar(grep { $_->{status} == 429 } @t429), 2, 'two calls got 429');
ok($t429[1]{t} - $t429[0]{t} >= 0.95 && $t429[2]{t} - $t429[1]{t} >= 0.95,
   '... and each retry waited the Retry-After second (' .
   sprintf('%.2f, %.2f s', $t429[1]{t} - $t429[0]{t}, $t429[2]{t} - $t429[1]{t}) . ')');
like(wlog(), qr/dep acme: POST \/devices\/sync: 429 TOO_MANY_REQUESTS; again in 1\.0 s/,
     '... logged with the delay');

$m->control('POST', 'fault', { path => '/devices/sync', status => 503, body => 'down',
                               count => 3 });
$s = change();
ok($t->wait_for(sub { has($s) }, 20), 'after three 503s the change arrives (backoff)');
ok($t->wait_for(sub { ($t->redis('HGET', key_worker_metrics(), 'dep_retries_total') // 0) >= 5 }),
   'dep_retries_total counts the five backed-off calls');

# --- the cursor echo ---------------------------------------------------------------------------

$m->control('POST', 'config', { cursor_echo => 1 });
$s = change();
ok($t->wait_for(sub { has($s) }, 20), 'after an echoed cursor the change arrives next round');
like(wlog(), qr/the cursor did not advance although more_to_follow is true/,
     '... the echo was noticed, not followed');

# --- EXPIRED_CURSOR -------------------------------------------------------------------------

$m->control('DELETE', 'requests');
$m->control('POST', 'config', { session_ttl => 30 * 86400 });
$m->control('POST', 'clock', { advance => 8 * 86400 });
ok($t->wait_for(sub { wlog() =~ /EXPIRED_CURSOR: fetching every device again/ }, 20),
   'EXPIRED_CURSOR starts a new fetch');
ok($t->wait_for(sub { (cursor()->{phase} // '') eq 'sync'
                      && (grep { $_->{body} !~ /cursor/ } @{ reqs('/server/devices') }) }, 20),
   '... from the start (no cursor), then sync again');
is(cursor()->{devices}, 30 + $n, '... with every device still there');
ok($t->wait_for(sub { ($t->redis('HGET', key_worker_metrics(), 'dep_cursor_resets_total') // 0) >= 1 }),
   'dep_cursor_resets_total counts it');

# --- T_C_NOT_SIGNED ----------------------------------------------------------------------------

$m->control('POST', 'token/state', { consumer_key => $tf->{tok}{consumer_key}, terms => 1 });
$m->control('POST', 'config', { restart => 1 });
ok($t->wait_for(sub { wlog() =~ /\[alert\] dep acme: T_C_NOT_SIGNED: this token is stopped/ }, 20),
   'new terms not accepted: an alert, the token stops');
$m->control('DELETE', 'requests');
change();
my $pages = cursor()->{pages};
ok($t->wait_for(sub { ($t->redis('HGET', key_worker_metrics(), 'dep_stopped_total') // 0) == 1 }),
   'dep_stopped_total is 1');
# five sync intervals (dep_interval_ms 200) pass: the clock is the event
$t->until_epoch(time + 1);
is(scalar @{ $m->requests }, 0, '... and no call is made for it any more');
is(cursor()->{pages}, $pages, '... nothing more is stored');

$t->stop('w1');
unlike(wlog(), qr/AddressSanitizer|runtime error:/, 'no sanitizer report');

done_testing;
