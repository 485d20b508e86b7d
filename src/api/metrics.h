/* The server's metrics, served by GET /metrics in the Prometheus text
 * exposition format 0.0.4.
 *
 * Every worker thread counts into its own shard: plain loads and stores of
 * relaxed atomics, no lock and no shared cache line on the request path.
 * Only the shard's thread writes it; the thread that serves /metrics reads
 * every shard with relaxed loads and sums them, so a scrape sees each
 * counter at some recent value (counters never go backwards).
 *
 * Exposed:
 *   closeloop_http_requests_total{route,status}            counter
 *   closeloop_http_request_duration_seconds{route}          histogram
 *   closeloop_tokens_issued_total                           counter
 *   closeloop_rate_limited_total                            counter
 *   closeloop_db_errors_total                               counter
 *   closeloop_write_transactions_total                      counter
 *   closeloop_writes_total                                  counter
 * (writes / write transactions is the mean size of a group commit.)
 * route is a route's path template, or "other" for requests that matched
 * none (404s). */
#ifndef CL_API_METRICS_H
#define CL_API_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define METRICS_MAX_THREADS  258 /* shards: the server's 256 worker threads, */
#define METRICS_WRITER_SHARD 256 /* its writer */
#define METRICS_SYNCER_SHARD 257 /* and the writer's syncer (api/writer.c) */
#define METRICS_MAX_ROUTES   24  /* labels beyond count as "other" */
#define METRICS_OTHER_ROUTE  "other"
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum metrics_counter {
    METRICS_TOKENS_ISSUED, /* access tokens signed by POST /oauth2/token */
    METRICS_RATE_LIMITED,  /* requests answered 429 by the rate limiter */
    METRICS_DB_ERRORS,     /* requests failed by a database error (500/503) */
    METRICS_WRITE_TXS,     /* transactions of the write endpoints (one commit each) */
    METRICS_WRITES,        /* writes applied in them */
    METRICS_NCOUNTERS
};

struct metrics;       /* process-wide */
struct metrics_shard; /* one per worker thread */

/* Creates the registry for the route labels given (static strings, borrowed
 * for the registry's life); "other" is added. NULL when out of memory. */
struct metrics *metrics_new(const char *const *routes, size_t nroutes);

/* Frees the registry and every shard, and sets *m to NULL. Only once no
 * thread uses a shard any more. NULL-safe. */
void metrics_free(struct metrics **m);

/* Creates the shard of worker thread_index, owned by the registry, and binds
 * it to the calling thread for metrics_db_error. NULL when out of memory or
 * thread_index >= METRICS_MAX_THREADS. */
struct metrics_shard *metrics_shard_new(struct metrics *m, unsigned thread_index);

/* Counts one finished request: its route label (one of the registry's, else
 * it counts as "other"; NULL is "other"), its status and how long it took.
 * Only the shard's own thread may call this and metrics_inc. NULL-safe. */
void metrics_observe(struct metrics_shard *s, const char *route, int status, int64_t duration_ns);

/* Adds one (metrics_add: n) to counter c. NULL-safe. */
void metrics_inc(struct metrics_shard *s, enum metrics_counter c);
void metrics_add(struct metrics_shard *s, enum metrics_counter c, uint64_t n);

/* Adds one to METRICS_DB_ERRORS of the calling thread's shard, for code that
 * has no shard at hand (the shared store-error response). A no-op on a
 * thread without a shard, e.g. in the command line tools. */
void metrics_db_error(void);

/* Appends the exposition of every metric, summed over all shards, to out. */
void metrics_render(const struct metrics *m, struct buf *out);

#endif
