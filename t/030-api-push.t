#!/usr/bin/perl
# Push API (NanoMDM-compatible): PUT/GET /v1/pushcert stores and shows APNs
# push certificates, refusing every bad body without touching Redis;
# GET/POST /v1/push/<ids> queues one push job per pushable enrollment and
# reports every ID in NanoMDM's APIResult shape; mdm-worker delivers the job
# with the uploaded certificate.
# Has component sections (state written to Redis directly, listed with their
# end-to-end counterparts in t/README.md).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP qw(decode_json);
use Time::Local qw(timegm);
use MDM::Test;
use MDM::Keys;

*plist = \&MDM::Plist::plist;
*data = \&MDM::Plist::data;

my $t = MDM::Test->new;
my $dir = $t->dir;
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
        client_max_body_size 1m;
        client_body_buffer_size 16k;

        location /checkin { mdm_topic_check on; mdm_checkin; }
        location / { mdm_api; mdm_api_key secret; }
    }
EOF

my $topic = 'com.apple.mgmt.External.test';

# A push certificate made by the openssl CLI, as Apple's would look (subject
# UID = topic), issued by the test CA so that apns-mock accepts it.
sub push_cert {
    my ($name, %opt) = @_;
    my $base = "$dir/push-$name";
    my $subj = $opt{subj} // "/UID=$topic/CN=APSP:$name";
    $t->openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout',
        "$base.key", '-out', "$base.csr", '-subj', $subj);
    $t->openssl('x509', '-req', '-in', "$base.csr", '-CA', $pki->{ca},
        '-CAkey', $pki->{ca_key}, MDM::Test::serial_args(), '-out', "$base.pem",
        '-days', '30');
    my $end = `openssl x509 -in $base.pem -noout -enddate -dateopt iso_8601`;
    $end =~ /notAfter=(\S+) (\S+)/ or die "no notAfter in $end";
    return { cert => MDM::Test::slurp("$base.pem"),
             key => MDM::Test::slurp("$base.key"),
             not_after => "$1T$2", base => $base };
}

# Expired: openssl ca is the CLI that takes an end date in the past.
sub expired_cert {
    my $d = "$dir/ca-expired";
    mkdir $d;
    MDM::Test::spew("$d/index.txt", '');
    MDM::Test::spew("$d/serial", "01\n");
    MDM::Test::spew("$d/ca.cnf", "[ca]\ndefault_ca = d\n[d]\n"
        . "database = $d/index.txt\nnew_certs_dir = $d\nserial = $d/serial\n"
        . "default_md = sha256\npolicy = p\n[p]\n");
    $t->openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', "$d/e.key",
        '-out', "$d/e.csr", '-subj', "/UID=$topic/CN=APSP:expired");
    $t->openssl('ca', '-batch', '-config', "$d/ca.cnf", '-selfsign',
        '-keyfile', "$d/e.key", '-in', "$d/e.csr", '-out', "$d/e.pem",
        '-startdate', '20240101000000Z', '-enddate', '20240201000000Z',
        '-preserveDN', '-notext');
    return { cert => MDM::Test::slurp("$d/e.pem"),
             key => MDM::Test::slurp("$d/e.key") };
}

sub rfc3339_to_unix {
    my ($y, $mo, $d, $h, $mi, $s) = $_[0] =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z$/
        or return -1;
    return timegm($s, $mi, $h, $d, $mo - 1, $y);
}

my %auth = MDM::Test::api_auth('secret');

sub api {
    my ($method, $path, $body, %opt) = @_;
    return $t->request($method, $port, $path, $body,
                       headers => $opt{noauth} ? {} : { %auth });
}

sub json_of {
    my ($r) = @_;
    return eval { decode_json($r->{body}) } // { unparsable => $r->{body} };
}

sub pushcert { $t->redis('HGET', key_pushcert($topic), $_[0]) }

my %cert = (
    first  => push_cert('first'),
    second => push_cert('second'),
    wrong  => push_cert('wrong', subj => '/UID=com.example.not-mdm/CN=APSP:wrong'),
    no_uid => push_cert('no-uid', subj => '/CN=APSP:no-uid'),
);

# --- certificate upload ----------------------------------------------------

my $r = api('GET', "/v1/pushcert?topic=$topic");
is($r->{status}, 404, 'GET /v1/pushcert of an unknown topic is 404');
is_deeply(json_of($r), { error => 'no push certificate for topic' },
          '... with NanoMDM-style error JSON');

my $CT = 'application/x-apple-aspen-mdm-checkin';
my $udid = 'PUSH-TEST-DEVICE-0001';
my $dev = $t->identity($udid);
my $authenticate = plist(MessageType => 'Authenticate', UDID => $udid,
                         Topic => $topic, SerialNumber => 'C02PUSH0001',
                         Model => 'iPhone14,2', DeviceName => 'pusher');

sub checkin {
    my ($body, $id) = @_;
    return $t->request('PUT', $port, '/checkin', $body,
                       headers => { 'Content-Type' => $CT }, sign => $id);
}

is(checkin($authenticate, $dev)->{status}, 400,
   'a device of the topic cannot enroll before its push certificate is uploaded');

my $t0 = time;
$r = api('PUT', '/v1/pushcert', $cert{first}{cert} . $cert{first}{key});
is($r->{status}, 200, 'PUT /v1/pushcert with certificate + key PEM is 200');
is($r->{headers}{'content-type'}, 'application/json', '... answered as JSON');
is_deeply(json_of($r), { topic => $topic, not_after => $cert{first}{not_after} },
          '... naming the topic (subject UID) and not_after in RFC 3339');
is(pushcert('cert'), $cert{first}{cert}, 'certificate stored as PEM');
like(pushcert('key'), qr/^-----BEGIN PRIVATE KEY-----\n/, 'key stored as unencrypted PKCS#8 PEM');
is(pushcert('not_after'), rfc3339_to_unix($cert{first}{not_after}), 'not_after stored in unix seconds');
my $updated = pushcert('updated');
ok($updated >= $t0 && $updated <= time + 1, 'updated is the upload time in unix seconds');
like($t->error_log, qr/\[notice\].*push certificate for "$topic" stored/, 'upload logged');

$r = api('GET', "/v1/pushcert?topic=$topic");
is($r->{status}, 200, 'GET /v1/pushcert?topic= is 200');
is_deeply(json_of($r), { topic => $topic, not_after => $cert{first}{not_after} },
          '... with the same JSON as the upload');

my $escaped = $topic =~ s/\./%2E/gr;
is(json_of(api('GET', "/v1/pushcert?topic=$escaped"))->{topic}, $topic,
   'the topic argument is URL-decoded');

$r = api('PUT', '/v1/pushcert', $cert{second}{key} . "\n" . $cert{second}{cert});
is($r->{status}, 200, 'replacing the certificate (key first this time) is 200');
is(pushcert('cert'), $cert{second}{cert}, 'the new certificate replaces the old one');
cmp_ok(pushcert('updated'), '>', $updated,
       'updated moves forward, even within the same second, so workers reload');

# --- refused uploads -------------------------------------------------------

$r = api('GET', '/v1/pushcert');
is($r->{status}, 400, 'GET /v1/pushcert without topic is 400');
is(json_of($r)->{error}, 'topic argument is required', '... and says why');
$r = api('GET', '/v1/pushcert?topic=com.apple.mgmt.%7Bx%7D');
is($r->{status}, 400, 'GET with a topic that cannot name a key is 400');
is(api('DELETE', '/v1/pushcert')->{status}, 405, 'DELETE /v1/pushcert is 405');

(my $encrypted = "$cert{first}{base}.enc.key");
$t->openssl('pkcs8', '-topk8', '-in', "$cert{first}{base}.key", '-out', $encrypted,
            '-passout', 'pass:secret');
my $enc_key = MDM::Test::slurp($encrypted);
like($enc_key, qr/ENCRYPTED PRIVATE KEY/, 'made an encrypted key');
my $expired = expired_cert();

my $before = $t->redis_snapshot;

my @bad = (
    [ 'garbage', "this is not PEM \x00\x01\x02", 400, qr/^no PEM certificate in body$/ ],
    [ 'an empty body', '', 400, qr/^no PEM certificate in body$/ ],
    [ 'a certificate without its key', $cert{first}{cert}, 400, qr/^no PEM private key in body$/ ],
    [ 'a key without a certificate', $cert{first}{key}, 400, qr/^no PEM certificate in body$/ ],
    [ "another certificate's key", $cert{first}{cert} . $cert{second}{key}, 400,
      qr/^private key does not match the certificate$/ ],
    [ 'an encrypted key', $cert{first}{cert} . $enc_key, 400, qr/^private key is encrypted/ ],
    [ 'a UID that is not an MDM topic', $cert{wrong}{cert} . $cert{wrong}{key}, 400,
      qr/^topic must start with "com\.apple\.mgmt\."$/ ],
    [ 'a certificate without UID', $cert{no_uid}{cert} . $cert{no_uid}{key}, 400,
      qr/^certificate subject has no UID \(topic\)$/ ],
    [ 'an expired certificate', $expired->{cert} . $expired->{key}, 400,
      qr/^push certificate expired at 2024-02-01T00:00:00Z$/ ],
    [ 'a truncated certificate', substr($cert{first}{cert}, 0, 300) . $cert{first}{key}, 400,
      qr/^malformed PEM block$/ ],
    [ 'a body larger than client_body_buffer_size',
      $cert{first}{cert} . $cert{first}{key} . ('#' x 20000), 413,
      qr/^body larger than client_body_buffer_size$/ ],
);

for my $case (@bad) {
    my ($what, $body, $status, $error) = @$case;
    $r = api('PUT', '/v1/pushcert', $body);
    is($r->{status}, $status, "upload of $what is refused with $status");
    like(json_of($r)->{error} // '', $error, '... and the JSON error says why');
}

my $log = $t->error_log;
for my $reason ('no PEM private key in body', 'private key is encrypted',
                'push certificate expired at') {
    like($log, qr{\[info\].*mdm api: PUT /v1/pushcert refused: \Q$reason\E},
         "refusal logged at info: $reason");
}

$r = api('PUT', '/v1/pushcert', $cert{first}{cert} . $cert{first}{key}, noauth => 1);
is($r->{status}, 401, 'PUT /v1/pushcert without the API key is 401');
is(api('GET', "/v1/pushcert?topic=$topic", '', noauth => 1)->{status}, 401,
   'GET /v1/pushcert without the API key is 401');

is($t->redis_snapshot, $before, 'refused uploads changed nothing in Redis');

# --- pushes ----------------------------------------------------------------

is(checkin($authenticate, $dev)->{status}, 200, 'Authenticate through the check-in endpoint');
is(checkin(plist(MessageType => 'TokenUpdate', UDID => $udid, Topic => $topic,
                 Token => data("\x11" x 32), PushMagic => 'PUSH-MAGIC'), $dev)->{status},
   200, 'TokenUpdate enables the device');

$r = api('POST', "/v1/push/$udid");
is($r->{status}, 200, 'POST /v1/push/<id> of an enabled device is 200');
is_deeply(json_of($r), { status => { $udid => { push_result => 'queued' } } },
          '... NanoMDM APIResult with push_result "queued"');

my $jobs = $t->redis('XRANGE', key_push(), '-', '+');
is(scalar @$jobs, 1, 'one push job in mdm:push');
is_deeply($jobs->[0][1], [ id => $udid ], '... naming the enrollment ID');

$r = api('GET', "/v1/push/$udid,$udid");
is($r->{status}, 200, 'GET /v1/push/<id> works too');
is($t->redis('XLEN', key_push()), 2, 'an ID named twice is pushed once');

# a device that authenticated but never sent TokenUpdate
my $idle = 'PUSH-TEST-DEVICE-0002';
my $dev2 = $t->identity($idle);
is(checkin($authenticate =~ s/0001/0002/r, $dev2)->{status}, 200,
   'second device authenticates only');

# no check-in leaves an enabled enrollment without a token; make one
$t->redis('HSET', key_enr('NO-TOKEN-0003'), type => 'Device', enabled => 1,
          topic => $topic);
$t->redis('HSET', key_enr('DEAD-TOKEN-0004'), type => 'Device', enabled => 1,
          topic => $topic, token => "\x22" x 32, push_dead => time);

$r = api('POST', "/v1/push/$udid,unknown-device,$idle,NO-TOKEN-0003,DEAD-TOKEN-0004");
is($r->{status}, 207, 'some IDs not pushable: 207 Multi-Status');
is_deeply(json_of($r), { status => {
    $udid => { push_result => 'queued' },
    'unknown-device' => { push_error => 'unknown enrollment' },
    $idle => { push_error => 'enrollment is not enabled' },
    'NO-TOKEN-0003' => { push_error => 'enrollment has no push token' },
    'DEAD-TOKEN-0004' => { push_error => 'push token was rejected by APNs' },
} }, '... every ID reported: queued or why not');
is($t->redis('XLEN', key_push()), 3, 'only the pushable ID got a job');
like($t->error_log, qr/\[info\].*push: 4 of 5 not queued, first "unknown-device": unknown enrollment/,
     'partial failure logged at info');

$r = api('POST', "/v1/push/unknown-device,$idle");
is($r->{status}, 500, 'no ID pushable: 500, as NanoMDM answers');
is_deeply(json_of($r), { status => {
    'unknown-device' => { push_error => 'unknown enrollment' },
    $idle => { push_error => 'enrollment is not enabled' },
} }, '... still reporting every ID');

$before = $t->redis_snapshot;

for my $case ([ '/v1/push/', 'no enrollment IDs' ],
              [ '/v1/push/a,,b', 'must not be empty' ],
              [ '/v1/push/bad%7Bid', 'forbidden character 0x7B' ],
              [ '/v1/push/%FF%FE', 'invalid UTF-8 in path' ]) {
    my ($path, $error) = @$case;
    $r = api('POST', $path);
    is($r->{status}, 400, "$path is 400");
    like(json_of($r)->{error} // '', qr/\Q$error\E/, "... error: $error");
}
like($t->error_log, qr{\[info\].*mdm api: POST /v1/push/bad%7Bid refused: .*0x7B},
     'bad ID list logged at info');

is(api('PUT', "/v1/push/$udid")->{status}, 405, 'PUT /v1/push is 405');
is(api('POST', "/v1/push/$udid", '', noauth => 1)->{status}, 401,
   'push without the API key is 401');
is($t->redis_snapshot, $before, 'refused pushes changed nothing in Redis');

# --- delivery --------------------------------------------------------------

my $worker_bin = "$MDM::Test::BUILD/mdm-worker";
my $mock_bin = "$MDM::Test::BUILD/apns-mock";

SKIP: {
    skip 'mdm-worker or apns-mock not built', 3
        unless -x $worker_bin && -x $mock_bin;

    my $mock_log = "$dir/mock.log";
    $t->spawn('mock', {}, $mock_bin, '--port', 0, '--cert', $pki->{cert},
        '--key', $pki->{key}, '--ca', $pki->{ca}, '--log', $mock_log);
    my $mock_port = $t->wait_for(sub {
        -e "$dir/mock.out"
            && MDM::Test::slurp("$dir/mock.out") =~ /^port=(\d+)$/m ? $1 : undef
    });
    ok($mock_port, 'apns-mock started');

    MDM::Test::spew("$dir/mdm-worker.conf", "redis = 127.0.0.1:$redis\n"
        . "log_level = debug\n");
    $t->spawn('worker', {}, $worker_bin, '-c', "$dir/mdm-worker.conf",
        '--apns-url', "https://127.0.0.1:$mock_port", '--apns-ca', $pki->{ca},
        '--name', 'w1');

    is(api('POST', "/v1/push/$udid")->{status}, 200, 'push queued with a worker running');

    my $token = unpack 'H*', "\x11" x 32;
    ok($t->wait_for(sub {
        -e $mock_log && MDM::Test::slurp($mock_log) =~ /^\S+ 200 \Q$topic\E $token /m
    }, 15), 'mdm-worker delivered it to APNs with the uploaded certificate')
        or diag(MDM::Test::slurp("$dir/worker.out"));
}

$t->stop('worker');
$t->stop('mock');
$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');

done_testing();
