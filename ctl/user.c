/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `authctl user ...`: create, get, list, activate, deactivate, delete, set-password, and by --id
 * or --email: reset-2fa, unlock, sessions (session.c prints them), devices and forget-devices
 * (device.c), set-email. Passwords
 * come only from standard input (without echo on a terminal), never from argv (visible in ps),
 * and are wiped as soon as the call is made.
 */
#include "ctl/ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>

#include "authd/password.h"
#include "common/err.h"
#include "common/opts.h"
#include "common/secret.h"
#include "ctl/manifest.h"

#define MAX_PAGES 100000 /* a guard against a server that never ends a listing */
#define USER_ID_BUF 256  /* a user id looked up by e-mail (authd's ids are far shorter) */

/*
 * Reads a password from standard input into buf (cap bytes, NUL-terminated): one line without
 * echo from a terminal, else all of the input. One trailing "\n" or "\r\n" is dropped; empty,
 * multi-line, NUL-containing and over-long (PASSWORD_MAX_LEN) passwords are refused.
 */
static int
read_password(char *buf, size_t cap, size_t *len)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO), echo_off = 0;
    size_t n = 0;
    int rc = AUTHCTL_USAGE;

    *len = 0;
    if (tty && tcgetattr(STDIN_FILENO, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
        fputs("Password: ", stderr);
    }
    /* cap leaves room for PASSWORD_MAX_LEN, "\r\n" and one byte more, which tells "too long". */
    while (n < cap) {
        ssize_t got = read(STDIN_FILENO, buf + n, tty ? 1 : cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            fprintf(stderr, "authctl: reading the password: %s\n", strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (tty && buf[n - 1] == '\n')
            break;
    }
    if (n == cap) {
        fprintf(stderr, "authctl: the password is longer than %d bytes\n", PASSWORD_MAX_LEN);
        goto out;
    }
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    if (n == 0) {
        fputs("authctl: empty password on standard input\n", stderr);
        goto out;
    }
    if (n > PASSWORD_MAX_LEN) {
        fprintf(stderr, "authctl: the password is longer than %d bytes\n", PASSWORD_MAX_LEN);
        goto out;
    }
    if (memchr(buf, '\n', n) != NULL || memchr(buf, '\0', n) != NULL) {
        fputs("authctl: the password must be a single line of text\n", stderr);
        goto out;
    }
    *len = n;
    rc = AUTHCTL_OK;
out:
    if (echo_off) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (rc != AUTHCTL_OK)
        secret_wipe(buf, cap);
    return rc;
}

/* ---- output ------------------------------------------------------------------------------- */

static int
print_user(const struct ctl *ctl, const Authd__V1__User *u)
{
    if (ctl->json)
        return ctl_print_json(manifest_user_to_json(u));
    json_t *j = manifest_user_to_json(u);
    if (j == NULL)
        return ctl_print_json(NULL);
    ctl_print_field("id:", u->id);
    ctl_print_field("email:", u->email);
    ctl_print_field("inactive:", u->inactive ? "true" : "false");
    ctl_print_field("emailVerified:", u->email_verified ? "true" : "false");
    if (u->two_factor != NULL && u->two_factor->enabled) {
        printf("%-11senabled", "twoFactor:");
        if (u->two_factor->transport[0] != '\0') {
            fputs(" (", stdout);
            ctl_print_safe(stdout, u->two_factor->transport);
            fputc(')', stdout);
        }
        fputc('\n', stdout);
    } else {
        ctl_print_field("twoFactor:", "disabled");
    }
    /* Times as manifest_user_to_json() renders them. */
    const json_t *t = json_object_get(j, "createdAt");
    if (json_is_string(t))
        ctl_print_field("createdAt:", json_string_value(t));
    t = json_object_get(j, "updatedAt");
    if (json_is_string(t))
        ctl_print_field("updatedAt:", json_string_value(t));
    json_decref(j);
    return AUTHCTL_OK;
}

/*
 * A Users.Create/Get/Update answer (resp, freed here). With a verb (create, activate): the user
 * as JSON under -o json, else "User/<id> <verb>". Without (get): the user, which must be there.
 */
static int
user_answer(const struct ctl *ctl, ProtobufCMessage *resp, const char *id, const char *verb)
{
    const Authd__V1__UserResponse *ur = (const Authd__V1__UserResponse *)resp;
    int rc = AUTHCTL_OK;

    if (verb != NULL && !(ctl->json && ur->user != NULL)) {
        ctl_print_done("User", id, verb);
    } else if (ur->user == NULL) {
        fputs("authctl: authd returned no user\n", stderr);
        rc = AUTHCTL_REFUSED;
    } else {
        rc = print_user(ctl, ur->user);
    }
    rpc_msg_free(resp);
    return rc;
}

/* ---- commands ----------------------------------------------------------------------------- */

struct user_args {
    const char *id;
    const char *email;
    int inactive;
    int email_verified;
    int password_stdin;
    int64_t page_size;
    const char *new_email;
    const char *output;
};

#define F(member) OPTS_FIELD(struct user_args, member)
static const struct opts_spec user_table[] = {
    {"id", 0, NULL, OPTS_STRING, "ID", 0, 0, NULL, NULL, "the user's id", F(id)},
    {"email", 0, NULL, OPTS_STRING, "E", 0, 0, NULL, NULL, "the user's e-mail address", F(email)},
    {"inactive", 0, NULL, OPTS_FLAG, NULL, 0, 0, NULL, NULL, "create the user deactivated",
     F(inactive)},
    {"email-verified", 0, NULL, OPTS_FLAG, NULL, 0, 0, NULL, NULL,
     "the address is known to be the user's (ID tokens say email_verified: true)",
     F(email_verified)},
    {"password-stdin", 0, NULL, OPTS_FLAG, NULL, 0, 0, NULL, NULL,
     "read the password from standard input", F(password_stdin)},
    {"page-size", 0, NULL, OPTS_INT, "N", 1, 1000, NULL, NULL,
     "users per call of list (default: authd's)", F(page_size)},
    {"new-email", 0, NULL, OPTS_STRING, "E", 0, 0, NULL, NULL,
     "set-email: the user's new address (not verified unless --email-verified)", F(new_email)},
    CTL_OUTPUT_ROW(struct user_args),
};
#undef F

static int
parse_user_args(struct ctl *ctl, int argc, char **argv, struct user_args *a)
{
    static const struct opts_program program = {
        .name = "authctl user",
        .synopsis =
            "usage: authctl user create --email E [--id ID] [--inactive] [--email-verified]\n"
            "                           [--password-stdin]\n"
            "       authctl user get (--id ID | --email E)\n"
            "       authctl user list [--page-size N]\n"
            "       authctl user activate|deactivate|delete --id ID\n"
            "       authctl user verify-email|unverify-email --id ID\n"
            "       authctl user set-password --id ID --password-stdin\n"
            "       authctl user reset-2fa|unlock|sessions (--id ID | --email E)\n"
            "       authctl user devices|forget-devices (--id ID | --email E)\n"
            "       authctl user set-email (--id ID | --email E) --new-email E2\n"
            "                              [--email-verified]\n"
            "       authctl user import FILE|- [--batch N] [--tokens-out FILE] (see its --help)\n",
        .specs = user_table,
        .n_specs = sizeof(user_table) / sizeof(user_table[0]),
    };

    memset(a, 0, sizeof(*a));
    return ctl_parse_sub(ctl, &program, argc, argv, a, &a->output);
}

/* Refuses options the subcommand does not take, so that nothing is silently ignored. */
static int
only_options(const char *cmd, const struct user_args *a, const char *allowed)
{
    struct {
        int given;
        char key;
        const char *name;
    } opts[] = {{a->id != NULL, 'i', "--id"},
                {a->email != NULL, 'e', "--email"},
                {a->inactive, 'n', "--inactive"},
                {a->email_verified, 'v', "--email-verified"},
                {a->password_stdin, 'p', "--password-stdin"},
                {a->page_size != 0, 's', "--page-size"},
                {a->new_email != NULL, 'm', "--new-email"}};
    for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
        if (opts[i].given && strchr(allowed, opts[i].key) == NULL)
            return ctl_usage_error("'user %s' does not take %s", cmd, opts[i].name);
    }
    return AUTHCTL_OK;
}

static int
user_create(struct ctl *ctl, const struct user_args *a)
{
    Authd__V1__CreateUserRequest req = AUTHD__V1__CREATE_USER_REQUEST__INIT;
    char pw[PASSWORD_MAX_LEN + 3];
    size_t pwlen = 0;
    ProtobufCMessage *resp = NULL;
    int rc;

    if (a->email == NULL)
        return ctl_usage_error("'user create' needs --email");
    if (a->password_stdin && (rc = read_password(pw, sizeof(pw), &pwlen)) != AUTHCTL_OK)
        return rc;
    req.email = (char *)a->email;
    if (a->id != NULL)
        req.id = (char *)a->id;
    req.inactive = a->inactive;
    req.email_verified = a->email_verified;
    if (a->password_stdin)
        req.password = pw;
    rc = ctl_call_named(ctl, "user", a->id != NULL ? a->id : a->email, "/authd.v1.Users/Create",
                        &req.base, &authd__v1__user_response__descriptor, &resp);
    if (a->password_stdin)
        secret_wipe(pw, sizeof(pw));
    if (rc != AUTHCTL_OK)
        return rc;
    const Authd__V1__UserResponse *ur = (const Authd__V1__UserResponse *)resp;
    if (!a->password_stdin && ur->user != NULL) {
        /* Such a user cannot sign in yet (Login refuses an account without a password): say how
         * they will, on stderr so that stdout stays the usual one line (or JSON). */
        fputs("authctl: ", stderr);
        ctl_print_safe(stderr, ur->user->email);
        fputs(" has no password and cannot sign in until one is set: run 'authctl user "
              "set-password --id ",
              stderr);
        ctl_print_safe(stderr, ur->user->id);
        fputs(" --password-stdin', or the user chooses one with \"Forgot password?\" on the "
              "sign-in page (a reset link by e-mail)\n",
              stderr);
    }
    return user_answer(ctl, resp, ur->user != NULL ? ur->user->id : a->email, "created");
}

static int
user_get(struct ctl *ctl, const struct user_args *a)
{
    Authd__V1__GetUserRequest req = AUTHD__V1__GET_USER_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    if ((a->id == NULL) == (a->email == NULL))
        return ctl_usage_error("'user get' needs exactly one of --id or --email");
    if (a->id != NULL)
        req.id = (char *)a->id;
    else
        req.email = (char *)a->email;
    int rc = ctl_call_named(ctl, "user", a->id != NULL ? a->id : a->email, "/authd.v1.Users/Get",
                            &req.base, &authd__v1__user_response__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    return user_answer(ctl, resp, NULL, NULL);
}

static int
user_list(struct ctl *ctl, const struct user_args *a)
{
    Authd__V1__ListUsersRequest req = AUTHD__V1__LIST_USERS_REQUEST__INIT;
    char *token = NULL;
    json_t *all = NULL;
    int rc = AUTHCTL_REFUSED, header = 0;

    if (ctl->json && (all = json_array()) == NULL)
        return ctl_print_json(NULL);
    req.page_size = (uint32_t)a->page_size; /* 0: the server's default */
    for (int page = 0; page < MAX_PAGES; page++) {
        ProtobufCMessage *resp = NULL;
        req.page_token = token != NULL ? token : (char *)"";
        if ((rc = ctl_call(ctl, NULL, "/authd.v1.Users/List", &req.base,
                           &authd__v1__list_users_response__descriptor, &resp)) != AUTHCTL_OK)
            goto out;
        rc = AUTHCTL_REFUSED; /* until the listing is complete */
        const Authd__V1__ListUsersResponse *lr = (const Authd__V1__ListUsersResponse *)resp;
        for (size_t i = 0; i < lr->n_users; i++) {
            const Authd__V1__User *u = lr->users[i];
            if (ctl->json) {
                json_t *j = manifest_user_to_json(u);
                if (j == NULL || json_array_append_new(all, j) != 0) {
                    rpc_msg_free(resp);
                    rc = ctl_print_json(NULL);
                    goto out;
                }
                continue;
            }
            if (!header) {
                printf("%-36s  %-40s  %-8s  %s\n", "ID", "EMAIL", "STATUS", "2FA");
                header = 1;
            }
            ctl_print_padded(u->id, 36);
            fputs("  ", stdout);
            ctl_print_padded(u->email, 40);
            printf("  %-8s  %s\n", u->inactive ? "inactive" : "active",
                   u->two_factor != NULL && u->two_factor->enabled ? "on" : "off");
        }
        const char *next = lr->next_page_token != NULL ? lr->next_page_token : "";
        int same = token != NULL && strcmp(next, token) == 0;
        int more = next[0] != '\0';
        free(token);
        token = more ? strdup(next) : NULL;
        rpc_msg_free(resp);
        if (same) {
            fputs("authctl: authd repeated a page token; listing stopped\n", stderr);
            goto out;
        }
        if (!more)
            break;
        if (token == NULL) {
            fputs("authctl: out of memory\n", stderr);
            goto out;
        }
    }
    if (ctl->json) {
        rc = ctl_print_json(all);
        all = NULL;
    } else {
        if (!header)
            puts("no users");
        rc = AUTHCTL_OK;
    }
out:
    free(token);
    json_decref(all);
    return rc;
}

static int
user_set_active(struct ctl *ctl, const struct user_args *a, int inactive)
{
    Authd__V1__BoolValue v = AUTHD__V1__BOOL_VALUE__INIT;
    Authd__V1__UpdateUserRequest req = AUTHD__V1__UPDATE_USER_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    if (a->id == NULL)
        return ctl_usage_error("'user %s' needs --id", inactive ? "deactivate" : "activate");
    v.value = inactive;
    req.id = (char *)a->id;
    req.inactive = &v;
    int rc = ctl_call_named(ctl, "user", a->id, "/authd.v1.Users/Update", &req.base,
                            &authd__v1__user_response__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    return user_answer(ctl, resp, a->id, inactive ? "deactivated" : "activated");
}

/* verify-email / unverify-email: UpdateUserRequest.email_verified. */
static int
user_set_email_verified(struct ctl *ctl, const struct user_args *a, int verified)
{
    Authd__V1__BoolValue v = AUTHD__V1__BOOL_VALUE__INIT;
    Authd__V1__UpdateUserRequest req = AUTHD__V1__UPDATE_USER_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    if (a->id == NULL)
        return ctl_usage_error("'user %s' needs --id",
                               verified ? "verify-email" : "unverify-email");
    v.value = verified;
    req.id = (char *)a->id;
    req.email_verified = &v;
    int rc = ctl_call_named(ctl, "user", a->id, "/authd.v1.Users/Update", &req.base,
                            &authd__v1__user_response__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    return user_answer(ctl, resp, a->id, verified ? "e-mail verified" : "e-mail not verified");
}

static int
user_delete(struct ctl *ctl, const struct user_args *a)
{
    Authd__V1__DeleteUserRequest req = AUTHD__V1__DELETE_USER_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    if (a->id == NULL)
        return ctl_usage_error("'user delete' needs --id");
    req.id = (char *)a->id;
    int rc = ctl_call_named(ctl, "user", a->id, "/authd.v1.Users/Delete", &req.base,
                            &authd__v1__empty__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    rpc_msg_free(resp);
    ctl_print_done("User", a->id, "deleted");
    return AUTHCTL_OK;
}

static int
user_set_password(struct ctl *ctl, const struct user_args *a)
{
    Authd__V1__SetPasswordRequest req = AUTHD__V1__SET_PASSWORD_REQUEST__INIT;
    char pw[PASSWORD_MAX_LEN + 3];
    size_t pwlen;
    ProtobufCMessage *resp = NULL;
    int rc;

    if (a->id == NULL || !a->password_stdin)
        return ctl_usage_error("'user set-password' needs --id and --password-stdin");
    if ((rc = read_password(pw, sizeof(pw), &pwlen)) != AUTHCTL_OK)
        return rc;
    req.id = (char *)a->id;
    req.password = pw;
    rc = ctl_call_named(ctl, "user", a->id, "/authd.v1.Users/SetPassword", &req.base,
                        &authd__v1__empty__descriptor, &resp);
    secret_wipe(pw, sizeof(pw));
    if (rc != AUTHCTL_OK)
        return rc;
    rpc_msg_free(resp);
    ctl_print_done("User", a->id, "password set");
    return AUTHCTL_OK;
}

/*
 * The id of the user named by --id or --email (exactly one), who must exist: in *id, the id authd
 * returns, copied into buf (cap bytes). AUTHCTL_OK, or the exit code reported.
 */
static int
user_id_of(struct ctl *ctl, const char *cmd, const struct user_args *a, char *buf, size_t cap,
           const char **id)
{
    Authd__V1__GetUserRequest req = AUTHD__V1__GET_USER_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    if ((a->id == NULL) == (a->email == NULL))
        return ctl_usage_error("'user %s' needs exactly one of --id or --email", cmd);
    /* Looked up by --id too, so that an unknown user is "user X not found" before anything else
     * is asked (Sessions.List, for one, answers an unknown user with no sessions). */
    if (a->id != NULL)
        req.id = (char *)a->id;
    else
        req.email = (char *)a->email;
    int rc = ctl_call_named(ctl, "user", a->id != NULL ? a->id : a->email, "/authd.v1.Users/Get",
                            &req.base, &authd__v1__user_response__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    const Authd__V1__UserResponse *ur = (const Authd__V1__UserResponse *)resp;
    if (ur->user == NULL || ur->user->id == NULL || strlen(ur->user->id) >= cap) {
        rpc_msg_free(resp);
        fputs("authctl: authd returned no user\n", stderr);
        return AUTHCTL_REFUSED;
    }
    memcpy(buf, ur->user->id, strlen(ur->user->id) + 1);
    rpc_msg_free(resp);
    *id = buf;
    return AUTHCTL_OK;
}

/* A user's lost device: Users.ResetTwoFactor turns 2FA off and erases its secrets. */
static int
user_reset_2fa(struct ctl *ctl, const struct user_args *a)
{
    Authd__V1__ResetTwoFactorRequest req = AUTHD__V1__RESET_TWO_FACTOR_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    char buf[USER_ID_BUF];
    const char *id = NULL;
    int rc;

    if ((rc = user_id_of(ctl, "reset-2fa", a, buf, sizeof(buf), &id)) != AUTHCTL_OK)
        return rc;
    req.id = (char *)id;
    rc = ctl_call_named(ctl, "user", id, "/authd.v1.Users/ResetTwoFactor", &req.base,
                        &authd__v1__user_response__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    return user_answer(ctl, resp, id, "two-factor authentication reset");
}

/* Users.Unlock: the account's password and second-factor lockouts end now. */
static int
user_unlock(struct ctl *ctl, const struct user_args *a)
{
    Authd__V1__UnlockUserRequest req = AUTHD__V1__UNLOCK_USER_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    char buf[USER_ID_BUF];
    const char *id = NULL;
    int rc;

    if ((rc = user_id_of(ctl, "unlock", a, buf, sizeof(buf), &id)) != AUTHCTL_OK)
        return rc;
    req.id = (char *)id;
    rc = ctl_call_named(ctl, "user", id, "/authd.v1.Users/Unlock", &req.base,
                        &authd__v1__user_response__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    return user_answer(ctl, resp, id, "unlocked");
}

/* The user's sessions (session.c); an unknown user is reported as such, not as "no sessions". */
static int
user_sessions(struct ctl *ctl, const struct user_args *a)
{
    char buf[USER_ID_BUF];
    const char *id = NULL;
    int rc;

    if ((rc = user_id_of(ctl, "sessions", a, buf, sizeof(buf), &id)) != AUTHCTL_OK)
        return rc;
    return ctl_user_sessions(ctl, id);
}

/* The user's remembered browsers (device.c): listed, or (forget-devices) all forgotten. */
static int
user_devices(struct ctl *ctl, const struct user_args *a, const char *cmd)
{
    char buf[USER_ID_BUF];
    const char *id = NULL;
    int rc;

    if ((rc = user_id_of(ctl, cmd, a, buf, sizeof(buf), &id)) != AUTHCTL_OK)
        return rc;
    return strcmp(cmd, "devices") == 0 ? ctl_user_devices(ctl, id)
                                       : ctl_user_forget_devices(ctl, id);
}

/*
 * A new e-mail address (Users.Update's email): authd refuses one another user has, and a changed
 * address is not verified unless --email-verified says the administrator knows it is the user's.
 */
static int
user_set_email(struct ctl *ctl, const struct user_args *a)
{
    Authd__V1__StringValue e = AUTHD__V1__STRING_VALUE__INIT;
    Authd__V1__BoolValue v = AUTHD__V1__BOOL_VALUE__INIT;
    Authd__V1__UpdateUserRequest req = AUTHD__V1__UPDATE_USER_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    char buf[USER_ID_BUF];
    const char *id = NULL;
    int rc;

    if (a->new_email == NULL)
        return ctl_usage_error("'user set-email' needs --new-email");
    if ((rc = user_id_of(ctl, "set-email", a, buf, sizeof(buf), &id)) != AUTHCTL_OK)
        return rc;
    req.id = (char *)id;
    e.value = (char *)a->new_email;
    req.email = &e;
    if (a->email_verified) {
        v.value = 1;
        req.email_verified = &v;
    }
    /* The user exists (user_id_of): already_exists is about the new address. */
    rc = ctl_call_named(ctl, "user", a->new_email, "/authd.v1.Users/Update", &req.base,
                        &authd__v1__user_response__descriptor, &resp);
    if (rc != AUTHCTL_OK)
        return rc;
    const Authd__V1__UserResponse *ur = (const Authd__V1__UserResponse *)resp;
    if (!ctl->json && ur->user != NULL) {
        printf("User/");
        ctl_print_safe(stdout, id);
        fputs(" e-mail set to ", stdout);
        ctl_print_safe(stdout, ur->user->email);
        puts(ur->user->email_verified ? " (verified)" : " (not verified)");
        rpc_msg_free(resp);
        return AUTHCTL_OK;
    }
    return user_answer(ctl, resp, id, "e-mail set");
}

int
ctl_cmd_user(struct ctl *ctl, int argc, char **argv)
{
    struct user_args a;
    int rc;

    if (ctl_wants_help(argc, argv))
        return parse_user_args(ctl, 2, ctl_help_argv(), &a);
    if (argc < 1)
        return ctl_usage_error("'user' needs a subcommand (create, get, list, activate, "
                               "deactivate, verify-email, unverify-email, delete, set-password, "
                               "reset-2fa, unlock, sessions, devices, forget-devices, import)");
    const char *sub = argv[0];
    /* import has options of its own (import.c). */
    if (strcmp(sub, "import") == 0)
        return ctl_user_import(ctl, argc, argv);
    if ((rc = parse_user_args(ctl, argc, argv, &a)) != AUTHCTL_OK)
        return rc;
    if (strcmp(sub, "create") == 0)
        return (rc = only_options(sub, &a, "ienvp")) != AUTHCTL_OK ? rc : user_create(ctl, &a);
    if (strcmp(sub, "get") == 0)
        return (rc = only_options(sub, &a, "ie")) != AUTHCTL_OK ? rc : user_get(ctl, &a);
    if (strcmp(sub, "list") == 0)
        return (rc = only_options(sub, &a, "s")) != AUTHCTL_OK ? rc : user_list(ctl, &a);
    if (strcmp(sub, "activate") == 0 || strcmp(sub, "deactivate") == 0)
        return (rc = only_options(sub, &a, "i")) != AUTHCTL_OK
                   ? rc
                   : user_set_active(ctl, &a, sub[0] == 'd');
    if (strcmp(sub, "verify-email") == 0 || strcmp(sub, "unverify-email") == 0)
        return (rc = only_options(sub, &a, "i")) != AUTHCTL_OK
                   ? rc
                   : user_set_email_verified(ctl, &a, sub[0] == 'v');
    if (strcmp(sub, "delete") == 0)
        return (rc = only_options(sub, &a, "i")) != AUTHCTL_OK ? rc : user_delete(ctl, &a);
    if (strcmp(sub, "set-password") == 0)
        return (rc = only_options(sub, &a, "ip")) != AUTHCTL_OK ? rc : user_set_password(ctl, &a);
    if (strcmp(sub, "reset-2fa") == 0)
        return (rc = only_options(sub, &a, "ie")) != AUTHCTL_OK ? rc : user_reset_2fa(ctl, &a);
    if (strcmp(sub, "unlock") == 0)
        return (rc = only_options(sub, &a, "ie")) != AUTHCTL_OK ? rc : user_unlock(ctl, &a);
    if (strcmp(sub, "sessions") == 0)
        return (rc = only_options(sub, &a, "ie")) != AUTHCTL_OK ? rc : user_sessions(ctl, &a);
    if (strcmp(sub, "devices") == 0 || strcmp(sub, "forget-devices") == 0)
        return (rc = only_options(sub, &a, "ie")) != AUTHCTL_OK ? rc : user_devices(ctl, &a, sub);
    if (strcmp(sub, "set-email") == 0)
        return (rc = only_options(sub, &a, "iemv")) != AUTHCTL_OK ? rc : user_set_email(ctl, &a);
    return ctl_usage_error("unknown command 'user %s'", sub);
}
