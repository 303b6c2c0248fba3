#!/usr/bin/perl
# A client that goes away while its Redis call is in flight: Redis is
# stopped (SIGSTOP) with the request's command sent and unread, the client
# closes, nginx ends the request, Redis resumes and answers a request that
# is gone. No [alert], no sanitizer report (t/lib's END reads every log; under
# make test-asan LeakSanitizer checks nginx at exit), and the same Redis
# connection serves the next requests with their own replies.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use MDM::Test;

*plist = \&MDM::Plist::plist;
*data = \&MDM::Plist::data;

my $t = MDM::Test->new;
my $pki = $t->pki;
my $redis = $t->redis_start;
my $port = $t->port('https');

# One worker, one Redis connection: every request below shares it. The
# timeout is far longer than the test holds Redis stopped, so the reply
# (not the timeout) is what arrives for the request that is gone.
$t->nginx_start(<<"EOF", port => $port);
    mdm_redis 127.0.0.1:$redis pool=1;
    mdm_redis_timeout ${\ int(MDM::Test::timeout(60)) }s;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $pki->{cert};
        ssl_certificate_key $pki->{key};
        mdm_device_ca $pki->{ca};
        location /mdm { mdm_server; }
        location = /healthz { mdm_healthz; }
        location / { mdm_api; mdm_api_key sekret; }
    }
EOF

my %API = MDM::Test::api_auth('sekret');
my $topic = 'com.apple.mgmt.External.client-abort';
my $UDID = 'ABORT-DEVICE-0001';
my $id = $t->identity($UDID);
my %CT = (checkin => 'application/x-apple-aspen-mdm-checkin',
          report => 'application/x-apple-aspen-mdm; charset=UTF-8');

sub mdm {
    my ($kind, $body) = @_;
    return $t->request('PUT', $port, '/mdm', $body, sign => $id,
                       headers => { 'Content-Type' => $CT{$kind} });
}

is(mdm(checkin => plist(MessageType => 'Authenticate', UDID => $UDID,
                        Topic => $topic))->{status}, 200, 'Authenticate');
is(mdm(checkin => plist(MessageType => 'TokenUpdate', UDID => $UDID,
                        Topic => $topic, Token => data("\x42" x 32),
                        PushMagic => 'magic'))->{status}, 200, 'TokenUpdate');
my $cmd = plist(CommandUUID => 'ABORT-CMD-1',
                Command => MDM::Plist::subdict(RequestType => 'ProfileList'));
is($t->request('PUT', $port, "/v1/enqueue/$UDID?nopush=1", $cmd,
               headers => \%API)->{status}, 200, 'a command is queued');

sub connects { scalar(() = $t->error_log =~ /mdm redis \S+: connected/g) }
sub gone { scalar(() = $t->error_log =~ /client prematurely closed connection/g) }
my $connects = connects();

# Each case: a request whose Redis call is left in flight when the client
# goes. The bodies are signed beforehand: nothing slow between the steps.
my $idle = plist(UDID => $UDID, Status => 'Idle');
my @cases = (
    [ 'a device report (connect.lua)', 'PUT', '/mdm', $idle,
      { 'Content-Type' => $CT{report}, 'Mdm-Signature' => $t->sign($id, $idle) } ],
    [ 'a check-in (checkin.lua)', 'PUT', '/mdm',
      plist(MessageType => 'TokenUpdate', UDID => $UDID, Topic => $topic,
            Token => data("\x43" x 32), PushMagic => 'magic-2') ],
    [ 'an API request', 'GET', "/v1/queue/$UDID", '', \%API ],
    [ '/healthz (PING)', 'GET', '/healthz', '', {} ],
);
$cases[1][4] = { 'Content-Type' => $CT{checkin},
                 'Mdm-Signature' => $t->sign($id, $cases[1][3]) };

for my $c (@cases) {
    my ($what, $method, $path, $body, $headers) = @$c;
    my $gone_before = gone();
    $t->redis_close;                    # our own client: no bytes of ours
    kill 'STOP', $t->pid('redis');
    my $sock = $t->request_send($method, $port, $path, $body,
                                headers => $headers);
    ok($t->wait_for(sub { $t->redis_unread > 0 }, 10),
       "$what: its command is sent and waits in the stopped Redis");
    close $sock;
    ok($t->wait_for(sub { gone() > $gone_before }, 10),
       "$what: the client closes, nginx ends the request");
    kill 'CONT', $t->pid('redis');
    ok($t->wait_for(sub { $t->redis_unread == 0 }, 10),
       "$what: Redis resumes and answers a request that is gone");

    # The next requests on the same connection get their own replies: a
    # reply of the gone request handed to them would not be a PONG, or not
    # the device's queue.
    is($t->request('GET', $port, '/healthz')->{status}, 200,
       "$what: /healthz after it is 200");
    like(mdm(report => $idle)->{body}, qr/ABORT-CMD-1/,
         "$what: the device gets its queued command after it");
}

is(connects(), $connects, 'one Redis connection served it all: none was dropped');
is(scalar(() = $t->error_log =~ /mdm redis .*(?:error|lost|timed out)/g), 0,
   'no Redis error was logged');

$t->stop('nginx');
is_deeply([ $t->error_log_problems ], [], 'no alerts, crashes or sanitizer reports');

done_testing();
