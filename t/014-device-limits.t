#!/usr/bin/perl
# One enrolled device flooding large messages cannot grow Redis: check-ins
# over mdm_checkin_max_size and reports over mdm_report_max_size get 413
# before the signature is even checked, bodies over mdm_event_raw_max_size
# are not copied into mdm:events, and another device is served all along.

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

# a report under mdm_report_max_size but over mdm_event_raw_max_size: stored
# in the result, not copied into the event
my $len0 = $t->redis('XLEN', key_events());
is send_msg($good, $CONNECT, plist(UDID => 'GOOD', Status => 'Idle',
    Padding => 'y' x (100 * 1024))), 200, 'a 100 KB report under the limit: 200';
my $ev = $t->redis('XREVRANGE', key_events(), '+', '-', 'COUNT', 1);
my %f = @{ $ev->[0][1] };
cmp_ok length $f{m}, '<', 4096, 'its event does not copy the 100 KB body';
cmp_ok $t->redis('XLEN', key_events()), '>', $len0, '... but is published';

is send_msg($good, $CONNECT, plist(UDID => 'GOOD', Status => 'Idle',
    Padding => 'y' x (1024 * 1024)), '/defaults'), 200,
    'the default report limit (8 MB) takes a 1 MB result';

# per-device rate limit: limit_req runs before the body is read, when
# $mdm_enrollment_id is not known yet; the TLS client certificate's
# fingerprint is, and names one enrollment (docs/metrics.md)
sub limited {
    my ($id, $udid) = @_;
    return $t->request('PUT', $port, '/limited', plist(UDID => $udid, Status => 'Idle'),
        identity => $id, headers => { 'Content-Type' => $CONNECT })->{status};
}
is limited($flood, 'FLOOD'), 200, 'limit_req by $ssl_client_fingerprint: the first report passes';
is limited($flood, 'FLOOD'), 429, '... the next within the rate is refused';
is limited($good, 'GOOD'), 200, '... while another device is served';

$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');

done_testing();
