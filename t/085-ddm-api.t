#!/usr/bin/perl
# Declarative management's catalogue through KMFDDM's API (services.md
# §1.10, docs/ddm.md): declarations validated and stored once, sets,
# enrollment sets, 204/304, the views materialised into each enrollment's
# keys (items and DeclarationsToken), one coalesced DeclarativeManagement
# command per device, and bad requests refused with nothing stored.
# Has component sections (t/README.md): the 700-enrollment fan-out.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP;
use Digest::SHA qw(sha1_hex);
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
        client_max_body_size 4m;
        client_body_buffer_size 4m;
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_server; }
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
    my ($method, $path, $body) = @_;
    my $r = $t->request($method, $port, $path, $body, headers => \%KD);
    $r->{json} = eval { decode_json($r->{body}) };
    return $r;
}

sub decl {
    my ($type, $id, $payload) = @_;
    return $json->encode({ Type => $type, Identifier => $id, Payload => $payload });
}

# the DeclarationsToken as docs/ddm.md defines it
sub declarations_token {
    my (%items) = @_;
    return sha1_hex(join '', map { "$_\n$items{$_}\n" } sort keys %items);
}

sub queue_of {
    my ($id) = @_;
    return @{ $t->redis('LRANGE', key_q($id), 0, -1) // [] };
}

my $A = 'AAAA-DDM-0001';
my $B = 'BBBB-DDM-0002';
device($A);
device($B);

# --- declarations ---------------------------------------------------------

my $pass = decl('com.apple.configuration.passcode.settings', 'cfg-pass',
                { RequirePasscode => JSON::PP::true, MinimumLength => 6 });
my $r = api('PUT', '/v1/declarations', $pass);
is($r->{status}, 204, 'a new declaration: 204');
$r = api('PUT', '/v1/declarations', $pass);
is($r->{status}, 304, 'the same declaration again: 304');
$r = api('PUT', '/v1/declarations',
    '{ "Payload": {"MinimumLength": 6, "RequirePasscode": true}, '
    . '"Identifier": "cfg-pass", "ServerToken": "mine", '
    . '"Type": "com.apple.configuration.passcode.settings" }');
is($r->{status}, 304, 'other key order, spacing and a client ServerToken: 304');

$r = api('GET', '/v1/declarations/cfg-pass');
is($r->{status}, 200, 'GET a declaration');
like($r->{headers}{'content-type'} // '', qr{^application/json}, 'as JSON');
my $tok1 = $r->{json}{ServerToken};
like($tok1 // '', qr/^[0-9a-f]{32}$/, 'with the server\'s ServerToken');
my $doc1 = $r->{body};
is(api('GET', '/v1/declarations/cfg-pass')->{body}, $doc1,
   'byte-identical on every GET');

my $act = decl('com.apple.activation.simple', 'act-1',
               { StandardConfigurations => ['cfg-pass'] });
is(api('PUT', '/v1/declarations', $act)->{status}, 204, 'an activation: 204');
is_deeply(api('GET', '/v1/declarations')->{json}, ['act-1', 'cfg-pass'],
          'GET /v1/declarations lists both, sorted');
is(api('GET', '/v1/declarations/nope')->{status}, 404,
   'an unknown declaration: 404');

# --- bad declarations: 4xx, a log line, nothing stored --------------------

my @bad = (
    [ 'malformed JSON', '{"Type": "com.apple.configuration.passcode.settings",', 400, 'json' ],
    [ 'not an object', '[1,2]', 400, undef ],
    [ 'unknown Type', decl('com.apple.configuration.nothing.such', 'x', {}), 400, 'unknown-type' ],
    [ 'a Type outside com.apple', decl('com.example.thing', 'x', {}), 400, undef ],
    [ 'a wrong key type', decl('com.apple.configuration.passcode.settings', 'x',
                               { MinimumLength => 'six' }), 400, 'type' ],
    [ 'a value out of range', decl('com.apple.configuration.passcode.settings', 'x',
                                   { MinimumLength => 99 }), 400, 'range' ],
    [ 'an unknown payload key', decl('com.apple.configuration.passcode.settings', 'x',
                                     { Colour => 'red' }), 400, 'unknown-key' ],
    [ 'an Identifier of 65 bytes', decl('com.apple.configuration.passcode.settings',
                                        'i' x 65, {}), 400, 'length' ],
    [ 'no Payload', '{"Type":"com.apple.configuration.passcode.settings","Identifier":"x"}', 400, 'required' ],
    [ 'a body over 1 MiB', decl('com.apple.management.properties', 'big',
                                { blob => 'x' x (1024 * 1024 + 10) }), 413, 'size' ],
);
my $before = $t->redis_snapshot;
for my $b (@bad) {
    my ($what, $body, $status, $rule) = @$b;
    my $log = length $t->error_log;
    $r = api('PUT', '/v1/declarations', $body);
    is($r->{status}, $status, "$what: $status");
    ok(defined $r->{json} && $r->{json}{error}, "$what: a JSON error")
        or diag $r->{body};
    is($r->{json}{rule}, $rule, "$what: rule $rule") if defined $rule;
    like(substr($t->error_log, $log), qr/mdm api: declaration refused: /,
         "$what: one log line");
}
is($t->redis_snapshot, $before, 'refused declarations stored nothing');

# dry run: validated and answered, nothing stored
$r = api('PUT', '/v1/declarations?dryrun=1',
         decl('com.apple.configuration.passcode.settings', 'cfg-dry', { MinimumLength => 4 }));
is($r->{status}, 200, 'a dry run of a valid declaration: 200');
ok($r->{json}{valid}, 'valid');
like($r->{json}{ServerToken} // '', qr/^[0-9a-f]{32}$/, 'with the ServerToken it would get');
is(api('PUT', '/v1/declarations?dryrun=1',
       decl('com.apple.configuration.passcode.settings', 'cfg-dry', { MinimumLength => 99 }))
   ->{json}{rule}, 'range', 'a dry run of an invalid one: the rule');
is(api('PUT', '/v1/set-declarations/base?declaration=cfg-pass&dryrun=1')->{status}, 400,
   'dryrun only on PUT /v1/declarations');
is($t->redis_snapshot, $before, 'dry runs stored nothing');

# --- sets -----------------------------------------------------------------

$before = $t->redis_snapshot;
$r = api('PUT', '/v1/set-declarations/base?declaration=nope');
is($r->{status}, 404, 'an unknown declaration into a set: 404');
is($r->{json}{error}, 'unknown declaration', 'says why');
is(api('PUT', '/v1/set-declarations/b%01ad?declaration=cfg-pass')->{status}, 400,
   'a set name with a control character: 400');
is(api('PUT', '/v1/set-declarations/base')->{status}, 400,
   'no declaration parameter: 400');
is(api('PUT', '/v1/set-declarations/base?declaration=cfg-pass&bogus=1')->{status},
   400, 'an unknown query parameter: 400');
is(api('PUT', '/v1/enrollment-sets/NOT-ENROLLED?set=base')->{status}, 404,
   'an unknown enrollment: 404');
is(api('PUT', "/v1/enrollment-sets/$A?set=nothing")->{status}, 404,
   'an unknown set: 404');
is($t->redis_snapshot, $before, 'refused set requests stored nothing');

is(api('PUT', '/v1/set-declarations/base?declaration=cfg-pass')->{status}, 204,
   'a declaration into a set: 204');
is(api('PUT', '/v1/set-declarations/base?declaration=cfg-pass')->{status}, 304,
   'again: 304');
is(api('PUT', '/v1/set-declarations/base?declaration=act-1')->{status}, 204,
   'a second declaration: 204');
is_deeply(api('GET', '/v1/sets')->{json}, ['base'], 'GET /v1/sets');
is_deeply(api('GET', '/v1/set-declarations/base')->{json}, ['act-1', 'cfg-pass'],
          'GET /v1/set-declarations/base');
is_deeply(api('GET', '/v1/declaration-sets/cfg-pass')->{json}, ['base'],
          'GET /v1/declaration-sets/cfg-pass');
is_deeply(api('GET', '/v1/set-declarations/empty')->{json}, [],
          'an unknown set has no declarations');

# --- enrollment sets and the views ---------------------------------------

is(api('PUT', "/v1/enrollment-sets/$A?set=base")->{status}, 204,
   'a set assigned to an enrollment: 204');
is(api('PUT', "/v1/enrollment-sets/$A?set=base")->{status}, 304, 'again: 304');
is_deeply(api('GET', "/v1/enrollment-sets/$A")->{json}, ['base'],
          'GET /v1/enrollment-sets/<id>');

my $act_tok = api('GET', '/v1/declarations/act-1')->{json}{ServerToken};
my %items = @{ $t->redis('HGETALL', key_ddm_items($A)) };
is_deeply(\%items, { 'cfg-pass' => "configuration $tok1",
                     'act-1' => "activation $act_tok" },
          'the enrollment\'s view holds its declarations, kind and token');
my $dtoken = declarations_token('cfg-pass' => $tok1, 'act-1' => $act_tok);
is($t->redis('HGET', key_ddm($A), 'token'), $dtoken,
   'the DeclarationsToken over the sorted items');
is(scalar(@{ $t->redis('HGETALL', key_ddm_items($B)) }), 0,
   'the other enrollment has none');

my @q = queue_of($A);
is(scalar @q, 1, 'one command queued for the enrollment');
is($t->redis('HGET', key_cmd($q[0] // ''), 'type'), 'DeclarativeManagement',
   'a DeclarativeManagement command');
ok($t->redis('HGET', key_ddm($A), 'notify'), 'marked pending');

# a changed declaration reaches the view; the pending command coalesces
my $pass2 = decl('com.apple.configuration.passcode.settings', 'cfg-pass',
                 { RequirePasscode => JSON::PP::true, MinimumLength => 8 });
is(api('PUT', '/v1/declarations', $pass2)->{status}, 204, 'an edit: 204');
my $tok2 = api('GET', '/v1/declarations/cfg-pass')->{json}{ServerToken};
isnt($tok2, $tok1, 'a new ServerToken');
is($t->redis('HGET', key_ddm_items($A), 'cfg-pass'), "configuration $tok2",
   'the view follows the edit');
is($t->redis('HGET', key_ddm($A), 'token'),
   declarations_token('cfg-pass' => $tok2, 'act-1' => $act_tok),
   'and its DeclarationsToken');
is(scalar(queue_of($A)), 1, 'no second command while one is pending');

# a second enrollment
is(api('PUT', "/v1/enrollment-sets/$B?set=base&nonotify=1")->{status}, 204,
   'assigned with nonotify: 204');
is(scalar(queue_of($B)), 0, 'nonotify: no command');
is($t->redis('HGET', key_ddm($B), 'token'), $t->redis('HGET', key_ddm($A), 'token'),
   'same declarations, same DeclarationsToken');

# --- touch and notify ------------------------------------------------------

ok(!$t->redis('HEXISTS', key_ddm($B), 'notify'), 'nonotify: not marked pending either');
is(api('POST', '/v1/declarations/act-1/touch')->{status}, 204, 'touch: 204');
is(scalar(queue_of($B)), 1, 'the next change notifies the enrollment assigned with nonotify');
my $act_tok2 = api('GET', '/v1/declarations/act-1')->{json}{ServerToken};
isnt($act_tok2, $act_tok, 'touch gives a new ServerToken');
is($t->redis('HGET', key_ddm_items($A), 'act-1'), "activation $act_tok2",
   'the views follow a touch');
is(api('PUT', '/v1/declarations', $act)->{status}, 204,
   'the untouched content again is a change (back to touch 0)');
is(api('GET', '/v1/declarations/act-1')->{json}{ServerToken}, $act_tok,
   'with the original ServerToken');
is(api('POST', '/v1/declarations/nope/touch')->{status}, 404, 'touch of an unknown declaration: 404');

my $qa = scalar(queue_of($A));
my $qb = scalar(queue_of($B));
is(api('POST', "/v1/notify?set=base&id=$A")->{status}, 204, 'notify: 204');
is(scalar(queue_of($A)), $qa + 1, 'an explicit notify reaches A once (set and id)');
is(scalar(queue_of($B)), $qb + 1, 'and B through the set');
is(api('POST', '/v1/notify?declaration=cfg-pass&declaration=act-1')->{status}, 204,
   'notify by repeated declarations: 204');
is(scalar(queue_of($B)), $qb + 2, 'B once more');
is(api('POST', '/v1/notify')->{status}, 400, 'notify naming nothing: 400');
is(api('POST', '/v1/notify?colour=red')->{status}, 400, 'an unknown parameter: 400');
my $push = $t->redis('XRANGE', key_push(), '-', '+');
ok((grep { grep { $_ eq $A } @{ $_->[1] } } @$push), 'the commands were pushed');

# --- removal ---------------------------------------------------------------

$r = api('DELETE', '/v1/declarations/cfg-pass');
is($r->{status}, 409, 'a declaration in a set is not deleted');
is(api('GET', '/v1/declarations/cfg-pass')->{status}, 200, 'it is still there');

is(api('DELETE', '/v1/set-declarations/base?declaration=cfg-pass')->{status}, 204,
   'out of the set: 204');
is(api('DELETE', '/v1/set-declarations/base?declaration=cfg-pass')->{status}, 304,
   'again: 304');
is_deeply([sort keys %{{ @{ $t->redis('HGETALL', key_ddm_items($A)) } }}],
          ['act-1'], 'the view loses it');
is_deeply([sort keys %{{ @{ $t->redis('HGETALL', key_ddm_items($B)) } }}],
          ['act-1'], 'so does the other enrollment\'s');
is(api('DELETE', '/v1/declarations/cfg-pass')->{status}, 204, 'then deleted: 204');
is(api('DELETE', '/v1/declarations/cfg-pass')->{status}, 304, 'again: 304');
is_deeply(api('GET', '/v1/declarations')->{json}, ['act-1'], 'gone from the list');

is(api('DELETE', "/v1/enrollment-sets/$A?set=base")->{status}, 204,
   'a set unassigned: 204');
is(api('DELETE', "/v1/enrollment-sets/$A?set=base")->{status}, 304, 'again: 304');
is(scalar(@{ $t->redis('HGETALL', key_ddm_items($A)) }), 0, 'the view is empty');
is($t->redis('HGET', key_ddm($A), 'token'), sha1_hex(''),
   'the DeclarationsToken of no declarations');

is(api('DELETE', "/v1/enrollment-sets-all/sets/$B")->{status}, 204,
   'enrollment-sets-all/sets/<id>: 204');
is(api('DELETE', "/v1/enrollment-sets-all/$B")->{status}, 304,
   'enrollment-sets-all/<id> (the docs\' spelling): 304');
is_deeply(api('GET', "/v1/enrollment-sets/$B")->{json}, [], 'no sets left');
is_deeply($t->redis('SMEMBERS', key_ddm_set_enrs('base')), [],
          'the set lists no enrollment');

# --- a fan-out over several windows (component section) ---------------------
# 700 enrollments assigned a set, written straight into Redis as
# ddm_set.lua and ddm_enr.lua store an assignment (700 enrollments through
# the check-in path would only make the test slow); one PUT then rewrites
# all their views, 256 calls at a time, and gives each one command.

my @many = map { sprintf 'FAN-%04d', $_ } 1 .. 700;
for my $id (@many) {
    $t->redis('HSET', key_enr($id), 'type', 'Device', 'enabled', '1',
              'topic', $topic, 'token', 'ab' x 32, 'push_magic', "m-$id");
    $t->redis('SADD', key_ddm_set_enrs('fan'), $id);
    $t->redis('SADD', key_ddm_esets($id), 'fan');
}
my $fan = decl('com.apple.management.properties', 'fan-props', { n => 1 });
is(api('PUT', '/v1/declarations', $fan)->{status}, 204, 'a declaration for the fan-out');
is(api('PUT', '/v1/set-declarations/fan?declaration=fan-props')->{status}, 204,
   'into the set of 700');
my $fan_tok = api('GET', '/v1/declarations/fan-props')->{json}{ServerToken};
my $want = declarations_token('fan-props' => $fan_tok);
is(scalar(grep { ($t->redis('HGET', key_ddm($_), 'token') // '') eq $want } @many),
   700, 'every view of the 700 holds it');
is(scalar(grep { scalar(queue_of($_)) == 1 } @many), 700, 'each got one command');
is(api('PUT', '/v1/declarations',
       decl('com.apple.management.properties', 'fan-props', { n => 2 }))->{status},
   204, 'an edit');
$fan_tok = api('GET', '/v1/declarations/fan-props')->{json}{ServerToken};
$want = declarations_token('fan-props' => $fan_tok);
is(scalar(grep { ($t->redis('HGET', key_ddm($_), 'token') // '') eq $want } @many),
   700, 'every view follows the edit');
is(scalar(grep { scalar(queue_of($_)) == 1 } @many), 700,
   'and no second command while the first is pending');

# --- authentication --------------------------------------------------------

$r = $t->request('GET', $port, '/v1/declarations', '',
    headers => { MDM::Test::api_auth('sekret') });
is($r->{status}, 401, 'KMFDDM routes want the user kmfddm');

is_deeply([$t->error_log_problems], [], 'no alerts in the logs');

done_testing;
