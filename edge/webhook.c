/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two-factor webhook: JSON body with jansson (so an e-mail with quotes or a transport with
 * control bytes is escaped, never spliced), sent with libcurl. The code travels in the body
 * only; every copy of the body we make is wiped, and the header list (which may hold an API
 * key) is wiped before it is freed. Every failed delivery counts in edge_webhook_failures_total.
 */
#include "edge/webhook.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/secret.h"

#define WEBHOOK_BODY_MAX ((size_t)16 * 1024)

/* 1 when c is an RFC 7230 tchar (the characters of a header name). */
static int
tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* 1 when name is a header name we may send: a token, and not one the edge sets itself. */
static int
header_name_ok(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return 0;
    for (const char *p = name; *p; p++)
        if (!tchar(*p))
            return 0;
    return strcasecmp(name, "Content-Type") != 0 && strcasecmp(name, "Content-Length") != 0;
}

/* 1 when value holds no control byte but tab (so no CR/LF: no header injection). */
static int
header_value_ok(const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return 0;
    return 1;
}

int
webhook_header_ok(const char *name, const char *value)
{
    return header_name_ok(name) && value != NULL && header_value_ok(value);
}

static const char *
str_or_empty(const char *s)
{
    return s != NULL ? s : "";
}

void
webhook_user_from_msg(struct webhook_user *w, const Authd__V1__User *u, const char *transport)
{
    memset(w, 0, sizeof(*w));
    w->transport = transport;
    if (u == NULL)
        return;
    w->id = u->id;
    w->email = u->email;
    if (u->two_factor != NULL) {
        w->enabled = u->two_factor->enabled;
        if (u->two_factor->transport != NULL && u->two_factor->transport[0] != '\0')
            w->transport = u->two_factor->transport;
    }
}

/* Wipes the text of a jansson string value in place (jansson itself never wipes). */
static void
wipe_json_string(json_t *s)
{
    if (s == NULL || !json_is_string(s))
        return;
    secret_wipe((char *)json_string_value(s), json_string_length(s));
}

int
webhook_build_body(struct buf *out, const struct webhook_user *u, const char *token)
{
    json_error_t jerr;
    /* The chosen transport again at the top, beside user and token: the receiver routes on it
     * without digging into the user (Aidbox's body is the subset without it). */
    json_t *root =
        json_pack_ex(&jerr, 0, "{s:{s:s, s:s, s:{s:b, s:s}}, s:s, s:s}", "user", "id",
                     str_or_empty(u->id), "email", str_or_empty(u->email), "twoFactor", "enabled",
                     u->enabled ? 1 : 0, "transport", str_or_empty(u->transport), "token",
                     str_or_empty(token), "transport", str_or_empty(u->transport));
    if (root == NULL)
        return json_error_code(&jerr) == json_error_out_of_memory ? AUTHD_ERR_NOMEM
                                                                  : AUTHD_ERR_INVALID_ARGUMENT;
    int r = AUTHD_ERR_NOMEM;
    char *text = json_dumps(root, JSON_COMPACT);
    if (text != NULL) {
        r = buf_puts(out, text);
        secret_strfree(text);
    }
    wipe_json_string(json_object_get(root, "token"));
    json_decref(root);
    return r;
}

static size_t
on_discard(char *ptr, size_t size, size_t nmemb, void *userp)
{
    (void)ptr;
    (void)userp;
    return size * nmemb;
}

/* Wipes each header line (they may carry credentials), then frees the list. */
static void
headers_free(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p != NULL; p = p->next)
        if (p->data != NULL)
            secret_wipe(p->data, strlen(p->data));
    curl_slist_free_all(h);
}

/* Builds the header list: Content-Type, then the configured headers. NULL on NOMEM. */
static struct curl_slist *
headers_new(const struct edge_two_factor_config *cfg)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (h == NULL)
        return NULL;
    const char *p = cfg->webhook_headers;
    for (unsigned i = 0; i < cfg->n_webhook_headers; i++) {
        /* edge_config_from_msg() kept only safe names and CR/LF-free values; check again,
         * since a header line is the one place a stray CR/LF would become an injection. */
        if (strpbrk(p, "\r\n") == NULL) {
            struct curl_slist *n = curl_slist_append(h, p);
            if (n == NULL) {
                headers_free(h);
                return NULL;
            }
            h = n;
        }
        p += strlen(p) + 1;
    }
    /* curl would otherwise send "Expect: 100-continue" for larger bodies and wait for it. */
    struct curl_slist *n = curl_slist_append(h, "Expect:");
    if (n == NULL) {
        headers_free(h);
        return NULL;
    }
    return n;
}

static double
elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

int
webhook_send(const struct edge_two_factor_config *cfg, const char *rid,
             const struct webhook_user *u, const char *token)
{
    if (rid == NULL)
        rid = "-";
    if (cfg->webhook_endpoint[0] == '\0')
        return AUTHD_ERR_INVALID_ARGUMENT;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    struct buf body;
    buf_init(&body, WEBHOOK_BODY_MAX);
    int r = webhook_build_body(&body, u, token);
    if (r != AUTHD_OK) {
        log_event(LOG_ERROR, "webhook", "rid=%s ok=0 err=%s reason=body", rid, authd_err_reason(r));
        metrics_count("edge_webhook_failures_total", NULL, 1);
        buf_free(&body);
        return r;
    }

    long timeout =
        cfg->webhook_timeout_ms > 0 ? cfg->webhook_timeout_ms : EDGE_WEBHOOK_TIMEOUT_DEFAULT;
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = c != NULL ? headers_new(cfg) : NULL;
    CURLcode cr = CURLE_OUT_OF_MEMORY;
    long status = 0;
    if (c == NULL || hdrs == NULL) {
        r = AUTHD_ERR_NOMEM;
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, cfg->webhook_endpoint);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body.len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_discard);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "authd-edge");
    cr = curl_easy_perform(c);
    if (cr == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    r = cr == CURLE_OK && status >= 200 && status < 300 ? AUTHD_OK : AUTHD_ERR_UNAVAILABLE;
out:;
    char qo[560], qe[160];
    log_event(r == AUTHD_OK ? LOG_INFO : LOG_WARN, "webhook",
              "rid=%s ok=%d endpoint=%s status=%ld ms=%.1f%s%s", rid, r == AUTHD_OK,
              log_quote(cfg->webhook_origin, qo, sizeof(qo)), status, elapsed_ms(&t0),
              cr != CURLE_OK ? " err=" : "",
              cr != CURLE_OK ? log_quote(curl_easy_strerror(cr), qe, sizeof(qe)) : "");
    if (r != AUTHD_OK)
        metrics_count("edge_webhook_failures_total", NULL, 1);
    headers_free(hdrs);
    if (c != NULL)
        curl_easy_cleanup(c);
    buf_free(&body);
    return r;
}
