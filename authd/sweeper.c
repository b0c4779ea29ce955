/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Expired-record sweeper (see sweeper.h). It walks the key-space table (keys.h) and scans each
 * expiring prefix in key order, collecting the keys that look expired (up to SWEEP_BATCH, then
 * the scan goes on after the last one), so a sweep never holds a large allocation.
 *
 * Every replica of authd may run its sweeper on the same store. A record is therefore deleted
 * only in a transaction that reads it again for update and judges it again: a record renewed
 * between the scan and the delete (a new failure on a counter, a session or token whose expiry
 * moved) is kept, and two sweepers deleting the same record both just delete an absent key. A
 * lost lock wait (AUTHD_ERR_CONFLICT) skips the record: the next sweep sees it again.
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

void (*sweeper_between_hook)(struct authd *a);

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
    const ProtobufCMessageDescriptor *desc; /* KEY_SWEEP_EXPIRES/_REFRESH/_FAMILY: expires_at */
    const char *index;                      /* KEY_SWEEP_FAMILY: the per-user index prefix */
    size_t prefix_len;
    int64_t now;
    int64_t window;          /* KEY_SWEEP_COUNTER: the widest lockout window */
    char *keys[SWEEP_BATCH]; /* candidates of this batch (malloc'd, NUL-terminated copies) */
    size_t n;
    char last[KEY_MAX]; /* the last key scanned: the next batch starts after it */
    const char *cur;    /* the candidate delete_step judges again */
    uint64_t deleted;
};

/* 1 when the counter is neither locked nor inside the widest window of any policy. */
static int
counter_stale(const Authd__Storage__ThrottleRecord *t, int64_t now, int64_t window)
{
    return t->locked_until <= now && now - t->last_failure >= window;
}

/*
 * 1 when the record (key, val) of p's prefix has expired, with the index entry to delete with it
 * in ikey (KEY_MAX bytes; "" for none); 0 when it lives or is not ours to judge.
 */
static int
judge(const struct sweep_pass *p, const char *key, size_t klen, const void *val, size_t vlen,
      char *ikey)
{
    int expired = 0;
    ikey[0] = '\0';
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
            int n = snprintf(ikey, KEY_MAX, "%s%s/%.*s", KEY_RFAM, rt->family, (int)il,
                             key + p->prefix_len);
            if (n <= 0 || (size_t)n >= KEY_MAX || rt->family[0] == '\0')
                ikey[0] = '\0';
        } else if (expired && p->kind == KEY_SWEEP_FAMILY && p->index != NULL) {
            /* The record's entry in its user's index (an offline family's uoff/, a device's
             * udev/; absent for online families). */
            const ProtobufCFieldDescriptor *uf =
                protobuf_c_message_descriptor_get_field_by_name(p->desc, "user_id");
            const char *uid = uf != NULL && uf->type == PROTOBUF_C_TYPE_STRING
                                  ? *(char *const *)(const void *)((const char *)m + uf->offset)
                                  : NULL;
            size_t il = klen - p->prefix_len;
            int n = uid != NULL ? snprintf(ikey, KEY_MAX, "%s%s/%.*s", p->index, uid, (int)il,
                                           key + p->prefix_len)
                                : 0;
            if (n <= 0 || (size_t)n >= KEY_MAX || uid[0] == '\0')
                ikey[0] = '\0';
        }
        protobuf_c_message_free_unpacked(m, NULL);
    }
    return expired;
}

/* Scan callback: collects the keys that look expired; stops when the batch is full. */
static int
on_record(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct sweep_pass *p = arg;
    char ikey[KEY_MAX];
    if (klen >= KEY_MAX)
        return 0; /* authd never makes such a key */
    memcpy(p->last, key, klen);
    p->last[klen] = '\0';
    if (!judge(p, p->last, klen, val, vlen, ikey))
        return 0;
    p->keys[p->n] = strdup(p->last);
    if (p->keys[p->n] == NULL)
        return AUTHD_ERR_NOMEM;
    return ++p->n == SWEEP_BATCH ? 1 : 0;
}

/* Deletes key when, read again under its row lock, it is still expired. */
static int
delete_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct sweep_pass *p = arg;
    const char *key = p->cur;
    char ikey[KEY_MAX];
    void *val = NULL;
    size_t vlen = 0;
    (void)a;
    int r = store_txn_get(txn, key, strlen(key), 1, &val, &vlen);
    if (r != AUTHD_OK)
        return r; /* NOT_FOUND: deleted meanwhile (another sweeper, a logout) */
    int expired = judge(p, key, strlen(key), val, vlen, ikey);
    store_value_free(val, vlen);
    if (!expired)
        return AUTHD_ERR_NOT_FOUND; /* renewed meanwhile: kept (nothing to commit) */
    r = store_txn_delete(txn, key, strlen(key));
    if (r == AUTHD_OK && ikey[0] != '\0')
        r = store_txn_delete(txn, ikey, strlen(ikey));
    return r;
}

/* Deletes the batch's candidates one transaction each; a conflict skips one. */
static int
flush(struct sweep_pass *p)
{
    int r = AUTHD_OK;
    if (sweeper_between_hook != NULL && p->n > 0)
        sweeper_between_hook(p->a);
    for (size_t i = 0; i < p->n; i++) {
        if (r == AUTHD_OK) {
            p->cur = p->keys[i];
            struct store_txn *txn = NULL;
            r = store_txn_begin(p->a->store, &txn);
            if (r == AUTHD_OK) {
                r = delete_step(p->a, txn, p);
                if (r == AUTHD_OK)
                    r = store_txn_commit(txn);
                if (r == AUTHD_OK)
                    p->deleted++;
                store_txn_free(txn);
            }
            if (r == AUTHD_ERR_NOT_FOUND || r == AUTHD_ERR_CONFLICT)
                r = AUTHD_OK; /* gone, renewed, or busy: not ours to delete now */
        }
        free(p->keys[i]);
        p->keys[i] = NULL;
    }
    p->n = 0;
    return r;
}

static int
sweep_records(struct authd *a, const struct key_prefix *kp, int64_t now, uint64_t *deleted)
{
    struct sweep_pass *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return AUTHD_ERR_NOMEM;
    p->a = a;
    p->kind = kp->sweep;
    p->desc = kp->record;
    p->prefix_len = strlen(kp->prefix);
    p->now = now;
    p->window = throttle_widest_window(a);
    for (size_t i = 0; i < key_space_len; i++)
        if (key_space[i].indexed_by != NULL && strcmp(key_space[i].indexed_by, kp->prefix) == 0)
            p->index = key_space[i].prefix;
    int r = AUTHD_OK;
    if ((p->kind == KEY_SWEEP_EXPIRES || p->kind == KEY_SWEEP_REFRESH ||
         p->kind == KEY_SWEEP_FAMILY) &&
        p->desc == NULL)
        r = AUTHD_ERR_INTERNAL; /* a key-space row that names no record to read */
    int more = 1, started = 0;
    while (r == AUTHD_OK && more) {
        r = store_scan(a->store, kp->prefix, p->prefix_len, started ? p->last : NULL,
                       started ? strlen(p->last) : 0, on_record, p);
        started = 1;
        /* A full batch stopped the scan early: there may be more after p->last. */
        more = r == AUTHD_OK && p->n == SWEEP_BATCH;
        int fr = flush(p);
        if (r == AUTHD_OK)
            r = fr;
    }
    for (size_t i = 0; i < p->n; i++)
        free(p->keys[i]);
    *deleted += p->deleted;
    free(p);
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
