#!/usr/bin/perl
# The foundation: module loads into Debian's nginx, /version, /healthz,
# directive errors at nginx -t, and Redis outages answered with 503 without
# blocking, then recovered from without an nginx restart.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use MDM::Test;

my $t = MDM::Test->new;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $https = $t->port('https');

$t->nginx_start(<<"EOF", port => $https);
    mdm_redis 127.0.0.1:$redis pool=2;
    mdm_redis_timeout 500ms;
    mdm_redis_connect_timeout 300ms;
    mdm_redis_backoff_max 200ms;
    mdm_redis_error_log_interval 60s;
    server {
        listen 127.0.0.1:$https ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        location = /healthz { mdm_healthz; }
        location / { mdm_api; mdm_api_key secret; }
    }
EOF

my $r = $t->request('GET', $https, '/version');
is($r->{status}, 200, 'GET /version answers 200');
like($r->{body}, qr/^\{"version":"\d+\.\d+\.\d+"\}$/m, '/version is NanoMDM-shaped JSON');
is($r->{headers}{'content-type'}, 'application/json', '/version is JSON');

$r = $t->request('POST', $https, '/version');
is($r->{status}, 405, 'POST /version is not allowed');

$r = $t->request('GET', $https, '/healthz');
is($r->{status}, 200, '/healthz is 200 while Redis answers PING');

$r = $t->request('GET', $https, '/v1/nothing-here', '', headers => { MDM::Test::api_auth('secret') });
is($r->{status}, 404, 'unknown API path is 404');

$r = $t->request('GET', $https, '/v1/nothing-here');
is($r->{status}, 401, 'API without key is 401');
like($r->{headers}{'www-authenticate'} // '', qr/^Basic realm=/, '401 carries WWW-Authenticate');

$r = $t->request('GET', $https, '/v1/nothing-here', '', headers => { MDM::Test::api_auth('wrong') });
is($r->{status}, 401, 'API with a wrong key is 401');

# The route table: a path decides the route, then the method its handler.
# These answer before any Redis call, so they hold while Redis is up or not.
my %KEY = MDM::Test::api_auth('secret');
sub api_status { $t->request($_[0], $https, $_[1], $_[2] // '', headers => \%KEY)->{status} }
is(api_status('PUT', '/v1/certificates/abc/revoke'), 405, 'the suffix route /revoke answers only POST and DELETE');
is(api_status('POST', '/v1/certificates'), 405, 'the exact route /v1/certificates answers only GET');
is(api_status('GET', '/v1/certificatesX'), 404, 'a prefix that is not a route boundary is 404');
is(api_status('GET', '/v1/certificates/ab/cd'), 404, 'a serial with a slash is no certificate path');
is(api_status('GET', '/v1/commands/'), 405, 'GET /v1/commands/ without a UUID: only POST builds there');
is(api_status('PUT', '/v1/enqueue/'), 405, 'PUT /v1/enqueue/ without IDs: only POST with a JSON body');
is(api_status('DELETE', '/v1/enroll/devices/'), 404, 'no serial after /v1/enroll/devices/: 404');
$r = $t->request('GET', $https, '/v1/webhooks/main/other', '', headers => \%KEY);
is($r->{status}, 404, 'neither /dead nor /replay: 404');
like($r->{body}, qr{expected /dead or /replay}, '... saying what is expected');
$r = $t->request('GET', $https, '/v1/webhooks/bad%20name/dead', '', headers => \%KEY);
like($r->{body}, qr{name of \[A-Za-z0-9._-\]}, 'a bad webhook name says which names are');
is(api_status('GET', '/v1/enrollments/%zz'), 400, 'a bad escape in the path is 400, before the handler');

# Redis goes away while requests flow.
$t->kill9('redis');
my @status;
my $slowest = 0;
for (1 .. 20) {
    my $t0 = time;
    push @status, $t->request('GET', $https, '/healthz')->{status};
    $slowest = $slowest > time - $t0 ? $slowest : time - $t0;
}
is_deeply([ grep { $_ != 503 } @status ], [], 'every /healthz is 503 while Redis is down');
cmp_ok($slowest, '<', MDM::Test::timeout(5), 'no request hangs while Redis is down');

my $errors = () = $t->error_log =~ /mdm redis .*(?:connect failed|connection lost|unavailable)/g;
cmp_ok($errors, '<=', 3, "Redis errors are logged once per interval, not per request ($errors lines)");

# Redis comes back on the same port: nginx recovers by itself.
$t->redis_start;
ok($t->wait_for(sub { $t->request('GET', $https, '/healthz')->{status} == 200 }, 10),
   '/healthz is 200 again after Redis restarts, without an nginx restart');
like($t->error_log, qr/mdm redis (?:cluster: cluster node )?127\.0\.0\.1:\d+: connected/, 'reconnect is logged');

# A stalled Redis (SIGSTOP: it holds the connection and answers nothing until
# SIGCONT) is answered after mdm_redis_timeout. The stall lasts until the
# answer is in, so an answer at all proves that nginx did not wait for Redis.
kill 'STOP', $t->pid('redis');
$r = eval {
    local $SIG{ALRM} = sub { die "no answer while Redis is stalled\n" };
    alarm MDM::Test::timeout(30);
    my $got = $t->request('GET', $https, '/healthz');
    alarm 0;
    $got;
} // { status => 0 };
kill 'CONT', $t->pid('redis');
is($r->{status}, 503, 'stalled Redis gives 503 while it is still stalled');
ok($t->wait_for(sub { $t->request('GET', $https, '/healthz')->{status} == 200 }, 10),
   'service resumes after the stall');

# nginx -t names the directive that is wrong.
# host names are resolved by nginx -t itself, at configuration time
my ($ok, $out) = $t->nginx_test_conf('mdm_redis no-such-host.invalid:6379;');
ok(!$ok, 'a host name that does not resolve is refused');
like($out, qr/"mdm_redis" address "no-such-host.invalid:6379" host not found/, 'error names mdm_redis and the host');
($ok, $out) = $t->nginx_test_conf('mdm_redis localhost:6379;');
ok($ok, 'a host name that resolves is accepted') or diag($out);
($ok, $out) = $t->nginx_test_conf('mdm_redis [::1]:6379;');
ok($ok, 'an IPv6 literal is accepted') or diag($out);
($ok, $out) = $t->nginx_test_conf('mdm_redis 127.0.0.1;');
ok(!$ok, 'an address without a port is refused');
like($out, qr/"mdm_redis" address "127.0.0.1" needs a port/, 'error says the port is missing');

($ok, $out) = $t->nginx_test_conf('server { location / { mdm_api; } }');
ok(!$ok, 'mdm_api without a key is refused');
like($out, qr/"mdm_api" requires "mdm_api_key"/, 'error names mdm_api_key');

($ok, $out) = $t->nginx_test_conf('server { location / { mdm_identity tls carrier-pigeon; mdm_checkin; } }');
ok(!$ok, 'unknown identity source is refused');
like($out, qr/invalid "mdm_identity" source "carrier-pigeon"/, 'error names mdm_identity');

($ok, $out) = $t->nginx_test_conf('mdm_redis 127.0.0.1:6379 pool=0;');
ok(!$ok, 'pool=0 is refused');
like($out, qr/"mdm_redis" pool must be 1\.\.64/, 'error names the pool size');

$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');

done_testing();
