#!/usr/bin/perl
# tools/dep-mock's profiles (services.md 5.3, 9.1): every documented 400
# code of POST /profile, GET /profile, assignment with POST and depsim's
# PUT, per-serial SUCCESS|NOT_ACCESSIBLE|FAILED|THROTTLED with
# retry_after_seconds by protocol version, the 1000-serial limit, a retry
# within the 24 h FAILED cooldown recorded, removal; activation lock and
# the account-driven enrollment URL.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;
use MDM::DepMock;

my $t = MDM::Test->new;
my $m = MDM::DepMock->start($t, seed => 20);
my $pki = MDM::DepMock::token_pki($t, 'depserver');
my $tok = MDM::DepMock::decrypt_p7m($t, $m->p7m($pki->{pem}), $pki);
$m->control('POST', 'config', { session_ttl => 30 * 86400 });
my $s = $m->session($tok);
sub api { $m->api($s, @_) }

my @serials = map { $_->{serial_number} }
              @{ api('POST', '/server/devices', { limit => 20 })->{body}{devices} };
is(scalar @serials, 20, 'twenty seeded devices');

my %good = (profile_name => 'Staff', url => 'https://mdm.example.org/mdm/ade/enroll',
            is_supervised => JSON::PP::true, is_mdm_removable => JSON::PP::false,
            org_magic => 'magic', department => 'IT', language => 'en', region => 'US',
            support_email_address => 'it@example.org', support_phone_number => '+1 555 0100',
            skip_setup_items => [ 'Location', 'Siri' ]);

# --- define: every documented 400 ----------------------------------------------------

my %bad = (
    CONFIG_NAME_REQUIRED   => { profile_name => undef },
    CONFIG_NAME_INVALID    => { profile_name => 'x' x 126 },
    CONFIG_URL_REQUIRED    => { url => undef },
    CONFIG_URL_INVALID     => { url => 'not a url' },
    DEPARTMENT_INVALID     => { department => 'd' x 126 },
    FLAGS_INVALID          => { is_supervised => JSON::PP::false },
    LOCALE_INVALID         => { language => 'english!' },
    MAGIC_INVALID          => { org_magic => 'm' x 257 },
    SUPPORT_EMAIL_INVALID  => { support_email_address => 'nobody' },
    SUPPORT_PHONE_INVALID  => { support_phone_number => '5' x 51 },
    MALFORMED_REQUEST_BODY => { is_supervised => 'yes' },
);
for my $code (sort keys %bad) {
    my %p = (%good, %{ $bad{$code} });
    delete $p{$_} for grep { !defined $p{$_} } keys %p;
    my $r = api('POST', '/profile', \%p);
    is("$r->{status} $r->{raw}", "400 $code", "define with $code\'s fault: 400 $code");
}
is(api('POST', '/profile', { %good, url => 'https://x.example/' . ('a' x 2000) })->{raw},
   'CONFIG_URL_INVALID', 'a URL over 2000 characters: CONFIG_URL_INVALID');
is(api('POST', '/profile', { %good, profile_name => 'é' x 125 })->{status}, 200,
   '125 characters of UTF-8 are a valid name');
is(scalar keys %{ $m->control('GET', 'state')->{profiles} }, 1,
   'no refused profile was stored');

my $def = api('POST', '/profile', \%good);
is($def->{status}, 200, 'a valid profile is defined');
my $uuid = $def->{body}{profile_uuid};
like($uuid, qr/^[0-9A-F]{32}$/, '... with a profile_uuid');
my $got = api('GET', "/profile?profile_uuid=$uuid");
is($got->{body}{profile_name}, 'Staff', 'GET /profile returns it');
is_deeply($got->{body}{skip_setup_items}, [ 'Location', 'Siri' ], '... as defined');
is(api('GET', '/profile?profile_uuid=NOPE')->{status}, 404, 'an unknown profile: 404');

# --- assign --------------------------------------------------------------------------

$m->control('POST', 'config', { assign => { $serials[1] => [ 'FAILED' ] } });
my $a = api('POST', '/profile/devices',
            { profile_uuid => $uuid, devices => [ @serials[0, 1], 'NOSUCH' ] });
is($a->{status}, 200, 'assign with POST');
is_deeply($a->{body}{devices}, { $serials[0] => 'SUCCESS', $serials[1] => 'FAILED',
                                 NOSUCH => 'NOT_ACCESSIBLE' },
          '... SUCCESS, a programmed FAILED, NOT_ACCESSIBLE for a foreign serial');
my $det = api('POST', '/devices', { devices => [ $serials[0] ] })->{body}{devices}{ $serials[0] };
is($det->{profile_uuid}, $uuid, 'the assigned device has the profile_uuid');
is($det->{profile_status}, 'assigned', '... and profile_status assigned');
ok($det->{profile_assign_time}, '... and profile_assign_time');

is_deeply($m->control('GET', 'state')->{violations}, [], 'no cooldown violation yet');
api('PUT', '/profile/devices', { profile_uuid => $uuid, devices => [ $serials[1] ] });
is_deeply($m->control('GET', 'state')->{violations}, [ $serials[1] ],
          'a retry within 24 h of FAILED is recorded (with depsim\'s PUT)');
my ($put) = grep { $_->{method} eq 'PUT' } @{ $m->requests };
is($put->{path}, '/profile/devices', '... and which method was used');

$m->control('POST', 'config', { throttle => { calls => 3, retry_after => 42 } });
my $th10 = api('POST', '/profile/devices', { profile_uuid => $uuid, devices => [ $serials[2] ] });
is($th10->{body}{devices}{ $serials[2] }, 'THROTTLED', 'throttled at version 10: THROTTLED');
is($th10->{body}{retry_after_seconds}, 42, '... with retry_after_seconds');
my $th9 = api('POST', '/profile/devices', { profile_uuid => $uuid, devices => [ $serials[3] ] },
              version => 9);
is($th9->{body}{devices}{ $serials[3] }, 'THROTTLED', 'at version 9: THROTTLED');
ok(!exists $th9->{body}{retry_after_seconds}, '... without retry_after_seconds');
my $th8 = api('POST', '/profile/devices', { profile_uuid => $uuid, devices => [ $serials[4] ] },
              version => 8);
is($th8->{body}{devices}{ $serials[4] }, 'FAILED', 'at version 8 a throttled serial is FAILED');
is(api('POST', '/profile/devices', { profile_uuid => $uuid, devices => [ $serials[5] ] })
       ->{body}{devices}{ $serials[5] }, 'SUCCESS', 'once the throttle is over: SUCCESS');

is(api('POST', '/profile/devices', { profile_uuid => $uuid,
                                     devices => [ map { "S$_" } 1 .. 1001 ] })->{raw},
   'DEVICE_ID_INVALID', '1001 serials in one call are refused');
is(api('POST', '/profile/devices', { devices => [ $serials[6] ] })->{raw},
   'PROFILE_UUID_REQUIRED', 'no profile_uuid: PROFILE_UUID_REQUIRED');
is(api('POST', '/profile/devices', { profile_uuid => $uuid, devices => [] })->{raw},
   'DEVICE_ID_REQUIRED', 'no devices: DEVICE_ID_REQUIRED');
is(api('POST', '/profile/devices', { profile_uuid => 'NOPE', devices => [ $serials[6] ] })
       ->{status}, 404, 'an unknown profile: 404');

my $rm = api('DELETE', '/profile/devices', { devices => [ $serials[0], $serials[7] ] });
is_deeply($rm->{body}{devices}, { $serials[0] => 'SUCCESS', $serials[7] => 'NOT_ACCESSIBLE' },
          'remove: SUCCESS for the assigned one, NOT_ACCESSIBLE for one without a profile');
is(api('POST', '/devices', { devices => [ $serials[0] ] })->{body}{devices}{ $serials[0] }{profile_status},
   'removed', '... its profile_status is removed');

# --- activation lock, account-driven enrollment, beta tokens ---------------------------------

my $key = 'ab' x 32;
is(api('POST', '/device/activationlock', { device => $serials[8], escrow_key => $key })
       ->{body}{response_status}, 'SUCCESS', 'activation lock with a 64-hex escrow key');
is($m->control('GET', 'state')->{escrow}{ $serials[8] }, $key, '... the mock records the key');
is(api('POST', '/device/activationlock', { device => $serials[8] })->{body}{response_status},
   'DEVICE_ALREADY_LOCKED', '... twice: DEVICE_ALREADY_LOCKED');
is(api('POST', '/device/activationlock', { device => $serials[9], escrow_key => 'abc' })->{raw},
   'MALFORMED_REQUEST_BODY', 'an escrow key that is not 64 hex: MALFORMED_REQUEST_BODY');

is(api('GET', '/account-driven-enrollment/profile')->{status}, 404,
   'no service-discovery URL yet: 404');
is(api('POST', '/account-driven-enrollment/profile', {})->{raw},
   'MDM_SERVICE_DISCOVERY_URL_REQUIRED', 'POST without one: MDM_SERVICE_DISCOVERY_URL_REQUIRED');
is(api('POST', '/account-driven-enrollment/profile',
       { mdm_service_discovery_url => 'http://x' })->{raw},
   'MDM_SERVICE_DISCOVERY_URL_NOT_VALID', 'a non-https URL: ..._NOT_VALID');
is(api('POST', '/account-driven-enrollment/profile',
       { mdm_service_discovery_url => 'https://mdm.example.org/.well-known/x' })->{status},
   200, 'a valid one is registered');
is(api('GET', '/account-driven-enrollment/profile')->{body}{mdm_service_discovery_url},
   'https://mdm.example.org/.well-known/x', '... and read back');
is(ref api('GET', '/os-beta-enrollment/tokens')->{body}{betaEnrollmentTokens}, 'ARRAY',
   'OS beta enrollment tokens');

done_testing;
