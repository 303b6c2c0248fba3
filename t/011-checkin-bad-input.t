#!/usr/bin/perl
# Bad check-in and command report input: every case gets 400/413 and a log
# line with libmdm's reason, is counted by that reason in
# mdm_device_bodies_refused_total, and changes nothing in Redis. Bodies are
# validly signed, so the decoder is what refuses.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;

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
        client_max_body_size 64k;
        client_body_buffer_size 64k;
        mdm_device_ca $pki->{ca};
        location /checkin { mdm_checkin; }
        location /small-buffer { client_body_buffer_size 8k; mdm_checkin; }
        location /connect { mdm_connect; }
        location = /metrics { mdm_metrics; }
    }
EOF

my $CT = 'application/x-apple-aspen-mdm-checkin';
my $udid = 'BAD-INPUT-DEVICE';
my $topic = 'com.apple.mgmt.External.bad';
my $dev = $t->identity($udid);

sub checkin {
    my ($body, %opt) = @_;
    my $path = delete $opt{path} // '/checkin';
    my %h = ('Content-Type' => $CT, %{ delete $opt{headers} // {} });
    return $t->request('PUT', $port, $path, $body, headers => \%h, sign => $dev, %opt);
}

my $auth = plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic);
is(checkin($auth)->{status}, 200, 'a good Authenticate is accepted first');
my $before = $t->redis_snapshot;

my $deep = '<plist version="1.0"><dict><key>MessageType</key><string>Authenticate</string><key>UDID</key><string>x</string><key>Topic</key><string>t</string><key>Deep</key>'
    . ('<array>' x 2000) . ('</array>' x 2000) . '</dict></plist>';

# [ name, body, status, libmdm's reason (the log line's and the metric's) ]
my @cases = (
    [ 'malformed XML', '<plist><dict><key>MessageType</key><string>Authenticate</dict>', 400, 'malformed' ],
    [ 'binary plist garbage', "bplist00\xff\xfe\x00garbage-garbage-garbage", 400, 'malformed' ],
    [ 'random bytes', join('', map { chr(($_ * 37) % 256) } 1 .. 512), 400, 'malformed' ],
    [ 'a plist that is not a dict', '<plist version="1.0"><array><string>x</string></array></plist>', 400, 'malformed' ],
    [ 'missing MessageType', plist(UDID => $udid, Topic => $topic), 400, 'missing_key' ],
    [ 'unknown MessageType', plist(MessageType => 'SelfDestruct', UDID => $udid), 400, 'unknown_type' ],
    [ 'MessageType of the wrong type', plist(MessageType => [ 'Authenticate' ], UDID => $udid), 400, 'wrong_type' ],
    [ 'Authenticate without Topic', plist(MessageType => 'Authenticate', UDID => $udid), 400, 'missing_key' ],
    [ 'TokenUpdate with Token as a string', plist(MessageType => 'TokenUpdate', UDID => $udid,
        Topic => $topic, Token => 'not-data', PushMagic => 'm'), 400, 'wrong_type' ],
    [ 'TokenUpdate without PushMagic', plist(MessageType => 'TokenUpdate', UDID => $udid,
        Topic => $topic, Token => data('x' x 32)), 400, 'missing_key' ],
    [ 'no UDID nor EnrollmentID', plist(MessageType => 'CheckOut', Topic => $topic), 400, 'missing_key' ],
    [ 'UDID with a hash-tag brace', plist(MessageType => 'CheckOut', UDID => 'a}b', Topic => $topic), 400, 'invalid' ],
    [ 'duplicated keys', '<plist version="1.0"><dict><key>MessageType</key><string>CheckOut</string>'
        . "<key>UDID</key><string>$udid</string><key>UDID</key><string>other</string>"
        . "<key>Topic</key><string>$topic</string></dict></plist>", 400, 'malformed' ],
    [ 'deeply nested structure', $deep, 400, 'malformed' ],
);

my %want_refused;
for my $c (@cases) {
    my ($name, $body, $want, $reason) = @$c;
    my $log_at = length $t->error_log;
    my $r = checkin($body);
    is($r->{status}, $want, "$name: $want");
    like(substr($t->error_log, $log_at), qr/mdm checkin refused: .* \(\Q$reason\E\)/,
         "... logged as $reason");
    $want_refused{$reason}++;
}

# the same reasons, counted per endpoint in mdm_device_bodies_refused_total
my $metrics = $t->request('GET', $port, '/metrics')->{body};
my %got_refused = $metrics =~ /^mdm_device_bodies_refused_total\{endpoint="checkin",reason="(\w+)"\} (\d+)$/mg;
delete $got_refused{$_} for grep { !$got_refused{$_} } keys %got_refused;
is_deeply(\%got_refused, \%want_refused, 'the metric counts each refusal by its reason');
like($metrics, qr/^mdm_device_bodies_refused_total\{endpoint="connect",reason="malformed"\} 0$/m,
     '... per endpoint, zeros shown');

like($t->error_log, qr/mdm checkin refused: .*MessageType/, 'refusals are logged with the reason');

is(checkin('')->{status}, 400, 'empty body: 400');
like($t->error_log, qr/mdm: empty body refused/, 'empty body logged');

my $r = $t->request('PUT', $port, '/checkin', $auth, sign => $dev,
                    headers => { 'Content-Type' => 'text/plain' });
is($r->{status}, 400, 'wrong Content-Type: 400');
like($t->error_log, qr/wrong Content-Type "text\/plain" refused/, 'wrong Content-Type logged');
$r = $t->request('PUT', $port, '/checkin', $auth, sign => $dev,
                 headers => { 'Content-Type' => 'application/x-apple-aspen-mdm' });
is($r->{status}, 400, 'a command report Content-Type on the check-in URL: 400');

my $huge = plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic,
                 Padding => 'x' x (70 * 1024));
is(checkin($huge)->{status}, 413, 'a body over client_max_body_size: 413');

my $mid = plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic,
                Padding => 'x' x (20 * 1024));
is(checkin($mid, path => '/small-buffer')->{status}, 413,
   'a body that would spill to a temp file: 413');
like($t->error_log, qr/body larger than client_body_buffer_size refused/, '... logged');

$r = $t->request('GET', $port, '/checkin', '');
is($r->{status}, 405, 'GET on the check-in URL: 405');

# --- command reports: the same refusals, their own reasons ------------------

sub report {
    my ($body) = @_;
    return $t->request('PUT', $port, '/connect', $body, sign => $dev,
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm' });
}

my @reports = (
    [ 'a report that is not a plist', '<plist><dict><key>Status</key>', 'malformed' ],
    [ 'a report without Status', plist(UDID => $udid, CommandUUID => 'C-1'), 'missing_key' ],
    [ 'an unknown Status', plist(UDID => $udid, Status => 'Exploded', CommandUUID => 'C-1'),
      'unknown_type' ],
    [ 'Status of the wrong type', plist(UDID => $udid, Status => [ 'Idle' ]), 'wrong_type' ],
    [ 'an Acknowledged without CommandUUID', plist(UDID => $udid, Status => 'Acknowledged'),
      'missing_key' ],
    [ 'a report from no device', plist(Status => 'Idle'), 'missing_key' ],
);
my %want_reports;
for my $c (@reports) {
    my ($name, $body, $reason) = @$c;
    my $log_at = length $t->error_log;
    is(report($body)->{status}, 400, "$name: 400");
    like(substr($t->error_log, $log_at), qr/mdm report refused: .* \(\Q$reason\E\)/,
         "... logged as $reason");
    $want_reports{$reason}++;
}
$metrics = $t->request('GET', $port, '/metrics')->{body};
my %got_reports = $metrics =~ /^mdm_device_bodies_refused_total\{endpoint="connect",reason="(\w+)"\} (\d+)$/mg;
delete $got_reports{$_} for grep { !$got_reports{$_} } keys %got_reports;
is_deeply(\%got_reports, \%want_reports, 'the metric counts each refused report by its reason');

is($t->redis_snapshot, $before, 'no refused check-in or report changed anything in Redis');

$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');

done_testing();
