/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WebAuthn verification (W3C Web Authentication Level 3, §7.1 registering a new credential and
 * §7.2 verifying an authentication assertion), server side, without storage: parsing the JSON
 * the browser's PublicKeyCredential.toJSON() produces, clientDataJSON, authenticatorData, the
 * attestation object (CBOR) and COSE public keys, and checking every step the specification
 * lists that does not need the store (the caller looks up the credential and its user, keeps
 * the counter and the challenge). Algorithms: ES256 (-7), EdDSA (-8, Ed25519), RS256 (-257),
 * through OpenSSL. Attestation: "none", and "packed" (self attestation; with x5c the statement's
 * signature and the certificate's requirements of §8.2.1 are checked, the chain is not trusted
 * to any root: authd asks for attestation "none" and records the format only).
 * Pure functions: any thread. Every input is hostile: lengths are bounded before anything is
 * allocated, and a malformed input is refused, never partly accepted.
 */
#ifndef AUTHD_WEBAUTHN_H
#define AUTHD_WEBAUTHN_H

#include <stddef.h>
#include <stdint.h>

#define WEBAUTHN_CHALLENGE_LEN 32
#define WEBAUTHN_CRED_ID_MAX 1023     /* §5.1: credential ids are at most 1023 bytes */
#define WEBAUTHN_USER_HANDLE_MAX 64   /* §5.4.3 */
#define WEBAUTHN_JSON_MAX (64 * 1024) /* a response_json longer than this is refused */
#define WEBAUTHN_TRANSPORTS_MAX 8

enum webauthn_alg {
    WEBAUTHN_ALG_ES256 = -7,
    WEBAUTHN_ALG_EDDSA = -8,
    WEBAUTHN_ALG_RS256 = -257,
};

/* Results. WEBAUTHN_MALFORMED: the input is not what the format says; WEBAUTHN_REFUSED: well
 * formed but a check failed (type, challenge, origin, rpIdHash, flags, signature...);
 * WEBAUTHN_COUNTER: everything verified but the signature counter did not advance (a possible
 * cloned authenticator: refuse and audit); WEBAUTHN_UNSUPPORTED: an algorithm, key type or
 * attestation format authd does not accept. */
enum {
    WEBAUTHN_OK = 0,
    WEBAUTHN_MALFORMED = 1,
    WEBAUTHN_REFUSED = 2,
    WEBAUTHN_COUNTER = 3,
    WEBAUTHN_UNSUPPORTED = 4,
    WEBAUTHN_NOMEM = 5,
};

/* The relying party a ceremony is checked against (borrowed strings). */
struct webauthn_rp {
    const char *rp_id;          /* e.g. "example.com" */
    const char *const *origins; /* clientDataJSON.origin must equal one of these, exactly */
    size_t n_origins;
    int require_uv; /* the UV flag must be set */
};

/* A verified registration (§7.1). Members are malloc'd: webauthn_registration_free. */
struct webauthn_registration {
    uint8_t *cred_id;
    size_t cred_id_len;
    uint8_t *cose_key; /* the credential public key exactly as in authenticatorData (CBOR) */
    size_t cose_key_len;
    int32_t alg;
    uint32_t sign_count;
    uint8_t aaguid[16];
    int uv;                                    /* UV flag */
    int backup_eligible;                       /* BE flag */
    int backup_state;                          /* BS flag */
    char fmt[16];                              /* "none" or "packed" */
    char *transports[WEBAUTHN_TRANSPORTS_MAX]; /* response.transports, each malloc'd */
    size_t n_transports;
    int discoverable; /* clientExtensionResults.credProps.rk: 1, 0, or -1 when not reported */
};

/*
 * Verifies response_json (RegistrationResponseJSON, at most WEBAUTHN_JSON_MAX bytes) against
 * the challenge the ceremony issued and rp: type "webauthn.create", the challenge (constant
 * time), the origin, crossOrigin absent or false, rpIdHash = SHA-256(rp_id), UP set, UV set when
 * rp->require_uv, BS without BE refused, attested credential data present and its id equal to
 * the JSON's rawId, the COSE key parsed strictly (webauthn_cose_check) with an accepted
 * algorithm, and the attestation statement of its format. On WEBAUTHN_OK *out is filled
 * (free it with webauthn_registration_free); otherwise *out is left empty and *why (may be NULL)
 * names the failed step with a constant English phrase, safe for logs and messages.
 */
int webauthn_verify_registration(const struct webauthn_rp *rp, const uint8_t *challenge,
                                 size_t challenge_len, const char *response_json,
                                 struct webauthn_registration *out, const char **why);
void webauthn_registration_free(struct webauthn_registration *r);

/* A parsed assertion (AuthenticationResponseJSON), before verification: the caller learns which
 * credential (and, passwordless, which user) it names, finds the stored key, then calls
 * webauthn_verify_assertion. Members malloc'd: webauthn_assertion_free. */
struct webauthn_assertion {
    uint8_t *cred_id; /* rawId */
    size_t cred_id_len;
    uint8_t *user_handle; /* response.userHandle; NULL when absent or empty */
    size_t user_handle_len;
    uint8_t *client_data; /* clientDataJSON, decoded */
    size_t client_data_len;
    uint8_t *auth_data; /* authenticatorData, decoded */
    size_t auth_data_len;
    uint8_t *signature;
    size_t signature_len;
};

/* Parses response_json (bounded as above; type "public-key", id equal to rawId). WEBAUTHN_OK
 * or WEBAUTHN_MALFORMED / WEBAUTHN_NOMEM with *why. */
int webauthn_parse_assertion(const char *response_json, struct webauthn_assertion *out,
                             const char **why);
void webauthn_assertion_free(struct webauthn_assertion *a);

/* What a verified assertion says. */
struct webauthn_assertion_result {
    uint32_t sign_count; /* the new counter to store (when the result is WEBAUTHN_OK) */
    int uv;
    int backup_eligible;
    int backup_state;
};

/*
 * Verifies a parsed assertion (§7.2) against the challenge, rp and the stored credential
 * (cose_key, alg and stored_count): type "webauthn.get", challenge (constant time), origin,
 * crossOrigin, rpIdHash, UP, UV when rp->require_uv, BS without BE refused, the signature over
 * authenticatorData || SHA-256(clientDataJSON) with the stored key (ECDSA DER for ES256, raw
 * Ed25519, PKCS#1 v1.5 SHA-256 for RS256), and then the counter: when the stored or the new
 * counter is non-zero, the new one must be greater, else WEBAUTHN_COUNTER (res is still filled).
 */
int webauthn_verify_assertion(const struct webauthn_rp *rp, const uint8_t *challenge,
                              size_t challenge_len, const struct webauthn_assertion *a,
                              const uint8_t *cose_key, size_t cose_key_len, int32_t alg,
                              uint32_t stored_count, struct webauthn_assertion_result *res,
                              const char **why);

/*
 * Parses a COSE_Key (RFC 9052 §7, RFC 9053; kty EC2 with crv P-256 and alg -7, OKP with crv
 * Ed25519 and alg -8, RSA with alg -257 and a modulus of 2048..8192 bits) strictly: the map
 * holds exactly the labels its key type needs, no duplicates, canonical lengths, the EC point on
 * its curve, and the encoding ends where the map ends (*used = bytes consumed, may be NULL). Sets
 * *alg. WEBAUTHN_OK, WEBAUTHN_MALFORMED or WEBAUTHN_UNSUPPORTED (WEBAUTHN_NOMEM). With used NULL
 * the key must fill len exactly (a stored key); with used, bytes after the map are the caller's.
 */
int webauthn_cose_check(const uint8_t *cose, size_t len, int32_t *alg, size_t *used,
                        const char **why);

/*
 * authenticatorData (§6.1) split into its parts, bounded by len: rpIdHash, flags, counter, and
 * with AT the attested credential data (aaguid, credential id, the COSE key's extent); with ED
 * the extensions map must be valid CBOR ending the data. Pointers are into ad.
 */
struct webauthn_authdata {
    const uint8_t *rp_id_hash; /* 32 bytes */
    uint8_t flags;
    uint32_t sign_count;
    const uint8_t *aaguid; /* 16 bytes; NULL without AT */
    const uint8_t *cred_id;
    size_t cred_id_len;
    const uint8_t *cose_key;
    size_t cose_key_len;
};
#define WEBAUTHN_FLAG_UP 0x01
#define WEBAUTHN_FLAG_UV 0x04
#define WEBAUTHN_FLAG_BE 0x08
#define WEBAUTHN_FLAG_BS 0x10
#define WEBAUTHN_FLAG_AT 0x40
#define WEBAUTHN_FLAG_ED 0x80
int webauthn_authdata_parse(const uint8_t *ad, size_t len, struct webauthn_authdata *out,
                            const char **why);

#endif
