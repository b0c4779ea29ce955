/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WebAuthn verification without storage (authd/webauthn.h): the JSON of the browser's
 * PublicKeyCredential, clientDataJSON, authenticatorData, the attestation object and COSE keys,
 * each bounded before anything is allocated and parsed strictly; signatures through OpenSSL EVP.
 * CBOR first passes a small well-formedness scan of our own (definite lengths, shortest heads,
 * bounded depth: what libcbor 0.8 accepts but does not report), then libcbor decodes exactly
 * the bytes the scan measured.
 */
#include "authd/webauthn.h"

#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/secret.h"

/* Bounds of the decoded parts (each also bounded by WEBAUTHN_JSON_MAX before decoding). */
#define CLIENT_DATA_MAX 8192
#define AUTH_DATA_MAX 16384
#define ATT_OBJ_MAX 49152
#define SIG_MAX 1024 /* an RSA-8192 signature */
#define X5C_MAX 8
#define CERT_MAX 8192
#define CBOR_DEPTH_MAX 16
#define COSE_LABELS_MAX 8
#define STMT_KEYS_MAX 8
#define EXT_KEYS_MAX 32
#define TRANSPORT_LEN_MAX 32
#define CHALLENGE_B64_MAX 128
#define AAGUID_OID "1.3.6.1.4.1.45724.1.1.4"

static const char why_nomem[] = "out of memory";

/* ---- CBOR ----------------------------------------------------------------------------------- */

/*
 * Reads the head of one CBOR item at p[*off]: major type and argument. Refuses reserved
 * values, indefinite lengths (and the break code), and arguments not in their shortest form.
 * 0 or -1.
 */
static int
cbor_head(const uint8_t *p, size_t len, size_t *off, int *major, uint64_t *arg)
{
    static const uint64_t shortest[4] = {24, 0x100, 0x10000, 0x100000000ull};
    if (*off >= len)
        return -1;
    uint8_t ib = p[(*off)++];
    uint8_t ai = ib & 31;
    *major = ib >> 5;
    if (ai < 24) {
        *arg = ai;
        return 0;
    }
    if (ai > 27)
        return -1;
    size_t n = (size_t)1 << (ai - 24);
    if (len - *off < n)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[(*off)++];
    *arg = v;
    if (*major == 7) /* floats keep their width; a one-byte simple value is at least 32 */
        return ai == 24 && v < 32 ? -1 : 0;
    return v < shortest[ai - 24] ? -1 : 0;
}

/* Skips one well-formed item at p[*off] (see cbor_head), nested at most CBOR_DEPTH_MAX deep.
 * Counts are checked against the bytes left before any loop, so work is linear in len. */
static int
cbor_scan(const uint8_t *p, size_t len, size_t *off, int depth)
{
    int major;
    uint64_t arg;
    if (depth > CBOR_DEPTH_MAX || cbor_head(p, len, off, &major, &arg) != 0)
        return -1;
    switch (major) {
    case 0:
    case 1:
    case 7:
        return 0;
    case 2:
    case 3:
        if (arg > len - *off)
            return -1;
        *off += (size_t)arg;
        return 0;
    case 4:
    case 5:
        if (arg > len - *off) /* every item takes at least one byte */
            return -1;
        for (uint64_t i = 0; i < (major == 5 ? 2 * arg : arg); i++)
            if (cbor_scan(p, len, off, depth + 1) != 0)
                return -1;
        return 0;
    default: /* 6: a tag and the item it tags */
        return cbor_scan(p, len, off, depth + 1);
    }
}

/*
 * The one CBOR item at the start of p[0..len): scanned, then decoded by libcbor over exactly
 * the scanned bytes. *used = its length (the caller decides about what follows).
 * WEBAUTHN_OK, WEBAUTHN_MALFORMED or WEBAUTHN_NOMEM.
 */
static int
cbor_one(const uint8_t *p, size_t len, cbor_item_t **item, size_t *used)
{
    struct cbor_load_result res;
    size_t off = 0;
    *item = NULL;
    *used = 0;
    if (p == NULL || cbor_scan(p, len, &off, 0) != 0)
        return WEBAUTHN_MALFORMED;
    cbor_item_t *it = cbor_load(p, off, &res);
    if (it == NULL)
        return res.error.code == CBOR_ERR_MEMERROR ? WEBAUTHN_NOMEM : WEBAUTHN_MALFORMED;
    if (res.read != off) {
        cbor_decref(&it);
        return WEBAUTHN_MALFORMED;
    }
    *item = it;
    *used = off;
    return WEBAUTHN_OK;
}

/* An integer item in int64 range into *v: 0, or -1 for anything else. */
static int
cbor_int64(const cbor_item_t *it, int64_t *v)
{
    if (!cbor_isa_uint(it) && !cbor_isa_negint(it))
        return -1;
    uint64_t u = cbor_get_int(it);
    if (u > (uint64_t)INT64_MAX)
        return -1;
    *v = cbor_isa_uint(it) ? (int64_t)u : -1 - (int64_t)u;
    return 0;
}

/* Whether it is the definite text string s. */
static int
cbor_text_is(const cbor_item_t *it, const char *s)
{
    size_t n = strlen(s);
    if (!cbor_isa_string(it) || !cbor_string_is_definite(it) || cbor_string_length(it) != n)
        return 0;
    return n == 0 || memcmp(cbor_string_handle(it), s, n) == 0;
}

/* Whether the definite text strings a and b hold the same bytes. */
static int
cbor_text_eq(const cbor_item_t *a, const cbor_item_t *b)
{
    size_t n = cbor_string_length(a);
    if (n != cbor_string_length(b))
        return 0;
    return n == 0 || memcmp(cbor_string_handle(a), cbor_string_handle(b), n) == 0;
}

/* Whether the map m (at most max pairs) has only definite text keys, each once. */
static int
cbor_text_keys_unique(const cbor_item_t *m, size_t max)
{
    size_t n = cbor_map_size(m);
    struct cbor_pair *pr = cbor_map_handle(m);
    if (n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!cbor_isa_string(pr[i].key) || !cbor_string_is_definite(pr[i].key))
            return 0;
        for (size_t j = 0; j < i; j++)
            if (cbor_text_eq(pr[i].key, pr[j].key))
                return 0;
    }
    return 1;
}

/* The value of the text key name in map m, or NULL. */
static cbor_item_t *
cbor_map_text(const cbor_item_t *m, const char *name)
{
    size_t n = cbor_map_size(m);
    struct cbor_pair *pr = cbor_map_handle(m);
    for (size_t i = 0; i < n; i++)
        if (cbor_text_is(pr[i].key, name))
            return pr[i].value;
    return NULL;
}

static int
cbor_is_bytes(const cbor_item_t *it)
{
    return it != NULL && cbor_isa_bytestring(it) && cbor_bytestring_is_definite(it);
}

/* ---- keys and signatures -------------------------------------------------------------------- */

/* A public key from OSSL_PARAMs (EC or RSA); NULL on failure. */
static EVP_PKEY *
pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

/* A P-256 public key from its coordinates, checked to be a point of the curve's group; NULL
 * when it is not (or on failure). */
static EVP_PKEY *
pkey_ec(const uint8_t *x, const uint8_t *y)
{
    uint8_t pt[65];
    EVP_PKEY *pkey = NULL;
    pt[0] = 0x04; /* uncompressed */
    memcpy(pt + 1, x, 32);
    memcpy(pt + 33, y, 32);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld != NULL &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)))
        pkey = pkey_from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    if (pkey != NULL) {
        /* Import may already refuse a point off the curve; the explicit check says so. */
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (ctx == NULL || EVP_PKEY_public_check(ctx) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        EVP_PKEY_CTX_free(ctx);
    }
    return pkey;
}

static EVP_PKEY *
pkey_rsa(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen)
{
    EVP_PKEY *pkey = NULL;
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bn != NULL && be != NULL && bld != NULL &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
        pkey = pkey_from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return pkey;
}

/* Whether pkey is of the kind alg needs: a P-256 EC key for ES256, Ed25519 for EdDSA, RSA of
 * 2048..8192 bits for RS256. */
static int
pkey_fits_alg(EVP_PKEY *pkey, int32_t alg)
{
    char group[32];
    switch (alg) {
    case WEBAUTHN_ALG_ES256:
        return EVP_PKEY_is_a(pkey, "EC") &&
               EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) == 1 &&
               strcmp(group, "prime256v1") == 0;
    case WEBAUTHN_ALG_EDDSA:
        return EVP_PKEY_is_a(pkey, "ED25519");
    case WEBAUTHN_ALG_RS256:
        return EVP_PKEY_is_a(pkey, "RSA") && EVP_PKEY_get_bits(pkey) >= 2048 &&
               EVP_PKEY_get_bits(pkey) <= 8192;
    default:
        return 0;
    }
}

/*
 * Whether sig verifies with pkey (of alg's kind) over data || hash: ES256 an ECDSA P-256 DER
 * signature over SHA-256, EdDSA Ed25519 over the message itself, RS256 RSASSA-PKCS1-v1_5 with
 * SHA-256. 1 yes, 0 no, -1 out of memory.
 */
static int
sig_verify(EVP_PKEY *pkey, int32_t alg, const uint8_t *sig, size_t siglen, const uint8_t *data,
           size_t datalen, const uint8_t hash[32])
{
    int ok = 0;
    EVP_PKEY_CTX *pctx = NULL;
    if (sig == NULL || siglen == 0 || siglen > SIG_MAX || !pkey_fits_alg(pkey, alg))
        return 0;
    uint8_t *msg = malloc(datalen + 32);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (msg == NULL || md == NULL) {
        free(msg);
        EVP_MD_CTX_free(md);
        return -1;
    }
    memcpy(msg, data, datalen);
    memcpy(msg + datalen, hash, 32);
    if (EVP_DigestVerifyInit(md, &pctx, alg == WEBAUTHN_ALG_EDDSA ? NULL : EVP_sha256(), NULL,
                             pkey) == 1 &&
        (alg != WEBAUTHN_ALG_RS256 || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1))
        ok = EVP_DigestVerify(md, sig, siglen, msg, datalen + 32) == 1;
    EVP_MD_CTX_free(md);
    free(msg);
    ERR_clear_error(); /* a refused signature leaves errors on this thread's queue */
    return ok;
}

/* ---- COSE keys ------------------------------------------------------------------------------ */

#define COSE_KTY 1
#define COSE_ALG 3
#define COSE_CRV -1
#define COSE_X -2 /* EC2 and OKP x; RSA n */
#define COSE_Y -3 /* EC2 y; RSA e is -2 */
#define COSE_RSA_N -1
#define COSE_RSA_E -2

/* The value of label in the (already unique) labels, or NULL. */
static const cbor_item_t *
cose_get(const int64_t *labels, const cbor_item_t *const *values, size_t n, int64_t label)
{
    for (size_t i = 0; i < n; i++)
        if (labels[i] == label)
            return values[i];
    return NULL;
}

/*
 * webauthn_cose_check, and the key itself when pkey is not NULL (the caller frees it). With
 * used NULL the key must fill len exactly.
 */
static int
cose_parse(const uint8_t *cose, size_t len, int32_t *alg, size_t *used, EVP_PKEY **pkey,
           const char **why)
{
    static const int64_t ec2_labels[] = {COSE_KTY, COSE_ALG, COSE_CRV, COSE_X, COSE_Y};
    static const int64_t okp_labels[] = {COSE_KTY, COSE_ALG, COSE_CRV, COSE_X};
    static const int64_t rsa_labels[] = {COSE_KTY, COSE_ALG, COSE_RSA_N, COSE_RSA_E};
    int64_t labels[COSE_LABELS_MAX], kty, a;
    const cbor_item_t *values[COSE_LABELS_MAX];
    const int64_t *want;
    size_t nwant, n, got = 0;
    cbor_item_t *m = NULL;
    EVP_PKEY *key = NULL;
    const char *w = NULL;
    int rc;

    *alg = 0;
    if (used != NULL)
        *used = 0;
    if (pkey != NULL)
        *pkey = NULL;
    rc = cbor_one(cose, len, &m, &got);
    if (rc != WEBAUTHN_OK) {
        w = rc == WEBAUTHN_NOMEM ? why_nomem : "COSE key is not well-formed CBOR";
        goto out;
    }
    rc = WEBAUTHN_MALFORMED;
    if (used == NULL && got != len) {
        w = "trailing bytes after the COSE key";
        goto out;
    }
    if (!cbor_isa_map(m)) {
        w = "COSE key is not a map";
        goto out;
    }
    n = cbor_map_size(m);
    if (n > COSE_LABELS_MAX) {
        w = "COSE key has too many labels";
        goto out;
    }
    struct cbor_pair *pr = cbor_map_handle(m);
    for (size_t i = 0; i < n; i++) {
        if (cbor_int64(pr[i].key, &labels[i]) != 0) {
            w = "COSE key label is not an integer";
            goto out;
        }
        for (size_t j = 0; j < i; j++)
            if (labels[j] == labels[i]) {
                w = "duplicate COSE key label";
                goto out;
            }
        values[i] = pr[i].value;
    }
    const cbor_item_t *v = cose_get(labels, values, n, COSE_KTY);
    if (v == NULL || cbor_int64(v, &kty) != 0) {
        w = "COSE key has no integer kty";
        goto out;
    }
    v = cose_get(labels, values, n, COSE_ALG);
    if (v == NULL || cbor_int64(v, &a) != 0) {
        w = "COSE key has no integer alg";
        goto out;
    }
    rc = WEBAUTHN_UNSUPPORTED;
    if (kty == 2) {
        want = ec2_labels, nwant = 5;
    } else if (kty == 1) {
        want = okp_labels, nwant = 4;
    } else if (kty == 3) {
        want = rsa_labels, nwant = 4;
    } else {
        w = "unsupported COSE key type";
        goto out;
    }
    if ((kty == 2 && a != WEBAUTHN_ALG_ES256) || (kty == 1 && a != WEBAUTHN_ALG_EDDSA) ||
        (kty == 3 && a != WEBAUTHN_ALG_RS256)) {
        w = "unsupported COSE algorithm for its key type";
        goto out;
    }
    rc = WEBAUTHN_MALFORMED;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < nwant && want[k] != labels[i])
            k++;
        if (k == nwant) {
            w = "unexpected COSE key label";
            goto out;
        }
    }
    if (n != nwant) { /* labels are unique and each one wanted: n < nwant means one is missing */
        w = "COSE key misses a label its type needs";
        goto out;
    }
    if (kty == 2 || kty == 1) {
        int64_t crv;
        const cbor_item_t *x = cose_get(labels, values, n, COSE_X);
        const cbor_item_t *y = kty == 2 ? cose_get(labels, values, n, COSE_Y) : NULL;
        if (cbor_int64(cose_get(labels, values, n, COSE_CRV), &crv) != 0) {
            w = "COSE crv is not an integer";
            goto out;
        }
        if (crv != (kty == 2 ? 1 : 6)) {
            rc = WEBAUTHN_UNSUPPORTED;
            w = "unsupported COSE curve";
            goto out;
        }
        if (!cbor_is_bytes(x) || cbor_bytestring_length(x) != 32 ||
            (kty == 2 && (!cbor_is_bytes(y) || cbor_bytestring_length(y) != 32))) {
            w = "COSE key coordinate is not 32 bytes";
            goto out;
        }
        if (kty == 2)
            key = pkey_ec(cbor_bytestring_handle(x), cbor_bytestring_handle(y));
        else
            key =
                EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, cbor_bytestring_handle(x), 32);
        if (key == NULL) {
            w = kty == 2 ? "COSE EC point is not on P-256" : "COSE Ed25519 key is not valid";
            goto out;
        }
    } else {
        const cbor_item_t *nn = cose_get(labels, values, n, COSE_RSA_N);
        const cbor_item_t *e = cose_get(labels, values, n, COSE_RSA_E);
        if (!cbor_is_bytes(nn) || cbor_bytestring_length(nn) < 1 ||
            cbor_bytestring_length(nn) > 1024 || cbor_bytestring_handle(nn)[0] == 0) {
            w = "COSE RSA modulus is not a minimal byte string of at most 8192 bits";
            goto out;
        }
        size_t el = cbor_is_bytes(e) ? cbor_bytestring_length(e) : 0;
        const uint8_t *ep = el > 0 ? cbor_bytestring_handle(e) : NULL;
        if (el < 1 || el > 8 || ep[0] == 0 || (ep[el - 1] & 1) == 0 || (el == 1 && ep[0] < 3)) {
            w = "COSE RSA exponent is not valid";
            goto out;
        }
        key = pkey_rsa(cbor_bytestring_handle(nn), cbor_bytestring_length(nn), ep, el);
        if (key == NULL) {
            w = "COSE RSA key is not valid";
            goto out;
        }
        if (EVP_PKEY_get_bits(key) < 2048) {
            rc = WEBAUTHN_UNSUPPORTED;
            w = "COSE RSA modulus is shorter than 2048 bits";
            goto out;
        }
    }
    *alg = (int32_t)a;
    if (used != NULL)
        *used = got;
    if (pkey != NULL) {
        *pkey = key;
        key = NULL;
    }
    rc = WEBAUTHN_OK;
out:
    EVP_PKEY_free(key);
    if (m != NULL)
        cbor_decref(&m);
    ERR_clear_error();
    if (why != NULL && rc != WEBAUTHN_OK)
        *why = w;
    return rc;
}

int
webauthn_cose_check(const uint8_t *cose, size_t len, int32_t *alg, size_t *used, const char **why)
{
    return cose_parse(cose, len, alg, used, NULL, why);
}

/* ---- authenticatorData ---------------------------------------------------------------------- */

int
webauthn_authdata_parse(const uint8_t *ad, size_t len, struct webauthn_authdata *out,
                        const char **why)
{
    const char *w = NULL;
    int rc = WEBAUTHN_MALFORMED;
    size_t off = 37, used;
    cbor_item_t *it = NULL;

    memset(out, 0, sizeof(*out));
    if (ad == NULL || len < 37) {
        w = "authenticatorData is shorter than 37 bytes";
        goto out;
    }
    if (len > AUTH_DATA_MAX) {
        w = "authenticatorData is too long";
        goto out;
    }
    out->rp_id_hash = ad;
    out->flags = ad[32];
    out->sign_count =
        ((uint32_t)ad[33] << 24) | ((uint32_t)ad[34] << 16) | ((uint32_t)ad[35] << 8) | ad[36];
    if (out->flags & WEBAUTHN_FLAG_AT) {
        if (len - off < 18) {
            w = "attested credential data is truncated";
            goto out;
        }
        out->aaguid = ad + off;
        size_t idlen = ((size_t)ad[off + 16] << 8) | ad[off + 17];
        off += 18;
        if (idlen == 0 || idlen > WEBAUTHN_CRED_ID_MAX) {
            w = "credential id length is not 1..1023";
            goto out;
        }
        if (len - off < idlen) {
            w = "credential id is truncated";
            goto out;
        }
        out->cred_id = ad + off;
        out->cred_id_len = idlen;
        off += idlen;
        rc = cbor_one(ad + off, len - off, &it, &used);
        if (rc != WEBAUTHN_OK) {
            w = rc == WEBAUTHN_NOMEM ? why_nomem : "credential public key is not one CBOR item";
            goto out;
        }
        cbor_decref(&it);
        rc = WEBAUTHN_MALFORMED;
        out->cose_key = ad + off;
        out->cose_key_len = used;
        off += used;
    }
    if (out->flags & WEBAUTHN_FLAG_ED) {
        rc = cbor_one(ad + off, len - off, &it, &used);
        if (rc != WEBAUTHN_OK) {
            w = rc == WEBAUTHN_NOMEM ? why_nomem : "extensions are not well-formed CBOR";
            goto out;
        }
        rc = WEBAUTHN_MALFORMED;
        if (!cbor_isa_map(it) || !cbor_text_keys_unique(it, EXT_KEYS_MAX)) {
            w = "extensions are not a map of unique names";
            goto out;
        }
        off += used;
    }
    if (off != len) {
        w = "trailing bytes after authenticatorData";
        goto out;
    }
    rc = WEBAUTHN_OK;
out:
    if (it != NULL)
        cbor_decref(&it);
    if (rc != WEBAUTHN_OK) {
        memset(out, 0, sizeof(*out));
        if (why != NULL)
            *why = w;
    }
    return rc;
}

/* ---- the checks both ceremonies share ------------------------------------------------------- */

/* The JSON string v as a C string, or NULL when v is no string or holds a NUL: a comparison
 * must not stop at "\u0000" ("https://example.com\u0000.evil"). jansson refuses it unless
 * JSON_ALLOW_NUL is given; this holds whatever the flags. */
static const char *
json_cstr(const json_t *v)
{
    const char *s = json_string_value(v);
    return s != NULL && strlen(s) == json_string_length(v) ? s : NULL;
}

/* clientDataJSON (§7.1 steps 7-12, §7.2 steps 11-16): type, challenge, origin, crossOrigin. */
static int
check_client_data(const struct webauthn_rp *rp, const uint8_t *challenge, size_t challenge_len,
                  const uint8_t *cd, size_t cdlen, const char *type, const char **why)
{
    uint8_t got[CHALLENGE_B64_MAX];
    json_error_t jerr;
    int rc = WEBAUTHN_MALFORMED;
    json_t *doc = NULL;

    if (cdlen > CLIENT_DATA_MAX) {
        *why = "clientDataJSON is too long";
        goto out;
    }
    doc = json_loadb((const char *)cd, cdlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(doc)) {
        *why = "clientDataJSON is not a JSON object";
        goto out;
    }
    const char *t = json_cstr(json_object_get(doc, "type"));
    const json_t *ch = json_object_get(doc, "challenge");
    const char *origin = json_cstr(json_object_get(doc, "origin"));
    const json_t *cross = json_object_get(doc, "crossOrigin");
    if (t == NULL || !json_is_string(ch) || origin == NULL) {
        *why = "clientDataJSON lacks type, challenge or origin";
        goto out;
    }
    rc = WEBAUTHN_REFUSED;
    if (strcmp(t, type) != 0) {
        *why = strcmp(type, "webauthn.get") == 0 ? "clientDataJSON type is not webauthn.get"
                                                 : "clientDataJSON type is not webauthn.create";
        goto out;
    }
    size_t chlen = json_string_length(ch);
    long n = chlen <= CHALLENGE_B64_MAX
                 ? secret_b64url_decode(json_string_value(ch), chlen, got, sizeof(got))
                 : -1;
    if (challenge == NULL || challenge_len == 0 || n < 0 || (size_t)n != challenge_len ||
        CRYPTO_memcmp(got, challenge, challenge_len) != 0) {
        *why = "challenge does not match";
        goto out;
    }
    size_t i = 0;
    while (rp->origins != NULL && i < rp->n_origins &&
           (rp->origins[i] == NULL || strcmp(rp->origins[i], origin) != 0))
        i++;
    if (rp->origins == NULL || i == rp->n_origins) {
        *why = "origin is not one of the relying party's";
        goto out;
    }
    /* topOrigin only means something when crossOrigin is true, which is refused. */
    if (cross != NULL && !json_is_false(cross)) {
        *why =
            json_is_true(cross) ? "cross-origin ceremony refused" : "crossOrigin is not a boolean";
        rc = json_is_true(cross) ? WEBAUTHN_REFUSED : WEBAUTHN_MALFORMED;
        goto out;
    }
    rc = WEBAUTHN_OK;
out:
    json_decref(doc);
    return rc;
}

/* rpIdHash and flags (§7.1 steps 15-18, §7.2 steps 17-20). */
static int
check_rp_and_flags(const struct webauthn_rp *rp, const struct webauthn_authdata *ad,
                   const char **why)
{
    uint8_t h[32];
    secret_sha256(rp->rp_id, strlen(rp->rp_id), h);
    if (CRYPTO_memcmp(h, ad->rp_id_hash, 32) != 0) {
        *why = "rpIdHash is not the SHA-256 of the RP ID";
        return WEBAUTHN_REFUSED;
    }
    if (!(ad->flags & WEBAUTHN_FLAG_UP)) {
        *why = "user present flag is not set";
        return WEBAUTHN_REFUSED;
    }
    if (rp->require_uv && !(ad->flags & WEBAUTHN_FLAG_UV)) {
        *why = "user verification required but not performed";
        return WEBAUTHN_REFUSED;
    }
    if ((ad->flags & WEBAUTHN_FLAG_BS) && !(ad->flags & WEBAUTHN_FLAG_BE)) {
        *why = "backup state set without backup eligibility";
        return WEBAUTHN_REFUSED;
    }
    return WEBAUTHN_OK;
}

static int
rp_usable(const struct webauthn_rp *rp)
{
    return rp != NULL && rp->rp_id != NULL && rp->origins != NULL && rp->n_origins > 0;
}

/* ---- JSON ----------------------------------------------------------------------------------- */

/* response_json as a JSON object, bounded by WEBAUTHN_JSON_MAX. */
static int
json_parse_bounded(const char *text, json_t **doc, const char **why)
{
    json_error_t jerr;
    *doc = NULL;
    if (text == NULL) {
        *why = "no response";
        return WEBAUTHN_MALFORMED;
    }
    size_t n = strnlen(text, WEBAUTHN_JSON_MAX + 1);
    if (n > WEBAUTHN_JSON_MAX) {
        *why = "response is too long";
        return WEBAUTHN_MALFORMED;
    }
    *doc = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(*doc)) {
        json_decref(*doc);
        *doc = NULL;
        *why = "response is not a JSON object";
        return WEBAUTHN_MALFORMED;
    }
    return WEBAUTHN_OK;
}

/*
 * The base64url member name of obj, decoded into *out (malloc'd, *outlen bytes) when it holds
 * at most max bytes. Absent: WEBAUTHN_OK with *out NULL when optional, else MALFORMED. bad is
 * the phrase for a member that is there but wrong.
 */
static int
json_b64(const json_t *obj, const char *name, size_t max, int optional, uint8_t **out,
         size_t *outlen, const char *bad, const char **why)
{
    const json_t *v = json_object_get(obj, name);
    *out = NULL;
    *outlen = 0;
    if (v == NULL && optional)
        return WEBAUTHN_OK;
    size_t n = json_string_length(v);
    if (!json_is_string(v) || n > secret_b64url_len(max)) {
        *why = bad;
        return WEBAUTHN_MALFORMED;
    }
    size_t cap = n / 4 * 3 + 3;
    uint8_t *buf = malloc(cap);
    if (buf == NULL) {
        *why = why_nomem;
        return WEBAUTHN_NOMEM;
    }
    long got = secret_b64url_decode(json_string_value(v), n, buf, cap);
    if (got < 0 || (size_t)got > max) {
        free(buf);
        *why = bad;
        return WEBAUTHN_MALFORMED;
    }
    *out = buf;
    *outlen = (size_t)got;
    return WEBAUTHN_OK;
}

/* type "public-key", id equal to rawId, rawId decoded into *raw (1..1023 bytes). */
static int
json_credential(const json_t *doc, uint8_t **raw, size_t *rawlen, const char **why)
{
    const char *type = json_cstr(json_object_get(doc, "type"));
    const char *id = json_cstr(json_object_get(doc, "id"));
    const char *rawid = json_cstr(json_object_get(doc, "rawId"));
    *raw = NULL;
    *rawlen = 0;
    if (type == NULL || strcmp(type, "public-key") != 0) {
        *why = "credential type is not public-key";
        return WEBAUTHN_MALFORMED;
    }
    if (id == NULL || rawid == NULL || strcmp(id, rawid) != 0) {
        *why = "credential id is not its rawId";
        return WEBAUTHN_MALFORMED;
    }
    int rc = json_b64(doc, "rawId", WEBAUTHN_CRED_ID_MAX, 0, raw, rawlen,
                      "rawId is not base64url of at most 1023 bytes", why);
    if (rc == WEBAUTHN_OK && *rawlen == 0) {
        free(*raw);
        *raw = NULL;
        *why = "rawId is empty";
        rc = WEBAUTHN_MALFORMED;
    }
    return rc;
}

/* response.transports (optional; strings, at most WEBAUTHN_TRANSPORTS_MAX). */
static int
json_transports(const json_t *resp, struct webauthn_registration *r, const char **why)
{
    const json_t *arr = json_object_get(resp, "transports"), *v;
    size_t i;
    if (arr == NULL)
        return WEBAUTHN_OK;
    if (!json_is_array(arr) || json_array_size(arr) > WEBAUTHN_TRANSPORTS_MAX) {
        *why = "transports is not a short array";
        return WEBAUTHN_MALFORMED;
    }
    json_array_foreach(arr, i, v)
    {
        size_t n = json_string_length(v);
        if (json_cstr(v) == NULL || n == 0 || n > TRANSPORT_LEN_MAX) {
            *why = "a transport is not a short string";
            return WEBAUTHN_MALFORMED;
        }
        r->transports[r->n_transports] = strdup(json_string_value(v));
        if (r->transports[r->n_transports] == NULL) {
            *why = why_nomem;
            return WEBAUTHN_NOMEM;
        }
        r->n_transports++;
    }
    return WEBAUTHN_OK;
}

/* clientExtensionResults.credProps.rk (optional): 1, 0, or -1 when not reported. */
static int
json_cred_props(const json_t *doc, int *discoverable, const char **why)
{
    const json_t *ext = json_object_get(doc, "clientExtensionResults");
    const json_t *props = json_object_get(ext, "credProps");
    const json_t *rk = json_object_get(props, "rk");
    *discoverable = -1;
    if ((ext != NULL && !json_is_object(ext)) || (props != NULL && !json_is_object(props)) ||
        (rk != NULL && !json_is_boolean(rk))) {
        *why = "clientExtensionResults.credProps is not what it should be";
        return WEBAUTHN_MALFORMED;
    }
    if (rk != NULL)
        *discoverable = json_is_true(rk) ? 1 : 0;
    return WEBAUTHN_OK;
}

/* ---- attestation ---------------------------------------------------------------------------- */

/* The attestation object (§6.5.4): a CBOR map of fmt (text), attStmt (map), authData (bytes),
 * nothing after it. Pointers into *item, which the caller releases. */
static int
attestation_object(const uint8_t *p, size_t len, cbor_item_t **item, const cbor_item_t **fmt,
                   const cbor_item_t **stmt, const uint8_t **ad, size_t *adlen, const char **why)
{
    size_t used;
    int rc = cbor_one(p, len, item, &used);
    if (rc != WEBAUTHN_OK) {
        *why = rc == WEBAUTHN_NOMEM ? why_nomem : "attestationObject is not well-formed CBOR";
        return rc;
    }
    if (used != len) {
        *why = "trailing bytes after the attestationObject";
        return WEBAUTHN_MALFORMED;
    }
    if (!cbor_isa_map(*item) || !cbor_text_keys_unique(*item, STMT_KEYS_MAX)) {
        *why = "attestationObject is not a map of unique names";
        return WEBAUTHN_MALFORMED;
    }
    *fmt = cbor_map_text(*item, "fmt");
    *stmt = cbor_map_text(*item, "attStmt");
    const cbor_item_t *a = cbor_map_text(*item, "authData");
    if (*fmt == NULL || !cbor_isa_string(*fmt) || *stmt == NULL || !cbor_isa_map(*stmt) ||
        !cbor_is_bytes(a)) {
        *why = "attestationObject lacks fmt, attStmt or authData";
        return WEBAUTHN_MALFORMED;
    }
    if (!cbor_text_keys_unique(*stmt, STMT_KEYS_MAX)) {
        *why = "attStmt is not a map of unique names";
        return WEBAUTHN_MALFORMED;
    }
    *ad = cbor_bytestring_handle(a);
    *adlen = cbor_bytestring_length(a);
    return WEBAUTHN_OK;
}

/* Whether the subject of c has an entry nid; with want, exactly that value. */
static int
subject_has(X509 *c, int nid, const char *want)
{
    X509_NAME *name = X509_get_subject_name(c);
    int i = X509_NAME_get_index_by_NID(name, nid, -1);
    if (i < 0)
        return 0;
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    if (s == NULL || ASN1_STRING_length(s) <= 0)
        return 0;
    if (want == NULL)
        return 1;
    return (size_t)ASN1_STRING_length(s) == strlen(want) &&
           memcmp(ASN1_STRING_get0_data(s), want, strlen(want)) == 0;
}

/* §8.2.1: what a packed attestation certificate must be (its chain is not judged). */
static int
packed_cert_check(X509 *c, const uint8_t *aaguid, const char **why)
{
    if (X509_get_version(c) != 2) {
        *why = "attestation certificate is not version 3";
        return WEBAUTHN_REFUSED;
    }
    if (!subject_has(c, NID_organizationalUnitName, "Authenticator Attestation")) {
        *why = "attestation certificate subject OU is not Authenticator Attestation";
        return WEBAUTHN_REFUSED;
    }
    if (!subject_has(c, NID_countryName, NULL) || !subject_has(c, NID_organizationName, NULL) ||
        !subject_has(c, NID_commonName, NULL)) {
        *why = "attestation certificate subject lacks C, O or CN";
        return WEBAUTHN_REFUSED;
    }
    int crit = 0;
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(c, NID_basic_constraints, &crit, NULL);
    int ca = bc == NULL || bc->ca;
    BASIC_CONSTRAINTS_free(bc);
    if (ca) {
        *why = "attestation certificate is not marked CA false";
        return WEBAUTHN_REFUSED;
    }
    ASN1_OBJECT *oid = OBJ_txt2obj(AAGUID_OID, 1);
    if (oid == NULL) {
        *why = why_nomem;
        return WEBAUTHN_NOMEM;
    }
    int idx = X509_get_ext_by_OBJ(c, oid, -1);
    int again = idx >= 0 ? X509_get_ext_by_OBJ(c, oid, idx) : -1;
    ASN1_OBJECT_free(oid);
    if (idx >= 0) {
        X509_EXTENSION *ext = X509_get_ext(c, idx);
        ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(ext);
        const uint8_t *q = ASN1_STRING_get0_data(os);
        long qlen = ASN1_STRING_length(os);
        const uint8_t *start = q;
        ASN1_OCTET_STRING *inner = d2i_ASN1_OCTET_STRING(NULL, &q, qlen);
        int ok = again < 0 && !X509_EXTENSION_get_critical(ext) && inner != NULL &&
                 q == start + qlen && ASN1_STRING_length(inner) == 16 &&
                 memcmp(ASN1_STRING_get0_data(inner), aaguid, 16) == 0;
        ASN1_OCTET_STRING_free(inner);
        if (!ok) {
            *why = "attestation certificate aaguid is not authenticatorData's";
            return WEBAUTHN_REFUSED;
        }
    }
    return WEBAUTHN_OK;
}

/* The packed statement (§8.2) with x5c: the leaf certificate's key signs, and the leaf is what
 * §8.2.1 asks. The other certificates are only required to be byte strings. */
static int
packed_x5c(const cbor_item_t *x5c, int64_t salg, const cbor_item_t *sig, const uint8_t *ad,
           size_t adlen, const uint8_t cdh[32], const uint8_t *aaguid, const char **why)
{
    size_t n = cbor_isa_array(x5c) ? cbor_array_size(x5c) : 0;
    cbor_item_t **certs = n > 0 ? cbor_array_handle(x5c) : NULL;
    if (n == 0 || n > X5C_MAX) {
        *why = "x5c is not a short array of certificates";
        return WEBAUTHN_MALFORMED;
    }
    for (size_t i = 0; i < n; i++)
        if (!cbor_is_bytes(certs[i]) || cbor_bytestring_length(certs[i]) == 0 ||
            cbor_bytestring_length(certs[i]) > CERT_MAX) {
            *why = "x5c is not a short array of certificates";
            return WEBAUTHN_MALFORMED;
        }
    const uint8_t *p = cbor_bytestring_handle(certs[0]);
    size_t plen = cbor_bytestring_length(certs[0]);
    const uint8_t *q = p;
    X509 *leaf = d2i_X509(NULL, &q, (long)plen);
    if (leaf == NULL || q != p + plen) {
        X509_free(leaf);
        ERR_clear_error();
        *why = "attestation certificate is not DER X.509";
        return WEBAUTHN_MALFORMED;
    }
    int rc = WEBAUTHN_OK;
    EVP_PKEY *key = X509_get0_pubkey(leaf);
    if (salg != WEBAUTHN_ALG_ES256 && salg != WEBAUTHN_ALG_EDDSA && salg != WEBAUTHN_ALG_RS256) {
        rc = WEBAUTHN_UNSUPPORTED;
        *why = "unsupported attestation algorithm";
    } else if (key == NULL || !pkey_fits_alg(key, (int32_t)salg)) {
        rc = WEBAUTHN_REFUSED;
        *why = "attestation certificate key does not fit alg";
    } else {
        int ok = sig_verify(key, (int32_t)salg, cbor_bytestring_handle(sig),
                            cbor_bytestring_length(sig), ad, adlen, cdh);
        if (ok < 0) {
            rc = WEBAUTHN_NOMEM;
            *why = why_nomem;
        } else if (!ok) {
            rc = WEBAUTHN_REFUSED;
            *why = "attestation signature does not verify";
        } else {
            rc = packed_cert_check(leaf, aaguid, why);
        }
    }
    X509_free(leaf);
    ERR_clear_error();
    return rc;
}

/* The attestation statement of its format (§8.2 packed, §8.7 none). */
static int
attestation_statement(const cbor_item_t *fmt, const cbor_item_t *stmt, const uint8_t *ad,
                      size_t adlen, const uint8_t cdh[32], int32_t alg, EVP_PKEY *key,
                      const uint8_t *aaguid, char out_fmt[16], const char **why)
{
    if (cbor_text_is(fmt, "none")) {
        if (cbor_map_size(stmt) != 0) {
            *why = "attestation none with a statement";
            return WEBAUTHN_MALFORMED;
        }
        memcpy(out_fmt, "none", 5);
        return WEBAUTHN_OK;
    }
    if (!cbor_text_is(fmt, "packed")) {
        *why = "unsupported attestation format";
        return WEBAUTHN_UNSUPPORTED;
    }
    memcpy(out_fmt, "packed", 7);
    const cbor_item_t *a = cbor_map_text(stmt, "alg");
    const cbor_item_t *sig = cbor_map_text(stmt, "sig");
    const cbor_item_t *x5c = cbor_map_text(stmt, "x5c");
    size_t known = 2 + (x5c != NULL);
    int64_t salg;
    if (cbor_map_text(stmt, "ecdaaKeyId") != NULL) {
        *why = "ECDAA attestation is not supported";
        return WEBAUTHN_UNSUPPORTED;
    }
    if (a == NULL || cbor_int64(a, &salg) != 0 || !cbor_is_bytes(sig) ||
        cbor_map_size(stmt) != known) {
        *why = "packed attStmt is not alg, sig and x5c";
        return WEBAUTHN_MALFORMED;
    }
    if (x5c != NULL)
        return packed_x5c(x5c, salg, sig, ad, adlen, cdh, aaguid, why);
    if (salg != alg) {
        *why = "self attestation alg is not the credential's";
        return WEBAUTHN_REFUSED;
    }
    int ok = sig_verify(key, alg, cbor_bytestring_handle(sig), cbor_bytestring_length(sig), ad,
                        adlen, cdh);
    if (ok < 0) {
        *why = why_nomem;
        return WEBAUTHN_NOMEM;
    }
    if (!ok) {
        *why = "attestation signature does not verify";
        return WEBAUTHN_REFUSED;
    }
    return WEBAUTHN_OK;
}

/* ---- registration --------------------------------------------------------------------------- */

int
webauthn_verify_registration(const struct webauthn_rp *rp, const uint8_t *challenge,
                             size_t challenge_len, const char *response_json,
                             struct webauthn_registration *out, const char **why)
{
    struct webauthn_registration r;
    struct webauthn_authdata ad;
    uint8_t *cd = NULL, *ao = NULL, cdh[32];
    size_t cdlen = 0, aolen = 0, adlen = 0;
    const uint8_t *adp = NULL;
    cbor_item_t *att = NULL;
    const cbor_item_t *fmt = NULL, *stmt = NULL;
    EVP_PKEY *key = NULL;
    json_t *doc = NULL;
    const char *w = NULL;
    int rc;

    memset(&r, 0, sizeof(r));
    memset(out, 0, sizeof(*out));
    if (!rp_usable(rp)) {
        w = "no relying party";
        rc = WEBAUTHN_REFUSED;
        goto out;
    }
    rc = json_parse_bounded(response_json, &doc, &w);
    if (rc == WEBAUTHN_OK)
        rc = json_credential(doc, &r.cred_id, &r.cred_id_len, &w);
    if (rc != WEBAUTHN_OK)
        goto out;
    const json_t *resp = json_object_get(doc, "response");
    if (!json_is_object(resp)) {
        w = "response member is not an object";
        rc = WEBAUTHN_MALFORMED;
        goto out;
    }
    rc = json_b64(resp, "clientDataJSON", CLIENT_DATA_MAX, 0, &cd, &cdlen,
                  "clientDataJSON is not base64url of a bounded length", &w);
    if (rc == WEBAUTHN_OK)
        rc = json_b64(resp, "attestationObject", ATT_OBJ_MAX, 0, &ao, &aolen,
                      "attestationObject is not base64url of a bounded length", &w);
    if (rc == WEBAUTHN_OK)
        rc = json_transports(resp, &r, &w);
    if (rc == WEBAUTHN_OK)
        rc = json_cred_props(doc, &r.discoverable, &w);
    if (rc == WEBAUTHN_OK)
        rc = check_client_data(rp, challenge, challenge_len, cd, cdlen, "webauthn.create", &w);
    if (rc != WEBAUTHN_OK)
        goto out;
    secret_sha256(cd, cdlen, cdh);
    rc = attestation_object(ao, aolen, &att, &fmt, &stmt, &adp, &adlen, &w);
    if (rc == WEBAUTHN_OK)
        rc = webauthn_authdata_parse(adp, adlen, &ad, &w);
    if (rc == WEBAUTHN_OK)
        rc = check_rp_and_flags(rp, &ad, &w);
    if (rc != WEBAUTHN_OK)
        goto out;
    if (ad.aaguid == NULL) {
        w = "authenticatorData has no attested credential data";
        rc = WEBAUTHN_MALFORMED;
        goto out;
    }
    if (ad.cred_id_len != r.cred_id_len || memcmp(ad.cred_id, r.cred_id, r.cred_id_len) != 0) {
        w = "attested credential id is not rawId";
        rc = WEBAUTHN_REFUSED;
        goto out;
    }
    rc = cose_parse(ad.cose_key, ad.cose_key_len, &r.alg, NULL, &key, &w);
    if (rc == WEBAUTHN_OK)
        rc = attestation_statement(fmt, stmt, adp, adlen, cdh, r.alg, key, ad.aaguid, r.fmt, &w);
    if (rc != WEBAUTHN_OK)
        goto out;
    r.cose_key = malloc(ad.cose_key_len);
    if (r.cose_key == NULL) {
        w = why_nomem;
        rc = WEBAUTHN_NOMEM;
        goto out;
    }
    memcpy(r.cose_key, ad.cose_key, ad.cose_key_len);
    r.cose_key_len = ad.cose_key_len;
    r.sign_count = ad.sign_count;
    memcpy(r.aaguid, ad.aaguid, 16);
    r.uv = !!(ad.flags & WEBAUTHN_FLAG_UV);
    r.backup_eligible = !!(ad.flags & WEBAUTHN_FLAG_BE);
    r.backup_state = !!(ad.flags & WEBAUTHN_FLAG_BS);
    *out = r;
    memset(&r, 0, sizeof(r));
out:
    webauthn_registration_free(&r);
    EVP_PKEY_free(key);
    if (att != NULL)
        cbor_decref(&att);
    free(cd);
    free(ao);
    json_decref(doc);
    if (rc != WEBAUTHN_OK && why != NULL)
        *why = w;
    return rc;
}

void
webauthn_registration_free(struct webauthn_registration *r)
{
    if (r == NULL)
        return;
    free(r->cred_id);
    free(r->cose_key);
    for (size_t i = 0; i < r->n_transports && i < WEBAUTHN_TRANSPORTS_MAX; i++)
        free(r->transports[i]);
    memset(r, 0, sizeof(*r));
}

/* ---- assertion ------------------------------------------------------------------------------ */

int
webauthn_parse_assertion(const char *response_json, struct webauthn_assertion *out,
                         const char **why)
{
    struct webauthn_assertion a;
    json_t *doc = NULL;
    const char *w = NULL;
    int rc;

    memset(&a, 0, sizeof(a));
    memset(out, 0, sizeof(*out));
    rc = json_parse_bounded(response_json, &doc, &w);
    if (rc == WEBAUTHN_OK)
        rc = json_credential(doc, &a.cred_id, &a.cred_id_len, &w);
    if (rc != WEBAUTHN_OK)
        goto out;
    const json_t *resp = json_object_get(doc, "response");
    if (!json_is_object(resp)) {
        w = "response member is not an object";
        rc = WEBAUTHN_MALFORMED;
        goto out;
    }
    rc = json_b64(resp, "clientDataJSON", CLIENT_DATA_MAX, 0, &a.client_data, &a.client_data_len,
                  "clientDataJSON is not base64url of a bounded length", &w);
    if (rc == WEBAUTHN_OK)
        rc = json_b64(resp, "authenticatorData", AUTH_DATA_MAX, 0, &a.auth_data, &a.auth_data_len,
                      "authenticatorData is not base64url of a bounded length", &w);
    if (rc == WEBAUTHN_OK)
        rc = json_b64(resp, "signature", SIG_MAX, 0, &a.signature, &a.signature_len,
                      "signature is not base64url of a bounded length", &w);
    if (rc != WEBAUTHN_OK)
        goto out;
    /* userHandle: absent, null or "" all mean none (a second-factor key may have none). */
    if (!json_is_null(json_object_get(resp, "userHandle")))
        rc = json_b64(resp, "userHandle", WEBAUTHN_USER_HANDLE_MAX, 1, &a.user_handle,
                      &a.user_handle_len, "userHandle is not base64url of at most 64 bytes", &w);
    if (rc != WEBAUTHN_OK)
        goto out;
    if (a.user_handle != NULL && a.user_handle_len == 0) {
        free(a.user_handle);
        a.user_handle = NULL;
    }
    *out = a;
    memset(&a, 0, sizeof(a));
out:
    webauthn_assertion_free(&a);
    json_decref(doc);
    if (rc != WEBAUTHN_OK && why != NULL)
        *why = w;
    return rc;
}

void
webauthn_assertion_free(struct webauthn_assertion *a)
{
    if (a == NULL)
        return;
    free(a->cred_id);
    free(a->user_handle);
    free(a->client_data);
    free(a->auth_data);
    free(a->signature);
    memset(a, 0, sizeof(*a));
}

int
webauthn_verify_assertion(const struct webauthn_rp *rp, const uint8_t *challenge,
                          size_t challenge_len, const struct webauthn_assertion *a,
                          const uint8_t *cose_key, size_t cose_key_len, int32_t alg,
                          uint32_t stored_count, struct webauthn_assertion_result *res,
                          const char **why)
{
    struct webauthn_authdata ad;
    EVP_PKEY *key = NULL;
    const char *w = NULL;
    uint8_t cdh[32];
    int32_t key_alg = 0;
    int rc;

    memset(res, 0, sizeof(*res));
    if (!rp_usable(rp) || a == NULL) {
        w = "no relying party";
        rc = WEBAUTHN_REFUSED;
        goto out;
    }
    rc = cose_parse(cose_key, cose_key_len, &key_alg, NULL, &key, &w);
    if (rc != WEBAUTHN_OK)
        goto out;
    if (key_alg != alg) {
        w = "stored algorithm is not the key's";
        rc = WEBAUTHN_REFUSED;
        goto out;
    }
    rc = check_client_data(rp, challenge, challenge_len, a->client_data, a->client_data_len,
                           "webauthn.get", &w);
    if (rc == WEBAUTHN_OK)
        rc = webauthn_authdata_parse(a->auth_data, a->auth_data_len, &ad, &w);
    if (rc == WEBAUTHN_OK)
        rc = check_rp_and_flags(rp, &ad, &w);
    if (rc != WEBAUTHN_OK)
        goto out;
    secret_sha256(a->client_data, a->client_data_len, cdh);
    int ok =
        sig_verify(key, alg, a->signature, a->signature_len, a->auth_data, a->auth_data_len, cdh);
    if (ok <= 0) {
        w = ok < 0 ? why_nomem : "assertion signature does not verify";
        rc = ok < 0 ? WEBAUTHN_NOMEM : WEBAUTHN_REFUSED;
        goto out;
    }
    res->sign_count = ad.sign_count;
    res->uv = !!(ad.flags & WEBAUTHN_FLAG_UV);
    res->backup_eligible = !!(ad.flags & WEBAUTHN_FLAG_BE);
    res->backup_state = !!(ad.flags & WEBAUTHN_FLAG_BS);
    /* §7.2 step 22: a counter that does not advance may mean a cloned authenticator. Both zero
     * is an authenticator without a counter. */
    if ((stored_count != 0 || ad.sign_count != 0) && ad.sign_count <= stored_count) {
        w = "signature counter did not increase";
        rc = WEBAUTHN_COUNTER;
        goto out;
    }
    rc = WEBAUTHN_OK;
out:
    EVP_PKEY_free(key);
    if (rc != WEBAUTHN_OK && why != NULL)
        *why = w;
    return rc;
}
