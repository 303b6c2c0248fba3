#!/usr/bin/perl
# mdm-worker's webhooks (docs/webhooks.md): every event of mdm:events POSTed
# as NanoMDM/MicroMDM webhook JSON (golden bodies for every topic, our
# mdm.CommandExpired and mdm.PushFailed included), signed with
# X-Hmac-Signature, over kept-alive HTTP and verified HTTPS; a receiver
# that is down gets everything later, in order per enrollment; one that
# keeps failing gets its events dead-lettered, and the API replays them; a
# second webhook with a topic filter gets only its topics, undisturbed; a
# SIGKILLed worker's events are delivered by another.
# Has component sections (state written to Redis directly, listed with their
# end-to-end counterparts in t/README.md).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use B;
use JSON::PP;
use MIME::Base64;
use Digest::SHA qw(hmac_sha256_base64);
use MDM::Test;
use MDM::Keys;

*plist = \&MDM::Plist::plist;
*data = \&MDM::Plist::data;

my $worker_bin = "$MDM::Test::BUILD/mdm-worker";
my $mock_bin = "$MDM::Test::BUILD/apns-mock";
plan skip_all => 'mdm-worker or apns-mock not built'
    unless -x $worker_bin && -x $mock_bin;

my $t = MDM::Test->new;
my $dir = $t->dir;
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
        location /mdm {
            mdm_token com.apple.maid maid-token-value;
            mdm_user_authenticate empty_digest;
            mdm_server;
        }
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF
my %API = MDM::Test::api_auth('sekret');

# --- the receivers: record every request, answer what <name>.status says ---

MDM::Test::spew("$dir/receiver.pl", <<'EOF');
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use B;
use JSON::PP;
use Fcntl qw(:flock);

my ($port, $log, $status_file, $cert, $key) = @ARGV;
my $listener = IO::Socket::INET->new(Listen => 64, ReuseAddr => 1,
    LocalAddr => "127.0.0.1:$port") or die "listen $port: $!";
$SIG{CHLD} = 'IGNORE';
my $parent = $$;

sub answer_status {
    open my $fh, '<', $status_file or return 200;
    my $v = <$fh> // '';
    return $v =~ /(\d{3})/ ? $1 : 200;
}

# One connection, kept alive; gone once the parent is (receiver "down").
sub serve {
    my ($c) = @_;
    my $buf = '';
    if ($cert) {
        require IO::Socket::SSL;
        IO::Socket::SSL->start_SSL($c, SSL_server => 1,
            SSL_cert_file => $cert, SSL_key_file => $key) or return;
    }
    my $sel = IO::Select->new($c);
    while (1) {
        while ($buf !~ /\r\n\r\n/) {
            unless (($cert && $c->pending) || $sel->can_read(0.1)) {
                return if getppid() != $parent;
                next;
            }
            sysread($c, $buf, 65536, length $buf) or return;
        }
        my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
        my ($line, @lines) = split /\r\n/, $head;
        my %h = map { my ($k, $v) = split /:\s*/, $_, 2; (lc $k, $v) } @lines;
        my $len = $h{'content-length'} // 0;
        while (length $rest < $len) {
            sysread($c, $rest, 65536, length $rest) or return;
        }
        my $body = substr $rest, 0, $len;
        $buf = substr $rest, $len;
        return if getppid() != $parent;     # down: no answer
        my $status = answer_status();
        open my $out, '>>', $log or die "$log: $!";
        flock $out, LOCK_EX;
        print $out encode_json({ request => $line, status => $status,
            connection => $$,
            signature => $h{'x-hmac-signature'},
            content_type => $h{'content-type'}, body => $body }), "\n";
        close $out;
        syswrite $c, "HTTP/1.1 $status Test\r\nContent-Length: 2\r\n"
            . "Content-Type: text/plain\r\n\r\nok";
    }
}

while (1) {
    my $c = $listener->accept or next;
    my $pid = fork;
    if (defined $pid && $pid == 0) {
        close $listener;
        serve($c);
        exit 0;
    }
    close $c;
}
EOF

my %hook_port = (main => $t->port('hook-main'),
                 filtered => $t->port('hook-filtered'),
                 tls => $t->port('hook-tls'));

sub receiver_start {
    my ($name) = @_;
    $t->spawn("receiver-$name", {}, $^X, "$dir/receiver.pl",
        $hook_port{$name}, "$dir/$name.requests", "$dir/$name.status",
        $name eq 'tls' ? ($pki->{cert}, $pki->{key}) : ());
    $t->wait_port($hook_port{$name}, "receiver $name");
}

sub receiver_answers { MDM::Test::spew("$dir/$_[0].status", "$_[1]\n") }

# Requests a receiver answered with 2xx, decoded.
sub received {
    my ($name, %opt) = @_;
    return [] unless -e "$dir/$name.requests";
    my @r = map { decode_json($_) }
        split /\n/, MDM::Test::slurp("$dir/$name.requests");
    @r = grep { $_->{status} =~ /^2/ } @r unless $opt{all};
    my $path = $opt{path}
        // { filtered => '/in', main => '/hooks/mdm', tls => '/secure' }->{$name};
    @r = grep { $_->{request} eq "POST $path HTTP/1.1" } @r;
    $_->{json} = eval { decode_json($_->{body}) } for @r;
    return \@r;
}

receiver_answers($_, 200) for keys %hook_port;
receiver_start($_) for keys %hook_port;

# --- APNs: a mock that says one token is gone (for mdm.PushFailed) ------------

my $topic = 'com.apple.mgmt.External.webhooks';
my $gone_token = "\x55" x 32;
{
    my $base = "$pki->{dir}/push";
    $t->openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout',
        "$base.key", '-out', "$base.csr", '-subj', "/UID=$topic/CN=push");
    $t->openssl('x509', '-req', '-in', "$base.csr", '-CA', $pki->{ca},
        '-CAkey', $pki->{ca_key}, MDM::Test::serial_args(), '-out', "$base.pem",
        '-days', '30');
    $t->redis('HSET', key_pushcert($topic),
        cert => MDM::Test::slurp("$base.pem"),
        key => MDM::Test::slurp("$base.key"), not_after => time + 86400,
        updated => 1);
    MDM::Test::spew("$dir/apns.script",
                    unpack('H*', $gone_token) . " 410 Unregistered\n");
}
$t->spawn('mock', {}, $mock_bin, '--port', 0, '--cert', $pki->{cert},
    '--key', $pki->{key}, '--ca', $pki->{ca}, '--log', "$dir/mock.log",
    '--script', "$dir/apns.script");
my $mock_port = $t->wait_for(sub {
    -e "$dir/mock.out" && MDM::Test::slurp("$dir/mock.out") =~ /^port=(\d+)$/m
        ? $1 : undef
}) or BAIL_OUT('apns-mock did not start');

# --- the worker ---------------------------------------------------------------

MDM::Test::spew("$dir/mdm-worker.conf", <<"EOF");
# as in conf/mdm-worker.conf, tuned for a fast test
redis = 127.0.0.1:$redis
log_level = debug
apns_url = https://127.0.0.1:$mock_port
apns_ca = $pki->{ca}
push_block_ms = 200
push_claim_idle_ms = ${\ int(MDM::Test::timeout(5000)) }
push_claim_interval_ms = 200
webhook = main http://127.0.0.1:$hook_port{main}/hooks/mdm
webhook = filtered http://127.0.0.1:$hook_port{filtered}/in topics=mdm.Authenticate,mdm.TokenUpdate,mdm.CheckOut hmac_key=other-key
webhook = reports http://127.0.0.1:$hook_port{filtered}/reports topics=mdm.Connect skip_idle=1
webhook = tls https://127.0.0.1:$hook_port{tls}/secure topics=mdm.CheckOut ca=$pki->{ca}
webhook = untrusted https://127.0.0.1:$hook_port{tls}/untrusted topics=mdm.CheckOut
webhook_hmac_key = sekrit
webhook_timeout_ms = ${\ int(MDM::Test::timeout(5000)) }
webhook_retry_for = ${\ int(MDM::Test::timeout(8)) }
webhook_backoff_base_ms = 100
webhook_backoff_max_ms = 400
metrics_interval_ms = 200
EOF
# push_claim_idle_ms: long enough that a worker starved of CPU for a while
# does not claim back an event it has just delivered and not yet acked (a
# duplicate: delivery is at least once); the killed worker's events below
# are claimed after it.

sub start_worker {
    my ($name) = @_;
    $t->spawn($name, {}, $worker_bin, '-c', "$dir/mdm-worker.conf",
              '--name', $name);
}

sub groups {
    my $g = $t->redis('XINFO', 'GROUPS', key_events());
    return {} unless ref $g eq 'ARRAY';
    return { map { my %h = @$_; ($h{name} => \%h) } @$g };
}

start_worker('w1');
ok $t->wait_for(sub { my $g = groups();
                      $g->{'webhook:main'} && $g->{'webhook:filtered'} }),
    'one consumer group per webhook on mdm:events';

# --- devices ------------------------------------------------------------------

my %identity;

sub send_mdm {
    my ($udid, $body, $query, $ct) = @_;
    $identity{$udid} //= $t->identity($udid);
    return $t->request('PUT', $port, '/mdm' . ($query // ''), $body,
        sign => $identity{$udid},
        headers => { 'Content-Type' => $ct
                     // 'application/x-apple-aspen-mdm-checkin' });
}

sub checkin {
    my ($udid, $type, $query, @kv) = @_;
    my $body = plist(MessageType => $type, UDID => $udid, @kv);
    my $r = send_mdm($udid, $body, $query);
    die "$type of $udid: $r->{status}" unless $r->{status} == 200;
    return $body;
}

sub report {
    my ($udid, %kv) = @_;
    my $body = plist(UDID => $udid, map { $_ => $kv{$_} } sort keys %kv);
    my $r = send_mdm($udid, $body, undef,
                     'application/x-apple-aspen-mdm; charset=UTF-8');
    die "report of $udid: $r->{status}" unless $r->{status} == 200;
    return $body;
}

sub enroll {
    my ($udid) = @_;
    checkin($udid, 'Authenticate', undef, Topic => $topic);
    checkin($udid, 'TokenUpdate', undef, Topic => $topic,
            Token => data("\x11" x 32), PushMagic => "magic-$udid");
}

sub b64 { encode_base64($_[0], '') }

# Variable fields out, so that whole bodies compare as structures.
sub normalised {
    my ($json) = @_;
    my %copy = %$json;
    $copy{event_id} = 'ID' if ($copy{event_id} // '') =~ /^\d+-\d+$/;
    $copy{created_at} = 'TIME'
        if ($copy{created_at} // '') =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
    return \%copy;
}

# The barrier before "only these" / "each once": the webhook's consumer
# group has read and acked every event and nothing waits for a retry.
sub hook_drained {
    my ($name) = @_;
    return $t->stream_drained(key_events(), "webhook:$name")
        && !$t->redis('XLEN', key_webhook_retry($name));
}

# Failed attempts the worker logged for webhook $name (and enrollment $id).
sub failed_attempts {
    my ($name, $id) = @_;
    my $pat = defined $id
        ? qr/\[warn\] webhook \Q$name\E: event \S+ \([^,]*, \Q$id\E\)/
        : qr/\[warn\] webhook \Q$name\E: event /;
    return scalar grep { /$pat/ } split /\n/, MDM::Test::slurp("$dir/w1.out");
}

sub wait_received {
    my ($name, $n, $timeout) = @_;
    return $t->wait_for(sub { @{ received($name) } >= $n }, $timeout);
}

# --- golden bodies, topic by topic --------------------------------------------

my $G = 'GOLD-DEVICE-0001';
my $user = 'C0FFEE00-1111-2222-3333-444455556666';
my @golden;

my $body = checkin($G, 'Authenticate', '?tenant=acme&note=a%20b+c&tenant=2',
                   Topic => $topic, SerialNumber => 'SERIAL-G');
push @golden, { topic => 'mdm.Authenticate', event_id => 'ID',
    created_at => 'TIME', checkin_event => { udid => $G,
    url_params => { tenant => 'acme', note => 'a b c' },
    raw_payload => b64($body), ids => { id => $G, type => 'Device' } } };

$body = checkin($G, 'TokenUpdate', undef, Topic => $topic,
                Token => data("\x22" x 32), PushMagic => 'magic-G');
push @golden, { topic => 'mdm.TokenUpdate', event_id => 'ID',
    created_at => 'TIME', checkin_event => { udid => $G, url_params => {},
    raw_payload => b64($body), token_update_tally => 1,
    ids => { id => $G, type => 'Device' } } };

$body = checkin($G, 'TokenUpdate', undef, Topic => $topic, UserID => $user,
                UserShortName => 'jane', UserLongName => 'Jane',
                Token => data("\x33" x 32), PushMagic => 'magic-U');
push @golden, { topic => 'mdm.TokenUpdate', event_id => 'ID',
    created_at => 'TIME', checkin_event => { udid => $G, url_params => {},
    raw_payload => b64($body), token_update_tally => 1,
    ids => { id => "$G:$user", parent_id => $G, type => 'User' } } };

$body = checkin($G, 'UserAuthenticate', undef, UserID => $user);
push @golden, { topic => 'mdm.UserAuthenticate', event_id => 'ID',
    created_at => 'TIME', checkin_event => { udid => $G, url_params => {},
    raw_payload => b64($body),
    ids => { id => "$G:$user", parent_id => $G, type => 'User' } } };

$body = checkin($G, 'SetBootstrapToken', undef,
                BootstrapToken => data('bootstrap'));
push @golden, { topic => 'mdm.SetBootstrapToken', event_id => 'ID',
    created_at => 'TIME', checkin_event => { udid => $G, url_params => {},
    raw_payload => b64($body), ids => { id => $G, type => 'Device' } } };

$body = checkin($G, 'GetBootstrapToken');
push @golden, { topic => 'mdm.GetBootstrapToken', event_id => 'ID',
    created_at => 'TIME', checkin_event => { udid => $G, url_params => {},
    raw_payload => b64($body), ids => { id => $G, type => 'Device' } } };

$body = checkin($G, 'GetToken', undef, TokenServiceType => 'com.apple.maid');
push @golden, { topic => 'mdm.GetToken', event_id => 'ID',
    created_at => 'TIME', checkin_event => { udid => $G, url_params => {},
    raw_payload => b64($body), ids => { id => $G, type => 'Device' } } };

$body = report($G, Status => 'Idle');
push @golden, { topic => 'mdm.Connect', event_id => 'ID',
    created_at => 'TIME', acknowledge_event => { udid => $G,
    status => 'Idle', raw_payload => b64($body),
    ids => { id => $G, type => 'Device' } } };

my $r = $t->request('PUT', $port, "/v1/enqueue/$G?nopush=1&ttl=1",
    plist(CommandUUID => 'CMD-SHORT',
          Command => MDM::Plist::subdict(RequestType => 'ProfileList')),
    headers => \%API);
is $r->{status}, 200, 'a command with a TTL of 1 s is queued';
# nginx stamped it with a second <= now: it expires at that + 1
$t->until_epoch(int(time) + 1);
$r = $t->request('PUT', $port, "/v1/enqueue/$G?nopush=1",
    plist(CommandUUID => 'CMD-1',
          Command => MDM::Plist::subdict(RequestType => 'ProfileList')),
    headers => \%API);
$body = report($G, Status => 'Idle');
push @golden, { topic => 'mdm.CommandExpired', event_id => 'ID',
    created_at => 'TIME', acknowledge_event => { status => 'Expired',
    command_uuid => 'CMD-SHORT', raw_payload => undef,
    ids => { id => $G } } };
push @golden, { topic => 'mdm.Connect', event_id => 'ID',
    created_at => 'TIME', acknowledge_event => { udid => $G,
    status => 'Idle', raw_payload => b64($body),
    ids => { id => $G, type => 'Device' } } };

$body = report($G, Status => 'Acknowledged', CommandUUID => 'CMD-1');
push @golden, { topic => 'mdm.Connect', event_id => 'ID',
    created_at => 'TIME', acknowledge_event => { udid => $G,
    status => 'Acknowledged', command_uuid => 'CMD-1',
    raw_payload => b64($body), ids => { id => $G, type => 'Device' } } };

$body = checkin($G, 'CheckOut', undef, Topic => $topic);
push @golden, { topic => 'mdm.CheckOut', event_id => 'ID',
    created_at => 'TIME', checkin_event => { udid => $G, url_params => {},
    raw_payload => b64($body), ids => { id => $G, type => 'Device' } } };

ok wait_received('main', scalar @golden), 'every event reaches the webhook';
ok $t->wait_for(sub { hook_drained('main') }), '... and the webhook has acked them all';
my $got = received('main');
# Whoever expires CMD-SHORT first, the worker's sweep or the device's report,
# decides whether its mdm.CommandExpired comes before or after that report's
# mdm.Connect, and the sweep may report it a second time: it is compared on
# its own, every other event in order.
sub expired_event { $_[0]{topic} eq 'mdm.CommandExpired' }
my @expired = grep { expired_event($_->{json} // {}) } @$got;
my @main = grep { !expired_event($_->{json} // {}) } @$got;
my @golden_expired = grep { expired_event($_) } @golden;
@golden = grep { !expired_event($_) } @golden;
is scalar @main, scalar @golden, '... each once'
    or diag join "\n", grep { /claimed|retry in/ } split /\n/, MDM::Test::slurp("$dir/w1.out");
ok @expired == 1 || (@expired == 2 && $expired[0]{body} =~ /CMD-SHORT/
                     && $expired[1]{body} =~ /CMD-SHORT/),
   '... the expired command once (or once more by the sweep)';
push @golden, @golden_expired;
push @main, $expired[0];
for my $i (0 .. $#golden) {
    my $g = $golden[$i];
    my $kind = $g->{checkin_event} ? 'checkin_event' : 'acknowledge_event';
    my $what = $g->{topic} . ($g->{$kind}{status} ? " $g->{$kind}{status}" : '')
        . ($g->{$kind}{ids}{parent_id} ? ' (user channel)' : '');
    is_deeply normalised($main[$i]{json} // {}), $g,
        "golden body: $what";
}

my @event_ids = map { $_->{json}{event_id} } @main;
is scalar(grep { /^\d+-\d+$/ } @event_ids), scalar @main,
    'event_id is the mdm:events entry ID';
my $first = $main[0];
is $first->{request}, 'POST /hooks/mdm HTTP/1.1', 'POSTed to the configured path';
is $first->{content_type}, 'application/json; charset=utf-8',
    'Content-Type as NanoMDM sends it';
my %connections = map { $_->{connection} => 1 } @main;
cmp_ok scalar(keys %connections), '<', @main / 2,
    'connections are kept alive between POSTs';
my $types_ok = 1;
for my $m (@main) {
    my $b = $m->{json}{checkin_event} // $m->{json}{acknowledge_event};
    $types_ok = 0 if exists $b->{token_update_tally}
        && !(B::svref_2object(\$b->{token_update_tally})->FLAGS
             & (B::SVp_IOK() | B::SVp_NOK()));
}
ok $types_ok, 'token_update_tally is a JSON number';

my $sig_ok = 0;
for my $m (@main) {
    my $want = hmac_sha256_base64($m->{body}, 'sekrit');
    $want .= '=' while length($want) % 4;
    $sig_ok++ if ($m->{signature} // '') eq $want;
}
is $sig_ok, scalar @main,
    'X-Hmac-Signature: base64 HMAC-SHA256 of the exact body, global key';

# --- the filtered webhook -----------------------------------------------------

ok wait_received('filtered', 4), 'the filtered webhook gets its topics';
ok $t->wait_for(sub { hook_drained('filtered') }), '... and has handled every event';
my $filtered = received('filtered');
is_deeply [map { $_->{json}{topic} } @$filtered],
    [qw(mdm.Authenticate mdm.TokenUpdate mdm.TokenUpdate mdm.CheckOut)],
    '... and only them (no mdm.Connect, no UserAuthenticate ...)';
my $want = hmac_sha256_base64($filtered->[0]{body}, 'other-key');
$want .= '=' while length($want) % 4;
is $filtered->[0]{signature}, $want, '... signed with its own hmac_key';
is $filtered->[0]{request}, 'POST /in HTTP/1.1', '... at its own URL';

ok wait_received('tls', 1), 'an https webhook, server verified against its ca=';
is received('tls')->[0]{json}{topic}, 'mdm.CheckOut', '... gets its topic';
ok $t->wait_for(sub { $t->redis('XLEN', key_webhook_dead('untrusted')) }, 40),
    'a server the CAs do not vouch for gets nothing: dead-lettered';
my ($untrusted) = @{ $t->redis('XRANGE', key_webhook_dead('untrusted'), '-', '+') };
like {@{ $untrusted->[1] }}->{error}, qr/certificate/i, '... for its certificate';

my $reports = received('filtered', path => '/reports');
is_deeply [map { $_->{json}{acknowledge_event}{status} } @$reports],
    ['Acknowledged'], 'skip_idle=1 leaves out Idle reports';

# --- configuration errors -----------------------------------------------------

for my $bad ('x ftp://example.com/', 'bad/name http://127.0.0.1/',
             'y http://127.0.0.1/ colour=blue', 'z https://',
             'd http://127.0.0.1/ topics=a topics=b') {
    my $out = `$worker_bin --redis 127.0.0.1:$redis --name bad --webhook '$bad' 2>&1`;
    isnt $? >> 8, 0, "worker refuses to start with webhook = $bad";
    like $out, qr/\[alert\] webhook .*(expected|unknown option|given twice)/, '... saying why';
}

# --- receiver down for a while: everything arrives, in order per enrollment ---

my @devices = map { sprintf 'ORDER-DEVICE-%04d', $_ } 1 .. 3;
enroll($_) for @devices;
ok wait_received('main', @$got + 6), 'enrollments of the next test delivered';
my $base = @{ received('main') };

# Signed before the receiver goes: the time it is down stays well inside
# webhook_retry_for, however slow signing is on a loaded machine.
my (%sent, @signed);
for my $n (1 .. 5) {
    for my $d (@devices) {
        my $body = plist(UDID => $d, CommandUUID => "C-$d-$n",
                         Status => 'Acknowledged');
        push @signed, [$body, $t->sign($identity{$d}, $body)];
        push @{ $sent{$d} }, "C-$d-$n";
    }
}
my $failed_before = failed_attempts('main');
$t->stop('receiver-main');
for my $s (@signed) {
    my $r = $t->request('PUT', $port, '/mdm', $s->[0], headers => {
        'Content-Type' => 'application/x-apple-aspen-mdm; charset=UTF-8',
        'Mdm-Signature' => $s->[1] });
    die "report: $r->{status}" unless $r->{status} == 200;
}
# barrier: the worker has tried and failed for each of the enrollments
ok $t->wait_for(sub { failed_attempts('main') >= $failed_before + 3 }, 10),
    'with the receiver down, attempts fail';
is scalar @{ received('main') }, $base, 'nothing delivered while the receiver is down';
receiver_start('main');
ok wait_received('main', $base + 15, 30), 'once it is back, every event arrives';
my %order;
for my $m (@{ received('main') }[$base .. $base + 14]) {
    my $a = $m->{json}{acknowledge_event};
    push @{ $order{ $a->{udid} } }, $a->{command_uuid};
}
is_deeply \%order, \%sent, '... in order for each enrollment';
like MDM::Test::slurp("$dir/w1.out"), qr/\[warn\] webhook main: event \S+ .*attempt \d+, retry in/,
    'failed attempts are logged with the retry delay';

# --- a failing receiver: dead letter after webhook_retry_for, then replay ------

$base = @{ received('main') };
my $fbase = @{ received('filtered') };
receiver_answers('main', 500);
my $D = 'DEAD-DEVICE-0001';
my $dead_body = report($devices[0], Status => 'Acknowledged', CommandUUID => 'DEAD-1');
checkin($devices[1], 'TokenUpdate', undef, Topic => $topic,
        Token => data("\x44" x 32), PushMagic => 'magic-again');
ok wait_received('filtered', $fbase + 1, 10),
    'the other webhook is not held up by the failing one';

ok $t->wait_for(sub { $t->redis('XLEN', key_webhook_dead('main')) >= 2 }, 40),
    'after webhook_retry_for the events go to mdm:webhook:dead:main';
my $dead = $t->redis('XRANGE', key_webhook_dead('main'), '-', '+');
my %f = @{ $dead->[0][1] };
is $f{error}, 'HTTP status 500', 'the dead letter says why';
cmp_ok $f{attempts}, '>=', 3, '... and how many attempts were made';
ok defined $f{m} && $f{event_id} =~ /^\d+-\d+$/, '... and keeps the event';
is $t->redis('XPENDING', key_events(), 'webhook:main')->[0], 0,
    'dead-lettered events are acked';
ok $t->wait_for(sub {
        my %m = @{ $t->redis('HGETALL', key_worker_metrics()) };
        ($m{webhook_dead_letters_total} // 0) >= 2
        && ($m{webhook_retries_total} // 0) >= 2
        && ($m{webhook_deliveries_total} // 0) > 0
        && ($m{webhook_skipped_total} // 0) > 0 }, 5),
    'deliveries, retries, dead letters and skips are counted for /metrics';

sub api {
    my ($method, $path) = @_;
    my $r = $t->request($method, $port, $path, '', headers => \%API);
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

$r = api('GET', '/v1/webhooks/main/dead?count=10');
is $r->{status}, 200, 'GET /v1/webhooks/main/dead';
# Two enrollments: which one's budget ran out first is up to the jitter.
my %dead_by_topic = map { $_->{topic} => $_ } @{ $r->{json}{dead} };
is_deeply [sort { $a->[0] cmp $b->[0] }
           map { [$_->{topic}, $_->{enrollment_id}, $_->{error}] }
           @{ $r->{json}{dead} }],
    [['mdm.Connect', $devices[0], 'HTTP status 500'],
     ['mdm.TokenUpdate', $devices[1], 'HTTP status 500']],
    '... lists topic, enrollment and error';
my $dead_connect = $dead_by_topic{'mdm.Connect'};
ok $dead_connect->{id} =~ /^\d+-\d+$/ && $dead_connect->{attempts} >= 3,
    '... with the dead letter ID and the attempts';
is scalar @{ api('GET', '/v1/webhooks/main/dead?count=1')->{json}{dead} }, 1,
    '... count limits the list';
is api('GET', '/v1/webhooks/bad%20name/dead')->{status}, 404,
    'a webhook name outside [A-Za-z0-9._-] is refused';
is api('GET', '/v1/webhooks/main/dead?count=0')->{status}, 400, 'count=0 is refused';
is api('GET', '/v1/webhooks/main/replay')->{status}, 405, 'replay wants POST';

receiver_answers('main', 200);
my $dead_id = $dead_connect->{id};
my $dead_event = $dead_connect->{event_id};
is api('POST', '/v1/webhooks/main/replay?id=1-1')->{status}, 404,
    'replaying an unknown dead letter is 404';
$r = api('POST', "/v1/webhooks/main/replay?id=$dead_id");
is_deeply $r->{json}, { webhook => 'main', replayed => 1 },
    'POST /v1/webhooks/main/replay?id=... moves one dead letter';
ok wait_received('main', $base + 1, 10), 'the replayed event is delivered';
my $replayed = received('main')->[$base];
is $replayed->{json}{event_id}, $dead_event, '... with its original event_id';
is $replayed->{json}{acknowledge_event}{raw_payload}, b64($dead_body),
    '... and body';
is $t->redis('XLEN', key_webhook_dead('main')), 1, 'one dead letter is left';

is_deeply api('POST', '/v1/webhooks/main/replay')->{json},
    { webhook => 'main', replayed => 1 }, 'POST .../replay moves the rest';
ok wait_received('main', $base + 2, 10), '... and it is delivered';
is received('main')->[$base + 1]{json}{topic}, 'mdm.TokenUpdate', '... the TokenUpdate';
ok $t->wait_for(sub { $t->redis('XLEN', key_webhook_retry('main')) == 0 }),
    'delivered retry entries leave the retry stream';
is scalar(grep { $_->{json}{topic} ne 'mdm.TokenUpdate' }
          @{ received('filtered') }[$fbase .. $#{ received('filtered') }]), 0,
    'a replay for one webhook is not delivered to the other';

for my $id ('-', '1-2-3', '1-', '-1', '1', '18446744073709551616-0', '1-x') {
    is api('POST', "/v1/webhooks/main/replay?id=$id")->{status}, 400,
        "replay of id=$id, not a stream entry ID, is 400";
}
is api('POST', '/v1/webhooks/main/replay?id=18446744073709551615-18446744073709551615')
    ->{status}, 404, 'the largest stream entry ID is an ID (404: none such)';

# A webhook no worker serves, so that the retry stream keeps what arrives.
$t->redis('EVAL', q{
    for i = 1, 1200 do
        redis.call('XADD', KEYS[1], '*', 'event_id', i .. '-0', 'm', 'x',
                   'error', 'HTTP status 500', 'attempts', '3')
    end
    redis.call('XADD', KEYS[1], '*', 'error', 'HTTP status 500', 'attempts', '3')
}, 1, key_webhook_dead('bulk'));
is_deeply api('POST', '/v1/webhooks/bulk/replay')->{json},
    { webhook => 'bulk', replayed => 1200 },
    'replay of all moves more dead letters than one script call does';
is $t->redis('XLEN', key_webhook_dead('bulk')), 0,
    '... an entry without fields to deliver is deleted, not moved';
my $bulk = $t->redis('XRANGE', key_webhook_retry('bulk'), '-', '+');
is_deeply [ map { $_->[1] } @$bulk[0, -1] ],
    [[event_id => '1-0', m => 'x'], [event_id => '1200-0', m => 'x']],
    '... oldest first, without error and attempts';
is_deeply [ $t->error_log =~ /webhook "bulk": (\d+) dead letters replayed/g ],
    [1200], '... logged once, with the total';
$t->redis('DEL', key_webhook_retry('bulk'));

# --- an entry that is not an event -------------------------------------------

my $garbage = $t->redis('XADD', key_events(), '*', m => "\xc1not msgpack");
ok $t->wait_for(sub {
        my $d = $t->redis('XRANGE', key_webhook_dead('main'), '-', '+');
        grep { my %f = @{ $_->[1] }; ($f{event_id} // '') eq $garbage } @$d
    }), 'an entry that is no event is dead-lettered at once';
my ($gd) = grep { my %f = @{ $_->[1] }; ($f{event_id} // '') eq $garbage }
    @{ $t->redis('XRANGE', key_webhook_dead('main'), '-', '+') };
my %gf = @{ $gd->[1] };
is $gf{error}, 'field m is not a valid event', '... saying why';
is $gf{attempts}, 0, '... without an attempt';

# --- mdm.PushFailed --------------------------------------------------------------

$base = @{ received('main') };
my $GONE = 'GONE-DEVICE-0001';
checkin($GONE, 'Authenticate', undef, Topic => $topic);
checkin($GONE, 'TokenUpdate', undef, Topic => $topic,
        Token => data($gone_token), PushMagic => 'magic-gone');
$r = $t->request('PUT', $port, "/v1/enqueue/$GONE",
    plist(CommandUUID => 'CMD-GONE',
          Command => MDM::Plist::subdict(RequestType => 'ProfileList')),
    headers => \%API);
is $r->{status}, 200, 'a command for a device whose token APNs says is gone';
ok $t->wait_for(sub { grep { $_->{json}{topic} eq 'mdm.PushFailed' }
                      @{ received('main') } }, 10),
    'the failed push reaches the webhook';
my ($pf) = grep { $_->{json}{topic} eq 'mdm.PushFailed' } @{ received('main') };
is_deeply normalised($pf->{json}), { topic => 'mdm.PushFailed',
    event_id => 'ID', created_at => 'TIME', push_event => { status => 410,
    reason => 'Unregistered', ids => { id => $GONE } } },
    'golden body: mdm.PushFailed (push_event: APNs status and reason)';

# --- a body over mdm_event_raw_max_size (64k) is not copied into the event ----

$base = @{ received('main') };
report($devices[0], Status => 'Acknowledged', CommandUUID => 'BIG-1',
       Padding => 'p' x (100 * 1024));
ok wait_received('main', $base + 1, 10), 'a 100 KB report reaches the webhook';
my $big = received('main')->[$base]{json}{acknowledge_event};
is $big->{command_uuid}, 'BIG-1', '... the right one';
ok defined $big->{raw_payload} && $big->{raw_payload} eq '',
    '... with raw_payload "" (docs/webhooks.md), not the body';

# --- a killed worker's events are delivered by another ------------------------

$base = @{ received('main') };
$t->stop('receiver-main');
my $held = failed_attempts('main', $devices[2]);
report($devices[2], Status => 'Acknowledged', CommandUUID => 'AFTER-KILL');
# barrier: w1 holds the event (it has tried to deliver it)
ok $t->wait_for(sub { failed_attempts('main', $devices[2]) > $held }, 10),
    'the worker holds the event of a receiver that is down';
$t->kill9('w1');
receiver_start('main');
start_worker('w2');
ok wait_received('main', $base + 1, 30),
    'an event a SIGKILLed worker held is claimed and delivered by another';
is received('main')->[$base]{json}{acknowledge_event}{command_uuid}, 'AFTER-KILL',
    '... the right one';

$t->stop('w2');
like MDM::Test::slurp("$dir/w2.out"), qr/webhook main total: delivered=/,
    'SIGTERM: totals logged at exit';
my $logs = MDM::Test::slurp("$dir/w1.out") . MDM::Test::slurp("$dir/w2.out");
unlike $logs, qr/\[alert\]|AddressSanitizer|runtime error/, 'no alerts in the worker logs';
is_deeply [$t->error_log_problems], [], 'no alerts in any log';

done_testing;
