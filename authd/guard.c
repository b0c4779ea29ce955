/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The judging sequence for guessable secrets (see guard.h): the serial locks (stripes of mutexes,
 * so any number of subjects costs a fixed table), the gate over the address and account counters
 * of throttle.c, the recording of failures and the refusal message.
 */
#include "authd/guard.h"

#include <pthread.h>
#include <stdio.h>

#include "common/err.h"
#include "common/log.h"
#include "proto/rpc.h"

#define SERIAL_STRIPES 256

static pthread_mutex_t serial_locks[SERIAL_STRIPES];
static pthread_once_t serial_once = PTHREAD_ONCE_INIT;

static void
serial_init(void)
{
    for (int i = 0; i < SERIAL_STRIPES; i++)
        pthread_mutex_init(&serial_locks[i], NULL);
}

/* Locks subject's stripe; returns the stripe. (One process: a scale-out backend will need the
 * same from its database.) */
static int
serial_enter(const char *subject)
{
    pthread_once(&serial_once, serial_init);
    uint32_t h = 2166136261u; /* FNV-1a: spreads subjects over the stripes */
    for (const unsigned char *p = (const unsigned char *)(subject ? subject : ""); *p; p++)
        h = (h ^ *p) * 16777619u;
    int idx = (int)(h % SERIAL_STRIPES);
    pthread_mutex_lock(&serial_locks[idx]);
    return idx;
}

/* The longer wait of the address and the account, or a storage error. */
static int
gate(struct guard *g)
{
    int64_t wa = 0, wb = 0;
    int r = throttle_check(g->a, g->kind, THROTTLE_ADDRESS, g->who.ip, &wb);
    if (r == AUTHD_OK || r == AUTHD_ERR_LOCKED) {
        int ra = throttle_check(g->a, g->kind, THROTTLE_ACCOUNT, g->account, &wa);
        if (r == AUTHD_OK)
            r = ra;
    }
    g->retry_after = wa > wb ? wa : wb;
    return r;
}

int
guard_enter(struct guard *g)
{
    const char *serial = g->serial;
    if (serial == NULL)
        serial = g->account != NULL && g->account[0] != '\0' ? g->account : g->who.ip;
    g->retry_after = 0;
    if (g->held == 0)
        g->held = serial_enter(serial) + 1;
    int r = gate(g);
    if (r == AUTHD_ERR_LOCKED) {
        guard_refuse(g->ctx, g->oauth_code, g->refusal, g->retry_after);
        guard_audit(g, AUDIT_FAILURE, "locked");
    }
    return r;
}

void
guard_pass(struct guard *g)
{
    if (throttle_reset(g->a, g->kind, THROTTLE_ACCOUNT, g->account) != AUTHD_OK) {
        char q[96];
        log_event(LOG_WARN, "throttle_reset_failed", "user=%s",
                  log_quote(g->who.user != NULL ? g->who.user : "", q, sizeof(q)));
    }
}

void
guard_fail(struct guard *g, const char *reason)
{
    throttle_failed(g->a, g->kind, g->account, g->who.ip);
    if (reason != NULL)
        guard_audit(g, AUDIT_FAILURE, reason);
}

void
guard_audit(const struct guard *g, const char *outcome, const char *reason)
{
    if (g->who.action == NULL)
        return;
    struct audit ev = g->who;
    ev.outcome = outcome;
    ev.reason = reason;
    audit_emit(g->ctx, &ev);
}

void
guard_leave(struct guard *g)
{
    if (g->held > 0 && g->held <= SERIAL_STRIPES)
        pthread_mutex_unlock(&serial_locks[g->held - 1]);
    g->held = 0;
}

int
guard_refuse(struct rpc_ctx *ctx, const char *oauth_code, const char *words, int64_t retry_after)
{
    if (ctx != NULL) {
        char msg[160];
        snprintf(msg, sizeof(msg), "%s; retry after %lld s", words ? words : "locked",
                 (long long)retry_after);
        rpc_ctx_set_message(ctx, msg);
        rpc_ctx_set_retry_after(ctx, retry_after);
        if (oauth_code != NULL)
            rpc_ctx_set_oauth_error(ctx, oauth_code);
    }
    return AUTHD_ERR_LOCKED;
}
