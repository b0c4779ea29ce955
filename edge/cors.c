/* SPDX-License-Identifier: Apache-2.0 */
/* The cache of authd's CORS decisions: see cors.h. */
#include "edge/cors.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "authd/v1/oauth.pb-c.h"
#include "common/err.h"
#include "common/log.h"
#include "edge/authd_client.h"
#include "edge/authd_client_int.h"

struct cors_slot {
    char origin[EDGE_CORS_ORIGIN_MAX + 1]; /* "" = empty */
    int allowed;
    uint64_t expires_ms;
};

/* One slot per hash: a newer answer for another origin replaces an older one (bounded size
 * whatever Origin headers strangers send). */
static struct cors_slot slots[EDGE_CORS_SLOTS];
static pthread_mutex_t slots_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t
slot_of(const char *origin)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)origin; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % EDGE_CORS_SLOTS;
}

/* What a browser can send as a serialised origin: scheme "://" and printable ASCII. */
static int
plausible(const char *origin)
{
    size_t n = strlen(origin);
    if (n == 0 || n > EDGE_CORS_ORIGIN_MAX || strstr(origin, "://") == NULL)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)origin[i] <= ' ' || (unsigned char)origin[i] >= 0x7f)
            return 0;
    return 1;
}

int
edge_cors_allowed(struct edge_authd *a, const char *rid, const char *origin)
{
    if (origin == NULL || !plausible(origin))
        return 0;
    size_t i = slot_of(origin);
    uint64_t now = edge_authd_now_ms();
    pthread_mutex_lock(&slots_mu);
    struct cors_slot *s = &slots[i];
    int hit = strcmp(s->origin, origin) == 0 && now < s->expires_ms;
    int allowed = hit && s->allowed;
    pthread_mutex_unlock(&slots_mu);
    if (hit)
        return allowed;

    Authd__V1__CheckOriginRequest req = AUTHD__V1__CHECK_ORIGIN_REQUEST__INIT;
    Authd__V1__CheckOriginResponse *resp = NULL;
    req.origin = (char *)origin;
    int r = edge_authd_call(a, rid, &authd__v1__oauth__descriptor, "CheckOrigin", &req.base,
                            (ProtobufCMessage **)&resp, NULL);
    if (r != AUTHD_OK) {
        log_event(LOG_WARN, "cors_check_failed", "rid=%s err=%s", rid != NULL ? rid : "-",
                  authd_err_reason(r));
        return 0;
    }
    allowed = resp->allowed != 0;
    int64_t ttl = resp->max_age_s;
    rpc_msg_free(&resp->base);
    if (ttl > EDGE_CORS_TTL_MAX_S)
        ttl = EDGE_CORS_TTL_MAX_S;
    if (ttl > 0) {
        pthread_mutex_lock(&slots_mu);
        snprintf(s->origin, sizeof(s->origin), "%s", origin);
        s->allowed = allowed;
        s->expires_ms = edge_authd_now_ms() + (uint64_t)ttl * 1000;
        pthread_mutex_unlock(&slots_mu);
    }
    return allowed;
}
