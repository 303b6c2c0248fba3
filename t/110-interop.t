#!/usr/bin/perl
# Interoperability with NanoMDM/MicroMDM tooling (issue 19) and the API's
# reading of paths and queries (issue 18 items 3 and 5): reports without a
# Content-Type, the Basic user name, thousands of IDs in a path, checked-out
# enrollments, IDs containing '/' addressed exactly, one strict query parser.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
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
my $api = $t->port('api');
my $small = $t->port('small');

$t->nginx_start(<<"EOF", port => $port);
    mdm_redis 127.0.0.1:$redis;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_server; }
        location /connect { mdm_connect; }
        location /checkin { mdm_checkin; }
    }
    server {
        listen 127.0.0.1:$api ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        large_client_header_buffers 4 1m;
        location / { mdm_api; mdm_api_key sekret; }
        location /ops/ { mdm_api; mdm_api_key sekret admin ops; }
        location /inner/ {
            mdm_api_key sekret admin;
            location /inner/default/ { mdm_api; mdm_api_key sekret; }
            location /inner/inherit/ { mdm_api; }
        }
    }
    server {
        listen 127.0.0.1:$small ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF
$t->wait_port($api, 'nginx');

my %API = MDM::Test::api_auth('sekret');
my $topic = 'com.apple.mgmt.External.interop';
my $CI = 'application/x-apple-aspen-mdm-checkin';

sub basic { (Authorization => 'Basic ' . encode_base64("$_[0]:$_[1]", '')) }

sub api {
    my ($method, $path, $body, %opt) = @_;
    my $r = $t->request($method, $opt{port} // $api, $path, $body,
                        headers => $opt{headers} // \%API);
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

sub checkin {
    my ($id, $body, $path) = @_;
    return $t->request('PUT', $port, $path // '/mdm', $body, sign => $id,
                       headers => { 'Content-Type' => $CI });
}

sub enroll {
    my ($udid) = @_;
    my $id = $t->identity($udid);
    for my $msg (plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic),
                 plist(MessageType => 'TokenUpdate', UDID => $udid, Topic => $topic,
                       Token => data(pack('H*', 'ab' x 32)), PushMagic => "magic-$udid")) {
        my $r = checkin($id, $msg);
        die "enrollment of $udid failed: $r->{status}" unless $r->{status} == 200;
    }
    return $id;
}

sub command {
    my ($uuid) = @_;
    return plist(CommandUUID => $uuid,
                 Command => MDM::Plist::subdict(RequestType => 'ProfileList'));
}

# A report with the given headers (none: no Content-Type at all).
sub report {
    my ($id, $udid, $path, $headers, %kv) = @_;
    return $t->request('PUT', $port, $path,
        plist(UDID => $udid, map { $_ => $kv{$_} } sort keys %kv), sign => $id,
        headers => $headers // {});
}

my $A = 'AAAA-INTEROP-0001';
my $ida = enroll($A);

# --- 1. reports without a Content-Type -------------------------------------

is(api('PUT', "/v1/enqueue/$A", command('R1'))->{status}, 200, 'R1 enqueued');
my $r = report($ida, $A, '/mdm', undef, Status => 'Idle');
is($r->{status}, 200, 'mdm_server: a report without Content-Type is a report');
like($r->{body}, qr/<string>R1<\/string>/, '... and is answered with the queued command');
$r = report($ida, $A, '/connect', { 'Content-Type' => 'text/plain' },
            Status => 'Acknowledged', CommandUUID => 'R1');
is($r->{status}, 200, 'mdm_connect: any Content-Type is accepted');
is($t->redis('HGET', key_r($A, "R1"), 'status'), 'Acknowledged', '... and the report is recorded');
$r = report($ida, $A, '/connect', { 'Content-Type' => $CI }, Status => 'Idle');
is($r->{status}, 200, 'mdm_connect: even the check-in type is a report there');

my $before = $t->redis_snapshot;
$r = $t->request('PUT', $port, '/mdm', 'not a plist', sign => $ida);
is($r->{status}, 400, 'mdm_server: a body without Content-Type that is no report is still 400');
$r = $t->request('PUT', $port, '/mdm', plist(UDID => $A, Status => 'Idle'));
is($r->{status}, 400, '... and an unsigned one too (never 401)');
$r = report($ida, $A, '/checkin', undef, Status => 'Idle');
is($r->{status}, 400, 'mdm_checkin still insists on the check-in Content-Type');
like($t->error_log, qr/wrong Content-Type "\(none\)" refused/, '... logged');
is($t->redis_snapshot, $before, 'refused reports changed nothing');

# --- 2. the Basic user name -------------------------------------------------

is(api('GET', '/v1/enrollments')->{status}, 200, 'user nanomdm with the key: 200');
for my $c ([ 'micromdm', 'sekret', 'a wrong user name' ], [ '', 'sekret', 'an empty user name' ],
           [ 'nanomdm', 'wrong', 'a wrong key' ]) {
    my ($user, $key, $what) = @$c;
    $r = api('GET', '/v1/enrollments', '', headers => { basic($user, $key) });
    is($r->{status}, 401, "$what: 401");
    like($r->{headers}{'www-authenticate'} // '', qr/^Basic realm=/, '... with WWW-Authenticate');
}
like($t->error_log, qr/wrong API user name "micromdm"/, 'a wrong user name is logged');
is(api('GET', '/v1/enrollments', '', headers => { basic("ev\nil x", 'sekret') })->{status}, 401,
   'a user name with a newline: 401');
like($t->error_log, qr/wrong API user name "ev%0Ail%20x"/, '... logged escaped, on one line');
is(api('GET', '/ops/v1/enrollments', '', headers => { basic('ops', 'sekret') })->{status}, 200,
   'a configured user list: ops accepted');
is(api('GET', '/ops/v1/enrollments', '', headers => { basic('admin', 'sekret') })->{status}, 200,
   '... admin accepted');
is(api('GET', '/ops/v1/enrollments', '', headers => { basic('nanomdm', 'sekret') })->{status}, 401,
   '... and it replaces the default nanomdm');
is(api('GET', '/inner/inherit/v1/enrollments', '', headers => { basic('admin', 'sekret') })->{status},
   200, 'a location without mdm_api_key inherits the key with its users');
is(api('GET', '/inner/default/v1/enrollments', '', headers => { basic('admin', 'sekret') })->{status},
   401, 'a location\'s own key without users means the default user again');
is(api('GET', '/inner/default/v1/enrollments')->{status}, 200, '... nanomdm');
is(api('GET', '/v1/nothing-here', '', headers => { basic('x', 'sekret') })->{status}, 401,
   'an unknown route asks for credentials before it says 404');
is(api('GET', '/v1/nothing-here')->{status}, 404, '... and is 404 once authorized');

my ($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { listen 127.0.0.1:1; location / { mdm_api; mdm_api_key sekret ""; } }
EOF
ok(!$ok, 'nginx -t refuses an empty user name');
like($out, qr/mdm_api_key/, '... naming the directive');

# --- 3. thousands of IDs in the path ----------------------------------------

my @many = ($A, map { sprintf '%08X-0000-4000-8000-%012X', $_, $_ } 1 .. 3000);
my $list = join ',', @many;
cmp_ok(length $list, '>', 100_000, 'the ID list is over 100 KB');
$r = api('PUT', "/v1/enqueue/$list", command('MANY'));
isnt($r->{status}, 414, 'large_client_header_buffers on the API server: no 414');
is($r->{json}{queued}, 1, '... the one enrolled target is queued');
is($r->{json}{status}{$many[3000]}{command_error}, 'unknown enrollment',
   '... the unknown ones are named');
{
    # nginx answers 414 and closes while the request line is still coming
    local $SIG{PIPE} = 'IGNORE';
    is(api('PUT', "/v1/enqueue/$list", command('MANY2'), port => $small)->{status}, 414,
       'without it nginx answers 414 (what docs/api.md tells operators to set)');
}

# --- 4. checked-out enrollments ---------------------------------------------

my $C = 'CCCC-INTEROP-0003';
my $idc = enroll($C);
is(api('PUT', "/v1/enqueue/$C", command('Q1'))->{status}, 200, 'Q1 queued before CheckOut');
is(checkin($idc, plist(MessageType => 'CheckOut', UDID => $C, Topic => $topic))->{status}, 200,
   'CheckOut answered');
ok($t->redis('HGET', key_enr($C), 'checked_out'), 'the enrollment is marked checked out');
like(api('GET', "/v1/enrollments/$C")->{json}{checked_out} // '', qr/^\d{4}-\d\d-\d\dT/,
     '... which the API shows as checked_out');

$r = api('PUT', "/v1/enqueue/$C,$A", command('Q2'));
is($r->{status}, 207, 'enqueue to a checked-out and a live target: 207');
is($r->{json}{status}{$C}{checked_out}, JSON::PP::true, '... the checked-out one is marked checked_out');
like($r->{json}{status}{$C}{command_error} // '', qr/checked out/, '... with a clear command_error');
is_deeply($t->redis('LRANGE', key_q($C), 0, -1), ['Q1'], '... nothing was queued for it');

$before = $t->redis_snapshot;
$r = report($idc, $C, '/mdm', undef, Status => 'Idle');
is($r->{status}, 400, 'a report from the checked-out enrollment: 400 (never 401)');
unlike($r->{body}, qr/Q1/, '... and the queued command is not delivered');
is($t->redis_snapshot, $before, '... nothing changed');
like($t->error_log, qr/enrollment is checked out/, '... logged');

is(checkin($idc, plist(MessageType => 'TokenUpdate', UDID => $C, Topic => $topic,
                       Token => data(pack('H*', 'cd' x 32)), PushMagic => 'm2'))->{status}, 200,
   'the device enrolls again (TokenUpdate)');
ok(!defined $t->redis('HGET', key_enr($C), 'checked_out'), '... the mark is gone');
$r = report($idc, $C, '/mdm', undef, Status => 'Idle');
like($r->{body}, qr/<string>Q1<\/string>/, '... and the command queued before CheckOut is delivered');
is(api('PUT', "/v1/enqueue/$C", command('Q3'))->{status}, 200, '... and it takes new commands');
is(checkin($idc, plist(MessageType => 'CheckOut', UDID => $C, Topic => $topic))->{status}, 200,
   'checked out again');
is(checkin($idc, plist(MessageType => 'Authenticate', UDID => $C, Topic => $topic))->{status}, 200,
   'Authenticate after CheckOut');
ok(!defined $t->redis('HGET', key_enr($C), 'checked_out'), '... clears the mark');

# --- B. IDs with '/' addressed exactly ---------------------------------------

my %ids = ('a/b' => 'a%2Fb', 'a//b' => 'a%2F%2Fb', 'a/./b' => 'a/./b', 'a/../b' => 'a/../b');
my $n = 0;
for my $udid ('a/b', 'a/../b') {
    my $id = $t->identity('slash' . $n++);
    is(checkin($id, plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic))->{status},
       200, "a device enrolls as \"$udid\"");
}
for my $udid (sort keys %ids) {
    my $enrolled = $udid eq 'a/b' || $udid eq 'a/../b';
    $r = api('GET', "/v1/enrollments/$ids{$udid}");
    if ($enrolled) {
        is($r->{status}, 200, "/v1/enrollments/$ids{$udid}: 200");
        is($r->{json}{id}, $udid, "... is \"$udid\" exactly");
    } else {
        is($r->{status}, 404, "/v1/enrollments/$ids{$udid}: 404, not an alias of a/b");
    }
}
is(api('GET', '/v1/enrollments/a/b')->{json}{id}, 'a/b', 'a literal / in the path is the ID\'s /');
$r = api('PUT', '/v1/enqueue/a%2Fb,a/../b', command('SLASHES'));
is($r->{json}{queued}, 2, 'an ID list names both exactly');
is_deeply([ map { $t->redis('LRANGE', key_q($_), 0, -1) } 'a/b', 'a/../b' ],
          [ ['SLASHES'], ['SLASHES'] ], '... and each got the command');
is(api('GET', '/ops/v1/enrollments/a%2F%2E%2E%2Fb', '', headers => { basic('ops', 'sekret') })->{json}{id},
   'a/../b', 'under a location prefix, escapes are decoded once, by the module');
# nginx itself refuses a broken escape or %00 in the request line
for my $path ('/v1/enrollments/a%zzb', '/v1/enrollments/a%2', '/v1/enrollments/a%00b') {
    is(api('GET', $path)->{status}, 400, "$path: 400");
}
$r = api('GET', '/v1/enrollments/%C3%28');
is($r->{status}, 400, 'an ID that is not UTF-8: 400');
like($r->{json}{error} // '', qr/invalid UTF-8 in path/, '... ' . ($r->{json}{error} // ''));

# --- C. one strict query parser ----------------------------------------------

$before = $t->redis_snapshot;
for my $c ([ 'PUT', "/v1/enqueue/$A?ttl=1&ttl=99999", command('T1'), qr/repeated query parameter "ttl"/ ],
           [ 'PUT', "/v1/enqueue/$A?nopush=1&nopush=1", command('T2'), qr/repeated query parameter "nopush"/ ],
           [ 'PUT', "/v1/enqueue/$A?ttl=%zz", command('T3'), qr/invalid percent-escape in query parameter "ttl"/ ],
           [ 'PUT', "/v1/enqueue/$A?bogus=1", command('T4'), qr/unknown query parameter "bogus"/ ],
           [ 'GET', '/v1/enrollments?serial=%ff', '', qr/invalid UTF-8 in query parameter "serial"/ ],
           [ 'GET', '/v1/enrollments?serial=%f', '', qr/invalid percent-escape/ ],
           [ 'GET', '/v1/pushcert?topic=a&topic=b', '', qr/repeated query parameter "topic"/ ],
           [ 'GET', '/v1/webhooks/h/dead?count=1&count=2', '', qr/repeated query parameter "count"/ ],
           [ 'POST', '/v1/webhooks/h/replay?id=%ff', '', qr/invalid UTF-8/ ],
           [ 'POST', "/v1/push/$A?x=1", '', qr/unknown query parameter "x"/ ]) {
    my ($method, $path, $body, $want) = @$c;
    $r = api($method, $path, $body);
    is($r->{status}, 400, "$method $path: 400");
    like($r->{json}{error} // '', $want, '... ' . ($r->{json}{error} // ''));
}
{
    my %was = map { $_ => 1 } split /\n/, $before;
    is_deeply([ grep { !$was{$_} } split /\n/, $t->redis_snapshot ], [],
              'no refused query changed anything');
}

$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');

done_testing();
