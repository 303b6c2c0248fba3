package MDM::Test;

# Test harness in the spirit of nginx's own test suite: every test gets a
# temp dir and free loopback ports, starts real processes (redis-server,
# Debian's nginx loading the built module, mdm-worker, apns-mock) and stops
# them by pid at the end, also when the test dies. It can also act as a
# device: mint an identity from a test CA, sign bodies (Mdm-Signature) and
# send them over TLS with or without a client certificate.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use IO::Socket::SSL;
use MIME::Base64 qw(encode_base64 decode_base64);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

use MDM::Redis;
use MDM::Keys ();

our $ROOT = abs_path(dirname(__FILE__) . '/../../..');
our $BUILD = $ENV{MDM_BUILD} // 'build';
$BUILD = "$ROOT/$BUILD" unless $BUILD =~ m{^/};
our $FIXTURES = $ENV{MDM_FIXTURES} // "$ROOT/../shared/fixtures";
our $NGINX = $ENV{MDM_NGINX} // '/usr/sbin/nginx';

my @all;    # every harness object, for END

sub new {
    my ($class, %args) = @_;
    my $self = bless {
        dir   => tempdir('mdm-test-XXXXXX', TMPDIR => 1,
                         CLEANUP => !$ENV{MDM_KEEP}),
        pids  => {},
        %args,
    }, $class;
    push @all, $self;
    return $self;
}

sub dir { $_[0]{dir} }

sub fixture {
    my ($self, $name) = @_;
    return slurp("$FIXTURES/$name");
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or croak "$path: $!";
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($path, $data) = @_;
    open my $fh, '>:raw', $path or croak "$path: $!";
    print $fh $data;
    close $fh;
}

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or croak "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub port {
    my ($self, $name) = @_;
    return $self->{ports}{$name} //= free_port();
}

# --- processes -------------------------------------------------------------

sub spawn {
    my ($self, $name, $env, @cmd) = @_;
    my $log = "$self->{dir}/$name.out";
    my $pid = fork // croak "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        @ENV{keys %$env} = values %$env;
        exec @cmd or POSIX::_exit(127);
    }
    $self->{pids}{$name} = $pid;
    return $pid;
}

sub pid { $_[0]{pids}{$_[1]} }

sub stop {
    my ($self, $name, $signal) = @_;
    my $pid = delete $self->{pids}{$name} or return;
    kill $signal // 'TERM', $pid;
    my $deadline = time + 10;
    while (time < $deadline) {
        return 1 if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return 0;
}

sub kill9 {
    my ($self, $name) = @_;
    my $pid = delete $self->{pids}{$name} or return;
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

sub wait_port {
    my ($self, $port, $what) = @_;
    my $deadline = time + 10;
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                      Timeout => 1);
        return 1 if $s;
        sleep 0.02;
    }
    croak "$what did not listen on $port";
}

sub wait_for {
    my ($self, $cond, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        my $v = $cond->();
        return $v if $v;
        sleep 0.05;
    }
    return undef;
}

sub stop_all {
    my ($self) = @_;
    $self->stop($_) for reverse sort keys %{ $self->{pids} };
}

END {
    my $status = $?;
    $_->stop_all for @all;
    $? = $status;
}

# --- redis -----------------------------------------------------------------

sub redis_start {
    my ($self) = @_;
    my $port = $self->port('redis');
    mkdir "$self->{dir}/redis";
    $self->spawn('redis', {}, 'redis-server', '--port', $port,
                 '--bind', '127.0.0.1', '--dir', "$self->{dir}/redis",
                 '--save', '', '--appendonly', 'no', '--daemonize', 'no');
    $self->wait_port($port, 'redis-server');
    return $port;
}

sub redis {
    my ($self, @cmd) = @_;
    $self->{redis_client} //= MDM::Redis->new('127.0.0.1', $self->port('redis'));
    return $self->{redis_client}->call(@cmd);
}

sub redis_close {
    delete $_[0]{redis_client};
}

# --- pki -------------------------------------------------------------------

sub openssl {
    my ($self, @args) = @_;
    my $pid = fork // croak "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec 'openssl', @args or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    croak "openssl @args failed" if $?;
}

# A device CA, a server certificate for 127.0.0.1/localhost and a
# foreign CA (for negative tests).
sub pki {
    my ($self) = @_;
    return $self->{pki} if $self->{pki};
    my $d = "$self->{dir}/pki";
    mkdir $d;
    for my $ca (qw(ca foreign)) {
        $self->openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes',
            '-keyout', "$d/$ca.key", '-out', "$d/$ca.pem", '-days', '30',
            '-subj', "/CN=ngx_mdm test $ca", '-batch');
    }
    spew("$d/server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        . "extendedKeyUsage=serverAuth\n");
    $self->openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout',
        "$d/server.key", '-out', "$d/server.csr", '-subj', '/CN=localhost');
    $self->openssl('x509', '-req', '-in', "$d/server.csr", '-CA', "$d/ca.pem",
        '-CAkey', "$d/ca.key", '-CAcreateserial', '-out', "$d/server.pem",
        '-days', '30', '-extfile', "$d/server.ext");
    return $self->{pki} = {
        dir => $d, ca => "$d/ca.pem", ca_key => "$d/ca.key",
        foreign => "$d/foreign.pem", foreign_key => "$d/foreign.key",
        cert => "$d/server.pem", key => "$d/server.key",
    };
}

# A device identity: key + certificate with clientAuth, CN = name, signed
# by the test device CA (or by the foreign CA with ca => 'foreign').
sub identity {
    my ($self, $name, %opt) = @_;
    my $pki = $self->pki;
    my $ca = $opt{ca} // 'ca';
    my $base = "$pki->{dir}/id-$name-$ca" . ($opt{tag} // '');
    return { cert => "$base.pem", key => "$base.key" } if -e "$base.pem";
    my $days = $opt{days} // 30;
    spew("$base.ext", "extendedKeyUsage=clientAuth\n"
        . "keyUsage=digitalSignature,keyEncipherment\n");
    $self->openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout',
        "$base.key", '-out', "$base.csr", '-subj', "/CN=$name");
    $self->openssl('x509', '-req', '-in', "$base.csr", '-CA',
        "$pki->{dir}/$ca.pem", '-CAkey', "$pki->{dir}/$ca.key",
        '-CAcreateserial', '-out', "$base.pem", '-days', $days,
        '-extfile', "$base.ext");
    return { cert => "$base.pem", key => "$base.key" };
}

# Mdm-Signature value for body: base64 DER CMS SignedData, detached.
# digest: sha256 (default) or sha1; ber => 1 gives indefinite lengths.
sub sign {
    my ($self, $id, $body, %opt) = @_;
    # per process: forked simulated devices sign at the same time
    my $in = "$self->{dir}/sign-$$.in";
    my $out = "$self->{dir}/sign-$$.out";
    spew($in, $body);
    $self->openssl('cms', '-sign', '-binary', '-in', $in, '-signer',
        $id->{cert}, '-inkey', $id->{key}, '-outform', 'DER', '-out', $out,
        '-md', $opt{digest} // 'sha256', ($opt{ber} ? ('-stream') : ()));
    my $cms = slurp($out);
    $cms = ber_detach($cms) if $opt{ber};
    return encode_base64($cms, '');
}

# openssl's CLI streams BER only with the content attached; devices send it
# detached. With every enclosing length indefinite, cutting the eContent
# element out leaves valid BER, and the signature (over the signed
# attributes) stays valid.
sub ber_header_len {
    my ($buf, $pos) = @_;
    my $l = ord substr($buf, $pos + 1, 1);
    return 2 + (($l & 0x80) && $l != 0x80 ? ($l & 0x7f) : 0);
}

sub ber_elem_len {
    my ($buf, $pos) = @_;
    my $h = ber_header_len($buf, $pos);
    my $l = ord substr($buf, $pos + 1, 1);
    if ($l == 0x80) {
        my $p = $pos + $h;
        $p += ber_elem_len($buf, $p) while substr($buf, $p, 2) ne "\0\0";
        return $p + 2 - $pos;
    }
    if ($l & 0x80) {
        $l = 0;
        $l = $l * 256 + ord substr($buf, $pos + 2 + $_, 1)
            for 0 .. (ord(substr($buf, $pos + 1, 1)) & 0x7f) - 1;
    }
    return $h + $l;
}

sub ber_detach {
    my ($cms) = @_;
    my $p = ber_header_len($cms, 0);             # ContentInfo
    $p += ber_elem_len($cms, $p);                # contentType
    $p += ber_header_len($cms, $p);              # [0]
    $p += ber_header_len($cms, $p);              # SignedData
    $p += ber_elem_len($cms, $p);                # version
    $p += ber_elem_len($cms, $p);                # digestAlgorithms
    $p += ber_header_len($cms, $p);              # encapContentInfo
    $p += ber_elem_len($cms, $p);                # eContentType
    substr($cms, $p, ber_elem_len($cms, $p), '') # eContent
        if ord(substr($cms, $p, 1)) == 0xa0;
    return $cms;
}

# --- nginx -----------------------------------------------------------------

sub module_path { "$BUILD/nginx/ngx_http_mdm_module.so" }

# Writes nginx.conf around the given http{} contents and starts nginx in
# the foreground (master + workers) so the harness owns its pid.
sub nginx_start {
    my ($self, $http, %opt) = @_;
    my $d = $self->{dir};
    my $user = $> == 0 ? "user root;\n" : '';
    my $workers = $opt{workers} // 1;
    spew("$d/nginx.conf", <<"CONF");
load_module ${\ module_path()};
${user}worker_processes $workers;
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/error.log ${\ ($opt{log_level} // 'info')};
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/client_body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
$http
}
CONF
    $self->spawn('nginx', { nginx_env() }, $NGINX, '-p', "$d/", '-c', "$d/nginx.conf",
                 '-e', "$d/error.log");
    $self->wait_port($opt{port}, 'nginx') if $opt{port};
    $self->wait_schema($http);
    return 1;
}

# An nginx worker records the key layout in an empty Redis one round trip
# after it starts (docs/redis-schema.md): a test that snapshots or seeds
# Redis waits for that write first, when nginx uses the test's Redis.
sub wait_schema {
    my ($self, $http) = @_;
    my $port = $self->{ports}{redis};
    return unless $port && $self->{pids}{redis} && $http =~ /127\.0\.0\.1:\Q$port\E\b/;
    # a connection of its own: a test that kills Redis later must not find
    # this one cached
    my $had = $self->{redis_client};
    $self->wait_for(sub { eval { $self->redis('EXISTS', MDM::Keys::key_schema()) } }, 10);
    delete $self->{redis_client} unless $had;
}

# Debian's nginx is not built with sanitizers: a sanitized module needs
# their runtimes preloaded.
sub nginx_env {
    return () unless $ENV{MDM_ASAN};
    chomp(my $asan = `gcc -print-file-name=libasan.so`);
    chomp(my $ubsan = `gcc -print-file-name=libubsan.so`);
    return (LD_PRELOAD => "$asan $ubsan",
            ASAN_OPTIONS => 'detect_leaks=0:abort_on_error=0');
}

sub nginx_test_conf {
    my ($self, $http) = @_;
    my $d = $self->{dir};
    spew("$d/test.conf", <<"CONF");
load_module ${\ module_path()};
events { }
pid $d/test.pid;
http {
$http
}
CONF
    my %env = nginx_env();
    local @ENV{keys %env} = values %env;
    my $out = `$NGINX -t -p $d/ -c $d/test.conf -e $d/test-error.log 2>&1`;
    return ($? == 0, $out);
}

sub error_log {
    my ($self) = @_;
    my $f = "$self->{dir}/error.log";
    return -e $f ? slurp($f) : '';
}

# Lines that must never appear: alerts, crashes, sanitizer reports.
sub error_log_problems {
    my ($self) = @_;
    my @bad;
    for my $f (grep { !/test-error\.log$/ } glob("$self->{dir}/*.log"),
               glob("$self->{dir}/*.out")) {
        for (split /\n/, slurp($f)) {
            push @bad, $_ if /\[alert\]|\[emerg\]|AddressSanitizer|runtime error:|LeakSanitizer|exited on signal|segfault/;
        }
    }
    return @bad;
}

# --- http ------------------------------------------------------------------

# request(METHOD, port, path, body, headers => {...}, tls => 1,
#         identity => $id (client cert), sign => $id (Mdm-Signature),
#         digest => 'sha1', ber => 1) -> { status, headers, body }
sub request {
    my ($self, $method, $port, $path, $body, %opt) = @_;
    $body //= '';
    my %h = %{ $opt{headers} // {} };
    if ($opt{sign}) {
        $h{'Mdm-Signature'} = $self->sign($opt{sign}, $body,
            digest => $opt{digest}, ber => $opt{ber});
    }
    my $sock;
    if ($opt{tls} // 1) {
        $sock = IO::Socket::SSL->new(
            PeerAddr => "127.0.0.1:$port",
            SSL_verify_mode => SSL_VERIFY_PEER,
            SSL_ca_file => $self->pki->{ca},
            SSL_verifycn_name => 'localhost',
            ($opt{identity} ? (SSL_cert_file => $opt{identity}{cert},
                               SSL_key_file => $opt{identity}{key}) : ()),
        ) or croak "TLS connect to $port: $SSL_ERROR";
    } else {
        $sock = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
            or croak "connect to $port: $!";
    }
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n";
    $req .= "Content-Length: " . length($body) . "\r\n"
        unless exists $h{'Content-Length'} || $opt{no_length};
    $req .= "$_: $h{$_}\r\n" for sort keys %h;
    $req .= "\r\n";
    $sock->print($req . $body);
    local $/;
    my $resp = <$sock> // '';
    close $sock;
    return parse_response($resp);
}

sub parse_response {
    my ($resp) = @_;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    $head //= '';
    my ($status) = $head =~ m{^HTTP/1\.\d (\d{3})};
    my %headers;
    for (split /\r\n/, $head) {
        $headers{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }
    $body //= '';
    if (($headers{'transfer-encoding'} // '') =~ /chunked/i) {
        my $plain = '';
        while ($body =~ s/^([0-9a-fA-F]+)\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $plain .= substr($body, 0, $n, '');
            $body =~ s/^\r\n//;
        }
        $body = $plain;
    }
    return { status => $status // 0, headers => \%headers, body => $body };
}

# Basic auth header for the API.
sub api_auth {
    my ($key) = @_;
    return (Authorization => 'Basic ' . encode_base64("nanomdm:$key", ''));
}

1;

package MDM::Plist;

# Plist XML for test bodies: plist(Key => value, ...), keys in order.
# Values: plain scalar = <string>, data($bytes) = <data>, true/false,
# integer($n), [ ... ] = <array>, { ... } (hash ref of pairs) = <dict>.

use MIME::Base64 qw(encode_base64);

sub data { bless \(my $b = $_[0]), 'MDM::Plist::Data' }
sub integer { bless \(my $n = $_[0]), 'MDM::Plist::Integer' }
sub true { bless \(my $v = 1), 'MDM::Plist::Bool' }
sub false { bless \(my $v = 0), 'MDM::Plist::Bool' }

sub esc {
    my ($s) = @_;
    $s =~ s/&/&amp;/g; $s =~ s/</&lt;/g; $s =~ s/>/&gt;/g;
    return $s;
}

sub value {
    my ($v) = @_;
    my $r = ref $v;
    return '<string>' . esc($v) . '</string>' unless $r;
    return '<data>' . encode_base64($$v, '') . '</data>' if $r eq 'MDM::Plist::Data';
    return "<integer>$$v</integer>" if $r eq 'MDM::Plist::Integer';
    return $$v ? '<true/>' : '<false/>' if $r eq 'MDM::Plist::Bool';
    return '<array>' . join('', map { value($_) } @$v) . '</array>' if $r eq 'ARRAY';
    return dict(@$v) if $r eq 'MDM::Plist::Dict';
    die "plist: cannot encode $r";
}

sub dict {
    my @kv = @_;
    my $out = '<dict>';
    while (my ($k, $v) = splice @kv, 0, 2) {
        $out .= '<key>' . esc($k) . '</key>' . value($v);
    }
    return $out . '</dict>';
}

sub subdict { bless [@_], 'MDM::Plist::Dict' }

sub plist {
    return qq{<?xml version="1.0" encoding="UTF-8"?>\n}
        . qq{<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n}
        . '<plist version="1.0">' . dict(@_) . "</plist>\n";
}

package MDM::Test;

# Everything stored in Redis, as one comparable string: proves that a
# refused request changed nothing.
sub redis_snapshot {
    my ($self) = @_;
    my $keys = $self->redis('KEYS', '*');
    my @out;
    for my $k (sort @$keys) {
        my $type = $self->redis('TYPE', $k);
        my $v = $type eq 'stream' ? $self->redis('XLEN', $k)
              : $self->redis('DUMP', $k);
        push @out, "$k $type " . unpack('H*', $v // '');
    }
    return join "\n", @out;
}
