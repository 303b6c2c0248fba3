#!/usr/bin/perl
# The inspection API: enrollments (one, and filtered pages), queues (list and
# clear), a command's state per target (with raw results and decoded
# ErrorChains), and cancel. Devices enroll and report through the real
# check-in and connect endpoints; commands go in through the enqueue API.
# Has component sections (state written to Redis directly, listed with their
# end-to-end counterparts in t/README.md).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
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
    mdm_result_retention 3600;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        client_max_body_size 1m;
        client_body_buffer_size 1m;
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_server; }
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF

my %API = MDM::Test::api_auth('sekret');
my $RFC3339 = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
my $topic = 'com.apple.mgmt.External.inspect';

sub checkin {
    my ($id, $body) = @_;
    my $r = $t->request('PUT', $port, '/mdm', $body, sign => $id,
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' });
    die "check-in failed: $r->{status}" unless $r->{status} == 200;
}

sub device {
    my ($udid, %facts) = @_;
    my $id = $t->identity($udid);
    checkin($id, plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic, %facts));
    checkin($id, plist(MessageType => 'TokenUpdate', UDID => $udid, Topic => $topic,
                       Token => data(pack('H*', '0a1b' x 16)), PushMagic => "magic-$udid"));
    return $id;
}

sub connect_raw {
    my ($id, $body) = @_;
    return $t->request('PUT', $port, '/mdm', $body, sign => $id,
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm; charset=UTF-8' });
}

sub report {
    my ($id, $udid, @kv) = @_;
    return connect_raw($id, plist(UDID => $udid, @kv));
}

sub command {
    my ($uuid, $type) = @_;
    return plist(CommandUUID => $uuid, Command => subdict(RequestType => $type));
}

sub api {
    my ($method, $path, $body) = @_;
    my $r = $t->request($method, $port, $path, $body, headers => \%API);
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

sub enqueue {
    my ($ids, $uuid, $type) = @_;
    my $r = api('PUT', "/v1/enqueue/$ids?nopush=1", command($uuid, $type));
    die "enqueue $uuid failed: $r->{status} $r->{body}" unless $r->{status} == 200;
}

# Every page of a paged GET, following next_cursor.
sub all_pages {
    my ($path, $key) = @_;
    my ($cursor, @items, @sizes) = (undef);
    for (1 .. 1000) {
        my $sep = $path =~ /\?/ ? '&' : '?';
        my $r = api('GET', $path . (defined $cursor ? "${sep}cursor=$cursor" : ''));
        die "GET $path: $r->{status}" unless $r->{status} == 200;
        push @items, @{ $r->{json}{$key} };
        push @sizes, scalar @{ $r->{json}{$key} };
        $cursor = $r->{json}{next_cursor};
        last unless defined $cursor;
    }
    return (\@items, \@sizes);
}

# --- enrollments -----------------------------------------------------------

my $auth = $t->fixture('devices/ios-authenticate.plist');
my $token = $t->fixture('devices/ios-tokenupdate.plist');
my $A = '663b07bb783e9ade1dae4fbb92ea12afc0ce5b69';
my $ida = $t->identity($A);
checkin($ida, $auth);
checkin($ida, $token);

my $user_id = 'A1B2C3D4-0000-1111-2222-333344445555';
my $AU = "$A:$user_id";
checkin($ida, plist(MessageType => 'TokenUpdate', Topic => $topic, UDID => $A, UserID => $user_id,
                    UserShortName => 'jane', UserLongName => 'Jane Appleseed',
                    Token => data("\x02" x 32), PushMagic => 'USER-MAGIC'));

my $B = 'B-DEVICE-0002';
my $C = 'C-DEVICE-0003';
my $idb = device($B, SerialNumber => 'SERIAL-B', Model => 'Mac14,2');
my $idc = device($C, SerialNumber => 'SERIAL-C');

my $r = api('GET', "/v1/enrollments/$A");
is($r->{status}, 200, 'GET /v1/enrollments/<id> of an enrolled device');
is($r->{headers}{'content-type'}, 'application/json', '... as JSON');
my $e = $r->{json};
is($e->{id}, $A, 'id');
is($e->{type}, 'Device', 'type');
is($e->{enabled}, JSON::PP::true, 'enabled is a boolean');
is($e->{udid}, $A, 'udid');
is($e->{serial}, 'F5JM992LF193', 'serial number from Authenticate');
is($e->{product}, 'iPad2,5', 'product');
is($e->{os_version}, '9.3.5', 'OS version');
is($e->{push_magic}, 'CEFDF0BD-E342-4A27-8742-E930EA116B0A', 'push magic');
is($e->{token}, unpack('H*', $t->redis('HGET', key_enr($A), 'token')), 'token as lowercase hex');
like($e->{token}, qr/^[0-9a-f]{64}$/, '... 32 bytes');
is($e->{has_unlock_token}, JSON::PP::true, 'has_unlock_token is true');
ok(!exists $e->{unlock_token}, 'the UnlockToken itself is never shown');
ok(!grep({ /unlock|bootstrap_token$/ && !/^has_/ } keys %$e), 'no secret field at all');
is($e->{has_bootstrap_token}, JSON::PP::false, 'has_bootstrap_token is false');
is($e->{awaiting_config}, JSON::PP::false, 'awaiting_config is a boolean');
is($e->{tally}, 1, 'tally is a number');
like($e->{cert}, qr/^[0-9a-f]{64}$/, 'bound certificate SHA-256');
like($e->{created}, $RFC3339, 'created as RFC 3339');
like($e->{last_seen}, $RFC3339, 'last_seen as RFC 3339');
ok(!exists $e->{push_dead}, 'push_dead absent while the token lives');
is_deeply($e->{user_channels}, [$AU], 'user channels of the device');
is($e->{queue_length}, 0, 'empty queue');

$t->redis('HSET', key_enr($B), 'push_dead', 1700000000);
is(api('GET', "/v1/enrollments/$B")->{json}{push_dead}, '2023-11-14T22:13:20Z',
   'push_dead as RFC 3339 (UTC)');
$t->redis('HDEL', key_enr($B), 'push_dead');

$r = api('GET', "/v1/enrollments/$AU");
is($r->{status}, 200, 'a user channel by its ID');
is($r->{json}{type}, 'User', 'user channel type');
is($r->{json}{parent}, $A, 'user channel parent');
is($r->{json}{user_short_name}, 'jane', 'user short name');
is($r->{json}{user_long_name}, 'Jane Appleseed', 'user long name');
is_deeply($r->{json}{user_channels}, [], 'a user channel has no user channels');

$r = api('GET', '/v1/enrollments/NOT-ENROLLED');
is($r->{status}, 404, 'unknown enrollment: 404');
is_deeply($r->{json}, { error => 'unknown enrollment' }, '... with a JSON error');
like($t->error_log, qr/GET \/v1\/enrollments\/NOT-ENROLLED refused: unknown enrollment/,
     '... logged');

# --- enrollment listing -----------------------------------------------------

$r = api('GET', '/v1/enrollments');
is($r->{status}, 200, 'GET /v1/enrollments');
is_deeply([ map { $_->{id} } @{ $r->{json}{enrollments} } ], [$A, $AU, $B, $C],
          'every enrollment, in first-seen order');
is($r->{json}{next_cursor}, undef, 'next_cursor is null on the last page');
is_deeply([ sort keys %{ $r->{json}{enrollments}[2] } ], [qw(enabled enroll_user id last_seen serial type)],
          'listing entries: id, type, enabled, serial, last_seen, enroll_user');
is($r->{json}{enrollments}[2]{serial}, 'SERIAL-B', 'serial in the listing');
like($r->{json}{enrollments}[2]{last_seen}, $RFC3339, 'last_seen in the listing');

$r = api('GET', '/v1/enrollments?limit=3');
is(scalar @{ $r->{json}{enrollments} }, 3, 'limit=3: three entries');
is($r->{json}{next_cursor}, '3', '... and a cursor');
$r = api('GET', "/v1/enrollments?limit=3&cursor=$r->{json}{next_cursor}");
is_deeply([ map { $_->{id} } @{ $r->{json}{enrollments} } ], [$C], 'the cursor resumes where the page ended');
is($r->{json}{next_cursor}, undef, '... up to the end');
$r = api('GET', '/v1/enrollments?limit=4');
is($r->{json}{next_cursor}, undef, 'a page ending exactly at the end has no cursor');

$r = api('GET', '/v1/enrollments?type=User');
is_deeply([ map { $_->{id} } @{ $r->{json}{enrollments} } ], [$AU], 'type=User');
$r = api('GET', '/v1/enrollments?type=User%20Enrollment');
is_deeply($r->{json}{enrollments}, [], 'type with an escaped space, no match');
$r = api('GET', '/v1/enrollments?serial=SERIAL-C');
is_deeply([ map { $_->{id} } @{ $r->{json}{enrollments} } ], [$C], 'serial=');

checkin($idc, plist(MessageType => 'CheckOut', UDID => $C, Topic => $topic));
$r = api('GET', '/v1/enrollments?enabled=false');
is_deeply([ map { $_->{id} } @{ $r->{json}{enrollments} } ], [$C], 'enabled=false after CheckOut');
is($r->{json}{enrollments}[0]{enabled}, JSON::PP::false, '... enabled is false');
$r = api('GET', '/v1/enrollments?enabled=true&type=Device');
is_deeply([ map { $_->{id} } @{ $r->{json}{enrollments} } ], [$A, $B], 'filters combine');
checkin($idc, plist(MessageType => 'TokenUpdate', UDID => $C, Topic => $topic,
                    Token => data("\x0c" x 32), PushMagic => 'magic-C'));

# A filtered scan stops after 10 x limit examined entries, and says where.
my @fake = map { sprintf 'FAKE-%02d', $_ } 1 .. 25;
for my $i (0 .. $#fake) {
    $t->redis('HSET', key_enr("$fake[$i]"), 'type', $i == 20 ? 'Shared iPad' : 'Device',
              'enabled', 1, 'last_seen', 1700000000 + $i);
    $t->redis('ZADD', key_enrollments(), 2000000000 + $i, $fake[$i]);
}
$r = api('GET', '/v1/enrollments?type=Shared%20iPad&limit=1');
is_deeply($r->{json}{enrollments}, [], 'a filtered page examines at most 10 x limit entries...');
is($r->{json}{next_cursor}, '10', '... and returns where it stopped');
$r = api('GET', '/v1/enrollments?type=Shared%20iPad&limit=1&cursor=10');
is_deeply([ map { $_->{id} } @{ $r->{json}{enrollments} } ], [], 'next 10 entries: no match yet');
is($r->{json}{next_cursor}, '20', '... cursor moves on');
my ($items) = all_pages('/v1/enrollments?type=Shared%20iPad&limit=1', 'enrollments');
is_deeply([ map { $_->{id} } @$items ], ['FAKE-21'], 'following the cursors finds the match');
($items) = all_pages('/v1/enrollments?limit=7', 'enrollments');
is(scalar @$items, 29, 'paging through everything with limit=7 sees every enrollment once');

# --- bad listing requests ---------------------------------------------------------

my $before = $t->redis_snapshot;
for my $bad (['limit=0', qr/limit/], ['limit=1001', qr/limit/], ['limit=abc', qr/limit/],
             ['limit=', qr/limit/], ['enabled=yes', qr/enabled/], ['type=Robot', qr/type/],
             ['serial=', qr/serial/], ['cursor=-1', qr/cursor/], ['cursor=x', qr/cursor/],
             ['foo=1', qr/unknown query parameter "foo"/],
             ['limit=1&limit=2', qr/repeated query parameter "limit"/],
             ['serial=a%00b', qr/NUL/]) {
    $r = api('GET', "/v1/enrollments?$bad->[0]");
    is($r->{status}, 400, "?$bad->[0]: 400");
    like($r->{json}{error} // '', $bad->[1], "?$bad->[0]: JSON error says why");
}
is(api('GET', '/v1/enrollments/a%7Bb%7D')->{status}, 400, 'an ID with a hash-tag brace: 400');
is(api('GET', '/v1/enrollments/a%0Ab')->{status}, 400, 'an ID with a control character: 400');
unlike($t->error_log, qr/refused.*\na?b/, '... logged as sent, no raw newline in the log');
is(api('GET', "/v1/enrollments/$A?x=1")->{status}, 400, 'a query parameter on one enrollment: 400');
is(api('POST', '/v1/enrollments')->{status}, 405, 'POST /v1/enrollments: 405');
is($t->request('GET', $port, '/v1/enrollments')->{status}, 401, 'without the API key: 401');

# --- queues -------------------------------------------------------------------

enqueue($A, 'Q1', 'DeviceInformation');
enqueue($A, 'Q2', 'ProfileList');
enqueue($A, 'Q3', 'SecurityInfo');

$r = api('GET', "/v1/queue/$A");
is($r->{status}, 200, 'GET /v1/queue/<id>');
is($r->{json}{id}, $A, 'the queue names its enrollment');
is_deeply([ map { $_->{command_uuid} } @{ $r->{json}{commands} } ], [qw(Q1 Q2 Q3)], 'FIFO order');
is_deeply([ map { $_->{request_type} } @{ $r->{json}{commands} } ],
          [qw(DeviceInformation ProfileList SecurityInfo)], 'request types');
is_deeply([ map { $_->{status} } @{ $r->{json}{commands} } ], [qw(Queued Queued Queued)], 'all Queued');
is($r->{json}{commands}[0]{notnow_count}, 0, 'no NotNow yet');
like($r->{json}{commands}[0]{created}, $RFC3339, 'created');
is($r->{json}{commands}[0]{expires}, undef, 'no TTL: expires is null');
is($r->{json}{next_cursor}, undef, 'one page');
is(api('GET', "/v1/enrollments/$A")->{json}{queue_length}, 3, 'queue_length of the enrollment');

is(report($ida, $A, Status => 'Idle')->{body}, command('Q1', 'DeviceInformation'), 'device gets Q1');
is(report($ida, $A, Status => 'NotNow', CommandUUID => 'Q1')->{body}, command('Q2', 'ProfileList'),
   'device says NotNow to Q1 and gets Q2');
$r = api('GET', "/v1/queue/$A?limit=2");
is_deeply([ map { [$_->{command_uuid}, $_->{status}, $_->{notnow_count}] } @{ $r->{json}{commands} } ],
          [['Q1', 'NotNow', 1], ['Q2', 'Queued', 0]], "NotNow'd command shows NotNow and its count");
is($r->{json}{next_cursor}, '2', 'limit=2: a cursor');
$r = api('GET', "/v1/queue/$A?limit=2&cursor=2");
is_deeply([ map { $_->{command_uuid} } @{ $r->{json}{commands} } ], ['Q3'], 'second page');
is($r->{json}{next_cursor}, undef, '... the last');

# --- command status -------------------------------------------------------------

my $ack = plist(UDID => $A, CommandUUID => 'Q2', Status => 'Acknowledged',
                ProfileList => [subdict(PayloadIdentifier => 'com.example.p')]);
is(connect_raw($ida, $ack)->{body}, command('Q3', 'SecurityInfo'), 'Q2 acknowledged');

$r = api('GET', '/v1/commands/Q2');
is($r->{status}, 200, 'GET /v1/commands/<uuid>');
is($r->{json}{command_uuid}, 'Q2', 'command_uuid');
is($r->{json}{request_type}, 'ProfileList', 'request_type');
like($r->{json}{created}, $RFC3339, 'created');
is($r->{json}{expires}, undef, 'expires null without a TTL');
ok(!exists $r->{json}{plist}, 'no body unless plist=1');
is(scalar @{ $r->{json}{enrollments} }, 1, 'one target');
my $s = $r->{json}{enrollments}[0];
is($s->{id}, $A, 'target id');
is($s->{status}, 'Acknowledged', 'status Acknowledged');
like($s->{updated}, $RFC3339, 'updated');
is(decode_base64($s->{result}), $ack, 'raw result as base64, byte for byte');
ok(!exists $s->{error_chain}, 'no error_chain for Acknowledged');
is($r->{json}{next_cursor}, undef, 'one page');

$r = api('GET', '/v1/commands/Q2?plist=1');
is($r->{json}{plist}, command('Q2', 'ProfileList'), 'plist=1: the command body');

$t->redis('HSET', key_cmd('BIN'), 'body', "bplist00\xd1\x01\x02\xff", 'type', 'ProfileList',
          'created', 1700000000, 'expires', 0);
$r = api('GET', '/v1/commands/BIN?plist=1');
is($r->{json}{plist_base64}, 'YnBsaXN0MDDRAQL/', 'a body that is not UTF-8 comes as plist_base64');
is($r->{json}{created}, '2023-11-14T22:13:20Z', 'created as RFC 3339');
is_deeply($r->{json}{enrollments}, [], 'a command without targets has an empty list');
$t->redis('HSET', key_cmd('BIN'), 'created', '1000000000000000', 'expires', '253402300800');
$r = api('GET', '/v1/commands/BIN');
is($r->{json}{created}, '9999-12-31T23:59:59Z', 'a time past year 9999 is clamped to it');
is($r->{json}{expires}, '9999-12-31T23:59:59Z', '... from its first second on');
$t->redis('DEL', key_cmd('BIN'));

$r = api('GET', "/v1/commands/Q2?format=plist&id=$A");
is($r->{status}, 200, 'format=plist&id=');
is($r->{headers}{'content-type'}, 'application/xml', '... as application/xml');
is($r->{body}, $ack, '... the raw report');

$r = api('GET', '/v1/commands/Q1');
is($r->{json}{enrollments}[0]{status}, 'NotNow', "NotNow'd command");
is($r->{json}{enrollments}[0]{notnow_count}, 1, '... with its count');
is($r->{json}{enrollments}[0]{result}, undef, '... and no result');
$r = api('GET', '/v1/commands/Q3');
is($r->{json}{enrollments}[0]{status}, 'Queued', 'a command not yet answered is Queued');
$r = api('GET', "/v1/commands/Q3?format=plist&id=$A");
is($r->{status}, 404, 'format=plist before a result: 404');
is($r->{json}{error}, 'no result for this enrollment', '... says so');

my $err = plist(UDID => $A, CommandUUID => 'Q3', Status => 'Error',
                ErrorChain => [subdict(ErrorCode => integer(12021), ErrorDomain => 'MCMDMErrorDomain',
                                       LocalizedDescription => 'Unknown command',
                                       USEnglishDescription => 'Unknown command')]);
connect_raw($ida, $err);
$r = api('GET', "/v1/commands/Q3?id=$A");
is($r->{json}{enrollments}[0]{status}, 'Error', 'status Error');
is_deeply($r->{json}{enrollments}[0]{error_chain},
          [{ ErrorCode => 12021, ErrorDomain => 'MCMDMErrorDomain',
             LocalizedDescription => 'Unknown command', USEnglishDescription => 'Unknown command' }],
          'ErrorChain decoded as JSON');

# Paging over the targets of a command.
enqueue("$A,$AU,$B,$C", 'MANY', 'ProfileList');
$r = api('GET', '/v1/commands/MANY?limit=3');
is(scalar @{ $r->{json}{enrollments} }, 3, 'limit=3: three targets');
ok(defined $r->{json}{next_cursor}, '... and a cursor');
my $sizes;
($items, $sizes) = all_pages('/v1/commands/MANY?limit=1', 'enrollments');
is_deeply([ sort map { $_->{id} } @$items ], [ sort $A, $AU, $B, $C ], 'limit=1 pages: every target once');
ok(!grep({ $_ > 1 } @$sizes), '... at most one per page (SSCAN may end on an empty page)');

# A larger ID set (a hash table in Redis, scanned in steps).
my $big = 300;
for my $id (map { sprintf 'BULK-%04d', $_ } 1 .. $big) {
    $t->redis('HSET', key_enr($id), 'type', 'Device', 'enabled', '1');
    $t->redis('RPUSH', key_q($id), 'BIG');
    $t->redis('SADD', key_cmd_ids('BIG'), $id);
    $t->redis('ZADD', key_pending(), 1, $id);
}
$t->redis('HSET', key_cmd('BIG'), 'body', 'b', 'type', 'ProfileList', 'created', '1700000000',
          'expires', '0');
($items, $sizes) = all_pages('/v1/commands/BIG?limit=40', 'enrollments');
my %seen = map { $_->{id} => 1 } @$items;
is(scalar keys %seen, $big, "paging over $big targets sees each one");
is(scalar @$items, $big, '... exactly once');
ok(!grep({ $_ > 40 } @$sizes), '... no page over the limit');

# --- bad status requests ---------------------------------------------------------

$r = api('GET', '/v1/commands/NO-SUCH-COMMAND');
is($r->{status}, 404, 'unknown command: 404');
is($r->{json}{error}, 'unknown command', '... with a JSON error');
$r = api('GET', "/v1/commands/Q2?id=$B");
is($r->{status}, 404, 'id= of an enrollment the command was not sent to: 404');
for my $bad (['format=plist', qr/needs id/], ['format=xml', qr/format/], ['plist=yes', qr/plist/],
             ['cursor=abc', qr/cursor/], ['cursor=1:', qr/cursor/], ['limit=0', qr/limit/],
             ['id=a%7B', qr/forbidden/], ['bogus=1', qr/unknown query parameter/]) {
    $r = api('GET', "/v1/commands/Q2?$bad->[0]");
    is($r->{status}, 400, "status ?$bad->[0]: 400");
    like($r->{json}{error} // '', $bad->[1], "status ?$bad->[0]: says why");
}
is(api('GET', '/v1/commands/' . ('u' x 129))->{status}, 400, 'an over-long CommandUUID: 400');

# --- cancel ---------------------------------------------------------------------------

enqueue("$A,$B,$C", 'CX', 'ProfileList');
# A: Q1 (NotNow'd), MANY, CX; let A acknowledge CX only after the others.
report($ida, $A, Status => 'Idle');
report($ida, $A, Status => 'Acknowledged', CommandUUID => 'Q1');
report($ida, $A, Status => 'Acknowledged', CommandUUID => 'MANY');
is($t->redis('HGET', key_r($A, "CX"), 'status'), undef, 'CX not yet answered by A');
report($ida, $A, Status => 'Acknowledged', CommandUUID => 'CX');
is($t->redis('HGET', key_r($A, "CX"), 'status'), 'Acknowledged', 'A acknowledged CX');

$r = api('DELETE', "/v1/commands/CX?ids=$B");
is($r->{status}, 200, 'cancel for one target: 200');
is_deeply($r->{json}, { command_uuid => 'CX', status => { $B => {} } }, 'APIResult shape, one ok entry');
is_deeply($t->redis('LRANGE', key_q($B), 0, -1), ['MANY'], "CX left B's queue, MANY stays");
is($t->redis('HGET', key_r($B, "CX"), 'status'), 'Canceled', 'result hash says Canceled');
my $ttl = $t->redis('TTL', key_r($B, "CX"));
ok($ttl > 3500 && $ttl <= 3600, 'Canceled result expires after the result retention');
ok($t->redis('EXISTS', key_cmd('CX')), 'body kept while other targets still have it');
$r = api('GET', "/v1/commands/CX?id=$B");
is($r->{json}{enrollments}[0]{status}, 'Canceled', 'status shows Canceled');

$before = $t->redis_snapshot;
$r = api('DELETE', "/v1/commands/CX?ids=$A,$B,NOBODY,$AU");
is($r->{status}, 500, 'cancel where every ID fails: 500');
is($r->{json}{status}{$A}{command_error}, 'already Acknowledged', 'a final command cannot be cancelled');
is($r->{json}{status}{$B}{command_error}, 'already Canceled', 'nor cancelled twice');
is($r->{json}{status}{NOBODY}{command_error}, 'unknown enrollment', 'unknown ID reported per ID');
is($r->{json}{status}{$AU}{command_error}, 'command was not queued for this enrollment',
   'an enrollment the command was not sent to');
is($t->redis_snapshot, $before, 'a cancel that fails everywhere changes nothing');

$r = api('DELETE', '/v1/commands/CX');
is($r->{status}, 207, 'cancel for all targets, some already final: 207');
is_deeply($r->{json}{status}{$C}, {}, 'C cancelled');
is($r->{json}{status}{$A}{command_error}, 'already Acknowledged', 'A reported as final');
ok(!$t->redis('EXISTS', key_cmd('CX')), 'cancelled for all: the command body is deleted');
ok($t->redis('TTL', key_cmd_ids('CX')) > 0, '... the ID set expires with the results');
is(report($idc, $C, Status => 'Idle')->{body}, command('MANY', 'ProfileList'), 'C is not sent CX');
$r = api('GET', '/v1/commands/CX');
is($r->{status}, 200, 'a cancelled command still has a status');
is($r->{json}{request_type}, undef, '... without its body');
is_deeply({ map { $_->{id} => $_->{status} } @{ $r->{json}{enrollments} } },
          { $A => 'Acknowledged', $B => 'Canceled', $C => 'Canceled' }, '... and every target');

$r = api('DELETE', '/v1/commands/BIG');
is($r->{status}, 200, "cancel for all $big targets (several script calls)");
is(scalar keys %{ $r->{json}{status} }, $big, '... each reported once');
is($t->redis('LLEN', key_q('BULK-0123')), 0, '... queues emptied');
is($t->redis('HGET', key_r('BULK-0300', 'BIG'), 'status'), 'Canceled', '... results Canceled');
is($t->redis('ZSCORE', key_pending(), 'BULK-0042'), undef, '... and they leave the pending index');

$r = api('DELETE', '/v1/commands/NO-SUCH-COMMAND');
is($r->{status}, 404, 'cancel of an unknown command: 404');
is(api('DELETE', '/v1/commands/CX?ids=')->{status}, 400, 'empty ids=: 400');
is(api('DELETE', '/v1/commands/CX?ids=a%7Bb')->{status}, 400, 'bad ID in ids=: 400');
is(api('DELETE', '/v1/commands/CX?id=x')->{status}, 400, 'unknown parameter: 400');

# --- queue clear ---------------------------------------------------------------------

enqueue("$A,$B", 'CL1', 'ProfileList');
enqueue($A, 'CL2', 'SecurityInfo');
report($ida, $A, Status => 'Idle');
report($ida, $A, Status => 'NotNow', CommandUUID => 'CL1');
$t->redis('RPUSH', key_q($C), map { "LONG-$_" } 1 .. 1500);
ok(defined $t->redis('ZSCORE', key_pending(), $A), 'A is in the pending index before the clear');

$r = api('DELETE', "/v1/queue/$A,$B,NOBODY,$C");
is($r->{status}, 207, 'DELETE /v1/queue/<ids> with an unknown ID: 207');
is_deeply($r->{json}{status}{$A}, { canceled => 2 }, 'A: two commands cancelled');
is_deeply($r->{json}{status}{$B}, { canceled => 2 }, 'B: MANY and CL1 cancelled');
is_deeply($r->{json}{status}{$C}, { canceled => 1501 }, 'C: a queue longer than one call allows');
is($r->{json}{status}{NOBODY}{command_error}, 'unknown enrollment', 'unknown ID reported per ID');
is($t->redis('EXISTS', key_q($A), key_q($B), key_q($C), key_nn($A)), 0,
   'queues and NotNow set are gone');
is($t->redis('ZSCORE', key_pending(), $A), undef, 'a cleared queue leaves the pending index');
is($t->redis('HGET', key_r($A, "CL1"), 'status'), 'Canceled', "NotNow'd command is Canceled");
is($t->redis('HGET', key_r($A, "CL1"), 'notnow'), 1, '... its NotNow count kept');
ok($t->redis('SISMEMBER', key_cmd_ids('CL1'), $A), 'the ID stays in the command ID set (history)');
is_deeply({ map { $_->{id} => $_->{status} } @{ api('GET', '/v1/commands/CL1')->{json}{enrollments} } },
          { $A => 'Canceled', $B => 'Canceled' }, 'command status shows the cleared queues');
is(report($ida, $A, Status => 'Idle')->{body}, '', 'the device gets nothing after its queue is cleared');
is_deeply(api('GET', "/v1/queue/$A")->{json}{commands}, [], 'the queue lists empty');

$r = api('DELETE', "/v1/queue/$B,$B");
is_deeply($r->{json}, { status => { $B => { canceled => 0 } } }, 'an ID named twice is answered once');

$r = api('DELETE', '/v1/queue/NOBODY,NOBODY2');
is($r->{status}, 500, 'clearing only unknown IDs: 500');

# --- Expired, and states nobody knows any more ------------------------------------------

$r = api('PUT', "/v1/enqueue/$C?nopush=1&ttl=1", command('SHORT', 'ProfileList'));
is($r->{status}, 200, 'a command with a 1 s TTL');
# nginx stamped the command with a second <= now: it expires at that + 1
$t->until_epoch(int(time) + 1);
enqueue($C, 'GONE', 'ProfileList');
$r = api('GET', "/v1/queue/$C");
is_deeply([ map { [$_->{command_uuid}, $_->{status}] } @{ $r->{json}{commands} } ],
          [['SHORT', 'Expired'], ['GONE', 'Queued']], 'a command past its TTL lists as Expired');
like($r->{json}{commands}[0]{expires}, $RFC3339, '... with its expiry time');
is(api('GET', '/v1/commands/SHORT')->{json}{enrollments}[0]{status}, 'Expired',
   'command status says Expired too');
$r = api('DELETE', "/v1/commands/SHORT?ids=$C");
is($r->{json}{status}{$C}{command_error}, 'already Expired', 'an expired command cannot be cancelled');

checkin($idc, plist(MessageType => 'Authenticate', UDID => $C, Topic => $topic, SerialNumber => 'SERIAL-C'));
$r = api('GET', '/v1/commands/GONE');
is($r->{json}{enrollments}[0]{status}, undef, 'a queue dropped by re-enrollment: status null');
$r = api('DELETE', "/v1/commands/GONE?ids=$C");
is($r->{json}{status}{$C}{command_error}, 'command is no longer queued', '... and nothing to cancel');
checkin($idc, plist(MessageType => 'TokenUpdate', UDID => $C, Topic => $topic,
                    Token => data("\x0c" x 32), PushMagic => 'magic-C'));

# --- refused requests change nothing -----------------------------------------------------

enqueue($B, 'KEEP', 'ProfileList');
$before = $t->redis_snapshot;
is(api('GET', '/v1/queue/NOT-ENROLLED')->{status}, 404, 'queue of an unknown enrollment: 404');
is(api('GET', "/v1/queue/$A,$B")->{status}, 400, 'GET of two queues: 400');
is(api('GET', "/v1/queue/$A?limit=5000")->{status}, 400, 'queue limit over 1000: 400');
is(api('GET', "/v1/queue/$A?cursor=z")->{status}, 400, 'bad queue cursor: 400');
is(api('GET', "/v1/queue/$A?cursor=1000000000000000000")->{status}, 400,
   'queue cursor past what a script counts exactly: 400');
is(api('GET', "/v1/queue/$A?cursor=1000000000000")->{status}, 200, '... the largest one: 200');
is(api('GET', '/v1/commands/KEEP?cursor=0:1000000000000000000')->{status}, 400,
   'status cursor skipping past what a script counts exactly: 400');
is(api('GET', "/v1/queue/$A?x=1")->{status}, 400, 'unknown queue parameter: 400');
is(api('DELETE', "/v1/queue/$B?x=1")->{status}, 400, 'DELETE with a query parameter: 400');
is(api('DELETE', '/v1/queue/a%7Bb')->{status}, 400, 'DELETE of a bad ID: 400');
is(api('PUT', "/v1/queue/$B")->{status}, 405, 'PUT /v1/queue: 405');
is($t->request('DELETE', $port, "/v1/queue/$B")->{status}, 401, 'DELETE without the API key: 401');
is($t->request('DELETE', $port, '/v1/commands/KEEP')->{status}, 401, 'cancel without the API key: 401');
is(api('GET', '/v1/commands/KEEP?limit=0')->{status}, 400, 'bad status request: 400');
is(api('DELETE', '/v1/commands/KEEP?ids=NOBODY')->{status}, 500, 'cancel for an unknown ID only: 500');
is($t->redis_snapshot, $before, 'refused requests changed nothing in Redis');
is_deeply([ map { $_->{command_uuid} } @{ api('GET', "/v1/queue/$B")->{json}{commands} } ], ['KEEP'],
          'B still has its command');

$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');

done_testing();
