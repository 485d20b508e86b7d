/* Calendar dates and times, always UTC, as the API writes them. */
#ifndef CL_COMMON_TIMEUTIL_H
#define CL_COMMON_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIME_MIN_YEAR   1970
#define TIME_MAX_YEAR   9999
#define TIME_FORMAT_LEN 19 /* strlen("YYYY-mm-dd HH:MM:SS") */

/* Parses exactly "YYYY-mm-dd" (a real calendar date, years TIME_MIN_YEAR..
 * TIME_MAX_YEAR) into the epoch second of that day's midnight UTC. Rejects
 * 2022-02-30, missing zero padding, signs, spaces and trailing bytes. */
bool time_parse_date(const char *s, size_t n, int64_t *epoch);

/* Parses "YYYY-mm-dd H:M:S" (hours, minutes and seconds of one or two digits;
 * one space between date and time) into an epoch second. Same strictness. */
bool time_parse_datetime(const char *s, size_t n, int64_t *epoch);

/* Writes "YYYY-mm-dd HH:MM:SS" and a NUL into out. */
void time_format(int64_t epoch, char out[TIME_FORMAT_LEN + 1]);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t time_days_from_civil(int64_t y, unsigned m, unsigned d);
void time_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* The wall clock in whole seconds, and a monotonic clock in milliseconds. */
int64_t time_now(void);
int64_t time_mono_ms(void);

/* The monotonic clock in nanoseconds, for durations finer than a millisecond
 * (latency histograms, rate limiting). */
int64_t time_mono_ns(void);

#endif
