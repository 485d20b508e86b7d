/* The JSON writer: exact escaping, UTF-8 validation with U+FFFD replacement,
 * integers at their limits and times; the direct writers (json_put_*) and the
 * case encoding of the sync feed, byte for byte as the appending writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/internal.h"
#include "common/json.h"

#define TEST_LIMIT (1 << 20)
#define FFFD       "\xef\xbf\xbd"

/* Writes s[0..n) with json_str and compares the whole output. */
static void expect_str(const char *s, size_t n, const char *want)
{
    struct buf b;
    buf_init(&b, TEST_LIMIT);
    json_str(&b, s, n);
    assert_false(buf_failed(&b));
    if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
        fail_msg("json_str of %zu bytes gave [%.*s], want [%s]", n, (int)b.len, b.data, want);
    buf_free(&b);
}

static void test_control_characters(void **state)
{
    (void)state;
    static const char *const want[0x20] = {
        "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
        "\\b",     "\\t",     "\\n",     "\\u000b", "\\f",     "\\r",     "\\u000e", "\\u000f",
        "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
        "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
    };
    for (unsigned c = 0; c < 0x20; c++) {
        char in[3] = {'a', (char)c, 'z'};
        char out[16];
        snprintf(out, sizeof out, "\"a%sz\"", want[c]);
        expect_str(in, sizeof in, out);
    }
}

static const struct {
    const char *in;
    const char *want;
} str_cases[] = {
    {"", "\"\""},
    {"plain text", "\"plain text\""},
    {"say \"hi\"", "\"say \\\"hi\\\"\""},
    {"back\\slash", "\"back\\\\slash\""},
    {"a/b</script>", "\"a/b</script>\""}, /* '/' is not escaped */
    {"\x7f", "\"\x7f\""},                 /* DEL need not be escaped */
    {"line1\r\nline2", "\"line1\\r\\nline2\""},
    /* Valid UTF-8 of every length passes through. */
    {"caf\xc3\xa9", "\"caf\xc3\xa9\""},             /* U+00E9 */
    {"\xc2\x80", "\"\xc2\x80\""},                   /* U+0080, smallest 2-byte */
    {"\xdf\xbf", "\"\xdf\xbf\""},                   /* U+07FF */
    {"\xe0\xa0\x80", "\"\xe0\xa0\x80\""},           /* U+0800, smallest 3-byte */
    {"\xe2\x82\xac 5", "\"\xe2\x82\xac 5\""},       /* euro sign */
    {"\xed\x9f\xbf", "\"\xed\x9f\xbf\""},           /* U+D7FF, below surrogates */
    {"\xee\x80\x80", "\"\xee\x80\x80\""},           /* U+E000, above surrogates */
    {"\xef\xbf\xbf", "\"\xef\xbf\xbf\""},           /* U+FFFF */
    {"\xf0\x90\x80\x80", "\"\xf0\x90\x80\x80\""},   /* U+10000, smallest 4-byte */
    {"\xf0\x9f\x98\x80!", "\"\xf0\x9f\x98\x80!\""}, /* emoji */
    {"\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\""},   /* U+10FFFF */
    {"\xe4\xb8\xad\"\xe6\x96\x87", "\"\xe4\xb8\xad\\\"\xe6\x96\x87\""}, /* escape between runs */
    /* Each byte of an invalid sequence becomes U+FFFD. */
    {"\x80", "\"" FFFD "\""}, /* lone continuation */
    {"a\xbfz", "\"a" FFFD "z\""},
    {"\xc0\x80", "\"" FFFD FFFD "\""},                   /* overlong NUL */
    {"\xc1\xbf", "\"" FFFD FFFD "\""},                   /* overlong */
    {"\xe0\x80\xaf", "\"" FFFD FFFD FFFD "\""},          /* overlong '/' */
    {"\xf0\x8f\xbf\xbf", "\"" FFFD FFFD FFFD FFFD "\""}, /* overlong U+FFFF */
    {"\xed\xa0\x80", "\"" FFFD FFFD FFFD "\""},          /* surrogate U+D800 */
    {"\xed\xbf\xbf", "\"" FFFD FFFD FFFD "\""},          /* surrogate U+DFFF */
    {"\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""}, /* U+110000 */
    {"\xf5\x80\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""}, /* F5 never appears */
    {"\xff", "\"" FFFD "\""},
    {"\xfe", "\"" FFFD "\""},
    {"ok\xc3", "\"ok" FFFD "\""},                   /* truncated at end */
    {"ok\xe2\x82", "\"ok" FFFD FFFD "\""},          /* truncated at end */
    {"ok\xf0\x9f\x98", "\"ok" FFFD FFFD FFFD "\""}, /* truncated at end */
    {"\xe2\x82x", "\"" FFFD FFFD "x\""},            /* cut short by ASCII */
    {"\xc3\xa9\xa9", "\"\xc3\xa9" FFFD "\""},       /* one continuation too many */
};

static void test_strings(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof str_cases / sizeof str_cases[0]; i++)
        expect_str(str_cases[i].in, strlen(str_cases[i].in), str_cases[i].want);
}

/* A string is taken by length, so a NUL inside it is data. */
static void test_embedded_nul_and_length(void **state)
{
    (void)state;
    expect_str("a\0b", 3, "\"a\\u0000b\"");
    expect_str("\xe2\x82\xac", 2, "\"" FFFD FFFD "\""); /* the length cuts the sequence */
}

static void test_cstr(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, TEST_LIMIT);
    json_cstr(&b, "x\ty");
    buf_putc(&b, ',');
    json_cstr(&b, NULL);
    assert_string_equal(b.data, "\"x\\ty\",null");
    buf_free(&b);
}

static const struct {
    int64_t v;
    const char *want;
    const char *want_or_null;
} int_cases[] = {
    {0, "0", "0"},
    {7, "7", "7"},
    {-1, "-1", "null"},
    {-10, "-10", "null"},
    {1000, "1000", "1000"},
    {9007199254740991LL, "9007199254740991", "9007199254740991"},
    {INT64_MAX, "9223372036854775807", "9223372036854775807"},
    {INT64_MIN, "-9223372036854775808", "null"},
};

static void test_ints(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, TEST_LIMIT);
    for (size_t i = 0; i < sizeof int_cases / sizeof int_cases[0]; i++) {
        buf_reset(&b);
        json_int(&b, int_cases[i].v);
        assert_string_equal(b.data, int_cases[i].want);
        buf_reset(&b);
        json_int_or_null(&b, int_cases[i].v);
        assert_string_equal(b.data, int_cases[i].want_or_null);
    }
    buf_free(&b);
}

static void test_time(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, TEST_LIMIT);
    json_time(&b, 1658016000 + 9 * 3600 + 5 * 60 + 7);
    buf_putc(&b, ',');
    json_time(&b, 0);
    assert_string_equal(b.data, "\"2022-07-17 09:05:07\",\"1970-01-01 00:00:00\"");
    buf_free(&b);
}

/* A string that does not fit fails the buffer instead of being cut. */
static void test_limit(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    json_str(&b, "abcdef", 6); /* 8 bytes with quotes: fits */
    assert_false(buf_failed(&b));
    assert_string_equal(b.data, "\"abcdef\"");
    buf_reset(&b);
    json_str(&b, "abc\n\n", 5); /* 9 bytes once escaped */
    assert_int_equal(b.err, CL_ELIMIT);
    buf_reset(&b);
    json_str(&b, "abcdefg", 7);
    assert_int_equal(b.err, CL_ELIMIT);
    buf_free(&b);
}

/* A long string with escapes spread through it comes out whole. */
static void test_long_mixed(void **state)
{
    (void)state;
    struct buf in, want, got;
    buf_init(&in, TEST_LIMIT);
    buf_init(&want, TEST_LIMIT);
    buf_init(&got, TEST_LIMIT);
    buf_putc(&want, '"');
    for (int i = 0; i < 2000; i++) {
        buf_puts(&in, "r\xc3\xa9sum\xc3\xa9\n\"");
        buf_puts(&want, "r\xc3\xa9sum\xc3\xa9\\n\\\"");
    }
    buf_putc(&want, '"');
    json_str(&got, in.data, in.len);
    assert_false(buf_failed(&got));
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data, want.data, want.len);
    buf_free(&in);
    buf_free(&want);
    buf_free(&got);
}

/* Writes s[0..n) with json_str into a buffer capped at the length of its
 * output, which makes json_str take its appending path. */
static size_t appended_str(const char *s, size_t n, char *out, size_t cap)
{
    char probe[JSON_STR_MAX(256)];
    size_t want = (size_t)(json_put_str(probe, s, n) - probe);
    struct buf b;
    buf_init(&b, want);
    json_str(&b, s, n);
    assert_false(buf_failed(&b));
    assert_true(b.len <= cap);
    memcpy(out, b.data, b.len);
    size_t len = b.len;
    buf_free(&b);
    return len;
}

/* json_put_str (the direct path) and json_str's appending path agree on
 * every table string and on random strings rich in the bytes that matter:
 * quotes, backslashes, control bytes, UTF-8 leads and continuations. */
static void test_direct_str_equals_appending(void **state)
{
    (void)state;
    char direct[JSON_STR_MAX(256)], appended[JSON_STR_MAX(256)];
    for (size_t i = 0; i < sizeof str_cases / sizeof str_cases[0]; i++) {
        size_t n = strlen(str_cases[i].in);
        assert_true(n <= 256);
        size_t len = (size_t)(json_put_str(direct, str_cases[i].in, n) - direct);
        assert_int_equal(len, strlen(str_cases[i].want));
        assert_memory_equal(direct, str_cases[i].want, len);
    }
    static const unsigned char alphabet[] = {
        'a',  'Z',  '0',  ' ',  '"',  '\\', '/',  0x00, 0x01, '\n', 0x1f, 0x7f, 0x80, 0xbf, 0xc2,
        0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xed, 0xa0, 0xf0, 0x9f, 0xf4, 0x90, 0xf5, 0xff, 0xe0, 0x9f};
    uint64_t x = 88172645463325252ULL;
    for (int round = 0; round < 20000; round++) {
        char in[64];
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = (size_t)(x % sizeof in);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            in[i] = (char)alphabet[x % sizeof alphabet];
        }
        size_t dlen = (size_t)(json_put_str(direct, in, n) - direct);
        size_t alen = appended_str(in, n, appended, sizeof appended);
        assert_int_equal(dlen, alen);
        assert_memory_equal(direct, appended, dlen);
    }
}

/* The reference the word-at-a-time scan of json_put_str must match: one
 * byte at a time, as the JSON grammar reads (via the appending path, which
 * scans bytes singly). Every byte value at every position of plain runs of
 * each length from 1 to 24 (around and across eight-byte words), alone and
 * followed by a valid two-byte sequence. */
static void test_every_byte_at_every_position(void **state)
{
    (void)state;
    char direct[JSON_STR_MAX(64)], appended[JSON_STR_MAX(64)];
    for (size_t n = 1; n <= 24; n++) {
        for (size_t pos = 0; pos < n; pos++) {
            for (unsigned c = 0; c < 256; c++) {
                for (int tail = 0; tail < 2; tail++) {
                    char in[32];
                    memset(in, 'k', n);
                    in[pos] = (char)c;
                    size_t len = n;
                    if (tail) {
                        memcpy(in + len, "\xc3\xa9", 2);
                        len += 2;
                    }
                    size_t dlen = (size_t)(json_put_str(direct, in, len) - direct);
                    size_t alen = appended_str(in, len, appended, sizeof appended);
                    if (dlen != alen || memcmp(direct, appended, dlen) != 0)
                        fail_msg("byte 0x%02x at %zu of %zu (tail %d): [%.*s] vs [%.*s]", c, pos, n,
                                 tail, (int)dlen, direct, (int)alen, appended);
                }
            }
        }
    }
    /* Each control byte and the two that JSON escapes, inside a long run,
     * spelled exactly. */
    for (unsigned c = 0; c < 0x20; c++) {
        char in[20];
        memset(in, 'x', sizeof in);
        in[13] = (char)c;
        size_t dlen = (size_t)(json_put_str(direct, in, sizeof in) - direct);
        assert_true(dlen == sizeof in + 2 + 1 || dlen == sizeof in + 2 + 5);
        assert_int_equal(direct[14], '\\');
    }
}

static void test_direct_ints(void **state)
{
    (void)state;
    char out[JSON_INT_MAX + 1], want[32];
    for (size_t i = 0; i < sizeof int_cases / sizeof int_cases[0]; i++) {
        *json_put_int(out, int_cases[i].v) = '\0';
        assert_string_equal(out, int_cases[i].want);
        *json_put_int_or_null(out, int_cases[i].v) = '\0';
        assert_string_equal(out, int_cases[i].want_or_null);
    }
    /* Every length, and both sides of each power of ten. */
    for (int64_t p = 1; p <= INT64_MAX / 10; p *= 10) {
        int64_t vs[] = {p - 1, p, p + 1, 10 * p - 1, -p, -(10 * p - 1)};
        for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
            *json_put_int(out, vs[i]) = '\0';
            snprintf(want, sizeof want, "%lld", (long long)vs[i]);
            assert_string_equal(out, want);
        }
    }
}

static void test_direct_time(void **state)
{
    (void)state;
    char out[JSON_TIME_MAX + 1];
    *json_put_time(out, 1658016000 + 9 * 3600 + 5 * 60 + 7) = '\0';
    assert_string_equal(out, "\"2022-07-17 09:05:07\"");
    /* Each day of four years, at midnight and just before the next. */
    for (int64_t day = 19000; day < 19000 + 4 * 366; day++) {
        for (int64_t t = day * 86400; t <= day * 86400 + 86399; t += 86399) {
            struct buf b;
            buf_init(&b, TEST_LIMIT);
            json_time(&b, t);
            *json_put_time(out, t) = '\0';
            assert_string_equal(out, b.data);
            buf_free(&b);
        }
    }
}

/* The JSON of a case, as the sync feed and the write endpoints send it. */
static const struct {
    struct case_record c;
    const char *want;
} case_cases[] = {
    {{.id = 1,
      .number = 4242,
      .status = CASE_PROGRESS,
      .has_assignee = true,
      .assignee = {.id = 7, .username = "janedoe", .email = "jane.doe@example.com"},
      .time_to_follow_up = 3,
      .time_to_close = -1,
      .created_at = 1658016000,
      .updated_at = 1658016000 + 9 * 3600 + 5 * 60 + 7},
     "{\"id\":1,\"number_customergauge\":4242,\"status\":\"progress\",\"assignee\":"
     "{\"id\":7,\"username\":\"janedoe\",\"email\":\"jane.doe@example.com\"},"
     "\"time_to_follow_up\":3,\"time_to_close\":null,\"created_at\":\"2022-07-17 00:00:00\","
     "\"updated_at\":\"2022-07-17 09:05:07\"}"},
    {{.id = 9223372036854775807LL,
      .number = 1,
      .status = CASE_OPEN,
      .time_to_follow_up = -1,
      .time_to_close = -1,
      .created_at = 0,
      .updated_at = 253402300799LL},
     "{\"id\":9223372036854775807,\"number_customergauge\":1,\"status\":\"open\","
     "\"assignee\":null,\"time_to_follow_up\":null,\"time_to_close\":null,"
     "\"created_at\":\"1970-01-01 00:00:00\",\"updated_at\":\"9999-12-31 23:59:59\"}"},
    {{.id = 12,
      .number = 987654321,
      .status = CASE_CLOSED,
      .has_assignee = true,
      .assignee = {.id = 0, .username = "a\"b\\c\x01", .email = "\xc3\xa9\xff@x"},
      .time_to_follow_up = 0,
      .time_to_close = 8760,
      .created_at = 1700000000,
      .updated_at = 1700003600},
     "{\"id\":12,\"number_customergauge\":987654321,\"status\":\"closed\",\"assignee\":"
     "{\"id\":0,\"username\":\"a\\\"b\\\\c\\u0001\",\"email\":\"\xc3\xa9" FFFD "@x\"},"
     "\"time_to_follow_up\":0,\"time_to_close\":8760,\"created_at\":\"2023-11-14 22:13:20\","
     "\"updated_at\":\"2023-11-14 23:13:20\"}"},
};

/* The direct encoding of a case and, in a buffer too small for its bound,
 * the appending one: the same bytes, after whatever the buffer held. */
static void test_case_json(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof case_cases / sizeof case_cases[0]; i++) {
        const char *want = case_cases[i].want;
        size_t n = strlen(want);
        struct buf b;
        buf_init(&b, TEST_LIMIT);
        buf_putc(&b, '[');
        api_case_json(&b, &case_cases[i].c);
        assert_false(buf_failed(&b));
        assert_int_equal(b.len, n + 1);
        assert_memory_equal(b.data + 1, want, n);
        assert_int_equal(b.data[b.len], '\0');
        buf_free(&b);

        buf_init(&b, n + 1); /* room for the case, not for its bound */
        buf_putc(&b, '[');
        api_case_json(&b, &case_cases[i].c);
        assert_false(buf_failed(&b));
        assert_int_equal(b.len, n + 1);
        assert_memory_equal(b.data + 1, want, n);
        buf_free(&b);

        buf_init(&b, n); /* one byte short: fails, as appending always did */
        buf_putc(&b, '[');
        api_case_json(&b, &case_cases[i].c);
        assert_int_equal(b.err, CL_ELIMIT);
        buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control_characters),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_embedded_nul_and_length),
        cmocka_unit_test(test_cstr),
        cmocka_unit_test(test_ints),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_long_mixed),
        cmocka_unit_test(test_direct_str_equals_appending),
        cmocka_unit_test(test_every_byte_at_every_position),
        cmocka_unit_test(test_direct_ints),
        cmocka_unit_test(test_direct_time),
        cmocka_unit_test(test_case_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
