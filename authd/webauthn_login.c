/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signing in with a WebAuthn key (see webauthn_login.h).
 */
#include "authd/webauthn_login.h"

#include <stdlib.h>

#include "common/err.h"
#include "common/metrics.h"
#include "authd/webauthn_store.h"

#define M_CLONES "authd_webauthn_counter_regressions_total"

int
webauthn_login_judge(struct authd *a, struct store_txn *txn, Authd__Storage__UserRecord *rec,
                     const struct twofactor_proof *p, struct twofactor_judge *j)
{
    (void)a;
    (void)txn;
    (void)rec;
    (void)p;
    (void)j;
    /* The verifier (webauthn.c) is not built yet: no assertion can pass. */
    return AUTHD_ERR_NOT_REQUESTED;
}

void
webauthn_login_burn(struct authd *a, const char *ceremony_id)
{
    (void)a;
    (void)ceremony_id;
}

static pthread_once_t describe_once = PTHREAD_ONCE_INIT;

static void
describe(void)
{
    metrics_describe(M_CLONES, METRICS_COUNTER,
                     "WebAuthn assertions refused because the key's signature counter did not "
                     "advance (a possibly cloned authenticator)");
}

void
webauthn_login_clone_seen(void)
{
    pthread_once(&describe_once, describe);
    metrics_count(M_CLONES, NULL, 1);
}

int
webauthn_login_forget_keys(struct store_txn *txn, Authd__Storage__UserRecord *rec)
{
    return webauthn_cred_clear(txn, rec);
}
