#!/usr/bin/perl
# The SCEP CA (mdm_scep, RFC 8894): GetCACaps, GetCACert, PKIOperation by
# POST and GET through mdmsim's SCEP client, issuance records in Redis, and
# every refusal a CertRep FAILURE that changes nothing.
# Has component sections (state written to Redis directly, listed with their
# end-to-end counterparts in t/README.md).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;
use MDM::Keys;
use JSON::PP;

my $t = MDM::Test->new;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $https = $t->port('https');
my $d = $t->dir;

# the issuing device CA: the test device CA, so issued identities are
# accepted by mdm_device_ca as they are
$t->nginx_start(<<"EOF", port => $https);
    mdm_redis 127.0.0.1:$redis;
    mdm_revoked_refresh 200ms;
    mdm_device_ca $pki->{ca};
    server {
        listen 127.0.0.1:$https ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        location = /scep {
            mdm_scep;
            mdm_scep_ca $pki->{ca} $pki->{ca_key};
            mdm_scep_validity 30d;
            client_max_body_size 64k;
            client_body_buffer_size 64k;
        }
        location = /checkin { mdm_checkin; }
        location /api/ { mdm_api; mdm_api_key secret; }
        location = /scep-static {
            mdm_scep;
            mdm_scep_ca $pki->{ca} $pki->{ca_key};
            mdm_scep_challenge static-secret;
            client_max_body_size 64k;
            client_body_buffer_size 64k;
        }
        location = /scep-san {
            mdm_scep;
            mdm_scep_ca $pki->{ca} $pki->{ca_key};
            mdm_scep_challenge san-secret;
            mdm_scep_san dns email uri;
            client_max_body_size 64k;
            client_body_buffer_size 64k;
        }
    }
EOF

# --- GetCACaps, GetCACert --------------------------------------------------

my $r = $t->request('GET', $https, '/scep?operation=GetCACaps');
is($r->{status}, 200, 'GetCACaps answers 200');
is($r->{headers}{'content-type'}, 'text/plain', 'GetCACaps is text/plain');
my %caps = map { $_ => 1 } split /\n/, $r->{body};
ok($caps{$_}, "GetCACaps advertises $_")
    for qw(POSTPKIOperation SHA-256 SHA-1 AES DES3 Renewal SCEPStandard);

$r = $t->request('GET', $https, '/scep?operation=GetCACert&message=ca');
is($r->{status}, 200, 'GetCACert answers 200');
is($r->{headers}{'content-type'}, 'application/x-x509-ca-cert',
   'GetCACert of a CA without RA is one DER certificate');
MDM::Test::spew("$d/getcacert.der", $r->{body});
my $pem = `openssl x509 -inform DER -in $d/getcacert.der 2>/dev/null`;
is($pem, MDM::Test::slurp($pki->{ca}) =~ s/\r//gr, 'GetCACert is the CA certificate');

$r = $t->request('GET', $https, '/scep?operation=GetNextCACert');
is($r->{status}, 400, 'an unsupported operation is 400');
$r = $t->request('GET', $https, '/scep');
is($r->{status}, 400, 'no operation is 400');

# --- PKIOperation through mdmsim -----------------------------------------

my $mdmsim = "$ENV{MDM_BUILD}/mdmsim";
my $url = "https://127.0.0.1:$https/scep";

# mdmsim scep ...: (exit code, stdout+stderr)
sub scep {
    my (@args) = @_;
    my $cmd = join ' ', map { "'$_'" } $mdmsim, 'scep', '--ca-file',
        $pki->{ca}, @args;
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $o) = scep('--url', "$url-static", '--challenge', 'static-secret',
                    '--out-cert', "$d/static.pem", '--out-key', "$d/static.key");
is($rc, 0, 'PKCSReq with the static challenge is issued') or diag $o;
my $text = `openssl x509 -in $d/static.pem -noout -text 2>&1`;
like($text, qr/TLS Web Client Authentication/, 'the issued certificate has EKU clientAuth');
like($text, qr/Subject: CN ?= ?mdmsim/, 'its subject comes from the CSR');
like(`openssl verify -CAfile $pki->{ca} $d/static.pem 2>&1`, qr/OK$/m,
     'openssl verify accepts it under the device CA');

($rc, $o) = scep('--url', "$url-static", '--challenge', 'wrong-secret');
is($rc, 1, 'a wrong static challenge is a CertRep FAILURE') or diag $o;
like($o, qr/failInfo 2/, 'with failInfo badRequest');

# --- subjectAltNames from the CSR, as mdm_scep_san allows ------------------

sub sans_of {
    my ($file) = @_;
    my $text = `openssl x509 -in $file -noout -ext subjectAltName 2>/dev/null`;
    $text =~ s/^.*?\n\s*//s;   # the "X509v3 Subject Alternative Name:" line
    chomp $text;
    return $text;
}

my $sans = 'DNS:dev1.example.org,email:alice@example.org,URI:urn:uuid:7b1e,IP:10.1.2.3';
($rc, $o) = scep('--url', "$url-san", '--challenge', 'san-secret', '--san', $sans,
                 '--out-cert', "$d/san.pem", '--out-key', "$d/san.key");
is($rc, 0, 'a CSR with subjectAltNames is issued') or diag $o;
is(sans_of("$d/san.pem"),
   'DNS:dev1.example.org, email:alice@example.org, URI:urn:uuid:7b1e',
   'DNS, email and URI names are copied; the IP address (not in mdm_scep_san) is not');
like($t->error_log, qr/1 subjectAltName\(s\) of the CSR not allowed by mdm_scep_san, left out/,
     'the left-out name is logged');

($rc, $o) = scep('--url', "$url-static", '--challenge', 'static-secret', '--san', $sans,
                 '--out-cert', "$d/nosan.pem");
is($rc, 0, 'without mdm_scep_san the same CSR is issued') or diag $o;
is(sans_of("$d/nosan.pem"), '', 'and carries no subjectAltName');

my $records = scalar @{ $t->redis('KEYS', key_ca_cert('*')) };
($rc, $o) = scep('--url', "$url-san", '--challenge', 'san-secret',
                 '--san', 'DNS:has space.example.org');
is($rc, 1, 'a malformed DNS name is a CertRep FAILURE') or diag $o;
like($o, qr/failInfo 2/, 'badRequest');
like($t->error_log, qr/subjectAltName of the CSR is malformed/, 'and logged');
is(scalar @{ $t->redis('KEYS', key_ca_cert('*')) }, $records, 'nothing issued or recorded');

($rc, $o) = scep('--url', "$url-san", '--renew-with', "$d/san.pem", "$d/san.key",
                 '--san', 'DNS:dev1-renewed.example.org', '--out-cert', "$d/san2.pem");
is($rc, 0, 'a renewal with a subjectAltName is issued') or diag $o;
is(sans_of("$d/san2.pem"), 'DNS:dev1-renewed.example.org',
   'the renewal\'s names are its own CSR\'s');

# --- one-time challenges (written as the enroll location writes them) ------

sub challenge {
    my ($c, %f) = @_;
    my $now = time;
    $t->redis('HSET', key_scep_chal($c), created => $now,
              expires => $now + 3600, user => 'alice', link => 'L1',
              udid => 'UDID-1', serial => 'C02TEST', %f);
    $t->redis('EXPIRE', key_scep_chal($c), 3600);
}

challenge('c-one');
($rc, $o) = scep('--url', $url, '--challenge', 'c-one', '--cn', 'device-1',
                 '--out-cert', "$d/one.pem", '--out-key', "$d/one.key");
is($rc, 0, 'PKCSReq with a one-time challenge is issued') or diag $o;
is($t->redis('EXISTS', key_scep_chal('c-one')), 0, 'the challenge is consumed');

my $sha = lc((split /=/, `openssl x509 -in $d/one.pem -noout -fingerprint -sha256`)[1] // '');
$sha =~ s/[:\s]//g;
my %rec = @{ $t->redis('HGETALL', key_ca_cert($sha)) };
my $serial = lc((split /=/, `openssl x509 -in $d/one.pem -noout -serial`)[1]);
chomp $serial;
$serial =~ s/^0+//;
is($rec{serial}, $serial, 'the issuance record has the serial');
is($rec{subject}, 'CN=device-1', 'and the subject');
is($rec{user}, 'alice', 'and the challenge\'s user');
is($rec{link}, 'L1', 'and link');
is($rec{udid}, 'UDID-1', 'and udid');
is($rec{serial_number}, 'C02TEST', 'and the device serial');
ok(!exists $rec{renew}, 'no renew field for a first enrollment');
is(`openssl x509 -in $d/one.pem -outform DER` eq $rec{der}, 1, 'and the DER');
my $na = `openssl x509 -in $d/one.pem -noout -enddate`;
ok($rec{not_after} > time + 29 * 86400 && $rec{not_after} < time + 31 * 86400,
   'not_after follows mdm_scep_validity 30d');
is($t->redis('GET', key_ca_serial($serial)), $sha, 'serial -> sha256 lookup');
is($t->redis('ZSCORE', key_ca_index(), $sha), $rec{not_after}, 'the index holds it by not_after');
my $ttl = $t->redis('TTL', key_ca_cert($sha));
ok($ttl > 58 * 86400 && $ttl <= 60 * 86400, 'the record expires 30 days after the certificate');
like(`openssl x509 -in $d/one.pem -noout -ext keyUsage 2>&1`,
     qr/critical\s+Digital Signature, Key Encipherment/, 'key usage from the default');
my $bits = 0;
$bits = length($1) * 4 if `openssl x509 -in $d/one.pem -noout -serial` =~ /=(\w+)/;
ok($bits >= 100 && $bits <= 128, 'a random serial of up to 128 bits');

# the same challenge again: consumed, a FAILURE, nothing written
my $before = $t->redis_snapshot;
($rc, $o) = scep('--url', $url, '--challenge', 'c-one');
is($rc, 1, 'a replayed challenge is a CertRep FAILURE') or diag $o;
like($o, qr/failInfo 2/, 'badRequest');
($rc, $o) = scep('--url', $url, '--challenge', 'never-made');
is($rc, 1, 'an unknown challenge is a CertRep FAILURE');
is($t->redis_snapshot, $before, 'refused requests change nothing in Redis');

challenge('c-expired', expires => time - 10);
($rc, $o) = scep('--url', $url, '--challenge', 'c-expired');
is($rc, 1, 'an expired challenge (past its expires) is a CertRep FAILURE') or diag $o;
is($t->redis('EXISTS', key_scep_chal('c-expired')), 0, 'and it is gone');

# GET, 3DES, SHA-1 (older clients)
challenge('c-get');
($rc, $o) = scep('--url', $url, '--challenge', 'c-get', '--get', '--des3', '--sha1');
is($rc, 0, 'PKIOperation by GET with 3DES and SHA-1 is issued') or diag $o;

# --- bad input: FAILURE with the right failInfo, nothing stored ----------

challenge('c-bad');
$before = $t->redis_snapshot;
for my $case (
    [ 'PKCS#7 for another recipient', 1, '--recipient', $pki->{foreign} ],
    [ 'a wrong signature over the SignedData', 1, '--bad-signature' ],
    [ 'a CSR key under 2048 bits', 2, '--key-bits', 1024 ],
    [ 'a signer key that is not the CSR key', 2, '--foreign-signer' ],
) {
    my ($name, $fail, @args) = @$case;
    ($rc, $o) = scep('--url', $url, '--challenge', 'c-bad', @args);
    is($rc, 1, "$name is a CertRep FAILURE") or diag $o;
    like($o, qr/failInfo $fail/, "$name has failInfo $fail");
}
is($t->redis_snapshot, $before, 'and none of them consumed the challenge or stored anything');

$r = $t->request('POST', $https, '/scep?operation=PKIOperation', "garbage" x 10,
                 headers => { 'Content-Type' => 'application/x-pki-message' });
is($r->{status}, 400, 'a body that is no pkiMessage is 400');
$r = $t->request('GET', $https, '/scep?operation=PKIOperation&message=%%%');
is($r->{status}, 400, 'a GET message that is not base64 is 400');
$r = $t->request('POST', $https, '/scep?operation=PKIOperation', 'x' x (1024 * 1024),
                 headers => { 'Content-Type' => 'application/x-pki-message' });
is($r->{status}, 413, 'a 1 MB body is refused with 413');
is($t->redis_snapshot, $before, 'nothing stored for them either');

# --- renewal ---------------------------------------------------------------

($rc, $o) = scep('--url', $url, '--renew-with', "$d/one.pem", "$d/one.key",
                 '--cn', 'device-1', '--out-cert', "$d/renewed.pem",
                 '--out-key', "$d/renewed.key");
is($rc, 0, 'RenewalReq signed by our certificate is issued without a challenge') or diag $o;
my $sha2 = lc((split /=/, `openssl x509 -in $d/renewed.pem -noout -fingerprint -sha256`)[1] // '');
$sha2 =~ s/[:\s]//g;
my %rec2 = @{ $t->redis('HGETALL', key_ca_cert($sha2)) };
is($rec2{user}, 'alice', 'the renewal record copies the user');
is($rec2{renewed_from}, $sha, 'and says what it renews');

# the enrollment the first certificate is bound to becomes the renewal's
$t->redis('SET', key_cert($sha2), 'ENR-42');
($rc, $o) = scep('--url', $url, '--renew-with', "$d/renewed.pem", "$d/renewed.key",
                 '--pkcsreq', '--out-cert', "$d/renewed2.pem",
                 '--out-key', "$d/renewed2.key");
is($rc, 0, 'a PKCSReq signed by our certificate is a renewal too') or diag $o;
my $sha3 = lc((split /=/, `openssl x509 -in $d/renewed2.pem -noout -fingerprint -sha256`)[1] // '');
$sha3 =~ s/[:\s]//g;
is($t->redis('HGET', key_ca_cert($sha3), 'renew'), 'ENR-42',
   'its record names the enrollment the signer is bound to');

$before = $t->redis_snapshot;
($rc, $o) = scep('--url', $url, '--renew-with', $t->identity('foreign-dev', ca => 'foreign')->{cert},
                 $t->identity('foreign-dev', ca => 'foreign')->{key});
is($rc, 1, 'a renewal signed by a foreign certificate is a FAILURE') or diag $o;
like($o, qr/failInfo 4/, 'badCertId');

my $expired = $t->identity('expired-dev', days => -1);
($rc, $o) = scep('--url', $url, '--renew-with', $expired->{cert}, $expired->{key});
is($rc, 1, 'a renewal signed by an expired certificate of our CA is a FAILURE') or diag $o;
like($o, qr/failInfo 3/, 'badTime');

# our CA, valid, but never recorded (issued outside the SCEP CA)
my $unrecorded = $t->identity('unrecorded-dev');
($rc, $o) = scep('--url', $url, '--renew-with', $unrecorded->{cert}, $unrecorded->{key});
is($rc, 1, 'a renewal signed by a certificate without a record is a FAILURE');
like($o, qr/failInfo 4/, 'badCertId');

$t->redis('HSET', key_ca_cert($sha), 'revoked', time);
$before = $t->redis_snapshot;
($rc, $o) = scep('--url', $url, '--renew-with', "$d/one.pem", "$d/one.key");
is($rc, 1, 'a renewal signed by a revoked certificate is a FAILURE');
like($o, qr/failInfo 4/, 'badCertId');
is($t->redis_snapshot, $before, 'refused renewals store nothing');

# --- the certificates API and revocation --------------------------------

my %api = (headers => { MDM::Test::api_auth('secret') });
sub api {
    my ($method, $path) = @_;
    my $r = $t->request($method, $https, "/api$path", '', %api);
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

$r = api('GET', '/v1/certificates?limit=2');
is($r->{status}, 200, 'GET /v1/certificates lists');
is(scalar @{ $r->{json}{certificates} }, 2, 'a page of limit entries');
is($r->{json}{next_cursor}, 2, 'with a cursor to the next page');
my %seen = map { $_->{sha256} => 1 } @{ $r->{json}{certificates} };
$r = api('GET', "/v1/certificates?cursor=2&limit=1000");
$seen{$_->{sha256}} = 1 for @{ $r->{json}{certificates} };
ok(!exists $r->{json}{next_cursor}, 'the last page has no cursor');
ok($seen{$sha} && $seen{$sha2} && $seen{$sha3}, 'the pages hold every issued certificate');
is(api('GET', '/v1/certificates?limit=0')->{status}, 400, 'a limit of 0 is a 400');

my $serial2 = lc((split /=/, `openssl x509 -in $d/renewed2.pem -noout -serial`)[1]);
chomp $serial2;
$r = api('GET', "/v1/certificates/" . uc $serial2);
is($r->{status}, 200, 'GET /v1/certificates/<serial> (any case, leading zeros)');
is($r->{json}{sha256}, $sha3, 'is the certificate with that serial');
is($r->{json}{renew}, 'ENR-42', 'with its record');
is(api('GET', '/v1/certificates/abcdef')->{status}, 404, 'an unknown serial is 404');
is(api('GET', '/v1/certificates/xyz')->{status}, 400, 'a serial that is not hex is 400');

# a device using its issued identity checks in, until it is revoked
my $topic = 'com.apple.mgmt.External.scep';
my $auth = MDM::Plist::plist(MessageType => 'Authenticate', UDID => 'SCEP-DEV-1', Topic => $topic);
my $dev = { cert => "$d/renewed2.pem", key => "$d/renewed2.key" };
$r = $t->request('PUT', $https, '/checkin', $auth, sign => $dev,
                 headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' });
is($r->{status}, 200, 'the SCEP-issued identity checks in') or diag $r->{body};

$r = api('POST', "/v1/certificates/$serial2/revoke");
is($r->{status}, 200, 'POST .../revoke revokes');
ok($t->redis('HGET', key_ca_cert($sha3), 'revoked') >= time - 60, 'the record says when');
is($t->redis('ZSCORE', key_ca_revoked(), $sha3), $t->redis('HGET', key_ca_cert($sha3), 'not_after'),
   'the revoked set holds it until its not_after');

# the workers learn it on their next refresh (200 ms here): poll as a device would
my $status = 0;
for (1 .. 100) {
    $status = $t->request('PUT', $https, '/checkin', $auth, sign => $dev,
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' })->{status};
    last if $status == 400;
    select undef, undef, undef, 0.1;
}
is($status, 400, 'a revoked certificate\'s check-in is refused with 400');
like($t->error_log, qr/identity refused: certificate is revoked \($sha3\)/, 'and logged');
like($t->request('GET', $https, '/api/metrics', '', %api)->{body},
     qr/^mdm_identity_failures_total\{reason="revoked"\} [1-9]/m, 'and counted as reason revoked');

$r = api('DELETE', "/v1/certificates/$serial2/revoke");
is($r->{status}, 200, 'DELETE .../revoke lifts the revocation');
ok(!defined $t->redis('ZSCORE', key_ca_revoked(), $sha3), 'and leaves the revoked set');
for (1 .. 100) {
    $status = $t->request('PUT', $https, '/checkin', $auth, sign => $dev,
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' })->{status};
    last if $status == 200;
    select undef, undef, undef, 0.1;
}
is($status, 200, 'and the device checks in again');
is(api('POST', '/v1/certificates/abcdef/revoke')->{status}, 404, 'revoking an unknown serial is 404');

my ($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { location /s { mdm_scep; } }
EOF
ok(!$ok && $out =~ /"mdm_scep" and "mdm_acme" require "mdm_scep_ca"/, 'mdm_scep without mdm_scep_ca fails nginx -t');
($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { location /s { mdm_scep; mdm_scep_ca $pki->{cert} $pki->{key}; } }
EOF
ok(!$ok && $out =~ /not a CA certificate/, 'a non-CA certificate in mdm_scep_ca fails nginx -t');
($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { location /s { mdm_scep; mdm_scep_ca $pki->{ca} $pki->{key}; } }
EOF
ok(!$ok && $out =~ /does not match/, 'a key that is not the CA\'s fails nginx -t');

is_deeply([$t->error_log_problems], [], 'no alerts, crashes or sanitizer reports');
done_testing;
