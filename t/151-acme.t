#!/usr/bin/perl
# The ACME server (mdm_acme, RFC 8555) with device-attest-01, through nginx:
# Debian's python3-acme drives the generic steps (directory, nonce, account,
# order, authorization, finalize, download, problem documents) inside
# tools/attest-mock/acme-device, which answers the challenge with an
# attestation from the test attestation authority (tools/attest-mock, the
# stand-in for Apple's). The issued certificate is a device identity.
# Every refusal: its RFC 8555 problem type, one log line, nothing issued.

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
my $py = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';
my $tools = "$MDM::Test::ROOT/tools/attest-mock";

system($py, "$tools/attest-mock", 'init', "$d/att") == 0 or BAIL_OUT('attest-mock init');
system($py, "$tools/attest-mock", 'init', "$d/other") == 0 or BAIL_OUT('attest-mock init');

$t->nginx_start(<<"EOF", port => $https);
    mdm_redis 127.0.0.1:$redis;
    mdm_device_ca $pki->{ca};
    server {
        listen 127.0.0.1:$https ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        location /acme/ {
            mdm_acme;
            mdm_scep_ca $pki->{ca} $pki->{ca_key};
            mdm_acme_attestation_root $d/att/root.pem;
            client_max_body_size 64k;
            client_body_buffer_size 64k;
        }
        location = /checkin { mdm_checkin; }
    }
EOF

my $base = "https://127.0.0.1:$https/acme";

# --- directory and nonces ----------------------------------------------

my $r = $t->request('GET', $https, '/acme/directory');
is($r->{status}, 200, 'GET directory');
my $dir = decode_json($r->{body});
# the URLs are made from the request's scheme and Host (the harness sends
# Host: localhost) and the location
is($dir->{$_->[0]}, "https://localhost/acme/$_->[1]", "directory $_->[0]")
    for [newNonce => 'new-nonce'], [newAccount => 'new-account'],
        [newOrder => 'new-order'], [revokeCert => 'revoke-cert'],
        [keyChange => 'key-change'];

$r = $t->request('HEAD', $https, '/acme/new-nonce');
is($r->{status}, 200, 'HEAD new-nonce is 200');
my $nonce = $r->{headers}{'replay-nonce'};
like($nonce, qr/^[A-Za-z0-9_-]{22}$/, 'with a base64url Replay-Nonce');
is($r->{headers}{'cache-control'}, 'no-store', 'and Cache-Control: no-store');
my $ttl = $t->redis('TTL', key_acme_nonce($nonce));
ok($ttl > 0 && $ttl <= 600, "the nonce is stored with the nonce TTL ($ttl s)");
$r = $t->request('GET', $https, '/acme/new-nonce');
is($r->{status}, 204, 'GET new-nonce is 204');
isnt($r->{headers}{'replay-nonce'}, $nonce, 'every nonce is new');

is($t->request('GET', $https, '/acme/nothing')->{status}, 404, 'an unknown resource is 404');
is($t->request('GET', $https, '/acme/new-order')->{status}, 405, 'a GET of a POST resource is 405');

# --- python3-acme enrolls a device --------------------------------------

sub device {
    my (%o) = @_;
    my @args = ($py, "$tools/acme-device", '--directory', "$base/directory",
                '--ca-file', $pki->{ca}, '--authority', "$d/att",
                '--other', "$d/other", '--serial', $o{serial} // 'C02TEST0001');
    push @args, '--case', $o{case} if $o{case};
    push @args, '--identifier', $o{identifier} if $o{identifier};
    push @args, '--out', $o{out} if $o{out};
    my $cmd = join ' ', map { "'$_'" } @args;
    my $out = `$cmd 2>&1`;
    my ($line) = $out =~ /^(\{.*\})\s*$/m;
    my $res = $line ? eval { decode_json($line) } : undef;
    diag $out unless $res;
    return $res // {};
}

sub count_issued { return scalar @{ $t->redis('ZRANGE', key_ca_index(), 0, -1) } }

my $res = device(out => "$d/dev1");
ok($res->{ok}, 'python3-acme: account, order, device-attest-01, finalize, certificate')
    or diag explain $res;
like($res->{account}, qr{^\Q$base\E/acct/[A-Za-z0-9_-]{43}$}, 'the account URL ends in the key thumbprint');
my ($oid) = ($res->{order} // '') =~ m{/order/([A-Za-z0-9_-]+)$};
ok($oid, 'the order has a URL');

like(`openssl verify -CAfile $pki->{ca} $d/dev1.pem 2>&1`, qr/: OK$/m,
     'the certificate chains to the device CA');
my $text = `openssl x509 -in $d/dev1.pem -noout -text`;
like($text, qr/TLS Web Client Authentication/, 'EKU clientAuth, as a SCEP identity');
like($text, qr/Subject: CN ?= ?C02TEST0001/, 'subject from the CSR');
is(`openssl x509 -in $d/dev1.pem -noout -pubkey`,
   `openssl pkey -in $d/dev1.key -pubout`, 'over the attested device key');
my $chain = MDM::Test::slurp("$d/dev1.pem");
is(scalar(() = $chain =~ /BEGIN CERTIFICATE/g), 2, 'the chain has the device CA after the leaf');

my %order = @{ $t->redis('HGETALL', key_acme_order($oid)) };
is($order{status}, 'valid', 'the order is valid');
is("$order{authz} $order{chall}", 'valid valid', 'its authorization and challenge too');
is($order{att_serial}, 'C02TEST0001', 'the attested serial is kept');
is($order{att_udid}, '00008103-000A1B2C3D4E5F60', 'the attested UDID too');
my $fp = `openssl x509 -in $d/dev1.pem -noout -fingerprint -sha256`;
$fp =~ s/^.*=//; $fp =~ s/[:\s]//g;
my $sha = lc $fp;
is($order{cert}, $sha, 'the order names the certificate by its SHA-256');
my %rec = @{ $t->redis('HGETALL', key_ca_cert($sha)) };
is($rec{serial_number}, 'C02TEST0001', 'issuance record: the device serial');
is($rec{udid}, '00008103-000A1B2C3D4E5F60', 'issuance record: the UDID');
is($rec{acme_order}, $oid, 'issuance record: the order');
ok(defined $t->redis('ZSCORE', key_ca_index(), $sha), 'the certificate is in the CA index');
is($t->redis('GET', key_ca_serial($rec{serial})), $sha, 'and in the serial lookup');
ok(defined $t->redis('ZSCORE', key_acme_orders((split m{/}, $res->{account})[-1]), $oid),
   "the account lists the order");

my $log = MDM::Test::slurp("$d/error.log");
like($log, qr/mdm acme: order \Q$oid\E attested: serial "C02TEST0001"/, 'the attestation is logged');
like($log, qr/mdm acme: issued serial [0-9a-f]+ sha256 \Q$sha\E for order \Q$oid\E/, 'the issuance is logged');

# the identity works against the module
my $auth = MDM::Plist::plist(MessageType => 'Authenticate', UDID => 'ACME-DEV-1',
                             Topic => 'com.apple.mgmt.External.acme');
$r = $t->request('PUT', $https, '/checkin', $auth, sign => { cert => "$d/dev1.pem", key => "$d/dev1.key" },
                 headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' });
is($r->{status}, 200, 'the ACME-issued identity checks in') or diag $r->{body};

# --- refusals -------------------------------------------------------------

my $issued = count_issued();

sub refused {
    my ($case, $type, $what, %o) = @_;
    my $before = -s "$d/error.log";
    my $res = device(case => $case, %o);
    my $got = $res->{problem}{type} // '(none)';
    is($got, "urn:ietf:params:acme:error:$type", "$what: $type") or diag explain $res;
    my $log = substr(MDM::Test::slurp("$d/error.log"), $before);
    my @lines = $log =~ /(mdm acme: \S+ refused with \Q$type\E: [^\n]*)/g;
    is(scalar @lines, 1, "$what: one log line") or diag $log;
    is(count_issued(), $issued, "$what: nothing issued");
    if ($res->{order}) {
        my ($id) = $res->{order} =~ m{/order/(.+)$};
        my %o = @{ $t->redis('HGETALL', key_acme_order($id)) };
        ok(!exists $o{att_key} && !exists $o{cert}, "$what: the order holds no attestation or certificate")
            unless $case eq 'key-swap';
    }
    return $res;
}

my $rp = refused('replay-nonce', 'badNonce', 'a replayed nonce');
is($rp->{first}, 'created', '... which was good the first time');
refused('wrong-url', 'unauthorized', 'a JWS for another URL');
refused('bad-signature', 'malformed', 'a payload changed after signing');
refused('unknown-kid', 'accountDoesNotExist', 'a kid of no account');
refused('dns-identifier', 'unsupportedIdentifier', 'an order for a dns identifier');
refused('foreign-root', 'badAttestationStatement', 'an attestation from another root');
refused('stale-freshness', 'badAttestationStatement', 'a freshness code of another token');
refused('fmt-packed', 'badAttestationStatement', 'fmt packed');
refused('malformed-cbor', 'malformed', 'malformed CBOR');
refused('no-attobj', 'malformed', 'a challenge response without attObj');
my $sm = refused('serial-mismatch', 'badAttestationStatement', 'an attestation of another device');
my ($sub) = @{ $sm->{problem}{subproblems} // [] };
is($sub->{type}, 'urn:ietf:params:acme:error:rejectedIdentifier', '... with a rejectedIdentifier subproblem');
is($sub->{identifier}{value}, 'C02TEST0001', '... naming the order\'s identifier');
my $ks = refused('key-swap', 'badCSR', 'a CSR over another key than the attested one');
my ($ksid) = ($ks->{order} // '') =~ m{/order/(.+)$};
is($t->redis('HGET', key_acme_order($ksid), 'status'), 'ready', '... leaves the order ready, without a certificate');

# Content-Type, a body that is no JWS: problems with a fresh nonce
$r = $t->request('POST', $https, '/acme/new-account', '{}',
                 headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 400, 'a POST that is not application/jose+json is 400');
is(eval { decode_json($r->{body})->{type} }, 'urn:ietf:params:acme:error:malformed', '... malformed');
is($r->{headers}{'content-type'}, 'application/problem+json', '... as a problem document');
like($r->{headers}{'replay-nonce'} // '', qr/^[A-Za-z0-9_-]{22}$/, '... with a fresh nonce');
$r = $t->request('POST', $https, '/acme/new-account', "\x00\xff not json",
                 headers => { 'Content-Type' => 'application/jose+json' });
is(eval { decode_json($r->{body})->{type} }, 'urn:ietf:params:acme:error:malformed', 'bytes that are no JWS: malformed');
is(count_issued(), $issued, 'still nothing issued');

# --- nginx -t -----------------------------------------------------------

my ($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { location /a/ { mdm_acme; mdm_scep_ca $pki->{ca} $pki->{ca_key}; } }
EOF
ok(!$ok && $out =~ /"mdm_acme" requires "mdm_acme_attestation_root"/, 'mdm_acme without an attestation root fails nginx -t');
($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { location /a/ { mdm_acme; mdm_acme_attestation_root $d/att/root.pem; } }
EOF
ok(!$ok && $out =~ /require "mdm_scep_ca"/, 'mdm_acme without mdm_scep_ca fails nginx -t');
($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { location /a/ { mdm_acme; mdm_scep_ca $pki->{ca} $pki->{ca_key};
                            mdm_acme_attestation_root $pki->{cert}; } }
EOF
ok(!$ok && $out =~ /is not a CA/, 'a leaf as attestation root fails nginx -t');
($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { location /a/ { mdm_acme; mdm_scep_ca $pki->{ca} $pki->{ca_key};
                            mdm_acme_attestation_root $d/none.pem; } }
EOF
ok(!$ok && $out =~ /cannot open/, 'a missing attestation root fails nginx -t');
($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { location = /a { mdm_acme; } }
EOF
ok(!$ok && $out =~ /needs a prefix location/, 'an exact-match location fails nginx -t');
($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { location /a/ { mdm_acme_base_url http://x/acme; } }
EOF
ok(!$ok && $out =~ /must be an https:\/\/ URL/, 'an http base URL fails nginx -t');

done_testing();
