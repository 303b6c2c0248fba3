#!/usr/bin/perl
# Command results into state, end to end through nginx, Redis and
# mdm-worker (docs/profiles.md): InstallProfile acknowledged → installed,
# refused → failed; DeviceInformation, SecurityInfo and
# InstalledApplicationList results into the enrollment's inventory (a
# result too large for its event read from the stored result), readable
# through the API; a ProfileList that lacks an installed profile gets it
# queued again; a malformed result logged and not stored; the device's
# Activation Lock bypass code kept (the last non-empty one) with its hash.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use MDM::Test;
use MDM::Keys;

*plist = \&MDM::Plist::plist;
*data = \&MDM::Plist::data;
*subdict = \&MDM::Plist::subdict;
*integer = \&MDM::Plist::integer;
*true = \&MDM::Plist::true;

my $worker_bin = "$MDM::Test::BUILD/mdm-worker";
my $mock_bin = "$MDM::Test::BUILD/apns-mock";
plan skip_all => 'mdm-worker or apns-mock not built'
    unless -x $worker_bin && -x $mock_bin;

my $t = MDM::Test->new;
my $dir = $t->dir;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $port = $t->port('https');

# results over 4 KiB are left out of their event: the worker reads them back
$t->nginx_start(<<"EOF", port => $port);
    mdm_redis 127.0.0.1:$redis;
    mdm_event_raw_max_size 4k;
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

my %AUTH = MDM::Test::api_auth('sekret');
my $topic = 'com.apple.mgmt.External.inventory';

sub api {
    my ($method, $path, $body) = @_;
    my $r = $t->request($method, $port, $path, $body, headers => \%AUTH);
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

# --- APNs mock, push certificate, worker -------------------------------------

$t->spawn('mock', {}, $mock_bin, '--port', 0, '--cert', $pki->{cert},
    '--key', $pki->{key}, '--ca', $pki->{ca}, '--log', "$dir/mock.log");
my $mock_port = $t->wait_for(sub {
    -e "$dir/mock.out" && MDM::Test::slurp("$dir/mock.out") =~ /^port=(\d+)$/m
        ? $1 : undef
}) or BAIL_OUT('apns-mock did not start');
is(api('PUT', '/v1/pushcert', $t->push_cert('inv', $topic)->{pem})->{status}, 200,
   'a push certificate for the topic');

MDM::Test::spew("$dir/mdm-worker.conf", <<"EOF");
redis = 127.0.0.1:$redis
log_level = debug
apns_url = https://127.0.0.1:$mock_port
apns_ca = $pki->{ca}
push_block_ms = 200
webhook_block_ms = 200
EOF
$t->spawn('worker', {}, $worker_bin, '-c', "$dir/mdm-worker.conf", '--name', 'w1');
sub worker_log { MDM::Test::slurp($t->dir . '/worker.out') // '' }
ok($t->wait_for(sub {
    my $g = $t->redis('XINFO', 'GROUPS', key_events());
    ref $g eq 'ARRAY' && grep { ref $_ && +{@$_}->{name} eq 'inventory' } @$g
}), 'the worker reads mdm:events in the group inventory');

# --- devices --------------------------------------------------------------------

my %id;
sub device {
    my ($udid) = @_;
    $id{$udid} = $t->identity($udid);
    for my $msg (plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic),
                 plist(MessageType => 'TokenUpdate', UDID => $udid, Topic => $topic,
                       Token => data(pack('H*', 'cd' x 32)), PushMagic => "magic-$udid")) {
        my $r = $t->request('PUT', $port, '/mdm', $msg, sign => $id{$udid},
            headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' });
        die "enrollment of $udid failed: $r->{status}" unless $r->{status} == 200;
    }
}

# a report; the answer is the next command (its UUID and RequestType)
sub report {
    my ($udid, @kv) = @_;
    my $r = $t->request('PUT', $port, '/mdm', plist(UDID => $udid, @kv),
                        sign => $id{$udid});
    die "report of $udid: $r->{status}" unless $r->{status} == 200;
    my ($uuid) = $r->{body} =~ m{<key>CommandUUID</key>\s*<string>([^<]+)</string>};
    my ($type) = $r->{body} =~ m{<key>RequestType</key>\s*<string>([^<]+)</string>};
    return ($uuid, $type);
}

sub state_of {
    my ($udid, $ident) = @_;
    my $v = $t->redis('HGET', key_prof_dev($udid), $ident) // '';
    return (split / /, $v)[0] // '';
}

sub fact {
    my ($udid, $name) = @_;
    my $v = $t->redis('HGET', key_inv($udid), $name);
    return defined $v ? decode_json($v) : undef;
}

my $A = 'AAAA-INV-0001';
my $B = 'BBBB-INV-0002';
device($A);
device($B);

# --- InstallProfile outcomes --------------------------------------------------

my $profile = plist(
    PayloadIdentifier => 'com.example.wifi', PayloadUUID => '7A0C-0001',
    PayloadType => 'Configuration', PayloadVersion => integer(1),
    PayloadContent => [ subdict(
        PayloadType => 'com.apple.wifi.managed', PayloadVersion => integer(1),
        PayloadIdentifier => 'com.example.wifi.1', PayloadUUID => '7A0C-0002',
        SSID_STR => 'office') ]);
is(api('POST', '/v1/profiles', $profile)->{status}, 201, 'a profile');
my $r = api('POST', '/v1/profiles/com.example.wifi/assign',
            qq({"enrollments": ["$A", "$B"]}));
is($r->{json}{queued}, 2, 'assigned to both');

my ($ua, $ta) = report($A, Status => 'Idle');
is($ta, 'InstallProfile', "$A is sent InstallProfile");
report($A, Status => 'Acknowledged', CommandUUID => $ua);
ok($t->wait_for(sub { state_of($A, 'com.example.wifi') eq 'installed' }),
   "$A acknowledged it: installed");
is(api('GET', "/v1/enrollments/$A/profiles")->{json}{'com.example.wifi'}{status},
   'installed', 'and the API says so');

my ($ub, $tb) = report($B, Status => 'Idle');
is($tb, 'InstallProfile', "$B is sent it too");
report($B, Status => 'Error', CommandUUID => $ub,
       ErrorChain => [ subdict(ErrorCode => integer(4001), ErrorDomain => 'MCProfileErrorDomain',
                               LocalizedDescription => 'Profile Installation Failed') ]);
ok($t->wait_for(sub { state_of($B, 'com.example.wifi') eq 'failed' }),
   "$B refused it: failed");
like(api('GET', "/v1/commands/$ub")->{body}, qr/MCProfileErrorDomain/,
     'its ErrorChain is the command\'s result');

# --- inventory ----------------------------------------------------------------

sub command {
    my ($udid, $json) = @_;
    my $r = api('POST', "/v1/commands/$udid", $json);
    die "command: $r->{status} $r->{body}" unless $r->{status} == 200;
    my ($uuid, $type) = report($udid, Status => 'Idle');
    return $uuid;
}

my $u = command($A, '{"request_type":"DeviceInformation","Queries":["OSVersion","SerialNumber","Model"]}');
report($A, Status => 'Acknowledged', CommandUUID => $u,
       QueryResponses => subdict(OSVersion => '17.4', SerialNumber => 'SN-A-1',
                                 Model => 'iPhone15,2', IsSupervised => true(),
                                 SomethingNew => 'kept'));
ok($t->wait_for(sub { fact($A, 'DeviceInformation.OSVersion') }),
   'DeviceInformation into the inventory');
is(fact($A, 'DeviceInformation.OSVersion')->{value}, '17.4', 'OSVersion');
ok(fact($A, 'DeviceInformation.IsSupervised')->{value}, 'IsSupervised, a boolean');
is(fact($A, 'DeviceInformation.SomethingNew')->{value}, 'kept', 'a key Apple may add, kept');
like(fact($A, 'DeviceInformation.OSVersion')->{at}, qr/^\d{10}$/, 'with the time it was reported');

my $sec = $t->fixture('devices/report-securityinfo-ack.plist');
$u = command($A, '{"request_type":"SecurityInfo"}');
$sec =~ s{(<key>CommandUUID</key>\s*<string>)[^<]+}{$1$u};
$sec =~ s{<key>UDID</key>\s*<string>[^<]+</string>}{<key>UDID</key><string>$A</string>};
$r = $t->request('PUT', $port, '/mdm', $sec, sign => $id{$A});
is($r->{status}, 200, 'the SecurityInfo fixture reported');
ok($t->wait_for(sub { fact($A, 'SecurityInfo.FDE_Enabled') }), 'SecurityInfo into the inventory');
ok(!fact($A, 'SecurityInfo.FDE_Enabled')->{value}, 'FDE_Enabled false');
is(ref fact($A, 'SecurityInfo.FirewallSettings')->{value}, 'HASH', 'FirewallSettings as an object');

# an application list larger than its event may carry
my @apps = map { subdict(Identifier => "com.example.app$_", Name => "App $_",
                         ShortVersion => "1.$_", BundleSize => integer(1000 + $_)) } 1 .. 120;
$u = command($A, '{"request_type":"InstalledApplicationList"}');
report($A, Status => 'Acknowledged', CommandUUID => $u, InstalledApplicationList => \@apps);
ok($t->wait_for(sub { fact($A, 'InstalledApplicationList.count') }),
   'InstalledApplicationList (over 4 KiB: read back from its stored result)');
is(fact($A, 'InstalledApplicationList.count')->{value}, 120, '120 apps');
like(fact($A, 'InstalledApplicationList.digest')->{value}, qr/^[0-9a-f]{64}$/, 'and a digest');
$r = api('GET', "/v1/enrollments/$A/applications");
is(scalar @{ $r->{json} // [] }, 120, 'GET /v1/enrollments/<id>/applications');
is($r->{json}[0]{Identifier}, 'com.example.app1', 'the list as the device sent it');

$r = api('GET', "/v1/enrollments/$A/inventory");
is($r->{json}{'DeviceInformation.SerialNumber'}{value}, 'SN-A-1',
   'GET /v1/enrollments/<id>/inventory');
is_deeply(api('GET', "/v1/enrollments/$B/inventory")->{json}, {},
          'an enrollment without results has an empty inventory');

# a malformed result: logged, nothing stored
$u = command($B, '{"request_type":"DeviceInformation","Queries":["OSVersion"]}');
report($B, Status => 'Acknowledged', CommandUUID => $u, QueryResponses => 'not a dict');
ok($t->wait_for(sub { worker_log() =~ /inventory: DeviceInformation \Q$u\E of \Q$B\E not stored/ }),
   'a malformed result: one log line');
is_deeply(api('GET', "/v1/enrollments/$B/inventory")->{json}, {}, '... and nothing stored');

# --- ProfileList: a profile removed by hand comes back -------------------------

$u = command($A, '{"request_type":"ProfileList","ManagedOnly":true}');
report($A, Status => 'Acknowledged', CommandUUID => $u,
       ProfileList => [ subdict(PayloadIdentifier => 'com.example.other',
                                PayloadUUID => 'X-1', IsManaged => true()) ]);
ok($t->wait_for(sub { state_of($A, 'com.example.wifi') eq 'pending' }),
   'a ProfileList without an installed profile: pending again');
is(fact($A, 'ProfileList.count')->{value}, 1, 'the list counted');
is($t->redis('HGET', key_inv_profiles($A), 'com.example.other'), 'X-1',
   'what the device listed, by identifier');
ok($t->wait_for(sub { worker_log() =~ /inventory: \Q$A\E lists no com\.example\.wifi: InstallProfile \S+ queued again/ }),
   'an InstallProfile queued again, which the worker logs');
my @q = @{ $t->redis('LRANGE', key_q($A), 0, -1) };
is(scalar @q, 1, 'one command queued');
is($t->redis('HGET', key_cmd($q[0]), 'type'), 'InstallProfile', 'an InstallProfile');

$u = command($A, '{"request_type":"ProfileList","ManagedOnly":true}');
is($u, $q[0], 'the device gets the InstallProfile first');
my ($pl, $pltype) = report($A, Status => 'Acknowledged', CommandUUID => $u);
ok($t->wait_for(sub { state_of($A, 'com.example.wifi') eq 'installed' }),
   'and is back to installed');
is($pltype, 'ProfileList', 'then the ProfileList');
report($A, Status => 'Acknowledged', CommandUUID => $pl,
       ProfileList => [ subdict(PayloadIdentifier => 'com.example.wifi',
                                PayloadUUID => '7A0C-0001', IsManaged => true()) ]);
ok($t->wait_for(sub { ($t->redis('HGET', key_inv_profiles($A), 'com.example.wifi') // '') eq '7A0C-0001' }),
   'which lists it again');
is(state_of($A, 'com.example.wifi'), 'installed', 'installed it stays');

# --- Activation Lock bypass code: the last non-empty one kept ----------------

$u = command($A, '{"request_type":"ActivationLockBypassCode"}');
report($A, Status => 'Acknowledged', CommandUUID => $u,
       ActivationLockBypassCode => '3UM43-PUYVY-QYD1-UVCC-HEHJ-FKA4');
ok($t->wait_for(sub { $t->redis('HGET', key_albc($A), 'device_code') }),
   'an ActivationLockBypassCode result kept');
$r = api('GET', "/v1/enrollments/$A/bypass-code");
is($r->{json}{device_code}, '3UM43-PUYVY-QYD1-UVCC-HEHJ-FKA4',
   'GET /v1/enrollments/<id>/bypass-code');
like($r->{json}{device_hash} // '', qr/^6ab40d5e[0-9a-f]{50}0014b5$/,
     'with its escrow hash (the published vector)');
is(api('GET', "/v1/enrollments/$B/bypass-code")->{status}, 404,
   'none reported: 404');

$u = command($A, '{"request_type":"ActivationLockBypassCode"}');
report($A, Status => 'Acknowledged', CommandUUID => $u, ActivationLockBypassCode => '');
ok($t->wait_for(sub { worker_log() =~ /\Q$A\E reports no bypass code; the kept one stays/ }),
   'an empty code reported');
$u = command($A, '{"request_type":"ActivationLockBypassCode"}');
report($A, Status => 'Acknowledged', CommandUUID => $u,
       ActivationLockBypassCode => 'NOT-A-CODE');
ok($t->wait_for(sub { worker_log() =~ /ActivationLockBypassCode \Q$u\E of \Q$A\E not stored: not a bypass code/ }),
   'a malformed code: one log line');
is($t->redis('HGET', key_albc($A), 'device_code'), '3UM43-PUYVY-QYD1-UVCC-HEHJ-FKA4',
   'neither replaced the kept code');

$t->stop('worker', 'TERM');
is($?, 0, 'the worker drains and exits 0');
like(worker_log(), qr/inventory: stored=\d+ results=\d+/, 'with its totals');
is_deeply([$t->error_log_problems], [], 'no alerts in the logs');

done_testing;
