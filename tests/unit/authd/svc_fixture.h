/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the unit tests of authd's services (test_svc_*.c) share: a real authd over a RocksDB store
 * in a temporary directory, with a key box, signing keys, cheap Argon2 costs and a clock the test
 * moves (svc_fake_now), and calls into its services through rpc_local_call() with the callers'
 * authorize hook, as a gRPC call would reach them. The tests judge behaviour only (request in,
 * answer out), never the modules behind the handlers.
 */
#ifndef AUTHD_TESTS_SVC_FIXTURE_H
#define AUTHD_TESTS_SVC_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "authd/authd.h"
#include "authd/v1/sessions.pb-c.h"
#include "proto/rpc.h"

#define SVC_MAX_SERVICES 16
#define SVC_PASSWORD "correct horse battery staple"
#define SVC_IP "192.0.2.10"

/* Unix seconds every fixture's authd sees; tests move it. Starts on a 30 s step boundary. */
extern int64_t svc_fake_now;

/* Set before svc_fx_setup: 1 opens the RocksDB store with synced writes, as authd runs it (the
 * timing tests, where an fsync must cost what it costs in production); 0 (default): unsynced. */
extern int svc_store_sync;

struct callers;
struct secretbox;
struct signkeys;

struct svc_fx {
    char dir[64];
    char spec[512];  /* what store_open was given: the directory, or postgres:CONNINFO */
    char schema[64]; /* PostgreSQL: this test's own schema */
    int own_store;   /* a replica that opened its own handle on the store (closes it) */
    struct store *st;
    struct secretbox *box;
    struct authd a;
    struct callers *callers[8]; /* by role bits: anonymous callers holding those roles */
    struct rpc_service svcs[SVC_MAX_SERVICES];
    size_t n_svcs;
};

/* cmocka setup and teardown: a fresh store, authd and clock for each test. The store is RocksDB in
 * a temporary directory, or with AUTHD_TEST_STORE=postgres a fresh schema on the PostgreSQL that
 * AUTHD_TEST_PG names (tests/pg/with-cluster). */
int svc_fx_setup(void **state);
int svc_fx_teardown(void **state);

/*
 * A second authd over f's store and key box: its own configuration cache, signing-key set,
 * serial locks and callers, sharing only the store, as another authd process on the same
 * database would. With AUTHD_TEST_STORE=postgres (see svc_fx_setup) it opens a handle of its own
 * (its own connections) on f's database and schema. The same settings and clock as f. Free with
 * svc_fx_replica_free before f's teardown.
 */
struct svc_fx *svc_fx_replica(struct svc_fx *f);
void svc_fx_replica_free(struct svc_fx *r);

/*
 * Calls method of service ("Sessions" for authd.v1.Sessions, "Check" of "grpc.health.v1.Health"
 * by its full name) as a caller holding roles (ROLE_* bits), through the callers' authorize
 * hook. As rpc_local_call(): *resp is the caller's (rpc_msg_free), st may be NULL.
 */
int svc_call(struct svc_fx *f, unsigned roles, const char *service, const char *method,
             const ProtobufCMessage *req, ProtobufCMessage **resp, struct rpc_status *st);

/* svc_call(), and *deferred (not NULL) set to whether the call's trial deferred it to a worker
 * (rpc.h: RPC_TRY_INLINE; 0 when it ran inline or its method has no trial). */
int svc_call_trial(struct svc_fx *f, unsigned roles, const char *service, const char *method,
                   const ProtobufCMessage *req, ProtobufCMessage **resp, struct rpc_status *st,
                   int *deferred);

/* svc_call() of a call with a deadline deadline_ms from now (0: none), as a gRPC client sets. */
int svc_call_by(struct svc_fx *f, unsigned roles, const char *service, const char *method,
                const ProtobufCMessage *req, ProtobufCMessage **resp, struct rpc_status *st,
                int64_t deadline_ms);

/* Users.Create (as admin) with email and password; the new user's id into id (64 bytes). */
void svc_user_create(struct svc_fx *f, const char *email, const char *password, char *id);

/*
 * Sessions.Login (as the edge) from SVC_IP. On AUTHD_OK the session token is copied into token
 * (when not NULL; 256 bytes) and *authenticated says whether the session is complete (0: it
 * waits for a second factor).
 */
int svc_login(struct svc_fx *f, const char *email, const char *password, char *token,
              int *authenticated, struct rpc_status *st);

/*
 * Enrols the user of session token in TOTP (BeginEnrollment, then ConfirmEnrollment with the
 * current code at svc_fake_now). The base32 secret into secret (64 bytes), the first recovery
 * code into recovery (when not NULL; 32 bytes).
 */
void svc_enrol_totp(struct svc_fx *f, const char *token, char *secret, char *recovery);

/* The TOTP code (SHA1, 6 digits, 30 s: authd's defaults) of base32 secret at unix time t. */
void svc_totp(const char *secret, int64_t t, char *code);

/* Sessions.VerifySecondFactor (as the edge) with code for the pending session token. */
int svc_verify(struct svc_fx *f, const char *token, const char *code, const char *recovery,
               Authd__V1__SessionResponse **out, struct rpc_status *st);

/* Sessions.Get (as the edge) of session token: AUTHD_OK while the session is valid. */
int svc_session_get(struct svc_fx *f, const char *token);

#endif
