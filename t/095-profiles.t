#!/usr/bin/perl
# The profile library and its desired state through the API
# (docs/profiles.md): uploads validated against Apple's schema and stored
# once by content hash, signed uploads verified, bad input refused with
# every problem, a log line and nothing stored; assignment reconciled per
# enrollment into one InstallProfile (its body stored once), a device
# fetching it, a new version reaching only the devices that need it,
# unassignment queueing RemoveProfile.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use MIME::Base64 qw(decode_base64);
use MDM::Test;
use MDM::Keys;

*plist = \&MDM::Plist::plist;
*data = \&MDM::Plist::data;
*subdict = \&MDM::Plist::subdict;
*integer = \&MDM::Plist::integer;

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
        client_max_body_size 5m;
        client_body_buffer_size 5m;
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_server; }
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF

my %AUTH = MDM::Test::api_auth('sekret');
my $topic = 'com.apple.mgmt.External.profiles';

sub device {
    my ($udid) = @_;
    my $id = $t->identity($udid);
    for my $msg (plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic),
                 plist(MessageType => 'TokenUpdate', UDID => $udid, Topic => $topic,
                       Token => data(pack('H*', 'ab' x 32)), PushMagic => "magic-$udid")) {
        my $r = $t->request('PUT', $port, '/mdm', $msg, sign => $id,
            headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' });
        die "enrollment of $udid failed: $r->{status}" unless $r->{status} == 200;
    }
    return $id;
}

sub api {
    my ($method, $path, $body, %h) = @_;
    my $r = $t->request($method, $port, $path, $body, headers => { %AUTH, %h });
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

sub queue_of {
    my ($id) = @_;
    return @{ $t->redis('LRANGE', key_q($id), 0, -1) // [] };
}

# a Wi-Fi profile; the SSID and the UUIDs make versions
sub wifi {
    my (%o) = @_;
    return plist(
        PayloadIdentifier => $o{ident} // 'com.example.wifi',
        PayloadUUID => $o{uuid} // '0E1F6C8A-0000-4000-8000-000000000001',
        PayloadType => 'Configuration',
        PayloadVersion => integer(1),
        PayloadDisplayName => 'Office Wi-Fi',
        PayloadContent => [ subdict(
            PayloadType => $o{type} // 'com.apple.wifi.managed',
            PayloadVersion => integer(1),
            PayloadIdentifier => 'com.example.wifi.1',
            PayloadUUID => $o{puuid} // '0E1F6C8A-0000-4000-8000-000000000002',
            SSID_STR => $o{ssid} // 'office',
            EncryptionType => $o{enc} // 'WPA2',
            @{ $o{extra} // [] }) ]);
}

# the Payload <data> of a command plist, decoded
sub payload_of {
    my ($xml) = @_;
    my ($b64) = $xml =~ m{<key>Payload</key>\s*<data>([^<]*)</data>}s or return undef;
    $b64 =~ s/\s+//g;
    return decode_base64($b64);
}

my $A = 'AAAA-PROF-0001';
my $B = 'BBBB-PROF-0002';
my $idA = device($A);
device($B);

# --- upload ------------------------------------------------------------------

my $v1 = wifi();
my $r = api('POST', '/v1/profiles', $v1);
is($r->{status}, 201, 'a new profile: 201') or diag $r->{body};
is($r->{json}{identifier}, 'com.example.wifi', 'named by its PayloadIdentifier');
is($r->{json}{sha256}, sha256_hex($v1), 'and its content hash');
is_deeply($r->{json}{warnings}, [], 'no warnings');
is($t->redis('GET', key_prof_body('com.example.wifi', sha256_hex($v1))), $v1,
   'stored once, by content hash, as uploaded');

$r = api('POST', '/v1/profiles', $v1);
is($r->{status}, 200, 'the same profile again: 200');
ok(!$r->{json}{changed}, 'unchanged');

$r = api('POST', '/v1/profiles', wifi(ident => 'com.example.other',
                                      extra => [ NotAWifiKey => 'x' ]));
is($r->{status}, 201, 'a profile with an unknown key: accepted');
is($r->{json}{warnings}[0]{rule}, 'unknown-key', 'with an unknown-key warning');
is($r->{json}{warnings}[0]{path}, 'PayloadContent[0].NotAWifiKey', 'at its path');

is_deeply(api('GET', '/v1/profiles')->{json},
          ['com.example.other', 'com.example.wifi'], 'GET /v1/profiles, sorted');

$r = api('GET', '/v1/profiles/com.example.wifi');
is($r->{status}, 200, 'GET a profile');
is($r->{json}{sha256}, sha256_hex($v1), 'its hash');
is($r->{json}{name}, 'Office Wi-Fi', 'its name');
is($r->{json}{profile}{PayloadContent}[0]{SSID_STR}, 'office', 'the profile as JSON');
$r = api('GET', '/v1/profiles/com.example.wifi/raw');
is($r->{body}, $v1, '/raw: the profile byte for byte');
like($r->{headers}{'content-type'} // '', qr{^application/x-apple-aspen-config},
     'as application/x-apple-aspen-config');
is(api('GET', '/v1/profiles/com.example.none')->{status}, 404, 'an unknown profile: 404');
is(api('GET', '/v1/profiles/has%20space')->{status}, 400, 'not an identifier: 400');

# --- bad uploads: 4xx, every problem, a log line, nothing stored -------------

my $signer = $t->identity('profile-signer');
sub signed {
    my ($body) = @_;
    my $in = $t->dir . '/p.in';
    MDM::Test::spew($in, $body);
    $t->openssl('cms', '-sign', '-binary', '-nodetach', '-in', $in, '-signer',
                $signer->{cert}, '-inkey', $signer->{key}, '-outform', 'DER',
                '-out', $t->dir . '/p.der');
    return MDM::Test::slurp($t->dir . '/p.der');
}
my $bad_sig = signed(wifi(ident => 'com.example.signed'));
substr($bad_sig, index($bad_sig, 'office'), 1) = 'O';

my @bad = (
    [ 'not a plist', 'this is not a profile', 400, 'plist' ],
    [ 'a plist array', plist() =~ s{<dict></dict>}{<array/>}r, 400, 'plist' ],
    [ 'not a Configuration', wifi() =~ s{Configuration}{Profile}r, 400, 'value' ],
    [ 'no PayloadIdentifier', wifi() =~ s{<key>PayloadIdentifier</key><string>com.example.wifi</string>}{}r,
      400, 'required' ],
    [ 'a wrong type', wifi(ident => 'com.example.bad', extra => [ AutoJoin => 'yes' ]), 400, 'type' ],
    [ 'a value outside the rangelist', wifi(ident => 'com.example.bad', enc => 'WPA9'), 400, 'value' ],
    [ 'an unknown payload type', wifi(ident => 'com.example.bad', type => 'com.apple.nothing.such'),
      400, 'unknown-type' ],
    [ 'duplicate PayloadUUIDs', wifi(ident => 'com.example.bad',
                                     puuid => '0E1F6C8A-0000-4000-8000-000000000001'),
      400, 'duplicate-uuid' ],
    [ 'a signature that does not verify', $bad_sig, 400, 'signature' ],
    [ 'a 4.5 MB profile', wifi(ident => 'com.example.big', extra => [ Password => 'x' x (4_500_000) ]),
      413, 'size' ],
);
my $before = $t->redis_snapshot;
for my $b (@bad) {
    my ($what, $body, $status, $rule) = @$b;
    my $log = length $t->error_log;
    $r = api('POST', '/v1/profiles', $body);
    is($r->{status}, $status, "$what: $status");
    ok(defined $r->{json} && $r->{json}{error}, "$what: a JSON error") or diag $r->{body};
    ok((grep { $_->{rule} eq $rule && $_->{severity} eq 'error' }
        @{ $r->{json}{problems} // [] }), "$what: problem $rule")
        or diag $r->{body};
    like(substr($t->error_log, $log), qr/mdm api: profile refused: /, "$what: one log line");
}
$r = api('POST', '/v1/profiles', 'x' x (5 * 1024 * 1024 + 1));
is($r->{status}, 413, 'a body over client_max_body_size: 413 from nginx');
$r = api('POST', '/v1/profiles', wifi(ident => 'com.example.bad', enc => 'WPA9',
                                      extra => [ AutoJoin => 'yes', HIDDEN_NETWORK => 3 ]));
is(scalar(grep { $_->{severity} eq 'error' } @{ $r->{json}{problems} // [] }), 3,
   'three problems, all listed');
is($t->redis_snapshot, $before, 'refused uploads stored nothing');

# --- signed uploads ------------------------------------------------------------

my $signed = signed(wifi(ident => 'com.example.signed'));
$r = api('POST', '/v1/profiles', $signed);
is($r->{status}, 201, 'a signed profile: 201') or diag $r->{body};
like($r->{json}{signer} // '', qr/CN\s*=\s*profile-signer/, 'the signer kept');
is(api('GET', '/v1/profiles/com.example.signed/raw')->{body}, $signed,
   'stored as signed, byte for byte');
MDM::Test::spew($t->dir . '/raw.der', api('GET', '/v1/profiles/com.example.signed/raw')->{body});
$t->openssl('cms', '-verify', '-binary', '-inform', 'DER', '-in', $t->dir . '/raw.der',
            '-CAfile', $pki->{ca}, '-purpose', 'any', '-out', $t->dir . '/raw.plist');
is(MDM::Test::slurp($t->dir . '/raw.plist'), wifi(ident => 'com.example.signed'),
   'openssl cms -verify takes what is served');

# --- assignment: desired state, one InstallProfile --------------------------

$before = $t->redis_snapshot;
is(api('POST', '/v1/profiles/com.example.wifi/assign', '{"enrollments": "x"}')->{status},
   400, 'assign: not a list: 400');
is(api('POST', '/v1/profiles/com.example.wifi/assign', '{"enrollments": [1]}')->{status},
   400, 'assign: not strings: 400');
is(api('POST', '/v1/profiles/com.example.wifi/assign', 'nope')->{status},
   400, 'assign: not JSON: 400');
is(api('POST', '/v1/profiles/com.example.none/assign', qq({"enrollments": ["$A"]}))->{status},
   404, 'assign an unknown profile: 404');
is($t->redis_snapshot, $before, 'refused assignments stored nothing');

$r = api('POST', '/v1/profiles/com.example.wifi/assign',
         qq({"enrollments": ["$A", "$B", "NOT-ENROLLED", "$A"]}));
is($r->{status}, 200, 'assigned: 200') or diag $r->{body};
is($r->{json}{queued}, 2, 'two enrollments get the command');
is($r->{json}{errors}{'NOT-ENROLLED'}, 'unknown enrollment', 'an unknown one says so');
my $cmd = $r->{json}{command_uuid};
is_deeply([queue_of($A)], [$cmd], "$A has it queued");
is_deeply([queue_of($B)], [$cmd], "$B too: one command");
is($t->redis('HGET', key_cmd($cmd), 'type'), 'InstallProfile', 'an InstallProfile');
is(payload_of($t->redis('HGET', key_cmd($cmd), 'body')), $v1,
   'its Payload is the profile as uploaded');
is_deeply([sort @{ $t->redis('SMEMBERS', key_prof_enrs('com.example.wifi')) }], [$A, $B],
          'the known enrollments are the desired state');
like($t->redis('HGET', key_prof_dev($A), 'com.example.wifi'),
     qr/^pending ${\ sha256_hex($v1)} $cmd \d+$/, "$A: pending, that version, that command");

$r = api('POST', '/v1/profiles/com.example.wifi/assign', qq({"enrollments": ["$A", "$B"]}));
is($r->{json}{queued}, 0, 'assigned again: nothing queued');
is($r->{json}{unchanged}, 2, 'both unchanged');
is(scalar(queue_of($A)), 1, 'never two outstanding for one profile and device');

$r = api('GET', "/v1/enrollments/$A/profiles");
is($r->{json}{'com.example.wifi'}{status}, 'pending', "GET /v1/enrollments/<id>/profiles");
is($r->{json}{'com.example.wifi'}{command_uuid}, $cmd, 'with its command');

# the device gets it
$r = $t->request('PUT', $port, '/mdm', plist(Status => 'Idle', UDID => $A), sign => $idA);
is($r->{status}, 200, "$A checks in");
like($r->{body}, qr{<string>InstallProfile</string>}, 'and is sent InstallProfile');
is(payload_of($r->{body}), $v1, 'with the profile in its Payload');

# --- a new version: to every enrollment that has the profile ------------------

my $v2 = wifi(ssid => 'office-2', uuid => '0E1F6C8A-0000-4000-8000-000000000011');
$r = api('POST', '/v1/profiles', $v2);
is($r->{status}, 200, 'a new version: 200');
ok($r->{json}{changed}, 'changed');
is($r->{json}{queued}, 2, 'queued to both enrollments');
my $cmd2 = $r->{json}{command_uuid};
isnt($cmd2, $cmd, 'a new command');
is(payload_of($t->redis('HGET', key_cmd($cmd2), 'body')), $v2, 'carrying the new version');
ok(!$t->redis('EXISTS', key_prof_body('com.example.wifi', sha256_hex($v1))),
   'the old version\'s body is gone (the queued command holds its copy)');

# --- unassignment: RemoveProfile -------------------------------------------

$r = api('DELETE', '/v1/profiles/com.example.wifi');
is($r->{status}, 409, 'an assigned profile is not deleted');
$r = api('POST', '/v1/profiles/com.example.wifi/unassign', qq({"enrollments": ["$B"]}));
is($r->{status}, 200, 'unassigned: 200');
is($r->{json}{queued}, 1, 'one RemoveProfile');
my $rm = $r->{json}{command_uuid};
is($t->redis('HGET', key_cmd($rm), 'type'), 'RemoveProfile', 'a RemoveProfile');
like($t->redis('HGET', key_cmd($rm), 'body'),
     qr{<key>Identifier</key>\s*<string>com\.example\.wifi</string>},
     'naming the profile\'s PayloadIdentifier');
is_deeply($t->redis('SMEMBERS', key_prof_enrs('com.example.wifi')), [$A],
          'out of the desired state');
like($t->redis('HGET', key_prof_dev($B), 'com.example.wifi'), qr/^removing /,
     "$B: removing");
$r = api('POST', '/v1/profiles/com.example.wifi/unassign', qq({"enrollments": ["$B"]}));
is($r->{json}{queued}, 0, 'again: nothing queued');

is(api('POST', '/v1/profiles/com.example.wifi/unassign', qq({"enrollments": ["$A"]}))
   ->{json}{queued}, 1, "$A unassigned");
is(api('DELETE', '/v1/profiles/com.example.wifi')->{status}, 204, 'then deleted: 204');
is(api('GET', '/v1/profiles/com.example.wifi')->{status}, 404, 'gone');
is(api('DELETE', '/v1/profiles/com.example.wifi')->{status}, 404, 'deleted again: 404');
ok(!$t->redis('EXISTS', key_prof_body('com.example.wifi', sha256_hex($v2))),
   'its body with it');
is_deeply(api('GET', '/v1/profiles')->{json}, ['com.example.other', 'com.example.signed'],
          'and out of the list');

is_deeply([$t->error_log_problems], [], 'no alerts in the logs');

done_testing;
