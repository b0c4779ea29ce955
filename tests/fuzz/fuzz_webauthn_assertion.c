/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: an assertion (authd/webauthn.h webauthn_parse_assertion, then
 * webauthn_verify_assertion against two fixed stored keys, ES256 and Ed25519), for the relying
 * party "example.com" (origin https://example.com) and the challenge bytes 0..31. Besides never
 * crashing: what parses is bounded as the header says; what verifies is checked again here
 * without the verifier (clientDataJSON type, challenge and origin, rpIdHash, UP), and verifying
 * it once more with its own counter stored must be refused as a counter that did not advance
 * (unless both counters are zero).
 * Seeds (tests/fuzz/corpus/webauthn_assertion) come from tests/fuzz/webauthn_seeds.py, which
 * signs them with the same test-only keys (derived from fixed strings; they protect nothing).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "authd/webauthn.h"
#include "common/secret.h"

#define RP_ID "example.com"
#define ORIGIN "https://example.com"

static const char *const origins[] = {ORIGIN};
static const struct webauthn_rp rp = {RP_ID, origins, 1, 0};

/* COSE keys printed by webauthn_seeds.py. */
static const char es256_hex[] = "a5010203262001215820d6c84dfa6d6ede6c14d967d3b42ba2d6caaa784030f0"
                                "07bd7cf02a248dd7df8722582045248e51184f4e3df40edd8fb0ceaa12dcd6"
                                "f83c23c6ca4d86c75b72269d6c1c";
static const char eddsa_hex[] = "a4010103272006215820be0946ea09fba593a41913ef3fab6441664f507159f4"
                                "5d00883e7d259c17c560";

struct stored {
    int32_t alg;
    uint8_t cose[128];
    size_t len;
};
static struct stored keys[2];
static uint8_t challenge[WEBAUTHN_CHALLENGE_LEN];
static char challenge_b64[64];
static int verbose;

static void
die(const char *what)
{
    fprintf(stderr, "fuzz_webauthn_assertion: %s\n", what);
    abort();
}

static void
from_hex(const char *hex, struct stored *k)
{
    size_t n = strlen(hex) / 2;
    if (n > sizeof(k->cose))
        die("key too long");
    for (size_t i = 0; i < n; i++) {
        int hi = secret_hex_value((unsigned char)hex[2 * i]);
        int lo = secret_hex_value((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            die("bad hex");
        k->cose[i] = (uint8_t)(hi << 4 | lo);
    }
    k->len = n;
    if (webauthn_cose_check(k->cose, k->len, &k->alg, NULL, NULL) != WEBAUTHN_OK)
        die("a fixed key is refused");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    from_hex(es256_hex, &keys[0]);
    from_hex(eddsa_hex, &keys[1]);
    if (keys[0].alg != WEBAUTHN_ALG_ES256 || keys[1].alg != WEBAUTHN_ALG_EDDSA)
        die("fixed keys of the wrong algorithms");
    for (size_t i = 0; i < sizeof(challenge); i++)
        challenge[i] = (uint8_t)i;
    secret_b64url_encode(challenge, sizeof(challenge), challenge_b64);
    const char *v = getenv("AUTHD_FUZZ_VERBOSE");
    verbose = v != NULL && v[0] == '1';
    return 0;
}

/* The verifier said yes: see for ourselves what it must have checked. */
static void
check_accepted(const struct webauthn_assertion *a)
{
    json_t *cd = json_loadb((const char *)a->client_data, a->client_data_len, 0, NULL);
    const char *type = json_string_value(json_object_get(cd, "type"));
    const char *ch = json_string_value(json_object_get(cd, "challenge"));
    const char *origin = json_string_value(json_object_get(cd, "origin"));
    if (type == NULL || strcmp(type, "webauthn.get") != 0 || ch == NULL ||
        strcmp(ch, challenge_b64) != 0 || origin == NULL || strcmp(origin, ORIGIN) != 0 ||
        json_is_true(json_object_get(cd, "crossOrigin")))
        die("accepted client data that is not this ceremony's");
    json_decref(cd);
    uint8_t h[32];
    secret_sha256(RP_ID, strlen(RP_ID), h);
    if (a->auth_data_len < 37 || memcmp(a->auth_data, h, 32) != 0 ||
        !(a->auth_data[32] & WEBAUTHN_FLAG_UP))
        die("accepted authenticator data of another RP or without UP");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct webauthn_assertion a;
    const char *why = NULL;
    char *in = malloc(size + 1);
    if (in == NULL)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    int rc = webauthn_parse_assertion(in, &a, &why);
    free(in);
    if (rc != WEBAUTHN_OK) {
        if (why == NULL || a.cred_id != NULL || (rc != WEBAUTHN_MALFORMED && rc != WEBAUTHN_NOMEM))
            die("a refused parse without reason or with leftovers");
        if (verbose)
            fprintf(stderr, "parse: %d %s\n", rc, why);
        return 0;
    }
    if (a.cred_id_len == 0 || a.cred_id_len > WEBAUTHN_CRED_ID_MAX ||
        a.user_handle_len > WEBAUTHN_USER_HANDLE_MAX ||
        (a.user_handle == NULL) != (a.user_handle_len == 0) || a.client_data == NULL ||
        a.auth_data == NULL || a.signature == NULL)
        die("a parsed assertion out of its bounds");
    for (size_t i = 0; i < 2; i++) {
        struct webauthn_assertion_result res;
        why = NULL;
        rc = webauthn_verify_assertion(&rp, challenge, sizeof(challenge), &a, keys[i].cose,
                                       keys[i].len, keys[i].alg, 0, &res, &why);
        if (verbose)
            fprintf(stderr, "key %zu: %d %s\n", i, rc, rc == WEBAUTHN_OK ? "ok" : why);
        if (rc == WEBAUTHN_OK || rc == WEBAUTHN_COUNTER) {
            check_accepted(&a);
            /* Against a stored 0 any counter advances, and both zero is allowed. */
            if (rc == WEBAUTHN_COUNTER)
                die("a counter refused against a stored 0");
            int again =
                webauthn_verify_assertion(&rp, challenge, sizeof(challenge), &a, keys[i].cose,
                                          keys[i].len, keys[i].alg, res.sign_count, &res, &why);
            if (again != (res.sign_count == 0 ? WEBAUTHN_OK : WEBAUTHN_COUNTER))
                die("a replayed counter was not refused");
        } else if (why == NULL ||
                   (rc != WEBAUTHN_MALFORMED && rc != WEBAUTHN_REFUSED && rc != WEBAUTHN_NOMEM)) {
            die("a refusal without reason");
        }
    }
    webauthn_assertion_free(&a);
    return 0;
}
