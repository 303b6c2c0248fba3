#!/usr/bin/perl
# The harnesses themselves: MDM_FIXTURES means one directory (the one holding
# devices/ and ddm/) to the Perl harness and to the C unit tests alike;
# MDM_TEST_TIMEOUT_SCALE stretches every wait; a sanitizer report in any log
# fails the test file at its end even when no test looked for it.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Copy qw(copy);
use File::Path qw(make_path);
use Time::HiRes qw(time);
use MDM::Test;

my $t = MDM::Test->new;
my $dir = $t->dir;
my $root = $MDM::Test::ROOT;
my $unit = "$MDM::Test::BUILD/unit/report.t";

# --- one meaning of MDM_FIXTURES ---------------------------------------------

is($MDM::Test::FIXTURES, $ENV{MDM_FIXTURES} // "$root/t/fixtures",
   'unset, MDM_FIXTURES is the repository\'s t/fixtures');
ok(-f "$root/t/fixtures/devices/$_", "t/fixtures/devices/$_ is in the repository")
    for qw(ios-authenticate.plist ios-tokenupdate.plist report-error.plist);
like(MDM::Test::slurp("$root/t/fixtures/SOURCE.md"), qr/micromdm\/nanomdm/,
     '... with its origin noted');

# A copy with one fixture changed: both harnesses must read the copy.
my $copy = "$dir/fixtures";
make_path("$copy/devices", "$copy/ddm");
copy($_, "$copy/devices/") or die "copy $_: $!"
    for glob("$root/t/fixtures/devices/*.plist");
my $marker = "<!-- read from the copy -->\n";
MDM::Test::spew("$copy/devices/report-error.plist",
    MDM::Test::slurp("$copy/devices/report-error.plist") . $marker);

my $perl = `MDM_FIXTURES='$copy' $^X -I$root/t/lib -MMDM::Test -e 'print MDM::Test->new->fixture("devices/report-error.plist")'`;
like($perl, qr/\Q$marker\E\z/, 'the Perl harness reads $MDM_FIXTURES/devices/...');

SKIP: {
    skip 'unit tests not built', 3 unless -x $unit;
    my $out = `MDM_FIXTURES='$copy' $unit 2>&1`;
    is($? >> 8, 0, 'the C unit tests pass with the same MDM_FIXTURES') or diag $out;
    my $empty = "$dir/no-fixtures";
    mkdir $empty;
    $out = `MDM_FIXTURES='$empty' $unit 2>&1`;
    isnt($? >> 8, 0, '... and fail when it names a directory without them');
    like($out, qr/not ok \d+ - fixture devices\/report-\S+ is readable/,
         '... saying which fixture is missing');
}

# --- the timeout scale --------------------------------------------------------

is(MDM::Test::timeout(10), 10 * $MDM::Test::SCALE, 'timeout() applies the scale');
my $scaled = `MDM_TEST_TIMEOUT_SCALE=3 $^X -I$root/t/lib -MMDM::Test -e 'print MDM::Test::timeout(10)'`;
is($scaled, 30, 'MDM_TEST_TIMEOUT_SCALE=3 triples every wait');
my $t0 = time;
ok(!$t->wait_for(sub { 0 }, 0.2), 'wait_for gives up on a condition that stays false');
cmp_ok(time - $t0, '>=', 0.2 * $MDM::Test::SCALE, '... after the scaled timeout');

# --- sanitizer reports fail the file ------------------------------------------

MDM::Test::spew("$dir/fake.t", <<'EOF');
use strict;
use warnings;
use Test::More;
use MDM::Test;
my $t = MDM::Test->new;
$t->spawn('fake', {}, $^X, '-e',
    'print STDERR "==1==ERROR: LeakSanitizer: detected memory leaks\n"');
$t->wait_for(sub { -s $t->dir . '/fake.out' });
pass('every test passes');
done_testing();
EOF
my $out = `$^X -I$root/t/lib $dir/fake.t 2>&1`;
like($out, qr/^ok 1 - every test passes/m, 'a file whose tests all pass ...');
isnt($? >> 8, 0, '... fails when a log of its processes holds a sanitizer report');
like($out, qr/sanitizer report at exit: .*fake\.out: ==1==ERROR: LeakSanitizer/,
     '... and names it');

# --- nginx's own worker-exit leak is told apart from ours ---------------------

sub lsan_report {
    my (@frames) = @_;
    my $leak = "Indirect leak of 98304 byte(s) in 1 object(s) allocated from:\n"
        . join('', map { "    #$_->[0] 0x1 in $_->[1] (/usr/sbin/nginx+0x1)\n" }
                   ([0, 'malloc'], [1, 'ngx_alloc'], @frames));
    return "=" x 65 . "\n==7==ERROR: LeakSanitizer: detected memory leaks\n\n"
        . "$leak\nSUMMARY: AddressSanitizer: 98304 byte(s) leaked in 1 allocation(s).\n";
}
my $exit_leak = lsan_report([2, 'ngx_spawn_process'], [3, 'main']);
is(MDM::Test::without_nginx_exit_leaks("a\n${exit_leak}b\n"), "a\nb\n",
   "nginx's worker-exit arrays (allocated while spawning, no frame of ours) are not a report");
my $ours = lsan_report([2, 'ngx_http_mdm_init_process'], [3, 'ngx_spawn_process']);
like(MDM::Test::without_nginx_exit_leaks($ours), qr/LeakSanitizer/,
     '... a leak with a frame of the module still is');
my $other = lsan_report([2, 'ngx_http_request_handler'], [3, 'main']);
like(MDM::Test::without_nginx_exit_leaks($other), qr/LeakSanitizer/,
     '... and so is any leak not made while spawning a worker');

# certificates signed at once by one CA get distinct random serials (t/110's
# devices make their identities in parallel)
my @serials = map { (MDM::Test::serial_args())[1] } 1 .. 2;
like($serials[0], qr/^0x[0-9a-f]{32}$/, 'a 128-bit random serial for openssl x509 -set_serial');
isnt($serials[0], $serials[1], '... a fresh one each call');
{
    my $t2 = MDM::Test->new;
    my @ids = map { $t2->identity("SERIAL-$_") } 1 .. 2;
    my @got = map { scalar `openssl x509 -in $_->{cert} -noout -serial` } @ids;
    isnt($got[0], $got[1], 'two device identities of one CA have different serials');
}

done_testing();
