#!/usr/bin/perl
# Apps and Books faults between mdm-worker and tools/vpp-mock (docs/vpp.md):
# 429 and 503 with Retry-After (the location waits, then goes on), a
# notification dropped (the /status poll completes the event anyway), the
# worker SIGKILLed with an event pending (another worker resumes it: one
# licence per device, InstallApplication once), a token Apple answers 9622
# with HTTP 200 (refused), one claimed by another MDM (left alone), and a
# token revoked mid-run (9625: the location stops, assignments refused).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256);
use MDM::Test;
use MDM::Keys;
use MDM::VppMock;

*plist = \&MDM::Plist::plist;
*data = \&MDM::Plist::data;

my $why = MDM::VppMock->unavailable;
plan skip_all => $why if $why;
my $worker_bin = "$MDM::Test::BUILD/mdm-worker";
plan skip_all => 'mdm-worker not built' unless -x $worker_bin;

my $t = MDM::Test->new;
my $dir = $t->dir;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $port = $t->port('https');
my $topic = 'com.apple.mgmt.External.vpp-faults';
my $J = MDM::VppMock->json;

$t->nginx_start(<<"CONF", port => $port);
    mdm_redis 127.0.0.1:$redis;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_server; }
        location /vpp/notify/ { mdm_vpp_notify; }
        location / { mdm_api; mdm_api_key sekret; }
    }
CONF
my %API = MDM::Test::api_auth('sekret');

sub api {
    my ($method, $path, $body) = @_;
    $body = $J->encode($body) if ref $body;
    my $r = $t->request($method, $port, $path, $body, headers => { %API });
    $r->{json} = eval { $J->decode($r->{body}) };
    return $r;
}

my %ident;
sub checkin {
    my ($udid, %kv) = @_;
    return $t->request('PUT', $port, '/mdm',
        plist(UDID => $udid, Topic => $topic, map { $_ => $kv{$_} } sort keys %kv),
        sign => $ident{$udid},
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' })->{status};
}
my @udids = map { sprintf 'VPP-FAULT-%04d', $_ } 1 .. 6;
my %serial = map { $udids[$_] => sprintf('C02FLT%04d', $_ + 1) } 0 .. $#udids;
for my $udid (@udids) {
    $ident{$udid} = $t->identity($udid);
    checkin($udid, MessageType => 'Authenticate', SerialNumber => $serial{$udid});
    checkin($udid, MessageType => 'TokenUpdate', Token => data(sha256($udid)),
            PushMagic => "magic-$udid");
}

my $vpp = MDM::VppMock->start($t, notify_ca => $pki->{ca}, event_delay => 0.3);
$vpp->control('POST', 'config', { limits => { maxRequestPerSecond => 200 } });
my $app = '361309726';
my $stoken = $vpp->add_location(orgName => 'Faults', locationName => 'F',
                                assets => [{ adamId => $app, totalCount => 50 }]);

MDM::Test::spew("$dir/mdm-worker.conf", <<"CONF");
redis = 127.0.0.1:$redis
log_level = debug
apns_url = https://127.0.0.1:${\ $t->port('apns-none')}
vpp_url = ${\ $vpp->base }
vpp_notify_url = https://localhost:$port/vpp/notify
vpp_interval_ms = 100
vpp_poll_interval = 2
vpp_lease_ms = 1500
vpp_backoff_base = 1
CONF
sub start_worker { $t->spawn($_[0], {}, $worker_bin, '-c', "$dir/mdm-worker.conf", '--name', $_[0]) }
sub worker_log { my $f = "$dir/$_[0].out"; -e $f ? MDM::Test::slurp($f) : '' }
sub token_field { $t->redis('HGET', key_vpp_token($_[0]), $_[1]) // '' }
sub states {
    my ($loc) = @_;
    return api('GET', "/v1/vpp/installs/$loc/$app")->{json}{enrollments} // {};
}
sub final_count {
    my ($loc) = @_;
    my $s = states($loc);
    return scalar grep { $_->{state} ne 'pending' && $_->{state} ne 'unassigning' } values %$s;
}

# --- 429 and 503 with Retry-After while the token is checked ------------------------
start_worker('w1');
ok($t->wait_for(sub { scalar $vpp->api_requests('/service/config') }, 15),
   'the worker reads the service config first');
$vpp->control('POST', 'faults', { faults => [{ status => 429, retryAfter => 2, count => 1 },
                                             { status => 503, retryAfter => 1, count => 1 }] });
is(api('PUT', '/v1/vpp/tokens/f', $stoken)->{status}, 201, 'token uploaded');
ok($t->wait_for(sub { worker_log('w1') =~ /vpp f: backing off 2 s/ }, 15),
   'a 429 with Retry-After: 2 makes the location wait 2 s');
ok($t->wait_for(sub { token_field('f', 'status') eq 'ok' }, 20),
   'after the 429 and a 503 the token is checked')
    or diag(worker_log('w1'));
like(worker_log('w1'), qr/backing off 1 s/, 'the 503 honoured its Retry-After too');
my @cc = $vpp->api_requests('/client/config');
ok(@cc >= 2, 'the worker asked again after backing off');
ok($t->wait_for(sub { token_field('f', 'synced') ne '' }, 15), 'the assets are synced');

# --- a dropped notification: the poll completes the event -----------------------------
$vpp->control('POST', 'notifications', { drop => 1 });
is(api('POST', '/v1/vpp/assign/f', { adamId => $app, enrollments => [@udids[0, 1]] })->{status},
   202, 'assign two devices');
ok($t->wait_for(sub { final_count('f') == 2 }, 20),
   'a dropped notification: the /status poll completes the event')
    or diag(explain(states('f')));
is(scalar(grep { $_->{state} eq 'queued' } values %{ states('f') }), 2, '... both queued');
ok((grep { $_->{dropped} } $vpp->notifications), 'the mock did drop it');

# --- the worker killed with an event pending ---------------------------------------------
$vpp->control('POST', 'config', { eventDelay => 3 });
$vpp->control('DELETE', 'requests');
is(api('POST', '/v1/vpp/assign/f', { adamId => $app, enrollments => [@udids[2 .. 5]] })->{status},
   202, 'assign four more devices, Apple slow to complete');
ok($t->wait_for(sub { $t->redis('ZCARD', key_vpp_events('f')) >= 1 }, 15),
   'the worker recorded the pending event');
$t->kill9('w1');
start_worker('w2');
ok($t->wait_for(sub { final_count('f') == 6 }, 30),
   'a second worker takes the lease over and completes the event')
    or diag(explain(states('f')), worker_log('w2'));
is(scalar(grep { $_->{state} eq 'queued' } values %{ states('f') }), 6, 'all six queued');
my @led = grep { $_->{adamId} eq $app } @{ $vpp->ledger($stoken)->{assignments} };
is(scalar @led, 6, 'one licence per device in the ledger');
my $asset = (grep { $_->{adamId} eq $app } @{ $vpp->ledger($stoken)->{assets} })[0];
is($asset->{assignedCount}, 6, '... and six taken from the pool, not more');
my %cmds;
for my $udid (@udids) {
    my $q = $t->redis('LRANGE', key_q($udid), 0, -1);
    $cmds{$udid} = scalar @$q;
}
is_deeply([sort values %cmds], [(1) x 6], 'each device has exactly one command queued');
$vpp->control('POST', 'config', { eventDelay => 0.3 });

# --- HTTP 200 with an ErrorResponse (Fleet's observation) -------------------------------
my $bad = $vpp->add_location(orgName => 'Soon gone');
$vpp->control('POST', 'token', { sToken => $bad, errorsAs200 => JSON::PP::true, revoked => JSON::PP::true });
is(api('PUT', '/v1/vpp/tokens/quirk', $bad)->{status}, 201, 'a token Apple revoked, uploaded');
ok($t->wait_for(sub { token_field('quirk', 'status') eq 'revoked' }, 15),
   'answered 200 with errorNumber 9625: the body decides, the location is revoked');
like(token_field('quirk', 'error'), qr/^9625 /, '... error recorded');
is($t->redis('ZCARD', key_vpp_assets('quirk')), 0, 'nothing synced for it');

# --- a token close to its expiry ------------------------------------------------------
my @soon = gmtime(time + 10 * 86400);
my $soon_date = sprintf '%04d-%02d-%02dT%02d:%02d:%02d+0000', $soon[5] + 1900, $soon[4] + 1, @soon[3, 2, 1, 0];
my $expiring = $vpp->add_location(orgName => 'Expiring', expDate => $soon_date);
is(api('PUT', '/v1/vpp/tokens/expiring', $expiring)->{status}, 201, 'a token that expires in 10 days, uploaded');
ok($t->wait_for(sub { worker_log('w2') =~ /vpp expiring: the content token expires in (9|10) days/ }, 15),
   'the worker warns that it expires soon');
is(token_field('expiring', 'status'), 'ok', '... and uses it meanwhile');

# --- a token another MDM claims ---------------------------------------------------------
my $claimed = $vpp->add_location(orgName => 'Shared', assets => [{ adamId => $app }]);
$vpp->control('POST', 'token', { sToken => $claimed, mdmInfo => { id => 'other-mdm', name => 'Other MDM' } });
is(api('PUT', '/v1/vpp/tokens/shared', $claimed)->{status}, 201, 'a token in use by another MDM, uploaded');
ok($t->wait_for(sub { token_field('shared', 'status') eq 'claimed' }, 15),
   'its mdmInfo names another MDM: claimed');
like(token_field('shared', 'error'), qr/Other MDM \(other-mdm\)/, '... naming it');
is($vpp->ledger($claimed)->{clientConfig}{mdmInfo}{id}, 'other-mdm',
   "the other MDM's registration is left alone");
is(api('POST', '/v1/vpp/assign/shared', { adamId => $app, enrollments => [$udids[0]] })->{status},
   409, 'assignments to a claimed location: 409');

# --- revoked mid-run -----------------------------------------------------------------------
$vpp->control('POST', 'token', { sToken => $stoken, revoked => JSON::PP::true });
$t->redis('HSET', key_vpp_token('f'), 'checked', 0);    # the daily check, now
ok($t->wait_for(sub { token_field('f', 'status') eq 'revoked' }, 15),
   'a token revoked mid-run: the location is stopped');
ok($t->wait_for(sub { worker_log('w2') =~ /\[alert\] vpp f: the content token was revoked/ }, 5),
   '... with an alert');
my $r = api('POST', '/v1/vpp/assign/f', { adamId => $app, enrollments => [$udids[0]] });
is($r->{status}, 409, 'assignments to a stopped location: 409');
like($r->{json}{error} // '', qr/token revoked: 9625/, '... saying why');
# barrier: two rounds that took the location's lease after the stop
my $before = scalar $vpp->requests;
for (1, 2) {
    $t->redis('DEL', key_vpp_lease('f'));
    ok($t->wait_for(sub { $t->redis('EXISTS', key_vpp_lease('f')) }, 10),
       "round $_ after the stop took the lease");
}
my @all = $vpp->requests;
my @after = grep { ($_->{authorization} // '') eq "Bearer $stoken" } @all[$before .. $#all];
is(scalar @after, 0, 'the stopped location calls Apple no more');

done_testing;
