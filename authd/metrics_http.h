/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authd's metrics: the families it exports, the RPC observe hook that feeds them, and a small
 * HTTP endpoint (libmicrohttpd, one thread) answering GET /metrics in the Prometheus text
 * format. It has no authentication of its own: listen on loopback or a private network.
 */
#ifndef AUTHD_METRICS_HTTP_H
#define AUTHD_METRICS_HTTP_H

#include <stdint.h>

/*
 * Describes authd's RPC families (authd_rpc_requests_total, authd_rpc_duration_seconds). The
 * storage backend describes its own (store_open) and audit.c its own. Call once at start.
 */
void metrics_http_describe(void);

/*
 * An rpc_observe_fn (see rpc.h) for struct rpc_server_opts.observe: counts the call in
 * authd_rpc_requests_total{service,method,code} (code is the gRPC status name, e.g. "OK") and
 * records its latency in authd_rpc_duration_seconds{service,method}. arg is not used, so the
 * hook_arg may belong to the authorize hook.
 */
void metrics_http_observe(void *arg, const char *service, const char *method, int status,
                          uint64_t elapsed_ns);

/* The gRPC status name for code ("OK", "PERMISSION_DENIED"...), "UNKNOWN" when out of range. */
const char *metrics_http_code_name(int code);

struct metrics_http;

/*
 * Binds listen ("127.0.0.1:9464", "[::1]:0"; port 0 picks a free one) and serves GET /metrics
 * (HEAD too) from a thread of its own; other paths get 404, other methods 405. On success *out
 * is the server and *port the bound port. AUTHD_OK, AUTHD_ERR_INVALID_ARGUMENT (malformed
 * address), AUTHD_ERR_UNAVAILABLE (cannot bind or start; logged) or AUTHD_ERR_NOMEM.
 */
int metrics_http_start(const char *listen, struct metrics_http **out, int *port);

/* Stops serving and frees h. NULL is a no-op. */
void metrics_http_stop(struct metrics_http *h);

#endif
