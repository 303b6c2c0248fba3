#!/usr/bin/perl
# Apps and Books end to end (docs/vpp.md): a content token uploaded through
# the API, checked by mdm-worker with tools/vpp-mock's /client/config (our
# notification URL registered, Apple's TEST_NOTIFICATION answered by
# mdm_vpp_notify), the assets synced, an app assigned to enrolled devices,
# the licences associated (one short: 9709), the event completed, and
# InstallApplication queued only for the licensed devices and served at
# their next check-in; bad tokens, unknown assets and bad notifications
# refused with nothing stored; an unassign disassociated.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256);
use MIME::Base64 qw(encode_base64);
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
my $topic = 'com.apple.mgmt.External.vpp-e2e';
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

# --- devices ------------------------------------------------------------------
my %ident;
sub checkin {
    my ($udid, %kv) = @_;
    return $t->request('PUT', $port, '/mdm',
        plist(UDID => $udid, Topic => $topic, map { $_ => $kv{$_} } sort keys %kv),
        sign => $ident{$udid},
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' })->{status};
}
sub report {
    my ($udid, %kv) = @_;
    return $t->request('PUT', $port, '/mdm',
        plist(UDID => $udid, map { $_ => $kv{$_} } sort keys %kv), sign => $ident{$udid},
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm; charset=UTF-8' });
}
my @udids = map { sprintf 'VPP-E2E-%04d', $_ } 1 .. 4;
my %serial = map { $udids[$_] => sprintf('C02VPP%04d', $_ + 1) } 0 .. $#udids;
my $enrolled = 0;
for my $udid (@udids) {
    $ident{$udid} = $t->identity($udid);
    $enrolled++ if checkin($udid, MessageType => 'Authenticate',
                           SerialNumber => $serial{$udid}) == 200
        && checkin($udid, MessageType => 'TokenUpdate', Token => data(sha256($udid)),
                   PushMagic => "magic-$udid") == 200;
}
is($enrolled, 4, 'four devices enroll, each with its serial number');

# --- the mock and the worker ------------------------------------------------------
my $vpp = MDM::VppMock->start($t, notify_ca => $pki->{ca}, event_delay => 0.3);
$vpp->control('POST', 'config', { limits => { maxRequestPerSecond => 200 } });
my $stoken = $vpp->add_location(orgName => 'Example School', locationName => 'North',
    assets => [{ adamId => '361309726', totalCount => 3 },
               { adamId => '408709785', totalCount => 5, deviceAssignable => JSON::PP::false }]);

MDM::Test::spew("$dir/mdm-worker.conf", <<"CONF");
redis = 127.0.0.1:$redis
name = w1
log_level = debug
apns_url = https://127.0.0.1:${\ $t->port('apns-none')}
vpp_url = ${\ $vpp->base }
vpp_notify_url = https://localhost:$port/vpp/notify
vpp_interval_ms = 200
vpp_poll_interval = 30
CONF
$t->spawn('w1', {}, $worker_bin, '-c', "$dir/mdm-worker.conf");
sub worker_log { my $f = "$dir/w1.out"; -e $f ? MDM::Test::slurp($f) : '' }

# --- bad tokens: refused, nothing stored -------------------------------------------
my $r = api('PUT', '/v1/vpp/tokens/bad', 'not a token');
is($r->{status}, 400, 'a body that is not a .vpptoken: 400');
like($r->{json}{error} // $r->{body}, qr/base64/, '... saying why');
$r = api('PUT', '/v1/vpp/tokens/bad', encode_base64('{"token":"x"}', ''));
is($r->{status}, 400, 'a token without orgName and expDate: 400');
$r = api('PUT', '/v1/vpp/tokens/bad', encode_base64(
    '{"token":"x","orgName":"o","expDate":"2020-01-01T00:00:00+0000"}', ''));
is($r->{status}, 400, 'an expired token: 400');
$r = api('PUT', '/v1/vpp/tokens/bad%2Fname', $stoken);
is($r->{status}, 400, 'a location name with a slash: 400');
is($t->redis('EXISTS', key_vpp_token('bad')), 0, 'nothing stored for the refused tokens');
is($t->redis('SCARD', key_vpp_locations()), 0, '... and no location listed');
is(api('GET', '/v1/vpp/tokens/bad')->{status}, 404, 'GET of an unknown location: 404');

# --- the token -------------------------------------------------------------------------
$r = api('PUT', '/v1/vpp/tokens/north', $stoken);
is($r->{status}, 201, 'PUT /v1/vpp/tokens/north: 201');
is($r->{json}{org_name}, 'Example School', '... with the orgName');
is($r->{json}{status}, 'pending', '... pending until the worker checks it');
ok($t->wait_for(sub { (api('GET', '/v1/vpp/tokens/north')->{json}{status} // '') eq 'ok' }, 15),
   'the worker validates it with /client/config') or diag(worker_log());
my $tok = api('GET', '/v1/vpp/tokens/north')->{json};
is($tok->{location_name}, 'North', 'locationName recorded');
ok(!exists $tok->{stoken} && !exists $tok->{notify_secret}, 'the API shows no secret');
my $cc;
ok($t->wait_for(sub { $cc = $vpp->ledger($stoken)->{clientConfig};
                      ($cc->{notificationUrl} // '') eq "https://localhost:$port/vpp/notify/north" }, 15),
   'the worker registers our notification URL');
is($cc->{mdmInfo}{id}, 'ngx_mdm', '... and mdmInfo');
my $secret = $t->redis('HGET', key_vpp_token('north'), 'notify_secret');
ok((grep { $_->{notificationType} eq 'TEST_NOTIFICATION' && ($_->{status} // 0) == 200 }
    $vpp->notifications), "Apple's TEST_NOTIFICATION was answered 200 by mdm_vpp_notify");
ok(scalar(grep { ($_->{authorization} // '') eq "Bearer $stoken" } $vpp->api_requests('/client/config')),
   'the worker sends the sToken as Bearer');

ok($t->wait_for(sub { (api('GET', '/v1/vpp/assets/north')->{json}{total} // 0) == 2 }, 15),
   'the assets are synced');
my ($app) = grep { $_->{adamId} eq '361309726' } @{ api('GET', '/v1/vpp/assets/north')->{json}{assets} };
is_deeply([@$app{qw(total available device_assignable pricing)}], [3, 3, 1, 'STDQ'],
          'with their counts');

# --- assignments that cannot be ------------------------------------------------------
my @ids = @udids;
$r = api('POST', '/v1/vpp/assign/north', { adamId => '999', enrollments => [$ids[0]] });
is($r->{status}, 404, 'an adamId the location does not own: 404');
like($r->{json}{error} // '', qr/unknown adamId 999/, '... saying so');
$r = api('POST', '/v1/vpp/assign/north', { adamId => '408709785', enrollments => [$ids[0]] });
is($r->{status}, 409, 'an app that is not device-assignable: 409');
$r = api('POST', '/v1/vpp/assign/nowhere', { adamId => '361309726', enrollments => [$ids[0]] });
is($r->{status}, 404, 'an unknown location: 404');
$r = api('POST', '/v1/vpp/assign/north', '{"adamId":361309726,"enrollments":[]}');
is($r->{status}, 400, 'a malformed body: 400');
is($t->redis('LLEN', key_vpp_jobs('north')), 0, 'no job stored for any of them');
is($t->redis('EXISTS', key_vpp_install('north', '361309726')), 0, '... and no state');

# --- assign: 4 devices, 3 licences, and an enrollment without a serial ------------------
$r = api('POST', '/v1/vpp/assign/north',
         { adamId => '361309726', enrollments => [@ids, 'NO-SUCH-ENROLLMENT'] });
is($r->{status}, 202, 'assign to four devices and one unknown enrollment: 202');
is($r->{json}{queued}, 5, '... five targets');
my $inst;
ok($t->wait_for(sub {
        $inst = api('GET', '/v1/vpp/installs/north/361309726')->{json}{enrollments} // {};
        my @s = map { $_->{state} } values %$inst;
        @s == 5 && !grep { $_ eq 'pending' } @s }, 20),
   'every target reaches a final state')
    or diag(explain($inst), worker_log());
my @queued = grep { $inst->{$_}{state} eq 'queued' } @ids;
my @failed = grep { $inst->{$_}{state} eq 'failed' } @ids;
is(scalar @queued, 3, 'three devices got a licence and InstallApplication');
is(scalar @failed, 1, 'one did not');
like($inst->{ $failed[0] // '' }{detail} // '', qr/^9709 /, "... with Apple's 9709 (not enough licenses)");
is($inst->{'NO-SUCH-ENROLLMENT'}{state}, 'failed', 'the unknown enrollment failed');
like($inst->{'NO-SUCH-ENROLLMENT'}{detail} // '', qr/no serial number/, '... for want of a serial');
my %ledger = map { $_->{serialNumber} => 1 } @{ $vpp->ledger($stoken)->{assignments} };
is_deeply([sort keys %ledger], [sort map { $serial{$_} } @queued],
          "the mock's ledger holds a licence for exactly the queued devices");
my @assoc = $vpp->api_requests('/assets/associate');
is(scalar @assoc, 1, 'one associate call for the four serials (within maxSerialNumbers)');
is_deeply([sort @{ $J->decode($assoc[0]{body})->{serialNumbers} }], [sort values %serial],
          '... naming their serial numbers');

# --- the devices get InstallApplication ------------------------------------------------
for my $udid (@queued) {
    my $got = report($udid, Status => 'Idle');
    like($got->{body}, qr{<key>RequestType</key>\s*<string>InstallApplication</string>},
         "$udid is served InstallApplication at its check-in");
    like($got->{body}, qr{<key>iTunesStoreID</key>\s*<integer>361309726</integer>},
         '... with iTunesStoreID');
    like($got->{body}, qr{<key>PurchaseMethod</key>\s*<integer>1</integer>},
         "... and PurchaseMethod 1 (the licence is the device's)");
}
my $got = report($failed[0] // $udids[0], Status => 'Idle');
unlike($got->{body}, qr/InstallApplication/, 'the device without a licence is served nothing');

# --- notifications: wrong Bearer, replay -------------------------------------------------
my ($delivered) = grep { ($_->{notificationType} // '') eq 'ASSET_MANAGEMENT' && ($_->{status} // 0) == 200 }
                  $vpp->notifications;
ok($delivered, "the mock's ASSET_MANAGEMENT notification reached mdm_vpp_notify");
my $xlen = $t->redis('XLEN', key_vpp_notify('north'));
ok($xlen >= 1, '... and was stored');
my $env = $J->encode({ notification => $delivered->{notification},
                       notificationId => $delivered->{notificationId},
                       notificationType => 'ASSET_MANAGEMENT', uId => '1' });
$r = $t->request('POST', $port, '/vpp/notify/north', $env,
                 headers => { Authorization => 'Bearer wrong', 'Content-Type' => 'application/json' });
is($r->{status}, 401, 'a notification with a wrong Bearer: 401');
$r = $t->request('POST', $port, '/vpp/notify/north', $env,
                 headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 401, 'without a Bearer: 401');
$r = $t->request('POST', $port, '/vpp/notify/north', '{"notification":',
                 headers => { Authorization => "Bearer $secret" });
is($r->{status}, 400, 'a body that is no notification: 400');
$r = $t->request('POST', $port, '/vpp/notify/nowhere', $env,
                 headers => { Authorization => "Bearer $secret" });
is($r->{status}, 401, 'for an unknown location: 401');
$r = $t->request('POST', $port, '/vpp/notify/north', $env,
                 headers => { Authorization => "Bearer $secret", 'Content-Type' => 'application/json' });
is($r->{status}, 200, 'a replayed notification is acknowledged');
is($t->redis('XLEN', key_vpp_notify('north')), $xlen, '... and not stored again, nor the refused ones');
is($t->request('GET', $port, '/vpp/notify/north')->{status}, 405, 'GET on the notification URL: 405');

# --- unassign -------------------------------------------------------------------------------
$r = api('POST', '/v1/vpp/unassign/north', { adamId => '361309726', enrollments => [$queued[0]] });
is($r->{status}, 202, 'unassign one device: 202');
ok($t->wait_for(sub { !exists((api('GET', '/v1/vpp/installs/north/361309726')->{json}{enrollments} // {})->{ $queued[0] }) }, 45),
   'its state is gone once Apple completes the disassociation');
%ledger = map { $_->{serialNumber} => 1 } @{ $vpp->ledger($stoken)->{assignments} };
ok(!$ledger{ $serial{ $queued[0] } }, "the mock's ledger no longer holds its licence");
is(scalar keys %ledger, 2, '... and still holds the other two');

done_testing;
