/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP server: a libmicrohttpd daemon with a thread pool (handlers block on RPCs), the
 * route table, per-request state, the body cap, security headers and the request log. The only
 * code in the edge that includes microhttpd.h.
 */
#ifndef AUTHD_EDGE_SERVER_H
#define AUTHD_EDGE_SERVER_H

#include <stddef.h>

#include "edge/edge.h"

#define EDGE_BODY_MAX ((size_t)64 * 1024)

struct edge_server_opts {
    const char *listen;  /* "127.0.0.1:8080", "[::1]:0", ":8080"; port 0 = any free */
    unsigned threads;    /* MHD thread pool size; 0 = a thread per connection */
    unsigned conn_limit; /* 0 = 1024 */
    /* Pool mode (threads > 0): the worker threads that run page flows, at most page_workers
     * (0 = 64); flows past them wait in a queue of page_queue (0 = 256), and past that are
     * answered 503 with Retry-After; a worker idle for worker_idle_ms (0 = 5000) exits. */
    unsigned page_workers;
    unsigned page_queue;
    unsigned worker_idle_ms;
    unsigned per_ip_limit;    /* 0 = no per-address limit */
    unsigned timeout_s;       /* idle connection timeout; 0 = 15 */
    size_t memory_limit;      /* per-connection memory; 0 = 64 KiB (MHD keeps headers and a
                               * record per cookie there: 32 KiB gave 431 for ~300 cookies) */
    const char *tls_cert_pem; /* both set: serve HTTPS (PEM text, borrowed until stop) */
    const char *tls_key_pem;
    /* Time to send a whole request (line, headers, body), from the connection's start or the
     * end of the previous answer; a client still sending then is cut. 0 = 30. */
    unsigned request_timeout_s;
    /* Time to send the request line and headers, from the same start; a client still sending
     * them then is cut, even while the whole-request deadline runs. 0 = 10; never more than
     * request_timeout_s. */
    unsigned header_timeout_s;
    /* GET /metrics: NULL serves it to loopback peers only; else it needs this bearer token
     * (borrowed for the call to edge_server_start only: a hash of it is kept). */
    const char *metrics_token;
};

struct edge_server;

/*
 * Splits "host:port" / "[v6]:port" / ":port" into host (may become "") and port. 0, or -1 when
 * malformed or too long for the buffers.
 */
int edge_listen_split(const char *listen, char *host, size_t hcap, char *port, size_t pcap);

/*
 * Binds the listen address and starts serving e (borrowed; must outlive the server). On
 * success *out is the server and *port the bound port. AUTHD_OK, AUTHD_ERR_INVALID_ARGUMENT
 * (bad address), AUTHD_ERR_UNAVAILABLE (cannot bind, or MHD failed to start; logged),
 * AUTHD_ERR_UNIMPLEMENTED (TLS asked but libmicrohttpd lacks it) or AUTHD_ERR_NOMEM.
 */
int edge_server_start(const struct edge_server_opts *o, const struct edge *e,
                      struct edge_server **out, int *port);

/*
 * Stops accepting connections; requests in flight continue and every later response asks the
 * client to close its connection.
 */
void edge_server_quiesce(struct edge_server *s);

/* Waits up to timeout_ms for the requests in flight to finish; returns how many are left. */
unsigned long edge_server_drain(struct edge_server *s, int timeout_ms);

/*
 * Stops the daemon (closing every connection) and frees s: 0 (also for NULL). From the call on,
 * new blocking calls to authd fail at once (edge_authd_refuse_calls). When flows running on
 * page workers have not finished within bound_ms (a blocking call or a webhook in progress),
 * logs stop_timeout and returns -1 with s, the daemon and e's authd client left as they are:
 * the caller must exit without freeing them.
 */
int edge_server_stop(struct edge_server *s, int bound_ms);

#endif
