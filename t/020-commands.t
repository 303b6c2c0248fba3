#!/usr/bin/perl
# The command loop: enqueue through the NanoMDM-compatible API, devices
# connect, receive exactly the enqueued plists in FIFO order, report results;
# NotNow skipping, Error results, per-enrollment and per-channel queues.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use MDM::Test;
use MDM::Keys;

*plist = \&MDM::Plist::plist;
*data = \&MDM::Plist::data;

my $t = MDM::Test->new;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $port = $t->port('https');

$t->nginx_start(<<"EOF", port => $port);
    mdm_redis 127.0.0.1:$redis;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        client_max_body_size 1m;
        client_body_buffer_size 1m;
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_server; }
        location /quiet { mdm_idle_events off; mdm_server; }
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF

my %API = MDM::Test::api_auth('sekret');
my $topic = 'com.apple.mgmt.External.commands';

sub device {
    my ($udid) = @_;
    my $id = $t->identity($udid);
    for my $msg (plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic),
                 plist(MessageType => 'TokenUpdate', UDID => $udid, Topic => $topic,
                       Token => data(pack('H*', 'ab' x 32)), PushMagic => "magic-$udid")) {
        my $r = $t->request('PUT', $port, '/mdm', $msg, sign => $id,
            headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' });
        die "enrollment of $udid failed: $r->{status}" unless $r->{status} == 200;
    }
    return $id;
}

sub report {
    my ($id, $udid, %kv) = @_;
    my @user = $kv{UserID} ? (UserID => delete $kv{UserID}) : ();
    my $body = plist(UDID => $udid, @user, map { $_ => $kv{$_} } sort keys %kv);
    return $t->request('PUT', $port, '/mdm', $body, sign => $id,
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm; charset=UTF-8' });
}

sub command {
    my ($uuid, $type, @kv) = @_;
    return plist(CommandUUID => $uuid,
                 Command => MDM::Plist::subdict(RequestType => $type, @kv));
}

sub enqueue {
    my ($ids, $body, $query) = @_;
    my $r = $t->request('PUT', $port, "/v1/enqueue/$ids" . ($query // ''), $body, headers => \%API);
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

my $A = 'AAAA-DEVICE-0001';
my $B = 'BBBB-DEVICE-0002';
my $ida = device($A);
my $idb = device($B);

# --- enqueue, FIFO delivery, exact plist -------------------------------------

my $c1 = command('C1', 'DeviceInformation', Queries => ['SerialNumber', 'OSVersion']);
my $c2 = command('C2', 'ProfileList');
my $c3 = command('C3', 'SecurityInfo');

my $r = enqueue($A, $c1);
is($r->{status}, 200, 'enqueue answers 200');
is($r->{json}{command_uuid}, 'C1', 'NanoMDM shape: command_uuid');
is($r->{json}{request_type}, 'DeviceInformation', 'NanoMDM shape: request_type');
is($r->{json}{status}{$A}{push_result}, 'queued', 'NanoMDM shape: per-ID push result (queued for the worker)');
is($t->redis('XLEN', key_push()), 1, 'one push job queued');

is(enqueue($A, $c2, '?nopush=1')->{json}{no_push}, JSON::PP::true, 'nopush=1 is reported');
is($t->redis('XLEN', key_push()), 1, 'nopush=1 queues no push job');
enqueue($A, $c3);

$r = report($ida, $A, Status => 'Idle');
is($r->{status}, 200, 'Idle answered');
is($r->{body}, $c1, 'device receives exactly the enqueued plist');
like($r->{headers}{'content-type'}, qr{^application/xml}, 'command is served as XML');

# The same report twice is harmless.
$r = report($ida, $A, Status => 'Acknowledged', CommandUUID => 'C1',
            QueryResponses => MDM::Plist::subdict(SerialNumber => 'X1'));
is($r->{body}, $c2, 'after Acknowledged, the next command in FIFO order');
$r = report($ida, $A, Status => 'Acknowledged', CommandUUID => 'C1');
is($r->{status}, 200, 'a duplicate report is accepted');
is($r->{body}, $c2, 'a duplicate report changes nothing: C2 is still next');
like($t->redis('HGET', key_r($A, "C1"), 'result'), qr/<string>X1<\/string>/, 'first result kept, not the duplicate');

# mdm_idle_events off: Idle reports leave no event; others still do.
my $events = $t->redis('XLEN', key_events());
$r = $t->request('PUT', $port, '/quiet', plist(UDID => $B, Status => 'Idle'), sign => $idb,
                 headers => { 'Content-Type' => 'application/x-apple-aspen-mdm; charset=UTF-8' });
is($r->{status}, 200, 'Idle with mdm_idle_events off');
is($t->redis('XLEN', key_events()), $events, '... appends no event');

# --- NotNow ------------------------------------------------------------------

$r = report($ida, $A, Status => 'NotNow', CommandUUID => 'C2');
is($r->{body}, $c3, "NotNow'd command is skipped for the rest of the session");
$r = report($ida, $A, Status => 'Acknowledged', CommandUUID => 'C3');
is($r->{status}, 200, 'C3 acknowledged');
is($r->{body}, '', "the session ends without re-offering the NotNow'd command");
is($t->redis('HGET', key_r($A, "C2"), 'notnow'), 1, 'NotNow counted');

ok(defined $t->redis('ZSCORE', key_notnow(), $A), "a session ending with NotNow'd commands left is marked for a re-push");
ok(defined $t->redis('ZSCORE', key_pending(), $A), '... and the enrollment still has pending work');

$r = report($ida, $A, Status => 'Idle');
is($r->{body}, $c2, "NotNow'd command is re-offered after the next Idle");
ok(!defined $t->redis('ZSCORE', key_notnow(), $A), 'the re-push mark goes when the session goes on');

# --- Error is final, ErrorChain kept ------------------------------------------

my $err = $t->fixture('devices/report-error.plist');
my ($err_uuid) = $err =~ m{<key>CommandUUID</key>\s*<string>([^<]+)</string>};
my ($err_udid) = $err =~ m{<key>UDID</key>\s*<string>([^<]+)</string>};
my $idc = device($err_udid);
enqueue($err_udid, command($err_uuid, 'CertificateList'));
is(report($idc, $err_udid, Status => 'Idle')->{body}, command($err_uuid, 'CertificateList'),
   'fixture device gets its command');
$r = $t->request('PUT', $port, '/mdm', $err, sign => $idc,
                 headers => { 'Content-Type' => 'application/x-apple-aspen-mdm; charset=UTF-8' });
is($r->{status}, 200, 'real Error report (fixture) accepted');
is($r->{body}, '', 'Error is final: the queue is empty');
ok(!defined $t->redis('ZSCORE', key_pending(), $err_udid), 'an empty queue leaves the pending index');
is($t->redis('HGET', key_r($err_udid, $err_uuid), 'status'), 'Error', 'status Error stored');
like($t->redis('HGET', key_r($err_udid, $err_uuid), 'result'), qr/ErrorChain/, 'ErrorChain stored with the raw result');

# --- isolation -----------------------------------------------------------------

enqueue($B, command('CB', 'ProfileList'));
is(report($ida, $A, Status => 'Acknowledged', CommandUUID => 'C2')->{body}, '',
   "a command for one enrollment is never delivered to another");
is(report($idb, $B, Status => 'Idle')->{body}, command('CB', 'ProfileList'), 'B gets its own command');
is(report($ida, $A, Status => 'Acknowledged', CommandUUID => 'CB')->{status}, 200,
   "A reporting B's command is accepted...");
is($t->redis('LLEN', key_q($B)), 1, "... but does not touch B's queue");
like($t->error_log, qr/Acknowledged for unknown command "CB" from "$A"/, 'unknown command reports are logged');

# a user channel that never sent TokenUpdate has no enrollment to report to
is(report($ida, $A, Status => 'Idle', UserID => 'GHOST')->{status}, 400,
   'a report from an unknown user channel is refused');
ok(!$t->redis('EXISTS', key_enr("$A:GHOST")), '... and leaves no stub enrollment behind');

# user channel queue is separate from the device queue
my $user = "$A:USER-1";
$t->request('PUT', $port, '/mdm', plist(MessageType => 'TokenUpdate', UDID => $A, UserID => 'USER-1',
            UserLongName => 'U', Topic => $topic, Token => data('u' x 32), PushMagic => 'um'),
            sign => $ida, headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' });
enqueue($user, command('CU', 'ProfileList'));
is(report($ida, $A, Status => 'Idle')->{body}, '', "the device channel does not see the user channel's command");
is(report($ida, $A, Status => 'Idle', UserID => 'USER-1')->{body}, command('CU', 'ProfileList'),
   'the user channel gets it');

# --- NanoMDM's documented example (docs/openapi.yaml) ----------------------------

my $nano = <<'PLIST';
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Command</key>
  <dict>
    <key>RequestType</key>
    <string>ProfileList</string>
  </dict>
  <key>CommandUUID</key>
  <string>fedd659e-fc3c-4e35-8bb1-c8f51ae542a5</string>
</dict>
</plist>
PLIST
$r = enqueue("$A,$B", $nano);
is($r->{status}, 200, "NanoMDM's example enqueue body is accepted");
is_deeply([ sort keys %{ $r->{json} } ], [qw(command_uuid queued request_type status)],
          'APIResult keys as NanoMDM (plus queued)');
is_deeply($r->{json}{status}, { $A => { push_result => 'queued' }, $B => { push_result => 'queued' } },
          'per-ID status object keyed by enrollment ID');
is(report($idb, $B, Status => 'Acknowledged', CommandUUID => 'CB')->{body}, $nano,
   "the device receives NanoMDM's example plist byte for byte");
report($idb, $B, Status => 'Acknowledged', CommandUUID => 'fedd659e-fc3c-4e35-8bb1-c8f51ae542a5');
is($t->request("DELETE", $port, "/v1/queue/$A", "", headers => \%API)->{status}, 200, "DELETE /v1/queue clears the rest");

# --- many targets, bad input -------------------------------------------------------

$r = enqueue("$A,$B,NOPE-1", command('MULTI', 'ProfileList'));
is($r->{status}, 207, 'some unknown IDs: 207');
is($r->{json}{status}{'NOPE-1'}{command_error}, 'unknown enrollment', 'unknown ID reported per ID');
is($t->redis('HGET', key_cmd('MULTI'), 'body'), command('MULTI', 'ProfileList'), 'body stored once');

$r = enqueue('NOPE-1,NOPE-2', command('NONE', 'ProfileList'), '?ttl=3600');
is($r->{status}, 404, 'all IDs unknown: 404');
is($r->{json}{command_error}, 'no target enrollment is known', '... saying so');
is($r->{json}{status}{'NOPE-2'}{command_error}, 'unknown enrollment', '... naming each unknown ID');
is($t->redis('EXISTS', key_cmd('NONE')), 0, '... and the command is not stored');
is($t->redis('ZSCORE', key_expiry(), 'NONE'), undef, '... nor its expiry');
$r = enqueue($A, command('NONE', 'ProfileList'));
is($r->{status}, 200, 'a retry with the same CommandUUID to a known ID: 200');
is($t->request('DELETE', $port, '/v1/commands/NONE', '', headers => \%API)->{status}, 200,
   '... (cancelled again)');

my $before = $t->redis_snapshot;
$r = enqueue($A, command('MULTI', 'ProfileList'));
is($r->{status}, 409, 'duplicate CommandUUID: 409');
like($r->{json}{error}, qr/duplicate CommandUUID/, '... with a JSON error');
for my $bad (['no CommandUUID', plist(Command => MDM::Plist::subdict(RequestType => 'ProfileList'))],
             ['no RequestType', plist(CommandUUID => 'X', Command => MDM::Plist::subdict())],
             ['malformed plist', '<plist><dict>'],
             ['empty body', '']) {
    $r = enqueue($A, $bad->[1]);
    is($r->{status}, 400, "$bad->[0]: 400");
    ok(defined $r->{json}{error}, "$bad->[0]: JSON error");
}
is(enqueue('a{b}', $c1)->{status}, 400, 'an ID with a brace: 400');
is(enqueue("$A,%FF%FE", $c1)->{status}, 400, 'an ID that is not UTF-8: 400');
is(enqueue($A, $c1, '?nopush=maybe')->{status}, 400, 'bad nopush value: 400');
is(enqueue($A, $c1, '?ttl=-5')->{status}, 400, 'bad ttl: 400');
$r = $t->request('PUT', $port, "/v1/enqueue/$A", $c1);
is($r->{status}, 401, 'enqueue without the API key: 401');
is($t->redis_snapshot, $before, 'refused enqueues changed nothing');

# --- JSON forms ------------------------------------------------------------------

$r = $t->request('POST', $port, '/v1/enqueue', encode_json({ ids => [$A, $B], command => command('J1', 'ProfileList') }),
                 headers => \%API);
is($r->{status}, 200, 'POST /v1/enqueue with a JSON ID array');
is($t->redis('LINDEX', key_q($B), -1), 'J1', 'queued for every ID in the array');

$r = $t->request('POST', $port, "/v1/commands/$A",
                 encode_json({ request_type => 'DeviceInformation', command_uuid => 'B1', Queries => ['UDID'] }),
                 headers => \%API);
is($r->{status}, 200, 'POST /v1/commands builds and enqueues a command');
is($t->redis('LINDEX', key_q($A), -1), 'B1', '... queued');
like($t->redis('HGET', key_cmd('B1'), 'body'), qr{<key>RequestType</key>\s*<string>DeviceInformation</string>}, '... as a plist');

$r = $t->request('POST', $port, '/v1/commands', encode_json({ request_type => 'DeviceInformation', Queries => 'UDID' }),
                 headers => \%API);
is($r->{status}, 400, 'builder: wrong type is 400');
like(decode_json($r->{body})->{error}, qr/Queries/, '... naming the key');
$r = $t->request('POST', $port, '/v1/commands', encode_json({ request_type => 'NoSuchCommand' }), headers => \%API);
is($r->{status}, 400, 'builder: unknown RequestType is 400');
$r = $t->request('POST', $port, '/v1/commands', encode_json({ request_type => 'ProfileList' }), headers => \%API);
is($r->{status}, 200, 'builder without IDs is a dry run');
like(decode_json($r->{body})->{plist}, qr/ProfileList/, '... returning the plist');

# --- Redis forgets the scripts ------------------------------------------------------

$t->redis('SCRIPT', 'FLUSH');
my @after = map { report($idb, $B, Status => 'Idle')->{status} } 1 .. 4;
ok(!grep({ $_ == 500 } @after), 'scripts flushed: no 500s') or diag "@after";
is($after[-1], 200, '... the scripts are loaded again and service resumes');

# --- TTL ------------------------------------------------------------------------------

my $D = 'DDDD-DEVICE-0004';
my $idd = device($D);
enqueue($D, command('SHORT', 'ProfileList'), '?ttl=1');
# nginx stamped the command with a second <= now: it expires at that + 1
$t->until_epoch(int(time) + 1);
enqueue($D, command('LONG', 'ProfileList'));
is(report($idd, $D, Status => 'Idle')->{body}, command('LONG', 'ProfileList'), 'an expired command is not delivered');
is($t->redis('HGET', key_r($D, "SHORT"), 'status'), 'Expired', '... and is marked Expired');

$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');

done_testing();
