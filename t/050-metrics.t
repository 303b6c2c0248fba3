#!/usr/bin/perl
# Metrics and access-log variables: GET /metrics is valid Prometheus text
# (checked by a strict parser below), its counters are shared by the nginx
# workers and move with check-ins, reports, identity refusals, API refusals
# and a Redis outage; $mdm_* variables reach a custom access log.
# Has component sections (state written to Redis directly, listed with their
# end-to-end counterparts in t/README.md).

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
my $plain = $t->port('metrics');
my $d = $t->dir;

$t->nginx_start(<<"EOF", port => $port, workers => 2);
    mdm_redis 127.0.0.1:$redis;
    mdm_redis_backoff_max 200ms;
    mdm_redis_timeout 500ms;
    log_format mdm '\$status id=\$mdm_enrollment_id type=\$mdm_message_type '
                   'status=\$mdm_status uuid=\$mdm_command_uuid';
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        client_max_body_size 64k;
        client_body_buffer_size 64k;
        mdm_device_ca $pki->{ca};
        access_log $d/mdm_access.log mdm;
        location /mdm { mdm_server; }
        location /api/ { mdm_api; mdm_api_key sekret; }
    }
    server {
        listen 127.0.0.1:$plain;
        location = /metrics { mdm_metrics; }
    }
EOF

my %API = MDM::Test::api_auth('sekret');
my $CHECKIN = 'application/x-apple-aspen-mdm-checkin';
my $REPORT = 'application/x-apple-aspen-mdm; charset=UTF-8';
my $topic = 'com.apple.mgmt.External.metrics';

# --- a strict Prometheus text format 0.0.4 parser ----------------------------

my $NAME = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
my $LNAME = qr/[a-zA-Z_][a-zA-Z0-9_]*/;
my $LVALUE = qr/(?:[^"\\\n]|\\[\\"n])*/;
my $NUMBER = qr/[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?Inf|NaN/;

# Returns (\%samples "name{labels}" => value, \%types, \@errors).
sub parse_prometheus {
    my ($text) = @_;
    my (%samples, %types, %help, %done, @errors);
    my $current = '';
    push @errors, 'body does not end with a newline' unless $text =~ /\n\z/;
    for my $line (split /\n/, $text) {
        if ($line =~ /^#/) {
            if ($line =~ /^# (HELP|TYPE) ($NAME) (.*)$/) {
                my ($kind, $name, $rest) = ($1, $2, $3);
                if ($kind eq 'TYPE') {
                    push @errors, "bad type: $line"
                        unless $rest =~ /^(counter|gauge|histogram|summary|untyped)$/;
                    push @errors, "second TYPE for $name" if $types{$name};
                    push @errors, "TYPE after samples of $name" if $done{$name} || $current eq $name;
                    $types{$name} = $rest;
                } else {
                    push @errors, "second HELP for $name" if $help{$name}++;
                }
                next;
            }
            push @errors, "stray comment: $line";
            next;
        }
        push @errors, 'empty line' and next if $line eq '';
        unless ($line =~ /^($NAME)(?:\{((?:$LNAME="$LVALUE")(?:,$LNAME="$LVALUE")*)?\})? ($NUMBER)$/) {
            push @errors, "bad sample line: $line";
            next;
        }
        my ($name, $labels, $value) = ($1, $2 // '', $3);
        my $family = $name;
        if (!$types{$family}) {
            (my $base = $name) =~ s/_(bucket|sum|count)$//;
            $family = $base if ($types{$base} // '') eq 'histogram';
        }
        push @errors, "no TYPE line for $name" unless $types{$family};
        if ($family ne $current) {
            push @errors, "family $family is split" if $done{$family};
            $done{$current} = 1 if $current ne '';
            $current = $family;
        }
        my $key = $labels eq '' ? $name : "$name\{$labels}";
        push @errors, "duplicate sample $key" if exists $samples{$key};
        $samples{$key} = $value;
    }
    for my $h (grep { $types{$_} eq 'histogram' } keys %types) {
        my @le = map { [/le="([^"]+)"/, $samples{$_}] }
                 grep { /^${h}_bucket\{/ } keys %samples;
        @le = sort { ($a->[0] eq '+Inf' ? 9e99 : $a->[0])
                     <=> ($b->[0] eq '+Inf' ? 9e99 : $b->[0]) } @le;
        push @errors, "$h has no buckets" and next unless @le;
        for my $i (1 .. $#le) {
            push @errors, "$h buckets are not cumulative at le=$le[$i][0]"
                if $le[$i][1] < $le[$i - 1][1];
        }
        push @errors, "$h does not end with +Inf" unless $le[-1][0] eq '+Inf';
        push @errors, "$h +Inf bucket is not _count"
            unless defined $samples{"${h}_count"} && $le[-1][1] == $samples{"${h}_count"};
        push @errors, "$h has no _sum" unless defined $samples{"${h}_sum"};
    }
    return (\%samples, \%types, \@errors);
}

my @bad = parse_prometheus("# TYPE a counter\na 1\n# TYPE b gauge\nb 2\na 3\n");
ok(scalar @{ $bad[2] }, 'the parser itself refuses a split family');
@bad = parse_prometheus("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n");
ok(scalar @{ $bad[2] }, 'the parser itself refuses decreasing buckets');
@bad = parse_prometheus("x{a=\"1\"} 1\n");
ok(scalar @{ $bad[2] }, 'the parser itself refuses a sample without TYPE');

my $last_body;

sub scrape {
    my (%opt) = @_;
    my $r = $opt{plain}
        ? $t->request('GET', $plain, '/metrics', undef, tls => 0)
        : $t->request('GET', $port, '/api/metrics', undef, headers => \%API);
    die "scrape: $r->{status}" unless $r->{status} == 200;
    $last_body = $r->{body};
    my ($s, $types, $errors) = parse_prometheus($r->{body});
    return wantarray ? ($s, $types, $errors, $r) : $s;
}

sub metric { my ($s, $key) = @_; return $s->{$key} // 0 }

sub dev {
    my ($endpoint, $message, $code) = @_;
    return qq(mdm_device_requests_total{endpoint="$endpoint",message="$message",code="$code"});
}

# --- the format ---------------------------------------------------------------

my $r = $t->request('GET', $port, '/api/metrics');
is($r->{status}, 401, 'GET /metrics on the API wants the API key');

my ($s, $types, $errors, $resp) = scrape();
is_deeply($errors, [], 'a first scrape parses as strict Prometheus text') or diag $last_body;
like($resp->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'content type of the text format 0.0.4');
is($types->{mdm_redis_command_duration_seconds}, 'histogram', 'Redis latency is a histogram');
is($types->{mdm_device_requests_total}, 'counter', 'device requests are a counter');
is($types->{mdm_identity_failures_total}, 'counter', 'identity failures are a counter');
is(metric($s, 'mdm_identity_failures_total{reason="untrusted_chain"}'), 0, 'every identity reason is listed, zero too');
is(metric($s, 'mdm_redis_up'), 1, 'mdm_redis_up is 1 while Redis answers');
is(metric($s, 'mdm_enrollments'), 0, 'no enrollments yet');

my ($p) = scrape(plain => 1);
ok(exists $p->{mdm_redis_up}, 'the mdm_metrics location answers without credentials');
is($t->request('POST', $plain, '/metrics', 'x', tls => 0)->{status}, 405, 'mdm_metrics is GET only');

# --- device traffic -----------------------------------------------------------

sub checkin {
    my ($body, %opt) = @_;
    return $t->request('PUT', $port, '/mdm', $body, headers => { 'Content-Type' => $CHECKIN }, %opt);
}

sub report {
    my ($id, $udid, %kv) = @_;
    return $t->request('PUT', $port, '/mdm', plist(UDID => $udid, map { $_ => $kv{$_} } sort keys %kv),
                       sign => $id, headers => { 'Content-Type' => $REPORT });
}

my $before = scrape();
my $A = 'METRICS-DEVICE-A';
my $ida = $t->identity($A);
is(checkin(plist(MessageType => 'Authenticate', UDID => $A, Topic => $topic), sign => $ida)->{status},
   200, 'Authenticate accepted');
for (1 .. 2) {
    is(checkin(plist(MessageType => 'TokenUpdate', UDID => $A, Topic => $topic,
                     Token => data('t' x 32), PushMagic => 'm'), sign => $ida)->{status},
       200, "TokenUpdate $_ accepted");
}
is(report($ida, $A, Status => 'Idle')->{status}, 200, 'Idle accepted');
is(report($ida, $A, Status => 'Acknowledged', CommandUUID => 'METRICS-C1')->{status}, 200,
   'Acknowledged (for a command never sent) accepted');
is(checkin(plist(MessageType => 'UserAuthenticate', UDID => $A, UserID => 'U1'), sign => $ida)->{status},
   410, 'UserAuthenticate declined');

$s = scrape();
is(metric($s, dev('checkin', 'Authenticate', '200'))
   - metric($before, dev('checkin', 'Authenticate', '200')),
   1, 'one Authenticate counted, by both workers together');
is(metric($s, dev('checkin', 'TokenUpdate', '200')), 2,
   'two TokenUpdates counted');
is(metric($s, dev('connect', 'Idle', '200')), 1, 'Idle report counted under connect');
is(metric($s, dev('connect', 'Acknowledged', '200')), 1, 'Acknowledged report counted');
is(metric($s, dev('checkin', 'UserAuthenticate', '410')), 1, 'a 410 is counted with its code');
is(metric($s, 'mdm_enrollments'), 1, 'mdm_enrollments is the enrollment index');
is(metric($s, 'mdm_enrollments_with_queued_commands'), $t->redis('ZCARD', key_pending()),
   'enrollments with queued commands');
is(metric($s, 'mdm_enrollments_notnow'), $t->redis('ZCARD', key_notnow()),
   "enrollments left with NotNow'd commands");
is(metric($s, 'mdm_stream_length{stream="' . key_events() . '"}'), $t->redis('XLEN', key_events()),
   'events stream length');
cmp_ok(metric($s, 'mdm_redis_used_memory_bytes'), '>', 0, 'Redis used_memory reported');
is(metric($s, 'mdm_redis_maxmemory_bytes'), 0, '... no maxmemory set');
is(metric($s, 'mdm_redis_memory_alarm'), 0, '... and no alarm without a bound');
{
    my ($used) = $t->redis('INFO', 'memory') =~ /^used_memory:(\d+)/m;
    $t->redis('CONFIG', 'SET', 'maxmemory', int($used * 1.05));
    my $m = scrape();
    is(metric($m, 'mdm_redis_memory_alarm'), 1, 'used_memory near maxmemory: alarm 1');
    $t->redis('CONFIG', 'SET', 'maxmemory', $used * 4);
    $m = scrape();
    is(metric($m, 'mdm_redis_memory_alarm'), 0, 'far below maxmemory: alarm 0');
    is(metric($m, 'mdm_redis_maxmemory_bytes'), $used * 4, '... maxmemory reported');
    $t->redis('CONFIG', 'SET', 'maxmemory', 0);
}
cmp_ok(metric($s, 'mdm_redis_command_duration_seconds_count'), '>=', 6, 'every Redis command timed');
cmp_ok(metric($s, 'mdm_redis_command_duration_seconds_sum'), '>', 0, 'latency sum grows');

# --- identity refusals ---------------------------------------------------------

my $auth_b = plist(MessageType => 'Authenticate', UDID => 'METRICS-B', Topic => $topic);
$before = scrape();

is(checkin($auth_b)->{status}, 400, 'no certificate at all: 400');
is(checkin($auth_b, sign => $t->identity('METRICS-B', ca => 'foreign'))->{status}, 400,
   'certificate of a foreign CA: 400');
my $sig = $t->sign($ida, $auth_b);
is(checkin(plist(MessageType => 'Authenticate', UDID => 'METRICS-C', Topic => $topic),
           headers => { 'Content-Type' => $CHECKIN, 'Mdm-Signature' => $sig })->{status},
   400, 'signature over another body: 400');
is(checkin($auth_b, headers => { 'Content-Type' => $CHECKIN, 'Mdm-Signature' => 'AAAA' })->{status},
   400, 'garbage signature: 400');
my $other = $t->identity($A, tag => '-other');
is(report($other, $A, Status => 'Idle')->{status}, 400, 'another certificate for a bound enrollment: 400');
is(checkin(plist(MessageType => 'TokenUpdate', UDID => 'METRICS-NEVER', Topic => $topic,
                 Token => data('n' x 32), PushMagic => 'n'), sign => $t->identity('METRICS-NEVER'))->{status},
   400, 'TokenUpdate for an unknown enrollment: 400');

$s = scrape();
for my $reason (qw(no_certificate untrusted_chain digest_mismatch malformed_signature
                   binding_mismatch unknown_enrollment)) {
    is(metric($s, qq(mdm_identity_failures_total{reason="$reason"})) - metric($before, qq(mdm_identity_failures_total{reason="$reason"})), 1,
       "identity failure counted as $reason");
}
is(metric($s, dev('server', 'none', '400')), 4,
   'requests refused before decoding count under the location (server), message none');
is(metric($s, dev('connect', 'Idle', '400')), 1,
   'a refused report still counts under its Status');

# --- API -----------------------------------------------------------------------

is($t->request('PUT', $port, "/api/v1/enqueue/$A", 'x')->{status}, 401, 'enqueue without the key: 401');
is($t->request('GET', $port, '/api/v1/nothing', undef, headers => \%API)->{status}, 404, 'unknown route: 404');
is($t->request('GET', $port, '/api/version')->{status}, 200, '/version: 200');
$s = scrape();
is(metric($s, 'mdm_api_requests_total{route="/v1/enqueue",code="401"}'), 1, 'API 401 counted by route');
is(metric($s, 'mdm_api_requests_total{route="other",code="404"}'), 1, 'unknown route counted as other');
is(metric($s, 'mdm_api_requests_total{route="/version",code="200"}'), 1, '/version counted');
cmp_ok(metric($s, 'mdm_api_requests_total{route="/metrics",code="200"}'), '>=', 4, 'scrapes count too');
is(metric($s, 'mdm_api_requests_total{route="/metrics",code="401"}'), 1, 'the refused scrape counted');

# --- stream groups and the worker's counters ----------------------------------

$t->redis('XADD', key_push(), '*', 'id', $A);
$t->redis('XADD', key_push(), '*', 'id', $A);
$t->redis('XGROUP', 'CREATE', key_push(), 'pushers', '0');
$t->redis('XREADGROUP', 'GROUP', 'pushers', 'w1', 'COUNT', '1', 'STREAMS', key_push(), '>');
$t->redis('HSET', key_worker_metrics(), 'pushes_total{result="200"}', '5',
          'pushes_total{result="410"}', '1', 'webhooks_total', '3', 'push_seconds_sum', '0.25',
          'pushes_total_failed', '2', 'pushes_total', '9',
          'bad name', '1', 'evil_total', "1\n# TYPE x gauge");
($s, $types, $errors) = scrape();
is_deeply($errors, [], 'with groups and worker counters the output still parses') or diag $last_body;
is(metric($s, 'mdm_stream_length{stream="' . key_push() . '"}'), 2, 'push stream length');
is(metric($s, 'mdm_stream_pending{stream="' . key_push() . '",group="pushers"}'), 1, 'pending entries of the group');
is(metric($s, 'mdm_stream_lag{stream="' . key_push() . '",group="pushers"}'), 1, 'lag of the group');
is(metric($s, 'mdm_worker_pushes_total{result="200"}'), 5, 'worker counter exported with its labels');
is(metric($s, 'mdm_worker_pushes_total{result="410"}'), 1, 'every label set of it');
is(metric($s, 'mdm_worker_webhooks_total'), 3, 'a worker counter without labels');
is(metric($s, 'mdm_worker_pushes_total'), 9, 'one family with and without labels stays together');
is($types->{mdm_worker_pushes_total}, 'counter', 'worker counters are typed counter, once per family');
unlike($last_body, qr/bad name|evil_total/, 'fields that would break the format are left out');
like($t->error_log, qr/invalid field in "\Q${\ key_worker_metrics()}\E" left out/, '... and logged');

# A Redis error reply: the script cannot read a key of the wrong type.
$t->redis('DEL', key_worker_metrics());
$t->redis('SET', key_worker_metrics(), 'oops');
$before = $s;
($s, $types, $errors) = scrape();
is(metric($s, 'mdm_redis_up'), 0, 'an error reply from the script: mdm_redis_up 0');
is(metric($s, 'mdm_redis_errors_total{error="error_reply"}')
   - metric($before, 'mdm_redis_errors_total{error="error_reply"}'), 1, 'error reply counted');
ok(exists $s->{'mdm_device_requests_total{endpoint="checkin",message="Authenticate",code="200"}'},
   'the nginx counters are still there');
is_deeply($errors, [], 'and still valid text');
$t->redis('DEL', key_worker_metrics());

# --- a Redis that stops answering ------------------------------------------------

$before = scrape();
kill 'STOP', $t->pid('redis');
my $t0 = time;
($s, $types, $errors) = eval { scrape() };
my $took = time - $t0;
kill 'CONT', $t->pid('redis');
is(metric($s, 'mdm_redis_up'), 0, 'a frozen Redis: the scrape is answered without it');
is_deeply($errors, [], '... with valid text');
is(metric($s, 'mdm_redis_errors_total{error="timeout"}')
   - metric($before, 'mdm_redis_errors_total{error="timeout"}'), 1, 'the timeout is counted');
ok($took < 5, "... after mdm_redis_timeout, not forever (${took}s)");
ok($t->wait_for(sub { metric(scalar scrape(), 'mdm_redis_up') == 1 }, 10), 'Redis thawed: mdm_redis_up 1 again');

# --- Redis outage ----------------------------------------------------------------

$before = scrape();
$t->redis_close;
$t->kill9('redis');
# barrier: the workers have seen their connections close
ok($t->wait_for(sub {
    metric(scalar scrape(), 'mdm_redis_errors_total{error="connection_lost"}')
        > metric($before, 'mdm_redis_errors_total{error="connection_lost"}') }, 10),
   'Redis killed: the workers see their connections lost');
is(report($ida, $A, Status => 'Idle')->{status}, 503, 'Redis down: a report gets 503');
($s, $types, $errors) = scrape();
is_deeply($errors, [], 'a scrape during the outage is valid text') or diag $last_body;
is(metric($s, 'mdm_redis_up'), 0, 'mdm_redis_up 0 during the outage');
ok(!exists $s->{mdm_enrollments}, 'Redis figures are left out, not made up');
cmp_ok(metric($s, 'mdm_redis_errors_total{error="connection_lost"}'), '>',
       metric($before, 'mdm_redis_errors_total{error="connection_lost"}'), 'lost connections counted');
cmp_ok(metric($s, 'mdm_redis_errors_total{error="unavailable"}')
       + metric($s, 'mdm_redis_errors_total{error="connect_failed"}'), '>',
       metric($before, 'mdm_redis_errors_total{error="unavailable"}')
       + metric($before, 'mdm_redis_errors_total{error="connect_failed"}'),
       'failed sends and reconnects counted');
cmp_ok(metric($s, dev('connect', 'Idle', '503')), '>=', 1, 'the 503 is counted');

$t->redis_start;
ok($t->wait_for(sub { metric(scalar scrape(), 'mdm_redis_up') == 1 }, 10), 'Redis back: mdm_redis_up 1 again');

# --- reload ----------------------------------------------------------------------

$before = scrape();
kill 'HUP', $t->pid('nginx');
ok($t->wait_for(sub {
       my $e = $t->error_log;
       () = $e =~ /gracefully shutting down/g;
   }, 10), 'nginx reloaded');
$s = scrape();
cmp_ok(metric($s, dev('checkin', 'Authenticate', '200')), '>=',
       metric($before, dev('checkin', 'Authenticate', '200')), 'counters survive a reload');
cmp_ok(metric($s, dev('checkin', 'Authenticate', '200')), '>', 0, '... and are not zero');
is(metric($s, 'mdm_redis_up'), 1, 'the new workers reach Redis');

# the zone is taken over as it is, not allocated again: reloads never fill it
sub shutdowns { my $e = $t->error_log; my $n = () = $e =~ /gracefully shutting down/g; $n }
for my $n (2 .. 4) {
    my $seen = shutdowns();
    kill 'HUP', $t->pid('nginx');
    ok($t->wait_for(sub { shutdowns() > $seen }, 10), "reload $n done");
}
my $again = scrape();
cmp_ok(metric($again, dev('checkin', 'Authenticate', '200')), '>=',
       metric($s, dev('checkin', 'Authenticate', '200')), 'counters survive three more reloads');
unlike($t->error_log, qr/\[(?:emerg|alert|crit)\]/, 'no zone error on any reload');
my $head = $t->request('HEAD', $plain, '/metrics', undef, tls => 0);
is($head->{status}, 200, 'HEAD /metrics: 200');
is($head->{body}, '', '... without a body');

# --- access log variables ---------------------------------------------------------

my $log = MDM::Test::slurp("$d/mdm_access.log");
like($log, qr/^200 id=$A type=Authenticate status=- uuid=-$/m, 'check-in line: enrollment ID and MessageType');
like($log, qr/^200 id=$A type=- status=Acknowledged uuid=METRICS-C1$/m, 'report line: Status and CommandUUID');
like($log, qr/^400 id=- type=- status=- uuid=-$/m, 'a request refused early logs "-"');
like($log, qr/^400 id=$A type=- status=Idle uuid=-$/m, 'a refused report still names its enrollment');

my @problems = $t->error_log_problems;
is_deeply(\@problems, [], 'no alerts, crashes or sanitizer reports');

done_testing;
