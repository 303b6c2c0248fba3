#!/usr/bin/perl
# The key layout record (mdm:schema, docs/redis-schema.md): an empty Redis
# gets this build's version written by the first process; a deployment that
# predates the record is taken as version 1; another version is refused: the
# module answers 503 with an alert naming both versions (and serves again
# once Redis holds its version), mdm-worker exits 1 saying why.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use POSIX qw(WNOHANG);
use MDM::Test;
use MDM::Keys qw(:DEFAULT $SCHEMA_VERSION);

my $t = MDM::Test->new;
my $dir = $t->dir;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $https = $t->port('https');
my $worker_bin = "$MDM::Test::BUILD/mdm-worker";

is($t->redis('EXISTS', key_schema()), 0, 'an empty Redis has no record');

$t->nginx_start(<<"EOF", port => $https);
    mdm_redis 127.0.0.1:$redis;
    server {
        listen 127.0.0.1:$https ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        location / { mdm_api; mdm_api_key secret; }
    }
EOF

sub api_status {
    $t->request('GET', $https, '/v1/enrollments', undef,
                headers => { MDM::Test::api_auth('secret') })->{status};
}

ok($t->wait_for(sub { ($t->redis('HGET', key_schema(), 'version') // '') eq $SCHEMA_VERSION }, 20),
   "nginx records this build's layout version ($SCHEMA_VERSION) in an empty Redis");
is(api_status(), 200, '... and serves');

# A worker: runs on the recorded version, refuses another one.
sub worker {
    my ($name) = @_;
    return $t->spawn($name, {}, $worker_bin, '--redis', "127.0.0.1:$redis",
                     '--apns-url', 'https://127.0.0.1:1', '--name', $name,
                     '--log-level', 'info');
}
sub worker_log { my $f = "$dir/$_[0].out"; -e $f ? MDM::Test::slurp($f) : '' }
sub exit_code {
    my ($pid) = @_;
    my $code;
    $t->wait_for(sub {
        my $w = waitpid($pid, WNOHANG);
        $code = $? >> 8 if $w == $pid;
        return $w == $pid;
    }, 20);
    return $code;
}

worker('w1');
ok($t->wait_for(sub { worker_log('w1') =~ /key layout version $SCHEMA_VERSION\b/ }, 20),
   'mdm-worker checks the layout and runs');
$t->stop('w1');

# Another version: a newer deployment.
$t->redis('HSET', key_schema(), 'version', 99);
ok($t->wait_for(sub { api_status() == 503 }, 30), 'Redis of another layout: the API answers 503');
like($t->error_log, qr/refusing Redis: Redis holds key layout version 99, newer than this build's $SCHEMA_VERSION/,
     '... with an alert that names both versions');
is($t->redis('HGET', key_schema(), 'version'), 99, '... and the record is left alone');

my $pid = worker('w2');
is(exit_code($pid), 1, 'mdm-worker refuses to start: exit 1');
like(worker_log('w2'), qr/\[alert\].*refusing to start: Redis holds key layout version 99, newer than this build's $SCHEMA_VERSION/,
     '... saying why');
unlike(worker_log('w2'), qr/XGROUP|consumer group/i, '... before it touched a stream');

$t->redis('HSET', key_schema(), 'version', 'abc');
$pid = worker('w3');
is(exit_code($pid), 1, 'an invalid version is refused too');
like(worker_log('w3'), qr/invalid version "abc"/, '... and named');

# Back to this build's version: nginx serves again without a restart.
$t->redis('HSET', key_schema(), 'version', $SCHEMA_VERSION);
ok($t->wait_for(sub { api_status() == 200 }, 30), 'the record fixed: the API serves again, no restart');

# A deployment from before the record: enrollments, no mdm:schema.
$t->redis('DEL', key_schema());
$t->redis('ZADD', key_enrollments(), time, 'OLD-DEVICE');
worker('w4');
ok($t->wait_for(sub { worker_log('w4') =~ /key layout version $SCHEMA_VERSION\b/ }, 20),
   'a deployment that predates the record: the worker runs on it');
is($t->redis('HGET', key_schema(), 'version'), 1, '... recorded as layout version 1');
$t->stop('w4');

done_testing;
