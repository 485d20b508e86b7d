/* The per-app rate limiter: parsing, the token bucket's arithmetic on a
 * driven clock, independent keys, and exactness under concurrent threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "api/ratelimit.h"

#define SEC        1000000000LL
#define T0         (1000 * SEC) /* an arbitrary monotonic start */
#define NTHREADS   8
#define PER_THREAD 2000

static void test_parse(void **state)
{
    (void)state;
    struct ratelimit_rate r;
    assert_true(ratelimit_parse("5/s", &r));
    assert_int_equal(r.count, 5);
    assert_int_equal(r.period, 1);
    assert_true(ratelimit_parse("120/m", &r));
    assert_int_equal(r.period, 60);
    assert_true(ratelimit_parse("1000000/h", &r));
    assert_int_equal(r.period, 3600);
    static const char *const bad[] = {"",     "5",  "5/",   "5/x", "0/s",       "-1/s",
                                      "5/ss", "/s", "5 /s", "x/s", "1000001/s", "5/s "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(ratelimit_parse(bad[i], &r));
}

static void test_burst_then_rate(void **state)
{
    (void)state;
    struct ratelimit_rate rate = {5, 1}; /* a token every 200 ms */
    struct ratelimit *rl = ratelimit_new(&rate, 2);
    assert_non_null(rl);
    int64_t wait;

    /* A fresh key has its whole burst, and not one request more. */
    assert_true(ratelimit_take(rl, 7, T0, &wait));
    assert_true(ratelimit_take(rl, 7, T0, &wait));
    assert_false(ratelimit_take(rl, 7, T0, &wait));
    assert_int_equal(wait, SEC / 5);
    /* Refusals do not push recovery further away. */
    assert_false(ratelimit_take(rl, 7, T0 + SEC / 10, &wait));
    assert_int_equal(wait, SEC / 10);
    /* One interval later exactly one more request conforms. */
    assert_true(ratelimit_take(rl, 7, T0 + SEC / 5, &wait));
    assert_false(ratelimit_take(rl, 7, T0 + SEC / 5, &wait));
    /* After a long pause the bucket is full again, but holds no more than the burst. */
    assert_true(ratelimit_take(rl, 7, T0 + 100 * SEC, &wait));
    assert_true(ratelimit_take(rl, 7, T0 + 100 * SEC, &wait));
    assert_false(ratelimit_take(rl, 7, T0 + 100 * SEC, &wait));
    ratelimit_free(&rl);
    assert_null(rl);
}

static void test_sustained_rate(void **state)
{
    (void)state;
    /* Requests every 10 ms for 10 s against 5/s, burst 2: at most 2 + 5 * 10. */
    struct ratelimit_rate rate = {5, 1};
    struct ratelimit *rl = ratelimit_new(&rate, 2);
    int64_t wait;
    int allowed = 0;
    for (int64_t t = 0; t <= 10 * SEC; t += SEC / 100)
        allowed += ratelimit_take(rl, 1, T0 + t, &wait);
    assert_int_equal(allowed, 2 + 5 * 10);
    ratelimit_free(&rl);
}

static void test_keys_are_independent(void **state)
{
    (void)state;
    struct ratelimit_rate rate = {1, 60};
    struct ratelimit *rl = ratelimit_new(&rate, 1);
    int64_t wait;
    for (int64_t key = 1; key <= 1000; key++)
        assert_true(ratelimit_take(rl, key, T0, &wait));
    for (int64_t key = 1; key <= 1000; key++) {
        assert_false(ratelimit_take(rl, key, T0, &wait));
        assert_int_equal(wait, 60 * SEC);
    }
    ratelimit_free(&rl);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    struct ratelimit_rate zero = {0, 1}, ok = {1, 1};
    assert_null(ratelimit_new(&zero, 1));
    assert_null(ratelimit_new(&ok, 0));
    assert_null(ratelimit_new(&ok, RATELIMIT_MAX_BURST + 1));
    ratelimit_free(NULL);
}

struct racer {
    struct ratelimit *rl;
    int allowed;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    int64_t wait;
    for (int i = 0; i < PER_THREAD; i++)
        r->allowed += ratelimit_take(r->rl, 42, T0, &wait);
    return NULL;
}

static void test_threads_share_one_bucket(void **state)
{
    (void)state;
    /* At one instant, however many threads ask, exactly the burst passes:
     * the limit must not multiply by the number of threads. */
    struct ratelimit_rate rate = {1, 3600};
    struct ratelimit *rl = ratelimit_new(&rate, 100);
    pthread_t tid[NTHREADS];
    struct racer r[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        r[i] = (struct racer){rl, 0};
        assert_int_equal(pthread_create(&tid[i], NULL, race, &r[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(tid[i], NULL);
        total += r[i].allowed;
    }
    assert_int_equal(total, 100);
    ratelimit_free(&rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_burst_then_rate),
        cmocka_unit_test(test_sustained_rate),
        cmocka_unit_test(test_keys_are_independent),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_threads_share_one_bucket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
