/* SPDX-License-Identifier: Apache-2.0 */
/* The transaction runner (see txn.h): retry a step as a whole when it loses a race. */
#include "authd/txn.h"

#include "common/err.h"
#include "storage/store.h"

int
account_txn_run(struct authd *a, int (*step)(struct authd *, struct store_txn *, void *), void *arg)
{
    int r = AUTHD_ERR_CONFLICT;
    for (int attempt = 0; attempt < ACCOUNT_TXN_ATTEMPTS && r == AUTHD_ERR_CONFLICT; attempt++) {
        struct store_txn *txn = NULL;
        r = store_txn_begin(a->store, &txn);
        if (r != AUTHD_OK)
            return r;
        r = step(a, txn, arg);
        if (r == AUTHD_OK)
            r = store_txn_commit(txn);
        store_txn_free(txn);
    }
    return r;
}
