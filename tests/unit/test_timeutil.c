/* Dates and times as SPEC §2 writes them: strict parsing of real calendar
 * dates, and formatting that round-trips over the whole supported range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/timeutil.h"

#define DAY 86400

struct parse_case {
    const char *in;
    bool ok;
    int64_t epoch; /* when ok */
};

static const struct parse_case date_cases[] = {
    {"1970-01-01", true, 0},
    {"2022-07-17", true, 1658016000},
    {"2024-02-29", true, 1709164800}, /* divisible by 4: leap */
    {"2000-02-29", true, 951782400},  /* divisible by 400: leap */
    {"9999-12-31", true, 253402214400},
    {"2023-02-29", false, 0}, /* not a leap year */
    {"1900-02-29", false, 0}, /* divisible by 100: not leap (and before 1970) */
    {"2100-02-29", false, 0}, /* divisible by 100: not leap */
    {"2022-02-30", false, 0},
    {"2022-04-31", false, 0},
    {"2022-13-01", false, 0},
    {"2022-00-10", false, 0},
    {"2022-01-00", false, 0},
    {"2022-01-32", false, 0},
    {"1969-12-31", false, 0}, /* before TIME_MIN_YEAR */
    {"0000-01-01", false, 0},
    {"10000-01-01", false, 0}, /* beyond TIME_MAX_YEAR */
    {"2022-07-17x", false, 0},
    {"2022-07-17 ", false, 0},
    {" 2022-07-17", false, 0},
    {"+2022-07-17", false, 0},
    {"-2022-07-17", false, 0},
    {"2022-+7-17", false, 0},
    {"2022-2-3", false, 0},
    {"2022-02-3", false, 0},
    {"22-02-03", false, 0},
    {"2022/02/03", false, 0},
    {"2022-02", false, 0},
    {"", false, 0},
    {"2022-07-17 00:00:00", false, 0}, /* a datetime is not a date */
    {"20220717", false, 0},
};

static void test_parse_date(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof date_cases / sizeof date_cases[0]; i++) {
        const struct parse_case *c = &date_cases[i];
        int64_t e = -12345;
        bool ok = time_parse_date(c->in, strlen(c->in), &e);
        if (ok != c->ok)
            fail_msg("time_parse_date(\"%s\") = %d, want %d", c->in, ok, c->ok);
        if (c->ok && e != c->epoch)
            fail_msg("time_parse_date(\"%s\") = %lld, want %lld", c->in, (long long)e,
                     (long long)c->epoch);
        if (!c->ok && e != -12345)
            fail_msg("time_parse_date(\"%s\") wrote its output on failure", c->in);
    }
}

static const struct parse_case datetime_cases[] = {
    {"2022-07-17 00:00:00", true, 1658016000},
    {"2022-07-17 0:0:0", true, 1658016000},
    {"2022-07-17 9:5:7", true, 1658016000 + 9 * 3600 + 5 * 60 + 7},
    {"2022-07-17 09:05:07", true, 1658016000 + 9 * 3600 + 5 * 60 + 7},
    {"2022-07-17 23:59:59", true, 1658016000 + DAY - 1},
    {"1970-01-01 00:00:00", true, 0},
    {"9999-12-31 23:59:59", true, 253402300799},
    {"2024-02-29 12:00:00", true, 1709164800 + 12 * 3600},
    {"2022-07-17 24:00:00", false, 0},
    {"2022-07-17 12:60:00", false, 0},
    {"2022-07-17 12:00:60", false, 0},
    {"2022-07-17 012:00:00", false, 0},
    {"2022-07-17 12:000:00", false, 0},
    {"2022-07-17 12:00:000", false, 0},
    {"2022-07-17 12:00", false, 0},
    {"2022-07-17 12", false, 0},
    {"2022-07-17 ", false, 0},
    {"2022-07-17", false, 0},
    {"2022-07-17  12:00:00", false, 0}, /* two spaces */
    {"2022-07-17T12:00:00", false, 0},
    {"2022-07-17 12:00:00 ", false, 0},
    {"2022-07-17 12:00:00Z", false, 0},
    {" 2022-07-17 12:00:00", false, 0},
    {"2022-07-17 +1:00:00", false, 0},
    {"2022-07-17 12::00", false, 0},
    {"2022-07-17 12:00:", false, 0},
    {"2022-02-30 12:00:00", false, 0},
    {"2023-02-29 12:00:00", false, 0},
    {"2022-7-17 12:00:00", false, 0},
};

static void test_parse_datetime(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof datetime_cases / sizeof datetime_cases[0]; i++) {
        const struct parse_case *c = &datetime_cases[i];
        int64_t e = -12345;
        bool ok = time_parse_datetime(c->in, strlen(c->in), &e);
        if (ok != c->ok)
            fail_msg("time_parse_datetime(\"%s\") = %d, want %d", c->in, ok, c->ok);
        if (c->ok && e != c->epoch)
            fail_msg("time_parse_datetime(\"%s\") = %lld, want %lld", c->in, (long long)e,
                     (long long)c->epoch);
    }
}

/* The parsers take a length and must not read past it. */
static void test_parse_respects_length(void **state)
{
    (void)state;
    int64_t e;
    assert_true(time_parse_date("2022-07-17xyz", 10, &e));
    assert_int_equal(e, 1658016000);
    assert_false(time_parse_date("2022-07-17", 9, &e));
    assert_true(time_parse_datetime("2022-07-17 1:2:3junk", 16, &e));
    assert_int_equal(e, 1658016000 + 3600 + 120 + 3);
}

static const struct {
    int64_t epoch;
    const char *text;
} format_cases[] = {
    {0, "1970-01-01 00:00:00"},
    {1658016000 + 9 * 3600 + 5 * 60 + 7, "2022-07-17 09:05:07"},
    {951782400 + DAY - 1, "2000-02-29 23:59:59"},
    {253402300799, "9999-12-31 23:59:59"},
    {-1, "1970-01-01 00:00:00"},           /* clamped */
    {253402300800, "9999-12-31 23:59:59"}, /* clamped */
};

static void test_format(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof format_cases / sizeof format_cases[0]; i++) {
        char out[TIME_FORMAT_LEN + 1];
        memset(out, 'x', sizeof out);
        time_format(format_cases[i].epoch, out);
        assert_string_equal(out, format_cases[i].text);
    }
}

/* Every 7th day (and a varying time of day) from 1970 to 9999 survives
 * format then parse, and both ends of the range are included. */
static void test_round_trip(void **state)
{
    (void)state;
    const int64_t last = 253402214400 / DAY; /* 9999-12-31 */
    for (int64_t day = 0; day <= last + 7; day += 7) {
        int64_t d = day > last ? last : day;
        int64_t e = d * DAY + (d * 7919) % DAY;
        char out[TIME_FORMAT_LEN + 1];
        time_format(e, out);
        int64_t back;
        if (!time_parse_datetime(out, TIME_FORMAT_LEN, &back) || back != e)
            fail_msg("round trip of %lld via \"%s\" failed", (long long)e, out);
        if (!time_parse_date(out, 10, &back) || back != d * DAY)
            fail_msg("date of \"%s\" failed", out);
        if (day > last)
            break;
    }
}

static void test_civil_inverse(void **state)
{
    (void)state;
    int64_t prev_y = 0;
    unsigned prev_m = 0, prev_d = 0;
    /* From 1600-01-01 to beyond 2400, across four century rules. */
    for (int64_t days = -135140; days <= 160000; days++) {
        int64_t y;
        unsigned m, d;
        time_civil_from_days(days, &y, &m, &d);
        if (time_days_from_civil(y, m, d) != days)
            fail_msg("day %lld -> %lld-%u-%u is not inverse", (long long)days, (long long)y, m, d);
        /* Consecutive days step by exactly one calendar day. */
        if (prev_m) {
            bool next_day = y == prev_y && m == prev_m && d == prev_d + 1;
            bool next_month = y == prev_y && m == prev_m + 1 && d == 1;
            bool next_year = y == prev_y + 1 && m == 1 && d == 1 && prev_m == 12 && prev_d == 31;
            if (!next_day && !next_month && !next_year)
                fail_msg("%lld-%u-%u follows %lld-%u-%u", (long long)y, m, d, (long long)prev_y,
                         prev_m, prev_d);
        }
        prev_y = y;
        prev_m = m;
        prev_d = d;
    }
    int64_t y;
    unsigned m, d;
    time_civil_from_days(0, &y, &m, &d);
    assert_true(y == 1970 && m == 1 && d == 1);
    assert_int_equal(time_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(time_days_from_civil(1600, 1, 1), -135140);
    assert_int_equal(time_days_from_civil(1900, 3, 1) - time_days_from_civil(1900, 2, 28), 1);
    assert_int_equal(time_days_from_civil(2000, 3, 1) - time_days_from_civil(2000, 2, 28), 2);
}

/* time_format against the C library's gmtime for every day from 1970 to
 * 2200 (every month, year and leap boundary, 2000 and 2100 included), at
 * both ends of the day and at a time that varies, visiting days in an order
 * that makes the per-thread date cache both hit and evict: each day comes
 * right after one 512 days away, which takes the same slot. */
static void test_format_matches_gmtime(void **state)
{
    (void)state;
    const int64_t last_day = time_days_from_civil(2200, 12, 31);
    for (int64_t day = 0; day <= last_day; day++) {
        int64_t away = day >= 512 ? day - 512 : day + 512;
        int64_t times[] = {day * DAY,
                           away * DAY + 1,
                           day * DAY + DAY - 1,
                           day * DAY + (day * 7919) % DAY,
                           away * DAY + DAY - 1,
                           day * DAY + 43200};
        for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
            time_t t = (time_t)times[i];
            struct tm tm;
            assert_non_null(gmtime_r(&t, &tm));
            char want[TIME_FORMAT_LEN + 1], got[TIME_FORMAT_LEN + 1];
            strftime(want, sizeof want, "%Y-%m-%d %H:%M:%S", &tm);
            time_format(times[i], got);
            if (strcmp(got, want) != 0)
                fail_msg("time_format(%lld) = \"%s\", gmtime says \"%s\"", (long long)times[i], got,
                         want);
        }
    }
}

static void test_clocks(void **state)
{
    (void)state;
    int64_t now = time_now();
    assert_true(now > 1658016000); /* after 2022-07-17 */
    int64_t a = time_mono_ms();
    int64_t b = time_mono_ms();
    assert_true(a >= 0 && b >= a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_date),
        cmocka_unit_test(test_parse_datetime),
        cmocka_unit_test(test_parse_respects_length),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_matches_gmtime),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_civil_inverse),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
