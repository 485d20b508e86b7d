/* The metrics registry: counting by route and status, the histogram's
 * buckets, shards summed across threads, and the exposition format. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/metrics.h"

#define MS         1000000LL
#define NTHREADS   4
#define PER_THREAD 10000

static const char *const routes[] = {"/oauth2/token", "/v7/rest/sync/close-loop"};

/* The value of the exposition line that starts with `series ` exactly, or
 * -1 when there is none. */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return -1;
}

static char *render(const struct metrics *m, struct buf *b)
{
    buf_reset(b);
    metrics_render(m, b);
    assert_false(buf_failed(b));
    return b->data;
}

static void test_counts_by_route_and_status(void **state)
{
    (void)state;
    struct metrics *m = metrics_new(routes, 2);
    struct metrics_shard *s = metrics_shard_new(m, 0);
    struct buf b;
    buf_init(&b, 1 << 20);

    metrics_observe(s, routes[1], 200, 1 * MS);
    metrics_observe(s, routes[1], 200, 3 * MS);
    metrics_observe(s, "/v7/rest/sync/close-loop", 429, 0); /* an equal string, not the pointer */
    metrics_observe(s, NULL, 404, 0);
    metrics_observe(s, "/unknown", 404, 0);
    metrics_observe(s, routes[0], 299, 0); /* a status outside the known list */
    metrics_inc(s, METRICS_TOKENS_ISSUED);
    metrics_inc(s, METRICS_RATE_LIMITED);
    metrics_db_error(); /* counts into the shard this thread created */

    char *t = render(m, &b);
    assert_true(value_of(t, "closeloop_http_requests_total{route=\"/v7/rest/sync/close-loop\","
                            "status=\"200\"}") == 2);
    assert_true(value_of(t, "closeloop_http_requests_total{route=\"/v7/rest/sync/close-loop\","
                            "status=\"429\"}") == 1);
    assert_true(value_of(t, "closeloop_http_requests_total{route=\"other\",status=\"404\"}") == 2);
    assert_true(value_of(t, "closeloop_http_requests_total{route=\"/oauth2/token\","
                            "status=\"other\"}") == 1);
    assert_true(value_of(t, "closeloop_tokens_issued_total") == 1);
    assert_true(value_of(t, "closeloop_rate_limited_total") == 1);
    assert_true(value_of(t, "closeloop_db_errors_total") == 1);
    /* Every metric is announced with HELP and TYPE. */
    assert_non_null(strstr(t, "# TYPE closeloop_http_requests_total counter\n"));
    assert_non_null(strstr(t, "# TYPE closeloop_http_request_duration_seconds histogram\n"));
    assert_non_null(strstr(t, "# HELP closeloop_db_errors_total "));

    buf_free(&b);
    metrics_free(&m);
    assert_null(m);
}

static void test_histogram_buckets(void **state)
{
    (void)state;
    struct metrics *m = metrics_new(routes, 2);
    struct metrics_shard *s = metrics_shard_new(m, 0);
    struct buf b;
    buf_init(&b, 1 << 20);

    /* Bounds are inclusive (le): 1 ms lands in le="0.001". */
    metrics_observe(s, routes[1], 200, MS / 10);
    metrics_observe(s, routes[1], 200, 1 * MS);
    metrics_observe(s, routes[1], 200, 30 * MS);
    metrics_observe(s, routes[1], 200, 20000 * MS);

    char *t = render(m, &b);
#define BUCKET(le)                                                                                 \
    value_of(t,                                                                                    \
             "closeloop_http_request_duration_seconds_bucket{route=\"/v7/rest/sync/close-loop\","  \
             "le=\"" le "\"}")
    assert_true(BUCKET("0.0005") == 1);
    assert_true(BUCKET("0.001") == 2);
    assert_true(BUCKET("0.025") == 2);
    assert_true(BUCKET("0.05") == 3);
    assert_true(BUCKET("10") == 3);
    assert_true(BUCKET("+Inf") == 4);
#undef BUCKET
    double sum = value_of(t, "closeloop_http_request_duration_seconds_sum{route=\"/v7/rest/sync/"
                             "close-loop\"}");
    assert_true(sum > 20.0310 && sum < 20.0312);
    assert_true(value_of(t, "closeloop_http_request_duration_seconds_count{route=\"/v7/rest/sync/"
                            "close-loop\"}") == 4);
    /* Routes without requests have no series. */
    assert_null(strstr(t, "duration_seconds_bucket{route=\"/oauth2/token\""));

    buf_free(&b);
    metrics_free(&m);
}

struct worker {
    struct metrics *m;
    unsigned index;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct metrics_shard *s = metrics_shard_new(w->m, w->index);
    for (int i = 0; i < PER_THREAD; i++) {
        metrics_observe(s, routes[0], 200, MS);
        metrics_db_error();
    }
    return NULL;
}

static void test_shards_sum_over_threads(void **state)
{
    (void)state;
    struct metrics *m = metrics_new(routes, 2);
    pthread_t tid[NTHREADS];
    struct worker w[NTHREADS];
    for (unsigned i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){m, i};
        assert_int_equal(pthread_create(&tid[i], NULL, work, &w[i]), 0);
    }
    for (unsigned i = 0; i < NTHREADS; i++)
        pthread_join(tid[i], NULL);
    struct buf b;
    buf_init(&b, 1 << 20);
    char *t = render(m, &b);
    assert_true(value_of(t, "closeloop_http_requests_total{route=\"/oauth2/token\","
                            "status=\"200\"}") == NTHREADS * PER_THREAD);
    assert_true(value_of(t, "closeloop_db_errors_total") == NTHREADS * PER_THREAD);
    buf_free(&b);
    metrics_free(&m);
}

static void test_limits_and_nulls(void **state)
{
    (void)state;
    struct metrics *m = metrics_new(routes, 2);
    assert_null(metrics_shard_new(m, METRICS_MAX_THREADS));
    assert_null(metrics_shard_new(NULL, 0));
    metrics_observe(NULL, routes[0], 200, 0);
    metrics_inc(NULL, METRICS_TOKENS_ISSUED);
    metrics_free(&m);
    metrics_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_by_route_and_status),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_shards_sum_over_threads),
        cmocka_unit_test(test_limits_and_nulls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
