/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authd.v1.OAuth: the authorization endpoint's decisions (Authorize), the token endpoint
 * (authorization_code with PKCE, password with the login's throttle and TOTP, client_credentials,
 * refresh_token with rotation and reuse detection), introspection (RFC 7662), revocation
 * (RFC 7009), UserInfo and the JWKS. Every change that must not race (consuming a code, rotating
 * a refresh token, revoking a family) is one store transaction. Errors carry the OAuth error code
 * in the status message (see oauth.h). Codes, tokens, secrets and passwords are wiped after use
 * and never logged: logs name codes and tokens by their public id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "authd/account.h"
#include "authd/audit.h"
#include "authd/clients.h"
#include "common/buf.h"
#include "common/email.h"
#include "common/err.h"
#include "authd/keys.h"
#include "authd/login.h"
#include "common/log.h"
#include "authd/oauth.h"
#include "authd/origins.h"
#include "authd/password.h"
#include "authd/records.h"
#include "authd/rfamily.h"
#include "common/secret.h"
#include "authd/signkeys.h"
#include "authd/throttle.h"
#include "authd/token.h"
#include "authd/twofactor.h"
#include "authd/v1/oauth.pb-c.h"
#include "authd/roles.h"

/* Seconds a sign-in may predate the auth_after authd asked for and still count: replicas'
 * clocks differ a little, and a stricter test would only send the user round again. */
#define AUTH_AFTER_SKEW 5
#define CONSENT_TTL (365 * 86400) /* seconds a consent is remembered */
#define JWT_MAX 16384             /* bytes of a presented JWT */
#define NONCE_MAX 512             /* bytes of an OpenID Connect nonce */
#define OFFLINE "offline_access"  /* OIDC Core §11: a refresh token that outlives the session */

typedef Authd__Storage__AuthCodeRecord CodeRec;
typedef Authd__Storage__RefreshTokenRecord RefreshRec;
typedef Authd__Storage__RefreshFamilyRecord FamilyRec;
typedef Authd__Storage__AccessTokenRecord AtokRec;

/* ---- small helpers ---------------------------------------------------------------------- */

/* Loads prefix<id> as a d message (through txn when not NULL). */
static int
load(struct authd *a, struct store_txn *txn, int for_update, const char *prefix, const char *id,
     const ProtobufCMessageDescriptor *d, void *out)
{
    char key[KEY_MAX];
    *(ProtobufCMessage **)out = NULL;
    if (id == NULL || id[0] == '\0' || key_make(key, prefix, id, NULL) == 0)
        return AUTHD_ERR_NOT_FOUND;
    return rec_get(a->store, txn, for_update, key, d, out);
}

/* Writes m at key in one atomic batch (outside any transaction). */
static int
store_rec(struct authd *a, const char *key, const ProtobufCMessage *m)
{
    struct store_batch *b = store_batch_new();
    if (b == NULL)
        return AUTHD_ERR_NOMEM;
    int r = rec_batch_put(b, key, m);
    if (r == AUTHD_OK)
        r = store_batch_commit(a->store, b);
    store_batch_free(b);
    return r;
}

/* Replaces a string field of an unpacked record with a malloc'd copy of v. */
static int
field_set(char **f, const char *v)
{
    char *d = strdup(v != NULL ? v : "");
    if (d == NULL)
        return AUTHD_ERR_NOMEM;
    if (*f != NULL && *f != protobuf_c_empty_string)
        free(*f);
    *f = d;
    return AUTHD_OK;
}

/* 1 when the space-separated scope string s holds tok. */
static int
scope_has(const char *s, const char *tok)
{
    size_t tl = strlen(tok);
    for (const char *p = s; p != NULL && *p != '\0';) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e != '\0' && *e != ' ')
            e++;
        if ((size_t)(e - p) == tl && memcmp(p, tok, tl) == 0)
            return 1;
        p = e;
    }
    return 0;
}

/* AUTHD_OK when session sid exists, is authenticated and has not expired (its expiry into
 * *expires_at when not NULL); else NOT_FOUND. */
static int
session_alive(struct authd *a, struct store_txn *txn, const char *sid, int64_t *expires_at)
{
    Authd__Storage__SessionRecord *s = NULL;
    int r = load(a, txn, 0, KEY_SESSION, sid, &authd__storage__session_record__descriptor, &s);
    if (r == AUTHD_OK &&
        (s->session == NULL || !s->session->authenticated || s->session->expires_at <= a->now()))
        r = AUTHD_ERR_NOT_FOUND;
    if (r == AUTHD_OK && expires_at != NULL)
        *expires_at = s->session->expires_at;
    rpc_msg_free(s ? &s->base : NULL);
    return r;
}

/* 1 when client c may be granted offline_access: its registered scopes list it. */
static int
client_offline_allowed(const Authd__V1__Client *c)
{
    struct oauth_scopes allowed;
    return oauth_client_scopes(c, &allowed) == AUTHD_OK && oauth_scopes_has(&allowed, OFFLINE);
}

/* Removes tok from s (keeping the others' order). */
static void
scopes_drop(struct oauth_scopes *s, const char *tok)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->item[i], tok) != 0) {
            if (k != i)
                memcpy(s->item[k], s->item[i], sizeof(s->item[k]));
            k++;
        }
    s->n = k;
}

/* Loads user uid when it exists and is active (else NOT_FOUND); for_update locks the record
 * in txn (then ending all the user's sessions waits, and sees what this transaction wrote). */
static int
user_active(struct authd *a, struct store_txn *txn, int for_update, const char *uid,
            Authd__Storage__UserRecord **out)
{
    int r = account_user_get(a, txn, for_update, uid, out);
    if (r == AUTHD_OK && ((*out)->user == NULL || (*out)->user->inactive)) {
        rpc_msg_free(&(*out)->base);
        *out = NULL;
        r = AUTHD_ERR_NOT_FOUND;
    }
    return r;
}

/* ---- JWTs ----------------------------------------------------------------------------- */

/*
 * Claims are written as JSON text straight into a bounded buffer, in the order of the code below
 * (the order the jansson object that built them before kept), and signed as they are
 * (signkeys_sign_unchecked): no tree to build, serialise and parse again. Every string value goes
 * through buf_json, which escapes it and refuses what is not UTF-8, as json_string() did; names
 * are literals of this file. The first failure sticks in bad.
 */
#define CLAIMS_MAX 8192

struct claims {
    struct buf b;
    int bad;
};

static void
claims_begin(struct claims *c)
{
    buf_init(&c->b, CLAIMS_MAX);
    c->bad = buf_append(&c->b, "{", 1) != AUTHD_OK;
}

/* ,"name": (no comma before the first member). */
static void
claims_name(struct claims *c, const char *name)
{
    if (c->bad)
        return;
    c->bad = (c->b.len > 1 && buf_append(&c->b, ",", 1) != AUTHD_OK) ||
             buf_append(&c->b, "\"", 1) != AUTHD_OK || buf_puts(&c->b, name) != AUTHD_OK ||
             buf_append(&c->b, "\":", 2) != AUTHD_OK;
}

static void
claims_str(struct claims *c, const char *name, const char *v)
{
    claims_name(c, name);
    if (!c->bad)
        c->bad = buf_json(&c->b, v) != AUTHD_OK;
}

static void
claims_int(struct claims *c, const char *name, int64_t v)
{
    char t[24];
    claims_name(c, name);
    int n = snprintf(t, sizeof(t), "%lld", (long long)v);
    if (!c->bad)
        c->bad = buf_append(&c->b, t, (size_t)n) != AUTHD_OK;
}

static void
claims_bool(struct claims *c, const char *name, int v)
{
    claims_name(c, name);
    if (!c->bad)
        c->bad = buf_puts(&c->b, v ? "true" : "false") != AUTHD_OK;
}

static void
claims_strs(struct claims *c, const char *name, char *const *v, size_t n)
{
    claims_name(c, name);
    if (!c->bad)
        c->bad = buf_append(&c->b, "[", 1) != AUTHD_OK;
    for (size_t i = 0; !c->bad && i < n; i++)
        c->bad =
            (i > 0 && buf_append(&c->b, ",", 1) != AUTHD_OK) || buf_json(&c->b, v[i]) != AUTHD_OK;
    if (!c->bad)
        c->bad = buf_append(&c->b, "]", 1) != AUTHD_OK;
}

/* Closes the claims and signs them with the active key of alg, typ in the header. *jws is
 * malloc'd (a bearer token: secret_strfree it). Frees the claims whatever the result. A trial
 * on ctx defers rather than make a missing key (a write, and an RSA key takes long), and rather
 * than sign with RSA: an RSA private operation takes about a millisecond of CPU, too long for a
 * completion-queue thread; ES256 and EdDSA take tens of microseconds and stay in the trial. */
static int
jwt_sign(struct rpc_ctx *ctx, struct authd *a, const char *alg, const char *typ, struct claims *c,
         char **jws)
{
    int r = AUTHD_OK;
    *jws = NULL;
    if (!c->bad)
        c->bad = buf_append(&c->b, "}", 1) != AUTHD_OK;
    if (c->bad) {
        r = AUTHD_ERR_NOMEM;
    } else if (rpc_ctx_trying(ctx) && alg != NULL &&
               (strncmp(alg, "RS", 2) == 0 || strncmp(alg, "PS", 2) == 0)) {
        r = rpc_ctx_defer(ctx);
    } else if (a->keys == NULL) {
        log_event(LOG_ERROR, "token_sign_failed", "reason=no_signing_keys");
        r = AUTHD_ERR_UNAVAILABLE;
    } else {
        r = signkeys_sign_unchecked(a->keys, alg, typ, c->b.data, c->b.len, jws);
        if (r == AUTHD_ERR_NOT_FOUND && rpc_ctx_trying(ctx))
            r = rpc_ctx_defer(ctx);
        /* authd makes a key of each algorithm at startup; a key set without one (a test's, or
         * a store another replica had not finished with) gets it now, once. */
        if (r == AUTHD_ERR_NOT_FOUND && signkeys_ensure(a, a->keys, alg) == AUTHD_OK)
            r = signkeys_sign_unchecked(a->keys, alg, typ, c->b.data, c->b.len, jws);
    }
    buf_free(&c->b);
    return r;
}

/* ---- issuing tokens --------------------------------------------------------------------- */

/* One token response: what to issue (filled by the grant), then what was prepared. */
struct issue {
    const char *grant; /* the grant whose settings apply (stored with refresh) */
    const char *client_id;
    const char *id_alg;                 /* the client's id_token_signed_response_alg ("": RS256) */
    const Authd__V1__GrantSettings *gs; /* NULL: defaults */
    const Authd__V1__User *user;        /* NULL: the client itself (client_credentials) */
    const char *sid;                    /* "" when none */
    const char *scope;                  /* the access token's scope */
    const char *refresh_scope;          /* the refresh token's (NULL: scope) */
    char *const *amr;
    size_t n_amr;
    const char *acr; /* the acr_values entry met (the ID token's acr); NULL or "": from amr */
    int64_t auth_time;
    const char *nonce;
    int refresh;            /* issue a refresh token */
    int offline;            /* it outlives the session (offline_access), else it dies with it */
    int64_t session_exp;    /* a session-bound refresh token lives no longer than this */
    int no_id_token;        /* never an ID token (response_type=token has nowhere to put one) */
    const char *family;     /* rotate within this family; NULL: start a new one */
    int64_t family_created; /* rotation: when the family began */
    /* prepared by issue_prepare() */
    int opaque;
    int64_t iat, exp, rexp;
    char jti[TOKEN_ID_LEN + 1]; /* JWT id, or the opaque token's id */
    char fam[TOKEN_ID_LEN + 1];
    struct token atok; /* opaque access token (secret) */
    struct token rtok; /* refresh token (secret) */
};

static const char *
issue_sub(const struct issue *is)
{
    return is->user != NULL ? is->user->id : is->client_id;
}

static void
issue_wipe(struct issue *is)
{
    token_wipe(&is->atok);
    token_wipe(&is->rtok);
}

/* Draws the token ids and secrets and fixes the times. Safe to call again on a retry. */
static int
issue_prepare(struct authd *a, struct issue *is)
{
    uint8_t rnd[TOKEN_ID_BYTES];
    int r;

    issue_wipe(is);
    if (is->sid == NULL)
        is->sid = "";
    if (is->nonce == NULL)
        is->nonce = "";
    is->opaque = oauth_token_opaque(is->gs);
    is->iat = a->now();
    is->exp = is->iat + oauth_access_ttl(is->gs);
    if (is->opaque) {
        if ((r = token_new(&is->atok)) != AUTHD_OK)
            return r;
        memcpy(is->jti, is->atok.id, sizeof(is->jti));
    } else {
        if ((r = secret_random(rnd, sizeof(rnd))) != AUTHD_OK)
            return r;
        secret_b64url_encode(rnd, sizeof(rnd), is->jti);
    }
    if (!is->refresh)
        return AUTHD_OK;
    if ((r = token_new(&is->rtok)) != AUTHD_OK)
        return r;
    if (is->family != NULL) {
        if (strlen(is->family) != TOKEN_ID_LEN)
            return AUTHD_ERR_INTERNAL;
        memcpy(is->fam, is->family, sizeof(is->fam));
    } else {
        if ((r = secret_random(rnd, sizeof(rnd))) != AUTHD_OK)
            return r;
        secret_b64url_encode(rnd, sizeof(rnd), is->fam);
    }
    /* The lifetime the response advertises is the real one: a session-bound token dies with its
     * session, so it never claims to live past it. */
    is->rexp = is->iat + oauth_refresh_ttl(is->gs);
    if (!is->offline && is->session_exp > 0 && is->session_exp < is->rexp)
        is->rexp = is->session_exp;
    return AUTHD_OK;
}

/* Inside txn: writes the records the prepared tokens need (opaque access token, refresh token
 * with its family index and family record). */
static int
issue_store(struct authd *a, struct store_txn *txn, struct issue *is)
{
    char key[KEY_MAX];
    int r = AUTHD_OK;
    (void)a;

    if (is->opaque) {
        AtokRec t = AUTHD__STORAGE__ACCESS_TOKEN_RECORD__INIT;
        t.secret_hash.data = is->atok.hash;
        t.secret_hash.len = sizeof(is->atok.hash);
        t.client_id = (char *)is->client_id;
        t.sub = (char *)issue_sub(is);
        t.user_id = is->user != NULL ? is->user->id : "";
        t.sid = (char *)is->sid;
        t.scope = (char *)is->scope;
        t.amr = (char **)is->amr;
        t.n_amr = is->n_amr;
        t.iat = is->iat;
        t.expires_at = is->exp;
        t.family = is->refresh ? is->fam : "";
        if (key_make(key, KEY_ATOK, is->atok.id, NULL) == 0)
            return AUTHD_ERR_INTERNAL;
        r = rec_put(txn, key, &t.base);
    }
    if (r != AUTHD_OK || !is->refresh)
        return r;

    RefreshRec rt = AUTHD__STORAGE__REFRESH_TOKEN_RECORD__INIT;
    rt.secret_hash.data = is->rtok.hash;
    rt.secret_hash.len = sizeof(is->rtok.hash);
    rt.family = is->fam;
    rt.client_id = (char *)is->client_id;
    rt.user_id = is->user != NULL ? is->user->id : "";
    rt.sid = is->offline ? "" : (char *)is->sid;
    rt.offline = is->offline;
    rt.scope = (char *)(is->refresh_scope != NULL ? is->refresh_scope : is->scope);
    rt.grant = (char *)is->grant;
    rt.amr = (char **)is->amr;
    rt.n_amr = is->n_amr;
    rt.auth_time = is->auth_time;
    rt.created_at = is->iat;
    rt.expires_at = is->rexp;
    if (key_make(key, KEY_REFRESH, is->rtok.id, NULL) == 0)
        return AUTHD_ERR_INTERNAL;
    r = rec_put(txn, key, &rt.base);
    if (r == AUTHD_OK) {
        if (key_make(key, KEY_RFAM, is->fam, is->rtok.id, NULL) == 0)
            return AUTHD_ERR_INTERNAL;
        r = store_txn_put(txn, key, strlen(key), "", 0);
    }
    if (r == AUTHD_OK) {
        /* The family record carries the latest expiry of its tokens (rotation extends it). */
        FamilyRec f = AUTHD__STORAGE__REFRESH_FAMILY_RECORD__INIT;
        f.client_id = (char *)is->client_id;
        f.user_id = rt.user_id;
        f.created_at = is->family_created > 0 ? is->family_created : is->iat;
        f.expires_at = is->rexp;
        f.offline = is->offline;
        if (key_make(key, KEY_RFAMILY, is->fam, NULL) == 0)
            return AUTHD_ERR_INTERNAL;
        r = rec_put(txn, key, &f.base);
    }
    if (r == AUTHD_OK && is->offline) {
        /* Ending all the user's sessions finds and revokes it there (rfamily.h). */
        if (key_make(key, KEY_UOFF, rt.user_id, is->fam, NULL) == 0)
            return AUTHD_ERR_INTERNAL;
        r = store_txn_put(txn, key, strlen(key), "", 0);
    }
    return r;
}

static int
issue_store_step(struct authd *a, struct store_txn *txn, void *arg)
{
    return issue_store(a, txn, arg);
}

static int
jwt_access(struct rpc_ctx *ctx, struct authd *a, const struct issue *is, char **jws)
{
    struct claims c;
    claims_begin(&c);
    claims_str(&c, "iss", a->issuer);
    claims_str(&c, "sub", issue_sub(is));
    claims_str(&c, "aud", is->client_id);
    claims_int(&c, "exp", is->exp);
    claims_int(&c, "iat", is->iat);
    claims_str(&c, "jti", is->jti);
    claims_str(&c, "scope", is->scope);
    claims_str(&c, "client_id", is->client_id);
    if (is->sid[0] != '\0')
        claims_str(&c, "sid", is->sid);
    if (is->n_amr > 0)
        claims_strs(&c, "amr", is->amr, is->n_amr);
    /* RFC 9068 §2.2.1: when a user signed in, when that was. */
    if (is->user != NULL && is->auth_time > 0)
        claims_int(&c, "auth_time", is->auth_time);
    /* The refresh-token family issued with it: revoking the family (RFC 7009 §2.1, or a
     * detected reuse) makes this access token inactive too. */
    if (is->refresh && is->fam[0] != '\0')
        claims_str(&c, "rfam", is->fam);
    /* RFC 9068 §2.1: typ at+jwt, so a resource server can tell an access token from an ID token
     * signed by the same keys; the algorithm is the administrator's (signkeys_access_alg). */
    return jwt_sign(ctx, a, signkeys_access_alg(a->keys), "at+jwt", &c, jws);
}

/* ---- acr: the OpenID EAP ACR values ------------------------------------------------------- */

#define ACR_PHR "phr"   /* a phishing-resistant authentication: a WebAuthn key (hwk or swk) */
#define ACR_PHRH "phrh" /* phishing-resistant and hardware-bound: a key that is not synced */

/* How strong the sign-in the amr describes is: 2 a hardware-bound key (hwk), 1 a synced passkey
 * (swk), 0 neither. */
static int
amr_acr_level(char *const *amr, size_t n)
{
    int level = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(amr[i], "hwk") == 0)
            level = 2;
        else if (strcmp(amr[i], "swk") == 0 && level < 1)
            level = 1;
    }
    return level;
}

/* The level an acr value asks for (1 phr, 2 phrh), 0 for a value authd does not know. */
static int
acr_value_level(const char *v, size_t len)
{
    if (len == strlen(ACR_PHR) && memcmp(v, ACR_PHR, len) == 0)
        return 1;
    if (len == strlen(ACR_PHRH) && memcmp(v, ACR_PHRH, len) == 0)
        return 2;
    return 0;
}

/* The acr a sign-in with amr achieved, or NULL: phrh for a hardware key, phr for a passkey. */
static const char *
amr_acr(char *const *amr, size_t n)
{
    int level = amr_acr_level(amr, n);
    return level == 2 ? ACR_PHRH : level == 1 ? ACR_PHR : NULL;
}

/*
 * acr_values (space-separated, the relying party's order of preference) against a session's
 * amr: *asked 1 when it names a value authd knows; the first known value the session meets
 * (static storage) or NULL.
 */
static const char *
acr_values_met(const char *values, char *const *amr, size_t n_amr, int *asked)
{
    int have = amr_acr_level(amr, n_amr);
    *asked = 0;
    for (const char *v = values != NULL ? values : ""; *v != '\0';) {
        size_t len = strcspn(v, " ");
        int want = acr_value_level(v, len);
        if (want > 0) {
            *asked = 1;
            if (have >= want)
                return want == 2 ? ACR_PHRH : ACR_PHR;
        }
        v += len;
        v += strspn(v, " ");
    }
    return NULL;
}

/* The OpenID Connect ID token (Core §2). It has no client_id and no jti, so it can never pass
 * as an access token (token_inspect requires both). */
static int
jwt_id_token(struct rpc_ctx *ctx, struct authd *a, const struct issue *is, char **jws)
{
    struct claims c;
    claims_begin(&c);
    claims_str(&c, "iss", a->issuer);
    claims_str(&c, "sub", is->user->id);
    claims_str(&c, "aud", is->client_id);
    claims_str(&c, "azp", is->client_id);
    claims_int(&c, "exp", is->exp);
    claims_int(&c, "iat", is->iat);
    claims_int(&c, "auth_time", is->auth_time);
    if (is->nonce[0] != '\0')
        claims_str(&c, "nonce", is->nonce);
    if (is->n_amr > 0)
        claims_strs(&c, "amr", is->amr, is->n_amr);
    /* The acr_values entry the session met, else what its amr achieved (phr, phrh). */
    const char *acr = is->acr != NULL && is->acr[0] != '\0' ? is->acr : amr_acr(is->amr, is->n_amr);
    if (acr != NULL)
        claims_str(&c, "acr", acr);
    if (is->sid[0] != '\0')
        claims_str(&c, "sid", is->sid);
    /* OIDC Core §5.4: the email claims belong to the email scope. */
    if (scope_has(is->scope, "email")) {
        claims_str(&c, "email", is->user->email);
        claims_bool(&c, "email_verified", is->user->email_verified);
    }
    /* OIDC Core §3.1.3.7 / Registration §2: the client's registered algorithm, RS256 when it
     * registered none; signkeys keeps an active key of each. */
    const char *alg = is->id_alg != NULL && is->id_alg[0] != '\0' ? is->id_alg : "RS256";
    return jwt_sign(ctx, a, alg, "JWT", &c, jws);
}

/* Signs what was prepared and fills resp (arena memory). */
static int
issue_answer(struct rpc_ctx *ctx, struct authd *a, const struct issue *is,
             Authd__V1__OAuthTokenResponse *resp)
{
    char *jws = NULL, *idt = NULL;
    int r = AUTHD_OK;

    if (is->opaque) {
        resp->access_token = rpc_ctx_strdup(ctx, is->atok.text);
    } else {
        r = jwt_access(ctx, a, is, &jws);
        if (r == AUTHD_OK)
            resp->access_token = rpc_ctx_strdup(ctx, jws);
    }
    if (r == AUTHD_OK && is->user != NULL && !is->no_id_token && scope_has(is->scope, "openid")) {
        r = jwt_id_token(ctx, a, is, &idt);
        if (r == AUTHD_OK && (resp->id_token = rpc_ctx_strdup(ctx, idt)) == NULL)
            r = AUTHD_ERR_NOMEM;
    }
    if (r == AUTHD_OK && is->refresh) {
        resp->refresh_token = rpc_ctx_strdup(ctx, is->rtok.text);
        resp->refresh_expires_in = is->rexp - is->iat;
        if (resp->refresh_token == NULL)
            r = AUTHD_ERR_NOMEM;
    }
    if (r == AUTHD_OK) {
        resp->token_type = "Bearer";
        resp->expires_in = is->exp - is->iat;
        resp->scope = rpc_ctx_strdup(ctx, is->scope);
        if (is->user != NULL)
            resp->userinfo = rec_copy(ctx, &is->user->base);
        if (resp->access_token == NULL || resp->scope == NULL ||
            (is->user != NULL && resp->userinfo == NULL))
            r = AUTHD_ERR_NOMEM;
    }
    secret_strfree(jws);
    secret_strfree(idt);
    return r;
}

static void
log_issued(const struct issue *is, const char *grant)
{
    char q1[96], q2[96];
    log_event(LOG_INFO, "token_issued",
              "grant=%s client=%s user=%s jti=%s refresh=%s family=%s offline=%d", grant,
              log_quote(is->client_id, q1, sizeof(q1)),
              log_quote(is->user != NULL ? is->user->id : "", q2, sizeof(q2)), is->jti,
              is->refresh ? is->rtok.id : "", is->refresh ? is->fam : "",
              is->refresh && is->offline);
}

/* ---- revocation building blocks ---------------------------------------------------------- */

/* Inside txn: puts JWT access token jti on the revocation list until exp, and deletes the
 * opaque access token of that id if there is one. */
static int
access_revoke(struct store_txn *txn, const char *jti, int64_t exp, const char *client_id)
{
    char key[KEY_MAX];
    Authd__Storage__RevokedTokenRecord rv = AUTHD__STORAGE__REVOKED_TOKEN_RECORD__INIT;
    rv.expires_at = exp;
    rv.client_id = (char *)client_id;
    if (key_make(key, KEY_REVOKED, jti, NULL) == 0)
        return AUTHD_ERR_INTERNAL;
    int r = rec_put(txn, key, &rv.base);
    if (r == AUTHD_OK && key_make(key, KEY_ATOK, jti, NULL) != 0)
        r = store_txn_delete(txn, key, strlen(key));
    return r;
}

/* ---- Authorize -------------------------------------------------------------------------- */

struct authz {
    struct rpc_ctx *ctx;
    struct authd *a;
    Authd__V1__AuthorizeResponse *resp;
    const char *uri; /* the trusted redirect URI, once known */
    int fragment;    /* answer in the fragment (response_type=token) */
    const char *state;
    int answered; /* the response is decided (a page, a redirect, login or consent): stop */
};

/* next=ERROR_PAGE: the redirect URI is not trusted, so the browser must not be sent there. */
static int
authz_page(struct authz *z, const char *err, const char *desc)
{
    char q[96];
    z->answered = 1;
    z->resp->next = AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__ERROR_PAGE;
    z->resp->error = (char *)err;
    z->resp->error_description = (char *)desc;
    log_event(LOG_INFO, "authorize_refused", "error=%s page=1 detail=%s", err,
              log_quote(desc, q, sizeof(q)));
    return AUTHD_OK;
}

static int
authz_redirect(struct authz *z, const struct oauth_param *p, size_t n)
{
    char *url = NULL;
    z->answered = 1;
    int r = oauth_redirect_build(z->uri, z->fragment, p, n, &url);
    if (r == AUTHD_ERR_TOO_LARGE || r == AUTHD_ERR_INVALID_ARGUMENT)
        return authz_page(z, "invalid_request", "the response does not fit a redirect");
    if (r != AUTHD_OK)
        return r;
    z->resp->next = AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__REDIRECT;
    z->resp->redirect_url = rpc_ctx_strdup(z->ctx, url);
    secret_strfree(url);
    return z->resp->redirect_url != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
}

/* next=REDIRECT with the error at the client's registered URI (RFC 6749 §4.1.2.1, §4.2.2.1). */
static int
authz_error(struct authz *z, const char *err, const char *desc)
{
    char q[96];
    const struct oauth_param p[] = {
        {"error", err}, {"error_description", desc}, {"state", z->state}, {"iss", z->a->issuer}};
    z->resp->error = (char *)err;
    z->resp->error_description = (char *)desc;
    log_event(LOG_INFO, "authorize_refused", "error=%s page=0 detail=%s", err,
              log_quote(desc, q, sizeof(q)));
    return authz_redirect(z, p, sizeof(p) / sizeof(p[0]));
}

/* 1 when the space-separated list scope holds the token tok (RFC 6749 §3.3). */
static int
scope_has_token(const char *scope, const char *tok)
{
    size_t n = strlen(tok);
    for (const char *s = scope; *s != '\0';) {
        size_t len = strcspn(s, " ");
        if (len == n && strncmp(s, tok, n) == 0)
            return 1;
        s += len;
        s += strspn(s, " ");
    }
    return 0;
}

/* 1 when every byte of s is printable ASCII (a nonce goes into a JSON string and a log). */
static int
printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p > 0x7E)
            return 0;
    return 1;
}

/* The consent step: 1 when the user has granted want to the client (stored, unexpired). */
static int
consent_covers(struct authd *a, const char *uid, const char *cid, const struct oauth_scopes *want,
               int *covered)
{
    char key[KEY_MAX];
    Authd__Storage__ConsentRecord *c = NULL;
    struct oauth_scopes have;
    *covered = 0;
    if (key_make(key, KEY_CONSENT, uid, cid, NULL) == 0)
        return AUTHD_ERR_INVALID_ARGUMENT;
    int r = rec_get(a->store, NULL, 0, key, &authd__storage__consent_record__descriptor,
                    (ProtobufCMessage **)&c);
    if (r == AUTHD_ERR_NOT_FOUND)
        return AUTHD_OK;
    if (r != AUTHD_OK)
        return r;
    if (c->expires_at > a->now() &&
        oauth_scopes_from_list(c->scopes, c->n_scopes, &have) == AUTHD_OK)
        *covered = oauth_scopes_subset(want, &have);
    rpc_msg_free(&c->base);
    return AUTHD_OK;
}

struct consent_step {
    const char *uid;
    const char *cid;
    const struct oauth_scopes *want;
};

/* Stores the union of the scopes granted before (when unexpired) and want. */
static int
consent_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct consent_step *s = arg;
    char key[KEY_MAX];
    Authd__Storage__ConsentRecord *old = NULL;
    struct oauth_scopes all;
    char *items[OAUTH_SCOPE_ITEMS_MAX];
    int64_t now = a->now();

    if (key_make(key, KEY_CONSENT, s->uid, s->cid, NULL) == 0)
        return AUTHD_ERR_INVALID_ARGUMENT;
    int r = rec_get(a->store, txn, 1, key, &authd__storage__consent_record__descriptor,
                    (ProtobufCMessage **)&old);
    if (r != AUTHD_OK && r != AUTHD_ERR_NOT_FOUND)
        return r;
    oauth_scopes_clear(&all);
    if (old != NULL && old->expires_at > now)
        for (size_t i = 0; i < old->n_scopes; i++)
            (void)oauth_scopes_add(&all, old->scopes[i]); /* a full set keeps what fits */
    for (size_t i = 0; i < s->want->n; i++)
        if (oauth_scopes_add(&all, s->want->item[i]) != AUTHD_OK)
            r = AUTHD_ERR_INVALID_ARGUMENT;
    if (r == AUTHD_ERR_INVALID_ARGUMENT) {
        rpc_msg_free(old ? &old->base : NULL);
        return r;
    }
    Authd__Storage__ConsentRecord c = AUTHD__STORAGE__CONSENT_RECORD__INIT;
    for (size_t i = 0; i < all.n; i++)
        items[i] = all.item[i];
    c.scopes = items;
    c.n_scopes = all.n;
    c.created_at = old != NULL && old->expires_at > now ? old->created_at : now;
    c.updated_at = now;
    c.expires_at = now + CONSENT_TTL;
    rpc_msg_free(old ? &old->base : NULL);
    return rec_put(txn, key, &c.base);
}

/* next=CONSENT: the consent page needs the client (without secret) and the scopes. */
static int
authz_consent(struct authz *z, const Authd__Storage__ClientRecord *crec,
              const struct oauth_scopes *want)
{
    Authd__V1__Client *c = rec_copy(z->ctx, &crec->client->base);
    char **scopes = rpc_ctx_alloc(z->ctx, (want->n ? want->n : 1) * sizeof(char *));
    z->answered = 1;
    if (c == NULL || scopes == NULL)
        return AUTHD_ERR_NOMEM;
    c->secret = (char *)protobuf_c_empty_string;
    c->has_secret = clients_confidential(crec);
    for (size_t i = 0; i < want->n; i++)
        if ((scopes[i] = rpc_ctx_strdup(z->ctx, want->item[i])) == NULL)
            return AUTHD_ERR_NOMEM;
    z->resp->next = AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__CONSENT;
    z->resp->client = c;
    z->resp->scopes = scopes;
    z->resp->n_scopes = want->n;
    return AUTHD_OK;
}

/* Stores a fresh authorization code and redirects to the client with it. */
static int
authz_code(struct authz *z, const Authd__V1__ClientContext *p, const char *cid,
           const Authd__V1__Session *s, const char *scope, const char *acr)
{
    struct authd *a = z->a;
    struct token t;
    char key[KEY_MAX], q1[96], q2[96];
    int r = token_new(&t);
    if (r != AUTHD_OK)
        return r;
    CodeRec rec = AUTHD__STORAGE__AUTH_CODE_RECORD__INIT;
    rec.secret_hash.data = t.hash;
    rec.secret_hash.len = sizeof(t.hash);
    rec.client_id = (char *)cid;
    rec.redirect_uri = (char *)z->uri;
    rec.redirect_uri_given = p->redirect_uri[0] != '\0';
    rec.user_id = s->user_id;
    rec.sid = s->id;
    rec.scope = (char *)scope;
    rec.nonce = p->nonce;
    rec.code_challenge = p->code_challenge;
    rec.auth_time = s->auth_time;
    rec.amr = s->amr;
    rec.n_amr = s->n_amr;
    rec.acr = (char *)(acr != NULL ? acr : "");
    rec.created_at = a->now();
    rec.expires_at = rec.created_at + a->set.code_ttl;
    if (key_make(key, KEY_AUTHCODE, t.id, NULL) == 0)
        r = AUTHD_ERR_INTERNAL;
    if (r == AUTHD_OK)
        r = store_rec(a, key, &rec.base);
    if (r == AUTHD_OK) {
        const struct oauth_param pp[] = {{"code", t.text}, {"state", z->state}, {"iss", a->issuer}};
        r = authz_redirect(z, pp, sizeof(pp) / sizeof(pp[0]));
    }
    if (r == AUTHD_OK)
        log_event(LOG_INFO, "oauth_code_issued", "client=%s user=%s code=%s pkce=%s",
                  log_quote(cid, q1, sizeof(q1)), log_quote(s->user_id, q2, sizeof(q2)), t.id,
                  p->code_challenge[0] != '\0' ? "S256" : "none");
    token_wipe(&t);
    return r;
}

/* Implicit grant: an access token (never a refresh token) in the redirect's fragment. */
static int
authz_token(struct authz *z, const Authd__V1__Client *c, const Authd__V1__GrantSettings *gs,
            const Authd__V1__User *u, const Authd__V1__Session *s, const char *scope)
{
    struct issue is = {0};
    Authd__V1__OAuthTokenResponse tr = AUTHD__V1__OAUTH_TOKEN_RESPONSE__INIT;
    char exp_in[24];
    is.grant = "implicit";
    is.no_id_token = 1;
    is.client_id = c->id;
    is.id_alg = c->id_token_signed_response_alg;
    is.gs = gs;
    is.user = u;
    is.sid = s->id;
    is.scope = scope;
    is.amr = s->amr;
    is.n_amr = s->n_amr;
    is.auth_time = s->auth_time;
    int r = issue_prepare(z->a, &is);
    if (r == AUTHD_OK && is.opaque)
        r = account_txn_run(z->a, issue_store_step, &is);
    if (r == AUTHD_OK)
        r = issue_answer(z->ctx, z->a, &is, &tr);
    if (r == AUTHD_OK) {
        snprintf(exp_in, sizeof(exp_in), "%lld", (long long)tr.expires_in);
        const struct oauth_param pp[] = {{"access_token", tr.access_token},
                                         {"token_type", "Bearer"},
                                         {"expires_in", exp_in},
                                         {"scope", scope},
                                         {"state", z->state},
                                         {"iss", z->a->issuer}};
        r = authz_redirect(z, pp, sizeof(pp) / sizeof(pp[0]));
    }
    if (r == AUTHD_OK)
        log_issued(&is, "implicit");
    issue_wipe(&is);
    return r;
}

/* What Authorize has established about a request so far. */
struct authz_req {
    const char *grant;                  /* "authorization_code" or "implicit" */
    const Authd__V1__GrantSettings *gs; /* the client's settings for it (NULL: the defaults) */
    unsigned prompt;                    /* OAUTH_PROMPT_* */
    struct oauth_scopes want;           /* the scopes to grant */
    char scope[OAUTH_SCOPE_TEXT_MAX];   /* want, space-separated */
    const char *acr;                    /* the acr_values entry the session met, or NULL */
};

/* Sends the browser to sign in (again) and come back. */
static int
authz_login(struct authz *z)
{
    z->answered = 1;
    z->resp->next = AUTHD__V1__AUTHORIZE_RESPONSE__NEXT__LOGIN;
    return AUTHD_OK;
}

/*
 * Step 1: who is asking, and where may the answer go? Until the redirect URI is verified
 * (z->uri), every problem is shown on our own error page (never an open redirect). AUTHD_OK with
 * *crec, q->grant and q->gs, or with z->answered set, or an error.
 */
static int
authz_client(struct authz *z, const Authd__V1__AuthorizeRequest *req,
             const Authd__V1__ClientContext *p, Authd__Storage__ClientRecord **crec,
             struct authz_req *q)
{
    const char *fields[] = {
        p->client_id, p->response_type, p->redirect_uri,   p->state,
        p->scope,     p->nonce,         p->code_challenge, p->code_challenge_method,
        req->prompt,  p->auth_after,    req->response_mode};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (strlen(fields[i]) > ACCOUNT_MAX_CLIENT_FIELD)
            return authz_page(z, "invalid_request", "a parameter is too long");
    if (p->client_id[0] == '\0')
        return authz_page(z, "invalid_request", "client_id is missing");
    int r = clients_get(z->a, p->client_id, crec);
    if (r == AUTHD_ERR_NOT_FOUND || (r == AUTHD_OK && !clients_active(*crec)))
        return authz_page(z, "invalid_client", "unknown client");
    if (r != AUTHD_OK)
        return r;
    /* OIDC Core §3.1.2.1: redirect_uri is REQUIRED in an OpenID request, so the single
     * registered URI is no default there (plain OAuth keeps RFC 6749 §3.1.2.3's). Refused on
     * our own page: an answer may only go where the request said. */
    if (p->redirect_uri[0] == '\0' && scope_has_token(p->scope, "openid"))
        return authz_page(z, "invalid_request",
                          "redirect_uri is required in an OpenID Connect request");
    const Authd__V1__Client *c = (*crec)->client;
    const char *rt = p->response_type;
    if (strcmp(rt, "code") == 0) {
        q->grant = "authorization_code";
    } else if (strcmp(rt, "token") == 0) {
        q->grant = "implicit";
        z->fragment = 1;
    }
    q->gs = oauth_grant_settings(c, q->grant);
    if (q->grant != NULL) {
        const char *reg = q->gs != NULL ? q->gs->redirect_uri : "";
        if (!oauth_redirect_uri_valid(reg))
            return authz_page(z, "invalid_request",
                              "the client has no redirect_uri registered for this response_type");
        if (p->redirect_uri[0] != '\0' && !oauth_redirect_uri_eq(reg, p->redirect_uri))
            return authz_page(z, "invalid_request",
                              "redirect_uri does not match the registered one");
        z->uri = reg;
        return AUTHD_OK;
    }
    /* An unknown response_type is reported at a URI the client registered, if any. */
    const Authd__V1__GrantSettings *cand[] = {oauth_grant_settings(c, "authorization_code"),
                                              oauth_grant_settings(c, "implicit")};
    for (size_t i = 0; i < 2 && z->uri[0] == '\0'; i++) {
        const char *reg = cand[i] != NULL ? cand[i]->redirect_uri : "";
        if (oauth_redirect_uri_valid(reg) &&
            (p->redirect_uri[0] == '\0' || oauth_redirect_uri_eq(reg, p->redirect_uri)))
            z->uri = reg;
    }
    if (z->uri[0] == '\0')
        return authz_page(z, "unsupported_response_type",
                          "unsupported response_type and no matching registered redirect_uri");
    if (rt[0] == '\0')
        return authz_error(z, "invalid_request", "response_type is missing");
    return authz_error(z, "unsupported_response_type", "response_type must be code or token");
}

/* PKCE for the code flow: S256 only, and required unless a confidential client may skip it. */
static int
authz_pkce(struct authz *z, const Authd__V1__ClientContext *p,
           const Authd__Storage__ClientRecord *crec, const struct authz_req *q)
{
    const char *ch = p->code_challenge, *m = p->code_challenge_method;
    if (ch[0] != '\0') {
        /* No method means "plain" (RFC 7636 §4.3), which we refuse like "plain" itself. */
        if (strcmp(m, "S256") != 0)
            return authz_error(z, "invalid_request", "code_challenge_method must be S256");
        if (!oauth_pkce_valid(ch))
            return authz_error(z, "invalid_request", "malformed code_challenge");
    } else if (m[0] != '\0' || !clients_confidential(crec) || (q->gs != NULL && q->gs->pkce)) {
        return authz_error(z, "invalid_request", "code_challenge required");
    }
    return AUTHD_OK;
}

/*
 * Step 2: the request itself (grant allowed, prompt, scopes, nonce, PKCE), with any problem
 * reported to the client's verified redirect URI. AUTHD_OK with q->prompt, q->want and
 * q->scope, or with z->answered set, or an error.
 */
static int
authz_request(struct authz *z, const Authd__V1__AuthorizeRequest *req,
              const Authd__V1__ClientContext *p, const Authd__Storage__ClientRecord *crec,
              struct authz_req *q)
{
    const Authd__V1__Client *c = crec->client;
    struct oauth_scopes allowed;
    /* Request objects are not implemented: say so rather than act on the bare parameters
     * while ignoring the signed ones (OIDC Core §6.1, §6.2, §3.1.2.6). */
    if (req->request_given)
        return authz_error(z, "request_not_supported", "request objects are not supported");
    if (req->request_uri_given)
        return authz_error(z, "request_uri_not_supported", "request_uri is not supported");
    /* Only each response type's default mode is supported (discovery's response_modes_supported):
     * an answer must never be delivered some other way than the client asked. */
    if (req->response_mode[0] != '\0' &&
        strcmp(req->response_mode, z->fragment ? "fragment" : "query") != 0)
        return authz_error(z, "invalid_request",
                           z->fragment ? "unsupported response_mode (token: fragment only)"
                                       : "unsupported response_mode (code: query only)");
    if (!oauth_client_has_grant(c, q->grant))
        return authz_error(z, "unauthorized_client", "the client may not use this response_type");
    if (oauth_prompt_parse(req->prompt, &q->prompt) != AUTHD_OK)
        return authz_error(z, "invalid_request", "unsupported prompt value");
    if (oauth_client_scopes(c, &allowed) != AUTHD_OK)
        return authz_error(z, "invalid_scope", "the client's registered scopes are malformed");
    if (oauth_scopes_parse(p->scope, &q->want) != AUTHD_OK)
        return authz_error(z, "invalid_scope", "malformed scope");
    if (q->want.n == 0) {
        q->want = allowed;
        scopes_drop(&q->want, OFFLINE); /* offline access only when the request asks for it */
    }
    /* OIDC Core §11: offline_access is ignored (not refused) unless the client may have it and
     * the answer is a code whose redemption gives a refresh token. */
    if (!oauth_scopes_has(&allowed, OFFLINE) || strcmp(q->grant, "authorization_code") != 0 ||
        q->gs == NULL || !q->gs->refresh_token)
        scopes_drop(&q->want, OFFLINE);
    if (!oauth_scopes_subset(&q->want, &allowed))
        return authz_error(z, "invalid_scope", "a requested scope is not allowed for this client");
    if (oauth_scopes_join(&q->want, q->scope, sizeof(q->scope)) != AUTHD_OK)
        return authz_error(z, "invalid_scope", "too many scopes");
    if (strlen(p->nonce) > NONCE_MAX || !printable(p->nonce))
        return authz_error(z, "invalid_request", "malformed nonce");
    if (strcmp(q->grant, "authorization_code") == 0)
        return authz_pkce(z, p, crec, q);
    return AUTHD_OK;
}

#define AUTH_AFTER_TAG_LEN 12 /* base64url characters of a session's tag */

/* The tag of session id sid in auth_after: 9 bytes of its SHA-256, so no identifier of the
 * session lands in a URL. */
static void
auth_after_tag(const char *sid, char out[AUTH_AFTER_TAG_LEN + 1])
{
    uint8_t h[32];
    secret_sha256(sid, strlen(sid), h);
    secret_b64url_encode(h, 9, out);
}

/*
 * auth_after as the edge carried it back (ClientContext.auth_after: "<unix time>" or
 * "<unix time>.<tag>"): *after the time, tag the old session's tag ("" none). A malformed value
 * reads as absent: the request is then judged as a first pass, which can only ask for more.
 */
static void
parse_auth_after(const char *s, int64_t *after, char tag[AUTH_AFTER_TAG_LEN + 1])
{
    *after = 0;
    tag[0] = '\0';
    size_t n = s != NULL ? strspn(s, "0123456789") : 0;
    if (n == 0 || n > 18)
        return;
    if (s[n] == '.' && strlen(s + n + 1) == AUTH_AFTER_TAG_LEN)
        memcpy(tag, s + n + 1, AUTH_AFTER_TAG_LEN + 1);
    else if (s[n] != '\0')
        return;
    *after = strtoll(s, NULL, 10);
}

/* Sends the browser to sign in again: a sign-in from now on, other than session s (NULL
 * none), is what the request needs. */
static int
authz_fresh_login(struct authz *z, const Authd__V1__Session *s)
{
    char tag[AUTH_AFTER_TAG_LEN + 1] = "", v[48];
    if (s != NULL)
        auth_after_tag(s->id, tag);
    snprintf(v, sizeof(v), "%lld%s%s", (long long)z->a->now(), tag[0] != '\0' ? "." : "", tag);
    if ((z->resp->auth_after = rpc_ctx_strdup(z->ctx, v)) == NULL)
        return AUTHD_ERR_NOMEM;
    return authz_login(z);
}

/* Whether session s was opened by Users.Import: its auth_time is the source system's (or 0),
 * not a sign-in authd saw, so it never answers a request for a recent one. */
static int
session_imported(const Authd__V1__Session *s)
{
    for (size_t i = 0; i < s->n_amr; i++)
        if (strcmp(s->amr[i], SESSION_AMR_IMPORT) == 0)
            return 1;
    return 0;
}

/*
 * Step 3: the user, from a signed-in session fresh enough for prompt and max_age. AUTHD_OK with
 * *s and *u, or with z->answered set (sign in, or login_required for prompt=none), or an error.
 *
 * prompt=login and max_age=0 always ask for a new sign-in on the first pass, live session or
 * not (OIDC Core §3.1.2.1); max_age=N when the session's auth_time is older. The LOGIN answer
 * carries auth_after (now, and a tag of the session found too old); the edge brings it back
 * after the sign-in, without prompt and max_age, and only another session, signed in since,
 * is the fresh one that was asked for. An imported session (amr "import") is never fresh
 * enough for any of them, whatever its auth_time.
 */
static int
authz_user(struct authz *z, const Authd__V1__AuthorizeRequest *req,
           const Authd__V1__ClientContext *p, struct authz_req *q,
           Authd__Storage__SessionRecord **s, Authd__Storage__UserRecord **u)
{
    int asked = 0;
    int r = account_session_active(z->a, req->session_token, s, u);
    if (r == AUTHD_ERR_UNAUTHENTICATED) {
        if (q->prompt & OAUTH_PROMPT_NONE)
            return authz_error(z, "login_required", "the user is not signed in");
        acr_values_met(p->acr_values, NULL, 0, &asked);
        int fresh = (q->prompt & OAUTH_PROMPT_LOGIN) || req->max_age >= 0 || asked ||
                    (p->auth_after != NULL && p->auth_after[0] != '\0');
        return fresh ? authz_fresh_login(z, NULL) : authz_login(z);
    }
    if (r != AUTHD_OK)
        return r;
    const Authd__V1__Session *ss = (*s)->session;
    q->acr = acr_values_met(p->acr_values, ss->amr, ss->n_amr, &asked);
    int64_t auth_time = (*s)->session->auth_time, after;
    char old[AUTH_AFTER_TAG_LEN + 1], tag[AUTH_AFTER_TAG_LEN + 1];
    parse_auth_after(p->auth_after, &after, old);
    auth_after_tag((*s)->session->id, tag);
    int stale =
        (q->prompt & OAUTH_PROMPT_LOGIN) || req->max_age == 0 ||
        (req->max_age > 0 && z->a->now() - auth_time > req->max_age) ||
        (after > 0 && auth_time < after - AUTH_AFTER_SKEW) ||
        (old[0] != '\0' && strcmp(old, tag) == 0) ||
        ((req->max_age >= 0 || after > 0 || old[0] != '\0') && session_imported((*s)->session));
    /* acr_values (voluntary claims, OIDC Core §5.5.1.1) not met: one new sign-in is asked for,
     * as for max_age; a session signed in since that request (after) is taken as it is, its
     * acr what it achieved, so a user without a key is not sent round for ever. */
    if (asked && q->acr == NULL && after == 0 && old[0] == '\0')
        stale = 1;
    if (!stale)
        return AUTHD_OK;
    if (q->prompt & OAUTH_PROMPT_NONE)
        return authz_error(z, "login_required", "a new sign-in is required");
    return authz_fresh_login(z, (*s)->session);
}

/*
 * Step 4: consent, for third-party clients, and for offline_access whoever the client is (OIDC
 * Core §11: the OP must obtain consent before a refresh token outlives the session; a stored
 * consent that names offline_access for this client counts, so prompt=consent is not needed).
 * A refusal goes back to the (verified) redirect URI as access_denied (RFC 6749 §4.1.2.1); a
 * consent given is stored. Under prompt=none, an offline_access the user has not approved is
 * dropped from q (§11: ignored) instead of failing. AUTHD_OK when the answer may be given, or
 * with z->answered set (the consent page, or an error), or an error.
 */
static int
authz_check_consent(struct authz *z, const Authd__V1__AuthorizeRequest *req,
                    const Authd__Storage__ClientRecord *crec, const Authd__V1__User *user,
                    struct authz_req *q)
{
    const Authd__V1__Client *c = crec->client;
    char q1[96], q2[96];
    if (req->consent_denied) {
        log_event(LOG_INFO, "oauth_consent_denied", "client=%s user=%s",
                  log_quote(c->id, q1, sizeof(q1)), log_quote(user->id, q2, sizeof(q2)));
        return authz_error(z, "access_denied", "the user denied the request");
    }
    int offline = oauth_scopes_has(&q->want, OFFLINE);
    /* What the user must have approved: a first-party client needs it for offline_access only. */
    struct oauth_scopes need;
    oauth_scopes_clear(&need);
    if (!c->first_party)
        need = q->want;
    else if (offline && oauth_scopes_add(&need, OFFLINE) != AUTHD_OK)
        return AUTHD_ERR_INTERNAL;
    if (need.n == 0)
        return AUTHD_OK;
    int covered = 0;
    int r = consent_covers(z->a, user->id, c->id, &need, &covered);
    if (r != AUTHD_OK)
        return r;
    int ask = !covered || (q->prompt & OAUTH_PROMPT_CONSENT);
    if (ask && !req->consent_given) {
        if ((q->prompt & OAUTH_PROMPT_NONE) && offline) {
            /* No page to ask on: go on without offline access (what is left is judged again). */
            scopes_drop(&q->want, OFFLINE);
            if (oauth_scopes_join(&q->want, q->scope, sizeof(q->scope)) != AUTHD_OK)
                return AUTHD_ERR_INTERNAL;
            return authz_check_consent(z, req, crec, user, q);
        }
        if (q->prompt & OAUTH_PROMPT_NONE)
            return authz_error(z, "consent_required", "the user has not approved this client");
        return authz_consent(z, crec, &q->want);
    }
    if (req->consent_given) {
        struct consent_step cs = {user->id, c->id, &q->want};
        r = account_txn_run(z->a, consent_step, &cs);
        if (r != AUTHD_OK)
            return r;
        log_event(LOG_INFO, "oauth_consent_given", "client=%s user=%s",
                  log_quote(c->id, q1, sizeof(q1)), log_quote(user->id, q2, sizeof(q2)));
    }
    return AUTHD_OK;
}

static int
oauth_authorize(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__AuthorizeRequest *req = (const void *)reqm;
    Authd__V1__AuthorizeResponse *resp = (void *)respm;
    static const Authd__V1__ClientContext none = AUTHD__V1__CLIENT_CONTEXT__INIT;
    const Authd__V1__ClientContext *p = req->params != NULL ? req->params : &none;
    Authd__Storage__ClientRecord *crec = NULL;
    Authd__Storage__SessionRecord *s = NULL;
    Authd__Storage__UserRecord *u = NULL;
    struct authz_req q = {0};
    struct authz z = {ctx, a, resp, "", 0, p->state, 0};

    /* Each step either lets the request go on or decides the answer (z.answered). */
    int r = authz_client(&z, req, p, &crec, &q);
    if (r != AUTHD_OK || z.answered)
        goto out;
    if ((r = authz_request(&z, req, p, crec, &q)) != AUTHD_OK || z.answered)
        goto out;
    if ((r = authz_user(&z, req, p, &q, &s, &u)) != AUTHD_OK || z.answered)
        goto out;
    if ((r = authz_check_consent(&z, req, crec, u->user, &q)) != AUTHD_OK || z.answered)
        goto out;
    /* Step 5: the answer. */
    if (strcmp(q.grant, "authorization_code") == 0)
        r = authz_code(&z, p, crec->client->id, s->session, q.scope, q.acr);
    else
        r = authz_token(&z, crec->client, q.gs, u->user, s->session, q.scope);
out:
    rpc_msg_free(s ? &s->base : NULL);
    rpc_msg_free(u ? &u->base : NULL);
    rpc_msg_free(crec ? &crec->base : NULL);
    return r;
}

/* ---- Token: authorization_code --------------------------------------------------------- */

/*
 * What the two grants that redeem a stored secret (authorization_code, refresh_token) share: the
 * token presented, the tokens to issue, the refusal, and the revocation a replay caused.
 */
struct redeem {
    struct token tok;                 /* the presented code or refresh token */
    struct issue is;                  /* out: the tokens to issue */
    const char *fail;                 /* out: OAuth error when refused (static) */
    const char *fail_desc;            /* out */
    const char *replay;               /* out: the audit reason when a replay revoked tokens */
    Authd__Storage__UserRecord *user; /* out */
};

/* Refuses the redemption; the transaction still commits. */
static int
deny(struct redeem *rd, const char *code, const char *d)
{
    rd->fail = code;
    rd->fail_desc = d;
    return AUTHD_OK; /* commit: nothing was written, or a revocation that must stand */
}

struct code_step {
    const Authd__V1__OAuthTokenRequest *req;
    int offline_allowed; /* the client may have offline_access (its registration, now) */
    struct redeem rd;
    CodeRec *rec; /* out */
};

/*
 * AUTHD_OK when something issued at `issued` (unix seconds) to client_id still counts: it belongs
 * to the client's current registration and the client is active (clients_token_live).
 * AUTHD_ERR_INVALID_TOKEN when the client is gone, registered again since, or deactivated (its
 * tokens are dead while it stays so), or a storage error. first_party (may be NULL) gets the
 * client's first_party on AUTHD_OK, else 0.
 */
static int
client_issue_current(struct authd *a, const char *client_id, int64_t issued, int *first_party)
{
    Authd__Storage__ClientRecord *crec = NULL;
    if (first_party != NULL)
        *first_party = 0;
    int r = clients_get(a, client_id, &crec);
    if (r == AUTHD_ERR_NOT_FOUND)
        return AUTHD_ERR_INVALID_TOKEN;
    if (r != AUTHD_OK)
        return r;
    r = clients_token_live(crec, issued) ? AUTHD_OK : AUTHD_ERR_INVALID_TOKEN;
    if (r == AUTHD_OK && first_party != NULL)
        *first_party = crec->client->first_party;
    rpc_msg_free(&crec->base);
    return r;
}

/* client_issue_current() judged on crec, the client's record as this call already read it
 * (the introspecting client's own, read to authenticate it): the same test, one read fewer. */
static int
client_issue_current_rec(const Authd__Storage__ClientRecord *crec, int64_t issued, int *first_party)
{
    int r = clients_token_live(crec, issued) ? AUTHD_OK : AUTHD_ERR_INVALID_TOKEN;
    if (first_party != NULL)
        *first_party = r == AUTHD_OK ? crec->client->first_party : 0;
    return r;
}

/* Starts a run of a redeeming step: clears its outputs and loads prefix<token id> for update
 * into *rec (an unknown one refused with `unknown`). */
static int
redeem_begin(struct authd *a, struct store_txn *txn, struct redeem *rd, const char *prefix,
             const ProtobufCMessageDescriptor *d, void *rec, const char *unknown)
{
    ProtobufCMessage **m = rec;
    rpc_msg_free(*m);
    rpc_msg_free(rd->user ? &rd->user->base : NULL);
    rd->user = NULL;
    rd->fail = NULL;
    rd->replay = NULL;
    int r = load(a, txn, 1, prefix, rd->tok.id, d, rec);
    if (r == AUTHD_ERR_NOT_FOUND)
        return deny(rd, "invalid_grant", unknown);
    return r;
}

/*
 * The checks every redeemed secret passes first: the presented token matches the stored hash and
 * has not expired (else `unknown`), was issued to this client (else `other`), and under the
 * client's current registration (else `unknown`). AUTHD_OK (rd->fail set when refused) or a
 * storage error.
 */
static int
redeem_check(struct authd *a, struct redeem *rd, const ProtobufCBinaryData *hash, int expired,
             const char *issued_to, const char *client_id, int64_t created, const char *unknown,
             const char *other)
{
    if (!token_matches(&rd->tok, hash->data, hash->len) || expired)
        return deny(rd, "invalid_grant", unknown);
    if (strcmp(issued_to, client_id) != 0)
        return deny(rd, "invalid_grant", other);
    /* Issued before the client's current registration (deleted and registered again). */
    int r = client_issue_current(a, issued_to, created, NULL);
    return r == AUTHD_ERR_INVALID_TOKEN ? deny(rd, "invalid_grant", unknown) : r;
}

/*
 * The answer of a redeeming grant whose transaction returned r: the refusal (after the audit
 * event of what a replay revoked: target, for user_id), or the tokens. Wipes rd.
 */
static int
redeem_answer(struct rpc_ctx *ctx, struct authd *a, struct redeem *rd, int r, const char *user_id,
              const char *target, const Authd__V1__OAuthTokenRequest *req,
              Authd__V1__OAuthTokenResponse *resp)
{
    if (r == AUTHD_OK && rd->fail != NULL) {
        if (rd->replay != NULL) {
            struct audit ev = {.action = AUDIT_TOKEN_REVOKED,
                               .outcome = AUDIT_SUCCESS,
                               .user = user_id,
                               .client = req->client_id,
                               .ip = req->client_ip,
                               .target = target,
                               .reason = rd->replay};
            audit_emit(ctx, &ev);
        }
        r = oauth_fail(ctx, rd->fail, rd->fail_desc);
    } else if (r == AUTHD_OK) {
        r = issue_answer(ctx, a, &rd->is, resp);
        if (r == AUTHD_OK)
            log_issued(&rd->is, req->grant_type);
    }
    issue_wipe(&rd->is);
    token_wipe(&rd->tok);
    rpc_msg_free(rd->user ? &rd->user->base : NULL);
    rd->user = NULL;
    return r;
}

static int
code_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct code_step *s = arg;
    struct redeem *rd = &s->rd;
    const Authd__V1__OAuthTokenRequest *req = s->req;
    char key[KEY_MAX];
    int r = redeem_begin(a, txn, rd, KEY_AUTHCODE, &authd__storage__auth_code_record__descriptor,
                         &s->rec, "unknown or expired code");
    if (r != AUTHD_OK || rd->fail != NULL)
        return r;
    CodeRec *c = s->rec;
    r = redeem_check(a, rd, &c->secret_hash, c->expires_at <= a->now(), c->client_id,
                     req->client_id, c->created_at, "unknown or expired code",
                     "the code was issued to another client");
    if (r != AUTHD_OK || rd->fail != NULL)
        return r;
    if (c->used) {
        /* RFC 6749 §4.1.2: a code used twice revokes what its first use issued. */
        if (c->issued_refresh_family[0] != '\0' &&
            (r = rfamily_delete(txn, c->issued_refresh_family)) != AUTHD_OK)
            return r;
        if (c->issued_jti[0] != '\0' &&
            (r = access_revoke(txn, c->issued_jti, c->issued_exp, c->client_id)) != AUTHD_OK)
            return r;
        rd->replay = "code_replay";
        return deny(rd, "invalid_grant", "the code was already used");
    }
    /* RFC 6749 §4.1.3: the same redirect_uri as the authorization request, when it named one. */
    if (c->redirect_uri_given
            ? strcmp(req->redirect_uri, c->redirect_uri) != 0
            : (req->redirect_uri[0] != '\0' && strcmp(req->redirect_uri, c->redirect_uri) != 0))
        return deny(rd, "invalid_grant", "redirect_uri does not match");
    if (c->code_challenge[0] != '\0') {
        if (req->code_verifier[0] == '\0')
            return deny(rd, "invalid_grant", "code_verifier required");
        if (!oauth_pkce_check(req->code_verifier, c->code_challenge))
            return deny(rd, "invalid_grant", "code_verifier does not match");
    } else if (req->code_verifier[0] != '\0') {
        /* A verifier for a code issued without a challenge: something was swapped. */
        return deny(rd, "invalid_grant", "no code_challenge was sent");
    }
    struct issue *is = &rd->is;
    /* OIDC Core §11: offline access when Authorize granted offline_access (the user consented)
     * and the client may still have it and gets refresh tokens. */
    is->offline = is->refresh && s->offline_allowed && scope_has(c->scope, OFFLINE);
    r = session_alive(a, txn, c->sid, &is->session_exp);
    if (r == AUTHD_ERR_NOT_FOUND)
        return deny(rd, "invalid_grant", "the session has ended");
    if (r != AUTHD_OK)
        return r;
    /* An offline family locks the user: ending all the user's sessions (which revokes offline
     * families) either runs first, or after this one and finds the family. */
    r = user_active(a, txn, is->offline, c->user_id, &rd->user);
    if (r == AUTHD_ERR_NOT_FOUND)
        return deny(rd, "invalid_grant", "the user is not active");
    if (r != AUTHD_OK)
        return r;

    is->user = rd->user->user;
    is->sid = c->sid;
    is->scope = c->scope;
    is->amr = c->amr;
    is->n_amr = c->n_amr;
    is->acr = c->acr;
    is->auth_time = c->auth_time;
    is->nonce = c->nonce;
    if ((r = issue_prepare(a, is)) != AUTHD_OK)
        return r;
    c->used = 1;
    c->issued_exp = is->exp;
    if ((r = field_set(&c->issued_jti, is->jti)) != AUTHD_OK ||
        (r = field_set(&c->issued_refresh_family, is->refresh ? is->fam : "")) != AUTHD_OK)
        return r;
    if (key_make(key, KEY_AUTHCODE, rd->tok.id, NULL) == 0)
        return AUTHD_ERR_INTERNAL;
    r = rec_put(txn, key, &c->base);
    return r == AUTHD_OK ? issue_store(a, txn, is) : r;
}

static int
grant_code(struct rpc_ctx *ctx, struct authd *a, const Authd__V1__OAuthTokenRequest *req,
           const Authd__V1__Client *c, Authd__V1__OAuthTokenResponse *resp)
{
    struct code_step s = {.req = req, .offline_allowed = client_offline_allowed(c)};
    const char *target = NULL;

    if (req->code[0] == '\0')
        return oauth_fail(ctx, "invalid_request", "code is missing");
    if (token_parse(req->code, &s.rd.tok) != AUTHD_OK)
        return oauth_fail(ctx, "invalid_grant", "unknown or expired code");
    s.rd.is.grant = "authorization_code";
    s.rd.is.client_id = c->id;
    s.rd.is.id_alg = c->id_token_signed_response_alg;
    s.rd.is.gs = oauth_grant_settings(c, "authorization_code");
    s.rd.is.refresh = s.rd.is.gs != NULL && s.rd.is.gs->refresh_token;
    int r = account_txn_run(a, code_step, &s);
    if (s.rd.replay != NULL) {
        /* The access token dies with its refresh family; without one, it was listed. */
        const char *fam = s.rec->issued_refresh_family;
        target = fam[0] != '\0' ? rpc_ctx_printf(ctx, "refresh_family/%s", fam)
                                : rpc_ctx_printf(ctx, "access_token/%s", s.rec->issued_jti);
    }
    r = redeem_answer(ctx, a, &s.rd, r, s.rec ? s.rec->user_id : NULL, target, req, resp);
    rpc_msg_free(s.rec ? &s.rec->base : NULL);
    return r;
}

/* ---- Token: password ------------------------------------------------------------------- */

struct pw_step {
    const struct login *login;
    const char *totp;
    struct twofactor_judge judge;           /* out: the TOTP check */
    int two;                                /* out: the user has 2FA on */
    struct issue is;                        /* out: the tokens */
    Authd__Storage__UserRecord *rec;        /* out */
    Authd__Storage__SessionRecord *session; /* out */
    struct token tok;                       /* out: the session's token (not handed out) */
};

/*
 * One transaction, as Sessions.Login and VerifySecondFactor together: lock the user and re-check
 * what the password check saw (login_recheck), check and record the TOTP code when the user had
 * 2FA on at the password step (so one code never passes twice), open an authenticated session
 * and write the tokens' records.
 */
static int
pw_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct pw_step *p = arg;
    static char *const amr_pwd[] = {"pwd"};
    static char *const amr_otp[] = {"pwd", "otp"};

    rpc_msg_free(p->session ? &p->session->base : NULL);
    p->session = NULL;
    token_wipe(&p->tok);
    int r = login_recheck(a, txn, p->login, &p->rec);
    if (r != AUTHD_OK)
        return r;
    int two = p->two = p->rec->user->two_factor != NULL && p->rec->user->two_factor->enabled;
    /* 2FA turned on since the password step: no code is judged outside twofactor_guarded. */
    if (two && !p->login->two)
        return AUTHD_ERR_SECOND_FACTOR_REQUIRED;
    if (two) {
        const struct twofactor_proof proof = {.code = p->totp};
        if ((r = twofactor_check(a, txn, p->rec, NULL, &proof, &p->judge)) != AUTHD_OK)
            return r;
        if ((r = account_user_save(a, txn, p->rec)) != AUTHD_OK)
            return r;
    }
    const struct session_spec spec = {1, 0, (const char *const *)(two ? amr_otp : amr_pwd),
                                      two ? 2 : 1, 0};
    r = account_session_create(a, txn, p->rec->user, p->login->ip, p->login->user_agent, &spec,
                               &p->tok, &p->session);
    if (r != AUTHD_OK)
        return r;
    const Authd__V1__Session *s = p->session->session;
    p->is.user = p->rec->user;
    p->is.sid = s->id;
    p->is.session_exp = s->expires_at;
    p->is.amr = s->amr;
    p->is.n_amr = s->n_amr;
    p->is.auth_time = s->auth_time;
    if ((r = issue_prepare(a, &p->is)) != AUTHD_OK)
        return r;
    return issue_store(a, txn, &p->is);
}

/* The OAuth answer of a password grant that the password step, the second factor or the
 * session's transaction refused (r), as invalid_grant with its reason, or a lock. */
static int
pw_refused(struct rpc_ctx *ctx, int r)
{
    switch (r) {
    case AUTHD_ERR_LOCKED:
        return r; /* guard_refuse named the OAuth error and the wait */
    case AUTHD_ERR_INACTIVE:
        return oauth_fail(ctx, "invalid_grant", "the account is inactive");
    case AUTHD_ERR_INVALID_CREDENTIALS:
        return oauth_fail(ctx, "invalid_grant", "invalid username or password");
    case AUTHD_ERR_SECOND_FACTOR_REQUIRED:
        return oauth_fail(ctx, "invalid_grant", "totp required");
    case AUTHD_ERR_WRONG_CODE:
    case AUTHD_ERR_NOT_ENABLED:
        return oauth_fail(ctx, "invalid_grant", "invalid totp");
    default:
        return r;
    }
}

static int
grant_password(struct rpc_ctx *ctx, struct authd *a, const Authd__V1__OAuthTokenRequest *req,
               const Authd__V1__Client *c, const char *scope, Authd__V1__OAuthTokenResponse *resp)
{
    struct login l = {.email = req->username,
                      .password = req->password,
                      .ip = req->client_ip,
                      .user_agent = rpc_ctx_printf(ctx, "OAuth client %s", c->id),
                      .client = c->id,
                      .oauth_code = OAUTH_LOCKED_CODE};
    struct pw_step p = {.login = &l, .totp = req->totp};
    int r;

    if (req->username[0] == '\0' || req->password[0] == '\0')
        return oauth_fail(ctx, "invalid_request", "username and password are required");
    /* OIDC Core §11: offline access needs the user's consent, and the password grant has no
     * consent step. A first-party client is the user's own app (no consent page anywhere); any
     * other gets offline_access ignored: a session-bound token, the answer's scope without it. */
    char granted[OAUTH_SCOPE_TEXT_MAX];
    if (!c->first_party && scope_has(scope, OFFLINE)) {
        struct oauth_scopes sc;
        if (oauth_scopes_parse(scope, &sc) != AUTHD_OK)
            return AUTHD_ERR_INTERNAL;
        scopes_drop(&sc, OFFLINE);
        if (oauth_scopes_join(&sc, granted, sizeof(granted)) != AUTHD_OK)
            return AUTHD_ERR_INTERNAL;
        scope = granted;
    }
    r = login_password(a, ctx, &l);
    if (r != AUTHD_OK)
        goto out;
    const char *uid = l.rec->user->id;
    if (l.two && req->totp[0] == '\0') {
        audit_login(ctx, AUDIT_FAILURE, uid, c->id, req->client_ip, "second_factor_required", NULL);
        r = AUTHD_ERR_SECOND_FACTOR_REQUIRED;
        goto out;
    }
    p.is.grant = "password";
    p.is.client_id = c->id;
    p.is.id_alg = c->id_token_signed_response_alg;
    p.is.gs = oauth_grant_settings(c, "password");
    p.is.scope = scope;
    p.is.refresh = p.is.gs != NULL && p.is.gs->refresh_token;
    /* The user handed a first-party client the password itself: asking for offline_access
     * (kept above only for such a client that may have it) is the consent. */
    p.is.offline = p.is.refresh && scope_has(scope, OFFLINE);
    if (l.two) {
        const struct audit who = {
            .user = uid, .client = c->id, .ip = req->client_ip, .reason = "oauth"};
        r = twofactor_guarded(a, ctx, &who, OAUTH_LOCKED_CODE, pw_step, &p, &p.judge);
    } else {
        r = account_txn_run(a, pw_step, &p);
    }
    login_refused(ctx, &l, r);
    if (r == AUTHD_OK)
        r = issue_answer(ctx, a, &p.is, resp);
    if (r == AUTHD_OK) {
        audit_login(ctx, AUDIT_SUCCESS, uid, c->id, req->client_ip,
                    p.two ? "second_factor" : "password", p.session->session->id);
        log_issued(&p.is, "password");
    }
out:
    r = pw_refused(ctx, r);
    issue_wipe(&p.is);
    token_wipe(&p.tok);
    rpc_msg_free(p.session ? &p.session->base : NULL);
    rpc_msg_free(p.rec ? &p.rec->base : NULL);
    login_cleanup(&l);
    return r;
}

/* ---- Token: client_credentials -------------------------------------------------------- */

static int
grant_client_credentials(struct rpc_ctx *ctx, struct authd *a, const Authd__V1__Client *c,
                         const char *scope, Authd__V1__OAuthTokenResponse *resp)
{
    struct issue is = {0};
    is.grant = "client_credentials";
    is.client_id = c->id;
    is.id_alg = c->id_token_signed_response_alg;
    is.gs = oauth_grant_settings(c, "client_credentials");
    is.scope = scope;
    /* An opaque token is a synced write: not on a completion-queue thread. */
    if (rpc_ctx_trying(ctx) && oauth_token_opaque(is.gs))
        return rpc_ctx_defer(ctx);
    int r = issue_prepare(a, &is);
    if (r == AUTHD_OK && is.opaque)
        r = account_txn_run(a, issue_store_step, &is);
    if (r == AUTHD_OK)
        r = issue_answer(ctx, a, &is, resp);
    if (r == AUTHD_OK)
        log_issued(&is, "client_credentials");
    issue_wipe(&is);
    return r;
}

/* ---- Token: refresh_token -------------------------------------------------------------- */

struct refresh_step {
    const Authd__V1__Client *client;
    const struct oauth_scopes *want; /* a narrower scope asked for (n == 0: none) */
    struct redeem rd;
    char scope[OAUTH_SCOPE_TEXT_MAX]; /* the new access token's scope */
    RefreshRec *rec;                  /* out */
};

static int
refresh_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct refresh_step *s = arg;
    struct redeem *rd = &s->rd;
    const Authd__V1__Client *c = s->client;
    FamilyRec *fam = NULL;
    struct oauth_scopes orig;
    char key[KEY_MAX];
    int r = redeem_begin(a, txn, rd, KEY_REFRESH, &authd__storage__refresh_token_record__descriptor,
                         &s->rec, "unknown refresh token");
    if (r != AUTHD_OK || rd->fail != NULL)
        return r;
    RefreshRec *t = s->rec;
    r = redeem_check(a, rd, &t->secret_hash, 0, t->client_id, c->id, t->created_at,
                     "unknown refresh token", "the refresh token was issued to another client");
    if (r != AUTHD_OK || rd->fail != NULL)
        return r;
    if (t->used) {
        /* Reuse: the token was stolen or the client is broken. Either way, end the family. */
        if ((r = rfamily_delete(txn, t->family)) != AUTHD_OK)
            return r;
        rd->replay = "refresh_reuse";
        return deny(rd, "invalid_grant", "the refresh token was already used");
    }
    if (t->expires_at <= a->now())
        return deny(rd, "invalid_grant", "the refresh token has expired");
    r = load(a, txn, 1, KEY_RFAMILY, t->family, &authd__storage__refresh_family_record__descriptor,
             &fam);
    if (r == AUTHD_ERR_NOT_FOUND)
        return deny(rd, "invalid_grant", "the refresh token was revoked");
    if (r != AUTHD_OK)
        return r;
    int64_t fam_created = fam->created_at;
    rpc_msg_free(&fam->base);
    /* The client's current settings for the grant that began the family still apply. */
    const Authd__V1__GrantSettings *gs = oauth_grant_settings(c, t->grant);
    if (!oauth_client_has_grant(c, t->grant) || gs == NULL || !gs->refresh_token)
        return deny(rd, "unauthorized_client", "the client no longer allows refresh tokens");
    int64_t session_exp = 0;
    if (t->offline) {
        /* No session to outlive it, but the client's registration must still allow it. */
        if (!client_offline_allowed(c))
            return deny(rd, "invalid_grant", "the client no longer allows offline access");
    } else {
        r = session_alive(a, txn, t->sid, &session_exp);
        if (r == AUTHD_ERR_NOT_FOUND)
            return deny(rd, "invalid_grant", "the session has ended");
        if (r != AUTHD_OK)
            return r;
    }
    r = user_active(a, txn, 0, t->user_id, &rd->user);
    if (r == AUTHD_ERR_NOT_FOUND)
        return deny(rd, "invalid_grant", "the user is not active");
    if (r != AUTHD_OK)
        return r;
    /* RFC 6749 §6: a narrower scope for the access token; the refresh token keeps its own. */
    if (oauth_scopes_parse(t->scope, &orig) != AUTHD_OK)
        return AUTHD_ERR_INTERNAL;
    if (s->want->n > 0) {
        if (!oauth_scopes_subset(s->want, &orig))
            return deny(rd, "invalid_scope", "the scope exceeds what was granted");
        if (oauth_scopes_join(s->want, s->scope, sizeof(s->scope)) != AUTHD_OK)
            return AUTHD_ERR_INTERNAL;
    } else {
        snprintf(s->scope, sizeof(s->scope), "%s", t->scope);
    }

    t->used = 1;
    if (key_make(key, KEY_REFRESH, rd->tok.id, NULL) == 0)
        return AUTHD_ERR_INTERNAL;
    if ((r = rec_put(txn, key, &t->base)) != AUTHD_OK)
        return r;
    struct issue *is = &rd->is;
    is->grant = t->grant;
    is->client_id = c->id;
    is->id_alg = c->id_token_signed_response_alg;
    is->gs = gs;
    is->user = rd->user->user;
    is->sid = t->sid;
    is->scope = s->scope;
    is->refresh_scope = t->scope;
    is->amr = t->amr;
    is->n_amr = t->n_amr;
    is->auth_time = t->auth_time;
    is->refresh = 1;
    is->offline = t->offline;
    is->session_exp = session_exp;
    is->family = t->family;
    is->family_created = fam_created;
    if ((r = issue_prepare(a, is)) != AUTHD_OK)
        return r;
    return issue_store(a, txn, is);
}

static int
grant_refresh(struct rpc_ctx *ctx, struct authd *a, const Authd__V1__OAuthTokenRequest *req,
              const Authd__V1__Client *c, Authd__V1__OAuthTokenResponse *resp)
{
    struct oauth_scopes want;
    struct refresh_step s = {.client = c, .want = &want};

    if (req->refresh_token[0] == '\0')
        return oauth_fail(ctx, "invalid_request", "refresh_token is missing");
    if (oauth_scopes_parse(req->scope, &want) != AUTHD_OK)
        return oauth_fail(ctx, "invalid_scope", "malformed scope");
    if (token_parse(req->refresh_token, &s.rd.tok) != AUTHD_OK)
        return oauth_fail(ctx, "invalid_grant", "unknown refresh token");
    int r = account_txn_run(a, refresh_step, &s);
    /* A used refresh token came back: stolen, or a broken client. */
    const char *target =
        s.rd.replay != NULL ? rpc_ctx_printf(ctx, "refresh_family/%s", s.rec->family) : NULL;
    r = redeem_answer(ctx, a, &s.rd, r, s.rec ? s.rec->user_id : NULL, target, req, resp);
    rpc_msg_free(s.rec ? &s.rec->base : NULL);
    return r;
}

/* ---- Token ------------------------------------------------------------------------------ */

/* The requested scope (empty: all the client may have) as a checked, joined string. */
static int
token_scope(struct rpc_ctx *ctx, const Authd__V1__Client *c, const char *requested, char *out,
            size_t cap)
{
    struct oauth_scopes allowed, want;
    if (oauth_client_scopes(c, &allowed) != AUTHD_OK)
        return oauth_fail(ctx, "invalid_scope", "the client's registered scopes are malformed");
    if (oauth_scopes_parse(requested, &want) != AUTHD_OK)
        return oauth_fail(ctx, "invalid_scope", "malformed scope");
    if (want.n == 0) {
        want = allowed;
        scopes_drop(&want, OFFLINE); /* offline access only when the request asks for it */
    }
    /* OIDC Core §11: offline_access the client may not have is ignored, not refused. */
    if (!oauth_scopes_has(&allowed, OFFLINE))
        scopes_drop(&want, OFFLINE);
    if (!oauth_scopes_subset(&want, &allowed))
        return oauth_fail(ctx, "invalid_scope", "a requested scope is not allowed for this client");
    if (oauth_scopes_join(&want, out, cap) != AUTHD_OK)
        return oauth_fail(ctx, "invalid_scope", "too many scopes");
    return AUTHD_OK;
}

static int
oauth_token(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__OAuthTokenRequest *req = (const void *)reqm;
    Authd__V1__OAuthTokenResponse *resp = (void *)respm;
    Authd__Storage__ClientRecord *crec = NULL;
    char scope[OAUTH_SCOPE_TEXT_MAX];
    const char *g = req->grant_type;
    int r;

    /* A trial (RPC_TRY_INLINE) goes on only for client_credentials against a local store; every
     * other grant hashes a password or writes, so it runs on a worker from the start. */
    if (rpc_ctx_trying(ctx) && (strcmp(g, "client_credentials") != 0 || !store_local(a->store)))
        return rpc_ctx_defer(ctx);
    if (req->client_id[0] == '\0')
        return oauth_fail(ctx, "invalid_client", "client authentication required");
    r = clients_authenticate_throttled(ctx, a, req->client_id, req->client_secret, req->client_ip,
                                       &crec);
    if (r == AUTHD_ERR_INVALID_CREDENTIALS) {
        return oauth_fail(ctx, "invalid_client", "client authentication failed");
    }
    if (r != AUTHD_OK)
        return r;
    const Authd__V1__Client *c = crec->client;
    int confidential = clients_confidential(crec);
    int is_code = strcmp(g, "authorization_code") == 0;
    int is_pw = strcmp(g, "password") == 0;
    int is_cc = strcmp(g, "client_credentials") == 0;
    int is_rt = strcmp(g, "refresh_token") == 0;
    if (g[0] == '\0') {
        r = oauth_fail(ctx, "invalid_request", "grant_type is missing");
    } else if (!is_code && !is_pw && !is_cc && !is_rt) {
        r = oauth_fail(ctx, "unsupported_grant_type", "unsupported grant_type");
    } else if (!confidential && (is_pw || is_cc)) {
        r = oauth_fail(ctx, "unauthorized_client", "a public client may not use this grant");
    } else if (!is_rt && !oauth_client_has_grant(c, g)) {
        /* refresh_token is governed by the settings of the grant that began the family. */
        r = oauth_fail(ctx, "unauthorized_client", "the client may not use this grant");
    } else {
        const Authd__V1__GrantSettings *gs = oauth_grant_settings(c, g);
        if (gs != NULL && gs->secret_required && !confidential)
            r = oauth_fail(ctx, "invalid_client", "this grant requires a client secret");
    }
    if (r != AUTHD_OK)
        goto out;
    if (is_code) {
        r = grant_code(ctx, a, req, c, resp);
    } else if (is_rt) {
        r = grant_refresh(ctx, a, req, c, resp);
    } else {
        r = token_scope(ctx, c, req->scope, scope, sizeof(scope));
        if (r == AUTHD_OK)
            r = is_pw ? grant_password(ctx, a, req, c, scope, resp)
                      : grant_client_credentials(ctx, a, c, scope, resp);
    }
out:
    rpc_msg_free(&crec->base);
    return r;
}

/* ---- token inspection (Introspect, UserInfo, Revoke) ------------------------------------- */

enum tok_kind { TOK_NONE = 0, TOK_JWT, TOK_OPAQUE, TOK_REFRESH };

/* What an active token says; strings in the call's arena. */
struct tokinfo {
    enum tok_kind kind;
    const char *scope, *client_id, *sub, *user_id, *sid, *jti;
    int64_t exp, iat;
    int first_party; /* its client is first-party (set by token_inspect) */
};

static const char *
jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

/* A JWT of ours: signature, issuer, expiry, an access token's claims, not revoked, its session
 * still there. AUTHD_OK, AUTHD_ERR_INVALID_TOKEN or a storage error. */
static int
inspect_jwt(struct rpc_ctx *ctx, struct authd *a, const char *token, struct tokinfo *ti)
{
    char *claims = NULL;
    json_t *j = NULL;
    json_error_t je;
    int r = AUTHD_ERR_INVALID_TOKEN;

    if (a->keys == NULL || strlen(token) > JWT_MAX ||
        signkeys_verify(a->keys, token, &claims) != AUTHD_OK)
        goto out;
    j = json_loads(claims, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j) || !json_is_integer(json_object_get(j, "exp")))
        goto out;
    ti->exp = json_integer_value(json_object_get(j, "exp"));
    ti->iat = json_integer_value(json_object_get(j, "iat"));
    ti->jti = jstr(j, "jti");
    ti->client_id = jstr(j, "client_id");
    ti->sub = jstr(j, "sub");
    ti->sid = jstr(j, "sid");
    ti->scope = jstr(j, "scope");
    if (ti->exp <= a->now() || strcmp(jstr(j, "iss"), a->issuer) != 0 || ti->jti[0] == '\0' ||
        ti->client_id[0] == '\0' || ti->sub[0] == '\0')
        goto out;
    char key[KEY_MAX];
    void *val = NULL;
    size_t vlen = 0;
    if (key_make(key, KEY_REVOKED, ti->jti, NULL) == 0)
        goto out;
    r = store_get(a->store, key, strlen(key), &val, &vlen);
    store_value_free(val, vlen);
    if (r == AUTHD_OK)
        r = AUTHD_ERR_INVALID_TOKEN;
    if (r != AUTHD_ERR_NOT_FOUND)
        goto out;
    if (ti->sid[0] != '\0') {
        r = session_alive(a, NULL, ti->sid, NULL);
        if (r == AUTHD_ERR_NOT_FOUND)
            r = AUTHD_ERR_INVALID_TOKEN;
        if (r != AUTHD_OK)
            goto out;
    }
    const char *fam = jstr(j, "rfam");
    int offline_user = 0;
    if (fam[0] != '\0') {
        FamilyRec *fr = NULL;
        r = load(a, NULL, 0, KEY_RFAMILY, fam, &authd__storage__refresh_family_record__descriptor,
                 &fr);
        if (r == AUTHD_ERR_NOT_FOUND)
            r = AUTHD_ERR_INVALID_TOKEN; /* its family was revoked */
        if (r != AUTHD_OK)
            goto out;
        offline_user = fr->offline && strcmp(fr->user_id, ti->sub) == 0;
        rpc_msg_free(&fr->base);
    }
    /* Tokens with a session are a user's, and so are those an offline refresh token (which has
     * no session) issued; every other one is the client's own. */
    ti->user_id = ti->sid[0] != '\0' || offline_user ? ti->sub : "";
    const char **f[] = {&ti->jti, &ti->client_id, &ti->sub, &ti->sid, &ti->scope, &ti->user_id};
    r = AUTHD_OK;
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]) && r == AUTHD_OK; i++)
        if ((*f[i] = rpc_ctx_strdup(ctx, *f[i])) == NULL)
            r = AUTHD_ERR_NOMEM;
    ti->kind = TOK_JWT;
out:
    json_decref(j);
    secret_strfree(claims);
    return r;
}

static int
inspect_opaque(struct rpc_ctx *ctx, struct authd *a, const struct token *t, struct tokinfo *ti)
{
    AtokRec *rec = NULL;
    int r =
        load(a, NULL, 0, KEY_ATOK, t->id, &authd__storage__access_token_record__descriptor, &rec);
    if (r == AUTHD_ERR_NOT_FOUND)
        return AUTHD_ERR_INVALID_TOKEN;
    if (r != AUTHD_OK)
        return r;
    if (!token_matches(t, rec->secret_hash.data, rec->secret_hash.len) ||
        rec->expires_at <= a->now())
        r = AUTHD_ERR_INVALID_TOKEN;
    if (r == AUTHD_OK && rec->sid[0] != '\0') {
        r = session_alive(a, NULL, rec->sid, NULL);
        if (r == AUTHD_ERR_NOT_FOUND)
            r = AUTHD_ERR_INVALID_TOKEN;
    }
    if (r == AUTHD_OK && rec->family[0] != '\0') {
        /* It dies with the refresh family issued with it, as a JWT's rfam does. */
        char key[KEY_MAX];
        void *val = NULL;
        size_t vlen = 0;
        r = key_make(key, KEY_RFAMILY, rec->family, NULL) != 0
                ? store_get(a->store, key, strlen(key), &val, &vlen)
                : AUTHD_ERR_NOT_FOUND;
        store_value_free(val, vlen);
        if (r == AUTHD_ERR_NOT_FOUND)
            r = AUTHD_ERR_INVALID_TOKEN;
    }
    if (r == AUTHD_OK) {
        ti->kind = TOK_OPAQUE;
        ti->exp = rec->expires_at;
        ti->iat = rec->iat;
        ti->jti = rpc_ctx_strdup(ctx, t->id);
        ti->client_id = rpc_ctx_strdup(ctx, rec->client_id);
        ti->sub = rpc_ctx_strdup(ctx, rec->sub);
        ti->user_id = rpc_ctx_strdup(ctx, rec->user_id);
        ti->sid = rpc_ctx_strdup(ctx, rec->sid);
        ti->scope = rpc_ctx_strdup(ctx, rec->scope);
        if (!ti->jti || !ti->client_id || !ti->sub || !ti->user_id || !ti->sid || !ti->scope)
            r = AUTHD_ERR_NOMEM;
    }
    rpc_msg_free(&rec->base);
    return r;
}

static int
inspect_refresh(struct rpc_ctx *ctx, struct authd *a, const struct token *t, struct tokinfo *ti)
{
    RefreshRec *rec = NULL;
    int r = load(a, NULL, 0, KEY_REFRESH, t->id, &authd__storage__refresh_token_record__descriptor,
                 &rec);
    if (r == AUTHD_ERR_NOT_FOUND)
        return AUTHD_ERR_INVALID_TOKEN;
    if (r != AUTHD_OK)
        return r;
    if (!token_matches(t, rec->secret_hash.data, rec->secret_hash.len) || rec->used ||
        rec->expires_at <= a->now())
        r = AUTHD_ERR_INVALID_TOKEN;
    if (r == AUTHD_OK) {
        char key[KEY_MAX];
        void *val = NULL;
        size_t vlen = 0;
        r = key_make(key, KEY_RFAMILY, rec->family, NULL) != 0
                ? store_get(a->store, key, strlen(key), &val, &vlen)
                : AUTHD_ERR_NOT_FOUND;
        store_value_free(val, vlen);
        /* An offline token has no session to die with; its family ends it. */
        if (r == AUTHD_OK && !rec->offline)
            r = session_alive(a, NULL, rec->sid, NULL);
        if (r == AUTHD_ERR_NOT_FOUND)
            r = AUTHD_ERR_INVALID_TOKEN;
    }
    if (r == AUTHD_OK) {
        ti->kind = TOK_REFRESH;
        ti->exp = rec->expires_at;
        ti->iat = rec->created_at;
        ti->jti = rpc_ctx_strdup(ctx, t->id);
        ti->client_id = rpc_ctx_strdup(ctx, rec->client_id);
        ti->sub = rpc_ctx_strdup(ctx, rec->user_id);
        ti->user_id = ti->sub;
        ti->sid = rpc_ctx_strdup(ctx, rec->sid);
        ti->scope = rpc_ctx_strdup(ctx, rec->scope);
        if (!ti->jti || !ti->client_id || !ti->sub || !ti->sid || !ti->scope)
            r = AUTHD_ERR_NOMEM;
    }
    rpc_msg_free(&rec->base);
    return r;
}

/*
 * Judges a presented token: AUTHD_OK with ti filled when it is active, AUTHD_ERR_INVALID_TOKEN
 * when it is not (whatever the reason), or a storage error. access_only: refresh tokens are not
 * looked at. hint "refresh_token" looks at refresh tokens first (RFC 7662 §2.1).
 */
static int
token_judge(struct rpc_ctx *ctx, struct authd *a, const char *token, const char *hint,
            int access_only, struct tokinfo *ti)
{
    struct token t;
    memset(ti, 0, sizeof(*ti));
    if (oauth_is_jwt(token))
        return inspect_jwt(ctx, a, token, ti);
    if (token_parse(token, &t) != AUTHD_OK)
        return AUTHD_ERR_INVALID_TOKEN;
    int refresh_first = !access_only && hint != NULL && strcmp(hint, "refresh_token") == 0;
    int r = refresh_first ? inspect_refresh(ctx, a, &t, ti) : inspect_opaque(ctx, a, &t, ti);
    if (r == AUTHD_ERR_INVALID_TOKEN && !access_only)
        r = refresh_first ? inspect_opaque(ctx, a, &t, ti) : inspect_refresh(ctx, a, &t, ti);
    token_wipe(&t);
    return r;
}

/*
 * token_judge() and, for an active token, its client: a token issued before its client's current
 * registration (a client deleted and registered again under the same id) is dead, as is one whose
 * client is gone or deactivated (ti->first_party: the client's, for bearer sessions). Every
 * judgement of a presented token (Introspect, UserInfo, the bearer tokens of authd's callers) goes
 * through here.
 */
static int
token_inspect(struct rpc_ctx *ctx, struct authd *a, const char *token, const char *hint,
              int access_only, const Authd__Storage__ClientRecord *known, struct tokinfo *ti)
{
    int r = token_judge(ctx, a, token, hint, access_only, ti);
    if (r == AUTHD_OK && known != NULL && known->client != NULL &&
        strcmp(known->client->id, ti->client_id) == 0)
        r = client_issue_current_rec(known, ti->iat, &ti->first_party);
    else if (r == AUTHD_OK)
        r = client_issue_current(a, ti->client_id, ti->iat, &ti->first_party);
    if (r != AUTHD_OK)
        memset(ti, 0, sizeof(*ti));
    return r;
}

int
oauth_check_client_token(struct rpc_ctx *ctx, struct authd *a, const char *token, char *client_id,
                         size_t cap, struct oauth_scopes *scopes)
{
    Authd__Storage__ClientRecord *crec = NULL;
    struct oauth_scopes allowed;
    struct tokinfo ti;

    if (cap > 0)
        client_id[0] = '\0';
    oauth_scopes_clear(scopes);
    if (token == NULL || token[0] == '\0')
        return AUTHD_ERR_INVALID_TOKEN;
    int r = token_inspect(ctx, a, token, NULL, 1, NULL, &ti);
    if (r != AUTHD_OK)
        return r;
    /* Only a client's own tokens name a caller; a user's token speaks for the user. */
    if (ti.user_id[0] != '\0' || ti.sid[0] != '\0' || strcmp(ti.sub, ti.client_id) != 0 ||
        strlen(ti.client_id) >= cap)
        return AUTHD_ERR_INVALID_TOKEN;
    r = clients_get(a, ti.client_id, &crec);
    if (r == AUTHD_ERR_NOT_FOUND)
        return AUTHD_ERR_INVALID_TOKEN;
    if (r != AUTHD_OK)
        return r;
    /* The registration as it is now: a deactivated client, a withdrawn grant or a scope taken
     * away ends what earlier tokens could do. */
    r = AUTHD_ERR_INVALID_TOKEN;
    if (clients_active(crec) && oauth_client_has_grant(crec->client, "client_credentials") &&
        oauth_client_scopes(crec->client, &allowed) == AUTHD_OK &&
        oauth_scopes_parse(ti.scope, scopes) == AUTHD_OK && oauth_scopes_subset(scopes, &allowed)) {
        snprintf(client_id, cap, "%s", ti.client_id);
        r = AUTHD_OK;
    }
    if (r != AUTHD_OK)
        oauth_scopes_clear(scopes);
    rpc_msg_free(&crec->base);
    return r;
}

int
oauth_user_token_session(struct rpc_ctx *ctx, struct authd *a, const char *token, const char **sid)
{
    struct tokinfo ti;

    *sid = NULL;
    if (token == NULL || token[0] == '\0')
        return AUTHD_ERR_UNAUTHENTICATED;
    int r = token_inspect(ctx, a, token, NULL, 1, NULL, &ti);
    if (r == AUTHD_ERR_INVALID_TOKEN)
        return AUTHD_ERR_UNAUTHENTICATED;
    if (r != AUTHD_OK)
        return r;
    if (ti.user_id[0] == '\0' || ti.sid[0] == '\0')
        return AUTHD_ERR_UNAUTHENTICATED;
    /* A third-party app got the token for the scopes the user consented to (userinfo, a
     * resource server's API), never the power to manage the account as the user's session. */
    if (!ti.first_party) {
        log_event(LOG_INFO, "bearer_refused", "reason=third_party_client client=%s", ti.client_id);
        return AUTHD_ERR_UNAUTHENTICATED;
    }
    *sid = ti.sid;
    return AUTHD_OK;
}

/* Authenticates the caller of Introspect/Revoke (public clients identify themselves only);
 * ip: the address its failures count against (clients.h). */
static int
caller_auth(struct rpc_ctx *ctx, struct authd *a, const char *id, const char *secret,
            const char *ip, Authd__Storage__ClientRecord **out)
{
    if (id[0] == '\0')
        return oauth_fail(ctx, "invalid_client", "client authentication required");
    int r = clients_authenticate_throttled(ctx, a, id, secret, ip, out);
    if (r == AUTHD_ERR_INVALID_CREDENTIALS) {
        return oauth_fail(ctx, "invalid_client", "client authentication failed");
    }
    return r;
}

/* ---- Introspect ------------------------------------------------------------------------- */

static int
oauth_introspect(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__IntrospectRequest *req = (const void *)reqm;
    Authd__V1__IntrospectResponse *resp = (void *)respm;
    Authd__Storage__ClientRecord *crec = NULL;
    Authd__Storage__UserRecord *u = NULL;
    struct tokinfo ti;

    /* A trial (RPC_TRY_INLINE) only reads, which against a shared database is a round trip. */
    if (rpc_ctx_trying(ctx) && !store_local(a->store))
        return rpc_ctx_defer(ctx);
    int r = caller_auth(ctx, a, req->client_id, req->client_secret, req->client_ip, &crec);
    if (r != AUTHD_OK)
        return r;
    /* RFC 7662 §2.2 needs an authenticated caller; a public client proves nothing. */
    if (!clients_confidential(crec)) {
        rpc_msg_free(&crec->base);
        return oauth_fail(ctx, "invalid_client", "introspection requires a confidential client");
    }
    int any_client = crec->client->introspect;
    char caller[128];
    snprintf(caller, sizeof(caller), "%s", crec->client->id);
    /* A client introspecting a token of its own: its record, just read, judges the token's
     * registration too. */
    r = token_inspect(ctx, a, req->token, req->token_type_hint, 0, crec, &ti);
    rpc_msg_free(&crec->base);
    /* A client learns about its own tokens only, unless it is a resource server. */
    if (r == AUTHD_OK && !any_client && strcmp(ti.client_id, caller) != 0)
        r = AUTHD_ERR_INVALID_TOKEN;
    if (r == AUTHD_ERR_INVALID_TOKEN) {
        resp->active = 0;
        return AUTHD_OK;
    }
    if (r != AUTHD_OK)
        return r;
    resp->active = 1;
    resp->scope = (char *)ti.scope;
    resp->client_id = (char *)ti.client_id;
    resp->token_type = ti.kind == TOK_REFRESH ? "refresh_token" : "Bearer";
    resp->exp = ti.exp;
    resp->iat = ti.iat;
    resp->sub = (char *)ti.sub;
    resp->aud = (char *)ti.client_id;
    resp->iss = rpc_ctx_strdup(ctx, a->issuer);
    resp->jti = (char *)ti.jti;
    resp->sid = (char *)ti.sid;
    if (resp->iss == NULL)
        return AUTHD_ERR_NOMEM;
    if (ti.user_id[0] != '\0' && account_user_get(a, NULL, 0, ti.user_id, &u) == AUTHD_OK &&
        u->user != NULL) {
        resp->username = rpc_ctx_strdup(ctx, u->user->email);
        if (resp->username == NULL)
            r = AUTHD_ERR_NOMEM;
    }
    rpc_msg_free(u ? &u->base : NULL);
    return r;
}

/* ---- Revoke ----------------------------------------------------------------------------- */

struct revoke_step {
    const char *client_id;
    const struct token *t;
    const char *jti; /* JWT: the jti and exp to list */
    int64_t exp;
    const char *what; /* out: what was revoked, for the log */
    char family[TOKEN_ID_LEN + 1];
    char user_id[ACCOUNT_MAX_ID + 1]; /* out: whose token it was ("" for a client's own) */
};

/* Revokes an opaque token of the caller's (refresh: its whole family; access: the record). */
static int
revoke_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct revoke_step *s = arg;
    RefreshRec *rt = NULL;
    AtokRec *at = NULL;
    s->what = NULL;
    if (s->jti != NULL) {
        s->what = "access_jwt";
        return access_revoke(txn, s->jti, s->exp, s->client_id);
    }
    int r = load(a, txn, 1, KEY_REFRESH, s->t->id,
                 &authd__storage__refresh_token_record__descriptor, &rt);
    if (r == AUTHD_OK && token_matches(s->t, rt->secret_hash.data, rt->secret_hash.len) &&
        strcmp(rt->client_id, s->client_id) == 0) {
        snprintf(s->family, sizeof(s->family), "%s", rt->family);
        snprintf(s->user_id, sizeof(s->user_id), "%s", rt->user_id);
        r = rfamily_delete(txn, rt->family);
        s->what = "refresh";
        goto out;
    }
    if (r != AUTHD_OK && r != AUTHD_ERR_NOT_FOUND)
        goto out;
    r = load(a, txn, 1, KEY_ATOK, s->t->id, &authd__storage__access_token_record__descriptor, &at);
    if (r == AUTHD_OK && token_matches(s->t, at->secret_hash.data, at->secret_hash.len) &&
        strcmp(at->client_id, s->client_id) == 0) {
        char key[KEY_MAX];
        r = key_make(key, KEY_ATOK, s->t->id, NULL) != 0 ? store_txn_delete(txn, key, strlen(key))
                                                         : AUTHD_ERR_INTERNAL;
        snprintf(s->user_id, sizeof(s->user_id), "%s", at->user_id);
        s->what = "access_opaque";
        goto out;
    }
    if (r == AUTHD_ERR_NOT_FOUND)
        r = AUTHD_OK;
out:
    rpc_msg_free(rt ? &rt->base : NULL);
    rpc_msg_free(at ? &at->base : NULL);
    return r;
}

static int
oauth_revoke(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__RevokeRequest *req = (const void *)reqm;
    Authd__Storage__ClientRecord *crec = NULL;
    struct token t;
    char *claims = NULL;
    json_t *j = NULL;
    (void)respm;

    memset(&t, 0, sizeof(t));
    int r = caller_auth(ctx, a, req->client_id, req->client_secret, req->client_ip, &crec);
    if (r != AUTHD_OK)
        return r;
    rpc_msg_free(&crec->base);
    if (req->token[0] == '\0')
        return oauth_fail(ctx, "invalid_request", "token is missing");
    struct revoke_step s = {.client_id = req->client_id, .t = &t};
    if (oauth_is_jwt(req->token)) {
        /* RFC 7009 §2.2: an invalid, expired or foreign token is answered OK, with no effect. */
        json_error_t je;
        if (a->keys == NULL || strlen(req->token) > JWT_MAX ||
            signkeys_verify(a->keys, req->token, &claims) != AUTHD_OK)
            goto out;
        j = json_loads(claims, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(j) || strcmp(jstr(j, "client_id"), req->client_id) != 0 ||
            strcmp(jstr(j, "iss"), a->issuer) != 0 || jstr(j, "jti")[0] == '\0')
            goto out;
        s.jti = jstr(j, "jti");
        s.exp = json_integer_value(json_object_get(j, "exp"));
        /* A user's token has the user as sub; a client's own has the client. */
        if (strcmp(jstr(j, "sub"), req->client_id) != 0)
            snprintf(s.user_id, sizeof(s.user_id), "%s", jstr(j, "sub"));
        if (s.exp <= a->now())
            goto out;
    } else if (token_parse(req->token, &t) != AUTHD_OK) {
        goto out;
    }
    r = account_txn_run(a, revoke_step, &s);
    if (r == AUTHD_OK && s.what != NULL) {
        struct audit ev = {
            .action = AUDIT_TOKEN_REVOKED,
            .outcome = AUDIT_SUCCESS,
            .user = s.user_id,
            .client = req->client_id,
            .target = s.family[0] != '\0'
                          ? rpc_ctx_printf(ctx, "refresh_family/%s", s.family)
                          : rpc_ctx_printf(ctx, "access_token/%s", s.jti != NULL ? s.jti : t.id),
            .reason = "oauth_revoke"};
        audit_emit(ctx, &ev);
    }
out:
    token_wipe(&t);
    json_decref(j);
    secret_strfree(claims);
    return r;
}

/* ---- UserInfo and Jwks ------------------------------------------------------------------ */

static int
oauth_userinfo(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__UserInfoRequest *req = (const void *)reqm;
    Authd__V1__UserInfoResponse *resp = (void *)respm;
    Authd__Storage__UserRecord *u = NULL;
    struct tokinfo ti;

    int r = token_inspect(ctx, a, req->access_token, NULL, 1, NULL, &ti);
    if (r == AUTHD_ERR_INVALID_TOKEN)
        return oauth_fail(ctx, "invalid_token", "the access token is invalid or expired");
    if (r != AUTHD_OK)
        return r;
    if (ti.user_id[0] == '\0')
        return oauth_fail(ctx, "invalid_token", "the access token has no user");
    if (!scope_has(ti.scope, "openid"))
        return oauth_fail(ctx, "invalid_token", "the access token lacks the openid scope");
    r = user_active(a, NULL, 0, ti.user_id, &u);
    if (r == AUTHD_ERR_NOT_FOUND)
        return oauth_fail(ctx, "invalid_token", "the user is not active");
    if (r != AUTHD_OK)
        return r;
    resp->sub = rpc_ctx_strdup(ctx, u->user->id);
    /* OIDC Core §5.4: email and email_verified only for the email scope (empty otherwise; the
     * edge leaves empty claims out). user stays for services that call this RPC themselves. */
    if (scope_has(ti.scope, "email")) {
        resp->email = rpc_ctx_strdup(ctx, u->user->email);
        resp->email_verified = u->user->email_verified;
    }
    resp->user = rec_copy(ctx, &u->user->base);
    if (resp->sub == NULL || resp->email == NULL || resp->user == NULL)
        r = AUTHD_ERR_NOMEM;
    rpc_msg_free(&u->base);
    return r;
}

static int
oauth_jwks(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    Authd__V1__JwksResponse *resp = (void *)respm;
    char *json = NULL;
    (void)reqm;

    if (a->keys == NULL)
        return AUTHD_ERR_UNAVAILABLE;
    int r = signkeys_jwks(a->keys, &json);
    if (r != AUTHD_OK)
        return r;
    resp->jwks_json = rpc_ctx_strdup(ctx, json);
    resp->issuer = rpc_ctx_strdup(ctx, a->issuer);
    /* The edge serves its copy no longer than this (edge/jwks_cache.c): publish before sign. */
    resp->cache_max_ms = signkeys_cache_max_ms(a);
    free(json);
    return resp->jwks_json != NULL && resp->issuer != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
}

/* ---- EndSession: RP-initiated logout ------------------------------------------------------ */

/* What a verified id_token_hint says (arena strings). */
struct hint {
    const char *client_id; /* azp, or the single audience */
    const char *sub;
    const char *sid; /* "" when the token has none */
};

/*
 * Verifies an id_token_hint: our signature with a published key, our issuer, an ID token (a
 * subject, an audience naming one client, no client_id claim: access tokens carry one) issued
 * under the client's current registration. Its expiry is not checked (RP-Initiated Logout
 * §2: the hint may have expired). AUTHD_OK with *h, AUTHD_ERR_INVALID_TOKEN, or an error.
 */
static int
hint_verify(struct rpc_ctx *ctx, struct authd *a, const char *token, struct hint *h)
{
    char *claims = NULL;
    json_error_t je;
    json_t *j = NULL;
    int r = AUTHD_ERR_INVALID_TOKEN;

    if (a->keys == NULL || strlen(token) > JWT_MAX || !oauth_is_jwt(token) ||
        signkeys_verify(a->keys, token, &claims) != AUTHD_OK)
        goto out;
    j = json_loads(claims, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j) || json_object_get(j, "client_id") != NULL ||
        strcmp(jstr(j, "iss"), a->issuer) != 0 || jstr(j, "sub")[0] == '\0')
        goto out;
    /* The client: the audience, or azp among several audiences (OIDC Core §2). */
    const json_t *aud = json_object_get(j, "aud");
    const char *azp = jstr(j, "azp"), *cid = NULL;
    size_t i;
    const json_t *v;
    if (json_is_string(aud)) {
        cid = json_string_value(aud);
    } else if (json_is_array(aud)) {
        json_array_foreach(aud, i, v)
        {
            if (json_is_string(v) &&
                (json_array_size(aud) == 1 || strcmp(json_string_value(v), azp) == 0))
                cid = json_string_value(v);
        }
    }
    if (cid == NULL || cid[0] == '\0' || (azp[0] != '\0' && strcmp(azp, cid) != 0))
        goto out;
    r = client_issue_current(a, cid, json_integer_value(json_object_get(j, "iat")), NULL);
    if (r != AUTHD_OK)
        goto out;
    h->client_id = rpc_ctx_strdup(ctx, cid);
    h->sub = rpc_ctx_strdup(ctx, jstr(j, "sub"));
    h->sid = rpc_ctx_strdup(ctx, jstr(j, "sid"));
    if (h->client_id == NULL || h->sub == NULL || h->sid == NULL)
        r = AUTHD_ERR_NOMEM;
out:
    json_decref(j);
    secret_strfree(claims);
    return r;
}

/* next=ERROR_PAGE: refused, nothing ended, never redirected. */
static int
end_refuse(Authd__V1__EndSessionResponse *resp, const char *err, const char *desc)
{
    char q[96];
    resp->next = AUTHD__V1__END_SESSION_RESPONSE__NEXT__ERROR_PAGE;
    resp->error = (char *)err;
    resp->error_description = (char *)desc;
    log_event(LOG_INFO, "end_session_refused", "error=%s detail=%s", err,
              log_quote(desc, q, sizeof(q)));
    return AUTHD_OK;
}

/*
 * The client a logout request is from (hint's audience or client_id, which must agree) and the
 * post-logout redirect URI, matched exactly against the client's registered list. AUTHD_OK with
 * *uri (NULL: no redirect) and resp->client_id, or with resp->next = ERROR_PAGE, or an error.
 */
static int
end_client(struct rpc_ctx *ctx, struct authd *a, const Authd__V1__EndSessionRequest *req,
           const struct hint *h, Authd__V1__EndSessionResponse *resp, const char **uri)
{
    const char *cid = h != NULL ? h->client_id : req->client_id;
    *uri = NULL;
    if (h != NULL && req->client_id[0] != '\0' && strcmp(req->client_id, h->client_id) != 0)
        return end_refuse(resp, "invalid_request", "client_id does not match id_token_hint");
    if (cid[0] == '\0') {
        if (req->post_logout_redirect_uri[0] != '\0')
            return end_refuse(resp, "invalid_request",
                              "post_logout_redirect_uri needs client_id or id_token_hint");
        return AUTHD_OK;
    }
    Authd__Storage__ClientRecord *crec = NULL;
    int r = clients_get(a, cid, &crec);
    if (r == AUTHD_ERR_NOT_FOUND || (r == AUTHD_OK && !clients_active(crec))) {
        rpc_msg_free(crec != NULL ? &crec->base : NULL);
        return end_refuse(resp, "invalid_client", "unknown client");
    }
    if (r != AUTHD_OK)
        return r;
    if ((resp->client_id = rpc_ctx_strdup(ctx, crec->client->id)) == NULL)
        r = AUTHD_ERR_NOMEM;
    const char *given = req->post_logout_redirect_uri;
    if (r == AUTHD_OK && given[0] != '\0') {
        const Authd__V1__Client *c = crec->client;
        for (size_t i = 0; i < c->n_post_logout_redirect_uris && *uri == NULL; i++)
            if (oauth_redirect_uri_eq(c->post_logout_redirect_uris[i], given))
                *uri = rpc_ctx_strdup(ctx, c->post_logout_redirect_uris[i]);
        if (*uri == NULL) {
            rpc_msg_free(&crec->base);
            return end_refuse(resp, "invalid_request",
                              "post_logout_redirect_uri is not registered for the client");
        }
    }
    rpc_msg_free(&crec->base);
    return r;
}

/*
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). The browser's session ends
 * at once when a valid id_token_hint names it (its sid, or its user when the token has no sid)
 * or when the user confirmed on the edge's CSRF-protected form; otherwise the answer is
 * CONFIRM and nothing ends, so a cross-site link cannot sign anyone out. The redirect goes
 * only to a post_logout_redirect_uri the client registered, with state.
 */
static int
oauth_end_session(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__EndSessionRequest *req = (const void *)reqm;
    Authd__V1__EndSessionResponse *resp = (void *)respm;
    Authd__Storage__SessionRecord *s = NULL;
    struct hint hv, *h = NULL;
    const char *uri = NULL;
    char *url = NULL;
    int r;

    const char *fields[] = {req->client_id, req->post_logout_redirect_uri, req->state};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (strlen(fields[i]) > ACCOUNT_MAX_CLIENT_FIELD)
            return end_refuse(resp, "invalid_request", "a parameter is too long");
    if (req->id_token_hint[0] != '\0') {
        r = hint_verify(ctx, a, req->id_token_hint, &hv);
        if (r == AUTHD_ERR_INVALID_TOKEN)
            return end_refuse(resp, "invalid_request", "id_token_hint is not a valid ID token");
        if (r != AUTHD_OK)
            return r;
        h = &hv;
    }
    if ((r = end_client(ctx, a, req, h, resp, &uri)) != AUTHD_OK ||
        resp->next == AUTHD__V1__END_SESSION_RESPONSE__NEXT__ERROR_PAGE)
        return r;

    r = req->session_token[0] != '\0' ? account_session_check(a, req->session_token, &s)
                                      : AUTHD_ERR_UNAUTHENTICATED;
    if (r == AUTHD_OK) {
        const Authd__V1__Session *ss = s->session;
        int named = h != NULL && (h->sid[0] != '\0' ? strcmp(h->sid, ss->id) == 0
                                                    : strcmp(h->sub, ss->user_id) == 0);
        if (!named && !req->confirmed) {
            resp->next = AUTHD__V1__END_SESSION_RESPONSE__NEXT__CONFIRM;
            goto out;
        }
        r = account_session_delete(a, NULL, ss->user_id, ss->id);
        if (r != AUTHD_OK)
            goto out;
        struct audit ev = {.action = AUDIT_TOKEN_REVOKED,
                           .outcome = AUDIT_SUCCESS,
                           .user = ss->user_id,
                           .client = resp->client_id,
                           .ip = req->client_ip,
                           .target = rpc_ctx_printf(ctx, "session/%s", ss->id),
                           .reason = named ? "rp_logout" : "rp_logout_confirmed"};
        audit_emit(ctx, &ev);
    } else if (r != AUTHD_ERR_UNAUTHENTICATED) {
        goto out;
    }
    /* Ended, or there was no session to end: either way the user is signed out here. */
    r = AUTHD_OK;
    resp->next = AUTHD__V1__END_SESSION_RESPONSE__NEXT__DONE;
    if (uri != NULL) {
        const struct oauth_param pp[] = {{"state", req->state}};
        r = oauth_redirect_build(uri, 0, pp, 1, &url);
        if (r == AUTHD_OK && (resp->redirect_url = rpc_ctx_strdup(ctx, url)) == NULL)
            r = AUTHD_ERR_NOMEM;
        if (r == AUTHD_ERR_TOO_LARGE || r == AUTHD_ERR_INVALID_ARGUMENT)
            r = AUTHD_OK; /* signed out; the state does not fit a redirect: no redirect */
    }
out:
    secret_strfree(url);
    rpc_msg_free(s ? &s->base : NULL);
    return r;
}

const struct rpc_method authd_oauth_methods[] = {
    {"Authorize", oauth_authorize, 0, ROLE_EDGE},
    {"Token", oauth_token, RPC_TRY_INLINE, ROLE_EDGE},
    {"Introspect", oauth_introspect, RPC_TRY_INLINE, ROLE_EDGE | ROLE_SERVICE},
    {"Revoke", oauth_revoke, 0, ROLE_EDGE | ROLE_SERVICE},
    {"UserInfo", oauth_userinfo, 0, ROLE_EDGE | ROLE_SERVICE},
    {"Jwks", oauth_jwks, RPC_INLINE, ROLE_ALL},
    {"EndSession", oauth_end_session, 0, ROLE_EDGE},
    {"CheckOrigin", oauth_check_origin, 0, ROLE_EDGE}, /* origins.c */
};
const size_t authd_oauth_n_methods = sizeof(authd_oauth_methods) / sizeof(authd_oauth_methods[0]);
