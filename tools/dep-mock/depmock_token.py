"""Server tokens as Apple Business/School Manager issues them (services.md
5.1): the MDM's certificate is uploaded, and the `.p7m` downloaded is
S/MIME (MIME headers, blank line, base64 of a CMS EnvelopedData to that
certificate) whose decrypted text is MIME-wrapped with the token JSON
between `-----BEGIN MESSAGE-----` and `-----END MESSAGE-----`. The CMS is
made by openssl cms, the same encryption a real .p7m carries."""

import datetime
import os
import secrets
import subprocess
import tempfile


def new_tokens(consumer_key=None, days=365, now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    expiry = now + datetime.timedelta(days=days)
    return {
        'consumer_key': consumer_key or 'CK_' + secrets.token_hex(24),
        'consumer_secret': 'CS_' + secrets.token_hex(20),
        'access_token': 'AT_' + secrets.token_hex(30),
        'access_secret': 'AS_' + secrets.token_hex(20),
        'access_token_expiry': expiry.strftime('%Y-%m-%dT%H:%M:%SZ'),
    }


def inner_text(token_json):
    return ('Content-Type: text/plain;charset=UTF-8\r\n'
            'Content-Transfer-Encoding: 7bit\r\n\r\n'
            '-----BEGIN MESSAGE-----\n' + token_json +
            '\n-----END MESSAGE-----\n')


def p7m(cert_pem, token_json):
    """The S/MIME .p7m for cert_pem (PEM text); raises ValueError when the
    certificate is not one openssl can encrypt to."""
    with tempfile.TemporaryDirectory() as d:
        cert = os.path.join(d, 'cert.pem')
        msg = os.path.join(d, 'msg.txt')
        with open(cert, 'w') as f:
            f.write(cert_pem)
        with open(msg, 'w') as f:
            f.write(inner_text(token_json))
        r = subprocess.run(['openssl', 'cms', '-encrypt', '-aes256', '-in', msg,
                            '-binary', cert], capture_output=True)
        if r.returncode != 0 or not r.stdout:
            raise ValueError('certificate refused: ' +
                             r.stderr.decode(errors='replace').strip()[:200])
        return r.stdout.decode()
