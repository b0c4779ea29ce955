/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Audit events (see audit.h): one logfmt line per event through log_event, with every value
 * quoted, and a counter per action and outcome. The line is built here, in one place, so that
 * no call site formats a field of its own and none can slip a secret or a forged key in.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "authd/audit.h"
#include "common/log.h"
#include "common/metrics.h"
#include "proto/rpc.h"

#define AUDIT_METRIC "authd_audit_events_total"

/* Room for one quoted value; longer ones (a long caller identity) are cut with "...". */
#define AUDIT_QMAX 256

static pthread_once_t audit_once = PTHREAD_ONCE_INIT;

static void
audit_describe(void)
{
    metrics_describe(AUDIT_METRIC, METRICS_COUNTER,
                     "Audit events (login, second factor, lockout, 2FA changes, revocations, "
                     "admin changes) by action and outcome.");
}

/* NULL and "" are both "absent": an empty client_ip says nothing about where. */
static int
present(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* Appends "key=<quoted value>" (after a space unless first) to line (capacity cap, length *n)
 * when v is present. */
static void
field(char *line, size_t cap, size_t *n, const char *key, const char *v)
{
    char q[AUDIT_QMAX];
    if (!present(v))
        return;
    log_quote(v, q, sizeof(q));
    size_t kl = strlen(key), ql = strlen(q);
    /* " " + key + "=" + value + NUL */
    if (*n + kl + ql + 3 > cap)
        return;
    if (*n > 0)
        line[(*n)++] = ' ';
    memcpy(line + *n, key, kl);
    *n += kl;
    line[(*n)++] = '=';
    memcpy(line + *n, q, ql);
    *n += ql;
    line[*n] = '\0';
}

void
audit_emit(struct rpc_ctx *ctx, const struct audit *a)
{
    char line[2048];
    char labels[128];
    size_t n = 0;

    if (a == NULL || !present(a->action) || !present(a->outcome))
        return;
    pthread_once(&audit_once, audit_describe);
    line[0] = '\0';
    field(line, sizeof(line), &n, "action", a->action);
    field(line, sizeof(line), &n, "outcome", a->outcome);
    field(line, sizeof(line), &n, "user", a->user);
    field(line, sizeof(line), &n, "client", a->client);
    field(line, sizeof(line), &n, "target", a->target);
    field(line, sizeof(line), &n, "reason", a->reason);
    field(line, sizeof(line), &n, "ip", a->ip);
    if (a->count > 0) {
        char num[24];
        snprintf(num, sizeof(num), "%lld", a->count);
        field(line, sizeof(line), &n, "count", num);
    }
    if (ctx != NULL) {
        field(line, sizeof(line), &n, "caller", rpc_ctx_caller(ctx));
        field(line, sizeof(line), &n, "peer", rpc_ctx_peer(ctx));
    }
    int warn = strcmp(a->action, AUDIT_LOCKOUT) == 0 || strcmp(a->outcome, AUDIT_DENIED) == 0;
    log_event(warn ? LOG_WARN : LOG_INFO, "audit", "%s", line);
    metrics_count(
        AUDIT_METRIC,
        metrics_labels(labels, sizeof(labels), "action", a->action, "outcome", a->outcome, NULL),
        1);
}

void
audit_login(struct rpc_ctx *ctx, const char *outcome, const char *user, const char *client,
            const char *ip, const char *reason, const char *session_id)
{
    struct audit ev = {.action = AUDIT_LOGIN,
                       .outcome = outcome,
                       .user = user,
                       .client = client,
                       .ip = ip,
                       .reason = reason,
                       .target = session_id != NULL && ctx != NULL
                                     ? rpc_ctx_printf(ctx, "session/%s", session_id)
                                     : NULL};
    audit_emit(ctx, &ev);
}
