/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Brute-force judging in one place. Every guessable secret (a password, an OAuth client's secret,
 * a second-factor code) is judged in the same sequence: take the subject's serial lock, refuse
 * while the account or the client address is locked (before the secret is looked at), judge the
 * secret, record the failure or forget the account's failures, release the lock; a refusal names
 * the wait (the authd-retry-after trailer) and every refusal and failure is an audit event. A
 * handler fills a struct guard, calls guard_enter, judges, calls guard_pass or guard_fail, and ends
 * with guard_leave; throttle.h keeps the policy and the counters.
 *
 * An OAuth client's secret is judged first (judge_first): only the address gates the attempt,
 * the client's own counter is kept and its lock refuses wrong secrets only (guard_fail_locked),
 * so a stranger who guesses can never keep the right secret out (svc_clients.c says why).
 */
#ifndef AUTHD_GUARD_H
#define AUTHD_GUARD_H

#include <stdint.h>

#include "authd/audit.h"
#include "authd/authd.h"
#include "authd/throttle.h"

/*
 * One judged attempt. The caller sets the fields above the line (all borrowed: they must outlive
 * the guard) and leaves the rest zero (designated initialisers do). One thread uses a guard, from
 * guard_enter to guard_leave.
 */
struct guard {
    struct authd *a;
    struct rpc_ctx *ctx;     /* the call the refusal message and the audit events belong to */
    enum throttle_kind kind; /* THROTTLE_PASSWORD, _SECOND_FACTOR or
                                _CLIENT_SECRET */
    const char *account;     /* the counted subject: an e-mail, a user id, "client:<id>"; empty
                                or NULL: only the address is counted */
    const char *serial;      /* what the serial lock is keyed on; NULL: account, or ip when
                                account is empty */
    const char *refusal;     /* the refusal's words, e.g. "too many failed attempts" */
    const char *oauth_code;  /* the OAuth error a lock refusal names (authd-oauth-error), an
                                RFC 6749 code ("temporarily_unavailable"); NULL: none */
    int judge_first;         /* 1: guard_enter gates on the address only; the account is
                                counted by guard_fail but its lock refuses no secret before it
                                is judged (guard_fail_locked reads it after a failure) */
    struct audit who;        /* action (AUDIT_LOGIN, AUDIT_SECOND_FACTOR; NULL: no events), user,
                                client, ip; outcome and reason are set per event */
    int trial;               /* 1: guard_enter only tries the in-process stripe, never
                                waits for it (an RPC trial on a completion-queue thread must
                                not wait behind an attempt that hashes): AUTHD_ERR_CONFLICT,
                                nothing held and nothing judged when another attempt holds it */
    /* ---- state ---- */
    int held;              /* the in-process stripe plus one, 0: none held */
    struct store_txn *txn; /* holds the store's row lock on the subject, or NULL */
    int64_t retry_after;   /* seconds, after guard_enter answered AUTHD_ERR_LOCKED */
    int account_locked;    /* judge_first: the account was locked when guard_enter looked */
    int account_clean;     /* guard_enter found no counter of the account, under a serial lock
                              that covers the account: a success has nothing to forget */
    int passed_in_txn;     /* guard_pass_txn queued the reset in the caller's transaction */
};

/*
 * Takes the serial lock (attempts of one subject are judged one after the other in every authd
 * sharing the store: an in-process mutex stripe, then a row lock in the store held until
 * guard_leave; so each failure is recorded before the next attempt is checked) and checks the
 * gate:
 * AUTHD_OK when the secret may be judged; AUTHD_ERR_LOCKED when the address or the account is
 * locked, with g->retry_after (the longer wait), the refusal set as ctx's message and a failure
 * event (reason "locked") emitted; or a storage error. The lock is held whatever the answer:
 * call guard_leave. When the row lock cannot be had (AUTHD_ERR_CONFLICT after bounded waits, or a
 * storage error) that error is returned and nothing is judged. The serial locks are striped and
 * not reentrant: never hold two guards, and never call this while holding a row lock of another
 * transaction (guard.c: lock order).
 */
int guard_enter(struct guard *g);

/* The secret was right: forgets the account's failures (the address counter is never reset by a
 * success, or an attacker could clear it by logging into an account of their own). Touches the
 * store only when guard_enter saw a counter of the account (failures to forget), and not at all
 * after guard_pass_txn queued the reset in a transaction. */
void guard_pass(struct guard *g);

/*
 * guard_pass as part of txn (borrowed; the caller's transaction that records the success): when
 * guard_enter saw a counter of the account, its delete joins txn, so the success and the reset
 * are one write, and a later guard_pass does nothing. Call it in every run of a retried step
 * after setting g->passed_in_txn to 0 (a run that fails is rolled back with its reset). AUTHD_OK
 * or the store's error.
 */
int guard_pass_txn(struct guard *g, struct store_txn *txn);

/* The secret was wrong: counts a failure against the account and the address, and emits a
 * failure event with reason (none when reason is NULL). */
void guard_fail(struct guard *g, const char *reason);

/*
 * After guard_fail of a judge_first guard: AUTHD_ERR_LOCKED, refused as guard_enter refuses
 * (message, g->retry_after: the wait as this failure left it, oauth_code) but without another
 * audit event, when the account was already locked as guard_enter looked; else AUTHD_OK (not
 * locked, or the counters could not be read: logged, and the failure is a plain failure). So
 * a wrong secret is answered with the wait while its account is locked, as guard_enter answers
 * every attempt of a locked account that is not judge_first.
 */
int guard_fail_locked(struct guard *g);

/* Emits an event about this attempt (g->who with outcome and reason). */
void guard_audit(const struct guard *g, const char *outcome, const char *reason);

/* Releases the serial lock (the row lock, then the stripe); a no-op when none is held. */
void guard_leave(struct guard *g);

/*
 * Refuses a locked subject on ctx: the message "<words>; retry after <seconds> s", the seconds as
 * rpc_ctx_set_retry_after (the edge's Retry-After), and oauth_code (when not NULL) as
 * rpc_ctx_set_oauth_error. Returns AUTHD_ERR_LOCKED. ctx may be NULL. Used by guard_enter and by
 * the e-mail and delivery limits (the one formatter of every lock refusal).
 */
int guard_refuse(struct rpc_ctx *ctx, const char *oauth_code, const char *words,
                 int64_t retry_after);

#endif
