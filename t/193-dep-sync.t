#!/usr/bin/perl
# mdm-worker's Device Assignment sync end to end against tools/dep-mock
# (Apple's service as services.md documents it), with real Redis: a token
# file decrypted and stored sealed, one OAuth session, the first fetch in
# pages, then sync of the changes ABM makes (added, modified twice,
# deleted), each page stored with its cursor, the serial links, the
# events, and what the mock saw of every call.

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
my $m = MDM::DepMock->start($t, seed => 250);
my $tf = $m->token_files($t, 'acme');
my $seal = '5e' x 32;

MDM::Test::spew("$dir/mdm-worker.conf", <<"EOF");
redis = 127.0.0.1:$redis
log_level = debug
dep_token = $tf->{line}
dep_url = @{[ $m->url ]}
dep_seal_key = $seal
dep_interval_ms = 300
dep_page_limit = 100
dep_lease_ms = 2000
dep_backoff_base_ms = 50
dep_backoff_max_ms = 400
metrics_interval_ms = 100
EOF
$t->spawn('w1', {}, $worker_bin, '-c', "$dir/mdm-worker.conf", '--name', 'w1');
sub wlog { my $f = "$dir/$_[0].out"; -e $f ? MDM::Test::slurp($f) : '' }
sub cursor { my %h = @{ $t->redis('HGETALL', key_dep_cursor('acme')) || [] }; \%h }
sub device {
    my $v = $t->redis('HGET', key_dep_devices('acme'), $_[0]) // return undef;
    my ($date, $json) = split / /, $v, 2;
    return { op_date => $date, %{ MDM::DepMock::decode($json) } };
}

# --- the token -------------------------------------------------------------------

ok($t->wait_for(sub { $t->redis('EXISTS', key_dep_token('acme')) }, 10),
   'the worker stores the token it decrypted');
my %tok = @{ $t->redis('HGETALL', key_dep_token('acme')) };
is($tok{consumer_key}, $tf->{tok}{consumer_key}, '... under its consumer key');
like($tok{sealed}, qr/^v1:[A-Za-z0-9+\/=]+$/, '... sealed');
ok($tok{expiry} > time + 300 * 86400, '... with its expiry');
ok($t->wait_for(sub { wlog('w1') =~ /dep acme: token of consumer key \Q$tok{consumer_key}\E loaded/ }),
   '... and says so');

# --- the first fetch ------------------------------------------------------------------

ok($t->wait_for(sub { (cursor()->{phase} // '') eq 'sync' && cursor()->{devices} == 250 }, 20),
   'the fetch stores all 250 devices and switches to sync');
is($t->redis('HLEN', key_dep_devices('acme')), 250, '... one record per device');
ok(cursor()->{pages} >= 3, '... in pages of 100 (' . cursor()->{pages} . ' pages stored)');
my $all = $m->control('GET', 'devices')->{devices};
my ($s1) = sort keys %$all;
is(device($s1)->{model}, $all->{$s1}{model}, 'a stored record is the device Apple returned');
my %link = @{ $t->redis('HGETALL', key_dep_serial($s1)) };
is($link{dep_name}, 'acme', 'the serial link names the token');
is($link{profile_status}, 'empty', '... with the profile status');

my @reqs = @{ $m->requests };
my @sessions = grep { $_->{path} eq '/session' } @reqs;
is(scalar @sessions, 1, 'one GET /session for all of it');
my @fetch = grep { $_->{path} eq '/server/devices' } @reqs;
is(scalar(grep { $_->{body} !~ /"cursor"/ } @fetch), 1, 'one fetch started without a cursor');
is(scalar(grep { $_->{status} != 200 } @fetch), 0, '... every fetch page answered 200');
ok((grep { ($_->{user_agent} // '') !~ /^mdm-worker\// } @reqs) == 0,
   'every call has the worker\'s User-Agent');
ok((grep { $_->{path} ne '/session' && ($_->{protocol_version} // '') ne '10' } @reqs) == 0,
   '... and X-Server-Protocol-Version 10');
ok((grep { $_->{path} ne '/session' && ($_->{content_type} // '') ne 'application/json;charset=UTF8' } @reqs) == 0,
   '... and Apple\'s JSON Content-Type');
like($fetch[0]{body}, qr/"limit":100/, 'the fetch asks for dep_page_limit devices');

# --- sync ------------------------------------------------------------------------------------

my ($mod, $gone) = (sort keys %$all)[10, 20];
$m->control('POST', 'devices', {
    add => [ { serial_number => 'DEPNEW000001', model => 'iPad Air', os => 'iPadOS',
               device_family => 'iPad' } ],
    modify => { $mod => { asset_tag => 'first' } } });
$m->control('POST', 'devices', { modify => { $mod => { asset_tag => 'second' } },
                                 delete => [ $gone ] });
ok($t->wait_for(sub { device('DEPNEW000001') && !device($gone)
                      && (device($mod)->{asset_tag} // '') eq 'second' }, 20),
   'sync brings the added device, drops the deleted one, keeps the later of two changes');
is(device('DEPNEW000001')->{op_type}, 'added', 'the new device\'s op_type is added');
ok(device($mod)->{op_date}, 'a synced record keeps its op_date');
is(cursor()->{devices}, 250, 'still 250 devices (one in, one out)');
ok(!$t->redis('EXISTS', key_dep_serial($gone)), 'the deleted device\'s link is gone');
is({ @{ $t->redis('HGETALL', key_dep_serial('DEPNEW000001')) } }->{dep_name}, 'acme',
   'the new device is linked');
my @sync = grep { $_->{path} eq '/devices/sync' } @{ $m->requests };
ok(@sync >= 1 && (grep { $_->{body} !~ /"cursor":"/ } @sync) == 0,
   'every sync call sends a cursor');

# --- events, metrics, secrets -------------------------------------------------------------------

my $events = join "\n", map { $_->[1][1] } @{ $t->redis('XRANGE', key_events(), '-', '+') };
like($events, qr/dep\.FetchDevices/, 'dep.FetchDevices events in mdm:events');
like($events, qr/dep\.SyncDevices/, '... and dep.SyncDevices');
like($events, qr/dep_name=acme&devices=\d+/, '... naming the token and the page size');
ok($t->wait_for(sub { ($t->redis('HGET', key_worker_metrics(), 'dep_pages_total') // 0) >= 3 }),
   'dep_pages_total is counted');
is($t->redis('HGET', key_worker_metrics(), 'dep_sessions_total'), 1, 'dep_sessions_total is 1');

my $dump = '';
for my $k (map { MDM::Keys->can("key_dep_$_")->('acme') } qw(token session lease cursor devices)) {
    my $type = $t->redis('TYPE', $k);
    $dump .= $type eq 'string' ? $t->redis('GET', $k)
           : $type eq 'hash' ? join(' ', @{ $t->redis('HGETALL', $k) }) : '';
}
for my $secret (qw(consumer_secret access_secret access_token)) {
    unlike($dump, qr/\Q$tf->{tok}{$secret}\E/, "no $secret in Redis in the clear");
}
my ($sess) = map { $_->{session} } grep { $_->{path} eq '/devices/sync' } @{ $m->requests };
unlike($dump, qr/\Q$sess\E/, '... nor the session');
unlike(wlog('w1'), qr/\Q$tf->{tok}{consumer_secret}\E|\Q$tf->{tok}{access_secret}\E/,
       'no secret in the log');

$t->stop('w1');
like(wlog('w1'), qr/stopped/, 'the worker stops on SIGTERM');
ok(!$t->redis('EXISTS', key_dep_lease('acme')), '... and gives its lease back');
unlike(wlog('w1'), qr/\[alert\]|AddressSanitizer|runtime error:/, 'no alert in the worker log');

done_testing;
