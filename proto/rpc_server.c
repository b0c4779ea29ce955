/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server half of the RPC adapter: gRPC core (C API) serving protobuf-c service
 * descriptors. Completion-queue threads receive calls, decode them and run cheap (RPC_INLINE)
 * handlers on the spot; blocking handlers go through a bounded queue to a worker pool so that
 * an Argon2 hash or a synced write never stalls a cheap call. Each call owns an arena that
 * holds the decoded request, the response and everything the handler allocates; it is wiped
 * when the call is answered, so secrets never outlive the call.
 *
 * Over TLS (mutual when the client presents a certificate, which must then chain to the
 * configured CA), the verified certificate's names are offered to an authorize hook that runs
 * before any request byte is decoded; an observe hook sees every answer (metrics).
 */
#include "proto/rpc.h"

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/cpu.h>
#include <grpc/support/time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "proto/rpc_ctx.h"
#include "proto/rpc_internal.h"

#define RPC_DEFAULT_WORKERS 32
#define RPC_DEFAULT_MAX_MESSAGE (1024 * 1024)
#define RPC_QUEUE_CAP 4096     /* blocking calls waiting for a worker; then "busy" */
#define RPC_SLOTS_PER_METHOD 2 /* requests kept posted per method and completion queue */

/* What a completion-queue event is about; the tag points at one of these. */
enum rpc_tag_kind {
    TAG_REQUEST,  /* a posted request for a call has fired */
    TAG_RECV,     /* the request message of a registered call has arrived (or never will) */
    TAG_BATCH,    /* the answer batch of a call has completed */
    TAG_SHUTDOWN, /* grpc_server_shutdown_and_notify is done */
};

struct rpc_tag {
    enum rpc_tag_kind kind;
};

/* A method of a service descriptor, registered with gRPC. */
struct rpc_reg {
    void *handle; /* from grpc_server_register_method */
    const struct rpc_service *svc;
    const struct rpc_method *m; /* NULL: in the descriptor but not served */
    const ProtobufCMethodDescriptor *md;
    char *path; /* "/pkg.Service/Method" */
};

/* Lists of calls the server may have to cancel (struct rpc_server, under lmu). */
enum rpc_list_id {
    LIST_LIFETIME, /* calls with an imposed deadline, in arrival (= expiry) order */
    LIST_WAITING,  /* calls still waiting for their request message, oldest first */
};

struct rpc_call;

struct rpc_link {
    struct rpc_call *prev, *next;
    int on; /* on the list */
};

struct rpc_list {
    struct rpc_call *head, *tail;
    long n;
};

/* A gRPC call: the handler's context (rpc_ctx.h) and what gRPC needs until it is answered. */
struct rpc_call {
    struct rpc_tag tag; /* first: a tag is the call */
    struct rpc_ctx ctx; /* what the handler sees */
    struct rpc_server *srv;
    const struct rpc_reg *reg; /* NULL: the generic slot, for methods nobody registered */
    int cq_idx;

    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload; /* registered calls (call_receive); NULL for an absent message */
    grpc_call_details details; /* generic calls */
    char *peer;                /* gpr_malloc'd, on first use */
    grpc_auth_context *auth;   /* on first use; released with the call */
    uint64_t arrived_ns;       /* CLOCK_MONOTONIC when the call arrived */
    int status;                /* gRPC status code sent */
    int answered;              /* the answer batch was started (or failed to start) */
    int held;                  /* an RPC_WATCH stream held open, counted in srv->held */
    ProtobufCMessage *req;     /* decoded (in the arena), kept for the run after a trial */

    /* Kept alive until the answer batch completes. */
    grpc_byte_buffer *answer;
    grpc_slice status_details;
    grpc_metadata trailer[3];
    char retry_text[24]; /* the authd-retry-after value */
    int cancelled;

    /* On the server's lists (srv->lmu guards these): LIST_LIFETIME, LIST_WAITING. */
    struct rpc_link links[2];
    uint64_t expires_ns; /* on LIST_LIFETIME: cancelled then */
    int cut;             /* cancelled from a list: the gRPC status sent, else 0 */
};

/* The call a handler's context belongs to. */
static struct rpc_call *
call_of(struct rpc_ctx *ctx)
{
    return (struct rpc_call *)((char *)ctx - offsetof(struct rpc_call, ctx));
}

struct rpc_cq_thread {
    struct rpc_server *srv;
    int cq_idx;
    pthread_t th;
};

struct rpc_server {
    struct rpc_service *svcs; /* our copy of the caller's array (the regs point into it) */
    grpc_server *server;
    grpc_completion_queue **cqs;
    int n_cqs;
    struct rpc_cq_thread *cq_threads;
    int n_cq_threads; /* started */
    pthread_t *workers;
    int n_workers; /* started */
    struct rpc_reg *regs;
    size_t n_regs;
    int started; /* grpc_server_start was called */
    struct rpc_tag shutdown_tag;
    rpc_authorize_fn authorize; /* NULL: every caller may call every method */
    rpc_observe_fn observe;     /* NULL: none */
    void *hook_arg;
    int no_trials; /* rpc_server_opts.no_trials */

    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cv;  /* signalled when active drops to 0 and when shutdown_done is set */
    int stopping;       /* requests are no longer posted */
    int shutdown_done;
    long active; /* calls received and not yet freed */
    long held;   /* of which RPC_WATCH streams held open: the grace does not wait for them */

    pthread_mutex_t qmu; /* guards the worker queue */
    pthread_cond_t qcv;
    struct rpc_call **queue; /* ring of RPC_QUEUE_CAP */
    size_t q_head;
    size_t q_len;
    int q_stop;   /* workers exit once the queue is empty */
    int q_cancel; /* queued calls are answered UNAVAILABLE without running */

    /*
     * The lifetime list: calls whose deadline the server imposed (none given, or a later one
     * than max_call_ns after arrival), in arrival order, which is expiry order since every one
     * gets the same lifetime. The reaper thread cancels each at its expiry. The waiting list:
     * calls whose request message has not come yet; beyond max_waiting the oldest is cancelled.
     */
    uint64_t max_call_ns; /* 0: no lifetime */
    long max_waiting;     /* 0: no limit */
    pthread_mutex_t lmu;
    pthread_cond_t lcv; /* on CLOCK_MONOTONIC: the lifetime list got a first entry, or stop */
    struct rpc_list lists[2];
    uint64_t cut_waiting; /* calls cancelled for max_waiting (logged now and then) */
    int lt_stop;
    int reaper_started;
    pthread_t reaper;
};

/* ---- calls ----------------------------------------------------------------------------- */

static const struct rpc_ctx_ops call_ops;

static struct rpc_call *
ctx_new(struct rpc_server *srv, const struct rpc_reg *reg, int cq_idx)
{
    struct rpc_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->tag.kind = TAG_REQUEST;
    c->srv = srv;
    c->reg = reg;
    c->cq_idx = cq_idx;
    c->deadline = gpr_inf_future(GPR_CLOCK_MONOTONIC);
    grpc_metadata_array_init(&c->md);
    grpc_call_details_init(&c->details);
    c->status_details = grpc_empty_slice();
    rpc_ctx_init(&c->ctx, &call_ops, reg != NULL ? reg->svc->arg : NULL);
    return c;
}

static void
ctx_free(struct rpc_call *c)
{
    if (c == NULL)
        return;
    if (c->payload != NULL) {
        rpc_bb_wipe(c->payload);
        grpc_byte_buffer_destroy(c->payload);
    }
    if (c->answer != NULL)
        grpc_byte_buffer_destroy(c->answer);
    grpc_slice_unref(c->status_details);
    grpc_metadata_array_destroy(&c->md);
    grpc_call_details_destroy(&c->details);
    rpc_ctx_cleanup(&c->ctx);
    if (c->peer != NULL)
        gpr_free(c->peer);
    if (c->auth != NULL)
        grpc_auth_context_release(c->auth);
    if (c->call != NULL)
        grpc_call_unref(c->call);
    free(c);
}

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the maximum call lifetime and the waiting calls ----------------------------------- */

/* Appends c to list id; srv->lmu held. */
static void
list_add_locked(struct rpc_server *srv, enum rpc_list_id id, struct rpc_call *c)
{
    struct rpc_list *l = &srv->lists[id];
    struct rpc_link *k = &c->links[id];

    k->prev = l->tail;
    k->next = NULL;
    if (l->tail != NULL)
        l->tail->links[id].next = c;
    else
        l->head = c;
    l->tail = c;
    l->n++;
    k->on = 1;
}

/* Takes c off list id when it is there; srv->lmu held. */
static void
list_remove_locked(struct rpc_server *srv, enum rpc_list_id id, struct rpc_call *c)
{
    struct rpc_list *l = &srv->lists[id];
    struct rpc_link *k = &c->links[id];

    if (!k->on)
        return;
    if (k->prev != NULL)
        k->prev->links[id].next = k->next;
    else
        l->head = k->next;
    if (k->next != NULL)
        k->next->links[id].prev = k->prev;
    else
        l->tail = k->prev;
    k->prev = k->next = NULL;
    k->on = 0;
    l->n--;
}

static int
lists_used(const struct rpc_server *srv)
{
    return srv->max_call_ns > 0 || srv->max_waiting > 0;
}

/*
 * Cancels c with status (its pending batch then completes and frees it the usual way) and takes
 * it off both lists; srv->lmu held, so that c cannot be freed meanwhile (ctx_finish unlists under
 * lmu first). gRPC sends the status as trailers, then resets the stream; it calls none of our
 * code from here.
 */
static void
list_cut_locked(struct rpc_server *srv, struct rpc_call *c, grpc_status_code status,
                const char *why)
{
    list_remove_locked(srv, LIST_LIFETIME, c);
    list_remove_locked(srv, LIST_WAITING, c);
    c->cut = (int)status;
    grpc_call_cancel_with_status(c->call, status, why, NULL);
}

/*
 * Tracks c, just arrived and about to wait for its request message: on the waiting list (the
 * oldest waiting call is cancelled with RESOURCE_EXHAUSTED when max_waiting already wait) and,
 * when impose is 1, on the lifetime list.
 */
static void
lists_track(struct rpc_call *c, int impose)
{
    struct rpc_server *srv = c->srv;
    int cut = 0;

    if (!lists_used(srv))
        return;
    pthread_mutex_lock(&srv->lmu);
    if (srv->max_waiting > 0) {
        if (srv->lists[LIST_WAITING].n >= srv->max_waiting) {
            list_cut_locked(srv, srv->lists[LIST_WAITING].head, GRPC_STATUS_RESOURCE_EXHAUSTED,
                            "too many calls are waiting for their request message");
            cut = (srv->cut_waiting++ % 1024) == 0;
        }
        list_add_locked(srv, LIST_WAITING, c);
    }
    if (impose) {
        c->expires_ns = c->arrived_ns + srv->max_call_ns;
        if (srv->lists[LIST_LIFETIME].n == 0)
            pthread_cond_signal(&srv->lcv); /* the reaper sleeps without a deadline */
        list_add_locked(srv, LIST_LIFETIME, c);
    }
    pthread_mutex_unlock(&srv->lmu);
    if (cut)
        log_event(LOG_WARN, "rpc_waiting_calls_cut",
                  "limit=%ld note=\"the oldest call waiting for its request was cancelled; "
                  "logged once per 1024\"",
                  srv->max_waiting);
}

/*
 * Takes c off list id (both when id is -1). Once c is off both, the reaper no longer touches
 * it. Returns the status c was cancelled with from a list, or 0.
 */
static int
lists_untrack(struct rpc_call *c, int id)
{
    struct rpc_server *srv = c->srv;
    int cut;

    if (!lists_used(srv))
        return 0;
    pthread_mutex_lock(&srv->lmu);
    if (id != LIST_WAITING)
        list_remove_locked(srv, LIST_LIFETIME, c);
    if (id != LIST_LIFETIME)
        list_remove_locked(srv, LIST_WAITING, c);
    cut = c->cut;
    pthread_mutex_unlock(&srv->lmu);
    return cut;
}

/*
 * A stopping server cancels the calls still waiting for their request message (UNAVAILABLE):
 * they have nothing to finish, and a client that never sends would hold the grace period.
 */
static void
lists_cut_waiting(struct rpc_server *srv)
{
    if (srv->max_waiting == 0)
        return;
    pthread_mutex_lock(&srv->lmu);
    while (srv->lists[LIST_WAITING].head != NULL)
        list_cut_locked(srv, srv->lists[LIST_WAITING].head, GRPC_STATUS_UNAVAILABLE,
                        "server shutting down");
    pthread_mutex_unlock(&srv->lmu);
}

/* The reaper: cancels each call of the lifetime list at its expiry with DEADLINE_EXCEEDED. */
static void *
reaper_main(void *arg)
{
    struct rpc_server *srv = arg;

    pthread_mutex_lock(&srv->lmu);
    while (!srv->lt_stop) {
        struct rpc_call *c = srv->lists[LIST_LIFETIME].head;
        uint64_t now = now_ns();

        if (c == NULL) {
            pthread_cond_wait(&srv->lcv, &srv->lmu);
            continue;
        }
        if (c->expires_ns > now) {
            struct timespec ts = {.tv_sec = (time_t)(c->expires_ns / 1000000000u),
                                  .tv_nsec = (long)(c->expires_ns % 1000000000u)};
            pthread_cond_timedwait(&srv->lcv, &srv->lmu, &ts);
            continue;
        }
        list_cut_locked(srv, c, GRPC_STATUS_DEADLINE_EXCEEDED,
                        "the call outlived the server's maximum call lifetime");
    }
    pthread_mutex_unlock(&srv->lmu);
    return NULL;
}

/*
 * Frees a call that was received (counted in active) and lets a stopping server know. An
 * answered call is reported to the observe hook first, once its answer has been handed over.
 */
static void
ctx_finish(struct rpc_call *c)
{
    struct rpc_server *srv = c->srv;

    if (c->answered && srv->observe != NULL) {
        const char *service = "", *method = "";
        uint64_t now = now_ns();
        if (c->reg != NULL) {
            service = c->reg->svc->desc->name;
            method = c->reg->md->name;
        }
        srv->observe(srv->hook_arg, service, method, c->status,
                     now > c->arrived_ns ? now - c->arrived_ns : 1);
    }
    int held = c->held;
    lists_untrack(c, -1);
    ctx_free(c);
    pthread_mutex_lock(&srv->mu);
    srv->held -= held;
    if (--srv->active == srv->held)
        pthread_cond_broadcast(&srv->cv);
    pthread_mutex_unlock(&srv->mu);
}

/*
 * Takes a place for c among the held watch streams (rpc.h: RPC_WATCH); 0 when all
 * RPC_WATCH_MAX are taken.
 */
static int
watch_hold(struct rpc_call *c)
{
    struct rpc_server *srv = c->srv;
    int ok;

    pthread_mutex_lock(&srv->mu);
    ok = srv->held < RPC_WATCH_MAX;
    if (ok) {
        srv->held++;
        c->held = 1;
        /* A stop may be waiting for the calls that are not held: this one just stopped being
         * one of them. */
        if (srv->active == srv->held)
            pthread_cond_broadcast(&srv->cv);
    }
    pthread_mutex_unlock(&srv->mu);
    /* A held watch lives as long as its client wants (rpc.h: max_call_ms). */
    if (ok)
        lists_untrack(c, LIST_LIFETIME);
    return ok;
}

/*
 * The trailing metadata of a failure: authd-error, then the details the handler set. They point
 * into c (static strings, the arena, retry_text), which lives until the batch completes.
 */
static size_t
error_trailer(struct rpc_call *c, int err)
{
    size_t n = 0;

    c->trailer[n].key = grpc_slice_from_static_string(AUTHD_ERR_MD_KEY);
    c->trailer[n++].value = grpc_slice_from_static_string(authd_err_reason(err));
    if (c->ctx.oauth_error != NULL) {
        c->trailer[n].key = grpc_slice_from_static_string(AUTHD_OAUTH_ERROR_MD_KEY);
        c->trailer[n++].value = grpc_slice_from_static_string(c->ctx.oauth_error);
    }
    if (c->ctx.retry_after > 0) {
        snprintf(c->retry_text, sizeof(c->retry_text), "%lld", (long long)c->ctx.retry_after);
        c->trailer[n].key = grpc_slice_from_static_string(AUTHD_RETRY_AFTER_MD_KEY);
        c->trailer[n++].value = grpc_slice_from_static_string(c->retry_text);
    }
    return n;
}

/*
 * Sends the answer in one batch: the response when err is AUTHD_OK, else the status with the
 * error trailer. The call is freed when the batch completes.
 */
static void
call_answer(struct rpc_call *c, int err, const ProtobufCMessage *resp)
{
    grpc_op ops[4];
    size_t n = 0;
    grpc_call_error ce;

    if (err > 0)
        err = AUTHD_ERR_INTERNAL; /* not an enum authd_err: a handler bug */
    if (err == AUTHD_OK && c->reg != NULL && c->reg->m != NULL && (c->reg->m->flags & RPC_WATCH) &&
        !watch_hold(c)) {
        rpc_ctx_set_message(&c->ctx, "too many watchers");
        err = AUTHD_ERR_UNIMPLEMENTED;
    }
    if (err == AUTHD_OK)
        err = rpc_pack(resp, &c->answer);

    memset(ops, 0, sizeof(ops));
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (err == AUTHD_OK) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->answer;
    }
    c->status = rpc_status_from_err(err);
    c->answered = 1;
    if (c->held && err == AUTHD_OK) {
        /* The stream stays open without a status: it ends when the client or the server
         * cancels it, which completes RECV_CLOSE_ON_SERVER and with it the batch. */
        c->status = GRPC_STATUS_CANCELLED;
        goto recv_close;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = (grpc_status_code)c->status;
    if (err != AUTHD_OK) {
        c->status_details = grpc_slice_from_copied_string(
            c->ctx.message != NULL ? c->ctx.message : authd_strerror(err));
        ops[n].data.send_status_from_server.trailing_metadata_count = error_trailer(c, err);
        ops[n].data.send_status_from_server.trailing_metadata = c->trailer;
        ops[n].data.send_status_from_server.status_details = &c->status_details;
    }
    n++;
recv_close:
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;

    c->tag.kind = TAG_BATCH;
    ce = grpc_call_start_batch(c->call, ops, n, &c->tag, NULL);
    if (ce != GRPC_CALL_OK) {
        log_event(LOG_ERROR, "rpc_answer_failed", "error=\"%s\"", grpc_call_error_to_string(ce));
        ctx_finish(c);
    }
}

/* Decodes the request into the arena. The raw bytes are wiped once decoded. */
static int
call_decode(struct rpc_call *c, ProtobufCMessage **req)
{
    const ProtobufCMessageDescriptor *in = c->reg->md->input;
    ProtobufCAllocator a = rpc_ctx_allocator(&c->ctx);
    grpc_byte_buffer_reader r;
    grpc_slice s;

    *req = NULL;
    if (c->payload == NULL) {
        /* No message at all (half-closed or cut before one came), unlike an empty message,
         * which arrives as an empty buffer: a unary request that never arrived is refused,
         * never run as if every field were unset. */
        rpc_ctx_set_message(&c->ctx, "no request message");
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    if (!grpc_byte_buffer_reader_init(&r, c->payload)) {
        rpc_ctx_set_message(&c->ctx, "undecodable message");
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    s = grpc_byte_buffer_reader_readall(&r);
    if (r.buffer_out != r.buffer_in)
        rpc_bb_wipe(r.buffer_out); /* the decompressed copy */
    grpc_byte_buffer_reader_destroy(&r);
    *req = protobuf_c_message_unpack(in, &a, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    secret_wipe(GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
    grpc_slice_unref(s);
    rpc_bb_wipe(c->payload);
    grpc_byte_buffer_destroy(c->payload);
    c->payload = NULL;
    if (*req == NULL) {
        rpc_ctx_set_message(&c->ctx, "malformed request message");
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    /* Handlers store and copy requests: no unvalidated bytes may ride along (see rpc.h). */
    rpc_msg_drop_unknown(*req, &a);
    return AUTHD_OK;
}

/*
 * Asks the authorize hook whether this call may go on. It runs before decoding, so a caller
 * without the right never gets a byte of its request parsed.
 */
static int
call_authorize(struct rpc_call *c)
{
    const struct rpc_server *srv = c->srv;

    if (srv->authorize == NULL)
        return AUTHD_OK;
    return srv->authorize(srv->hook_arg, &c->ctx, c->reg->svc->desc->name, c->reg->m);
}

static int queue_push(struct rpc_server *srv, struct rpc_call *c);

/*
 * Authorizes, decodes, runs the handler and answers. On a cq thread (inline) or a worker. trial:
 * an RPC_TRY_INLINE method on a cq thread. The authorize hook runs in the trial too
 * (rpc_ctx_trying() 1), so it may defer what would block there (a store read over the network);
 * then the worker authorizes again. When the hook or the handler defers, the call goes to the
 * worker pool (decoded, and authorized if the hook did not defer) instead of being answered.
 */
static void
call_run(struct rpc_call *c, int trial)
{
    ProtobufCMessage *resp = NULL;
    int err = AUTHD_OK;

    c->ctx.trying = trial;
    if (c->req == NULL) {
        err = call_authorize(c);
        if (err == AUTHD_OK)
            err = call_decode(c, &c->req);
    }
    if (err == AUTHD_OK) {
        resp = rpc_ctx_msg(&c->ctx, c->reg->md->output);
        err = resp != NULL ? c->reg->m->fn(&c->ctx, c->req, resp) : AUTHD_ERR_NOMEM;
    }
    if (trial && c->ctx.deferred) {
        rpc_ctx_after_trial(&c->ctx);
        if (queue_push(c->srv, c) == 0)
            return; /* a worker runs it again (authorizes it again if c->req is NULL) */
        log_event(LOG_WARN, "rpc_busy", "method=%s", c->reg->path);
        rpc_ctx_set_message(&c->ctx, "server busy");
        err = AUTHD_ERR_UNAVAILABLE;
    }
    c->ctx.trying = 0;
    call_answer(c, err, resp);
}

/* ---- worker pool ----------------------------------------------------------------------- */

static int
queue_push(struct rpc_server *srv, struct rpc_call *c)
{
    int r = -1;

    pthread_mutex_lock(&srv->qmu);
    if (srv->q_len < RPC_QUEUE_CAP && !srv->q_stop) {
        srv->queue[(srv->q_head + srv->q_len) % RPC_QUEUE_CAP] = c;
        srv->q_len++;
        pthread_cond_signal(&srv->qcv);
        r = 0;
    }
    pthread_mutex_unlock(&srv->qmu);
    return r;
}

static void *
worker_main(void *arg)
{
    struct rpc_server *srv = arg;

    for (;;) {
        struct rpc_call *c;
        int cancel;

        pthread_mutex_lock(&srv->qmu);
        while (srv->q_len == 0 && !srv->q_stop)
            pthread_cond_wait(&srv->qcv, &srv->qmu);
        if (srv->q_len == 0) {
            pthread_mutex_unlock(&srv->qmu);
            break;
        }
        c = srv->queue[srv->q_head];
        srv->q_head = (srv->q_head + 1) % RPC_QUEUE_CAP;
        srv->q_len--;
        cancel = srv->q_cancel;
        pthread_mutex_unlock(&srv->qmu);

        if (cancel) {
            rpc_ctx_set_message(&c->ctx, "server shutting down");
            call_answer(c, AUTHD_ERR_UNAVAILABLE, NULL);
        } else if (rpc_ctx_deadline_ms_left(&c->ctx) == 0) {
            call_answer(c, AUTHD_ERR_DEADLINE, NULL);
        } else {
            call_run(c, 0);
        }
    }
    return NULL;
}

/* ---- completion queues ----------------------------------------------------------------- */

/*
 * Posts a fresh request for the next call of reg (NULL: generic) on queue cq_idx. received is 1
 * when a call of that slot just arrived: it is counted in active under the same lock.
 */
static void
post_request(struct rpc_server *srv, const struct rpc_reg *reg, int cq_idx, int received)
{
    struct rpc_call *c = ctx_new(srv, reg, cq_idx);
    grpc_completion_queue *cq = srv->cqs[cq_idx];
    grpc_call_error ce = GRPC_CALL_OK;

    pthread_mutex_lock(&srv->mu);
    srv->active += received;
    if (srv->stopping || c == NULL) {
        pthread_mutex_unlock(&srv->mu);
        if (c == NULL)
            log_event(LOG_ERROR, "rpc_request_lost", "method=%s error=nomem",
                      reg != NULL ? reg->path : "*");
        ctx_free(c);
        return;
    }
    if (reg != NULL)
        ce = grpc_server_request_registered_call(srv->server, reg->handle, &c->call, &c->deadline,
                                                 &c->md, NULL, cq, cq, &c->tag);
    else
        ce = grpc_server_request_call(srv->server, &c->call, &c->details, &c->md, cq, cq, &c->tag);
    pthread_mutex_unlock(&srv->mu);
    if (ce != GRPC_CALL_OK) {
        log_event(LOG_ERROR, "rpc_request_lost", "method=%s error=\"%s\"",
                  reg != NULL ? reg->path : "*", grpc_call_error_to_string(ce));
        ctx_free(c);
    }
}

/*
 * Gives c the server's maximum lifetime when its own deadline is later (or absent): the
 * deadline the handler and the worker queue see becomes the imposed one. 1 when imposed: the
 * caller lists c for the reaper, which cancels it then, wherever it is (waiting for its request
 * message, queued, or running).
 */
static int
impose_lifetime(struct rpc_server *srv, struct rpc_call *c)
{
    gpr_timespec cap, own;

    if (srv->max_call_ns == 0)
        return 0;
    cap = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                       gpr_time_from_nanos((int64_t)srv->max_call_ns, GPR_TIMESPAN));
    own = gpr_convert_clock_type(c->deadline, GPR_CLOCK_MONOTONIC);
    if (gpr_time_cmp(own, cap) <= 0)
        return 0; /* gRPC ends it at its own, earlier deadline */
    c->deadline = cap;
    return 1;
}

/* Runs a registered call whose request message is in c->payload: inline or on a worker. */
static void
call_dispatch(struct rpc_server *srv, struct rpc_call *c)
{
    unsigned fl = c->reg->m->flags;
    int trial = (fl & RPC_TRY_INLINE) != 0 && !srv->no_trials;

    if ((fl & RPC_INLINE) || trial) {
        call_run(c, trial);
    } else if (queue_push(srv, c) != 0) {
        log_event(LOG_WARN, "rpc_busy", "method=%s", c->reg->path);
        rpc_ctx_set_message(&c->ctx, "server busy");
        call_answer(c, AUTHD_ERR_UNAVAILABLE, NULL);
    }
}

/*
 * Asks gRPC for the request message of a registered call. Calls are taken as soon as their
 * headers arrive (GRPC_SRM_PAYLOAD_NONE), not once gRPC has read a message, so that a call
 * whose message never comes is ours to cancel at its lifetime instead of lingering in gRPC.
 */
static void
call_receive(struct rpc_call *c)
{
    grpc_op op;
    grpc_call_error ce;

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->payload;
    c->tag.kind = TAG_RECV;
    ce = grpc_call_start_batch(c->call, &op, 1, &c->tag, NULL);
    if (ce != GRPC_CALL_OK) {
        log_event(LOG_ERROR, "rpc_receive_failed", "error=\"%s\"", grpc_call_error_to_string(ce));
        ctx_finish(c);
    }
}

/*
 * The request message has arrived (c->payload; NULL when the client closed without one, which
 * decodes as an empty message), or the call ended before it did: the client went away, the
 * server stopped, or the reaper cancelled it (counted as DEADLINE_EXCEEDED).
 */
static void
on_recv(struct rpc_server *srv, struct rpc_call *c, int ok)
{
    int cut = lists_untrack(c, LIST_WAITING);

    if (!ok || cut != 0) {
        if (cut != 0) {
            c->answered = 1; /* for the observe hook: gRPC sent the status */
            c->status = cut;
        }
        ctx_finish(c);
        return;
    }
    call_dispatch(srv, c);
}

static void
on_request(struct rpc_server *srv, struct rpc_call *c, int ok)
{
    if (!ok) {
        /* The server is shutting down and withdrew the request: no call came with it. */
        ctx_free(c);
        return;
    }
    c->arrived_ns = now_ns();
    post_request(srv, c->reg, c->cq_idx, 1);

    if (c->reg == NULL)
        c->deadline = c->details.deadline;
    if (c->reg == NULL || c->reg->m == NULL) {
        rpc_ctx_set_message(&c->ctx, "unknown method");
        call_answer(c, AUTHD_ERR_UNIMPLEMENTED, NULL);
        return;
    }
    lists_track(c, impose_lifetime(srv, c));
    call_receive(c);
}

static void
on_event(struct rpc_server *srv, grpc_event ev)
{
    struct rpc_tag *t = ev.tag;

    switch (t->kind) {
    case TAG_REQUEST:
        on_request(srv, (struct rpc_call *)t, ev.success);
        break;
    case TAG_RECV:
        on_recv(srv, (struct rpc_call *)t, ev.success);
        break;
    case TAG_BATCH:
        ctx_finish((struct rpc_call *)t);
        break;
    case TAG_SHUTDOWN:
        pthread_mutex_lock(&srv->mu);
        srv->shutdown_done = 1;
        pthread_cond_broadcast(&srv->cv);
        pthread_mutex_unlock(&srv->mu);
        break;
    }
}

static void *
cq_main(void *arg)
{
    struct rpc_cq_thread *t = arg;
    grpc_completion_queue *cq = t->srv->cqs[t->cq_idx];

    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE)
            on_event(t->srv, ev);
    }
    return NULL;
}

/* ---- start and stop -------------------------------------------------------------------- */

/*
 * Waits until no call is active (but held watch streams, when streams_too is 0), or for at
 * most ms milliseconds (negative: no limit).
 */
static void
wait_idle(struct rpc_server *srv, int ms, int streams_too)
{
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                                         gpr_time_from_millis(ms > 0 ? ms : 0, GPR_TIMESPAN));
    struct timespec ts = {.tv_sec = (time_t)deadline.tv_sec, .tv_nsec = deadline.tv_nsec};

    pthread_mutex_lock(&srv->mu);
    while (srv->active > (streams_too ? 0 : srv->held)) {
        if (ms < 0)
            pthread_cond_wait(&srv->cv, &srv->mu);
        else if (pthread_cond_timedwait(&srv->cv, &srv->mu, &ts) != 0 &&
                 gpr_time_cmp(gpr_now(GPR_CLOCK_REALTIME), deadline) >= 0)
            break;
    }
    pthread_mutex_unlock(&srv->mu);
}

/*
 * Stops whatever part of the server is running, in gRPC's order: shutdown_and_notify, grace,
 * cancel_all_calls, the shutdown tag, no call left, workers joined, server destroyed, queues
 * shut down, drained and destroyed. Works on a half-built server too.
 */
static void
server_teardown(struct rpc_server *srv, int grace_ms)
{
    pthread_mutex_lock(&srv->mu);
    srv->stopping = 1;
    pthread_mutex_unlock(&srv->mu);

    if (srv->started) {
        srv->shutdown_tag.kind = TAG_SHUTDOWN;
        grpc_server_shutdown_and_notify(srv->server, srv->cqs[0], &srv->shutdown_tag);
        lists_cut_waiting(srv);
        wait_idle(srv, grace_ms > 0 ? grace_ms : 0, 0);
        pthread_mutex_lock(&srv->qmu);
        srv->q_cancel = 1;
        pthread_mutex_unlock(&srv->qmu);
        grpc_server_cancel_all_calls(srv->server);
        pthread_mutex_lock(&srv->mu);
        while (!srv->shutdown_done)
            pthread_cond_wait(&srv->cv, &srv->mu);
        pthread_mutex_unlock(&srv->mu);
        /* Handlers still running answer a cancelled call; their batches complete at once. */
        wait_idle(srv, -1, 1);
    }
    if (srv->reaper_started) {
        pthread_mutex_lock(&srv->lmu);
        srv->lt_stop = 1;
        pthread_cond_signal(&srv->lcv);
        pthread_mutex_unlock(&srv->lmu);
        pthread_join(srv->reaper, NULL);
        srv->reaper_started = 0;
    }

    pthread_mutex_lock(&srv->qmu);
    srv->q_stop = 1;
    pthread_cond_broadcast(&srv->qcv);
    pthread_mutex_unlock(&srv->qmu);
    for (int i = 0; i < srv->n_workers; i++)
        pthread_join(srv->workers[i], NULL);

    if (srv->server != NULL)
        grpc_server_destroy(srv->server);
    for (int i = 0; i < srv->n_cqs; i++)
        if (srv->cqs[i] != NULL)
            grpc_completion_queue_shutdown(srv->cqs[i]);
    for (int i = 0; i < srv->n_cq_threads; i++)
        pthread_join(srv->cq_threads[i].th, NULL);
    for (int i = 0; i < srv->n_cqs; i++) {
        if (srv->cqs[i] == NULL)
            continue;
        /* Drains what no thread took (a thread that failed to start); SHUTDOWN is sticky. */
        for (;;) {
            grpc_event ev =
                grpc_completion_queue_next(srv->cqs[i], gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
            if (ev.type == GRPC_QUEUE_SHUTDOWN)
                break;
            if (ev.type == GRPC_OP_COMPLETE)
                on_event(srv, ev);
        }
        grpc_completion_queue_destroy(srv->cqs[i]);
    }
}

static void
server_free(struct rpc_server *srv)
{
    for (size_t i = 0; i < srv->n_regs; i++)
        free(srv->regs[i].path);
    free(srv->regs);
    free(srv->svcs);
    free(srv->cqs);
    free(srv->cq_threads);
    free(srv->workers);
    free(srv->queue);
    pthread_cond_destroy(&srv->qcv);
    pthread_mutex_destroy(&srv->qmu);
    pthread_cond_destroy(&srv->cv);
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->lcv);
    pthread_mutex_destroy(&srv->lmu);
    free(srv);
}

static const struct rpc_method *
find_method(const struct rpc_service *svc, const char *name)
{
    for (size_t i = 0; i < svc->n_methods; i++)
        if (svc->methods[i].name != NULL && strcmp(svc->methods[i].name, name) == 0)
            return &svc->methods[i];
    return NULL;
}

/* Builds the registration table: every method of every descriptor, bound to its handler. */
static int
build_regs(struct rpc_server *srv, const struct rpc_service *given, size_t n_svcs)
{
    size_t n = 0;

    /* A copy, so the caller's array may be a local of the function that starts the server
     * (the method tables it points to are static). */
    srv->svcs = calloc(n_svcs > 0 ? n_svcs : 1, sizeof(*srv->svcs));
    if (srv->svcs == NULL)
        return AUTHD_ERR_NOMEM;
    if (n_svcs > 0)
        memcpy(srv->svcs, given, n_svcs * sizeof(*srv->svcs));
    const struct rpc_service *svcs = srv->svcs;

    for (size_t i = 0; i < n_svcs; i++) {
        const struct rpc_service *svc = &svcs[i];
        if (svc->desc == NULL || (svc->n_methods > 0 && svc->methods == NULL))
            return AUTHD_ERR_INVALID_ARGUMENT;
        for (size_t k = 0; k < svc->n_methods; k++) {
            const struct rpc_method *m = &svc->methods[k];
            if (m->name == NULL || m->fn == NULL ||
                protobuf_c_service_descriptor_get_method_by_name(svc->desc, m->name) == NULL) {
                log_event(LOG_ERROR, "rpc_bad_method", "service=%s method=%s", svc->desc->name,
                          m->name != NULL ? m->name : "(null)");
                return AUTHD_ERR_INVALID_ARGUMENT;
            }
        }
        n += svc->desc->n_methods;
    }
    srv->regs = calloc(n > 0 ? n : 1, sizeof(*srv->regs));
    if (srv->regs == NULL)
        return AUTHD_ERR_NOMEM;
    for (size_t i = 0; i < n_svcs; i++) {
        const ProtobufCServiceDescriptor *d = svcs[i].desc;
        for (unsigned k = 0; k < d->n_methods; k++) {
            struct rpc_reg *r = &srv->regs[srv->n_regs];
            size_t len = strlen(d->name) + strlen(d->methods[k].name) + 3;
            r->path = malloc(len);
            if (r->path == NULL)
                return AUTHD_ERR_NOMEM;
            snprintf(r->path, len, "/%s/%s", d->name, d->methods[k].name);
            r->svc = &svcs[i];
            r->md = &d->methods[k];
            r->m = find_method(&svcs[i], d->methods[k].name);
            srv->n_regs++;
        }
    }
    return AUTHD_OK;
}

static int
pem_given(const char *pem)
{
    return pem != NULL && pem[0] != '\0';
}

/*
 * Plaintext, or TLS that asks every client for a certificate: one that is presented must chain
 * to tls->ca_pem (else the handshake fails), but a client may present none; such a client has
 * no identity and the authorize hook decides what it may call. gRPC copies the PEM text.
 */
static grpc_server_credentials *
server_credentials(const struct rpc_tls *tls)
{
    grpc_ssl_pem_key_cert_pair pair;

    if (tls == NULL)
        return grpc_insecure_server_credentials_create();
    pair.private_key = tls->key_pem;
    pair.cert_chain = tls->cert_pem;
    return grpc_ssl_server_credentials_create_ex(
        tls->ca_pem, &pair, 1, GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY, NULL);
}

/* A limit in milliseconds for gRPC: 0 = def, negative = never (INT_MAX, gRPC's "infinite"). */
static int
limit_ms(int v, int def)
{
    if (v == 0)
        return def;
    return v < 0 ? INT_MAX : v;
}

static void
int_arg(grpc_arg *a, const char *key, int v)
{
    a->type = GRPC_ARG_INTEGER;
    a->key = (char *)(uintptr_t)key;
    a->value.integer = v;
}

/*
 * Creates the gRPC server with its channel arguments (the limits of opts), its completion
 * queue and every method of regs registered (the call is taken at its headers: call_receive).
 */
static int
server_create(struct rpc_server *srv, const struct rpc_server_opts *opts)
{
    size_t max_message = opts->max_message > 0 ? opts->max_message : RPC_DEFAULT_MAX_MESSAGE;
    size_t quota_bytes = opts->memory_quota > 0 ? opts->memory_quota : RPC_DEFAULT_MEMORY_QUOTA;
    grpc_arg arg[8];
    grpc_channel_args args;
    size_t n = 0;

    memset(arg, 0, sizeof(arg));
    int_arg(&arg[n++], GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
            max_message > INT_MAX ? INT_MAX : (int)max_message);
    /* A second authd on the same port must fail to start, not share the port. */
    int_arg(&arg[n++], GRPC_ARG_ALLOW_REUSEPORT, 0);
    /* What a caller without any right can hold: streams on a connection (gRPC 1.51 closes the
     * connection of a client that opens more once it has acknowledged the limit), connections
     * left idle or kept for ever, and transport memory in all. */
    int_arg(&arg[n++], GRPC_ARG_MAX_CONCURRENT_STREAMS,
            opts->max_streams > 0 ? opts->max_streams : RPC_DEFAULT_MAX_STREAMS);
    int_arg(&arg[n++], GRPC_ARG_MAX_CONNECTION_IDLE_MS,
            limit_ms(opts->max_idle_ms, RPC_DEFAULT_MAX_IDLE_MS));
    int_arg(&arg[n++], GRPC_ARG_MAX_CONNECTION_AGE_MS,
            limit_ms(opts->max_age_ms, RPC_DEFAULT_MAX_AGE_MS));
    int_arg(&arg[n++], GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
            limit_ms(opts->max_age_grace_ms, RPC_DEFAULT_MAX_AGE_GRACE_MS));
    grpc_resource_quota *quota = grpc_resource_quota_create("authd");
    if (quota == NULL)
        return AUTHD_ERR_NOMEM;
    grpc_resource_quota_resize(quota, quota_bytes);
    arg[n].type = GRPC_ARG_POINTER;
    arg[n].key = (char *)(uintptr_t)GRPC_ARG_RESOURCE_QUOTA;
    arg[n].value.pointer.p = quota;
    arg[n++].value.pointer.vtable = grpc_resource_quota_arg_vtable();
    args.num_args = n;
    args.args = arg;
    srv->server = grpc_server_create(&args, NULL);
    grpc_resource_quota_unref(quota); /* the server holds its own reference */
    if (srv->server == NULL)
        return AUTHD_ERR_NOMEM;
    for (int i = 0; i < srv->n_cqs; i++) {
        srv->cqs[i] = grpc_completion_queue_create_for_next(NULL);
        if (srv->cqs[i] == NULL)
            return AUTHD_ERR_NOMEM;
        grpc_server_register_completion_queue(srv->server, srv->cqs[i], NULL);
    }
    for (size_t i = 0; i < srv->n_regs; i++) {
        srv->regs[i].handle = grpc_server_register_method(srv->server, srv->regs[i].path, NULL,
                                                          GRPC_SRM_PAYLOAD_NONE, 0);
        if (srv->regs[i].handle == NULL) {
            log_event(LOG_ERROR, "rpc_register_failed", "method=%s", srv->regs[i].path);
            return AUTHD_ERR_INVALID_ARGUMENT; /* a duplicate service */
        }
    }
    return AUTHD_OK;
}

/* Starts the worker pool and the completion-queue threads; each started one is counted. */
static int
server_start_threads(struct rpc_server *srv, int n_workers, int n_threads)
{
    if (srv->max_call_ns > 0) {
        if (pthread_create(&srv->reaper, NULL, reaper_main, srv) != 0)
            return AUTHD_ERR_NOMEM;
        srv->reaper_started = 1;
    }
    for (int i = 0; i < n_workers; i++) {
        if (pthread_create(&srv->workers[i], NULL, worker_main, srv) != 0)
            return AUTHD_ERR_NOMEM;
        srv->n_workers++;
    }
    for (int i = 0; i < n_threads; i++) {
        struct rpc_cq_thread *t = &srv->cq_threads[i];
        t->srv = srv;
        t->cq_idx = i % srv->n_cqs;
        if (pthread_create(&t->th, NULL, cq_main, t) != 0)
            return AUTHD_ERR_NOMEM;
        srv->n_cq_threads++;
    }
    return AUTHD_OK;
}

/*
 * Binds opts->listen, starts gRPC and posts the first requests for every method (and the
 * generic slot, so that unknown methods are answered UNIMPLEMENTED at once).
 */
static int
server_bind_and_serve(struct rpc_server *srv, const struct rpc_server_opts *opts, int *port)
{
    grpc_server_credentials *creds = server_credentials(opts->tls);
    if (creds == NULL)
        return AUTHD_ERR_NOMEM;
    *port = grpc_server_add_http2_port(srv->server, opts->listen, creds);
    grpc_server_credentials_release(creds);
    if (*port == 0) {
        /* gRPC says the same for a port in use and for a certificate it cannot load. */
        log_event(LOG_ERROR, "rpc_bind_failed", "listen=%s tls=%d", opts->listen,
                  opts->tls != NULL);
        return AUTHD_ERR_UNAVAILABLE;
    }
    grpc_server_start(srv->server);
    srv->started = 1;
    for (int q = 0; q < srv->n_cqs; q++) {
        for (int k = 0; k < RPC_SLOTS_PER_METHOD; k++) {
            for (size_t i = 0; i < srv->n_regs; i++)
                post_request(srv, &srv->regs[i], q, 0);
        }
        post_request(srv, NULL, q, 0);
    }
    return AUTHD_OK;
}

int
rpc_server_start(const struct rpc_server_opts *opts, const struct rpc_service *svcs, size_t n_svcs,
                 struct rpc_server **out, int *bound_port)
{
    struct rpc_server *srv = NULL;
    int n_threads, n_workers, port = 0;
    int r = AUTHD_ERR_INTERNAL;

    if (out != NULL)
        *out = NULL;
    if (bound_port != NULL)
        *bound_port = 0;
    if (opts == NULL || opts->listen == NULL || out == NULL || (svcs == NULL && n_svcs > 0) ||
        opts->cq_threads < 0 || opts->workers < 0)
        return AUTHD_ERR_INVALID_ARGUMENT;
    if (opts->tls != NULL && (!pem_given(opts->tls->ca_pem) || !pem_given(opts->tls->cert_pem) ||
                              !pem_given(opts->tls->key_pem)))
        return AUTHD_ERR_INVALID_ARGUMENT;

    grpc_init();
    srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        grpc_shutdown();
        return AUTHD_ERR_NOMEM;
    }
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->cv, NULL);
    pthread_mutex_init(&srv->qmu, NULL);
    pthread_cond_init(&srv->qcv, NULL);
    pthread_mutex_init(&srv->lmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* expiries are CLOCK_MONOTONIC */
    pthread_cond_init(&srv->lcv, &ca);
    pthread_condattr_destroy(&ca);
    int max_call = opts->max_call_ms == 0 ? RPC_DEFAULT_MAX_CALL_MS : opts->max_call_ms;
    srv->max_call_ns = max_call > 0 ? (uint64_t)max_call * 1000000u : 0;
    srv->max_waiting = opts->max_waiting == 0  ? RPC_DEFAULT_MAX_WAITING
                       : opts->max_waiting < 0 ? 0
                                               : opts->max_waiting;
    srv->authorize = opts->authorize;
    srv->observe = opts->observe;
    srv->hook_arg = opts->hook_arg;
    srv->no_trials = opts->no_trials != 0;

    r = build_regs(srv, svcs, n_svcs);
    if (r != AUTHD_OK)
        goto out;

    n_threads = opts->cq_threads > 0 ? opts->cq_threads : (int)gpr_cpu_num_cores();
    if (n_threads < 1)
        n_threads = 1;
    n_workers = opts->workers > 0 ? opts->workers : RPC_DEFAULT_WORKERS;
    /*
     * One queue shared by all completion-queue threads: a slow inline call on one thread does
     * not hold back calls that another queue would have owned.
     */
    srv->n_cqs = 1;
    srv->cqs = calloc((size_t)srv->n_cqs, sizeof(*srv->cqs));
    srv->cq_threads = calloc((size_t)n_threads, sizeof(*srv->cq_threads));
    srv->workers = calloc((size_t)n_workers, sizeof(*srv->workers));
    srv->queue = calloc(RPC_QUEUE_CAP, sizeof(*srv->queue));
    if (srv->cqs == NULL || srv->cq_threads == NULL || srv->workers == NULL || srv->queue == NULL) {
        r = AUTHD_ERR_NOMEM;
        goto out;
    }
    r = server_create(srv, opts);
    if (r == AUTHD_OK)
        r = server_start_threads(srv, n_workers, n_threads);
    if (r == AUTHD_OK)
        r = server_bind_and_serve(srv, opts, &port);
    if (r != AUTHD_OK)
        goto out;
    if (bound_port != NULL)
        *bound_port = port;
    *out = srv;
    srv = NULL;
out:
    if (srv != NULL) {
        server_teardown(srv, 0);
        server_free(srv);
        grpc_shutdown();
    }
    return r;
}

void
rpc_server_stop(struct rpc_server *srv, int grace_ms)
{
    if (srv == NULL)
        return;
    server_teardown(srv, grace_ms);
    server_free(srv);
    grpc_shutdown();
}

/* ---- what a handler asks the transport (struct rpc_ctx_ops) ---------------------------- */

static const char *
call_peer(struct rpc_ctx *ctx)
{
    struct rpc_call *c = call_of(ctx);

    if (c->call == NULL)
        return "unknown";
    if (c->peer == NULL)
        c->peer = grpc_call_get_peer(c->call);
    return c->peer != NULL ? c->peer : "unknown";
}

static const char *
call_metadata(struct rpc_ctx *ctx, const char *key)
{
    const struct rpc_call *c = call_of(ctx);

    for (size_t i = 0; i < c->md.count; i++) {
        const grpc_metadata *m = &c->md.metadata[i];
        if (grpc_slice_str_cmp(m->key, key) == 0) {
            size_t len = GRPC_SLICE_LENGTH(m->value);
            char *v = rpc_ctx_alloc(ctx, len + 1);
            if (v == NULL)
                return NULL;
            memcpy(v, GRPC_SLICE_START_PTR(m->value), len);
            return v;
        }
    }
    return NULL;
}

/* The call's auth context, fetched once; NULL when gRPC has none. */
static grpc_auth_context *
ctx_auth(struct rpc_ctx *ctx)
{
    struct rpc_call *c = call_of(ctx);

    if (c->auth == NULL && c->call != NULL)
        c->auth = grpc_call_auth_context(c->call);
    return c->auth;
}

/*
 * Adds the values of auth property name to out[*n..max) as "<prefix><value>", skipping empty
 * ones, ones with an embedded NUL (a certificate could otherwise pass
 * "spiffe://authd.dev/edge\0.evil" for a shorter name) and ones already there.
 */
static void
add_identities(struct rpc_ctx *ctx, grpc_auth_context *ac, const char *name, const char *prefix,
               const char **out, size_t max, size_t *n)
{
    grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(ac, name);
    const grpc_auth_property *p;
    size_t pl = strlen(prefix);

    while (*n < max && (p = grpc_auth_property_iterator_next(&it)) != NULL) {
        size_t len = p->value_length;
        int dup = 0;
        char *v;

        if (p->value == NULL || len == 0 || memchr(p->value, '\0', len) != NULL)
            continue;
        for (size_t i = 0; i < *n && !dup; i++)
            dup = strlen(out[i]) == pl + len && memcmp(out[i], prefix, pl) == 0 &&
                  memcmp(out[i] + pl, p->value, len) == 0;
        if (dup)
            continue;
        v = rpc_ctx_alloc(ctx, pl + len + 1);
        if (v == NULL)
            return;
        memcpy(v, prefix, pl);
        memcpy(v + pl, p->value, len);
        out[(*n)++] = v;
    }
}

/* 1 when the auth context holds a value of property name. */
static int
has_property(grpc_auth_context *ac, const char *name)
{
    grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(ac, name);
    return grpc_auth_property_iterator_next(&it) != NULL;
}

static size_t
call_peer_identities(struct rpc_ctx *ctx, const char **out, size_t max)
{
    /*
     * Typed, so that one kind of name can never pass for another: gRPC's per-type properties
     * (never the untyped x509_subject_alternative_name list, which mixes every type). The
     * SPIFFE id is one of the URI SANs.
     */
    static const struct {
        const char *prop, *prefix;
    } props[] = {
        {GRPC_PEER_URI_PROPERTY_NAME, "uri:"},
        {GRPC_PEER_DNS_PROPERTY_NAME, "dns:"},
        {GRPC_PEER_EMAIL_PROPERTY_NAME, "email:"},
        {GRPC_PEER_IP_PROPERTY_NAME, "ip:"},
    };
    grpc_auth_context *ac;
    size_t n = 0;

    ac = ctx_auth(ctx);
    /* Authenticated means a certificate chained to our CA and named its subject. */
    if (ac == NULL || !grpc_auth_context_peer_is_authenticated(ac))
        return 0;
    for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++)
        add_identities(ctx, ac, props[i].prop, props[i].prefix, out, max, &n);
    /* The common name only names a certificate without any subject alternative name (RFC 6125
     * §6.4.4): with SANs, a CN is whatever the requester put there. */
    if (!has_property(ac, GRPC_X509_SAN_PROPERTY_NAME))
        add_identities(ctx, ac, GRPC_X509_CN_PROPERTY_NAME, "cn:", out, max, &n);
    return n;
}

static int
call_is_tls(struct rpc_ctx *ctx)
{
    grpc_auth_context *ac;
    grpc_auth_property_iterator it;
    const grpc_auth_property *p;

    if ((ac = ctx_auth(ctx)) == NULL)
        return 0;
    it = grpc_auth_context_find_properties_by_name(ac, GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
    while ((p = grpc_auth_property_iterator_next(&it)) != NULL)
        if (p->value != NULL && (strcmp(p->value, GRPC_SSL_TRANSPORT_SECURITY_TYPE) == 0 ||
                                 strcmp(p->value, GRPC_TLS_TRANSPORT_SECURITY_TYPE) == 0))
            return 1;
    return 0;
}

static int64_t
call_deadline_ms_left(struct rpc_ctx *ctx)
{
    const struct rpc_call *c = call_of(ctx);
    gpr_timespec now, left;

    if (gpr_time_cmp(c->deadline, gpr_inf_future(c->deadline.clock_type)) == 0)
        return INT64_MAX;
    now = gpr_now(GPR_CLOCK_MONOTONIC);
    left = gpr_time_sub(gpr_convert_clock_type(c->deadline, GPR_CLOCK_MONOTONIC), now);
    if (left.tv_sec < 0)
        return 0;
    if (left.tv_sec >= INT64_MAX / 1000 - 1)
        return INT64_MAX;
    return left.tv_sec * 1000 + left.tv_nsec / 1000000;
}

static const struct rpc_ctx_ops call_ops = {
    .peer = call_peer,
    .metadata = call_metadata,
    .peer_identities = call_peer_identities,
    .is_tls = call_is_tls,
    .deadline_ms_left = call_deadline_ms_left,
};
