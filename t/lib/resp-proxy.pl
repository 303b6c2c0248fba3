#!/usr/bin/perl
# A RESP proxy in front of a real redis-server for tests: relays every
# command, except while the file given as --loading exists: then every
# command is answered "-LOADING ..." as a Redis still loading its dataset
# answers, and a line "<command name>" is appended to --count.
# Usage: resp-proxy.pl --listen PORT --upstream PORT --loading FILE --count FILE
# Prints "port=N" once listening. Forks one child per connection; SIGTERM
# ends the whole process group it made.

use strict;
use warnings;
use IO::Socket::INET;
use Getopt::Long;
use POSIX ();

my ($listen, $upstream, $loading, $count) = (0);
GetOptions('listen=i' => \$listen, 'upstream=i' => \$upstream,
           'loading=s' => \$loading, 'count=s' => \$count) or die "usage\n";

setpgrp(0, 0);
$SIG{TERM} = sub { local $SIG{TERM} = 'IGNORE'; kill 'TERM', -$$; POSIX::_exit(0) };
$SIG{CHLD} = 'IGNORE';

my $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $listen,
                                Listen => 64, ReuseAddr => 1) or die "listen: $!";
$| = 1;
print "port=", $srv->sockport, "\n";

while (1) {
    my $c = $srv->accept or next;
    my $pid = fork;
    next if !defined $pid;
    if ($pid) { close $c; next; }
    close $srv;
    serve($c);
    POSIX::_exit(0);
}

sub readn {
    my ($fh, $n) = @_;
    my $buf = '';
    while (length($buf) < $n) {
        my $got = read($fh, $buf, $n - length($buf), length $buf);
        return undef unless $got;
    }
    return $buf;
}

# One whole RESP value as raw bytes, and the parsed top-level items of an
# array of bulk strings (enough for the command name).
sub read_value {
    my ($fh) = @_;
    my $line = <$fh>;
    return undef unless defined $line;
    my $raw = $line;
    my $t = substr($line, 0, 1);
    my ($n) = $line =~ /^.(-?\d+)/;
    if ($t eq '$') {
        if ($n >= 0) {
            my $b = readn($fh, $n + 2) // return undef;
            return ($raw . $b, [ substr($b, 0, $n) ]);
        }
    } elsif ($t eq '*') {
        my @items;
        for (1 .. ($n > 0 ? $n : 0)) {
            my ($r, $it) = read_value($fh);
            return undef unless defined $r;
            $raw .= $r;
            push @items, @{ $it // [] }[0 .. 0] if $it && @$it;
        }
        return ($raw, \@items);
    }
    return ($raw, []);
}

sub serve {
    my ($c) = @_;
    my $up = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$upstream") or return;
    binmode $_ for $c, $up;
    $c->autoflush(1);
    $up->autoflush(1);
    while (1) {
        my ($cmd, $items) = read_value($c);
        return unless defined $cmd;
        if (-e $loading) {
            if (open my $fh, '>>', $count) {
                print $fh uc($items->[0] // '?'), "\n";
                close $fh;
            }
            print $c "-LOADING Redis is loading the dataset in memory\r\n";
            next;
        }
        print $up $cmd;
        my ($reply) = read_value($up);
        return unless defined $reply;
        print $c $reply;
    }
}
