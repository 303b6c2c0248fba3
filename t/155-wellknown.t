#!/usr/bin/perl
# Account-driven enrollment discovery (mdm_wellknown): the device's GET of
# /.well-known/com.apple.remotemanagement?user-identifier=...&model-family=...
# answered from the mdm_wellknown_server rules (per domain, per model
# family, first match), or 403 with ErrorWellKnownFailed and a log line;
# served from the organisation's site by a redirect that keeps the query.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;
use JSON::PP;

my $t = MDM::Test->new;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $https = $t->port('https');
my $d = $t->dir;

$t->nginx_start(<<"EOF", port => $https);
    mdm_redis 127.0.0.1:$redis;
    server {
        listen 127.0.0.1:$https ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        location = /.well-known/com.apple.remotemanagement {
            mdm_wellknown;
            mdm_wellknown_server example.com mdm-adde https://mdm.example.com/adde Mac iPad;
            mdm_wellknown_server Example.com mdm-byod https://mdm.example.com/byod;
            mdm_wellknown_server partner.org mdm-byod https://mdm.example.com/partner iPhone;
            mdm_wellknown_message "Your account cannot enroll a device. Ask IT.";
        }
        # the organisation's site sends devices to the MDM host, query kept
        location = /redirect/.well-known/com.apple.remotemanagement {
            return 301 https://mdm.example.com/.well-known/com.apple.remotemanagement\$is_args\$args;
        }
    }
EOF

my $wk = '/.well-known/com.apple.remotemanagement';

sub discover {
    my ($query) = @_;
    my $r = $t->request('GET', $https, "$wk?$query");
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

my $r = discover('user-identifier=alice%40example.com&model-family=Mac');
is($r->{status}, 200, 'a Mac of example.com is answered');
is($r->{headers}{'content-type'}, 'application/json', 'as JSON');
is($r->{headers}{'cache-control'}, 'no-store', 'not cached');
is_deeply($r->{json}, { Servers => [ { Version => 'mdm-adde', BaseURL => 'https://mdm.example.com/adde' } ] },
          'Servers: the device enrollment server (first rule)');

$r = discover('user-identifier=bob%40EXAMPLE.com&model-family=iPhone');
is($r->{json}{Servers}[0]{Version}, 'mdm-byod', 'an iPhone of the same domain (any case): the BYOD rule');
is($r->{json}{Servers}[0]{BaseURL}, 'https://mdm.example.com/byod', '... its BaseURL');

$r = discover('user-identifier=carol@example.com');
is($r->{json}{Servers}[0]{Version}, 'mdm-byod', 'no model-family: only a rule for any family (an unescaped @ too)');

$r = discover('user-identifier=dave%40partner.org&model-family=iPhone');
is($r->{json}{Servers}[0]{BaseURL}, 'https://mdm.example.com/partner', 'another domain, its own rule');

my $before = -s "$d/error.log";
$r = discover('user-identifier=dave%40partner.org&model-family=Mac');
is($r->{status}, 403, 'a family the domain has no rule for: 403');
is($r->{json}{code}, 'com.apple.well-known.failed', '... ErrorWellKnownFailed');
is($r->{json}{message}, 'Your account cannot enroll a device. Ask IT.', '... with the operator\'s message');
ok(length($r->{json}{description} // ''), '... and a description');

$r = discover('user-identifier=eve%40elsewhere.net&model-family=iPhone');
is($r->{status}, 403, 'a domain not configured: 403');
is($r->{json}{code}, 'com.apple.well-known.failed', '... ErrorWellKnownFailed');

$r = discover('model-family=iPhone');
is($r->{status}, 403, 'no user-identifier: 403');
$r = discover('user-identifier=not-an-address');
is($r->{status}, 403, 'a user-identifier that is no address: 403');
$r = discover('user-identifier=x%40ex%20ample.com');
is($r->{status}, 403, 'a domain with a space: 403');

my $log = substr(MDM::Test::slurp("$d/error.log"), $before);
is(scalar(() = $log =~ /mdm wellknown: refused /g), 5, 'one log line per refusal');
like($log, qr/mdm wellknown: refused "eve\@elsewhere.net": no enrollment server/, '... naming the account');

is($t->request('POST', $https, $wk, '{}')->{status}, 405, 'POST is 405');

$r = $t->request('GET', $https, "/redirect$wk?user-identifier=alice%40example.com&model-family=Mac");
is($r->{status}, 301, 'the organisation\'s site redirects');
is($r->{headers}{location},
   "https://mdm.example.com$wk?user-identifier=alice%40example.com&model-family=Mac",
   '... keeping the query (the device does not append it again)');

my ($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { location = /w { mdm_wellknown; } }
EOF
ok(!$ok && $out =~ /requires at least one "mdm_wellknown_server"/, 'mdm_wellknown without a rule fails nginx -t');
($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { location = /w { mdm_wellknown; mdm_wellknown_server a.com mdm-xyz https://x/; } }
EOF
ok(!$ok && $out =~ /version must be mdm-byod or mdm-adde/, 'an unknown Version fails nginx -t');
($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { location = /w { mdm_wellknown; mdm_wellknown_server a.com mdm-byod http://x/; } }
EOF
ok(!$ok && $out =~ /BaseURL must be an https/, 'an http BaseURL fails nginx -t');
($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { location = /w { mdm_wellknown; mdm_wellknown_server a.com mdm-byod https://x/ Toaster; } }
EOF
ok(!$ok && $out =~ /unknown model family "Toaster"/, 'an unknown model family fails nginx -t');

done_testing();
