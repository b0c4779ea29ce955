/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logfmt writer. Each line is formatted into a stack buffer and written with one write(2), so
 * lines from many threads never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static const char *log_prog = "authd";
static enum log_level log_min = LOG_INFO;

void
log_init(const char *prog, enum log_level min)
{
    log_prog = prog;
    log_min = min;
}

int
log_level_parse(const char *s, enum log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void
log_event(enum log_level lvl, const char *event, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (lvl < log_min)
        return;
    char line[4096];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s prog=%s event=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (long)(tv.tv_usec / 1000), names[lvl], log_prog, event);
    if (n < 0 || (size_t)n >= sizeof(line) - 2)
        return;
    if (fmt != NULL && fmt[0] != '\0') {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
        va_end(ap);
        if (m < 0)
            m = 0;
        n += m;
        if ((size_t)n > sizeof(line) - 2)
            n = (int)sizeof(line) - 2;
    }
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

/* Writes the logfmt form of byte c into esc (bare, or inside quotes); returns its length. */
static size_t
quote_escape(unsigned char c, int bare, char esc[5])
{
    if (bare || (c >= ' ' && c != '"' && c != '\\' && c != 0x7f)) {
        esc[0] = (char)c;
        return 1;
    }
    if (c == '"' || c == '\\') {
        esc[0] = '\\';
        esc[1] = (char)c;
        return 2;
    }
    if (c == '\n') {
        esc[0] = '\\';
        esc[1] = 'n';
        return 2;
    }
    snprintf(esc, 5, "\\x%02x", c);
    return 4;
}

const char *
log_quote(const char *s, char *out, size_t cap)
{
    if (cap < 8) {
        if (cap > 0)
            out[0] = '\0';
        return out;
    }
    if (s == NULL)
        s = "";
    int bare = s[0] != '\0';
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) {
            bare = 0;
            break;
        }
    }
    /* Measure first (stopping once it cannot fit), so that a value that fits is never cut. */
    char esc[5];
    size_t need = bare ? 0 : 2;
    for (const char *p = s; *p && need < cap; p++)
        need += quote_escape((unsigned char)*p, bare, esc);
    int cut = need >= cap;
    size_t o = 0;
    size_t limit = cap - 5; /* room for "...", closing quote and NUL */
    if (!bare)
        out[o++] = '"';
    for (const char *p = s; *p; p++) {
        size_t el = quote_escape((unsigned char)*p, bare, esc);
        if (cut && o + el > limit) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, esc, el);
        o += el;
    }
    if (!bare)
        out[o++] = '"';
    out[o] = '\0';
    return out;
}

void
log_vmessage(enum log_level lvl, const char *event, const char *fmt, va_list ap)
{
    char msg[512], q[600];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_event(lvl, event, "msg=%s", log_quote(msg, q, sizeof(q)));
}
