#!/usr/bin/perl
# NanoMDM's /migration endpoint: a fleet replayed the way NanoMDM's nano2nano
# and MicroMDM's micro2nano do it (raw Authenticate and TokenUpdate plists,
# one PUT each, in order, HTTP Basic "nanomdm" + API key, no Content-Type,
# no device signature) becomes enrollments with tokens and unlock tokens;
# each device's first real message then binds its certificate
# (mdm_cert_binding retro), after which the binding holds.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use MIME::Base64 qw(encode_base64);
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
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_cert_binding retro; mdm_server; }
        location /strict { mdm_server; }
        location / { mdm_api; mdm_api_key sekret; client_body_buffer_size 1m; }
    }
EOF

my %API = MDM::Test::api_auth('sekret');
my $topic = 'com.apple.mgmt.External.migration';

sub api {
    my ($method, $path, $body, %h) = @_;
    my $r = $t->request($method, $port, $path, $body, headers => { %API, %h });
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

# --- the replay client ---------------------------------------------------------
#
# What nano2nano does (and micro2nano's migrate, from MicroMDM's records):
# for each enrollment, single-threaded because order matters, the device's
# Authenticate, then its TokenUpdate, then its user channels' TokenUpdates,
# each a PUT of the raw plist to the migration URL with SetBasicAuth
# ("nanomdm", key) and no other header but what Go's client adds. Anything
# but 200 is an error for that message.

sub replay {
    my ($url, $key, @fleet) = @_;
    my @statuses;
    for my $enrollment (@fleet) {
        for my $raw (@$enrollment) {
            my $r = $t->request('PUT', $port, $url, $raw, headers => {
                Authorization => 'Basic ' . encode_base64("nanomdm:$key", ''),
                'User-Agent' => 'Go-http-client/1.1',
                'Accept-Encoding' => 'gzip',
            });
            push @statuses, $r->{status};
        }
    }
    return @statuses;
}

my ($D1, $D2, $D3) = ('MIGRATE-DEVICE-0001', 'MIGRATE-DEVICE-0002', 'MIGRATE-DEVICE-0003');
my $U1 = 'A1B2C3D4-0000-1111-2222-333344445555';
my %token = map { $_ => pack('H*', sha256_hex("token-$_")) } $D1, $D2, $D3, "$D1:$U1";
my $unlock = "\x01\x02unlock-token-bytes\x00\xff";

sub authenticate {
    my ($udid, $serial) = @_;
    return plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic,
                 SerialNumber => $serial, Model => 'MacBookPro18,3',
                 OSVersion => '14.4', BuildVersion => '23E214');
}

sub token_update {
    my ($udid, @more) = @_;
    my $id = @more && $more[0] eq 'UserID' ? "$udid:$more[1]" : $udid;
    return plist(MessageType => 'TokenUpdate', UDID => $udid, Topic => $topic, @more,
                 Token => data($token{$id}), PushMagic => "magic-$id");
}

my @fleet = (
    [ authenticate($D1, 'SERIAL-D1'),
      token_update($D1, UnlockToken => data($unlock), AwaitingConfiguration => MDM::Plist::false),
      token_update($D1, UserID => $U1, UserShortName => 'jane', UserLongName => 'Jane Appleseed') ],
    [ authenticate($D2, 'SERIAL-D2'), token_update($D2) ],
    [ authenticate($D3, 'SERIAL-D3'), token_update($D3) ],
);

my $before = $t->redis_snapshot;
is_deeply([ replay('/migration', 'wrong', @fleet) ], [ (401) x 7 ],
          'a replay with the wrong API key: 401 for every message');
is($t->redis_snapshot, $before, '... and nothing stored');

is_deeply([ replay('/migration', 'sekret', @fleet) ], [ (200) x 7 ],
          'the fleet replayed as nano2nano does: 200 for every message');

sub enr { $t->redis('HGET', key_enr("$_[0]"), $_[1]) }

for my $id ($D1, $D2, $D3) {
    is(enr($id, 'enabled'), '1', "$id is enabled");
    is(enr($id, 'token'), $token{$id}, '... with its push token');
    is(enr($id, 'push_magic'), "magic-$id", '... and its push magic');
    ok(!defined enr($id, 'cert'), '... and no certificate bound yet');
}
is(enr($D1, 'serial'), 'SERIAL-D1', 'device facts from the replayed Authenticate');
is(enr($D1, 'unlock_token'), $unlock, 'the unlock token, byte for byte');
is(enr("$D1:$U1", 'type'), 'User', 'the user channel is an enrollment');
is(enr("$D1:$U1", 'token'), $token{"$D1:$U1"}, '... with its own token');
is(enr("$D1:$U1", 'parent'), $D1, '... of its device');

my $r = api('GET', "/v1/enrollments/$D1");
is($r->{status}, 200, 'the API shows the migrated enrollment');
is($r->{json}{serial}, 'SERIAL-D1', '... as any other');

# --- refusals -------------------------------------------------------------------

$before = $t->redis_snapshot;
is(api('PUT', '/migration', 'not a plist')->{status}, 400, 'a body that is no check-in: 400');
is(api('PUT', '/migration', plist(MessageType => 'TokenUpdate', UDID => 'X', Topic => $topic))->{status},
   400, 'a TokenUpdate without Token: 400');
is(api('PUT', '/migration', '')->{status}, 400, 'an empty body: 400');
is(api('PUT', '/migration', plist(MessageType => 'Authenticate', UDID => 'X', Topic => $topic,
                                  Padding => 'p' x (20 * 1024)))->{status},
   413, 'an Authenticate over mdm_message_max_size Authenticate (16k): 413');
like($t->error_log, qr/Authenticate of \d+ bytes from "X" over "mdm_message_max_size Authenticate 16384" refused/,
     '... held to its type bound as a device message is');
is(api('GET', '/migration')->{status}, 405, 'GET /migration: 405');
is(api('PUT', '/migration?x=1', authenticate('X', 'S'))->{status}, 400, 'a query parameter: 400');
is($t->request('PUT', $port, '/migration', authenticate('X', 'S'), headers => {
       Authorization => 'Basic ' . encode_base64('micromdm:sekret', '') })->{status},
   401, 'a user other than nanomdm: 401');
is($t->redis_snapshot, $before, 'refused migrations changed nothing');

# --- the devices come back -------------------------------------------------------

my %id = map { $_ => $t->identity($_) } $D1, $D2, $D3;

sub cert_sha {
    my ($identity) = @_;
    my $der = `openssl x509 -in $identity->{cert} -outform DER`;
    return sha256_hex($der);
}

sub report {
    my ($path, $identity, $udid, %kv) = @_;
    return $t->request('PUT', $port, $path,
        plist(UDID => $udid, map { $_ => $kv{$_} } sort keys %kv), sign => $identity,
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm' });
}

my $cmd = plist(CommandUUID => 'AFTER-MIGRATION',
                Command => MDM::Plist::subdict(RequestType => 'DeviceInformation',
                                               Queries => ['SerialNumber']));
$r = api('PUT', "/v1/enqueue/$D1", $cmd);
is($r->{status}, 200, 'commands can be queued for a migrated device');

$r = report('/mdm', $id{$D1}, $D1, Status => 'Idle');
is($r->{status}, 200, 'the first real message of a migrated device (retro binding): 200');
is($r->{body}, $cmd, '... gets the queued command');
is(enr($D1, 'cert'), cert_sha($id{$D1}), '... and binds its certificate');
is($t->redis('GET', key_cert(cert_sha($id{$D1}))), $D1, '... both ways');

$r = report("/mdm", $id{$D1}, $D1, UserID => $U1, Status => "Idle");
is($r->{status}, 200, 'its user channel speaks with the device certificate');

$before = $t->redis_snapshot;
is(report('/mdm', $id{$D2}, $D1, Status => 'Idle')->{status}, 400,
   'once bound, another certificate for the same device: 400');
is(report('/mdm', $id{$D1}, $D2, Status => 'Idle')->{status}, 400,
   'a bound certificate cannot claim another migrated device');
ok(!defined enr($D2, 'cert'), '... which stays unbound');
is($t->redis_snapshot, $before, '... nothing changed');

is(report('/strict', $id{$D3}, $D3, Status => 'Idle')->{status}, 400,
   'without mdm_cert_binding retro a migrated device is refused (400, never 401)');
like($t->error_log, qr/enrollment has no bound certificate/, '... because nothing is bound');
is(report('/mdm', $id{$D3}, $D3, Status => 'Idle')->{status}, 200, '... and accepted with retro');
is(report('/strict', $id{$D3}, $D3, Status => 'Idle')->{status}, 200,
   '... after which even the strict location knows it');

$r = $t->request('PUT', $port, '/mdm', token_update($D2), sign => $id{$D2},
                 headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' });
is($r->{status}, 200, 'a migrated device\'s real TokenUpdate binds it too');
is(enr($D2, 'cert'), cert_sha($id{$D2}), '... to its certificate');

$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');

done_testing();
