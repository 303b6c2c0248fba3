#!/usr/bin/perl
# Identity sources and binding modes beyond the basics of 010: a trusted TLS
# terminator's header (both formats), ssl_verify_client on, retroactive
# binding of migrated enrollments, the push-topic check, User Enrollment IDs.
# Has component sections (state written to Redis directly, listed with their
# end-to-end counterparts in t/README.md).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MIME::Base64 qw(encode_base64);
use MDM::Test;
use MDM::Keys;

*plist = \&MDM::Plist::plist;
*data = \&MDM::Plist::data;

my $t = MDM::Test->new;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $port = $t->port('https');
my $strict = $t->port('strict');

$t->nginx_start(<<"EOF", port => $port);
    mdm_redis 127.0.0.1:$redis;
    mdm_device_ca $pki->{ca};
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        ssl_verify_client optional_no_ca;
        client_body_buffer_size 1m;

        location /proxied {
            mdm_identity header;
            mdm_trusted_proxy 127.0.0.0/8;
            mdm_checkin;
        }
        location /untrusted {
            mdm_identity header;
            mdm_trusted_proxy 10.0.0.0/8;
            mdm_checkin;
        }
        location /retro { mdm_cert_binding retro; mdm_checkin; }
        location /strict-binding { mdm_checkin; }
        location /topic { mdm_topic_check on; mdm_checkin; }
        location /nobinding { mdm_cert_binding off; mdm_checkin; }
    }
    server {
        listen 127.0.0.1:$strict ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        ssl_verify_client on;
        ssl_client_certificate $pki->{ca};
        location / { mdm_identity tls; mdm_checkin; }
    }
EOF

my $CT = 'application/x-apple-aspen-mdm-checkin';
my $topic = 'com.apple.mgmt.External.identity';

sub checkin {
    my ($path, $body, %opt) = @_;
    my $p = delete $opt{port} // $port;
    my %h = ('Content-Type' => $CT, %{ delete $opt{headers} // {} });
    return $t->request('PUT', $p, $path, $body, headers => \%h, %opt);
}

sub auth { plist(MessageType => 'Authenticate', UDID => $_[0], Topic => $_[1] // $topic) }
sub enr { $t->redis('HGET', key_enr("$_[0]"), $_[1]) }

# --- a trusted TLS terminator's header ----------------------------------------

my $id = $t->identity('PROXIED-1');
my $pem = MDM::Test::slurp($id->{cert});
(my $escaped = $pem) =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
my $der = `openssl x509 -in $id->{cert} -outform DER`;

my $r = checkin('/proxied', auth('PROXIED-1'), headers => { 'X-Client-Cert' => $escaped });
is($r->{status}, 200, 'URL-escaped PEM ($ssl_client_escaped_cert) from a trusted proxy');
is(checkin('/proxied', auth('PROXIED-1'),
           headers => { 'X-Client-Cert' => ':' . encode_base64($der, '') . ':' })->{status},
   200, 'RFC 9440 :base64-DER: from a trusted proxy');
is(checkin('/untrusted', auth('PROXIED-1'), headers => { 'X-Client-Cert' => $escaped })->{status},
   400, 'the same header from an untrusted address is ignored');
like($t->error_log, qr/ignored "X-Client-Cert" from an untrusted peer/, '... and logged');
is(checkin('/proxied', auth('PROXIED-1'), headers => { 'X-Client-Cert' => '%%%garbage' })->{status},
   400, 'a malformed certificate header is refused');

# The same certificate with a leading zero byte in its outer length: BER,
# a second binding key for one certificate if it were taken.
my $ber = "\x30\x83\x00" . substr($der, 2);
$r = checkin('/proxied', auth('PROXIED-1'),
             headers => { 'X-Client-Cert' => ':' . encode_base64($ber, '') . ':' });
is($r->{status}, 400, 'a certificate re-encoded as BER is refused');
like($t->error_log, qr/certificate is not DER/, '... saying so');

# --- ssl_verify_client on -----------------------------------------------------------

my $sid = $t->identity('STRICT-1');
is(checkin('/', auth('STRICT-1'), port => $strict, identity => $sid)->{status}, 200,
   'ssl_verify_client on: a device certificate from the CA');
my $foreign = $t->identity('STRICT-1', ca => 'foreign');
my $ok = eval { checkin('/', auth('STRICT-1'), port => $strict, identity => $foreign) };
ok(!$ok || $ok->{status} == 400, 'ssl_verify_client on: a foreign certificate is refused by nginx');

# --- retroactive binding of migrated enrollments --------------------------------

$t->redis('HSET', key_enr('MIGRATED-1'), 'type', 'Device', 'enabled', '1', 'topic', $topic);
$t->redis('HSET', key_enr('MIGRATED-2'), 'type', 'Device', 'enabled', '1', 'topic', $topic);
my $tu = sub {
    plist(MessageType => 'TokenUpdate', UDID => $_[0], Topic => $topic,
          Token => data('t' x 32), PushMagic => 'm');
};
my $mid = $t->identity('MIGRATED-1');
is(checkin('/strict-binding', $tu->('MIGRATED-1'), sign => $mid)->{status}, 400,
   'binding on: a migrated enrollment without a binding is refused');
like($t->error_log, qr/"MIGRATED-1" refused: enrollment has no bound certificate/, '... and logged');
is(checkin('/retro', $tu->('MIGRATED-1'), sign => $mid)->{status}, 200,
   'binding retro: the next message binds it');
like(enr('MIGRATED-1', 'cert'), qr/^[0-9a-f]{64}$/, '... the certificate is now bound');
is(checkin('/retro', $tu->('MIGRATED-1'), sign => $t->identity('MIGRATED-1', tag => '-other'))->{status},
   400, 'once bound, retro mode refuses another certificate');
is(checkin('/retro', $tu->('MIGRATED-2'), sign => $mid)->{status}, 400,
   "retro mode does not bind a certificate that belongs to another enrollment");

# --- binding off -------------------------------------------------------------------

is(checkin('/nobinding', $tu->('MIGRATED-2'), sign => $t->identity('ANY'))->{status}, 200,
   'binding off: any certificate from the CA is accepted');

# --- push topic check ------------------------------------------------------------

my $before = $t->redis_snapshot;
$r = checkin('/topic', auth('TOPIC-1', 'com.apple.mgmt.External.unknown'), sign => $t->identity('TOPIC-1'));
is($r->{status}, 400, 'topic check: a topic without a push certificate is refused');
like($t->error_log, qr/refused: topic has no push certificate/, '... and logged');
is($t->redis_snapshot, $before, '... and nothing is stored');
$t->redis('HSET', key_pushcert($topic), 'cert', 'x', 'key', 'y');
is(checkin('/topic', auth('TOPIC-1'), sign => $t->identity('TOPIC-1'))->{status}, 200,
   'topic check: an uploaded topic is accepted');

# --- User Enrollment IDs ------------------------------------------------------------------

my $ue = $t->identity('UE-DEVICE');
is(checkin('/strict-binding', plist(MessageType => 'Authenticate', EnrollmentID => 'ENR-ID-1', Topic => $topic),
           sign => $ue)->{status}, 200, 'User Enrollment Authenticate (EnrollmentID, no UDID)');
is(enr('ENR-ID-1', 'type'), 'User Enrollment (Device)', 'its type');
is(checkin('/strict-binding', plist(MessageType => 'TokenUpdate', EnrollmentID => 'ENR-ID-1',
           EnrollmentUserID => 'EUSER', UserID => 'U', UserLongName => 'L', Topic => $topic,
           Token => data('u' x 32), PushMagic => 'pm'), sign => $ue)->{status}, 200,
   'User Enrollment user channel TokenUpdate');
is(enr('ENR-ID-1:EUSER', 'type'), 'User Enrollment', 'user channel keyed EnrollmentID:EnrollmentUserID');
is(enr('ENR-ID-1:EUSER', 'parent'), 'ENR-ID-1', '... with its parent');

$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');

done_testing();
