/* SPDX-License-Identifier: Apache-2.0 */
#include "common/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"

int
net_split_hostport(const char *addr, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon, *h = addr;
    size_t hlen;

    if (addr == NULL)
        return -1;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        h = addr + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - addr);
        if (memchr(addr, ':', hlen) != NULL)
            return -1; /* a bare IPv6 address needs brackets */
    }
    const char *p = colon + 1;
    size_t plen = strlen(p);
    if (plen == 0 || plen >= pcap || hlen >= hcap || strspn(p, "0123456789") != plen)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, p, plen + 1);
    return 0;
}

static void
log_failure(const char *event, const char *addr, const char *why)
{
    char q[300];
    log_event(LOG_ERROR, event, "addr=%s err=%s", log_quote(addr, q, sizeof(q)), why);
}

int
net_listen(const char *addr, int backlog, const char *event, int *port_out)
{
    char host[256], port[16];

    if (net_split_hostport(addr, host, sizeof(host), port, sizeof(port)) != 0 ||
        strtol(port, NULL, 10) > 65535)
        return AUTHD_ERR_INVALID_ARGUMENT;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gr = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res);
    if (gr != 0) {
        log_failure(event, addr, gai_strerror(gr));
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    int fd = -1, last_errno = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
            break;
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        log_failure(event, addr, strerror(last_errno));
        return AUTHD_ERR_UNAVAILABLE;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        close(fd);
        return AUTHD_ERR_UNAVAILABLE;
    }
    *port_out = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}
