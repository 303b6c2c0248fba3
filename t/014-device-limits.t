#!/usr/bin/perl
# One enrolled device flooding large messages cannot grow Redis: check-ins
# over mdm_checkin_max_size and reports over mdm_report_max_size get 413
# before the signature is even checked, messages over their type's
# mdm_message_max_size get 413 before anything is stored, bodies over
# mdm_event_raw_max_size are not copied into mdm:events, limit_req keyed by
# $mdm_enrollment_id holds one enrollment to its rate (Mdm-Signature and TLS
# client certificates alike), and another device is served all along.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
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
    mdm_event_raw_max_size 16k;
    limit_req_zone \$ssl_client_fingerprint zone=perdevice:1m rate=1r/m;
    limit_req_zone \$mdm_enrollment_id zone=bysig:1m rate=1r/m;
    limit_req_zone \$mdm_enrollment_id zone=bytls:1m rate=1r/m;
    limit_req_zone \$mdm_enrollment_id zone=flood:1m rate=1r/m;
    limit_req_zone \$mdm_enrollment_id zone=delay:1m rate=12r/m;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        client_max_body_size 4m;
        client_body_buffer_size 4m;
        mdm_device_ca $pki->{ca};
        mdm_report_max_size 256k;
        location /mdm { mdm_server; }
        location /defaults { mdm_report_max_size 8m; mdm_server; }
        location /custom {
            mdm_message_max_size Authenticate 2k;
            mdm_message_max_size Idle 200k;
            mdm_server;
        }
        location /rate-sig {
            mdm_identity signature;
            limit_req zone=bysig burst=2 nodelay;
            limit_req_status 429;
            mdm_server;
        }
        location /rate-tls {
            mdm_identity tls;
            limit_req zone=bytls burst=2 nodelay;
            limit_req_status 429;
            mdm_server;
        }
        location /rate-delay {
            limit_req zone=delay burst=10;
            mdm_server;
        }
        location /rate-flood {
            limit_req zone=flood burst=3 nodelay;
            limit_req_status 429;
            mdm_server;
        }
        ssl_verify_client optional_no_ca;
        location /limited {
            limit_req zone=perdevice;
            limit_req_status 429;
            mdm_server;
        }
    }
EOF

my $CHECKIN = 'application/x-apple-aspen-mdm-checkin';
my $CONNECT = 'application/x-apple-aspen-mdm';
my $topic = 'com.apple.mgmt.External.limits';

sub send_msg {
    my ($id, $ct, $body, $path) = @_;
    return $t->request('PUT', $port, $path // '/mdm', $body, sign => $id,
                       headers => { 'Content-Type' => $ct })->{status};
}
sub enroll {
    my ($udid) = @_;
    my $id = $t->identity($udid);
    send_msg($id, $CHECKIN, plist(MessageType => 'Authenticate', UDID => $udid,
                                  Topic => $topic)) == 200 or die "enroll $udid";
    send_msg($id, $CHECKIN, plist(MessageType => 'TokenUpdate', UDID => $udid,
        Topic => $topic, Token => data('t' x 32), PushMagic => "pm-$udid")) == 200
        or die "token $udid";
    return $id;
}
sub used_memory {
    my ($m) = $t->redis('INFO', 'memory') =~ /^used_memory:(\d+)/m;
    return $m;
}

my $flood = enroll('FLOOD');
my $good = enroll('GOOD');
my $base = used_memory();

my $big = 'x' x (1024 * 1024);
my (%flood_status, $good_ok);
for my $i (1 .. 24) {
    $flood_status{ send_msg($flood, $CHECKIN, plist(MessageType => 'Authenticate',
        UDID => 'FLOOD', Topic => $topic, Padding => $big)) }++;
    $flood_status{ send_msg($flood, $CONNECT, plist(UDID => 'FLOOD',
        Status => 'Idle', Padding => $big)) }++;
    $good_ok++ if send_msg($good, $CONNECT, plist(UDID => 'GOOD', Status => 'Idle')) == 200;
}
is_deeply \%flood_status, { 413 => 48 }, '1 MB check-ins and reports: every one 413';
is $good_ok, 24, 'the other device was served all along';
my $grown = used_memory() - $base;
diag "Redis grew by $grown bytes during a 48 MB flood";
cmp_ok $grown, '<', 2 * 1024 * 1024, 'Redis stays within 2 MB of where it was';
like $t->error_log, qr/check-in of \d+ bytes over mdm_checkin_max_size refused/,
    'refusals logged naming the directive';
like $t->error_log, qr/command report of \d+ bytes over mdm_report_max_size refused/,
    '... for reports too';

# per message type: under the class bound (64k), over the type's (16k)
my $before = $t->redis_snapshot;
my $pad = 'p' x (20 * 1024);
is send_msg($good, $CHECKIN, plist(MessageType => 'Authenticate', UDID => 'GOOD',
    Topic => $topic, Padding => $pad)), 413, 'a 20 KB Authenticate: 413 (mdm_message_max_size Authenticate 16k)';
like $t->error_log, qr/Authenticate of \d+ bytes from "GOOD" over "mdm_message_max_size Authenticate 16384" refused/,
    '... logged with the enrollment and the directive';
is send_msg($good, $CHECKIN, plist(MessageType => 'TokenUpdate', UDID => 'GOOD',
    Topic => $topic, Token => data('t' x 32), PushMagic => 'pm', Padding => $pad)), 413,
    'a 20 KB TokenUpdate: 413';
is send_msg($good, $CHECKIN, plist(MessageType => 'CheckOut', UDID => 'GOOD',
    Topic => $topic, Padding => $pad)), 413, 'a 20 KB CheckOut: 413';
is send_msg($good, $CONNECT, plist(UDID => 'GOOD', Status => 'Idle', Padding => $pad)), 413,
    'a 20 KB Idle report: 413';
is send_msg($good, $CONNECT, plist(UDID => 'GOOD', Status => 'NotNow',
    CommandUUID => 'CMD-X', Padding => $pad)), 413, 'a 20 KB NotNow report: 413';
is send_msg($good, $CONNECT, plist(UDID => 'GOOD', Status => 'Error',
    CommandUUID => 'CMD-X', Padding => 'e' x (70 * 1024))), 413, 'a 70 KB Error report: 413';
like $t->error_log, qr/Idle of \d+ bytes from "GOOD" over "mdm_message_max_size Idle 16384" refused/,
    '... logged for reports by their Status';
is $t->redis_snapshot, $before, 'no message over its type bound changed anything in Redis';

# an Acknowledged result keeps the class bound: under mdm_report_max_size but
# over mdm_event_raw_max_size, stored in the result, not copied into the event
my $len0 = $t->redis('XLEN', key_events());
is send_msg($good, $CONNECT, plist(UDID => 'GOOD', Status => 'Acknowledged',
    CommandUUID => 'CMD-BIG', Padding => 'y' x (100 * 1024))), 200,
    'a 100 KB Acknowledged result under the class bound: 200';
my $ev = $t->redis('XREVRANGE', key_events(), '+', '-', 'COUNT', 1);
my %f = @{ $ev->[0][1] };
cmp_ok length $f{m}, '<', 4096, 'its event does not copy the 100 KB body';
cmp_ok $t->redis('XLEN', key_events()), '>', $len0, '... but is published';

is send_msg($good, $CONNECT, plist(UDID => 'GOOD', Status => 'Acknowledged',
    CommandUUID => 'CMD-BIGGER', Padding => 'y' x (1024 * 1024)), '/defaults'), 200,
    'the default report limit (8 MB) takes a 1 MB result';

# the directive per location, each type on its own
my $auth3k = plist(MessageType => 'Authenticate', UDID => 'GOOD', Topic => $topic,
                   Padding => 'a' x 3000);
is send_msg($good, $CHECKIN, $auth3k, '/custom'), 413, 'mdm_message_max_size Authenticate 2k: a 3 KB one 413';
is send_msg($good, $CHECKIN, $auth3k), 200, '... where the default 16k holds, 200';
is send_msg($good, $CONNECT, plist(UDID => 'GOOD', Status => 'Idle', Padding => $pad), '/custom'),
    200, 'mdm_message_max_size Idle 200k: a 20 KB Idle 200';
is send_msg($good, $CONNECT, plist(UDID => 'GOOD', Status => 'NotNow', CommandUUID => 'CMD-X',
    Padding => $pad), '/custom'), 413, '... NotNow keeps its default there';

# per-device rate limit by the certificate (before the body was known)
sub limited {
    my ($id, $udid) = @_;
    return $t->request('PUT', $port, '/limited', plist(UDID => $udid, Status => 'Idle'),
        identity => $id, headers => { 'Content-Type' => $CONNECT })->{status};
}
is limited($flood, 'FLOOD'), 200, 'limit_req by $ssl_client_fingerprint: the first report passes';
is limited($flood, 'FLOOD'), 429, '... the next within the rate is refused';
is limited($good, 'GOOD'), 200, '... while another device is served';

# per-enrollment rate limit: the module reads and decodes the body in the
# rewrite phase, so limit_req (preaccess) sees $mdm_enrollment_id
for my $mode ([ 'sig', 'sign' ], [ 'tls', 'identity' ]) {
    my ($loc, $how) = @$mode;
    my $a = enroll("RATE-\U$loc\E-A");
    my $b = enroll("RATE-\U$loc\E-B");
    my $idle = sub {
        my ($id, $udid) = @_;
        return $t->request('PUT', $port, "/rate-$loc", plist(UDID => $udid, Status => 'Idle'),
            $how => $id, headers => { 'Content-Type' => $CONNECT })->{status};
    };
    my @a = map { $idle->($a, "RATE-\U$loc\E-A") } 1 .. 3;
    is_deeply \@a, [ 200, 200, 200 ], "$loc: limit_req by \$mdm_enrollment_id: rate and burst pass";
    my $snap = $t->redis_snapshot;
    is $idle->($a, "RATE-\U$loc\E-A"), 429, "$loc: ... the next report of that enrollment 429";
    is $t->redis_snapshot, $snap, "$loc: ... and changes nothing in Redis";
    is $idle->($b, "RATE-\U$loc\E-B"), 200, "$loc: ... while another enrollment on the same address is served";
    is $t->request('PUT', $port, "/rate-$loc", plist(MessageType => 'TokenUpdate',
        UDID => "RATE-\U$loc\E-A", Topic => $topic, Token => data('t' x 32), PushMagic => 'pm'),
        $how => $a, headers => { 'Content-Type' => $CHECKIN })->{status}, 429,
        "$loc: ... check-ins of the limited enrollment too";
}
# a burst without nodelay: limit_req holds the request on a timer, then
# the phases go on to the content handler with the body already read. The
# rate is one per 5 s so that the second report comes within the first's
# interval however slow a loaded machine is (at 20r/s, a report that took
# over 50 ms was never held); it is then held for at most 5 s
{
    my $d = enroll('DELAYED');
    my $before = $t->redis('XLEN', key_events());
    my @st = map {
        send_msg($d, $CONNECT, plist(UDID => 'DELAYED', Status => 'Idle'), '/rate-delay')
    } 1 .. 2;
    is_deeply \@st, [ 200, 200 ], 'limit_req delaying by $mdm_enrollment_id: every report 200';
    is $t->redis('XLEN', key_events()) - $before, 2, '... and each one stored';
    like $t->error_log, qr/delaying request, excess: [\d.]+, by zone "delay"/, '... after a delay';
}
like $t->error_log, qr/limiting requests, excess: [\d.]+ by zone "bysig"/,
    'limit_req logs its refusals';

# a flood within every bound: largest messages each type allows, as fast as
# the client can, on a location limited by enrollment. What Redis may grow by:
# the few admitted messages (rate + burst) at their type bound, a few times
# over for the hash, the stream entry and the result
my $hog = enroll('HOG');
$base = used_memory();
my (%hog, $served);
my $k16 = 'h' x (15 * 1024);
for my $i (1 .. 20) {
    my @msgs = (
        [ $CHECKIN, plist(MessageType => 'Authenticate', UDID => 'HOG', Topic => $topic, Padding => $k16) ],
        [ $CONNECT, plist(UDID => 'HOG', Status => 'Idle', Padding => $k16) ],
        [ $CONNECT, plist(UDID => 'HOG', Status => 'Acknowledged', CommandUUID => "HOG-$i",
                          Padding => 'r' x (200 * 1024)) ],
    );
    $hog{ send_msg($hog, @$_, '/rate-flood') }++ for @msgs;
    $served++ if send_msg($good, $CONNECT, plist(UDID => 'GOOD', Status => 'Idle'), '/rate-flood') == 200;
}
diag 'flood of 60 messages (4.3 MB): ' . join ', ', map { "$hog{$_} x $_" } sort keys %hog;
cmp_ok $hog{200} // 0, '<=', 5, 'the flooding enrollment: at most rate + burst admitted';
cmp_ok $hog{429}, '>=', 55, '... the rest 429';
cmp_ok $served, '>=', 4, 'the other enrollment, its own budget, served';
$grown = used_memory() - $base;
diag "Redis grew by $grown bytes during a 4.3 MB flood within the per-type bounds";
cmp_ok $grown, '<', 5 * 3 * 200 * 1024, 'Redis stays within a few times the admitted messages';

# configuration errors at nginx -t, naming the directive
my ($ok, $out) = $t->nginx_test_conf('mdm_message_max_size Authenticat 16k;');
ok !$ok, 'mdm_message_max_size with an unknown type: nginx -t fails';
like $out, qr/invalid "mdm_message_max_size" message "Authenticat": neither a check-in MessageType nor a report Status/,
    '... saying why';
($ok, $out) = $t->nginx_test_conf('mdm_message_max_size Idle 16k; mdm_message_max_size Idle 32k;');
like $out, qr/"mdm_message_max_size" for "Idle" is duplicate/, 'a type given twice: duplicate';
($ok, $out) = $t->nginx_test_conf('mdm_message_max_size Idle lots;');
like $out, qr/invalid "mdm_message_max_size" size "lots"/, 'a bad size: refused';
($ok, $out) = $t->nginx_test_conf('mdm_message_max_size Acknowledged 64m; mdm_message_max_size TokenUpdate 4k;');
ok $ok, 'a check-in type and a report Status, each once: nginx -t passes' or diag $out;

$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');

done_testing();
