/* The retry schedule: growth, jitter bounds, Retry-After and the deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client/retry.h"

static const struct retry_policy policy = {.base_ms = 250, .max_ms = 30000, .deadline_ms = 300000};

static void test_ceiling_doubles_then_caps(void **state)
{
    (void)state;
    static const int64_t want[] = {250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
    for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(retry_ceiling(&policy, i), want[i]);
    /* Huge attempt counts must not overflow. */
    assert_int_equal(retry_ceiling(&policy, 1000), 30000);
}

static void test_waits_stay_within_equal_jitter(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed < 200; seed++) {
        struct retry r;
        retry_start(&r, &policy, 0, seed);
        for (unsigned i = 0; i < 10; i++) {
            int64_t c = retry_ceiling(&policy, i);
            int64_t w = retry_next(&r, 0, -1);
            assert_in_range(w, c - c / 2, c);
        }
    }
}

static void test_jitter_spreads_clients(void **state)
{
    (void)state;
    /* Two clients failing at once should not retry in lockstep. */
    int differ = 0;
    for (uint64_t seed = 1; seed < 50; seed++) {
        struct retry a, b;
        retry_start(&a, &policy, 0, seed);
        retry_start(&b, &policy, 0, seed + 1000);
        retry_next(&a, 0, -1);
        retry_next(&b, 0, -1);
        differ += retry_next(&a, 0, -1) != retry_next(&b, 0, -1);
    }
    assert_true(differ > 40);
}

static void test_retry_after_is_a_minimum(void **state)
{
    (void)state;
    struct retry r;
    retry_start(&r, &policy, 0, 42);
    assert_int_equal(retry_next(&r, 0, 5000), 5000); /* longer than the backoff */
    for (int i = 0; i < 8; i++)
        retry_next(&r, 0, -1);
    /* Once the backoff is longer, it wins over a short Retry-After. */
    assert_true(retry_next(&r, 0, 1000) >= 15000);
}

static void test_retry_after_past_deadline_gives_up(void **state)
{
    (void)state;
    struct retry r;
    retry_start(&r, &policy, 0, 42);
    assert_int_equal(retry_next(&r, 290000, 20000), -1);
}

static void test_last_wait_is_cut_to_the_deadline(void **state)
{
    (void)state;
    struct retry_policy p = {.base_ms = 1000, .max_ms = 60000, .deadline_ms = 2500};
    struct retry r;
    retry_start(&r, &p, 10000, 7);
    int64_t w = retry_next(&r, 10000, -1);
    assert_in_range(w, 500, 1000);
    w = retry_next(&r, 11000, -1);
    assert_in_range(w, 1000, 1500); /* ceiling 2000, but only 1500 ms left */
    assert_int_equal(retry_next(&r, 12500, -1), -1);
    assert_int_equal(retry_remaining(&r, 12500), 0);
    assert_int_equal(retry_remaining(&r, 11000), 1500);
}

static void test_zero_deadline_never_retries(void **state)
{
    (void)state;
    struct retry_policy p = {.base_ms = 100, .max_ms = 1000, .deadline_ms = 0};
    struct retry r;
    retry_start(&r, &p, 0, 1);
    assert_int_equal(retry_next(&r, 0, -1), -1);
}

static void test_total_wait_is_bounded(void **state)
{
    (void)state;
    /* Simulate an unreachable server: waits alone never pass the deadline. */
    struct retry r;
    int64_t now = 0;
    retry_start(&r, &policy, now, 99);
    for (;;) {
        int64_t w = retry_next(&r, now, -1);
        if (w < 0)
            break;
        now += w;
        assert_true(now <= policy.deadline_ms);
    }
    assert_int_equal(now, policy.deadline_ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ceiling_doubles_then_caps),
        cmocka_unit_test(test_waits_stay_within_equal_jitter),
        cmocka_unit_test(test_jitter_spreads_clients),
        cmocka_unit_test(test_retry_after_is_a_minimum),
        cmocka_unit_test(test_retry_after_past_deadline_gives_up),
        cmocka_unit_test(test_last_wait_is_cut_to_the_deadline),
        cmocka_unit_test(test_zero_deadline_never_retries),
        cmocka_unit_test(test_total_wait_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
