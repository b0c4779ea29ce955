/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The daemon's shared state and the service tables it serves. One struct authd is created by
 * main.c and handed to every RPC handler as the service arg; it owns the store and settings.
 */
#ifndef AUTHD_AUTHD_H
#define AUTHD_AUTHD_H

#include <stdint.h>
#include <pthread.h>

#include "authd/v1/admin.pb-c.h"
#include "authd/otp.h"
#include "authd/password.h"
#include "authd/secretbox.h"
#include "authd/throttle.h"

struct signkeys;
#include "proto/rpc.h"
#include "storage/store.h"

struct authd_settings {
    struct password_params argon2; /* cost of new password hashes */
    int64_t session_ttl;           /* seconds, when AuthConfig.asidCookieMaxAge is 0 */
    int64_t signup_ttl;            /* seconds a confirmation link stays valid */
    int64_t reset_ttl;             /* seconds a password-reset link stays valid */
    int64_t code_ttl;              /* seconds an OAuth authorization code stays valid */
    char token_alg[8];             /* JWS algorithm of issued tokens: "ES256" or "RS256" */
    size_t token_cache;            /* verified tokens remembered (tokcache.h); 0 = none */
    /* Seconds between a rotation publishing a key and the key signing (signkeys_rotate_at); 0:
     * it signs at once (authd_settings_default, for the unit tests; authd's --key-publish-delay
     * defaults to five minutes). */
    int64_t key_publish_delay;
    int64_t remember_ttl; /* seconds a remembered browser lives; 0 = rememberBrowserDays (tests) */
};

/* The default of authd_settings.token_cache: 8192 tokens, at most ~9 MiB (claims of up to
 * TOKCACHE_CLAIMS_MAX = 1 KiB each; a usual access token's are ~300 bytes: ~3 MiB). */
#define AUTHD_TOKEN_CACHE_DEFAULT 8192

#define AUTHD_TRANSPORTS_MAX 8      /* twoFactor.transports: at most this many names */
#define AUTHD_TRANSPORT_NAME_MAX 32 /* characters of one (TWOFACTOR_TRANSPORT_MAX) */

/* The parts of the AuthConfig that authd uses on hot paths, with defaults applied. */
struct authd_cfg {
    int64_t asid_max_age;             /* asidCookieMaxAge, 0 = none */
    char issuer[256];                 /* twoFactor.issuerName, default "authd" */
    unsigned past_steps;              /* twoFactor.validPastTokensCount, default 1 */
    struct otp_params otp;            /* twoFactor.{algorithm, digits, period} */
    struct throttle_policies lockout; /* lockout (throttle.h reads it) */
    int64_t remember_days;            /* twoFactor.rememberBrowserDays, 0 = off */
    /* twoFactor.transports, the transports a user may choose (none: any valid name) */
    char transports[AUTHD_TRANSPORTS_MAX][AUTHD_TRANSPORT_NAME_MAX + 1];
    unsigned n_transports;
};

/* AuthConfig.webauthn with its defaults applied (webauthn_store.h reads it; kept apart from
 * struct authd_cfg so that the hot paths' copies of that stay small). rp_id "" = off. */
#define AUTHD_WEBAUTHN_ORIGINS_MAX 16
#define AUTHD_WEBAUTHN_ORIGIN_MAX 255 /* ORIGIN_MAX of origins.h */
#define AUTHD_WEBAUTHN_RP_ID_MAX 253  /* a DNS name */
#define AUTHD_WEBAUTHN_RP_NAME_MAX 128
struct authd_webauthn {
    char rp_id[AUTHD_WEBAUTHN_RP_ID_MAX + 1];
    char rp_name[AUTHD_WEBAUTHN_RP_NAME_MAX + 1]; /* rpName, else theme.title, else "authd" */
    char origins[AUTHD_WEBAUTHN_ORIGINS_MAX][AUTHD_WEBAUTHN_ORIGIN_MAX + 1];
    unsigned n_origins;
    int passwordless;       /* default 1 */
    int require_uv;         /* userVerification "required" (default "preferred": 0) */
    int64_t timeout;        /* seconds, default 300 */
    int64_t reauth_seconds; /* a fresh sign-in, default 600 */
};

/* The default of struct authd.refresh_ms: shared state changed by another replica is seen within
 * a second. */
#define AUTHD_REFRESH_MS_DEFAULT 1000

/* Stripes of the in-process serial locks of brute-force judging (guard.c). A stripe is held
 * across the judged transaction's synced commit, so two subjects that share one wait a whole
 * fsync for nothing: with 32 workers busy, 256 stripes made about one attempt in nine wait so,
 * 4096 about one in 130 (160 KiB of mutexes). */
#define AUTHD_SERIAL_STRIPES 4096

struct authd {
    struct store *store;
    struct authd_settings set;
    /* Clock, replaceable by tests. Unix seconds. */
    int64_t (*now)(void);
    /* Key-encryption box for TOTP secrets and signing keys (owned by the caller of authd_init). */
    struct secretbox *box;
    /* Token signing keys (owned by main; NULL until loaded, and in tests that need none). */
    struct signkeys *keys;
    /* The OAuth issuer: the edge's public base URL ("iss" of every token). */
    char issuer[512];
    /* Cached AuthConfig. Another replica may change the stored one: every use rereads the
     * stored record when the copy is older than refresh_ms (authd_cfg_refresh), so a change
     * reaches this authd within refresh_ms plus one read (docs/ARCHITECTURE.md, "What a
     * replica keeps in memory"). cfg, cfg_checked_ms and cfg_digest are under cfg_lock. */
    pthread_mutex_t cfg_lock;
    struct authd_cfg cfg;
    struct authd_webauthn webauthn; /* also under cfg_lock; webauthn_store.h */
    int64_t cfg_checked_ms;         /* monotonic ms of the last reread */
    uint8_t cfg_digest[32];         /* SHA-256 of the stored record the copy was made from */
    /* How old (ms) a copy of shared state (the AuthConfig here, the signing keys in signkeys.c)
     * may get before a use rereads it; AUTHD_REFRESH_MS_DEFAULT, 0 = reread on every use. */
    int refresh_ms;
    /* In-process front of guard.c's serial locks: per authd, so two authd in one process (the
     * unit tests' replicas) only meet in the store, as two processes do. */
    pthread_mutex_t serial[AUTHD_SERIAL_STRIPES];
};

/* A consistent copy of the cached configuration (refreshed first when due, authd_cfg_refresh). */
void authd_cfg_get(struct authd *a, struct authd_cfg *out);

/*
 * Rereads the stored AuthConfig when the cached copy is older than a->refresh_ms (one thread
 * rereads, the others go on with the copy meanwhile) and applies it when the stored bytes
 * changed. A storage error keeps the copy (logged). Every reader of a->cfg calls this first.
 */
void authd_cfg_refresh(struct authd *a);

/* The monotonic clock in milliseconds (for refresh ages; never the wall clock). */
int64_t authd_mono_ms(void);

/* Replaces the cached configuration from c (NULL: all defaults). */
void authd_cfg_apply(struct authd *a, const Authd__V1__AuthConfig *c);

/* Fills s with the defaults (OWASP Argon2id, 12 h sessions, 24 h signup links, 1 h resets). */
void authd_settings_default(struct authd_settings *s);

/*
 * Prepares a (caller-allocated) authd over an open store and a key box (both stay owned by the
 * caller; box may be NULL in tests that do not touch 2FA): loads the cached config. AUTHD_OK or
 * a storage error.
 */
int authd_init(struct authd *a, struct store *st, struct secretbox *box,
               const struct authd_settings *s);

/* Releases what authd_init took (not the store). */
void authd_cleanup(struct authd *a);

/* Session lifetime in seconds for a new session. */
int64_t authd_session_ttl(struct authd *a);

/*
 * The services authd serves, with their method tables, bound to a. Fills svcs (capacity cap)
 * and returns the number written.
 */
size_t authd_services(struct authd *a, struct rpc_service *svcs, size_t cap);

/* Per-service tables, defined in svc_*.c. */
extern const struct rpc_method authd_users_methods[];
extern const size_t authd_users_n_methods;
extern const struct rpc_method authd_sessions_methods[];
extern const size_t authd_sessions_n_methods;
extern const struct rpc_method authd_signup_methods[];
extern const size_t authd_signup_n_methods;
extern const struct rpc_method authd_reset_methods[];
extern const size_t authd_reset_n_methods;
extern const struct rpc_method authd_admin_methods[];
extern const size_t authd_admin_n_methods;
extern const struct rpc_method authd_twofactor_methods[];
extern const size_t authd_twofactor_n_methods;
extern const struct rpc_method authd_oauth_methods[];
extern const size_t authd_oauth_n_methods;
extern const struct rpc_method authd_clients_methods[];
extern const size_t authd_clients_n_methods;
extern const struct rpc_method authd_webauthn_methods[];
extern const size_t authd_webauthn_n_methods;
extern const struct rpc_method authd_health_methods[];
extern const size_t authd_health_n_methods;

#endif
