/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Revoking refresh-token families (keys.h: rfamily/<family> with its members under
 * rfam/<family>/ and refresh/, and for an offline family, OIDC Core §11, its entry in the user's
 * index uoff/<user id>/<family>). svc_oauth.c revokes one family (RFC 7009 revocation, a reused
 * refresh token, a replayed code); session_store.c revokes every offline family of a user
 * whenever it ends all the user's sessions (password change or reset, deactivation, deletion),
 * because those families outlive any one session and must not outlive those events.
 *
 * Both run inside the caller's transaction (AUTHD_ERR_CONFLICT: return it from the step and let
 * account_txn_run run the step again). No secret passes through here.
 */
#ifndef AUTHD_RFAMILY_H
#define AUTHD_RFAMILY_H

#include "storage/store.h"

/*
 * Inside txn: revokes family fam. The family record is locked first, so a rotation in flight
 * finishes before its members are listed and none can follow (a rotation needs the record);
 * then the record, every member, its index entries and the user's uoff/ entry are deleted.
 * A family already gone is AUTHD_OK.
 */
int rfamily_delete(struct store_txn *txn, const char *fam);

/* Inside txn: revokes every offline family of user_id (those its uoff/ index lists). */
int rfamily_end_offline(struct store_txn *txn, const char *user_id);

#endif
