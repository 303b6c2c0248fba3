#!/usr/bin/perl
# DDM asset data with MDM authentication (docs/ddm.md, "Assets"): uploaded
# through PUT /v1/ddm/assets/<id>, fetched by a device with its TLS client
# certificate from an mdm_ddm_assets location, only when its view holds the
# asset declaration; other devices, unknown certificates and unassigned
# assets are refused with a log line.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use MDM::Test;
use MDM::Keys;

*plist = \&MDM::Plist::plist;
*data = \&MDM::Plist::data;

my $t = MDM::Test->new;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $port = $t->port('https');

$t->nginx_start(<<"EOF", port => $port);
    mdm_redis 127.0.0.1:$redis;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        ssl_verify_client optional_no_ca;
        client_max_body_size 4m;
        client_body_buffer_size 4m;
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_server; }
        location /assets/ { mdm_ddm_assets; }
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF

my %KD = (Authorization => 'Basic ' . encode_base64('kmfddm:sekret', ''));
my $topic = 'com.apple.mgmt.External.ddm';
my $json = JSON::PP->new->canonical;

sub device {
    my ($udid) = @_;
    my $id = $t->identity($udid);
    for my $msg (plist(MessageType => 'Authenticate', UDID => $udid, Topic => $topic),
                 plist(MessageType => 'TokenUpdate', UDID => $udid, Topic => $topic,
                       Token => data(pack('H*', 'ab' x 32)), PushMagic => "magic-$udid")) {
        my $r = $t->request('PUT', $port, '/mdm', $msg, sign => $id,
            headers => { 'Content-Type' => 'application/x-apple-aspen-mdm-checkin' });
        die "enrollment of $udid failed: $r->{status}" unless $r->{status} == 200;
    }
    return $id;
}

sub api {
    my ($method, $path, $body, %h) = @_;
    return $t->request($method, $port, $path, $body, headers => { %KD, %h });
}

my $A = 'AAAA-ASSET-0001';
my $B = 'BBBB-ASSET-0002';
my $ida = device($A);
my $idb = device($B);

my $bytes = join '', map { chr } 0 .. 255;
is(api('PUT', '/v1/ddm/assets/asset-data', $bytes,
       'Content-Type' => 'application/pkcs12')->{status}, 204, 'asset data uploaded');
my $r = api('GET', '/v1/ddm/assets/asset-data');
is($r->{status}, 200, 'and read back through the API');
is($r->{body}, $bytes, 'byte for byte');
is(api('PUT', '/v1/ddm/assets/asset-data', '')->{status}, 400, 'an empty upload: 400');
is(api('GET', '/v1/ddm/assets/' . ('x' x 65))->{status}, 400, 'an Identifier of 65 bytes: 400');

my $asset = $json->encode({ Type => 'com.apple.asset.data', Identifier => 'asset-data',
    Payload => { Reference => { DataURL => "https://localhost:$port/assets/asset-data",
                                ContentType => 'application/pkcs12' },
                 Authentication => { Type => 'MDM' } } });
$r = api('PUT', '/v1/declarations', $asset);
is($r->{status}, 204, 'the asset declaration') or diag $r->{body};
is(api('PUT', '/v1/set-declarations/certs?declaration=asset-data')->{status}, 204,
   'into a set');
is(api('PUT', "/v1/enrollment-sets/$A?set=certs")->{status}, 204, 'assigned to A');

$r = $t->request('GET', $port, '/assets/asset-data', '', identity => $ida);
is($r->{status}, 200, 'the device fetches the data with its TLS identity');
is($r->{body}, $bytes, 'byte for byte');
is($r->{headers}{'content-type'}, 'application/pkcs12', 'with its Content-Type');

my $log = length $t->error_log;
$r = $t->request('GET', $port, '/assets/asset-data', '', identity => $idb);
is($r->{status}, 404, 'another enrollment, not assigned the asset: 404');
like(substr($t->error_log, $log), qr/"$B" asked for asset "asset-data", which is not assigned/,
     'logged');
is($t->request('GET', $port, '/assets/asset-data', '')->{status}, 403,
   'no identity: 403');
my $stranger = $t->identity('NEVER-ENROLLED');
is($t->request('GET', $port, '/assets/asset-data', '', identity => $stranger)->{status}, 403,
   'a certificate bound to no enrollment: 403');
is($t->request('GET', $port, '/assets/cfg-x', '', identity => $ida)->{status}, 404,
   'an asset A is not assigned: 404');
is($t->request('PUT', $port, '/assets/asset-data', 'x', identity => $ida)->{status}, 405,
   'only GET');

is(api('DELETE', '/v1/ddm/assets/asset-data')->{status}, 204, 'the data deleted');
is(api('DELETE', '/v1/ddm/assets/asset-data')->{status}, 304, 'again: 304');
is($t->request('GET', $port, '/assets/asset-data', '', identity => $ida)->{status}, 404,
   'assigned, but no data: 404');

is_deeply([$t->error_log_problems], [], 'no alerts in the logs');

done_testing;
