/* CSV quoting (RFC 4180) and the row layout of a case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client/csv.h"

static char *field(struct buf *b, const char *s)
{
    buf_reset(b);
    csv_field(b, s);
    assert_false(buf_failed(b));
    buf_putc(b, '\0');
    return b->data;
}

/* Each row: the input and the field RFC 4180 asks for. */
static const struct {
    const char *in;
    const char *out;
} cases[] = {
    {"open", "open"},
    {"john doe", "john doe"},                       /* spaces need no quotes */
    {"", "\"\""},                                   /* empty string, unlike null */
    {"a,b", "\"a,b\""},                             /* separator */
    {"say \"hi\"", "\"say \"\"hi\"\"\""},           /* quotes doubled */
    {"\"", "\"\"\"\""},                             /* a lone quote */
    {"line1\nline2", "\"line1\nline2\""},           /* LF kept inside quotes */
    {"cr\r", "\"cr\r\""},                           /* CR too */
    {"o'brien@example.com", "o'brien@example.com"}, /* apostrophes are plain */
    {"caf\xc3\xa9", "caf\xc3\xa9"},                 /* UTF-8 passes through */
    {",\",\"", "\",\"\",\"\"\""},
};

static void test_fields(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(field(&b, cases[i].in), cases[i].out);
    buf_free(&b);
}

static void test_null_is_empty(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 64);
    assert_string_equal(field(&b, NULL), "");
    buf_free(&b);
}

static void test_row_with_assignee(void **state)
{
    (void)state;
    cl_assignee a = {.id = 7, .username = "johndoe", .email = "john.doe@example.com"};
    cl_case k = {.id = 2,
                 .number_customergauge = 42,
                 .status = "closed",
                 .assignee = &a,
                 .time_to_follow_up = 24,
                 .time_to_close = 128,
                 .created_at = "2022-05-17 12:34:56",
                 .updated_at = "2022-05-25 12:34:56"};
    struct buf b;
    buf_init(&b, 1024);
    csv_case(&b, &k);
    buf_putc(&b, '\0');
    assert_string_equal(b.data, "2,42,closed,7,johndoe,john.doe@example.com,24,128,"
                                "2022-05-17 12:34:56,2022-05-25 12:34:56\r\n");
    buf_free(&b);
}

static void test_row_with_nulls(void **state)
{
    (void)state;
    cl_case k = {.id = 1,
                 .number_customergauge = 1,
                 .status = "open",
                 .assignee = NULL,
                 .time_to_follow_up = CL_HOURS_NULL,
                 .time_to_close = CL_HOURS_NULL,
                 .created_at = "2022-05-17 12:34:56",
                 .updated_at = "2022-05-17 12:34:56"};
    struct buf b;
    buf_init(&b, 1024);
    csv_case(&b, &k);
    buf_putc(&b, '\0');
    assert_string_equal(b.data, "1,1,open,,,,,,2022-05-17 12:34:56,2022-05-17 12:34:56\r\n");
    buf_free(&b);
}

static void test_zero_hours_are_not_null(void **state)
{
    (void)state;
    cl_assignee a = {.id = 3, .username = "x,y", .email = NULL};
    cl_case k = {.id = 5,
                 .status = "progress",
                 .assignee = &a,
                 .time_to_follow_up = 0,
                 .time_to_close = CL_HOURS_NULL};
    struct buf b;
    buf_init(&b, 1024);
    csv_case(&b, &k);
    buf_putc(&b, '\0');
    assert_string_equal(b.data, "5,0,progress,3,\"x,y\",,0,,,\r\n");
    buf_free(&b);
}

static void test_header_matches_columns(void **state)
{
    (void)state;
    assert_string_equal(CSV_HEADER, "id,number_customergauge,status,assignee_id,"
                                    "assignee_username,assignee_email,time_to_follow_up,"
                                    "time_to_close,created_at,updated_at\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_null_is_empty),
        cmocka_unit_test(test_row_with_assignee),
        cmocka_unit_test(test_row_with_nulls),
        cmocka_unit_test(test_zero_hours_are_not_null),
        cmocka_unit_test(test_header_matches_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
