/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Manifests: YAML read into JSON by common/yamlread.c (bounded, aliases refused), then strict
 * mapping of Aidbox-style resources to protobuf-c messages, and the reverse mapping plus a small
 * YAML printer for authctl's output. Manifests carry passwords: every copy we control is wiped
 * before release.
 */
#include "ctl/manifest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/email.h"
#include "common/err.h"
#include "common/secret.h"
#include "common/yamlread.h"

/* ---- errors ------------------------------------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *
type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "a mapping";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a decimal number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

/* ---- reading ------------------------------------------------------------------------------ */

static const struct yamlread_opts manifest_yaml = {
    .max_bytes = MANIFEST_MAX_BYTES,
    .max_depth = MANIFEST_MAX_DEPTH,
    .max_nodes = MANIFEST_MAX_NODES,
};

/* "line L, column C: message", "manifest is larger than N bytes" or the bare message. */
static void
yaml_err(const struct yamlread_error *e, char *err, size_t errlen)
{
    if (e->line > 0)
        set_err(err, errlen, "line %zu, column %zu: %s", e->line, e->column, e->message);
    else if (e->problem == YAMLREAD_TOO_LARGE)
        set_err(err, errlen, "manifest is %s", e->message);
    else
        set_err(err, errlen, "%s", e->message);
}

int
manifest_read(FILE *f, char **text, size_t *len, char *err, size_t errlen)
{
    struct yamlread_error e;

    int r = yamlread_file(f, MANIFEST_MAX_BYTES, text, len, &e);
    if (r != AUTHD_OK)
        yaml_err(&e, err, errlen);
    return r;
}

int
manifest_yaml_to_json(const char *text, size_t len, json_t **docs, char *err, size_t errlen)
{
    struct yamlread_error e;

    set_err(err, errlen, "%s", "");
    int r = yamlread_to_json(text, len, &manifest_yaml, docs, NULL, &e);
    if (r != AUTHD_OK)
        yaml_err(&e, err, errlen);
    return r;
}

/* ---- protobuf-c messages ------------------------------------------------------------------ */

static void *
msg_new(const ProtobufCMessageDescriptor *desc)
{
    void *m = calloc(1, desc->sizeof_message);
    if (m != NULL)
        protobuf_c_message_init(desc, m);
    return m;
}

static void
str_wipe(char *s)
{
    if (s != NULL && s != protobuf_c_empty_string)
        secret_wipe(s, strlen(s));
}

static void
msg_wipe(ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        char *base = (char *)msg + f->offset;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(uint32_t *)((char *)msg + f->quantifier_offset) != f->id)
            continue;
        size_t n = 1;
        void *elems = base;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(size_t *)((char *)msg + f->quantifier_offset);
            elems = *(void **)base;
            if (elems == NULL)
                continue;
        }
        for (size_t j = 0; j < n; j++) {
            if (f->type == PROTOBUF_C_TYPE_STRING) {
                str_wipe(((char **)elems)[j]);
            } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
                ProtobufCBinaryData *b = &((ProtobufCBinaryData *)elems)[j];
                secret_wipe(b->data, b->len);
            } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                ProtobufCMessage *sub = ((ProtobufCMessage **)elems)[j];
                if (sub != NULL)
                    msg_wipe(sub);
            }
        }
    }
}

void
manifest_msg_free(ProtobufCMessage *msg)
{
    if (msg == NULL)
        return;
    msg_wipe(msg);
    protobuf_c_message_free_unpacked(msg, NULL);
}

/* Frees r's name and messages (wiped) and zeroes it. */
static void
resource_clear(struct manifest_resource *r)
{
    free(r->name);
    manifest_msg_free(r->auth_config != NULL ? &r->auth_config->base : NULL);
    manifest_msg_free(r->user != NULL ? &r->user->base : NULL);
    manifest_msg_free(r->user_update != NULL ? &r->user_update->base : NULL);
    manifest_msg_free(r->client != NULL ? &r->client->base : NULL);
    memset(r, 0, sizeof(*r));
}

void
manifest_free(struct manifest *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++)
        resource_clear(&m->items[i]);
    free(m->items);
    free(m);
}

/* ---- JSON -> messages --------------------------------------------------------------------- */

/* Mapping context: the resource's name prefixes every error. */
struct mctx {
    const char *name;
    char *err;
    size_t errlen;
};

static int mfail(struct mctx *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
mfail(struct mctx *m, const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    set_err(m->err, m->errlen, "%s: %s", m->name, msg);
    return AUTHD_ERR_INVALID_ARGUMENT;
}

static int
mnomem(struct mctx *m)
{
    set_err(m->err, m->errlen, "out of memory");
    return AUTHD_ERR_NOMEM;
}

/* "prefix.key", or "key" at the top level, into a fixed buffer (cut if absurdly long). */
static const char *
field_path(char *buf, size_t cap, const char *prefix, const char *key)
{
    if (prefix == NULL || prefix[0] == '\0')
        snprintf(buf, cap, "%s", key);
    else
        snprintf(buf, cap, "%s.%s", prefix, key);
    return buf;
}

static int
is_one_of(const char *s, const char *const *words)
{
    for (; *words != NULL; words++) {
        if (strcmp(s, *words) == 0)
            return 1;
    }
    return 0;
}

/* Refuses any key of obj that is not in allowed (NULL-terminated), naming its full path. */
static int
check_fields(struct mctx *m, const json_t *obj, const char *prefix, const char *const *allowed)
{
    const char *key;
    json_t *val;
    char path[160], known[200];

    json_object_foreach((json_t *)obj, key, val)
    {
        if (is_one_of(key, allowed))
            continue;
        size_t o = 0;
        known[0] = '\0';
        for (const char *const *a = allowed; *a != NULL && o < sizeof(known); a++) {
            if (strcmp(*a, "resourceType") == 0)
                continue;
            int w = snprintf(known + o, sizeof(known) - o, "%s%s", o ? ", " : "", *a);
            if (w < 0)
                break;
            o += (size_t)w;
        }
        return mfail(m, "unknown field '%s' (known: %s)",
                     field_path(path, sizeof(path), prefix, key), known);
    }
    return AUTHD_OK;
}

/* The value of key, or NULL when absent or null. */
static const json_t *
field(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v != NULL && !json_is_null(v) ? v : NULL;
}

/*
 * The value of key in *out when its JSON type is want (JSON_TRUE stands for either boolean),
 * NULL when absent or null: both AUTHD_OK. Another type fails through mfail(), naming the
 * field's path, what it must_be ("a mapping") and what it is.
 */
static int
typed_field(struct mctx *m, const json_t *obj, const char *prefix, const char *key, json_type want,
            const char *must_be, const json_t **out)
{
    char path[160];
    const json_t *v = field(obj, key);

    *out = NULL;
    if (v == NULL)
        return AUTHD_OK;
    json_type t = json_typeof(v) == JSON_FALSE ? JSON_TRUE : json_typeof(v);
    if (t != want)
        return mfail(m, "field '%s' must be %s, not %s",
                     field_path(path, sizeof(path), prefix, key), must_be, type_name(v));
    *out = v;
    return AUTHD_OK;
}

static int
get_object(struct mctx *m, const json_t *obj, const char *prefix, const char *key,
           const json_t **out)
{
    return typed_field(m, obj, prefix, key, JSON_OBJECT, "a mapping", out);
}

/* Sets *dst (a protobuf-c string field) to a copy of the string at key, if there is one. */
static int
get_string(struct mctx *m, const json_t *obj, const char *prefix, const char *key, char **dst,
           int required)
{
    char path[160];
    const json_t *v;
    int r = typed_field(m, obj, prefix, key, JSON_STRING, "a string", &v);

    if (r != AUTHD_OK)
        return r;
    if (v == NULL)
        return required ? mfail(m, "missing required field '%s'",
                                field_path(path, sizeof(path), prefix, key))
                        : AUTHD_OK;
    char *s = strdup(json_string_value(v));
    if (s == NULL)
        return mnomem(m);
    if (*dst != NULL && *dst != protobuf_c_empty_string)
        secret_strfree(*dst);
    *dst = s;
    return AUTHD_OK;
}

static int
get_int(struct mctx *m, const json_t *obj, const char *prefix, const char *key, int64_t min,
        int64_t max, int64_t *dst)
{
    char path[160];
    const json_t *v;
    int r = typed_field(m, obj, prefix, key, JSON_INTEGER, "an integer", &v);

    if (r != AUTHD_OK || v == NULL)
        return r;
    json_int_t i = json_integer_value(v);
    if (i < min || i > max)
        return mfail(m, "field '%s' must be between %" PRId64 " and %" PRId64,
                     field_path(path, sizeof(path), prefix, key), min, max);
    *dst = (int64_t)i;
    return AUTHD_OK;
}

static int
get_bool(struct mctx *m, const json_t *obj, const char *prefix, const char *key,
         protobuf_c_boolean *dst, int *present)
{
    const json_t *v;

    if (present != NULL)
        *present = 0;
    int r = typed_field(m, obj, prefix, key, JSON_TRUE, "true or false", &v);
    if (r != AUTHD_OK || v == NULL)
        return r;
    *dst = json_is_true(v);
    if (present != NULL)
        *present = 1;
    return AUTHD_OK;
}

/* Appends a copy of s[0..n) to a protobuf-c repeated string field (arr, count); the caller
 * allocated room for it. */
static int
list_add(struct mctx *m, char **arr, size_t *count, const char *s, size_t n)
{
    char *copy = strndup(s, n);
    if (copy == NULL)
        return mnomem(m);
    arr[(*count)++] = copy;
    return AUTHD_OK;
}

/*
 * Sets a protobuf-c repeated string field (arr, count) from the list of strings at key, or, when
 * words is set, also from one string of words separated by white space ("openid profile email").
 */
static int
get_string_list(struct mctx *m, const json_t *obj, const char *prefix, const char *key, int words,
                char ***arr, size_t *count)
{
    char path[160];
    const json_t *v = field(obj, key);
    size_t cap;
    int r;

    if (v == NULL)
        return AUTHD_OK;
    field_path(path, sizeof(path), prefix, key);
    if (json_is_string(v) && words)
        cap = json_string_length(v) / 2 + 1; /* at most this many words */
    else if (json_is_array(v))
        cap = json_array_size(v);
    else
        return mfail(m, "field '%s' must be a list of strings%s, not %s", path,
                     words ? " or a string of space-separated words" : "", type_name(v));
    for (size_t i = 0; json_is_array(v) && i < cap; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return mfail(m, "field '%s[%zu]' must be a string, not %s", path, i, type_name(e));
    }
    if (cap == 0)
        return AUTHD_OK;
    char **a = calloc(cap, sizeof(*a));
    if (a == NULL)
        return mnomem(m);
    *arr = a; /* owned by the message from here on, also on failure */
    *count = 0;
    if (json_is_array(v)) {
        for (size_t i = 0; i < cap; i++) {
            const json_t *e = json_array_get(v, i);
            if ((r = list_add(m, a, count, json_string_value(e), json_string_length(e))) !=
                AUTHD_OK)
                return r;
        }
        return AUTHD_OK;
    }
    static const char space[] = " \t\r\n";
    const char *p = json_string_value(v);
    for (;;) {
        p += strspn(p, space);
        size_t n = strcspn(p, space);
        if (n == 0)
            break;
        if ((r = list_add(m, a, count, p, n)) != AUTHD_OK)
            return r;
        p += n;
    }
    return AUTHD_OK;
}

/* "Type/id", "Type/<email>" for users without id, or "Type" - for messages. malloc'd. */
static char *
resource_name(const json_t *res, const char *type)
{
    const json_t *id = field(res, "id");
    const json_t *email = field(res, "email");
    const char *suffix = NULL;
    char buf[200];

    if (id != NULL && json_is_string(id) && json_string_length(id) > 0)
        suffix = json_string_value(id);
    else if (strcmp(type, "User") == 0 && email != NULL && json_is_string(email))
        suffix = json_string_value(email);
    if (suffix != NULL)
        snprintf(buf, sizeof(buf), "%s/%.120s", type, suffix);
    else
        snprintf(buf, sizeof(buf), "%s", type);
    return strdup(buf);
}

static const char *const auth_config_fields[] = {
    "resourceType", "id", "twoFactor", "theme", "asidCookieMaxAge", "lockout", "webauthn", NULL};
/* webauthn: AuthConfig.webauthn (passkeys and security keys; authd checks the values). */
static const char *const webauthn_fields[] = {
    "rpId",    "rpName",        "origins", "passwordless", "userVerification",
    "timeout", "reauthSeconds", NULL};
/* lockout.<kind>.<subject>: AuthConfig.lockout (admin.proto); authd checks the bounds. */
static const char *const lockout_fields[] = {"password", "secondFactor", "mail",
                                             "delivery", "clientSecret", NULL};
static const char *const lockout_policy_fields[] = {"account", "address", NULL};
static const char *const lockout_rule_fields[] = {"freeFailures", "firstWait", "maxWait", "window",
                                                  NULL};
static const char *const two_factor_fields[] = {
    "issuerName", "validPastTokensCount", "webhook",    "algorithm", "digits",
    "period",     "rememberBrowserDays",  "transports", NULL};
static const char *const webhook_fields[] = {"endpoint", "headers", "timeout", NULL};
static const char *const theme_fields[] = {"styleUrl", "title", "brand", "forgotPasswordUrl", NULL};
static const char *const user_fields[] = {"resourceType", "id",        "email",         "password",
                                          "inactive",     "twoFactor", "emailVerified", NULL};
static const char *const user_two_factor_fields[] = {"enabled", "transport", NULL};
static const char *const client_fields[] = {"resourceType",
                                            "id",
                                            "secret",
                                            "first_party",
                                            "grant_types",
                                            "auth",
                                            "scope",
                                            "active",
                                            "introspect",
                                            "post_logout_redirect_uris",
                                            "id_token_signed_response_alg",
                                            "allowed_origins",
                                            NULL};
static const char *const client_auth_fields[] = {"implicit", "authorization_code", "password",
                                                 "client_credentials", NULL};
static const char *const grant_fields[] = {
    "redirect_uri",  "secret_required",          "pkce", "token_format", "access_token_expiration",
    "refresh_token", "refresh_token_expiration", NULL};

static int
map_webhook(struct mctx *m, const json_t *obj, Authd__V1__Webhook *w)
{
    const char *prefix = "twoFactor.webhook";
    const json_t *headers;
    int64_t timeout = 0;
    int r;

    if ((r = check_fields(m, obj, prefix, webhook_fields)) != AUTHD_OK ||
        (r = get_string(m, obj, prefix, "endpoint", &w->endpoint, 0)) != AUTHD_OK ||
        (r = get_int(m, obj, prefix, "timeout", 0, INT32_MAX, &timeout)) != AUTHD_OK ||
        (r = get_object(m, obj, prefix, "headers", &headers)) != AUTHD_OK)
        return r;
    w->timeout = (int32_t)timeout;
    if (headers == NULL || json_object_size(headers) == 0)
        return AUTHD_OK;

    w->headers = calloc(json_object_size(headers), sizeof(*w->headers));
    if (w->headers == NULL)
        return mnomem(m);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)headers, key, val)
    {
        if (!json_is_string(val))
            return mfail(m, "field 'twoFactor.webhook.headers.%s' must be a string, not %s", key,
                         type_name(val));
        if (key[0] == '\0')
            return mfail(m, "twoFactor.webhook.headers: empty header name");
        Authd__V1__Webhook__HeadersEntry *e =
            msg_new(&authd__v1__webhook__headers_entry__descriptor);
        if (e == NULL)
            return mnomem(m);
        w->headers[w->n_headers++] = e;
        if ((e->key = strdup(key)) == NULL || (e->value = strdup(json_string_value(val))) == NULL)
            return mnomem(m);
    }
    return AUTHD_OK;
}

/* One lockout rule at path (e.g. "lockout.password.account"): each field a positive integer;
 * an absent one keeps authd's default. */
static int
map_lockout_rule(struct mctx *m, const json_t *obj, const char *path, Authd__V1__LockoutRule **out)
{
    int64_t v[4] = {0, 0, 0, 0};
    int r;
    if (obj == NULL)
        return AUTHD_OK;
    if ((*out = msg_new(&authd__v1__lockout_rule__descriptor)) == NULL)
        return mnomem(m);
    if ((r = check_fields(m, obj, path, lockout_rule_fields)) != AUTHD_OK)
        return r;
    for (int i = 0; i < 4; i++)
        if ((r = get_int(m, obj, path, lockout_rule_fields[i], 1, i == 0 ? INT32_MAX : INT64_MAX,
                         &v[i])) != AUTHD_OK)
            return r;
    (*out)->free_failures = (int32_t)v[0];
    (*out)->first_wait = v[1];
    (*out)->max_wait = v[2];
    (*out)->window = v[3];
    return AUTHD_OK;
}

static int
map_lockout(struct mctx *m, const json_t *obj, Authd__V1__LockoutConfig *c)
{
    Authd__V1__LockoutPolicy **kinds[] = {&c->password, &c->second_factor, &c->mail, &c->delivery,
                                          &c->client_secret};
    int r = check_fields(m, obj, "lockout", lockout_fields);
    for (size_t k = 0; r == AUTHD_OK && lockout_fields[k] != NULL; k++) {
        char path[64];
        const json_t *kind, *acct, *addr;
        snprintf(path, sizeof(path), "lockout.%s", lockout_fields[k]);
        if ((r = get_object(m, obj, "lockout", lockout_fields[k], &kind)) != AUTHD_OK ||
            kind == NULL)
            continue;
        if ((*kinds[k] = msg_new(&authd__v1__lockout_policy__descriptor)) == NULL)
            return mnomem(m);
        char pa[80], pb[80];
        snprintf(pa, sizeof(pa), "%s.account", path);
        snprintf(pb, sizeof(pb), "%s.address", path);
        if ((r = check_fields(m, kind, path, lockout_policy_fields)) != AUTHD_OK ||
            (r = get_object(m, kind, path, "account", &acct)) != AUTHD_OK ||
            (r = get_object(m, kind, path, "address", &addr)) != AUTHD_OK ||
            (r = map_lockout_rule(m, acct, pa, &(*kinds[k])->account)) != AUTHD_OK)
            return r;
        r = map_lockout_rule(m, addr, pb, &(*kinds[k])->address);
    }
    return r;
}

static int map_webauthn(struct mctx *m, const json_t *obj, Authd__V1__WebAuthnConfig *w);

static int
map_auth_config(struct mctx *m, const json_t *res, struct manifest_resource *out)
{
    Authd__V1__AuthConfig *c = out->auth_config = msg_new(&authd__v1__auth_config__descriptor);
    const json_t *tf, *wh, *theme, *lockout, *wa;
    int64_t v;
    int r;

    if (c == NULL)
        return mnomem(m);
    if ((r = check_fields(m, res, "", auth_config_fields)) != AUTHD_OK ||
        (r = get_string(m, res, "", "id", &c->id, 0)) != AUTHD_OK ||
        (r = get_object(m, res, "", "twoFactor", &tf)) != AUTHD_OK ||
        (r = get_object(m, res, "", "theme", &theme)) != AUTHD_OK ||
        (r = get_object(m, res, "", "lockout", &lockout)) != AUTHD_OK ||
        (r = get_object(m, res, "", "webauthn", &wa)) != AUTHD_OK)
        return r;
    if (wa != NULL) {
        if ((c->webauthn = msg_new(&authd__v1__web_authn_config__descriptor)) == NULL)
            return mnomem(m);
        if ((r = map_webauthn(m, wa, c->webauthn)) != AUTHD_OK)
            return r;
    }
    if (lockout != NULL) {
        if ((c->lockout = msg_new(&authd__v1__lockout_config__descriptor)) == NULL)
            return mnomem(m);
        if ((r = map_lockout(m, lockout, c->lockout)) != AUTHD_OK)
            return r;
    }
    v = 0;
    if ((r = get_int(m, res, "", "asidCookieMaxAge", 0, INT64_MAX, &v)) != AUTHD_OK)
        return r;
    c->asid_cookie_max_age = v;

    if (tf != NULL) {
        if ((c->two_factor = msg_new(&authd__v1__two_factor_config__descriptor)) == NULL)
            return mnomem(m);
        v = 0;
        if ((r = check_fields(m, tf, "twoFactor", two_factor_fields)) != AUTHD_OK ||
            (r = get_string(m, tf, "twoFactor", "issuerName", &c->two_factor->issuer_name, 0)) !=
                AUTHD_OK ||
            (r = get_int(m, tf, "twoFactor", "validPastTokensCount", 0, INT32_MAX, &v)) !=
                AUTHD_OK ||
            (r = get_object(m, tf, "twoFactor", "webhook", &wh)) != AUTHD_OK)
            return r;
        c->two_factor->valid_past_tokens_count = (int32_t)v;
        /* Extensions beyond Aidbox: the TOTP algorithm, digits and period (authd validates). */
        int64_t digits = 0, period = 0, remember = 0;
        if ((r = get_string(m, tf, "twoFactor", "algorithm", &c->two_factor->algorithm, 0)) !=
                AUTHD_OK ||
            (r = get_int(m, tf, "twoFactor", "digits", 0, 8, &digits)) != AUTHD_OK ||
            (r = get_int(m, tf, "twoFactor", "period", 0, 3600, &period)) != AUTHD_OK ||
            (r = get_int(m, tf, "twoFactor", "rememberBrowserDays", 0, 365, &remember)) !=
                AUTHD_OK ||
            /* the transports a user may choose at enrolment (authd checks each name) */
            (r = get_string_list(m, tf, "twoFactor", "transports", 0, &c->two_factor->transports,
                                 &c->two_factor->n_transports)) != AUTHD_OK)
            return r;
        c->two_factor->remember_browser_days = (int32_t)remember;
        c->two_factor->digits = (int32_t)digits;
        c->two_factor->period = (int32_t)period;
        if (wh != NULL) {
            if ((c->two_factor->webhook = msg_new(&authd__v1__webhook__descriptor)) == NULL)
                return mnomem(m);
            if ((r = map_webhook(m, wh, c->two_factor->webhook)) != AUTHD_OK)
                return r;
        }
    }
    if (theme != NULL) {
        Authd__V1__Theme *t = msg_new(&authd__v1__theme__descriptor);
        if ((c->theme = t) == NULL)
            return mnomem(m);
        if ((r = check_fields(m, theme, "theme", theme_fields)) != AUTHD_OK ||
            (r = get_string(m, theme, "theme", "styleUrl", &t->style_url, 0)) != AUTHD_OK ||
            (r = get_string(m, theme, "theme", "title", &t->title, 0)) != AUTHD_OK ||
            (r = get_string(m, theme, "theme", "brand", &t->brand, 0)) != AUTHD_OK ||
            (r = get_string(m, theme, "theme", "forgotPasswordUrl", &t->forgot_password_url, 0)) !=
                AUTHD_OK)
            return r;
    }
    return AUTHD_OK;
}

/* AuthConfig.webauthn from its manifest object. */
static int
map_webauthn(struct mctx *m, const json_t *obj, Authd__V1__WebAuthnConfig *w)
{
    int64_t timeout = 0, reauth = 0;
    protobuf_c_boolean passwordless = 0;
    int present = 0;
    int r;

    if ((r = check_fields(m, obj, "webauthn", webauthn_fields)) != AUTHD_OK ||
        (r = get_string(m, obj, "webauthn", "rpId", &w->rp_id, 0)) != AUTHD_OK ||
        (r = get_string(m, obj, "webauthn", "rpName", &w->rp_name, 0)) != AUTHD_OK ||
        (r = get_string_list(m, obj, "webauthn", "origins", 0, &w->origins, &w->n_origins)) !=
            AUTHD_OK ||
        (r = get_bool(m, obj, "webauthn", "passwordless", &passwordless, &present)) != AUTHD_OK ||
        (r = get_string(m, obj, "webauthn", "userVerification", &w->user_verification, 0)) !=
            AUTHD_OK ||
        (r = get_int(m, obj, "webauthn", "timeout", 0, INT32_MAX, &timeout)) != AUTHD_OK ||
        (r = get_int(m, obj, "webauthn", "reauthSeconds", 0, INT32_MAX, &reauth)) != AUTHD_OK)
        return r;
    w->timeout = (int32_t)timeout;
    w->reauth_seconds = (int32_t)reauth;
    if (present) { /* absent means on (admin.proto) */
        if ((w->passwordless = msg_new(&authd__v1__bool_value__descriptor)) == NULL)
            return mnomem(m);
        w->passwordless->value = passwordless;
    }
    return AUTHD_OK;
}

/* One of auth.{implicit, authorization_code, password, client_credentials}. */
static int
map_grant(struct mctx *m, const json_t *obj, const char *prefix, Authd__V1__GrantSettings *g)
{
    int r;

    if ((r = check_fields(m, obj, prefix, grant_fields)) != AUTHD_OK ||
        (r = get_string(m, obj, prefix, "redirect_uri", &g->redirect_uri, 0)) != AUTHD_OK ||
        (r = get_bool(m, obj, prefix, "secret_required", &g->secret_required, NULL)) != AUTHD_OK ||
        (r = get_bool(m, obj, prefix, "pkce", &g->pkce, NULL)) != AUTHD_OK ||
        (r = get_string(m, obj, prefix, "token_format", &g->token_format, 0)) != AUTHD_OK ||
        (r = get_int(m, obj, prefix, "access_token_expiration", 0, INT64_MAX,
                     &g->access_token_expiration)) != AUTHD_OK ||
        (r = get_bool(m, obj, prefix, "refresh_token", &g->refresh_token, NULL)) != AUTHD_OK ||
        (r = get_int(m, obj, prefix, "refresh_token_expiration", 0, INT64_MAX,
                     &g->refresh_token_expiration)) != AUTHD_OK)
        return r;
    return AUTHD_OK;
}

static int
map_client(struct mctx *m, const json_t *res, struct manifest_resource *out)
{
    Authd__V1__Client *c = out->client = msg_new(&authd__v1__client__descriptor);
    const json_t *auth;
    protobuf_c_boolean active = 1;
    int active_set = 0, r;

    if (c == NULL)
        return mnomem(m);
    if ((r = check_fields(m, res, "", client_fields)) != AUTHD_OK ||
        (r = get_string(m, res, "", "id", &c->id, 1)) != AUTHD_OK ||
        (r = get_string(m, res, "", "secret", &c->secret, 0)) != AUTHD_OK ||
        (r = get_bool(m, res, "", "first_party", &c->first_party, NULL)) != AUTHD_OK ||
        (r = get_bool(m, res, "", "introspect", &c->introspect, NULL)) != AUTHD_OK ||
        (r = get_string(m, res, "", "id_token_signed_response_alg",
                        &c->id_token_signed_response_alg, 0)) != AUTHD_OK ||
        (r = get_string_list(m, res, "", "grant_types", 0, &c->grant_types, &c->n_grant_types)) !=
            AUTHD_OK ||
        (r = get_object(m, res, "", "auth", &auth)) != AUTHD_OK ||
        (r = get_string_list(m, res, "", "scope", 1, &c->scope, &c->n_scope)) != AUTHD_OK ||
        (r = get_string_list(m, res, "", "post_logout_redirect_uris", 0,
                             &c->post_logout_redirect_uris, &c->n_post_logout_redirect_uris)) !=
            AUTHD_OK ||
        (r = get_string_list(m, res, "", "allowed_origins", 0, &c->allowed_origins,
                             &c->n_allowed_origins)) != AUTHD_OK ||
        (r = get_bool(m, res, "", "active", &active, &active_set)) != AUTHD_OK)
        return r;
    if (c->id[0] == '\0')
        return mfail(m, "field 'id' must not be empty");
    if (field(res, "secret") != NULL && c->secret[0] == '\0')
        return mfail(m, "field 'secret' must not be empty (leave it out to keep the secret)");
    if (active_set) {
        if ((c->active = msg_new(&authd__v1__bool_value__descriptor)) == NULL)
            return mnomem(m);
        c->active->value = active;
    }
    if (auth == NULL)
        return AUTHD_OK;
    if ((r = check_fields(m, auth, "auth", client_auth_fields)) != AUTHD_OK)
        return r;
    if ((c->auth = msg_new(&authd__v1__client_auth__descriptor)) == NULL)
        return mnomem(m);
    Authd__V1__GrantSettings **slots[] = {&c->auth->implicit, &c->auth->authorization_code,
                                          &c->auth->password, &c->auth->client_credentials};
    for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
        char prefix[64];
        const json_t *g;
        snprintf(prefix, sizeof(prefix), "auth.%s", client_auth_fields[i]);
        if ((r = get_object(m, auth, "auth", client_auth_fields[i], &g)) != AUTHD_OK)
            return r;
        if (g == NULL)
            continue;
        if ((*slots[i] = msg_new(&authd__v1__grant_settings__descriptor)) == NULL)
            return mnomem(m);
        if ((r = map_grant(m, g, prefix, *slots[i])) != AUTHD_OK)
            return r;
    }
    return AUTHD_OK;
}

static int
map_user_fields(struct mctx *m, const json_t *res, Authd__V1__CreateUserRequest *u,
                int *inactive_set)
{
    char email[EMAIL_MAX_LEN + 1];
    int r;

    if ((r = check_fields(m, res, "", user_fields)) != AUTHD_OK ||
        (r = get_string(m, res, "", "id", &u->id, 0)) != AUTHD_OK ||
        (r = get_string(m, res, "", "email", &u->email, 1)) != AUTHD_OK ||
        (r = get_string(m, res, "", "password", &u->password, 0)) != AUTHD_OK ||
        (r = get_bool(m, res, "", "inactive", &u->inactive, inactive_set)) != AUTHD_OK)
        return r;
    if (field(res, "id") != NULL && u->id[0] == '\0')
        return mfail(m, "field 'id' must not be empty");
    if (field(res, "password") != NULL && u->password[0] == '\0')
        return mfail(m, "field 'password' must not be empty (leave it out to keep the password)");
    if (email_normalize(u->email, email, sizeof(email)) != AUTHD_OK)
        return mfail(m, "field 'email': '%.80s' is not a valid e-mail address", u->email);
    /* The normalised form is never longer than the input: copy it in place. */
    memcpy(u->email, email, strlen(email) + 1);
    return AUTHD_OK;
}

/*
 * A User's twoFactor (Aidbox's User.twoFactor: enabled, transport) into the presence fields of
 * upd, for Users.Update; fields the manifest leaves out stay NULL. authd judges the values
 * (enabled: true only when already on; the transport's characters).
 */
static int
map_user_two_factor(struct mctx *m, const json_t *res, Authd__V1__UpdateUserRequest *upd)
{
    const json_t *tf = NULL;
    protobuf_c_boolean on = 0;
    int on_set = 0, r;

    if ((r = get_object(m, res, "", "twoFactor", &tf)) != AUTHD_OK || tf == NULL)
        return r;
    if ((r = check_fields(m, tf, "twoFactor", user_two_factor_fields)) != AUTHD_OK ||
        (r = get_bool(m, tf, "twoFactor", "enabled", &on, &on_set)) != AUTHD_OK)
        return r;
    if (on_set) {
        upd->two_factor_enabled = msg_new(&authd__v1__bool_value__descriptor);
        if (upd->two_factor_enabled == NULL)
            return mnomem(m);
        upd->two_factor_enabled->value = on;
    }
    if (field(tf, "transport") != NULL) {
        upd->two_factor_transport = msg_new(&authd__v1__string_value__descriptor);
        if (upd->two_factor_transport == NULL)
            return mnomem(m);
        return get_string(m, tf, "twoFactor", "transport", &upd->two_factor_transport->value, 0);
    }
    return AUTHD_OK;
}

/* A User resource: out->user for Users.Create, out->user_update its twoFactor for Users.Update. */
static int
map_user(struct mctx *m, const json_t *res, struct manifest_resource *out)
{
    out->user = msg_new(&authd__v1__create_user_request__descriptor);
    out->user_update = msg_new(&authd__v1__update_user_request__descriptor);
    if (out->user == NULL || out->user_update == NULL)
        return mnomem(m);
    int r = map_user_fields(m, res, out->user, &out->inactive_set);
    if (r != AUTHD_OK)
        return r;
    /* emailVerified: Create carries it; for an existing user, Update when given (left out: the
     * stored flag stays). */
    protobuf_c_boolean verified = 0;
    int verified_set = 0;
    if ((r = get_bool(m, res, "", "emailVerified", &verified, &verified_set)) != AUTHD_OK)
        return r;
    if (verified_set) {
        out->user->email_verified = verified;
        if ((out->user_update->email_verified = msg_new(&authd__v1__bool_value__descriptor)) ==
            NULL)
            return mnomem(m);
        out->user_update->email_verified->value = verified;
    }
    return map_user_two_factor(m, res, out->user_update);
}

/* A resource type: its resourceType and the mapping that makes its messages. */
struct kind {
    const char *type;
    enum manifest_kind kind;
    int (*map)(struct mctx *m, const json_t *res, struct manifest_resource *out);
};

/* Indexed by enum manifest_kind - 1. */
static const struct kind resource_kinds[] = {
    {"AuthConfig", MANIFEST_AUTH_CONFIG, map_auth_config},
    {"User", MANIFEST_USER, map_user},
    {"Client", MANIFEST_CLIENT, map_client},
};

/*
 * *out (zeroed first) from res, a mapping of kind k: its name (errors are prefixed with it) and
 * its messages. On failure *out is cleared again.
 */
static int
resource_from_json(const struct kind *k, const json_t *res, struct manifest_resource *out,
                   char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->kind = k->kind;
    if ((out->name = resource_name(res, k->type)) == NULL) {
        set_err(err, errlen, "out of memory");
        return AUTHD_ERR_NOMEM;
    }
    struct mctx m = {.name = out->name, .err = err, .errlen = errlen};
    int r = k->map(&m, res, out);
    if (r != AUTHD_OK)
        resource_clear(out);
    return r;
}

/* The public one-resource mappings: res must be a mapping of kind. */
static int
one_from_json(enum manifest_kind kind, const json_t *res, struct manifest_resource *out, char *err,
              size_t errlen)
{
    const struct kind *k = &resource_kinds[kind - 1];

    memset(out, 0, sizeof(*out));
    if (res == NULL || !json_is_object(res)) {
        set_err(err, errlen, "%s: expected a mapping", k->type);
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    return resource_from_json(k, res, out, err, errlen);
}

int
manifest_auth_config_from_json(const json_t *res, Authd__V1__AuthConfig **out, char *err,
                               size_t errlen)
{
    struct manifest_resource r;
    int rc = one_from_json(MANIFEST_AUTH_CONFIG, res, &r, err, errlen);
    *out = r.auth_config;
    r.auth_config = NULL;
    resource_clear(&r);
    return rc;
}

int
manifest_user_from_json(const json_t *res, Authd__V1__CreateUserRequest **out, int *inactive_set,
                        char *err, size_t errlen)
{
    struct manifest_resource r;
    int rc = one_from_json(MANIFEST_USER, res, &r, err, errlen);
    *out = r.user;
    if (inactive_set != NULL)
        *inactive_set = r.inactive_set;
    r.user = NULL;
    resource_clear(&r);
    return rc;
}

int
manifest_client_from_json(const json_t *res, Authd__V1__Client **out, char *err, size_t errlen)
{
    struct manifest_resource r;
    int rc = one_from_json(MANIFEST_CLIENT, res, &r, err, errlen);
    *out = r.client;
    r.client = NULL;
    resource_clear(&r);
    return rc;
}

/* Validates and appends one resource (doc/item are 1-based positions for messages). */
static int
add_resource(struct manifest *mf, const json_t *res, size_t doc, size_t item, char *err,
             size_t errlen)
{
    char where[64];
    struct manifest_resource r;
    int rc;

    if (item > 0)
        snprintf(where, sizeof(where), "document %zu, item %zu", doc, item);
    else
        snprintf(where, sizeof(where), "document %zu", doc);
    if (!json_is_object(res)) {
        set_err(err, errlen, "%s: expected a resource (a mapping with resourceType), got %s", where,
                type_name(res));
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    const json_t *rt = field(res, "resourceType");
    if (rt == NULL) {
        set_err(err, errlen, "%s: missing resourceType", where);
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    if (!json_is_string(rt)) {
        set_err(err, errlen, "%s: resourceType must be a string, not %s", where, type_name(rt));
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    const char *type = json_string_value(rt);
    const struct kind *k = NULL;
    for (size_t i = 0; i < sizeof(resource_kinds) / sizeof(resource_kinds[0]) && k == NULL; i++)
        k = strcmp(type, resource_kinds[i].type) == 0 ? &resource_kinds[i] : NULL;
    if (k == NULL) {
        set_err(err, errlen,
                "%s: unknown resourceType '%.60s' (supported: AuthConfig, User, Client)", where,
                type);
        return AUTHD_ERR_INVALID_ARGUMENT;
    }
    if ((rc = resource_from_json(k, res, &r, err, errlen)) != AUTHD_OK)
        return rc;
    struct manifest_resource *items = realloc(mf->items, (mf->n + 1) * sizeof(*items));
    if (items == NULL) {
        resource_clear(&r);
        set_err(err, errlen, "out of memory");
        return AUTHD_ERR_NOMEM;
    }
    mf->items = items;
    mf->items[mf->n++] = r;
    return AUTHD_OK;
}

int
manifest_from_json(const json_t *docs, struct manifest **out, char *err, size_t errlen)
{
    struct manifest *mf = NULL;
    int r = AUTHD_ERR_INVALID_ARGUMENT;

    *out = NULL;
    set_err(err, errlen, "%s", "");
    if (docs == NULL || !json_is_array(docs)) {
        set_err(err, errlen, "expected a list of documents");
        goto out;
    }
    if ((mf = calloc(1, sizeof(*mf))) == NULL) {
        r = AUTHD_ERR_NOMEM;
        set_err(err, errlen, "out of memory");
        goto out;
    }
    for (size_t d = 0; d < json_array_size(docs); d++) {
        const json_t *doc = json_array_get(docs, d);
        if (json_is_null(doc))
            continue; /* an empty document, e.g. after a trailing --- */
        if (!json_is_array(doc)) {
            if ((r = add_resource(mf, doc, d + 1, 0, err, errlen)) != AUTHD_OK)
                goto out;
            continue;
        }
        for (size_t i = 0; i < json_array_size(doc); i++) {
            if ((r = add_resource(mf, json_array_get(doc, i), d + 1, i + 1, err, errlen)) !=
                AUTHD_OK)
                goto out;
        }
    }
    if (mf->n == 0) {
        r = AUTHD_ERR_INVALID_ARGUMENT;
        set_err(err, errlen, "the manifest has no resources");
        goto out;
    }
    *out = mf;
    mf = NULL;
    r = AUTHD_OK;
out:
    manifest_free(mf);
    return r;
}

int
manifest_parse(const char *text, size_t len, struct manifest **out, char *err, size_t errlen)
{
    json_t *docs = NULL;
    int r;

    *out = NULL;
    if ((r = manifest_yaml_to_json(text, len, &docs, err, errlen)) != AUTHD_OK)
        return r;
    r = manifest_from_json(docs, out, err, errlen);
    yamlread_wipe(docs);
    json_decref(docs);
    return r;
}

/* ---- messages -> JSON --------------------------------------------------------------------- */

/* v when every step that built it worked (bad is 0), else NULL with v released. */
static json_t *
built(json_t *v, int bad)
{
    if (bad) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* Sets key to a copy of s unless s is empty. 0, or -1 on NOMEM. */
static int
set_str(json_t *obj, const char *key, const char *s)
{
    if (s == NULL || s[0] == '\0')
        return 0;
    return json_object_set_new(obj, key, json_string(s));
}

/* lockout as it was set: the fields given (non-zero), so that applying the output again sets
 * the same and authd's defaults stay defaults. NULL on NOMEM. */
static json_t *
lockout_json(const Authd__V1__LockoutConfig *c)
{
    const Authd__V1__LockoutPolicy *kinds[] = {c->password, c->second_factor, c->mail, c->delivery,
                                               c->client_secret};
    json_t *o = json_object();
    int bad = o == NULL;
    for (size_t k = 0; !bad && lockout_fields[k] != NULL; k++) {
        if (kinds[k] == NULL)
            continue;
        const Authd__V1__LockoutRule *rules[] = {kinds[k]->account, kinds[k]->address};
        json_t *kj = json_object();
        bad |= kj == NULL || json_object_set_new(o, lockout_fields[k], kj);
        for (size_t s = 0; !bad && s < 2; s++) {
            const Authd__V1__LockoutRule *ru = rules[s];
            if (ru == NULL)
                continue;
            const int64_t v[4] = {ru->free_failures, ru->first_wait, ru->max_wait, ru->window};
            json_t *rj = json_object();
            bad |= rj == NULL || json_object_set_new(kj, lockout_policy_fields[s], rj);
            for (size_t i = 0; !bad && i < 4; i++)
                if (v[i] != 0)
                    bad |= json_object_set_new(rj, lockout_rule_fields[i], json_integer(v[i]));
        }
    }
    return built(o, bad);
}

/*
 * What every resource's JSON is built by: {"resourceType": type, "id": id} (id left out when
 * empty) and then the members members(o, msg) adds, returning non-zero when a step failed.
 * The object, or NULL on NOMEM.
 */
static json_t *
resource_json(const char *type, const char *id, int (*members)(json_t *o, const void *msg),
              const void *msg)
{
    json_t *o = json_object();
    int bad = o == NULL;

    if (!bad)
        bad = json_object_set_new(o, "resourceType", json_string(type)) != 0 ||
              set_str(o, "id", id) != 0 || members(o, msg) != 0;
    return built(o, bad);
}

/* AuthConfig's members but resourceType and id. */
static json_t *string_list_json(char *const *arr, size_t n);

static int
auth_config_members(json_t *o, const void *msg)
{
    const Authd__V1__AuthConfig *c = msg;
    int bad = 0;

    if (c->two_factor != NULL) {
        const Authd__V1__TwoFactorConfig *tf = c->two_factor;
        json_t *t = json_object();
        bad |= json_object_set_new(o, "twoFactor", t);
        bad |= set_str(t, "issuerName", tf->issuer_name);
        bad |= json_object_set_new(t, "validPastTokensCount",
                                   json_integer(tf->valid_past_tokens_count));
        if (tf->algorithm != NULL && tf->algorithm[0] != '\0')
            bad |= set_str(t, "algorithm", tf->algorithm);
        if (tf->digits != 0)
            bad |= json_object_set_new(t, "digits", json_integer(tf->digits));
        if (tf->period != 0)
            bad |= json_object_set_new(t, "period", json_integer(tf->period));
        if (tf->remember_browser_days != 0)
            bad |= json_object_set_new(t, "rememberBrowserDays",
                                       json_integer(tf->remember_browser_days));
        if (tf->n_transports > 0)
            bad |= json_object_set_new(t, "transports",
                                       string_list_json(tf->transports, tf->n_transports));
        if (tf->webhook != NULL) {
            json_t *w = json_object();
            json_t *h = json_object();
            bad |= json_object_set_new(t, "webhook", w);
            bad |= set_str(w, "endpoint", tf->webhook->endpoint);
            for (size_t i = 0; i < tf->webhook->n_headers; i++) {
                const Authd__V1__Webhook__HeadersEntry *e = tf->webhook->headers[i];
                if (e != NULL && e->key != NULL)
                    bad |= json_object_set_new(h, e->key, json_string(e->value ? e->value : ""));
            }
            if (json_object_size(h) > 0)
                bad |= json_object_set(w, "headers", h);
            json_decref(h);
            bad |= json_object_set_new(w, "timeout", json_integer(tf->webhook->timeout));
        }
    }
    if (c->theme != NULL) {
        json_t *t = json_object();
        bad |= set_str(t, "styleUrl", c->theme->style_url);
        bad |= set_str(t, "title", c->theme->title);
        bad |= set_str(t, "brand", c->theme->brand);
        bad |= set_str(t, "forgotPasswordUrl", c->theme->forgot_password_url);
        if (t != NULL && json_object_size(t) > 0)
            bad |= json_object_set(o, "theme", t);
        json_decref(t);
    }
    bad |= json_object_set_new(o, "asidCookieMaxAge", json_integer(c->asid_cookie_max_age));
    if (c->lockout != NULL) {
        json_t *l = lockout_json(c->lockout);
        bad |= l == NULL || json_object_set_new(o, "lockout", l);
    }
    const Authd__V1__WebAuthnConfig *wa = c->webauthn;
    if (wa != NULL && wa->rp_id != NULL && wa->rp_id[0] != '\0') {
        json_t *w = json_object();
        bad |= w == NULL || json_object_set_new(o, "webauthn", w);
        bad |= set_str(w, "rpId", wa->rp_id);
        if (wa->rp_name != NULL && wa->rp_name[0] != '\0')
            bad |= set_str(w, "rpName", wa->rp_name);
        bad |= json_object_set_new(w, "origins", string_list_json(wa->origins, wa->n_origins));
        if (wa->passwordless != NULL)
            bad |= json_object_set_new(w, "passwordless", json_boolean(wa->passwordless->value));
        if (wa->user_verification != NULL && wa->user_verification[0] != '\0')
            bad |= set_str(w, "userVerification", wa->user_verification);
        if (wa->timeout != 0)
            bad |= json_object_set_new(w, "timeout", json_integer(wa->timeout));
        if (wa->reauth_seconds != 0)
            bad |= json_object_set_new(w, "reauthSeconds", json_integer(wa->reauth_seconds));
    }
    return bad;
}

json_t *
manifest_auth_config_to_json(const Authd__V1__AuthConfig *c)
{
    return resource_json("AuthConfig", c->id, auth_config_members, c);
}

/* A JSON array of copies of the n strings of arr, or NULL on NOMEM. */
static json_t *
string_list_json(char *const *arr, size_t n)
{
    json_t *a = json_array();
    int bad = a == NULL;

    for (size_t i = 0; !bad && i < n; i++)
        bad |= json_array_append_new(a, json_string(arr[i] != NULL ? arr[i] : ""));
    return built(a, bad);
}

static json_t *
grant_json(const Authd__V1__GrantSettings *g)
{
    json_t *o = json_object();
    int bad = 0;

    if (o == NULL)
        return NULL;
    bad |= set_str(o, "redirect_uri", g->redirect_uri);
    bad |= json_object_set_new(o, "secret_required", json_boolean(g->secret_required));
    bad |= json_object_set_new(o, "pkce", json_boolean(g->pkce));
    bad |= set_str(o, "token_format", g->token_format);
    if (g->access_token_expiration != 0)
        bad |= json_object_set_new(o, "access_token_expiration",
                                   json_integer((json_int_t)g->access_token_expiration));
    bad |= json_object_set_new(o, "refresh_token", json_boolean(g->refresh_token));
    if (g->refresh_token_expiration != 0)
        bad |= json_object_set_new(o, "refresh_token_expiration",
                                   json_integer((json_int_t)g->refresh_token_expiration));
    return built(o, bad);
}

/* Client's members but resourceType and id. */
static int
client_members(json_t *o, const void *msg)
{
    const Authd__V1__Client *c = msg;
    int bad = 0;

    /* c->secret is deliberately never read: authd does not send it, and neither do we. */
    bad |= json_object_set_new(o, "active", json_boolean(c->active == NULL || c->active->value));
    bad |= json_object_set_new(o, "first_party", json_boolean(c->first_party));
    if (c->introspect)
        bad |= json_object_set_new(o, "introspect", json_boolean(1));
    if (c->id_token_signed_response_alg != NULL && c->id_token_signed_response_alg[0] != '\0')
        bad |= set_str(o, "id_token_signed_response_alg", c->id_token_signed_response_alg);
    if (c->n_grant_types > 0)
        bad |= json_object_set_new(o, "grant_types",
                                   string_list_json(c->grant_types, c->n_grant_types));
    if (c->auth != NULL) {
        const Authd__V1__GrantSettings *grants[] = {c->auth->implicit, c->auth->authorization_code,
                                                    c->auth->password, c->auth->client_credentials};
        json_t *a = json_object();
        bad |= a == NULL;
        for (size_t i = 0; a != NULL && i < sizeof(grants) / sizeof(grants[0]); i++) {
            if (grants[i] != NULL)
                bad |= json_object_set_new(a, client_auth_fields[i], grant_json(grants[i]));
        }
        if (a != NULL && json_object_size(a) > 0)
            bad |= json_object_set(o, "auth", a);
        json_decref(a);
    }
    if (c->n_scope > 0)
        bad |= json_object_set_new(o, "scope", string_list_json(c->scope, c->n_scope));
    if (c->n_post_logout_redirect_uris > 0)
        bad |= json_object_set_new(
            o, "post_logout_redirect_uris",
            string_list_json(c->post_logout_redirect_uris, c->n_post_logout_redirect_uris));
    if (c->n_allowed_origins > 0)
        bad |= json_object_set_new(o, "allowed_origins",
                                   string_list_json(c->allowed_origins, c->n_allowed_origins));
    bad |= json_object_set_new(o, "has_secret", json_boolean(c->has_secret));
    return bad;
}

json_t *
manifest_client_to_json(const Authd__V1__Client *c)
{
    return resource_json("Client", c->id, client_members, c);
}

/* RFC 3339 UTC text for unix seconds t, or NULL for 0 (unknown). */
static json_t *
time_json(int64_t t)
{
    char buf[32];
    struct tm tm;
    time_t tt = (time_t)t;

    if (t == 0)
        return NULL;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return json_integer(t);
    return json_string(buf);
}

/* User's members but resourceType and id. */
static int
user_members(json_t *o, const void *msg)
{
    const Authd__V1__User *u = msg;
    int bad = set_str(o, "email", u->email);

    bad |= json_object_set_new(o, "inactive", json_boolean(u->inactive));
    bad |= json_object_set_new(o, "emailVerified", json_boolean(u->email_verified));
    json_t *tf = json_object();
    bad |= json_object_set_new(o, "twoFactor", tf);
    bad |= json_object_set_new(tf, "enabled",
                               json_boolean(u->two_factor != NULL && u->two_factor->enabled));
    if (u->two_factor != NULL)
        bad |= set_str(tf, "transport", u->two_factor->transport);
    if (u->created_at != 0)
        bad |= json_object_set_new(o, "createdAt", time_json(u->created_at));
    if (u->updated_at != 0)
        bad |= json_object_set_new(o, "updatedAt", time_json(u->updated_at));
    return bad;
}

json_t *
manifest_user_to_json(const Authd__V1__User *u)
{
    return resource_json("User", u->id, user_members, u);
}

/* ---- YAML printing ------------------------------------------------------------------------ */

static int
is_plain_key(const char *k)
{
    if (!((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z')))
        return 0;
    for (const char *p = k; *p != '\0'; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return 0;
    }
    /* Words YAML would read as something other than a string. */
    static const char *const special[] = {"true", "True", "TRUE", "false", "False", "FALSE", "null",
                                          "Null", "NULL", "yes",  "no",    "on",    "off",   "Yes",
                                          "No",   "On",   "Off",  "YES",   "NO",    "ON",    "OFF",
                                          "y",    "n",    "Y",    "N",     NULL};
    return !is_one_of(k, special);
}

/* A scalar, or an empty container, written inline as JSON (valid YAML flow syntax). */
static int
print_inline(FILE *f, const json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (s == NULL)
        return -1;
    int r = fputs(s, f) < 0 ? -1 : 0;
    free(s);
    return r;
}

static int
is_inline(const json_t *v)
{
    return (!json_is_object(v) && !json_is_array(v)) ||
           (json_is_object(v) && json_object_size(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0);
}

/*
 * Prints v after the "key:" or "-" already written at indent: on the same line when inline,
 * else on the lines below, two spaces deeper. 0, or -1 on a write error.
 */
static int
print_after_dash_or_key(FILE *f, const json_t *v, int indent)
{
    if (is_inline(v)) {
        fputc(' ', f);
        if (print_inline(f, v) != 0)
            return -1;
        fputc('\n', f);
        return 0;
    }
    fputc('\n', f);
    return manifest_print_yaml(f, v, indent + 2);
}

int
manifest_print_yaml(FILE *f, const json_t *v, int indent)
{
    const char *key;
    json_t *child;
    size_t i;

    if (is_inline(v)) {
        fprintf(f, "%*s", indent, "");
        if (print_inline(f, v) != 0)
            return -1;
        fputc('\n', f);
        return ferror(f) ? -1 : 0;
    }
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, child)
        {
            fprintf(f, "%*s", indent, "");
            if (is_plain_key(key)) {
                fputs(key, f);
            } else {
                json_t *k = json_string(key);
                int r = k != NULL ? print_inline(f, k) : -1;
                json_decref(k);
                if (r != 0)
                    return -1;
            }
            fputc(':', f);
            if (print_after_dash_or_key(f, child, indent) != 0)
                return -1;
        }
    } else {
        json_array_foreach(v, i, child)
        {
            fprintf(f, "%*s-", indent, "");
            if (print_after_dash_or_key(f, child, indent) != 0)
                return -1;
        }
    }
    return ferror(f) ? -1 : 0;
}
