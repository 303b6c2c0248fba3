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
use MDM::Keys;

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
    $t->redis('HSET', key_cmd($UUID), body => 'x', type => 'ProfileList',
              created => $NOW - 10, expires => $NOW - 1);
    $t->redis('SADD', key_cmd_ids($UUID), $ID);
    $t->redis('ZADD', key_expiry(), $NOW - 1, $UUID);
    $t->redis('RPUSH', key_q($ID), $UUID);
    $t->redis('HSET', key_enr($ID), created => $NOW - 100, enabled => 1,
              parent => $PARENT);
    $t->redis('HSET', key_enr($PARENT), created => $NOW - 100, enabled => 1);
}

sub events {
    return [ map { +{ @{ $_->[1] } }->{m} }
             @{ $t->redis('XRANGE', key_events(), '-', '+') } ];
}

sub hex_of { join ' ', unpack '(H2)*', $_[0] // '' }

# --- expire.lua: the worker's sweep ------------------------------------------

world();
my $r = $t->redis('EVAL', script('expire'), 4,
                  key_expiry(), key_events(), key_pending(), key_notnow(),
                  $NOW * 1000, 100, 3600, 1000);
is(ref $r eq 'ARRAY' ? $r->[0] : hex_of($r->{error}), 1, 'expire.lua expires the command');
my $ev = events();
is(scalar @$ev, 1, '... and writes one event');
is(hex_of($ev->[0]), hex_of($golden), 'expire.lua: the golden bytes');

# --- connect.lua: a device report meets the expired command first ----------

world();
# KEYS as mdm_store_connect_argv() lays them out (the queue is derived
# from the enrollment's queue generation inside the script)
$r = $t->redis('EVAL', script('connect'), 8,
               key_enr($ID), key_enr($PARENT), key_cert('none'),
               key_nn($ID), key_enr($ID), key_events(),
               key_pending(), key_notnow(),
               $ID, $PARENT, '', 'on', $NOW, 'Idle', '', '', '', 1000, 3600);
is_deeply($r, ['ok', ''], 'connect.lua: an Idle report gets nothing (the command expired)');
$ev = events();
is(scalar @$ev, 1, '... and writes one event');
is(hex_of($ev->[0]), hex_of($golden), 'connect.lua: the golden bytes');

done_testing();
