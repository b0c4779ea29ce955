/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Users.Import: the bulk loader (authctl user import). Each call carries up to
 * IMPORT_MAX_BATCH users and is one transaction through the same code as Users.Create
 * (users.c: user/<id> and its e-mail index row locked, checked free and written together) and,
 * when asked, as a login (session_store.c: session/<sid> and usess/<uid>/<sid>), so one synced
 * commit per call and everything loaded works with every RPC afterwards. Passwords come as
 * precomputed Argon2id PHC strings (password_phc_check) or not at all: hashing millions of
 * passwords is what an import must not do. A call is all or nothing; a taken e-mail or id
 * (also one repeated inside the call) refuses the call with ALREADY_EXISTS naming it, so a
 * load that is run twice stops at its first call instead of doubling anything.
 *
 * Audit: one admin_change event per call (reason Users/Import, target import/<load_id>, count
 * = the users it wrote; outcome failure and no count when refused), so a load that never sends
 * its last call still has its count audited; the last call also logs import_done with the
 * count this process saw under the load (16 named loads at once; a 17th pushes out the least
 * recently used, logging import_evicted with its count; unnamed calls take no place).
 * Sessions: amr "import", auth_time the source's (ImportUser.auth_time, not in the future) or
 * 0 when unknown, never the import's time; svc_oauth.c never counts them as a recent sign-in.
 * A session for an inactive user is refused. Memory: a call holds at most IMPORT_MAX_BATCH
 * records at once.
 */
#ifndef AUTHD_IMPORT_H
#define AUTHD_IMPORT_H

#include "proto/rpc.h"

#define IMPORT_MAX_BATCH 1000

/* The Users.Import handler (rpc.h contract; ROLE_ADMIN in svc_users.c's table). */
int users_import(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm);

#endif
