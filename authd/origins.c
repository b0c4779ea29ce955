/* SPDX-License-Identifier: Apache-2.0 */
/* Client.allowed_origins and OAuth.CheckOrigin: see origins.h. */
#include "authd/origins.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "authd/authd.h"
#include "authd/clients.h"
#include "authd/keys.h"
#include "authd/v1/oauth.pb-c.h"
#include "common/err.h"
#include "storage/records.pb-c.h"
#include "storage/store.h"

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A DNS name of n bytes at s: ASCII letters, digits, '-' and '.', no empty label. */
static int
dns_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
                 (c == '.' && s[i + 1] != '.');
        if (!ok)
            return 0;
    }
    return 1;
}

const char *
origin_normalise(const char *in, char *out, size_t cap)
{
    static const char shape[] = "not an origin: scheme://host[:port] with http or https, "
                                "nothing after the port (not even \"/\")";
    if (in == NULL || strlen(in) > ORIGIN_MAX || cap < ORIGIN_MAX + 1)
        return "an origin has at most 255 characters";
    int https;
    const char *rest;
    if (strncasecmp(in, "https://", 8) == 0) {
        https = 1;
        rest = in + 8;
    } else if (strncasecmp(in, "http://", 7) == 0) {
        https = 0;
        rest = in + 7;
    } else {
        return shape;
    }
    char host[ORIGIN_MAX + 1];
    const char *port = NULL;
    if (rest[0] == '[') {
        const char *close = strchr(rest, ']');
        if (close == NULL || (size_t)(close - rest - 1) >= INET6_ADDRSTRLEN)
            return shape;
        char v6[INET6_ADDRSTRLEN];
        memcpy(v6, rest + 1, (size_t)(close - rest - 1));
        v6[close - rest - 1] = '\0';
        struct in6_addr a;
        char canon[INET6_ADDRSTRLEN];
        if (inet_pton(AF_INET6, v6, &a) != 1 ||
            inet_ntop(AF_INET6, &a, canon, sizeof(canon)) == NULL)
            return shape;
        snprintf(host, sizeof(host), "[%s]", canon);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0')
            return shape;
    } else {
        size_t n = strcspn(rest, ":");
        if (!dns_name_ok(rest, n))
            return shape;
        for (size_t i = 0; i < n; i++)
            host[i] = (char)(rest[i] >= 'A' && rest[i] <= 'Z' ? rest[i] - 'A' + 'a' : rest[i]);
        host[n] = '\0';
        /* Digits and dots are an IPv4 address to a browser (WHATWG URL), which serialises it
         * canonically ("127.1" and "127.000.0.1" become "127.0.0.1"): only that form can ever
         * match an Origin header. */
        if (strspn(host, "0123456789.") == n) {
            struct in_addr v4;
            char canon[INET_ADDRSTRLEN];
            if (inet_pton(AF_INET, host, &v4) != 1 ||
                inet_ntop(AF_INET, &v4, canon, sizeof(canon)) == NULL || strcmp(canon, host) != 0)
                return "an IPv4 host must be written as four decimal numbers (127.0.0.1)";
        }
        if (rest[n] == ':')
            port = rest + n + 1;
    }
    long pnum = https ? 443 : 80;
    if (port != NULL) {
        size_t pn = strlen(port);
        if (pn == 0 || pn > 5)
            return shape;
        pnum = 0;
        for (size_t i = 0; i < pn; i++) {
            if (!is_digit(port[i]))
                return shape;
            pnum = pnum * 10 + (port[i] - '0');
        }
        if (pnum < 1 || pnum > 65535)
            return "the port of an origin is 1..65535";
    }
    int n;
    if (pnum == (https ? 443 : 80))
        n = snprintf(out, cap, "%s://%s", https ? "https" : "http", host);
    else
        n = snprintf(out, cap, "%s://%s:%ld", https ? "https" : "http", host, pnum);
    if (n < 0 || (size_t)n >= cap || (size_t)n > ORIGIN_MAX)
        return "an origin has at most 255 characters";
    return NULL;
}

struct origin_scan {
    const char *origin;
    int found;
};

static int
on_client(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct origin_scan *s = arg;
    (void)key;
    (void)klen;
    Authd__Storage__ClientRecord *rec = authd__storage__client_record__unpack(NULL, vlen, val);
    if (rec == NULL)
        return 0;
    if (rec->client != NULL && clients_active(rec))
        for (size_t i = 0; !s->found && i < rec->client->n_allowed_origins; i++)
            s->found = strcmp(rec->client->allowed_origins[i], s->origin) == 0;
    authd__storage__client_record__free_unpacked(rec, NULL);
    return s->found ? 1 : 0;
}

int
oauth_check_origin(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__CheckOriginRequest *req = (const void *)reqm;
    Authd__V1__CheckOriginResponse *resp = (void *)respm;
    struct origin_scan s = {.origin = req->origin, .found = 0};
    resp->max_age_s = ORIGIN_ANSWER_TTL_S;
    /* Nothing longer than a stored origin can match: no scan for it. */
    if (req->origin == NULL || req->origin[0] == '\0' || strlen(req->origin) > ORIGIN_MAX)
        return AUTHD_OK;
    int r = store_scan(a->store, KEY_CLIENT, strlen(KEY_CLIENT), NULL, 0, on_client, &s);
    if (r != AUTHD_OK)
        return r;
    resp->allowed = s.found;
    return AUTHD_OK;
}
