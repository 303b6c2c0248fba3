#!/usr/bin/perl
# component test: runs connect.lua and expire.lua directly on a real
# redis-server, with the state written the way enqueue.lua leaves it (end to
# end through nginx and mdm-worker: t/075-lifecycle.t, t/100-webhooks.t).
#
# Known answer: the mdm.CommandExpired event both scripts write is, byte for
# byte, t/golden/event-command-expired.msgpack, the file the C encoder
# (libmdm/t/test_event.c) is checked against. A round trip through a decoder
# would accept any key order and any integer width.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;

my $t = MDM::Test->new;
$t->redis_start;

my $golden = MDM::Test::slurp("$MDM::Test::ROOT/t/golden/event-command-expired.msgpack");
is(length $golden, 144, 'the golden event is 144 bytes');

# A script as tools/embed-lua.sh embeds it: "-- @include NAME" inlined.
sub script {
    my ($name) = @_;
    my $dir = "$MDM::Test::ROOT/libmdm/lua";
    my $src = MDM::Test::slurp("$dir/$name.lua");
    $src =~ s{^-- \@include ([a-z_]+)$}{MDM::Test::slurp("$dir/lib/$1.lua")}mge;
    return $src;
}

my $PARENT = 'GOLD-DEVICE-0001';
my $ID = "$PARENT:C0FFEE00-1111-2222-3333-444455556666";
my $UUID = 'CMD-GOLDEN';
my $NOW = 1700000000;

# A queued command whose TTL has passed, for a user channel.
sub world {
    $t->redis('FLUSHALL');
    $t->redis('HSET', "mdm:cmd:{$UUID}", body => 'x', type => 'ProfileList',
              created => $NOW - 10, expires => $NOW - 1);
    $t->redis('SADD', "mdm:cmd:{$UUID}:ids", $ID);
    $t->redis('ZADD', 'mdm:expiry', $NOW - 1, $UUID);
    $t->redis('RPUSH', "mdm:{$ID}:q", $UUID);
    $t->redis('HSET', "mdm:{$ID}:enr", created => $NOW - 100, enabled => 1,
              parent => $PARENT);
    $t->redis('HSET', "mdm:{$PARENT}:enr", created => $NOW - 100, enabled => 1);
}

sub events {
    return [ map { +{ @{ $_->[1] } }->{m} }
             @{ $t->redis('XRANGE', 'mdm:events', '-', '+') } ];
}

sub hex_of { join ' ', unpack '(H2)*', $_[0] // '' }

# --- expire.lua: the worker's sweep ------------------------------------------

world();
my $r = $t->redis('EVAL', script('expire'), 4,
                  'mdm:expiry', 'mdm:events', 'mdm:pending', 'mdm:notnow',
                  $NOW * 1000, 100, 3600, 1000);
is(ref $r eq 'ARRAY' ? $r->[0] : hex_of($r->{error}), 1, 'expire.lua expires the command');
my $ev = events();
is(scalar @$ev, 1, '... and writes one event');
is(hex_of($ev->[0]), hex_of($golden), 'expire.lua: the golden bytes');

# --- connect.lua: a device report meets the expired command first ----------

world();
$r = $t->redis('EVAL', script('connect'), 9,
               "mdm:{$ID}:enr", "mdm:{$PARENT}:enr", 'mdm:cert:none',
               "mdm:{$ID}:q", "mdm:{$ID}:nn", "mdm:{$ID}:enr", 'mdm:events',
               'mdm:pending', 'mdm:notnow',
               $ID, $PARENT, '', 'on', $NOW, 'Idle', '', '', '', 1000, 3600);
is_deeply($r, ['ok', ''], 'connect.lua: an Idle report gets nothing (the command expired)');
$ev = events();
is(scalar @$ev, 1, '... and writes one event');
is(hex_of($ev->[0]), hex_of($golden), 'connect.lua: the golden bytes');

done_testing();
