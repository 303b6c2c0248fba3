#!/usr/bin/perl
# tools/dep-mock, Apple's Device Assignment service as services.md 5.1 and
# 9.1 describe it, seen by curl and by an OAuth 1.0a client written here:
# a .p7m that openssl cms decrypts with the MDM's key, /session with
# signature, timestamp and nonce checks, session use, expiry, rotation,
# depsim's 403 FORBIDDEN after a restart, the /session refusals and
# injected 429s with Retry-After.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;
use MDM::DepMock;

my $t = MDM::Test->new;
my $m = MDM::DepMock->start($t);
my $pki = MDM::DepMock::token_pki($t, 'depserver');

# --- token PKI ----------------------------------------------------------------

my $p7m = $m->p7m($pki->{pem});
like($p7m, qr/^MIME-Version: 1\.0/m, 'the .p7m is S/MIME (MIME headers)');
like($p7m, qr/^Content-Type: application\/(x-)?pkcs7-mime;.*enveloped-data/m,
     '... of a CMS EnvelopedData');
my $tok = MDM::DepMock::decrypt_p7m($t, $p7m, $pki);
is(ref $tok, 'HASH', 'openssl cms decrypts it with the MDM key to the token JSON');
my %prefix = (consumer_key => 'CK_', consumer_secret => 'CS_',
              access_token => 'AT_', access_secret => 'AS_');
like($tok->{$_}, qr/^\Q$prefix{$_}\E\w+$/, "... with $_ as Apple spells it")
    for sort keys %prefix;
like($tok->{access_token_expiry}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
     '... and an RFC 3339 expiry');
my $other = MDM::DepMock::token_pki($t, 'other');
is(MDM::DepMock::decrypt_p7m($t, $p7m, $other), undef,
   'another key cannot decrypt it');
is($m->call('POST', '/_mock/token', "not a certificate")->{status}, 400,
   'the mock refuses to issue a token to something that is no certificate');

# --- /session -------------------------------------------------------------------

# RFC 5849 1.2's example request, through the mock's own signer
my $vec = `cd $MDM::Test::ROOT/tools/dep-mock && PYTHONDONTWRITEBYTECODE=1 python3 -c "
import depmock_oauth as o
print(o.sign('GET', 'http://photos.example.net/photos', [
    ('oauth_consumer_key', 'dpf43f3p2l4k3l03'), ('oauth_token', 'nnch734d00sl2jdk'),
    ('oauth_signature_method', 'HMAC-SHA1'), ('oauth_timestamp', '137131202'),
    ('oauth_nonce', 'chapoH'), ('file', 'vacation.jpg'), ('size', 'original')],
    'kd94hf93k423kf44', 'pfkkdhi9sl3r4s00'))"`;
is($vec, "MdpQcU8iPSUjWoN/UDMsK2sui9I=\n", 'the mock signs RFC 5849 1.2\'s example as the RFC does');

my $s = $m->session($tok);
ok(!ref $s && length $s, 'a correctly signed GET /session gets an auth_session_token');

my $curl = `curl -s -o /dev/null -w '%{http_code}' -A ngx_mdm-tests -H 'Authorization: OAuth oauth_consumer_key="x"' @{[ $m->url ]}/session`;
is($curl, '401', 'curl with a bogus OAuth header: 401');

my %bad = (
    'a wrong access secret' => { secret => 'AS_wrong' },
    'an old timestamp'      => { oauth_timestamp => time - 3600 },
    'a wrong signature'     => { oauth_signature => 'AAAA' },
    'HMAC-SHA256'           => { oauth_signature_method => 'HMAC-SHA256' },
);
for my $what (sort keys %bad) {
    my $r = $m->session($tok, %{ $bad{$what} });
    is(ref $r && $r->{status}, 401, "/session with $what: 401");
}
my $h = MDM::DepMock::oauth_header($tok, 'GET', $m->url . '/session');
my $first = $m->call('GET', '/session', undef, Authorization => $h);
my $again = $m->call('GET', '/session', undef, Authorization => $h);
is($first->{status}, 200, 'a header used once is accepted');
is($again->{status}, 401, '... and refused when replayed (same nonce)');
like($again->{raw}, qr/UNAUTHORIZED/, '... UNAUTHORIZED');

my $noua = `curl -s -A '' -H 'X-ADM-Auth-Session: $s' @{[ $m->url ]}/account`;
is($noua, 'USER_AGENT_MISSING', 'no User-Agent: 400 USER_AGENT_MISSING');

# --- session use ------------------------------------------------------------------

my $acc = $m->api($s, 'GET', '/account');
is($acc->{status}, 200, 'GET /account with the session');
like($acc->{body}{server_uuid}, qr/^[0-9A-F]{32}$/, '... has the server_uuid');
is($acc->{body}{org_type}, 'org', '... org_type (version 3+)');
is(ref $acc->{body}{urls}, 'ARRAY', '... and the urls with their limits');
ok(!exists $m->api($s, 'GET', '/account', undef, version => 2)->{body}{org_type},
   'version 2 sees no org_type');
is($m->api('S_nope', 'GET', '/account')->{status}, 401, 'an unknown session: 401');
is($m->call('GET', '/account')->{status}, 401, 'no session: 401');

$m->control('POST', 'config', { rotate_every => 2 });
$m->api($s, 'GET', '/account');
my $rot = $m->api($s, 'GET', '/account');
my $new = $rot->{headers}{'x-adm-auth-session'};
ok($new && $new ne $s, 'every second call carries a new X-ADM-Auth-Session');
is($m->api($new, 'GET', '/account')->{status}, 200, '... which works');
$m->control('POST', 'config', { rotate_every => 0, session_ttl => 600 });

$m->control('POST', 'clock', { advance => 601 });
my $exp = $m->api($new, 'GET', '/account');
is($exp->{status}, 401, 'a session older than its lifetime: 401');
like($exp->{raw}, qr/UNAUTHORIZED/, '... UNAUTHORIZED (re-run /session)');
$m->control('POST', 'clock', { advance => -601 });

my $s2 = $m->session($tok);
$m->control('POST', 'config', { restart => 1 });
my $fb = $m->api($s2, 'GET', '/account');
is($fb->{status}, 403, 'after a depsim-style restart the old session gets 403');
like($fb->{raw}, qr/FORBIDDEN/, '... FORBIDDEN');

# --- /session refusals and faults ---------------------------------------------------

$m->control('POST', 'token/state', { consumer_key => $tok->{consumer_key}, terms => 1 });
my $tc = $m->session($tok);
is(ref $tc && $tc->{status}, 403, 'new terms not accepted: 403');
like(ref $tc && $tc->{raw}, qr/T_C_NOT_SIGNED/, '... T_C_NOT_SIGNED');
$m->control('POST', 'token/state', { consumer_key => $tok->{consumer_key}, terms => 0,
                                     revoked => 1 });
my $rv = $m->session($tok);
like(ref $rv && "$rv->{status} $rv->{raw}", qr/^403 .*ACCESS_DENIED/, 'a revoked token: 403 ACCESS_DENIED');
$m->control('POST', 'token/state', { consumer_key => $tok->{consumer_key}, revoked => 0 });

my $short = MDM::DepMock::decrypt_p7m($t, $m->p7m($pki->{pem}, days => 1), $pki);
$m->control('POST', 'clock', { advance => 2 * 86400 });
my $te = $m->session($short);
like(ref $te && "$te->{status} $te->{raw}", qr/^401 token_expired/,
     'OAuth tokens past access_token_expiry: 401 token_expired');
$m->control('POST', 'clock', { advance => -2 * 86400 });

my $s3 = $m->session($tok);
$m->control('POST', 'fault', { path => '/server/devices', status => 429,
                               body => 'TOO_MANY_REQUESTS', retry_after => 7, count => 2 });
my @r = map { $m->api($s3, 'POST', '/server/devices', { limit => 10 }) } 1 .. 3;
is($r[0]{status}, 429, 'an injected fault: 429');
is($r[0]{headers}{'retry-after'}, 7, '... with Retry-After');
like($r[0]{raw}, qr/TOO_MANY_REQUESTS/, '... TOO_MANY_REQUESTS');
is($r[1]{status}, 429, '... as many times as asked');
is($r[2]{status}, 200, '... then the call succeeds');

$m->control('POST', 'config', { error_style => 'quoted' });
is($m->api('S_nope', 'GET', '/account')->{raw}, '"UNAUTHORIZED"',
   'error_style quoted: depsim\'s quoted body');
$m->control('POST', 'config', { error_style => 'json' });
is_deeply($m->api('S_nope', 'GET', '/account')->{body}, { code => 'UNAUTHORIZED' },
   'error_style json: {"code": ...}');

my $reqs = $m->requests;
my ($acct) = grep { $_->{path} eq '/account' && $_->{status} == 200 } @$reqs;
is($acct->{protocol_version}, '10', 'the mock records each request\'s protocol version');
is($acct->{user_agent}, 'ngx_mdm-tests/1', '... and User-Agent');

done_testing;
