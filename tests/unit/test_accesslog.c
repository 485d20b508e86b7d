/* Access log lines: JSON that parses with every field, the text shape, and
 * what must never appear: credentials in the query, control bytes, lines
 * longer than the cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/accesslog.h"

/* 2026-01-02 03:04:05.678901 UTC */
#define WALL_NS (1767323045LL * 1000000000LL + 678901234LL)

static struct access_entry entry(const char *target)
{
    return (struct access_entry){
        .method = "GET",
        .method_len = 3,
        .target = target,
        .target_len = strlen(target),
        .status = 200,
        .bytes = 1234,
        .duration_ns = 2345678,
        .route = "/v7/rest/sync/close-loop",
        .app = "0123456789abcdef0123456789abcdef",
        .remote = "127.0.0.1",
    };
}

static json_t *json_line(const struct access_entry *e, char *line, size_t cap)
{
    size_t n = accesslog_format(LOG_FORMAT_JSON, e, WALL_NS, line, cap);
    assert_true(n > 0);
    assert_int_equal(line[n - 1], '\n');
    assert_null(memchr(line, '\n', n - 1)); /* one line */
    json_error_t err;
    json_t *o = json_loadb(line, n, 0, &err);
    assert_non_null(o);
    return o;
}

static void test_json_fields(void **state)
{
    (void)state;
    char line[ACCESSLOG_LINE_MAX];
    struct access_entry e = entry("/v7/rest/sync/close-loop?per_page=3&cursor=9");
    json_t *o = json_line(&e, line, sizeof line);
    assert_string_equal(json_string_value(json_object_get(o, "time")), "2026-01-02T03:04:05.678Z");
    assert_string_equal(json_string_value(json_object_get(o, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(o, "path")),
                        "/v7/rest/sync/close-loop?per_page=3&cursor=9");
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 200);
    assert_int_equal(json_integer_value(json_object_get(o, "bytes")), 1234);
    assert_true(json_real_value(json_object_get(o, "duration_ms")) == 2.345);
    assert_string_equal(json_string_value(json_object_get(o, "route")), "/v7/rest/sync/close-loop");
    assert_string_equal(json_string_value(json_object_get(o, "app")),
                        "0123456789abcdef0123456789abcdef");
    assert_string_equal(json_string_value(json_object_get(o, "remote")), "127.0.0.1");
    assert_int_equal(json_object_size(o), 9);
    json_decref(o);

    /* Unrouted, unauthenticated: null, not missing. */
    e.route = NULL;
    e.app = "";
    o = json_line(&e, line, sizeof line);
    assert_true(json_is_null(json_object_get(o, "route")));
    assert_true(json_is_null(json_object_get(o, "app")));
    json_decref(o);
}

static void test_credentials_in_the_query_are_redacted(void **state)
{
    (void)state;
    static const char *const targets[] = {
        "/x?access_token=SEKRIT&per_page=1",
        "/x?per_page=1&client_secret=SEKRIT",
        "/x?Access%5FToken=SEKRIT",
        "/x?api_key=SEKRIT",
        "/x?note=SEKRIT",
        "/x?password=SEKRIT&a=b",
    };
    char line[ACCESSLOG_LINE_MAX];
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        struct access_entry e = entry(targets[i]);
        assert_true(accesslog_format(LOG_FORMAT_JSON, &e, WALL_NS, line, sizeof line) > 0);
        assert_null(strstr(line, "SEKRIT"));
        assert_non_null(strstr(line, "[REDACTED]"));
        assert_true(accesslog_format(LOG_FORMAT_TEXT, &e, WALL_NS, line, sizeof line) > 0);
        assert_null(strstr(line, "SEKRIT"));
    }
    /* Ordinary parameters stay as they are. */
    struct access_entry e = entry("/x?per_page=2&updated_at%5Bstart%5D=2026-01-01");
    accesslog_format(LOG_FORMAT_TEXT, &e, WALL_NS, line, sizeof line);
    assert_non_null(strstr(line, "per_page=2&updated_at%5Bstart%5D=2026-01-01"));
}

static void test_long_and_hostile_targets(void **state)
{
    (void)state;
    char target[4096], line[ACCESSLOG_LINE_MAX];
    memset(target, 'a', sizeof target - 1);
    target[0] = '/';
    target[10] = '\n';
    target[11] = '\x1b';
    target[sizeof target - 1] = '\0';
    struct access_entry e = entry(target);
    json_t *o = json_line(&e, line, sizeof line);
    const char *path = json_string_value(json_object_get(o, "path"));
    assert_int_equal(strlen(path), ACCESSLOG_TARGET_MAX + 3);
    assert_string_equal(path + ACCESSLOG_TARGET_MAX, "...");
    assert_null(strchr(path, '\n'));
    assert_null(strchr(path, '\x1b'));
    json_decref(o);

    /* A secret value is replaced before the cut, so no prefix of it leaks. */
    char t2[600];
    snprintf(t2, sizeof t2, "/x?%0*d&client_secret=%s", 190, 0, "SEKRITSEKRITSEKRIT");
    e = entry(t2);
    accesslog_format(LOG_FORMAT_JSON, &e, WALL_NS, line, sizeof line);
    assert_null(strstr(line, "SEK"));

    /* Invalid UTF-8 still gives valid JSON. */
    e = entry("/\xff\xfe?x=\xc3");
    o = json_line(&e, line, sizeof line);
    json_decref(o);
}

static void test_text_shape(void **state)
{
    (void)state;
    char line[ACCESSLOG_LINE_MAX];
    struct access_entry e = entry("/v7/rest/sync/close-loop?per_page=3");
    size_t n = accesslog_format(LOG_FORMAT_TEXT, &e, WALL_NS, line, sizeof line);
    assert_true(n > 0);
    assert_string_equal(
        line, "2026-01-02 03:04:05 info GET /v7/rest/sync/close-loop?per_page=3 200 1234 2ms\n");
}

static void test_open_and_write_to_a_file(void **state)
{
    (void)state;
    char path[] = "/tmp/closeloop-accesslog-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct accesslog l;
    char msg[CL_ERRMSG_MAX];
    assert_int_equal(accesslog_open(&l, path, LOG_FORMAT_JSON, msg), CL_OK);
    struct access_entry e = entry("/a");
    accesslog_write(&l, &e);
    accesslog_write(&l, &e);
    accesslog_close(&l);
    FILE *f = fopen(path, "r");
    char buf[ACCESSLOG_LINE_MAX];
    int lines = 0;
    while (fgets(buf, sizeof buf, f)) {
        json_t *o = json_loads(buf, 0, NULL);
        assert_non_null(o);
        json_decref(o);
        lines++;
    }
    fclose(f);
    unlink(path);
    assert_int_equal(lines, 2);
    assert_int_equal(accesslog_open(&l, "/nonexistent-dir/x.log", LOG_FORMAT_JSON, msg), CL_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_credentials_in_the_query_are_redacted),
        cmocka_unit_test(test_long_and_hostile_targets),
        cmocka_unit_test(test_text_shape),
        cmocka_unit_test(test_open_and_write_to_a_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
