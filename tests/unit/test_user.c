/* What makes a username and an email valid (cases/user.h), as tables of
 * accepted and refused inputs, with the limits probed on both sides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cases/case.h"
#include "cases/user.h"

/* Fills buf with n copies of c followed by suffix; returns buf. */
static char *repeat(char *buf, size_t cap, char c, size_t n, const char *suffix)
{
    assert_true(n + strlen(suffix) < cap);
    memset(buf, c, n);
    strcpy(buf + n, suffix);
    return buf;
}

static void expect_username(const char *s, bool want)
{
    char msg[CL_ERRMSG_MAX] = "";
    bool got = user_username_valid(s, strlen(s), msg);
    if (got != want)
        fail_msg("username \"%s\": expected %s, got %s (%s)", s, want ? "valid" : "invalid",
                 got ? "valid" : "invalid", msg);
    /* A refusal always says why. */
    if (!got)
        assert_true(msg[0] != '\0');
}

static void expect_email(const char *s, bool want)
{
    char msg[CL_ERRMSG_MAX] = "";
    bool got = user_email_valid(s, strlen(s), msg);
    if (got != want)
        fail_msg("email \"%s\": expected %s, got %s (%s)", s, want ? "valid" : "invalid",
                 got ? "valid" : "invalid", msg);
    if (!got)
        assert_true(msg[0] != '\0');
}

static void test_usernames(void **state)
{
    (void)state;
    static const char *const valid[] = {"johndoe", "john.doe", "j_d-1", "a",
                                        "0",       "JohnDoe",  "john-", "j..d"};
    static const char *const invalid[] = {"",     ".john",  "_john", "-john",     "john doe",
                                          "jöhn", "john@x", "john/", "john\tdoe", "ö"};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        expect_username(valid[i], true);
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        expect_username(invalid[i], false);

    char buf[128];
    expect_username(repeat(buf, sizeof buf, 'a', USER_NAME_MAX, ""), true);
    expect_username(repeat(buf, sizeof buf, 'a', USER_NAME_MAX + 1, ""), false);
    assert_int_equal(strlen(repeat(buf, sizeof buf, 'a', 65, "")), 65);
    expect_username(buf, false);
}

/* The length is the one given, not the string's: a NUL inside is refused,
 * and a valid prefix of a longer buffer is judged alone. */
static void test_username_uses_length(void **state)
{
    (void)state;
    char msg[CL_ERRMSG_MAX];
    assert_false(user_username_valid("jo\0hn", 5, msg));
    assert_true(user_username_valid("john doe", 4, msg));
    assert_false(user_username_valid("john", 0, msg));
}

static void test_emails(void **state)
{
    (void)state;
    static const char *const valid[] = {
        "john.doe@example.com",
        "a+b@sub.example.co",
        "x@a-b.io",
        "JOHN@EXAMPLE.COM",
        "o'neil@example.ie",
        "1@2.3",
        "a!#$%&'*+/=?^_`{|}~-z@example.com",
    };
    static const char *const invalid[] = {
        "",
        "john",
        "john@",
        "@example.com",
        "john@example",
        "john..doe@example.com",
        ".john@example.com",
        "john.@example.com",
        "john@-example.com",
        "john@example-.com",
        "john@example..com",
        "john@example.com.",
        "john@.example.com",
        "a@b@example.com",
        "john doe@example.com",
        "john@exa mple.com",
        "john@exa_mple.com",
        "\"john\"@example.com",
        "john@[192.168.0.1]",
        "jöhn@example.com",
        "john@exämple.com",
        "john(x)@example.com",
        "john@",
        "@",
        ".",
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        expect_email(valid[i], true);
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        expect_email(invalid[i], false);
}

static void test_email_limits(void **state)
{
    (void)state;
    char buf[512], label[80];

    /* The local part: 64 bytes at most. */
    expect_email(repeat(buf, sizeof buf, 'a', 64, "@example.com"), true);
    expect_email(repeat(buf, sizeof buf, 'a', 65, "@example.com"), false);

    /* A domain label: 63 bytes at most. */
    snprintf(buf, sizeof buf, "john@%s.com", repeat(label, sizeof label, 'd', 63, ""));
    expect_email(buf, true);
    snprintf(buf, sizeof buf, "john@%s.com", repeat(label, sizeof label, 'd', 64, ""));
    expect_email(buf, false);

    /* The whole address: USER_EMAIL_MAX (254) bytes at most. Built from a
     * 64-byte local part and 63-byte labels, so that only the total can be
     * what refuses it. */
    char local[70];
    repeat(local, sizeof local, 'l', 64, "");
    repeat(label, sizeof label, 'd', 63, "");
    /* 64 + 1 + 63 + 1 + 63 + 1 + n: n = 61 gives 254, n = 62 gives 255. */
    char tail[70];
    snprintf(buf, sizeof buf, "%s@%s.%s.%s", local, label, label,
             repeat(tail, sizeof tail, 't', 61, ""));
    assert_int_equal(strlen(buf), USER_EMAIL_MAX);
    expect_email(buf, true);
    snprintf(buf, sizeof buf, "%s@%s.%s.%s", local, label, label,
             repeat(tail, sizeof tail, 't', 62, ""));
    assert_int_equal(strlen(buf), 255);
    expect_email(buf, false);
}

static void test_email_uses_length(void **state)
{
    (void)state;
    char msg[CL_ERRMSG_MAX];
    /* A NUL inside the given length is not part of any valid address. */
    assert_false(user_email_valid("john\0@example.com", 17, msg));
    assert_false(user_email_valid("john@exa\0mple.com", 17, msg));
    /* Only the first n bytes count. */
    assert_true(user_email_valid("john@example.com.", 16, msg));
    assert_false(user_email_valid("john@example.com", 12, msg));
    assert_false(user_email_valid("", 0, msg));
    /* msg may be NULL. */
    assert_false(user_email_valid("john", 4, NULL));
    assert_false(user_username_valid("", 0, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usernames),
        cmocka_unit_test(test_username_uses_length),
        cmocka_unit_test(test_emails),
        cmocka_unit_test(test_email_limits),
        cmocka_unit_test(test_email_uses_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
