#!/usr/bin/perl
# Body intake on every location that reads a body: a body sent with
# Transfer-Encoding: chunked (one chunk, many small chunks, each written on
# its own so they land in several buffers) is read exactly as the same body
# sent with Content-Length; one that nginx would write to a temp file is
# refused with 413 and a log line; nothing crashes or trips the sanitizers.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::SSL;
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
        client_max_body_size 64k;
        client_body_buffer_size 64k;
        mdm_device_ca $pki->{ca};
        location /checkin { mdm_checkin; }
        location /connect { mdm_connect; }
        location /mdm { mdm_server; }
        location /small { client_body_buffer_size 8k; mdm_server; }
        location /small-api/ { client_body_buffer_size 1k; mdm_api; mdm_api_key sekret; }
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF

my %API = MDM::Test::api_auth('sekret');
my $CHECKIN = 'application/x-apple-aspen-mdm-checkin';
my $CONNECT = 'application/x-apple-aspen-mdm';
my $topic = 'com.apple.mgmt.External.body';

# Sends $body in chunks of $size bytes, each chunk its own write.
sub chunked {
    my ($method, $path, $body, $size, %h) = @_;
    my $sock = IO::Socket::SSL->new(
        PeerAddr => "127.0.0.1:$port",
        SSL_verify_mode => SSL_VERIFY_PEER,
        SSL_ca_file => $pki->{ca},
        SSL_verifycn_name => 'localhost',
    ) or die "TLS connect: $SSL_ERROR";
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . "Transfer-Encoding: chunked\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    $sock->print("$req\r\n");
    for (my $o = 0; $o < length $body; $o += $size) {
        my $c = substr($body, $o, $size);
        $sock->print(sprintf("%x\r\n%s\r\n", length $c, $c));
    }
    $sock->print("0\r\n\r\n");
    local $/;
    my $resp = <$sock> // '';
    close $sock;
    return MDM::Test::parse_response($resp);
}

sub device_chunked {
    my ($id, $path, $ct, $body, $size) = @_;
    return chunked('PUT', $path, $body, $size, 'Content-Type' => $ct,
                   'Mdm-Signature' => $t->sign($id, $body));
}

my $udid = 'CHUNKED-DEVICE';
my $id = $t->identity($udid);
my $auth = plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic);
my $tok = plist(MessageType => 'TokenUpdate', UDID => $udid, Topic => $topic,
                Token => data(pack('H*', 'cd' x 32)), PushMagic => 'magic-chunked');

is(device_chunked($id, '/checkin', $CHECKIN, $auth, 1 << 20)->{status}, 200,
   'a chunked Authenticate in one chunk: 200');
is(device_chunked($id, '/checkin', $CHECKIN, $tok, 7)->{status}, 200,
   'a chunked TokenUpdate in 7-byte chunks: 200');
is($t->redis('HGET', key_enr($udid), 'push_magic'), 'magic-chunked',
   'the many-chunk body was read whole: PushMagic stored');

my $cmd = encode_json({ request_type => 'DeviceInformation',
                        command_uuid => 'CHUNKED-CMD-1',
                        Queries => [ 'SerialNumber' ] });
my $r = chunked('POST', "/v1/commands/$udid", $cmd, 5, %API,
                'Content-Type' => 'application/json');
is($r->{status}, 200, 'a chunked API enqueue in 5-byte chunks: 200')
    or diag $r->{body};

$r = device_chunked($id, '/connect', $CONNECT,
                    plist(UDID => $udid, Status => 'Idle'), 3);
is($r->{status}, 200, 'a chunked Idle report on the connect URL: 200');
like($r->{body}, qr/CHUNKED-CMD-1/, '... answered with the queued command');

$r = device_chunked($id, '/mdm', $CONNECT,
                    plist(UDID => $udid, Status => 'Acknowledged',
                          CommandUUID => 'CHUNKED-CMD-1'), 11);
is($r->{status}, 200, 'a chunked result on the server URL: 200');
$r = $t->request('GET', $port, '/v1/commands/CHUNKED-CMD-1', '', headers => { %API });
like($r->{body}, qr/Acknowledged/, '... and it reached the command status');

my $big = plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic,
                Padding => 'x' x (20 * 1024));
is(device_chunked($id, '/small', $CHECKIN, $big, 1000)->{status}, 413,
   'a chunked device body that spills to a temp file: 413');
like($t->error_log, qr/body larger than client_body_buffer_size refused/, '... logged');

my $bigcmd = encode_json({ request_type => 'DeviceInformation',
                           command_uuid => 'CHUNKED-CMD-2',
                           Queries => [ map { "Q$_" } 1 .. 400 ] });
$r = chunked('POST', "/small-api/v1/commands/$udid", $bigcmd, 100, %API);
is($r->{status}, 413, 'a chunked API body that spills to a temp file: 413');

is(device_chunked($id, '/checkin', $CHECKIN, '', 1)->{status}, 400,
   'an empty chunked body: 400');

$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');

done_testing();
