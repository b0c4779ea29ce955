/* SPDX-License-Identifier: Apache-2.0 */
/* Trusted proxies and the forwarded field lines they write: see proxy.h. */
#include "edge/proxy.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "common/err.h"

/* Reads list entries from the right across several field lines (RFC 9110 §5.3, §5.6.1). */
struct rwalk {
    const char *const *lines;
    size_t line;   /* lines[line - 1] is being read; 0: all read */
    size_t pos;    /* its bytes [0, pos) are not read yet */
    int open;      /* that line still has an element (possibly empty) to read */
    int truncated; /* lines before lines[0] were dropped */
};

static int
is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Positions w on the last line not yet read, skipping NULL ones. */
static void
rwalk_load(struct rwalk *w)
{
    w->open = 0;
    while (w->line > 0 && w->lines[w->line - 1] == NULL)
        w->line--;
    if (w->line > 0) {
        w->pos = strlen(w->lines[w->line - 1]);
        w->open = 1;
    }
}

static void
rwalk_init(struct rwalk *w, const char *const *lines, size_t n, int truncated)
{
    w->lines = lines;
    w->line = n;
    w->truncated = truncated;
    rwalk_load(w);
}

/*
 * The next non-empty list element leftwards: *s and *len (whitespace trimmed). 1, or 0 when
 * none is left. Empty elements ("a, , b", a line holding only spaces) are skipped, as §5.6.1
 * asks of recipients.
 */
static int
rwalk_next(struct rwalk *w, const char **s, size_t *len)
{
    while (w->line > 0) {
        if (!w->open) {
            w->line--;
            rwalk_load(w);
            continue;
        }
        const char *l = w->lines[w->line - 1];
        size_t end = w->pos, start = end;
        while (start > 0 && l[start - 1] != ',')
            start--;
        if (start == 0)
            w->open = 0; /* the line's first element: the previous line is next */
        else
            w->pos = start - 1;
        while (start < end && is_ows(l[start]))
            start++;
        while (end > start && is_ows(l[end - 1]))
            end--;
        if (end > start) {
            *s = l + start;
            *len = end - start;
            return 1;
        }
    }
    return 0;
}

/* A plain address (no brackets, no port) of n bytes at s into out; *v4 says which family. */
static int
parse_plain(const char *s, size_t n, unsigned char out[16], int *v4)
{
    char tmp[INET6_ADDRSTRLEN + 1];
    if (n == 0 || n >= sizeof(tmp))
        return 0;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    struct in_addr a4;
    if (strchr(tmp, ':') == NULL) {
        if (inet_pton(AF_INET, tmp, &a4) != 1)
            return 0;
        memset(out, 0, 10);
        out[10] = 0xff;
        out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        *v4 = 1;
        return 1;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET6, tmp, &a6) != 1)
        return 0;
    memcpy(out, &a6, 16);
    *v4 = 0;
    return 1;
}

/* 1 when the n bytes at s are ":" and 1 to 5 digits. */
static int
is_port_suffix(const char *s, size_t n)
{
    if (n < 2 || n > 6 || s[0] != ':')
        return 0;
    for (size_t i = 1; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

int
proxy_addr_parse(const char *s, size_t n, unsigned char out[16])
{
    int v4 = 0;
    if (n > 0 && s[0] == '[') { /* "[v6]" or "[v6]:port" */
        const char *close = memchr(s, ']', n);
        if (close == NULL)
            return 0;
        size_t rest = n - (size_t)(close - s) - 1;
        if (rest > 0 && !is_port_suffix(close + 1, rest))
            return 0;
        return parse_plain(s + 1, (size_t)(close - s) - 1, out, &v4) && !v4;
    }
    const char *colon = memchr(s, ':', n);
    if (colon != NULL && memchr(colon + 1, ':', n - (size_t)(colon - s) - 1) == NULL) {
        /* one colon: "a.b.c.d:port" */
        if (!is_port_suffix(colon, n - (size_t)(colon - s)))
            return 0;
        return parse_plain(s, (size_t)(colon - s), out, &v4) && v4;
    }
    return parse_plain(s, n, out, &v4);
}

static void
mask_bits(unsigned char a[16], unsigned prefix)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? prefix - i * 8 : 0;
        a[i] &= (unsigned char)(keep == 0 ? 0 : 0xff << (8 - keep));
    }
}

int
proxy_nets_parse(const char *list, struct proxy_trust *t)
{
    t->n_nets = 0;
    const char *p = list != NULL ? list : "";
    for (;;) {
        p += strspn(p, ", \t");
        if (*p == '\0')
            break;
        size_t n = strcspn(p, ", \t");
        const char *slash = memchr(p, '/', n);
        size_t an = slash != NULL ? (size_t)(slash - p) : n;
        struct proxy_net net;
        int v4 = 0;
        if (t->n_nets == PROXY_NETS_MAX || !parse_plain(p, an, net.addr, &v4)) {
            t->n_nets = 0;
            return AUTHD_ERR_INVALID_ARGUMENT;
        }
        unsigned max = v4 ? 32 : 128;
        unsigned prefix = max;
        if (slash != NULL) {
            size_t dn = n - an - 1;
            prefix = 0;
            for (size_t i = 0; i < dn; i++)
                prefix = slash[1 + i] >= '0' && slash[1 + i] <= '9'
                             ? prefix * 10 + (unsigned)(slash[1 + i] - '0')
                             : 1000;
            if (dn == 0 || dn > 3 || prefix > max) {
                t->n_nets = 0;
                return AUTHD_ERR_INVALID_ARGUMENT;
            }
        }
        net.prefix = v4 ? 96 + prefix : prefix;
        mask_bits(net.addr, net.prefix);
        t->nets[t->n_nets++] = net;
        p += n;
    }
    return t->n_nets > 0 ? AUTHD_OK : AUTHD_ERR_INVALID_ARGUMENT;
}

int
proxy_in_nets(const struct proxy_trust *t, const unsigned char addr[16])
{
    for (size_t i = 0; i < t->n_nets; i++) {
        unsigned char a[16];
        memcpy(a, addr, 16);
        mask_bits(a, t->nets[i].prefix);
        if (memcmp(a, t->nets[i].addr, 16) == 0)
            return 1;
    }
    return 0;
}

int
proxy_peer_trusted(const struct proxy_trust *t, const unsigned char *addr)
{
    if (!t->enabled)
        return 0;
    if (t->any_peer)
        return 1;
    return addr != NULL && proxy_in_nets(t, addr);
}

static int
format_addr(const unsigned char a[16], char *out, size_t cap)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char tmp[INET6_ADDRSTRLEN];
    const char *r = memcmp(a, mapped, 12) == 0 ? inet_ntop(AF_INET, a + 12, tmp, sizeof(tmp))
                                               : inet_ntop(AF_INET6, a, tmp, sizeof(tmp));
    if (r == NULL || strlen(tmp) >= cap)
        return 0;
    snprintf(out, cap, "%s", tmp);
    return 1;
}

int
proxy_client_addr(const struct proxy_trust *t, const char *const *lines, size_t n, int truncated,
                  char *out, size_t cap)
{
    struct rwalk w;
    rwalk_init(&w, lines, n, truncated);
    unsigned hops = t->hops > 0 ? t->hops : 1;
    const char *s = NULL;
    size_t len = 0;
    unsigned seen = 0;
    unsigned char a[16];
    /* The `hops` right-most entries were written by trusted proxies; the last of them names
     * the client, unless it is a trusted proxy itself (then its left neighbour does). */
    while (rwalk_next(&w, &s, &len)) {
        seen++;
        if (seen < hops)
            continue;
        if (!proxy_addr_parse(s, len, a))
            return 0;
        if (seen >= hops + PROXY_WALK_MAX || !proxy_in_nets(t, a))
            return format_addr(a, out, cap);
    }
    /* Fewer entries than trusted hops, or every one a trusted proxy: the left-most was still
     * written by a trusted hop, unless lines before it were dropped unread. */
    if (seen == 0 || w.truncated || !proxy_addr_parse(s, len, a))
        return 0;
    return format_addr(a, out, cap);
}

int
proxy_proto_https(const struct proxy_trust *t, const char *const *lines, size_t n)
{
    struct rwalk w;
    rwalk_init(&w, lines, n, 0);
    unsigned hops = t->hops > 0 ? t->hops : 1;
    const char *s = NULL;
    size_t len = 0;
    unsigned seen = 0;
    while (seen < hops && rwalk_next(&w, &s, &len))
        seen++;
    return seen > 0 && len == 5 && strncasecmp(s, "https", 5) == 0;
}
