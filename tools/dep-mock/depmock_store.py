"""The organisation's devices as Apple keeps them for one MDM server: a
device store with an operation log (services.md 5.3, 5.4, 9.1).

- `/server/devices` (fetch) pages through the devices present, in serial
  order, with an opaque cursor; once a fetch has returned everything, its
  cursor is exhausted for fetch (EXHAUSTED_CURSOR) and is where sync starts.
- `/devices/sync` returns the operations (op_type added|modified|deleted,
  op_date) logged after the cursor, the same device as often as it changed
  (duplicates are Apple's, the client keeps the latest op_date); a cursor
  older than 7 days of the mock clock is EXPIRED_CURSOR.
- Cursors are opaque to the client: base64 of the position with an HMAC, so
  an edited or foreign cursor is INVALID_CURSOR.
"""

import base64
import bisect
import hashlib
import hmac
import json
import secrets
import time

CURSOR_MAX_AGE = 7 * 86400


class CursorError(Exception):
    pass


def iso(t):
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t))


# Fields by X-Server-Protocol-Version (services.md 5.2): a client asking for
# less does not see the later fields.
FIELD_VERSION = {
    'device_family': 2, 'os': 2,
    'mdm_migration_deadline': 8,
    'is_replacement_device': 10, 'released_by_replacement': 10,
    'imei': 10, 'meid': 10, 'eid': 10, 'wifi_mac_address': 10,
    'ethernet_mac_address': 10, 'bluetooth_mac_address': 10,
}


def device_view(dev, version):
    out = {}
    for k, v in dev.items():
        if v is None or FIELD_VERSION.get(k, 1) > version:
            continue
        if k == 'os' and v == 'iPadOS' and version < 7:
            v = 'iOS'    # iPadOS is reported from version 7 on
        out[k] = v
    return out


MODELS = [
    ('MacBook Air', 'OSX', 'Mac', 'SPACE GRAY'),
    ('iPad Pro 12.9', 'iPadOS', 'iPad', 'SILVER'),
    ('iPhone 15', 'iOS', 'iPhone', 'BLACK'),
    ('Apple TV 4K', 'tvOS', 'AppleTV', 'BLACK'),
]


class Store:
    def __init__(self, clock):
        self.clock = clock
        self.key = secrets.token_bytes(16)
        self.devices = {}       # serial -> record
        self.serials = []       # sorted serials present
        self.log = []           # (op_type, op_date, record copy); seq = index + 1
        self.echo = 0           # sync calls left that echo the request cursor

    # --- changes, as ABM makes them -----------------------------------------

    def _log(self, op_type, dev):
        rec = dict(dev)
        rec['op_type'] = op_type
        rec['op_date'] = iso(self.clock())
        self.log.append(rec)

    def add(self, dev):
        serial = dev['serial_number']
        if serial not in self.devices:
            bisect.insort(self.serials, serial)
        base = {'profile_status': 'empty', 'device_assigned_by': 'admin@example.org',
                'device_assigned_date': iso(self.clock())}
        base.update(dev)
        self.devices[serial] = base
        self._log('added', base)

    def modify(self, serial, fields):
        dev = self.devices.get(serial)
        if dev is None:
            return False
        dev.update(fields)
        self._log('modified', dev)
        return True

    def delete(self, serial):
        dev = self.devices.pop(serial, None)
        if dev is None:
            return False
        i = bisect.bisect_left(self.serials, serial)
        del self.serials[i]
        self._log('deleted', dev)
        return True

    def seed(self, count, prefix='SEED'):
        for i in range(count):
            model, os_, family, color = MODELS[i % len(MODELS)]
            self.add({'serial_number': '%s%08d' % (prefix, len(self.devices) + 1),
                      'model': model, 'description': model + ' (mock)',
                      'color': color, 'asset_tag': 'A%d' % (i + 1),
                      'os': os_, 'device_family': family})

    # --- cursors ---------------------------------------------------------------

    def _cursor(self, **c):
        c['t'] = int(self.clock())
        raw = base64.urlsafe_b64encode(json.dumps(c, separators=(',', ':')).encode())
        tag = hmac.new(self.key, raw, hashlib.sha256).hexdigest()[:16]
        return raw.decode().rstrip('=') + '.' + tag

    def _parse(self, cursor):
        if not isinstance(cursor, str) or len(cursor) > 1000 or '.' not in cursor:
            raise CursorError('INVALID_CURSOR')
        raw, tag = cursor.rsplit('.', 1)
        raw = raw.encode() + b'=' * (-len(raw) % 4)
        want = hmac.new(self.key, raw, hashlib.sha256).hexdigest()[:16]
        if not hmac.compare_digest(want, tag):
            raise CursorError('INVALID_CURSOR')
        try:
            return json.loads(base64.urlsafe_b64decode(raw))
        except ValueError:
            raise CursorError('INVALID_CURSOR')

    # --- the two reads -------------------------------------------------------

    def fetch(self, cursor, limit, version):
        if cursor is None:
            after, start_seq = '', len(self.log)
        else:
            c = self._parse(cursor)
            if c.get('k') == 'd':
                raise CursorError('EXHAUSTED_CURSOR')
            if c.get('k') != 'f':
                raise CursorError('INVALID_CURSOR')
            after, start_seq = c['a'], c['q']
        i = bisect.bisect_right(self.serials, after) if after else 0
        page = self.serials[i:i + limit]
        more = i + limit < len(self.serials)
        devs = [device_view(self.devices[s], version) for s in page]
        if more:
            nxt = self._cursor(k='f', a=page[-1], q=start_seq)
        else:
            # everything was returned: sync goes on from the operations
            # logged since the fetch began
            nxt = self._cursor(k='d', q=start_seq)
        return {'devices': devs, 'cursor': nxt, 'more_to_follow': more,
                'fetched_until': iso(self.clock())}

    def sync(self, cursor, limit, version):
        c = self._parse(cursor)
        if c.get('k') != 'd':
            raise CursorError('INVALID_CURSOR')
        if self.clock() - c['t'] > CURSOR_MAX_AGE:
            raise CursorError('EXPIRED_CURSOR')
        if self.echo > 0:
            # Apple's bug (micromdm/nanodep#73): the request cursor comes back
            # with more_to_follow=true and nothing new
            self.echo -= 1
            return {'devices': [], 'cursor': cursor, 'more_to_follow': True,
                    'fetched_until': iso(self.clock())}
        q = c['q']
        ops = self.log[q:q + limit]
        q += len(ops)
        return {'devices': [device_view(d, version) for d in ops],
                'cursor': self._cursor(k='d', q=q),
                'more_to_follow': q < len(self.log),
                'fetched_until': iso(self.clock())}
