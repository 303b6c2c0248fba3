"""A stand-in for Apple's enterprise attestation authority (services.md §9.4).

Apple attests a hardware-bound key of a device by a certificate chain from
the "Apple Enterprise Attestation Root CA" (P-384) through an intermediate to
a leaf over the device's key, with the device's properties as extensions
whose OCTET STRING holds the raw value (services.md §3.3; `DM/acmecertificate`,
the `DevicePropertiesAttestation` keys of `DM/deviceinformationresponse`):

  1.2.840.113635.100.8.9.1   serial number
  1.2.840.113635.100.8.9.2   UDID
  1.2.840.113635.100.8.10.1  OS version
  1.2.840.113635.100.8.10.2  sepOS version
  1.2.840.113635.100.8.10.3  LLB version
  1.2.840.113635.100.8.11.1  freshness code: SHA-256 of the ACME token
  1.2.840.113635.100.8.13.x  macOS boot/SIP properties

and the device wraps the chain in a WebAuthn-style attestation object,
CBOR {"fmt": "apple", "attStmt": {"x5c": [leaf, intermediate]}}, which it
posts base64url-encoded as {"attObj": ...} to the device-attest-01
challenge. This module mints such chains from a test root, with the
negative cases of §9.4 on demand. It is a library (the tests' device
client imports it) and, through `attest-mock`, a command.
"""

import datetime
import hashlib
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

OID_SERIAL = "1.2.840.113635.100.8.9.1"
OID_UDID = "1.2.840.113635.100.8.9.2"
OID_OS_VERSION = "1.2.840.113635.100.8.10.1"
OID_SEPOS_VERSION = "1.2.840.113635.100.8.10.2"
OID_LLB_VERSION = "1.2.840.113635.100.8.10.3"
OID_FRESHNESS = "1.2.840.113635.100.8.11.1"
OID_SIP = "1.2.840.113635.100.8.13.1"

ROOT_NAME = "Apple Enterprise Attestation Root CA (test)"
SUB_NAME = "Apple Enterprise Attestation Sub CA 1 (test)"


# --- CBOR (RFC 8949), the definite-length subset an attestation object uses

def _head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | ai]) + n.to_bytes(size, "big")
    raise ValueError("too long")


def cbor(v):
    """Encodes str, bytes, int >= 0, list and dict (keys in given order)."""
    if isinstance(v, bytes):
        return _head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode()
        return _head(3, len(b)) + b
    if isinstance(v, bool):
        return bytes([0xf5 if v else 0xf4])
    if isinstance(v, int) and v >= 0:
        return _head(0, v)
    if isinstance(v, list):
        return _head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        return _head(5, len(v)) + b"".join(cbor(k) + cbor(x)
                                            for k, x in v.items())
    raise TypeError(type(v))


# --- the authority

def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                         "Apple Inc. (test)")])


def _ca_cert(subject, key, issuer, issuer_key, days, path_len):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder()
            .subject_name(_name(subject)).issuer_name(_name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True,
                                                 path_length=path_len),
                           critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False,
                                         True, True, False, False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                key.public_key()), critical=False)
            .sign(issuer_key, hashes.SHA384()))


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


class Authority:
    """A test root and intermediate kept in a directory (root.pem,
    root.key, sub.pem, sub.key): init() makes them, load() reads them."""

    def __init__(self, directory):
        self.dir = directory

    def _path(self, name):
        return os.path.join(self.dir, name)

    def init(self, days=3650):
        os.makedirs(self.dir, exist_ok=True)
        root_key = ec.generate_private_key(ec.SECP384R1())
        sub_key = ec.generate_private_key(ec.SECP384R1())
        root = _ca_cert(ROOT_NAME, root_key, ROOT_NAME, root_key, days, 1)
        sub = _ca_cert(SUB_NAME, sub_key, ROOT_NAME, root_key, days, 0)
        for name, data in (("root.key", _pem_key(root_key)),
                           ("root.pem", _pem_cert(root)),
                           ("sub.key", _pem_key(sub_key)),
                           ("sub.pem", _pem_cert(sub))):
            with open(self._path(name), "wb") as f:
                f.write(data)
        return self.load()

    def load(self):
        def read(name):
            with open(self._path(name), "rb") as f:
                return f.read()
        self.root = x509.load_pem_x509_certificate(read("root.pem"))
        self.sub = x509.load_pem_x509_certificate(read("sub.pem"))
        self.sub_key = serialization.load_pem_private_key(read("sub.key"),
                                                          None)
        return self

    def leaf(self, public_key, token=None, serial=None, udid=None,
             os_version="17.4", sepos_version="17.4", llb_version=None,
             freshness=None, expired=False, macos=False, days=2):
        """A leaf over public_key. freshness: the raw code, default
        SHA-256(token); b"" leaves the extension out."""
        now = datetime.datetime.now(datetime.timezone.utc)
        if expired:
            before = now - datetime.timedelta(days=10)
            after = now - datetime.timedelta(days=3)
        else:
            before = now - datetime.timedelta(minutes=5)
            after = now + datetime.timedelta(days=days)
        if freshness is None:
            freshness = hashlib.sha256(token.encode()).digest()
        props = [(OID_SERIAL, serial), (OID_UDID, udid),
                 (OID_OS_VERSION, os_version),
                 (OID_SEPOS_VERSION, sepos_version),
                 (OID_LLB_VERSION, llb_version)]
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(
                 NameOID.COMMON_NAME, hashlib.sha256(os.urandom(16))
                 .hexdigest())]))
             .issuer_name(self.sub.subject)
             .public_key(public_key)
             .serial_number(x509.random_serial_number())
             .not_valid_before(before).not_valid_after(after)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                            critical=True))
        for oid, value in props:
            if value is not None:
                b = b.add_extension(x509.UnrecognizedExtension(
                    x509.ObjectIdentifier(oid), value.encode()),
                    critical=False)
        if freshness:
            b = b.add_extension(x509.UnrecognizedExtension(
                x509.ObjectIdentifier(OID_FRESHNESS), freshness),
                critical=False)
        if macos:
            b = b.add_extension(x509.UnrecognizedExtension(
                x509.ObjectIdentifier(OID_SIP), b"\x00"), critical=False)
        return b.sign(self.sub_key, hashes.SHA256())

    def attestation(self, public_key, fmt="apple", chain=None, **leaf):
        """The CBOR attestation object for public_key; chain replaces
        [leaf, intermediate] (DER certificates)."""
        if chain is None:
            der = serialization.Encoding.DER
            chain = [self.leaf(public_key, **leaf).public_bytes(der),
                     self.sub.public_bytes(der)]
        return cbor({"fmt": fmt, "attStmt": {"x5c": chain}})


FIXTURE_TOKEN = "DGyRejmCefe7v4NfDGDKfA"
FIXTURE_SERIAL = "C02TEST0001"
FIXTURE_UDID = "00008103-000A1B2C3D4E5F60"


def fixtures(directory):
    """The unit tests' set (t/fixtures/acme): an authority valid for 100
    years, a device key, attestations for FIXTURE_TOKEN good and broken,
    and a second authority's good one (a foreign root)."""
    der = serialization.Encoding.DER
    auth = Authority(directory).init(days=36500)
    other = Authority(os.path.join(directory, "other")).init(days=36500)
    key = ec.generate_private_key(ec.SECP384R1())
    with open(os.path.join(directory, "device.key"), "wb") as f:
        f.write(_pem_key(key))
    pub = key.public_key()
    good = dict(token=FIXTURE_TOKEN, serial=FIXTURE_SERIAL,
                udid=FIXTURE_UDID, days=36500)
    cases = {
        "good": auth.attestation(pub, **good),
        "macos": auth.attestation(pub, macos=True, **good),
        "foreign-root": other.attestation(pub, **good),
        "stale-freshness": auth.attestation(
            pub, **dict(good, freshness=hashlib.sha256(b"old").digest())),
        "no-freshness": auth.attestation(pub, **dict(good, freshness=b"")),
        "fmt-packed": auth.attestation(pub, fmt="packed", **good),
        "expired": auth.attestation(pub, **dict(good, expired=True)),
        "leaf-only": auth.attestation(pub, chain=[
            auth.leaf(pub, **good).public_bytes(der)]),
        "serial-only": auth.attestation(pub, **dict(good, udid=None)),
    }
    for name, data in cases.items():
        with open(os.path.join(directory, name + ".cbor"), "wb") as f:
            f.write(data)
    for name in ("root.key", "sub.key", "other/root.key", "other/sub.key",
                 "other/sub.pem"):
        os.unlink(os.path.join(directory, name))
