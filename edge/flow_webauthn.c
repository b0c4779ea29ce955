/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Passkeys and security keys (authd's WebAuthn service) for a signed-in user, and the JSON starts
 * of every ceremony (passkey.h says how a ceremony runs):
 *   GET  /auth/passkeys                the list (name, passkey or security key, added, last
 *                                      used), "Add a passkey or security key", rename, remove
 *   POST /auth/passkeys/add            the end of a registration (FinishRegistration); when the
 *                                      first key turned two-factor on, the recovery codes once
 *   POST /auth/passkeys/rename         RenameCredential
 *   POST /auth/passkeys/remove         RemoveCredential; when authd wants a second factor, a page
 *                                      asks for one: a code, a recovery code, or the passkey
 *   POST /auth/passkeys/registration   JSON {"passkey": bool} -> {"ceremony_id", "options",
 *                                      "expires_at"} (BeginRegistration)
 *   POST /auth/passkeys/assertion      JSON {} -> the same (BeginAssertion for the browser's
 *                                      session: a pending login's second factor, or a signed-in
 *                                      user's confirmation), or {"passwordless": true} -> the
 *                                      options only, the ceremony id in the EDGE_PASSKEY_COOKIE
 * The JSON calls are the server's ROUTE_JSON_CSRF routes (X-CSRF-Token, same origin); errors are
 * {"error", "error_description"} with the status of the one mapping.
 */
#include "edge/flows.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "authd/v1/webauthn.pb-c.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secret.h"
#include "edge/http_err.h"
#include "edge/json_body.h"
#include "edge/passkey.h"
#include "edge/twofactor.h"
#include "proto/rpc.h"

#define PASSKEYS_PATH "/auth/passkeys"

static int
is_session_error(int err)
{
    return err == AUTHD_ERR_UNAUTHENTICATED || err == AUTHD_ERR_INVALID_TOKEN;
}

/* "2026-12-07 14:03 UTC" of unix seconds t, or "never" for 0. */
static const char *
when(int64_t t, char *buf, size_t cap)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t <= 0 || gmtime_r(&tt, &tm) == NULL || strftime(buf, cap, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        return "never";
    return buf;
}

/* The signed-in user's keys (ListCredentials). */
static int
list_credentials(struct edge_req *r, const char *token, Authd__V1__WebAuthnCredentialList **out)
{
    Authd__V1__ListCredentialsRequest req = AUTHD__V1__LIST_CREDENTIALS_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    return edge_authd_call(r->edge->authd, r->id, &authd__v1__web_authn__descriptor,
                           "ListCredentials", &req.base, (ProtobufCMessage **)out, NULL);
}

/* The key named id in l, or NULL. */
static const Authd__V1__WebAuthnCredential *
find_credential(const Authd__V1__WebAuthnCredentialList *l, const char *id)
{
    for (size_t i = 0; l != NULL && id != NULL && i < l->n_credentials; i++)
        if (strcmp(l->credentials[i]->id, id) == 0)
            return l->credentials[i];
    return NULL;
}

/* ---- the list ------------------------------------------------------------------------- */

/* What the list page shows besides the keys. */
struct list_view {
    const char *info;      /* after a change */
    const char *error;     /* a refused change */
    const char *rename_id; /* the key whose rename form is open, or NULL */
    const char *name;      /* the name typed into the add or rename form */
};

static void
key_item(struct edge_req *r, struct page *p, const Authd__V1__WebAuthnCredential *k)
{
    char added[40], used[40];
    page_raw(p, "<li><strong>");
    page_text(p, k->name);
    page_raw(p, "</strong> <span class=\"badge\">");
    page_text(p, edge_passkey_kind(k->discoverable));
    page_raw(p, "</span><br><span class=\"muted\">Added ");
    page_text(p, when(k->created_at, added, sizeof(added)));
    page_raw(p, ", last used ");
    page_text(p, when(k->last_used_at, used, sizeof(used)));
    page_raw(p, "</span>\n<div class=\"key-actions\">\n");
    struct buf href;
    buf_init(&href, 4096);
    if (buf_puts(&href, PASSKEYS_PATH "?rename=") == AUTHD_OK &&
        buf_urlenc(&href, k->id) == AUTHD_OK)
        page_link(p, href.data, "Rename");
    buf_free(&href);
    page_form_begin(p, "/auth/passkeys/remove", edge_req_csrf(r));
    page_hidden(p, "credential_id", k->id);
    page_submit_as(p, "Remove", "danger");
    page_form_end(p);
    page_raw(p, "</div></li>\n");
}

static void
rename_form(struct edge_req *r, struct page *p, const Authd__V1__WebAuthnCredential *k,
            const char *name)
{
    page_raw(p, "<h2>Rename \xe2\x80\x9c");
    page_text(p, k->name);
    page_raw(p, "\xe2\x80\x9d</h2>\n");
    page_form_begin(p, "/auth/passkeys/rename", edge_req_csrf(r));
    page_hidden(p, "credential_id", k->id);
    page_text_input(p, "New name", "name", name != NULL ? name : k->name, EDGE_PASSKEY_NAME_MAX, 1);
    page_submit(p, "Save");
    page_form_end(p);
    page_link(p, PASSKEYS_PATH, "Cancel");
}

static void
add_form(struct edge_req *r, struct page *p, const char *name)
{
    page_raw(p, "<h2>Add a passkey or security key</h2>\n");
    edge_passkey_form_begin(r, p, "/auth/passkeys/add", EDGE_PASSKEY_REGISTER);
    page_raw(p, "<fieldset class=\"choices\"><legend>What to add</legend>\n"
                "<label><input type=\"radio\" name=\"passkey\" value=\"1\" checked> A passkey: "
                "sign in with it alone, on this device or your phone</label>\n"
                "<label><input type=\"radio\" name=\"passkey\" value=\"0\"> A security key, "
                "asked for after your password</label>\n</fieldset>\n");
    page_raw(p, "<label for=\"f-name\">Name (optional)</label>\n<input id=\"f-name\" "
                "type=\"text\" name=\"name\" maxlength=\"64\" autocomplete=\"off\" "
                "aria-describedby=\"name-hint\"");
    if (name != NULL && name[0] != '\0') {
        page_raw(p, " value=\"");
        page_text(p, name);
        page_raw(p, "\"");
    }
    page_raw(p, ">\n<p id=\"name-hint\" class=\"muted\">For example \xe2\x80\x9c"
                "Work laptop"
                "\xe2\x80\x9d or \xe2\x80\x9c"
                "Blue YubiKey\xe2\x80\x9d.</p>\n");
    edge_passkey_form_end(p, "Add a passkey or security key");
}

static int
render_list(struct edge_req *r, int status, const char *token, const struct list_view *v)
{
    struct page p;
    page_begin(&p, &r->cfg, "Passkeys and security keys");
    if (v->error != NULL)
        page_error(&p, v->error);
    if (v->info != NULL)
        page_info(&p, v->info);
    if (!r->cfg.webauthn) {
        page_para(&p, "Passkeys and security keys are not available on this server.");
        page_link(&p, "/auth/two-factor", "Back to two-factor authentication");
        page_end(&p);
        return edge_req_page(r, status, &p);
    }
    Authd__V1__WebAuthnCredentialList *l = NULL;
    int err = list_credentials(r, token, &l);
    if (err != AUTHD_OK) {
        page_free(&p);
        return edge_req_fail(r, err, "passkeys_list");
    }
    page_para(&p, "A passkey or a security key signs you in with your fingerprint, face, screen "
                  "lock or a touch of the key. Nobody can phish it: it works only on this site.");
    const Authd__V1__WebAuthnCredential *renaming = find_credential(l, v->rename_id);
    if (renaming != NULL)
        rename_form(r, &p, renaming, v->name);
    page_raw(&p, "<h2>Your keys</h2>\n");
    if (l->n_credentials == 0) {
        page_para(&p, "You have not added any passkey or security key yet.");
    } else {
        page_raw(&p, "<ul id=\"passkeys\" class=\"keys\">\n");
        for (size_t i = 0; i < l->n_credentials; i++)
            key_item(r, &p, l->credentials[i]);
        page_raw(&p, "</ul>\n");
    }
    rpc_msg_free(&l->base);
    if (renaming == NULL)
        add_form(r, &p, v->name);
    page_link(&p, "/auth/two-factor", "Back to two-factor authentication");
    page_end(&p);
    return edge_req_page(r, status, &p);
}

int
edge_flow_passkeys(struct edge_req *r)
{
    const char *token = edge_req_session_token(r);
    if (token == NULL)
        return edge_req_redirect(r, "/auth/login");
    struct list_view v = {.rename_id = edge_req_query(r, "rename")};
    if (edge_req_query(r, "added") != NULL)
        v.info = "Your key was added.";
    else if (edge_req_query(r, "renamed") != NULL)
        v.info = "Your key was renamed.";
    else if (edge_req_query(r, "removed") != NULL)
        v.info = "Your key was removed.";
    if (!r->cfg.webauthn) {
        /* Without a session, to the login as every settings page. */
        Authd__V1__SessionResponse *s = NULL;
        int err = edge_req_session(r, 0, &s);
        if (err != AUTHD_OK)
            return edge_req_fail(r, err, "passkeys_session");
        rpc_msg_free(&s->base);
    }
    return render_list(r, 200, token, &v);
}

/* ---- add ------------------------------------------------------------------------------ */

int
edge_flow_passkeys_add(struct edge_req *r)
{
    const char *token = edge_req_session_token(r);
    if (token == NULL)
        return edge_req_redirect(r, "/auth/login");
    const char *name = edge_req_field(r, "name");
    const char *ceremony_id, *credential;
    int too_large;
    edge_passkey_fields(r, &ceremony_id, &credential, &too_large);
    struct list_view v = {.name = name};
    if (too_large) {
        v.error = "The key's answer is too large.";
        return render_list(r, 413, token, &v);
    }
    if (ceremony_id == NULL || credential == NULL) {
        v.error = "Your browser did not create a key. Try again.";
        return render_list(r, 400, token, &v);
    }
    Authd__V1__FinishRegistrationRequest req = AUTHD__V1__FINISH_REGISTRATION_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    req.ceremony_id = edge_authd_str(ceremony_id);
    req.credential_json = edge_authd_str(credential);
    req.name = edge_authd_str(name);
    req.client_ip = edge_authd_str(r->client_ip);
    req.user_agent = edge_authd_str(r->user_agent);
    Authd__V1__FinishRegistrationResponse *resp = NULL;
    struct rpc_status st;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__web_authn__descriptor,
                              "FinishRegistration", &req.base, (ProtobufCMessage **)&resp, &st);
    if (is_session_error(err))
        return edge_req_redirect(r, "/auth/login");
    if (err != AUTHD_OK) {
        struct edge_http_err he;
        edge_passkey_err_map(r, err, &st, &he);
        log_event(he.unexpected ? LOG_WARN : LOG_INFO, "passkey_add_failed", "rid=%s err=%s ip=%s",
                  r->id, authd_err_reason(err), r->client_ip);
        if (he.status >= 500)
            return edge_req_fail(r, err, "passkey_add");
        v.error = he.message;
        return render_list(r, he.status, token, &v);
    }
    const Authd__V1__User *u = resp->user;
    log_event(LOG_INFO, "passkey_added", "rid=%s user=%s two_factor_on=%d", r->id,
              u != NULL ? u->id : "-", resp->n_recovery_codes > 0);
    edge_2fa_notify(r, u != NULL ? u->email : NULL, "A passkey or security key was added",
                    "A passkey or security key was just added to your account.");
    if (resp->n_recovery_codes > 0) {
        /* The first key turned two-factor on: its recovery codes, once, as a TOTP enrolment. */
        edge_2fa_notify(r, u != NULL ? u->email : NULL, "Two-factor authentication was enabled",
                        "Two-factor authentication was just turned on for your account. Signing "
                        "in with your password now also asks for your passkey or security key.");
        err = edge_2fa_codes_page(r, "Passkey added",
                                  "Your key was added and two-factor authentication is on.",
                                  resp->recovery_codes, resp->n_recovery_codes);
        rpc_msg_free(&resp->base);
        return err;
    }
    rpc_msg_free(&resp->base);
    return edge_req_redirect(r, PASSKEYS_PATH "?added=1");
}

/* ---- rename --------------------------------------------------------------------------- */

int
edge_flow_passkeys_rename(struct edge_req *r)
{
    const char *token = edge_req_session_token(r);
    if (token == NULL)
        return edge_req_redirect(r, "/auth/login");
    const char *id = edge_req_field(r, "credential_id");
    const char *name = edge_req_field(r, "name");
    if (id == NULL || id[0] == '\0')
        return edge_req_redirect(r, PASSKEYS_PATH);
    Authd__V1__RenameCredentialRequest req = AUTHD__V1__RENAME_CREDENTIAL_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    req.credential_id = edge_authd_str(id);
    req.name = edge_authd_str(name);
    Authd__V1__WebAuthnCredentialList *l = NULL;
    struct rpc_status st;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__web_authn__descriptor,
                              "RenameCredential", &req.base, (ProtobufCMessage **)&l, &st);
    rpc_msg_free(l != NULL ? &l->base : NULL);
    if (is_session_error(err))
        return edge_req_redirect(r, "/auth/login");
    if (err == AUTHD_ERR_NOT_FOUND) /* removed meanwhile: the list says what is left */
        return edge_req_redirect(r, PASSKEYS_PATH);
    if (err != AUTHD_OK) {
        struct edge_http_err he;
        edge_passkey_err_map(r, err, &st, &he);
        if (he.status >= 500)
            return edge_req_fail(r, err, "passkey_rename");
        if (err == AUTHD_ERR_INVALID_ARGUMENT || err == AUTHD_ERR_TOO_LARGE)
            snprintf(he.message, sizeof(he.message), "Use a name of 1 to %d characters.",
                     EDGE_PASSKEY_NAME_MAX);
        struct list_view v = {.error = he.message, .rename_id = id, .name = name};
        return render_list(r, he.status, token, &v);
    }
    log_event(LOG_INFO, "passkey_renamed", "rid=%s", r->id);
    return edge_req_redirect(r, PASSKEYS_PATH "?renamed=1");
}

/* ---- remove --------------------------------------------------------------------------- */

/*
 * The page that asks for a second factor before a key is removed: the passkey (any of the
 * user's keys, this one too), a code from the app when the user has TOTP, or a recovery code.
 */
static int
render_remove_confirm(struct edge_req *r, int status, const char *token, const char *id,
                      const char *error, int recovery)
{
    Authd__V1__SessionResponse *s = NULL;
    int err = edge_req_session(r, 0, &s);
    if (err != AUTHD_OK)
        return edge_req_fail(r, err, "passkey_remove_session");
    const Authd__V1__TwoFactorStatus *tf = s->user != NULL ? s->user->two_factor : NULL;
    unsigned keys = tf != NULL ? tf->passkeys : 0;
    /* An authd that does not say which factors: a user with 2FA and no key count has TOTP. */
    int totp = tf != NULL && (tf->totp || (tf->enabled && keys == 0));
    char transport[EDGE_2FA_TRANSPORT_MAX + 1] = "";
    if (tf != NULL && tf->transport != NULL && strlen(tf->transport) <= EDGE_2FA_TRANSPORT_MAX)
        memcpy(transport, tf->transport, strlen(tf->transport) + 1);
    rpc_msg_free(&s->base);

    Authd__V1__WebAuthnCredentialList *l = NULL;
    err = list_credentials(r, token, &l);
    if (err != AUTHD_OK)
        return edge_req_fail(r, err, "passkeys_list");
    const Authd__V1__WebAuthnCredential *k = find_credential(l, id);
    if (k == NULL) {
        rpc_msg_free(&l->base);
        return edge_req_redirect(r, PASSKEYS_PATH);
    }
    struct page p;
    page_begin(&p, &r->cfg, "Confirm it is you");
    if (error != NULL)
        page_error(&p, error);
    if (error != NULL && (status == 400 || status == 401))
        page_invalid(&p, recovery ? "recovery_code" : "token");
    page_raw(&p, "<p>To remove \xe2\x80\x9c");
    page_text(&p, k->name);
    page_raw(&p, "\xe2\x80\x9d, confirm with a second factor.</p>\n");
    if (l->n_credentials == 1 && !totp)
        page_para(&p, "It is your last key: removing it turns two-factor authentication off, "
                      "and signing in will need only your password.");
    rpc_msg_free(&l->base);
    if (keys > 0) {
        edge_passkey_form_begin(r, &p, "/auth/passkeys/remove", EDGE_PASSKEY_CONFIRM);
        page_hidden(&p, "credential_id", id);
        edge_passkey_form_end(&p, "Confirm with your passkey");
    }
    if (totp && !recovery) {
        page_form_begin(&p, "/auth/passkeys/remove", edge_req_csrf(r));
        page_hidden(&p, "credential_id", id);
        edge_2fa_code_input(&p, transport, 1, keys == 0);
        page_submit_as(&p, "Remove", "danger");
        page_form_end(&p);
    }
    if (recovery || !totp) {
        page_form_begin(&p, "/auth/passkeys/remove", edge_req_csrf(r));
        page_hidden(&p, "credential_id", id);
        page_code_input(&p, "Recovery code", "recovery_code", "text", "off", EDGE_2FA_RECOVERY_MAX,
                        1, 0);
        page_submit_as(&p, "Remove with a recovery code", "danger");
        page_form_end(&p);
    } else {
        page_form_begin(&p, "/auth/passkeys/remove", edge_req_csrf(r));
        page_hidden(&p, "credential_id", id);
        page_hidden(&p, "recovery", "1");
        page_submit_as(&p, "Use a recovery code", "secondary");
        page_form_end(&p);
    }
    page_link(&p, PASSKEYS_PATH, "Cancel");
    page_end(&p);
    return edge_req_page(r, status, &p);
}

int
edge_flow_passkeys_remove(struct edge_req *r)
{
    const char *token = edge_req_session_token(r);
    if (token == NULL)
        return edge_req_redirect(r, "/auth/login");
    const char *id = edge_req_field(r, "credential_id");
    if (id == NULL || id[0] == '\0')
        return edge_req_redirect(r, PASSKEYS_PATH);
    const char *recovery_only = edge_req_field(r, "recovery");
    if (recovery_only != NULL && strcmp(recovery_only, "1") == 0)
        return render_remove_confirm(r, 200, token, id, NULL, 1);
    const char *ceremony_id, *credential;
    int too_large;
    edge_passkey_fields(r, &ceremony_id, &credential, &too_large);
    const char *recovery_code = edge_req_field(r, "recovery_code");
    int by_recovery = recovery_code != NULL;
    if (too_large)
        return render_remove_confirm(r, 413, token, id, "The key's answer is too large.", 0);

    Authd__V1__RemoveCredentialRequest req = AUTHD__V1__REMOVE_CREDENTIAL_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    req.credential_id = edge_authd_str(id);
    req.code = edge_authd_str(edge_req_field(r, "token"));
    req.recovery_code = edge_authd_str(recovery_code);
    req.ceremony_id = edge_authd_str(ceremony_id);
    req.credential_json = edge_authd_str(credential);
    req.client_ip = edge_authd_str(r->client_ip);
    int proof = req.code[0] != '\0' || req.recovery_code[0] != '\0' || credential != NULL;
    Authd__V1__WebAuthnCredentialList *l = NULL;
    struct rpc_status st;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__web_authn__descriptor,
                              "RemoveCredential", &req.base, (ProtobufCMessage **)&l, &st);
    edge_req_note_lockout(r, err, &st);
    rpc_msg_free(l != NULL ? &l->base : NULL);
    if (is_session_error(err))
        return edge_req_redirect(r, "/auth/login");
    if (err == AUTHD_ERR_NOT_FOUND)
        return edge_req_redirect(r, PASSKEYS_PATH);
    if (err == AUTHD_ERR_SECOND_FACTOR_REQUIRED && !proof)
        return render_remove_confirm(r, 200, token, id, NULL, 0);
    if (err != AUTHD_OK) {
        struct edge_http_err he;
        edge_passkey_err_map(r, err, &st, &he);
        log_event(LOG_INFO, "passkey_remove_failed", "rid=%s err=%s ip=%s", r->id,
                  authd_err_reason(err), r->client_ip);
        if (he.status >= 500 || he.login_redirect)
            return edge_req_fail(r, err, "passkey_remove");
        return render_remove_confirm(r, he.status, token, id, he.message, by_recovery);
    }
    log_event(LOG_INFO, "passkey_removed", "rid=%s proof=%s", r->id,
              credential != NULL ? "passkey"
              : by_recovery      ? "recovery_code"
              : proof            ? "code"
                                 : "fresh_sign_in");
    Authd__V1__SessionResponse *s = NULL;
    if (edge_req_session(r, 0, &s) == AUTHD_OK) {
        edge_2fa_notify(r, s->user != NULL ? s->user->email : NULL,
                        "A passkey or security key was removed",
                        "A passkey or security key was just removed from your account.");
        rpc_msg_free(&s->base);
    }
    return edge_req_redirect(r, PASSKEYS_PATH "?removed=1");
}

/* ---- the JSON starts -------------------------------------------------------------------- */

/* Answers with v (stolen) as compact JSON; the dumped text is wiped. */
static int
json_answer(struct edge_req *r, int status, json_t *v)
{
    if (v == NULL)
        return AUTHD_ERR_NOMEM;
    char *text = json_dumps(v, JSON_COMPACT);
    edge_json_wipe(v);
    json_decref(v);
    if (text == NULL)
        return AUTHD_ERR_NOMEM;
    int err = edge_req_json(r, status, text);
    secret_strfree(text);
    return err;
}

static int
json_refuse(struct edge_req *r, int status, const char *error, const char *description)
{
    return json_answer(r, status,
                       json_pack("{s:s, s:s}", "error", error, "error_description", description));
}

/* Answers an authd refusal through edge_passkey_err_map(). */
static int
json_fail(struct edge_req *r, int err, const struct rpc_status *st, const char *what)
{
    struct edge_http_err he;
    edge_passkey_err_map(r, err, st, &he);
    if (he.unexpected)
        log_event(he.api_status >= 500 && he.api_status != 503 ? LOG_ERROR : LOG_WARN,
                  "request_failed", "rid=%s step=%s err=%s status=%d", r->id, what,
                  authd_err_reason(err), he.api_status);
    if (err == AUTHD_ERR_UNAUTHENTICATED || err == AUTHD_ERR_INVALID_TOKEN)
        return json_refuse(r, 401, "unauthorized", "Sign in again");
    return json_refuse(r, he.api_status, he.api_error[0] != '\0' ? he.api_error : "error",
                       he.message);
}

/* The body as an object ("" = {}); NULL after answering 400. */
static json_t *
json_body(struct edge_req *r)
{
    json_t *o = NULL;
    if (r->json_body_len == 0)
        return json_object();
    if (edge_json_object_parse(r->json_body, r->json_body_len, &o) != AUTHD_OK) {
        json_refuse(r, 400, "invalid_request", "The body must be a JSON object");
        return NULL;
    }
    return o;
}

/* The boolean member name of o: 0 when absent; -1 when present and not a boolean. */
static int
json_flag(const json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return -1;
    return json_is_true(v);
}

/*
 * Answers a ceremony's start: {"ceremony_id" (unless hide_id), "options": authd's options as
 * an object, "expires_at"}.
 */
static int
ceremony_answer(struct edge_req *r, const Authd__V1__CeremonyResponse *c, int hide_id)
{
    const char *opts = c->options_json != NULL ? c->options_json : "";
    json_t *options = NULL;
    if (edge_json_object_parse(opts, strlen(opts), &options) != AUTHD_OK) {
        log_event(LOG_ERROR, "request_failed", "rid=%s step=passkey_options err=bad_json", r->id);
        return json_refuse(r, 502, "server_error", "Something went wrong");
    }
    json_t *o =
        json_pack("{s:o, s:I}", "options", options, "expires_at", (json_int_t)c->expires_at);
    if (o != NULL && !hide_id &&
        json_object_set_new(o, "ceremony_id", json_string(c->ceremony_id)) != 0) {
        json_decref(o);
        o = NULL;
    }
    return json_answer(r, 200, o);
}

static int
registration_begin(struct edge_req *r, json_t *body)
{
    int passkey = json_flag(body, "passkey");
    if (passkey < 0)
        return json_refuse(r, 400, "invalid_request", "passkey must be true or false");
    const char *token = edge_req_session_token(r);
    if (token == NULL)
        return json_refuse(r, 401, "unauthorized", "Sign in again");
    Authd__V1__BeginRegistrationRequest req = AUTHD__V1__BEGIN_REGISTRATION_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    req.passkey = passkey;
    Authd__V1__CeremonyResponse *c = NULL;
    struct rpc_status st;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__web_authn__descriptor,
                              "BeginRegistration", &req.base, (ProtobufCMessage **)&c, &st);
    if (err != AUTHD_OK)
        return json_fail(r, err, &st, "passkey_registration");
    err = ceremony_answer(r, c, 0);
    rpc_msg_free(&c->base);
    return err;
}

int
edge_api_passkeys_registration(struct edge_req *r)
{
    json_t *body = json_body(r);
    if (body == NULL)
        return r->status != 0 ? AUTHD_OK : AUTHD_ERR_INTERNAL;
    int err = registration_begin(r, body);
    json_decref(body);
    return err;
}

/* Keeps a passwordless ceremony's id in the browser's cookie while the ceremony lives. */
static int
keep_ceremony(struct edge_req *r, const Authd__V1__CeremonyResponse *c)
{
    long long left = (long long)c->expires_at - (long long)time(NULL);
    if (left < 1)
        left = 1;
    if (left > 3600)
        left = 3600;
    return edge_req_set_cookie(r, EDGE_PASSKEY_COOKIE, c->ceremony_id,
                               COOKIE_HTTPONLY | COOKIE_SAMESITE_STRICT, left);
}

static int
assertion_begin(struct edge_req *r, json_t *body)
{
    int passwordless = json_flag(body, "passwordless");
    if (passwordless < 0)
        return json_refuse(r, 400, "invalid_request", "passwordless must be true or false");
    const char *token = passwordless ? NULL : edge_req_session_token(r);
    if (!passwordless && token == NULL)
        return json_refuse(r, 401, "unauthorized", "Sign in again");
    Authd__V1__BeginAssertionRequest req = AUTHD__V1__BEGIN_ASSERTION_REQUEST__INIT;
    req.session_token = edge_authd_str(token);
    req.client_ip = edge_authd_str(r->client_ip);
    Authd__V1__CeremonyResponse *c = NULL;
    struct rpc_status st;
    int err = edge_authd_call(r->edge->authd, r->id, &authd__v1__web_authn__descriptor,
                              "BeginAssertion", &req.base, (ProtobufCMessage **)&c, &st);
    edge_req_note_lockout(r, err, &st);
    if (err != AUTHD_OK)
        return json_fail(r, err, &st, "passkey_assertion");
    if (passwordless && (err = keep_ceremony(r, c)) != AUTHD_OK) {
        rpc_msg_free(&c->base);
        log_event(LOG_ERROR, "request_failed", "rid=%s step=passkey_cookie err=%s", r->id,
                  authd_err_reason(err));
        return json_refuse(r, 502, "server_error", "Something went wrong");
    }
    err = ceremony_answer(r, c, passwordless);
    rpc_msg_free(&c->base);
    return err;
}

int
edge_api_passkeys_assertion(struct edge_req *r)
{
    json_t *body = json_body(r);
    if (body == NULL)
        return r->status != 0 ? AUTHD_OK : AUTHD_ERR_INTERNAL;
    int err = assertion_begin(r, body);
    json_decref(body);
    return err;
}
