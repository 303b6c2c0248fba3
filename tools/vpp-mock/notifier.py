"""Notifications to the MDM (services.md 7.3): POST <notificationUrl> with
Authorization: Bearer <notificationAuthToken> and the JSON envelope
{notification, notificationId, notificationType, uId}; at most 100 elements
each, up to 3 attempts on a non-2xx or no answer. Faults the tests switch on:
drop the next N notifications (never sent), duplicate the next N (sent twice
with the same notificationId), so that a client's dedupe and its /status
polling fallback are exercised.
"""

import json
import queue
import ssl
import threading
import time
import urllib.error
import urllib.request
import uuid

ATTEMPTS = 3
MAX_ELEMENTS = 100


class Notifier:
    def __init__(self, ca_file=None, retry_delay=1.0, log=None):
        self.q = queue.Queue()
        self.ca_file = ca_file
        self.retry_delay = retry_delay
        self.drop = 0
        self.duplicate = 0
        self.lock = threading.Lock()
        self.attempts = []           # what was tried, for /_mock/notifications
        self.log = log or (lambda *a: None)
        threading.Thread(target=self._run, daemon=True).start()

    def context(self):
        ctx = ssl.create_default_context(cafile=self.ca_file) if self.ca_file \
            else ssl.create_default_context()
        return ctx

    def post(self, url, bearer, body, timeout=5.0):
        """One delivery attempt: the HTTP status, 0 when nothing answered."""
        req = urllib.request.Request(
            url, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json",
                     "Authorization": "Bearer " + bearer})
        try:
            ctx = self.context() if url.startswith("https:") else None
            with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except (OSError, ValueError) as e:
            self.log("notification to %s: %s" % (url, e))
            return 0

    def envelope(self, uid, ntype, notification):
        return {"notification": notification, "notificationId": str(uuid.uuid4()),
                "notificationType": ntype, "uId": uid}

    def send(self, url, bearer, uid, ntype, notification, items_key=None):
        """Queues one notification, split into envelopes of at most 100
        elements of notification[items_key]."""
        parts = [notification]
        if items_key and len(notification.get(items_key, [])) > MAX_ELEMENTS:
            items = notification[items_key]
            parts = [dict(notification, **{items_key: items[i:i + MAX_ELEMENTS]})
                     for i in range(0, len(items), MAX_ELEMENTS)]
        for p in parts:
            env = self.envelope(uid, ntype, p)
            with self.lock:
                if self.drop > 0:
                    self.drop -= 1
                    self.attempts.append({"notificationId": env["notificationId"],
                                          "notificationType": ntype, "dropped": True})
                    continue
                twice = self.duplicate > 0
                if twice:
                    self.duplicate -= 1
            self.q.put((url, bearer, env))
            if twice:
                self.q.put((url, bearer, env))

    def _run(self):
        while True:
            url, bearer, env = self.q.get()
            for attempt in range(1, ATTEMPTS + 1):
                status = self.post(url, bearer, env)
                with self.lock:
                    self.attempts.append({"notificationId": env["notificationId"],
                                          "notificationType": env["notificationType"],
                                          "attempt": attempt, "status": status,
                                          "notification": env["notification"]})
                if 200 <= status < 300:
                    break
                time.sleep(self.retry_delay)

    def snapshot(self):
        with self.lock:
            return list(self.attempts), self.q.qsize()
