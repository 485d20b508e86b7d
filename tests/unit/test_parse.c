/* The sync page parser: the documented shape, strict JSON, and every way a
 * page can be malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/parse.h"

struct parsed {
    struct parsed_page pp;
    char *strings;
    char *json;
    char msg[CL_ERRMSG_MAX];
};

static cl_err parse(struct parsed *p, const char *body)
{
    size_t n = strlen(body);
    free(p->strings);
    free(p->json);
    p->strings = malloc(n + 1);
    p->json = malloc(n + 1);
    return page_parse(body, n, p->strings, p->json, &p->pp, p->msg);
}

static void done(struct parsed *p)
{
    free(p->pp.cases);
    free(p->pp.assignees);
    free(p->strings);
    free(p->json);
}

static void test_documented_example(void **state)
{
    (void)state;
    struct parsed p = {0};
    const char *body =
        "{\n \"data\": [{\n  \"id\": 1, \"number_customergauge\": 1, \"status\": \"open\",\n"
        "  \"assignee\": {\"id\": 1, \"username\": \"johndoe\", \"email\": "
        "\"john.doe@example.com\"},\n  \"time_to_follow_up\": null, \"time_to_close\": null,\n"
        "  \"created_at\": \"2022-05-17 12:34:56\", \"updated_at\": \"2022-05-25 12:34:56\"\n"
        " }, {\"id\": 2, \"number_customergauge\": 2, \"status\": \"closed\", \"assignee\": null,"
        " \"time_to_follow_up\": 24, \"time_to_close\": 128, \"created_at\": "
        "\"2022-05-17 12:34:56\", \"updated_at\": \"2022-05-25 12:34:56\"}],\n"
        " \"cursor\": {\"next\": 123}\n}";
    assert_int_equal(parse(&p, body), CL_OK);
    assert_int_equal(p.pp.n, 2);
    assert_int_equal(p.pp.next, 123);
    const cl_case *a = &p.pp.cases[0], *b = &p.pp.cases[1];
    assert_int_equal(a->id, 1);
    assert_string_equal(a->status, "open");
    assert_non_null(a->assignee);
    assert_string_equal(a->assignee->email, "john.doe@example.com");
    assert_int_equal(a->time_to_follow_up, CL_HOURS_NULL);
    assert_null(b->assignee);
    assert_int_equal(b->time_to_follow_up, 24);
    assert_int_equal(b->time_to_close, 128);
    assert_string_equal(b->updated_at, "2022-05-25 12:34:56");
    /* The record is kept as sent, minus the whitespace between tokens. */
    char *json = strndup(b->json, b->json_len);
    assert_string_equal(json, "{\"id\":2,\"number_customergauge\":2,\"status\":\"closed\","
                              "\"assignee\":null,\"time_to_follow_up\":24,\"time_to_close\":128,"
                              "\"created_at\":\"2022-05-17 12:34:56\",\"updated_at\":"
                              "\"2022-05-25 12:34:56\"}");
    free(json);
    done(&p);
}

/* A record without whitespace between its tokens is kept byte for byte (it
 * is copied, not compacted); whitespace anywhere between tokens, even only
 * inside the assignee, is removed, and whitespace inside strings stays. */
static void test_record_json_as_sent(void **state)
{
    (void)state;
    struct parsed p = {0};
    const char *compact_case = "{\"id\":1,\"status\":\"a b\\t\",\"assignee\":{\"id\":2,"
                               "\"username\":\"x y\"},\"created_at\":\"2022-05-17 12:34:56\"}";
    char body[512];
    snprintf(body, sizeof body,
             "{\"data\":[%s,{\"id\":3,\"assignee\":{\"id\":4, \"username\":\"x y\"}}"
             "],\"cursor\":{\"next\":3}}",
             compact_case);
    assert_int_equal(parse(&p, body), CL_OK);
    assert_int_equal(p.pp.n, 2);
    const cl_case *a = &p.pp.cases[0], *b = &p.pp.cases[1];
    assert_int_equal(a->json_len, strlen(compact_case));
    assert_memory_equal(a->json, compact_case, a->json_len);
    const char *want = "{\"id\":3,\"assignee\":{\"id\":4,\"username\":\"x y\"}}";
    assert_int_equal(b->json_len, strlen(want));
    assert_memory_equal(b->json, want, b->json_len);
    done(&p);
}

static void test_empty_page_and_key_order(void **state)
{
    (void)state;
    struct parsed p = {0};
    assert_int_equal(parse(&p, "{\"cursor\":{\"next\":7},\"data\":[]}"), CL_OK);
    assert_int_equal(p.pp.n, 0);
    assert_int_equal(p.pp.next, 7);
    done(&p);
}

static void test_strings_are_decoded(void **state)
{
    (void)state;
    struct parsed p = {0};
    const char *body = "{\"data\":[{\"id\":5,\"status\":\"a \\\"q\\\" \\\\ \\/ \\n\\t\","
                       "\"assignee\":{\"id\":3,\"username\":\"caf\\u00e9 \\ud83d\\ude00\","
                       "\"email\":\"\xc3\xa9@x\"},\"extra\":[1,{\"k\":[true,false,null]},-2.5e3]}],"
                       "\"cursor\":{\"next\":9},\"meta\":{}}";
    assert_int_equal(parse(&p, body), CL_OK);
    const cl_case *k = &p.pp.cases[0];
    assert_string_equal(k->status, "a \"q\" \\ / \n\t");
    assert_string_equal(k->assignee->username, "caf\xc3\xa9 \xf0\x9f\x98\x80");
    assert_string_equal(k->assignee->email, "\xc3\xa9@x");
    assert_null(k->created_at);
    /* Unknown fields are kept in the record's JSON, escapes as sent. */
    assert_non_null(
        memmem(k->json, k->json_len, "\"extra\":[1,{\"k\":[true,false,null]},-2.5e3]", 41));
    assert_non_null(memmem(k->json, k->json_len, "\\u00e9", 6));
    done(&p);
}

static void test_lenient_integers(void **state)
{
    (void)state;
    struct parsed p = {0};
    assert_int_equal(parse(&p, "{\"data\":[{\"id\":\"12\",\"number_customergauge\":\"34\","
                               "\"time_to_close\":5.0}],\"cursor\":{\"next\":\"99\"}}"),
                     CL_OK);
    assert_int_equal(p.pp.cases[0].id, 12);
    assert_int_equal(p.pp.cases[0].number_customergauge, 34);
    assert_int_equal(p.pp.cases[0].time_to_close, 5);
    assert_int_equal(p.pp.next, 99);
    done(&p);
}

/* Pages that must be refused, and why. */
static const char *const malformed[] = {
    "",
    "[]",
    "{\"data\":[]}",                                      /* no cursor */
    "{\"cursor\":{\"next\":1}}",                          /* no data */
    "{\"data\":[],\"cursor\":{\"next\":null}}",           /* null cursor */
    "{\"data\":[],\"cursor\":{\"next\":1.5}}",            /* not an integer */
    "{\"data\":{},\"cursor\":{\"next\":1}}",              /* data not an array */
    "{\"data\":[{}],\"cursor\":{\"next\":1}}",            /* a case without id */
    "{\"data\":[{\"id\":null}],\"cursor\":{\"next\":1}}", /* null id */
    "{\"data\":[1],\"cursor\":{\"next\":1}}",             /* a case not an object */
    "{\"data\":[{\"id\":1,}],\"cursor\":{\"next\":1}}",   /* trailing comma */
    "{\"data\":[{\"id\":1}],\"cursor\":{\"next\":1}} x",  /* trailing bytes */
    "{\"data\":[{\"id\":01}],\"cursor\":{\"next\":1}}",   /* leading zero */
    "{\"data\":[{\"id\":1,\"status\":\"a\nb\"}],\"cursor\":{\"next\":1}}",     /* raw control */
    "{\"data\":[{\"id\":1,\"status\":\"\\x\"}],\"cursor\":{\"next\":1}}",      /* bad escape */
    "{\"data\":[{\"id\":1,\"status\":\"\\ud800\"}],\"cursor\":{\"next\":1}}",  /* lone surrogate */
    "{\"data\":[{\"id\":1,\"status\":\"\\u0000\"}],\"cursor\":{\"next\":1}}",  /* NUL */
    "{\"data\":[{\"id\":1,\"status\":\"\xff\"}],\"cursor\":{\"next\":1}}",     /* bad UTF-8 */
    "{\"data\":[{\"id\":1,\"status\":\"\xc0\xaf\"}],\"cursor\":{\"next\":1}}", /* overlong */
    "{\"data\":[{\"id\":1,\"status\":3}],\"cursor\":{\"next\":1}}",            /* wrong type */
    "{\"data\":[{\"id\":1,\"assignee\":\"bob\"}],\"cursor\":{\"next\":1}}",
    "{\"data\":[{\"id\":99999999999999999999}],\"cursor\":{\"next\":1}}", /* overflow */
    "{\"data\":[],\"data\":[],\"cursor\":{\"next\":1}}",                  /* repeated */
    "{\"data\":[{\"id\":1,\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
    "]]}],"
    "\"cursor\":{\"next\":1}}",               /* too deep */
    "{\"data\":[{\"id\":1,\"status\":\"open", /* truncated */
    "{\"data\":[],\"cursor\":{\"next\":1}",   /* truncated */
    "{\"data\":[{\"id\":tru}],\"cursor\":{\"next\":1}}",
};

static void test_malformed_pages_are_refused(void **state)
{
    (void)state;
    struct parsed p = {0};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        cl_err err = parse(&p, malformed[i]);
        if (err != CL_EINVAL)
            fail_msg("accepted malformed page %zu: %s", i, malformed[i]);
        assert_int_equal(p.pp.n, 0);
        assert_true(p.msg[0] != '\0');
    }
    done(&p);
}

static void test_many_cases_grow_the_arrays(void **state)
{
    (void)state;
    size_t n = 1000;
    char *body = malloc(n * 64 + 64);
    char *o = body + sprintf(body, "{\"data\":[");
    for (size_t i = 0; i < n; i++)
        o += sprintf(o, "%s{\"id\":%zu,\"assignee\":{\"id\":%zu}}", i ? "," : "", i + 1, i);
    sprintf(o, "],\"cursor\":{\"next\":%zu}}", n);
    struct parsed p = {0};
    assert_int_equal(parse(&p, body), CL_OK);
    assert_int_equal(p.pp.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(p.pp.cases[i].id, (int64_t)i + 1);
        assert_ptr_equal(p.pp.cases[i].assignee, &p.pp.assignees[i]);
        assert_int_equal(p.pp.cases[i].assignee->id, (int64_t)i);
    }
    free(body);
    done(&p);
}

/* The guess at cursor.next read off a page's end, as a table. */
static void test_peek_next(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        bool found;
        int64_t next;
    } cases[] = {
        {"{\"data\":[{\"id\":1}],\"cursor\":{\"next\":42}}", true, 42},
        {"{\"data\":[],\"cursor\":{\"next\":0}}", true, 0},
        {"{ \"data\" : [ ] ,\n \"cursor\" : { \"next\" :\t 7 } }\n", true, 7},
        /* The last "next" wins, whatever it belongs to: only a guess. */
        {"{\"cursor\":{\"next\":5},\"data\":[{\"id\":1,\"next\":9}]}", true, 9},
        {"{\"data\":[],\"cursor\":{\"next\":null}}", false, 0},
        {"{\"data\":[],\"cursor\":{\"next\":-3}}", false, 0},
        {"{\"data\":[],\"cursor\":{}}", false, 0},
        {"\"next\"", false, 0},
        {"", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t next = -1;
        bool found = page_peek_next(cases[i].body, strlen(cases[i].body), &next);
        if (found != cases[i].found || (found && next != cases[i].next))
            fail_msg("%s: found %d next %lld", cases[i].body, found, (long long)next);
    }
    /* Only the tail is read: a cursor further from the end is not found. */
    char big[PEEK_TAIL * 2];
    int n = snprintf(big, sizeof big, "{\"cursor\":{\"next\":11},\"data\":[");
    memset(big + n, ' ', sizeof big - (size_t)n - 3);
    memcpy(big + sizeof big - 3, "]}", 3);
    int64_t next;
    assert_false(page_peek_next(big, strlen(big), &next));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documented_example),
        cmocka_unit_test(test_record_json_as_sent),
        cmocka_unit_test(test_empty_page_and_key_order),
        cmocka_unit_test(test_strings_are_decoded),
        cmocka_unit_test(test_lenient_integers),
        cmocka_unit_test(test_malformed_pages_are_refused),
        cmocka_unit_test(test_many_cases_grow_the_arrays),
        cmocka_unit_test(test_peek_next),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
