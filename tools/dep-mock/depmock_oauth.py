"""OAuth 1.0a verification of GET /session, as Apple's Device Assignment
service does it (services.md section 5.1): an `Authorization: OAuth ...`
header signed with HMAC-SHA1 over the method, the base URL and the
parameters (RFC 5849 section 3.4), keyed by the consumer secret and the
access secret of one server token. Timestamps outside a window and nonces
seen before are refused, so a client that replays a header is caught."""

import base64
import hashlib
import hmac
import re
import urllib.parse

# RFC 5849 3.6: unreserved characters stay, everything else is %XX (upper).
def enc(s):
    return urllib.parse.quote(s, safe='-._~')


def parse_header(value):
    """The parameters of an `OAuth k="v", ...` header, or None."""
    if not value or not value.startswith('OAuth '):
        return None
    params = {}
    for m in re.finditer(r'([A-Za-z0-9_]+)="([^"]*)"', value[6:]):
        params[m.group(1)] = urllib.parse.unquote(m.group(2))
    return params


def base_string(method, base_url, params):
    """RFC 5849 3.4.1: METHOD&enc(URL)&enc(sorted, encoded k=v pairs)."""
    pairs = sorted((enc(k), enc(v)) for k, v in params)
    norm = '&'.join('%s=%s' % kv for kv in pairs)
    return '&'.join([method.upper(), enc(base_url), enc(norm)])


def sign(method, base_url, params, consumer_secret, token_secret):
    key = (enc(consumer_secret) + '&' + enc(token_secret)).encode()
    text = base_string(method, base_url, params).encode()
    return base64.b64encode(hmac.new(key, text, hashlib.sha1).digest()).decode()


class Verifier:
    """Checks one request's header against the tokens the mock issued.
    tokens: consumer_key -> dict of the token JSON. Returns (ok, reason)."""

    WINDOW = 300    # seconds a timestamp may differ from the clock

    def __init__(self):
        self.nonces = set()

    def verify(self, method, base_url, query, header, tokens, now):
        p = parse_header(header)
        if p is None:
            return False, 'no OAuth Authorization header'
        for k in ('oauth_consumer_key', 'oauth_token', 'oauth_signature',
                  'oauth_signature_method', 'oauth_timestamp', 'oauth_nonce'):
            if k not in p:
                return False, 'missing ' + k
        if p['oauth_signature_method'] != 'HMAC-SHA1':
            return False, 'signature method ' + p['oauth_signature_method']
        if p.get('oauth_version', '1.0') != '1.0':
            return False, 'oauth_version ' + p['oauth_version']
        tok = tokens.get(p['oauth_consumer_key'])
        if tok is None or tok['access_token'] != p['oauth_token']:
            return False, 'unknown consumer key or access token'
        try:
            ts = int(p['oauth_timestamp'])
        except ValueError:
            return False, 'bad timestamp'
        if abs(ts - now) > self.WINDOW:
            return False, 'timestamp outside the window'
        params = [(k, v) for k, v in p.items()
                  if k not in ('oauth_signature', 'realm')]
        params += urllib.parse.parse_qsl(query, keep_blank_values=True)
        want = sign(method, base_url, params,
                    tok['consumer_secret'], tok['access_secret'])
        if not hmac.compare_digest(want, p['oauth_signature']):
            return False, 'bad signature'
        nonce = (p['oauth_consumer_key'], p['oauth_timestamp'], p['oauth_nonce'])
        if nonce in self.nonces:
            return False, 'nonce replayed'
        self.nonces.add(nonce)
        return True, tok
