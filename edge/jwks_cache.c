/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JWKS cache: one refresher at a time, the others serve the last good copy; a fresh caller
 * (a key id nobody knows) always asks authd.
 */
#include "edge/jwks_cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "edge/authd_client.h"
#include "edge/authd_client_int.h"

#define EDGE_JWKS_TTL_MS 5000

/* Copies the cached key set out; the lock is held. */
static int
jwks_copy_locked(struct edge_authd *a, char **jwks_json, char *issuer, size_t icap)
{
    *jwks_json = strdup(a->jwks_json);
    if (*jwks_json == NULL)
        return AUTHD_ERR_NOMEM;
    snprintf(issuer, icap, "%s", a->issuer);
    return AUTHD_OK;
}

int
edge_authd_oauth_jwks(struct edge_authd *a, const char *rid, int fresh, char **jwks_json,
                      char *issuer, size_t icap)
{
    *jwks_json = NULL;
    if (icap > 0)
        issuer[0] = '\0';
    uint64_t now = edge_authd_now_ms();
    int fetch = 0, r = AUTHD_ERR_UNAVAILABLE;

    pthread_mutex_lock(&a->mu);
    /* Without a good copy every request may ask (authd may just have come up); with one, a
     * failed attempt waits a full TTL like a good one. A fresh caller always asks and does not
     * take the refresher's turn. */
    if (fresh) {
        fetch = 1;
    } else if (!a->jwks_refreshing &&
               (a->jwks_json == NULL || now - a->jwks_fetched_ms >= EDGE_JWKS_TTL_MS)) {
        a->jwks_refreshing = 1;
        fetch = 2;
    } else if (a->jwks_json != NULL) {
        r = jwks_copy_locked(a, jwks_json, issuer, icap);
    }
    pthread_mutex_unlock(&a->mu);
    if (!fetch)
        return r;

    Authd__V1__JwksRequest req = AUTHD__V1__JWKS_REQUEST__INIT;
    Authd__V1__JwksResponse *resp = NULL;
    r = edge_authd_call(a, rid, &authd__v1__oauth__descriptor, "Jwks", &req.base,
                        (ProtobufCMessage **)&resp, NULL);
    char *got = NULL;
    if (r == AUTHD_OK) {
        const char *j = resp->jwks_json != NULL ? resp->jwks_json : "";
        const char *iss = resp->issuer != NULL ? resp->issuer : "";
        if (j[0] == '\0')
            r = AUTHD_ERR_INTERNAL;
        else if (strlen(j) > EDGE_JWKS_MAX || strlen(iss) >= sizeof(a->issuer))
            r = AUTHD_ERR_TOO_LARGE; /* a cut issuer would be a wrong one */
        else if ((got = strdup(j)) == NULL)
            r = AUTHD_ERR_NOMEM;
        if (r != AUTHD_OK)
            log_event(LOG_WARN, "jwks_refused", "rid=%s err=%s", rid != NULL ? rid : "-",
                      authd_err_reason(r));
    }

    pthread_mutex_lock(&a->mu);
    if (got != NULL) {
        free(a->jwks_json);
        a->jwks_json = got;
        snprintf(a->issuer, sizeof(a->issuer), "%s", resp->issuer != NULL ? resp->issuer : "");
    }
    if (got != NULL || fetch == 2)
        a->jwks_fetched_ms = edge_authd_now_ms();
    if (fetch == 2)
        a->jwks_refreshing = 0;
    if (a->jwks_json != NULL)
        r = jwks_copy_locked(a, jwks_json, issuer, icap);
    pthread_mutex_unlock(&a->mu);
    rpc_msg_free(resp != NULL ? &resp->base : NULL);
    return r;
}
