#!/usr/bin/perl
# The SCEP CA (mdm_scep, RFC 8894): GetCACaps, GetCACert, PKIOperation by
# POST and GET through mdmsim's SCEP client, issuance records in Redis, and
# every refusal a CertRep FAILURE that changes nothing.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;

my $t = MDM::Test->new;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $https = $t->port('https');
my $d = $t->dir;

# the issuing device CA: the test device CA, so issued identities are
# accepted by mdm_device_ca as they are
$t->nginx_start(<<"EOF", port => $https);
    mdm_redis 127.0.0.1:$redis;
    server {
        listen 127.0.0.1:$https ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        location = /scep {
            mdm_scep;
            mdm_scep_ca $pki->{ca} $pki->{ca_key};
            mdm_scep_validity 30d;
            client_max_body_size 64k;
            client_body_buffer_size 64k;
        }
        location = /scep-static {
            mdm_scep;
            mdm_scep_ca $pki->{ca} $pki->{ca_key};
            mdm_scep_challenge static-secret;
        }
    }
EOF

# --- GetCACaps, GetCACert --------------------------------------------------

my $r = $t->request('GET', $https, '/scep?operation=GetCACaps');
is($r->{status}, 200, 'GetCACaps answers 200');
is($r->{headers}{'content-type'}, 'text/plain', 'GetCACaps is text/plain');
my %caps = map { $_ => 1 } split /\n/, $r->{body};
ok($caps{$_}, "GetCACaps advertises $_")
    for qw(POSTPKIOperation SHA-256 SHA-1 AES DES3 Renewal SCEPStandard);

$r = $t->request('GET', $https, '/scep?operation=GetCACert&message=ca');
is($r->{status}, 200, 'GetCACert answers 200');
is($r->{headers}{'content-type'}, 'application/x-x509-ca-cert',
   'GetCACert of a CA without RA is one DER certificate');
MDM::Test::spew("$d/getcacert.der", $r->{body});
my $pem = `openssl x509 -inform DER -in $d/getcacert.der 2>/dev/null`;
is($pem, MDM::Test::slurp($pki->{ca}) =~ s/\r//gr, 'GetCACert is the CA certificate');

$r = $t->request('GET', $https, '/scep?operation=GetNextCACert');
is($r->{status}, 400, 'an unsupported operation is 400');
$r = $t->request('GET', $https, '/scep');
is($r->{status}, 400, 'no operation is 400');

my ($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { location /s { mdm_scep; } }
EOF
ok(!$ok && $out =~ /"mdm_scep" requires "mdm_scep_ca"/, 'mdm_scep without mdm_scep_ca fails nginx -t');
($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { location /s { mdm_scep; mdm_scep_ca $pki->{cert} $pki->{key}; } }
EOF
ok(!$ok && $out =~ /not a CA certificate/, 'a non-CA certificate in mdm_scep_ca fails nginx -t');
($ok, $out) = $t->nginx_test_conf(<<"EOF");
    server { location /s { mdm_scep; mdm_scep_ca $pki->{ca} $pki->{key}; } }
EOF
ok(!$ok && $out =~ /does not match/, 'a key that is not the CA\'s fails nginx -t');

is_deeply([$t->error_log_problems], [], 'no alerts, crashes or sanitizer reports');
done_testing;
