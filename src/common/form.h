/* application/x-www-form-urlencoded parsing, used for query strings and for
 * form bodies alike. Keys and values are percent-decoded ('+' is a space)
 * into an arena the caller provides, so parsing allocates nothing. */
#ifndef CL_COMMON_FORM_H
#define CL_COMMON_FORM_H

#include <stddef.h>

#include "common/err.h"

#define FORM_MAX_PARAMS 32 /* more pairs than this is CL_ELIMIT */

struct form_param {
    const char *key; /* decoded, NUL-terminated, points into the arena */
    size_t key_len;
    const char *value; /* decoded, NUL-terminated; "" for "key" or "key=" */
    size_t value_len;
};

struct form {
    struct form_param params[FORM_MAX_PARAMS];
    size_t n;
};

/* Parses s[0..n) into out. The arena must hold at least n + 2 * FORM_MAX_PARAMS
 * bytes and must outlive out. Empty pairs ("a=1&&b=2") are skipped.
 * Errors: CL_EINVAL for a bad percent escape or a key or value that decodes
 * to a NUL byte, CL_ELIMIT for too many pairs; msg says which. */
cl_err form_parse(const char *s, size_t n, char *arena, size_t arena_len, struct form *out,
                  char *msg);

/* Returns how many times key occurs, and the first occurrence in *first
 * (NULL when none). Callers treat a count above one as a repeated parameter. */
size_t form_find(const struct form *f, const char *key, const struct form_param **first);

#endif
