/* SPDX-License-Identifier: Apache-2.0 */
/*
 * authd.v1.Users: account administration (create, get, list, update, delete, set password).
 * Callers are administrators and, for lookups, trusted services; the role check comes with the
 * service-security work. Every change that touches several keys is one transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "authd/account.h"
#include "authd/audit.h"
#include "common/email.h"
#include "common/err.h"
#include "authd/keys.h"
#include "common/log.h"
#include "authd/password.h"
#include "authd/records.h"
#include "common/secret.h"
#include "authd/throttle.h"
#include "authd/device.h"
#include "authd/import.h"
#include "authd/twofactor.h"
#include "authd/v1/users.pb-c.h"
#include "authd/webauthn_store.h"
#include "authd/roles.h"

#define LIST_DEFAULT 50
#define LIST_MAX 1000

/*
 * The audit events of an administrator's change to user id (reason: the method), made or not;
 * when it ended the user's sessions, a token_revoked event too.
 */
static void
admin_audit(struct rpc_ctx *ctx, const char *method, const char *id, int r, int ended_sessions)
{
    struct audit ev = {.action = AUDIT_ADMIN_CHANGE,
                       .outcome = r == AUTHD_OK ? AUDIT_SUCCESS : AUDIT_FAILURE,
                       .user = id,
                       .target = id != NULL && id[0] != '\0' ? rpc_ctx_printf(ctx, "user/%s", id)
                                                             : "user",
                       .reason = method};
    audit_emit(ctx, &ev);
    if (r == AUTHD_OK && ended_sessions) {
        ev.action = AUDIT_TOKEN_REVOKED;
        ev.target = "sessions/all";
        audit_emit(ctx, &ev);
    }
}

/* ---- Create ------------------------------------------------------------------------------ */

struct create_step {
    Authd__Storage__UserRecord *rec;
};

static int
create_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct create_step *c = arg;
    return account_user_create(a, txn, c->rec);
}

static int
users_create(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__CreateUserRequest *req = (const void *)reqm;
    Authd__V1__UserResponse *resp = (void *)respm;
    Authd__Storage__UserRecord rec = AUTHD__STORAGE__USER_RECORD__INIT;
    Authd__V1__User user = AUTHD__V1__USER__INIT;
    Authd__V1__TwoFactorStatus tf = AUTHD__V1__TWO_FACTOR_STATUS__INIT;
    char email[EMAIL_MAX_LEN + 1];
    char *phc = NULL;
    int r;

    rec.user = &user;
    user.two_factor = &tf;
    r = email_normalize(req->email, email, sizeof(email));
    if (r != AUTHD_OK)
        return r;
    if (req->id[0] != '\0') {
        /* Ids end up in keys and URLs: keep them to a safe alphabet. */
        size_t n = strlen(req->id);
        if (n > ACCOUNT_MAX_ID || strspn(req->id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
                                                  "QRSTUVWXYZ0123456789-_.") != n) {
            rpc_ctx_set_message(ctx, "id: up to 64 of A-Z a-z 0-9 - _ .");
            return AUTHD_ERR_INVALID_ARGUMENT;
        }
        user.id = strdup(req->id);
        if (user.id == NULL)
            return AUTHD_ERR_NOMEM;
    }
    if (req->password[0] != '\0') {
        size_t pl = strlen(req->password);
        r = password_policy_check(req->password, pl);
        if (r != AUTHD_OK)
            rpc_ctx_set_message(ctx, password_policy_problem(r));
        if (r == AUTHD_OK)
            r = password_hash(&a->set.argon2, req->password, pl, &phc);
        if (r != AUTHD_OK)
            goto out;
        rec.password_hash = phc;
    }
    user.email = email;
    user.inactive = req->inactive;
    /* OIDC Core §5.1: email_verified only when the address is known to be the user's; an
     * administrator's account is not, unless the administrator says so. */
    user.email_verified = req->email_verified;
    struct create_step c = {.rec = &rec};
    r = account_txn_run(a, create_step, &c);
    if (r == AUTHD_OK) {
        resp->user = rec_copy(ctx, &user.base);
        r = resp->user != NULL ? AUTHD_OK : AUTHD_ERR_NOMEM;
    }
    admin_audit(ctx, "Users/Create", user.id, r, 0);
out:
    if (user.id != protobuf_c_empty_string)
        free(user.id);
    secret_strfree(phc);
    return r;
}

/* ---- Get / List ----------------------------------------------------------------------------- */

static int
users_get(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__GetUserRequest *req = (const void *)reqm;
    Authd__V1__UserResponse *resp = (void *)respm;
    Authd__Storage__UserRecord *rec = NULL;
    int r;

    if (req->id[0] != '\0') {
        r = account_user_get(a, NULL, 0, req->id, &rec);
    } else {
        char email[EMAIL_MAX_LEN + 1];
        r = email_normalize(req->email, email, sizeof(email));
        if (r != AUTHD_OK)
            return AUTHD_ERR_NOT_FOUND;
        r = account_user_by_email(a, NULL, 0, email, &rec);
    }
    if (r == AUTHD_OK) {
        resp->user = rec_copy(ctx, &rec->user->base);
        if (resp->user == NULL)
            r = AUTHD_ERR_NOMEM;
    }
    rpc_msg_free(rec ? &rec->base : NULL);
    return r;
}

struct list_acc {
    struct rpc_ctx *ctx;
    Authd__V1__ListUsersResponse *resp;
    size_t want;
    int more;
};

static int
on_user(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct list_acc *l = arg;
    (void)key;
    (void)klen;
    if (l->resp->n_users == l->want) {
        l->more = 1;
        return 1;
    }
    Authd__Storage__UserRecord *rec = authd__storage__user_record__unpack(NULL, vlen, val);
    if (rec == NULL)
        return AUTHD_ERR_INTERNAL;
    Authd__V1__User *u = rec->user != NULL && webauthn_status_fill(rec) == AUTHD_OK
                             ? rec_copy(l->ctx, &rec->user->base)
                             : NULL;
    rpc_msg_free(&rec->base);
    if (u == NULL)
        return AUTHD_ERR_NOMEM;
    l->resp->users[l->resp->n_users++] = u;
    return 0;
}

static int
users_list(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__ListUsersRequest *req = (const void *)reqm;
    Authd__V1__ListUsersResponse *resp = (void *)respm;
    size_t want = req->page_size == 0 ? LIST_DEFAULT : req->page_size;
    char after[KEY_MAX];
    size_t alen = 0;

    if (want > LIST_MAX)
        want = LIST_MAX;
    resp->users = rpc_ctx_alloc(ctx, want * sizeof(*resp->users));
    if (resp->users == NULL)
        return AUTHD_ERR_NOMEM;
    if (req->page_token[0] != '\0') {
        alen = key_make(after, KEY_USER, req->page_token, NULL);
        if (alen == 0)
            return AUTHD_ERR_INVALID_ARGUMENT;
    }
    struct list_acc l = {.ctx = ctx, .resp = resp, .want = want, .more = 0};
    int r =
        store_scan(a->store, KEY_USER, strlen(KEY_USER), alen ? after : NULL, alen, on_user, &l);
    if (r != AUTHD_OK)
        return r;
    if (l.more && resp->n_users > 0)
        resp->next_page_token = resp->users[resp->n_users - 1]->id;
    return AUTHD_OK;
}

/* ---- Update / Delete / SetPassword -------------------------------------------------------- */

/* Audits an administrator turning a user's two-factor authentication off (the caller, in the
 * line, is that administrator). */
static void
audit_admin_reset(struct rpc_ctx *ctx, const char *user_id)
{
    struct audit ev = {.action = AUDIT_TWOFACTOR_DISABLED,
                       .outcome = AUDIT_SUCCESS,
                       .user = user_id,
                       .reason = "admin_reset"};
    audit_emit(ctx, &ev);
}

struct update_step {
    const char *id;
    int set_inactive;
    int inactive;
    int set_email_verified;
    int email_verified;
    const char *password_hash; /* set password when not NULL */
    int delete_user;
    int reset_two_factor;
    int keep_two_factor;             /* refuse (NOT_ENABLED) unless two-factor is on */
    const char *tf_transport;        /* set the delivery transport when not NULL */
    const char *email;               /* the new normalised e-mail when not NULL */
    Authd__Storage__UserRecord *rec; /* out */
    int ended_sessions;              /* out: every session of the user was ended */
    int had_two_factor;              /* out: 2FA was on before a reset */
};

static int
update_step(struct authd *a, struct store_txn *txn, void *arg)
{
    struct update_step *u = arg;
    rpc_msg_free(u->rec ? &u->rec->base : NULL);
    u->rec = NULL;
    u->ended_sessions = 0;
    u->had_two_factor = 0;
    int r = account_user_get(a, txn, 1, u->id, &u->rec);
    if (r != AUTHD_OK)
        return r;
    Authd__V1__User *user = u->rec->user;
    if (user == NULL)
        return AUTHD_ERR_INTERNAL;
    if (u->delete_user) {
        char ukey[KEY_MAX], ekey[KEY_MAX];
        if (key_make(ukey, KEY_USER, user->id, NULL) == 0 ||
            key_make(ekey, KEY_EMAIL, user->email, NULL) == 0)
            return AUTHD_ERR_INTERNAL;
        r = account_sessions_end_all(a, txn, user->id, NULL);
        u->ended_sessions = 1;
        /* Its keys' ids are free again: their index entries go with the record. */
        if (r == AUTHD_OK)
            r = webauthn_index_delete_all(txn, u->rec);
        if (r == AUTHD_OK)
            r = store_txn_delete(txn, ukey, strlen(ukey));
        if (r == AUTHD_OK)
            r = store_txn_delete(txn, ekey, strlen(ekey));
        return r;
    }
    int end_sessions = 0;
    if (u->set_inactive) {
        end_sessions |= u->inactive && !user->inactive;
        user->inactive = u->inactive;
    }
    if (u->email != NULL && (r = account_user_set_email(txn, u->rec, u->email)) != AUTHD_OK)
        return r;
    if (u->set_email_verified)
        user->email_verified = u->email_verified;
    if (u->password_hash != NULL) {
        char *dup = strdup(u->password_hash);
        if (dup == NULL)
            return AUTHD_ERR_NOMEM;
        if (u->rec->password_hash != protobuf_c_empty_string)
            secret_strfree(u->rec->password_hash);
        u->rec->password_hash = dup;
        end_sessions = 1;
    }
    int tf_on = user->two_factor != NULL && user->two_factor->enabled;
    if (u->reset_two_factor) {
        u->had_two_factor = tf_on;
        if ((r = twofactor_clear(txn, u->rec)) != AUTHD_OK)
            return r;
        /* Browsers remembered for the second factor end with it. */
        if ((r = device_forget_all(txn, user->id, NULL)) != AUTHD_OK)
            return r;
    } else if (u->keep_two_factor && !tf_on) {
        return AUTHD_ERR_NOT_ENABLED;
    }
    if (u->tf_transport != NULL &&
        (r = twofactor_set_transport(u->rec, u->tf_transport)) != AUTHD_OK)
        return r;
    if (end_sessions) {
        r = account_sessions_end_all(a, txn, user->id, NULL);
        if (r != AUTHD_OK)
            return r;
        u->ended_sessions = 1;
    }
    return account_user_save(a, txn, u->rec);
}

static int
users_update(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__UpdateUserRequest *req = (const void *)reqm;
    Authd__V1__UserResponse *resp = (void *)respm;
    struct update_step u = {.id = req->id};
    char email[EMAIL_MAX_LEN + 1];
    if (req->email != NULL) {
        int r = email_normalize(req->email->value, email, sizeof(email));
        if (r != AUTHD_OK)
            return r; /* as Create answers an address it cannot take */
        u.email = email;
    }
    if (req->inactive != NULL) {
        u.set_inactive = 1;
        u.inactive = req->inactive->value;
    }
    if (req->email_verified != NULL) {
        u.set_email_verified = 1;
        u.email_verified = req->email_verified->value;
    }
    if (req->two_factor_enabled != NULL) {
        u.reset_two_factor = !req->two_factor_enabled->value;
        u.keep_two_factor = req->two_factor_enabled->value;
    }
    if (req->two_factor_transport != NULL) {
        u.tf_transport = req->two_factor_transport->value;
        if (!twofactor_transport_valid(u.tf_transport)) {
            rpc_ctx_set_message(ctx, "twoFactor.transport: up to 32 of A-Z a-z 0-9 - _ .");
            return AUTHD_ERR_INVALID_ARGUMENT;
        }
    }
    int r = account_txn_run(a, update_step, &u);
    if (r == AUTHD_ERR_NOT_ENABLED)
        rpc_ctx_set_message(ctx, u.keep_two_factor
                                     ? "twoFactor.enabled: only the user's own enrolment turns "
                                       "two-factor authentication on"
                                     : "twoFactor.transport: two-factor authentication is off "
                                       "for this user");
    if (r == AUTHD_OK) {
        resp->user = rec_copy(ctx, &u.rec->user->base);
        r = resp->user ? AUTHD_OK : AUTHD_ERR_NOMEM;
        char q[96];
        log_event(LOG_INFO, "user_updated", "user=%s inactive=%d", log_quote(req->id, q, sizeof(q)),
                  (int)u.rec->user->inactive);
    }
    admin_audit(ctx, "Users/Update", req->id, r, u.ended_sessions);
    if (r == AUTHD_OK && u.had_two_factor)
        audit_admin_reset(ctx, req->id);
    rpc_msg_free(u.rec ? &u.rec->base : NULL);
    return r;
}

static int
users_delete(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__DeleteUserRequest *req = (const void *)reqm;
    (void)respm;
    struct update_step u = {.id = req->id, .delete_user = 1};
    int r = account_txn_run(a, update_step, &u);
    rpc_msg_free(u.rec ? &u.rec->base : NULL);
    admin_audit(ctx, "Users/Delete", req->id, r, u.ended_sessions);
    return r;
}

static int
users_set_password(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__SetPasswordRequest *req = (const void *)reqm;
    (void)respm;
    char *phc = NULL;
    size_t pl = strlen(req->password);
    int r = password_policy_check(req->password, pl);
    if (r != AUTHD_OK)
        rpc_ctx_set_message(ctx, password_policy_problem(r));
    if (r == AUTHD_OK)
        r = password_hash(&a->set.argon2, req->password, pl, &phc);
    if (r != AUTHD_OK)
        return r;
    struct update_step u = {.id = req->id, .password_hash = phc};
    r = account_txn_run(a, update_step, &u);
    rpc_msg_free(u.rec ? &u.rec->base : NULL);
    secret_strfree(phc);
    admin_audit(ctx, "Users/SetPassword", req->id, r, u.ended_sessions);
    return r;
}

static int
users_reset_two_factor(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__ResetTwoFactorRequest *req = (const void *)reqm;
    Authd__V1__UserResponse *resp = (void *)respm;
    struct update_step u = {.id = req->id, .reset_two_factor = 1};
    int r = account_txn_run(a, update_step, &u);
    if (r == AUTHD_OK) {
        resp->user = rec_copy(ctx, &u.rec->user->base);
        r = resp->user ? AUTHD_OK : AUTHD_ERR_NOMEM;
    }
    admin_audit(ctx, "Users/ResetTwoFactor", req->id, r, 0);
    if (r == AUTHD_OK && u.had_two_factor)
        audit_admin_reset(ctx, req->id);
    rpc_msg_free(u.rec ? &u.rec->base : NULL);
    return r;
}

/*
 * An administrator ends a user's lockouts: the account counters of failed passwords (keyed by the
 * normalised e-mail, as login.c counts them) and of wrong second-factor codes (keyed by the user
 * id, as twofactor.c counts them) are forgotten. The address counters stay: they hold back an
 * attacker's machine, not this account.
 */
static int
users_unlock(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__UnlockUserRequest *req = (const void *)reqm;
    Authd__V1__UserResponse *resp = (void *)respm;
    Authd__Storage__UserRecord *rec = NULL;
    char email[EMAIL_MAX_LEN + 1];

    int r = req->id[0] != '\0' ? account_user_get(a, NULL, 0, req->id, &rec) : AUTHD_ERR_NOT_FOUND;
    if (r == AUTHD_OK && rec->user == NULL)
        r = AUTHD_ERR_NOT_FOUND;
    if (r == AUTHD_OK && email_normalize(rec->user->email, email, sizeof(email)) == AUTHD_OK)
        r = throttle_reset(a, THROTTLE_PASSWORD, THROTTLE_ACCOUNT, email);
    if (r == AUTHD_OK)
        r = throttle_reset(a, THROTTLE_SECOND_FACTOR, THROTTLE_ACCOUNT, rec->user->id);
    if (r == AUTHD_OK) {
        resp->user = rec_copy(ctx, &rec->user->base);
        r = resp->user ? AUTHD_OK : AUTHD_ERR_NOMEM;
    }
    admin_audit(ctx, "Users/Unlock", req->id, r, 0);
    rpc_msg_free(rec ? &rec->base : NULL);
    return r;
}

/* ---- Remembered browsers (device.h) ------------------------------------------------------- */

/* An existing user (id), or AUTHD_ERR_NOT_FOUND with a message naming it. */
static int
user_exists(struct rpc_ctx *ctx, struct authd *a, const char *id)
{
    Authd__Storage__UserRecord *rec = NULL;
    int r = id[0] != '\0' ? account_user_get(a, NULL, 0, id, &rec) : AUTHD_ERR_NOT_FOUND;
    rpc_msg_free(rec ? &rec->base : NULL);
    if (r == AUTHD_ERR_NOT_FOUND)
        rpc_ctx_set_message(ctx, rpc_ctx_printf(ctx, "user %s not found", id));
    return r;
}

static int
users_list_devices(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__ListUserDevicesRequest *req = (const void *)reqm;
    int r = user_exists(ctx, a, req->id);
    return r == AUTHD_OK ? device_list(a, ctx, req->id, (void *)respm) : r;
}

static int
users_revoke_devices(struct rpc_ctx *ctx, const ProtobufCMessage *reqm, ProtobufCMessage *respm)
{
    struct authd *a = rpc_ctx_arg(ctx);
    const Authd__V1__RevokeDevicesRequest *req = (const void *)reqm;
    Authd__V1__RevokeDevicesResponse *resp = (void *)respm;
    int by_device = req->device_id[0] != '\0';
    if (by_device == (req->id[0] != '\0')) {
        rpc_ctx_set_message(ctx, "give the user's id or a device_id, not both");
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    /* All of a user's, or one device whoever's (an administrator's call). */
    struct device_forget_req d = {.user_id = by_device ? NULL : req->id,
                                  .device_id = by_device ? req->device_id : NULL};
    d.owner[0] = '\0';
    int r = by_device ? AUTHD_OK : user_exists(ctx, a, req->id);
    if (r == AUTHD_OK) {
        r = account_txn_run(a, device_forget_step, &d);
        if (r == AUTHD_ERR_NOT_FOUND)
            rpc_ctx_set_message(ctx, rpc_ctx_printf(ctx, "device %s not found", req->device_id));
    }
    resp->revoked = (uint32_t)d.n;
    const char *uid = by_device ? d.owner : req->id;
    struct audit ev = {.action = AUDIT_ADMIN_CHANGE,
                       .outcome = r == AUTHD_OK ? AUDIT_SUCCESS : AUDIT_FAILURE,
                       .user = uid[0] != '\0' ? uid : NULL,
                       .target = by_device ? rpc_ctx_printf(ctx, "device/%s", req->device_id)
                                           : rpc_ctx_printf(ctx, "user/%s", req->id),
                       .reason = "Users/RevokeDevices"};
    audit_emit(ctx, &ev);
    return r;
}

const struct rpc_method authd_users_methods[] = {
    {"Create", users_create, 0, ROLE_ADMIN},
    {"Get", users_get, RPC_INLINE, ROLE_ADMIN | ROLE_SERVICE},
    {"List", users_list, 0, ROLE_ADMIN},
    {"Update", users_update, 0, ROLE_ADMIN},
    {"Delete", users_delete, 0, ROLE_ADMIN},
    {"SetPassword", users_set_password, 0, ROLE_ADMIN},
    {"ResetTwoFactor", users_reset_two_factor, 0, ROLE_ADMIN},
    {"Unlock", users_unlock, 0, ROLE_ADMIN},
    {"ListDevices", users_list_devices, 0, ROLE_ADMIN},
    {"RevokeDevices", users_revoke_devices, 0, ROLE_ADMIN},
    {"Import", users_import, 0, ROLE_ADMIN},
};
const size_t authd_users_n_methods = sizeof(authd_users_methods) / sizeof(authd_users_methods[0]);
