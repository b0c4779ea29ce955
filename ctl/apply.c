/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `authctl apply`: a manifest is read and validated whole (authd/manifest.c), then each
 * resource goes to its RPC in order. Applying twice changes nothing the second time: a User
 * that already exists is compared and updated instead of created (its password, being
 * write-only, is set again when the manifest gives one); a Client is put whole (its secret, also
 * write-only, is set again when the manifest gives one, else kept).
 */
#include "ctl/ctl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "ctl/manifest.h"
#include "common/secret.h"

/*
 * AuthConfig and Client resources are put whole: Admin.PutAuthConfig, ClientAdmin.Put. A put of a
 * client without a secret keeps the stored one; the request may carry the secret: it is wiped
 * with the manifest, never printed.
 */
static int
apply_put(struct ctl *ctl, const struct manifest_resource *res)
{
    ProtobufCMessage *resp = NULL;
    int rc;

    if (res->kind == MANIFEST_AUTH_CONFIG)
        rc = ctl_call(ctl, res->name, "/authd.v1.Admin/PutAuthConfig", &res->auth_config->base,
                      &authd__v1__auth_config__descriptor, &resp);
    else
        rc = ctl_call(ctl, res->name, "/authd.v1.ClientAdmin/Put", &res->client->base,
                      &authd__v1__client_response__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    rpc_msg_free(resp);
    printf("%s configured\n", res->name);
    return AUTHCTL_OK;
}

/* The existing user a Create collided with: by id when the manifest names one, else by e-mail. */
static int
get_existing(struct ctl *ctl, const struct manifest_resource *res, Authd__V1__UserResponse **out)
{
    Authd__V1__GetUserRequest get = AUTHD__V1__GET_USER_REQUEST__INIT;
    const Authd__V1__CreateUserRequest *u = res->user;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;

    *out = NULL;
    if (u->id[0] != '\0')
        get.id = u->id;
    else
        get.email = u->email;
    int r = rpc_call(ctl->client, "/authd.v1.Users/Get", &get.base,
                     &authd__v1__user_response__descriptor, &resp, ctl->timeout_ms, &st);
    if (r == AUTHD_ERR_NOT_FOUND && u->id[0] != '\0') {
        /* Create said "exists", yet there is no user with this id: the e-mail is taken. */
        fprintf(stderr, "authctl: %s: the e-mail %s belongs to another user\n", res->name,
                u->email);
        return AUTHCTL_REFUSED;
    }
    if (r != AUTHD_OK)
        return ctl_rpc_failed(res->name, r, &st);
    *out = (Authd__V1__UserResponse *)resp;
    if ((*out)->user == NULL) {
        rpc_msg_free(resp);
        *out = NULL;
        fprintf(stderr, "authctl: %s: authd returned no user\n", res->name);
        return AUTHCTL_REFUSED;
    }
    return AUTHCTL_OK;
}

/*
 * The manifest's twoFactor against the user as it is (cur): sends Users.Update with what
 * differs (enabled false turns it off; enabled true when off and a transport for a user
 * without two-factor are refused by authd, whose reason is printed). *changed is set when an
 * update was made.
 */
static int
apply_user_two_factor(struct ctl *ctl, const struct manifest_resource *res,
                      const Authd__V1__User *cur, int *changed)
{
    const Authd__V1__UpdateUserRequest *want = res->user_update;
    Authd__V1__UpdateUserRequest upd = AUTHD__V1__UPDATE_USER_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    int on = cur->two_factor != NULL && cur->two_factor->enabled;
    const char *transport = cur->two_factor != NULL ? cur->two_factor->transport : "";

    if (want == NULL)
        return AUTHCTL_OK;
    if (want->two_factor_enabled != NULL && !want->two_factor_enabled->value != !on)
        upd.two_factor_enabled = want->two_factor_enabled;
    if (want->two_factor_transport != NULL &&
        strcmp(want->two_factor_transport->value, transport) != 0)
        upd.two_factor_transport = want->two_factor_transport;
    if (upd.two_factor_enabled == NULL && upd.two_factor_transport == NULL)
        return AUTHCTL_OK;
    upd.id = cur->id;
    int rc = ctl_call(ctl, res->name, "/authd.v1.Users/Update", &upd.base,
                      &authd__v1__user_response__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    rpc_msg_free(resp);
    *changed = 1;
    return AUTHCTL_OK;
}

static int
apply_user(struct ctl *ctl, const struct manifest_resource *res)
{
    const Authd__V1__CreateUserRequest *u = res->user;
    Authd__V1__UserResponse *existing = NULL;
    struct rpc_status st;
    ProtobufCMessage *resp = NULL;
    int changed = 0, rc;

    int r = rpc_call(ctl->client, "/authd.v1.Users/Create", &u->base,
                     &authd__v1__user_response__descriptor, &resp, ctl->timeout_ms, &st);
    if (r == AUTHD_OK) {
        /* A new user has no two-factor yet: only what says so (enabled false, no transport)
         * passes; anything else is authd's refusal, printed, after the user was created. */
        existing = (Authd__V1__UserResponse *)resp;
        rc = existing->user != NULL ? apply_user_two_factor(ctl, res, existing->user, &changed)
                                    : AUTHCTL_REFUSED;
        if (rc == AUTHCTL_OK)
            printf("%s created\n", res->name);
        goto out;
    }
    if (r != AUTHD_ERR_ALREADY_EXISTS)
        return ctl_rpc_failed(res->name, r, &st);

    if ((rc = get_existing(ctl, res, &existing)) != AUTHCTL_OK)
        return rc;
    const Authd__V1__User *cur = existing->user;
    if (strcmp(cur->email, u->email) != 0) {
        fprintf(stderr, "authctl: %s: exists with the e-mail ", res->name);
        ctl_print_safe(stderr, cur->email);
        fputs("; authctl cannot change a user's e-mail\n", stderr);
        rc = AUTHCTL_REFUSED;
        goto out;
    }
    if (res->inactive_set && !cur->inactive != !u->inactive) {
        Authd__V1__BoolValue inactive = AUTHD__V1__BOOL_VALUE__INIT;
        Authd__V1__UpdateUserRequest upd = AUTHD__V1__UPDATE_USER_REQUEST__INIT;
        inactive.value = u->inactive;
        upd.id = cur->id;
        upd.inactive = &inactive;
        r = rpc_call(ctl->client, "/authd.v1.Users/Update", &upd.base,
                     &authd__v1__user_response__descriptor, &resp, ctl->timeout_ms, &st);
        if (r != AUTHD_OK) {
            rc = ctl_rpc_failed(res->name, r, &st);
            goto out;
        }
        rpc_msg_free(resp);
        changed = 1;
    }
    const Authd__V1__BoolValue *want_verified =
        res->user_update != NULL ? res->user_update->email_verified : NULL;
    if (want_verified != NULL && !cur->email_verified != !want_verified->value) {
        Authd__V1__UpdateUserRequest upd = AUTHD__V1__UPDATE_USER_REQUEST__INIT;
        upd.id = cur->id;
        upd.email_verified = (Authd__V1__BoolValue *)want_verified;
        r = rpc_call(ctl->client, "/authd.v1.Users/Update", &upd.base,
                     &authd__v1__user_response__descriptor, &resp, ctl->timeout_ms, &st);
        if (r != AUTHD_OK) {
            rc = ctl_rpc_failed(res->name, r, &st);
            goto out;
        }
        rpc_msg_free(resp);
        changed = 1;
    }
    if (u->password[0] != '\0') {
        Authd__V1__SetPasswordRequest sp = AUTHD__V1__SET_PASSWORD_REQUEST__INIT;
        sp.id = cur->id;
        sp.password = u->password;
        r = rpc_call(ctl->client, "/authd.v1.Users/SetPassword", &sp.base,
                     &authd__v1__empty__descriptor, &resp, ctl->timeout_ms, &st);
        if (r != AUTHD_OK) {
            rc = ctl_rpc_failed(res->name, r, &st);
            goto out;
        }
        rpc_msg_free(resp);
        changed = 1;
    }
    if ((rc = apply_user_two_factor(ctl, res, cur, &changed)) != AUTHCTL_OK)
        goto out;
    printf("%s %s\n", res->name, changed ? "updated" : "unchanged");
    rc = AUTHCTL_OK;
out:
    rpc_msg_free(existing != NULL ? &existing->base : NULL);
    return rc;
}

int
ctl_apply(struct ctl *ctl, const char *path)
{
    char err[256];
    char *text = NULL;
    size_t len = 0;
    struct manifest *m = NULL;
    FILE *f = NULL;
    int rc = AUTHCTL_BAD_MANIFEST;

    if (strcmp(path, "-") == 0) {
        f = stdin;
    } else if ((f = fopen(path, "r")) == NULL) {
        fprintf(stderr, "authctl: %s: %s\n", path, strerror(errno));
        return AUTHCTL_BAD_MANIFEST;
    }
    int r = manifest_read(f, &text, &len, err, sizeof(err));
    if (f != stdin)
        fclose(f);
    if (r == AUTHD_OK)
        r = manifest_parse(text, len, &m, err, sizeof(err));
    if (r != AUTHD_OK) {
        fprintf(stderr, "authctl: %s: %s\n", strcmp(path, "-") == 0 ? "<stdin>" : path, err);
        goto out;
    }
    for (size_t i = 0; i < m->n; i++) {
        const struct manifest_resource *res = &m->items[i];
        rc = res->kind == MANIFEST_USER ? apply_user(ctl, res) : apply_put(ctl, res);
        if (rc != AUTHCTL_OK) {
            if (m->n > 1)
                fprintf(stderr, "authctl: stopped: %zu of %zu resources applied\n", i, m->n);
            goto out;
        }
    }
    rc = AUTHCTL_OK;
out:
    manifest_free(m);
    secret_freezero(text, len);
    return rc;
}

struct apply_args {
    const char *file;
    const char *output;
};

int
ctl_cmd_apply(struct ctl *ctl, int argc, char **argv)
{
    static const struct opts_spec table[] = {
        {"filename", 'f', NULL, OPTS_STRING, "FILE", 0, 0, NULL, NULL,
         "the manifest (YAML; - is standard input)", OPTS_FIELD(struct apply_args, file)},
        CTL_OUTPUT_ROW(struct apply_args),
    };
    static const struct opts_program program = {
        .name = "authctl apply",
        .synopsis = "usage: authctl apply -f FILE\n",
        .specs = table,
        .n_specs = sizeof(table) / sizeof(table[0]),
    };
    struct apply_args a = {0};

    int rc = ctl_parse_sub(ctl, &program, argc, argv, &a, &a.output);
    if (rc != AUTHCTL_OK)
        return rc;
    if (a.file == NULL)
        return ctl_usage_error("apply needs -f FILE (or -f - for standard input)");
    return ctl_apply(ctl, a.file);
}
