/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JWKS cache (see jwks_cache.h): one OAuth.Jwks call at a time, numbered. A request decides
 * under the lock whether the copy will do; if it will but is due for a refresh, it asks the
 * background refresher for one and is answered from the copy at once. If the copy will not do
 * (none yet, or older than authd allows), it names the call whose result will (the one in flight
 * when nothing was ever fetched, else the next one to begin) and waits for it, making that call
 * itself when none is in flight. So concurrent requests share calls, nobody gets a 503 because
 * another request happens to be fetching, and while a copy serves nobody waits.
 */
#include "edge/jwks_cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "edge/authd_client.h"
#include "edge/authd_client_int.h"

#define M_WAITING "edge_jwks_waiting"
#define M_REFRESH "edge_jwks_background_refreshes_total"

void
edge_authd_set_jwks_max_age(struct edge_authd *a, int max_age_ms)
{
    metrics_describe(M_WAITING, METRICS_GAUGE,
                     "Requests for the JWKS or discovery document waiting for a call to authd "
                     "another request is making.");
    metrics_set(M_WAITING, NULL, 0);
    metrics_describe(M_REFRESH, METRICS_COUNTER,
                     "Calls to authd for the key set made in the background while the cached "
                     "copy kept serving.");
    pthread_mutex_lock(&a->mu);
    a->jwks_max_age_ms = max_age_ms > 0 ? max_age_ms : 0;
    pthread_mutex_unlock(&a->mu);
}

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

/*
 * Makes call number a->jwks_started (its maker set jwks_refreshing; the lock is not held): keeps
 * a good answer, records the result and the call's start, and wakes every waiter.
 */
static void
jwks_fetch(struct edge_authd *a, const char *rid, uint64_t started_ms)
{
    Authd__V1__JwksRequest req = AUTHD__V1__JWKS_REQUEST__INIT;
    Authd__V1__JwksResponse *resp = NULL;
    int r = edge_authd_call(a, rid, &authd__v1__oauth__descriptor, "Jwks", &req.base,
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
        /* The copy is as old as the call's start: authd answered at some moment after it. */
        a->jwks_good_ms = started_ms;
        a->jwks_hard_ms = resp->cache_max_ms > 0 ? resp->cache_max_ms : 0;
    }
    /* A failed call counts as an attempt too: with a copy, the next waits a full max age. */
    a->jwks_fetched_ms = started_ms;
    a->jwks_last_err = r;
    a->jwks_done = a->jwks_started;
    a->jwks_refreshing = 0;
    pthread_cond_broadcast(&a->jwks_cond);
    pthread_mutex_unlock(&a->mu);
    rpc_msg_free(resp != NULL ? &resp->base : NULL);
}

/* The background refresher: makes a call whenever one is wanted and none is in flight. */
static void *
jwks_refresher(void *arg)
{
    struct edge_authd *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->jwks_stop) {
        if (a->jwks_wanted > a->jwks_done && !a->jwks_refreshing) {
            a->jwks_started++;
            a->jwks_refreshing = 1;
            uint64_t started = edge_authd_now_ms();
            pthread_mutex_unlock(&a->mu);
            metrics_count(M_REFRESH, NULL, 1);
            jwks_fetch(a, "jwks-refresh", started);
            pthread_mutex_lock(&a->mu);
            continue;
        }
        pthread_cond_wait(&a->jwks_cond, &a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/*
 * Asks for a refresh in the background (the lock is held): the next call, made by the refresher
 * (started here the first time). 0 when it cannot run (no thread): the caller refreshes itself.
 */
static int
jwks_kick_locked(struct edge_authd *a)
{
    if (a->jwks_stop)
        return 0;
    if (!a->jwks_thread_on) {
        if (pthread_create(&a->jwks_thread, NULL, jwks_refresher, a) != 0) {
            log_event(LOG_WARN, "jwks_refresher_failed", "reason=\"no thread\"");
            return 0;
        }
        a->jwks_thread_on = 1;
    }
    if (a->jwks_refreshing)
        return 1; /* a call is in flight: its answer is the refresh */
    if (a->jwks_wanted <= a->jwks_started)
        a->jwks_wanted = a->jwks_started + 1;
    pthread_cond_broadcast(&a->jwks_cond);
    return 1;
}

void
edge_authd_jwks_stop(struct edge_authd *a)
{
    pthread_mutex_lock(&a->mu);
    int on = a->jwks_thread_on;
    a->jwks_stop = 1;
    a->jwks_thread_on = 0;
    pthread_cond_broadcast(&a->jwks_cond);
    pthread_mutex_unlock(&a->mu);
    if (on)
        pthread_join(a->jwks_thread, NULL);
}

/* The number of the call whose result a request for keys needs now; 0: the copy will do. */
static uint64_t
jwks_need_locked(struct edge_authd *a, int keys)
{
    uint64_t max_age = (uint64_t)(keys ? a->jwks_max_age_ms : EDGE_JWKS_ISSUER_TTL_MS);
    uint64_t now = edge_authd_now_ms();
    /*
     * Whether the copy may serve: there is one and copies are allowed at all (max_age > 0);
     * for the key set, only while it is younger than authd allowed (cache_max_ms: a key that
     * signs now was published at least that long before) - or when the last attempt to refresh
     * it failed a moment ago (authd cannot be asked; the last good copy serves, as before).
     */
    int usable = a->jwks_json != NULL && max_age > 0;
    if (usable && keys && now - a->jwks_good_ms >= (uint64_t)a->jwks_hard_ms)
        usable = a->jwks_last_err != AUTHD_OK && now - a->jwks_fetched_ms < max_age;
    if (usable && (now - a->jwks_fetched_ms < max_age || jwks_kick_locked(a)))
        return 0; /* young enough, or being refreshed in the background: serve the copy */
    if (a->jwks_json == NULL && max_age > 0 && a->jwks_refreshing)
        return a->jwks_started; /* nothing yet: the call in flight will do */
    if (usable && a->jwks_refreshing)
        return 0; /* no refresher thread, but another request is refreshing: the copy */
    return a->jwks_started + 1; /* a call that begins after this request arrived */
}

int
edge_authd_jwks_serves_now(struct edge_authd *a, int keys)
{
    pthread_mutex_lock(&a->mu);
    uint64_t need = jwks_need_locked(a, keys);
    int now = need == 0 || a->jwks_done >= need;
    pthread_mutex_unlock(&a->mu);
    return now;
}

int
edge_authd_oauth_jwks(struct edge_authd *a, const char *rid, int keys, char **jwks_json,
                      char *issuer, size_t icap)
{
    *jwks_json = NULL;
    if (icap > 0)
        issuer[0] = '\0';

    pthread_mutex_lock(&a->mu);
    uint64_t need = jwks_need_locked(a, keys);
    while (need != 0 && a->jwks_done < need) {
        if (!a->jwks_refreshing) {
            a->jwks_started++;
            a->jwks_refreshing = 1;
            uint64_t started = edge_authd_now_ms();
            pthread_mutex_unlock(&a->mu);
            jwks_fetch(a, rid, started);
            pthread_mutex_lock(&a->mu);
            continue;
        }
        /* Bounded: the call in flight ends by its deadline and broadcasts. */
        metrics_set(M_WAITING, NULL, (double)++a->jwks_waiting);
        pthread_cond_wait(&a->jwks_cond, &a->mu);
        metrics_set(M_WAITING, NULL, (double)--a->jwks_waiting);
    }
    /* When authd could not be asked, the last good copy still serves. */
    int r = a->jwks_json != NULL
                ? jwks_copy_locked(a, jwks_json, issuer, icap)
                : (a->jwks_last_err != AUTHD_OK ? a->jwks_last_err : AUTHD_ERR_UNAVAILABLE);
    pthread_mutex_unlock(&a->mu);
    return r;
}
