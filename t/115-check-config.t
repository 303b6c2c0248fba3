#!/usr/bin/perl
# Every configuration mistake is caught before start, naming what is wrong:
# `nginx -t` names the directive, `mdm-worker --check-config` the key, one
# line per problem, exit 1 (0 for the shipped sample).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;

my $t = MDM::Test->new;
my $d = $t->dir;
my $pki = $t->pki;
my $ca = $pki->{ca};

# [ http{} contents, the directive the error must name ]
my @nginx_bad = (
    [ 'mdm_redis no-such-host.invalid:6379;', 'mdm_redis' ],
    [ 'mdm_redis 127.0.0.1:6379 pool=0;', 'mdm_redis' ],
    [ 'mdm_redis_timeout forever;', 'mdm_redis_timeout' ],
    [ 'mdm_redis_connect_timeout -1;', 'mdm_redis_connect_timeout' ],
    [ 'mdm_events_maxlen many;', 'mdm_events_maxlen' ],
    [ 'mdm_result_retention soon;', 'mdm_result_retention' ],
    [ 'mdm_identity_cache_size big;', 'mdm_identity_cache_size' ],
    [ 'server { location / { mdm_api; } }', 'mdm_api' ],
    [ "server { location / { mdm_device_ca $d/none.pem; mdm_checkin; } }", 'mdm_device_ca' ],
    [ "server { location / { mdm_device_ca $ca; mdm_identity tls carrier-pigeon; mdm_checkin; } }", 'mdm_identity' ],
    [ "server { location / { mdm_device_ca $ca; mdm_cert_binding maybe; mdm_checkin; } }", 'mdm_cert_binding' ],
    [ "server { location / { mdm_device_ca $ca; mdm_topic_check yes; mdm_checkin; } }", 'mdm_topic_check' ],
    [ "server { location / { mdm_device_ca $ca; mdm_user_authenticate accept; mdm_checkin; } }", 'mdm_user_authenticate' ],
    [ "server { location / { mdm_device_ca $ca; mdm_trusted_proxy not-a-cidr; mdm_checkin; } }", 'mdm_trusted_proxy' ],
    [ 'server { location / { mdm_checkin; } }', 'mdm_device_ca' ],
);
for my $case (@nginx_bad) {
    my ($conf, $directive) = @$case;
    my ($ok, $out) = $t->nginx_test_conf($conf);
    ok(!$ok, "nginx -t refuses: $conf");
    like($out, qr/\Q$directive\E/, "... naming $directive")
        or diag($out);
}

my $worker = "$ENV{MDM_BUILD}/mdm-worker";

sub check {
    my ($conf, @flags) = @_;
    MDM::Test::spew("$d/w.conf", $conf);
    my $out = `$worker --check-config -c $d/w.conf @flags 2>&1`;
    return ($? >> 8, $out);
}

my $rc;
my $out = `$worker -t -c conf/mdm-worker.conf 2>&1`;
is($? >> 8, 0, 'the shipped mdm-worker.conf passes --check-config');
is($out, '', '... silently');

# [ config text, the key each reported line must name ]
my @worker_bad = (
    [ "redis = localhost\n", 'redis' ],
    [ "redis = 127.0.0.1:70000\n", 'redis' ],
    [ "apns_url = ftp://push.example\n", 'apns_url' ],
    [ "apns_url = https://\n", 'apns_url' ],
    [ "apns_ca = $d/missing.pem\n", 'apns_ca' ],
    [ "webhook_ca = $d/missing.pem\n", 'webhook_ca' ],
    [ "vpp_url = vpp.itunes.apple.com\n", 'vpp_url' ],
    [ "vpp_notify_url = http://mdm.example/vpp\n", 'vpp_notify_url' ],
    [ "vpp_poll_interval = 0\n", 'vpp_poll_interval' ],
    [ "push_batch = 0\n", 'push_batch' ],
    [ "apns_timeout_ms = ten\n", 'apns_timeout_ms' ],
    [ "max_attempts = -3\n", 'max_attempts' ],
    [ "log_level = loud\n", 'log_level' ],
    [ "colour = blue\n", 'colour' ],
    [ "just words\n", 'key = value' ],
    [ "webhook = main ftp://hooks.example\n", 'webhook' ],
    [ "webhook = main https://hooks.example frobnicate=1\n", 'webhook' ],
    [ "webhook = main https://hooks.example ca=$d/missing.pem\n", 'webhook ca=' ],
    # what the worker itself refuses at start (one parser, webhook_conf.c)
    [ "webhook = bad/name https://hooks.example\n", 'webhook' ],
    [ "webhook = main https://hooks.example topics=a topics=b\n", 'webhook' ],
    [ "webhook = main https://hooks.example topics=\n", 'webhook' ],
    [ "webhook = main https://hooks.example\nwebhook = main https://other.example\n", 'webhook' ],
    [ "backoff_base_ms = 9000\nbackoff_max_ms = 10\n", 'backoff_base_ms' ],
    [ "webhook_backoff_base_ms = 9000\nwebhook_backoff_max_ms = 10\n", 'webhook_backoff_base_ms' ],
);
for my $case (@worker_bad) {
    my ($conf, $key) = @$case;
    ($rc, $out) = check($conf);
    is($rc, 1, "--check-config exits 1 for: $conf");
    my @lines = split /\n/, $out;
    is(scalar @lines, 1, '... with one line') or diag($out);
    like($lines[0] // '', qr/^mdm-worker: .*\Q$key\E/, "... naming $key");
}

# Every problem is reported, not only the first.
($rc, $out) = check("push_batch = 0\ncolour = blue\napns_url = gopher://x\n"
                    . "apns_ca = $d/missing.pem\n");
is($rc, 1, 'several problems: exit 1');
my @lines = split /\n/, $out;
is(scalar @lines, 4, '... one line each') or diag($out);
like($out, qr/push_batch.*\n.*colour.*\n.*apns_url.*\n.*apns_ca/, '... in order');

# A flag is checked like a file line.
($rc, $out) = check("redis = 127.0.0.1:6379\n", '--push-batch', '0');
is($rc, 1, 'a bad flag: exit 1');
like($out, qr/push.batch/, '... naming it');

# A missing file is one problem, not a crash.
$out = `$worker -t -c $d/nope.conf 2>&1`;
is($? >> 8, 1, 'a missing config file: exit 1');
like($out, qr/nope\.conf/, '... naming the file');

done_testing();
