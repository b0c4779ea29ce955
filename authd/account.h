/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The account layer, for services that use several of its parts. Each part has its own header
 * and contract:
 *   users.h          user records and the unique e-mail index
 *   session_store.h  stored sessions and a user's session index
 *   onetime.h        one-time e-mailed tokens (signup, reset) and the checks before sending one
 *   txn.h            the transaction runner that retries a step which lost a race
 * Every multi-key change happens in one store transaction, so a crash or a race never leaves
 * half of it.
 */
#ifndef AUTHD_ACCOUNT_H
#define AUTHD_ACCOUNT_H

#include "authd/onetime.h"
#include "authd/session_store.h"
#include "authd/txn.h"
#include "authd/users.h"

#endif
