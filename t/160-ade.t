#!/usr/bin/perl
# ADE enrollment on the mdm_enroll location: a MachineInfo signed by a
# device identity of the (test) Apple device CA gets the signed profile,
# whose challenge carries the device's UDID and serial, and its facts are
# recorded; the web view's x-apple-aspen-deviceinfo GET works the same; each
# 403 document Apple defines is sent when its condition holds, as JSON or
# plist by Accept/Content-Type; an untrusted signer, a bad signature,
# garbage and a 1 MB body are 400 with a log line and nothing stored; the
# known-serials API.

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
my $auth_port = $t->port('auth');
my $dev_port = $t->port('dev');
my $topic = 'com.apple.mgmt.External.ade-test';

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
    my ($name) = @_;
    $t->openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout',
        "$dir/$name.key", '-out', "$dir/$name.pem", '-days', '30',
        '-subj', "/CN=Test Apple Root CA", '-batch');
    return { cert => "$dir/$name.pem", key => "$dir/$name.key" };
}

my $ca_ext = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n";
# Apple's shape: root -> "Apple iPhone Device CA" -> the device identity
my $apple = root('apple-root');
my $inter = cert('apple-inter', '/CN=Test Apple iPhone Device CA',
                 $apple->{cert}, $apple->{key}, $ca_ext);
my $device = cert('device', '/CN=00008101-000A1B2C3D4E5F60',
                  $inter->{cert}, $inter->{key});
# the same names under another root: what an attacker can make
my $evil = root('evil-root');
my $evil_inter = cert('evil-inter', '/CN=Test Apple iPhone Device CA',
                      $evil->{cert}, $evil->{key}, $ca_ext);
my $evil_device = cert('evil-device', '/CN=00008101-000A1B2C3D4E5F60',
                       $evil_inter->{cert}, $evil_inter->{key});

my $signer = cert('signer', '/CN=ngx_mdm test profile signer', $pki->{ca},
                  $pki->{ca_key});
my $push = cert('push', "/UID=$topic/CN=APSP:ade-test", $pki->{ca},
                $pki->{ca_key}, "extendedKeyUsage=clientAuth\n");

my $n = 0;
# CMS SignedData, content attached, DER: what Setup Assistant POSTs
sub machine_info {
    my (%o) = @_;
    my $id = delete $o{id} // $device;
    my $chain = delete $o{chain} // $inter->{cert};
    my %facts = (UDID => '00008101-000A1B2C3D4E5F60', SERIAL => 'C02ADE000001',
                 PRODUCT => 'iPhone14,2', VERSION => '22C152',
                 OS_VERSION => '18.2', LANGUAGE => 'en', %o);
    delete $facts{$_} for grep { !defined $facts{$_} } keys %facts;
    $n++;
    MDM::Test::spew("$dir/mi$n.plist", MDM::Plist::plist(%facts));
    $t->openssl('cms', '-sign', '-binary', '-nodetach', '-in',
        "$dir/mi$n.plist", '-signer', $id->{cert}, '-inkey', $id->{key},
        ($chain ? ('-certfile', $chain) : ()), '-outform', 'DER', '-out', "$dir/mi$n.der");
    return MDM::Test::slurp("$dir/mi$n.der");
}

$t->nginx_start(<<"EOF", port => $port);
    mdm_redis 127.0.0.1:$redis;
    server {
        listen 127.0.0.1:$auth_port;
        # the Platform SSO token validator: no token, nothing to say; the
        # token our IdP issued, its user; any other token, 403
        location / {
            if (\$http_authorization = "") { return 204; }
            if (\$http_authorization = "Bearer psso-good-token") {
                add_header X-User "dana\@example.org";
                return 204;
            }
            return 403;
        }
    }
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        client_max_body_size 2m;
        mdm_enroll_server_url https://mdm.example.org/mdm/connect;
        mdm_enroll_push_cert $push->{cert};
        mdm_enroll_signer $signer->{cert} $signer->{key} $pki->{ca};
        mdm_enroll_identifier org.example.mdm.enroll;
        mdm_enroll_token off;
        mdm_enroll_ade_anchor $apple->{cert};
        mdm_enroll_ade_min_os iPhone 18.1 22B83;
        mdm_enroll_ade_min_os Mac 15.2;

        location /ade {
            mdm_enroll;
        }
        location /ade-known {
            mdm_enroll_ade_known_serials on;
            mdm_enroll_ade_watch_pairing on;
            mdm_enroll;
        }
        location = /psso-check {
            internal;
            proxy_pass http://127.0.0.1:$auth_port/;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
        location /ade-psso {
            auth_request /psso-check;
            auth_request_set \$psso_user \$upstream_http_x_user;
            mdm_enroll_ade_psso https://idp.example.org/auth
                                https://mdm.example.org/psso.mobileconfig
                                https://mdm.example.org/psso-manifest.plist;
            mdm_enroll_ade_psso_user \$psso_user;
            mdm_enroll;
        }
        location /no-ade {
            mdm_enroll_ade_anchor "";
            mdm_enroll;
        }
        location / {
            mdm_api;
            mdm_api_key secret;
        }
    }
    # a whole stack for mdmsim enroll --ade: ADE → profile → SCEP → check-in
    server {
        listen 127.0.0.1:$dev_port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        client_max_body_size 64k;
        client_body_buffer_size 64k;
        mdm_device_ca $pki->{ca};
        mdm_enroll_server_url https://localhost:$dev_port/mdm/connect;
        mdm_enroll_checkin_url https://localhost:$dev_port/mdm/checkin;
        mdm_enroll_scep_url https://localhost:$dev_port/scep;
        mdm_enroll_push_cert $push->{cert};
        mdm_enroll_signer $signer->{cert} $signer->{key} $pki->{ca};
        mdm_enroll_token off;
        mdm_enroll_ade_anchor $apple->{cert};
        location = /mdm/checkin { mdm_checkin; }
        location = /mdm/connect { mdm_connect; }
        location = /scep { mdm_scep; mdm_scep_ca $pki->{ca} $pki->{ca_key}; }
        location /ade/ { mdm_enroll; }
        location /ade-old/ { mdm_enroll_ade_min_os 19.0; mdm_enroll; }
    }
EOF

my %api = MDM::Test::api_auth('secret');
my %pkcs7 = ('Content-Type' => 'application/pkcs7-signature');

sub post {
    my ($path, $body, %h) = @_;
    return $t->request('POST', $port, $path, $body,
                       headers => { %pkcs7, %h });
}

# the profile's content once openssl has verified it, through plistlib
sub profile {
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
d=plistlib.load(open(sys.argv[1],"rb"))
print(json.dumps(d, default=lambda b: len(b)))' $dir/p$n.xml`;
    return $? == 0 ? decode_json($json) : undef;
}

sub challenge {
    my ($p) = @_;
    my ($scep) = grep { $_->{PayloadType} eq 'com.apple.security.scep' }
                 @{ $p->{PayloadContent} };
    my $c = $scep->{PayloadContent}{Challenge};
    my %h = @{ $t->redis('HGETALL', key_scep_chal($c)) // [] };
    return \%h;
}

# a 403 document as a Perl hash, from JSON or an XML plist
sub document {
    my ($r) = @_;
    return decode_json($r->{body}) if $r->{headers}{'content-type'} eq 'application/json';
    $n++;
    MDM::Test::spew("$dir/e$n.plist", $r->{body});
    my $json = `python3 -c 'import json,plistlib,sys
print(json.dumps(plistlib.load(open(sys.argv[1],"rb"))))' $dir/e$n.plist`;
    return decode_json($json);
}

# --- the profile ----------------------------------------------------------

my $r = post('/ade', machine_info());
is($r->{status}, 200, 'a MachineInfo of the Apple device CA gets a profile');
is($r->{headers}{'content-type'}, 'application/x-apple-aspen-config',
   'as application/x-apple-aspen-config');
my $p = profile($r->{body});
ok($p && $p->{PayloadIdentifier} eq 'org.example.mdm.enroll',
   'the signed enrollment profile, verified');
my $chal = challenge($p);
is($chal->{udid}, '00008101-000A1B2C3D4E5F60', 'its challenge carries the UDID');
is($chal->{serial}, 'C02ADE000001', 'and the serial');
my %facts = @{ $t->redis('HGETALL', key_enroll_dev('C02ADE000001')) };
is($facts{product}, 'iPhone14,2', 'facts recorded: PRODUCT');
is($facts{os_version}, '18.2', 'OS_VERSION');
is($facts{version}, '22C152', 'VERSION');
is($facts{language}, 'en', 'LANGUAGE');
is($facts{via}, 'post', 'how it came');
my $ttl = $t->redis('TTL', key_enroll_dev('C02ADE000001'));
ok($ttl > 29 * 86400 && $ttl <= 30 * 86400, "facts expire (TTL $ttl)");
like($t->error_log, qr/ADE request of serial C02ADE000001 UDID 00008101-000A1B2C3D4E5F60/,
     'the request is logged with serial and UDID');

# --- the web view's GET ----------------------------------------------------

my $b64 = encode_base64(machine_info(SERIAL => 'C02ADEWEB001'), '');
$r = $t->request('GET', $port, '/ade', undef,
                 headers => { 'x-apple-aspen-deviceinfo' => $b64 });
is($r->{status}, 200, 'web view GET with x-apple-aspen-deviceinfo: profile');
$p = profile($r->{body});
is(challenge($p)->{serial}, 'C02ADEWEB001', 'its challenge carries the serial');
is($t->redis('HGET', key_enroll_dev('C02ADEWEB001'), 'via'), 'webview',
   'facts recorded as from the web view');

# --- bad input: 400, a log line, nothing stored ---------------------------

my @bad = (
    ['untrusted CA', machine_info(SERIAL => 'C02EVIL00001', id => $evil_device,
                                  chain => $evil_inter->{cert})],
    ['signer without its chain', machine_info(SERIAL => 'C02NOCHAIN01',
                                              chain => '')],
    ['garbage', "\x30\x82\x01\x00garbage" x 10],
    ['a plist, not signed', MDM::Plist::plist(UDID => 'x', SERIAL => 'C02PLAIN0001')],
    ['1 MB', 'A' x (1024 * 1024)],
);
{
    my $good = machine_info(SERIAL => 'C02TAMPER001');
    (my $tampered = $good) =~ s/C02TAMPER001/C02TAMPER002/;
    isnt($tampered, $good, 'tampered copy differs');
    push @bad, ['bad signature (content altered)', $tampered];
    my $no_serial = machine_info(SERIAL => undef);
    push @bad, ['SERIAL missing', $no_serial];
}
my $before = $t->redis_snapshot;
for my $b (@bad) {
    my $log = length $t->error_log;
    $r = post('/ade', $b->[1]);
    is($r->{status}, 400, "$b->[0]: 400");
    like(substr($t->error_log, $log), qr/ADE (MachineInfo|request).*refused/,
         "$b->[0]: logged");
}
$r = post('/ade', machine_info(), 'Content-Type' => 'application/x-apple-aspen-mdm');
is($r->{status}, 400, 'wrong Content-Type: 400');
$r = $t->request('GET', $port, '/ade', undef,
                 headers => { 'x-apple-aspen-deviceinfo' => '!!notbase64!!' });
is($r->{status}, 400, 'web view header that is not base64: 400');
is($t->redis_snapshot, $before, 'nothing stored by any refused request');

$r = post('/no-ade', machine_info());
is($r->{status}, 405, 'a location without mdm_enroll_ade_anchor does not serve ADE');

# --- com.apple.softwareupdate.required -------------------------------------

$r = post('/ade', machine_info(SERIAL => 'C02OLD000001', OS_VERSION => '18.0.1',
                               MDM_CAN_REQUEST_SOFTWARE_UPDATE => MDM::Plist::true()));
is($r->{status}, 403, 'OS below the iPhone minimum, device can update: 403');
is($r->{headers}{'content-type'}, 'application/json', 'JSON by default');
my $d = document($r);
is($d->{code}, 'com.apple.softwareupdate.required', 'softwareupdate.required');
is($d->{details}{OSVersion}, '18.1', 'details.OSVersion = the minimum');
is($d->{details}{BuildVersion}, '22B83', 'details.BuildVersion');
ok(!$t->redis('EXISTS', key_enroll_dev('C02OLD000001')), 'no facts recorded for it');

$r = post('/ade', machine_info(SERIAL => 'C02OLD000002', OS_VERSION => '18.0.1'));
is($r->{status}, 200, 'same OS, device cannot be made to update: profile');

$r = post('/ade', machine_info(SERIAL => 'C02OLD000003', OS_VERSION => '18.1',
                               MDM_CAN_REQUEST_SOFTWARE_UPDATE => MDM::Plist::true()));
is($r->{status}, 200, 'at the minimum: profile');

$r = post('/ade', machine_info(SERIAL => 'C02MAC000001', PRODUCT => 'Mac14,3',
                               OS_VERSION => '15.1',
                               MDM_CAN_REQUEST_SOFTWARE_UPDATE => MDM::Plist::true()),
          Accept => 'application/x-plist');
is($r->{status}, 403, 'a Mac below the Mac minimum: 403');
is($r->{headers}{'content-type'}, 'application/x-plist', 'plist when Accept asks');
$d = document($r);
is($d->{details}{OSVersion}, '15.2', 'the Mac family\'s minimum');
ok(!exists $d->{details}{BuildVersion}, 'no BuildVersion when none configured');

$r = post('/ade', machine_info(SERIAL => 'C02PAD000001', PRODUCT => 'iPad13,1',
                               OS_VERSION => '10.0',
                               MDM_CAN_REQUEST_SOFTWARE_UPDATE => MDM::Plist::true()));
is($r->{status}, 200, 'a family without a minimum: profile');

# --- known serials: com.apple.unrecognized.device --------------------------

$before = $t->redis_snapshot;
$r = post('/ade-known', machine_info(SERIAL => 'C02UNKNOWN01'),
          Accept => 'application/json');
is($r->{status}, 403, 'unknown serial where registration is required: 403');
is(document($r)->{code}, 'com.apple.unrecognized.device', 'unrecognized.device');
is($t->redis_snapshot, $before, 'nothing stored for it');

$r = $t->request('GET', $port, '/v1/enroll/devices/C02UNKNOWN01', undef, headers => \%api);
is($r->{status}, 404, 'API: not registered');
$r = $t->request('PUT', $port, '/v1/enroll/devices/C02UNKNOWN01', '', headers => \%api);
is($r->{status}, 201, 'API: PUT registers');
$r = $t->request('PUT', $port, '/v1/enroll/devices/C02UNKNOWN01', '', headers => \%api);
is($r->{status}, 200, 'API: PUT again is 200');
$r = $t->request('PUT', $port, '/v1/enroll/devices/C02{bad}', '', headers => \%api);
is($r->{status}, 400, 'API: a serial that could break keys is 400');
$r = $t->request('PUT', $port, '/v1/enroll/devices/C02UNKNOWN01', '');
is($r->{status}, 401, 'API: needs its key');

$r = post('/ade-known', machine_info(SERIAL => 'C02UNKNOWN01'));
is($r->{status}, 200, 'registered serial: profile');
$r = $t->request('GET', $port, '/v1/enroll/devices/C02UNKNOWN01', undef, headers => \%api);
is($r->{status}, 200, 'API: GET');
my $g = decode_json($r->{body});
ok($g->{registered} > 0, 'registered time');
is($g->{machine_info}{udid}, '00008101-000A1B2C3D4E5F60', 'and its last MachineInfo facts');
$r = $t->request('DELETE', $port, '/v1/enroll/devices/C02UNKNOWN01', undef, headers => \%api);
is($r->{status}, 204, 'API: DELETE');
$r = $t->request('DELETE', $port, '/v1/enroll/devices/C02UNKNOWN01', undef, headers => \%api);
is($r->{status}, 404, 'API: DELETE again 404');
$r = post('/ade-known', machine_info(SERIAL => 'C02UNKNOWN01'),
          Accept => 'text/xml');
is($r->{status}, 403, 'unregistered again: 403');
is($r->{headers}{'content-type'}, 'application/x-plist', 'as plist (Accept: text/xml)');
is(document($r)->{code}, 'com.apple.unrecognized.device', 'unrecognized.device');

# --- com.apple.watch.pairing.token.missing ---------------------------------

$t->request('PUT', $port, '/v1/enroll/devices/C02WATCH0001', '', headers => \%api);
$r = post('/ade-known', machine_info(SERIAL => 'C02WATCH0001', PRODUCT => 'Watch6,1',
                                     OS_VERSION => '11.2'));
is($r->{status}, 403, 'a watch without PAIRING_TOKEN: 403');
$d = document($r);
is($d->{code}, 'com.apple.watch.pairing.token.missing', 'pairing.token.missing');
like($d->{details}{'security-token'}, qr/^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/,
     'details.security-token is a random UUID');
$r = post('/ade-known', machine_info(SERIAL => 'C02WATCH0001', PRODUCT => 'Watch6,1',
                                     OS_VERSION => '11.2',
                                     PAIRING_TOKEN => MDM::Plist::data("\x01\x02\x03")));
is($r->{status}, 200, 'with its PAIRING_TOKEN: profile');
is($t->redis('HGET', key_enroll_dev('C02WATCH0001'), 'pairing_token'), '1',
   'recorded that it came with one');

# --- com.apple.psso.required and the Bearer follow-up ----------------------

my $mac = sub { machine_info(SERIAL => 'C02PSSO00001', PRODUCT => 'Mac16,1',
                             OS_VERSION => '26.0', @_) };
$r = post('/ade-psso', $mac->(MDM_CAN_REQUEST_PSSO_CONFIG => MDM::Plist::true()));
is($r->{status}, 403, 'a Mac that can do Platform SSO: 403');
$d = document($r);
is($d->{code}, 'com.apple.psso.required', 'psso.required');
is($d->{details}{AuthURL}, 'https://idp.example.org/auth', 'details.AuthURL');
is($d->{details}{ProfileURL}, 'https://mdm.example.org/psso.mobileconfig', 'details.ProfileURL');
is($d->{details}{Package}{ManifestURL}, 'https://mdm.example.org/psso-manifest.plist',
   'details.Package.ManifestURL');

$r = post('/ade-psso', $mac->(), Authorization => 'Bearer psso-good-token');
is($r->{status}, 200, 're-POST without the flag, with the IdP\'s Bearer token: profile');
$p = profile($r->{body});
is(challenge($p)->{user}, 'dana@example.org', 'the token\'s user is in the challenge');
is($t->redis('HGET', key_enroll_dev('C02PSSO00001'), 'user'), 'dana@example.org',
   'and in the facts');

$r = post('/ade-psso', $mac->(), Authorization => 'Bearer forged');
is($r->{status}, 403, 'a token the validator refuses: 403 (auth_request)');

$r = post('/ade-psso', $mac->(MDM_CAN_REQUEST_PSSO_CONFIG => MDM::Plist::true()),
          Authorization => 'Bearer psso-good-token');
is(document($r)->{code}, 'com.apple.psso.required',
   'still saying it can request the configuration: psso.required again');

$r = post('/ade-psso', $mac->());
is($r->{status}, 200, 'a Mac that cannot do Platform SSO, no token: profile');

# --- mdmsim enroll --ade ------------------------------------------------------

MDM::Test::spew("$dir/ade-identity.pem", join '', map { MDM::Test::slurp($_) }
                $device->{cert}, $device->{key}, $inter->{cert});
my $sim = sub {
    my $out = `$MDM::Test::BUILD/mdmsim @_ 2>&1`;
    return ($? == 0, $out);
};
my ($ok, $out) = $sim->('enroll', '--profile', "https://localhost:$dev_port/ade/",
    '--ade', "$dir/ade-identity.pem", '--ca-file', $pki->{ca},
    '--udid-prefix', 'ADESIM-', '-n', 2, '-v', '--id-dir', "$dir/ids-ade");
ok($ok, 'mdmsim enroll --ade: MachineInfo → profile → SCEP → check-in, 2 devices')
    or diag $out;
for my $i (0, 1) {
    my $udid = sprintf('ADESIM-%016X', $i);
    my %enr = @{ $t->redis('HGETALL', key_enr($udid)) // [] };
    is($enr{enabled}, 1, "$udid: enrolled");
    my %iss = @{ $t->redis('HGETALL', key_ca_cert($enr{cert})) // [] };
    is($iss{udid}, $udid, "$udid: the issuance record carries the MachineInfo's UDID");
    ok($iss{serial_number} && $t->redis('EXISTS', key_enroll_dev($iss{serial_number})),
       "$udid: and its serial, whose facts are recorded");
}
($ok, $out) = $sim->('enroll', '--profile', "https://localhost:$dev_port/ade-old/",
    '--ade', "$dir/ade-identity.pem", '--ca-file', $pki->{ca},
    '--udid-prefix', 'ADEOLD-', '-n', 1, '--id-dir', "$dir/ids-ade-old");
ok(!$ok && $out =~ /status 403.*com\.apple\.softwareupdate\.required/,
   'mdmsim shows the 403 document it was answered with') or diag $out;

my @problems = $t->error_log_problems;
is_deeply(\@problems, [], 'no alerts or crashes in the logs');

done_testing();
