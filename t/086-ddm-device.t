#!/usr/bin/perl
# Declarative management served to devices (protocol.md §6, docs/ddm.md):
# the four DeclarativeManagement endpoints on the check-in URL after the
# identity checks of every check-in (tokens, declaration-items,
# declaration/<kind>/<id>, status), answered from the view the API
# materialised; status reports stored per enrollment, read back through
# KMFDDM's status API, emitted as ddm.StatusReport; the user channel's own
# declarations; the notification mark cleared by a sync; bad requests
# refused with nothing stored. The Perl harness is the device.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(sha1_hex);
use MIME::Base64 qw(encode_base64);
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
        client_max_body_size 4m;
        client_body_buffer_size 4m;
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_server; }
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF

my %KD = (Authorization => 'Basic ' . encode_base64('kmfddm:sekret', ''));
my %CI = ('Content-Type' => 'application/x-apple-aspen-mdm-checkin');
my $topic = 'com.apple.mgmt.External.ddm';
my $json = JSON::PP->new->canonical;

sub checkin {
    my ($id, @kv) = @_;
    return $t->request('PUT', $port, '/mdm', plist(@kv), sign => $id, headers => \%CI);
}

sub device {
    my ($udid) = @_;
    my $id = $t->identity($udid);
    for my $msg ([MessageType => 'Authenticate', UDID => $udid, Topic => $topic],
                 [MessageType => 'TokenUpdate', UDID => $udid, Topic => $topic,
                  Token => data(pack('H*', 'ab' x 32)), PushMagic => "magic-$udid"]) {
        my $r = checkin($id, @$msg);
        die "enrollment of $udid failed: $r->{status}" unless $r->{status} == 200;
    }
    return $id;
}

# a DeclarativeManagement check-in; user => the user channel
sub dm {
    my ($id, $udid, $endpoint, %o) = @_;
    my $r = checkin($id, MessageType => 'DeclarativeManagement', UDID => $udid,
        ($o{user} ? (UserID => $o{user}) : ()), Endpoint => $endpoint,
        (defined $o{data} ? (Data => data($o{data})) : ()));
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

sub api {
    my ($method, $path, $body) = @_;
    my $r = $t->request($method, $port, $path, $body, headers => \%KD);
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

sub decl {
    my ($type, $id, $payload) = @_;
    return $json->encode({ Type => $type, Identifier => $id, Payload => $payload });
}

my $A = 'AAAA-DDMDEV-0001';
my $B = 'BBBB-DDMDEV-0002';
my $ida = device($A);
my $idb = device($B);

for my $d (decl('com.apple.configuration.passcode.settings', 'cfg-pass',
                { RequirePasscode => JSON::PP::true, MinimumLength => 6 }),
           decl('com.apple.activation.simple', 'act-1',
                { StandardConfigurations => ['cfg-pass'] }),
           decl('com.apple.management.properties', 'props', { color => 'blue' }),
           decl('com.apple.configuration.passcode.settings', 'cfg-other',
                { MinimumLength => 4 })) {
    api('PUT', '/v1/declarations', $d)->{status} == 204 or die 'PUT failed';
}
for my $d ('cfg-pass', 'act-1', 'props') {
    api('PUT', "/v1/set-declarations/base?declaration=$d")->{status} == 204
        or die 'set failed';
}
api('PUT', '/v1/set-declarations/other?declaration=cfg-other')->{status} == 204
    or die 'set failed';
is(api('PUT', "/v1/enrollment-sets/$A?set=base")->{status}, 204, 'base assigned to A');
ok($t->redis('HGET', key_ddm($A), 'notify'), 'A is marked for a command');

# --- tokens ------------------------------------------------------------------

my $r = dm($ida, $A, 'tokens');
is($r->{status}, 200, 'tokens: 200');
like($r->{headers}{'content-type'} // '', qr{^application/json}, 'tokens: JSON');
my $token = $r->{json}{SyncTokens}{DeclarationsToken};
is($token, $t->redis('HGET', key_ddm($A), 'token'), 'the view\'s DeclarationsToken');
like($r->{json}{SyncTokens}{Timestamp} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
     'an RFC 3339 Timestamp');
is(dm($ida, $A, 'tokens')->{body}, $r->{body}, 'the same bytes on every request');
ok(!$t->redis('HGET', key_ddm($A), 'notify'), 'the sync cleared the mark');

# --- declaration-items -------------------------------------------------------

$r = dm($ida, $A, 'declaration-items');
is($r->{status}, 200, 'declaration-items: 200');
my $items = $r->{json};
is_deeply([sort keys %{ $items->{Declarations} }],
          [qw(Activations Assets Configurations Management)],
          'all four arrays, always');
is_deeply($items->{Declarations}{Assets}, [], 'an empty one is []');
is($items->{DeclarationsToken}, $token, 'the same DeclarationsToken as tokens');
my %tok = map { $_->{Identifier} => $_->{ServerToken} }
          map { @$_ } values %{ $items->{Declarations} };
is_deeply([sort keys %tok], [qw(act-1 cfg-pass props)], 'the assigned declarations');
is($tok{'cfg-pass'}, api('GET', '/v1/declarations/cfg-pass')->{json}{ServerToken},
   'with their ServerTokens');
is($token, sha1_hex(join '', map { "$_\n$tok{$_}\n" } sort keys %tok),
   'the DeclarationsToken over them');

# --- declaration/<kind>/<id> -------------------------------------------------

$r = dm($ida, $A, 'declaration/configuration/cfg-pass');
is($r->{status}, 200, 'a declaration: 200');
is($r->{body}, api('GET', '/v1/declarations/cfg-pass')->{body},
   'the stored document');
is(dm($ida, $A, 'declaration/configuration/cfg-pass')->{body}, $r->{body},
   'byte-identical on every fetch');
is($r->{json}{ServerToken}, $tok{'cfg-pass'}, 'its ServerToken is the listed one');
is(dm($ida, $A, 'declaration/management/props')->{status}, 200, 'a management declaration');

my $log = length $t->error_log;
is(dm($ida, $A, 'declaration/configuration/cfg-other')->{status}, 404,
   'a declaration of the catalogue not assigned to the enrollment: 404');
like(substr($t->error_log, $log), qr/asked for declaration\/configuration\/cfg-other, which is not assigned/,
     'logged');
is(dm($ida, $A, 'declaration/activation/cfg-pass')->{status}, 404,
   'an assigned declaration under another kind: 404');
is(dm($idb, $B, 'declaration/configuration/cfg-pass')->{status}, 404,
   'another enrollment\'s declaration: 404');
is(dm($ida, $A, 'declaration/nothing/cfg-pass')->{status}, 400, 'an unknown kind: 400');
is(dm($ida, $A, 'nothing')->{status}, 400, 'an unknown Endpoint: 400');
is(dm($idb, $A, 'tokens')->{status}, 400,
   'another device\'s certificate: refused as every check-in');

# --- status ------------------------------------------------------------------

my $first = $t->fixture('ddm/status-report-first.json');
my $events = $t->redis('XLEN', key_events());
$r = dm($ida, $A, 'status', data => $first);
is($r->{status}, 200, 'a status report: 200');
is($r->{body}, '', 'with an empty body');
is($t->redis('XLEN', key_events()), $events + 1, 'one event');
my $last = $t->redis('XREVRANGE', key_events(), '+', '-', 'COUNT', 1);
like($last->[0][1][1], qr/ddm\.StatusReport/, 'a ddm.StatusReport event');

$r = api('GET', "/v1/status-values/$A?prefix=.StatusItems.device.operating-system.%25");
is($r->{status}, 200, 'status-values: 200');
my %values = map { $_->{path} => $_->{value} } @{ $r->{json}{$A} // [] };
is($values{'.StatusItems.device.operating-system.version'}, '13.3.1',
   'the reported OS version, by its path');
ok(!exists $values{'.StatusItems.device.model.family'}, 'the prefix filters');

$r = api('GET', "/v1/status-report/$A?index=0");
is($r->{status}, 200, 'status-report: 200');
is($r->{body}, $first, 'the raw report as sent');
like($r->{headers}{'x-status-report-id'} // '', qr/^[0-9a-f]{16}$/, 'its ID');
is($r->{headers}{'x-status-report-index'}, '0', 'its index');
ok($r->{headers}{'last-modified'}, 'Last-Modified');
is(api('GET', "/v1/status-report/$A?index=1")->{status}, 404, 'no second report yet');

# a report about the declarations: current against the view
my $decls = $json->encode({ StatusItems => { management => { declarations => {
    activations => [ { identifier => 'act-1', active => JSON::PP::true, valid => 'valid',
                       'server-token' => $tok{'act-1'} } ],
    configurations => [ { identifier => 'cfg-pass', active => JSON::PP::false,
                          valid => 'invalid', 'server-token' => 'old',
                          reasons => [ { code => 'Error.ConfigurationCannotBeApplied' } ] } ],
    assets => [], management => [] } } },
    Errors => [ { StatusItem => 'device.operating-system.version',
                  Reasons => [ { code => 'Error.Unknown' } ] } ] });
is(dm($ida, $A, 'status', data => $decls)->{status}, 200, 'an incremental report: 200');
$r = api('GET', "/v1/declaration-status/$A,$B");
is($r->{status}, 200, 'declaration-status: 200');
my %st = map { $_->{identifier} => $_ } @{ $r->{json}{$A} // [] };
is_deeply([sort keys %st], [qw(act-1 cfg-pass)], 'both reported declarations');
ok($st{'act-1'}{current}, 'act-1 reported the assigned token: current');
ok(!$st{'cfg-pass'}{current}, 'cfg-pass reported an old one: not current');
is($st{'cfg-pass'}{valid}, 'invalid', 'valid as reported');
ok(JSON::PP::is_bool($st{'cfg-pass'}{active}) && !$st{'cfg-pass'}{active}, 'active as reported');
is($st{'cfg-pass'}{reasons}[0]{code}, 'Error.ConfigurationCannotBeApplied', 'its reasons');
ok($st{'cfg-pass'}{status_id} && $st{'cfg-pass'}{status_received}, 'status_id, status_received');
is_deeply($r->{json}{$B}, [], 'an enrollment that reported nothing: []');
is(api('GET', "/v1/status-values/$A?prefix=.StatusItems.device.operating-system.version")
   ->{json}{$A}[0]{value}, '13.3.1', 'an incremental report keeps the values it does not name');

$r = api('GET', "/v1/status-errors/$A");
my @paths = sort map { $_->{path} } @{ $r->{json}{$A} // [] };
is_deeply(\@paths, ['.Errors', '.StatusItems.management.declarations.configurations'],
          'status-errors: the report\'s Errors and the inactive, invalid declaration');

# a full report replaces what was stored
my $full = $json->encode({ FullReport => JSON::PP::true, StatusItems => {
    device => { 'operating-system' => { version => '14.0' } } } });
is(dm($ida, $A, 'status', data => $full)->{status}, 200, 'a full report: 200');
is_deeply(api('GET', "/v1/declaration-status/$A")->{json}{$A}, [],
          'it replaced the declaration statuses');
is(api('GET', "/v1/status-values/$A")->{json}{$A}[0]{value}, '14.0',
   'and the values');
is(api('GET', "/v1/status-report/$A?index=2")->{body}, $first,
   'the history keeps the earlier reports, newest first');

# --- bad status reports: 400, a log line, nothing stored ----------------------

my $before = $t->redis_snapshot;
for my $bad (['malformed JSON', '{"StatusItems": {'],
             ['not an object', '[1]'],
             ['StatusItems not a dictionary', '{"StatusItems": []}'],
             ['a declaration without identifier',
              '{"StatusItems":{"management":{"declarations":{"configurations":[{"active":true}]}}}}'],
             ['no Data', undef]) {
    my ($what, $body) = @$bad;
    $log = length $t->error_log;
    is(dm($ida, $A, 'status', data => $body)->{status}, 400, "status, $what: 400");
    like(substr($t->error_log, $log), qr/status report from "$A" refused/, "status, $what: logged");
}
$log = length $t->error_log;
is(dm($idb, $B, 'status', data => $first)->{status}, 400,
   'a report from an enrollment that was never given declarations: 400');
like(substr($t->error_log, $log), qr/not DDM-enabled/, 'logged');
is($t->redis_snapshot =~ s/^mdm:\{[^}]+\}:enr hash \S+\n?//mgr,
   $before =~ s/^mdm:\{[^}]+\}:enr hash \S+\n?//mgr,
   'refused reports stored nothing (last_seen aside)');

# --- the user channel has its own declarations -------------------------------

my $U = "$A:USER-1";
is(checkin($ida, MessageType => 'TokenUpdate', UDID => $A, UserID => 'USER-1',
           UserLongName => 'U', Topic => $topic, Token => data('u' x 32),
           PushMagic => 'um')->{status}, 200, 'a user channel');
is(api('PUT', "/v1/enrollment-sets/$U?set=other")->{status}, 204, 'a set of its own');
$r = dm($ida, $A, 'declaration-items', user => 'USER-1');
is_deeply([map { $_->{Identifier} } @{ $r->{json}{Declarations}{Configurations} }],
          ['cfg-other'], 'the user channel lists its declarations');
is(dm($ida, $A, 'declaration/configuration/cfg-other', user => 'USER-1')->{status}, 200,
   'and gets them');
is(dm($ida, $A, 'declaration/configuration/cfg-pass', user => 'USER-1')->{status}, 404,
   'not the device channel\'s');
is(dm($ida, $A, 'declaration/configuration/cfg-other')->{status}, 404,
   'nor the device channel the user\'s');

# --- token stability; a change after a sync notifies again -------------------

my @q = @{ $t->redis('LRANGE', key_q($A), 0, -1) };
is(scalar @q, 1, 'one DeclarativeManagement command so far');
is(api('PUT', '/v1/declarations', decl('com.apple.management.properties', 'props',
       { color => 'blue' }))->{status}, 304, 'identical JSON again: 304');
is(dm($ida, $A, 'tokens')->{json}{SyncTokens}{DeclarationsToken}, $token,
   'the DeclarationsToken did not move');
is(api('PUT', '/v1/declarations', decl('com.apple.management.properties', 'props',
       { color => 'red' }))->{status}, 204, 'an edit after the sync: 204');
@q = @{ $t->redis('LRANGE', key_q($A), 0, -1) };
is(scalar @q, 2, 'a second command, as the first was synced');
isnt(dm($ida, $A, 'tokens')->{json}{SyncTokens}{DeclarationsToken}, $token,
     'a new DeclarationsToken');

is_deeply([$t->error_log_problems], [], 'no alerts in the logs');

done_testing;
