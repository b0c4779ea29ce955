/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the passkey flows share (flow_webauthn.c: settings and the ceremonies' JSON starts;
 * flow_passkey_login.c: sign-in; flow_2fa_settings.c: a passkey as the proof for turning 2FA off
 * or new recovery codes). A ceremony runs in the browser (pages/pages.js): the page's script
 * asks the edge to begin it (JSON, /auth/passkeys/registration or /assertion), calls
 * navigator.credentials.create() or .get() with authd's options, puts the ceremony id and the
 * browser's response (RegistrationResponseJSON / AuthenticationResponseJSON) into hidden fields
 * of the form it belongs to and submits it: an ordinary CSRF-protected form POST, whose answer is
 * a page or a redirect as for any other form. The response goes to authd as an opaque string and
 * is never logged; authd checks everything.
 */
#ifndef AUTHD_EDGE_PASSKEY_H
#define AUTHD_EDGE_PASSKEY_H

#include "edge/http_err.h"
#include "edge/request.h"

/* The bytes of a credential field the edge passes on (a response with an attestation
 * certificate is a few KiB); a longer one is refused before authd is asked. */
#define EDGE_PASSKEY_JSON_MAX ((size_t)24 * 1024)
#define EDGE_PASSKEY_NAME_MAX 64 /* characters of a key's name (authd's bound) */
/* The cookie that keeps a passwordless ceremony's id for the browser that began it (HttpOnly,
 * SameSite=Strict, as long as the ceremony lives), so that only that browser can finish it. */
#define EDGE_PASSKEY_COOKIE "asid_passkey"

/* The form kinds pages.js knows (the form's data-passkey attribute). */
#define EDGE_PASSKEY_REGISTER "register"
#define EDGE_PASSKEY_SECOND_FACTOR "second-factor"
#define EDGE_PASSKEY_CONFIRM "confirm"
#define EDGE_PASSKEY_PASSWORDLESS "passwordless"

/*
 * Opens a form (POST to action, CSRF field) that pages.js runs as a ceremony of kind (one of
 * the EDGE_PASSKEY_* above): hidden ceremony_id and credential fields the script fills. The
 * caller adds its own fields, then calls edge_passkey_form_end() with the button's label.
 */
void edge_passkey_form_begin(struct edge_req *r, struct page *p, const char *action,
                             const char *kind);

/*
 * The button (hidden until pages.js finds a browser that can use passkeys), the line that says
 * so otherwise, the live region the script reports in, and </form>; and the script tag.
 */
void edge_passkey_form_end(struct page *p, const char *label);

/*
 * The passkey fields of a posted form: the ceremony id and the response, borrowed; NULL when
 * absent or empty. *too_large is set when the response is over EDGE_PASSKEY_JSON_MAX.
 */
void edge_passkey_fields(const struct edge_req *r, const char **ceremony_id,
                         const char **credential_json, int *too_large);

/*
 * The error map for a WebAuthn call: authd's refusals of its own ("key_refused": the key's
 * answer failed a check, the message names which; "failed_precondition": passkeys are not
 * configured, passwordless is off...) become 400 / 409 with authd's words, everything else goes
 * through edge_req_err_map(). st may be NULL.
 */
void edge_passkey_err_map(const struct edge_req *r, int err, const struct rpc_status *st,
                          struct edge_http_err *he);

/* 1 when authd refused the key's response (a check failed, or the ceremony is unknown,
 * used or expired). */
int edge_passkey_refused(int err, const struct rpc_status *st);

/* "passkey" for a discoverable credential, else "security key" (the list's words). */
const char *edge_passkey_kind(int discoverable);

#endif
