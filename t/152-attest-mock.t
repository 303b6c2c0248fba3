#!/usr/bin/perl
# tools/attest-mock, the stand-in for Apple's attestation authority
# (services.md §9.4), checked with tools that are not ours: openssl verify
# for the chain, openssl asn1parse for the extensions, and the CBOR bytes
# against RFC 8949's encoding written out by hand.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::SHA qw(sha256);
use MIME::Base64 qw(decode_base64);
use MDM::Test;

my $t = MDM::Test->new;
my $d = $t->dir;
my $mock = "$MDM::Test::ROOT/tools/attest-mock/attest-mock";
my $py = -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';

sub run { my $out = `@_ 2>&1`; return ($? >> 8, $out) }

my ($rc, $o) = run($py, $mock, 'init', "$d/ca");
is($rc, 0, 'attest-mock init') or diag $o;
ok(-s "$d/ca/$_", "init writes $_") for qw(root.pem root.key sub.pem sub.key);

my $root = `openssl x509 -in $d/ca/root.pem -noout -text`;
like($root, qr/Subject:.*Apple Enterprise Attestation Root CA/, 'the root names itself as Apple does');
like($root, qr/ASN1 OID: secp384r1/, 'the root key is P-384, as Apple\'s');
like($root, qr/CA:TRUE/, 'the root is a CA');
like(`openssl verify -CAfile $d/ca/root.pem $d/ca/sub.pem 2>&1`, qr/: OK$/m,
     'the intermediate chains to the root');

run("openssl ecparam -name secp384r1 -genkey -noout -out $d/dev.key");
my $token = 'tok-' . time;
($rc, $o) = run($py, $mock, 'mint', "$d/ca", '--pubkey', "$d/dev.key",
                '--token', $token, '--serial', 'C02TEST0042',
                '--udid', '00008103-0001', '--out', "$d/att.cbor");
is($rc, 0, 'attest-mock mint') or diag $o;
my $cbor = MDM::Test::slurp("$d/att.cbor");

# {"fmt": "apple", "attStmt": {"x5c": [bstr, bstr]}}: map(2), text(3)
# "fmt", text(5) "apple", text(7) "attStmt", map(1), text(3) "x5c", array(2)
my $head = "\xa2\x63fmt\x65apple\x67attStmt\xa1\x63x5c\x82";
is(substr($cbor, 0, length $head), $head, 'CBOR: the attestation object map, fmt apple, x5c of two');

# the two byte strings (major type 2, 2-byte length: 0x59 hh ll)
my $p = length $head;
my @der;
for my $i (0, 1) {
    my ($ib, $len) = unpack('Cn', substr($cbor, $p, 3));
    is($ib, 0x59, "x5c[$i] is a byte string with a 2-byte length");
    push @der, substr($cbor, $p + 3, $len);
    $p += 3 + $len;
}
is($p, length $cbor, 'nothing follows the map');

MDM::Test::spew("$d/leaf.der", $der[0]);
MDM::Test::spew("$d/x5c1.der", $der[1]);
run("openssl x509 -inform DER -in $d/leaf.der -out $d/leaf.pem");
run("openssl x509 -inform DER -in $d/x5c1.der -out $d/x5c1.pem");
is(`openssl x509 -in $d/x5c1.pem -noout -fingerprint -sha256`,
   `openssl x509 -in $d/ca/sub.pem -noout -fingerprint -sha256`,
   'x5c[1] is the intermediate');
like(`openssl verify -CAfile $d/ca/root.pem -untrusted $d/ca/sub.pem $d/leaf.pem 2>&1`,
     qr/: OK$/m, 'the leaf chains to the root through the intermediate');

is(`openssl x509 -in $d/leaf.pem -noout -pubkey`, `openssl ec -in $d/dev.key -pubout 2>/dev/null`,
   'the leaf is over the device key');

# the extensions: each OID followed by an OCTET STRING of the raw value
my $asn = `openssl asn1parse -in $d/leaf.pem`;
sub ext_value {
    my ($oid) = @_;
    # printable contents are shown as text, others as a hex dump
    $asn =~ /OBJECT\s+:\Q$oid\E\s*\n[^\n]*OCTET STRING\s+(\[HEX DUMP\]:([0-9A-F]+)|:(.*))/
        or return undef;
    return defined $2 ? pack('H*', $2) : $3;
}
is(ext_value('1.2.840.113635.100.8.9.1'), 'C02TEST0042', 'serial extension (.8.9.1)');
is(ext_value('1.2.840.113635.100.8.9.2'), '00008103-0001', 'UDID extension (.8.9.2)');
is(ext_value('1.2.840.113635.100.8.10.1'), '17.4', 'OS version extension (.8.10.1)');
is(ext_value('1.2.840.113635.100.8.10.2'), '17.4', 'sepOS version extension (.8.10.2)');
is(ext_value('1.2.840.113635.100.8.11.1'), sha256($token), 'freshness code = SHA-256(token) (.8.11.1)');
unlike($asn, qr/113635\.100\.8\.13\.1/, 'no SIP extension unless macOS');

# the negative cases on demand
($rc, $o) = run($py, $mock, 'mint', "$d/ca", '--pubkey', "$d/dev.key", '--token', $token,
                '--serial', 'S', '--no-freshness', '--fmt', 'packed', '--macos',
                '--b64url', '--out', "$d/neg.b64");
is($rc, 0, 'mint with --no-freshness --fmt packed --macos --b64url') or diag $o;
my $b64 = MDM::Test::slurp("$d/neg.b64");
unlike($b64, qr/[+\/=\n]/, 'base64url without padding');
(my $std = $b64) =~ tr/-_/+\//;
my $neg = decode_base64($std . '=' x ((4 - length($std) % 4) % 4));
is(substr($neg, 0, 16), "\xa2\x63fmt\x66packed\x67att", 'fmt is what was asked');
$neg =~ /\x59(..)/s;
MDM::Test::spew("$d/neg.der", substr($neg, index($neg, "\x59") + 3, unpack('n', $1)));
my $nasn = `openssl asn1parse -inform DER -in $d/neg.der`;
unlike($nasn, qr/113635\.100\.8\.11\.1/, '--no-freshness leaves the code out');
like($nasn, qr/113635\.100\.8\.13\.1/, '--macos adds the SIP extension');

($rc, $o) = run($py, $mock, 'mint', "$d/ca", '--pubkey', "$d/dev.key", '--token', $token,
                '--serial', 'S', '--expired', '--out', "$d/exp.cbor");
my $exp = MDM::Test::slurp("$d/exp.cbor");
MDM::Test::spew("$d/exp.der", substr($exp, length($head) + 3, unpack('n', substr($exp, length($head) + 1, 2))));
run("openssl x509 -inform DER -in $d/exp.der -out $d/exp.pem");
like(`openssl verify -CAfile $d/ca/root.pem -untrusted $d/ca/sub.pem $d/exp.pem 2>&1`,
     qr/expired/, '--expired mints a leaf past its notAfter');

($rc, $o) = run($py, $mock, 'mint', "$d/ca", '--pubkey', "$d/dev.key", '--token', $token,
                '--serial', 'S', '--freshness', 'abcd', '--out', "$d/f.cbor");
my $f = MDM::Test::slurp("$d/f.cbor");
MDM::Test::spew("$d/f.der", substr($f, length($head) + 3, unpack('n', substr($f, length($head) + 1, 2))));
like(`openssl asn1parse -inform DER -in $d/f.der`,
     qr/113635\.100\.8\.11\.1\s*\n[^\n]*OCTET STRING\s+\[HEX DUMP\]:ABCD\n/,
     '--freshness HEX is written as given');

ok(!-e "$MDM::Test::ROOT/tools/attest-mock/__pycache__", 'no __pycache__ left in the source tree');

done_testing();
