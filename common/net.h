/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Listening sockets for the HTTP servers (the edge and authd's metrics endpoint); gRPC binds
 * its own.
 */
#ifndef AUTHD_COMMON_NET_H
#define AUTHD_COMMON_NET_H

#include <stddef.h>

/*
 * Splits "host:port" or "[v6]:port" into host (may come out empty: every address) and port
 * (digits only). Returns 0, or -1 when malformed (no port, a bare IPv6 address, too long).
 */
int net_split_hostport(const char *addr, char *host, size_t hcap, char *port, size_t pcap);

/*
 * Binds a non-blocking, close-on-exec TCP socket to addr ("host:port", "[v6]:port"; port 0 picks
 * a free one) and listens with the given backlog. Returns the fd with *port_out the port bound,
 * or a (negative) enum authd_err: AUTHD_ERR_INVALID_ARGUMENT for a malformed or unresolvable
 * address, AUTHD_ERR_UNAVAILABLE when it cannot be bound. A failure is logged as event.
 */
int net_listen(const char *addr, int backlog, const char *event, int *port_out);

#endif
