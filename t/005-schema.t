#!/usr/bin/perl
# One spelling of the Redis schema: the files made from libmdm/mdm_schema.c's
# key table (the Lua key helpers, t/lib/MDM/Keys.pm, the table of
# docs/redis-schema.md) are what the table makes today, and nothing else
# spells a key: no hand-built 'mdm:' in the scripts, no key text in the
# module, the worker or the tests.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Keys qw(:DEFAULT %SCHEMA);

my $build = $ENV{MDM_BUILD} // 'build';
my $bin = "$build/mdm-schema";
ok(-x $bin, "$bin is built") or BAIL_OUT('build first');

my $out = `tools/gen-schema.sh --check $bin 2>&1`;
is($?, 0, 'keys.lua, MDM/Keys.pm and docs/redis-schema.md are up to date')
    or diag $out;

# The C builder and the generated Perl agree on every key.
for my $name (sort keys %SCHEMA) {
    my $n = () = $SCHEMA{$name}{pattern} =~ /</g;
    my @args = map { "A$_" } 1 .. $n;
    my $c = `$bin --key $name @args`;
    chomp $c;
    no strict 'refs';
    is($c, &{"key_$name"}(@args), "key $name: C and Perl build the same key");
}
isnt(system("$bin --key enr 2>/dev/null"), 0, 'a missing argument is refused');
isnt(system("$bin --key nosuch x 2>/dev/null"), 0, 'an unknown key is refused');

# Every row says what slot it lives in, and tagged keys have exactly one tag.
for my $name (sort keys %SCHEMA) {
    my $s = $SCHEMA{$name};
    my $tags = () = $s->{pattern} =~ /\{/g;
    is($tags, $s->{tag} eq 'global' ? 0 : 1, "$name: $s->{tag} key with "
       . ($s->{tag} eq 'global' ? 'no hash tag' : 'one hash tag'));
}

# Nobody else spells a key.
sub offenders {
    my ($re, @files) = @_;
    my @hits;
    for my $f (@files) {
        open my $fh, '<', $f or die "$f: $!";
        while (my $l = <$fh>) {
            next if $l =~ /^\s*(--|#|\/?\*)/;     # comments
            push @hits, "$f:$.: $l" if $l =~ $re;
        }
    }
    return @hits;
}
my @lua = grep { !m{/lib/keys\.lua$} } glob('libmdm/lua/*.lua libmdm/lua/lib/*.lua');
is_deeply([ offenders(qr/'mdm:/, @lua) ], [], 'no hand-built key in the Lua scripts');
is_deeply([ offenders(qr/"mdm:[a-z{]/, glob('ngx_mdm_module/*.[ch] worker/*.[ch] tools/*/*.c')) ], [],
          'no key text in the module, the worker or the tools');
is_deeply([ offenders(qr/["']mdm:[a-z{]|mdm:\{/, grep { !/005-schema/ } glob('t/*.t t/lib/MDM/Test.pm bench/*.pl')) ],
          [], 'no key text in the Perl tests');

# the tests' shard is mdm_shard_of(): CRC16/XMODEM of the device channel
is(shard_of('123456789', 16384), 0x31c3, 'shard_of is CRC16/XMODEM (check value 0x31C3)');
is(shard_of('UDID-1:USER-2'), shard_of('UDID-1'), 'a user channel is in its device\'s shard');
ok(shard_of('UDID-1') < $MDM::Keys::SHARDS, 'a shard is below the shard count');

done_testing;
