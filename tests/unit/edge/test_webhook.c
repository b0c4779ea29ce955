/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for edge/webhook.c and the webhook part of edge_config_from_msg(): the JSON body
 * (escaping, types, key order, invalid UTF-8 refused), the request a real socket receives
 * (POST, Content-Type, configured headers, the body), 2xx as the only success (redirects not
 * followed, errors and timeouts fail), and the log line, which never holds the code or a
 * header value. The "endpoint" is a one-shot HTTP responder on a loopback port in a thread.
 */
#define _GNU_SOURCE /* strcasestr */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <curl/curl.h>
#include <jansson.h>

#include "edge/authd_client.h"
#include "common/buf.h"
#include "common/err.h"
#include "edge/webhook.h"

#define CODE "493817"
#define API_KEY "k3y-s3cret-value"

/* ---- the JSON body ------------------------------------------------------------------------ */

static void
test_body_shape(void **state)
{
    (void)state;
    struct webhook_user u = {"u-1", "alice@example.com", 1, "sms"};
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(webhook_build_body(&b, &u, CODE), AUTHD_OK);
    assert_string_equal(b.data, "{\"user\":{\"id\":\"u-1\",\"email\":\"alice@example.com\","
                                "\"twoFactor\":{\"enabled\":true,\"transport\":\"sms\"}},"
                                "\"token\":\"" CODE "\",\"transport\":\"sms\"}");
    buf_free(&b);

    /* disabled, NULL strings become "" */
    struct webhook_user v = {NULL, NULL, 0, NULL};
    assert_int_equal(webhook_build_body(&b, &v, NULL), AUTHD_OK);
    assert_string_equal(b.data, "{\"user\":{\"id\":\"\",\"email\":\"\",\"twoFactor\":"
                                "{\"enabled\":false,\"transport\":\"\"}},\"token\":\"\","
                                "\"transport\":\"\"}");
    buf_free(&b);
}

static void
test_body_escaping(void **state)
{
    (void)state;
    const char *email = "\"quoted\\name\"@example.com";
    const char *transport = "sms\",\"token\":\"000000\n";
    struct webhook_user u = {"id\"x", email, 0, transport};
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(webhook_build_body(&b, &u, CODE), AUTHD_OK);
    assert_non_null(strstr(b.data, "\"email\":\"\\\"quoted\\\\name\\\"@example.com\""));
    assert_non_null(strstr(b.data, "\"transport\":\"sms\\\",\\\"token\\\":\\\"000000\\n\""));
    /* parsed back, every value is exactly what went in; one token, ours */
    json_error_t jerr;
    json_t *v = json_loads(b.data, JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(v);
    json_t *user = json_object_get(v, "user");
    assert_string_equal(json_string_value(json_object_get(user, "email")), email);
    assert_string_equal(json_string_value(json_object_get(user, "id")), "id\"x");
    json_t *tf = json_object_get(user, "twoFactor");
    assert_true(json_is_false(json_object_get(tf, "enabled")));
    assert_string_equal(json_string_value(json_object_get(tf, "transport")), transport);
    assert_string_equal(json_string_value(json_object_get(v, "token")), CODE);
    assert_string_equal(json_string_value(json_object_get(v, "transport")), transport);
    assert_int_equal(json_object_size(v), 3);
    json_decref(v);
    buf_free(&b);

    /* invalid UTF-8 is refused, not passed on */
    struct webhook_user bad = {"u", "a\xff@example.com", 1, "sms"};
    assert_int_equal(webhook_build_body(&b, &bad, CODE), AUTHD_ERR_INVALID_ARGUMENT);
    assert_int_equal(b.len, 0);
    /* the output bound holds */
    struct buf small;
    buf_init(&small, 16);
    assert_int_equal(webhook_build_body(&small, &u, CODE), AUTHD_ERR_TOO_LARGE);
    buf_free(&small);
}

static void
test_user_from_msg(void **state)
{
    (void)state;
    Authd__V1__TwoFactorStatus tfs = AUTHD__V1__TWO_FACTOR_STATUS__INIT;
    Authd__V1__User u = AUTHD__V1__USER__INIT;
    u.id = "u-9";
    u.email = "b@example.com";
    u.two_factor = &tfs;
    struct webhook_user w;

    /* an enrolment: the record has no transport yet, the requested one is shown */
    tfs.transport = "";
    webhook_user_from_msg(&w, &u, "sms");
    assert_string_equal(w.id, "u-9");
    assert_string_equal(w.email, "b@example.com");
    assert_int_equal(w.enabled, 0);
    assert_string_equal(w.transport, "sms");
    /* the record's own transport wins */
    tfs.enabled = 1;
    tfs.transport = "voice";
    webhook_user_from_msg(&w, &u, "sms");
    assert_int_equal(w.enabled, 1);
    assert_string_equal(w.transport, "voice");
    webhook_user_from_msg(&w, NULL, NULL);
    assert_null(w.id);
    assert_null(w.transport);
}

/* ---- config ------------------------------------------------------------------------------ */

static void
test_config_webhook(void **state)
{
    (void)state;
    Authd__V1__Webhook__HeadersEntry h[5];
    Authd__V1__Webhook__HeadersEntry *hp[5];
    const char *kv[5][2] = {{"X-Api-Key", API_KEY},
                            {"X-Evil", "a\r\nX-Injected: 1"},
                            {"Bad Name", "v"},
                            {"content-type", "text/plain"},
                            {"X-Empty", ""}};
    for (int i = 0; i < 5; i++) {
        authd__v1__webhook__headers_entry__init(&h[i]);
        h[i].key = (char *)kv[i][0];
        h[i].value = (char *)kv[i][1];
        hp[i] = &h[i];
    }
    Authd__V1__Webhook wh = AUTHD__V1__WEBHOOK__INIT;
    wh.endpoint = "https://Hooks.Example.com:8443/2fa?k=secret";
    wh.headers = hp;
    wh.n_headers = 5;
    Authd__V1__TwoFactorConfig tf = AUTHD__V1__TWO_FACTOR_CONFIG__INIT;
    tf.issuer_name = "Acme";
    tf.valid_past_tokens_count = 2;
    tf.webhook = &wh;
    Authd__V1__AuthConfig msg = AUTHD__V1__AUTH_CONFIG__INIT;
    msg.two_factor = &tf;

    struct edge_config c;
    edge_config_from_msg(&c, &msg);
    const struct edge_two_factor_config *t = &c.two_factor;
    assert_string_equal(t->issuer_name, "Acme");
    assert_int_equal(t->valid_past_tokens_count, 2);
    assert_string_equal(t->webhook_endpoint, "https://Hooks.Example.com:8443/2fa?k=secret");
    assert_string_equal(t->webhook_origin, "https://hooks.example.com:8443");
    assert_int_equal(t->webhook_timeout_ms, EDGE_WEBHOOK_TIMEOUT_DEFAULT);
    /* kept: the API key and the empty header; dropped: CR/LF, a bad name, Content-Type */
    assert_int_equal(t->n_webhook_headers, 2);
    assert_string_equal(t->webhook_headers, "X-Api-Key: " API_KEY);
    assert_string_equal(t->webhook_headers + strlen(t->webhook_headers) + 1, "X-Empty;");

    wh.timeout = 250;
    edge_config_from_msg(&c, &msg);
    assert_int_equal(c.two_factor.webhook_timeout_ms, 250);
    wh.timeout = 10 * 60 * 1000;
    edge_config_from_msg(&c, &msg);
    assert_int_equal(c.two_factor.webhook_timeout_ms, EDGE_WEBHOOK_TIMEOUT_MAX);

    const char *bad[] = {"ftp://h/x", "/relative", "file:///etc/passwd", "https://a b/",
                         "javascript:alert(1)"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        wh.endpoint = (char *)bad[i];
        edge_config_from_msg(&c, &msg);
        assert_string_equal(c.two_factor.webhook_endpoint, "");
    }
    edge_config_from_msg(&c, NULL);
    assert_string_equal(c.two_factor.webhook_endpoint, "");
}

/* The header check on its own (edge_config_from_msg drops what it refuses). */
static void
test_header_ok(void **state)
{
    (void)state;
    assert_true(webhook_header_ok("X-Api-Key", "k"));
    assert_true(webhook_header_ok("x!#$%&'*+-.^_`|~9", ""));
    assert_true(webhook_header_ok("X-Tab", "a\tb")); /* tab is allowed in a value */
    assert_false(webhook_header_ok("X-Cr", "a\rb"));
    assert_false(webhook_header_ok("X-Lf", "a\nX-Injected: 1"));
    assert_false(webhook_header_ok("X-Del", "a\x7f"));
    assert_false(webhook_header_ok("Bad Name", "v"));
    assert_false(webhook_header_ok("X:Colon", "v"));
    assert_false(webhook_header_ok("", "v"));
    assert_false(webhook_header_ok(NULL, "v"));
    assert_false(webhook_header_ok("X-Null", NULL));
    /* the edge sets these itself */
    assert_false(webhook_header_ok("Content-Type", "text/plain"));
    assert_false(webhook_header_ok("content-length", "1"));
}

/* ---- sending ----------------------------------------------------------------------------- */

enum mode { ANSWER, HANG };

struct endpoint {
    int fd;
    int port;
    enum mode mode;
    const char *reply; /* the whole HTTP answer for ANSWER */
    int requests;      /* connections served */
    char got[16384];   /* the last request as received */
    size_t got_len;
    pthread_t th;
};

/* Reads one request (headers and Content-Length body) into e->got. */
static void
read_request(struct endpoint *e, int c)
{
    e->got_len = 0;
    size_t want = 0;
    for (;;) {
        ssize_t n = recv(c, e->got + e->got_len, sizeof(e->got) - 1 - e->got_len, 0);
        if (n <= 0)
            break;
        e->got_len += (size_t)n;
        e->got[e->got_len] = '\0';
        char *end = strstr(e->got, "\r\n\r\n");
        if (end == NULL)
            continue;
        if (want == 0) {
            const char *cl = strcasestr(e->got, "\r\nContent-Length:");
            want = (size_t)(end + 4 - e->got) + (cl != NULL ? (size_t)atoi(cl + 17) : 0);
        }
        if (e->got_len >= want)
            break;
    }
}

static void *
serve(void *arg)
{
    struct endpoint *e = arg;
    for (;;) {
        int c = accept(e->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        e->requests++;
        read_request(e, c);
        if (e->mode == ANSWER) {
            ssize_t w = send(c, e->reply, strlen(e->reply), MSG_NOSIGNAL);
            (void)w;
        } else {
            char sink[256];
            while (recv(c, sink, sizeof(sink), 0) > 0) /* until the client gives up */
                ;
        }
        close(c);
    }
}

static void
endpoint_start(struct endpoint *e, enum mode mode, const char *reply)
{
    memset(e, 0, sizeof(*e));
    e->mode = mode;
    e->reply = reply;
    e->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(e->fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(e->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(e->fd, 4), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(e->fd, (struct sockaddr *)&sa, &sl), 0);
    e->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&e->th, NULL, serve, e), 0);
}

static void
endpoint_stop(struct endpoint *e)
{
    shutdown(e->fd, SHUT_RDWR);
    close(e->fd);
    pthread_join(e->th, NULL);
}

static void
config_for(struct edge_two_factor_config *t, int port, int timeout_ms)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->webhook_endpoint, sizeof(t->webhook_endpoint), "http://127.0.0.1:%d/hook?key=q9zq",
             port);
    snprintf(t->webhook_origin, sizeof(t->webhook_origin), "http://127.0.0.1:%d", port);
    static const char hdrs[] = "X-Api-Key: " API_KEY "\0X-Empty;";
    memcpy(t->webhook_headers, hdrs, sizeof(hdrs));
    t->n_webhook_headers = 2;
    t->webhook_timeout_ms = timeout_ms;
}

/* Runs webhook_send with stderr captured into *log (free it). */
static int
send_logged(const struct edge_two_factor_config *t, char **log)
{
    struct webhook_user u = {"u-1", "alice@example.com", 1, "sms"};
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    int r = webhook_send(t, "rid7", &u, CODE);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    long n = ftell(tmp);
    *log = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    assert_non_null(*log);
    rewind(tmp);
    if (n > 0)
        assert_int_equal(fread(*log, 1, (size_t)n, tmp), (size_t)n);
    fclose(tmp);
    return r;
}

/* The log never shows the code, the API key, the body or the endpoint's query. */
static void
assert_log_clean(const char *log)
{
    assert_non_null(strstr(log, "event=webhook "));
    assert_non_null(strstr(log, "rid=rid7"));
    assert_null(strstr(log, CODE));
    assert_null(strstr(log, API_KEY));
    assert_null(strstr(log, "alice"));
    assert_null(strstr(log, "q9zq"));
    assert_int_equal(strchr(log, '\n'), log + strlen(log) - 1); /* one line */
}

static void
test_send_ok(void **state)
{
    (void)state;
    struct endpoint e;
    endpoint_start(&e, ANSWER, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    struct edge_two_factor_config t;
    config_for(&t, e.port, 5000);
    char *log = NULL;
    assert_int_equal(send_logged(&t, &log), AUTHD_OK);
    endpoint_stop(&e);

    assert_int_equal(e.requests, 1);
    assert_true(strncmp(e.got, "POST /hook?key=q9zq HTTP/1.1\r\n", 30) == 0);
    assert_non_null(strcasestr(e.got, "\r\nContent-Type: application/json\r\n"));
    assert_non_null(strstr(e.got, "\r\nX-Api-Key: " API_KEY "\r\n"));
    assert_non_null(strstr(e.got, "\r\nX-Empty:"));
    assert_null(strcasestr(e.got, "\r\nExpect:"));
    const char *body = strstr(e.got, "\r\n\r\n") + 4;
    struct webhook_user u = {"u-1", "alice@example.com", 1, "sms"};
    struct buf want;
    buf_init(&want, 4096);
    assert_int_equal(webhook_build_body(&want, &u, CODE), AUTHD_OK);
    assert_string_equal(body, want.data);
    buf_free(&want);

    assert_log_clean(log);
    assert_non_null(strstr(log, " ok=1 "));
    assert_non_null(strstr(log, " status=204 "));
    assert_non_null(strstr(log, " ms="));
    free(log);
}

static void
test_send_failures(void **state)
{
    (void)state;
    struct edge_two_factor_config t;
    char *log = NULL;

    /* a 5xx */
    struct endpoint e;
    endpoint_start(&e, ANSWER, "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy");
    config_for(&t, e.port, 5000);
    assert_int_equal(send_logged(&t, &log), AUTHD_ERR_UNAVAILABLE);
    endpoint_stop(&e);
    assert_log_clean(log);
    assert_non_null(strstr(log, " ok=0 "));
    assert_non_null(strstr(log, " status=503 "));
    free(log);

    /* a redirect is not followed: one request only, and a failure */
    endpoint_start(&e, ANSWER,
                   "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:9/x\r\n"
                   "Content-Length: 0\r\n\r\n");
    config_for(&t, e.port, 5000);
    assert_int_equal(send_logged(&t, &log), AUTHD_ERR_UNAVAILABLE);
    endpoint_stop(&e);
    assert_int_equal(e.requests, 1);
    assert_log_clean(log);
    free(log);

    /* an endpoint that never answers: the configured timeout ends it */
    endpoint_start(&e, HANG, NULL);
    config_for(&t, e.port, 300);
    assert_int_equal(send_logged(&t, &log), AUTHD_ERR_UNAVAILABLE);
    endpoint_stop(&e);
    assert_log_clean(log);
    assert_non_null(strstr(log, " err="));
    free(log);

    /* nobody listening */
    endpoint_start(&e, ANSWER, "");
    int port = e.port;
    endpoint_stop(&e);
    config_for(&t, port, 1000);
    assert_int_equal(send_logged(&t, &log), AUTHD_ERR_UNAVAILABLE);
    assert_log_clean(log);
    free(log);

    /* a scheme other than http(s) never leaves the process */
    config_for(&t, 1, 1000);
    snprintf(t.webhook_endpoint, sizeof(t.webhook_endpoint), "file:///etc/hostname");
    assert_int_equal(send_logged(&t, &log), AUTHD_ERR_UNAVAILABLE);
    free(log);

    /* no endpoint configured */
    struct webhook_user u = {"u", "e@example.com", 1, "sms"};
    memset(&t, 0, sizeof(t));
    assert_int_equal(webhook_send(&t, "r", &u, CODE), AUTHD_ERR_INVALID_ARGUMENT);
}

int
main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_shape),    cmocka_unit_test(test_body_escaping),
        cmocka_unit_test(test_user_from_msg), cmocka_unit_test(test_config_webhook),
        cmocka_unit_test(test_header_ok),     cmocka_unit_test(test_send_ok),
        cmocka_unit_test(test_send_failures),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return r;
}
