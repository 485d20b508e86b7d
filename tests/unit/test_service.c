/* The case write path against a real SQLite store: outcomes, seq bumps,
 * rule violations and the timers of SPEC §2 through a case's life. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cases/service.h"
#include "store/store.h"

#define HOUR 3600
#define NOW  1709294400 /* 2024-03-01 12:00:00 UTC */
#define T0   (NOW - 100 * HOUR)

/* happened_at of an action that has none: it happens at `now`. */
#define AT_NOW INT64_MIN

struct fixture {
    char dir[64];
    char path[96];
    struct store *s;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char msg[CL_ERRMSG_MAX] = "";

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/cl_service_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/test.db", f->dir);
    if (store_open(f->path, &f->s, msg) != CL_OK)
        fail_msg("store_open: %s", msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[128];

    store_close(&f->s);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static struct case_write_result write_action(struct store *s, struct case_action *a,
                                             int64_t happened_at, int64_t now)
{
    struct case_write_result r;
    const struct case_action *one = a;

    if (happened_at != AT_NOW) {
        a->has_happened_at = true;
        a->happened_at = happened_at;
    }
    case_write_batch(s, &one, 1, now, &r);
    return r;
}

static struct case_write_result set_status(struct store *s, int64_t number, enum case_status st,
                                           const char *note, int64_t happened_at, int64_t now)
{
    struct case_action a = {.kind = ACTION_STATUS, .number = number, .status = st};

    if (note) {
        a.note = note;
        a.note_len = strlen(note);
    }
    return write_action(s, &a, happened_at, now);
}

static struct case_write_result assign(struct store *s, int64_t number, const char *who,
                                       int64_t now)
{
    struct case_action a = {.kind = ACTION_ASSIGN, .number = number, .assignee = who};

    return write_action(s, &a, AT_NOW, now);
}

#define assert_ok(r)                                                                               \
    do {                                                                                           \
        if ((r).err != CL_OK)                                                                      \
            fail_msg("case_write_batch: %s: %s", cl_strerror((r).err), (r).msg);                   \
    } while (0)

static int64_t max_seq(struct store *s)
{
    int64_t count, seq;
    char msg[CL_ERRMSG_MAX] = "";

    if (store_case_stats(s, &count, &seq, msg) != CL_OK)
        fail_msg("store_case_stats: %s", msg);
    return seq;
}

static void test_create_by_status(void **state)
{
    struct fixture *f = *state;

    struct case_write_result r = set_status(f->s, 101, CASE_OPEN, NULL, AT_NOW, NOW);
    assert_ok(r);
    assert_int_equal(r.outcome, CASE_CREATED);
    assert_true(r.c.id > 0);
    assert_true(r.c.seq > 0);
    assert_int_equal(r.c.number, 101);
    assert_int_equal(r.c.status, CASE_OPEN);
    assert_false(r.c.has_assignee);
    assert_int_equal(r.c.time_to_follow_up, CASE_NONE);
    assert_int_equal(r.c.time_to_close, CASE_NONE);
    assert_int_equal(r.c.created_at, NOW);
    assert_int_equal(r.c.updated_at, NOW);

    /* A back-dated creation is created then, but updated now. */
    r = set_status(f->s, 102, CASE_PROGRESS, NULL, NOW - 3 * HOUR, NOW);
    assert_ok(r);
    assert_int_equal(r.outcome, CASE_CREATED);
    assert_int_equal(r.c.created_at, NOW - 3 * HOUR);
    assert_int_equal(r.c.updated_at, NOW);
    assert_int_equal(r.c.status, CASE_PROGRESS);
}

static void test_update(void **state)
{
    struct fixture *f = *state;

    struct case_write_result a = set_status(f->s, 7, CASE_OPEN, NULL, NOW - 2 * HOUR, NOW);
    assert_ok(a);
    struct case_write_result b = set_status(f->s, 7, CASE_PROGRESS, NULL, AT_NOW, NOW + 10);
    assert_ok(b);
    assert_int_equal(b.outcome, CASE_UPDATED);
    assert_int_equal(b.c.id, a.c.id);
    assert_true(b.c.seq > a.c.seq);
    assert_int_equal(b.c.status, CASE_PROGRESS);
    assert_int_equal(b.c.time_to_follow_up, 2);
    assert_int_equal(b.c.created_at, NOW - 2 * HOUR);
    assert_int_equal(b.c.updated_at, NOW + 10);
}

static void test_unchanged_bumps_nothing(void **state)
{
    struct fixture *f = *state;

    struct case_write_result a = set_status(f->s, 8, CASE_OPEN, NULL, AT_NOW, NOW);
    assert_ok(a);
    int64_t seq = max_seq(f->s);

    struct case_write_result b = set_status(f->s, 8, CASE_OPEN, NULL, AT_NOW, NOW + 60);
    assert_ok(b);
    assert_int_equal(b.outcome, CASE_UNCHANGED);
    assert_int_equal(b.c.id, a.c.id);
    assert_int_equal(b.c.seq, a.c.seq);
    assert_int_equal(b.c.updated_at, a.c.updated_at);
    assert_int_equal(max_seq(f->s), seq);

    /* An empty note is no note. */
    b = set_status(f->s, 8, CASE_OPEN, "", AT_NOW, NOW + 60);
    assert_ok(b);
    assert_int_equal(b.outcome, CASE_UNCHANGED);
    assert_int_equal(max_seq(f->s), seq);
}

static void test_note_only_bumps_seq(void **state)
{
    struct fixture *f = *state;

    struct case_write_result a = set_status(f->s, 9, CASE_OPEN, NULL, AT_NOW, NOW);
    assert_ok(a);
    struct case_write_result b =
        set_status(f->s, 9, CASE_OPEN, "Called the customer.", AT_NOW, NOW + 5);
    assert_ok(b);
    assert_int_equal(b.outcome, CASE_UPDATED);
    assert_int_equal(b.c.status, CASE_OPEN);
    assert_true(b.c.seq > a.c.seq);
    assert_int_equal(b.c.updated_at, NOW + 5);
}

static void test_backdated_before_opening(void **state)
{
    struct fixture *f = *state;

    struct case_write_result a = set_status(f->s, 10, CASE_OPEN, NULL, NOW - HOUR, NOW);
    assert_ok(a);
    int64_t seq = max_seq(f->s);

    struct case_write_result b = set_status(f->s, 10, CASE_PROGRESS, NULL, NOW - 2 * HOUR, NOW);
    assert_int_equal(b.err, CL_EINVAL);
    assert_non_null(b.field);
    assert_string_equal(b.field, "happened_at");
    assert_true(b.msg[0] != '\0');

    /* Beyond the allowed clock skew in the future: the same field. */
    b = set_status(f->s, 10, CASE_PROGRESS, NULL, NOW + CASE_CLOCK_SKEW + 1, NOW);
    assert_int_equal(b.err, CL_EINVAL);
    assert_string_equal(b.field, "happened_at");

    /* The failures wrote nothing and left no transaction open. */
    assert_int_equal(max_seq(f->s), seq);
    struct case_write_result c = set_status(f->s, 10, CASE_PROGRESS, NULL, AT_NOW, NOW);
    assert_ok(c);
    assert_int_equal(c.outcome, CASE_UPDATED);
    assert_int_equal(c.c.time_to_follow_up, 1);
}

static void test_assignee(void **state)
{
    struct fixture *f = *state;
    char msg[CL_ERRMSG_MAX] = "";
    struct user_record u = {0};

    snprintf(u.username, sizeof u.username, "johndoe");
    snprintf(u.email, sizeof u.email, "john.doe@example.com");
    if (store_user_add(f->s, &u, msg) != CL_OK)
        fail_msg("store_user_add: %s", msg);

    struct case_write_result r = assign(f->s, 11, "nobody", NOW);
    assert_int_equal(r.err, CL_EINVAL);
    assert_non_null(r.field);
    assert_string_equal(r.field, "assignee");
    assert_string_equal(r.msg, "The selected assignee nobody does not exist.");
    assert_int_equal(max_seq(f->s), 0);

    /* Assignment creates the case, open. */
    r = assign(f->s, 11, "johndoe", NOW);
    assert_ok(r);
    assert_int_equal(r.outcome, CASE_CREATED);
    assert_int_equal(r.c.status, CASE_OPEN);
    assert_true(r.c.has_assignee);
    assert_int_equal(r.c.assignee.id, u.id);
    assert_string_equal(r.c.assignee.email, "john.doe@example.com");

    /* By email, the same user: nothing changes. */
    r = assign(f->s, 11, "john.doe@example.com", NOW);
    assert_ok(r);
    assert_int_equal(r.outcome, CASE_UNCHANGED);

    /* A status change keeps the assignee. */
    r = set_status(f->s, 11, CASE_PROGRESS, NULL, AT_NOW, NOW);
    assert_ok(r);
    assert_true(r.c.has_assignee);
    assert_string_equal(r.c.assignee.username, "johndoe");

    r = assign(f->s, 11, NULL, NOW);
    assert_ok(r);
    assert_int_equal(r.outcome, CASE_UPDATED);
    assert_false(r.c.has_assignee);
}

static void test_comment_creates_open_case(void **state)
{
    struct fixture *f = *state;
    struct case_action a = {.kind = ACTION_COMMENT, .number = 12, .note = "hi", .note_len = 2};

    struct case_write_result r = write_action(f->s, &a, AT_NOW, NOW);
    assert_ok(r);
    assert_int_equal(r.outcome, CASE_CREATED);
    assert_int_equal(r.c.status, CASE_OPEN);

    struct case_action b = a;
    struct case_write_result r2 = write_action(f->s, &b, AT_NOW, NOW);
    assert_ok(r2);
    assert_int_equal(r2.outcome, CASE_UPDATED);
    assert_true(r2.c.seq > r.c.seq);
}

static const struct {
    enum case_status status;
    int64_t at;        /* since T0 */
    int64_t follow_up; /* hours, or CASE_NONE */
    int64_t close;
} lifecycle[] = {
    {CASE_OPEN, 0, CASE_NONE, CASE_NONE},
    {CASE_PROGRESS, 5 * HOUR + 59 * 60, 5, CASE_NONE},
    {CASE_CLOSED, 30 * HOUR + 59 * 60, 5, 30},
    {CASE_OPEN, 40 * HOUR, CASE_NONE, CASE_NONE}, /* reopening clears both */
    {CASE_CLOSED, 50 * HOUR, 10, 10},             /* straight to closed: both from 40 h */
    {CASE_PROGRESS, 51 * HOUR, 10, CASE_NONE},    /* not closed: no close time */
    {CASE_CLOSED, 52 * HOUR, 10, 12},
};

static void test_timers_lifecycle(void **state)
{
    struct fixture *f = *state;
    int64_t seq = 0;

    for (size_t i = 0; i < sizeof lifecycle / sizeof lifecycle[0]; i++) {
        struct case_write_result r =
            set_status(f->s, 13, lifecycle[i].status, NULL, T0 + lifecycle[i].at, NOW);
        assert_ok(r);
        assert_int_equal(r.outcome, i == 0 ? CASE_CREATED : CASE_UPDATED);
        assert_int_equal(r.c.status, lifecycle[i].status);
        assert_int_equal(r.c.time_to_follow_up, lifecycle[i].follow_up);
        assert_int_equal(r.c.time_to_close, lifecycle[i].close);
        assert_int_equal(r.c.created_at, T0);
        assert_true(r.c.seq > seq);
        seq = r.c.seq;
    }
}

/* A group commit: the actions apply in order in one transaction, a rule
 * violation fails only its own action, and the others are kept. */
static void test_batch_in_order_with_a_rule_violation(void **state)
{
    struct fixture *f = *state;
    struct case_action open = {.kind = ACTION_STATUS, .number = 301, .status = CASE_OPEN};
    struct case_action progress = {.kind = ACTION_STATUS, .number = 301, .status = CASE_PROGRESS};
    struct case_action unknown = {.kind = ACTION_ASSIGN, .number = 302, .assignee = "nobody"};
    struct case_action other = {.kind = ACTION_STATUS, .number = 303, .status = CASE_CLOSED};
    const struct case_action *batch[] = {&open, &progress, &unknown, &other};
    struct case_write_result res[4];
    char msg[CL_ERRMSG_MAX] = "";
    int64_t count, seq;

    case_write_batch(f->s, batch, 4, NOW, res);
    assert_ok(res[0]);
    assert_int_equal(res[0].outcome, CASE_CREATED);
    /* The second sees the first's case. */
    assert_ok(res[1]);
    assert_int_equal(res[1].outcome, CASE_UPDATED);
    assert_int_equal(res[1].c.id, res[0].c.id);
    assert_true(res[1].c.seq > res[0].c.seq);
    assert_int_equal(res[2].err, CL_EINVAL);
    assert_string_equal(res[2].field, "assignee");
    assert_ok(res[3]);
    assert_int_equal(res[3].outcome, CASE_CREATED);
    assert_int_equal(store_case_stats(f->s, &count, &seq, msg), CL_OK);
    assert_int_equal(count, 2);
    assert_int_equal(seq, res[3].c.seq);
}

/* The bulk path: many actions in one caller-owned transaction. */
static void test_in_tx_batch(void **state)
{
    struct fixture *f = *state;
    char msg[CL_ERRMSG_MAX] = "";
    int64_t count, seq;

    assert_int_equal(store_tx_begin(f->s, msg), CL_OK);
    for (int64_t n = 1; n <= 3; n++) {
        struct case_action a = {.kind = ACTION_STATUS, .number = 200 + n, .status = CASE_OPEN};
        struct case_record c;
        enum case_outcome oc;
        const char *field;
        assert_int_equal(case_write_in_tx(f->s, &a, NOW, &c, &oc, &field, msg), CL_OK);
        assert_int_equal(oc, CASE_CREATED);
    }
    assert_int_equal(store_tx_commit(f->s, msg), CL_OK);
    assert_int_equal(store_case_stats(f->s, &count, &seq, msg), CL_OK);
    assert_int_equal(count, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_by_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchanged_bumps_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_note_only_bumps_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backdated_before_opening, setup, teardown),
        cmocka_unit_test_setup_teardown(test_assignee, setup, teardown),
        cmocka_unit_test_setup_teardown(test_comment_creates_open_case, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timers_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_in_order_with_a_rule_violation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_tx_batch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
