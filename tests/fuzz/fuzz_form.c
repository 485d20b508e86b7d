/* form_parse, which reads every query string and form body, on arbitrary
 * bytes. Checks the out-params (in the arena, NUL-terminated, no longer than
 * their encoding) and compares the result with a naive reference decoder. */
#include <stdlib.h>
#include <string.h>

#include "common/form.h"
#include "fuzz_util.h"

struct ref_pair {
    char *key, *value;
    size_t key_len, value_len;
};

/* Percent-decodes s[0..n) into a new string; NULL when invalid. */
static char *ref_decode(const char *s, size_t n, size_t *len)
{
    static const char hex[] = "0123456789abcdef0123456789ABCDEF";
    char *out = malloc(n + 1);
    size_t o = 0;
    FUZZ_CHECK(out);
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            const char *hi = i + 2 < n && s[i + 1] ? strchr(hex, s[i + 1]) : NULL;
            const char *lo = i + 2 < n && s[i + 2] ? strchr(hex, s[i + 2]) : NULL;
            if (!hi || !lo) {
                free(out);
                return NULL;
            }
            c = (int)((hi - hex) % 16 * 16 + (lo - hex) % 16);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0) {
            free(out);
            return NULL;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    *len = o;
    return out;
}

/* The reference: split on '&', skip empty pairs, split on the first '=',
 * decode the key and then the value. Returns the cl_err form_parse must. */
static cl_err ref_parse(const char *s, size_t n, struct ref_pair *pairs, size_t *np)
{
    size_t start = 0;
    *np = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '&')
            continue;
        const char *pair = s + start;
        size_t len = i - start;
        start = i + 1;
        if (len == 0)
            continue;
        if (*np == FORM_MAX_PARAMS)
            return CL_ELIMIT;
        size_t klen = 0;
        while (klen < len && pair[klen] != '=')
            klen++;
        struct ref_pair *p = &pairs[*np];
        p->key = ref_decode(pair, klen, &p->key_len);
        if (!p->key)
            return CL_EINVAL;
        p->value = klen < len ? ref_decode(pair + klen + 1, len - klen - 1, &p->value_len)
                              : ref_decode("", 0, &p->value_len);
        if (!p->value) {
            free(p->key);
            return CL_EINVAL;
        }
        (*np)++;
    }
    return CL_OK;
}

/* One parameter lies inside the arena, NUL-terminated, after the previous. */
static void check_in_arena(const char *s, size_t len, const char *arena, size_t arena_len,
                           const char **next)
{
    FUZZ_CHECK(s >= *next && s + len < arena + arena_len);
    FUZZ_CHECK(s[len] == '\0' && strlen(s) == len);
    *next = s + len + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    size_t arena_len = size + 2 * FORM_MAX_PARAMS;
    char *arena = malloc(arena_len);
    struct form f;
    char msg[CL_ERRMSG_MAX] = "";
    FUZZ_CHECK(arena);

    cl_err err = form_parse(s, size, arena, arena_len, &f, msg);

    struct ref_pair pairs[FORM_MAX_PARAMS];
    size_t np;
    cl_err want = ref_parse(s, size, pairs, &np);
    FUZZ_CHECK(err == want);

    if (err) {
        FUZZ_CHECK(f.n == 0);
        FUZZ_CHECK(msg[0] && strlen(msg) < sizeof msg && fuzz_printable(msg));
    } else {
        FUZZ_CHECK(f.n == np && f.n <= FORM_MAX_PARAMS);
        const char *next = arena;
        for (size_t i = 0; i < f.n; i++) {
            const struct form_param *p = &f.params[i];
            check_in_arena(p->key, p->key_len, arena, arena_len, &next);
            check_in_arena(p->value, p->value_len, arena, arena_len, &next);
            FUZZ_CHECK(p->key_len == pairs[i].key_len && p->value_len == pairs[i].value_len);
            FUZZ_CHECK(memcmp(p->key, pairs[i].key, p->key_len) == 0);
            FUZZ_CHECK(memcmp(p->value, pairs[i].value, p->value_len) == 0);

            /* form_find counts every occurrence and returns the first. */
            size_t count = 0, first = SIZE_MAX;
            for (size_t j = 0; j < f.n; j++) {
                if (strcmp(f.params[j].key, p->key) == 0 && count++ == 0)
                    first = j;
            }
            const struct form_param *found = NULL;
            FUZZ_CHECK(form_find(&f, p->key, &found) == count && found == &f.params[first]);
        }
        /* Decoding never grows: all of it fits in the input's own size. */
        FUZZ_CHECK((size_t)(next - arena) <= size + 2 * f.n);
    }
    for (size_t i = 0; i < np; i++) {
        free(pairs[i].key);
        free(pairs[i].value);
    }

    /* One byte less arena than documented is refused up front. */
    FUZZ_CHECK(form_parse(s, size, arena, arena_len - 1, &f, msg) == CL_ELIMIT && f.n == 0);
    free(arena);
    return 0;
}
