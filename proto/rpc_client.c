/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client half of the RPC adapter: blocking unary calls over one gRPC channel, safe to use
 * from many threads. Each call runs one batch on its own pluck queue; method paths are
 * registered with the channel once and cached. A failed call comes back as the enum authd_err
 * the server put in the authd-error trailer, or one derived from the gRPC status. The channel
 * is plaintext or TLS (optionally with a client certificate, for mutual TLS).
 */
#include "proto/rpc.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "common/err.h"
#include "common/secret.h"
#include "proto/rpc_internal.h"

#define RPC_CLIENT_MAX_METHODS 128 /* registered paths cached; others use unregistered calls */
#define RPC_CLIENT_MAX_MD 16       /* extra metadata pairs per call */
#define RPC_PLUCK_MARGIN_MS 5000   /* past the deadline, a call still pending is cancelled */

struct rpc_client_method {
    char *path;   /* owned; must outlive the channel's registration */
    void *handle; /* from grpc_channel_register_call */
};

struct rpc_client {
    grpc_channel *channel;
    pthread_mutex_t mu; /* guards methods */
    struct rpc_client_method methods[RPC_CLIENT_MAX_METHODS];
    size_t n_methods;
};

static int
pem_given(const char *pem)
{
    return pem != NULL && pem[0] != '\0';
}

/*
 * Every channel balances its calls with gRPC core's round_robin policy over the addresses its
 * target resolves to (a list, or a DNS name with several records), and watches each address
 * with gRPC's client-side health checking (grpc.health.v1 Health/Watch, the whole server: ""),
 * so that an address that is down, or that stops serving, gets no calls while another is up. A
 * single address behaves as with gRPC's default policy. Service configs published in DNS are
 * ignored: this one is ours.
 */
static const char rpc_service_config[] = "{\"loadBalancingConfig\":[{\"round_robin\":{}}],"
                                         "\"healthCheckConfig\":{\"serviceName\":\"\"}}";
/* A target that is one IP address has nowhere else to send a call: no watch stream for it. */
static const char rpc_service_config_one[] = "{\"loadBalancingConfig\":[{\"round_robin\":{}}]}";

#define RPC_TARGET_MAX 4096       /* longest target, list form included */
#define RPC_RECONNECT_MAX_MS 5000 /* longest wait between reconnection attempts */

/* What client_target() made of the caller's target. */
struct rpc_target {
    char uri[RPC_TARGET_MAX + 8]; /* what gRPC is given */
    char authority[300];          /* the first address of a list ("" otherwise) */
    char host[256];               /* its host, for the TLS name check ("" otherwise) */
    int same_host;                /* every address of the list has that host */
    int one_ip;                   /* target is a single IP:PORT */
};

/* The address family of the list entry [p, p+len), IPv4 "A:P" or IPv6 "[A]:P", its address
 * copied to host (cap bytes); -1 when the entry is not an IP literal with a port. */
static int
entry_family(const char *p, size_t len, char *host, size_t cap)
{
    const char *end = p + len, *colon;
    size_t hlen;
    int family = AF_INET;
    unsigned char addr[16];
    unsigned long port = 0;

    if (len == 0)
        return -1;
    if (p[0] == '[') {
        const char *close = memchr(p, ']', len);
        if (close == NULL || close + 1 >= p + len || close[1] != ':')
            return -1;
        family = AF_INET6;
        hlen = (size_t)(close - p - 1);
        colon = close + 1;
        p++;
    } else {
        colon = memchr(p, ':', len);
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - p);
    }
    if (hlen == 0 || hlen >= cap)
        return -1;
    memcpy(host, p, hlen);
    host[hlen] = '\0';
    if (inet_pton(family, host, addr) != 1)
        return -1;
    const char *d = colon + 1;
    if (d >= end || end - d > 5)
        return -1;
    for (; d < end; d++) {
        if (*d < '0' || *d > '9')
            return -1;
        port = port * 10 + (unsigned long)(*d - '0');
    }
    return port >= 1 && port <= 65535 ? family : -1;
}

/*
 * Turns the caller's target into gRPC's (rpc.h: rpc_client_new): a comma list of IP:PORT
 * becomes "ipv4:A:P,B:P" (or "ipv6:[A]:P,..."); anything else goes through as it is.
 * AUTHD_ERR_INVALID_ARGUMENT for a list gRPC cannot take (a name, a missing port, both IPv4
 * and IPv6) or a target too long.
 */
static int
client_target(const char *target, struct rpc_target *t)
{
    size_t n = strlen(target);
    int family = 0;
    char host[256];

    memset(t, 0, sizeof(*t));
    if (n > RPC_TARGET_MAX)
        return AUTHD_ERR_INVALID_ARGUMENT;
    if (strchr(target, ',') == NULL || strncmp(target, "ipv4:", 5) == 0 ||
        strncmp(target, "ipv6:", 5) == 0) {
        memcpy(t->uri, target, n + 1);
        t->one_ip = entry_family(target, n, host, sizeof(host)) > 0;
        return AUTHD_OK;
    }
    t->same_host = 1;
    for (const char *p = target; *p != '\0';) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        int f = entry_family(p, len, host, sizeof(host));
        if (f < 0 || (family != 0 && f != family))
            return AUTHD_ERR_INVALID_ARGUMENT;
        if (family == 0) {
            family = f;
            memcpy(t->authority, p, len);
            t->authority[len] = '\0';
            memcpy(t->host, host, strlen(host) + 1);
        } else if (strcmp(host, t->host) != 0) {
            t->same_host = 0;
        }
        if (comma == NULL)
            break;
        p = comma + 1;
        if (*p == '\0')
            return AUTHD_ERR_INVALID_ARGUMENT;
    }
    snprintf(t->uri, sizeof(t->uri), "%s:%s", family == AF_INET6 ? "ipv6" : "ipv4", target);
    return AUTHD_OK;
}

/*
 * Opens the channel to target: plaintext when tls is NULL, else TLS verified against
 * tls->ca_pem, with the client's certificate when one is given. gRPC copies the PEM text and
 * the channel arguments.
 */
static int
client_open(const char *target, const struct rpc_tls *tls, struct rpc_client **out)
{
    struct rpc_client *c;
    grpc_channel_credentials *creds;
    grpc_ssl_pem_key_cert_pair pair;
    grpc_arg args[5];
    grpc_channel_args cargs = {0, args};
    struct rpc_target *t;
    int r;

    t = malloc(sizeof(*t));
    if (t == NULL)
        return AUTHD_ERR_NOMEM;
    r = client_target(target, t);
    /* Over TLS, gRPC checks every address against one name: a list of different hosts needs
     * the caller to say which (rpc_tls.server_name). */
    if (r == AUTHD_OK && tls != NULL && t->authority[0] != '\0' && !t->same_host &&
        (tls->server_name == NULL || tls->server_name[0] == '\0'))
        r = AUTHD_ERR_INVALID_ARGUMENT;
    c = r == AUTHD_OK ? calloc(1, sizeof(*c)) : NULL;
    if (c == NULL) {
        free(t);
        return r != AUTHD_OK ? r : AUTHD_ERR_NOMEM;
    }
    memset(args, 0, sizeof(args));
    args[cargs.num_args].type = GRPC_ARG_STRING;
    args[cargs.num_args].key = GRPC_ARG_SERVICE_CONFIG;
    args[cargs.num_args++].value.string =
        (char *)(t->one_ip ? rpc_service_config_one : rpc_service_config);
    args[cargs.num_args].type = GRPC_ARG_INTEGER;
    args[cargs.num_args].key = GRPC_ARG_SERVICE_CONFIG_DISABLE_RESOLUTION;
    args[cargs.num_args++].value.integer = 1;
    /* A replica that comes back is tried again within seconds, not gRPC's default 2 minutes. */
    args[cargs.num_args].type = GRPC_ARG_INTEGER;
    args[cargs.num_args].key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    args[cargs.num_args++].value.integer = RPC_RECONNECT_MAX_MS;
    /* A list's authority (and TLS name) is its first address, not the whole list. */
    if (t->authority[0] != '\0') {
        args[cargs.num_args].type = GRPC_ARG_STRING;
        args[cargs.num_args].key = GRPC_ARG_DEFAULT_AUTHORITY;
        args[cargs.num_args++].value.string = t->authority;
    }
    grpc_init();
    if (tls == NULL) {
        creds = grpc_insecure_credentials_create();
    } else {
        pair.private_key = tls->key_pem;
        pair.cert_chain = tls->cert_pem;
        creds = grpc_ssl_credentials_create_ex(tls->ca_pem, pem_given(tls->cert_pem) ? &pair : NULL,
                                               NULL, NULL);
        if (tls->server_name != NULL && tls->server_name[0] != '\0') {
            args[cargs.num_args].type = GRPC_ARG_STRING;
            args[cargs.num_args].key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
            args[cargs.num_args++].value.string = (char *)tls->server_name;
        }
    }
    c->channel = creds != NULL ? grpc_channel_create(t->uri, creds, &cargs) : NULL;
    free(t);
    if (creds != NULL)
        grpc_channel_credentials_release(creds);
    if (c->channel == NULL) {
        free(c);
        grpc_shutdown();
        return creds != NULL ? AUTHD_ERR_INVALID_ARGUMENT : AUTHD_ERR_NOMEM;
    }
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return AUTHD_OK;
}

int
rpc_client_new(const char *target, struct rpc_client **out)
{
    if (out != NULL)
        *out = NULL;
    if (target == NULL || *target == '\0' || out == NULL)
        return AUTHD_ERR_INVALID_ARGUMENT;
    return client_open(target, NULL, out);
}

int
rpc_client_new_tls(const char *target, const struct rpc_tls *tls, struct rpc_client **out)
{
    if (out != NULL)
        *out = NULL;
    if (target == NULL || *target == '\0' || out == NULL || tls == NULL ||
        !pem_given(tls->ca_pem) || pem_given(tls->cert_pem) != pem_given(tls->key_pem))
        return AUTHD_ERR_INVALID_ARGUMENT;
    return client_open(target, tls, out);
}

void
rpc_client_free(struct rpc_client *c)
{
    if (c == NULL)
        return;
    grpc_channel_destroy(c->channel);
    for (size_t i = 0; i < c->n_methods; i++)
        free(c->methods[i].path);
    pthread_mutex_destroy(&c->mu);
    free(c);
    grpc_shutdown();
}

/* The registered-call handle for method, registering it on first use; NULL when full. */
static void *
method_handle(struct rpc_client *c, const char *method)
{
    void *h = NULL;

    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_methods; i++) {
        if (strcmp(c->methods[i].path, method) == 0) {
            h = c->methods[i].handle;
            goto out;
        }
    }
    if (c->n_methods < RPC_CLIENT_MAX_METHODS) {
        char *path = strdup(method);
        if (path == NULL)
            goto out;
        h = grpc_channel_register_call(c->channel, path, NULL, NULL);
        if (h == NULL) {
            free(path);
            goto out;
        }
        c->methods[c->n_methods].path = path;
        c->methods[c->n_methods].handle = h;
        c->n_methods++;
    }
out:
    pthread_mutex_unlock(&c->mu);
    return h;
}

/* Decodes a received answer (NULL: the empty message) with protobuf-c's allocator. */
static int
unpack_response(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc,
                ProtobufCMessage **out)
{
    static const uint8_t none[1];
    grpc_byte_buffer_reader r;
    grpc_slice s;

    if (bb == NULL) {
        *out = protobuf_c_message_unpack(desc, NULL, 0, none);
        return *out != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
    }
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return AUTHD_ERR_INTERNAL;
    s = grpc_byte_buffer_reader_readall(&r);
    if (r.buffer_out != r.buffer_in)
        rpc_bb_wipe(r.buffer_out);
    grpc_byte_buffer_reader_destroy(&r);
    *out = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    secret_wipe(GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
    grpc_slice_unref(s);
    rpc_bb_wipe(bb);
    return *out != NULL ? AUTHD_OK : AUTHD_ERR_INTERNAL;
}

/* Copies the slice into a NUL-terminated buffer of cap bytes, cut if longer. */
static void
slice_copy(grpc_slice s, char *dst, size_t cap)
{
    size_t len = GRPC_SLICE_LENGTH(s);

    if (len >= cap)
        len = cap - 1;
    memcpy(dst, GRPC_SLICE_START_PTR(s), len);
    dst[len] = '\0';
}

/* The trailer named key, or NULL. */
static const grpc_metadata *
find_trailer(const grpc_metadata_array *md, const char *key)
{
    for (size_t i = 0; i < md->count; i++)
        if (grpc_slice_str_cmp(md->metadata[i].key, key) == 0)
            return &md->metadata[i];
    return NULL;
}

/* The seconds of an authd-retry-after value: decimal digits only, else 0; capped. */
static int64_t
retry_after_of(grpc_slice v)
{
    const char *p = (const char *)GRPC_SLICE_START_PTR(v);
    size_t len = GRPC_SLICE_LENGTH(v);
    int64_t n = 0;

    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        if (n < RPC_RETRY_AFTER_MAX)
            n = n * 10 + (p[i] - '0');
    }
    return n < RPC_RETRY_AFTER_MAX ? n : RPC_RETRY_AFTER_MAX;
}

/* Copies a failure's structured details (rpc.h: rpc_ctx_set_oauth_error...) into st. */
static void
read_details(const grpc_metadata_array *md, struct rpc_status *st)
{
    const grpc_metadata *m = find_trailer(md, AUTHD_OAUTH_ERROR_MD_KEY);

    if (m != NULL && rpc_oauth_code_ok((const char *)GRPC_SLICE_START_PTR(m->value),
                                       GRPC_SLICE_LENGTH(m->value)))
        slice_copy(m->value, st->oauth_error, sizeof(st->oauth_error));
    m = find_trailer(md, AUTHD_RETRY_AFTER_MD_KEY);
    if (m != NULL)
        st->retry_after = retry_after_of(m->value);
}

/* Shuts the call's queue down, drains it and destroys it. NULL is a no-op. */
static void
cq_free(grpc_completion_queue *cq)
{
    grpc_event ev;

    if (cq == NULL)
        return;
    grpc_completion_queue_shutdown(cq);
    do
        ev = grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    while (ev.type != GRPC_QUEUE_SHUTDOWN);
    grpc_completion_queue_destroy(cq);
}

/*
 * The error a failed call stands for: the server's authd-error reason when it sent one this
 * client knows, else the one for the status code.
 */
static int
failed_call_err(grpc_status_code status, const grpc_metadata *reason)
{
    int r;

    if (reason == NULL)
        return rpc_err_from_status((int)status);
    r = authd_err_from_reason((const char *)GRPC_SLICE_START_PTR(reason->value),
                              GRPC_SLICE_LENGTH(reason->value));
    /* A reason from a newer server maps to INTERNAL here: the status says more. */
    if (r == AUTHD_OK ||
        (r == AUTHD_ERR_INTERNAL &&
         grpc_slice_str_cmp(reason->value, authd_err_reason(AUTHD_ERR_INTERNAL)) != 0))
        return rpc_err_from_status((int)status);
    return r;
}

int
rpc_call(struct rpc_client *c, const char *method, const ProtobufCMessage *req,
         const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **resp, int timeout_ms,
         struct rpc_status *st)
{
    return rpc_call_md(c, method, NULL, req, resp_desc, resp, timeout_ms, st);
}

/* What one call sends and receives; the receive side must live until the batch completes. */
struct call_io {
    grpc_metadata send_md[RPC_CLIENT_MAX_MD];
    size_t n_md;
    grpc_byte_buffer *send_bb;
    grpc_byte_buffer *recv_bb;
    grpc_metadata_array recv_initial;
    grpc_metadata_array recv_trailing;
    grpc_status_code status;
    grpc_slice details;
};

/* Checks md (rpc.h: rpc_call_md) and points io->send_md at it. */
static int
md_build(const char *const *md, struct call_io *io)
{
    for (; md != NULL && md[2 * io->n_md] != NULL; io->n_md++) {
        size_t k = io->n_md;
        if (k == RPC_CLIENT_MAX_MD || md[2 * k + 1] == NULL)
            return AUTHD_ERR_INVALID_ARGUMENT;
        io->send_md[k].key = grpc_slice_from_static_string(md[2 * k]);
        io->send_md[k].value = grpc_slice_from_static_string(md[2 * k + 1]);
        if (!grpc_header_key_is_legal(io->send_md[k].key) ||
            (!grpc_is_binary_header(io->send_md[k].key) &&
             !grpc_header_nonbin_value_is_legal(io->send_md[k].value)))
            return AUTHD_ERR_INVALID_ARGUMENT;
    }
    return AUTHD_OK;
}

/* A new call of method on cq, registered when the path is cached, else by name; NULL on error. */
static grpc_call *
call_create(struct rpc_client *c, const char *method, grpc_completion_queue *cq,
            gpr_timespec deadline)
{
    void *handle = method_handle(c, method);
    if (handle != NULL)
        return grpc_channel_create_registered_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                                   handle, deadline, NULL);
    return grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                    grpc_slice_from_static_string(method), NULL, deadline, NULL);
}

/*
 * Runs the call's one batch (send all, receive all) and waits for it. A call still pending a
 * margin past its deadline is cancelled and counts as DEADLINE_EXCEEDED. AUTHD_OK once
 * io->status is the call's, or the error that kept the batch from starting.
 */
/*
 * A batch that failed as a whole (ev.success 0) may leave its status op unset: that call never
 * reached authd as far as we know, so it is UNAVAILABLE (retryable), on both the blocking and
 * the queued paths.
 */
static void
batch_failed_status(int success, struct call_io *io)
{
    if (!success && io->status == GRPC_STATUS_UNKNOWN)
        io->status = GRPC_STATUS_UNAVAILABLE;
}

static int
call_run(grpc_call *call, grpc_completion_queue *cq, gpr_timespec deadline, struct call_io *io)
{
    grpc_op ops[6];
    int tag = 0;

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = io->n_md;
    ops[0].data.send_initial_metadata.metadata = io->n_md > 0 ? io->send_md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = io->send_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &io->recv_initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &io->recv_bb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &io->recv_trailing;
    ops[5].data.recv_status_on_client.status = &io->status;
    ops[5].data.recv_status_on_client.status_details = &io->details;
    grpc_call_error ce = grpc_call_start_batch(call, ops, 6, &tag, NULL);
    if (ce != GRPC_CALL_OK)
        return ce == GRPC_CALL_ERROR_INVALID_METADATA ? AUTHD_ERR_INVALID_ARGUMENT
                                                      : AUTHD_ERR_INTERNAL;
    /* gRPC ends the call at its deadline; the margin only guards against a stuck call. */
    grpc_event ev = grpc_completion_queue_pluck(
        cq, &tag, gpr_time_add(deadline, gpr_time_from_millis(RPC_PLUCK_MARGIN_MS, GPR_TIMESPAN)),
        NULL);
    if (ev.type != GRPC_OP_COMPLETE) {
        grpc_call_cancel(call, NULL);
        grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        io->status = GRPC_STATUS_DEADLINE_EXCEEDED;
    } else {
        batch_failed_status(ev.success, io);
    }
    return AUTHD_OK;
}

/* The outcome of a call that got a status: the decoded answer, or the server's error and its
 * details in st (may be NULL). */
static int
call_outcome(struct call_io *io, const ProtobufCMessageDescriptor *resp_desc,
             ProtobufCMessage **resp, struct rpc_status *st)
{
    int r;

    if (st != NULL) {
        st->code = (int)io->status;
        slice_copy(io->details, st->message, sizeof(st->message));
    }
    if (io->status == GRPC_STATUS_OK) {
        r = unpack_response(io->recv_bb, resp_desc, resp);
        if (r != AUTHD_OK && st != NULL) {
            st->code = GRPC_STATUS_INTERNAL;
            snprintf(st->message, sizeof(st->message), "malformed response message");
        }
        return r;
    }
    const grpc_metadata *reason = find_trailer(&io->recv_trailing, AUTHD_ERR_MD_KEY);
    r = failed_call_err(io->status, reason);
    if (reason != NULL && st != NULL)
        slice_copy(reason->value, st->reason, sizeof(st->reason));
    if (st != NULL)
        read_details(&io->recv_trailing, st);
    return r;
}

int
rpc_call_md(struct rpc_client *c, const char *method, const char *const *md,
            const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
            ProtobufCMessage **resp, int timeout_ms, struct rpc_status *st)
{
    struct call_io io;
    grpc_completion_queue *cq = NULL;
    grpc_call *call = NULL;
    gpr_timespec deadline;
    int got_status = 0;
    int r = AUTHD_ERR_INTERNAL;

    memset(&io, 0, sizeof(io));
    io.status = GRPC_STATUS_UNKNOWN;
    io.details = grpc_empty_slice();
    grpc_metadata_array_init(&io.recv_initial);
    grpc_metadata_array_init(&io.recv_trailing);
    if (resp != NULL)
        *resp = NULL;
    if (st != NULL)
        memset(st, 0, sizeof(*st));
    if (c == NULL || method == NULL || method[0] != '/' || req == NULL || resp_desc == NULL ||
        resp == NULL || timeout_ms <= 0) {
        r = AUTHD_ERR_INVALID_ARGUMENT;
        goto out;
    }
    r = md_build(md, &io);
    if (r == AUTHD_OK)
        r = rpc_pack(req, &io.send_bb);
    if (r != AUTHD_OK)
        goto out;
    cq = grpc_completion_queue_create_for_pluck(NULL);
    if (cq == NULL) {
        r = AUTHD_ERR_NOMEM;
        goto out;
    }
    deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    call = call_create(c, method, cq, deadline);
    r = call != NULL ? call_run(call, cq, deadline, &io) : AUTHD_ERR_INTERNAL;
    if (r != AUTHD_OK)
        goto out;
    got_status = 1;
    r = call_outcome(&io, resp_desc, resp, st);

out:
    if (io.recv_bb != NULL) {
        rpc_bb_wipe(io.recv_bb);
        grpc_byte_buffer_destroy(io.recv_bb);
    }
    if (io.send_bb != NULL)
        grpc_byte_buffer_destroy(io.send_bb);
    grpc_slice_unref(io.details);
    grpc_metadata_array_destroy(&io.recv_initial);
    grpc_metadata_array_destroy(&io.recv_trailing);
    if (call != NULL)
        grpc_call_unref(call);
    cq_free(cq);
    /* A failure without a status from the server: describe it the same way. */
    if (r != AUTHD_OK && st != NULL) {
        if (!got_status)
            st->code = rpc_status_from_err(r);
        if (st->reason[0] == '\0')
            snprintf(st->reason, sizeof(st->reason), "%s", authd_err_reason(r));
        if (st->message[0] == '\0')
            snprintf(st->message, sizeof(st->message), "%s", authd_strerror(r));
    }
    return r;
}

/* ---- calls in flight on a queue -------------------------------------------------------- */

struct rpc_queue {
    grpc_completion_queue *cq;
};

struct rpc_pending {
    grpc_call *call;
    void *user;
    int failed; /* gRPC refused the batch: the outcome is AUTHD_ERR_INTERNAL */
    /* Cancelled by rpc_call_expire_overdue(): finishes as DEADLINE_EXCEEDED, as a blocking
     * call stuck past the same margin does (call_run). Read and written by the queue's
     * thread only. */
    int expired;
    gpr_timespec deadline;
    struct call_io io;
};

int
rpc_queue_new(struct rpc_queue **out)
{
    *out = NULL;
    struct rpc_queue *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return AUTHD_ERR_NOMEM;
    grpc_init();
    q->cq = grpc_completion_queue_create_for_next(NULL);
    if (q->cq == NULL) {
        free(q);
        grpc_shutdown();
        return AUTHD_ERR_NOMEM;
    }
    *out = q;
    return AUTHD_OK;
}

/* Frees a call's resources, wiping what it received. */
static void
pending_free(struct rpc_pending *p)
{
    if (p->io.recv_bb != NULL) {
        rpc_bb_wipe(p->io.recv_bb);
        grpc_byte_buffer_destroy(p->io.recv_bb);
    }
    if (p->io.send_bb != NULL) {
        rpc_bb_wipe(p->io.send_bb);
        grpc_byte_buffer_destroy(p->io.send_bb);
    }
    grpc_slice_unref(p->io.details);
    grpc_metadata_array_destroy(&p->io.recv_initial);
    grpc_metadata_array_destroy(&p->io.recv_trailing);
    if (p->call != NULL)
        grpc_call_unref(p->call);
    free(p);
}

int
rpc_call_prepare(struct rpc_client *c, struct rpc_queue *q, const char *method,
                 const ProtobufCMessage *req, int timeout_ms, void *user, struct rpc_pending **out)
{
    *out = NULL;
    if (c == NULL || q == NULL || method == NULL || method[0] != '/' || req == NULL ||
        timeout_ms <= 0)
        return AUTHD_ERR_INVALID_ARGUMENT;
    struct rpc_pending *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return AUTHD_ERR_NOMEM;
    p->user = user;
    p->io.status = GRPC_STATUS_UNKNOWN;
    p->io.details = grpc_empty_slice();
    grpc_metadata_array_init(&p->io.recv_initial);
    grpc_metadata_array_init(&p->io.recv_trailing);
    int r = rpc_pack(req, &p->io.send_bb);
    if (r != AUTHD_OK) {
        pending_free(p);
        return r;
    }
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    p->deadline = deadline;
    p->call = call_create(c, method, q->cq, deadline);
    if (p->call == NULL) {
        pending_free(p);
        return AUTHD_ERR_INTERNAL;
    }
    *out = p;
    return AUTHD_OK;
}

int
rpc_call_start(struct rpc_pending *p)
{
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = p->io.send_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &p->io.recv_initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &p->io.recv_bb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &p->io.recv_trailing;
    ops[5].data.recv_status_on_client.status = &p->io.status;
    ops[5].data.recv_status_on_client.status_details = &p->io.details;
    if (grpc_call_start_batch(p->call, ops, 6, p, NULL) != GRPC_CALL_OK) {
        p->io.status = GRPC_STATUS_INTERNAL;
        p->failed = 1;
        return AUTHD_ERR_INTERNAL;
    }
    return AUTHD_OK;
}

void
rpc_call_cancel(struct rpc_pending *p)
{
    if (p != NULL && p->call != NULL)
        grpc_call_cancel(p->call, NULL);
}

int
rpc_call_expire_overdue(struct rpc_pending *p)
{
    if (p == NULL || p->call == NULL || p->expired)
        return 0;
    gpr_timespec limit =
        gpr_time_add(p->deadline, gpr_time_from_millis(RPC_PLUCK_MARGIN_MS, GPR_TIMESPAN));
    if (gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), limit) < 0)
        return 0;
    p->expired = 1;
    grpc_call_cancel(p->call, NULL);
    return 1;
}

int
rpc_queue_poll(struct rpc_queue *q, int wait_ms, struct rpc_pending **p, void **user)
{
    gpr_timespec until = wait_ms < 0 ? gpr_inf_future(GPR_CLOCK_MONOTONIC)
                                     : gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                                    gpr_time_from_millis(wait_ms, GPR_TIMESPAN));
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(q->cq, until, NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            return 0;
        if (ev.type == GRPC_QUEUE_TIMEOUT)
            return -1;
        if (ev.type != GRPC_OP_COMPLETE || ev.tag == NULL)
            continue;
        *p = ev.tag;
        *user = (*p)->user;
        if ((*p)->expired)
            (*p)->io.status = GRPC_STATUS_DEADLINE_EXCEEDED;
        else
            batch_failed_status(ev.success, &(*p)->io);
        return 1;
    }
}

int
rpc_queue_next(struct rpc_queue *q, struct rpc_pending **p, void **user)
{
    return rpc_queue_poll(q, -1, p, user);
}

int
rpc_call_finish(struct rpc_pending *p, const ProtobufCMessageDescriptor *resp_desc,
                ProtobufCMessage **resp, struct rpc_status *st)
{
    ProtobufCMessage *local = NULL;
    if (resp != NULL)
        *resp = NULL;
    if (st != NULL)
        memset(st, 0, sizeof(*st));
    int r = p->failed ? AUTHD_ERR_INTERNAL
                      : call_outcome(&p->io, resp_desc, resp != NULL ? resp : &local, st);
    if (p->failed && st != NULL)
        st->code = GRPC_STATUS_INTERNAL;
    rpc_msg_free(local);
    pending_free(p);
    if (r != AUTHD_OK && st != NULL) {
        if (st->reason[0] == '\0')
            snprintf(st->reason, sizeof(st->reason), "%s", authd_err_reason(r));
        if (st->message[0] == '\0')
            snprintf(st->message, sizeof(st->message), "%s", authd_strerror(r));
    }
    return r;
}

void
rpc_queue_shutdown(struct rpc_queue *q)
{
    if (q != NULL)
        grpc_completion_queue_shutdown(q->cq);
}

void
rpc_queue_free(struct rpc_queue *q)
{
    if (q == NULL)
        return;
    grpc_completion_queue_destroy(q->cq);
    free(q);
    grpc_shutdown();
}
