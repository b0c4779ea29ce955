/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Brute-force back-off (see throttle.h). Keys: throttle/<kind>/<subject type>/<subject>, holding
 * a ThrottleRecord. A subject that cannot be a key part (empty, or holding '/') is never
 * counted: no account can have such an e-mail (the e-mail index has the same rule), and the
 * edge passes addresses in the standard textual forms, which never hold '/'.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "authd/account.h"
#include "authd/audit.h"
#include "common/err.h"
#include "authd/keys.h"
#include "common/log.h"
#include "authd/records.h"
#include "storage/records.pb-c.h"
#include "storage/store.h"
#include "authd/throttle.h"

/* Accounts: 5 free failures, then 1 s, 2 s, 4 s ... up to 15 min. Addresses see many users
 * (offices behind one NAT), so they get more room before the first lock. */
static const struct throttle_policy defaults[THROTTLE_KINDS][THROTTLE_SUBJECTS] = {
    {{5, 1, 900, 3600}, {20, 1, 900, 3600}}, /* passwords */
    {{5, 1, 900, 3600}, {20, 1, 900, 3600}}, /* second factors: a counter of their own */
    /* e-mails sent (signup, reset): a few per address of mail, more per client address */
    {{5, 60, 3600, 3600}, {30, 60, 3600, 3600}},
    /* second-factor codes delivered by webhook (SMS costs money): per user */
    {{5, 30, 3600, 3600}, {30, 30, 3600, 3600}},
    /* client secrets: the password numbers, on counters of their own */
    {{5, 1, 900, 3600}, {20, 1, 900, 3600}},
};

/* Bounds of the configurable numbers: beyond them a setting is a typo, not a policy. */
#define LOCKOUT_MAX_FREE 1000
#define LOCKOUT_MAX_FIRST 86400         /* a day */
#define LOCKOUT_MAX_SPAN (30LL * 86400) /* 30 days, for maxWait and window */

static const char *const kind_names[] = {"pw", "2fa", "mail", "send", "cs"};
static const char *const subject_names[] = {"acct", "addr"};
/* The same kinds and subjects in the AuthConfig (lockout.<kind>.<subject>). */
static const char *const kind_config[] = {"password", "secondFactor", "mail", "delivery",
                                          "clientSecret"};
static const char *const subject_config[] = {"account", "address"};
/* The same kinds and subjects in audit events. */
static const char *const kind_audit[] = {"password", "second_factor", "mail", "delivery",
                                         "client_secret"};
static const char *const subject_audit[] = {"account", "address"};
/* Each list names every kind (a missing name would be NULL, and end a key early). */
_Static_assert(sizeof(kind_names) / sizeof(kind_names[0]) == THROTTLE_KINDS, "kind_names");
_Static_assert(sizeof(kind_config) / sizeof(kind_config[0]) == THROTTLE_KINDS, "kind_config");
_Static_assert(sizeof(kind_audit) / sizeof(kind_audit[0]) == THROTTLE_KINDS, "kind_audit");

void
throttle_policies_default(struct throttle_policies *out)
{
    memcpy(out->p, defaults, sizeof(out->p));
}

/* Overlays rule's non-zero fields on p and checks the result; err names the field. */
static int
rule_apply(const Authd__V1__LockoutRule *rule, struct throttle_policy *p, const char *where,
           char *err, size_t errlen)
{
    const char *field = NULL, *must = NULL;
    if (rule == NULL)
        return AUTHD_OK;
    if (rule->free_failures < 0 || rule->free_failures > LOCKOUT_MAX_FREE)
        field = "freeFailures", must = "must be 1..1000 (0: the default)";
    else if (rule->first_wait < 0 || rule->first_wait > LOCKOUT_MAX_FIRST)
        field = "firstWait", must = "must be 1..86400 seconds (0: the default)";
    else if (rule->max_wait < 0 || rule->max_wait > LOCKOUT_MAX_SPAN)
        field = "maxWait", must = "must be 1..2592000 seconds (0: the default)";
    else if (rule->window < 0 || rule->window > LOCKOUT_MAX_SPAN)
        field = "window", must = "must be 1..2592000 seconds (0: the default)";
    if (field == NULL) {
        if (rule->free_failures > 0)
            p->free_failures = (uint32_t)rule->free_failures;
        if (rule->first_wait > 0)
            p->base_lock = rule->first_wait;
        if (rule->max_wait > 0)
            p->max_lock = rule->max_wait;
        if (rule->window > 0)
            p->window = rule->window;
        /* The schedule must be able to grow, and the count must outlive the longest lock, or a
         * lock would end with its failures forgotten and the next guesses free again. */
        if (p->max_lock < p->base_lock)
            field = "maxWait", must = "must be at least firstWait";
        else if (p->window < p->max_lock)
            field = "window", must = "must be at least maxWait";
    }
    if (field == NULL)
        return AUTHD_OK;
    snprintf(err, errlen, "lockout.%s.%s %s (first %llds, max %llds, window %llds)", where, field,
             must, (long long)p->base_lock, (long long)p->max_lock, (long long)p->window);
    return AUTHD_ERR_INVALID_ARGUMENT;
}

int
throttle_policies_from_config(const Authd__V1__LockoutConfig *c, struct throttle_policies *out,
                              char *err, size_t errlen)
{
    throttle_policies_default(out);
    if (c == NULL)
        return AUTHD_OK;
    const Authd__V1__LockoutPolicy *kinds[THROTTLE_KINDS] = {c->password, c->second_factor, c->mail,
                                                             c->delivery, c->client_secret};
    for (int k = 0; k < THROTTLE_KINDS; k++) {
        if (kinds[k] == NULL)
            continue;
        const Authd__V1__LockoutRule *rules[THROTTLE_SUBJECTS] = {kinds[k]->account,
                                                                  kinds[k]->address};
        for (int s = 0; s < THROTTLE_SUBJECTS; s++) {
            char where[48];
            snprintf(where, sizeof(where), "%s.%s", kind_config[k], subject_config[s]);
            if (rule_apply(rules[s], &out->p[k][s], where, err, errlen) != AUTHD_OK) {
                throttle_policies_default(out);
                return AUTHD_ERR_INVALID_ARGUMENT;
            }
        }
    }
    return AUTHD_OK;
}

void
throttle_policy(struct authd *a, enum throttle_kind k, enum throttle_subject s,
                struct throttle_policy *out)
{
    authd_cfg_refresh(a);
    pthread_mutex_lock(&a->cfg_lock);
    *out = a->cfg.lockout.p[k][s];
    pthread_mutex_unlock(&a->cfg_lock);
}

int64_t
throttle_widest_window(struct authd *a)
{
    int64_t window = 0;
    authd_cfg_refresh(a);
    pthread_mutex_lock(&a->cfg_lock);
    for (int k = 0; k < THROTTLE_KINDS; k++)
        for (int s = 0; s < THROTTLE_SUBJECTS; s++)
            if (a->cfg.lockout.p[k][s].window > window)
                window = a->cfg.lockout.p[k][s].window;
    pthread_mutex_unlock(&a->cfg_lock);
    return window;
}

int64_t
throttle_lock_for(const struct throttle_policy *p, uint32_t n)
{
    if (n <= p->free_failures)
        return 0;
    uint32_t over = n - p->free_failures - 1;
    if (over >= 30)
        return p->max_lock;
    int64_t lock = p->base_lock << over;
    return lock > p->max_lock ? p->max_lock : lock;
}

const char *
throttle_address_group(const char *ip, char *buf, size_t cap)
{
    struct in6_addr a6;
    struct in_addr a4;
    char text[INET6_ADDRSTRLEN];
    const char *out = ip != NULL ? ip : "";
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (inet_pton(AF_INET6, out, &a6) == 1) {
        if (memcmp(a6.s6_addr, mapped, sizeof(mapped)) == 0) {
            memcpy(&a4, a6.s6_addr + 12, 4);
            out = inet_ntop(AF_INET, &a4, text, sizeof(text));
        } else {
            for (int i = THROTTLE_V6_PREFIX / 8; i < 16; i++)
                a6.s6_addr[i] = 0;
            out = inet_ntop(AF_INET6, &a6, text, sizeof(text));
        }
        if (out == NULL)
            out = ip;
    }
    snprintf(buf, cap, "%s", out);
    return buf;
}

static size_t
throttle_key(char key[KEY_MAX], enum throttle_kind k, enum throttle_subject s, const char *subject)
{
    char group[INET6_ADDRSTRLEN];
    if (s == THROTTLE_ADDRESS && strlen(subject) < INET6_ADDRSTRLEN)
        subject = throttle_address_group(subject, group, sizeof(group));
    return key_make(key, KEY_THROTTLE, kind_names[k], subject_names[s], subject, NULL);
}

int
throttle_check(struct authd *a, enum throttle_kind k, enum throttle_subject s, const char *subject,
               int64_t *retry_after)
{
    int found = 0;
    return throttle_check_found(a, k, s, subject, retry_after, &found);
}

int
throttle_check_found(struct authd *a, enum throttle_kind k, enum throttle_subject s,
                     const char *subject, int64_t *retry_after, int *found)
{
    char key[KEY_MAX];
    Authd__Storage__ThrottleRecord *rec = NULL;
    *retry_after = 0;
    *found = 0;
    if (subject == NULL || subject[0] == '\0' || throttle_key(key, k, s, subject) == 0)
        return AUTHD_OK;
    int r = rec_get(a->store, NULL, 0, key, &authd__storage__throttle_record__descriptor,
                    (ProtobufCMessage **)&rec);
    if (r == AUTHD_ERR_NOT_FOUND)
        return AUTHD_OK;
    if (r != AUTHD_OK)
        return r;
    *found = 1;
    int64_t now = a->now();
    if (rec->locked_until > now) {
        *retry_after = rec->locked_until - now;
        r = AUTHD_ERR_LOCKED;
    }
    rpc_msg_free(&rec->base);
    return r;
}

struct fail_step {
    const char *key;
    const struct throttle_policy *p;
    int check_lock;      /* refuse (AUTHD_ERR_LOCKED) instead of counting while locked */
    uint32_t failures;   /* out */
    int64_t lock;        /* out */
    int64_t retry_after; /* out, with AUTHD_ERR_LOCKED */
};

static int
fail_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct fail_step *f = arg;
    Authd__Storage__ThrottleRecord *rec = NULL;
    Authd__Storage__ThrottleRecord fresh = AUTHD__STORAGE__THROTTLE_RECORD__INIT;
    int64_t now = a->now();
    int r = rec_get(a->store, txn, 1, f->key, &authd__storage__throttle_record__descriptor,
                    (ProtobufCMessage **)&rec);
    if (r != AUTHD_OK && r != AUTHD_ERR_NOT_FOUND)
        return r;
    if (f->check_lock && rec != NULL && rec->locked_until > now) {
        f->retry_after = rec->locked_until - now;
        rpc_msg_free(&rec->base);
        return AUTHD_ERR_LOCKED;
    }
    if (rec != NULL && now - rec->last_failure < f->p->window)
        fresh.failures = rec->failures;
    rpc_msg_free(rec ? &rec->base : NULL);
    if (fresh.failures < UINT32_MAX)
        fresh.failures++;
    fresh.last_failure = now;
    f->lock = throttle_lock_for(f->p, fresh.failures);
    fresh.locked_until = f->lock > 0 ? now + f->lock : 0;
    f->failures = fresh.failures;
    return rec_put(txn, f->key, &fresh.base);
}

/*
 * The audit event of a new lock on subject, named in the event's own terms: an address as ip, a
 * user id (codes) as user, "client:<id>" as client, and an e-mail (passwords, mail) as the id
 * of its account when there is one, never as the e-mail itself. ip, when known, is the address
 * whose failure set the lock. The count and length of the lock go to the debug log.
 */
static void
lock_audit(struct authd *a, enum throttle_kind k, enum throttle_subject s, const char *subject,
           const char *ip, const struct fail_step *f)
{
    char uid[ACCOUNT_MAX_ID + 1] = "";
    struct audit ev = {.action = AUDIT_LOCKOUT,
                       .outcome = AUDIT_SUCCESS,
                       .ip = ip,
                       .target = subject_audit[s],
                       .reason = kind_audit[k]};
    if (s == THROTTLE_ADDRESS) {
        ev.ip = subject;
    } else if (k == THROTTLE_SECOND_FACTOR || k == THROTTLE_DELIVERY) {
        ev.user = subject;
    } else if (strncmp(subject, "client:", 7) == 0) {
        ev.client = subject + 7;
    } else {
        Authd__Storage__UserRecord *rec = NULL;
        if (account_user_by_email(a, NULL, 0, subject, &rec) == AUTHD_OK && rec->user != NULL)
            snprintf(uid, sizeof(uid), "%s", rec->user->id);
        rpc_msg_free(rec ? &rec->base : NULL);
        ev.user = uid;
    }
    audit_emit(NULL, &ev);
    log_event(LOG_DEBUG, "throttle_lock", "kind=%s subject=%s failures=%u lock_s=%lld",
              kind_names[k], subject_names[s], f->failures, (long long)f->lock);
}

/* throttle_fail, with the address (for the audit event) when it is not the subject. */
static int
fail_subject(struct authd *a, enum throttle_kind k, enum throttle_subject s, const char *subject,
             const char *ip)
{
    char key[KEY_MAX];
    if (subject == NULL || subject[0] == '\0' || throttle_key(key, k, s, subject) == 0)
        return AUTHD_OK;
    struct throttle_policy p;
    throttle_policy(a, k, s, &p);
    struct fail_step f = {.key = key, .p = &p};
    int r = account_txn_run(a, fail_step, &f);
    if (r == AUTHD_OK && f.lock > 0)
        lock_audit(a, k, s, subject, ip, &f);
    return r;
}

int
throttle_fail(struct authd *a, enum throttle_kind k, enum throttle_subject s, const char *subject)
{
    return fail_subject(a, k, s, subject, NULL);
}

int
throttle_attempt(struct authd *a, enum throttle_kind k, enum throttle_subject s,
                 const char *subject, int64_t *retry_after)
{
    char key[KEY_MAX];
    *retry_after = 0;
    if (subject == NULL || subject[0] == '\0' || throttle_key(key, k, s, subject) == 0)
        return AUTHD_OK;
    struct throttle_policy p;
    throttle_policy(a, k, s, &p);
    struct fail_step f = {.key = key, .p = &p, .check_lock = 1};
    int r = account_txn_run(a, fail_step, &f);
    if (r == AUTHD_ERR_LOCKED)
        *retry_after = f.retry_after;
    else if (r == AUTHD_OK && f.lock > 0)
        lock_audit(a, k, s, subject, NULL, &f);
    return r;
}

int
throttle_reset(struct authd *a, enum throttle_kind k, enum throttle_subject s, const char *subject)
{
    char key[KEY_MAX];
    void *val = NULL;
    size_t vlen = 0;
    if (subject == NULL || subject[0] == '\0' || throttle_key(key, k, s, subject) == 0)
        return AUTHD_OK;
    int r = store_get(a->store, key, strlen(key), &val, &vlen);
    if (r == AUTHD_ERR_NOT_FOUND)
        return AUTHD_OK;
    store_value_free(val, vlen);
    if (r != AUTHD_OK)
        return r;
    return store_delete(a->store, key, strlen(key));
}

int
throttle_reset_txn(struct store_txn *txn, enum throttle_kind k, enum throttle_subject s,
                   const char *subject)
{
    char key[KEY_MAX];
    if (subject == NULL || subject[0] == '\0' || throttle_key(key, k, s, subject) == 0)
        return AUTHD_OK;
    return store_txn_delete(txn, key, strlen(key));
}

void
throttle_failed(struct authd *a, enum throttle_kind k, const char *account, const char *ip)
{
    if (fail_subject(a, k, THROTTLE_ACCOUNT, account, ip) != AUTHD_OK ||
        fail_subject(a, k, THROTTLE_ADDRESS, ip, NULL) != AUTHD_OK)
        log_event(LOG_WARN, "throttle_update_failed", "kind=%s", kind_names[k]);
}
