/* The capped buffer: appends up to the cap, a sticky CL_ELIMIT past it, and
 * reuse after buf_reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"

static void test_empty(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 16);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_false(buf_failed(&b));
    buf_free(&b);
    buf_free(NULL); /* a no-op */
}

static void test_append(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 64);
    buf_append(&b, "ab", 2);
    buf_puts(&b, "cd");
    buf_putc(&b, 'e');
    buf_append(&b, "", 0);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "abcde");
    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.limit, 64);
}

/* Each row appends `first` then `second` bytes under `limit`. */
static const struct {
    size_t limit, first, second;
    bool fails;
    size_t len; /* length kept */
} cap_cases[] = {
    {8, 8, 0, false, 8},                     /* exactly the cap */
    {8, 4, 4, false, 8}, {8, 9, 0, true, 0}, /* one past the cap: nothing appended */
    {8, 4, 5, true, 4},                      /* the failing append leaves what was there */
    {0, 0, 0, false, 0}, {0, 1, 0, true, 0}, {1000, 600, 600, true, 600},
};

static void test_cap(void **state)
{
    (void)state;
    char bytes[2048];
    memset(bytes, 'x', sizeof bytes);
    for (size_t i = 0; i < sizeof cap_cases / sizeof cap_cases[0]; i++) {
        struct buf b;
        buf_init(&b, cap_cases[i].limit);
        buf_append(&b, bytes, cap_cases[i].first);
        buf_append(&b, bytes, cap_cases[i].second);
        if (buf_failed(&b) != cap_cases[i].fails || b.len != cap_cases[i].len)
            fail_msg("row %zu: failed=%d len=%zu", i, buf_failed(&b), b.len);
        if (cap_cases[i].fails)
            assert_int_equal(b.err, CL_ELIMIT);
        buf_free(&b);
    }
}

/* Once failed, a buffer ignores appends that would fit, until reset. */
static void test_sticky_and_reset(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4);
    buf_puts(&b, "abcde");
    assert_int_equal(b.err, CL_ELIMIT);
    buf_putc(&b, 'a');
    buf_printf(&b, "%d", 1);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_reserve(&b, 1), CL_ELIMIT);
    assert_int_equal(b.err, CL_ELIMIT);
    buf_reset(&b);
    assert_false(buf_failed(&b));
    buf_puts(&b, "abcd");
    assert_false(buf_failed(&b));
    assert_string_equal(b.data, "abcd");
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_free(&b);
}

static void test_printf(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_printf(&b, "%s=%d", "n", 42);
    assert_string_equal(b.data, "n=42");
    /* Growth past the first allocation keeps earlier content. */
    char big[3000];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    buf_printf(&b, "[%s]", big);
    assert_int_equal(b.len, 4 + 2 + sizeof big - 1);
    assert_memory_equal(b.data, "n=42[y", 6);
    assert_int_equal(b.data[b.len - 1], ']');
    assert_int_equal(b.data[b.len], '\0');
    assert_true(b.cap > b.len);
    buf_free(&b);

    buf_init(&b, 5);
    buf_printf(&b, "%05d", 12345);
    assert_string_equal(b.data, "12345");
    buf_printf(&b, "%d", 6);
    assert_int_equal(b.err, CL_ELIMIT);
    assert_int_equal(b.len, 5);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),  cmocka_unit_test(test_append),
        cmocka_unit_test(test_cap),    cmocka_unit_test(test_sticky_and_reset),
        cmocka_unit_test(test_printf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
