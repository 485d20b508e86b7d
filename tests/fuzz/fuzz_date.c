/* time_parse_date and time_parse_datetime, which read the updated_at filters
 * of the sync feed and the happened_at of every write, on arbitrary bytes.
 * What they accept must be exactly what a strict reference accepts, with
 * the epoch the C library's timegm gives, and must print back through
 * time_format in its canonical form. The first eight bytes also serve as an
 * epoch for time_format -> time_parse_datetime. */
#include <string.h>
#include <time.h>

#include "common/timeutil.h"
#include "fuzz_util.h"

#define DAYS_BOUND (INT64_C(1) << 40) /* far beyond any year the API knows */

/* Reads one to `max` digits at s[*i..n). */
static bool ref_digits(const char *s, size_t n, size_t *i, size_t min, size_t max, int *out)
{
    size_t k = 0;
    int v = 0;
    while (*i < n && k < max && s[*i] >= '0' && s[*i] <= '9') {
        v = v * 10 + (s[*i] - '0');
        (*i)++;
        k++;
    }
    if (k < min || (*i < n && s[*i] >= '0' && s[*i] <= '9'))
        return false;
    *out = v;
    return true;
}

/* Parses "YYYY-mm-dd" and, with time, " H:M:S" into tm; validates the
 * calendar by asking timegm whether it had to normalize anything. */
static bool ref_parse(const char *s, size_t n, bool with_time, struct tm *tm, int64_t *epoch)
{
    size_t i = 0;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (!ref_digits(s, n, &i, 4, 4, &y) || i >= n || s[i++] != '-' ||
        !ref_digits(s, n, &i, 2, 2, &mo) || i >= n || s[i++] != '-' ||
        !ref_digits(s, n, &i, 2, 2, &d))
        return false;
    if (with_time) {
        if (i >= n || s[i++] != ' ' || !ref_digits(s, n, &i, 1, 2, &h) || i >= n || s[i++] != ':' ||
            !ref_digits(s, n, &i, 1, 2, &mi) || i >= n || s[i++] != ':' ||
            !ref_digits(s, n, &i, 1, 2, &sec))
            return false;
    }
    if (i != n || y < TIME_MIN_YEAR || y > TIME_MAX_YEAR || h > 23 || mi > 59 || sec > 59)
        return false;
    memset(tm, 0, sizeof *tm);
    tm->tm_year = y - 1900;
    tm->tm_mon = mo - 1;
    tm->tm_mday = d;
    tm->tm_hour = h;
    tm->tm_min = mi;
    tm->tm_sec = sec;
    struct tm norm = *tm;
    *epoch = (int64_t)timegm(&norm);
    return norm.tm_year == tm->tm_year && norm.tm_mon == tm->tm_mon && norm.tm_mday == tm->tm_mday;
}

static void check_text(const char *s, size_t n, bool with_time)
{
    int64_t got = -1, want = -1;
    struct tm tm;
    bool ok = with_time ? time_parse_datetime(s, n, &got) : time_parse_date(s, n, &got);
    FUZZ_CHECK(ok == ref_parse(s, n, with_time, &tm, &want));
    if (!ok)
        return;
    FUZZ_CHECK(got == want);

    char canon[TIME_FORMAT_LEN + 1], out[TIME_FORMAT_LEN + 1];
    snprintf(canon, sizeof canon, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    time_format(got, out);
    FUZZ_CHECK(strcmp(out, canon) == 0);

    int64_t again = -1;
    FUZZ_CHECK(time_parse_datetime(canon, TIME_FORMAT_LEN, &again) && again == got);
    FUZZ_CHECK(time_parse_date(canon, 10, &again) && again == got - got % 86400);
}

/* Any epoch prints as a datetime that parses back to it, once clamped to
 * the four-digit years; days convert to a calendar date and back. */
static void check_epoch(const uint8_t *data)
{
    int64_t epoch;
    memcpy(&epoch, data, sizeof epoch);
    char out[TIME_FORMAT_LEN + 1];
    time_format(epoch, out);
    FUZZ_CHECK(strlen(out) == TIME_FORMAT_LEN);
    int64_t clamped = epoch < 0 ? 0 : epoch > 253402300799 ? 253402300799 : epoch, back = -1;
    FUZZ_CHECK(time_parse_datetime(out, TIME_FORMAT_LEN, &back) && back == clamped);

    int64_t days = epoch % DAYS_BOUND, y;
    unsigned m, d;
    time_civil_from_days(days, &y, &m, &d);
    FUZZ_CHECK(m >= 1 && m <= 12 && d >= 1 && d <= 31);
    FUZZ_CHECK(time_days_from_civil(y, m, d) == days);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    check_text(s, size, false);
    check_text(s, size, true);
    if (size >= sizeof(int64_t))
        check_epoch(data);
    return 0;
}
