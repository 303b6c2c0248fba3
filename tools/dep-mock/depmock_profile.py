"""Enrollment profiles as the Device Assignment service keeps them
(services.md 5.3, DM/define-profile, DM/assign-profile): define with every
documented 400 code and length limit, fetch by UUID, assign and remove per
serial with SUCCESS|NOT_ACCESSIBLE|FAILED|THROTTLED results, at most 1000
serials a call, and the outcomes a test programs: FAILED (a retry within
24 h of a FAILED is recorded as a cooldown violation) and THROTTLED with
retry_after_seconds."""

import re
import time
import urllib.parse
import uuid

MAX_SERIALS = 1000
FAILED_COOLDOWN = 86400

BOOL_FIELDS = ('allow_pairing', 'auto_advance_setup', 'await_device_configured',
               'do_not_use_profile_from_backup', 'is_mandatory', 'is_mdm_removable',
               'is_multi_user', 'is_return_to_service', 'is_supervised')
STR_FIELDS = ('profile_name', 'url', 'configuration_web_url', 'department',
              'language', 'region', 'org_magic', 'support_email_address',
              'support_phone_number')
LIST_FIELDS = ('anchor_certs', 'supervising_host_certs', 'skip_setup_items', 'devices')

LOCALE = re.compile(r'^[a-z]{2,3}(-[A-Za-z]{4})?$')
REGION = re.compile(r'^[A-Z]{2}$')
EMAIL = re.compile(r'^[^@\s]+@[^@\s]+\.[^@\s]+$')


class ProfileError(Exception):
    pass


def valid_url(u):
    p = urllib.parse.urlparse(u)
    return len(u) <= 2000 and p.scheme in ('http', 'https') and bool(p.netloc)


def validate(p):
    """Raises ProfileError(code) with the first documented 400 code."""
    if not isinstance(p, dict):
        raise ProfileError('MALFORMED_REQUEST_BODY')
    for k in BOOL_FIELDS:
        if k in p and not isinstance(p[k], bool):
            raise ProfileError('MALFORMED_REQUEST_BODY')
    for k in STR_FIELDS:
        if k in p and not isinstance(p[k], str):
            raise ProfileError('MALFORMED_REQUEST_BODY')
    for k in LIST_FIELDS:
        if k in p and not (isinstance(p[k], list)
                           and all(isinstance(x, str) for x in p[k])):
            raise ProfileError('MALFORMED_REQUEST_BODY')
    if 'profile_name' not in p:
        raise ProfileError('CONFIG_NAME_REQUIRED')
    if not p['profile_name'] or len(p['profile_name']) > 125:
        raise ProfileError('CONFIG_NAME_INVALID')
    if 'url' not in p or p['url'] == '':
        raise ProfileError('CONFIG_URL_REQUIRED')
    if not valid_url(p['url']):
        raise ProfileError('CONFIG_URL_INVALID')
    if 'configuration_web_url' in p and not valid_url(p['configuration_web_url']):
        raise ProfileError('CONFIG_URL_INVALID')
    if len(p.get('department', '')) > 125:
        raise ProfileError('DEPARTMENT_INVALID')
    if p.get('is_mdm_removable') is False and p.get('is_supervised') is not True:
        raise ProfileError('FLAGS_INVALID')
    if 'language' in p and not LOCALE.match(p['language']):
        raise ProfileError('LOCALE_INVALID')
    if 'region' in p and not REGION.match(p['region']):
        raise ProfileError('LOCALE_INVALID')
    if len(p.get('org_magic', '')) > 256:
        raise ProfileError('MAGIC_INVALID')
    email = p.get('support_email_address')
    if email is not None and (len(email) > 250 or not EMAIL.match(email)):
        raise ProfileError('SUPPORT_EMAIL_INVALID')
    if len(p.get('support_phone_number', '')) > 50:
        raise ProfileError('SUPPORT_PHONE_INVALID')
    if len(p.get('devices', [])) > MAX_SERIALS:
        raise ProfileError('DEVICE_ID_INVALID')


class Profiles:
    def __init__(self, store, clock):
        self.store = store
        self.clock = clock
        self.profiles = {}       # uuid -> profile JSON
        self.outcomes = {}       # serial -> list of programmed statuses
        self.throttle = None     # {'calls': n, 'retry_after': s}
        self.failed_at = {}      # serial -> mock time of its last FAILED
        self.violations = []     # serials retried within the FAILED cooldown

    def define(self, p, version):
        validate(p)
        pid = uuid.uuid4().hex.upper()
        stored = {k: v for k, v in p.items() if k != 'devices'}
        self.profiles[pid] = stored
        out = {'profile_uuid': pid, 'devices': {}}
        if p.get('devices'):
            out['devices'] = self.assign(pid, p['devices'], version)['devices']
        return out

    def _one(self, pid, serial, version):
        now = self.clock()
        if serial in self.failed_at and now - self.failed_at[serial] < FAILED_COOLDOWN:
            self.violations.append(serial)
        queue = self.outcomes.get(serial)
        status = queue.pop(0) if queue else None
        if status is None and self.throttle:
            status = 'THROTTLED'
        dev = self.store.devices.get(serial)
        if status is None:
            status = 'SUCCESS' if dev is not None else 'NOT_ACCESSIBLE'
        if status == 'THROTTLED' and version < 9:
            status = 'FAILED'    # THROTTLED exists from version 9 on
        if status == 'FAILED':
            self.failed_at[serial] = now
        if status == 'SUCCESS':
            self.store.modify(serial, {
                'profile_uuid': pid, 'profile_status': 'assigned',
                'profile_assign_time': time.strftime('%Y-%m-%dT%H:%M:%SZ',
                                                     time.gmtime(now))})
        return status

    def assign(self, pid, serials, version):
        if pid not in self.profiles:
            raise ProfileError('NOT_FOUND')
        res = {s: self._one(pid, s, version) for s in serials}
        out = {'profile_uuid': pid, 'devices': res}
        if self.throttle:
            self.throttle['calls'] -= 1
            retry = self.throttle['retry_after']
            if self.throttle['calls'] <= 0:
                self.throttle = None
            if version >= 10 and 'THROTTLED' in res.values():
                out['retry_after_seconds'] = retry
        return out

    def remove(self, serials):
        res = {}
        for s in serials:
            dev = self.store.devices.get(s)
            if dev is None or not dev.get('profile_uuid'):
                res[s] = 'NOT_ACCESSIBLE'
                continue
            self.store.modify(s, {'profile_uuid': None, 'profile_status': 'removed'})
            res[s] = 'SUCCESS'
        return {'devices': res}
