#!/usr/bin/perl
# tools/vpp-mock's licence ledger and asynchronous events (services.md 7.2,
# 7.4, 9.2): associate/disassociate/revoke and users/* answer an eventId at
# once and complete later (PENDING -> COMPLETE|FAILED with failures[], 9709,
# 9609, 9716); assignments and users page and filter by sinceVersionId (9721);
# batch limits and duplicates (9700-9707, 9714-9720); the rate limit (429
# 9646 with Retry-After) and injected 503s.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;
use MDM::VppMock;

my $why = MDM::VppMock->unavailable;
plan skip_all => $why if $why;

my $t = MDM::Test->new;
my $vpp = MDM::VppMock->start($t, event_delay => 0.3, page_size => 3);
$vpp->control('POST', 'config', { limits => { maxRequestPerSecond => 10000 } });
my $J = MDM::VppMock->json;
my $tok = $vpp->add_location(assets => [
    { adamId => '100', totalCount => 4 },
    { adamId => '200', totalCount => 1, deviceAssignable => JSON::PP::false },
    { adamId => '300', totalCount => 2, revocable => JSON::PP::false },
]);
my $other = $vpp->add_location(assets => [{ adamId => '100', totalCount => 50 }]);
my $A = sub { [ map { { adamId => $_, pricingParam => 'STDQ' } } @_ ] };
my $count = sub {
    my ($adam) = @_;
    my ($a) = grep { $_->{adamId} eq $adam } @{ $vpp->ledger($tok)->{assets} };
    return "$a->{assignedCount}/$a->{availableCount}";
};

# --- associate: asynchronous, partial failure ------------------------------------
my $r = $vpp->api('POST', '/assets/associate', $tok,
                  { assets => $A->('100'), serialNumbers => [map { "SN$_" } 1 .. 6] });
is($r->{status}, 200, 'associate answers at once');
my $ev = $r->{json}{eventId};
like($ev, qr/^[0-9a-f-]{36}$/, '... an eventId');
ok($r->{json}{tokenExpirationDate} && $r->{json}{uId}, '... with tokenExpirationDate and uId');
my $st = $vpp->api('GET', "/status?eventId=$ev", $tok)->{json};
is($st->{eventStatus}, 'PENDING', 'the event is PENDING first');
is($st->{eventType}, 'ASSOCIATE', 'eventType ASSOCIATE');
is($count->('100'), '0/4', 'nothing assigned while PENDING');
$st = $vpp->wait_event($tok, $ev);
is($st->{eventStatus}, 'COMPLETE', 'then COMPLETE');
is_deeply([$st->{numRequested}, $st->{numCompleted}], [6, 4], '6 requested, 4 completed');
is(scalar @{ $st->{failures} }, 1, 'one failure entry');
is($st->{failures}[0]{errorNumber}, 9709, '9709 not enough licenses');
is_deeply($st->{failures}[0]{errorInfo}{serialNumbers}, ['SN5', 'SN6'],
          'errorInfo names the serials left without a licence');
is($count->('100'), '4/0', 'the ledger holds 4 assignments');
is($vpp->control('GET', 'licensed?adamId=100&serialNumber=SN1')->{licensed}, JSON::PP::true,
   'licensed: SN1 holds 100');
is($vpp->control('GET', 'licensed?adamId=100&serialNumber=SN5')->{licensed}, JSON::PP::false,
   'licensed: SN5 does not');

$r = $vpp->api('POST', '/assets/associate', $tok, { assets => $A->('100'), serialNumbers => ['SN1'] });
$st = $vpp->wait_event($tok, $r->{json}{eventId});
is_deeply([$st->{eventStatus}, $st->{numCompleted}, $count->('100')], ['COMPLETE', 1, '4/0'],
          're-associating a held licence completes and takes no second licence');

$r = $vpp->api('POST', '/assets/associate', $tok, { assets => $A->('300'), serialNumbers => ['X1', 'X2', 'X3'] });
$vpp->wait_event($tok, $r->{json}{eventId});
$r = $vpp->api('POST', '/assets/associate', $tok, { assets => $A->('300'), serialNumbers => ['Y1'] });
$st = $vpp->wait_event($tok, $r->{json}{eventId});
is($st->{eventStatus}, 'FAILED', 'an event where nothing succeeds is FAILED');
is($st->{failures}[0]{errorNumber}, 9709, '... with its failure');

# --- validation (synchronous, nothing stored) ---------------------------------------
my $before = $vpp->ledger($tok)->{versionId};
my %bad = (
    9718 => [{ assets => $A->('999'), serialNumbers => ['S'] }, 'an adamId the location does not own'],
    '9718 ' => [{ assets => [], serialNumbers => ['S'] }, 'no assets'],
    9719 => [{ assets => $A->('100') }, 'neither serials nor users'],
    9703 => [{ assets => $A->('100', '100'), serialNumbers => ['S'] }, 'duplicate assets'],
    9705 => [{ assets => $A->('100'), serialNumbers => ['S', 'S'] }, 'duplicate serials'],
    9704 => [{ assets => $A->('100'), clientUserIds => ['u', 'u'] }, 'duplicate users'],
    9707 => [{ assets => $A->('200'), serialNumbers => ['S'] }, 'a device licence of an asset not device-assignable'],
    9700 => [{ assets => $A->(map { 1000 + $_ } 1 .. 26), serialNumbers => ['S'] }, 'over maxAssets'],
    9702 => [{ assets => $A->('100'), serialNumbers => [map { "S$_" } 1 .. 1001] }, 'over maxSerialNumbers'],
    9701 => [{ assets => $A->('100'), clientUserIds => [map { "U$_" } 1 .. 1001] }, 'over maxClientUserIds'],
    9602 => [{ assets => [{ adamId => 100 }], serialNumbers => ['S'] }, 'an adamId that is not a string'],
);
for my $n (sort keys %bad) {
    $r = $vpp->api('POST', '/assets/associate', $tok, $bad{$n}[0]);
    is_deeply([$r->{status}, $r->{json}{errorNumber}], [400, $n + 0], "$n: $bad{$n}[1]");
}
is($vpp->api('GET', '/assets?adamId=999', $tok)->{json}{assets}[0], undef,
   "one location's assets are not another's");
is($vpp->ledger($tok)->{versionId}, $before, 'refused requests changed nothing');
$r = $vpp->api('GET', '/status?eventId=00000000-0000-0000-0000-000000000000', $tok);
is($r->{json}{errorNumber}, 9708, 'an unknown eventId: 9708');
$r = $vpp->api('GET', "/status?eventId=$ev", $other);
is($r->{json}{errorNumber}, 9708, "another location's eventId: 9708");

# --- assignments: paging, filters, sinceVersionId -------------------------------------
$r = $vpp->api('GET', '/assignments', $tok)->{json};
is($r->{totalPages}, 2, "6 assignments in pages of 3");
my @as = @{ $r->{assignments} };
push @as, @{ $vpp->api("GET", "/assignments?pageIndex=1", $tok)->{json}{assignments} };
is(scalar @as, 6, 'the pages hold them all');
is(join(",", sort map { "$_->{adamId}:$_->{serialNumber}" } @as),
   "100:SN1,100:SN2,100:SN3,100:SN4,300:X1,300:X2", "each assignment once");
is(scalar(grep { $_->{pricingParam} eq 'STDQ' && $_->{serialNumber} } @as), 6,
   'each with pricingParam and serialNumber');
is(scalar @{ $vpp->api('GET', '/assignments?serialNumber=SN2', $tok)->{json}{assignments} }, 1,
   'serialNumber filter');
is(scalar @{ $vpp->api('GET', '/assignments?adamId=300', $tok)->{json}{assignments} }, 2,
   'adamId filter');
my $v = $r->{versionId};
$r = $vpp->api('GET', "/assignments?sinceVersionId=$v", $tok)->{json};
is(scalar @{ $r->{assignments} }, 0, 'sinceVersionId = current: no changes');
$r = $vpp->api('POST', '/assets/disassociate', $tok, { assets => $A->('100'), serialNumbers => ['SN1'] });
$st = $vpp->wait_event($tok, $r->{json}{eventId});
is_deeply([$st->{eventStatus}, $st->{eventType}], ['COMPLETE', 'DISASSOCIATE'], 'disassociate completes');
is($count->('100'), '3/1', 'its licence is back in the pool');
$r = $vpp->api('POST', '/assets/associate', $tok, { assets => $A->('100'), serialNumbers => ['SN9'] });
$vpp->wait_event($tok, $r->{json}{eventId});
$r = $vpp->api('GET', "/assignments?sinceVersionId=$v", $tok)->{json};
is_deeply([map { $_->{serialNumber} } @{ $r->{assignments} }], ['SN9'],
          'sinceVersionId: only what was assigned since');
ok($r->{versionId} > $v, 'versionId moved on');
is($vpp->api('GET', '/assignments?sinceVersionId=999999', $tok)->{json}{errorNumber}, 9721,
   'a versionId from the future: 9721');
is($vpp->api('GET', '/assignments?sinceVersionId=abc', $tok)->{json}{errorNumber}, 9721,
   'a malformed versionId: 9721');

# --- revoke ----------------------------------------------------------------------------
$r = $vpp->api('POST', '/assets/revoke', $tok, { serialNumbers => ['X1'] });
is($r->{json}{errorNumber}, 9706, 'revoking only non-revocable licences: 9706');
$r = $vpp->api('POST', '/assets/revoke', $tok, { serialNumbers => ['SN2'] });
$st = $vpp->wait_event($tok, $r->{json}{eventId});
is_deeply([$st->{eventStatus}, $st->{eventType}], ['COMPLETE', 'REVOKE'], 'revoke completes');
is($vpp->control('GET', 'licensed?adamId=100&serialNumber=SN2')->{licensed}, JSON::PP::false,
   'the revoked licence is gone');
is($vpp->api('POST', '/assets/revoke', $tok, { serialNumbers => [map { "R$_" } 1 .. 101] })->{json}{errorNumber},
   9702, 'revoke over maxRevokeSerialNumbers: 9702');

# --- users --------------------------------------------------------------------------------
$r = $vpp->api('POST', '/users/create', $tok,
               { users => [{ clientUserId => 'u1', email => 'a@example.com' },
                           { clientUserId => 'u2', managedAppleId => 'b@org.example' }] });
is($r->{status}, 200, 'users/create');
$st = $vpp->wait_event($tok, $r->{json}{eventId});
is_deeply([$st->{eventStatus}, $st->{eventType}, $st->{numCompleted}], ['COMPLETE', 'CREATE', 2],
          'users/create completes');
my $u = $vpp->api('GET', '/users?clientUserId=u1', $tok)->{json}{users}[0];
is_deeply([$u->{clientUserId}, $u->{email}, $u->{status}], ['u1', 'a@example.com', 'Registered'],
          'a created user is Registered');
like($u->{inviteCode}, qr/^\w+$/, '... with an inviteCode');
$r = $vpp->api('POST', '/users/create', $tok, { users => [{ clientUserId => 'u1' }] });
$st = $vpp->wait_event($tok, $r->{json}{eventId});
is_deeply([$st->{eventStatus}, $st->{failures}[0]{errorNumber}], ['FAILED', 9716],
          'creating an existing clientUserId fails asynchronously: 9716');
is($vpp->api('POST', '/users/create', $tok, { users => [] })->{json}{errorNumber}, 9720, 'no users: 9720');
is($vpp->api('POST', '/users/create', $tok, { users => [{ clientUserId => 'x', email => 'nope' }] })->{json}{errorNumber},
   9717, 'a bad email: 9717');
is($vpp->api('POST', '/users/create', $tok, { users => [({ clientUserId => 'd' }) x 2] })->{json}{errorNumber},
   9715, 'duplicate users: 9715');
is($vpp->api('POST', '/users/create', $tok, { users => [map { { clientUserId => "m$_" } } 1 .. 101] })->{json}{errorNumber},
   9714, 'over maxUsers: 9714');

$r = $vpp->api('POST', '/assets/associate', $tok, { assets => $A->('100'), clientUserIds => ['u1', 'ghost'] });
$st = $vpp->wait_event($tok, $r->{json}{eventId});
is($st->{numCompleted}, 1, 'a user licence for a known user');
is_deeply([$st->{failures}[0]{errorNumber}, $st->{failures}[0]{errorInfo}{clientUserIds}], [9609, ['ghost']],
          'an unknown clientUserId fails with 9609');
is(scalar @{ $vpp->api('GET', '/assignments?clientUserId=u1', $tok)->{json}{assignments} }, 1,
   'clientUserId filter');
$r = $vpp->api('POST', '/users/update', $tok, { users => [{ clientUserId => 'u1', email => 'new@example.com' }] });
$vpp->wait_event($tok, $r->{json}{eventId});
is($vpp->api('GET', '/users?clientUserId=u1', $tok)->{json}{users}[0]{email}, 'new@example.com', 'users/update');
my $uv = $vpp->api('GET', '/users', $tok)->{json}{versionId};
$r = $vpp->api('POST', '/users/retire', $tok, { users => [{ clientUserId => 'u1' }] });
$st = $vpp->wait_event($tok, $r->{json}{eventId});
is($st->{eventType}, 'RETIRE', 'users/retire');
my $since = $vpp->api('GET', "/users?sinceVersionId=$uv", $tok)->{json}{users};
is_deeply([map { "$_->{clientUserId}:$_->{status}" } @$since], ['u1:Retired'], 'users since a version: the retired one');
is(scalar @{ $vpp->api('GET', '/users?activeOnly=true', $tok)->{json}{users} }, 1, 'activeOnly');
is(scalar @{ $vpp->api('GET', '/users?retiredOnly=true', $tok)->{json}{users} }, 1, 'retiredOnly');
is(scalar @{ $vpp->api('GET', '/assignments?clientUserId=u1', $tok)->{json}{assignments} }, 0,
   "a retired user's licences are released");

# --- rate limit and injected faults -----------------------------------------------------
$vpp->control('POST', 'config', { limits => { maxRequestPerSecond => 3 } });
my @st;
push @st, $vpp->api('GET', '/assets', $tok) for 1 .. 8;
my ($limited) = grep { $_->{status} == 429 } @st;
ok($limited, 'over maxRequestPerSecond: 429');
is($limited && $limited->{json}{errorNumber}, 9646, '... 9646');
like($limited && $limited->{headers}{'retry-after'}, qr/^\d+$/, '... with Retry-After');
$vpp->control('POST', 'config', { limits => { maxRequestPerSecond => 10000 } });
$vpp->control('POST', 'faults', { faults => [{ status => 503, retryAfter => 7, count => 2 }] });
$r = $vpp->api('GET', '/assets', $tok);
is_deeply([$r->{status}, $r->{json}{errorNumber}, $r->{headers}{'retry-after'}], [503, 9729, 7],
          'an injected 503: 9729 with Retry-After');
is($vpp->api('GET', '/assets', $tok)->{status}, 503, 'as many times as asked');
is($vpp->api('GET', '/assets', $tok)->{status}, 200, 'then the service answers again');
$vpp->control('POST', 'faults', { faults => [{ status => 429, retryAfter => 2, count => 1 }] });
$r = $vpp->api('POST', '/assets/associate', $tok, { assets => $A->('100'), serialNumbers => ['Z'] });
is_deeply([$r->{status}, $r->{json}{errorNumber}, $r->{headers}{'retry-after'}], [429, 9646, 2],
          'an injected 429 on a write: 9646, Retry-After');
ok(!grep({ ($_->{serialNumber} // '') eq 'Z' } @{ $vpp->ledger($tok)->{assignments} }),
   'and no event was made');

done_testing;
