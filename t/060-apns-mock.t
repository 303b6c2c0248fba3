#!/usr/bin/perl
# tools/apns-mock behaves like APNs (protocol.md §5) as seen by curl.
# Self-contained on purpose: it does not use t/lib yet.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

# t/lib's MDM_TEST_TIMEOUT_SCALE, read here as this file does not use t/lib
my $scale = $ENV{MDM_TEST_TIMEOUT_SCALE} || 1;

my $build = $ENV{MDM_BUILD} // 'build';
my $mock  = "$build/apns-mock";
plan skip_all => "$mock not built" unless -x $mock;
plan skip_all => 'curl without HTTP/2'
    unless `curl --version 2>/dev/null` =~ /\bHTTP2\b/;

my $dir   = tempdir(CLEANUP => 1);
my $topic = 'com.apple.mgmt.External.test';
my $tok_a = 'a' x 64;
my $tok_b = 'b' x 64;
my %running;                       # pid => 1 for every mock still alive

END {
    for my $pid (keys %running) {
        kill 'KILL', $pid;
        waitpid $pid, 0;
    }
}

sub run_quiet {
    system("@_ >/dev/null 2>&1") == 0 or die "failed: @_\n";
}

sub make_certs {
    my $ossl = "openssl";
    run_quiet("$ossl req -x509 -newkey rsa:2048 -nodes -days 2"
        . " -keyout $dir/ca.key -out $dir/ca.pem -subj /CN=apns-mock-test-ca");
    my %subj = (
        client => "/UID=$topic/CN=test",
        other  => "/UID=com.example.not-mdm/CN=other",
        server => "/CN=127.0.0.1",
    );
    open my $ext, '>', "$dir/server.ext" or die;
    print $ext "subjectAltName=IP:127.0.0.1\n";
    close $ext;
    for my $name (sort keys %subj) {
        run_quiet("$ossl req -newkey rsa:2048 -nodes -keyout $dir/$name.key"
            . " -out $dir/$name.csr -subj '$subj{$name}'");
        run_quiet("$ossl x509 -req -in $dir/$name.csr -CA $dir/ca.pem"
            . " -CAkey $dir/ca.key -CAcreateserial -days 2"
            . " -out $dir/$name.pem"
            . ($name eq 'server' ? " -extfile $dir/server.ext" : ''));
    }
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    my $text = <$fh>;
    return $text // '';
}

# Starts a mock; returns { pid, port, out, err }.
sub start_mock {
    my ($name, @args) = @_;
    my %m = (name => $name, out => "$dir/$name.out",
             err => "$dir/$name.err");
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', $m{out} or die;
        open STDERR, '>', $m{err} or die;
        exec $mock, '--port', 0, '--cert', "$dir/server.pem",
            '--key', "$dir/server.key", '--ca', "$dir/ca.pem", @args;
        die "exec $mock: $!";
    }
    $running{$pid} = 1;
    $m{pid} = $pid;
    my $deadline = time + 5 * $scale;
    while (time < $deadline) {
        if (slurp($m{out}) =~ /\Aport=(\d+)\n/) {
            $m{port} = $1;
            return \%m;
        }
        last if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    die "apns-mock $name did not start: " . slurp($m{err});
}

# SIGTERM; returns (exit status, stdout).
sub stop_mock {
    my ($m) = @_;
    kill 'TERM', $m->{pid};
    waitpid $m->{pid}, 0;
    my $status = $?;
    delete $running{$m->{pid}};
    unlike slurp($m->{err}), qr/Sanitizer|runtime error/,
        "no sanitizer output from the $m->{name} mock";
    return ($status, slurp($m->{out}));
}

# One curl run; returns { rc, code, headers, body }.
sub push_req {
    my ($m, %o) = @_;
    my $cert = $o{cert} // 'client';
    my @cmd = ('curl', '-s', '--max-time', 5 * $scale, $o{http} // '--http2',
        '--cacert', "$dir/ca.pem", '-D', "$dir/h", '-o', "$dir/b",
        '-w', '%{http_code}');
    push @cmd, '--cert', "$dir/$cert.pem", '--key', "$dir/$cert.key"
        if $cert ne 'none';
    push @cmd, '-X', $o{method} if $o{method};
    push @cmd, '-H', $_ for @{ $o{headers} // [] };
    push @cmd, '--data-binary', $o{body} // '{"mdm":"magic"}'
        unless ($o{method} // '') eq 'GET';
    push @cmd, "https://127.0.0.1:$m->{port}"
        . ($o{path} // "/3/device/" . ($o{token} // $tok_a));
    unlink "$dir/h", "$dir/b";
    open my $fh, '-|', @cmd or die "curl: $!";
    my $code = <$fh> // '';
    close $fh;
    return { rc => $? >> 8, code => $code, headers => slurp("$dir/h"),
             body => slurp("$dir/b") };
}

# Raw HTTP/2 over TLS, for what curl does not show (GOAWAY frames).
sub h2_frame {
    my ($type, $flags, $id, $payload) = @_;
    return substr(pack('N', length $payload), 1)
        . pack('CCN', $type, $flags, $id) . $payload;
}

# HPACK "literal header field without indexing, new name", no Huffman.
sub h2_headers {
    my @kv = @_;
    my $block = '';
    while (my ($name, $value) = splice @kv, 0, 2) {
        $block .= pack('CC/a*C/a*', 0, $name, $value);
    }
    return $block;
}

# Sends one push per stream id in one write; returns the frames read
# until the server closes, as [type, flags, stream, payload].
sub h2_exchange {
    my ($m, @ids) = @_;
    # { headers_first => 1 }: every HEADERS, then the DATA frames, in order
    my $opt = ref $ids[0] eq 'HASH' ? shift @ids : {};
    my $tls = IO::Socket::SSL->new(PeerAddr => "127.0.0.1:$m->{port}",
        SSL_ca_file => "$dir/ca.pem", SSL_cert_file => "$dir/client.pem",
        SSL_key_file => "$dir/client.key", SSL_alpn_protocols => ['h2'],
        SSL_verifycn_name => '127.0.0.1', Timeout => 5 * $scale)
        or die "TLS connect: $IO::Socket::SSL::SSL_ERROR";
    my $out = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" . h2_frame(4, 0, 0, '');
    my ($heads, $datas) = ('', '');
    for my $id (@ids) {
        $heads .= h2_frame(1, 0x4, $id, h2_headers(':method' => 'POST',
            ':scheme' => 'https', ':authority' => '127.0.0.1',
            ':path' => "/3/device/$tok_a"));
        $datas .= h2_frame(0, 0x1, $id, '{"mdm":"raw"}');
        $out .= $heads . $datas, $heads = $datas = '' unless $opt->{headers_first};
    }
    $out .= $heads . $datas;
    print $tls $out;
    my $buf = '';
    1 while $tls->sysread($buf, 65536, length $buf);
    close $tls;
    my @frames;
    while (length $buf >= 9) {
        my ($hi, $lo, $type, $flags, $id) = unpack('CnCCN', $buf);
        my $len = ($hi << 16) | $lo;
        push @frames, [$type, $flags, $id & 0x7fffffff,
                       substr($buf, 9, $len)];
        substr($buf, 0, 9 + $len) = '';
    }
    return @frames;
}

sub reason_is {
    my ($r, $status, $reason, $name) = @_;
    subtest $name => sub {
        is $r->{code}, $status, "status $status";
        is $r->{body}, qq({"reason":"$reason"}), "reason $reason";
    };
}

make_certs();

open my $sc, '>', "$dir/script" or die;
print $sc "# token status reason [count]\n";
print $sc "$tok_b 410 Unregistered 1\n";
print $sc "\U$tok_a\E" =~ s/A/c/gr, " 429 TooManyRequests\n";
close $sc;

my $m = start_mock('main', '--script', "$dir/script");
ok $m->{port} > 0, "--port 0 prints the ephemeral port first";

my $r = push_req($m, headers => ['apns-push-type: mdm', "apns-topic: $topic",
    'apns-priority: 10', 'apns-expiration: 0']);
is $r->{code}, 200, 'a good push is answered 200';
my $uuid = qr/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}/;
like $r->{headers}, qr/^apns-id: $uuid\r?$/m,
    '200 carries a generated apns-id';
is $r->{body}, '', '200 has an empty body';

my $id = '0d2c5a4e-9a9b-4b2f-8c1e-5f6a7b8c9d0e';
$r = push_req($m, headers => ["apns-id: $id"]);
like $r->{headers}, qr/^apns-id: \Q$id\E\r?$/m,
    "the request's apns-id is echoed";

like slurp($m->{out}),
    qr/^\d{13} 200 \Q$topic\E $tok_a \{"mdm":"magic"\}$/m,
    'the push is logged with ms time, status, topic, token and body';

$r = push_req($m, cert => 'none');
isnt $r->{rc}, 0, 'a client without certificate fails the handshake';
is $r->{code}, '000', '... and gets no HTTP answer';

$r = push_req($m, http => '--http1.1');
isnt $r->{rc}, 0, 'a client that does not offer h2 is refused';
is $r->{code}, '000', '... at the TLS handshake';

reason_is push_req($m, token => 'zz' x 32), 400, 'BadDeviceToken',
    'a non-hex token is a BadDeviceToken';
reason_is push_req($m, token => 'abc'), 400, 'BadDeviceToken',
    'an odd-length token is a BadDeviceToken';
reason_is push_req($m, headers => ["apns-topic: $topic.other"]),
    400, 'TopicDisallowed', 'an apns-topic other than the certificate UID';
reason_is push_req($m, headers => ['apns-push-type: alert']),
    400, 'InvalidPushType', 'push type other than mdm';
reason_is push_req($m, headers => ['apns-priority: 7']),
    400, 'BadPriority', 'priority not 1/5/10';
reason_is push_req($m, headers => ['apns-expiration: soon']),
    400, 'BadExpirationDate', 'non-integer expiration';
reason_is push_req($m, headers => ['apns-id: not-a-uuid']),
    400, 'BadMessageId', 'apns-id that is not a UUID';
reason_is push_req($m, body => ''), 400, 'PayloadEmpty', 'empty body';
reason_is push_req($m, body => '{"mdm":"' . ('x' x 4096) . '"}'),
    413, 'PayloadTooLarge', 'body over 4096 bytes';
reason_is push_req($m, body => '{"aps":{"alert":"hi"}}'),
    400, 'BadPayload', 'JSON without an mdm string';
reason_is push_req($m, body => '{"mdm":"x"'),
    400, 'BadPayload', 'truncated JSON';
reason_is push_req($m, method => 'GET'), 405, 'MethodNotAllowed', 'GET';
reason_is push_req($m, path => '/3/other/' . $tok_a), 404, 'BadPath',
    'path outside /3/device/';
reason_is push_req($m, cert => 'other'), 403, 'BadCertificate',
    'certificate UID without com.apple.mgmt. prefix';

$r = push_req($m, token => $tok_b);
is $r->{code}, 410, 'scripted token answers 410';
like $r->{body}, qr/\A\{"reason":"Unregistered","timestamp":(\d+)\}\z/,
    '410 body has reason and timestamp';
my ($ts) = $r->{body} =~ /"timestamp":(\d+)/;
ok defined $ts && abs($ts - time * 1000) < 60_000, '410 timestamp is in ms';
is push_req($m, token => $tok_b)->{code}, 200,
    'a scripted count of 1 answers once, then 200';
reason_is push_req($m, token => 'C' x 64), 429, 'TooManyRequests',
    'scripted tokens match in any case, without a count forever';
reason_is push_req($m, token => 'c' x 64), 429, 'TooManyRequests',
    '... and again';

{
    my $junk = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$m->{port}")
        or die "connect: $!";
    print $junk "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    my $buf;
    sysread $junk, $buf, 100;
    close $junk;
}
SKIP: {
    skip 'IO::Socket::SSL without ALPN', 1
        unless eval { require IO::Socket::SSL;
                      IO::Socket::SSL->can_alpn };
    my $tls = IO::Socket::SSL->new(PeerAddr => "127.0.0.1:$m->{port}",
        SSL_ca_file => "$dir/ca.pem", SSL_cert_file => "$dir/client.pem",
        SSL_key_file => "$dir/client.key", SSL_alpn_protocols => ['h2'],
        SSL_verifycn_name => '127.0.0.1')
        or die "TLS connect: $IO::Socket::SSL::SSL_ERROR";
    print $tls "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    my $buf = '';
    1 while $tls->sysread($buf, 4096, length $buf);
    pass 'an HTTP/1.1 request over negotiated h2 gets the connection closed';
    close $tls;
}
is push_req($m)->{code}, 200,
    'still serving after a non-TLS client and a bad preface';

kill 'USR1', $m->{pid};
my $deadline = time + 5 * $scale;
sleep 0.05 until slurp($m->{out}) =~ /^stats connections=\d+ /m || time > $deadline;
like slurp($m->{out}), qr/^stats connections=\d+ /m, 'SIGUSR1 prints counters';

my ($status, $out) = stop_mock($m);
is $status, 0, 'SIGTERM exits 0';
my @stats = $out =~ /^(stats .*)$/mg;
is scalar @stats, 2, 'SIGTERM prints counters again';
like $stats[-1], qr/ handshake_failures=3 /,
    'counters count failed handshakes (no cert, no h2, not TLS)';
like $stats[-1], qr/ status_410=1 /, 'counters count by status';
like $stats[-1], qr/ status_200=4 /, '... including 200s';

# --fail-every and --log
my $log = "$dir/push.log";
$m = start_mock('fail', '--fail-every', 2, '--log', $log);
is push_req($m)->{code}, 200, '--fail-every 2: first push 200';
reason_is push_req($m), 503, 'ServiceUnavailable',
    '--fail-every 2: second push 503';
my @lines = split /\n/, slurp($log);
is scalar @lines, 2, '--log FILE gets one line per push, flushed';
like $lines[1], qr/^\d{13} 503 \Q$topic\E $tok_a /, '... with the 503';
($status, $out) = stop_mock($m);
unlike $out, qr/^\d{13} /m, 'with --log the pushes are not on stdout';

# --burst-429 and --goaway-after over one curl connection, --quiet
$m = start_mock('burst', '--burst-429', '1:2', '--goaway-after', 2,
    '--quiet');
{
    my $url = "https://127.0.0.1:$m->{port}/3/device/$tok_a";
    open my $fh, '-|', 'curl', '-s', '--max-time', 5 * $scale, '--http2',
        '--cacert', "$dir/ca.pem", '--cert', "$dir/client.pem",
        '--key', "$dir/client.key", '--data-binary', '{"mdm":"m"}',
        '-w', '%{http_code}\n', ('-o', '/dev/null', $url) x 4 or die;
    my @codes = map { chomp; $_ } <$fh>;
    close $fh;
    is "@codes", '200 429 429 200',
        '--burst-429 1:2 answers 429 twice after one';
}
($status, $out) = stop_mock($m);
like $out, qr/ connections=2 /, '--goaway-after 2 made curl reconnect';
like $out, qr/ goaways=2 /, '... counted each GOAWAY';
unlike $out, qr/^\d{13} /m, '--quiet logs no pushes';

# GOAWAY as APNs sends it, seen frame by frame
SKIP: {
    skip 'IO::Socket::SSL without ALPN', 8
        unless eval { require IO::Socket::SSL;
                      IO::Socket::SSL->can_alpn };
    $m = start_mock('goaway', '--goaway-after', 1);
    my @frames = h2_exchange($m, 1, 3);
    my ($goaway) = grep { $_->[0] == 7 } @frames;
    ok((grep { $_->[0] == 1 && $_->[2] == 1 && $_->[1] & 0x1 } @frames),
        '--goaway-after 1: stream 1 is answered');
    ok $goaway, '... then a GOAWAY is sent';
    my ($last, $error) = unpack 'NN', $goaway ? $goaway->[3] : "\0" x 8;
    is "$last $error", '1 0', 'GOAWAY: last stream 1, NO_ERROR';
    is substr($goaway ? $goaway->[3] : '', 8), '{"reason":"Shutdown"}',
        'GOAWAY debug data is {"reason":"Shutdown"}';
    ($status, $out) = stop_mock($m);
    is scalar(() = $out =~ /^\d{13} 200 /mg), 1,
        'stream 3, sent with stream 1, is refused, not processed';

    # streams 1 and 3 both open before stream 1 ends: the GOAWAY after
    # stream 1 says last stream 1, so stream 3 must not be answered
    # (RFC 9113 6.8): nghttp2 closes it as refused once the GOAWAY is sent
    $m = start_mock('goaway-open', '--goaway-after', 1);
    @frames = h2_exchange($m, { headers_first => 1 }, 1, 3);
    ($goaway) = grep { $_->[0] == 7 } @frames;
    ($last) = unpack 'N', $goaway ? $goaway->[3] : "\0" x 4;
    is $last, 1, 'open streams: GOAWAY last stream 1';
    ok !(grep { $_->[0] == 1 && $_->[2] == 3 } @frames),
        '... stream 3, above it, gets no answer';
    ($status, $out) = stop_mock($m);
    is scalar(() = $out =~ /^\d{13} 200 /mg), 1, '... and is not processed';
}

done_testing;
