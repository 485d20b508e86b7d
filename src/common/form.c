/* Form and query string decoding. Decoding never makes a string longer, so
 * each pair fits in the arena in its raw length plus two terminating NULs;
 * that is where the arena size of n + 2 * FORM_MAX_PARAMS comes from. */
#include "common/form.h"

#include <string.h>

#define ESCAPE_LEN 3 /* "%XX" */

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Quotes an offending escape for a message, replacing bytes that are not
 * printable ASCII and quote characters with '?', so the message is safe to
 * show in any response, including an OAuth error_description (RFC 6749
 * §5.2 allows neither '"' nor '\' there). */
static void quote_escape(const char *s, size_t n, char out[ESCAPE_LEN + 1])
{
    size_t i;
    for (i = 0; i < n && i < ESCAPE_LEN; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c > 0x20 && c < 0x7f && c != '"' && c != '\'' && c != '\\' ? (char)c : '?';
    }
    out[i] = '\0';
}

/* Decodes s[0..n) into dst (room for n + 1 bytes) and NUL-terminates it.
 * *out_len receives the decoded length. */
static cl_err decode(const char *s, size_t n, char *dst, size_t *out_len, char *msg)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            char shown[ESCAPE_LEN + 1];
            quote_escape(s + i, n - i, shown);
            if (n - i < ESCAPE_LEN)
                return cl_errf(msg, CL_EINVAL,
                               "The parameters contain an incomplete percent escape '%s'.", shown);
            int hi = hex_value((unsigned char)s[i + 1]);
            int lo = hex_value((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return cl_errf(msg, CL_EINVAL,
                               "The parameters contain an invalid percent escape '%s'.", shown);
            c = (unsigned char)(hi << 4 | lo);
            i += ESCAPE_LEN - 1;
        }
        /* A NUL would silently cut the NUL-terminated string short. */
        if (c == '\0')
            return cl_errf(msg, CL_EINVAL, "The parameters must not contain a NUL byte.");
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    *out_len = o;
    return CL_OK;
}

cl_err form_parse(const char *s, size_t n, char *arena, size_t arena_len, struct form *out,
                  char *msg)
{
    cl_err err = CL_OK;
    out->n = 0;
    if (arena_len < n || arena_len - n < 2 * FORM_MAX_PARAMS)
        return cl_errf(msg, CL_ELIMIT, "The form arena is too small.");
    char *a = arena;
    size_t pos = 0;
    while (pos < n) {
        const char *pair = s + pos;
        const char *amp = memchr(pair, '&', n - pos);
        size_t pair_len = amp ? (size_t)(amp - pair) : n - pos;
        pos += pair_len + 1;
        /* Empty pairs ("a=1&&b=2") are skipped. cppcheck wrongly assumes
         * amp > pair here. */
        /* cppcheck-suppress knownConditionTrueFalse */
        if (pair_len == 0)
            continue;
        if (out->n == FORM_MAX_PARAMS) {
            err = cl_errf(msg, CL_ELIMIT, "Too many parameters (at most %d).", FORM_MAX_PARAMS);
            goto fail;
        }
        const char *eq = memchr(pair, '=', pair_len);
        size_t key_raw = eq ? (size_t)(eq - pair) : pair_len;
        struct form_param *p = &out->params[out->n];
        err = decode(pair, key_raw, a, &p->key_len, msg);
        if (err)
            goto fail;
        p->key = a;
        a += p->key_len + 1;
        size_t value_raw = eq ? pair_len - key_raw - 1 : 0;
        err = decode(eq ? eq + 1 : pair + pair_len, value_raw, a, &p->value_len, msg);
        if (err)
            goto fail;
        p->value = a;
        a += p->value_len + 1;
        out->n++;
    }
    return CL_OK;

fail:
    /* A half-parsed form must not be mistaken for a valid one. */
    out->n = 0;
    return err;
}

size_t form_find(const struct form *f, const char *key, const struct form_param **first)
{
    size_t len = strlen(key), count = 0;
    const struct form_param *found = NULL;
    for (size_t i = 0; i < f->n; i++) {
        const struct form_param *p = &f->params[i];
        if (p->key_len == len && memcmp(p->key, key, len) == 0) {
            if (count++ == 0)
                found = p;
        }
    }
    /* first may be NULL when only the count matters. */
    if (first)
        *first = found;
    return count;
}
