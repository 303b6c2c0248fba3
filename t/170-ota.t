#!/usr/bin/perl
# Apple's OTA profile service on an mdm_enroll_ota location: phase 1 (GET,
# behind auth_basic) is a signed "Profile Service" profile asking for the
# device's attributes with a one-time challenge; phase 2 (the attributes and
# the challenge, CMS-signed by the device's identity of the test "Apple
# device CA") gets a profile holding only a SCEP payload; phase 3 (the
# attributes signed by the identity our SCEP CA issued in phase 2) gets the
# enrollment profile, with which the device checks in. Unsigned bodies, a
# foreign signer, a replayed challenge, a replayed phase 3 and a body of
# 1 MB are refused with a log line and change nothing. mdmsim enroll --ota
# runs all three phases, then SCEP and check-in, and the enrollment record
# names the user of the phase-1 download.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP qw(decode_json);
use MIME::Base64 qw(encode_base64);
use MDM::Test;
use MDM::Keys;

my $t = MDM::Test->new;
my $dir = $t->dir;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $port = $t->port('https');
my $topic = 'com.apple.mgmt.External.ota-test';

sub cert {
    my ($name, $subj, $ca, $ca_key, $ext) = @_;
    my $base = "$dir/$name";
    MDM::Test::spew("$base.ext", $ext // "keyUsage=digitalSignature\n");
    $t->openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout',
        "$base.key", '-out', "$base.csr", '-subj', $subj);
    $t->openssl('x509', '-req', '-in', "$base.csr", '-CA', $ca,
        '-CAkey', $ca_key, MDM::Test::serial_args(), '-out', "$base.pem",
        '-days', '30', '-extfile', "$base.ext");
    return { cert => "$base.pem", key => "$base.key" };
}

sub root {
    my ($name, $cn) = @_;
    $t->openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout',
        "$dir/$name.key", '-out', "$dir/$name.pem", '-days', '30',
        '-subj', "/CN=$cn", '-batch');
    return { cert => "$dir/$name.pem", key => "$dir/$name.key" };
}

my $ca_ext = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n";
my $apple = root('apple-root', 'Test Apple Root CA');
my $inter = cert('apple-inter', '/CN=Test Apple iPhone Device CA',
                 $apple->{cert}, $apple->{key}, $ca_ext);
my $device = cert('device', '/CN=00008101-0000000000OTA001',
                  $inter->{cert}, $inter->{key});
my $evil = root('evil-root', 'Test Apple Root CA');
my $evil_device = cert('evil-device', '/CN=00008101-0000000000OTA001',
                       $evil->{cert}, $evil->{key});
my $signer = cert('signer', '/CN=ngx_mdm test profile signer', $pki->{ca},
                  $pki->{ca_key});
my $push = cert('push', "/UID=$topic/CN=APSP:ota-test", $pki->{ca},
                $pki->{ca_key}, "extendedKeyUsage=clientAuth\n");
chomp(my $hash = `openssl passwd -apr1 wonderland`);
MDM::Test::spew("$dir/htpasswd", "alice:$hash\n");

my $ota_url = "https://localhost:$port/ota/device";
$t->nginx_start(<<"EOF", port => $port);
    mdm_redis 127.0.0.1:$redis;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        client_max_body_size 2m;
        client_body_buffer_size 64k;
        mdm_device_ca $pki->{ca};
        mdm_enroll_server_url https://localhost:$port/mdm/connect;
        mdm_enroll_checkin_url https://localhost:$port/mdm/checkin;
        mdm_enroll_scep_url https://localhost:$port/scep;
        mdm_enroll_push_cert $push->{cert};
        mdm_enroll_signer $signer->{cert} $signer->{key} $pki->{ca};
        mdm_enroll_identifier org.example.mdm.enroll;
        mdm_enroll_token off;
        location = /mdm/checkin { mdm_checkin; }
        location = /mdm/connect { mdm_connect; }
        location = /scep { mdm_scep; mdm_scep_ca $pki->{ca} $pki->{ca_key}; }
        # phase 1 for people, behind the organisation's login; phases 2
        # and 3 for devices, which sign what they send
        location = /ota {
            auth_basic "enroll";
            auth_basic_user_file $dir/htpasswd;
            mdm_enroll_ota $ota_url;
            mdm_enroll_ade_anchor $apple->{cert};
            mdm_enroll;
        }
        location = /ota/device {
            limit_except POST { deny all; }
            mdm_enroll_ota $ota_url;
            mdm_enroll_ade_anchor $apple->{cert};
            mdm_enroll;
        }
        location / {
            mdm_api;
            mdm_api_key secret;
        }
    }
EOF

my %alice = (Authorization => 'Basic ' . encode_base64('alice:wonderland', ''));
my %pkcs7 = ('Content-Type' => 'application/pkcs7-signature');
my $n = 0;

# openssl cms -verify against the server's CA, then plistlib: Perl data
sub verified {
    my ($der) = @_;
    $n++;
    MDM::Test::spew("$dir/p$n.der", $der);
    my $ok = eval {
        $t->openssl('cms', '-verify', '-binary', '-inform', 'DER', '-in',
            "$dir/p$n.der", '-CAfile', $pki->{ca}, '-out', "$dir/p$n.xml");
        1;
    };
    return undef unless $ok;
    my $json = `python3 -c 'import json,plistlib,sys
print(json.dumps(plistlib.load(open(sys.argv[1],"rb")), default=len))' $dir/p$n.xml`;
    return $? == 0 ? decode_json($json) : undef;
}

sub payload {
    my ($p, $type) = @_;
    my ($x) = grep { $_->{PayloadType} eq $type } @{ $p->{PayloadContent} };
    return $x;
}

# the device attributes, CMS-signed (content attached), as the device POSTs
sub attributes {
    my ($id, $chain, %o) = @_;
    my %a = (UDID => '00008101-0000000000OTA001', SERIAL => 'C02OTA000001',
             PRODUCT => 'iPhone14,2', VERSION => '22C152',
             IMEI => '35 000000 000000 0', %o);
    delete $a{$_} for grep { !defined $a{$_} } keys %a;
    $n++;
    MDM::Test::spew("$dir/a$n.plist", MDM::Plist::plist(%a));
    $t->openssl('cms', '-sign', '-binary', '-nodetach', '-in', "$dir/a$n.plist",
        '-signer', $id->{cert}, '-inkey', $id->{key},
        ($chain ? ('-certfile', $chain) : ()), '-outform', 'DER', '-out', "$dir/a$n.der");
    return MDM::Test::slurp("$dir/a$n.der");
}

sub post { $t->request('POST', $port, '/ota/device', $_[0], headers => \%pkcs7) }

# --- phase 1 ----------------------------------------------------------------

my $r = $t->request('GET', $port, '/ota');
is($r->{status}, 401, 'phase 1 is behind the location\'s auth_basic');
$r = $t->request('GET', $port, '/ota', undef, headers => \%alice);
is($r->{status}, 200, 'phase 1: alice gets the profile service');
is($r->{headers}{'content-type'}, 'application/x-apple-aspen-config', 'a profile');
my $p1 = verified($r->{body});
ok($p1, 'signed: openssl cms -verify accepts it');
is($p1->{PayloadType}, 'Profile Service', 'PayloadType Profile Service');
is($p1->{PayloadIdentifier}, 'org.example.mdm.enroll.ota', 'its own PayloadIdentifier');
is($p1->{PayloadContent}{URL}, $ota_url, 'URL: mdm_enroll_ota');
is_deeply($p1->{PayloadContent}{DeviceAttributes},
          [qw(UDID VERSION PRODUCT SERIAL MEID IMEI)], 'DeviceAttributes');
my $c1 = $p1->{PayloadContent}{Challenge};
like($c1, qr/^[0-9a-f]{32}$/, 'a one-time challenge');
my %rec = @{ $t->redis('HGETALL', key_enroll_ota($c1)) // [] };
is($rec{user}, 'alice', 'its record names the user of the download');
is($t->request('GET', $port, '/ota/device')->{status}, 403,
   'the devices\' URL serves no profile service to a GET (limit_except)');

# --- phase 2: refusals first, nothing changes --------------------------------

my $before = $t->redis('DBSIZE');
my $log = length $t->error_log;
$r = post(MDM::Plist::plist(UDID => 'X', CHALLENGE => $c1));
is($r->{status}, 400, 'an unsigned body is 400');
$r = post('garbage');
is($r->{status}, 400, 'garbage is 400');
$r = $t->request('POST', $port, '/ota/device', attributes($device, $inter->{cert}, CHALLENGE => $c1),
                 headers => { 'Content-Type' => 'application/x-plist' });
is($r->{status}, 400, 'a wrong Content-Type is 400');
$r = post(attributes($evil_device, undef, CHALLENGE => $c1));
is($r->{status}, 403, 'signed under a foreign CA (same names) is 403');
$r = post(attributes($device, $inter->{cert}, CHALLENGE => 'f' x 32));
is($r->{status}, 403, 'an unknown challenge is 403');
$r = post(attributes($device, $inter->{cert}, CHALLENGE => '{bad}'));
is($r->{status}, 400, 'a malformed challenge is 400');
$r = post(attributes($device, $inter->{cert}));
is($r->{status}, 400, 'phase 2 without CHALLENGE is 400');
$r = post(attributes($device, undef, CHALLENGE => $c1));
is($r->{status}, 403, 'without the intermediate the chain does not reach the anchor: 403');
$r = post('x' x (1024 * 1024));
is($r->{status}, 400, 'a 1 MB body is 400');
is($t->redis('DBSIZE'), $before, 'no refused request stored or spent anything');
ok($t->redis('EXISTS', key_enroll_ota($c1)), 'the challenge is still there');
my $refusals = () = substr($t->error_log, $log) =~ /OTA (request|POST|phase \d of UDID \S+) .*refused/g;
is($refusals, 9, 'each refusal logged once');

# --- phase 2 -----------------------------------------------------------------

my $phase2 = attributes($device, $inter->{cert}, CHALLENGE => $c1);
$r = post($phase2);
is($r->{status}, 200, 'phase 2, signed by the Apple device identity: 200');
my $p2 = verified($r->{body});
ok($p2, 'a signed profile');
is($p2->{PayloadIdentifier}, 'org.example.mdm.enroll.ota', 'the OTA identifier');
my $scep = payload($p2, 'com.apple.security.scep');
ok($scep && !payload($p2, 'com.apple.mdm'), 'a SCEP payload, no MDM payload yet');
is(scalar @{ $p2->{PayloadContent} }, 1, 'and nothing else');
my $c2 = $scep->{PayloadContent}{Challenge};
my %chal = @{ $t->redis('HGETALL', key_scep_chal($c2)) // [] };
is($chal{user}, 'alice', 'its SCEP challenge carries the user');
is($chal{udid}, '00008101-0000000000OTA001', 'the UDID');
is($chal{serial}, 'C02OTA000001', 'and the serial of the attributes');
ok(!$t->redis('EXISTS', key_enroll_ota($c1)), 'the phase-1 challenge is spent');
$before = $t->redis('DBSIZE');
$r = post($phase2);
is($r->{status}, 403, 'the same phase 2 again (replayed challenge) is 403');
like($t->error_log, qr/OTA phase 2 of UDID 00008101-0000000000OTA001 refused: challenge unknown, expired or already used/,
     'logged');
is($t->redis('DBSIZE'), $before, 'and changes nothing');

# --- SCEP with the phase-2 profile, then phase 3 -------------------------------

my $sim = "$MDM::Test::BUILD/mdmsim";
my $out = `$sim scep --url https://localhost:$port/scep --ca-file $pki->{ca} --challenge $c2 --cn OTA001 --out-cert $dir/ota-id.pem --out-key $dir/ota-id.key 2>&1`;
is($?, 0, 'the device enrolls by SCEP with the phase-2 challenge') or diag $out;
my $ota_id = { cert => "$dir/ota-id.pem", key => "$dir/ota-id.key" };

$before = $t->redis('DBSIZE');
$r = post(attributes($ota_id, undef, UDID => '00008101-0000000000OTA999'));
is($r->{status}, 403, 'phase 3 for another UDID than the identity\'s is 403');
my $other = cert('other', '/CN=not-issued-by-scep', $pki->{ca}, $pki->{ca_key});
$r = post(attributes($other, undef));
is($r->{status}, 403, 'phase 3 signed by a certificate our CA has no record of is 403');
is($t->redis('DBSIZE'), $before, 'nothing changed');

my $phase3 = attributes($ota_id, undef);
$r = post($phase3);
is($r->{status}, 200, 'phase 3, signed by the SCEP identity: 200');
my $p3 = verified($r->{body});
my $mdm = $p3 && payload($p3, 'com.apple.mdm');
my $scep3 = $p3 && payload($p3, 'com.apple.security.scep');
ok($mdm && $scep3, 'the enrollment profile: MDM and SCEP payloads');
is($p3->{PayloadIdentifier}, 'org.example.mdm.enroll', 'with the enrollment\'s identifier');
is($mdm->{IdentityCertificateUUID}, $scep3->{PayloadUUID}, 'IdentityCertificateUUID');
my %chal3 = @{ $t->redis('HGETALL', key_scep_chal($scep3->{PayloadContent}{Challenge})) // [] };
is($chal3{user}, 'alice', 'its challenge still names alice');
is($chal3{udid}, '00008101-0000000000OTA001', 'and the device');
$r = post($phase3);
is($r->{status}, 403, 'phase 3 again with the same identity is 403');
like($t->error_log, qr/OTA phase 3 of UDID \S+ refused: this identity has had its final profile already/,
     'logged');

# --- mdmsim enroll --ota: all three phases, SCEP, check-in ---------------------

MDM::Test::spew("$dir/apple-identity.pem", join '', map { MDM::Test::slurp($_) }
                $device->{cert}, $device->{key}, $inter->{cert});
$out = `$sim enroll --profile https://alice:wonderland\@localhost:$port/ota --ota $dir/apple-identity.pem --ca-file $pki->{ca} --udid-prefix OTASIM- -n 2 --id-dir $dir/ids-ota 2>&1`;
is($?, 0, 'mdmsim enroll --ota: phase 1, 2, SCEP, 3, SCEP, Authenticate, TokenUpdate; 2 devices')
    or diag $out;
for my $i (0, 1) {
    my $udid = sprintf('OTASIM-%016X', $i);
    my %enr = @{ $t->redis('HGETALL', key_enr($udid)) // [] };
    is($enr{enabled}, 1, "$udid: enrolled");
    is($enr{enroll_user}, 'alice', "$udid: the enrollment record names the phase-1 user");
}

is_deeply([$t->error_log_problems], [], 'no alerts or crashes');

my ($ok, $cfg) = $t->nginx_test_conf(<<"EOF");
    server {
        listen 127.0.0.1:1;
        mdm_enroll_server_url https://mdm.example.org/mdm;
        mdm_enroll_topic $topic;
        mdm_enroll_signer $signer->{cert} $signer->{key};
        location /o { mdm_enroll_ota https://mdm.example.org/o; mdm_enroll; }
    }
EOF
ok(!$ok && $cfg =~ /"mdm_enroll_ota" requires "mdm_enroll_ade_anchor"/,
   'nginx -t: mdm_enroll_ota without mdm_enroll_ade_anchor') or diag $cfg;
($ok, $cfg) = $t->nginx_test_conf(<<"EOF");
    server {
        listen 127.0.0.1:1;
        mdm_enroll_server_url https://mdm.example.org/mdm;
        mdm_enroll_topic $topic;
        mdm_enroll_signer $signer->{cert} $signer->{key};
        location /o { mdm_enroll_ota http://mdm.example.org/o; mdm_enroll_ade_anchor $apple->{cert}; mdm_enroll; }
    }
EOF
ok(!$ok && $cfg =~ /"mdm_enroll_ota" must be an https/, 'nginx -t: an http:// OTA URL')
    or diag $cfg;

done_testing;
