#!/usr/bin/perl
# Check-in protocol: every message type with the real device fixtures, over
# mutual TLS and over Mdm-Signature, certificate binding, and stored state.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;
use MDM::Keys;

*plist = \&MDM::Plist::plist;
*data = \&MDM::Plist::data;

my $t = MDM::Test->new;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $port = $t->port('https');

$t->nginx_start(<<"EOF", port => $port);
    mdm_redis 127.0.0.1:$redis;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        ssl_verify_client optional_no_ca;
        client_max_body_size 64k;
        client_body_buffer_size 64k;
        mdm_device_ca $pki->{ca};

        location /checkin { mdm_checkin; }
        location /mtls { mdm_identity tls; mdm_checkin; }
        location /gettoken {
            mdm_token com.apple.maid maid-token-value;
            mdm_user_authenticate empty_digest;
            mdm_checkin;
        }
    }
EOF

my $CT = 'application/x-apple-aspen-mdm-checkin';
my $auth = $t->fixture('devices/ios-authenticate.plist');
my $token = $t->fixture('devices/ios-tokenupdate.plist');
my $udid = '663b07bb783e9ade1dae4fbb92ea12afc0ce5b69';
my $topic = 'com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9';
my $dev = $t->identity($udid);

sub checkin {
    my ($body, %opt) = @_;
    my $path = delete $opt{path} // '/checkin';
    return $t->request('PUT', $port, $path, $body,
                       headers => { 'Content-Type' => $CT }, %opt);
}

sub enr { $t->redis('HGET', key_enr("$_[0]"), $_[1]) }

# --- device channel over Mdm-Signature ------------------------------------

my $r = checkin($auth, sign => $dev);
is($r->{status}, 200, 'Authenticate (fixture) with Mdm-Signature is accepted');
is($r->{body}, '', 'Authenticate answer is empty');
is(enr($udid, 'serial'), 'F5JM992LF193', 'serial number stored');
is(enr($udid, 'product'), 'iPad2,5', 'product stored');
is(enr($udid, 'os_version'), '9.3.5', 'OS version stored');
is(enr($udid, 'topic'), $topic, 'topic stored');
is(enr($udid, 'type'), 'Device', 'enrollment type is Device');
is(enr($udid, 'enabled'), '0', 'not enabled before TokenUpdate');
my $kept = $t->redis('GET', key_auth($udid));
like($kept, qr/^bplist00/, 'Authenticate plist kept, as a binary plist');
cmp_ok(length $kept, '<', length($auth) * 0.6, '... about half the size of the XML');
like($kept, qr/F5JM992LF193/, '... with its values');
like(enr($udid, 'cert'), qr/^[0-9a-f]{64}$/, 'certificate SHA-256 bound at Authenticate');
is($t->redis('GET', key_cert(enr($udid, 'cert'))), $udid, 'certificate index points at the enrollment');
is($t->redis('XLEN', key_events()), 1, 'Authenticate appended one event');

$r = checkin($token, sign => $dev);
is($r->{status}, 200, 'TokenUpdate (fixture, with UnlockToken) is accepted');
is(enr($udid, 'enabled'), '1', 'TokenUpdate enables the enrollment');
is(enr($udid, 'push_magic'), 'CEFDF0BD-E342-4A27-8742-E930EA116B0A', 'push magic stored');
is(length(enr($udid, 'token')), 32, 'APNs token stored as 32 raw bytes');
my $unlock = enr($udid, 'unlock_token');
cmp_ok(length($unlock // ''), '>', 1000, 'UnlockToken stored');
is(enr($udid, 'tally'), 1, 'first TokenUpdate counted');

my $events = $t->redis('XRANGE', key_events(), '-', '+');
is(scalar @$events, 2, 'TokenUpdate appended an event');
my %fields = @{ $events->[1][1] };
is($fields{tally}, 1, 'TokenUpdate event carries the tally');
like($fields{m}, qr/mdm\.TokenUpdate/, 'event is msgpack naming the topic');

# A later TokenUpdate without UnlockToken keeps the stored one.
my $token2 = plist(MessageType => 'TokenUpdate', Topic => $topic, UDID => $udid,
                   Token => data("\x01" x 32), PushMagic => 'MAGIC-2');
$r = checkin($token2, sign => $dev, digest => 'sha1', ber => 1);
is($r->{status}, 200, 'BER indefinite-length, SHA-1 signed TokenUpdate verifies');
is(enr($udid, 'unlock_token'), $unlock, 'UnlockToken kept when a later TokenUpdate omits it');
is(enr($udid, 'push_magic'), 'MAGIC-2', 'push magic overwritten');
is(enr($udid, 'tally'), 2, 'TokenUpdate tally counts');

# --- user channel ----------------------------------------------------------

my $user_id = 'A1B2C3D4-0000-1111-2222-333344445555';
my $utoken = plist(MessageType => 'TokenUpdate', Topic => $topic, UDID => $udid,
                   UserID => $user_id, UserLongName => 'Jane Appleseed',
                   UserShortName => 'jane', NotOnConsole => MDM::Plist::false,
                   Token => data("\x02" x 32), PushMagic => 'USER-MAGIC');
$r = checkin($utoken, sign => $dev);
is($r->{status}, 200, 'user-channel TokenUpdate is accepted');
my $uid = "$udid:$user_id";
is(enr($uid, 'type'), 'User', 'user channel has type User');
is(enr($uid, 'parent'), $udid, 'user channel knows its device');
is(enr($uid, 'user_short_name'), 'jane', 'user short name stored');
is(enr($uid, 'enabled'), '1', 'user channel enabled');
ok($t->redis('SISMEMBER', key_users($udid), $uid), 'device lists its user channel');

my $shared = plist(MessageType => 'TokenUpdate', Topic => $topic, UDID => $udid,
                   UserID => 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
                   UserShortName => 'student@example.org', UserLongName => 'Student',
                   Token => data("\x03" x 32), PushMagic => 'SHARED');
is(checkin($shared, sign => $dev)->{status}, 200, 'Shared iPad user TokenUpdate accepted');
is(enr("$udid:student\@example.org", 'type'), 'Shared iPad', 'Shared iPad user keyed by short name');

# --- bootstrap token -------------------------------------------------------

my $getbt = plist(MessageType => 'GetBootstrapToken', UDID => $udid);
$r = checkin($getbt, sign => $dev);
is($r->{status}, 200, 'GetBootstrapToken without a stored token');
like($r->{body}, qr{<key>BootstrapToken</key>\s*<data>\s*</data>}, 'answers zero-length data');

$r = checkin(plist(MessageType => 'SetBootstrapToken', UDID => $udid,
                   BootstrapToken => data('bootstrap-secret')), sign => $dev);
is($r->{status}, 200, 'SetBootstrapToken accepted');
is(enr($udid, 'bootstrap_token'), 'bootstrap-secret', 'bootstrap token stored');
$r = checkin($getbt, sign => $dev);
like($r->{body}, qr{<data>\s*Ym9vdHN0cmFwLXNlY3JldA==\s*</data>}, 'GetBootstrapToken returns it');
is($r->{headers}{'content-type'}, 'application/xml', 'plist answer is application/xml');

checkin(plist(MessageType => 'SetBootstrapToken', UDID => $udid), sign => $dev);
is(enr($udid, 'bootstrap_token'), undef, 'SetBootstrapToken without a token deletes it');

# --- other messages --------------------------------------------------------

my $ua = plist(MessageType => 'UserAuthenticate', UDID => $udid, UserID => $user_id);
is(checkin($ua, sign => $dev)->{status}, 410, 'UserAuthenticate declined with 410 by default');
$r = checkin($ua, sign => $dev, path => '/gettoken');
is($r->{status}, 200, 'UserAuthenticate with empty_digest');
like($r->{body}, qr{<key>DigestChallenge</key>\s*<string>\s*</string>}, 'zero-length DigestChallenge');
my $ua2 = plist(MessageType => 'UserAuthenticate', UDID => $udid, UserID => $user_id,
                DigestResponse => 'digest');
$r = checkin($ua2, sign => $dev, path => '/gettoken');
is($r->{status}, 200, 'second UserAuthenticate answered 200');
is($r->{body}, '', 'second UserAuthenticate answer is empty');

my $gt = plist(MessageType => 'GetToken', UDID => $udid, TokenServiceType => 'com.apple.maid');
$r = checkin($gt, sign => $dev, path => '/gettoken');
is($r->{status}, 200, 'GetToken for a configured service');
like($r->{body}, qr{<key>TokenData</key>\s*<data>\s*bWFpZC10b2tlbi12YWx1ZQ==\s*</data>}, 'TokenData is the configured token');
is(checkin($gt, sign => $dev)->{status}, 400, 'GetToken for an unconfigured service is 400');

$r = checkin(plist(MessageType => 'ReturnToService', UDID => $udid), sign => $dev);
is($r->{status}, 200, 'ReturnToService answered');
like($r->{body}, qr{<key>Enabled</key>\s*<false/>}, 'ReturnToService disabled by default');

$r = checkin(plist(MessageType => 'DeclarativeManagement', UDID => $udid, Endpoint => 'tokens'), sign => $dev);
is($r->{status}, 200, 'DeclarativeManagement tokens answered (t/086 covers DDM)');
like($r->{body}, qr/^\{"SyncTokens":\{"DeclarationsToken":"[0-9a-f]{40}"/,
     '... with the TokensResponse of no declarations');

# --- identity failures -----------------------------------------------------

my $before = $t->redis_snapshot;

my $thief = $t->identity($udid, tag => '-thief');
$r = checkin($token, sign => $thief);
is($r->{status}, 400, 'a second certificate for an enrolled UDID is refused');
like($t->error_log, qr/TokenUpdate from "$udid" refused: certificate does not match/, '... and logged with the enrollment ID');

my $sig = $t->sign($dev, $token);
$r = $t->request('PUT', $port, '/checkin', $token . ' ',
                 headers => { 'Content-Type' => $CT, 'Mdm-Signature' => $sig });
is($r->{status}, 400, 'a signature over a modified body is refused');

my $foreign = $t->identity($udid, ca => 'foreign');
is(checkin($token, sign => $foreign)->{status}, 400, 'a certificate from another CA is refused');
is(checkin($token)->{status}, 400, 'no identity at all is refused');
is(checkin($token, headers => { 'Content-Type' => $CT, 'Mdm-Signature' => 'not base64!' })->{status},
   400, 'garbage Mdm-Signature is refused');


my $stranger = plist(MessageType => 'TokenUpdate', Topic => $topic, UDID => 'never-authenticated',
                     Token => data("\x04" x 32), PushMagic => 'X');
is(checkin($stranger, sign => $t->identity('never-authenticated'))->{status}, 400,
   'TokenUpdate for an unknown enrollment is refused');

is($t->redis_snapshot, $before, 'refused check-ins changed nothing in Redis');

# --- mutual TLS ------------------------------------------------------------

my $udid2 = 'MTLS-DEVICE-0001';
my $dev2 = $t->identity($udid2);
my $auth2 = plist(MessageType => 'Authenticate', UDID => $udid2, Topic => $topic,
                  SerialNumber => 'C02MTLS', Model => 'Mac14,2', ModelName => 'MacBook Air',
                  DeviceName => 'mac', Challenge => data('unknown keys are kept'));
is(checkin($auth2, identity => $dev2, path => '/mtls')->{status}, 200, 'Authenticate over mutual TLS');
is(enr($udid2, 'model'), 'Mac14,2', 'macOS facts stored');
like($t->redis('GET', key_auth($udid2)), qr/unknown keys are kept/, 'unknown keys (Challenge) are kept');
is(checkin(plist(MessageType => 'TokenUpdate', Topic => $topic, UDID => $udid2,
                 Token => data("\x05" x 32), PushMagic => 'M'),
           identity => $dev2, path => '/mtls')->{status}, 200, 'TokenUpdate over mutual TLS');
is(checkin($token, identity => $dev2, path => '/mtls')->{status}, 400,
   "another device's certificate cannot speak for an enrolled UDID");
is(checkin($auth2, sign => $dev2, path => '/mtls')->{status}, 400,
   'a signature is not accepted where only TLS is configured');
is(checkin($auth2, identity => $foreign, path => '/mtls')->{status}, 400,
   'TLS client certificate from another CA is refused');

# Re-enrollment with a new certificate rebinds.
my $dev2b = $t->identity($udid2, tag => '-renewed');
is(checkin($auth2, identity => $dev2b, path => '/mtls')->{status}, 200, 're-enrollment with a new certificate');
is(enr($udid2, 'enabled'), '0', 're-enrollment disables until TokenUpdate');
is(checkin($auth2 =~ s/Authenticate/CheckOut/r, identity => $dev2, path => '/mtls')->{status}, 400,
   'the old certificate no longer speaks for the device');

# --- CheckOut --------------------------------------------------------------

$r = checkin(plist(MessageType => 'CheckOut', UDID => $udid, Topic => $topic), sign => $dev);
is($r->{status}, 200, 'CheckOut accepted');
is(enr($udid, 'enabled'), '0', 'CheckOut disables the device');
is(enr($uid, 'enabled'), '0', 'CheckOut disables its user channels');

$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');

done_testing();
