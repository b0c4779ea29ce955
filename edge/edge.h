/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process-wide context of authd-edge: settings fixed at start and the two shared clients
 * (authd, mail). Built by main.c, read (never written) by every request thread.
 */
#ifndef AUTHD_EDGE_EDGE_H
#define AUTHD_EDGE_EDGE_H

#include "edge/proxy.h"

struct edge_authd;
struct mail;

struct edge {
    char base_url[512];       /* public base URL, no trailing slash: "https://auth.example.com" */
    char base_origin[512];    /* scheme://host[:port] of base_url, lower-case (Origin checks) */
    int base_https;           /* base_url is https: cookies are always Secure */
    int trust_proxy;          /* behind a reverse proxy: --trust-proxy or --trusted-proxies */
    struct proxy_trust proxy; /* whose X-Forwarded-For / -Proto to honour, and how */
    int tls;                  /* we terminate TLS ourselves */
    struct edge_authd *authd;
    struct mail *mail;
};

#endif
