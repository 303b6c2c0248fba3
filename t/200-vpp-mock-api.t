#!/usr/bin/perl
# tools/vpp-mock as Apple documents the Apps and Books Management API v2
# (services.md 7.1, 7.2, 7.4, 9.2): the Bearer sToken and its errors
# (including the HTTP 200 answer Fleet observed), the service configuration,
# client config GET/POST with its validation and TEST_NOTIFICATION, assets
# with filters and paging, and the request-level errors (405, 415, 9602).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MIME::Base64 qw(decode_base64);
use MDM::Test;
use MDM::VppMock;

my $why = MDM::VppMock->unavailable;
plan skip_all => $why if $why;

my $t = MDM::Test->new;
my $pki = $t->pki;
my $vpp = MDM::VppMock->start($t, notify_ca => $pki->{ca}, page_size => 2);
my $J = MDM::VppMock->json;
my $sc0 = $vpp->api("GET", "/service/config", undef)->{json};
# this file checks answers, not the rate limit (t/201 does)
$vpp->control("POST", "config", { limits => { maxRequestPerSecond => 10000 } });

my $tok = $vpp->add_location(orgName => 'Example School', locationName => 'North',
    token => 'inner-token-1', expDate => '2099-04-10T16:45:00+0000',
    assets => [
        { adamId => '361309726', totalCount => 5, productType => 'App' },
        { adamId => '408709785', totalCount => 1, productType => 'App', deviceAssignable => JSON::PP::false },
        { adamId => '1001', totalCount => 3, productType => 'Book', revocable => JSON::PP::false },
        { adamId => '1002', totalCount => 0, productType => 'App', pricingParam => 'PLUS' },
        { adamId => '1003', totalCount => 9, productType => 'App' },
    ]);

# --- the token file -------------------------------------------------------
my $file = $J->decode(decode_base64($tok));
is_deeply($file, { token => 'inner-token-1', expDate => '2099-04-10T16:45:00+0000',
                   orgName => 'Example School' },
          'the sToken is base64 of {token, expDate, orgName}');

# --- authentication -------------------------------------------------------
my $r = $vpp->api('GET', '/client/config', undef);
is($r->{status}, 401, 'no Authorization: 401');
is($r->{json}{errorNumber}, 9601, '... 9601 login required');
$r = $vpp->api('GET', '/client/config', undef, undef, Authorization => "Basic $tok");
is($r->{json}{errorNumber}, 9722, 'not Bearer: 9722');
is($r->{status}, 401, '... with 401');
$r = $vpp->api('GET', '/client/config', 'not-a-token');
is($r->{status}, 401, 'unknown token: 401');
is($r->{json}{errorNumber}, 9622, '... 9622');
$r = $vpp->api('GET', '/client/config', 'inner-token-1');
is($r->{json}{errorNumber}, 9622, 'the inner token alone is not the sToken');

my $expired = $vpp->add_location(expDate => '2020-01-01T00:00:00+0000');
$r = $vpp->api('GET', '/assets', $expired);
is_deeply([$r->{status}, $r->{json}{errorNumber}], [401, 9621], 'an expired token: 401 9621');
my $revoked = $vpp->add_location(orgName => 'Gone');
$vpp->control('POST', 'token', { sToken => $revoked, revoked => JSON::PP::true });
$r = $vpp->api('GET', '/assets', $revoked);
is_deeply([$r->{status}, $r->{json}{errorNumber}], [401, 9625], 'a revoked token: 401 9625');
$vpp->control('POST', 'token', { sToken => $revoked, errorsAs200 => JSON::PP::true });
$r = $vpp->api('GET', '/assets', $revoked);
is_deeply([$r->{status}, $r->{json}{errorNumber}], [200, 9625],
          'the token error Fleet saw answered with HTTP 200 and an ErrorResponse');
$vpp->control('POST', 'config', { tokenErrorsAs200 => JSON::PP::true });
$r = $vpp->api('GET', '/assets', 'nope');
is_deeply([$r->{status}, $r->{json}{errorNumber}], [200, 9622], '... for unknown tokens too');
$vpp->control('POST', 'config', { tokenErrorsAs200 => JSON::PP::false });
my $legacy = $vpp->add_location();
$vpp->control('POST', 'token', { sToken => $legacy, legacy => JSON::PP::true });
is($vpp->api('GET', '/assets', $legacy)->{json}{errorNumber}, 9647, 'a legacy token: 9647');
like($vpp->api('GET', '/assets', 'x')->{json}{errorMessage}, qr/\S/, 'errors carry errorMessage');

# --- service config (no token) ----------------------------------------------
$r = $vpp->api('GET', '/service/config', undef);
is($r->{status}, 200, 'service config needs no token');
my $sc = $r->{json};
is($sc->{limits}{maxAssets}, 25, 'limits: maxAssets 25');
is($sc->{limits}{maxSerialNumbers}, 1000, 'limits: maxSerialNumbers 1000');
is($sc0->{limits}{maxRequestPerSecond}, 15, 'limits: maxRequestPerSecond 15');
my %codes = map { $_->{errorNumber} => $_->{errorMessage} } @{ $sc->{errorCodes} };
ok($codes{9646} && $codes{9709}, 'errorCodes lists 9646 and 9709');
is(scalar(grep { !defined $codes{$_} } 9601, 9602, 9621, 9625, 9650, 9700 .. 9729), 0,
   'errorCodes holds every documented synchronous number');
is($sc->{urls}{associateAssets}, $vpp->base . '/assets/associate', 'urls point at the mock');
ok((grep { $_ eq 'ASSET_MANAGEMENT' } @{ $sc->{notificationTypes} }), 'notificationTypes');
$vpp->control('POST', 'config', { limits => { maxAssets => 2 } });
is($vpp->api('GET', '/service/config', undef)->{json}{limits}{maxAssets}, 2,
   'limits are dynamic (the control API changes what the mock tells and enforces)');
$vpp->control('POST', 'config', { limits => { maxAssets => 25 } });

# --- client config ------------------------------------------------------------
$r = $vpp->api('GET', '/client/config', $tok);
is($r->{status}, 200, 'GET /client/config');
is($r->{json}{locationName}, 'North', 'locationName');
is($r->{json}{countryISO2ACode}, 'US', 'countryISO2ACode');
is($r->{json}{tokenExpirationDate}, '2099-04-10T16:45:00+0000', 'tokenExpirationDate');
like($r->{json}{uId}, qr/^\d+$/, 'uId');
ok(!exists $r->{json}{mdmInfo}, 'no mdmInfo before an MDM claims the token');
my $uid = $r->{json}{uId};

my $recv = MDM::VppMock->receiver($t);
my %bad = (
    9723 => { mdmInfo => { id => 'x' x 101, name => 'n' } },
    9724 => { mdmInfo => { id => 'mdm-1', name => 'n' x 101 } },
    9725 => { mdmInfo => { id => 'mdm-1', name => 'n', metadata => 'm' x 256 } },
    9710 => { notificationUrl => 'http://localhost/x', notificationAuthToken => 'a' },
    9711 => { notificationUrl => $recv->{url}, notificationAuthToken => '' },
    9712 => { notificationTypes => ['NOT_A_TYPE'] },
    9713 => { notificationUrl => $recv->{url} },
);
for my $n (sort keys %bad) {
    $r = $vpp->api('POST', '/client/config', $tok, $bad{$n});
    is_deeply([$r->{status}, $r->{json}{errorNumber}], [400, $n], "client config: $n");
}
ok(!exists $vpp->api('GET', '/client/config', $tok)->{json}{mdmInfo},
   'a refused client config changes nothing');

MDM::Test::spew($recv->{status_file}, 500);
$r = $vpp->api('POST', '/client/config', $tok,
               { notificationUrl => $recv->{url}, notificationAuthToken => 'secret-1',
                 notificationTypes => ['ASSET_MANAGEMENT'] });
is($r->{json}{errorNumber}, 9728, 'a notification URL that fails TEST_NOTIFICATION: 9728');
unlink $recv->{status_file};
$r = $vpp->api('POST', '/client/config', $tok,
               { mdmInfo => { id => 'mdm-1', name => 'ngx_mdm', metadata => 'm' },
                 notificationUrl => $recv->{url}, notificationAuthToken => 'secret-1',
                 notificationTypes => ['ASSET_MANAGEMENT', 'USER_MANAGEMENT'] });
is($r->{status}, 200, 'POST /client/config');
is_deeply($r->{json}{mdmInfo}, { id => 'mdm-1', name => 'ngx_mdm', metadata => 'm' },
          'mdmInfo kept (another MDM would see it)');
is($r->{json}{notificationUrl}, $recv->{url}, 'notificationUrl kept');
is_deeply($r->{json}{subscribedNotificationTypes}, ['ASSET_MANAGEMENT', 'USER_MANAGEMENT'],
          'subscribedNotificationTypes');
my @got = MDM::VppMock->received($recv);
is(scalar @got, 2, 'one TEST_NOTIFICATION per POST that named a URL');
is($got[-1]{authorization}, 'Bearer secret-1', 'sent with the notificationAuthToken');
is($got[-1]{json}{notificationType}, 'TEST_NOTIFICATION', 'of type TEST_NOTIFICATION');
is($got[-1]{json}{uId}, $uid, 'carrying the uId');
like($got[-1]{json}{notificationId}, qr/^[0-9a-f-]{36}$/, 'and a notificationId');

# --- assets, filters, paging -----------------------------------------------------
$r = $vpp->api('GET', '/assets', $tok);
is($r->{status}, 200, 'GET /assets');
is($r->{json}{currentPageIndex}, 0, 'currentPageIndex 0');
is($r->{json}{totalPages}, 3, '5 assets in pages of 2: 3 pages');
is($r->{json}{nextPageIndex}, 1, 'nextPageIndex');
is($r->{json}{size}, 5, 'size counts every match');
is(scalar @{ $r->{json}{assets} }, 2, 'two on the page');
like($r->{json}{versionId}, qr/\S/, 'versionId');
my @all = @{ $r->{json}{assets} };
for my $p (1, 2) {
    my $pg = $vpp->api('GET', "/assets?pageIndex=$p", $tok)->{json};
    push @all, @{ $pg->{assets} };
    ok(!exists $pg->{nextPageIndex}, 'no nextPageIndex on the last page') if $p == 2;
}
is(join(',', sort map { $_->{adamId} } @all), '1001,1002,1003,361309726,408709785',
   'the pages together hold every asset once');
$r = $vpp->api('GET', '/assets?pageIndex=3', $tok);
is_deeply([$r->{status}, $r->{json}{errorNumber}], [400, 9650], 'a page past the last: 9650');
my ($a1) = grep { $_->{adamId} eq '361309726' } @all;
is_deeply([@$a1{qw(totalCount assignedCount availableCount retiredCount pricingParam productType)}],
          [5, 0, 5, 0, 'STDQ', 'App'], 'asset counts');
ok($a1->{deviceAssignable} && $a1->{revocable}, 'deviceAssignable, revocable');
is_deeply($a1->{supportedPlatforms}, ['iOS', 'macOS'], 'supportedPlatforms');
my $ids = sub { join ',', sort map { $_->{adamId} } @{ $_[0]{json}{assets} } };
is($ids->($vpp->api('GET', '/assets?productType=Book', $tok)), '1001', 'productType filter');
is($ids->($vpp->api('GET', '/assets?deviceAssignable=false', $tok)), '408709785', 'deviceAssignable filter');
is($ids->($vpp->api('GET', '/assets?pricingParam=PLUS', $tok)), '1002', 'pricingParam filter');
is($ids->($vpp->api('GET', '/assets?adamId=1003', $tok)), '1003', 'adamId filter');
is($ids->($vpp->api('GET', '/assets?minAvailableCount=6', $tok)), '1003', 'minAvailableCount filter');
is($vpp->api('GET', '/assets?adamId=999', $tok)->{json}{totalPages}, 1, 'no match: one empty page');

# --- request-level errors -------------------------------------------------------
$r = $vpp->api('POST', '/assets', $tok, {});
is_deeply([$r->{status}, $r->{json}{errorNumber}], [405, 9726], 'POST to a GET endpoint: 405 9726');
$r = $vpp->api('GET', '/assets/associate', $tok);
is($r->{json}{errorNumber}, 9726, 'GET to a POST endpoint: 9726');
$r = $vpp->api('POST', '/assets/associate', $tok, '{}', 'Content-Type' => 'text/plain');
is_deeply([$r->{status}, $r->{json}{errorNumber}], [415, 9727], 'a non-JSON Content-Type: 415 9727');
$r = $vpp->api('POST', '/assets/associate', $tok, '{"assets":');
is_deeply([$r->{status}, $r->{json}{errorNumber}], [400, 9602], 'malformed JSON: 400 9602');
$r = $vpp->api('POST', '/assets/associate', $tok, '[1]');
is($r->{json}{errorNumber}, 9602, 'JSON that is not an object: 9602');
is($vpp->api('GET', '/nope', $tok)->{status}, 404, 'an unknown path: 404');

# --- the request log -----------------------------------------------------------
my @log = $vpp->api_requests('/client/config');
ok(scalar(grep { ($_->{authorization} // '') eq "Bearer $tok" } @log),
   'the request log records the Authorization sent');
ok(scalar(grep { $_->{method} eq 'POST' && $_->{body} =~ /mdm-1/ } @log),
   '... and the bodies');

done_testing;
