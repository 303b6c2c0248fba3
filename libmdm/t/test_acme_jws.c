/*
 * ACME's JWS, problem documents and state machines (libmdm/acme/): the
 * RFC 7515 A.3 and RFC 7638 §3.1 vectors, then requests signed here with
 * libjose over ACME-shaped protected headers, each rule of RFC 8555 §6.2
 * broken once.
 */

#include <stdlib.h>
#include <string.h>

#include <jose/b64.h>
#include <jose/jwk.h>
#include <jose/jws.h>
#include <jose/openssl.h>
#include <openssl/rsa.h>

#include "acme/mdm_acme_jws.h"
#include "acme/mdm_acme_problem.h"
#include "acme/mdm_acme_state.h"
#include "tap.h"

#define URL  "https://mdm.example.com/acme/new-order"


/* RFC 7515 A.3: ES256 over the "joe" claims */
static void
test_rfc7515_a3(void)
{
    json_t          *jwk;
    mdm_acme_jws_t   jws;
    mdm_acme_err_t   err;

    jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256",
                    "x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                    "y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0");

    memset(&jws, 0, sizeof(jws));
    jws.alg = MDM_ACME_ALG_ES256;
    jws.body = json_pack("{s:s, s:s, s:s}",
        "protected", "eyJhbGciOiJFUzI1NiJ9",
        "payload", "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6"
                   "Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
        "signature", "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5dj"
                     "xLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q");

    is_int(mdm_acme_jws_verify(&jws, jwk, &err), 0,
           "RFC 7515 A.3 ES256 signature verifies");

    json_object_set_new(jws.body, "payload",
                        json_string("eyJpc3MiOiJqb2UifQ"));
    is_int(mdm_acme_jws_verify(&jws, jwk, &err), -1,
           "the same signature over another payload does not");
    is_int(err.type, MDM_ACME_MALFORMED, "... malformed");

    json_decref(jws.body);
    json_decref(jwk);
}


static void
test_rfc7638(void)
{
    char     thp[MDM_ACME_THUMBPRINT_LEN + 1];
    json_t  *jwk;

    jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "RSA", "e", "AQAB",
        "alg", "RS256",
        "n", "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT8"
        "6zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5Js"
        "GY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAt"
        "aSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTW"
        "hAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kE"
        "gU8awapJzKnqDKgw");

    is_int(mdm_acme_jwk_thumbprint(jwk, thp), 0, "thumbprint computed");
    is_str(thp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
           "RFC 7638 §3.1 thumbprint (members other than kty, n, e ignored)");

    json_decref(jwk);
}


static json_t *
gen_key(const char *alg)
{
    json_t  *jwk = json_pack("{s:s}", "alg", alg);

    if (!jose_jwk_gen(NULL, jwk)) {
        json_decref(jwk);
        return NULL;
    }

    return jwk;
}


static json_t *
pub_of(const json_t *jwk)
{
    json_t  *pub = json_deep_copy(jwk);

    jose_jwk_pub(NULL, pub);
    json_object_del(pub, "key_ops");
    json_object_del(pub, "alg");

    return pub;
}


/* a flattened JWS over payload with the protected header hdr (stolen) */
static char *
sign(const json_t *key, json_t *hdr, const char *payload)
{
    char    *out;
    json_t  *jws, *sig;

    jws = json_pack("{s:o}", "payload",
                    jose_b64_enc(payload, strlen(payload)));
    sig = json_pack("{s:o}", "protected", hdr);

    if (!jose_jws_sig(NULL, jws, sig, key)) {
        json_decref(jws);
        json_decref(sig);
        return NULL;
    }

    json_decref(sig);
    out = json_dumps(jws, JSON_COMPACT);
    json_decref(jws);

    return out;
}


/* a JWS libjose would not sign (a key unfit for its alg): the key checks
 * come before the signature, which is junk */
static char *
unsigned_jws(json_t *hdr)
{
    char    *h, *out;
    json_t  *jws;

    h = json_dumps(hdr, JSON_COMPACT);
    jws = json_pack("{s:o, s:s, s:s}", "protected", jose_b64_enc(h, strlen(h)),
                    "payload", "e30", "signature", "AAAA");
    out = json_dumps(jws, JSON_COMPACT);
    free(h);
    json_decref(hdr);
    json_decref(jws);

    return out;
}


static json_t *
hdr_jwk(const char *alg, const json_t *key)
{
    return json_pack("{s:s, s:s, s:s, s:o}", "alg", alg,
                     "nonce", "oFvnlFP1wIhRlYS2jTaXbA", "url", URL,
                     "jwk", pub_of(key));
}


static int
parse(const char *body, mdm_acme_jws_t *jws, mdm_acme_err_t *err)
{
    int  rc;

    rc = mdm_acme_jws_parse(body, strlen(body), URL, jws, err);
    if (rc == 0 && jws->jwk != NULL) {
        rc = mdm_acme_jws_verify(jws, jws->jwk, err);
    }

    return rc;
}


static void
test_round_trip(const char *alg)
{
    char           *body, thp[MDM_ACME_THUMBPRINT_LEN + 1];
    json_t         *key;
    mdm_acme_jws_t  jws;
    mdm_acme_err_t  err;

    key = gen_key(alg);
    ok(key != NULL, "%s key generated", alg);
    if (key == NULL) {
        return;
    }

    body = sign(key, hdr_jwk(alg, key), "{\"termsOfServiceAgreed\":true}");
    is_int(parse(body, &jws, &err), 0, "%s jwk request parses and verifies",
           alg);
    is_int(jws.alg, strcmp(alg, "ES256") == 0 ? MDM_ACME_ALG_ES256
                    : strcmp(alg, "ES384") == 0 ? MDM_ACME_ALG_ES384
                    : MDM_ACME_ALG_RS256, "... alg %s", alg);
    is_str(jws.nonce, "oFvnlFP1wIhRlYS2jTaXbA", "... nonce");
    ok(jws.kid == NULL && jws.jwk != NULL, "... jwk form");
    ok(json_is_true(json_object_get(jws.payload_json,
                                    "termsOfServiceAgreed")),
       "... payload decoded");
    is_int(mdm_acme_jwk_thumbprint(jws.jwk, thp), 0, "... thumbprint");
    is_int(strlen(thp), MDM_ACME_THUMBPRINT_LEN, "... of 43 characters");
    mdm_acme_jws_free(&jws);
    free(body);
    json_decref(key);
}


static void
expect(const char *what, char *body, mdm_acme_problem_e type)
{
    int             rc;
    mdm_acme_jws_t  jws;
    mdm_acme_err_t  err;

    if (body == NULL) {
        ok(0, "%s: could not sign", what);
        return;
    }

    rc = parse(body, &jws, &err);
    ok(rc == -1 && err.type == type, "%s: %s", what,
       mdm_acme_problem_name(type));
    if (rc != -1 || err.type != type) {
        diag("rc %d, %s: %s", rc, mdm_acme_problem_name(err.type),
             err.detail);
    }

    mdm_acme_jws_free(&jws);
    free(body);
}


static void
test_refusals(void)
{
    char           *body;
    json_t         *es256, *es384, *rsa1k, *hmac, *h, *other;
    mdm_acme_jws_t  jws;
    mdm_acme_err_t  err;

    es256 = gen_key("ES256");
    es384 = gen_key("ES384");
    other = gen_key("ES256");
    {
        EVP_PKEY  *pk = EVP_RSA_gen(1024);

        rsa1k = jose_openssl_jwk_from_EVP_PKEY(NULL, pk);
        EVP_PKEY_free(pk);
        ok(rsa1k != NULL, "RSA-1024 key generated");
    }
    hmac = gen_key("HS256");

    h = hdr_jwk("ES256", es256);
    json_object_set_new(h, "url", json_string(URL "x"));
    expect("JWS for another URL", sign(es256, h, "{}"),
           MDM_ACME_UNAUTHORIZED);

    h = hdr_jwk("ES256", es256);
    json_object_del(h, "nonce");
    expect("no nonce", sign(es256, h, "{}"), MDM_ACME_BAD_NONCE);

    h = hdr_jwk("ES256", es256);
    json_object_set_new(h, "nonce", json_string("a+b/c="));
    expect("nonce not base64url", sign(es256, h, "{}"), MDM_ACME_BAD_NONCE);

    h = hdr_jwk("ES256", es256);
    json_object_del(h, "url");
    expect("no url", sign(es256, h, "{}"), MDM_ACME_MALFORMED);

    h = hdr_jwk("ES256", es256);
    json_object_set_new(h, "kid", json_string("https://x/acct/1"));
    expect("jwk and kid", sign(es256, h, "{}"), MDM_ACME_MALFORMED);

    h = hdr_jwk("ES256", es256);
    json_object_del(h, "jwk");
    expect("neither jwk nor kid", sign(es256, h, "{}"), MDM_ACME_MALFORMED);

    h = hdr_jwk("ES256", es384);
    expect("ES256 with a P-384 key", unsigned_jws(h),
           MDM_ACME_BAD_PUBLIC_KEY);

    h = hdr_jwk("ES384", es384);
    json_object_set(h, "jwk", es384);     /* the private key itself */
    expect("jwk with the private key", unsigned_jws(h),
           MDM_ACME_BAD_PUBLIC_KEY);

    h = hdr_jwk("RS256", rsa1k);
    expect("RSA of 1024 bits", unsigned_jws(h),
           MDM_ACME_BAD_PUBLIC_KEY);

    h = json_pack("{s:s, s:s, s:s, s:s}", "alg", "HS256",
                  "nonce", "oFvnlFP1wIhRlYS2jTaXbA", "url", URL,
                  "kid", "https://x/acct/1");
    expect("HS256 (a MAC)", sign(hmac, h, "{}"),
           MDM_ACME_BAD_SIGNATURE_ALGORITHM);

    /* alg none cannot be signed by libjose: hand-made */
    expect("alg none", strdup("{\"protected\":\"eyJhbGciOiJub25lIiwibm9uY2U"
           "iOiJhYmMiLCJ1cmwiOiJodHRwczovL21kbS5leGFtcGxlLmNvbS9hY21lL25ldy"
           "1vcmRlciIsImtpZCI6IngifQ\",\"payload\":\"\",\"signature\":\"\"}"),
           MDM_ACME_BAD_SIGNATURE_ALGORITHM);

    body = sign(es256, hdr_jwk("ES256", es256), "{\"a\":1}");
    {
        json_t  *o = json_loads(body, 0, NULL);

        free(body);
        json_object_set_new(o, "payload", json_string("eyJhIjoyfQ"));
        expect("payload changed after signing",
               json_dumps(o, JSON_COMPACT), MDM_ACME_MALFORMED);

        json_object_set_new(o, "header", json_pack("{s:s}", "kid", "x"));
        expect("unprotected header", json_dumps(o, JSON_COMPACT),
               MDM_ACME_MALFORMED);
        json_decref(o);
    }

    expect("payload not an object", sign(es256, hdr_jwk("ES256", es256),
           "[1]"), MDM_ACME_MALFORMED);
    expect("not JSON", strdup("{\"protected\":"), MDM_ACME_MALFORMED);
    expect("duplicate member", strdup("{\"payload\":\"\",\"payload\":\"\","
           "\"protected\":\"e30\",\"signature\":\"\"}"), MDM_ACME_MALFORMED);
    expect("protected not base64url", strdup("{\"payload\":\"\","
           "\"protected\":\"e30=!\",\"signature\":\"\"}"),
           MDM_ACME_MALFORMED);
    expect("general serialization", strdup("{\"payload\":\"\","
           "\"signatures\":[]}"), MDM_ACME_MALFORMED);

    /* POST-as-GET in the kid form, verified by the account's key */
    h = json_pack("{s:s, s:s, s:s, s:s}", "alg", "ES256",
                  "nonce", "bm9uY2U", "url", URL,
                  "kid", "https://mdm.example.com/acme/acct/abc");
    body = sign(es256, h, "");
    is_int(mdm_acme_jws_parse(body, strlen(body), URL, &jws, &err), 0,
           "kid POST-as-GET parses");
    ok(jws.payload_len == 0 && jws.payload_json == NULL,
       "... empty payload");
    is_str(jws.kid, "https://mdm.example.com/acme/acct/abc", "... kid");
    {
        json_t  *pub = pub_of(es256), *opub = pub_of(other);

        is_int(mdm_acme_jws_verify(&jws, pub, &err), 0,
               "... verifies with the account key");
        is_int(mdm_acme_jws_verify(&jws, opub, &err), -1,
               "... not with another account's key");
        json_decref(pub);
        json_decref(opub);
    }
    mdm_acme_jws_free(&jws);
    free(body);

    json_decref(es256);
    json_decref(es384);
    json_decref(other);
    json_decref(rsa1k);
    json_decref(hmac);
}


static void
test_problems(void)
{
    char            *doc;
    json_t          *o;
    mdm_acme_err_t   err;

    is_int(mdm_acme_problem_status(MDM_ACME_BAD_NONCE), 400, "badNonce 400");
    is_int(mdm_acme_problem_status(MDM_ACME_UNAUTHORIZED), 403,
           "unauthorized 403");
    is_int(mdm_acme_problem_status(MDM_ACME_ORDER_NOT_READY), 403,
           "orderNotReady 403");
    is_int(mdm_acme_problem_status(MDM_ACME_SERVER_INTERNAL), 500,
           "serverInternal 500");

    mdm_acme_fail(&err, MDM_ACME_BAD_NONCE, "nonce %s", "spent");
    doc = mdm_acme_problem_json(&err, NULL);
    o = json_loads(doc, 0, NULL);
    is_str(json_string_value(json_object_get(o, "type")),
           "urn:ietf:params:acme:error:badNonce", "problem type URN");
    is_str(json_string_value(json_object_get(o, "detail")), "nonce spent",
           "problem detail");
    ok(json_object_get(o, "subproblems") == NULL, "no subproblems");
    json_decref(o);
    free(doc);

    mdm_acme_fail(&err, MDM_ACME_BAD_ATTESTATION, "serial differs");
    strcpy(err.identifier, "C02XX0XXJGH5");
    doc = mdm_acme_problem_json(&err, NULL);
    o = json_loads(doc, 0, NULL);
    {
        json_t  *sub = json_array_get(json_object_get(o, "subproblems"), 0);

        is_str(json_string_value(json_object_get(o, "type")),
               "urn:ietf:params:acme:error:badAttestationStatement",
               "badAttestationStatement");
        is_str(json_string_value(json_object_get(sub, "type")),
               "urn:ietf:params:acme:error:rejectedIdentifier",
               "... with a rejectedIdentifier subproblem");
        is_str(json_string_value(json_object_get(
                   json_object_get(sub, "identifier"), "value")),
               "C02XX0XXJGH5", "... naming the identifier");
    }
    json_decref(o);
    free(doc);

    mdm_acme_fail(&err, MDM_ACME_BAD_SIGNATURE_ALGORITHM, "HS256");
    doc = mdm_acme_problem_json(&err, NULL);
    o = json_loads(doc, 0, NULL);
    is_int(json_array_size(json_object_get(o, "algorithms")), 3,
           "badSignatureAlgorithm lists the algorithms");
    json_decref(o);
    free(doc);
}


static void
test_states(void)
{
    const mdm_acme_step_t  *s;

    is_int(mdm_acme_can(MDM_ACME_EV_ATTESTED, "pending", "pending"), 0,
           "a pending challenge can be attested");
    is_int(mdm_acme_can(MDM_ACME_EV_ATTESTED, "ready", "valid"), -1,
           "a valid challenge cannot be attested again");
    is_int(mdm_acme_can(MDM_ACME_EV_FINALIZE, "pending", "pending"), -1,
           "a pending order cannot be finalized");
    is_int(mdm_acme_can(MDM_ACME_EV_FINALIZE, "ready", "valid"), 0,
           "a ready one can");
    is_int(mdm_acme_can(MDM_ACME_EV_ISSUED, "processing", "valid"), 0,
           "processing -> valid");
    is_int(mdm_acme_can(MDM_ACME_EV_ISSUED, "ready", "valid"), -1,
           "ready -/-> valid");
    is_int(mdm_acme_can(MDM_ACME_EV_ISSUE_FAILED, "processing", "valid"), 0,
           "processing -> invalid when issuance fails");

    s = mdm_acme_step(MDM_ACME_EV_ATTESTED);
    is_str(s->guard_field, "chall", "attestation guards the challenge");
    is_str(s->set[2][1], "ready", "... and makes the order ready");
    s = mdm_acme_step(MDM_ACME_EV_ISSUE_FAILED);
    is_str(s->set[0][1], "invalid", "a failed issuance invalidates the order");

    is_int(mdm_acme_order_status("pending", 100, 99), MDM_ACME_ST_PENDING,
           "pending before expiry");
    is_int(mdm_acme_order_status("ready", 100, 100), MDM_ACME_ST_INVALID,
           "invalid once expired");
    is_int(mdm_acme_order_status("valid", 100, 200), MDM_ACME_ST_VALID,
           "valid stays valid");
    is_int(mdm_acme_order_status("bogus", 0, 0), MDM_ACME_ST_INVALID,
           "an unknown stored status reads as invalid");
    is_int(mdm_acme_status_of("processing"), MDM_ACME_ST_PROCESSING,
           "status names round-trip");
}


static void
test_ids(void)
{
    char  a[64], b[64];

    is_int(mdm_acme_random_id(a, sizeof(a), 16), 0, "random id");
    is_int(mdm_acme_random_id(b, sizeof(b), 16), 0, "another");
    is_int(strlen(a), 22, "16 bytes are 22 base64url characters");
    ok(strcmp(a, b) != 0, "two ids differ");
    ok(mdm_acme_b64url_ok(a, strlen(a), 64), "an id is base64url");
    ok(!mdm_acme_b64url_ok("a{b}", 4, 64), "braces are not (key tags)");
    ok(!mdm_acme_b64url_ok("", 0, 64), "empty is not");
    is_int(mdm_acme_random_id(a, 10, 16), -1, "too small a buffer refused");
}


int
main(void)
{
    test_rfc7515_a3();
    test_rfc7638();
    test_round_trip("ES256");
    test_round_trip("ES384");
    test_round_trip("RS256");
    test_refusals();
    test_problems();
    test_states();
    test_ids();

    return done_testing();
}
