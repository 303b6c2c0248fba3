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

# each route: prefix, suffix, flags, then { methods, body, handler } per method
my @routes;
for my $entry (split /\n\s*\n/, $table) {
    my ($prefix, $suffix, $flags, $methods) = $entry =~
        /\{\s*ngx_string\("([^"]+)"\),\s*(?:ngx_string\("([^"]*)"\)|ngx_null_string),\s*([^{]*?),\s*\{(.*)\}\s*\}/s
        or next;
    my %m;
    for my $mask ($methods =~ /\{\s*([A-Z_|]+),\s*[01],\s*\w+\s*\}/g) {
        next if $mask =~ /API_ANY/;
        $m{lc $1} = 1 while $mask =~ /(GET|PUT|POST|DELETE)/g;
    }
    push @routes, { prefix => $prefix, suffix => $suffix // '', flags => $flags,
                    methods => \%m, any => $methods =~ /API_ANY/ ? 1 : 0 };
}
ok(@routes >= 10, 'the route table is read (' . scalar(@routes) . ' routes)');

# the module's matching (ngx_http_mdm_api_find): the first route whose
# prefix, suffix and shape (EXACT: nothing between, REST: something) match
sub route_of {
    my ($path) = @_;
    for my $r (@routes) {
        my $fixed = length($r->{prefix}) + length($r->{suffix});
        next if length($path) < $fixed;
        next if index($path, $r->{prefix}) != 0;
        next if length $r->{suffix} && substr($path, -length $r->{suffix}) ne $r->{suffix};
        next if $r->{flags} =~ /EXACT/ && length($path) != $fixed;
        next if $r->{flags} =~ /REST/ && length($path) == $fixed;
        return $r;
    }
    return undef;
}

my %documented;    # route => method => 1, from the paths that reach it
for my $path (sort keys %$paths) {
    (my $sample = $path) =~ s/\{[^}]+\}/x/g;
    my $r = route_of($sample);
    ok($r && %{ $r->{methods} }, "documented $path is a route of the module");
    for my $method (grep { /^(get|put|post|delete)$/ } keys %{ $paths->{$path} }) {
        my $op = $paths->{$path}{$method};
        ok($r && $r->{methods}{$method}, "$method $path is served by the route table");
        $documented{$r}{$method} = 1 if $r;
        ok(ref $op->{responses} eq 'HASH' && %{ $op->{responses} },
           "$method $path documents its responses");
        ok(grep(/^4/, keys %{ $op->{responses} }) || $path eq '/version',
           "$method $path documents its errors");
    }
}

# "/v1/enqueue/" with nothing after it is an alias of "/v1/enqueue"
sub alias_of {
    my ($r) = @_;
    return undef unless $r->{flags} =~ /EXACT/ && $r->{prefix} =~ m{./$};
    return route_of(substr($r->{prefix}, 0, -1));
}

for my $r (grep { %{ $_->{methods} } } @routes) {
    my $alias = alias_of($r);
    for my $method (sort keys %{ $r->{methods} }) {
        ok($documented{$r}{$method} || ($alias && $documented{$alias}{$method}),
           "route $r->{prefix}...$r->{suffix} ($r->{flags}): $method is documented");
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
