package MDM::DepMock;

# tools/dep-mock (Apple's Device Assignment service, services.md 9.1) for
# the tests: starts it under a harness, drives its control API (/_mock/...)
# and speaks its Apple side as any OAuth 1.0a client would (the signing
# here is RFC 5849's, written for the tests, not the worker's code).

use strict;
use warnings;

use Carp qw(croak);
use Digest::SHA qw(hmac_sha1_base64);
use HTTP::Tiny;
use JSON::PP;

use MDM::Test;

our $BIN = "$MDM::Test::ROOT/tools/dep-mock/dep-mock";
my $JSON = JSON::PP->new->canonical->allow_nonref;

# MDM::DepMock->start($t, name => 'dep', seed => N): a running mock.
sub start {
    my ($class, $t, %opt) = @_;
    my $name = $opt{name} // 'dep-mock';
    my $out = $t->dir . "/$name.out";
    unlink $out;
    $t->spawn($name, {}, $BIN, '--port', $opt{port} // 0,
              '--seed', $opt{seed} // 0);
    my $port = $t->wait_for(sub {
        -e $out && MDM::Test::slurp($out) =~ /^port=(\d+)$/m ? $1 : undef
    }) or croak "dep-mock did not start: " . (-e $out ? MDM::Test::slurp($out) : '');
    return bless { t => $t, name => $name, port => $port,
                   http => HTTP::Tiny->new(timeout => MDM::Test::timeout(30),
                                           agent => 'ngx_mdm-tests/1') }, $class;
}

sub port { $_[0]{port} }
sub url  { "http://127.0.0.1:$_[0]{port}" }
sub stop { $_[0]{t}->stop($_[0]{name}) }

sub decode { my $b = shift; my $v = eval { $JSON->decode($b) }; defined $v ? $v : $b }
sub json   { $JSON->encode($_[-1]) }

# { status, body (decoded JSON when it is JSON), headers }
sub call {
    my ($self, $method, $path, $body, %h) = @_;
    my %opt = (headers => { %h });
    if (defined $body) {
        $opt{content} = ref $body ? json($body) : $body;
        $opt{headers}{'Content-Type'} //= 'application/json;charset=UTF8';
    }
    my $r = $self->{http}->request($method, $self->url . $path, \%opt);
    return { status => $r->{status}, raw => $r->{content},
             body => decode($r->{content}), headers => $r->{headers} };
}

sub control {
    my ($self, $method, $path, $body) = @_;
    my $r = $self->call($method, "/_mock/$path", $body);
    croak "dep-mock $method /_mock/$path: $r->{status} $r->{raw}"
        unless $r->{status} == 200;
    return $r->{body};
}

# The .p7m ABM would hand out for this certificate (PEM text).
sub p7m {
    my ($self, $cert_pem, %q) = @_;
    my $q = join '&', map { "$_=$q{$_}" } sort keys %q;
    my $r = $self->call('POST', '/_mock/token' . ($q ? "?$q" : ''), $cert_pem,
                        'Content-Type' => 'application/x-pem-file');
    croak "dep-mock token: $r->{status} $r->{raw}" unless $r->{status} == 200;
    return $r->{raw};
}

# The MDM's side of the token PKI, as ABM expects it (services.md 5.1): an
# RSA key and a self-signed certificate, { key, cert } paths and pem.
sub token_pki {
    my ($t, $name) = @_;
    my $base = $t->dir . "/depkey-$name";
    $t->openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout',
        "$base.key", '-out', "$base.pem", '-days', '30', '-subj', "/CN=$name",
        '-addext', 'keyUsage=keyEncipherment,digitalSignature');
    return { key => "$base.key", cert => "$base.pem",
             pem => MDM::Test::slurp("$base.pem") };
}

# openssl cms -decrypt of a .p7m, then the JSON between the MESSAGE lines.
sub decrypt_p7m {
    my ($t, $p7m, $pki) = @_;
    my $in = $t->dir . "/p7m-$$.in";
    my $out = $t->dir . "/p7m-$$.out";
    MDM::Test::spew($in, $p7m);
    unlink $out;
    eval { $t->openssl('cms', '-decrypt', '-in', $in, '-inkey', $pki->{key},
                       '-recip', $pki->{cert}, '-out', $out); 1 } or return undef;
    my ($j) = MDM::Test::slurp($out)
        =~ /-----BEGIN MESSAGE-----\r?\n(.*?)\r?\n-----END MESSAGE-----/s or return undef;
    return decode($j);
}

# A token as an admin would download it for the worker's `dep_token`
# line: { p7m, key (paths), tok (its JSON, decrypted here), line }.
sub token_files {
    my ($self, $t, $name, %q) = @_;
    my $pki = token_pki($t, $name);
    my $p7m = $self->p7m($pki->{pem}, %q);
    my $path = $t->dir . "/$name.p7m";
    MDM::Test::spew($path, $p7m);
    return { p7m => $path, key => $pki->{key}, pki => $pki,
             tok => decrypt_p7m($t, $p7m, $pki),
             line => "$name $path $pki->{key}" };
}

sub requests { $_[0]->control('GET', 'requests')->{requests} }

# --- an OAuth 1.0a client, RFC 5849 ------------------------------------------

sub enc {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

# The Authorization header for GET url signed with the token JSON's
# secrets; %over replaces oauth_* values (nonce, timestamp, signature).
sub oauth_header {
    my ($tok, $method, $url, %over) = @_;
    my %p = (oauth_consumer_key => $tok->{consumer_key},
             oauth_token => $tok->{access_token},
             oauth_signature_method => 'HMAC-SHA1',
             oauth_timestamp => time, oauth_nonce => sprintf('%08x%08x', rand 2**32, rand 2**32),
             oauth_version => '1.0');
    $p{$_} = $over{$_} for grep { $_ ne 'oauth_signature' && $_ ne 'secret' } keys %over;
    my $norm = join '&', map { enc($_) . '=' . enc($p{$_}) } sort keys %p;
    my $base = join '&', uc $method, enc($url), enc($norm);
    my $key = enc($tok->{consumer_secret}) . '&'
            . enc($over{secret} // $tok->{access_secret});
    my $sig = hmac_sha1_base64($base, $key);
    $sig .= '=' while length($sig) % 4;
    $p{oauth_signature} = $over{oauth_signature} // $sig;
    return 'OAuth realm="ADM", '
        . join(', ', map { sprintf '%s="%s"', $_, enc($p{$_}) } sort keys %p);
}

# A session token for tok, or the failed response.
sub session {
    my ($self, $tok, %over) = @_;
    my $r = $self->call('GET', '/session', undef,
        Authorization => oauth_header($tok, 'GET', $self->url . '/session', %over));
    return $r->{status} == 200 ? $r->{body}{auth_session_token} : $r;
}

# An Apple call with a session and a protocol version (default 10).
sub api {
    my ($self, $session, $method, $path, $body, %h) = @_;
    return $self->call($method, $path, $body,
        'X-ADM-Auth-Session' => $session,
        'X-Server-Protocol-Version' => $h{version} // 10,
        map { $_ => $h{$_} } grep { $_ ne 'version' } keys %h);
}

1;
