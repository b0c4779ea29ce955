/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one adapter between gRPC core (C API) and protobuf-c. Only proto/rpc_*.c include gRPC
 * headers. A server serves protobuf-c service descriptors whose methods are bound to handlers;
 * a client makes unary calls with a deadline.
 *
 * Errors travel as a gRPC status code (mapped from enum authd_err by rpc_status_from_err, the
 * only such mapping) plus trailing metadata AUTHD_ERR_MD_KEY = authd_err_reason(err), which the
 * client maps back, so callers on both sides only ever see enum authd_err. A refusal's
 * structured details (its OAuth error code, how long a lockout lasts) travel as trailing
 * metadata of their own (rpc_ctx_set_oauth_error, rpc_ctx_set_retry_after) into fields of
 * struct rpc_status; the status message is text for people, never parsed.
 */
#ifndef AUTHD_PROTO_RPC_H
#define AUTHD_PROTO_RPC_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* ---- server ---------------------------------------------------------------------------- */

/* Per-call context; borrowed by the handler for the duration of the call only. */
struct rpc_ctx;

/*
 * A method handler. req is the decoded request (borrowed; never NULL: an absent message
 * decodes as the default instance). resp is an initialised, empty response message of the
 * method's output type, owned by the adapter: the handler fills its fields with memory from
 * rpc_ctx_alloc()/rpc_ctx_strdup() (or static storage), never with malloc'd memory. Returns
 * AUTHD_OK, or an enum authd_err that becomes the call's status (resp is then not sent).
 * After the call, the adapter wipes every string and bytes field of req and resp and the
 * arena, so handlers may put secrets there.
 */
typedef int (*rpc_handler_fn)(struct rpc_ctx *ctx, const ProtobufCMessage *req,
                              ProtobufCMessage *resp);

/* Method flags. */
#define RPC_INLINE 0x1u /* cheap and non-blocking: runs on the completion-queue thread */
/*
 * A server-streaming watch (grpc.health.v1 Health/Watch): the handler's answer is the stream's
 * one message, and the stream then stays open, silent, until the client cancels it, its
 * deadline passes or the server stops (gRPC's client-side health checking reads "still
 * serving" from a stream that stays open). A refusal ends the call with its status as usual.
 * At most RPC_WATCH_MAX streams are held per server; beyond that a watch is answered
 * UNIMPLEMENTED, which makes gRPC clients assume the server healthy instead of unhealthy.
 * rpc_server_stop's grace does not wait for held streams. Observed with status CANCELLED and
 * the stream's length when it ends.
 */
#define RPC_WATCH 0x2u
#define RPC_WATCH_MAX 1024
/*
 * Cheap in the common case, blocking in some: the handler first runs on the completion-queue
 * thread as a trial (rpc_ctx_trying() is 1), and where it would block (a slow hash, a synced
 * write, a lock another call may hold for long) it calls rpc_ctx_defer() and returns that at
 * once. The call then runs again from the start on the worker pool, with the same decoded
 * request (authorized once), a fresh response and the status details cleared. The authorize
 * hook runs in the trial as well (rpc_ctx_trying() 1) and may defer too (then the worker
 * authorizes again); rpc_server_opts.no_trials turns trials off for a server. A trial defers
 * before any side effect (a write, a counted failure, an audit event), so that the second run
 * does everything once. Saves the hand-off to a worker and back (two thread wake-ups per call).
 */
#define RPC_TRY_INLINE 0x4u

/*
 * One row per method: its handler and its rules, side by side, so that a new method is written
 * in two places only (the .proto and its row).
 */
struct rpc_method {
    const char *name; /* method name as in the service descriptor, e.g. "Create" */
    rpc_handler_fn fn;
    unsigned flags; /* RPC_INLINE, RPC_TRY_INLINE, or 0 to run on the worker pool (may block);
                       | RPC_WATCH */
    /* Who may call it: a bit set whose meaning is the authorize hook's (authd: ROLE_* of
     * authd/roles.h), handed to the hook with the row. 0 means nobody, when a hook is set. */
    unsigned roles;
};

struct rpc_service {
    const ProtobufCServiceDescriptor *desc; /* e.g. &authd__v1__users__descriptor */
    const struct rpc_method *methods;       /* matched to desc by name; unlisted: UNIMPLEMENTED */
    size_t n_methods;
    void *arg; /* handed to handlers by rpc_ctx_arg() */
};

/*
 * TLS material, as PEM text (not file names), borrowed for the duration of the call that takes
 * it (rpc_server_start, rpc_client_new_tls).
 *   server: ca_pem verifies client certificates (mTLS): a client that presents one must chain to
 *           it, a client that presents none may still connect (it then has no identity and only a
 *           bearer token can give it roles); cert_pem/key_pem are the server's own chain and key.
 *   client: ca_pem verifies the server; cert_pem/key_pem are the client's own chain and key
 *           (both NULL: no client certificate); server_name, when not NULL, is the name checked
 *           against the server's certificate instead of the target's host.
 */
struct rpc_tls {
    const char *ca_pem;
    const char *cert_pem;
    const char *key_pem;
    const char *server_name; /* client only */
};

/*
 * Called for every call to a served method before its request is decoded, on the thread that
 * would run the handler. service is the full service name ("authd.v1.Users"), m the method's
 * row (m->name "Create", m->roles the roles it allows; borrowed, static). Returns AUTHD_OK to go
 * on, or an enum authd_err (e.g. AUTHD_ERR_PERMISSION_DENIED, AUTHD_ERR_UNAUTHENTICATED) that
 * becomes the call's status; the handler then does not run. It may use every rpc_ctx_* accessor
 * and set a status message.
 */
typedef int (*rpc_authorize_fn)(void *arg, struct rpc_ctx *ctx, const char *service,
                                const struct rpc_method *m);

/*
 * Called once after every call is answered, registered or not (service and method are "" for
 * a method nobody registered), with the gRPC status code sent and the nanoseconds from the
 * call's arrival to its answer. Must be cheap and thread-safe (metrics).
 */
typedef void (*rpc_observe_fn)(void *arg, const char *service, const char *method, int status,
                               uint64_t elapsed_ns);

struct rpc_server_opts {
    const char *listen;         /* "127.0.0.1:50051"; port 0 picks a free one */
    int cq_threads;             /* completion-queue threads; 0 = number of cores */
    int workers;                /* worker threads for blocking handlers; 0 = 32 */
    size_t max_message;         /* largest request accepted (bytes); 0 = 1 MiB */
    const struct rpc_tls *tls;  /* NULL: plaintext */
    rpc_authorize_fn authorize; /* NULL: every caller may call every method */
    rpc_observe_fn observe;     /* NULL: none */
    void *hook_arg;             /* handed to authorize and observe */
    /* 1: RPC_TRY_INLINE methods skip the trial and go to the worker pool before authorizing,
     * as if their flag were 0. For a service whose authorize hook or handlers read a store over
     * the network (authd on PostgreSQL: store_local() 0), where a trial would put round trips
     * on the completion-queue thread. */
    int no_trials;

    /*
     * Limits on what any caller (authorised or not: they apply before a request byte is read)
     * may hold. 0 picks the default; a negative value turns an off-able limit off.
     */
    int max_streams;     /* concurrent calls per connection (HTTP/2 SETTINGS; gRPC drops a
                            client that opens more); 0 = RPC_DEFAULT_MAX_STREAMS */
    size_t memory_quota; /* bytes gRPC's transports may use (a resource quota shared by every
                            connection); 0 = RPC_DEFAULT_MEMORY_QUOTA */
    int max_idle_ms;     /* close a connection without calls for this long; 0 = default, <0 never */
    int max_age_ms;      /* ask a connection to go away (GOAWAY) at this age; 0 = default,
                            <0 never */
    int max_age_grace_ms; /* then close it this much later whatever still runs; 0 = default */
    int max_call_ms;      /* a call without a deadline, or with a later one, is cancelled with
                             DEADLINE_EXCEEDED this long after it arrived (held RPC_WATCH streams
                             excepted); 0 = RPC_DEFAULT_MAX_CALL_MS, <0 never */
    long max_waiting;     /* calls whose request message has not come yet, in all: beyond it
                             the oldest is cancelled with RESOURCE_EXHAUSTED; 0 =
                             RPC_DEFAULT_MAX_WAITING, <0 no limit */
};

#define RPC_DEFAULT_MAX_STREAMS 128
#define RPC_DEFAULT_MEMORY_QUOTA ((size_t)128 * 1024 * 1024)
#define RPC_DEFAULT_MAX_IDLE_MS (300 * 1000)
#define RPC_DEFAULT_MAX_AGE_MS (3600 * 1000)
#define RPC_DEFAULT_MAX_AGE_GRACE_MS (60 * 1000)
#define RPC_DEFAULT_MAX_CALL_MS (60 * 1000)
#define RPC_DEFAULT_MAX_WAITING 1024

struct rpc_server;

/*
 * Binds, registers every method of every service, and starts serving. The service array is
 * copied (it may be a local of the caller); the method tables, descriptors and args it points
 * to must outlive the server. On success *out is the server and *bound_port the
 * port bound. Returns AUTHD_OK, AUTHD_ERR_UNAVAILABLE when the address cannot be bound (or,
 * with opts->tls, when gRPC cannot load the certificate and key: it does not tell the two
 * apart), or AUTHD_ERR_INVALID_ARGUMENT for a method name not in its descriptor or a tls
 * without all three of ca_pem, cert_pem and key_pem.
 * Blocking (non-RPC_INLINE) calls wait for a worker in a bounded queue; when it is full, a call
 * is answered AUTHD_ERR_UNAVAILABLE ("server busy"), and one whose deadline passed while it
 * waited is answered AUTHD_ERR_DEADLINE without running its handler.
 */
int rpc_server_start(const struct rpc_server_opts *opts, const struct rpc_service *svcs,
                     size_t n_svcs, struct rpc_server **out, int *bound_port);

/*
 * Stops accepting calls, lets calls in flight finish for up to grace_ms, cancels the rest,
 * joins every thread and frees the server. NULL is a no-op.
 */
void rpc_server_stop(struct rpc_server *srv, int grace_ms);

/* The arg of the service this call belongs to. */
void *rpc_ctx_arg(struct rpc_ctx *ctx);

/* The peer address as gRPC reports it, e.g. "ipv4:127.0.0.1:40000". Never NULL. */
const char *rpc_ctx_peer(struct rpc_ctx *ctx);

/*
 * The value of request metadata key (lowercase), NUL-terminated in the call's arena, or NULL
 * when absent.
 */
const char *rpc_ctx_metadata(struct rpc_ctx *ctx, const char *key);

/*
 * The identities of the peer's verified client certificate, typed, so that one kind of name can
 * never pass for another: "uri:<v>" for each URI SAN (e.g. "uri:spiffe://authd.dev/edge"),
 * "dns:<v>" for each DNS SAN, "email:<v>" for each e-mail SAN, "ip:<v>" for each IP SAN, and
 * "cn:<v>" for the subject's common name only when the certificate has no SAN of those types
 * (with SANs, the CN is not an identity). Values with an embedded NUL are dropped. Stores up to
 * max NUL-terminated strings (in the call's arena) in out and returns how many it stored; 0 for
 * a plaintext call or a TLS client without a certificate.
 */
size_t rpc_ctx_peer_identities(struct rpc_ctx *ctx, const char **out, size_t max);

/* 1 when the call came over TLS, 0 when over plaintext. */
int rpc_ctx_is_tls(struct rpc_ctx *ctx);

/*
 * Who the authorize hook decided the caller is (e.g. "spiffe://authd.dev/edge", "client:svc1",
 * "loopback"), copied into the call's arena, so handlers can name the caller in audit lines.
 * rpc_ctx_caller() returns it, or "" when none was set.
 */
void rpc_ctx_set_caller(struct rpc_ctx *ctx, const char *who);
const char *rpc_ctx_caller(struct rpc_ctx *ctx);

/*
 * The rights the authorize hook granted the caller (bit flags whose meaning is the hook's, e.g.
 * authd's ROLE_* roles), so a handler can allow part of a method only to some callers.
 * rpc_ctx_grants() returns them, or ~0u (everything) when no hook set any: a server without an
 * authorize hook lets every caller do everything.
 */
void rpc_ctx_set_grants(struct rpc_ctx *ctx, unsigned bits);
unsigned rpc_ctx_grants(struct rpc_ctx *ctx);

/* Zeroed memory that lives until the call is answered, then is wiped. NULL on NOMEM. */
void *rpc_ctx_alloc(struct rpc_ctx *ctx, size_t n);

/* A copy of s in the call's arena (NULL gives ""); NULL on NOMEM. */
char *rpc_ctx_strdup(struct rpc_ctx *ctx, const char *s);

/* A printf-formatted string in the call's arena; NULL on NOMEM. */
char *rpc_ctx_printf(struct rpc_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A fresh, initialised message of type desc in the call's arena (for nested messages). */
void *rpc_ctx_msg(struct rpc_ctx *ctx, const ProtobufCMessageDescriptor *desc);

/* Sets the human-readable status message sent with an error (copied). Never put secrets in it. */
void rpc_ctx_set_message(struct rpc_ctx *ctx, const char *msg);

#define RPC_OAUTH_ERROR_MAX 32 /* an OAuth error code's length, with its NUL */

/*
 * Structured details of a refusal, each sent as trailing metadata of its own next to
 * AUTHD_ERR_MD_KEY, only when the handler fails (on success they are dropped), so that a client
 * reads them from struct rpc_status instead of parsing the status message:
 *   rpc_ctx_set_oauth_error: AUTHD_OAUTH_ERROR_MD_KEY, the OAuth error code (RFC 6749 §5.2,
 *     e.g. "invalid_grant"), 1 to RPC_OAUTH_ERROR_MAX-1 characters of [a-z0-9_] (copied);
 *     anything else is ignored and clears it.
 *   rpc_ctx_set_retry_after: AUTHD_RETRY_AFTER_MD_KEY, the seconds until a lockout ends, in
 *     decimal; seconds < 1 clears it.
 * Setting one again replaces it.
 */
void rpc_ctx_set_oauth_error(struct rpc_ctx *ctx, const char *code);
void rpc_ctx_set_retry_after(struct rpc_ctx *ctx, int64_t seconds);

/*
 * Milliseconds left before the call's deadline (0 once it has passed): the client's, or the
 * one the server imposed (rpc_server_opts.max_call_ms) when the client set none or a later one;
 * INT64_MAX when neither applies. Blocking handlers may use it to give up early.
 */
int64_t rpc_ctx_deadline_ms_left(struct rpc_ctx *ctx);

/*
 * 1 while an RPC_TRY_INLINE handler runs as a trial on a completion-queue thread, where it must
 * not block; 0 on the worker pool, for every other method and for local calls made without a
 * trial.
 */
int rpc_ctx_trying(const struct rpc_ctx *ctx);

/*
 * Ends a trial (rpc_ctx_trying() 1): the handler returns what this returns
 * (AUTHD_ERR_UNAVAILABLE) at once, and the call runs again on the worker pool (RPC_TRY_INLINE).
 * Outside a trial it changes nothing and returns AUTHD_ERR_INTERNAL (a handler bug).
 */
int rpc_ctx_defer(struct rpc_ctx *ctx);

/* ---- status mapping ------------------------------------------------------------------- */

/* The gRPC status code (grpc_status_code value) for an enum authd_err. The only such mapping. */
int rpc_status_from_err(int err);

/* The enum authd_err for a gRPC status code when no authd-error reason came with it. */
int rpc_err_from_status(int code);

/* ---- client ---------------------------------------------------------------------------- */

struct rpc_client;

/*
 * Opens a channel to target, plaintext. Connects lazily. target is one of
 *   "HOST:PORT"                    one authd ("127.0.0.1:50051", "authd.internal:50051");
 *   "IP:PORT,IP:PORT,..."          several replicas, IP literals of one family ("[::1]:5001"
 *                                  for IPv6), handed to gRPC as "ipv4:..."/"ipv6:...";
 *   "dns:///NAME:PORT"             every address NAME resolves to (re-resolved by gRPC);
 *   any other gRPC target URI      ("ipv4:A:P,B:P", "unix:/path").
 * Every channel spreads its calls over the addresses with gRPC core's round_robin policy and
 * client-side health checking (grpc.health.v1 Health/Watch of "", for every target but a
 * single IP:PORT; a server without Watch is taken for healthy): an address whose connection is
 * down, or whose watch stream says it is not serving, gets no calls while another is up (gRPC tries
 * it again with backoff, at least every 5 s, and uses it once it answers); a call already sent to a
 * replica that dies fails (AUTHD_ERR_UNAVAILABLE) and is not retried here. A list's first address
 * is the channel's authority (and TLS name, below). AUTHD_OK, AUTHD_ERR_NOMEM or
 * AUTHD_ERR_INVALID_ARGUMENT (a list with a name, a missing port, both IPv4 and IPv6, longer than
 * 4096 bytes). Thread-safe: one client serves many threads.
 */
int rpc_client_new(const char *target, struct rpc_client **out);

/*
 * rpc_client_new() over TLS (see struct rpc_tls). Every address is checked against one name:
 * tls->server_name, else the host of target (of a list: its first address, so a list of
 * different hosts needs tls->server_name). AUTHD_ERR_INVALID_ARGUMENT when tls lacks ca_pem,
 * gives only one of cert_pem/key_pem, or a list of different hosts comes without server_name. A
 * server whose certificate does not verify, or that refuses the client's, makes calls fail with
 * AUTHD_ERR_UNAVAILABLE.
 */
int rpc_client_new_tls(const char *target, const struct rpc_tls *tls, struct rpc_client **out);

/* Closes the channel. NULL is a no-op. No call may be in flight. */
void rpc_client_free(struct rpc_client *c);

/* Details of a failed call; all strings NUL-terminated, possibly empty. */
struct rpc_status {
    int code;          /* gRPC status code */
    char reason[64];   /* AUTHD_ERR_MD_KEY trailing metadata */
    char message[256]; /* status details: human text; only the prefix AUTHD_REFUSAL_WRONG_CODES
                          (common/err.h) is read, by the edge, to word a code lockout */
    char oauth_error[RPC_OAUTH_ERROR_MAX]; /* AUTHD_OAUTH_ERROR_MD_KEY when well-formed, or "" */
    int64_t retry_after; /* AUTHD_RETRY_AFTER_MD_KEY seconds (at most RPC_RETRY_AFTER_MAX), or 0 */
};

#define RPC_RETRY_AFTER_MAX ((int64_t)1 << 31) /* larger values read as this */

/*
 * A blocking unary call. method is the full path ("/authd.v1.Users/Create"). On AUTHD_OK,
 * *resp is the decoded answer (of type resp_desc), owned by the caller: free with
 * rpc_msg_free(). On failure *resp is NULL and the result is the authd_err from the server's
 * reason (or from the status code when there was none; AUTHD_ERR_DEADLINE on timeout,
 * AUTHD_ERR_UNAVAILABLE when authd cannot be reached). st may be NULL. timeout_ms must be
 * positive (AUTHD_ERR_INVALID_ARGUMENT otherwise): every call has a deadline.
 */
int rpc_call(struct rpc_client *c, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int timeout_ms,
             struct rpc_status *st);

/*
 * rpc_call() with extra request metadata: md is NULL or a NULL-terminated list of key, value,
 * key, value... (keys lowercase, at most 16 pairs; borrowed for the duration of the call).
 * An illegal key or value gives AUTHD_ERR_INVALID_ARGUMENT. rpc_call() is rpc_call_md() with
 * md NULL.
 */
int rpc_call_md(struct rpc_client *c, const char *method, const char *const *md,
                const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                ProtobufCMessage **resp, int timeout_ms, struct rpc_status *st);

/*
 * Calls in flight without a thread each (the edge's hot path): rpc_call_start() begins a call
 * on a queue and returns at once; whoever serves the queue (one thread calling
 * rpc_queue_next() in a loop) gets each call back when it finished, and rpc_call_finish() gives
 * its outcome with rpc_call()'s contract. gRPC ends every call at its deadline, so every started
 * call comes back exactly once, also when authd is slow or down.
 */
struct rpc_queue;
struct rpc_pending;

/* A new queue. AUTHD_OK or AUTHD_ERR_NOMEM. */
int rpc_queue_new(struct rpc_queue **out);

/*
 * Prepares a call of method (rpc_call()'s arguments): req is borrowed for this call only (it is
 * serialized before the return; the serialized copy is wiped when the call is finished), and
 * the deadline starts now. user is handed back by rpc_queue_next(). Nothing is sent until
 * rpc_call_start(). On AUTHD_OK *out is the call, else NULL.
 */
int rpc_call_prepare(struct rpc_client *c, struct rpc_queue *q, const char *method,
                     const ProtobufCMessage *req, int timeout_ms, void *user,
                     struct rpc_pending **out);

/*
 * Sends a prepared call; from then on the queue owns p until rpc_queue_next() returns it.
 * AUTHD_OK, or AUTHD_ERR_INTERNAL when gRPC refused the batch: p is then still the caller's,
 * to free with rpc_call_finish() (which reports the same error).
 */
int rpc_call_start(struct rpc_pending *p);

/*
 * Ends a call still in flight early (it then finishes as CANCELLED, through the queue as usual).
 * Safe from any thread until rpc_queue_next() returned the call.
 */
void rpc_call_cancel(struct rpc_pending *p);

/*
 * Waits for the next finished call: 1 with *p and *user (the caller owns p now and must give it
 * to rpc_call_finish()), or 0 once the queue was shut down and every call came back.
 */
int rpc_queue_next(struct rpc_queue *q, struct rpc_pending **p, void **user);

/* rpc_queue_next() waiting at most wait_ms (< 0: no bound): -1 when nothing came back by then. */
int rpc_queue_poll(struct rpc_queue *q, int wait_ms, struct rpc_pending **p, void **user);

/*
 * A backstop for a call gRPC never ended: when p (in flight) is past its deadline plus the
 * margin a blocking call waits (rpc_call()), cancels it (once; it finishes as
 * DEADLINE_EXCEEDED, as the blocking call does) and returns 1; else 0. Only the thread that
 * serves the queue may call it, before rpc_queue_next() returned p.
 */
int rpc_call_expire_overdue(struct rpc_pending *p);

/*
 * The outcome of a finished call, with rpc_call()'s contract for resp_desc, resp (may be NULL:
 * the answer is dropped) and st (may be NULL); frees p, wiping what it received.
 */
int rpc_call_finish(struct rpc_pending *p, const ProtobufCMessageDescriptor *resp_desc,
                    ProtobufCMessage **resp, struct rpc_status *st);

/* No call may be started after this; rpc_queue_next() returns 0 once the last one is back. */
void rpc_queue_shutdown(struct rpc_queue *q);

/* Frees a queue after rpc_queue_next() returned 0. NULL is a no-op. */
void rpc_queue_free(struct rpc_queue *q);

/*
 * Wipes every string and bytes field of msg (recursively), then frees it. NULL is a no-op.
 * For messages allocated by protobuf-c's default allocator (rpc_call() answers, unpacked
 * messages), not for those built by hand with static strings.
 */
void rpc_msg_free(ProtobufCMessage *msg);

/* Wipes every string and bytes field of msg (recursively) without freeing. */
void rpc_msg_wipe(ProtobufCMessage *msg);

/*
 * Wipes and drops the unknown fields of msg and of every message inside it; allocator is the one
 * msg was unpacked with (NULL: protobuf-c's default). The server does this to every request it
 * decodes: a handler that stores or copies request data must never carry bytes nobody
 * validated, and protobuf-c accepts some unknown fields (an overlong field number 0) that it
 * refuses to decode once packed again. NULL is a no-op.
 */
void rpc_msg_drop_unknown(ProtobufCMessage *msg, ProtobufCAllocator *allocator);

#endif
