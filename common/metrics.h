/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process-wide metrics in the Prometheus text exposition format (version 0.0.4). A series is a
 * metric name plus a label list; series appear on first use. Every function is thread-safe and
 * cheap enough for every request. Label values must come from small fixed sets (route
 * patterns, method names, status codes, outcomes), never from raw user input, so the number of
 * series stays bounded; metrics_labels() escapes values anyway. The registry holds at most 4096
 * series: a new one beyond that is dropped and counted in metrics_dropped_series_total. A
 * malformed name or label list is refused (never rendered). One name holds one kind of
 * samples: a counter or gauge name given to metrics_observe (or the reverse) is ignored.
 */
#ifndef AUTHD_COMMON_METRICS_H
#define AUTHD_COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum metrics_type { METRICS_COUNTER = 0, METRICS_HISTOGRAM = 1, METRICS_GAUGE = 2 };

/*
 * Declares a metric's type and # HELP text (both static strings). Call at start, before the
 * first use; a counter or gauge used without a declaration is rendered as untyped (a histogram
 * still as histogram). A family is rendered once it has a series: described but unused ones
 * are left out (count 0 into a counter without labels to show it at 0).
 */
void metrics_describe(const char *name, enum metrics_type type, const char *help);

/*
 * Adds n to the counter name{labels}. labels is NULL or "" for none, or a list built by
 * metrics_labels(), e.g. method="Login",code="OK". n 0 creates the series at 0.
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
 * gives method="Login",code="OK". Values are escaped (\\ \" \n); other control bytes and
 * bytes outside printable ASCII become '_'. A pair that does not fit, or whose key is not a
 * label name, ends the list there (never cut mid-value). Returns out.
 */
const char *metrics_labels(char *out, size_t cap, ...) __attribute__((sentinel));

/*
 * The whole registry in Prometheus text format, malloc'd (free() it), *len set to its length.
 * Families in first-use (or description) order, each with # HELP and # TYPE once, then its
 * series in creation order; metrics_dropped_series_total last. NULL on NOMEM.
 */
char *metrics_render(size_t *len);

/* Monotonic nanoseconds, for measuring latencies to pass to metrics_observe. */
uint64_t metrics_now_ns(void);

/* Forgets every series and description (unit tests only: nothing else may run meanwhile). */
void metrics_reset(void);

#endif
