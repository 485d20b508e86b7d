/* JSON writing: the hot path of every response, so it is hand-written.
 * Each function appends to a struct buf (see buf.h for error handling). */
#ifndef CL_COMMON_JSON_H
#define CL_COMMON_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"

/* Appends s[0..n) as a quoted JSON string. Control characters become \n, \t,
 * ... or \u00XX; '"' and '\\' are escaped; '/' is not. Bytes >= 0x80 are
 * copied as they are when they form valid UTF-8; each byte of an invalid
 * sequence becomes U+FFFD, so the output is always valid JSON. */
void json_str(struct buf *b, const char *s, size_t n);

/* Appends a C string as a quoted JSON string. */
void json_cstr(struct buf *b, const char *s);

/* Appends a decimal integer. */
void json_int(struct buf *b, int64_t v);

/* Appends v, or null when v < 0 (the encoding of "no value" for timers). */
void json_int_or_null(struct buf *b, int64_t v);

/* Appends an epoch time as the quoted string "YYYY-mm-dd HH:MM:SS" (UTC). */
void json_time(struct buf *b, int64_t epoch);

/* Direct writing, for the hot paths (a case of the sync feed): the caller
 * adds up an upper bound of what it will write from the JSON_*_MAX sizes,
 * takes room for it once with json_begin, writes with the json_put_*
 * functions, each of which returns the end of what it wrote, and ends with
 * json_end. The output is byte for byte that of the functions above. */
#define JSON_INT_MAX    20                    /* strlen("-9223372036854775808") */
#define JSON_TIME_MAX   21                    /* a quoted "YYYY-mm-dd HH:MM:SS" */
#define JSON_STR_MAX(n) (6 * (size_t)(n) + 2) /* each byte escaped as six, and the quotes */

/* Room for max more bytes at the end of b: where to write, or NULL when b
 * has failed or max does not fit under its cap (b is then left unchanged,
 * so that the caller can fall back to the appending functions, which fail
 * only when the bytes actually written do not fit). */
char *json_begin(struct buf *b, size_t max);

/* Ends a direct write: end is what the last json_put_* returned. */
void json_end(struct buf *b, char *end);

char *json_put_int(char *o, int64_t v);
char *json_put_int_or_null(char *o, int64_t v);
char *json_put_time(char *o, int64_t epoch);
char *json_put_str(char *o, const char *s, size_t n);

/* The end of the run of bytes at [s, end) that a JSON string holds as they
 * are: none below 0x20, no '"' or '\\', none of 0x80 and above. Reads eight
 * bytes at a time; for the writer above and for parsers. */
const char *json_plain_end(const char *s, const char *end);

/* Inline, so that the copy of a literal, whose length the compiler knows,
 * becomes a few moves instead of a call to memcpy: a case has twelve. */
static inline char *json_put_raw(char *o, const char *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}

/* Writes a string literal (its bytes without the terminating NUL). */
#define JSON_PUT_LIT(o, lit) json_put_raw((o), "" lit, sizeof(lit) - 1)

#endif
