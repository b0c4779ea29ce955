/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One log line per event, logfmt style on stderr:
 *   ts=2026-11-28T06:09:25.123Z level=info prog=authd event=login_ok user=... peer=...
 * Callers pass key=value pairs already formatted; values from users must go through
 * log_quote() so that a value can never forge another key or line. Never log a secret.
 */
#ifndef AUTHD_COMMON_LOG_H
#define AUTHD_COMMON_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Sets the program name shown as prog= and the minimum level. Call once at start. */
void log_init(const char *prog, enum log_level min);

/* Parses "debug", "info", "warn", "error" into *out; returns 0, or -1 when unknown. */
int log_level_parse(const char *s, enum log_level *out);

/* Emits one line "ts=.. level=.. prog=.. event=<event> <fmt...>" atomically. */
void log_event(enum log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Writes s as a logfmt value into out (capacity cap, always NUL-terminated): bare when it has
 * only safe characters, else in double quotes with \" \\ \n and control bytes escaped; cut at
 * cap with "..." when longer. Returns out, so it can be used inline in log_event arguments.
 */
const char *log_quote(const char *s, char *out, size_t cap);

/*
 * Emits a library's printf-style message (libmicrohttpd's logger, say) as one line
 * "event=<event> msg=<message>", trailing line ends dropped, the message quoted.
 */
void log_vmessage(enum log_level lvl, const char *event, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
