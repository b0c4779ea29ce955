/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transaction runner every multi-key change of authd goes through. A step reads what it
 * needs under locks (store_txn_get with for_update) and writes through the same transaction,
 * so a crash or a race never leaves half of a change (storage/store.h).
 *
 * What a conflict means: AUTHD_ERR_CONFLICT from a locked read or from the commit says that
 * another transaction held or changed a row this one needed; nothing of this attempt was
 * written. The runner then begins a new transaction and runs the whole step again, so a step
 * must start from its inputs alone: it frees and clears whatever a previous attempt left in its
 * arg (its out-fields) and does nothing outside the transaction that must not happen twice
 * (no e-mail, no audit event, no log line of an outcome).
 */
#ifndef AUTHD_TXN_H
#define AUTHD_TXN_H

#include "authd/authd.h"

/* How many times a step is run before its last AUTHD_ERR_CONFLICT is returned. */
#define ACCOUNT_TXN_ATTEMPTS 5

/*
 * Runs step(a, txn, arg) in a fresh transaction and commits it, retrying the whole step (up to
 * ACCOUNT_TXN_ATTEMPTS runs) while it or the commit reports AUTHD_ERR_CONFLICT. A step that
 * returns an error is rolled back. Returns the step's or the commit's result. The transaction
 * belongs to the step only while it runs: it must not keep txn. arg is borrowed.
 */
int account_txn_run(struct authd *a, int (*step)(struct authd *, struct store_txn *, void *),
                    void *arg);

#endif
