/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authd's metrics endpoint: a libmicrohttpd daemon with one internal thread (scrapes are rare
 * and cheap) that renders the process-wide registry for GET /metrics, and the RPC observe hook
 * that feeds the RPC families. The only file of authd that includes microhttpd.h.
 */
#include "authd/metrics_http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <microhttpd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/net.h"

#define RPC_REQUESTS "authd_rpc_requests_total"
#define RPC_DURATION "authd_rpc_duration_seconds"
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_http {
    struct MHD_Daemon *d;
};

/* grpc_status_code names, by value (grpc/impl/codegen/status.h; fixed by the gRPC spec). */
static const char *const code_names[] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

const char *
metrics_http_code_name(int code)
{
    if (code < 0 || (size_t)code >= sizeof(code_names) / sizeof(code_names[0]))
        return "UNKNOWN";
    return code_names[code];
}

void
metrics_http_describe(void)
{
    metrics_describe(RPC_REQUESTS, METRICS_COUNTER,
                     "RPCs answered, by service, method and gRPC status code.");
    metrics_describe(RPC_DURATION, METRICS_HISTOGRAM,
                     "Time from an RPC's arrival to its answer, in seconds.");
}

void
metrics_http_observe(void *arg, const char *service, const char *method, int status,
                     uint64_t elapsed_ns)
{
    (void)arg;
    char labels[256];
    /* Unregistered methods all share one series: their names come from the caller. */
    if (service == NULL || service[0] == '\0')
        service = "unregistered";
    if (method == NULL || method[0] == '\0')
        method = "unregistered";
    metrics_labels(labels, sizeof(labels), "service", service, "method", method, "code",
                   metrics_http_code_name(status), NULL);
    metrics_count(RPC_REQUESTS, labels, 1);
    metrics_labels(labels, sizeof(labels), "service", service, "method", method, NULL);
    metrics_observe(RPC_DURATION, labels, (double)elapsed_ns / 1e9);
}

/* ---- HTTP ------------------------------------------------------------------------------ */

__attribute__((format(printf, 2, 0))) static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    log_vmessage(LOG_WARN, "metrics_http", fmt, ap);
}

/* Queues a response made of body (static text, or malloc'd when owned) with status. */
static enum MHD_Result
answer(struct MHD_Connection *c, unsigned status, const char *type, char *body, size_t len,
       int owned)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        if (owned)
            free(body);
        return MHD_NO;
    }
    int ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) == MHD_YES &&
             MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES &&
             MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff") == MHD_YES;
    if (ok && status == MHD_HTTP_METHOD_NOT_ALLOWED)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") == MHD_YES;
    enum MHD_Result r = ok ? MHD_queue_response(c, status, resp) : MHD_NO;
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result
answer_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    return answer(c, status, "text/plain; charset=utf-8", (char *)text, strlen(text), 0);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    static int seen; /* a marker: any non-NULL pointer will do */
    (void)cls;
    (void)version;
    (void)upload_data;
    /* Answer on the second call, never the first, or MHD closes every connection after it. */
    if (*con_cls == NULL) {
        *con_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0; /* a body is read and dropped; nothing here takes one */
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") != 0)
        return answer_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return answer_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    size_t len = 0;
    char *text = metrics_render(&len);
    if (text == NULL)
        return answer_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return answer(c, MHD_HTTP_OK, METRICS_CONTENT_TYPE, text, len, 1);
}

int
metrics_http_start(const char *listen, struct metrics_http **out, int *port)
{
    *out = NULL;
    *port = 0;
    if (listen == NULL)
        return AUTHD_ERR_INVALID_ARGUMENT;
    struct metrics_http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return AUTHD_ERR_NOMEM;
    int fd = net_listen(listen, 64, "metrics_listen_failed", port);
    if (fd < 0) {
        free(h);
        return fd;
    }
    h->d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG, 0,
                         NULL, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
                         MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned int)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024, MHD_OPTION_END);
    if (h->d == NULL) {
        log_event(LOG_ERROR, "metrics_listen_failed", "reason=mhd_start_daemon");
        close(fd);
        free(h);
        return AUTHD_ERR_UNAVAILABLE;
    }
    *out = h;
    return AUTHD_OK;
}

void
metrics_http_stop(struct metrics_http *h)
{
    if (h == NULL)
        return;
    if (h->d != NULL)
        MHD_stop_daemon(h->d); /* closes the listening socket it was given */
    free(h);
}
