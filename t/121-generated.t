#!/usr/bin/perl
# The schema tables libmdm compiles in are generated from Apple's YAML and
# committed (docs/commands.md, docs/ddm.md, docs/profiles.md). Each
# generator's --check regenerates its table in memory and compares it with
# the committed file, so a table edited by hand, or a generator changed
# without regenerating, fails here.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);

my $schema = $ENV{MDM_APPLE_SCHEMA} // '../shared/apple-device-management';
ok(-d "$schema/declarative/declarations" && -d "$schema/mdm/commands"
   && -d "$schema/mdm/profiles",
    "Apple's YAML is at $schema (MDM_APPLE_SCHEMA)");

for my $gen (['tools/gen-command-schema.py', 'libmdm/mdm_command_schema.c'],
             ['tools/gen-ddm-schema.py', 'libmdm/ddm/mdm_ddm_schema.c'],
             ['tools/gen-profile-schema.py',
              'libmdm/profile/mdm_profile_schema.c'])
{
    my ($tool, $table) = @$gen;
    my $err = `python3 $tool $schema --check 2>&1`;
    is($?, 0, "$table is what $tool generates") or diag($err);
}

# the check compares for real: a changed table is reported stale
my $copy = tempdir(CLEANUP => 1) . "/mdm_ddm_schema.c";
system('cp', 'libmdm/ddm/mdm_ddm_schema.c', $copy) == 0 or die;
open my $fh, '>>', $copy or die;
print $fh "/* edited */\n";
close $fh;
my $err = `python3 tools/gen-ddm-schema.py $schema -o $copy --check 2>&1`;
isnt($?, 0, 'an edited table is reported stale');
like($err, qr/out of date/, 'with a message');

done_testing();
