package MDM::VppMock;

# tools/vpp-mock in a test: starts it on a harness port, talks to its
# management API as a client would and to its control API (/_mock/...), and
# offers a notification receiver (HTTPS, the test CA's server certificate)
# that records what the mock POSTs and answers with a status the test sets.

use strict;
use warnings;

use Carp qw(croak);
use IO::Socket::SSL;
use JSON::PP ();
use MIME::Base64 qw(decode_base64);
use POSIX ();

use MDM::Test;

my $JSON = JSON::PP->new->canonical->allow_nonref;

sub json { $JSON }

sub bin { "$MDM::Test::ROOT/tools/vpp-mock/vpp-mock" }

sub python { -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3' }

# False (with the reason) when the mock cannot run here.
sub unavailable {
    my $py = python();
    return 'python3 with cryptography is missing'
        if system("$py -c 'import cryptography' >/dev/null 2>&1") != 0;
    return '';
}

# start($t, event_delay => s, page_size => n, notify_ca => file, args => [...])
sub start {
    my ($class, $t, %opt) = @_;
    my $port = $t->port($opt{name} // 'vpp');
    my $name = $opt{name} // 'vpp-mock';
    my @cmd = (python(), bin(), '--port', $port,
               '--event-delay', $opt{event_delay} // 0.2,
               '--page-size', $opt{page_size} // 100,
               '--notify-retry-delay', $opt{notify_retry_delay} // 0.2,
               ($opt{notify_ca} ? ('--notify-ca', $opt{notify_ca}) : ()),
               @{ $opt{args} // [] });
    $t->spawn($name, {}, @cmd);
    my $out = $t->dir . "/$name.out";
    $t->wait_for(sub { -e $out && MDM::Test::slurp($out) =~ /listening on/ }, 10)
        or croak "vpp-mock did not start: " . (-e $out ? MDM::Test::slurp($out) : '');
    return bless { t => $t, port => $port, name => $name,
                   url => "http://127.0.0.1:$port" }, $class;
}

sub url { $_[0]{url} }
sub port { $_[0]{port} }
sub base { "$_[0]{url}/mdm/v2" }

sub decode {
    my ($r) = @_;
    $r->{json} = eval { $JSON->decode($r->{body}) } if length $r->{body};
    return $r;
}

# A management API call: api(METHOD, '/assets?x=y', sToken, body, %headers);
# body as a Perl structure (sent as application/json) or a raw string.
sub api {
    my ($self, $method, $path, $token, $body, %h) = @_;
    $h{Authorization} //= "Bearer $token" if defined $token;
    delete $h{Authorization} unless defined $h{Authorization};
    if (defined $body) {
        $body = $JSON->encode($body) if ref $body;
        $h{'Content-Type'} //= 'application/json';
    }
    return decode($self->{t}->request($method, $self->{port}, "/mdm/v2$path",
                                      $body, tls => 0, headers => \%h));
}

sub raw {
    my ($self, $method, $path, $body, %h) = @_;
    return decode($self->{t}->request($method, $self->{port}, $path, $body,
                                      tls => 0, headers => \%h));
}

# A control call; dies unless it answers 200. Returns the decoded body.
sub control {
    my ($self, $method, $path, $body) = @_;
    my $r = $self->raw($method, "/_mock/$path",
                       defined $body ? $JSON->encode($body) : undef);
    croak "control $method $path: $r->{status} $r->{body}" unless $r->{status} == 200;
    return $r->{json};
}

# add_location(orgName => ..., assets => [...]) -> sToken (the .vpptoken
# file content, base64 of {token, expDate, orgName})
sub add_location {
    my ($self, %loc) = @_;
    return $self->control('POST', 'locations', \%loc)->{sToken};
}

sub ledger {
    my ($self, $stoken) = @_;
    return $self->control('GET', 'ledger?sToken=' . uri($stoken));
}

sub requests { @{ $_[0]->control('GET', 'requests')->{requests} } }

# Management API requests only (not the catalog), optionally of one path.
sub api_requests {
    my ($self, $path) = @_;
    return grep { $_->{path} =~ m{^/mdm/v2\Q$path\E(?:\?|$)} } $self->requests
        if defined $path;
    return grep { $_->{path} =~ m{^/mdm/v2/} } $self->requests;
}

sub notifications { @{ $_[0]->control('GET', 'notifications')->{attempts} } }

sub uri {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# Polls /status until the event is no longer PENDING; the last body.
sub wait_event {
    my ($self, $stoken, $id, $timeout) = @_;
    my $last;
    $self->{t}->wait_for(sub {
        $last = $self->api('GET', "/status?eventId=$id", $stoken)->{json};
        $last && ($last->{eventStatus} // 'PENDING') ne 'PENDING';
    }, $timeout // 10);
    return $last;
}

# --- a notification receiver ------------------------------------------------

# receiver($t) -> { port, url, log, status_file }: an HTTPS server that
# appends one JSON line per request ({authorization, body}) to log and
# answers the status written in status_file (200 when absent).
sub receiver {
    my ($class, $t) = @_;
    my $pki = $t->pki;
    my $port = $t->port('vpp-receiver');
    my $dir = $t->dir;
    my %r = (port => $port, url => "https://localhost:$port/notify",
             log => "$dir/receiver.jsonl", status_file => "$dir/receiver.status");
    my $srv = IO::Socket::SSL->new(
        LocalAddr => "127.0.0.1:$port", Listen => 16, ReuseAddr => 1,
        SSL_server => 1, SSL_cert_file => $pki->{cert}, SSL_key_file => $pki->{key},
    ) or croak "receiver: $SSL_ERROR";
    my $pid = fork // croak "fork: $!";
    if ($pid == 0) {
        while (1) {
            my $c = $srv->accept or next;
            my $head = '';
            while (defined(my $l = <$c>)) {
                $head .= $l;
                last if $l eq "\r\n";
            }
            my ($len) = $head =~ /^Content-Length:\s*(\d+)/mi;
            my $body = '';
            read($c, $body, $len) if $len;
            my ($auth) = $head =~ /^Authorization:\s*([^\r\n]*)/mi;
            my $status = -e $r{status_file} ? MDM::Test::slurp($r{status_file}) + 0 : 200;
            open my $fh, '>>', $r{log};
            print $fh $JSON->encode({ authorization => $auth, body => $body,
                                      status => $status }), "\n";
            close $fh;
            print $c "HTTP/1.1 $status X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            close $c;
        }
        POSIX::_exit(0);
    }
    close $srv;
    $t->{pids}{'vpp-receiver'} = $pid;
    return \%r;
}

sub received {
    my ($class, $r) = @_;
    return () unless -e $r->{log};
    return map { my $e = $JSON->decode($_); $e->{json} = eval { $JSON->decode($e->{body}) }; $e }
        split /\n/, MDM::Test::slurp($r->{log});
}

1;
