#!/usr/bin/perl
# Enrollment profiles (mdm_enroll): every GET is a fresh signed profile that
# `openssl cms -verify` accepts, with a one-time challenge stored in Redis
# with the user the location authenticated (auth_basic, auth_request); the
# API's one-time links work once, then 410; unknown links 403; bad API input
# 400 with nothing stored; `nginx -t` refuses settings Apple's schema would
# refuse, naming the directive.
# Has component sections (state written to Redis directly, listed with their
# end-to-end counterparts in t/README.md).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP qw(decode_json encode_json);
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
my $topic = 'com.apple.mgmt.External.enroll-test';

# The profile signer: a leaf of the test CA without an EKU (any purpose),
# and a push certificate whose UID gives the topic.
sub leaf {
    my ($name, $subj, $ext, @key) = @_;
    my $base = "$dir/$name";
    MDM::Test::spew("$base.ext", $ext // "keyUsage=digitalSignature\n");
    @key = ('-newkey', 'rsa:2048') unless @key;
    $t->openssl('req', @key, '-nodes', '-keyout',
        "$base.key", '-out', "$base.csr", '-subj', $subj);
    $t->openssl('x509', '-req', '-in', "$base.csr", '-CA', $pki->{ca},
        '-CAkey', $pki->{ca_key}, MDM::Test::serial_args(), '-out', "$base.pem",
        '-days', '30', '-extfile', "$base.ext");
    return { cert => "$base.pem", key => "$base.key" };
}

my $signer = leaf('signer', '/CN=ngx_mdm test profile signer');
my $push = leaf('push', "/UID=$topic/CN=APSP:enroll-test",
                "extendedKeyUsage=clientAuth\n");
# an ECDSA signer: a device verifies it as well, and it signs far faster
my $ec = leaf('ec-signer', '/CN=ngx_mdm test ECDSA profile signer', undef,
              '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256');
chomp(my $hash = `openssl passwd -apr1 wonderland`);
MDM::Test::spew("$dir/htpasswd", "alice:$hash\n");

my $common = <<"EOF";
        mdm_enroll_server_url https://mdm.example.org/mdm/connect;
        mdm_enroll_checkin_url https://mdm.example.org/mdm/checkin;
        mdm_enroll_push_cert $push->{cert};
        mdm_enroll_signer $signer->{cert} $signer->{key} $pki->{ca};
        mdm_enroll_anchor $pki->{ca};
        mdm_enroll_organization "Example Org";
        mdm_enroll_identifier org.example.mdm.enroll;
EOF

$t->nginx_start(<<"EOF", port => $port);
    mdm_redis 127.0.0.1:$redis;
    server {
        listen 127.0.0.1:$auth_port;
        location / {
            if (\$http_x_sso != "let-me-in") { return 401; }
            add_header X-User "carol\@example.org";
            return 200;
        }
    }
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
$common
        location /enroll {
            auth_basic "enroll";
            auth_basic_user_file $dir/htpasswd;
            mdm_enroll;
        }
        location = /exact { mdm_enroll; }
        location /link/ {
            mdm_enroll_token required;
            mdm_enroll;
        }
        location = /sso/auth {
            internal;
            proxy_pass http://127.0.0.1:$auth_port/;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
        location /sso {
            auth_request /sso/auth;
            auth_request_set \$sso_user \$upstream_http_x_user;
            mdm_enroll_user \$sso_user;
            mdm_enroll_token off;
            mdm_enroll;
        }
        location / {
            mdm_api;
            mdm_api_key secret;
            mdm_enroll_link_url https://localhost:$port/link/;
        }
    }
    # a whole stack for mdmsim: profiles pointing at this server's SCEP CA
    # and check-in URLs, in both identity modes
    server {
        listen 127.0.0.1:$dev_port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        ssl_verify_client optional_no_ca;
        client_max_body_size 64k;
        client_body_buffer_size 64k;
        mdm_device_ca $pki->{ca};
        mdm_enroll_server_url https://localhost:$dev_port/mdm/connect;
        mdm_enroll_checkin_url https://localhost:$dev_port/mdm/checkin;
        mdm_enroll_scep_url https://localhost:$dev_port/scep;
        mdm_enroll_push_cert $push->{cert};
        mdm_enroll_signer $signer->{cert} $signer->{key} $pki->{ca};
        location = /mdm/checkin { mdm_checkin; }
        location = /mdm/connect { mdm_connect; }
        location = /scep { mdm_scep; mdm_scep_ca $pki->{ca} $pki->{ca_key}; }
        location /sign/ { mdm_enroll; }
        location /tls/ { mdm_enroll_sign_message off; mdm_enroll; }
        location /ec/ {
            mdm_enroll_signer $ec->{cert} $ec->{key} $pki->{ca};
            mdm_enroll;
        }
        location /basic/ {
            auth_basic "enroll";
            auth_basic_user_file $dir/htpasswd;
            mdm_enroll;
        }
        location / {
            mdm_api;
            mdm_api_key secret;
            mdm_enroll_link_url https://localhost:$dev_port/sign/;
        }
    }
EOF

my %api = MDM::Test::api_auth('secret');
my %alice = (Authorization => 'Basic ' . encode_base64('alice:wonderland', ''));

# The profile's content once `openssl cms -verify` has accepted it against
# the test CA alone (the signer's chain travels in the SignedData), as a
# Perl structure via Python's plistlib.
my $n = 0;
sub verified_profile {
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
def c(v):
    if isinstance(v,bytes): return {"data":len(v)}
    if isinstance(v,dict): return {k:c(x) for k,x in v.items()}
    if isinstance(v,list): return [c(x) for x in v]
    return v
print(json.dumps(c(d)))' $dir/p$n.xml`;
    return $? == 0 ? decode_json($json) : undef;
}

sub payload {
    my ($p, $type) = @_;
    my ($x) = grep { $_->{PayloadType} eq $type } @{ $p->{PayloadContent} };
    return $x;
}

sub challenge_of {
    my ($p) = @_;
    return payload($p, 'com.apple.security.scep')->{PayloadContent}{Challenge};
}

sub challenge_record {
    my ($c) = @_;
    my %h = @{ $t->redis('HGETALL', key_scep_chal($c)) // [] };
    return \%h;
}

# --- auth_basic guards the download; the user goes in ---------------------

my $r = $t->request('GET', $port, '/enroll');
is($r->{status}, 401, 'no credentials: auth_basic answers 401');
is_deeply($t->redis('KEYS', '*'), [ key_schema() ], 'and nothing is stored (but the key layout record)');

$r = $t->request('GET', $port, '/enroll', undef, headers => \%alice);
is($r->{status}, 200, 'alice gets a profile');
is($r->{headers}{'content-type'}, 'application/x-apple-aspen-config',
   'Content-Type application/x-apple-aspen-config');
is($r->{headers}{'cache-control'}, 'no-store', 'Cache-Control: no-store');
my $p1 = verified_profile($r->{body});
ok($p1, 'openssl cms -verify accepts the signed profile against the CA');
ok(!defined verified_profile('garbage' . $r->{body}),
   'and refuses a damaged one (the check can fail)');

is($p1->{PayloadType}, 'Configuration', 'top-level Configuration');
is($p1->{PayloadIdentifier}, 'org.example.mdm.enroll', 'PayloadIdentifier');
is($p1->{PayloadOrganization}, 'Example Org', 'PayloadOrganization');
like($p1->{PayloadDescription} // '', qr/alice/, 'the user is in the description');

my $mdm = payload($p1, 'com.apple.mdm');
my $scep = payload($p1, 'com.apple.security.scep');
my $root = payload($p1, 'com.apple.security.root');
ok($mdm && $scep && $root, 'MDM, SCEP and anchor payloads');
is($mdm->{IdentityCertificateUUID}, $scep->{PayloadUUID},
   'IdentityCertificateUUID = the SCEP payload UUID');
is($mdm->{Topic}, $topic, 'Topic from the push certificate UID');
is($mdm->{ServerURL}, 'https://mdm.example.org/mdm/connect', 'ServerURL');
is($mdm->{CheckInURL}, 'https://mdm.example.org/mdm/checkin', 'CheckInURL');
is($mdm->{AccessRights}, 8191, 'AccessRights default: all');
ok($mdm->{SignMessage} && $mdm->{CheckOutWhenRemoved},
   'SignMessage and CheckOutWhenRemoved default on');
is_deeply([sort @{ $mdm->{ServerCapabilities} }],
          ['com.apple.mdm.bootstraptoken',
           'com.apple.mdm.per-user-connections'],
          'ServerCapabilities: what the server implements');
my $sc = $scep->{PayloadContent};
is($sc->{URL}, 'https://mdm.example.org/scep', 'SCEP URL defaults to /scep on ServerURL');
is($sc->{Keysize}, 2048, 'Keysize 2048');
is($sc->{'Key Type'}, 'RSA', 'Key Type RSA');
like($sc->{Challenge}, qr/^[0-9a-f]{32}$/, 'a 128-bit challenge');
my %subject = map { $_->[0][0] => $_->[0][1] } @{ $sc->{Subject} };
is($subject{O}, 'Example Org', 'subject O');
like($subject{CN}, qr/^ngx_mdm [0-9A-F-]{36}$/, 'subject CN unique (UUID)');
is($subject{'0.9.2342.19200300.100.1.1'}, 'alice', 'subject UID = user');
my $ca_der = `openssl x509 -in $pki->{ca} -outform DER`;
is($root->{PayloadContent}{data}, length $ca_der,
   'the anchor payload carries the CA certificate (DER)');

my $c1 = challenge_of($p1);
my $rec = challenge_record($c1);
is($rec->{user}, 'alice', 'challenge record: user');
is($rec->{link}, '', 'challenge record: no link');
ok(exists $rec->{udid} && exists $rec->{serial}, 'challenge record: udid, serial fields');
ok(!exists $rec->{renew}, 'challenge record: no renew');
ok($rec->{expires} - $rec->{created} == 3600, 'challenge lifetime 1 h by default');
my $ttl = $t->redis('TTL', key_scep_chal($c1));
ok($ttl > 3500 && $ttl <= 3600, "challenge key expires with it (TTL $ttl)");

$r = $t->request('GET', $port, '/enroll', undef, headers => \%alice);
my $p2 = verified_profile($r->{body});
isnt(challenge_of($p2), $c1, 'a second download has another challenge');
isnt($p2->{PayloadUUID}, $p1->{PayloadUUID}, 'and fresh PayloadUUIDs');
isnt(payload($p2, 'com.apple.security.scep')->{PayloadUUID}, $scep->{PayloadUUID},
     'SCEP PayloadUUID fresh too');
is($p2->{PayloadIdentifier}, $p1->{PayloadIdentifier}, 'same PayloadIdentifier');

$r = $t->request('HEAD', $port, '/enroll', undef, headers => \%alice);
is($r->{status}, 405, 'HEAD is refused (it would spend links)');

$r = $t->request('GET', $port, '/exact');
is($r->{status}, 200, 'an exact-match location serves a profile (no path token)');

# --- auth_request: the user from the identity provider's header -----------

$r = $t->request('GET', $port, '/sso');
is($r->{status}, 401, 'auth_request refuses without the SSO header');
$r = $t->request('GET', $port, '/sso', undef, headers => { 'X-SSO' => 'let-me-in' });
is($r->{status}, 200, 'auth_request admits');
my $p3 = verified_profile($r->{body});
is(challenge_record(challenge_of($p3))->{user}, 'carol@example.org',
   'the user from auth_request_set is in the challenge record');

# --- one-time links --------------------------------------------------------

$r = $t->request('POST', $port, '/v1/enroll/tokens',
                 encode_json({ user => 'bob', tags => ['sales', 'ipad'],
                               expires_in => 600 }),
                 headers => \%api);
is($r->{status}, 201, 'POST /v1/enroll/tokens creates a link');
my $link = decode_json($r->{body});
like($link->{token}, qr/^[0-9a-f]{32}$/, 'a 128-bit token');
is($link->{url}, "https://localhost:$port/link/$link->{token}", 'its URL');
like($link->{expires}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'expiry RFC 3339');
is($link->{user}, 'bob', 'pre-assigned user');
is_deeply($link->{tags}, ['sales', 'ipad'], 'tags');

$r = $t->request('GET', $port, '/v1/enroll/tokens', undef, headers => \%api);
is($r->{status}, 200, 'list');
ok((grep { $_->{token} eq $link->{token} } @{ decode_json($r->{body})->{tokens} }),
   'lists the link');

$r = $t->request('GET', $port, "/link/");
is($r->{status}, 403, 'token required: none given is 403');

(my $path = $link->{url}) =~ s{^https://[^/]+}{};
$r = $t->request('GET', $port, $path);
is($r->{status}, 200, 'the link gives a profile');
my $p4 = verified_profile($r->{body});
$rec = challenge_record(challenge_of($p4));
is($rec->{user}, 'bob', 'the link\'s user is in the challenge record');
is($rec->{link}, $link->{token}, 'and the link itself');
like(payload($p4, 'com.apple.security.scep')->{PayloadContent}{Subject}[2][0][1] // '',
     qr/^bob$/, 'and the profile subject');

my $before = $t->redis('DBSIZE');
$r = $t->request('GET', $port, $path);
is($r->{status}, 410, 'a used link is 410');
$r = $t->request('GET', $port, "/link/?token=$link->{token}");
is($r->{status}, 410, 'also in the ?token= form');
is($t->redis('DBSIZE'), $before, 'and no challenge was written');
like($t->error_log, qr/enrollment link $link->{token} refused: used/,
     'the refusal is logged');

$r = $t->request('GET', $port, '/link/' . ('0' x 32));
is($r->{status}, 403, 'unknown link 403');
$r = $t->request('GET', $port, '/link/not-a-token');
is($r->{status}, 403, 'malformed link 403');
$r = $t->request('GET', $port, '/link/?token=%7B' . ('a' x 30) . '%7D');
is($r->{status}, 403, 'a token with braces 403');

$r = $t->request('POST', $port, '/v1/enroll/tokens', '', headers => \%api);
is($r->{status}, 201, 'a link without a body');
my $old = decode_json($r->{body});
is($old->{user}, undef, 'no user');
$t->redis('HSET', key_enroll_link($old->{token}), 'expires', time - 1);
$r = $t->request('GET', $port, "/link/$old->{token}");
is($r->{status}, 410, 'an expired link is 410');

$r = $t->request('GET', $port, "/v1/enroll/tokens/$link->{token}", undef,
                 headers => \%api);
is($r->{status}, 200, 'GET one link');
my $got = decode_json($r->{body});
ok($got->{used}, 'it says when it was used');
is($got->{user}, 'bob', 'and for whom');
is_deeply($got->{tags}, ['sales', 'ipad'], 'with its tags');

$r = $t->request('DELETE', $port, "/v1/enroll/tokens/$link->{token}", undef,
                 headers => \%api);
is($r->{status}, 204, 'DELETE');
$r = $t->request('GET', $port, "/v1/enroll/tokens/$link->{token}", undef,
                 headers => \%api);
is($r->{status}, 404, 'gone');
$r = $t->request('DELETE', $port, "/v1/enroll/tokens/$link->{token}", undef,
                 headers => \%api);
is($r->{status}, 404, 'second DELETE 404');
$r = $t->request('GET', $port, '/v1/enroll/tokens', undef, headers => \%api);
ok(!(grep { $_->{token} eq $link->{token} } @{ decode_json($r->{body})->{tokens} }),
   'no longer listed');

# --- bad API input changes nothing ------------------------------------------

$before = $t->redis('DBSIZE');
for my $bad (['{', 'not JSON'], ['[]', 'not an object'],
             ['{"user":""}', 'empty user'],
             ['{"user":"' . ('x' x 65) . '"}', 'user too long'],
             ['{"user":7}', 'user not a string'],
             ['{"tags":"a"}', 'tags not an array'],
             ['{"tags":[1]}', 'tag not a string'],
             ['{"tags":[' . join(',', ('"t"') x 33) . ']}', 'too many tags'],
             ['{"expires_in":5}', 'expiry too short'],
             ['{"expires_in":"60"}', 'expiry not an integer'],
             ['{"user":"a","user":"b"}', 'duplicate key'],
             ['{"colour":"red"}', 'unknown key']) {
    $r = $t->request('POST', $port, '/v1/enroll/tokens', $bad->[0],
                     headers => \%api);
    is($r->{status}, 400, "400: $bad->[1]");
}
$r = $t->request('POST', $port, '/v1/enroll/tokens', 'x' x 20000,
                 headers => \%api);
is($r->{status}, 413, 'a large body 413');
$r = $t->request('GET', $port, '/v1/enroll/tokens/XYZ', undef, headers => \%api);
is($r->{status}, 400, 'malformed token in the API 400');
$r = $t->request('GET', $port, '/v1/enroll/tokens?limit=0', undef, headers => \%api);
is($r->{status}, 400, 'bad limit 400');
$r = $t->request('PUT', $port, '/v1/enroll/tokens', '{}', headers => \%api);
is($r->{status}, 405, 'PUT 405');
$r = $t->request('POST', $port, '/v1/enroll/tokens', '{}');
is($r->{status}, 401, 'without the API key 401');
is($t->redis('DBSIZE'), $before, 'no bad request stored anything');

# --- mdmsim enroll --profile: profile → SCEP → Authenticate → TokenUpdate ---

sub mdmsim {
    my (@args) = @_;
    my $out = `$MDM::Test::BUILD/mdmsim @args 2>&1`;
    return ($? == 0, $out);
}

for my $case (['sign', 'SIGN', 'Mdm-Signature'], ['tls', 'TLS', 'TLS client certificate']) {
    my ($loc, $pfx, $what) = @$case;
    my ($ok, $out) = mdmsim('enroll', '--profile', "https://localhost:$dev_port/$loc/",
        '--ca-file', $pki->{ca}, '--udid-prefix', "$pfx-", '-n', 2, '-v',
        '--id-dir', "$dir/ids-$loc");
    ok($ok, "mdmsim enrolls 2 devices through the profile, identity by $what")
        or diag $out;
    like($out, qr/identity \Q@{[ $loc eq 'sign' ? 'Mdm-Signature' : 'TLS' ]}\E/,
         'the identity mode follows SignMessage');
    for my $i (0, 1) {
        my $udid = sprintf('%s-%016X', $pfx, $i);
        my %enr = @{ $t->redis('HGETALL', key_enr($udid)) // [] };
        is($enr{enabled}, 1, "$udid: Authenticate and TokenUpdate stored");
        is($enr{topic}, $topic, "$udid: with the profile's topic");
        my %iss = @{ $t->redis('HGETALL', key_ca_cert($enr{cert})) // [] };
        ok($enr{cert} && $iss{serial}, "$udid: bound to a certificate our CA issued");
    }
}

sub enrollment_api {
    my ($id) = @_;
    my $r = $t->request('GET', $dev_port, "/v1/enrollments/$id", undef,
                        headers => \%api);
    return $r->{status} == 200 ? decode_json($r->{body}) : { status => $r->{status} };
}

# Basic auth on the download: alice's name reaches the enrollment record
# at Authenticate, through the issuance record of the SCEP certificate
my ($ok, $out) = mdmsim('enroll', '--profile',
    "https://alice:wonderland\@localhost:$dev_port/basic/", '--ca-file', $pki->{ca},
    '--udid-prefix', 'BASIC-', '-n', 1);
ok($ok, 'mdmsim enrolls through the Basic-auth download') or diag $out;
my $basic = sprintf('BASIC-%016X', 0);
my $e = enrollment_api($basic);
is($e->{enroll_user}, 'alice', 'GET /v1/enrollments/<id>: enroll_user is the Basic-auth user');
ok(!exists $e->{enroll_link} && !exists $e->{enroll_tags}, 'no link, no tags');
is($t->redis('HGET', key_enr($basic), 'enroll_user'), 'alice',
   'stored in the enrollment record');
$r = $t->request('GET', $dev_port, '/v1/enrollments?limit=1000', undef, headers => \%api);
my ($listed) = grep { $_->{id} eq $basic } @{ decode_json($r->{body})->{enrollments} };
is($listed->{enroll_user}, 'alice', 'GET /v1/enrollments lists it with its user');
my ($signed) = grep { $_->{id} eq 'SIGN-0000000000000000' }
    @{ decode_json($r->{body})->{enrollments} };
ok($signed && !defined $signed->{enroll_user}, 'an enrollment without a user lists null');

($ok, $out) = mdmsim('enroll', '--profile', "https://localhost:$dev_port/ec/",
    '--ca-file', $pki->{ca}, '--udid-prefix', 'EC-', '-n', 1);
ok($ok, 'a profile signed by an ECDSA signer verifies and enrolls') or diag $out;
is($t->redis('HGET', key_enr(sprintf('EC-%016X', 0)), 'enabled'), 1, 'and the device is enrolled');

# the same device enrolls again with a certificate our CA did not issue:
# the old user does not stick to the new identity
($ok, $out) = mdmsim('enroll', '--check-in-url', "https://localhost:$dev_port/mdm/checkin",
    '--ca-file', $pki->{ca}, '--ca-cert', $pki->{ca}, '--ca-key', $pki->{ca_key},
    '--id-dir', "$dir/ids-plain", '--udid-prefix', 'BASIC-', '-n', 1,
    '--topic', $topic);
ok($ok, 'the device enrolls again with an identity from elsewhere') or diag $out;
$e = enrollment_api($basic);
ok($e->{cert} && !exists $e->{enroll_user},
   'the new Authenticate drops enroll_user (no issuance record for its certificate)')
    or diag explain $e;

# a one-time link with a user and tags: the issued certificate's record
# names them, and so does the enrollment once the device authenticated
$r = $t->request('POST', $dev_port, '/v1/enroll/tokens',
                 '{"user":"dana","tags":["sales","ipad"]}', headers => \%api);
my $dana = decode_json($r->{body});
($ok, $out) = mdmsim('enroll', '--profile', $dana->{url}, '--ca-file', $pki->{ca},
    '--udid-prefix', 'LINK-', '-n', 1);
ok($ok, 'mdmsim enrolls through a one-time link') or diag $out;
my %enr = @{ $t->redis('HGETALL', sprintf(key_enr('LINK-%016X'), 0)) // [] };
my %iss = @{ $t->redis('HGETALL', key_ca_cert($enr{cert})) // [] };
is($iss{user}, 'dana', 'the issuance record has the link\'s user');
is($iss{link}, $dana->{token}, 'and the link');
is($iss{tags}, '["sales","ipad"]', 'and its tags');
$e = enrollment_api(sprintf('LINK-%016X', 0));
is($e->{enroll_user}, 'dana', 'the enrollment API: the link\'s user');
is($e->{enroll_link}, $dana->{token}, 'the link');
is_deeply($e->{enroll_tags}, ['sales', 'ipad'], 'its tags, as a JSON array');
($ok, $out) = mdmsim('enroll', '--profile', $dana->{url}, '--ca-file', $pki->{ca},
    '--udid-prefix', 'LINK2-', '-n', 1);
ok(!$ok && $out =~ /status 410/, 'the spent link enrolls nobody else') or diag $out;

# the signature check of mdmsim can fail: another CA
($ok, $out) = mdmsim('enroll', '--profile', "https://localhost:$dev_port/sign/",
    '--ca-file', $pki->{ca}, '--profile-ca', $pki->{foreign},
    '--udid-prefix', 'FOREIGN-', '-n', 1);
ok(!$ok && $out =~ /signature not verified/, 'mdmsim refuses a profile signed under another CA')
    or diag $out;

# --- nginx -t refuses what a device would refuse -----------------------------

sub conf_with {
    my (%set) = @_;
    my %d = (
        mdm_enroll_server_url => 'https://mdm.example.org/mdm',
        mdm_enroll_topic => $topic,
        mdm_enroll_signer => "$signer->{cert} $signer->{key}",
        %set,
    );
    my $body = join '', map { defined $d{$_} ? "        $_ $d{$_};\n" : '' }
        sort keys %d;
    return "    server {\n        listen 127.0.0.1:1;\n$body"
        . "        location /e { mdm_enroll; }\n    }\n";
}

($ok, $out) = $t->nginx_test_conf(conf_with());
ok($ok, 'a minimal enrollment configuration passes nginx -t') or diag $out;

for my $case (
    [ { mdm_enroll_server_url => 'http://mdm.example.org/' },
      'mdm_enroll_server_url', 'ServerURL not https' ],
    [ { mdm_enroll_server_url => undef }, 'mdm_enroll_server_url',
      'no ServerURL' ],
    [ { mdm_enroll_checkin_url => 'mdm.example.org' }, 'mdm_enroll_checkin_url',
      'CheckInURL without scheme' ],
    [ { mdm_enroll_topic => 'com.example.push' }, 'mdm_enroll_topic',
      'topic without com.apple.mgmt.' ],
    [ { mdm_enroll_topic => undef }, 'mdm_enroll_topic', 'no topic' ],
    [ { mdm_enroll_access_rights => 2 }, 'mdm_enroll_access_rights',
      'AccessRights 2 without 1' ],
    [ { mdm_enroll_access_rights => 0 }, 'mdm_enroll_access_rights',
      'AccessRights 0' ],
    [ { mdm_enroll_access_rights => 16384 }, 'mdm_enroll_access_rights',
      'AccessRights unknown bit' ],
    [ { mdm_enroll_key_size => 1024 }, 'mdm_enroll_key_size', 'Keysize 1024' ],
    [ { mdm_enroll_scep_url => 'ftp://ca/' }, 'mdm_enroll_scep_url',
      'SCEP URL ftp' ],
    [ { mdm_enroll_identifier => '"a b"' }, 'mdm_enroll_identifier',
      'identifier with a space' ],
    [ { mdm_enroll_capabilities => 'teleport' }, 'mdm_enroll_capabilities',
      'unknown capability' ],
    [ { mdm_enroll_signer => undef }, 'mdm_enroll_signer', 'no signer' ],
    [ { mdm_enroll_signer => "$signer->{cert} $pki->{key}" },
      'mdm_enroll_signer', 'signer key not its certificate\'s' ],
    [ { mdm_enroll_anchor => $signer->{key} }, 'mdm_enroll_anchor',
      'anchor file without a certificate' ],
    [ { mdm_enroll_push_cert => $signer->{cert}, mdm_enroll_topic => undef },
      'mdm_enroll_push_cert', 'push certificate without a topic UID' ],
    [ { mdm_enroll_challenge_ttl => '10s' }, 'mdm_enroll_challenge_ttl',
      'challenge lifetime under a minute' ],
) {
    my ($set, $directive, $what) = @$case;
    ($ok, $out) = $t->nginx_test_conf(conf_with(%$set));
    ok(!$ok && $out =~ /\Q$directive\E/, "nginx -t refuses: $what ($directive)")
        or diag $out;
}

($ok, $out) = $t->nginx_test_conf(conf_with(mdm_enroll_signer => "$ec->{cert} $ec->{key}"));
ok($ok, 'an ECDSA P-256 signer passes nginx -t') or diag $out;

($ok, $out) = $t->nginx_test_conf(conf_with(mdm_enroll_signer => 'off'));
ok($ok && $out =~ /unsigned/, 'mdm_enroll_signer off passes with a warning')
    or diag $out;

is_deeply([$t->error_log_problems], [], 'no alerts or crashes');

done_testing;
