#!/usr/bin/perl
# The Debian packages (docs/packaging.md): built once by `make deb`, installed
# with dpkg, the stack run from what they installed (nginx loads the module
# through the modules-enabled link dh_nginx made, the packaged mdm-worker and
# tools), one enrollment and one command cycle, then purged without a trace.
# Needs root (CI runs as root); the system nginx is neither started nor left
# changed: a policy-rc.d refuses service starts while the packages are on.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Compare qw(compare);
use MDM::Test;
use MDM::Keys;

plan skip_all => 'installing packages needs root' if $> != 0;

my @pkgs = qw(libnginx-mod-http-mdm mdm-worker mdm-tools);
my $link = '/etc/nginx/modules-enabled/50-mod-http-mdm.conf';
my $policy = '/usr/sbin/policy-rc.d';

for my $p (@pkgs) {
    my $st = `dpkg-query -W -f '\${Status}' $p 2>/dev/null`;
    BAIL_OUT("$p is already installed on this machine: not touching it")
        if $st =~ / installed$/;
}

# Build once: reuse build/deb unless a source is newer than its packages.
sub debs { map { (glob("build/deb/${_}_*.deb"))[0] } @pkgs }
my @debs = debs();
# build/deb/src/ngx-mdm is the copy the packages were built from.
my $stale = grep { !defined } @debs;
if (!$stale) {
    chomp(my @src = `git ls-files -co --exclude-standard debian worker tools ngx_mdm_module libmdm config conf`);
    $stale = grep { -f $_ && compare($_, "build/deb/src/ngx-mdm/$_") != 0 } @src;
}
if ($stale) {
    my $out = `make deb 2>&1`;
    is($?, 0, 'make deb builds the packages') or diag $out;
    @debs = debs();
}
ok(defined $_, "package file $_ is there") for @debs;
ok(-e 'build/deb/lintian.log', 'lintian ran on them');
unlike(MDM::Test::slurp('build/deb/lintian.log'), qr/^E: /m, 'lintian: no errors');
unlike(MDM::Test::slurp('build/deb/lintian.log'), qr/^W: /m, 'lintian: no warnings');

my $nginx_before = `ls -A /etc/nginx/modules-enabled/ 2>&1`;
my $nginx_pid_before = -e '/run/nginx.pid' ? MDM::Test::slurp('/run/nginx.pid') : '';
my $made_policy = !-e $policy;
my %files;

my $t = MDM::Test->new;
my $var = $t->dir . '/var';

sub purge {
    system("dpkg --purge @pkgs >/dev/null 2>&1");
    unlink $policy if $made_policy;
    $made_policy = 0;
}
END {
    local $?;
    system("MDM_VAR='$var' tools/dev-stack.sh stop >/dev/null 2>&1") if $var;
    purge() if %files;
}

if ($made_policy) {
    MDM::Test::spew($policy, "#!/bin/sh\nexit 101\n");
    chmod 0755, $policy;
}
my $out = `dpkg -i @debs 2>&1`;
is($?, 0, 'dpkg installs the three packages') or diag $out;
for my $p (@pkgs) {
    $files{$p} = [ grep { !-d $_ && (-f $_ || -l $_) } split /\n/, `dpkg -L $p` ];
}

# What the packages put where Debian's own module packages do.
ok(-f '/usr/lib/nginx/modules/ngx_http_mdm_module.so', 'the module is in nginx\'s module directory');
is(readlink($link), '/usr/share/nginx/modules-available/mod-http-mdm.conf',
   'postinst linked the load snippet into modules-enabled');
like(MDM::Test::slurp($link), qr{^load_module modules/ngx_http_mdm_module\.so;$}m,
     '... which loads the module');
like(`dpkg-query -W -f '\${Depends}' libnginx-mod-http-mdm`, qr/nginx-abi-/,
     'the module depends on the nginx ABI it was built for');
ok(-x $_, "$_ is installed") for qw(/usr/sbin/mdm-worker /usr/bin/mdmsim /usr/bin/apns-mock);
my @tools = map { m{^tools/([^/]+)/main\.c$} ? $1 : () } `git ls-files -co --exclude-standard tools`;
chomp @tools;
ok(-x "/usr/bin/$_", "every tool of the tree is packaged: $_") for @tools;
ok(-f "/usr/share/man/man1/$_.1.gz", "... with its man page: $_") for @tools;
ok(-f '/usr/share/man/man8/mdm-worker.8.gz', 'mdm-worker has its man page');
ok(-f '/usr/share/bash-completion/completions/mdmctl', "mdmctl's bash completion is installed");
like(MDM::Test::slurp('/var/lib/dpkg/info/mdm-worker.conffiles'),
     qr{^/etc/mdm-worker\.conf$}m, '/etc/mdm-worker.conf is a conffile');

my $unit = MDM::Test::slurp('/lib/systemd/system/mdm-worker.service');
for my $line ('DynamicUser=yes', 'ProtectSystem=strict', 'NoNewPrivileges=yes',
              'PrivateTmp=yes', 'Restart=on-failure', 'ExecReload=/bin/kill -HUP $MAINPID') {
    like($unit, qr/^\Q$line\E$/m, "the unit has $line");
}
my ($pre) = $unit =~ /^ExecStartPre=(.+)$/m;
my ($start) = $unit =~ /^ExecStart=(.+)$/m;
$out = `$pre 2>&1`;
is($?, 0, "the unit's ExecStartPre passes on the installed config") or diag $out;
like($start, qr{^/usr/sbin/mdm-worker -c /etc/mdm-worker\.conf$}, 'ExecStart runs the packaged worker on it');

# The stack from the packages: nginx includes the modules-enabled snippet;
# the worker, apns-mock and mdmsim are the installed binaries.
my $bin = $t->dir . '/pkg-bin';
mkdir $bin;
symlink("/usr/sbin/mdm-worker", "$bin/mdm-worker");
symlink("/usr/bin/$_", "$bin/$_") for qw(apns-mock mdmsim);
# The snippet names modules/ relative to nginx's prefix, as Debian's prefix
# /usr/share/nginx has it: the stack's prefix gets the same link.
system('mkdir', '-p', "$var/nginx");
symlink('/usr/lib/nginx/modules', "$var/nginx/modules");
my %env = (
    MDM_VAR => $var, MDM_NGINX_LOAD => "include $link;",
    MDM_PORT => $t->port('mdm'), API_PORT => $t->port('api'),
    REDIS_PORT => $t->port('redis'), APNS_PORT => $t->port('apns'),
    VPP_PORT => $t->port('vpp'),
);
{
    local @ENV{keys %env} = values %env;
    $out = `tools/dev-stack.sh start $bin 2>&1`;
}
is($?, 0, 'the stack starts from the packaged binaries') or diag $out;
like(MDM::Test::slurp("$var/nginx/nginx.conf"), qr/^\Qinclude $link;\E$/m,
     'nginx.conf loads the module through the modules-enabled snippet');

my %dev = map { /^(\w+)=(.*)$/ ? ($1, $2) : () } split /\n/, MDM::Test::slurp("$var/dev.env");
$t->{pki} = { ca => $dev{DEVICE_CA_CERT} };
$t->{ports}{redis} = $env{REDIS_PORT};
sub mdmsim {
    my ($verb) = @_;
    my $o = `/usr/bin/mdmsim $verb --check-in-url $dev{MDM_URL} --server-url $dev{MDM_URL} --ca-file $dev{DEVICE_CA_CERT} --ca-cert $dev{DEVICE_CA_CERT} --ca-key $dev{DEVICE_CA_KEY} --id-dir ${\ $t->dir}/ids -n 1 --udid-prefix PKG- --topic $dev{PUSH_TOPIC} --mode sign 2>&1`;
    return ($? == 0, $o);
}
my ($ok, $sim) = mdmsim('enroll');
ok($ok, 'the packaged mdmsim enrolls a device') or diag $sim;
my ($udid) = grep { /^PKG-/ } @{ $t->redis('ZRANGE', key_enrollments(), 0, -1) };
ok($udid, '... and the enrollment is stored');
my $cmd = MDM::Plist::plist(CommandUUID => 'PKG-1',
    Command => MDM::Plist::subdict(RequestType => 'DeviceInformation', Queries => ['SerialNumber']));
my $r = $t->request('PUT', $env{API_PORT}, "/v1/enqueue/$udid", $cmd,
                    headers => { MDM::Test::api_auth($dev{API_KEY}) });
is($r->{status}, 200, 'a command is enqueued');
($ok, $sim) = mdmsim('session');
ok($ok, 'the device runs its session') or diag $sim;
is($t->redis('HGET', key_r($udid, "PKG-1"), 'status'), 'Acknowledged', '... the command is Acknowledged');
ok($t->wait_for(sub { -s "$var/log/apns-mock.log" }, 20), 'the packaged worker pushed to the APNs mock');
$t->redis_close;
{
    local @ENV{keys %env} = values %env;
    $out = `tools/dev-stack.sh stop 2>&1`;
}
is($?, 0, 'the stack stops');

# Purge: nothing of the packages is left.
$out = `dpkg --purge @pkgs 2>&1`;
is($?, 0, 'dpkg purges the packages') or diag $out;
my @left = grep { -e $_ || -l $_ } map { @$_ } values %files;
is_deeply(\@left, [], 'no file of theirs is left');
ok(!-e $link && !-l $link, 'nothing left in modules-enabled');
ok(!-e '/etc/mdm-worker.conf', '/etc/mdm-worker.conf is gone');
%files = ();
unlink $policy if $made_policy;
is(`ls -A /etc/nginx/modules-enabled/ 2>&1`, $nginx_before, 'modules-enabled is as before');
is(-e '/run/nginx.pid' ? MDM::Test::slurp('/run/nginx.pid') : '', $nginx_pid_before,
   'the system nginx was not started or restarted');

done_testing();
