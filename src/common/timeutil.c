/* Calendar arithmetic without the C library's time zone machinery: timegm()
 * and strftime() consult locale and TZ state, are slower than needed on the
 * sync hot path, and differ between platforms. Everything here is UTC and
 * proleptic Gregorian. */
#include "common/timeutil.h"

#include <string.h>
#include <time.h>

#define SECS_PER_DAY      86400
#define SECS_PER_HOUR     3600
#define DAYS_PER_ERA      146097 /* days in 400 Gregorian years */
#define YEARS_PER_ERA     400
#define DAYS_0000_TO_1970 719468 /* days from 0000-03-01 to 1970-01-01 */
#define DATE_LEN          10     /* strlen("YYYY-mm-dd") */
#define TIME_FIELD_MAX    2      /* digits in an hour, minute or second */
#define DATETIME_MAX_LEN  (DATE_LEN + 1 + 3 * TIME_FIELD_MAX + 2)

/* The first and the last second that time_format can write in four-digit
 * years: 1970-01-01 00:00:00 and 9999-12-31 23:59:59. */
#define FORMAT_MIN_EPOCH 0
#define FORMAT_MAX_EPOCH 253402300799LL

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && is_leap(y))
        return 29;
    return days[m - 1];
}

/* The algorithm counts years from March, so that the leap day is the last day
 * of its year and month lengths follow a fixed pattern (153 days for each
 * five months from March). Eras of 400 years make it exact for every year. */
int64_t time_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - (YEARS_PER_ERA - 1)) / YEARS_PER_ERA;
    int64_t yoe = y - era * YEARS_PER_ERA;                /* [0, 399] */
    int64_t mp = m > 2 ? (int64_t)m - 3 : (int64_t)m + 9; /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;    /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;  /* [0, 146096] */
    return era * DAYS_PER_ERA + doe - DAYS_0000_TO_1970;
}

void time_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    days += DAYS_0000_TO_1970;
    int64_t era = (days >= 0 ? days : days - (DAYS_PER_ERA - 1)) / DAYS_PER_ERA;
    int64_t doe = days - era * DAYS_PER_ERA;                             /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * YEARS_PER_ERA + (*m <= 2);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads exactly `width` digits at s; the caller has checked the length. */
static bool fixed_digits(const char *s, unsigned width, unsigned *out)
{
    unsigned v = 0;
    for (unsigned i = 0; i < width; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* Parses the first DATE_LEN bytes of s as a date; the caller checks length. */
static bool parse_date_prefix(const char *s, int64_t *days)
{
    unsigned y, m, d;
    if (!fixed_digits(s, 4, &y) || s[4] != '-' || !fixed_digits(s + 5, 2, &m) || s[7] != '-' ||
        !fixed_digits(s + 8, 2, &d))
        return false;
    if (y < TIME_MIN_YEAR || y > TIME_MAX_YEAR || m < 1 || m > 12 || d < 1 ||
        d > days_in_month(y, m))
        return false;
    *days = time_days_from_civil(y, m, d);
    return true;
}

bool time_parse_date(const char *s, size_t n, int64_t *epoch)
{
    int64_t days;
    if (n != DATE_LEN || !parse_date_prefix(s, &days))
        return false;
    *epoch = days * SECS_PER_DAY;
    return true;
}

/* Reads one or two digits at s[*i..n), stopping at the first non-digit, and
 * advances *i. Fails on none, or on more than two. */
static bool short_field(const char *s, size_t n, size_t *i, unsigned max, unsigned *out)
{
    unsigned v = 0, k = 0;
    while (*i < n && is_digit(s[*i])) {
        if (++k > TIME_FIELD_MAX)
            return false;
        v = v * 10 + (unsigned)(s[*i] - '0');
        (*i)++;
    }
    if (k == 0 || v > max)
        return false;
    *out = v;
    return true;
}

bool time_parse_datetime(const char *s, size_t n, int64_t *epoch)
{
    int64_t days;
    unsigned h, mi, sec;
    if (n < DATE_LEN + 6 || n > DATETIME_MAX_LEN || !parse_date_prefix(s, &days) ||
        s[DATE_LEN] != ' ')
        return false;
    size_t i = DATE_LEN + 1;
    if (!short_field(s, n, &i, 23, &h) || i >= n || s[i++] != ':')
        return false;
    if (!short_field(s, n, &i, 59, &mi) || i >= n || s[i++] != ':')
        return false;
    if (!short_field(s, n, &i, 59, &sec) || i != n)
        return false;
    *epoch = days * SECS_PER_DAY + (int64_t)h * SECS_PER_HOUR + (int64_t)mi * 60 + sec;
    return true;
}

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* The dates of the days formatted on this thread, by day number. A sync
 * page writes two times a case, and the date is what costs: converting a
 * day count to y-m-d takes several 64-bit divisions. With a slot for each
 * day of about a year and a half, a page's days are almost always found.
 * A slot holds its day plus one, so that the zeroed start means empty. */
#define DATE_CACHE_SLOTS 512 /* a power of two; 12 KiB a thread */

struct date_slot {
    int64_t day_plus_one;
    char date[DATE_LEN];
};

static _Thread_local struct date_slot date_cache[DATE_CACHE_SLOTS];

/* Writes the "YYYY-mm-dd" of a day count >= 0 at out (no NUL). */
static void put_date(int64_t days, char *out)
{
    struct date_slot *c = &date_cache[(uint64_t)days & (DATE_CACHE_SLOTS - 1)];
    if (c->day_plus_one != days + 1) {
        int64_t y;
        unsigned m, d;
        time_civil_from_days(days, &y, &m, &d);
        put2(c->date, (unsigned)(y / 100));
        put2(c->date + 2, (unsigned)(y % 100));
        c->date[4] = '-';
        put2(c->date + 5, m);
        c->date[7] = '-';
        put2(c->date + 8, d);
        c->day_plus_one = days + 1;
    }
    memcpy(out, c->date, DATE_LEN);
}

/* Times outside the four-digit years are clamped, so that the output always
 * has the documented shape; the store never holds such times. */
void time_format(int64_t epoch, char out[TIME_FORMAT_LEN + 1])
{
    if (epoch < FORMAT_MIN_EPOCH)
        epoch = FORMAT_MIN_EPOCH;
    if (epoch > FORMAT_MAX_EPOCH)
        epoch = FORMAT_MAX_EPOCH;
    unsigned secs = (unsigned)(epoch % SECS_PER_DAY);
    put_date(epoch / SECS_PER_DAY, out);
    out[10] = ' ';
    put2(out + 11, secs / SECS_PER_HOUR);
    out[13] = ':';
    put2(out + 14, secs / 60 % 60);
    out[16] = ':';
    put2(out + 17, secs % 60);
    out[TIME_FORMAT_LEN] = '\0';
}

int64_t time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int64_t time_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
