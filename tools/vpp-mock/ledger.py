"""The licence ledger of one location (one sToken): assets and their counts,
assignments (adamId + pricingParam to a serial number or clientUserId),
users, and the asynchronous events that change them.

Every change bumps the location's versionId; an assignment or user records
the version it last changed at, which is what sinceVersionId filters on.
The caller holds the mock's lock around every method.
"""

import base64
import json
import secrets
import time
import uuid

from vpperrors import VppError


def sToken_file(token, exp_date, org_name):
    """The .vpptoken file content: base64 of {"token","expDate","orgName"}."""
    doc = {"token": token, "expDate": exp_date, "orgName": org_name}
    return base64.b64encode(json.dumps(doc).encode()).decode()


def parse_exp(exp_date):
    """expDate as Apple writes it (2027-04-10T16:45:00+0000); 0 if unreadable."""
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            import datetime
            d = datetime.datetime.strptime(exp_date, fmt)
            if d.tzinfo is None:
                d = d.replace(tzinfo=datetime.timezone.utc)
            return d.timestamp()
        except (ValueError, TypeError):
            continue
    return 0


class Event:
    def __init__(self, loc, kind, request, num_requested, due):
        self.id = str(uuid.uuid4())
        self.loc = loc
        self.type = kind              # ASSOCIATE, DISASSOCIATE, REVOKE, CREATE, ...
        self.request = request
        self.num_requested = num_requested
        self.num_completed = 0
        self.status = "PENDING"
        self.failures = []
        self.done_items = []          # assignments or users the event changed
        self.due = due

    def status_body(self):
        b = {"eventStatus": self.status, "eventType": self.type,
             "numCompleted": self.num_completed,
             "numRequested": self.num_requested}
        if self.failures:
            b["failures"] = self.failures
        return b


class Location:
    def __init__(self, token, exp_date, org_name, location_name,
                 country="US", uid=None):
        self.token = token
        self.exp_date = exp_date
        self.org_name = org_name
        self.location_name = location_name
        self.country = country
        self.uid = uid or str(secrets.randbelow(10**12))
        self.file = sToken_file(token, exp_date, org_name)
        self.revoked = False
        self.expired = False
        self.legacy = False
        self.errors_as_200 = False
        self.client_config = {"mdmInfo": None, "notificationUrl": None,
                              "notificationAuthToken": None,
                              "subscribedNotificationTypes": []}
        self.assets = {}              # (adamId, pricingParam) -> dict
        self.assignments = {}         # (adamId, pricing, kind, id) -> version
        self.users = {}               # clientUserId -> dict
        self.version = 1
        self.events = {}

    # --- what every response carries ---------------------------------------
    def stamp(self, body):
        body["tokenExpirationDate"] = self.exp_date
        body["uId"] = self.uid
        return body

    def bump(self):
        self.version += 1
        return self.version

    def is_expired(self):
        return self.expired or (parse_exp(self.exp_date) or 1) < time.time()

    # --- seeding --------------------------------------------------------------
    def add_asset(self, a):
        key = (str(a["adamId"]), a.get("pricingParam", "STDQ"))
        total = int(a.get("totalCount", 10))
        assigned = sum(1 for k in self.assignments if k[0:2] == key)
        self.assets[key] = {
            "adamId": key[0], "pricingParam": key[1],
            "productType": a.get("productType", "App"),
            "totalCount": total, "assignedCount": assigned,
            "availableCount": total - assigned,
            "retiredCount": int(a.get("retiredCount", 0)),
            "deviceAssignable": bool(a.get("deviceAssignable", True)),
            "revocable": bool(a.get("revocable", True)),
            "supportedPlatforms": list(a.get("supportedPlatforms", ["iOS", "macOS"])),
        }
        self.bump()

    # --- reads ----------------------------------------------------------------
    def client_config_body(self):
        b = {"countryISO2ACode": self.country, "defaultPlatform": "volumestore",
             "locationName": self.location_name,
             "subscribedNotificationTypes": list(self.client_config["subscribedNotificationTypes"]),
             "websiteURL": "https://business.apple.com"}
        for k in ("mdmInfo", "notificationUrl", "notificationAuthToken"):
            if self.client_config[k] is not None:
                b[k] = self.client_config[k]
        return self.stamp(b)

    def asset_list(self, q):
        out = []
        for a in self.assets.values():
            if "adamId" in q and a["adamId"] != q["adamId"]:
                continue
            if "productType" in q and a["productType"] != q["productType"]:
                continue
            if "pricingParam" in q and a["pricingParam"] != q["pricingParam"]:
                continue
            if "deviceAssignable" in q and a["deviceAssignable"] != (q["deviceAssignable"] == "true"):
                continue
            if "revocable" in q and a["revocable"] != (q["revocable"] == "true"):
                continue
            if "minAvailableCount" in q and a["availableCount"] < int(q["minAvailableCount"]):
                continue
            if "maxAvailableCount" in q and a["availableCount"] > int(q["maxAvailableCount"]):
                continue
            if "minAssignedCount" in q and a["assignedCount"] < int(q["minAssignedCount"]):
                continue
            if "maxAssignedCount" in q and a["assignedCount"] > int(q["maxAssignedCount"]):
                continue
            out.append(dict(a))
        out.sort(key=lambda a: (a["adamId"], a["pricingParam"]))
        return out

    def since(self, q):
        if "sinceVersionId" not in q:
            return 0
        v = q["sinceVersionId"]
        if not v.isdigit() or int(v) > self.version:
            raise VppError(9721)
        return int(v)

    def assignment_list(self, q):
        since = self.since(q)
        out = []
        for (adam, pricing, kind, ident), ver in sorted(self.assignments.items()):
            if ver <= since:
                continue
            if "adamId" in q and adam != q["adamId"]:
                continue
            if "pricingParam" in q and pricing != q["pricingParam"]:
                continue
            if "serialNumber" in q and (kind != "serialNumber" or ident != q["serialNumber"]):
                continue
            if "clientUserId" in q and (kind != "clientUserId" or ident != q["clientUserId"]):
                continue
            out.append({"adamId": adam, "pricingParam": pricing, kind: ident})
        return out

    def user_list(self, q):
        since = self.since(q)
        out = []
        for cuid in sorted(self.users):
            u = self.users[cuid]
            if u["_version"] <= since:
                continue
            if "clientUserId" in q and cuid != q["clientUserId"]:
                continue
            if q.get("activeOnly") == "true" and u["status"] == "Retired":
                continue
            if q.get("retiredOnly") == "true" and u["status"] != "Retired":
                continue
            out.append({k: v for k, v in u.items() if not k.startswith("_")})
        return out

    # --- asynchronous changes ---------------------------------------------------
    def apply(self, ev):
        """Completes ev against the ledger: what succeeds is applied, what
        fails becomes a failures[] entry (Apple's asynchronous errors)."""
        getattr(self, "_apply_" + ev.type.lower())(ev)
        ok = ev.num_completed
        ev.status = "COMPLETE" if ok > 0 or not ev.failures else "FAILED"

    def _targets(self, req):
        return ([("serialNumber", s) for s in req.get("serialNumbers", [])]
                + [("clientUserId", c) for c in req.get("clientUserIds", [])])

    def _fail(self, ev, number, asset, kind, ident):
        for f in ev.failures:
            info = f["errorInfo"]
            if f["errorNumber"] == number and info["assets"] == [asset]:
                info.setdefault(kind + "s", []).append(ident)
                return
        from vpperrors import error_body
        ev.failures.append(error_body(number, {"assets": [asset], kind + "s": [ident]}))

    def _apply_associate(self, ev):
        for a in ev.request["assets"]:
            key = (a["adamId"], a["pricingParam"])
            asset = self.assets[key]
            short = {"adamId": key[0], "pricingParam": key[1]}
            for kind, ident in self._targets(ev.request):
                k = key + (kind, ident)
                if k in self.assignments:
                    ev.num_completed += 1      # already held: nothing to do
                    ev.done_items.append(dict(short, **{kind: ident}))
                    continue
                if kind == "clientUserId":
                    u = self.users.get(ident)
                    if u is None or u["status"] == "Retired":
                        self._fail(ev, 9609, short, kind, ident)
                        continue
                if asset["availableCount"] <= 0:
                    self._fail(ev, 9709, short, kind, ident)
                    continue
                asset["availableCount"] -= 1
                asset["assignedCount"] += 1
                self.assignments[k] = self.bump()
                ev.num_completed += 1
                ev.done_items.append(dict(short, **{kind: ident}))

    def _release(self, ev):
        for a in ev.request["assets"]:
            key = (a["adamId"], a["pricingParam"])
            asset = self.assets[key]
            short = {"adamId": key[0], "pricingParam": key[1]}
            for kind, ident in self._targets(ev.request):
                k = key + (kind, ident)
                if self.assignments.pop(k, None) is not None:
                    asset["availableCount"] += 1
                    asset["assignedCount"] -= 1
                    self.bump()
                ev.num_completed += 1
                ev.done_items.append(dict(short, **{kind: ident}))

    _apply_disassociate = _release

    def _apply_revoke(self, ev):
        # revoke: every asset the given serials/users hold (RevokeAssetsRequest
        # names no assets; the fields are unconfirmed, services.md 7.2)
        targets = set(self._targets(ev.request))
        for k in [k for k in self.assignments if (k[2], k[3]) in targets]:
            asset = self.assets[k[0:2]]
            if not asset["revocable"]:
                continue
            del self.assignments[k]
            asset["availableCount"] += 1
            asset["assignedCount"] -= 1
            self.bump()
            ev.done_items.append({"adamId": k[0], "pricingParam": k[1], k[2]: k[3]})
        ev.num_completed = ev.num_requested

    def _user_fail(self, ev, number, cuid):
        from vpperrors import error_body
        ev.failures.append(error_body(number, {"clientUserIds": [cuid]}))

    def _user_out(self, u):
        return {k: v for k, v in u.items() if not k.startswith("_")}

    def _apply_create(self, ev):
        for u in ev.request["users"]:
            cuid = u["clientUserId"]
            if cuid in self.users:
                self._user_fail(ev, 9716, cuid)
                continue
            rec = {"clientUserId": cuid, "email": u.get("email", ""),
                   "inviteCode": secrets.token_hex(16), "status": "Registered",
                   "_version": self.bump()}
            if u.get("managedAppleId"):
                rec["managedAppleId"] = u["managedAppleId"]
            self.users[cuid] = rec
            ev.num_completed += 1
            ev.done_items.append(self._user_out(rec))

    def _apply_update(self, ev):
        for u in ev.request["users"]:
            rec = self.users.get(u["clientUserId"])
            if rec is None or rec["status"] == "Retired":
                self._user_fail(ev, 9609, u["clientUserId"])
                continue
            for k in ("email", "managedAppleId"):
                if k in u:
                    rec[k] = u[k]
            rec["_version"] = self.bump()
            ev.num_completed += 1
            ev.done_items.append(self._user_out(rec))

    def _apply_retire(self, ev):
        for u in ev.request["users"]:
            cuid = u["clientUserId"]
            rec = self.users.get(cuid)
            if rec is None:
                self._user_fail(ev, 9609, cuid)
                continue
            rec["status"] = "Retired"
            rec["_version"] = self.bump()
            # a retired user's licences go back to the pool
            for k in [k for k in self.assignments if k[2] == "clientUserId" and k[3] == cuid]:
                del self.assignments[k]
                self.assets[k[0:2]]["availableCount"] += 1
                self.assets[k[0:2]]["assignedCount"] -= 1
            ev.num_completed += 1
            ev.done_items.append(self._user_out(rec))

    def associate_user(self, cuid, email):
        """The person accepted the invitation (USER_ASSOCIATED)."""
        rec = self.users.get(cuid)
        if rec is None:
            return None
        rec["status"] = "Associated"
        rec["idHash"] = secrets.token_hex(20)
        rec["_version"] = self.bump()
        return self._user_out(rec)
