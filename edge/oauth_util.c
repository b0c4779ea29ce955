/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OAuth endpoint helpers; see oauth_util.h. The Basic parser walks untrusted bytes: it is
 * bounded by EDGE_OAUTH_BASIC_MAX, decodes into fixed buffers and wipes its scratch copy of
 * the credentials on every path.
 */
#include "edge/oauth_util.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "edge/http_err.h"
#include "common/secret.h"

/* Scratch room for the decoded base64 of EDGE_OAUTH_BASIC_MAX characters. */
#define BASIC_DECODED_MAX (EDGE_OAUTH_BASIC_MAX / 4 * 3 + 3)

/*
 * Decodes standard base64 (RFC 4648 §4). Padding may be left out but must be right when
 * present; the unused bits of the last character must be zero. Returns the decoded length,
 * or -1 when malformed or longer than cap.
 */
static long
b64_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
    size_t pad = 0;
    while (len > 0 && s[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (pad > 0 && (len + pad) % 4 != 0)
        return -1;
    return secret_b64_decode(s, len, out, cap);
}

/*
 * Decodes the n bytes at in as application/x-www-form-urlencoded into out (capacity cap, NUL
 * included). AUTHD_OK, AUTHD_ERR_INVALID_ARGUMENT (bad escape, control byte) or
 * AUTHD_ERR_TOO_LARGE.
 */
static int
form_decode(const unsigned char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = in[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            if (i + 2 >= n)
                return AUTHD_ERR_INVALID_ARGUMENT;
            int hi = secret_hex_value(in[i + 1]), lo = secret_hex_value(in[i + 2]);
            if (hi < 0 || lo < 0)
                return AUTHD_ERR_INVALID_ARGUMENT;
            ch = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (ch < 0x20 || ch == 0x7f)
            return AUTHD_ERR_INVALID_ARGUMENT;
        if (o + 1 >= cap)
            return AUTHD_ERR_TOO_LARGE;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return AUTHD_OK;
}

static int
basic_decode(const char *b64, size_t len, struct edge_oauth_basic *out)
{
    unsigned char raw[BASIC_DECODED_MAX] = {0}; /* zeroed: the analyzer cannot see b64_decode */
    int err = AUTHD_ERR_INVALID_ARGUMENT;
    long n = b64_decode(b64, len, raw, sizeof(raw));
    if (n < 0)
        goto out;
    const unsigned char *colon = memchr(raw, ':', (size_t)n);
    if (colon == NULL)
        goto out;
    size_t id_len = (size_t)(colon - raw);
    err = form_decode(raw, id_len, out->id, sizeof(out->id));
    if (err == AUTHD_OK)
        err = form_decode(colon + 1, (size_t)n - id_len - 1, out->secret, sizeof(out->secret));
    if (err == AUTHD_OK && out->id[0] == '\0')
        err = AUTHD_ERR_INVALID_ARGUMENT;
out:
    secret_wipe(raw, sizeof(raw));
    return err;
}

int
edge_oauth_basic_parse(const char *authorization, struct edge_oauth_basic *out)
{
    memset(out, 0, sizeof(*out));
    if (authorization == NULL || strncasecmp(authorization, "Basic", 5) != 0 ||
        (authorization[5] != ' ' && authorization[5] != '\0'))
        return AUTHD_OK;
    out->present = 1;
    const char *p = authorization + 5;
    while (*p == ' ')
        p++;
    size_t len = strlen(p);
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    int err = AUTHD_ERR_INVALID_ARGUMENT;
    if (len > EDGE_OAUTH_BASIC_MAX)
        err = AUTHD_ERR_TOO_LARGE;
    else if (len > 0)
        err = basic_decode(p, len, out);
    if (err != AUTHD_OK) {
        secret_wipe(out, sizeof(*out));
        out->present = 1;
    }
    return err;
}

int
edge_oauth_client_auth(const char *authorization, const char *body_id, const char *body_secret,
                       struct edge_oauth_basic *basic, struct edge_oauth_client *out)
{
    out->id = "";
    out->secret = "";
    out->basic = 0;
    int err = edge_oauth_basic_parse(authorization, basic);
    out->basic = basic->present;
    if (err != AUTHD_OK)
        return AUTHD_ERR_INVALID_CREDENTIALS;
    if (!basic->present) {
        out->id = body_id != NULL ? body_id : "";
        out->secret = body_secret != NULL ? body_secret : "";
        return AUTHD_OK;
    }
    /* RFC 6749 §2.3: a client MUST NOT use more than one authentication method. */
    if (body_secret != NULL && body_secret[0] != '\0')
        return AUTHD_ERR_INVALID_ARGUMENT;
    if (body_id != NULL && body_id[0] != '\0' && strcmp(body_id, basic->id) != 0)
        return AUTHD_ERR_INVALID_ARGUMENT;
    out->id = basic->id;
    out->secret = basic->secret;
    return AUTHD_OK;
}

/*
 * 1 when code is a registered one a client library knows: RFC 6749 §5.2 and §4.1.2.1, RFC 6750
 * §3.1, RFC 7009 §2.2.1, RFC 8707 §2 and OpenID Connect Core §3.1.2.6 (the authorization and
 * logout pages use this mapping too). Anything else authd might name (an older authd said
 * "locked") is replaced by the default for the error.
 */
static int
registered_code(const char *code)
{
    static const char *const codes[] = {
        /* RFC 6749 */
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "access_denied",
        "unsupported_response_type",
        "server_error",
        "temporarily_unavailable",
        /* RFC 6750, RFC 7009, RFC 8707 */
        "invalid_token",
        "insufficient_scope",
        "unsupported_token_type",
        "invalid_target",
        /* OpenID Connect Core */
        "interaction_required",
        "login_required",
        "account_selection_required",
        "consent_required",
        "invalid_request_uri",
        "invalid_request_object",
        "request_not_supported",
        "request_uri_not_supported",
        "registration_not_supported",
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(code, codes[i]) == 0)
            return 1;
    return 0;
}

void
edge_oauth_error_from(int err, const char *code, const char *message, struct edge_oauth_error *out)
{
    memset(out, 0, sizeof(*out));
    struct edge_http_err he;
    edge_http_err_map(err, &he);

    out->status = he.oauth_status;
    if (he.oauth_status >= 500) {
        /* Not a refusal by the OAuth service: the text is the transport's or the adapter's
         * (an authd without the OAuth service says "unknown method"). Not for clients. */
        out->unexpected = 1;
        snprintf(out->error, sizeof(out->error), "%s", he.oauth_error);
        snprintf(out->description, sizeof(out->description), "%s",
                 err == AUTHD_ERR_UNIMPLEMENTED ? "The OAuth service is not available"
                                                : he.message);
        return;
    }
    if (code != NULL && code[0] != '\0' && registered_code(code)) {
        snprintf(out->error, sizeof(out->error), "%s", code);
        snprintf(out->description, sizeof(out->description), "%s", message != NULL ? message : "");
    } else {
        /* The page texts (he.message) speak to a person about e-mails and passwords, not to
         * a client program: without authd's description there is none. */
        snprintf(out->error, sizeof(out->error), "%s", he.oauth_error);
    }
    if (strcmp(out->error, "invalid_client") == 0)
        out->status = 401;
}

/* Length of the well-formed UTF-8 sequence at p (2 to 4), or 0 (p[0] >= 0x80). */
static size_t
utf8_seq_len(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c >= 0xc2 && c <= 0xdf)
        return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        /* no overlong forms (E0 A0..), no surrogates (ED ..9F) */
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

int
edge_oauth_json_str(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
    int err = buf_puts(b, "\"");
    const unsigned char *run = p;
    while (err == AUTHD_OK && *p != '\0') {
        unsigned char c = *p;
        size_t n = 1;
        const char *esc = NULL;
        char u[8];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20 || c == 0x7f) {
            snprintf(u, sizeof(u), "\\u%04x", c);
            esc = u;
        } else if (c >= 0x80) {
            n = utf8_seq_len(p);
            if (n == 0) {
                esc = "\\ufffd";
                n = 1;
            }
        }
        if (esc == NULL) {
            p += n;
            continue;
        }
        err = buf_append(b, run, (size_t)(p - run));
        if (err == AUTHD_OK)
            err = buf_puts(b, esc);
        p += n;
        run = p;
    }
    if (err == AUTHD_OK)
        err = buf_append(b, run, (size_t)(p - run));
    if (err == AUTHD_OK)
        err = buf_puts(b, "\"");
    return err;
}

int
edge_oauth_error_json(struct buf *b, const char *error, const char *description)
{
    int err = buf_puts(b, "{\"error\":");
    if (err == AUTHD_OK)
        err = edge_oauth_json_str(b, error);
    if (err == AUTHD_OK && description != NULL && description[0] != '\0') {
        err = buf_puts(b, ",\"error_description\":");
        if (err == AUTHD_OK)
            err = edge_oauth_json_str(b, description);
    }
    if (err == AUTHD_OK)
        err = buf_puts(b, "}");
    return err;
}
