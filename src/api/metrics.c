/* Per-thread metric shards and their Prometheus exposition. */
#include "api/metrics.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_LINE 64
#define NS_PER_SEC 1e9
#define STATUS_CAP 600 /* statuses 0..599 have a slot entry */

/* The statuses the server answers with; any other counts as "other". Slot 0
 * is "other", so that the zero-initialised table maps unknown codes there. */
static const int statuses[] = {0,   200, 201, 204, 304, 400, 401, 403, 404, 405,
                               408, 409, 413, 415, 422, 429, 431, 500, 501, 503};
#define NSTATUS (sizeof statuses / sizeof statuses[0])

static const unsigned char status_slot[STATUS_CAP] = {
    [200] = 1,  [201] = 2,  [204] = 3,  [304] = 4,  [400] = 5,  [401] = 6,  [403] = 7,
    [404] = 8,  [405] = 9,  [408] = 10, [409] = 11, [413] = 12, [415] = 13, [422] = 14,
    [429] = 15, [431] = 16, [500] = 17, [501] = 18, [503] = 19,
};

/* Upper bounds of the latency buckets in nanoseconds, and as Prometheus
 * shows them; the last bucket (+Inf) has no bound. From half a millisecond,
 * since a page from the page cache takes about that, to ten seconds, the
 * request timeout. */
static const int64_t bucket_ns[] = {500000,     1000000,    2500000,    5000000,    10000000,
                                    25000000,   50000000,   100000000,  250000000,  500000000,
                                    1000000000, 2500000000, 5000000000, 10000000000};
static const char *const bucket_le[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01",
                                        "0.025",  "0.05",  "0.1",    "0.25",  "0.5",
                                        "1",      "2.5",   "5",      "10"};
#define NBOUNDS  (sizeof bucket_ns / sizeof bucket_ns[0])
#define NBUCKETS (NBOUNDS + 1)

struct route_stats {
    _Atomic uint64_t requests[NSTATUS];
    _Atomic uint64_t buckets[NBUCKETS]; /* not cumulative; the last is +Inf */
    _Atomic uint64_t sum_ns;
};

struct metrics_shard {
    const struct metrics *m; /* the registry, for the route labels */
    _Atomic uint64_t counters[METRICS_NCOUNTERS];
    struct route_stats routes[METRICS_MAX_ROUTES + 1]; /* the last is "other" */
};

struct metrics {
    const char *routes[METRICS_MAX_ROUTES];
    size_t nroutes;
    _Atomic(struct metrics_shard *) shards[METRICS_MAX_THREADS];
};

/* The shard metrics_db_error counts into: the one this thread created. */
static _Thread_local struct metrics_shard *thread_shard;

/* Adds n to a counter that only the calling thread writes. A relaxed load
 * and store, not a locked read-modify-write: no other thread can race the
 * update, and readers only need to see whole values. */
static inline void bump(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline uint64_t peek(const _Atomic uint64_t *c)
{
    return atomic_load_explicit((_Atomic uint64_t *)c, memory_order_relaxed);
}

struct metrics *metrics_new(const char *const *routes, size_t nroutes)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    for (size_t i = 0; i < nroutes && m->nroutes < METRICS_MAX_ROUTES; i++)
        m->routes[m->nroutes++] = routes[i];
    for (size_t i = 0; i < METRICS_MAX_THREADS; i++)
        atomic_init(&m->shards[i], NULL);
    return m;
}

void metrics_free(struct metrics **m)
{
    if (!m || !*m)
        return;
    for (size_t i = 0; i < METRICS_MAX_THREADS; i++) {
        struct metrics_shard *s = atomic_load(&(*m)->shards[i]);
        /* The calling thread may be one that counted (tests are). */
        if (s && s == thread_shard)
            thread_shard = NULL;
        free(s);
    }
    free(*m);
    *m = NULL;
}

struct metrics_shard *metrics_shard_new(struct metrics *m, unsigned thread_index)
{
    if (!m || thread_index >= METRICS_MAX_THREADS)
        return NULL;
    /* Cache-line aligned, so that two threads' shards never share a line. */
    size_t size = (sizeof(struct metrics_shard) + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    struct metrics_shard *s = aligned_alloc(CACHE_LINE, size);
    if (!s)
        return NULL;
    memset(s, 0, size);
    s->m = m;
    /* Release: a reader that finds the pointer also finds the zeroes. */
    struct metrics_shard *old =
        atomic_exchange_explicit(&m->shards[thread_index], s, memory_order_acq_rel);
    free(old);
    thread_shard = s;
    return s;
}

/* The slot of a route label: the same pointer as registered (the router's
 * table), else an equal string, else "other". */
static size_t route_slot(const struct metrics *m, const char *route)
{
    if (!route)
        return METRICS_MAX_ROUTES;
    for (size_t i = 0; i < m->nroutes; i++)
        if (m->routes[i] == route)
            return i;
    for (size_t i = 0; i < m->nroutes; i++)
        if (strcmp(m->routes[i], route) == 0)
            return i;
    return METRICS_MAX_ROUTES;
}

void metrics_observe(struct metrics_shard *s, const char *route, int status, int64_t duration_ns)
{
    if (!s)
        return;
    struct route_stats *rs = &s->routes[route_slot(s->m, route)];
    size_t st = status >= 0 && status < STATUS_CAP ? status_slot[status] : 0;
    bump(&rs->requests[st], 1);
    if (duration_ns < 0)
        duration_ns = 0;
    size_t b = 0;
    while (b < NBOUNDS && duration_ns > bucket_ns[b])
        b++;
    bump(&rs->buckets[b], 1);
    bump(&rs->sum_ns, (uint64_t)duration_ns);
}

void metrics_inc(struct metrics_shard *s, enum metrics_counter c)
{
    metrics_add(s, c, 1);
}

void metrics_add(struct metrics_shard *s, enum metrics_counter c, uint64_t n)
{
    if (s && c < METRICS_NCOUNTERS)
        bump(&s->counters[c], n);
}

void metrics_db_error(void)
{
    metrics_inc(thread_shard, METRICS_DB_ERRORS);
}

/* ---- exposition ---------------------------------------------------------- */

/* A label value with the escapes the text format defines. */
static void label_value(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            buf_putc(b, '\\');
        if (*s == '\n') {
            buf_puts(b, "\\n");
            continue;
        }
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

/* Sums one counter over all shards; offset is its place in a shard. */
static uint64_t sum(const struct metrics *m, size_t offset)
{
    uint64_t total = 0;
    for (size_t i = 0; i < METRICS_MAX_THREADS; i++) {
        struct metrics_shard *s = atomic_load_explicit(
            (_Atomic(struct metrics_shard *) *)&m->shards[i], memory_order_acquire);
        if (s)
            total += peek((const _Atomic uint64_t *)((const char *)s + offset));
    }
    return total;
}

#define ROUTE_FIELD(r, field)                                                                      \
    (offsetof(struct metrics_shard, routes) + (r) * sizeof(struct route_stats) +                   \
     offsetof(struct route_stats, field))

static const char *route_label(const struct metrics *m, size_t r)
{
    return r < m->nroutes ? m->routes[r] : METRICS_OTHER_ROUTE;
}

static size_t nslots(const struct metrics *m)
{
    return m->nroutes + 1;
}

static size_t slot_index(const struct metrics *m, size_t i)
{
    return i < m->nroutes ? i : METRICS_MAX_ROUTES;
}

static void render_requests(const struct metrics *m, struct buf *b)
{
    buf_puts(b, "# HELP closeloop_http_requests_total HTTP requests answered, by route and "
                "status.\n# TYPE closeloop_http_requests_total counter\n");
    for (size_t i = 0; i < nslots(m); i++) {
        size_t r = slot_index(m, i);
        for (size_t st = 0; st < NSTATUS; st++) {
            uint64_t n = sum(m, ROUTE_FIELD(r, requests) + st * sizeof(_Atomic uint64_t));
            if (!n)
                continue;
            buf_puts(b, "closeloop_http_requests_total{route=");
            label_value(b, route_label(m, i));
            if (statuses[st])
                buf_printf(b, ",status=\"%d\"} %llu\n", statuses[st], (unsigned long long)n);
            else
                buf_printf(b, ",status=\"other\"} %llu\n", (unsigned long long)n);
        }
    }
}

static void render_latency(const struct metrics *m, struct buf *b)
{
    buf_puts(b, "# HELP closeloop_http_request_duration_seconds Time from a request's arrival "
                "to its response, by route.\n"
                "# TYPE closeloop_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < nslots(m); i++) {
        size_t r = slot_index(m, i);
        uint64_t counts[NBUCKETS], total = 0;
        for (size_t k = 0; k < NBUCKETS; k++) {
            counts[k] = sum(m, ROUTE_FIELD(r, buckets) + k * sizeof(_Atomic uint64_t));
            total += counts[k];
        }
        if (!total)
            continue;
        uint64_t cumulative = 0;
        for (size_t k = 0; k < NBUCKETS; k++) {
            cumulative += counts[k];
            buf_puts(b, "closeloop_http_request_duration_seconds_bucket{route=");
            label_value(b, route_label(m, i));
            buf_printf(b, ",le=\"%s\"} %llu\n", k < NBOUNDS ? bucket_le[k] : "+Inf",
                       (unsigned long long)cumulative);
        }
        double secs = (double)sum(m, ROUTE_FIELD(r, sum_ns)) / NS_PER_SEC;
        buf_puts(b, "closeloop_http_request_duration_seconds_sum{route=");
        label_value(b, route_label(m, i));
        buf_printf(b, "} %.9f\n", secs);
        buf_puts(b, "closeloop_http_request_duration_seconds_count{route=");
        label_value(b, route_label(m, i));
        buf_printf(b, "} %llu\n", (unsigned long long)total);
    }
}

static void render_counter(const struct metrics *m, struct buf *b, const char *name,
                           const char *help, enum metrics_counter c)
{
    uint64_t n =
        sum(m, offsetof(struct metrics_shard, counters) + (size_t)c * sizeof(_Atomic uint64_t));
    buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
               (unsigned long long)n);
}

void metrics_render(const struct metrics *m, struct buf *out)
{
    render_requests(m, out);
    render_latency(m, out);
    render_counter(m, out, "closeloop_tokens_issued_total", "Access tokens issued.",
                   METRICS_TOKENS_ISSUED);
    render_counter(m, out, "closeloop_rate_limited_total",
                   "Requests refused with 429 by the per-app rate limit.", METRICS_RATE_LIMITED);
    render_counter(m, out, "closeloop_db_errors_total",
                   "Requests that failed because of a database error.", METRICS_DB_ERRORS);
    render_counter(m, out, "closeloop_write_transactions_total",
                   "Transactions of the write endpoints: one commit each, for one or more writes.",
                   METRICS_WRITE_TXS);
    render_counter(m, out, "closeloop_writes_total",
                   "Writes applied by the write endpoints' transactions.", METRICS_WRITES);
}
