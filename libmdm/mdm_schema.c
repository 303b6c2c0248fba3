#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mdm_schema.h"

/*
 * Every Redis key, once (mdm_schema.h). Names are short because the Lua
 * scripts call them on their hot paths: K.enr(id), K.q(id), K.r(id, uuid).
 */
const mdm_schema_key_t mdm_schema_keys[MDM_K_COUNT] = {

    [MDM_K_ENR] = { "enr", "hash", MDM_TAG_DEVICE,
        "mdm:{<id>}:enr",
        "the enrollment (fields below)" },

    [MDM_K_AUTH] = { "auth", "string", MDM_TAG_DEVICE,
        "mdm:{<id>}:auth",
        "the last Authenticate plist, every key kept, re-encoded as a "
        "binary plist (about half the XML's size; the event has the body as "
        "received)" },

    [MDM_K_Q] = { "q", "list", MDM_TAG_DEVICE,
        "mdm:{<id>}:q",
        "pending command UUIDs of queue generation 0, FIFO (`RPUSH` to "
        "enqueue, head is next)" },

    [MDM_K_QG] = { "qg", "list", MDM_TAG_DEVICE,
        "mdm:{<id>}:q:<gen>",
        "the queue of generation `<gen>` (the enrollment's `qgen`) when it "
        "is not 0; generation 0 is `mdm:{<id>}:q`. Authenticate starts a new "
        "generation instead of walking the queue; the old one is listed in "
        "`mdm:qgc` for the worker's sweep" },

    [MDM_K_NN] = { "nn", "set", MDM_TAG_DEVICE,
        "mdm:{<id>}:nn",
        "UUIDs answered `NotNow` in the current session; cleared on `Idle`" },

    [MDM_K_R] = { "r", "hash", MDM_TAG_DEVICE,
        "mdm:{<id>}:r:<uuid>",
        "this enrollment's state of one command: `status`, `result` (raw "
        "report plist), `updated` (unix s), `notnow` (count); expires after "
        "the result retention once final" },

    [MDM_K_USERS] = { "users", "set", MDM_TAG_DEVICE,
        "mdm:{<id>}:users",
        "user-channel enrollment IDs of a device" },

    [MDM_K_CMD] = { "cmd", "hash", MDM_TAG_OWNER,
        "mdm:cmd:{<uuid>}",
        "a command, stored once for all its targets: `body` (serialized "
        "plist sent to devices), `type` (RequestType), `created`, `expires` "
        "(unix s, 0 = never); `expire_cursor` while the worker's expiry "
        "sweep is part-way through the targets" },

    [MDM_K_CMD_IDS] = { "cmd_ids", "set", MDM_TAG_OWNER,
        "mdm:cmd:{<uuid>}:ids",
        "enrollment IDs the command was enqueued to" },

    [MDM_K_CERT] = { "cert", "string", MDM_TAG_GLOBAL,
        "mdm:cert:<sha256 hex>",
        "enrollment ID the device certificate is bound to" },

    [MDM_K_ENROLLMENTS] = { "enrollments", "zset", MDM_TAG_GLOBAL,
        "mdm:enrollments",
        "every enrollment ID, score = first seen (unix s)" },

    [MDM_K_PUSHCERT] = { "pushcert", "hash", MDM_TAG_GLOBAL,
        "mdm:pushcert:<topic>",
        "`cert`, `key` (PEM), `not_after` (unix s), `updated`" },

    [MDM_K_EVENTS] = { "events", "stream", MDM_TAG_GLOBAL,
        "mdm:events",
        "check-in and report events for the workers (field `m`: msgpack, "
        "see below); `MAXLEN ~` bounded by config" },

    [MDM_K_PUSH] = { "push", "stream", MDM_TAG_GLOBAL,
        "mdm:push",
        "push jobs: field `id` (enrollment ID), once or repeated (`id A id "
        "B …`: one job per ID; enqueue writes one entry per chunk of ≤ 1000 "
        "IDs); consumer group `pushers`; an entry is acked and deleted once "
        "all its jobs are final (docs/worker.md)" },

    [MDM_K_EXPIRY] = { "expiry", "zset", MDM_TAG_GLOBAL,
        "mdm:expiry",
        "command UUIDs with a TTL, score = expiry (unix s)" },

    [MDM_K_PENDING] = { "pending", "zset", MDM_TAG_GLOBAL,
        "mdm:pending",
        "enrollment IDs with queued commands, score = when the device was "
        "last heard of (or the enqueue time); the workers' silent-device "
        "sweep re-pushes the oldest" },

    [MDM_K_NOTNOW] = { "notnow", "zset", MDM_TAG_GLOBAL,
        "mdm:notnow",
        "enrollment IDs whose session ended with NotNow'd commands still "
        "queued, score = its end; the workers re-push after the NotNow "
        "policy's delay" },

    [MDM_K_QGC] = { "qgc", "zset", MDM_TAG_GLOBAL,
        "mdm:qgc",
        "queues of past generations still to delete, member "
        "`<gen>:<id>`, score = when Authenticate retired it; the worker's "
        "sweep (`queue_gc.lua`) deletes them and their commands' result "
        "hashes in budgeted steps" },

    [MDM_K_WEBHOOK_DEAD] = { "webhook_dead", "stream", MDM_TAG_GLOBAL,
        "mdm:webhook:dead:<name>",
        "events webhook `<name>` gave up on: original fields + `event_id`, "
        "`topic`, `id`, `error`, `attempts` (docs/webhooks.md); `MAXLEN ~ "
        "100000`" },

    [MDM_K_WEBHOOK_RETRY] = { "webhook_retry", "stream", MDM_TAG_GLOBAL,
        "mdm:webhook:retry:<name>",
        "dead letters replayed through the API, read by that webhook's "
        "group only" },

    [MDM_K_WORKER_METRICS] = { "worker_metrics", "hash", MDM_TAG_GLOBAL,
        "mdm:metrics:worker",
        "mdm-worker's counters for `GET /metrics`: field = metric name with "
        "labels (`pushes_total{result=\"200\"}`), value = number; see "
        "docs/metrics.md, fields in docs/worker.md" },

    [MDM_K_SCEP_CHAL] = { "scep_chal", "hash", MDM_TAG_OWNER,
        "mdm:scep:chal:{<challenge>}",
        "a one-time SCEP challenge (written by the enroll location with "
        "`enroll_challenge.lua` and by ADE, TTL `mdm_enroll_challenge_ttl` "
        "(1 h); consumed by `mdm_scep` with one `scep_challenge.lua` call: "
        "HGETALL + DEL): `created`, `expires`, `user`, `link`, `tags` (the "
        "link's JSON array, when it has tags), `udid`, `serial` (device), "
        "`renew` (enrollment ID when renewing); TTL = challenge lifetime" },

    [MDM_K_CA_CERT] = { "ca_cert", "hash", MDM_TAG_OWNER,
        "mdm:ca:cert:{<sha256 hex>}",
        "one certificate issued by `mdm_scep` or `mdm_acme`: `serial` "
        "(lowercase hex, no "
        "leading zero), `subject` (RFC 2253), `not_before`, `not_after`, "
        "`issued` (unix s), `der`, `user`, `link`, `tags`, `udid`, "
        "`serial_number` (device), `renew`, `renewed_from` (sha256 of the "
        "certificate a renewal replaced), `revoked` (unix s, only once "
        "revoked), and the renewal sweep's `renew_queued` (unix s of the "
        "claim), `renew_failures`, `renew_error`, `renew_failed_at`, "
        "`renew_retry_at` (when a failed renewal may be claimed again), "
        "`ota_final` (unix s: this OTA phase-2 identity has had its final "
        "profile), `acme_order` (the ACME order it was issued for); expires `mdm_scep_record_retention` after not_after" },

    [MDM_K_CA_SERIAL] = { "ca_serial", "string", MDM_TAG_OWNER,
        "mdm:ca:serial:{<serial hex>}",
        "sha256 hex of the certificate with that serial, for the API; same "
        "expiry" },

    [MDM_K_CA_INDEX] = { "ca_index", "zset", MDM_TAG_GLOBAL,
        "mdm:ca:index",
        "sha256 hex of every issued certificate, score = not_after (the "
        "API's list; the renewal sweep's window)" },

    [MDM_K_CA_REVOKED] = { "ca_revoked", "zset", MDM_TAG_GLOBAL,
        "mdm:ca:revoked",
        "sha256 hex of revoked certificates, score = not_after; pruned of "
        "expired entries on every change; each nginx worker re-reads its "
        "live part every `mdm_revoked_refresh`" },

    [MDM_K_ENROLL_LINK] = { "enroll_link", "hash", MDM_TAG_OWNER,
        "mdm:enroll:link:{<token>}",
        "one-time enrollment link (`POST /v1/enroll/tokens`): `created`, "
        "`expires` (unix s), `user`, `tags` (JSON array), `used` (unix s, "
        "once its profile was downloaded); expires one day after `expires`, "
        "so that a late click is told 410 rather than 403" },

    [MDM_K_ENROLL_OTA] = { "enroll_ota", "hash", MDM_TAG_OWNER,
        "mdm:enroll:ota:{<challenge>}",
        "an OTA profile service's phase-1 challenge (docs/enrollment.md): "
        "`created`, `expires`, `user`, `link`, `tags`; TTL "
        "`mdm_enroll_challenge_ttl`; spent (HGETALL + DEL) by phase 2" },

    [MDM_K_ENROLL_INDEX] = { "enroll_index", "zset", MDM_TAG_GLOBAL,
        "mdm:enroll:index",
        "live enrollment link tokens, score = `expires`, for listing; "
        "written in its own call after the link; expired entries are pruned "
        "on every write" },

    [MDM_K_ENROLL_DEV] = { "enroll_dev", "hash", MDM_TAG_OWNER,
        "mdm:enroll:dev:{<serial>}",
        "facts of the device's last verified ADE MachineInfo (docs/ade.md): "
        "`seen`, `udid`, `serial`, `product`, `version`, `os_version`, "
        "`imei`, `meid`, `language`, `software_update_device_id`, "
        "`pairing_token` (1/0), `can_request_software_update`, "
        "`can_request_psso_config`, `mandatory_software_update_required` "
        "(1/0), `user`, `via` (`post`/`webview`); written by "
        "`ade_record.lua` only when a profile is served; TTL "
        "`mdm_enroll_ade_facts_ttl` (30 d)" },

    [MDM_K_SCHEMA] = { "schema", "hash", MDM_TAG_GLOBAL,
        "mdm:schema",
        "the deployment's key layout: `version` (`MDM_SCHEMA_VERSION` of "
        "libmdm/mdm_schema.h), written once when the first process meets "
        "an empty Redis; every nginx worker and mdm-worker checks it at "
        "start and refuses another version" },

    [MDM_K_ENROLL_KNOWN] = { "enroll_known", "hash", MDM_TAG_OWNER,
        "mdm:enroll:known:{<serial>}",
        "a serial registered through `PUT /v1/enroll/devices/<serial>`: "
        "`registered` (unix s); read by `ade_record.lua` (same slot as the "
        "facts) when `mdm_enroll_ade_known_serials on`" },

    [MDM_K_DDM_DECL] = { "ddm_decl", "hash", MDM_TAG_OWNER,
        "mdm:ddm:decl:{<decl>}",
        "a declaration, stored once (docs/ddm.md): `type`, `kind` "
        "(`activation`, `asset`, `configuration`, `management`), `token` "
        "(its ServerToken), `doc` (the JSON devices get, byte-identical on "
        "every fetch), `canon` (the canonical content the token hashes), "
        "`touch` (touch count), `created`, `updated` (unix s)" },

    [MDM_K_DDM_DECL_SETS] = { "ddm_decl_sets", "set", MDM_TAG_OWNER,
        "mdm:ddm:decl:{<decl>}:sets",
        "the sets the declaration is in (a declaration in a set is not "
        "deleted)" },

    [MDM_K_DDM_SET] = { "ddm_set", "hash", MDM_TAG_OWNER,
        "mdm:ddm:set:{<set>}",
        "a set's declarations: field = Identifier, value = `<kind> "
        "<ServerToken>`, updated by the API when a declaration changes, so "
        "that an enrollment's view is built from its sets alone" },

    [MDM_K_DDM_SET_ENRS] = { "ddm_set_enrs", "set", MDM_TAG_OWNER,
        "mdm:ddm:set:{<set>}:enrs",
        "the enrollment IDs the set is assigned to" },

    [MDM_K_DDM_DECLS] = { "ddm_decls", "set", MDM_TAG_GLOBAL,
        "mdm:ddm:decls",
        "every declaration Identifier (`GET /v1/declarations`)" },

    [MDM_K_DDM_SETS] = { "ddm_sets", "set", MDM_TAG_GLOBAL,
        "mdm:ddm:sets",
        "every set holding a declaration (`GET /v1/sets`)" },

    [MDM_K_DDM_ESETS] = { "ddm_esets", "set", MDM_TAG_DEVICE,
        "mdm:{<id>}:ddm:sets",
        "the sets assigned to the enrollment" },

    [MDM_K_DDM_ITEMS] = { "ddm_items", "hash", MDM_TAG_DEVICE,
        "mdm:{<id>}:ddm:items",
        "the enrollment's view, materialised by the API whenever one of "
        "its sets or their declarations change: field = Identifier, value "
        "= `<kind> <ServerToken>` (the union of its sets); what "
        "`declaration-items` lists and `declaration/<kind>/<id>` allows" },

    [MDM_K_DDM] = { "ddm", "hash", MDM_TAG_DEVICE,
        "mdm:{<id>}:ddm",
        "the enrollment's DDM state: `token` (DeclarationsToken of the "
        "items), `ts` (unix s of its last change: the tokens Timestamp), "
        "`notify` (unix s: a `DeclarativeManagement` command is pending, "
        "cleared when the device fetches `tokens` or `declaration-items`; "
        "one pending per device), `status_at` (unix s of the last status "
        "report)" },

    [MDM_K_DDM_STATUS] = { "ddm_status", "hash", MDM_TAG_DEVICE,
        "mdm:{<id>}:ddm:status",
        "reported declaration status: field = Identifier, value = JSON "
        "`{identifier, active, valid, server-token, reasons, "
        "status_received, status_id}`" },

    [MDM_K_DDM_VALUES] = { "ddm_values", "hash", MDM_TAG_DEVICE,
        "mdm:{<id>}:ddm:values",
        "reported status values: field = status item path "
        "(`device.operating-system.version`), value = JSON `{value, "
        "timestamp, status_id}`" },

    [MDM_K_DDM_ERRORS] = { "ddm_errors", "list", MDM_TAG_DEVICE,
        "mdm:{<id>}:ddm:errors",
        "the newest reported errors (JSON `{path, error, timestamp, "
        "status_id}`), newest first, at most 100" },

    [MDM_K_DDM_ASSET] = { "ddm_asset", "hash", MDM_TAG_OWNER,
        "mdm:ddm:asset:{<asset>}",
        "the data of an asset declaration (`PUT /v1/ddm/assets/<id>`), "
        "served by `mdm_ddm_assets` to the devices whose view holds the "
        "asset declaration `<id>`: `type` (Content-Type), `data`, `sha256` "
        "(hex), `updated` (unix s)" },

    [MDM_K_DDM_REPORTS] = { "ddm_reports", "list", MDM_TAG_DEVICE,
        "mdm:{<id>}:ddm:reports",
        "the newest raw status reports, newest first, each `<unix s> "
        "<status_id>`, a newline, the report JSON; at most "
        "`mdm_ddm_status_history` (10)" },

    [MDM_K_DEP_TOKEN] = { "dep_token", "hash", MDM_TAG_OWNER,
        "mdm:dep:{<name>}:token",
        "a Device Assignment server token (docs/dep.md): `sealed` (the "
        "OAuth tokens' JSON, AES-256-GCM under `dep_seal_key`), "
        "`consumer_key`, `expiry` (unix s), `loaded` (unix s); written by "
        "mdm-worker from its `dep_token` files" },

    [MDM_K_DEP_SESSION] = { "dep_session", "string", MDM_TAG_OWNER,
        "mdm:dep:{<name>}:session",
        "the token's `X-ADM-Auth-Session`, sealed, shared by every worker "
        "so that they do not each open one; replaced on a 401 or when a "
        "response rotates it" },

    [MDM_K_DEP_LEASE] = { "dep_lease", "string", MDM_TAG_OWNER,
        "mdm:dep:{<name>}:lease",
        "the worker syncing this token (its name), `SET NX PX "
        "dep_lease_ms`, extended by `dep_lease.lua` while it syncs" },

    [MDM_K_DEP_CURSOR] = { "dep_cursor", "hash", MDM_TAG_OWNER,
        "mdm:dep:{<name>}:cursor",
        "where the sync is: `cursor` (Apple's, opaque), `phase` (`fetch` "
        "until a fetch has returned everything, then `sync`), `updated`, "
        "`pages`, `devices`; written with each page's devices by "
        "`dep_page.lua`" },

    [MDM_K_DEP_DEVICES] = { "dep_devices", "hash", MDM_TAG_OWNER,
        "mdm:dep:{<name>}:devices",
        "the token's devices: serial -> `<op_date> <Device JSON>` of its "
        "latest `op_date` ('' for a fetch record); a deleted device's "
        "field is removed and its op_date kept as field `-<serial>`, so "
        "that an older duplicate does not bring it back (`dep_page.lua`)" },

    [MDM_K_DEP_SERIAL] = { "dep_serial", "hash", MDM_TAG_OWNER,
        "mdm:dep:serial:{<serial>}",
        "serial -> DEP record link, written in its own one-slot step after "
        "a page is stored: `dep_name`, `profile_uuid`, `profile_status`, "
        "`model`, `os`, `updated`; deleted when the device leaves" },

    [MDM_K_ACME_NONCE] = { "acme_nonce", "string", MDM_TAG_OWNER,
        "mdm:acme:nonce:{<nonce>}",
        "an ACME nonce the server handed out (`Replay-Nonce`, docs/acme.md): "
        "`1`, TTL `mdm_acme_nonce_ttl`; a request spends it with one `DEL` "
        "(1: fresh, 0: unknown, expired or replayed: `badNonce`)" },

    [MDM_K_ACME_ACCT] = { "acme_acct", "hash", MDM_TAG_OWNER,
        "mdm:acme:acct:{<thumbprint>}",
        "an ACME account, named by the RFC 7638 thumbprint of its key (the "
        "account URL ends in it): `status` (`valid`, `deactivated`), `jwk` "
        "(the public key, JSON), `created` (unix s), `contact` (JSON "
        "array); created by `acme_cas.lua` with the guard `status` = ''" },

    [MDM_K_ACME_ORDERS] = { "acme_orders", "zset", MDM_TAG_OWNER,
        "mdm:acme:acct:{<thumbprint>}:orders",
        "the account's order IDs, score = the order's `expires`; expired "
        "members are pruned when an order is added" },

    [MDM_K_ACME_ORDER] = { "acme_order", "hash", MDM_TAG_OWNER,
        "mdm:acme:order:{<order>}",
        "an ACME order with its one authorization and challenge "
        "(libmdm/acme/mdm_acme_state.h): `account` (thumbprint), `status`, "
        "`authz`, `chall` (state names of RFC 8555), `identifier` (the "
        "permanent-identifier value), `token` (the challenge's), `created`, "
        "`expires` (unix s), `validated` (unix s), `att_key` (sha256 hex of "
        "the attested public key, SubjectPublicKeyInfo DER), `att_serial`, "
        "`att_udid` (from the attestation), `error` (the problem document "
        "of a refused challenge), `cert` (sha256 hex of the issued "
        "certificate, its record is `mdm:ca:cert:{<sha>}`); every change "
        "is one `acme_cas.lua` call; expires with the order, or "
        "`mdm_scep_record_retention` after the certificate's not_after" },

    [MDM_K_PROF] = { "prof", "hash", MDM_TAG_OWNER,
        "mdm:prof:{<ident>}",
        "a configuration profile of the library, by its top-level "
        "PayloadIdentifier (docs/profiles.md): `sha256` (of the current "
        "version's content), `uuid` (its PayloadUUID), `name` "
        "(PayloadDisplayName), `signer` (the subject of an uploaded "
        "signature, empty if none), `payloads` (count), `created`, "
        "`updated` (unix s)" },

    [MDM_K_PROF_BODY] = { "prof_body", "string", MDM_TAG_OWNER,
        "mdm:prof:{<ident>}:body:<sha256>",
        "a version of the profile as uploaded (plist, or CMS-signed), "
        "stored once by its content hash whatever the number of devices; "
        "what InstallProfile carries" },

    [MDM_K_PROF_ENRS] = { "prof_enrs", "set", MDM_TAG_OWNER,
        "mdm:prof:{<ident>}:enrs",
        "the enrollment IDs the profile is assigned to (its desired state)" },

    [MDM_K_PROFS] = { "profs", "set", MDM_TAG_GLOBAL,
        "mdm:profs",
        "every profile identifier of the library (`GET /v1/profiles`)" },

    [MDM_K_PROF_DEV] = { "prof_dev", "hash", MDM_TAG_DEVICE,
        "mdm:{<id>}:prof",
        "the enrollment's profiles, materialised by the API from the "
        "assignments: field = PayloadIdentifier, value = `<state> <sha256> "
        "<CommandUUID> <unix s>` with state `pending` (InstallProfile "
        "queued), `installed` (acknowledged), `failed` (refused; the "
        "ErrorChain is the command's result), `removing` (RemoveProfile "
        "queued) or `removed`; one outstanding command per profile and "
        "device" },

    [MDM_K_INV] = { "inv", "hash", MDM_TAG_DEVICE,
        "mdm:{<id>}:inv",
        "the enrollment's inventory, written by mdm-worker from command "
        "results (docs/profiles.md): field = `<RequestType>.<key>` "
        "(`DeviceInformation.OSVersion`, `SecurityInfo.FDE_Enabled`, "
        "`InstalledApplicationList.digest`, `ProfileList.count`), value = "
        "JSON `{\"at\": <unix s reported>, \"value\": <as the device sent "
        "it>}`" },

    [MDM_K_INV_APPS] = { "inv_apps", "string", MDM_TAG_DEVICE,
        "mdm:{<id>}:inv:apps",
        "the latest InstalledApplicationList as JSON (no history: its "
        "digest in `inv` tells a change), rewritten only when it changed" },

    [MDM_K_INV_PROFILES] = { "inv_profiles", "hash", MDM_TAG_DEVICE,
        "mdm:{<id>}:inv:profiles",
        "the profiles the device last listed (ProfileList): field = "
        "PayloadIdentifier, value = its PayloadUUID; what the reconcile "
        "compares the desired state with" },

    [MDM_K_ALBC] = { "albc", "hash", MDM_TAG_DEVICE,
        "mdm:{<id>}:albc",
        "the device's Activation Lock bypass code (services.md §8.1), from "
        "its ActivationLockBypassCode results by mdm-worker: `device_code` "
        "(the last non-empty one, never overwritten by an empty one), "
        "`device_at` (unix s reported)" },

    [MDM_K_VPP_LOCATIONS] = { "vpp_locations", "set", MDM_TAG_GLOBAL,
        "mdm:vpp:locations",
        "Apps and Books locations with a content token (docs/vpp.md): the "
        "workers' list of what to sync; written by the API in its own call "
        "after the token" },

    [MDM_K_VPP_TOKEN] = { "vpp_token", "hash", MDM_TAG_OWNER,
        "mdm:vpp:{<location>}:token",
        "a location's content token: `stoken` (the .vpptoken file, the "
        "Bearer value), `org_name`, `exp_date`, `expires` (unix s), "
        "`uploaded`, `notify_secret` (the notificationAuthToken Apple must "
        "send), `status` (`pending`, `ok`, `refused`, `revoked`, `expired`), "
        "`error`, and from `/client/config`: `location_name`, `country`, "
        "`uid`, `mdm_id` (the MDM that claims the token), `checked`, "
        "`synced` (unix s of the last full asset sync), `retry_at`" },

    [MDM_K_VPP_ASSET] = { "vpp_asset", "hash", MDM_TAG_OWNER,
        "mdm:vpp:{<location>}:asset:<adamId>",
        "one asset of the location as `/assets` last said: `pricing`, "
        "`product_type`, `total`, `assigned`, `available`, `retired`, "
        "`device_assignable`, `revocable` (1/0), `platforms`, `synced`" },

    [MDM_K_VPP_ASSETS] = { "vpp_assets", "zset", MDM_TAG_OWNER,
        "mdm:vpp:{<location>}:assets",
        "the location's adamIds, score = when a sync last saw them" },

    [MDM_K_VPP_JOBS] = { "vpp_jobs", "list", MDM_TAG_OWNER,
        "mdm:vpp:{<location>}:jobs",
        "assign and unassign requests of the API for the worker, JSON "
        "`{op, adamId, pricing, ids}`; the head is removed once its event "
        "is recorded" },

    [MDM_K_VPP_EVENT] = { "vpp_event", "hash", MDM_TAG_OWNER,
        "mdm:vpp:{<location>}:event:<eventId>",
        "an asynchronous Apps and Books event the worker waits for: `op`, "
        "`adamId`, `pricing`, `targets` (JSON `[[id, serial], ...]`), "
        "`created`, `polls`" },

    [MDM_K_VPP_EVENTS] = { "vpp_events", "zset", MDM_TAG_OWNER,
        "mdm:vpp:{<location>}:events",
        "pending eventIds, score = when `/status` is polled next (a "
        "notification for the event brings it forward)" },

    [MDM_K_VPP_INSTALL] = { "vpp_install", "hash", MDM_TAG_OWNER,
        "mdm:vpp:{<location>}:install:<adamId>",
        "per enrollment ID, the state of the app for it: `pending <serial>`, "
        "`licensed <serial>`, `queued <serial> <CommandUUID>`, `failed "
        "<serial> <errorNumber> <reason>`, `unassigning <serial>`; removed "
        "when disassociated" },

    [MDM_K_VPP_NOTIFY] = { "vpp_notify", "stream", MDM_TAG_OWNER,
        "mdm:vpp:{<location>}:notify",
        "notifications Apple POSTed to `mdm_vpp_notify`, once each: `id` "
        "(notificationId), `type`, `event` (eventId or empty), `body`; kept "
        "for inspection, `MAXLEN ~ 10000` (the worker acts on the event "
        "the notification names, brought forward in `:events`)" },

    [MDM_K_VPP_NOTIFIED] = { "vpp_notified", "zset", MDM_TAG_OWNER,
        "mdm:vpp:{<location>}:notified",
        "notificationIds received, score = when: the deduplication window "
        "(entries older than a day are pruned on every write)" },

    [MDM_K_VPP_LEASE] = { "vpp_lease", "string", MDM_TAG_OWNER,
        "mdm:vpp:{<location>}:lease",
        "the name of the worker syncing the location (`SET NX PX`): one "
        "worker per location at a time" },
};


const char *
mdm_schema_tag_name(mdm_tag_kind_t tag)
{
    switch (tag) {
    case MDM_TAG_DEVICE: return "device";
    case MDM_TAG_OWNER:  return "owner";
    default:             return "global";
    }
}


int
mdm_schema_nparams(mdm_key_id_t k)
{
    int          n = 0;
    const char  *p;

    for (p = mdm_schema_keys[k].pattern; *p; p++) {
        n += (*p == '<');
    }

    return n;
}


int
mdm_schema_param(mdm_key_id_t k, int i, char *name, size_t size)
{
    size_t       len;
    const char  *p, *end;

    for (p = mdm_schema_keys[k].pattern; (p = strchr(p, '<')) != NULL; p++) {
        if (i-- > 0) {
            continue;
        }
        end = strchr(p, '>');
        len = end ? (size_t) (end - p - 1) : 0;
        if (len == 0 || len >= size) {
            return -1;
        }
        memcpy(name, p + 1, len);
        name[len] = '\0';
        for (char *c = name; *c; c++) {
            if (*c == ' ') {
                *c = '_';
            }
        }
        return 0;
    }

    return -1;
}


size_t
mdm_schema_key(char *buf, size_t size, mdm_key_id_t k,
    const char *const *p, int np)
{
    int          i = 0;
    size_t       n = 0, len;
    const char  *s, *piece;

    if ((unsigned) k >= MDM_K_COUNT || size == 0) {
        return 0;
    }

    for (s = mdm_schema_keys[k].pattern; *s; ) {
        if (*s == '<') {
            if (i >= np || p[i] == NULL) {
                return 0;
            }
            piece = p[i++];
            len = strlen(piece);
            s = strchr(s, '>') + 1;
        } else {
            piece = s;
            len = strcspn(s, "<");
            s += len;
        }
        if (n + len >= size) {
            return 0;
        }
        memcpy(buf + n, piece, len);
        n += len;
    }

    buf[n] = '\0';

    return (i == np) ? n : 0;
}


mdm_schema_verdict_t
mdm_schema_check(const char *recorded, int has_data, long *record,
    char *err, size_t size)
{
    long   v;
    char  *end;

    if (recorded == NULL) {
        /* data without a record was written before the record existed */
        *record = has_data ? 1 : MDM_SCHEMA_VERSION;
        return MDM_SCHEMA_RECORD;
    }

    v = strtol(recorded, &end, 10);
    if (end == recorded || *end != '\0' || v <= 0) {
        snprintf(err, size, "mdm:schema has an invalid version \"%.32s\"",
                 recorded);
        return MDM_SCHEMA_MISMATCH;
    }

    if (v == MDM_SCHEMA_VERSION) {
        return MDM_SCHEMA_OK;
    }

    if (v < MDM_SCHEMA_VERSION) {
        snprintf(err, size, "Redis holds key layout version %ld, this build "
                 "needs %d: run mdm-worker --migrate", v, MDM_SCHEMA_VERSION);
    } else {
        snprintf(err, size, "Redis holds key layout version %ld, newer than "
                 "this build's %d: upgrade ngx_mdm", v, MDM_SCHEMA_VERSION);
    }

    return MDM_SCHEMA_MISMATCH;
}
