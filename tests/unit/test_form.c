/* Form and query string decoding: percent escapes, '+', empty pairs, repeated
 * keys and every limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/form.h"

#define ARENA_LEN 4096
#define MAX_PAIRS 4

struct pair {
    const char *key;
    const char *value;
};

static const struct {
    const char *in;
    size_t n; /* pairs expected */
    struct pair want[MAX_PAIRS];
} ok_cases[] = {
    {"", 0, {{0}}},
    {"&&&", 0, {{0}}},
    {"per_page=10", 1, {{"per_page", "10"}}},
    {"updated_at%5Bstart%5D=2022-07-17", 1, {{"updated_at[start]", "2022-07-17"}}},
    {"updated_at[start]=2022-07-17&updated_at[end]=2022-07-18",
     2,
     {{"updated_at[start]", "2022-07-17"}, {"updated_at[end]", "2022-07-18"}}},
    {"note=hello+world", 1, {{"note", "hello world"}}},
    {"note=1%2B1", 1, {{"note", "1+1"}}},
    {"a%2b=%2F%2f", 1, {{"a+", "//"}}}, /* hex digits in either case */
    {"k=%c3%A9", 1, {{"k", "\xc3\xa9"}}},
    {"a=1&&b=2&", 2, {{"a", "1"}, {"b", "2"}}},
    {"&a=1", 1, {{"a", "1"}}},
    {"flag", 1, {{"flag", ""}}},
    {"flag=", 1, {{"flag", ""}}},
    {"=v", 1, {{"", "v"}}},
    {"a=b=c", 1, {{"a", "b=c"}}}, /* only the first '=' splits */
    {"a=%26&b=%3D", 2, {{"a", "&"}, {"b", "="}}},
    {"grant_type=client_credentials&client_id=abc&client_secret=s%2Fx",
     3,
     {{"grant_type", "client_credentials"}, {"client_id", "abc"}, {"client_secret", "s/x"}}},
};

static void test_parse_ok(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ok_cases / sizeof ok_cases[0]; i++) {
        char arena[ARENA_LEN];
        char msg[CL_ERRMSG_MAX] = "";
        struct form f;
        const char *in = ok_cases[i].in;
        cl_err err = form_parse(in, strlen(in), arena, sizeof arena, &f, msg);
        if (err)
            fail_msg("\"%s\": %s", in, msg);
        if (f.n != ok_cases[i].n)
            fail_msg("\"%s\": %zu pairs, want %zu", in, f.n, ok_cases[i].n);
        for (size_t j = 0; j < f.n; j++) {
            const struct pair *w = &ok_cases[i].want[j];
            assert_string_equal(f.params[j].key, w->key);
            assert_int_equal(f.params[j].key_len, strlen(w->key));
            assert_string_equal(f.params[j].value, w->value);
            assert_int_equal(f.params[j].value_len, strlen(w->value));
        }
    }
}

static const struct {
    const char *in;
    cl_err err;
    const char *msg_part; /* the message must name the problem */
} bad_cases[] = {
    {"a=%zz", CL_EINVAL, "invalid percent escape '%zz'"},
    {"a=%g0", CL_EINVAL, "invalid percent escape '%g0'"},
    {"a=%0g&b=1", CL_EINVAL, "invalid percent escape '%0g'"},
    {"%%41=1", CL_EINVAL, "invalid percent escape '%%4'"},
    {"a=%4", CL_EINVAL, "incomplete percent escape '%4'"},
    {"a=%", CL_EINVAL, "incomplete percent escape '%'"},
    {"a=%4&b=1", CL_EINVAL, "incomplete percent escape '%4'"},
    {"a%=1", CL_EINVAL, "incomplete percent escape '%'"},
    {"a=%00", CL_EINVAL, "NUL"},
    {"%00=1", CL_EINVAL, "NUL"},
};

static void test_parse_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        char arena[ARENA_LEN];
        char msg[CL_ERRMSG_MAX] = "";
        struct form f;
        const char *in = bad_cases[i].in;
        cl_err err = form_parse(in, strlen(in), arena, sizeof arena, &f, msg);
        if (err != bad_cases[i].err)
            fail_msg("\"%s\": error %d, want %d", in, err, bad_cases[i].err);
        if (!strstr(msg, bad_cases[i].msg_part))
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", in, msg, bad_cases[i].msg_part);
        assert_int_equal(f.n, 0);
    }
}

/* A raw NUL in the input is as bad as a decoded one. */
static void test_raw_nul(void **state)
{
    (void)state;
    char arena[ARENA_LEN];
    struct form f;
    assert_int_equal(form_parse("a=b\0c", 5, arena, sizeof arena, &f, NULL), CL_EINVAL);
}

/* The input is taken by length: bytes after n are not read. */
static void test_length(void **state)
{
    (void)state;
    char arena[ARENA_LEN];
    struct form f;
    assert_int_equal(form_parse("a=1&b=%zz", 3, arena, sizeof arena, &f, NULL), CL_OK);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.params[0].value, "1");
}

static void test_find(void **state)
{
    (void)state;
    static const char in[] = "cursor=5&per_page=10&cursor=6&cursor%3D=x&Cursor=7";
    char arena[ARENA_LEN];
    struct form f;
    const struct form_param *p;
    assert_int_equal(form_parse(in, strlen(in), arena, sizeof arena, &f, NULL), CL_OK);
    assert_int_equal(form_find(&f, "cursor", &p), 2); /* keys match exactly */
    assert_string_equal(p->value, "5");
    assert_int_equal(form_find(&f, "per_page", &p), 1);
    assert_string_equal(p->value, "10");
    assert_int_equal(form_find(&f, "cursor=", &p), 1);
    assert_int_equal(form_find(&f, "missing", &p), 0);
    assert_null(p);
    assert_int_equal(form_find(&f, "Cursor", NULL), 1);
}

/* Builds "k0=v&k1=v&..." with `pairs` pairs and `empties` empty pairs. */
static size_t many_pairs(char *out, size_t len, int pairs, int empties)
{
    size_t n = 0;
    for (int i = 0; i < empties; i++)
        n += (size_t)snprintf(out + n, len - n, "&");
    for (int i = 0; i < pairs; i++)
        n += (size_t)snprintf(out + n, len - n, "%sk%d=v", i ? "&" : "", i);
    return n;
}

static void test_too_many(void **state)
{
    (void)state;
    char in[1024], arena[ARENA_LEN], msg[CL_ERRMSG_MAX] = "";
    struct form f;
    size_t n = many_pairs(in, sizeof in, FORM_MAX_PARAMS, 100); /* empties do not count */
    assert_int_equal(form_parse(in, n, arena, sizeof arena, &f, msg), CL_OK);
    assert_int_equal(f.n, FORM_MAX_PARAMS);
    assert_string_equal(f.params[FORM_MAX_PARAMS - 1].key, "k31");
    n = many_pairs(in, sizeof in, FORM_MAX_PARAMS + 1, 0);
    assert_int_equal(form_parse(in, n, arena, sizeof arena, &f, msg), CL_ELIMIT);
    assert_non_null(strstr(msg, "Too many parameters"));
    assert_int_equal(f.n, 0);
}

/* The arena needs n + 2 * FORM_MAX_PARAMS bytes, and that is enough for the
 * worst case: FORM_MAX_PARAMS keys without '=' and without escapes. */
static void test_arena_size(void **state)
{
    (void)state;
    char in[256], arena[ARENA_LEN], msg[CL_ERRMSG_MAX] = "";
    struct form f;
    size_t n = 0;
    for (int i = 0; i < FORM_MAX_PARAMS; i++)
        n += (size_t)snprintf(in + n, sizeof in - n, "%sk", i ? "&" : "");
    size_t need = n + 2 * FORM_MAX_PARAMS;
    memset(arena, 'X', sizeof arena);
    assert_int_equal(form_parse(in, n, arena, need - 1, &f, msg), CL_ELIMIT);
    assert_non_null(strstr(msg, "arena"));
    assert_int_equal(form_parse(in, n, arena, need, &f, msg), CL_OK);
    assert_int_equal(f.n, FORM_MAX_PARAMS);
    assert_int_equal(arena[need], 'X'); /* nothing written past the arena */
    assert_int_equal(form_parse("", 0, arena, 2 * FORM_MAX_PARAMS - 1, &f, msg), CL_ELIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),   cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_raw_nul),    cmocka_unit_test(test_length),
        cmocka_unit_test(test_find),       cmocka_unit_test(test_too_many),
        cmocka_unit_test(test_arena_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
