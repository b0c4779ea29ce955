/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process-wide metrics in the Prometheus text exposition format (version 0.0.4). A series is a
 * metric name plus a label list; series appear on first use. Every function is thread-safe and
 * cheap enough for every request. Label values must come from small fixed sets (route
 * patterns, method names, status codes, outcomes), never from raw user input, so the number of
 * series stays bounded; metrics_labels() escapes values anyway.
 */
#ifndef AUTHD_COMMON_METRICS_H
#define AUTHD_COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum metrics_type { METRICS_COUNTER = 0, METRICS_HISTOGRAM = 1, METRICS_GAUGE = 2 };

/*
 * Declares a metric's type and # HELP text (both static strings). Call at start, before the
 * first use; a name used without a declaration is rendered as untyped.
 */
void metrics_describe(const char *name, enum metrics_type type, const char *help);

/*
 * Adds n to the counter name{labels}. labels is NULL or "" for none, or a list built by
 * metrics_labels(), e.g. method="Login",code="OK".
 */
void metrics_count(const char *name, const char *labels, uint64_t n);

/* Sets the gauge name{labels} to v. */
void metrics_set(const char *name, const char *labels, double v);

/*
 * Records an observation (in seconds) in the histogram name{labels}, with fixed buckets
 * 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 +Inf (rendered as
 * name_bucket{...,le=".."}, name_sum and name_count).
 */
void metrics_observe(const char *name, const char *labels, double seconds);

/*
 * Formats a label list into out (capacity cap, always NUL-terminated) from NULL-terminated
 * key, value pairs: metrics_labels(buf, sizeof buf, "method", "Login", "code", "OK", NULL)
 * gives method="Login",code="OK". Values are escaped (\\ \" \n). Returns out.
 */
const char *metrics_labels(char *out, size_t cap, ...) __attribute__((sentinel));

/*
 * The whole registry in Prometheus text format, malloc'd (free() it), *len set to its length.
 * NULL on NOMEM.
 */
char *metrics_render(size_t *len);

/* Monotonic nanoseconds, for measuring latencies to pass to metrics_observe. */
uint64_t metrics_now_ns(void);

/* Forgets every series and description (unit tests only). */
void metrics_reset(void);

#endif
