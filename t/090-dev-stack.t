#!/usr/bin/perl
# `make run` / `make stop`: tools/dev-stack.sh starts redis-server, nginx
# with the module, apns-mock, vpp-mock and mdm-worker, writes dev.env,
# refuses to start twice, and stop leaves no process behind.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MIME::Base64 ();
use JSON::PP ();
use MDM::Test;
use MDM::Keys;

my $t = MDM::Test->new;
my %env = (
    MDM_VAR => $t->dir . '/var',
    MDM_PORT => $t->port('mdm'), API_PORT => $t->port('api'),
    REDIS_PORT => $t->port('redis'), APNS_PORT => $t->port('apns'),
    VPP_PORT => $t->port('vpp'),
    DEP_PORT => $t->port('dep'),
);
local @ENV{keys %env} = values %env;

# Whatever happens below, nothing the stack started outlives the test.
END {
    system("MDM_VAR='$env{MDM_VAR}' tools/dev-stack.sh stop >/dev/null 2>&1")
        if $env{MDM_VAR};
}

my $out = `tools/dev-stack.sh start $MDM::Test::BUILD 2>&1`;
is($?, 0, 'dev stack starts') or diag $out;
like($out, qr/dev stack is running/, 'start says it is running');

my %dev = map { /^(\w+)=(.*)$/ ? ($1, $2) : () } split /\n/, MDM::Test::slurp("$env{MDM_VAR}/dev.env");
for my $k (qw(MDM_URL API_URL API_KEY DEVICE_CA_CERT DEVICE_CA_KEY REDIS_URL
              ENROLL_URL ENROLL_AUTH_URL SCEP_URL)) {
    ok(length($dev{$k} // ''), "dev.env has $k");
}
like($dev{MDM_URL}, qr{^https://}, 'MDM_URL is https');
ok(-r $dev{DEVICE_CA_KEY}, 'the device CA key is there to mint test identities');

# The server certificate is issued by the same dev CA.
$t->{pki} = { ca => $dev{DEVICE_CA_CERT} };
my $r = $t->request('GET', $env{API_PORT}, '/version');
is($r->{status}, 200, 'API_URL/version answers');
is($t->request('GET', $env{API_PORT}, '/healthz')->{status}, 200, 'healthz is 200: Redis is up');

# ENROLL_URL is a one-time enrollment link: a signed profile once, then 410.
like($dev{ENROLL_URL} // '', qr{^https://localhost:$env{MDM_PORT}/enroll/link/[0-9a-f]{32}$},
     'ENROLL_URL is a one-time link');
like($dev{SCEP_URL} // '', qr{^https://localhost:$env{MDM_PORT}/scep$}, 'SCEP_URL');
$r = $t->request('GET', $env{MDM_PORT}, '/scep?operation=GetCACaps');
is($r->{status}, 200, 'SCEP_URL answers GetCACaps');
# ACME_URL: an attested identity from the dev attestation authority
like($dev{ACME_URL} // '', qr{^https://localhost:$env{MDM_PORT}/acme/directory$}, 'ACME_URL');
ok(-r "$dev{ATTEST_AUTHORITY}/root.pem", 'ATTEST_AUTHORITY holds the dev attestation root');
my $py = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';
my $acme = `$py tools/attest-mock/acme-device --directory $dev{ACME_URL} --ca-file $dev{DEVICE_CA_CERT} --authority $dev{ATTEST_AUTHORITY} --serial DEVSTACK0001 2>&1`;
like($acme, qr/"ok": true/, 'a device gets an attested identity through ACME_URL (python3-acme, device-attest-01)')
    or diag $acme;
# The whole path on the dev stack: ENROLL_URL (a one-time link) → signed
# profile → SCEP at SCEP_URL → Authenticate + TokenUpdate → a command.
my $ids = $t->dir . '/ids-e2e';
my @e2e = ('--ca-file', $dev{DEVICE_CA_CERT}, '--id-dir', $ids, '--udid-prefix', 'E2E-', '-n', 1);
my $e2e_out = `$MDM::Test::BUILD/mdmsim enroll --profile $dev{ENROLL_URL} @e2e -v 2>&1`;
is($?, 0, 'a simulated device enrolls through ENROLL_URL: profile, SCEP, check-ins') or diag $e2e_out;
(my $link_path = $dev{ENROLL_URL}) =~ s{^https://[^/]+}{};
is($t->request('GET', $env{MDM_PORT}, $link_path)->{status}, 410,
   'and the link works only once');
$t->{ports}{redis} = $env{REDIS_PORT};
my $e2e = sprintf('E2E-%016X', 0);
is($t->redis('HGET', key_enr($e2e), 'enabled'), 1, 'the enrollment is stored and enabled');
my $e2e_cert = $t->redis('HGET', key_enr($e2e), 'cert');
is($t->redis('HGET', key_ca_cert($e2e_cert), 'user'), 'dev',
   'bound to the certificate SCEP issued for the link\'s user');
my $e2e_cmd = MDM::Plist::plist(CommandUUID => 'DEV-E2E-1',
    Command => MDM::Plist::subdict(RequestType => 'DeviceInformation', Queries => ['UDID']));
$r = $t->request('PUT', $env{API_PORT}, "/v1/enqueue/$e2e", $e2e_cmd,
                 headers => { MDM::Test::api_auth($dev{API_KEY}) });
is($r->{status}, 200, 'a command for it is enqueued');
$e2e_out = `$MDM::Test::BUILD/mdmsim session @e2e --ca-cert $dev{DEVICE_CA_CERT} --ca-key $dev{DEVICE_CA_KEY} --check-in-url $dev{CHECKIN_URL} --server-url $dev{SERVER_URL} --topic $dev{PUSH_TOPIC} --mode sign 2>&1`;
is($?, 0, 'its session runs with the SCEP identity') or diag $e2e_out;
is($t->redis('HGET', key_r($e2e, "DEV-E2E-1"), 'status'), 'Acknowledged',
   '... and the command is Acknowledged');
$t->redis_close;

# ENROLL_AUTH_URL: the Basic-auth page, signed by the dev profile signer
my ($cred, $auth_path) = $dev{ENROLL_AUTH_URL} =~ m{^https://([^@]+)@[^/]+(/.*)$};
$r = $t->request('GET', $env{MDM_PORT}, $auth_path, undef,
    headers => { Authorization => 'Basic ' . MIME::Base64::encode_base64($cred, '') });
is($r->{status}, 200, 'ENROLL_AUTH_URL gives a profile with its credentials');
MDM::Test::spew($t->dir . '/dev.mobileconfig', $r->{body});
is(system("openssl cms -verify -binary -inform DER -in " . $t->dir
          . "/dev.mobileconfig -CAfile $dev{DEVICE_CA_CERT} -out /dev/null"
          . " 2>/dev/null"), 0, 'its signature verifies against the dev CA');
is($t->request('GET', $env{MDM_PORT}, $auth_path)->{status}, 401,
   'and not without them');

# Anyone can enroll a test device at MDM_URL, in both identity modes.
sub mdmsim {
    my ($verb, $mode) = @_;
    my @sim = ("$MDM::Test::BUILD/mdmsim", $verb, '--check-in-url', $dev{MDM_URL},
               '--server-url', $dev{MDM_URL}, '--ca-file', $dev{DEVICE_CA_CERT},
               '--ca-cert', $dev{DEVICE_CA_CERT}, '--ca-key', $dev{DEVICE_CA_KEY},
               '--id-dir', $t->dir . '/ids', '-n', 1, '--udid-prefix', "DEV-$mode-",
               '--topic', $dev{PUSH_TOPIC}, '--mode', $mode);
    my $out = `@sim 2>&1`;
    return ($? == 0, $out);
}
for my $mode (qw(tls sign)) {
    my ($ok, $sim) = mdmsim('enroll', $mode);
    ok($ok, "a simulated device enrolls at MDM_URL with --mode $mode") or diag $sim;
}
$t->{ports}{redis} = $env{REDIS_PORT};
is($t->redis('ZCARD', key_enrollments()), 3, 'both enrollments are stored (and the one by link)');

# One command cycle: enqueue through API_URL, the device's session runs it.
my $udid = (grep { /^DEV-sign-/ } @{ $t->redis('ZRANGE', key_enrollments(), 0, -1) })[0];
my $cmd = MDM::Plist::plist(CommandUUID => 'DEV-STACK-1',
    Command => MDM::Plist::subdict(RequestType => 'DeviceInformation', Queries => ['SerialNumber']));
$r = $t->request('PUT', $env{API_PORT}, "/v1/enqueue/$udid", $cmd,
                 headers => { MDM::Test::api_auth($dev{API_KEY}) });
is($r->{status}, 200, 'a command is enqueued through API_URL');
my ($ok, $sim) = mdmsim('session', 'sign');
ok($ok, 'the simulated device runs its session') or diag $sim;
is($t->redis('HGET', key_r($udid, "DEV-STACK-1"), 'status'), 'Acknowledged',
   '... and the command is Acknowledged');
like($t->redis('HGET', key_r($udid, "DEV-STACK-1"), 'result'), qr/QueryResponses/,
     '... with the device information it sent');
ok($t->wait_for(sub { -s "$env{MDM_VAR}/log/apns-mock.log" }, 10),
   'mdm-worker pushed the enqueue to the APNs mock');

# Declarative management: the dev stack's set "default", assigned through
# API_URL, reaches the device in its next session, which reports status.
my %KD = (Authorization => 'Basic ' . MIME::Base64::encode_base64("kmfddm:$dev{API_KEY}", ''));
$r = $t->request('PUT', $env{API_PORT}, "/v1/enrollment-sets/$udid?set=default", '',
                 headers => \%KD);
is($r->{status}, 204, 'the dev catalogue\'s set "default" is assigned through API_URL');
($ok, $sim) = mdmsim('session', 'sign');
ok($ok, 'the device syncs it in its next session') or diag $sim;
$r = $t->request('GET', $env{API_PORT}, "/v1/declaration-status/$udid", '', headers => \%KD);
my %ddm = map { $_->{identifier} => $_ } @{ (eval { JSON::PP::decode_json($r->{body}) } // {})->{$udid} // [] };
is_deeply([sort keys %ddm], [qw(dev-activation dev-passcode dev-properties)],
          '... and reports the status of its three declarations');
ok($ddm{'dev-activation'} && $ddm{'dev-activation'}{active}, '... the activation active');
$t->redis_close;

# Apps and Books: vpp-mock's seeded location, its token uploaded through
# the API, checked and synced by the worker (docs/vpp.md)
like($dev{VPP_MOCK_URL} // '', qr{^http://127\.0\.0\.1:$env{VPP_PORT}$}, 'dev.env has VPP_MOCK_URL');
ok(-s ($dev{VPP_TOKEN_FILE} // ''), 'and the seeded location\'s .vpptoken');
my $vtok;
ok($t->wait_for(sub {
        $vtok = eval { JSON::PP::decode_json($t->request('GET', $env{API_PORT}, '/v1/vpp/tokens/dev',
                undef, headers => { MDM::Test::api_auth($dev{API_KEY}) })->{body}) } // {};
        ($vtok->{status} // '') eq 'ok' && ($vtok->{assets} // 0) == 3 }, 20),
   'the worker checked the dev token with vpp-mock and synced its three assets')
    or diag explain $vtok;

# Device Assignment: dep-mock's seeded organisation, synced by the worker
# with the token dep-mock issued to the dev key (docs/dep.md)
like($dev{DEP_MOCK_URL} // '', qr{^http://127\.0\.0\.1:$env{DEP_PORT}$}, 'dev.env has DEP_MOCK_URL');
$t->{ports}{redis} = $env{REDIS_PORT};
my $dep_cursor = key_dep_cursor($dev{DEP_NAME} // 'dev');
ok($t->wait_for(sub {
        my %c = @{ $t->redis('HGETALL', $dep_cursor) || [] };
        ($c{phase} // '') eq 'sync' && ($c{devices} // 0) == 100 }, 30),
   'the worker fetched dep-mock\'s 100 seeded devices and syncs');
$t->redis_close;

$out = `tools/dev-stack.sh start $MDM::Test::BUILD 2>&1`;
like($out, qr/already running/, 'a second start says so instead of starting twice');

my @pids = map { MDM::Test::slurp($_) + 0 } glob("$env{MDM_VAR}/run/*.pid");
is(scalar @pids, 6, 'six processes started (redis, nginx, apns-mock, vpp-mock, dep-mock, mdm-worker)');

$out = `tools/dev-stack.sh stop 2>&1`;
is($?, 0, 'stop succeeds');
ok(!kill(0, $_), "process $_ is gone after stop") for @pids;
is(scalar glob("$env{MDM_VAR}/run/*.pid"), undef, 'no pid file left');

done_testing();
