/* SPDX-License-Identifier: Apache-2.0 */
/*
 * User records and their unique e-mail index (keys.h: user/<id>, email/<normalised email>).
 * These are the only functions that know how a user and its index are laid out; the index is
 * written in the same transaction as the record, so the two never disagree.
 *
 * Ownership: records handed out (*out) belong to the caller, who frees them with rpc_msg_free
 * (which wipes them: they hold password hashes). Out-parameters are cleared on entry. Inside a
 * transaction, AUTHD_ERR_CONFLICT means another transaction held a row this one locked: return
 * it from the step and account_txn_run (txn.h) runs the step again.
 */
#ifndef AUTHD_USERS_H
#define AUTHD_USERS_H

#include "authd/authd.h"
#include "storage/records.pb-c.h"

/* Longest user id accepted from storage or requests (a UUID is 36). */
#define ACCOUNT_MAX_ID 64

/*
 * Loads user/<id> (through txn when not NULL, locking the row when for_update).
 * AUTHD_OK, AUTHD_ERR_NOT_FOUND (also for a NULL or malformed id), or a storage error.
 */
int account_user_get(struct authd *a, struct store_txn *txn, int for_update, const char *id,
                     Authd__Storage__UserRecord **out);

/*
 * Loads the user whose normalised e-mail is email. AUTHD_ERR_NOT_FOUND when none. With txn,
 * locks the index row when for_update (the user row itself is read without a lock).
 */
int account_user_by_email(struct authd *a, struct store_txn *txn, int for_update, const char *email,
                          Authd__Storage__UserRecord **out);

/*
 * Inside txn: creates the user rec (rec->user->id set, or a UUID is generated into it; email
 * already normalised), writing user/<id> and email/<email>. AUTHD_ERR_ALREADY_EXISTS when the
 * e-mail or the id is taken. rec stays the caller's; its id field must be a malloc'd string or
 * NULL (it may be replaced); created_at/updated_at are set.
 */
int account_user_create(struct authd *a, struct store_txn *txn, Authd__Storage__UserRecord *rec);

/*
 * Inside txn: moves the user of rec (read in txn with a lock, owned by the caller) to email
 * (already normalised): takes email/<email> (AUTHD_ERR_ALREADY_EXISTS when another user has it),
 * drops the old index row, replaces rec->user->email (a malloc'd copy) and clears
 * email_verified, as nobody has shown the new address reaches the user. The same address is no
 * change (AUTHD_OK, nothing written). The caller saves rec (account_user_save).
 */
int account_user_set_email(struct store_txn *txn, Authd__Storage__UserRecord *rec,
                           const char *email);

/* Inside txn: writes rec (borrowed) at user/<id>, refreshing updated_at. */
int account_user_save(struct authd *a, struct store_txn *txn, Authd__Storage__UserRecord *rec);

#endif
