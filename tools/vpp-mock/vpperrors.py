"""Apple's Apps and Books error numbers and the service configuration.

Numbers, messages and HTTP statuses as services.md section 7.4 lists them
(Apple's "Handling error responses" and "Service config" pages); the limits
are the ones Apple's example service-config document shows. The mock reads
its own limits from here, so a test that changes them (control API) changes
what the mock enforces and what /service/config tells the client.
"""

# errorNumber -> (HTTP status when answered synchronously, errorMessage)
ERRORS = {
    9601: (401, "Login required"),
    9602: (400, "Invalid argument"),
    9603: (500, "Internal error"),
    9609: (400, "Registered user not found"),
    9621: (401, "Access token expired"),
    9622: (401, "Invalid authentication token"),
    9623: (400, "Invalid APNs token"),
    9625: (401, "The server has revoked the sToken"),
    9634: (410, "The service has been removed"),
    9635: (500, "Unable to process the request"),
    9637: (403, "Facilitator is not allowed"),
    9641: (500, "Unable to complete the request"),
    9644: (503, "The service is in maintenance"),
    9646: (429, "Too many recent calls from the same origin"),
    9647: (403, "Legacy tokens are not supported"),
    9650: (400, "Page index out of range"),
    9700: (400, "Too many assets in the request"),
    9701: (400, "Too many clientUserIds in the request"),
    9702: (400, "Too many serialNumbers in the request"),
    9703: (400, "Duplicate assets in the request"),
    9704: (400, "Duplicate clientUserIds in the request"),
    9705: (400, "Duplicate serialNumbers in the request"),
    9706: (400, "The asset is not revocable"),
    9707: (400, "The asset is not device assignable"),
    9708: (400, "Event not found"),
    9709: (400, "Not enough licenses"),
    9710: (400, "Invalid notification URL"),
    9711: (400, "Invalid notification auth token"),
    9712: (400, "Invalid notification types"),
    9713: (400, "Notification URL and auth token are both required"),
    9714: (400, "Too many users in the request"),
    9715: (400, "Duplicate users in the request"),
    9716: (400, "A user with this clientUserId already exists"),
    9717: (400, "Invalid email address"),
    9718: (400, "Asset not found"),
    9719: (400, "Either clientUserIds or serialNumbers are required"),
    9720: (400, "Users are required"),
    9721: (400, "Invalid versionId"),
    9722: (401, "The Authorization header is not Bearer {sToken}"),
    9723: (400, "mdmInfo id is invalid"),
    9724: (400, "mdmInfo name is invalid"),
    9725: (400, "mdmInfo metadata is invalid"),
    9726: (405, "Method not allowed"),
    9727: (415, "Content-Type must be application/json"),
    9728: (400, "The notification URL could not be reached"),
    9729: (503, "The service is temporarily unavailable"),
}

LIMITS = {
    "maxAssets": 25,
    "maxUsers": 100,
    "maxClientUserIds": 1000,
    "maxSerialNumbers": 1000,
    "maxRevokeClientUserIds": 100,
    "maxRevokeSerialNumbers": 100,
    "maxNotificationLength": 512,
    "maxMdmNameLength": 100,
    "maxMdmIdLength": 100,
    "maxMdmMetadataLength": 255,
    "maxRequestPerSecond": 15,
    "maxSubscriptions": 25,
    "maxSubscriptionClientUserIds": 1000,
}

NOTIFICATION_TYPES = ["TEST_NOTIFICATION", "ASSET_MANAGEMENT", "USER_MANAGEMENT",
                      "USER_ASSOCIATED", "ASSET_COUNT", "SUBSCRIPTION_MANAGEMENT",
                      "SUBSCRIPTION_COUNT", "UNLIMITED_ASSET"]

URL_PATHS = {
    "clientConfig": "client/config",
    "getAssets": "assets",
    "associateAssets": "assets/associate",
    "disassociateAssets": "assets/disassociate",
    "revokeAssets": "assets/revoke",
    "getAssignments": "assignments",
    "getUsers": "users",
    "createUsers": "users/create",
    "updateUsers": "users/update",
    "retireUsers": "users/retire",
    "eventStatus": "status",
}


class VppError(Exception):
    """An ErrorResponse: raised anywhere, answered by the HTTP layer."""

    def __init__(self, number, info=None, message=None):
        super().__init__(number)
        self.number = number
        self.info = info
        self.message = message or ERRORS[number][1]

    def status(self):
        return ERRORS[self.number][0]

    def body(self):
        b = {"errorNumber": self.number, "errorMessage": self.message}
        if self.info:
            b["errorInfo"] = self.info
        return b


def error_body(number, info=None):
    return VppError(number, info).body()


def service_config(base, limits, catalog_base):
    urls = {k: base + "/" + v for k, v in URL_PATHS.items()}
    urls["contentMetadataLookup"] = catalog_base + "/v1/catalog"
    urls["invitationEmail"] = "https://buy.itunes.apple.com/WebObjects/MZFinance.woa/wa/associateVPPUserWithITSAccount?inviteCode=%inviteCode%&mt=8"
    return {
        "errorCodes": [{"errorNumber": n, "errorMessage": m}
                       for n, (_, m) in sorted(ERRORS.items())],
        "limits": dict(limits),
        "notificationTypes": list(NOTIFICATION_TYPES),
        "urls": urls,
    }
