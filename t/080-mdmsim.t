#!/usr/bin/perl
# tools/mdmsim speaks Apple's MDM protocol (protocol.md §2-§4) as a device
# would, checked against a small recording HTTP(S) server in this file: the
# nginx module is not needed, so these tests pin the simulator's own wire
# behaviour.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::IP;
use IO::Socket::SSL;
use MIME::Base64 qw(decode_base64);
use Fcntl qw(:flock);
use POSIX qw(_exit);

my $build = $ENV{MDM_BUILD} // 'build';
my $sim   = "$build/mdmsim";
plan skip_all => "$sim not built" unless -x $sim;

my $dir   = tempdir(CLEANUP => 1);
my $topic = 'com.apple.mgmt.External.mdmsim-test';
my @servers;                       # pids of the recording servers

END {
    local $?;                      # waitpid must not become our exit status
    for my $pid (@servers) {
        kill 'TERM', $pid;
        waitpid $pid, 0;
    }
}

sub run_quiet {
    system("@_ >/dev/null 2>&1") == 0 or die "failed: @_\n";
}

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($file, $data) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh $data;
    close $fh;
}

sub make_certs {
    run_quiet("openssl req -x509 -newkey rsa:2048 -nodes -days 2"
        . " -keyout $dir/ca.key -out $dir/ca.pem -subj /CN=mdmsim-test-ca");
    spew("$dir/server.ext", "subjectAltName=IP:127.0.0.1\n");
    run_quiet("openssl req -newkey rsa:2048 -nodes -keyout $dir/server.key"
        . " -out $dir/server.csr -subj /CN=127.0.0.1");
    run_quiet("openssl x509 -req -in $dir/server.csr -CA $dir/ca.pem"
        . " -CAkey $dir/ca.key -CAcreateserial -days 2"
        . " -out $dir/server.pem -extfile $dir/server.ext");
}

# ---------------------------------------------------------------------------
# The recording server. Every request becomes three files in its log dir:
# NNNN.head (request line and headers), NNNN.body, NNNN.cert (TLS client
# certificate, PEM, if any). Command endpoint requests get the next file of
# the queue dir, or an empty 200 once the queue is empty.

sub next_seq {
    my ($log) = @_;
    open my $fh, '+>>', "$log/seq" or die;
    flock $fh, LOCK_EX;
    seek $fh, 0, 0;
    my $n = (<$fh> // 0) + 1;
    truncate $fh, 0;
    print $fh $n;
    close $fh;
    return sprintf '%04d', $n;
}

# DDM status reports received so far; the DDM catalogue and the command
# queue have versions that open one after the other as reports arrive, so
# that a test can change what the server holds between two syncs without
# waiting on time.
sub ddm_reports {
    my ($log) = @_;
    my @r = glob "$log/ddm-status/*";
    return scalar @r;
}

sub next_command {
    my ($log) = @_;
    open my $lock, '>>', "$log/queue.lock" or die;
    flock $lock, LOCK_EX;
    my $n = ddm_reports($log);
    my ($file) = map { sort glob "$log/$_/*" }
        ('queue', map { "queue.$_" } 1 .. $n);
    return '' unless defined $file;
    my $cmd = slurp($file);
    unlink $file;
    return $cmd;
}

sub respond {
    my ($c, $o, $status, $body, $type) = @_;
    my $head = "HTTP/1.1 $status X\r\n";
    $head .= "Content-Type: " . ($type // 'application/xml; charset=UTF-8')
        . "\r\n" if length $body;
    if ($o->{chunked} && length $body) {
        my $half = int(length($body) / 2);
        print $c $head, "Transfer-Encoding: chunked\r\n\r\n",
            sprintf("%x\r\n", $half), substr($body, 0, $half), "\r\n",
            sprintf("%x\r\n", length($body) - $half), substr($body, $half),
            "\r\n0\r\n\r\n";
    } else {
        print $c $head, "Content-Length: ", length($body), "\r\n\r\n", $body;
    }
}

sub serve_request {
    my ($c, $o, $cert) = @_;
    my $head = '';
    while (defined(my $line = <$c>)) {
        $head .= $line;
        last if $line eq "\r\n";
    }
    return 0 unless $head =~ /\r\n\r\n\z/;
    my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
    my $body = '';
    while (length $body < ($len // 0)) {
        my $n = read $c, $body, $len - length $body, length $body;
        return 0 unless $n;
    }
    my $seq = next_seq($o->{log});
    spew("$o->{log}/$seq.head", $head);
    spew("$o->{log}/$seq.body", $body);
    spew("$o->{log}/$seq.cert", $cert) if defined $cert;

    my ($type) = $body =~ m{<key>(?:MessageType|Status)</key>\s*<string>(\w+)};
    if ($o->{ddm} && $type && $type eq 'DeclarativeManagement') {
        serve_ddm($c, $o, $seq, $body);
    } elsif ($o->{fail} && $type && $o->{fail}{$type}) {
        respond($c, $o, $o->{fail}{$type}, '');
    } elsif ($head =~ m{^PUT /mdm/connect }) {
        respond($c, $o, 200, next_command($o->{log}));
    } else {
        respond($c, $o, 200, '');
    }
    return 1;
}

# DeclarativeManagement check-ins (protocol.md §6.2): `status` is kept in
# ddm-status/, every other Endpoint is a file of the catalogue version
# v<reports + 1> (or the newest below it), 404 when there is none.
sub serve_ddm {
    my ($c, $o, $seq, $body) = @_;
    my $endpoint = plist_string($body, 'Endpoint') // '';
    if ($endpoint eq 'status') {
        my ($data) = $body =~ m{<key>Data</key>\s*<data>([^<]*)</data>};
        mkdir "$o->{log}/ddm-status";
        spew("$o->{log}/ddm-status/$seq", decode_base64($data // ''));
        respond($c, $o, 200, '');
        return;
    }
    my $v = ddm_reports($o->{log}) + 1;
    $v-- while $v > 1 && !-d "$o->{ddm}/v$v";
    my $file = "$o->{ddm}/v$v/$endpoint";
    if (-f $file) {
        respond($c, $o, 200, slurp($file), 'application/json');
    } else {
        respond($c, $o, 404, '');
    }
}

sub serve_connection {
    my ($c, $o) = @_;
    my $cert;
    if ($o->{tls}) {
        IO::Socket::SSL->start_SSL($c,
            SSL_server      => 1,
            SSL_cert_file   => "$dir/server.pem",
            SSL_key_file    => "$dir/server.key",
            SSL_ca_file     => "$dir/ca.pem",
            SSL_verify_mode => $o->{client_cert}
                ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                : SSL_VERIFY_NONE,
        ) or return;
        $cert = $c->peer_certificate
            ? Net::SSLeay::PEM_get_string_X509($c->peer_certificate) : undef;
    }
    $c->autoflush(1);
    # once: close after one response, without saying so, as servers do
    # with idle keep-alive connections.
    1 while serve_request($c, $o, $cert) && !$o->{once};
}

# Returns the server's base URL; the server forks once per connection so
# that concurrent and keep-alive clients are served alike.
sub start_server {
    my (%o) = @_;
    $o{log} = tempdir(DIR => $dir);
    mkdir "$o{log}/queue";
    my $listen = IO::Socket::IP->new(LocalHost => '127.0.0.1',
        LocalPort => 0, Listen => 128, ReuseAddr => 1) or die "listen: $!";
    my $pid = fork // die;
    if ($pid == 0) {
        local $SIG{CHLD} = 'IGNORE';
        while (1) {
            my $c = $listen->accept or next;
            my $child = fork;
            if (defined $child && $child == 0) {
                serve_connection($c, \%o);
                _exit(0);
            }
            close $c;
        }
    }
    push @servers, $pid;
    my $scheme = $o{tls} ? 'https' : 'http';
    return ("$scheme://127.0.0.1:" . $listen->sockport, $o{log});
}

sub requests {
    my ($log) = @_;
    return map {
        my ($seq) = m{(\d+)\.head$};
        {
            head => slurp($_),
            body => slurp("$log/$seq.body"),
            cert => slurp("$log/$seq.cert"),
            seq  => $seq,
        }
    } sort glob "$log/*.head";
}

sub header {
    my ($req, $name) = @_;
    my ($value) = $req->{head} =~ /^\Q$name\E:\s*([^\r\n]*)/mi;
    return $value;
}

sub plist_string {
    my ($body, $key) = @_;
    my ($value) = $body =~ m{<key>\Q$key\E</key>\s*<string>([^<]*)</string>};
    return $value;
}

sub queue_command {
    my ($log, $name, $xml) = @_;
    spew("$log/queue/$name", $xml);
}

sub command_plist {
    my ($uuid, $inner) = @_;
    return qq{<?xml version="1.0" encoding="UTF-8"?>\n}
        . qq{<plist version="1.0"><dict>}
        . qq{<key>CommandUUID</key><string>$uuid</string>}
        . qq{<key>Command</key><dict>$inner</dict></dict></plist>\n};
}

sub mdmsim {
    my ($args) = @_;
    my $out = `$sim $args 2>$dir/stderr`;
    return ($? >> 8, $out, slurp("$dir/stderr"));
}

# The signature must verify over the exact body the server received, and
# its signer certificate must name the device.
sub signature_ok {
    my ($req) = @_;
    my $sig = header($req, 'Mdm-Signature') // return (0, '');
    spew("$dir/sig.der", decode_base64($sig));
    spew("$dir/sig.body", $req->{body});
    my $ok = system("openssl cms -verify -binary -inform DER -in $dir/sig.der"
        . " -content $dir/sig.body -noverify -certsout $dir/signer.pem"
        . " -out /dev/null >/dev/null 2>&1") == 0;
    my $subject = `openssl x509 -in $dir/signer.pem -noout -subject 2>&1`;
    return ($ok, $subject);
}

make_certs();
my $ids = "$dir/ids";
my $ca  = "--ca-cert $dir/ca.pem --ca-key $dir/ca.key --id-dir $ids";

# --- identities -----------------------------------------------------------

my ($rc, $out, $err) = mdmsim("gen-ids $ca -n 3 --jobs 2 --udid-prefix T-");
is($rc, 0, 'gen-ids creates identities') or diag($err);
my @pems = sort glob "$ids/*.pem";
is(scalar @pems, 3, 'one cached identity file per device');
my $udid0 = 'T-0000000000000000';
is($pems[0], "$ids/$udid0.pem", 'UDIDs are the prefix and the device number');
my $text = `openssl x509 -in $pems[0] -noout -text 2>&1`;
like($text, qr/Subject:.*CN\s*=\s*\Q$udid0\E/, 'certificate CN is the UDID');
like($text, qr/TLS Web Client Authentication/, 'certificate has clientAuth');
like($text, qr/Public-Key: \(2048 bit\)/, 'identities are RSA 2048 by default');
like(`openssl verify -CAfile $dir/ca.pem $pems[0] 2>&1`, qr/: OK/,
    'certificate is issued by the given CA');

my $before = slurp($pems[0]);
($rc) = mdmsim("gen-ids $ca -n 3 --udid-prefix T-");
is(slurp($pems[0]), $before, 'a second run reuses the cached identities');

($rc) = mdmsim("gen-ids --ca-cert $dir/ca.pem --ca-key $dir/ca.key"
    . " --id-dir $dir/ec -n 1 --ec --udid-prefix T-");
like(`openssl x509 -in $dir/ec/$udid0.pem -noout -text 2>&1`,
    qr/prime256v1|P-256/, '--ec creates P-256 identities');

($rc, $out, $err) = mdmsim("gen-ids --ca-cert $dir/nope.pem"
    . " --ca-key $dir/ca.key --id-dir $dir/x");
isnt($rc, 0, 'gen-ids fails without a readable CA');

# --- enrollment, signed over plain HTTP -----------------------------------

my ($url, $log) = start_server();
($rc, $out, $err) = mdmsim("enroll $ca --udid-prefix T- --topic $topic"
    . " --mode sign --check-in-url $url/mdm/checkin --unlock-token");
is($rc, 0, 'enroll in sign mode succeeds') or diag($err);
my @req = requests($log);
is(scalar @req, 2, 'enroll sends two check-ins');
is(plist_string($req[0]{body}, 'MessageType'), 'Authenticate',
    'Authenticate comes first');
is(plist_string($req[1]{body}, 'MessageType'), 'TokenUpdate',
    'TokenUpdate comes second');
for my $r (@req) {
    like($r->{head}, qr{^PUT /mdm/checkin HTTP/1\.1\r\n}, 'check-in is a PUT');
    is(header($r, 'Content-Type'), 'application/x-apple-aspen-mdm-checkin',
        'check-in Content-Type');
    my ($ok, $subject) = signature_ok($r);
    ok($ok, 'Mdm-Signature verifies over the body');
    like($subject, qr/CN\s*=\s*\Q$udid0\E/, 'signer certificate is the device');
}
my $auth_body = $req[0]{body};
is(plist_string($auth_body, 'UDID'), $udid0, 'Authenticate carries the UDID');
is(plist_string($req[0]{body}, 'Topic'), $topic, 'Authenticate carries --topic');
like(plist_string($req[0]{body}, 'SerialNumber'), qr/^[0-9A-Z]{12}$/,
    'Authenticate carries a serial number');
ok(plist_string($req[0]{body}, $_), "Authenticate carries $_")
    for qw(ProductName OSVersion BuildVersion);
my ($token) = $req[1]{body} =~ m{<key>Token</key>\s*<data>\s*([^<]+?)\s*</data>};
is(length(decode_base64($token // '')), 32, 'Token is 32 bytes of data');
like(plist_string($req[1]{body}, 'PushMagic'),
    qr/^[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}$/, 'PushMagic is a UUID');
like($req[1]{body}, qr{<key>UnlockToken</key>\s*<data>},
    '--unlock-token adds an UnlockToken');

{
    my %tampered = %{ $req[1] };
    $tampered{body} =~ s/TokenUpdate/TokenUpdatX/;
    my ($ok) = signature_ok(\%tampered);
    ok(!$ok, 'the signature does not verify over a changed body');
}

# --- enrollment with a user channel, mutual TLS ---------------------------

my ($tls_url, $tls_log) = start_server(tls => 1, client_cert => 1);
($rc, $out, $err) = mdmsim("enroll $ca --udid-prefix T- --topic $topic"
    . " --mode tls --ca-file $dir/ca.pem --check-in-url $tls_url/mdm/checkin"
    . " --user-channel -n 2 -c 2");
is($rc, 0, 'enroll in tls mode succeeds') or diag($err);
@req = requests($tls_log);
is(scalar @req, 6, 'two devices send three check-ins each');
my %by_udid;
push @{ $by_udid{ plist_string($_->{body}, 'UDID') } }, $_ for @req;
my $dev = $by_udid{$udid0} // [];
is(join(',', map { plist_string($_->{body}, 'MessageType') } @$dev),
    'Authenticate,TokenUpdate,TokenUpdate',
    'each device: Authenticate, TokenUpdate, user TokenUpdate');
ok(!defined header($dev->[0], 'Mdm-Signature'), 'no Mdm-Signature in tls mode');
spew("$dir/client.pem", $dev->[0]{cert});
like(`openssl x509 -in $dir/client.pem -noout -subject 2>&1`,
    qr/CN\s*=\s*\Q$udid0\E/, 'server saw the device certificate on TLS');
like(plist_string($dev->[2]{body}, 'UserID') // '',
    qr/^[0-9A-F-]{36}$/, 'user TokenUpdate carries a UserID GUID');
ok(plist_string($dev->[2]{body}, 'UserLongName'), 'and a UserLongName');
ok(plist_string($dev->[2]{body}, 'UserShortName'), 'and a UserShortName');

($rc, $out, $err) = mdmsim("enroll $ca --udid-prefix T- --mode tls"
    . " --check-in-url $tls_url/mdm/checkin");
isnt($rc, 0, 'the server certificate is verified unless --insecure');
($rc, $out, $err) = mdmsim("enroll $ca --udid-prefix T- --mode tls"
    . " --insecure --check-in-url $tls_url/mdm/checkin");
is($rc, 0, '--insecure skips server verification') or diag($err);

# --- one command session, chunked responses --------------------------------

my ($s_url, $s_log) = start_server(chunked => 1);
queue_command($s_log, '1', command_plist('CMD-INFO-1',
    '<key>RequestType</key><string>DeviceInformation</string>'
    . '<key>Queries</key><array><string>SerialNumber</string>'
    . '<string>OSVersion</string><string>UDID</string>'
    . '<string>NoSuchQuery</string></array>'));
($rc, $out, $err) = mdmsim("session $ca --udid-prefix T- --mode sign"
    . " --server-url $s_url/mdm/connect");
is($rc, 0, 'session succeeds') or diag($err);
@req = requests($s_log);
is(scalar @req, 2, 'session: Idle, result, then stop on the empty 200');
is(header($req[0], 'Content-Type'),
    'application/x-apple-aspen-mdm; charset=UTF-8', 'report Content-Type');
is(plist_string($req[0]{body}, 'Status'), 'Idle', 'session starts with Idle');
ok((signature_ok($req[0]))[0], 'Idle is signed');
my $result = $req[1]{body};
is(plist_string($result, 'Status'), 'Acknowledged', 'command is Acknowledged');
is(plist_string($result, 'CommandUUID'), 'CMD-INFO-1',
    'result names the CommandUUID');
my ($qr) = $result =~ m{<key>QueryResponses</key>\s*<dict>(.*?)</dict>}s;
ok(defined $qr, 'result has QueryResponses');
is(plist_string($qr // '', 'UDID'), $udid0, 'QueryResponses answers UDID');
ok(plist_string($qr // '', 'OSVersion'), 'QueryResponses answers OSVersion');
is(plist_string($qr // '', 'SerialNumber'),
    plist_string($auth_body, 'SerialNumber'),
    'SerialNumber matches the one sent at Authenticate');
unlike($qr // '', qr/NoSuchQuery/, 'unknown queries are left out');
ok((signature_ok($req[1]))[0], 'result is signed');

# --- what a device does with other commands --------------------------------

queue_command($s_log, '2', command_plist('CMD-X',
    '<key>RequestType</key><string>NoSuchCommand</string>'));
queue_command($s_log, '3', command_plist('CMD-APPS',
    '<key>RequestType</key><string>InstalledApplicationList</string>'));
queue_command($s_log, '4', command_plist('CMD-PROF',
    '<key>RequestType</key><string>InstallProfile</string>'
    . '<key>Payload</key><data>AAAA</data>'));
unlink glob "$s_log/*.head";
($rc, $out, $err) = mdmsim("session $ca --udid-prefix T- --mode sign"
    . " --server-url $s_url/mdm/connect --apps 30");
is($rc, 0, 'session with three commands succeeds') or diag($err);
@req = requests($s_log);
is(scalar @req, 4, 'Idle plus three results');
is(plist_string($req[1]{body}, 'Status'), 'Error',
    'unknown command is answered with Error');
like($req[1]{body}, qr{<key>ErrorChain</key>\s*<array>\s*<dict>}, 'with an ErrorChain');
like($req[1]{body}, qr{<key>$_</key>}, "ErrorChain has $_")
    for qw(ErrorCode ErrorDomain LocalizedDescription USEnglishDescription);
my @apps = $req[2]{body} =~ m{<key>Identifier</key>}g;
is(scalar @apps, 30, 'InstalledApplicationList lists --apps apps');
is(plist_string($req[3]{body}, 'Status'), 'Acknowledged',
    'InstallProfile is Acknowledged');

queue_command($s_log, "4$_", command_plist("CMD-$_",
    "<key>RequestType</key><string>$_</string>"))
    for qw(CertificateList ProfileList SecurityInfo);
unlink glob "$s_log/*.head";
($rc, $out, $err) = mdmsim("session $ca --udid-prefix T- --mode sign"
    . " --server-url $s_url/mdm/connect");
@req = requests($s_log);
like($req[1]{body}, qr{<key>CertificateList</key>\s*<array>\s*<dict>},
    'CertificateList lists certificates');
like($req[1]{body}, qr{<key>IsIdentity</key>\s*<true/>},
    'including the device identity');
like($req[2]{body}, qr{<key>ProfileList</key>\s*<array>\s*<dict>},
    'ProfileList lists profiles');
like($req[3]{body}, qr{<key>SecurityInfo</key>\s*<dict>},
    'SecurityInfo answers a dict');

queue_command($s_log, '5', command_plist('CMD-NN',
    '<key>RequestType</key><string>ProfileList</string>'));
unlink glob "$s_log/*.head";
($rc) = mdmsim("session --mode none --notnow-share 1"
    . " --server-url $s_url/mdm/connect");
@req = requests($s_log);
is(plist_string($req[1]{body}, 'Status'), 'NotNow',
    '--notnow-share 1 answers NotNow');
ok(!defined header($req[0], 'Mdm-Signature'), 'mode none sends no signature');

# --- failures make the exit status non-zero --------------------------------

my ($f_url, $f_log) = start_server(fail => { TokenUpdate => 500 });
($rc, $out, $err) = mdmsim("enroll --mode none --check-in-url $f_url/mdm/checkin");
isnt($rc, 0, 'a 500 to TokenUpdate makes enroll fail');
like($err, qr/TokenUpdate -> 500/, 'and the failure is reported');

my $dead = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0,
    Listen => 1) or die;
my $dead_port = $dead->sockport;
close $dead;
($rc, $out, $err) = mdmsim("load --mode none --requests 5 -c 2 --json"
    . " --server-url http://127.0.0.1:$dead_port/mdm/connect");
isnt($rc, 0, 'load against a closed port fails');
like($out, qr/"connect":\s*5/, 'connect errors are counted');

my $silent = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0,
    Listen => 8) or die;
($rc, $out, $err) = mdmsim("load --mode none --requests 2 -c 1 --timeout 0.3"
    . " --json --server-url http://127.0.0.1:" . $silent->sockport . "/x");
isnt($rc, 0, 'a server that never answers fails the run');
like($out, qr/"timeout":\s*2/, 'after --timeout, counted as timeouts');

my ($o_url) = start_server(once => 1);
($rc, $out, $err) = mdmsim("load --mode none --requests 6 -c 1 --keepalive"
    . " --json --server-url $o_url/mdm/connect");
is($rc, 0, 'a keep-alive connection closed by the server is reopened')
    or diag($out, $err);

# --- load mode --------------------------------------------------------------

my ($l_url, $l_log) = start_server();
($rc, $out, $err) = mdmsim("load $ca --udid-prefix T- -n 3 -c 3 --mode sign"
    . " --scenario idle --requests 30 --keepalive --json"
    . " --server-url $l_url/mdm/connect");
is($rc, 0, 'load idle succeeds') or diag($err);
like($out, qr/"requests":\s*30\b/, 'load sends --requests requests');
like($out, qr/"requests_failed":\s*0\b/, 'none failed');
like($out, qr/"p99":\s*\d+/, 'JSON has latency percentiles');
like($out, qr/"status":\s*\{"200":\s*30\}/, 'JSON counts statuses');

queue_command($l_log, $_, command_plist("CMD-L$_",
    '<key>RequestType</key><string>SecurityInfo</string>')) for 1 .. 2;
($rc, $out, $err) = mdmsim("load --mode none -n 2 -c 1 --scenario session"
    . " --sessions 3 --json --server-url $l_url/mdm/connect");
is($rc, 0, 'load session succeeds') or diag($err);
like($out, qr/"sessions":\s*3\b/, 'load runs --sessions sessions');
like($out, qr/"Acknowledged":\s*2\b/, 'and answers the queued commands');
like($out, qr/"requests":\s*5\b/, 'three Idles and two results');

($rc, $out, $err) = mdmsim("enroll --mode tls $ca --check-in-url $l_url/x");
is($rc, 2, '--mode tls refuses a plain http URL');

($rc, $out, $err) = mdmsim("load --mode none -n 2 -c 2 --scenario checkin-storm"
    . " --sessions 4 --check-in-url $l_url/mdm/checkin");
is($rc, 0, 'checkin-storm succeeds') or diag($err);
like($out, qr/^requests: 4 \(0 failed\)/m, 'text report counts requests');
like($out, qr/^latency: p50 /m, 'text report has latency');
like($out, qr/^client CPU: /m, 'text report has the client CPU');
my @storm = grep { $_->{head} =~ m{/mdm/checkin} } requests($l_log);
is(scalar(grep { plist_string($_->{body}, 'MessageType') eq 'TokenUpdate' }
    @storm), 4, 'checkin-storm sends TokenUpdates');

# --- declarative management (protocol.md §6, services.md §1) ---------------
# The catalogue is written here in Apple's shapes by hand, not with
# libmdm's builders, so that mdmsim is checked against the protocol.

use JSON::PP;
my $json = JSON::PP->new->canonical;

sub ddm_put {
    my ($root, $path, $doc) = @_;
    my $file = "$root/$path";
    (my $d = $file) =~ s{/[^/]+$}{};
    system('mkdir', '-p', $d) == 0 or die;
    spew($file, ref $doc ? $json->encode($doc) : $doc);
}

sub ddm_decl {
    my ($type, $id, $token, $payload) = @_;
    return { Type => $type, Identifier => $id, ServerToken => $token,
             Payload => $payload };
}

# One catalogue version: declarations by kind, tokens and items built
# from them; extra manifest entries (listed, but 404 when fetched).
sub ddm_version {
    my ($root, $token, $decls, $phantoms) = @_;
    my %bucket = (activation => 'Activations', asset => 'Assets',
                  configuration => 'Configurations', management => 'Management');
    my %items = map { $_ => [] } values %bucket;
    for my $d (@$decls, @{$phantoms // []}) {
        my ($kind) = $d->{Type} =~ /^com\.apple\.(\w+)\./;
        push @{$items{$bucket{$kind}}},
            { Identifier => $d->{Identifier}, ServerToken => $d->{ServerToken} };
        ddm_put($root, "declaration/$kind/$d->{Identifier}", $d)
            unless grep { $_ == $d } @{$phantoms // []};
    }
    ddm_put($root, 'tokens', { SyncTokens => { DeclarationsToken => $token,
        Timestamp => '2026-11-30T12:00:00Z' } });
    ddm_put($root, 'declaration-items',
        { Declarations => \%items, DeclarationsToken => $token });
}

sub ddm_checkins {
    my ($log) = @_;
    return map { plist_string($_->{body}, 'Endpoint') }
        grep { ($_->{body} // '') =~ m{<string>DeclarativeManagement</string>}
               && $_->{head} =~ m{^PUT /mdm/checkin } } requests($log);
}

sub ddm_status {
    my ($log, $i) = @_;
    my @r = sort glob "$log/ddm-status/*";
    return $r[$i] ? decode_json(slurp($r[$i])) : undef;
}

sub decl_status {
    my ($report, $kind, $id) = @_;
    my ($s) = grep { $_->{identifier} eq $id }
        @{$report->{StatusItems}{management}{declarations}{$kind} // []};
    return $s;
}

my $dm_cmd = sub {
    my ($uuid, $data) = @_;
    my $inner = '<key>RequestType</key><string>DeclarativeManagement</string>';
    $inner .= '<key>Data</key><data>' . MIME::Base64::encode_base64($data, '')
        . '</data>' if defined $data;
    return command_plist($uuid, $inner);
};

my ($d_url, $d_log) = start_server(ddm => "$dir/ddm");
my $act = ddm_decl('com.apple.activation.simple', 'act-1', 'a1',
    { StandardConfigurations => ['cfg-pass', 'cfg-subs', 'cfg-app'] });
my $pass = ddm_decl('com.apple.configuration.passcode.settings', 'cfg-pass',
    'p1', { RequirePasscode => JSON::PP::true, MinimumLength => 6 });
my $subs = ddm_decl('com.apple.configuration.management.status-subscriptions',
    'cfg-subs', 's1', { StatusItems => [
        { Name => 'device.operating-system.version' },
        { Name => 'app.managed.list' } ] });
my $app = ddm_decl('com.apple.configuration.app.managed', 'cfg-app', 'c1',
    { BundleID => 'com.example.app' });
my $orphan = ddm_decl('com.apple.configuration.passcode.settings',
    'cfg-orphan', 'o1', { MinimumLength => 4 });
my $props = ddm_decl('com.apple.management.properties', 'props', 'm1',
    { color => 'blue' });
ddm_version("$dir/ddm/v1", 'T1', [$act, $pass, $subs, $app, $orphan, $props]);

# v2, after the first status report: cfg-app unassigned, cfg-pass edited,
# the activation changed with it, and one entry the server cannot serve
my $act2 = ddm_decl('com.apple.activation.simple', 'act-1', 'a2',
    { StandardConfigurations => ['cfg-pass', 'cfg-subs'] });
my $pass2 = ddm_decl('com.apple.configuration.passcode.settings', 'cfg-pass',
    'p2', { RequirePasscode => JSON::PP::true, MinimumLength => 8 });
my $gone = ddm_decl('com.apple.configuration.passcode.settings', 'cfg-gone',
    'g1', {});
ddm_version("$dir/ddm/v2", 'T2', [$act2, $pass2, $subs, $orphan, $props],
    [$gone]);

# the second command, with the v2 tokens as Data, is offered only once the
# first status report is in
queue_command($d_log, 'a', $dm_cmd->('DM-1'));
mkdir "$d_log/queue.1";
spew("$d_log/queue.1/a", $dm_cmd->('DM-2', slurp("$dir/ddm/v2/tokens")));

($rc, $out, $err) = mdmsim("load --mode none -n 1 -c 1 --scenario session"
    . " --sessions 2 --json --check-in-url $d_url/mdm/checkin"
    . " --server-url $d_url/mdm/connect");
is($rc, 0, 'two DDM syncs in two sessions succeed (a 404 fetch is no failure)')
    or diag($out, $err);
like($out, qr/"ddm":\{"syncs":2,"fetches":9,"status_reports":2\}/,
    'JSON counts syncs, fetches and status reports');

my @ep = ddm_checkins($d_log);
is(join(' ', @ep), join(' ', 'tokens', 'declaration-items',
    'declaration/activation/act-1', 'declaration/configuration/cfg-pass',
    'declaration/configuration/cfg-subs', 'declaration/configuration/cfg-app',
    'declaration/configuration/cfg-orphan', 'declaration/management/props',
    'status',
    'declaration-items', 'declaration/activation/act-1',
    'declaration/configuration/cfg-pass', 'declaration/configuration/cfg-gone',
    'status'),
    'first sync fetches everything; the second skips tokens (they came in'
    . ' the command) and fetches only new and changed declarations');
my @dm = grep { plist_string($_->{body}, 'MessageType') // '' }
    grep { $_->{head} =~ m{^PUT /mdm/checkin } } requests($d_log);
is(header($dm[0], 'Content-Type'), 'application/x-apple-aspen-mdm-checkin',
    'DDM requests are check-ins');
like($dm[0]{body}, qr{<key>UDID</key>\s*<string>00008101-0000000000000000<},
    'with the device UDID');

my $r1 = ddm_status($d_log, 0);
ok($r1, 'first status report is JSON');
is($r1->{FullReport}, JSON::PP::false, 'it is incremental');
is(ref $r1->{Errors}, 'ARRAY', 'Errors is an array');
is(join(',', sort keys %{$r1->{StatusItems}{management}{declarations}}),
    'activations,assets,configurations,management',
    'all four declaration arrays are present');
my $s = decl_status($r1, 'activations', 'act-1');
ok($s && $s->{active} && $s->{valid} eq 'valid' && $s->{'server-token'} eq 'a1',
    'the activation is active and valid with its token');
$s = decl_status($r1, 'configurations', 'cfg-pass');
ok($s && $s->{active} && $s->{valid} eq 'valid', 'an activated configuration');
$s = decl_status($r1, 'configurations', 'cfg-orphan');
ok($s && !$s->{active} && $s->{valid} eq 'unknown'
    && $s->{reasons}[0]{code} eq 'Info.NotReferencedByActivation',
    'a configuration no activation names: inactive, unknown, with the reason');
ok(decl_status($r1, 'management', 'props')->{active},
    'management declarations are active');
is($r1->{StatusItems}{device}{'operating-system'}{version}, '17.5.1',
    'a subscribed status item, each dot a level');
is_deeply([map { $_->{identifier} } @{$r1->{StatusItems}{app}{managed}{list}}],
    ['com.example.app'], 'app.managed.list lists the managed app');
ok($r1->{StatusItems}{management}{'client-capabilities'}{'supported-versions'},
    'the first report carries client-capabilities');

my $r2 = ddm_status($d_log, 1);
ok($r2, 'second status report is JSON');
is(join(',', sort map { $_->{identifier} }
    map { @$_ } values %{$r2->{StatusItems}{management}{declarations}}),
    'act-1,cfg-pass', 'incremental: only the declarations whose status changed');
is(decl_status($r2, 'configurations', 'cfg-pass')->{'server-token'}, 'p2',
    'with the new ServerToken');
is_deeply($r2->{StatusItems}{app}{managed}{list},
    [{ identifier => 'com.example.app', _removed => JSON::PP::true }],
    'the unassigned app is a _removed entry');
ok(!exists $r2->{StatusItems}{device},
    'an unchanged subscribed item is not sent again');
ok(!exists $r2->{StatusItems}{management}{'client-capabilities'},
    'client-capabilities only in the first report');

# a full report on request, a fresh device
my ($full_url, $full_log) = start_server(ddm => "$dir/ddm");
queue_command($full_log, 'a', $dm_cmd->('DM-F'));
($rc, $out, $err) = mdmsim("session --mode none --ddm-full-report"
    . " --check-in-url $full_url/mdm/checkin --server-url $full_url/mdm/connect");
is($rc, 0, 'a sync with --ddm-full-report succeeds') or diag($err);
my $rf = ddm_status($full_log, 0);
is($rf->{FullReport}, JSON::PP::true, 'FullReport is true');
is(scalar(map { @$_ } values %{$rf->{StatusItems}{management}{declarations}}),
    6, 'every declaration is in it');

# a DeclarationItemsResponse without its Assets array is refused
ddm_put("$dir/ddm-bad/v1", 'tokens', { SyncTokens => {
    DeclarationsToken => 'B', Timestamp => '2026-11-30T12:00:00Z' } });
ddm_put("$dir/ddm-bad/v1", 'declaration-items', { Declarations => {
    Activations => [], Configurations => [], Management => [] },
    DeclarationsToken => 'B' });
my ($b_url, $b_log) = start_server(ddm => "$dir/ddm-bad");
queue_command($b_log, 'a', $dm_cmd->('DM-B'));
($rc, $out, $err) = mdmsim("session --mode none"
    . " --check-in-url $b_url/mdm/checkin --server-url $b_url/mdm/connect");
is($rc, 1, 'a manifest without all four arrays fails the sync');
like($err, qr/declaration-items is not a DeclarationItemsResponse/,
    'and says why');
is(scalar(grep { $_ eq 'status' } ddm_checkins($b_log)), 0,
    'no status is sent after a bad manifest');

done_testing();
