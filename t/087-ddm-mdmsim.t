#!/usr/bin/perl
# Declarative management end to end with mdmsim as the devices: enrolled
# through nginx, given sets through KMFDDM's API, they get the coalesced
# DeclarativeManagement command in their session, sync (tokens,
# declaration-items, the declarations), apply them and report status, which
# the status API then shows as current. An edit makes a second command and
# sync, reported current with the new ServerToken.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use MDM::Test;
use MDM::Keys;

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
        client_max_body_size 4m;
        client_body_buffer_size 4m;
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_server; }
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF

my %KD = (Authorization => 'Basic ' . encode_base64('kmfddm:sekret', ''));
my $json = JSON::PP->new->canonical;
my $url = "https://localhost:$port/mdm";

sub api {
    my ($method, $path, $body) = @_;
    my $r = $t->request($method, $port, $path, $body, headers => \%KD);
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

sub mdmsim {
    my ($verb, @more) = @_;
    my @sim = ("$MDM::Test::BUILD/mdmsim", $verb, '--check-in-url', $url,
               '--server-url', $url, '--ca-file', $pki->{ca},
               '--ca-cert', $pki->{ca}, '--ca-key', $pki->{ca_key},
               '--id-dir', $t->dir . '/ids', '-n', 2, '--udid-prefix', 'SIM-',
               '--topic', 'com.apple.mgmt.External.ddm-sim', '--mode', 'sign',
               '--timeout', MDM::Test::timeout(10), @more);
    my $out = `@sim 2>&1`;
    return ($? == 0, $out);
}

sub decl {
    my ($type, $id, $payload) = @_;
    return $json->encode({ Type => $type, Identifier => $id, Payload => $payload });
}

my ($ok, $out) = mdmsim('enroll');
ok($ok, 'two simulated devices enroll') or diag $out;
my @ids = sort @{ $t->redis('ZRANGE', key_enrollments(), 0, -1) };
is(scalar @ids, 2, 'both are enrolled');

for my $d (decl('com.apple.configuration.passcode.settings', 'cfg-pass',
                { RequirePasscode => JSON::PP::true, MinimumLength => 6 }),
           decl('com.apple.activation.simple', 'act-1',
                { StandardConfigurations => ['cfg-pass'] }),
           decl('com.apple.management.properties', 'props', { color => 'blue' })) {
    is(api('PUT', '/v1/declarations', $d)->{status}, 204, 'a declaration');
}
for my $d (qw(cfg-pass act-1 props)) {
    is(api('PUT', "/v1/set-declarations/base?declaration=$d")->{status}, 204,
       "$d into the set");
}
for my $id (@ids) {
    is(api('PUT', "/v1/enrollment-sets/$id?set=base")->{status}, 204,
       "the set assigned to $id");
}

($ok, $out) = mdmsim('session', '--json');
ok($ok, 'the sessions run and sync') or diag $out;
my $res = eval { decode_json($out) } // {};
is($res->{ddm}{syncs}, 2, 'both devices synced');
is($res->{ddm}{fetches}, 2 * 3, 'each fetched its three declarations');
is($res->{ddm}{status_reports}, 2, 'and reported');

my $r = api('GET', '/v1/declaration-status/' . join(',', @ids));
for my $id (@ids) {
    my %st = map { $_->{identifier} => $_ } @{ $r->{json}{$id} // [] };
    is_deeply([sort keys %st], [qw(act-1 cfg-pass props)], "$id reported every declaration");
    ok(($st{'act-1'}{active} // 0) && ($st{'act-1'}{valid} // '') eq 'valid',
       "$id: the activation is active and valid");
    ok(($st{'cfg-pass'}{active} // 0), "$id: the configuration it names is active");
    ok(!grep({ !$_->{current} } values %st), "$id: every status is current");
}
is(scalar(@{ $t->redis('LRANGE', key_q($ids[0]), 0, -1) }), 0,
   'the command was acknowledged');
ok(!$t->redis('HGET', key_ddm($ids[0]), 'notify'), 'and the mark cleared by the sync');

# an edit: one more sync each, fetching only the changed declaration
is(api('PUT', '/v1/declarations', decl('com.apple.configuration.passcode.settings',
       'cfg-pass', { RequirePasscode => JSON::PP::true, MinimumLength => 8 }))->{status},
   204, 'an edit');
is(scalar(@{ $t->redis('LRANGE', key_q($ids[1]), 0, -1) }), 1, 'a new command for each');
($ok, $out) = mdmsim('session', '--json');
ok($ok, 'the second sessions run') or diag $out;
$res = eval { decode_json($out) } // {};
# mdmsim keeps its DDM state per process (docs/mdmsim.md), so a new one
# fetches everything again; t/080 checks that a sync skips what is unchanged
is($res->{ddm}{syncs}, 2, 'both devices synced again');

$r = api('GET', "/v1/declaration-status/$ids[0]");
my %st = map { $_->{identifier} => $_ } @{ $r->{json}{$ids[0]} // [] };
ok($st{'cfg-pass'}{current}, 'the edited declaration is reported current');
is($st{'cfg-pass'}{'server-token'},
   api('GET', '/v1/declarations/cfg-pass')->{json}{ServerToken}, 'with the new token');

is_deeply([$t->error_log_problems], [], 'no alerts in the logs');

done_testing;
