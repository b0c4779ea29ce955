/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Expired-record sweeper (see sweeper.h). It walks the key-space table (keys.h) and scans each
 * expiring prefix in key order; expired keys are collected and deleted in batches, so a sweep
 * never holds a transaction or a large allocation.
 * A record deleted twice (e.g. a session ended by a logout meanwhile) is harmless.
 */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "authd/keys.h"
#include "common/log.h"
#include "storage/records.pb-c.h"
#include "authd/sweeper.h"
#include "authd/throttle.h"

#define SWEEP_BATCH 512

struct sweeper {
    struct authd *a;
    int64_t interval;
    pthread_t th;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop;
};

struct sweep_pass {
    struct authd *a;
    enum key_sweep kind;
    const ProtobufCMessageDescriptor *desc; /* KEY_SWEEP_EXPIRES/_REFRESH: has expires_at */
    size_t prefix_len;
    int64_t now;
    int64_t window; /* KEY_SWEEP_COUNTER: the widest lockout window */
    struct store_batch *b;
    size_t pending; /* deletes in b */
    uint64_t deleted;
    int err;
};

static int
flush(struct sweep_pass *p)
{
    if (p->pending == 0)
        return AUTHD_OK;
    int r = store_batch_commit(p->a->store, p->b);
    store_batch_free(p->b);
    p->b = store_batch_new();
    p->pending = 0;
    if (p->b == NULL)
        return AUTHD_ERR_NOMEM;
    return r;
}

/* 1 when the counter is neither locked nor inside the widest window of any policy. */
static int
counter_stale(const Authd__Storage__ThrottleRecord *t, int64_t now, int64_t window)
{
    return t->locked_until <= now && now - t->last_failure >= window;
}

static int
on_record(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct sweep_pass *p = arg;
    int expired = 0;
    char ikey[KEY_MAX] = "";
    if (p->kind == KEY_SWEEP_SESSION) {
        Authd__Storage__SessionRecord *r = authd__storage__session_record__unpack(NULL, vlen, val);
        if (r == NULL)
            return 0; /* not ours to judge: leave it */
        if (r->session != NULL && r->session->expires_at <= p->now) {
            expired = 1;
            if (key_make(ikey, KEY_USESS, r->session->user_id, r->session->id, NULL) == 0)
                ikey[0] = '\0';
        }
        authd__storage__session_record__free_unpacked(r, NULL);
    } else if (p->kind == KEY_SWEEP_COUNTER) {
        Authd__Storage__ThrottleRecord *r =
            authd__storage__throttle_record__unpack(NULL, vlen, val);
        if (r == NULL)
            return 0;
        expired = counter_stale(r, p->now, p->window);
        authd__storage__throttle_record__free_unpacked(r, NULL);
    } else {
        /* Any record with an int64 expires_at: one-time tokens and the OAuth records. */
        ProtobufCMessage *m = protobuf_c_message_unpack(p->desc, NULL, vlen, val);
        if (m == NULL)
            return 0;
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(p->desc, "expires_at");
        if (f != NULL && f->type == PROTOBUF_C_TYPE_INT64)
            expired = *(const int64_t *)(const void *)((const char *)m + f->offset) <= p->now;
        if (expired && p->kind == KEY_SWEEP_REFRESH) {
            const Authd__Storage__RefreshTokenRecord *rt = (const void *)m;
            size_t il = klen - p->prefix_len;
            int n = snprintf(ikey, sizeof(ikey), "%s%s/%.*s", KEY_RFAM, rt->family, (int)il,
                             (const char *)key + p->prefix_len);
            if (n <= 0 || (size_t)n >= sizeof(ikey) || rt->family[0] == '\0')
                ikey[0] = '\0';
        }
        protobuf_c_message_free_unpacked(m, NULL);
    }
    if (!expired)
        return 0;
    int rc = store_batch_delete(p->b, key, klen);
    if (rc == AUTHD_OK && ikey[0] != '\0')
        rc = store_batch_delete(p->b, ikey, strlen(ikey));
    if (rc != AUTHD_OK)
        return rc;
    p->deleted++;
    if (++p->pending >= SWEEP_BATCH)
        return flush(p);
    return 0;
}

static int
sweep_records(struct authd *a, const struct key_prefix *kp, int64_t now, uint64_t *deleted)
{
    struct sweep_pass p = {.a = a,
                           .kind = kp->sweep,
                           .desc = kp->record,
                           .prefix_len = strlen(kp->prefix),
                           .now = now,
                           .window = throttle_widest_window(a),
                           .b = store_batch_new()};
    if ((p.kind == KEY_SWEEP_EXPIRES || p.kind == KEY_SWEEP_REFRESH) && p.desc == NULL) {
        store_batch_free(p.b);
        return AUTHD_ERR_INTERNAL; /* a key-space row that names no record to read */
    }
    if (p.b == NULL)
        return AUTHD_ERR_NOMEM;
    int r = store_scan(a->store, kp->prefix, p.prefix_len, NULL, 0, on_record, &p);
    if (r == AUTHD_OK)
        r = flush(&p);
    store_batch_free(p.b);
    *deleted += p.deleted;
    return r;
}

int
sweeper_run_once(struct authd *a, struct sweep_stats *st)
{
    struct sweep_stats s = {0};
    int64_t now = a->now();
    int r = AUTHD_OK;
    /* Every expiring prefix of the key space, and only those (keys.h). */
    for (size_t i = 0; r == AUTHD_OK && i < key_space_len; i++) {
        const struct key_prefix *kp = &key_space[i];
        if (!key_sweep_expiring(kp->sweep))
            continue;
        uint64_t *n = kp->sweep == KEY_SWEEP_SESSION   ? &s.sessions
                      : kp->sweep == KEY_SWEEP_COUNTER ? &s.counters
                                                       : &s.tokens;
        r = sweep_records(a, kp, now, n);
    }
    if (st != NULL)
        *st = s;
    return r;
}

static void *
sweeper_main(void *arg)
{
    struct sweeper *sw = arg;
    pthread_mutex_lock(&sw->lock);
    while (!sw->stop) {
        pthread_mutex_unlock(&sw->lock);
        struct sweep_stats st;
        int r = sweeper_run_once(sw->a, &st);
        if (r != AUTHD_OK)
            log_event(LOG_WARN, "sweep_failed", "err=%s", authd_err_reason(r));
        else if (st.sessions + st.tokens + st.counters > 0)
            log_event(LOG_INFO, "sweep", "sessions=%llu tokens=%llu counters=%llu",
                      (unsigned long long)st.sessions, (unsigned long long)st.tokens,
                      (unsigned long long)st.counters);
        pthread_mutex_lock(&sw->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += sw->interval;
        while (!sw->stop && pthread_cond_timedwait(&sw->wake, &sw->lock, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&sw->lock);
    return NULL;
}

int
sweeper_start(struct authd *a, int64_t interval, struct sweeper **out)
{
    *out = NULL;
    struct sweeper *sw = calloc(1, sizeof(*sw));
    if (sw == NULL)
        return AUTHD_ERR_NOMEM;
    sw->a = a;
    sw->interval = interval > 0 ? interval : 600;
    pthread_mutex_init(&sw->lock, NULL);
    pthread_cond_init(&sw->wake, NULL);
    if (pthread_create(&sw->th, NULL, sweeper_main, sw) != 0) {
        pthread_mutex_destroy(&sw->lock);
        pthread_cond_destroy(&sw->wake);
        free(sw);
        return AUTHD_ERR_NOMEM;
    }
    *out = sw;
    return AUTHD_OK;
}

void
sweeper_stop(struct sweeper *sw)
{
    if (sw == NULL)
        return;
    pthread_mutex_lock(&sw->lock);
    sw->stop = 1;
    pthread_cond_signal(&sw->wake);
    pthread_mutex_unlock(&sw->lock);
    pthread_join(sw->th, NULL);
    pthread_mutex_destroy(&sw->lock);
    pthread_cond_destroy(&sw->wake);
    free(sw);
}
