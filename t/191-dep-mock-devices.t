#!/usr/bin/perl
# tools/dep-mock's device store (services.md 5.3, 5.4, 9.1): fetch pages
# with opaque cursors until more_to_follow is false, EXHAUSTED_CURSOR for a
# finished fetch, sync of the operations logged since (added, modified,
# deleted, the same device more than once), CURSOR_REQUIRED,
# INVALID_CURSOR, EXPIRED_CURSOR after 7 days of the mock clock, Apple's
# cursor echo, fields gated by X-Server-Protocol-Version, device details
# and disown.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;
use MDM::DepMock;

my $t = MDM::Test->new;
my $m = MDM::DepMock->start($t, seed => 250);
my $pki = MDM::DepMock::token_pki($t, 'depserver');
my $tok = MDM::DepMock::decrypt_p7m($t, $m->p7m($pki->{pem}), $pki);
# the clock moves by days below: sessions outlive it here (t/190 expires them)
$m->control(q{POST}, q{config}, { session_ttl => 30 * 86400 });
my $s = $m->session($tok);

sub api { $m->api($s, @_) }

# --- fetch -------------------------------------------------------------------------

my (@serials, $cursor, $more);
my $pages = 0;
do {
    my $r = api('POST', '/server/devices', { limit => 100, ($cursor ? (cursor => $cursor) : ()) });
    is($r->{status}, 200, 'fetch page ' . ($pages + 1)) if !$pages;
    push @serials, map { $_->{serial_number} } @{ $r->{body}{devices} };
    $more = $r->{body}{more_to_follow};
    $cursor = $r->{body}{cursor};
    $pages++;
} while ($more && $pages < 10);
is($pages, 3, '250 devices in pages of 100: three pages');
is(scalar @serials, 250, '... every device');
my %uniq = map { $_ => 1 } @serials;
is(scalar keys %uniq, 250, '... each once');
like($cursor, qr/^[A-Za-z0-9_\-.]+$/, 'the cursor is an opaque string');

my $ex = api('POST', '/server/devices', { cursor => $cursor });
is("$ex->{status} $ex->{raw}", '400 EXHAUSTED_CURSOR',
   'fetch with a finished fetch\'s cursor: 400 EXHAUSTED_CURSOR');

my $big = api('POST', '/server/devices', { limit => 5000 });
is(scalar @{ $big->{body}{devices} }, 250, 'a limit over 1000 is capped, not refused');
my $def = api('POST', '/server/devices', {});
is(scalar @{ $def->{body}{devices} }, 100, 'no limit: 100 a page');
ok(exists $def->{body}{fetched_until}, '... with fetched_until');

my $d = $def->{body}{devices}[0];
ok(exists $d->{$_}, "a device has $_") for qw(serial_number model os device_family
    profile_status device_assigned_date device_assigned_by);
my $v1 = api('POST', '/server/devices', { limit => 1 }, version => 1)->{body}{devices}[0];
ok(!exists $v1->{os} && !exists $v1->{device_family},
   'version 1 sees neither os nor device_family');

is(api('POST', '/server/devices', '{"limit": ')->{raw}, 'MALFORMED_REQUEST_BODY',
   'invalid JSON: MALFORMED_REQUEST_BODY');

# --- sync -----------------------------------------------------------------------------

my $sync = api('POST', '/devices/sync', { cursor => $cursor });
is($sync->{status}, 200, 'sync from the fetch\'s cursor');
is(scalar @{ $sync->{body}{devices} }, 0, '... nothing changed yet');
ok(!$sync->{body}{more_to_follow}, '... more_to_follow false');
$cursor = $sync->{body}{cursor};

my $x = $serials[10];
my $gone = $serials[20];
$m->control('POST', 'devices', {
    add => [ { serial_number => 'NEWDEV000001', model => 'iPad Air', os => 'iPadOS',
               device_family => 'iPad' } ],
    modify => { $x => { asset_tag => 'first' } },
});
$m->control('POST', 'devices', { modify => { $x => { asset_tag => 'second' } },
                                 delete => [ $gone ] });

$sync = api('POST', '/devices/sync', { cursor => $cursor, limit => 2 });
is(scalar @{ $sync->{body}{devices} }, 2, 'sync pages too (limit 2)');
ok($sync->{body}{more_to_follow}, '... more_to_follow');
my @ops = @{ $sync->{body}{devices} };
my $r2 = api('POST', '/devices/sync', { cursor => $sync->{body}{cursor}, limit => 2 });
push @ops, @{ $r2->{body}{devices} };
ok(!$r2->{body}{more_to_follow}, '... then done');
is_deeply([ map { "$_->{op_type} $_->{serial_number}" } @ops ],
          [ 'added NEWDEV000001', "modified $x", "modified $x", "deleted $gone" ],
          'the ops in order: added, the same device modified twice, deleted');
ok((grep { !$_->{op_date} } @ops) == 0, 'each op has an op_date');
is($ops[2]{asset_tag}, 'second', 'the later op has the later state');
is($ops[0]{os}, 'iPadOS', 'version 10 sees iPadOS');
$cursor = $r2->{body}{cursor};

my $again = api('POST', '/devices/sync', { cursor => $sync->{body}{cursor} });
is(scalar @{ $again->{body}{devices} }, 2, 'an older cursor replays from where it was');

is(api('POST', '/devices/sync', {})->{raw}, 'CURSOR_REQUIRED', 'sync without a cursor: CURSOR_REQUIRED');
my $forged = $cursor; $forged =~ s/^(.)/$1 eq 'A' ? 'B' : 'A'/e;
is(api('POST', '/devices/sync', { cursor => $forged })->{raw}, 'INVALID_CURSOR',
   'an edited cursor: INVALID_CURSOR');
is(api('POST', '/devices/sync', { cursor => 'x' x 1001 })->{raw}, 'INVALID_CURSOR',
   'a cursor over 1000 characters: INVALID_CURSOR');

$m->control('POST', 'config', { cursor_echo => 1 });
$m->control('POST', 'devices', { modify => { $x => { color => 'RED' } } });
my $echo = api('POST', '/devices/sync', { cursor => $cursor });
is($echo->{body}{cursor}, $cursor, 'the echo switch: the request cursor comes back');
ok($echo->{body}{more_to_follow}, '... with more_to_follow true');
is(scalar @{ $echo->{body}{devices} }, 0, '... and nothing');
my $after = api('POST', '/devices/sync', { cursor => $cursor });
is(scalar @{ $after->{body}{devices} }, 1, 'the next call returns the change');

$m->control('POST', 'clock', { advance => 8 * 86400 });
my $old = api('POST', '/devices/sync', { cursor => $cursor });
is("$old->{status} $old->{raw}", '400 EXPIRED_CURSOR', 'a cursor 8 days old: 400 EXPIRED_CURSOR');
$m->control('POST', 'clock', { advance => -8 * 86400 });

# --- details and disown ----------------------------------------------------------------

my $det = api('POST', '/devices', { devices => [ $x, 'NOSUCHSERIAL' ] });
is($det->{body}{devices}{$x}{response_status}, 'SUCCESS', 'details of a device: SUCCESS');
is($det->{body}{devices}{$x}{color}, 'RED', '... with its current fields');
is($det->{body}{devices}{NOSUCHSERIAL}{response_status}, 'NOT_ACCESSIBLE',
   '... an unknown serial: NOT_ACCESSIBLE');
is(api('POST', '/devices', { devices => [] })->{raw}, 'DEVICE_ID_REQUIRED',
   'details of no device: DEVICE_ID_REQUIRED');
my $dis = api('POST', '/devices/disown', { devices => [ $serials[30] ] });
is($dis->{body}{devices}{ $serials[30] }, 'SUCCESS', 'disown: SUCCESS');
my $after_dis = api('POST', '/devices/sync', { cursor => $cursor });
is($after_dis->{body}{devices}[-1]{op_type}, 'deleted', '... and sync reports it deleted');
is(api('POST', '/devices/disown', { devices => [ $serials[30] ] })->{body}{devices}{ $serials[30] },
   'NOT_ACCESSIBLE', '... it is gone from the organisation');

done_testing;
