/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who sent a request when the edge sits behind reverse proxies: which socket peers are trusted
 * proxies, and what their X-Forwarded-For / X-Forwarded-Proto field lines say.
 *
 * Repeated field lines are one comma-separated list, in the order received (RFC 9110 §5.3):
 * HAProxy's `option forwardfor` appends a line of its own after whatever the client sent, so
 * only the entries on the right were written by trusted hops; everything to their left may be
 * forged by the client. The client is the entry `hops` places from the right (each trusted
 * proxy in the chain adds one), and with trusted networks, entries that are themselves trusted
 * proxies are skipped leftwards (nginx's real_ip_recursive). Pure functions, no allocation:
 * callable from any thread on a struct proxy_trust that nobody writes any more.
 */
#ifndef AUTHD_EDGE_PROXY_H
#define AUTHD_EDGE_PROXY_H

#include <stddef.h>

#define PROXY_NETS_MAX 64 /* networks in --trusted-proxies */
#define PROXY_HOPS_MAX 16 /* --proxy-hops */
/* Entries walked leftwards past the hop count through trusted networks before giving up. */
#define PROXY_WALK_MAX 64

struct proxy_net {
    unsigned char addr[16]; /* IPv6, IPv4 as ::ffff:a.b.c.d; host bits cleared */
    unsigned prefix;        /* 0..128 (an IPv4 /n is 96 + n) */
};

struct proxy_trust {
    int enabled;   /* honour forwarded headers from trusted peers at all */
    int any_peer;  /* --trust-proxy without --trusted-proxies: every peer is the proxy */
    unsigned hops; /* trusted proxies in the chain, 1..PROXY_HOPS_MAX */
    size_t n_nets;
    struct proxy_net nets[PROXY_NETS_MAX];
};

/*
 * Parses list ("10.0.0.0/8, 192.168.1.7, fd00::/8": comma- or space-separated addresses or
 * CIDR networks, IPv4 or IPv6) into t->nets / t->n_nets. AUTHD_OK, or AUTHD_ERR_INVALID_ARGUMENT
 * (t->n_nets 0) for an empty list, a bad address or prefix, or more than PROXY_NETS_MAX.
 */
int proxy_nets_parse(const char *list, struct proxy_trust *t);

/*
 * Parses one address of n bytes at s, as proxies write them in X-Forwarded-For: "192.0.2.1",
 * "192.0.2.1:4711", "2001:db8::1", "[2001:db8::1]" or "[2001:db8::1]:4711" into out (IPv6,
 * IPv4 mapped). 1, or 0 for anything else ("unknown", names, garbage).
 */
int proxy_addr_parse(const char *s, size_t n, unsigned char out[16]);

/* 1 when addr (16 bytes, IPv4 mapped) lies in one of t's networks. */
int proxy_in_nets(const struct proxy_trust *t, const unsigned char addr[16]);

/*
 * 1 when forwarded headers from the socket peer addr (16 bytes, IPv4 mapped; NULL when unknown)
 * are to be honoured: t is enabled and either any peer is trusted or addr is in t's networks.
 */
int proxy_peer_trusted(const struct proxy_trust *t, const unsigned char *addr);

/*
 * The client address from the X-Forwarded-For field lines lines[0..n) (in the order received),
 * as written by the trusted hops, formatted into out (inet_ntop form, IPv4 for mapped
 * addresses). truncated says that earlier lines were dropped (the caller keeps only the last
 * ones): walking past the kept lines then gives 0. 1 when out holds an address; 0 when the
 * lines name none usable (no entry, or the chosen entry is not an address): use the peer.
 * The caller has checked proxy_peer_trusted().
 */
int proxy_client_addr(const struct proxy_trust *t, const char *const *lines, size_t n,
                      int truncated, char *out, size_t cap);

/*
 * 1 when the X-Forwarded-Proto field lines lines[0..n) say "https" in the entry the trusted
 * hops wrote: `hops` places from the right, or the left-most when there are fewer. 0 otherwise.
 */
int proxy_proto_https(const struct proxy_trust *t, const char *const *lines, size_t n);

#endif
