#!/usr/bin/perl
# Identity renewal binding: a message that comes with a certificate other
# than the bound one is accepted, and rebinds the enrollment, only when our
# CA's issuance record (mdm:ca:cert:{<sha>}, as the SCEP CA writes it) says
# it was issued to renew this very enrollment, is not revoked and has not
# expired; the previous certificate works until the grace period ends; any
# other certificate is still refused (400) and changes nothing.
# Has component sections (state written to Redis directly, listed with their
# end-to-end counterparts in t/README.md).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256_hex);
use MIME::Base64 ();
use MDM::Test;
use MDM::Keys;

*plist = \&MDM::Plist::plist;

my $t = MDM::Test->new;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $port = $t->port('https');

$t->nginx_start(<<"EOF", port => $port);
    mdm_redis 127.0.0.1:$redis;
    mdm_device_ca $pki->{ca};
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        mdm_cert_renew_grace 2h;
        location /checkin { mdm_checkin; }
        location /connect { mdm_connect; }
        location = /scep {
            mdm_scep;
            mdm_scep_ca $pki->{ca} $pki->{ca_key};
            mdm_scep_validity 1d;
        }
    }
EOF

my $topic = 'com.apple.mgmt.External.renewal';
my $UDID = 'RENEW-DEVICE-1';

sub checkin {
    my ($body, $id) = @_;
    return $t->request('PUT', $port, '/checkin', $body, sign => $id,
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' });
}
sub token_update { plist(MessageType => 'TokenUpdate', UDID => $_[0] // $UDID,
                         Topic => $topic, Token => MDM::Plist::data('t' x 32),
                         PushMagic => 'magic') }
sub idle {
    my ($id) = @_;
    return $t->request('PUT', $port, '/connect',
        plist(UDID => $UDID, Status => 'Idle'), sign => $id,
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm' });
}
sub sha {
    my ($id) = @_;
    return sha256_hex(scalar `openssl x509 -in $id->{cert} -outform DER`);
}
sub enr { my $id = $_[0] // $UDID; $t->redis('HGET', key_enr($id), $_[1]) }

# what the SCEP CA records for each issuance (the contract of issue 12)
sub issued {
    my ($id, %f) = @_;
    my $s = sha($id);
    $t->redis('HSET', key_ca_cert($s), 'serial', 'aa01', 'subject', 'CN=x',
              'not_before', time - 60, 'not_after', time + 86400,
              'issued', time, map { $_ => $f{$_} } keys %f);
    $t->redis('ZADD', key_ca_index(), time + 86400, $s);
    return $s;
}

my $old = $t->identity($UDID);
is(checkin(plist(MessageType => 'Authenticate', UDID => $UDID, Topic => $topic), $old)->{status},
   200, 'Authenticate binds the first certificate');
is(checkin(token_update(), $old)->{status}, 200, 'TokenUpdate with it');
is(enr(undef, 'cert'), sha($old), 'bound');

# --- certificates that must stay refused -----------------------------------

my $stranger = $t->identity($UDID, tag => '-stranger');
my $other = $t->identity($UDID, tag => '-other');
my $revoked = $t->identity($UDID, tag => '-revoked');
my $expired = $t->identity($UDID, tag => '-expired');
issued($other, renew => 'SOMEONE-ELSE');
issued($revoked, renew => $UDID, revoked => time - 10);
{
    my $s = issued($expired, renew => $UDID);
    $t->redis('HSET', key_ca_cert($s), 'not_after', time - 1);
}
my $before = $t->redis_snapshot;
for my $case ([$stranger, 'no issuance record'], [$other, 'issued to renew another enrollment'],
              [$revoked, 'revoked'], [$expired, 'expired']) {
    my $log = length $t->error_log;
    is(checkin(token_update(), $case->[0])->{status}, 400, "$case->[1]: 400");
    like(substr($t->error_log, $log), qr/refused: certificate does not match the one bound to the enrollment and is/,
         "$case->[1]: logged");
}
is(idle($stranger)->{status}, 400, 'a command report with a stranger certificate: 400');
is($t->redis_snapshot, $before, 'nothing changed by any of them');
is(enr(undef, 'cert'), sha($old), 'still bound to the first certificate');

# --- the renewed certificate ------------------------------------------------

my $new = $t->identity($UDID, tag => '-renewed');
my $new_sha = issued($new, renew => $UDID);
my $r = idle($new);
is($r->{status}, 200, 'a command report with the renewed certificate is accepted');
is(enr(undef, 'cert'), $new_sha, 'and the enrollment is bound to it');
is(enr(undef, 'cert_prev'), sha($old), 'the previous one kept as cert_prev');
my $until = enr(undef, 'cert_prev_until');
ok($until >= time + 7200 - 30 && $until <= time + 7200 + 1,
   'until now + mdm_cert_renew_grace (2h)');
is($t->redis('GET', key_cert($new_sha)), $UDID, 'the certificate lookup names the enrollment');
like($t->error_log, qr/"$UDID" renewed its identity: certificate $new_sha replaces/,
     'the renewal is logged');

is(checkin(token_update(), $new)->{status}, 200, 'check-ins with the new certificate');
is(checkin(token_update(), $old)->{status}, 200, 'the old one works within the grace period');
is(idle($old)->{status}, 200, 'for reports too');

# the grace period ends (moved into the past rather than waited for)
$t->redis('HSET', key_enr($UDID), 'cert_prev_until', time - 1);
is(checkin(token_update(), $old)->{status}, 400, 'after the grace period the old one is refused');
is(checkin(token_update(), $new)->{status}, 200, 'the new one goes on');

# a renewal issued for this enrollment is not a key to another one
my $dev2 = 'RENEW-DEVICE-2';
my $old2 = $t->identity($dev2);
checkin(plist(MessageType => 'Authenticate', UDID => $dev2, Topic => $topic), $old2);
is(checkin(token_update($dev2), $old2)->{status}, 200, 'a second device');
is(checkin(token_update($dev2), $new)->{status}, 400,
   'the first device\'s renewed certificate is refused for it');
is(enr($dev2, 'cert'), sha($old2), 'its binding unchanged');

# --- the worker's renewal sweep ---------------------------------------------
#
# The certificate bound now ($new) expires within renew_window: the worker
# queues InstallProfile with a fresh, signed enrollment profile (same
# PayloadIdentifier) whose challenge carries renew = the enrollment ID, once.

my $dir = $t->dir;
my $signer = $t->identity('profile-signer', tag => '-signer');
my $worker_conf = "$dir/mdm-worker.conf";
MDM::Test::spew($worker_conf, join '', map { "$_\n" }
    "redis = 127.0.0.1:$redis", 'log_level = debug',
    'apns_url = https://127.0.0.1:9', 'renew_interval_ms = 100',
    'renew_window = 172800', 'renew_batch = 2',
    'renew_retry_base = 1', 'renew_retry_max = 2', 'renew_retries = 4',
    'renew_server_url = https://mdm.example.org/mdm/connect',
    "renew_topic = $topic", 'renew_scep_url = https://mdm.example.org/scep',
    'renew_identifier = org.example.mdm.enroll',
    "renew_signer_cert = $signer->{cert}", "renew_signer_key = $signer->{key}");
$t->spawn('worker', {}, "$MDM::Test::BUILD/mdm-worker", '-c', $worker_conf,
          '--name', 'renew-1');
my $wlog = sub { -e "$dir/worker.out" ? MDM::Test::slurp("$dir/worker.out") : '' };
ok($t->wait_for(sub { $wlog->() =~ /InstallProfile queued for enrollment $UDID/ }, 20),
   'the worker queues the renewal') or diag($wlog->());
my $q = $t->redis('LRANGE', key_q($UDID), 0, -1);
is(scalar @$q, 1, 'one command in the enrollment\'s queue');
my $body = $t->redis('HGET', key_cmd("$q->[0]"), 'body') // '';
like($body, qr{<key>RequestType</key>\s*<string>InstallProfile</string>}, 'an InstallProfile');
ok(defined $t->redis('ZSCORE', key_pending(), $UDID), 'with the push path\'s pending entry');
my ($payload) = $body =~ m{<key>Payload</key>\s*<data>([^<]+)</data>};
MDM::Test::spew("$dir/renew.der", MIME::Base64::decode_base64($payload // ''));
my $ok = eval {
    $t->openssl('cms', '-verify', '-binary', '-inform', 'DER', '-in', "$dir/renew.der",
                '-CAfile', $pki->{ca}, '-purpose', 'any', '-out', "$dir/renew.xml");
    1;
};
ok($ok, 'the profile is signed by renew_signer_cert');
my $xml = $ok ? MDM::Test::slurp("$dir/renew.xml") : '';
like($xml, qr{<key>PayloadIdentifier</key>\s*<string>org.example.mdm.enroll</string>},
     'the enrollment\'s PayloadIdentifier');
my ($chal) = $xml =~ m{<key>Challenge</key>\s*<string>([0-9a-f]{32})</string>};
ok($chal, 'a fresh challenge');
is($t->redis('HGET', key_scep_chal($chal), 'renew'), $UDID,
   'whose record carries renew = the enrollment ID');
ok($t->redis('HGET', key_ca_cert($new_sha), 'renew_queued'), 'the certificate is marked as queued');

# barrier: a second certificate appears in the window; once the worker has
# queued it, it has read the first one again in the same tick
checkin(plist(MessageType => 'Authenticate', UDID => 'RENEW-DEVICE-3', Topic => $topic),
        my $third = $t->identity('RENEW-DEVICE-3'));
issued($third, renew => 'RENEW-DEVICE-3');
ok($t->wait_for(sub { $wlog->() =~ /InstallProfile queued for enrollment RENEW-DEVICE-3/ }, 20),
   'a later certificate is queued too');
is($t->redis('LLEN', key_q($UDID)), 1, 'the first is not queued twice');
unlike($wlog->(), qr/renewal of certificate .* not queued/, 'no failed renewal');

# --- a renewal that fails is retried later, with backoff --------------------
#
# enqueue.lua refuses a checked-out enrollment: the renewal fails after its
# claim. The issuance record counts the failure and says when to retry
# (base 1 s, doubling, at most 2 s, 4 attempts); once the enrollment takes
# commands again, the next attempt queues the profile.

my $D4 = 'RENEW-DEVICE-4';
my $fourth = $t->identity($D4);
checkin(plist(MessageType => 'Authenticate', UDID => $D4, Topic => $topic), $fourth);
$t->redis('HSET', key_enr($D4), 'checked_out', time);
my $sha4 = issued($fourth, renew => $D4);
my $rec4 = sub { +{ @{ $t->redis('HGETALL', key_ca_cert($sha4)) } } };
ok($t->wait_for(sub { ($rec4->()->{renew_failures} // 0) >= 1 }, 20),
   'a renewal refused by enqueue is counted as a failure') or diag($wlog->());
my $f1 = $rec4->();
like($f1->{renew_error}, qr/checked out/, 'the record says why');
is($f1->{renew_retry_at} - $f1->{renew_failed_at}, 1, 'first retry after renew_retry_base');
like($wlog->(), qr/renewal of certificate $sha4 \(enrollment $D4\): attempt 1 failed, retried in 1 s/,
     'and the worker log says when');
ok($t->wait_for(sub { ($rec4->()->{renew_failures} // 0) >= 2 }, 20),
   'retried after the backoff, failed again');
my $f2 = $rec4->();
is($f2->{renew_retry_at} - $f2->{renew_failed_at}, 2, 'the second delay doubles');
is($t->redis('LLEN', key_q($D4)), 0, 'nothing queued meanwhile');
$t->redis('HDEL', key_enr($D4), 'checked_out');
ok($t->wait_for(sub { $wlog->() =~ /InstallProfile queued for enrollment $D4/ }, 20),
   'once the enrollment takes commands, a retry queues the renewal');
is($t->redis('LLEN', key_q($D4)), 1, 'one InstallProfile');
ok(!defined $rec4->()->{renew_retry_at}, 'no further retry scheduled');
my $tally = $rec4->()->{renew_failures};
ok($tally >= 2 && $tally < 4, "it took $tally failures, fewer than renew_retries");

# a renewal that never succeeds stops after renew_retries attempts
my $D5 = 'RENEW-DEVICE-5';
my $fifth = $t->identity($D5);
checkin(plist(MessageType => 'Authenticate', UDID => $D5, Topic => $topic), $fifth);
$t->redis('HSET', key_enr($D5), 'checked_out', time);
my $sha5 = issued($fifth, renew => $D5);
ok($t->wait_for(sub { $wlog->() =~ /renewal of certificate $sha5 \(enrollment $D5\): given up after 4 attempts/ }, 30),
   'a renewal that keeps failing is given up after renew_retries') or diag($wlog->());
my %rec5 = @{ $t->redis('HGETALL', key_ca_cert($sha5)) };
ok($rec5{renew_queued} && !defined $rec5{renew_retry_at}, 'the claim stays, no retry is scheduled');

# --- end to end: SCEP identity, renewal profile, SCEP again, rebind ---------

my $E2E = 'RENEW-E2E-1';
sub scep {
    my ($challenge, $name) = @_;
    my $out = `$MDM::Test::BUILD/mdmsim scep --url https://127.0.0.1:$port/scep --ca-file $pki->{ca} --challenge $challenge --cn $E2E --out-cert $dir/$name.pem --out-key $dir/$name.key 2>&1`;
    return $? == 0 ? { cert => "$dir/$name.pem", key => "$dir/$name.key" } : undef;
}
# the challenge the enroll location would have put into the first profile
$t->redis('HSET', key_scep_chal('e2e-first'), 'created', time, 'expires', time + 600,
          'user', '', 'link', '', 'udid', $E2E, 'serial', '');
my $first = scep('e2e-first', 'e2e-first');
ok($first, 'the device gets its identity from our SCEP CA (validity 1 day)');
checkin(plist(MessageType => 'Authenticate', UDID => $E2E, Topic => $topic), $first);
is(checkin(token_update($E2E), $first)->{status}, 200, 'and enrolls with it');
ok($t->wait_for(sub { $wlog->() =~ /InstallProfile queued for enrollment $E2E/ }, 20),
   'the worker queues its renewal: the certificate expires within renew_window');
my $q2 = $t->redis('LRANGE', key_q($E2E), 0, -1);
my ($p2) = ($t->redis('HGET', key_cmd("$q2->[0]"), 'body') // '')
           =~ m{<key>Payload</key>\s*<data>([^<]+)</data>};
MDM::Test::spew("$dir/e2e.der", MIME::Base64::decode_base64($p2 // ''));
$t->openssl('cms', '-verify', '-binary', '-inform', 'DER', '-in', "$dir/e2e.der",
            '-CAfile', $pki->{ca}, '-purpose', 'any', '-out', "$dir/e2e.xml");
my ($c2) = MDM::Test::slurp("$dir/e2e.xml") =~ m{<key>Challenge</key>\s*<string>([0-9a-f]{32})</string>};
my $second = scep($c2, 'e2e-second');
ok($second, 'the device runs SCEP again with the renewal profile\'s challenge');
my %rec2 = @{ $t->redis('HGETALL', key_ca_cert(sha($second))) };
is($rec2{renew}, $E2E, 'the issuance record says it renews this enrollment');
{
    my $r2 = $t->request('PUT', $port, '/connect',
        plist(UDID => $E2E, Status => 'Idle'), sign => $second,
        headers => { 'Content-Type' => 'application/x-apple-aspen-mdm' });
    is($r2->{status}, 200, 'its next message, with the new certificate, is accepted');
}
is(enr($E2E, 'cert'), sha($second), 'and rebinds the enrollment');
is(checkin(token_update($E2E), $first)->{status}, 200, 'the old certificate works during the grace period');
$t->redis('HSET', key_enr($E2E), 'cert_prev_until', time - 1);
is(checkin(token_update($E2E), $first)->{status}, 400, 'and not after it');
is(checkin(token_update($E2E), $second)->{status}, 200, 'the new one goes on');

my @problems = $t->error_log_problems;
is_deeply(\@problems, [], 'no alerts or crashes in the logs');

done_testing();
