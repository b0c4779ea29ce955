/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: a registration ceremony (authd/webauthn.h webauthn_verify_registration)
 * over arbitrary RegistrationResponseJSON, for a fixed relying party ("example.com", origin
 * https://example.com) and challenge (bytes 0..31). Besides never crashing: a refusal hands
 * nothing out and names its step; an accepted credential has an id of 1..1023 bytes and a COSE
 * key that webauthn_cose_check accepts on its own with the algorithm reported.
 * Seeds (tests/fuzz/corpus/webauthn_registration) come from tests/fuzz/webauthn_seeds.py, which
 * uses the integration tests' soft authenticator; AUTHD_FUZZ_VERBOSE=1 prints each verdict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd/webauthn.h"

static const char *const origins[] = {"https://example.com"};
static const struct webauthn_rp rp = {"example.com", origins, 1, 0};
static uint8_t challenge[WEBAUTHN_CHALLENGE_LEN];
static int verbose;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < sizeof(challenge); i++)
        challenge[i] = (uint8_t)i;
    const char *v = getenv("AUTHD_FUZZ_VERBOSE");
    verbose = v != NULL && v[0] == '1';
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct webauthn_registration r;
    const char *why = NULL;
    char *in = malloc(size + 1);
    if (in == NULL)
        return 0;
    memcpy(in, data, size);
    in[size] = '\0';
    int rc = webauthn_verify_registration(&rp, challenge, sizeof(challenge), in, &r, &why);
    if (verbose)
        fprintf(stderr, "registration: %d %s\n", rc, rc == WEBAUTHN_OK ? r.fmt : why);
    if (rc == WEBAUTHN_OK) {
        int32_t alg = 0;
        if (r.cred_id == NULL || r.cred_id_len == 0 || r.cred_id_len > WEBAUTHN_CRED_ID_MAX ||
            r.cose_key == NULL || r.n_transports > WEBAUTHN_TRANSPORTS_MAX ||
            (strcmp(r.fmt, "none") != 0 && strcmp(r.fmt, "packed") != 0) || r.discoverable < -1 ||
            r.discoverable > 1)
            abort();
        if (webauthn_cose_check(r.cose_key, r.cose_key_len, &alg, NULL, &why) != WEBAUTHN_OK ||
            alg != r.alg)
            abort();
        webauthn_registration_free(&r);
    } else if (why == NULL || r.cred_id != NULL || r.cose_key != NULL || r.n_transports != 0 ||
               (rc != WEBAUTHN_MALFORMED && rc != WEBAUTHN_REFUSED && rc != WEBAUTHN_UNSUPPORTED &&
                rc != WEBAUTHN_NOMEM)) {
        abort();
    }
    free(in);
    return 0;
}
