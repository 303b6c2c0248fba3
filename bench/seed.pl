#!/usr/bin/perl
# Bench data for Redis, written straight into the schema of
# docs/redis-schema.md (RESP on stdout, for `redis-cli --pipe`), or JSON for
# the enqueue API. Used by bench/run.sh.
#
#   seed.pl enrollments N PREFIX TOPIC
#       minimal enabled enrollments (what enqueue.lua and mdm-worker read):
#       mdm:{id}:enr type/enabled/topic/token/push_magic, mdm:enrollments
#   seed.pl template REDIS_PORT ID
#       prints the enrollment hash and the stored Authenticate of ID as JSON
#       (hex values): the template for `realistic`, taken from a device that
#       checked in through the real path
#   seed.pl realistic N PREFIX TEMPLATE_JSON
#       what checkin.lua leaves behind after Authenticate + TokenUpdate of a
#       device channel with certificate binding, copied from the template
#       with per-device values (ID and serial number substituted in place,
#       token, PushMagic, certificate hash, times): the enrollment hash,
#       mdm:{id}:auth, mdm:cert:<sha256> and the mdm:enrollments entry
#   seed.pl queue ID N TAG
#       N DeviceInformation commands queued for ID, as enqueue.lua stores
#       them (mdm:cmd:{uuid} hash, :ids set, RPUSH to the queue)
#   seed.pl enqueue-json PREFIX FIRST N UUID
#       {"ids":[...],"command":"<plist>"} for POST /v1/enqueue
#   seed.pl command UUID
#       the DeviceInformation command plist alone
#   seed.pl ddm-assign N PREFIX SET
#       DDM set SET assigned to N enrollments (mdm:ddm:set:{SET}:enrs and
#       each mdm:{id}:ddm:sets), as the enrollment-sets API stores it
#
# Enrollment IDs are PREFIX + the device number in 16 upper-case hex digits,
# as mdmsim makes its UDIDs.

use strict;
use warnings;
use lib 't/lib';
use MDM::Keys;
use Digest::SHA qw(sha256 sha256_hex);

binmode STDOUT;

sub cmd {
    my $s = '*' . @_ . "\r\n";
    $s .= '$' . length($_) . "\r\n$_\r\n" for @_;
    return $s;
}

sub uuid_for {
    my ($tag, $i) = @_;
    my $h = uc substr(sha256_hex("$tag-$i"), 0, 32);
    return join '-', unpack('A8 A4 A4 A4 A12', $h);
}

sub command_plist {
    my ($uuid) = @_;
    return qq{<?xml version="1.0" encoding="UTF-8"?>\n}
        . qq{<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n}
        . qq{<plist version="1.0">\n<dict>\n}
        . qq{\t<key>Command</key>\n\t<dict>\n}
        . qq{\t\t<key>Queries</key>\n\t\t<array>\n}
        . qq{\t\t\t<string>DeviceName</string>\n\t\t\t<string>OSVersion</string>\n}
        . qq{\t\t\t<string>SerialNumber</string>\n\t\t</array>\n}
        . qq{\t\t<key>RequestType</key>\n\t\t<string>DeviceInformation</string>\n}
        . qq{\t</dict>\n\t<key>CommandUUID</key>\n\t<string>$uuid</string>\n}
        . qq{</dict>\n</plist>\n};
}

my $mode = shift // die "usage: seed.pl enrollments|template|realistic|queue|enqueue-json ...\n";
my $now = time;

if ($mode eq 'enrollments') {
    my ($n, $prefix, $topic) = @ARGV;
    my $buf = '';
    for my $i (0 .. $n - 1) {
        my $id = sprintf '%s%016X', $prefix, $i;
        $buf .= cmd('HSET', key_enr($id), 'type', 'Device', 'udid', $id,
                    'enabled', '1', 'topic', $topic,
                    'token', sha256("token-$id"),
                    'push_magic', uuid_for('magic', $i),
                    'created', $now, 'last_seen', $now);
        $buf .= cmd('ZADD', key_enrollments(), $now, $id);
        if (length $buf > 1 << 20) { print $buf; $buf = '' }
    }
    print $buf;
} elsif ($mode eq 'template') {
    require MDM::Redis;
    my ($port, $id) = @ARGV;
    my $r = MDM::Redis->new('127.0.0.1', $port);
    my $h = $r->call('HGETALL', key_enr($id));
    die "no enrollment $id\n" unless ref $h eq 'ARRAY' && @$h;
    my $auth = $r->call('GET', key_auth($id));
    die "no Authenticate stored for $id\n" unless defined $auth && !ref $auth;
    my @pairs;
    while (my ($k, $v) = splice @$h, 0, 2) {
        push @pairs, qq{["$k","} . unpack('H*', $v) . '"]';
    }
    print qq({"id":"$id","auth":") . unpack('H*', $auth) . '","hash":['
        . join(',', @pairs) . "]}\n";
} elsif ($mode eq 'realistic') {
    require JSON::PP;
    my ($n, $prefix, $tfile) = @ARGV;
    open my $tf, '<', $tfile or die "$tfile: $!";
    my $tpl = JSON::PP::decode_json(do { local $/; <$tf> });
    my %t = map { $_->[0] => pack('H*', $_->[1]) } @{ $tpl->{hash} };
    my ($tid, $tserial) = ($tpl->{id}, $t{serial} // "\0none");
    my $tauth = pack('H*', $tpl->{auth});
    die "template ID and prefix differ in length\n"
        if length($tid) != length($prefix) + 16;
    my $buf = '';
    for my $i (0 .. $n - 1) {
        my $id = sprintf '%s%016X', $prefix, $i;
        my $serial = substr(uc sha256_hex("serial-$i"), 0, length $tserial);
        my $sha = sha256_hex("cert-$id");
        # Same-length substitutions keep a binary plist valid.
        my $subst = sub {
            my ($v) = @_;
            $v =~ s/\Q$tid\E/$id/g;
            $v =~ s/\Q$tserial\E/$serial/g;
            return $v;
        };
        my %per = (
            token => sha256("token-$id"), push_magic => uuid_for('magic', $i),
            cert => $sha, created => $now, last_seen => $now,
        );
        my @fields;
        for my $p (@{ $tpl->{hash} }) {
            my $k = $p->[0];
            push @fields, $k, exists $per{$k} ? $per{$k} : $subst->($t{$k});
        }
        $buf .= cmd('HSET', key_enr($id), @fields);
        $buf .= cmd('SET', key_auth($id), $subst->($tauth));
        $buf .= cmd('SET', key_cert($sha), $id);
        $buf .= cmd('ZADD', key_enrollments(), 'NX', $now, $id);
        if (length $buf > 1 << 20) { print $buf; $buf = '' }
    }
    print $buf;
} elsif ($mode eq 'queue') {
    my ($id, $n, $tag) = @ARGV;
    my $buf = '';
    for my $i (1 .. $n) {
        my $uuid = uuid_for($tag, $i);
        $buf .= cmd('HSET', key_cmd($uuid), 'body', command_plist($uuid),
                    'type', 'DeviceInformation', 'created', $now,
                    'expires', '0');
        $buf .= cmd('SADD', key_cmd_ids($uuid), $id);
        $buf .= cmd('RPUSH', key_q($id), $uuid);
        if (length $buf > 1 << 20) { print $buf; $buf = '' }
    }
    print $buf;
} elsif ($mode eq 'enqueue-json') {
    my ($prefix, $first, $n, $uuid) = @ARGV;
    my $plist = command_plist($uuid);
    $plist =~ s/(["\\])/\\$1/g;
    $plist =~ s/\n/\\n/g;
    $plist =~ s/\t/\\t/g;
    print '{"ids":[';
    print join ',', map { sprintf '"%s%016X"', $prefix, $_ } $first .. $first + $n - 1;
    print '],"command":"' . $plist . '"}';
} elsif ($mode eq 'ddm-assign') {
    # the set assigned to N enrollments, as ddm_set.lua and ddm_enr.lua
    # store an assignment (the API would take one call per enrollment)
    my ($n, $prefix, $set) = @ARGV;
    my $buf = '';
    for my $i (0 .. $n - 1) {
        my $id = sprintf '%s%016X', $prefix, $i;
        $buf .= cmd('SADD', key_ddm_set_enrs($set), $id);
        $buf .= cmd('SADD', key_ddm_esets($id), $set);
        if (length $buf > 1 << 20) { print $buf; $buf = '' }
    }
    print $buf;
} elsif ($mode eq 'command') {
    print command_plist($ARGV[0]);
} else {
    die "seed.pl: unknown mode $mode\n";
}
