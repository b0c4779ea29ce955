/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics registry. Series live in an open-addressing hash table whose slots are only ever
 * filled (never emptied, except by metrics_reset), so the hot path — finding an existing series
 * and adding to it — takes no lock: a lock-free probe, then atomic adds. Creating a series or
 * describing a family takes the one mutex, as does rendering. The number of series and families
 * is bounded; what does not fit is dropped and counted in metrics_dropped_series_total.
 */
#include "common/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define METRICS_MAX_SERIES 4096
#define METRICS_SLOTS 8192 /* power of two, twice the series: probes stay short, never full */
#define METRICS_MAX_FAMILIES 256
#define METRICS_MAX_NAME 128
#define METRICS_MAX_LABELS 512
#define METRICS_N_BUCKETS 15 /* the 14 bounds below, then +Inf */

#define DROPPED_NAME "metrics_dropped_series_total"

static const double bucket_bounds[METRICS_N_BUCKETS - 1] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const char *const bucket_les[METRICS_N_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25",   "0.5",   "1",      "2.5",   "5",    "10",    "+Inf"};

/* What the samples of a family are: set by its description, or by the first use of its name. */
enum kind { KIND_VALUE = 0, KIND_HISTOGRAM = 1 };

struct family;

struct series {
    struct family *fam;
    char *labels; /* "" for none */
    uint64_t hash;
    struct series *next; /* next series of the same family, in creation order */
    /* counter: value; gauge: bits of the double; histogram: unused */
    _Atomic uint64_t value;
    /* histogram only: bits of the double sum, and per-bucket (not cumulative) counts */
    _Atomic uint64_t sum_bits;
    _Atomic uint64_t buckets[METRICS_N_BUCKETS];
};

struct family {
    char name[METRICS_MAX_NAME];
    const char *help;       /* static; NULL until described */
    enum metrics_type type; /* meaningful when described */
    int described;
    int is_gauge; /* an undescribed value family first used by metrics_set */
    enum kind kind;
    struct series *first, *last;
    struct family *next; /* families in first-use order */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct series *) slots[METRICS_SLOTS];
static struct family *families_first, *families_last; /* guarded by reg_lock */
static size_t n_families, n_series;                   /* guarded by reg_lock */
static _Atomic uint64_t dropped;

/* FNV-1a over name, a separator that cannot occur in a name, and the labels. */
static uint64_t
series_hash(const char *name, const char *labels)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    h = (h ^ '{') * 0x100000001b3ull;
    for (const unsigned char *p = (const unsigned char *)labels; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return h;
}

/* Lock-free: slots are published with release stores and never cleared while in use. */
static struct series *
series_find(const char *name, const char *labels, uint64_t h)
{
    for (size_t i = (size_t)h & (METRICS_SLOTS - 1);; i = (i + 1) & (METRICS_SLOTS - 1)) {
        struct series *s = atomic_load_explicit(&slots[i], memory_order_acquire);
        if (s == NULL)
            return NULL;
        if (s->hash == h && strcmp(s->fam->name, name) == 0 && strcmp(s->labels, labels) == 0)
            return s;
    }
}

static int
name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= METRICS_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return 0;
    }
    return 1;
}

/*
 * A label list must be key="value" pairs separated by commas, values escaped as the format
 * requires, so that whatever a caller passes cannot break a line or the exposition.
 */
static int
labels_valid(const char *l)
{
    size_t n = strlen(l);
    if (n == 0)
        return 1;
    if (n >= METRICS_MAX_LABELS)
        return 0;
    const char *p = l;
    for (;;) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_'))
            return 0;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
               (*p >= '0' && *p <= '9'))
            p++;
        if (p[0] != '=' || p[1] != '"')
            return 0;
        p += 2;
        for (; *p != '"'; p++) {
            if (*p == '\0' || (unsigned char)*p < 0x20 || *p == 0x7f)
                return 0;
            if (*p == '\\') {
                p++;
                if (*p != '\\' && *p != '"' && *p != 'n')
                    return 0;
            }
        }
        p++;
        if (*p == '\0')
            return 1;
        if (*p != ',')
            return 0;
        p++;
    }
}

/* Under reg_lock. The family called name, created (undescribed) when absent; NULL when full. */
static struct family *
family_get(const char *name)
{
    for (struct family *f = families_first; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    if (n_families >= METRICS_MAX_FAMILIES)
        return NULL;
    struct family *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    memcpy(f->name, name, strlen(name) + 1);
    if (families_last != NULL)
        families_last->next = f;
    else
        families_first = f;
    families_last = f;
    n_families++;
    return f;
}

static enum kind
kind_of(enum metrics_type t)
{
    return t == METRICS_HISTOGRAM ? KIND_HISTOGRAM : KIND_VALUE;
}

/*
 * The series name{labels}, created on first use. NULL when the name or labels are malformed,
 * when the name is already used with the other kind of samples, or when the registry is full
 * (then counted as dropped).
 */
static struct series *
series_get(const char *name, const char *labels, enum kind kind, int gauge)
{
    if (labels == NULL)
        labels = "";
    uint64_t h = series_hash(name, labels);
    struct series *s = series_find(name, labels, h);
    if (s != NULL)
        return s->fam->kind == kind ? s : NULL;
    if (!name_valid(name) || !labels_valid(labels))
        return NULL;

    pthread_mutex_lock(&reg_lock);
    s = series_find(name, labels, h);
    if (s != NULL)
        goto out;
    struct family *f = family_get(name);
    if (f == NULL || n_series >= METRICS_MAX_SERIES) {
        atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
        goto out;
    }
    if (f->first == NULL && !f->described) {
        f->kind = kind;
        f->is_gauge = gauge;
    }
    if (f->kind != kind)
        goto out;
    s = calloc(1, sizeof(*s));
    size_t ll = strlen(labels);
    char *lcopy = malloc(ll + 1);
    if (s == NULL || lcopy == NULL) {
        free(s);
        free(lcopy);
        s = NULL;
        atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
        goto out;
    }
    memcpy(lcopy, labels, ll + 1);
    s->fam = f;
    s->labels = lcopy;
    s->hash = h;
    if (f->last != NULL)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    n_series++;
    size_t i = (size_t)h & (METRICS_SLOTS - 1);
    while (atomic_load_explicit(&slots[i], memory_order_relaxed) != NULL)
        i = (i + 1) & (METRICS_SLOTS - 1);
    atomic_store_explicit(&slots[i], s, memory_order_release);
out:
    pthread_mutex_unlock(&reg_lock);
    return (s != NULL && s->fam->kind == kind) ? s : NULL;
}

static uint64_t
double_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double
bits_double(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

void
metrics_describe(const char *name, enum metrics_type type, const char *help)
{
    if (name == NULL || !name_valid(name))
        return;
    pthread_mutex_lock(&reg_lock);
    struct family *f = family_get(name);
    /* A description never changes the kind of samples a family already has. */
    if (f != NULL && (f->first == NULL || f->kind == kind_of(type))) {
        f->help = help;
        f->type = type;
        f->kind = kind_of(type);
        f->described = 1;
    }
    pthread_mutex_unlock(&reg_lock);
}

void
metrics_count(const char *name, const char *labels, uint64_t n)
{
    struct series *s = series_get(name, labels, KIND_VALUE, 0);
    if (s != NULL && n != 0)
        atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void
metrics_set(const char *name, const char *labels, double v)
{
    struct series *s = series_get(name, labels, KIND_VALUE, 1);
    if (s != NULL)
        atomic_store_explicit(&s->value, double_bits(v), memory_order_relaxed);
}

void
metrics_observe(const char *name, const char *labels, double seconds)
{
    if (isnan(seconds))
        return;
    struct series *s = series_get(name, labels, KIND_HISTOGRAM, 0);
    if (s == NULL)
        return;
    size_t b = 0;
    while (b < METRICS_N_BUCKETS - 1 && seconds > bucket_bounds[b])
        b++;
    atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&s->sum_bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&s->sum_bits, &old,
                                                  double_bits(bits_double(old) + seconds),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

const char *
metrics_labels(char *out, size_t cap, ...)
{
    if (cap == 0)
        return out;
    size_t o = 0;
    out[0] = '\0';
    va_list ap;
    va_start(ap, cap);
    const char *key;
    while ((key = va_arg(ap, const char *)) != NULL) {
        const char *val = va_arg(ap, const char *);
        if (val == NULL)
            val = "";
        /* Build the pair aside and append it only whole, so a list never ends mid-value. */
        char pair[METRICS_MAX_LABELS];
        size_t p = 0;
        int ok = 1;
        if (o > 0)
            pair[p++] = ',';
        for (const char *k = key; *k && ok; k++) {
            int c = (unsigned char)*k;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (k != key && c >= '0' && c <= '9')) ||
                p + 1 >= sizeof(pair))
                ok = 0;
            else
                pair[p++] = (char)c;
        }
        if (!ok || key[0] == '\0' || p + 2 >= sizeof(pair))
            break;
        pair[p++] = '=';
        pair[p++] = '"';
        for (const unsigned char *v = (const unsigned char *)val; *v && ok; v++) {
            char esc[2];
            size_t n = 0;
            if (*v == '\\' || *v == '"') {
                esc[n++] = '\\';
                esc[n++] = (char)*v;
            } else if (*v == '\n') {
                esc[n++] = '\\';
                esc[n++] = 'n';
            } else if (*v < 0x20 || *v >= 0x7f) {
                esc[n++] = '_'; /* bytes that are not printable ASCII never reach the output */
            } else {
                esc[n++] = (char)*v;
            }
            if (p + n + 1 >= sizeof(pair)) {
                ok = 0;
                break;
            }
            memcpy(pair + p, esc, n);
            p += n;
        }
        if (!ok)
            break;
        pair[p++] = '"';
        if (o + p + 1 > cap)
            break;
        memcpy(out + o, pair, p);
        o += p;
        out[o] = '\0';
    }
    va_end(ap);
    return out;
}

/* ---- rendering ---------------------------------------------------------------------- */

struct out {
    char *buf;
    size_t len, cap;
    int failed;
};

static void
out_add(struct out *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (o->len + n + 1 > cap)
            cap *= 2;
        char *b = realloc(o->buf, cap);
        if (b == NULL) {
            o->failed = 1;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void
out_str(struct out *o, const char *s)
{
    out_add(o, s, strlen(s));
}

/* The shortest decimal form that reads back as exactly v, or +Inf, -Inf, NaN. */
static void
out_double(struct out *o, double v)
{
    char b[40];
    if (isnan(v)) {
        out_str(o, "NaN");
        return;
    }
    if (isinf(v)) {
        out_str(o, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(b, sizeof(b), "%.*g", prec, v);
        if (strtod(b, NULL) == v)
            break;
    }
    out_str(o, b);
}

static void
out_u64(struct out *o, uint64_t v)
{
    char b[24];
    snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
    out_str(o, b);
}

/* HELP text escapes backslash and newline. */
static void
out_help(struct out *o, const char *help)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            out_str(o, "\\\\");
        else if (*p == '\n')
            out_str(o, "\\n");
        else
            out_add(o, p, 1);
    }
}

static void
out_header(struct out *o, const char *name, const char *help, const char *type)
{
    if (help != NULL) {
        out_str(o, "# HELP ");
        out_str(o, name);
        out_str(o, " ");
        out_help(o, help);
        out_str(o, "\n");
    }
    out_str(o, "# TYPE ");
    out_str(o, name);
    out_str(o, " ");
    out_str(o, type);
    out_str(o, "\n");
}

static void
out_histogram(struct out *o, const char *name, const struct series *s)
{
    uint64_t cum = 0;
    for (size_t b = 0; b < METRICS_N_BUCKETS; b++) {
        cum += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
        out_str(o, name);
        out_str(o, "_bucket{");
        if (s->labels[0] != '\0') {
            out_str(o, s->labels);
            out_str(o, ",");
        }
        out_str(o, "le=\"");
        out_str(o, bucket_les[b]);
        out_str(o, "\"} ");
        out_u64(o, cum);
        out_str(o, "\n");
    }
    const char *suffix[2] = {"_sum", "_count"};
    for (int i = 0; i < 2; i++) {
        out_str(o, name);
        out_str(o, suffix[i]);
        if (s->labels[0] != '\0') {
            out_str(o, "{");
            out_str(o, s->labels);
            out_str(o, "}");
        }
        out_str(o, " ");
        /* _count is the +Inf bucket, so the two always agree even while others observe. */
        if (i == 0)
            out_double(o, bits_double(atomic_load_explicit(&s->sum_bits, memory_order_relaxed)));
        else
            out_u64(o, cum);
        out_str(o, "\n");
    }
}

static const char *
family_type_name(const struct family *f)
{
    if (f->kind == KIND_HISTOGRAM)
        return "histogram";
    if (!f->described)
        return "untyped";
    return f->type == METRICS_GAUGE ? "gauge" : "counter";
}

char *
metrics_render(size_t *len)
{
    struct out o = {0};
    *len = 0;
    pthread_mutex_lock(&reg_lock);
    for (const struct family *f = families_first; f != NULL; f = f->next) {
        if (f->first == NULL)
            continue; /* described but never used: nothing to show yet */
        out_header(&o, f->name, f->help, family_type_name(f));
        for (const struct series *s = f->first; s != NULL; s = s->next) {
            if (f->kind == KIND_HISTOGRAM) {
                out_histogram(&o, f->name, s);
                continue;
            }
            out_str(&o, f->name);
            if (s->labels[0] != '\0') {
                out_str(&o, "{");
                out_str(&o, s->labels);
                out_str(&o, "}");
            }
            out_str(&o, " ");
            uint64_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
            int gauge = f->described ? f->type == METRICS_GAUGE : f->is_gauge;
            if (gauge)
                out_double(&o, bits_double(v));
            else
                out_u64(&o, v);
            out_str(&o, "\n");
        }
    }
    pthread_mutex_unlock(&reg_lock);
    out_header(&o, DROPPED_NAME, "Series not recorded because the registry was full.", "counter");
    out_str(&o, DROPPED_NAME " ");
    out_u64(&o, atomic_load_explicit(&dropped, memory_order_relaxed));
    out_str(&o, "\n");
    if (o.failed) {
        free(o.buf);
        return NULL;
    }
    *len = o.len;
    return o.buf;
}

uint64_t
metrics_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void
metrics_reset(void)
{
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < METRICS_SLOTS; i++)
        atomic_store_explicit(&slots[i], NULL, memory_order_relaxed);
    struct family *f = families_first;
    while (f != NULL) {
        struct family *fn = f->next;
        struct series *s = f->first;
        while (s != NULL) {
            struct series *sn = s->next;
            free(s->labels);
            free(s);
            s = sn;
        }
        free(f);
        f = fn;
    }
    families_first = families_last = NULL;
    n_families = n_series = 0;
    atomic_store_explicit(&dropped, 0, memory_order_relaxed);
    pthread_mutex_unlock(&reg_lock);
}
