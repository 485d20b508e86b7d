/* The case lifecycle of SPEC §2 "Timers", as scenarios: each table is a
 * sequence of actions on one survey response, starting without a case, with
 * the state expected after every step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cases/timers.h"

#define H      3600
#define T0     1658016000LL         /* 2022-07-17 00:00:00 */
#define NOW    (T0 + 30LL * 24 * H) /* the server clock in every scenario */
#define NUMBER 424242
#define NONE   CASE_NONE

static const struct user_record users[] = {
    {0, "", ""},
    {1, "ann", "ann@example.com"},
    {2, "bob", "bob@example.com"},
};

enum { S = ACTION_STATUS, A = ACTION_ASSIGN, C = ACTION_COMMENT };
enum { OPEN = CASE_OPEN, PROG = CASE_PROGRESS, CLOSED = CASE_CLOSED };

struct step {
    int kind;
    int status;       /* ACTION_STATUS: the target status */
    int64_t t;        /* happened_at, seconds after T0 */
    const char *note; /* NULL for none */
    int user;         /* ACTION_ASSIGN: index into users, 0 to unassign */
    /* Expected outcome. On error the case stays as it was. */
    cl_err err;
    bool changed;
    int want_status;
    int64_t opened; /* seconds after T0 */
    int64_t follow_up, close;
    int want_user; /* index into users, 0 for none */
};

#define END                                                                                        \
    {                                                                                              \
        -1                                                                                         \
    }

static void run(const char *name, const struct step *steps)
{
    struct case_record cur;
    bool have = false;
    for (int i = 0; steps[i].kind >= 0; i++) {
        const struct step *st = &steps[i];
        struct case_action a = {
            .kind = (enum case_action_kind)st->kind,
            .number = NUMBER,
            .status = (enum case_status)st->status,
            .note = st->note,
            .note_len = st->note ? strlen(st->note) : 0,
            .assignee = st->user ? users[st->user].username : NULL,
            .has_happened_at = true,
            .happened_at = T0 + st->t,
        };
        const struct user_record *u = st->kind == A && st->user ? &users[st->user] : NULL;
        struct case_record next, sentinel;
        memset(&next, 0x5a, sizeof next);
        sentinel = next;
        bool changed = !st->changed;
        char msg[CL_ERRMSG_MAX] = "";
        cl_err err = case_apply(have ? &cur : NULL, &a, T0 + st->t, NOW, u, &next, &changed, msg);
        if (err != st->err)
            fail_msg("%s step %d: error %d (%s), want %d", name, i, err, msg, st->err);
        if (changed != st->changed)
            fail_msg("%s step %d: changed %d, want %d", name, i, changed, st->changed);
        if (err) {
            if (memcmp(&next, &sentinel, sizeof next) != 0)
                fail_msg("%s step %d: next written on error", name, i);
            continue;
        }
        if ((int)next.status != st->want_status || next.opened_at != T0 + st->opened ||
            next.time_to_follow_up != st->follow_up || next.time_to_close != st->close)
            fail_msg("%s step %d: status %d opened %+lld follow-up %lld close %lld, "
                     "want %d %+lld %lld %lld",
                     name, i, next.status, (long long)(next.opened_at - T0),
                     (long long)next.time_to_follow_up, (long long)next.time_to_close,
                     st->want_status, (long long)st->opened, (long long)st->follow_up,
                     (long long)st->close);
        if (next.has_assignee != (st->want_user != 0) ||
            (st->want_user && (next.assignee.id != users[st->want_user].id ||
                               strcmp(next.assignee.email, users[st->want_user].email) != 0)))
            fail_msg("%s step %d: assignee %lld, want %d", name, i,
                     next.has_assignee ? (long long)next.assignee.id : 0LL, st->want_user);
        /* Identity, creation and the store's fields carry over untouched. */
        assert_int_equal(next.number, NUMBER);
        if (have) {
            assert_int_equal(next.id, cur.id);
            assert_int_equal(next.created_at, cur.created_at);
            assert_int_equal(next.updated_at, cur.updated_at);
            assert_int_equal(next.seq, cur.seq);
        }
        cur = next;
        if (!have) {
            /* Stand in for the store, to show the fields survive later steps. */
            cur.id = 77;
            cur.updated_at = NOW;
            cur.seq = 1000;
            have = true;
        }
    }
}

/* open -> progress -> closed -> open -> closed -> progress -> closed, with
 * back-dated times, checking the floor to full hours at the edges. */
static const struct step walk[] = {
    {S, OPEN, 0, NULL, 0, CL_OK, true, OPEN, 0, NONE, NONE},
    {S, PROG, H - 1, NULL, 0, CL_OK, true, PROG, 0, 0, NONE}, /* 3599 s: 0 h */
    {S, CLOSED, 2 * H + 100, NULL, 0, CL_OK, true, CLOSED, 0, 0, 2},
    {S, OPEN, 10000, NULL, 0, CL_OK, true, OPEN, 10000, NONE, NONE},
    {S, CLOSED, 10000 + H, NULL, 0, CL_OK, true, CLOSED, 10000, 1, 1}, /* 3600 s: 1 h */
    {S, PROG, 10000 + 2 * H, NULL, 0, CL_OK, true, PROG, 10000, 1, NONE},
    {S, CLOSED, 10000 + 6 * H - 1, NULL, 0, CL_OK, true, CLOSED, 10000, 1, 5},
    {S, CLOSED, 10000 + 7 * H, NULL, 0, CL_OK, false, CLOSED, 10000, 1, 5},
    {S, OPEN, 50000, "reopened by customer", 0, CL_OK, true, OPEN, 50000, NONE, NONE},
    {S, PROG, 50000, NULL, 0, CL_OK, true, PROG, 50000, 0, NONE},
    {S, CLOSED, 50000 + 48 * H, NULL, 0, CL_OK, true, CLOSED, 50000, 0, 48},
    END,
};

/* Closing an open case sets both timers at once. */
static const struct step straight_close[] = {
    {C, 0, 0, "called the customer", 0, CL_OK, true, OPEN, 0, NONE, NONE},
    {S, CLOSED, 3 * H + 5, NULL, 0, CL_OK, true, CLOSED, 0, 3, 3},
    END,
};

/* Leaving closed for progress clears the close time but not the follow-up. */
static const struct step closed_to_progress[] = {
    {S, OPEN, 0, NULL, 0, CL_OK, true, OPEN, 0, NONE, NONE},
    {S, CLOSED, 2 * H, NULL, 0, CL_OK, true, CLOSED, 0, 2, 2},
    {S, PROG, 9000, NULL, 0, CL_OK, true, PROG, 0, 2, NONE},
    {S, CLOSED, 4 * H, NULL, 0, CL_OK, true, CLOSED, 0, 2, 4},
    END,
};

/* Reopening moves the opening time; nothing may happen before it. */
static const struct step reopen_and_backdate[] = {
    {S, PROG, 0, NULL, 0, CL_OK, true, PROG, 0, 0, NONE},
    {S, CLOSED, H, NULL, 0, CL_OK, true, CLOSED, 0, 0, 1},
    {S, OPEN, 2 * H, NULL, 0, CL_OK, true, OPEN, 2 * H, NONE, NONE},
    {C, 0, 2 * H - 1, "late note", 0, CL_EINVAL, false},
    {S, CLOSED, H, NULL, 0, CL_EINVAL, false},
    {A, 0, 0, NULL, 1, CL_EINVAL, false},
    {S, PROG, 2 * H, NULL, 0, CL_OK, true, PROG, 2 * H, 0, NONE}, /* the opening second is fine */
    END,
};

/* Up to CASE_CLOCK_SKEW seconds past the server clock is tolerated. */
#define FUTURE (NOW - T0)
static const struct step future[] = {
    {S, OPEN, FUTURE + CASE_CLOCK_SKEW + 1, NULL, 0, CL_EINVAL, false},
    {C, 0, FUTURE + 3600, "x", 0, CL_EINVAL, false},
    {S, PROG, FUTURE + CASE_CLOCK_SKEW, NULL, 0, CL_OK, true, PROG, FUTURE + CASE_CLOCK_SKEW, 0,
     NONE},
    {S, CLOSED, FUTURE + CASE_CLOCK_SKEW + 1, NULL, 0, CL_EINVAL, false},
    END,
};

/* The same status again changes nothing, unless it carries a note. */
static const struct step same_status[] = {
    {S, PROG, 0, NULL, 0, CL_OK, true, PROG, 0, 0, NONE},
    {S, PROG, 5 * H, NULL, 0, CL_OK, false, PROG, 0, 0, NONE},
    {S, PROG, 5 * H, "", 0, CL_OK, false, PROG, 0, 0, NONE},
    {S, PROG, 5 * H, "still on it", 0, CL_OK, true, PROG, 0, 0, NONE},
    {S, OPEN, 6 * H, NULL, 0, CL_OK, true, OPEN, 6 * H, NONE, NONE},
    {S, OPEN, 7 * H, NULL, 0, CL_OK, false, OPEN, 6 * H, NONE, NONE}, /* clock not restarted */
    END,
};

/* Every kind of action creates a case, opened at the action's time. */
static const struct step create_open[] = {
    {S, OPEN, 100, NULL, 0, CL_OK, true, OPEN, 100, NONE, NONE},
    END,
};
static const struct step create_progress[] = {
    {S, PROG, 100, NULL, 0, CL_OK, true, PROG, 100, 0, NONE},
    END,
};
static const struct step create_closed[] = {
    {S, CLOSED, 100, "solved at once", 0, CL_OK, true, CLOSED, 100, 0, 0},
    END,
};
static const struct step create_assign[] = {
    {A, 0, 100, NULL, 2, CL_OK, true, OPEN, 100, NONE, NONE, 2},
    END,
};
static const struct step create_unassigned[] = {
    {A, 0, 100, NULL, 0, CL_OK, true, OPEN, 100, NONE, NONE, 0},
    END,
};
static const struct step create_comment[] = {
    {C, 0, 100, "first contact", 0, CL_OK, true, OPEN, 100, NONE, NONE},
    END,
};

/* Assignment changes only the assignee, and only when it differs. */
static const struct step assign[] = {
    {S, PROG, 0, NULL, 0, CL_OK, true, PROG, 0, 0, NONE, 0},
    {A, 0, H, NULL, 1, CL_OK, true, PROG, 0, 0, NONE, 1},
    {A, 0, 2 * H, NULL, 1, CL_OK, false, PROG, 0, 0, NONE, 1},
    {A, 0, 3 * H, NULL, 2, CL_OK, true, PROG, 0, 0, NONE, 2},
    {S, CLOSED, 4 * H, NULL, 0, CL_OK, true, CLOSED, 0, 0, 4, 2},
    {A, 0, 5 * H, NULL, 0, CL_OK, true, CLOSED, 0, 0, 4, 0},
    {A, 0, 6 * H, NULL, 0, CL_OK, false, CLOSED, 0, 0, 4, 0},
    {C, 0, 7 * H, "note", 0, CL_OK, true, CLOSED, 0, 0, 4, 0},
    END,
};

static void test_walk(void **state)
{
    (void)state;
    run("walk", walk);
}

static void test_straight_close(void **state)
{
    (void)state;
    run("straight_close", straight_close);
}

static void test_closed_to_progress(void **state)
{
    (void)state;
    run("closed_to_progress", closed_to_progress);
}

static void test_reopen_and_backdate(void **state)
{
    (void)state;
    run("reopen_and_backdate", reopen_and_backdate);
}

static void test_future(void **state)
{
    (void)state;
    run("future", future);
}

static void test_same_status(void **state)
{
    (void)state;
    run("same_status", same_status);
}

static void test_create(void **state)
{
    (void)state;
    run("create_open", create_open);
    run("create_progress", create_progress);
    run("create_closed", create_closed);
    run("create_assign", create_assign);
    run("create_unassigned", create_unassigned);
    run("create_comment", create_comment);
}

static void test_assign(void **state)
{
    (void)state;
    run("assign", assign);
}

/* A new case starts blank apart from its number and its times. */
static void test_new_case_fields(void **state)
{
    (void)state;
    struct case_action a = {.kind = ACTION_COMMENT, .number = NUMBER, .note = "hi", .note_len = 2};
    struct case_record next;
    bool changed = false;
    memset(&next, 0x5a, sizeof next);
    assert_int_equal(case_apply(NULL, &a, T0, NOW, &users[1], &next, &changed, NULL), CL_OK);
    assert_true(changed);
    assert_int_equal(next.id, 0);
    assert_int_equal(next.number, NUMBER);
    assert_int_equal(next.status, CASE_OPEN);
    assert_false(next.has_assignee); /* the user is ignored for a comment */
    assert_int_equal(next.opened_at, T0);
    assert_int_equal(next.created_at, T0);
    assert_int_equal(next.updated_at, 0);
    assert_int_equal(next.seq, 0);
}

static void test_messages(void **state)
{
    (void)state;
    struct case_record cur = {.id = 1,
                              .number = NUMBER,
                              .status = CASE_OPEN,
                              .opened_at = T0 + 2 * H + 5 * 60 + 9,
                              .time_to_follow_up = NONE,
                              .time_to_close = NONE,
                              .created_at = T0};
    struct case_action a = {.kind = ACTION_STATUS, .number = NUMBER, .status = CASE_CLOSED};
    struct case_record next;
    bool changed;
    char msg[CL_ERRMSG_MAX];
    assert_int_equal(case_apply(&cur, &a, T0, NOW, NULL, &next, &changed, msg), CL_EINVAL);
    assert_string_equal(msg, "The happened_at must not be before the case was opened "
                             "(2022-07-17 02:05:09).");
    assert_int_equal(case_apply(&cur, &a, NOW + 61, NOW, NULL, &next, &changed, msg), CL_EINVAL);
    assert_string_equal(msg, "The happened_at must not be in the future.");
    /* The future check comes first, and without a case there is no opening. */
    assert_int_equal(case_apply(NULL, &a, NOW + 61, NOW, NULL, &next, &changed, msg), CL_EINVAL);
    assert_string_equal(msg, "The happened_at must not be in the future.");
}

static const struct {
    int64_t from, to, hours;
} hours_cases[] = {
    {0, 0, 0},
    {0, 1, 0},
    {0, H - 1, 0},
    {0, H, 1},
    {0, 2 * H - 1, 1},
    {0, 2 * H, 2},
    {T0, T0 + 25 * H + 59, 25},
    {T0 + 1, T0, 0}, /* backwards is 0, not negative */
    {T0, T0 - H, 0},
    {-H, 0, 1},
};

static void test_case_hours(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof hours_cases / sizeof hours_cases[0]; i++) {
        int64_t got = case_hours(hours_cases[i].from, hours_cases[i].to);
        if (got != hours_cases[i].hours)
            fail_msg("case_hours(%lld, %lld) = %lld, want %lld", (long long)hours_cases[i].from,
                     (long long)hours_cases[i].to, (long long)got, (long long)hours_cases[i].hours);
    }
}

static void test_status_names(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        bool ok;
        enum case_status st;
    } cases[] = {
        {"open", true, CASE_OPEN},
        {"progress", true, CASE_PROGRESS},
        {"closed", true, CASE_CLOSED},
        {"Open", false, 0},
        {"close", false, 0},
        {"opened", false, 0},
        {"", false, 0},
        {"open ", false, 0},
        {"in_progress", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum case_status st = CASE_PROGRESS;
        bool ok = case_status_parse(cases[i].s, strlen(cases[i].s), &st);
        if (ok != cases[i].ok || (ok && st != cases[i].st))
            fail_msg("case_status_parse(\"%s\") = %d", cases[i].s, ok);
        if (ok)
            assert_string_equal(case_status_name(st), cases[i].s);
    }
    assert_true(case_status_parse("openx", 4, &(enum case_status){0}));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk),
        cmocka_unit_test(test_straight_close),
        cmocka_unit_test(test_closed_to_progress),
        cmocka_unit_test(test_reopen_and_backdate),
        cmocka_unit_test(test_future),
        cmocka_unit_test(test_same_status),
        cmocka_unit_test(test_create),
        cmocka_unit_test(test_assign),
        cmocka_unit_test(test_new_case_fields),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_case_hours),
        cmocka_unit_test(test_status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
