#!/usr/bin/perl
# tools/vpp-mock's notifications (services.md 7.3) and content metadata
# service (7.5): ASSET_MANAGEMENT / USER_MANAGEMENT / USER_ASSOCIATED POSTed
# with the notificationAuthToken, at most 100 elements each, retried up to 3
# times, dropped or duplicated on request; the catalog's apps, books, genres
# (one and many) and relationships behind an ES256 developer token, the itvt
# cookie for owned apps, and its JSON:API errors.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MIME::Base64 qw(encode_base64);
use MDM::Test;
use MDM::VppMock;

my $why = MDM::VppMock->unavailable;
plan skip_all => $why if $why;

my $t = MDM::Test->new;
my $pki = $t->pki;
my $vpp = MDM::VppMock->start($t, notify_ca => $pki->{ca}, event_delay => 0.1,
                              notify_retry_delay => 0.1);
$vpp->control('POST', 'config', { limits => { maxRequestPerSecond => 10000 } });
my $recv = MDM::VppMock->receiver($t);
my $tok = $vpp->add_location(assets => [{ adamId => '100', totalCount => 140 }]);
my $A = [{ adamId => '100', pricingParam => 'STDQ' }];
my $r = $vpp->api('POST', '/client/config', $tok,
    { notificationUrl => $recv->{url}, notificationAuthToken => 'nsecret',
      notificationTypes => ['ASSET_MANAGEMENT', 'USER_MANAGEMENT', 'USER_ASSOCIATED'] });
is($r->{status}, 200, 'client config with a notification URL');

my $of = sub {
    my ($type, $event) = @_;
    grep { $_->{json}{notificationType} eq $type
           && (!$event || ($_->{json}{notification}{eventId} // '') eq $event) }
        MDM::VppMock->received($recv);
};
my $wait = sub {
    my ($n, $type, $event) = @_;
    $t->wait_for(sub { $of->($type, $event) >= $n }, 10);
    return $of->($type, $event);
};

# --- ASSET_MANAGEMENT, split at 100 elements -----------------------------------
$r = $vpp->api('POST', '/assets/associate', $tok,
               { assets => $A, serialNumbers => [map { sprintf 'S%03d', $_ } 1 .. 150] });
my $ev = $r->{json}{eventId};
my @n = $wait->(3, 'ASSET_MANAGEMENT', $ev);
is(scalar @n, 3, '150 assignments, 10 without a licence: three notifications');
is(scalar(grep { $_->{authorization} eq 'Bearer nsecret' } @n), 3, 'each with Bearer notificationAuthToken');
my @ok = grep { $_->{json}{notification}{result} eq 'SUCCESS' } @n;
my ($fail) = grep { $_->{json}{notification}{result} eq 'FAILURE' } @n;
is_deeply([sort map { scalar @{ $_->{json}{notification}{assignments} } } @ok], [100, 40],
          'the 140 successes in envelopes of at most 100');
is($fail->{json}{notification}{error}{errorNumber}, 9709, 'the failure carries error 9709');
is(scalar @{ $fail->{json}{notification}{assignments} }, 10, '... and names the 10 serials');
is($fail->{json}{notification}{type}, 'ASSOCIATE', 'type ASSOCIATE');
is_deeply([sort keys %{ $ok[0]{json}{notification}{assignments}[0] }], [qw(adamId pricingParam serialNumber)],
          'an assignment names adamId, pricingParam, serialNumber');
my %ids = map { $_->{json}{notificationId} => 1 } @n;
is(scalar keys %ids, 3, 'each notification has its own notificationId');
ok($n[0]{json}{uId}, 'the envelope carries uId');

# --- retries, drops, duplicates -------------------------------------------------
MDM::Test::spew($recv->{status_file}, 503);
$r = $vpp->api('POST', '/assets/disassociate', $tok, { assets => $A, serialNumbers => ['S001'] });
$ev = $r->{json}{eventId};
@n = $wait->(3, 'ASSET_MANAGEMENT', $ev);
is(scalar @n, 3, 'a receiver answering 503 gets three attempts');
is(scalar(keys %{{ map { $_->{json}{notificationId} => 1 } @n }}), 1, '... of the same notification');
ok($t->wait_for(sub { my ($q) = $vpp->control('GET', 'notifications');
                      (grep { ($_->{notificationId} // '') eq $n[0]{json}{notificationId}
                              && ($_->{attempt} // 0) == 3 } @{ $q->{attempts} }) }),
   'the mock records the third attempt');
unlink $recv->{status_file};

$vpp->control('POST', 'notifications', { drop => 1 });
$r = $vpp->api('POST', '/assets/disassociate', $tok, { assets => $A, serialNumbers => ['S002'] });
my $dropped = $r->{json}{eventId};
is($vpp->wait_event($tok, $dropped)->{eventStatus}, 'COMPLETE', 'a dropped notification: the event still completes');
$vpp->control('POST', 'notifications', { duplicate => 1 });
$r = $vpp->api('POST', '/assets/disassociate', $tok, { assets => $A, serialNumbers => ['S003'] });
$ev = $r->{json}{eventId};
@n = $wait->(2, 'ASSET_MANAGEMENT', $ev);
is(scalar @n, 2, 'a duplicated notification arrives twice');
is($n[0]{json}{notificationId}, $n[1]{json}{notificationId}, '... with one notificationId');
is(scalar $of->('ASSET_MANAGEMENT', $dropped), 0, 'the dropped one never arrived (checked after the later one)');
ok((grep { $_->{dropped} } $vpp->notifications), 'the mock records the drop');

# --- users --------------------------------------------------------------------------
$r = $vpp->api('POST', '/users/create', $tok, { users => [{ clientUserId => 'u1', email => 'u1@example.com' }] });
@n = $wait->(1, 'USER_MANAGEMENT', $r->{json}{eventId});
is($n[0]{json}{notification}{type}, 'CREATE', 'USER_MANAGEMENT for users/create');
is($n[0]{json}{notification}{users}[0]{status}, 'Registered', '... with the user');
ok($n[0]{json}{notification}{users}[0]{inviteCode}, '... and the inviteCode');
$vpp->control('POST', 'users/associated', { sToken => $tok, clientUserId => 'u1' });
@n = $wait->(1, 'USER_ASSOCIATED');
is($n[0]{json}{notification}{associatedUsers}[0]{status}, 'Associated', 'USER_ASSOCIATED when the person accepts');
ok($n[0]{json}{notification}{associatedUsers}[0]{idHash}, '... with idHash');

# --- the catalog -------------------------------------------------------------------
my $d = $t->dir;
$t->openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', "$d/dev.key");
$t->openssl('ec', '-in', "$d/dev.key", '-pubout', '-out', "$d/dev.pub");
$t->openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', "$d/other.key");
$vpp->control('POST', 'developer-key', { kid => 'ABC123DEFG', iss => 'TEAM123456',
                                         publicKey => MDM::Test::slurp("$d/dev.pub") });
my $b64u = sub { my $s = encode_base64($_[0], ''); $s =~ tr{+/}{-_}; $s =~ s/=+$//; $s };
my $J = MDM::VppMock->json;
sub der_to_raw {
    my ($der) = @_;
    my @v;
    my $p = 2;
    $p++ if ord(substr($der, 1, 1)) & 0x80;
    for (1, 2) {
        my $len = ord substr($der, $p + 1, 1);
        my $int = substr($der, $p + 2, $len);
        $int =~ s/^\x00+//;
        push @v, ("\x00" x (32 - length $int)) . $int;
        $p += 2 + $len;
    }
    return join '', @v;
}
my $jwt = sub {
    my (%o) = @_;
    my $now = time;
    my $h = $b64u->($J->encode({ alg => 'ES256', kid => $o{kid} // 'ABC123DEFG' }));
    my $c = $b64u->($J->encode({ iss => $o{iss} // 'TEAM123456', iat => $o{iat} // $now,
                                 exp => $o{exp} // $now + 3600 }));
    MDM::Test::spew("$d/jwt.in", "$h.$c");
    $t->openssl('dgst', '-sha256', '-sign', $o{key} // "$d/dev.key", '-out', "$d/jwt.sig", "$d/jwt.in");
    return "$h.$c." . $b64u->(der_to_raw(MDM::Test::slurp("$d/jwt.sig")));
};
$vpp->control('POST', 'catalog', { sToken => $tok, owned => ['100'],
    apps => [{ id => '100', attributes => { name => 'Pages', deviceFamilies => ['iphone', 'ipad'],
               platformAttributes => { ios => { bundleId => 'com.apple.Pages',
                   latestVersionInfo => { versionDisplay => '13.1' } } } }, genres => ['6000', '6007'] }],
    books => [{ id => '900', attributes => { name => 'A Book', genreNames => ['Fiction'] }, genres => ['38'] }],
    genres => [{ id => '6000', attributes => { name => 'Business' } },
               { id => '6007', attributes => { name => 'Productivity', parentId => '36' } },
               { id => '38', attributes => { name => 'Books' } }] });
my $good = $jwt->();
my $cat = sub {
    my ($path, $token, %h) = @_;
    return $vpp->raw('GET', "/v1/catalog/us/$path", undef,
                     (defined $token ? (Authorization => "Bearer $token") : ()), %h);
};
$r = $cat->('apps?ids=100,555&platform=iphone', $good);
is($r->{status}, 200, 'apps?ids with a valid developer token');
is(scalar @{ $r->{json}{data} }, 1, 'only the ids that exist');
my $app = $r->{json}{data}[0];
is_deeply([$app->{id}, $app->{type}, $app->{href}], ['100', 'apps', '/v1/catalog/us/apps/100'], 'a JSON:API resource');
is($app->{attributes}{platformAttributes}{ios}{bundleId}, 'com.apple.Pages', 'with its attributes');
is_deeply([map { $_->{id} } @{ $app->{relationships}{genres}{data} }], ['6000', '6007'], 'and its genres relationship');
is($cat->('apps/100?platform=iphone', $good)->{json}{data}[0]{id}, '100', 'apps/{id}');
$r = $cat->('apps/100/genres?platform=iphone', $good);
is_deeply([map { "$_->{type}:$_->{attributes}{name}" } @{ $r->{json}{data} }],
          ['genres:Business', 'genres:Productivity'], "an app's genres relationship (RelationshipResponse)");
$r = $cat->('books/900/genres', $good);
is_deeply([map { $_->{id} } @{ $r->{json}{data} }], ['38'], "a book's genres relationship");
is($cat->('books?ids=900', $good)->{json}{data}[0]{attributes}{name}, 'A Book', 'books?ids');
$r = $cat->('genres/6007', $good);
is($r->{json}{data}[0]{attributes}{name}, 'Productivity', 'Get a Genre');
$r = $cat->('genres?ids=6000,38', $good);
is(join(',', map { $_->{id} } @{ $r->{json}{data} }), '6000,38', 'Get Multiple Genres');
$r = $cat->('genres/1', $good);
is($r->{status}, 404, 'an unknown genre: 404');
is($r->{json}{errors}[0]{status}, '404', '... ErrorsResponse');
is($cat->('apps/100/reviews?platform=iphone', $good)->{status}, 404, 'an unknown relationship: 404');
$r = $cat->('apps?platform=iphone', $good);
is_deeply([$r->{status}, $r->{json}{errors}[0]{code}], [403, '40300'], 'no ids: 403 as Apple answers it');
is($cat->('apps?ids=100', $good)->{status}, 400, 'apps without platform: 400');
$r = $cat->('stoken-authenticated-apps?platform=iphone', $good, Cookie => "itvt=$tok");
is_deeply([map { $_->{id} } @{ $r->{json}{data} }], ['100'], 'stoken-authenticated-apps with the itvt cookie');
is($cat->('stoken-authenticated-apps?platform=iphone', $good)->{status}, 403, '... without it: 403');

my %bad = (
    'no token' => undef,
    'a token signed by another key' => $jwt->(key => "$d/other.key"),
    'an unknown kid' => $jwt->(kid => 'ZZZZZZZZZZ'),
    'another team' => $jwt->(iss => 'OTHERTEAM1'),
    'an expired token' => $jwt->(iat => time - 7200, exp => time - 60),
    'a lifetime over 15777000 s' => $jwt->(exp => time + 15777000 + 100),
    'garbage' => 'a.b.c',
);
for my $k (sort keys %bad) {
    $r = $cat->('genres/6000', $bad{$k});
    is($r->{status}, 401, "developer token: $k -> 401");
}
$vpp->control('POST', 'faults', { faults => [{ status => 429, retryAfter => 3, count => 1 }] });
$r = $cat->('genres/6000', $good);
is_deeply([$r->{status}, $r->{headers}{'retry-after'}], [429, 3], 'the catalog rate-limits with 429');
is($cat->('genres/6000', $good)->{status}, 200, 'then answers again');

done_testing;
