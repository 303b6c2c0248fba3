package MDM::Redis;

# A tiny synchronous RESP client for tests: call(@args) returns the reply
# (arrays as array refs, errors as { error => "..." }).

use strict;
use warnings;

use Carp qw(croak);
use IO::Socket::INET;

sub new {
    my ($class, $host, $port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "$host:$port",
                                  Timeout => 5 * ($ENV{MDM_TEST_TIMEOUT_SCALE} || 1))
        or croak "redis $host:$port: $!";
    binmode $s;
    return bless { s => $s }, $class;
}

sub call {
    my ($self, @args) = @_;
    my $req = '*' . @args . "\r\n";
    $req .= '$' . length($_) . "\r\n$_\r\n" for @args;
    $self->{s}->print($req) or croak "redis write: $!";
    return $self->read_reply;
}

sub read_line {
    my ($self) = @_;
    my $line = $self->{s}->getline // croak 'redis connection closed';
    $line =~ s/\r\n$//;
    return $line;
}

sub read_reply {
    my ($self) = @_;
    my $line = $self->read_line;
    my ($t, $v) = (substr($line, 0, 1), substr($line, 1));
    return $v if $t eq '+';
    return { error => $v } if $t eq '-';
    return $v + 0 if $t eq ':';
    if ($t eq '$') {
        return undef if $v < 0;
        my $buf = '';
        while (length($buf) < $v + 2) {
            $self->{s}->read($buf, $v + 2 - length($buf), length($buf))
                or croak 'redis read';
        }
        return substr($buf, 0, $v);
    }
    if ($t eq '*') {
        return undef if $v < 0;
        return [ map { $self->read_reply } 1 .. $v ];
    }
    croak "redis: bad reply '$line'";
}

1;
