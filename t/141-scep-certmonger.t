#!/usr/bin/perl
# SCEP interoperability: certmonger, an SCEP client we did not write (its
# daemon builds the pkiMessage, its scep-submit helper talks to us),
# enrolls with a one-time challenge and renews with the issued certificate.
# Where it and mdmsim disagree, RFC 8894 decides.
# Has component sections (state written to Redis directly, listed with their
# end-to-end counterparts in t/README.md).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;
use MDM::Keys;

my $t = MDM::Test->new;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $https = $t->port('https');
my $http = $t->port('http');
my $d = $t->dir;

# an RA next to the CA (GetCACert answers CA + RA as PKCS#7): certmonger
# verifies replies as signed by the RA under the CA
MDM::Test::spew("$d/ra.ext", "keyUsage=critical,digitalSignature,keyEncipherment\n");
$t->openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', "$d/ra.key",
            '-out', "$d/ra.csr", '-subj', '/CN=ngx_mdm test RA');
$t->openssl('x509', '-req', '-in', "$d/ra.csr", '-CA', $pki->{ca}, '-CAkey',
            $pki->{ca_key}, MDM::Test::serial_args(), '-out', "$d/ra.pem", '-days', 30,
            '-extfile', "$d/ra.ext");

$t->nginx_start(<<"EOF", port => $https);
    mdm_redis 127.0.0.1:$redis;
    server {
        listen 127.0.0.1:$https ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        # SCEP protects its messages itself (RFC 8894 §2.1), plain HTTP is
        # what most clients speak; certmonger's curl here refused the test
        # server certificate, so the interop runs over http
        listen 127.0.0.1:$http;
        location = /scep {
            mdm_scep;
            mdm_scep_ca $pki->{ca} $pki->{ca_key};
            mdm_scep_ra $d/ra.pem $d/ra.key;
            mdm_scep_validity 30d;
            client_max_body_size 64k;
            client_body_buffer_size 64k;
        }
    }
EOF

my $r;
my $now = time;
$t->redis('HSET', key_scep_chal('cm-challenge'), created => $now,
          expires => $now + 3600, user => 'certmonger', link => '', udid => '',
          serial => '');
$t->redis('EXPIRE', key_scep_chal('cm-challenge'), 3600);

# certmonger keeps its state where these say, on a private session bus;
# -c: getcert commands run inside and talk to it through that socket
my %env = (
    CERTMONGER_CONFIG_DIR => "$d/cm/config", CERTMONGER_REQUESTS_DIR => "$d/cm/requests",
    CERTMONGER_CAS_DIR => "$d/cm/cas", CERTMONGER_LOCAL_CA_DIR => "$d/cm/local",
    CERTMONGER_TMPDIR => "$d/cm/tmp",
);
mkdir "$d/cm";
mkdir $_ for values %env;
my $url = "http://127.0.0.1:$http/scep";

sub wait_status {
    my ($want) = @_;
    return <<"SH";
for i in \$(seq 1 ${\ int(120 * $MDM::Test::SCALE) }); do
    s=\$(getcert list -s -i req1 | sed -n 's/^[[:space:]]*status: //p')
    echo "status \$s" >&2
    case "\$s" in $want) exit 0 ;; CA_REJECTED|CA_UNREACHABLE|CA_UNCONFIGURED) exit 1 ;; esac
    sleep 0.5
done
exit 1
SH
}

MDM::Test::spew("$d/cm/enroll.sh", <<"SH");
set -e
getcert add-scep-ca -s -c ngxmdm -u '$url'
getcert request -s -c ngxmdm -I req1 -f '$d/cm/cert.pem' -k '$d/cm/key.pem' \\
    -N 'CN=certmonger-device' -L cm-challenge -g 2048
( ${\ wait_status('MONITORING') } )
getcert list -s -i req1 > '$d/cm/list1.txt'
# renewal: certmonger signs with the certificate it has (SCEP Renewal)
getcert resubmit -s -i req1
( ${\ wait_status('MONITORING') } ) || true
getcert list -s -i req1 > '$d/cm/list2.txt'
SH

{
    local @ENV{keys %env} = values %env;
    system("timeout 180 dbus-run-session -- certmonger -s -n -c 'sh $d/cm/enroll.sh' "
           . "> '$d/cm/out.log' 2>&1");
}
my $log = -e "$d/cm/out.log" ? MDM::Test::slurp("$d/cm/out.log") : '';
ok(-s "$d/cm/cert.pem", 'certmonger enrolled with a one-time challenge')
    or diag $log, $t->error_log;
like(`openssl verify -CAfile $pki->{ca} $d/cm/cert.pem 2>&1`, qr/OK$/m,
     'its certificate verifies under the device CA');
like(`openssl x509 -in $d/cm/cert.pem -noout -subject 2>&1`, qr/CN ?= ?certmonger-device/,
     'with the subject it asked for');
is($t->redis('EXISTS', key_scep_chal('cm-challenge')), 0, 'the challenge was consumed');
is($t->redis('ZCARD', key_ca_index()), 2, 'enrollment and renewal are both recorded')
    or diag $log;
like($t->error_log, qr/mdm scep: issued serial \w+ sha256 \w+ \(renewal/,
     'the second issuance was a renewal authenticated by the first certificate');

# mdmsim against the same CA + RA: GetCACert as PKCS#7, encrypted to the RA
$r = $t->request('GET', $https, '/scep?operation=GetCACert');
is($r->{headers}{'content-type'}, 'application/x-x509-ca-ra-cert',
   'GetCACert with an RA is application/x-x509-ca-ra-cert');
MDM::Test::spew("$d/cacert.p7", $r->{body});
my $certs = `openssl pkcs7 -inform DER -in $d/cacert.p7 -print_certs 2>&1`;
like($certs, qr/subject=CN ?= ?ngx_mdm test ca.*subject=CN ?= ?ngx_mdm test RA/s,
     'a degenerate PKCS#7 of the CA and the RA');
$t->redis('HSET', key_scep_chal('sim'), created => time, expires => time + 60);
my $out = `$ENV{MDM_BUILD}/mdmsim scep --url $url --challenge sim --out-cert $d/sim.pem 2>&1`;
is($? >> 8, 0, 'mdmsim enrolls through the RA too') or diag $out;

is_deeply([$t->error_log_problems], [], 'no alerts, crashes or sanitizer reports');
done_testing;
