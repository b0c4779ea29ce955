/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The judging sequence for guessable secrets (see guard.h): the serial locks, the gate over the
 * address and account counters of throttle.c, the recording of failures and the refusal message.
 *
 * The serial lock of a subject is a row lock in the store: a transaction that reads
 * serial/<kind>/<subject> for update and holds it until guard_leave. Every authd replica sharing
 * the store takes the same row, so two attempts on one subject are judged one after the other in
 * the whole cluster, and each failure is recorded before the next attempt looks at the gate.
 *
 * Lock order (no cycle, so no deadlock): a serial row is locked first and only by guard_enter,
 * which is never called while its thread holds any other row lock; while it is held the judging
 * may lock throttle and user records in transactions of their own, and none of those ever waits
 * for a serial row. A lock wait that times out (AUTHD_ERR_CONFLICT) is retried a bounded number
 * of times, then answered as the conflict.
 *
 * Connections: with a database store, a held serial lock is a held connection, and the judging
 * takes one more at a time. The pool has more connections than authd has workers (main.c), so
 * however many attempts hold serial locks, one of them can always go on.
 */
#include "authd/guard.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "authd/keys.h"
#include "common/err.h"
#include "common/log.h"
#include "proto/rpc.h"
#include "storage/store.h"

/* How many lock waits (each up to the store's lock timeout) a serial lock may take. */
#define GUARD_SERIAL_ATTEMPTS 5

static const char *const serial_kinds[] = {"pw", "2fa", "mail", "send", "cs"};
/* One name per kind: a missing one would be NULL, ending key_make's parts early, so that every
 * subject of that kind would share one serial lock. */
_Static_assert(sizeof(serial_kinds) / sizeof(serial_kinds[0]) == THROTTLE_KINDS,
               "serial_kinds: one per throttle kind");

/*
 * Locks subject's in-process stripe (trial: only when it is free at once, else -1); returns the
 * stripe. The store's row lock alone would be
 * enough for correctness; the mutex in front of it is kept because attempts that meet in one
 * process then queue here, without a database round trip, without holding a pooled database
 * connection while they wait, and without the store's lock timeout (concurrent correct logins of
 * one account all pass however many queue). Only attempts from different replicas wait in the
 * store. Always taken before the row lock, never after.
 */
static int
serial_enter(struct authd *a, const char *subject, int trial)
{
    uint32_t h = 2166136261u; /* FNV-1a: spreads subjects over the stripes */
    for (const unsigned char *p = (const unsigned char *)(subject ? subject : ""); *p; p++)
        h = (h ^ *p) * 16777619u;
    int idx = (int)(h % AUTHD_SERIAL_STRIPES);
    if (!trial) {
        pthread_mutex_lock(&a->serial[idx]);
        return idx;
    }
    /* A trial runs on a completion-queue thread, which must not wait at all: the holder may be
     * hashing (tens of milliseconds), and even a short wait stalls every call queued behind it
     * on that thread. A held stripe sends the trial to a worker at once. */
    if (pthread_mutex_trylock(&a->serial[idx]) != 0)
        return -1;
    return idx;
}

/*
 * Takes the store's row lock on serial/<kind>/<subject> in a transaction kept in g->txn (the key
 * need not exist: the store locks absent keys too). A subject that cannot be a key part is never
 * counted by throttle.c either: it gets no row lock. AUTHD_OK or the last error.
 */
static int
serial_row(struct guard *g, const char *subject)
{
    char key[KEY_MAX];
    if (subject == NULL || subject[0] == '\0' ||
        key_make(key, KEY_SERIAL, serial_kinds[g->kind], subject, NULL) == 0)
        return AUTHD_OK;
    int r = AUTHD_ERR_CONFLICT;
    for (int i = 0; i < GUARD_SERIAL_ATTEMPTS && r == AUTHD_ERR_CONFLICT; i++) {
        struct store_txn *t = NULL;
        void *val = NULL;
        size_t vlen = 0;
        if ((r = store_txn_begin(g->a->store, &t)) != AUTHD_OK)
            return r;
        r = store_txn_get(t, key, strlen(key), 1, &val, &vlen);
        store_value_free(val, vlen);
        if (r == AUTHD_OK || r == AUTHD_ERR_NOT_FOUND) {
            g->txn = t;
            return AUTHD_OK;
        }
        store_txn_free(t);
    }
    if (r == AUTHD_ERR_CONFLICT)
        log_event(LOG_WARN, "serial_lock_busy", "kind=%s", serial_kinds[g->kind]);
    return r;
}

/*
 * Notes whether the account's counter was absent as read under the serial lock: only when that
 * lock is the account's own (the default serial) can no failure of the account be recorded
 * before this attempt's guard_pass, so that a success then has nothing to forget.
 */
static void
note_account(struct guard *g, int ra, int found)
{
    int covered = g->serial == NULL || (g->account != NULL && strcmp(g->serial, g->account) == 0);
    g->account_clean = covered && ra == AUTHD_OK && !found;
}

/* The longer wait of the address and (with_account) the account, or a storage error. */
static int
gate(struct guard *g, int with_account)
{
    int64_t wa = 0, wb = 0;
    int r = throttle_check(g->a, g->kind, THROTTLE_ADDRESS, g->who.ip, &wb);
    if (with_account && (r == AUTHD_OK || r == AUTHD_ERR_LOCKED)) {
        int found = 1;
        int ra = throttle_check_found(g->a, g->kind, THROTTLE_ACCOUNT, g->account, &wa, &found);
        note_account(g, ra, found);
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
    g->account_clean = 0;
    g->passed_in_txn = 0;
    if (g->held == 0) {
        int idx = serial_enter(g->a, serial, g->trial);
        if (idx < 0)
            return AUTHD_ERR_CONFLICT; /* a trial meets a held stripe: nothing held */
        g->held = idx + 1;
        int r = serial_row(g, serial);
        if (r != AUTHD_OK)
            return r; /* no judging without the lock; guard_leave releases the stripe */
    }
    int r = gate(g, !g->judge_first);
    if (r == AUTHD_OK && g->judge_first) {
        /* The account's lock refuses nothing here; guard_fail_locked answers by it. */
        int64_t wait = 0;
        int found = 1;
        int ra = throttle_check_found(g->a, g->kind, THROTTLE_ACCOUNT, g->account, &wait, &found);
        note_account(g, ra, found);
        g->account_locked = ra == AUTHD_ERR_LOCKED;
        if (ra != AUTHD_OK && ra != AUTHD_ERR_LOCKED)
            r = ra;
    }
    if (r == AUTHD_ERR_LOCKED) {
        guard_refuse(g->ctx, g->oauth_code, g->refusal, g->retry_after);
        guard_audit(g, AUDIT_FAILURE, "locked");
    }
    return r;
}

void
guard_pass(struct guard *g)
{
    if (g->account_clean || g->passed_in_txn)
        return; /* nothing counted, or the reset was written with the success */
    if (throttle_reset(g->a, g->kind, THROTTLE_ACCOUNT, g->account) != AUTHD_OK) {
        char q[96];
        log_event(LOG_WARN, "throttle_reset_failed", "user=%s",
                  log_quote(g->who.user != NULL ? g->who.user : "", q, sizeof(q)));
    }
}

int
guard_pass_txn(struct guard *g, struct store_txn *txn)
{
    if (g->account_clean)
        return AUTHD_OK;
    int r = throttle_reset_txn(txn, g->kind, THROTTLE_ACCOUNT, g->account);
    g->passed_in_txn = r == AUTHD_OK;
    return r;
}

void
guard_fail(struct guard *g, const char *reason)
{
    throttle_failed(g->a, g->kind, g->account, g->who.ip);
    if (reason != NULL)
        guard_audit(g, AUDIT_FAILURE, reason);
}

int
guard_fail_locked(struct guard *g)
{
    if (!g->account_locked)
        return AUTHD_OK;
    int r = gate(g, 1); /* the wait this failure has made longer */
    if (r == AUTHD_ERR_LOCKED)
        return guard_refuse(g->ctx, g->oauth_code, g->refusal, g->retry_after);
    if (r != AUTHD_OK)
        log_event(LOG_WARN, "throttle_read_failed", "err=%s", authd_err_reason(r));
    return AUTHD_OK;
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
    /* Nothing was written under the row lock: rolling back releases it. */
    store_txn_free(g->txn);
    g->txn = NULL;
    if (g->held > 0 && g->held <= AUTHD_SERIAL_STRIPES)
        pthread_mutex_unlock(&g->a->serial[g->held - 1]);
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
