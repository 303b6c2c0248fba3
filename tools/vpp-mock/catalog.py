"""The content metadata service (services.md 7.5): api.ent.apple.com's
/v1/catalog/{storefront}/{apps,books,genres}[/{id}[/{relationship}]] and
stoken-authenticated-apps, JSON:API bodies, ES256 developer tokens checked
against a configured public key (kid, iss, exp at most 15777000 s after iat).
"""

import base64
import json
import re
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

MAX_LIFETIME = 15777000
TYPES = ("apps", "books", "genres")
APP_PLATFORMS = ("iphone", "ipad", "mac", "appletv", "realityDevice", "web")


class CatalogError(Exception):
    def __init__(self, status, title, detail, code):
        super().__init__(detail)
        self.status = status
        self.body = {"errors": [{"id": "%d-%d" % (status, int(time.time())),
                                 "title": title, "detail": detail,
                                 "status": str(status), "code": code}]}


def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Catalog:
    def __init__(self):
        self.keys = {}        # kid -> (team id, public key)
        self.data = {t: {} for t in TYPES}
        self.owned = {}       # sToken file -> [app ids]

    def set_key(self, kid, iss, pem):
        self.keys[kid] = (iss, serialization.load_pem_public_key(pem.encode()))

    def seed(self, doc):
        for t in TYPES:
            for r in doc.get(t, []):
                self.data[t][str(r["id"])] = r

    # --- developer token ---------------------------------------------------
    def check_token(self, auth):
        bad = CatalogError(401, "Unauthorized", "Invalid developer token", "40100")
        if not auth or not auth.startswith("Bearer "):
            raise bad
        parts = auth[7:].split(".")
        if len(parts) != 3:
            raise bad
        try:
            head = json.loads(b64url(parts[0]))
            claims = json.loads(b64url(parts[1]))
            sig = b64url(parts[2])
        except (ValueError, TypeError):
            raise bad
        if not isinstance(head, dict) or not isinstance(claims, dict) \
                or head.get("alg") != "ES256" or head.get("kid") not in self.keys \
                or len(sig) != 64:
            raise bad
        iss, key = self.keys[head["kid"]]
        der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                         int.from_bytes(sig[32:], "big"))
        try:
            key.verify(der, (parts[0] + "." + parts[1]).encode(),
                       ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise bad
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if claims.get("iss") != iss or not isinstance(iat, int) \
                or not isinstance(exp, int) or exp <= now or iat > now + 60 \
                or exp - iat > MAX_LIFETIME:
            raise bad

    # --- resources ---------------------------------------------------------
    def resource(self, sf, t, rid):
        r = self.data[t][rid]
        href = "/v1/catalog/%s/%s/%s" % (sf, t, rid)
        out = {"id": rid, "type": t, "href": href,
               "attributes": dict(r.get("attributes", {}))}
        if t != "genres":
            out["relationships"] = {"genres": {
                "href": href + "/genres",
                "data": [{"id": g, "type": "genres",
                          "href": "/v1/catalog/%s/genres/%s" % (sf, g)}
                         for g in r.get("genres", [])]}}
        return out

    def not_found(self, what):
        return CatalogError(404, "Resource Not Found", "No %s found" % what, "40400")

    def handle(self, path, q, auth, cookie_stoken, owned_ok):
        """(status, body) for GET path under /v1/catalog/."""
        self.check_token(auth)
        m = re.fullmatch(r"/v1/catalog/([a-z]{2})/(apps|books|genres|stoken-authenticated-apps)"
                         r"(?:/([^/]+)(?:/([^/]+))?)?", path)
        if not m:
            raise self.not_found("resource")
        sf, t, rid, rel = m.groups()
        if t == "apps" or t == "stoken-authenticated-apps":
            if q.get("platform") not in APP_PLATFORMS:
                raise CatalogError(400, "Invalid Parameter Value",
                                   "platform is required", "40005")
        if t == "stoken-authenticated-apps":
            if not owned_ok:
                raise CatalogError(403, "Forbidden",
                                   "Invalid Stoken or Empty/Null ids Request Parameter", "40300")
            ids = [i for i in self.owned.get(cookie_stoken, []) if i in self.data["apps"]]
            return 200, {"data": [self.resource(sf, "apps", i) for i in ids]}
        if rid is None:
            ids = [i for i in q.get("ids", "").split(",") if i]
            if not ids:
                raise CatalogError(403, "Forbidden",
                                   "Invalid Stoken or Empty/Null ids Request Parameter", "40300")
            return 200, {"data": [self.resource(sf, t, i) for i in ids if i in self.data[t]]}
        if rid not in self.data[t]:
            raise self.not_found(t[:-1])
        if rel is None:
            return 200, {"data": [self.resource(sf, t, rid)]}
        if rel != "genres" or t == "genres":
            raise self.not_found("relationship")
        genres = [g for g in self.data[t][rid].get("genres", []) if g in self.data["genres"]]
        return 200, {"data": [self.resource(sf, "genres", g) for g in genres]}
