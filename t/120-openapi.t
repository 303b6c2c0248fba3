#!/usr/bin/perl
# docs/openapi.yaml describes the API the module serves: every route of the
# module's route table (ngx_http_mdm_api.c) is a documented path and every
# documented path is served; every operation says its methods' answers; and
# every example (x-examples) is answered as written, run in step order
# against the real stack.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use YAML::XS qw(LoadFile);
use MDM::Test;

*plist = \&MDM::Plist::plist;
*data = \&MDM::Plist::data;

my $spec = LoadFile('docs/openapi.yaml');
my $paths = $spec->{paths};
ok(ref $paths eq 'HASH' && %$paths, 'docs/openapi.yaml has paths');
like($spec->{openapi} // '', qr/^3\./, 'it is OpenAPI 3');

# --- the route table against the documented paths ------------------------------

my $src = MDM::Test::slurp('ngx_mdm_module/ngx_http_mdm_api.c');
my ($table) = $src =~ /ngx_http_mdm_api_routes\[\]\s*=\s*\{(.*?)\n\};/s;
my @routes = $table =~ /\{\s*ngx_string\("([^"]+)"\)\s*,\s*([^,]+),/g;
my %routes = @routes;
ok(keys %routes >= 10, 'the route table is read (' . scalar(keys %routes) . ' routes)');
$routes{'/version'} = 0;    # answered before the table, without a key

sub flags_prefix { $_[0] =~ /^\s*(\d+)/ ? $1 & 1 : $_[0] =~ /PREFIX/ }

for my $prefix (sort keys %routes) {
    my @doc = flags_prefix($routes{$prefix})
        ? grep { index($_, $prefix) == 0 } keys %$paths
        : grep { $_ eq $prefix } keys %$paths;
    ok(@doc, "route $prefix is documented (@doc)");
}

for my $path (sort keys %$paths) {
    my $served = grep {
        # a prefix route serves the prefix itself and every path below it
        flags_prefix($routes{$_}) ? index($path, $_) == 0 : $path eq $_
    } keys %routes;
    ok($served, "documented $path is a route of the module");
    for my $method (grep { /^(get|put|post|delete)$/ } keys %{ $paths->{$path} }) {
        my $op = $paths->{$path}{$method};
        ok(ref $op->{responses} eq 'HASH' && %{ $op->{responses} },
           "$method $path documents its responses");
        ok(grep(/^4/, keys %{ $op->{responses} }) || $path eq '/version',
           "$method $path documents its errors");
    }
}

# --- the examples, against the real stack --------------------------------------

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
        large_client_header_buffers 4 1m;
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_server; }
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF

# the devices the examples name
my $topic = $spec->{'x-example-topic'};
for my $udid (@{ $spec->{'x-example-devices'} }) {
    my $id = $t->identity($udid);
    for my $msg (plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic,
                       SerialNumber => "SERIAL-$udid"),
                 plist(MessageType => 'TokenUpdate', UDID => $udid, Topic => $topic,
                       Token => data(pack('H*', 'ab' x 32)), PushMagic => "magic-$udid")) {
        my $r = $t->request('PUT', $port, '/mdm', $msg, sign => $id,
            headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' });
        die "enrollment of $udid failed: $r->{status}" unless $r->{status} == 200;
    }
}

my %API = MDM::Test::api_auth('sekret');
my @examples;
for my $path (keys %$paths) {
    for my $method (grep { /^(get|put|post|delete)$/ } keys %{ $paths->{$path} }) {
        push @examples, map { { %$_, method => uc $method, doc => $path } }
            @{ $paths->{$path}{$method}{'x-examples'} // [] };
    }
}
ok(@examples >= 15, scalar(@examples) . ' examples');

# expected is a subset of got: every key/element expected is there and equal
sub subset {
    my ($want, $got, $at) = @_;
    if (ref $want eq 'HASH') {
        return "$at: not an object" unless ref $got eq 'HASH';
        for (sort keys %$want) {
            return "$at.$_: missing" unless exists $got->{$_};
            my $e = subset($want->{$_}, $got->{$_}, "$at.$_");
            return $e if $e;
        }
        return '';
    }
    if (ref $want eq 'ARRAY') {
        return "$at: not an array" unless ref $got eq 'ARRAY';
        return "$at: " . scalar(@$got) . ' elements, not ' . scalar(@$want)
            unless @$got == @$want;
        for (0 .. $#$want) {
            my $e = subset($want->[$_], $got->[$_], "$at\[$_]");
            return $e if $e;
        }
        return '';
    }
    return '' if !defined $want && !defined $got;
    if (JSON::PP::is_bool($got)) {    # YAML's true/false load as 1/''
        return !!$got eq !!$want ? '' : "$at: got " . ($got ? 'true' : 'false');
    }
    return "$at: got " . ($got // 'null') . ', want ' . ($want // 'null')
        unless defined $want && defined $got && !ref $got && "$want" eq "$got";
    return '';
}

for my $ex (sort { $a->{step} <=> $b->{step} } @examples) {
    my $name = "step $ex->{step}: $ex->{method} $ex->{path}";
    (my $fixed = $ex->{doc}) =~ s/\{.*//;
    is(substr($ex->{path}, 0, length $fixed), $fixed, "$name is an example of $ex->{doc}");
    my $body = $ex->{body} // '';
    $body = encode_json($body) if ref $body;
    my %h = $ex->{noauth} ? () : %API;
    my $r = $t->request($ex->{method}, $port, $ex->{path}, $body, headers => \%h);
    is($r->{status}, $ex->{status}, "$name: $ex->{status}") or diag($r->{body});
    if (exists $ex->{json}) {
        my $got = eval { decode_json($r->{body}) };
        is(subset($ex->{json}, $got, '$'), '', "$name: answered as documented")
            or diag($r->{body});
    }
    if (exists $ex->{text}) {
        like($r->{body}, qr/\Q$ex->{text}\E/, "$name: the body holds \"$ex->{text}\"");
    }
}

$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');

done_testing();
