/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authd.v1.ClientAdmin: the Client resource (Aidbox field names) and signing-key rotation, for
 * administrators. Also the client loader and authenticator the OAuth service uses (clients.h).
 * A put validates every field (exact redirect URIs without fragments, known grant types and
 * token formats, bounded lifetimes) and replaces the client whole, except that a put without a
 * secret keeps the stored one (so a manifest can change a client without repeating it).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd/account.h"
#include "authd/audit.h"
#include "authd/v1/oauth.pb-c.h"
#include "authd/clients.h"
#include "common/err.h"
#include "authd/keys.h"
#include "common/log.h"
#include "authd/password.h"
#include "authd/origins.h"
#include "authd/records.h"
#include "common/secret.h"
#include "authd/signkeys.h"
#include "authd/guard.h"
#include "authd/oauth.h"
#include "authd/roles.h"

#define CLIENT_ID_MAX 64
#define CLIENT_URI_MAX 2048
#define CLIENT_TTL_MAX (400LL * 86400)
#define CLIENT_SECRET_MIN 8
#define CLIENT_LOGOUT_URIS_MAX 32 /* post_logout_redirect_uris per client */
#define CACHE_SLOTS 256
#define CLIENT_ADDR_MAX 64 /* bytes of the address failures are counted against */

/* ---- the verified-secret cache ------------------------------------------------------------ */

struct cache_slot {
    char id[CLIENT_ID_MAX + 1];
    uint8_t digest[32]; /* SHA-256(id NUL secret) of the last secret that verified */
    uint8_t stored[32]; /* SHA-256 of the stored hash it verified against: a new secret
                         * (a new stored hash) can never hit an entry made for the old one */
};

static struct cache_slot cache[CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t
cache_index(const char *id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % CACHE_SLOTS;
}

/* SHA-256(id NUL secret) into out; 0 when memory ran out (then nothing may be cached). */
static int
secret_digest(const char *id, const char *secret, uint8_t out[32])
{
    size_t il = strlen(id), sl = strlen(secret);
    char *buf = malloc(il + 1 + sl);
    memset(out, 0, 32);
    if (buf == NULL)
        return 0;
    memcpy(buf, id, il + 1);
    memcpy(buf + il + 1, secret, sl);
    secret_sha256(buf, il + 1 + sl, out);
    secret_freezero(buf, il + 1 + sl);
    return 1;
}

void
clients_cache_forget(const char *id)
{
    pthread_mutex_lock(&cache_lock);
    struct cache_slot *s = &cache[cache_index(id)];
    if (strcmp(s->id, id) == 0)
        memset(s, 0, sizeof(*s));
    pthread_mutex_unlock(&cache_lock);
}

/* ---- loading and authenticating ------------------------------------------------------------ */

int
clients_get(struct authd *a, const char *id, Authd__Storage__ClientRecord **out)
{
    char key[KEY_MAX];
    *out = NULL;
    if (id == NULL || id[0] == '\0' || key_make(key, KEY_CLIENT, id, NULL) == 0)
        return AUTHD_ERR_NOT_FOUND;
    int r = rec_get(a->store, NULL, 0, key, &authd__storage__client_record__descriptor,
                    (ProtobufCMessage **)out);
    if (r == AUTHD_OK && (*out)->client == NULL) {
        rpc_msg_free(&(*out)->base);
        *out = NULL;
        r = AUTHD_ERR_INTERNAL;
    }
    return r;
}

int
clients_token_live(const Authd__Storage__ClientRecord *c, int64_t iat)
{
    return c != NULL && c->client != NULL && iat >= c->created_at && clients_active(c);
}

int
clients_active(const Authd__Storage__ClientRecord *c)
{
    return c->client->active == NULL || c->client->active->value;
}

int
clients_confidential(const Authd__Storage__ClientRecord *c)
{
    return c->secret_hash != NULL && c->secret_hash[0] != '\0';
}

/*
 * clients_authenticate(); may_hash 0: a secret the cache cannot judge is not hashed, and the
 * answer is AUTHD_ERR_UNAVAILABLE (nothing judged).
 */
static int
authenticate(struct authd *a, const char *id, const char *secret, int may_hash,
             Authd__Storage__ClientRecord **out)
{
    Authd__Storage__ClientRecord *c = NULL;
    uint8_t digest[32];
    int r;

    if (out != NULL)
        *out = NULL;
    if (secret == NULL)
        secret = "";
    r = clients_get(a, id, &c);
    if (r != AUTHD_OK) {
        r = r == AUTHD_ERR_NOT_FOUND ? AUTHD_ERR_INVALID_CREDENTIALS : r;
        goto out;
    }
    if (!clients_active(c)) {
        r = AUTHD_ERR_INVALID_CREDENTIALS;
        goto out;
    }
    if (!clients_confidential(c)) {
        /* A public client has nothing to prove; one that sends a secret is confused or forged. */
        r = secret[0] == '\0' ? AUTHD_OK : AUTHD_ERR_INVALID_CREDENTIALS;
        goto out;
    }
    if (secret[0] == '\0') {
        r = AUTHD_ERR_INVALID_CREDENTIALS;
        goto out;
    }
    int have = secret_digest(id, secret, digest);
    uint8_t stored[32];
    secret_sha256(c->secret_hash, strlen(c->secret_hash), stored);
    pthread_mutex_lock(&cache_lock);
    struct cache_slot *s = &cache[cache_index(id)];
    /* known: the cache holds the digest of a secret that verified against this very stored
     * hash. Only one secret verifies against a hash, so then a secret with another digest is
     * wrong, and is refused without the slow hash (a guesser costs a SHA-256, not an Argon2). */
    int known = have && strcmp(s->id, id) == 0 && secret_eq(s->stored, stored, sizeof(stored));
    int hit = known && secret_eq(s->digest, digest, sizeof(digest));
    pthread_mutex_unlock(&cache_lock);
    if (known && !hit) {
        r = AUTHD_ERR_INVALID_CREDENTIALS;
        goto out;
    }
    if (!hit && !may_hash) {
        r = AUTHD_ERR_UNAVAILABLE;
        goto out;
    }
    if (!hit) {
        r = password_verify(c->secret_hash, secret, strlen(secret), NULL, NULL);
        if (r != AUTHD_OK) {
            r = AUTHD_ERR_INVALID_CREDENTIALS;
            goto out;
        }
        if (have) {
            pthread_mutex_lock(&cache_lock);
            snprintf(s->id, sizeof(s->id), "%s", id);
            memcpy(s->digest, digest, sizeof(digest));
            memcpy(s->stored, stored, sizeof(stored));
            pthread_mutex_unlock(&cache_lock);
        }
    }
    r = AUTHD_OK;
out:
    secret_wipe(digest, sizeof(digest));
    if (r == AUTHD_OK && out != NULL)
        *out = c;
    else
        rpc_msg_free(c ? &c->base : NULL);
    return r;
}

int
clients_authenticate(struct authd *a, const char *id, const char *secret,
                     Authd__Storage__ClientRecord **out)
{
    return authenticate(a, id, secret, 1, out);
}

/*
 * The address a caller's failures count against: the client_ip the edge names, else the gRPC
 * peer's host (a resource server calling Introspect or Revoke itself), without the port:
 * "ipv4:10.0.0.1:5000" is "10.0.0.1", "ipv6:[::1]:5000" (or %5B::1%5D) is "::1", and every
 * other kind of peer (a unix socket, an in-process call) is that kind, e.g. "unix". Written into
 * buf (cap bytes); returns buf.
 */
static const char *
caller_address(struct rpc_ctx *ctx, const char *ip, char *buf, size_t cap)
{
    if (ip != NULL && ip[0] != '\0') {
        snprintf(buf, cap, "%s", ip);
        return buf;
    }
    const char *peer = ctx != NULL ? rpc_ctx_peer(ctx) : "";
    const char *host = peer;
    size_t n = 0;
    if (strncmp(peer, "ipv4:", 5) == 0) {
        host = peer + 5;
        const char *colon = strrchr(host, ':');
        n = colon != NULL ? (size_t)(colon - host) : strlen(host);
    } else if (strncmp(peer, "ipv6:[", 6) == 0 || strncmp(peer, "ipv6:%5B", 8) == 0 ||
               strncmp(peer, "ipv6:%5b", 8) == 0) {
        host = peer + (peer[5] == '[' ? 6 : 8);
        const char *end = peer[5] == '[' ? strchr(host, ']') : strchr(host, '%');
        n = end != NULL ? (size_t)(end - host) : strlen(host);
    } else {
        n = strcspn(peer, ":"); /* the kind: no path or port of a local peer is an address */
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, host, n);
    buf[n] = '\0';
    return buf;
}

int
clients_authenticate_throttled(struct rpc_ctx *ctx, struct authd *a, const char *id,
                               const char *secret, const char *ip,
                               Authd__Storage__ClientRecord **out)
{
    char subject[CLIENT_ID_MAX + 16], addr[CLIENT_ADDR_MAX + 1];
    if (out != NULL)
        *out = NULL;
    /* "client:<id>" can never be an account's e-mail (':' is not allowed there). A client's
     * secret is a password too: its failures are failed logins, of the client and of the
     * address they come from, on counters of their own (THROTTLE_CLIENT_SECRET): the wrong
     * user passwords an app relays through the password grant never count against the gate on
     * its own secret, and its wrong secrets never lock user logins from its address. Clients
     * sharing an egress address share that address's budget. */
    snprintf(subject, sizeof(subject), "client:%.*s", CLIENT_ID_MAX, id != NULL ? id : "");
    const char *where = caller_address(ctx, ip, addr, sizeof(addr));
    /*
     * Judged first (judge_first): a client's id is public (every authorize URL has it), so a
     * lock that kept out the right secret would let anyone shut a client out. Only the address
     * gates the attempt: a guesser's own address locks after its free failures and is refused
     * before anything is judged. The client's counter still counts every failure, and while it
     * is locked wrong secrets are answered with the wait; a secret that verifies (the cache,
     * or the slow hash) always passes, and its success forgets nothing, so the guesses stay
     * counted. Attempts are judged one after the other per address (the serial lock), not per
     * client, so a guesser never makes the right secret wait behind its slow hashes.
     */
    struct guard g = {.a = a,
                      .ctx = ctx,
                      .kind = THROTTLE_CLIENT_SECRET,
                      .account = subject,
                      .serial = where[0] != '\0' ? where : subject,
                      .refusal = "too many failed client authentications",
                      .oauth_code = OAUTH_LOCKED_CODE,
                      .judge_first = 1,
                      .who = {.action = AUDIT_LOGIN, .client = id, .ip = where},
                      .trial = rpc_ctx_trying(ctx)};
    int r = guard_enter(&g);
    if (g.trial && r != AUTHD_OK && r != AUTHD_ERR_LOCKED) {
        guard_leave(&g); /* the stripe was busy, or the store failed: judged on a worker */
        return rpc_ctx_defer(ctx);
    }
    if (r == AUTHD_OK) {
        r = authenticate(a, id, secret, !g.trial, out);
        if (g.trial && r != AUTHD_OK) {
            /* Unknown to the cache (the slow hash), wrong (a failure to count and audit), or
             * a storage error: nothing was judged or counted here. */
            guard_leave(&g);
            return rpc_ctx_defer(ctx);
        }
        if (r == AUTHD_ERR_INVALID_CREDENTIALS) {
            guard_fail(&g, "invalid_client");
            if (guard_fail_locked(&g) == AUTHD_ERR_LOCKED)
                r = AUTHD_ERR_LOCKED;
        }
    }
    guard_leave(&g);
    return r;
}

/* The audit event of a ClientAdmin change (reason: the method), whether or not it was made. */
static void
admin_audit(struct rpc_ctx *ctx, const char *method, const char *target, int r)
{
    struct audit ev = {.action = AUDIT_ADMIN_CHANGE,
                       .outcome = r == AUTHD_OK ? AUDIT_SUCCESS : AUDIT_FAILURE,
                       .target = target,
                       .reason = method};
    audit_emit(ctx, &ev);
}

/* ---- validation ---------------------------------------------------------------------------- */

static int
safe_token(const char *s, size_t max)
{
    size_t n = strlen(s);
    return n > 0 && n <= max &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") == n;
}

/* An exact redirect URI: absolute http(s), no fragment, no white space or quotes. */
static int
redirect_ok(const char *u)
{
    if (u == NULL || u[0] == '\0')
        return 1; /* none registered for this grant */
    if (strlen(u) > CLIENT_URI_MAX || strchr(u, '#') != NULL)
        return 0;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '<' || *p == '>' || *p == '\\')
            return 0;
    const char *rest = NULL;
    if (strncmp(u, "https://", 8) == 0)
        rest = u + 8;
    else if (strncmp(u, "http://", 7) == 0)
        rest = u + 7;
    return rest != NULL && rest[0] != '\0' && rest[0] != '/';
}

static const char *
grant_settings_bad(const Authd__V1__GrantSettings *g)
{
    if (g == NULL)
        return NULL;
    if (!redirect_ok(g->redirect_uri))
        return "redirect_uri must be an absolute http(s) URL without a fragment";
    if (g->token_format[0] != '\0' && strcmp(g->token_format, "jwt") != 0 &&
        strcmp(g->token_format, "opaque") != 0)
        return "token_format must be jwt or opaque";
    if (g->access_token_expiration < 0 || g->access_token_expiration > CLIENT_TTL_MAX ||
        g->refresh_token_expiration < 0 || g->refresh_token_expiration > CLIENT_TTL_MAX)
        return "expirations must be 0..34560000 seconds";
    return NULL;
}

static int
client_validate(struct rpc_ctx *ctx, const Authd__V1__Client *c)
{
    static const char *const grants[] = {"authorization_code", "code",
                                         "implicit",           "password",
                                         "client_credentials", "refresh_token"};
    const char *bad = NULL;
    if (!safe_token(c->id, CLIENT_ID_MAX) || strchr(c->id, ':') != NULL)
        bad = "id: 1..64 of A-Z a-z 0-9 - _ .";
    for (size_t i = 0; bad == NULL && i < c->n_grant_types; i++) {
        int known = 0;
        for (size_t j = 0; j < sizeof(grants) / sizeof(grants[0]); j++)
            known |= strcmp(c->grant_types[i], grants[j]) == 0;
        if (!known)
            bad = "grant_types: authorization_code, implicit, password, client_credentials, "
                  "refresh_token";
    }
    for (size_t i = 0; bad == NULL && i < c->n_scope; i++)
        if (!safe_token(c->scope[i], 128))
            bad = "scope: words of A-Z a-z 0-9 - _ . :";
    if (bad == NULL && c->auth != NULL) {
        const Authd__V1__ClientAuth *au = c->auth;
        if ((bad = grant_settings_bad(au->implicit)) == NULL &&
            (bad = grant_settings_bad(au->authorization_code)) == NULL &&
            (bad = grant_settings_bad(au->password)) == NULL)
            bad = grant_settings_bad(au->client_credentials);
    }
    if (bad == NULL && c->n_post_logout_redirect_uris > CLIENT_LOGOUT_URIS_MAX)
        bad = "post_logout_redirect_uris: at most 32";
    for (size_t i = 0; bad == NULL && i < c->n_post_logout_redirect_uris; i++) {
        const char *u = c->post_logout_redirect_uris[i];
        if (u[0] == '\0' || !redirect_ok(u))
            bad = "post_logout_redirect_uris: absolute http(s) URLs without a fragment";
    }
    if (bad == NULL && c->id_token_signed_response_alg[0] != '\0' &&
        strcmp(c->id_token_signed_response_alg, "RS256") != 0 &&
        strcmp(c->id_token_signed_response_alg, "ES256") != 0)
        bad = "id_token_signed_response_alg: RS256 or ES256";
    if (bad == NULL && c->n_allowed_origins > ORIGINS_PER_CLIENT)
        bad = "allowed_origins: at most 32 origins";
    for (size_t i = 0; bad == NULL && i < c->n_allowed_origins; i++) {
        char norm[ORIGIN_MAX + 1];
        const char *why = origin_normalise(c->allowed_origins[i], norm, sizeof(norm));
        if (why != NULL && (bad = rpc_ctx_printf(ctx, "allowed_origins[%zu]: %s", i, why)) == NULL)
            bad = why;
    }
    if (bad == NULL && c->secret[0] != '\0' &&
        (strlen(c->secret) < CLIENT_SECRET_MIN || strlen(c->secret) > PASSWORD_MAX_LEN))
        bad = "secret: 8..1024 characters";
    if (bad != NULL) {
        rpc_ctx_set_message(ctx, bad);
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    return AUTHD_OK;
}

/* ---- the service --------------------------------------------------------------------------- */

/* A copy of a stored client for an answer: never the secret, has_secret set. */
static Authd__V1__Client *
client_answer(struct rpc_ctx *ctx, const Authd__Storage__ClientRecord *rec)
{
    Authd__V1__Client *c = rec_copy(ctx, &rec->client->base);
    if (c != NULL) {
        c->secret = (char *)protobuf_c_empty_string;
        c->has_secret = clients_confidential(rec);
    }
    return c;
}

struct put_step {
    Authd__Storage__ClientRecord *rec; /* what to write; secret_hash NULL = keep the stored one */
};

static int
put_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct put_step *p = arg;
    char key[KEY_MAX];
    Authd__Storage__ClientRecord *old = NULL;
    (void)a;
    if (key_make(key, KEY_CLIENT, p->rec->client->id, NULL) == 0)
        return AUTHD_ERR_INVALID_ARGUMENT;
    int r = rec_get(a->store, txn, 1, key, &authd__storage__client_record__descriptor,
                    (ProtobufCMessage **)&old);
    if (r != AUTHD_OK && r != AUTHD_ERR_NOT_FOUND)
        return r;
    if (old != NULL) {
        p->rec->created_at = old->created_at;
    } else {
        /* A new registration starts after any deletion of the id (its tombstone), so that even
         * a token issued in the second of that deletion is not taken for one of ours. */
        char tkey[KEY_MAX], num[24] = "";
        void *val = NULL;
        size_t vlen = 0;
        int64_t now = a->now(), deleted = 0;
        if (key_make(tkey, KEY_CLIENT_DELETED, p->rec->client->id, NULL) == 0)
            return AUTHD_ERR_INVALID_ARGUMENT;
        r = store_txn_get(txn, tkey, strlen(tkey), 1, &val, &vlen);
        if (r == AUTHD_OK && vlen < sizeof(num)) {
            memcpy(num, val, vlen);
            deleted = strtoll(num, NULL, 10);
        }
        store_value_free(val, vlen);
        if (r != AUTHD_OK && r != AUTHD_ERR_NOT_FOUND)
            return r;
        p->rec->created_at = deleted >= now ? deleted + 1 : now;
    }
    char *keep = NULL;
    if (p->rec->secret_hash == NULL || p->rec->secret_hash[0] == '\0')
        keep = old != NULL ? old->secret_hash : (char *)protobuf_c_empty_string;
    char *mine = p->rec->secret_hash;
    if (keep != NULL)
        p->rec->secret_hash = keep;
    r = rec_put(txn, key, &p->rec->base);
    p->rec->secret_hash = mine;
    rpc_msg_free(old ? &old->base : NULL);
    return r;
}

static int
clients_put(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__Client *req = (const void *)reqm;
    Authd__V1__ClientResponse *resp = (void *)respm;
    Authd__Storage__ClientRecord rec = AUTHD__STORAGE__CLIENT_RECORD__INIT;
    Authd__Storage__ClientRecord *stored = NULL;
    char *phc = NULL;

    int r = client_validate(ctx, req);
    if (r == AUTHD_OK && req->secret[0] != '\0')
        r = password_hash(&a->set.argon2, req->secret, strlen(req->secret), &phc);
    if (r != AUTHD_OK)
        goto out;
    /* The stored copy never holds the secret itself. */
    Authd__V1__Client *c = rec_copy(ctx, reqm);
    if (c == NULL) {
        r = AUTHD_ERR_NOMEM;
        goto out;
    }
    c->secret = (char *)protobuf_c_empty_string;
    c->has_secret = 0;
    /* Origins are kept as browsers send them (RFC 6454), so CheckOrigin compares exactly. */
    for (size_t i = 0; i < c->n_allowed_origins; i++) {
        char norm[ORIGIN_MAX + 1];
        if (origin_normalise(c->allowed_origins[i], norm, sizeof(norm)) == NULL &&
            strcmp(norm, c->allowed_origins[i]) != 0 &&
            (c->allowed_origins[i] = rpc_ctx_strdup(ctx, norm)) == NULL) {
            r = AUTHD_ERR_NOMEM;
            goto out;
        }
    }
    rec.client = c;
    rec.secret_hash = phc;
    struct put_step p = {.rec = &rec};
    r = account_txn_run(a, put_step, &p);
    if (r != AUTHD_OK)
        goto out;
    clients_cache_forget(req->id);
    r = clients_get(a, req->id, &stored);
    if (r == AUTHD_OK) {
        resp->client = client_answer(ctx, stored);
        r = resp->client != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
    }
out:
    admin_audit(ctx, "ClientAdmin/Put", rpc_ctx_printf(ctx, "client/%s", req->id), r);
    rpc_msg_free(stored ? &stored->base : NULL);
    secret_strfree(phc);
    return r;
}

static int
clients_get_rpc(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__ClientRequest *req = (const void *)reqm;
    Authd__V1__ClientResponse *resp = (void *)respm;
    Authd__Storage__ClientRecord *rec = NULL;
    int r = clients_get(a, req->id, &rec);
    if (r != AUTHD_OK)
        return r;
    resp->client = client_answer(ctx, rec);
    rpc_msg_free(&rec->base);
    return resp->client != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
}

struct list_acc {
    struct rpc_ctx *ctx;
    Authd__V1__ListClientsResponse *resp;
    size_t cap;
};

static int
on_client(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct list_acc *l = arg;
    (void)key;
    (void)klen;
    Authd__Storage__ClientRecord *rec = authd__storage__client_record__unpack(NULL, vlen, val);
    if (rec == NULL || rec->client == NULL) {
        rpc_msg_free(rec ? &rec->base : NULL);
        return 0;
    }
    if (l->resp->n_clients == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        Authd__V1__Client **n = rpc_ctx_alloc(l->ctx, ncap * sizeof(*n));
        if (n == NULL) {
            rpc_msg_free(&rec->base);
            return AUTHD_ERR_NOMEM;
        }
        if (l->resp->n_clients > 0)
            memcpy(n, l->resp->clients, l->resp->n_clients * sizeof(*n));
        l->resp->clients = n;
        l->cap = ncap;
    }
    Authd__V1__Client *c = client_answer(l->ctx, rec);
    rpc_msg_free(&rec->base);
    if (c == NULL)
        return AUTHD_ERR_NOMEM;
    l->resp->clients[l->resp->n_clients++] = c;
    return l->resp->n_clients >= 10000 ? 1 : 0;
}

static int
clients_list(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    (void)reqm;
    struct list_acc l = {.ctx = ctx, .resp = (void *)respm};
    return store_scan(a->store, KEY_CLIENT, strlen(KEY_CLIENT), NULL, 0, on_client, &l);
}

/* Deletes client/<id> and leaves its tombstone (the second of the deletion). */
static int
delete_step(struct authd *a, struct store_txn *txn, void *arg)
{
    const char *id = arg;
    char key[KEY_MAX], tkey[KEY_MAX], num[24];
    void *val = NULL;
    size_t vlen = 0;
    if (key_make(key, KEY_CLIENT, id, NULL) == 0 ||
        key_make(tkey, KEY_CLIENT_DELETED, id, NULL) == 0)
        return AUTHD_ERR_NOT_FOUND;
    int r = store_txn_get(txn, key, strlen(key), 1, &val, &vlen);
    store_value_free(val, vlen);
    if (r != AUTHD_OK)
        return r;
    int n = snprintf(num, sizeof(num), "%lld", (long long)a->now());
    r = store_txn_delete(txn, key, strlen(key));
    if (r == AUTHD_OK)
        r = store_txn_put(txn, tkey, strlen(tkey), num, (size_t)n);
    return r;
}

static int
clients_delete(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__ClientRequest *req = (const void *)reqm;
    (void)respm;
    int r =
        req->id[0] != '\0' ? account_txn_run(a, delete_step, (void *)req->id) : AUTHD_ERR_NOT_FOUND;
    if (r == AUTHD_OK)
        clients_cache_forget(req->id);
    admin_audit(ctx, "ClientAdmin/Delete", rpc_ctx_printf(ctx, "client/%s", req->id), r);
    return r;
}

static int
clients_rotate_keys(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__RotateKeysRequest *req = (const void *)reqm;
    Authd__V1__RotateKeysResponse *resp = (void *)respm;
    char kid[SIGNKEYS_KID_MAX];
    int64_t from = 0;
    int r = a->keys != NULL ? signkeys_rotate_at(a, a->keys, req->alg, req->now, kid, &from)
                            : AUTHD_ERR_UNAVAILABLE;
    /* signkeys_rotate logged the kid and algorithm; this is who asked. */
    admin_audit(ctx, "ClientAdmin/RotateKeys",
                r == AUTHD_OK ? rpc_ctx_printf(ctx, "keys/%s", kid) : "keys", r);
    if (r != AUTHD_OK)
        return r;
    resp->kid = rpc_ctx_strdup(ctx, kid);
    resp->active_from = from;
    return resp->kid != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
}

static int
clients_list_keys(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    Authd__V1__ListKeysResponse *resp = (void *)respm;
    struct signkeys_info *v = NULL;
    size_t n = 0;
    (void)reqm;

    if (a->keys == NULL)
        return AUTHD_ERR_UNAVAILABLE;
    const char *access_alg = signkeys_access_alg(a->keys);
    int r = signkeys_list(a->keys, &v, &n);
    if (r != AUTHD_OK)
        return r;
    resp->keys = n > 0 ? rpc_ctx_alloc(ctx, n * sizeof(*resp->keys)) : NULL;
    if (n > 0 && resp->keys == NULL)
        r = AUTHD_ERR_NOMEM;
    for (size_t i = 0; r == AUTHD_OK && i < n; i++) {
        Authd__V1__SigningKeyInfo *k = rpc_ctx_alloc(ctx, sizeof(*k));
        if (k == NULL) {
            r = AUTHD_ERR_NOMEM;
            break;
        }
        authd__v1__signing_key_info__init(k);
        k->kid = rpc_ctx_strdup(ctx, v[i].kid);
        k->alg = rpc_ctx_strdup(ctx, v[i].alg);
        if (k->kid == NULL || k->alg == NULL) {
            r = AUTHD_ERR_NOMEM;
            break;
        }
        k->created_at = v[i].created_at;
        k->retired_at = v[i].retired_at;
        k->published = v[i].published;
        k->active_from = v[i].active_from;
        k->signing = v[i].signing;
        k->access_tokens = v[i].signing && strcmp(v[i].alg, access_alg) == 0;
        resp->keys[resp->n_keys++] = k;
    }
    free(v);
    return r;
}

static int
clients_retire_key(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__RetireKeyRequest *req = (const void *)reqm;
    char alg[SIGNKEYS_ALG_TEXT];
    (void)respm;

    int r = a->keys != NULL ? signkeys_retire(a->keys, req->kid, alg) : AUTHD_ERR_UNAVAILABLE;
    /* The status message names the key, so that authctl's error says which and why. */
    if (r == AUTHD_ERR_NOT_FOUND)
        rpc_ctx_set_message(ctx, rpc_ctx_printf(ctx, "signing key %.64s not found", req->kid));
    else if (r == AUTHD_ERR_INVALID_ARGUMENT)
        rpc_ctx_set_message(ctx, rpc_ctx_printf(ctx,
                                                "signing key %s is the active %s key (it signs "
                                                "now or will); rotate %s first (keys rotate --alg "
                                                "%s) and retire it once its successor signs, or "
                                                "rotate with --now",
                                                req->kid, alg, alg, alg));
    admin_audit(ctx, "ClientAdmin/RetireKey", rpc_ctx_printf(ctx, "keys/%.64s", req->kid), r);
    return r;
}

const struct rpc_method authd_clients_methods[] = {
    {"Put", clients_put, 0, ROLE_ADMIN},
    {"Get", clients_get_rpc, RPC_INLINE, ROLE_ADMIN},
    {"List", clients_list, 0, ROLE_ADMIN},
    {"Delete", clients_delete, 0, ROLE_ADMIN},
    {"RotateKeys", clients_rotate_keys, 0, ROLE_ADMIN},
    {"ListKeys", clients_list_keys, 0, ROLE_ADMIN},
    {"RetireKey", clients_retire_key, 0, ROLE_ADMIN},
};
const size_t authd_clients_n_methods =
    sizeof(authd_clients_methods) / sizeof(authd_clients_methods[0]);
