/* JSON writing: the hot path of every response, so it is hand-written.
 * Each function appends to a struct buf (see buf.h for error handling). */
#ifndef CL_COMMON_JSON_H
#define CL_COMMON_JSON_H

#include <stddef.h>
#include <stdint.h>

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

#endif
