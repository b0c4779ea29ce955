/* SPDX-License-Identifier: Apache-2.0 */
/*
 * E-mail: the console provider for development and tests, SMTP through libcurl for real use.
 * Header values never carry CR or LF (no header injection), the body's line ends are made
 * CRLF, and every buffer that held the message (it carries a one-time link) is wiped. Every
 * mail not sent counts in edge_mail_failures_total{kind}.
 */
#include "edge/mail.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "common/err.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/secret.h"

#define MAIL_MAX_MESSAGE ((size_t)64 * 1024)

/* kind: queue_full (mail_send_later refused it), invalid (a bad address or header), smtp (the
 * server could not be reached or refused it), internal (out of memory and the like). */
static void
count_failure(const char *kind)
{
    char labels[48];
    metrics_count("edge_mail_failures_total",
                  metrics_labels(labels, sizeof(labels), "kind", kind, NULL), 1);
}

/* A message waiting for the background sender (mail_send_later). */
struct mail_job {
    struct mail_job *next;
    char rid[32];
    char *to, *subject, *body, *link;
};

#define MAIL_QUEUE_MAX 256

struct mail {
    /* the background sender */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t th;
    int th_started;
    int stopping;
    struct mail_job *head, *tail;
    size_t queued;

    enum mail_provider provider;
    enum mail_starttls starttls;
    long timeout_s;
    char *smtp_url;
    char *from;      /* header form, may include a display name */
    char *from_addr; /* bare address for MAIL FROM */
    char *user;
    char *password;
};

/* 1 when s holds no control byte (CR, LF, NUL-free by construction, DEL...). */
static int
header_safe(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* 1 when s looks like a bare address usable in SMTP envelopes: x@y, no space, <, > or control. */
static int
address_safe(const char *s)
{
    if (s == NULL || s[0] == '\0' || strchr(s, '@') == NULL)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>' || *p == '"' || *p == ',')
            return 0;
    return 1;
}

/* Appends s as an RFC 2047 Q-encoded word when it is not plain printable ASCII. */
static int
append_header_text(struct buf *b, const char *s)
{
    int ascii = 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x80)
            ascii = 0;
    if (ascii)
        return buf_puts(b, s);
    static const char hex[] = "0123456789ABCDEF";
    int r = buf_puts(b, "=?UTF-8?Q?");
    for (const unsigned char *p = (const unsigned char *)s; *p && r == AUTHD_OK; p++) {
        if (*p == ' ') {
            r = buf_puts(b, "_");
        } else if (*p >= 0x80 || *p == '=' || *p == '?' || *p == '_') {
            char e[3] = {'=', hex[*p >> 4], hex[*p & 15]};
            r = buf_append(b, e, 3);
        } else {
            r = buf_append(b, p, 1);
        }
    }
    if (r == AUTHD_OK)
        r = buf_puts(b, "?=");
    return r;
}

int
mail_build_message(struct buf *out, const char *from, const char *to, const char *subject,
                   const char *body)
{
    if (from == NULL || to == NULL || subject == NULL || body == NULL || !header_safe(from) ||
        !header_safe(to) || !header_safe(subject))
        return AUTHD_ERR_INVALID_ARGUMENT;

    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);

    uint8_t rnd[12];
    char id[sizeof(rnd) * 2 + 1];
    if (secret_random(rnd, sizeof(rnd)) != AUTHD_OK)
        return AUTHD_ERR_INTERNAL;
    secret_hex(rnd, sizeof(rnd), id);
    const char *at = strrchr(from, '@');
    const char *domain = at != NULL ? at + 1 : "authd.invalid";
    size_t dlen = strcspn(domain, "> ");
    if (dlen == 0) {
        domain = "authd.invalid";
        dlen = strlen(domain);
    }

    int r = buf_puts(out, "From: ");
    if (r == AUTHD_OK)
        r = buf_puts(out, from);
    if (r == AUTHD_OK)
        r = buf_printf(out, "\r\nTo: %s\r\nSubject: ", to);
    if (r == AUTHD_OK)
        r = append_header_text(out, subject);
    if (r == AUTHD_OK)
        r = buf_printf(out,
                       "\r\nDate: %s\r\nMessage-ID: <%s@%.*s>\r\nMIME-Version: 1.0\r\n"
                       "Content-Type: text/plain; charset=utf-8\r\n"
                       "Content-Transfer-Encoding: 8bit\r\n\r\n",
                       date, id, (int)dlen, domain);
    for (const char *p = body; *p && r == AUTHD_OK; p++) {
        if (*p == '\r')
            continue; /* re-added before every LF */
        if (*p == '\n')
            r = buf_puts(out, "\r\n");
        else
            r = buf_append(out, p, 1);
    }
    if (r == AUTHD_OK && (out->len < 2 || memcmp(out->data + out->len - 2, "\r\n", 2) != 0))
        r = buf_puts(out, "\r\n");
    return r;
}

static char *
dup_or_null(const char *s, int *failed)
{
    if (s == NULL || s[0] == '\0')
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *failed = 1;
    return d;
}

static void
job_free(struct mail_job *j)
{
    if (j == NULL)
        return;
    free(j->to);
    free(j->subject);
    secret_strfree(j->body); /* bodies hold single-use links */
    secret_strfree(j->link);
    free(j);
}

/* The background sender: sends queued messages in order; on stop, sends what is queued. */
static void *
mail_worker(void *arg)
{
    struct mail *m = arg;
    pthread_mutex_lock(&m->lock);
    for (;;) {
        while (m->head == NULL && !m->stopping)
            pthread_cond_wait(&m->wake, &m->lock);
        struct mail_job *j = m->head;
        if (j == NULL)
            break; /* stopping and drained */
        m->head = j->next;
        if (m->head == NULL)
            m->tail = NULL;
        m->queued--;
        pthread_mutex_unlock(&m->lock);
        mail_send(m, j->rid, j->to, j->subject, j->body, j->link);
        job_free(j);
        pthread_mutex_lock(&m->lock);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

int
mail_send_later(struct mail *m, const char *rid, const char *to, const char *subject,
                const char *body, const char *link)
{
    struct mail_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return AUTHD_ERR_NOMEM;
    snprintf(j->rid, sizeof(j->rid), "%s", rid != NULL ? rid : "-");
    j->to = strdup(to != NULL ? to : "");
    j->subject = strdup(subject != NULL ? subject : "");
    j->body = strdup(body != NULL ? body : "");
    j->link = link != NULL ? strdup(link) : NULL;
    if (j->to == NULL || j->subject == NULL || j->body == NULL ||
        (link != NULL && j->link == NULL)) {
        job_free(j);
        return AUTHD_ERR_NOMEM;
    }
    pthread_mutex_lock(&m->lock);
    int r = AUTHD_OK;
    if (!m->th_started || m->stopping || m->queued >= MAIL_QUEUE_MAX) {
        r = AUTHD_ERR_UNAVAILABLE;
    } else {
        if (m->tail != NULL)
            m->tail->next = j;
        else
            m->head = j;
        m->tail = j;
        m->queued++;
        pthread_cond_signal(&m->wake);
    }
    pthread_mutex_unlock(&m->lock);
    if (r != AUTHD_OK) {
        log_event(LOG_WARN, "mail_failed", "rid=%s reason=queue_full", j->rid);
        count_failure("queue_full");
        job_free(j);
    }
    return r;
}

void
mail_free(struct mail *m)
{
    if (m == NULL)
        return;
    if (m->th_started) {
        pthread_mutex_lock(&m->lock);
        m->stopping = 1;
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->th, NULL);
    }
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->wake);
    free(m->smtp_url);
    free(m->from);
    free(m->from_addr);
    free(m->user);
    secret_strfree(m->password);
    free(m);
}

int
mail_new(const struct mail_opts *o, struct mail **out)
{
    *out = NULL;
    struct mail *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return AUTHD_ERR_NOMEM;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->wake, NULL);
    int failed = 0;
    m->provider = o->provider;
    m->starttls = o->starttls;
    m->timeout_s = o->timeout_s > 0 ? o->timeout_s : 10;
    m->smtp_url = dup_or_null(o->smtp_url, &failed);
    m->from = dup_or_null(o->from, &failed);
    m->user = dup_or_null(o->user, &failed);
    m->password = dup_or_null(o->password, &failed);
    if (failed) {
        mail_free(m);
        return AUTHD_ERR_NOMEM;
    }
    if (m->provider == MAIL_SMTP) {
        if (m->smtp_url == NULL || m->from == NULL || !header_safe(m->from) ||
            (strncasecmp(m->smtp_url, "smtp://", 7) != 0 &&
             strncasecmp(m->smtp_url, "smtps://", 8) != 0)) {
            mail_free(m);
            return AUTHD_ERR_INVALID_ARGUMENT;
        }
        /* "Name <addr>" in the header, bare addr in the envelope. */
        const char *lt = strrchr(m->from, '<');
        const char *gt = lt != NULL ? strchr(lt, '>') : NULL;
        m->from_addr =
            lt != NULL && gt != NULL ? strndup(lt + 1, (size_t)(gt - lt - 1)) : strdup(m->from);
        if (m->from_addr == NULL) {
            mail_free(m);
            return AUTHD_ERR_NOMEM;
        }
        if (!address_safe(m->from_addr)) {
            mail_free(m);
            return AUTHD_ERR_INVALID_ARGUMENT;
        }
    }
    if (pthread_create(&m->th, NULL, mail_worker, m) != 0) {
        mail_free(m);
        return AUTHD_ERR_NOMEM;
    }
    m->th_started = 1;
    *out = m;
    return AUTHD_OK;
}

struct upload {
    const char *data;
    size_t len;
    size_t pos;
};

static size_t
on_read(char *ptr, size_t size, size_t nmemb, void *userp)
{
    struct upload *u = userp;
    size_t room = size * nmemb;
    size_t n = u->len - u->pos < room ? u->len - u->pos : room;
    memcpy(ptr, u->data + u->pos, n);
    u->pos += n;
    return n;
}

static int
send_smtp(struct mail *m, const char *rid, const char *to, const struct buf *msg)
{
    char envelope_to[320], envelope_from[320];
    if (strlen(to) + 3 > sizeof(envelope_to) || strlen(m->from_addr) + 3 > sizeof(envelope_from))
        return AUTHD_ERR_INVALID_ARGUMENT;
    snprintf(envelope_to, sizeof(envelope_to), "<%s>", to);
    snprintf(envelope_from, sizeof(envelope_from), "<%s>", m->from_addr);

    CURL *c = curl_easy_init();
    if (c == NULL)
        return AUTHD_ERR_NOMEM;
    struct curl_slist *rcpt = curl_slist_append(NULL, envelope_to);
    struct upload u = {msg->data, msg->len, 0};
    long use_ssl = m->starttls == MAIL_STARTTLS_REQUIRED ? (long)CURLUSESSL_ALL
                   : m->starttls == MAIL_STARTTLS_TRY    ? (long)CURLUSESSL_TRY
                                                         : (long)CURLUSESSL_NONE;
    int r = AUTHD_ERR_UNAVAILABLE;
    CURLcode cr = CURLE_OUT_OF_MEMORY;
    if (rcpt == NULL)
        goto out;
    curl_easy_setopt(c, CURLOPT_URL, m->smtp_url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, envelope_from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &u);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_USE_SSL, use_ssl);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, m->timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, m->timeout_s < 5 ? m->timeout_s : 5L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (m->user != NULL)
        curl_easy_setopt(c, CURLOPT_USERNAME, m->user);
    if (m->password != NULL)
        curl_easy_setopt(c, CURLOPT_PASSWORD, m->password);
    cr = curl_easy_perform(c);
    if (cr == CURLE_OK)
        r = AUTHD_OK;
out:
    if (r != AUTHD_OK) {
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        char qerr[160];
        log_event(LOG_ERROR, "mail_failed", "rid=%s provider=smtp err=%s smtp_code=%ld", rid,
                  log_quote(curl_easy_strerror(cr), qerr, sizeof(qerr)), code);
    }
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    return r;
}

static int
send_one(struct mail *m, const char *rid, const char *to, const char *subject, const char *body,
         const char *link)
{
    if (!address_safe(to))
        return AUTHD_ERR_INVALID_ARGUMENT;
    if (m->provider == MAIL_CONSOLE) {
        if (!header_safe(subject))
            return AUTHD_ERR_INVALID_ARGUMENT;
        /* The body as the recipient would read it, link included (a developer reads these
         * mails here); the link also gets its own link= key, which is what scripts match. */
        char qto[320], qsubject[256], qlink[2048], qbody[3072];
        log_event(LOG_INFO, "mail", "rid=%s provider=console to=%s subject=%s link=%s body=%s", rid,
                  log_quote(to, qto, sizeof(qto)), log_quote(subject, qsubject, sizeof(qsubject)),
                  log_quote(link, qlink, sizeof(qlink)),
                  log_quote(body != NULL ? body : "", qbody, sizeof(qbody)));
        secret_wipe(qlink, sizeof(qlink));
        secret_wipe(qbody, sizeof(qbody));
        return AUTHD_OK;
    }
    struct buf msg;
    buf_init(&msg, MAIL_MAX_MESSAGE);
    int r = mail_build_message(&msg, m->from, to, subject, body);
    if (r == AUTHD_OK)
        r = send_smtp(m, rid, to, &msg);
    else
        log_event(LOG_ERROR, "mail_failed", "rid=%s provider=smtp err=%s", rid,
                  authd_err_reason(r));
    buf_free(&msg);
    if (r == AUTHD_OK) {
        char qsubject[256];
        log_event(LOG_INFO, "mail_sent", "rid=%s provider=smtp subject=%s", rid,
                  log_quote(subject, qsubject, sizeof(qsubject)));
    }
    return r;
}

int
mail_send(struct mail *m, const char *rid, const char *to, const char *subject, const char *body,
          const char *link)
{
    int r = send_one(m, rid != NULL ? rid : "-", to, subject, body, link);
    if (r == AUTHD_ERR_INVALID_ARGUMENT)
        count_failure("invalid");
    else if (r == AUTHD_ERR_UNAVAILABLE)
        count_failure("smtp");
    else if (r != AUTHD_OK)
        count_failure("internal");
    return r;
}
