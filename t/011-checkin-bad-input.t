#!/usr/bin/perl
# Bad check-in input: every case gets 400/413 and a log line, and changes
# nothing in Redis. Bodies are validly signed, so the decoder is what refuses.

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

my @cases = (
    [ 'malformed XML', '<plist><dict><key>MessageType</key><string>Authenticate</dict>', 400 ],
    [ 'binary plist garbage', "bplist00\xff\xfe\x00garbage-garbage-garbage", 400 ],
    [ 'random bytes', join('', map { chr(($_ * 37) % 256) } 1 .. 512), 400 ],
    [ 'a plist that is not a dict', '<plist version="1.0"><array><string>x</string></array></plist>', 400 ],
    [ 'missing MessageType', plist(UDID => $udid, Topic => $topic), 400 ],
    [ 'unknown MessageType', plist(MessageType => 'SelfDestruct', UDID => $udid), 400 ],
    [ 'MessageType of the wrong type', plist(MessageType => [ 'Authenticate' ], UDID => $udid), 400 ],
    [ 'Authenticate without Topic', plist(MessageType => 'Authenticate', UDID => $udid), 400 ],
    [ 'TokenUpdate with Token as a string', plist(MessageType => 'TokenUpdate', UDID => $udid,
        Topic => $topic, Token => 'not-data', PushMagic => 'm'), 400 ],
    [ 'TokenUpdate without PushMagic', plist(MessageType => 'TokenUpdate', UDID => $udid,
        Topic => $topic, Token => data('x' x 32)), 400 ],
    [ 'no UDID nor EnrollmentID', plist(MessageType => 'CheckOut', Topic => $topic), 400 ],
    [ 'UDID with a hash-tag brace', plist(MessageType => 'CheckOut', UDID => 'a}b', Topic => $topic), 400 ],
    [ 'duplicated keys', '<plist version="1.0"><dict><key>MessageType</key><string>CheckOut</string>'
        . "<key>UDID</key><string>$udid</string><key>UDID</key><string>other</string>"
        . "<key>Topic</key><string>$topic</string></dict></plist>", 400 ],
    [ 'deeply nested structure', $deep, 400 ],
);

for my $c (@cases) {
    my ($name, $body, $want) = @$c;
    my $r = checkin($body);
    is($r->{status}, $want, "$name: $want");
}
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

is($t->redis_snapshot, $before, 'no refused check-in changed anything in Redis');

$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');

done_testing();
