/* `closeloop seed` against a real SQLite store: how many cases it makes and
 * how they are numbered, the mix of states, the sync feed's order rules, and
 * for every case that its stored state is exactly what replaying its stored
 * history through the lifecycle rules (case_apply) gives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cases/seed.h"
#include "cases/timers.h"
#include "store/store.h"

#define DAY   86400
#define HOUR  3600
#define NOW   1767225600LL /* 2026-01-01 00:00:00 UTC */
#define CASES 3000
#define USERS 12
#define DAYS  60

static char tmpdir[64];
static int db_counter;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_seed.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static struct store *open_new(void)
{
    char path[128], msg[CL_ERRMSG_MAX] = "";
    snprintf(path, sizeof path, "%s/t%d.db", tmpdir, ++db_counter);
    struct store *s = NULL;
    if (store_open(path, &s, msg))
        fail_msg("store_open(%s): %s", path, msg);
    return s;
}

static void progress(int64_t done, int64_t total, void *arg)
{
    int64_t *last = arg;
    assert_true(done >= *last);
    assert_true(done <= total);
    *last = done;
}

/* Seeds in transactions of `batch` actions (0 for the default). */
static struct seed_stats seed_batched(struct store *s, int64_t cases, unsigned users,
                                      uint64_t rng_seed, int64_t now, unsigned batch)
{
    int64_t last_progress = 0;
    struct seed_options o = {.cases = cases,
                             .users = users,
                             .days = DAYS,
                             .rng_seed = rng_seed,
                             .now = now,
                             .batch = batch,
                             .progress = progress,
                             .progress_arg = &last_progress};
    struct seed_stats st;
    char msg[CL_ERRMSG_MAX] = "";
    if (seed_run(s, &o, &st, msg))
        fail_msg("seed_run: %s", msg);
    assert_int_equal(st.cases, cases);
    assert_true(st.actions >= cases);
    /* The last report says everything is done. */
    assert_int_equal(last_progress, cases);
    return st;
}

/* Small batches, so that a few thousand cases span many transactions. */
#define SMALL_BATCH 700

static struct seed_stats seed(struct store *s, int64_t cases, unsigned users, uint64_t rng_seed,
                              int64_t now)
{
    return seed_batched(s, cases, users, rng_seed, now, SMALL_BATCH);
}

/* ---- reading everything back ---------------------------------------------- */

/* Every case, in feed order. */
struct feed {
    size_t n, cap;
    struct case_record *c;
};

static cl_err collect_case(void *ud, const struct case_record *c)
{
    struct feed *f = ud;
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 1024;
        f->c = realloc(f->c, f->cap * sizeof *f->c);
        assert_non_null(f->c);
    }
    f->c[f->n++] = *c;
    return CL_OK;
}

/* Pages through the whole feed the way a client does, from cursor 0 until
 * an empty page, with a page size that does not divide the count. */
static struct feed read_feed(struct store *s)
{
    struct feed f = {0};
    char msg[CL_ERRMSG_MAX] = "";
    int64_t cursor = 0;
    for (;;) {
        size_t before = f.n;
        struct page_query q = {
            .cursor = cursor, .limit = 997, .updated_lo = INT64_MIN, .updated_hi = INT64_MAX};
        if (store_page_fetch(s, &q, collect_case, &f, msg))
            fail_msg("store_page_fetch: %s", msg);
        if (f.n == before)
            break;
        assert_true(f.n - before <= 997);
        cursor = f.c[f.n - 1].seq;
    }
    return f;
}

/* The users, by id (ids are small: users are numbered from 1). */
struct users {
    size_t n;
    struct user_record u[64];
};

static cl_err collect_user(void *ud, const struct user_record *u)
{
    struct users *us = ud;
    assert_true(us->n < sizeof us->u / sizeof us->u[0]);
    us->u[us->n++] = *u;
    return CL_OK;
}

static struct users read_users(struct store *s)
{
    struct users us = {0};
    char msg[CL_ERRMSG_MAX] = "";
    if (store_user_list(s, collect_user, &us, msg))
        fail_msg("store_user_list: %s", msg);
    return us;
}

static const struct user_record *user_by_id(const struct users *us, int64_t id)
{
    for (size_t i = 0; i < us->n; i++)
        if (us->u[i].id == id)
            return &us->u[i];
    fail_msg("no user with id %lld", (long long)id);
    return NULL;
}

/* ---- replaying a case's history ------------------------------------------- */

struct replay {
    const struct users *users;
    int64_t number;
    struct case_record c;
    bool have;
    size_t events;
    bool was_closed;          /* some event closed the case */
    size_t notes;             /* events with a note */
    int64_t last_happened_at; /* happened_at never goes back within a case */
    int64_t last_recorded_at;
};

/* Applies one stored event to the replayed case as the action it records:
 * the action time is happened_at, the server clock recorded_at. */
static cl_err replay_event(void *ud, const struct case_event *ev)
{
    struct replay *r = ud;
    struct case_action a = {.kind = ev->kind,
                            .number = r->number,
                            .status = ev->status,
                            .note = ev->note,
                            .note_len = ev->note_len};
    const struct user_record *assignee = NULL;
    if (ev->kind == ACTION_ASSIGN && ev->assignee_id)
        assignee = user_by_id(r->users, ev->assignee_id);

    if (r->events > 0) {
        assert_true(ev->happened_at >= r->last_happened_at);
        assert_true(ev->recorded_at >= r->last_recorded_at);
    }
    assert_true(ev->happened_at <= ev->recorded_at);
    r->last_happened_at = ev->happened_at;
    r->last_recorded_at = ev->recorded_at;

    struct case_record next;
    bool changed = false;
    char msg[CL_ERRMSG_MAX] = "";
    cl_err err = case_apply(r->have ? &r->c : NULL, &a, ev->happened_at, ev->recorded_at, assignee,
                            &next, &changed, msg);
    if (err)
        fail_msg("case %lld event %zu: %s", (long long)r->number, r->events, msg);
    /* Only changes are stored, so every stored event changed something. */
    assert_true(changed);
    /* The event records the state after the action. */
    assert_int_equal(next.status, ev->status);
    assert_int_equal(next.has_assignee ? next.assignee.id : 0, ev->assignee_id);
    r->c = next;
    r->have = true;
    r->events++;
    r->was_closed |= ev->kind == ACTION_STATUS && ev->status == CASE_CLOSED;
    r->notes += ev->note != NULL && ev->note_len > 0;
    return CL_OK;
}

/* What a whole database looks like, for the mix assertions. */
struct summary {
    size_t by_status[3];
    size_t reopened; /* open now, closed at some point before */
    size_t assigned;
    size_t with_notes;
    int64_t min_timer, max_timer;
};

/* Checks every case of the feed: order rules, time bounds and the replay of
 * its history. */
static struct summary check_cases(struct store *s, const struct feed *f, int64_t now)
{
    struct users us = read_users(s);
    struct summary sum = {.min_timer = INT64_MAX, .max_timer = INT64_MIN};
    char msg[CL_ERRMSG_MAX] = "";
    for (size_t i = 0; i < f->n; i++) {
        const struct case_record *c = &f->c[i];
        if (i > 0) {
            assert_true(c->seq > f->c[i - 1].seq);
            assert_true(c->updated_at >= f->c[i - 1].updated_at);
        }
        assert_true(c->created_at <= c->updated_at);
        assert_true(c->updated_at <= now);
        assert_true(c->created_at <= c->opened_at);
        assert_true(c->opened_at <= c->updated_at);

        struct replay r = {.users = &us, .number = c->number};
        if (store_case_history(s, c->id, replay_event, &r, msg))
            fail_msg("store_case_history: %s", msg);
        assert_true(r.events > 0);
        assert_true(r.have);
        assert_int_equal(r.c.number, c->number);
        assert_int_equal(r.c.status, c->status);
        assert_int_equal(r.c.time_to_follow_up, c->time_to_follow_up);
        assert_int_equal(r.c.time_to_close, c->time_to_close);
        assert_int_equal(r.c.opened_at, c->opened_at);
        assert_int_equal(r.c.created_at, c->created_at);
        assert_int_equal(r.c.has_assignee, c->has_assignee);
        if (c->has_assignee) {
            assert_int_equal(r.c.assignee.id, c->assignee.id);
            assert_string_equal(r.c.assignee.username, c->assignee.username);
            assert_string_equal(r.c.assignee.email, c->assignee.email);
        }
        /* Actions were applied in time order with the clock standing at
         * each one, so the feed's clamp never had to hold updated_at up:
         * it is the server time of the case's last action. */
        assert_int_equal(c->updated_at, r.last_recorded_at);

        sum.by_status[c->status]++;
        sum.reopened += c->status == CASE_OPEN && r.was_closed;
        sum.assigned += c->has_assignee;
        sum.with_notes += r.notes > 0;
        const int64_t timers[] = {c->time_to_follow_up, c->time_to_close};
        for (size_t k = 0; k < 2; k++) {
            if (timers[k] == CASE_NONE)
                continue;
            assert_true(timers[k] >= 0);
            if (timers[k] < sum.min_timer)
                sum.min_timer = timers[k];
            if (timers[k] > sum.max_timer)
                sum.max_timer = timers[k];
        }
        /* The timers follow the status, as SPEC §2 says. */
        if (c->status == CASE_OPEN) {
            assert_int_equal(c->time_to_follow_up, CASE_NONE);
            assert_int_equal(c->time_to_close, CASE_NONE);
        } else if (c->status == CASE_PROGRESS) {
            assert_int_not_equal(c->time_to_follow_up, CASE_NONE);
            assert_int_equal(c->time_to_close, CASE_NONE);
        } else {
            assert_int_not_equal(c->time_to_close, CASE_NONE);
            assert_true(c->time_to_follow_up <= c->time_to_close);
        }
    }
    return sum;
}

static void check_mix(const struct summary *sum, size_t n)
{
    print_message("open %zu, progress %zu, closed %zu, reopened %zu, assigned %zu, "
                  "with notes %zu, timers %lld..%lld h\n",
                  sum->by_status[CASE_OPEN], sum->by_status[CASE_PROGRESS],
                  sum->by_status[CASE_CLOSED], sum->reopened, sum->assigned, sum->with_notes,
                  (long long)sum->min_timer, (long long)sum->max_timer);
    /* Each state holds a real share, not a token case. */
    for (int st = CASE_OPEN; st <= CASE_CLOSED; st++)
        assert_true(sum->by_status[st] > n / 10);
    assert_true(sum->reopened > n / 50);
    assert_true(sum->assigned > n / 2);
    assert_true(sum->with_notes > n / 4);
    assert_int_equal(sum->min_timer, 0);
    assert_true(sum->max_timer > 100);
}

/* ---- tests ---------------------------------------------------------------- */

static int cmp_number(const void *a, const void *b)
{
    const struct case_record *x = a, *y = b;
    return (x->number > y->number) - (x->number < y->number);
}

/* The cases of f numbered from..to, each exactly once. */
static void check_numbers(struct feed *f, int64_t from, int64_t to)
{
    assert_int_equal(f->n, (size_t)(to - from + 1));
    struct case_record *sorted = malloc(f->n * sizeof *sorted);
    assert_non_null(sorted);
    memcpy(sorted, f->c, f->n * sizeof *sorted);
    qsort(sorted, f->n, sizeof *sorted, cmp_number);
    for (size_t i = 0; i < f->n; i++)
        assert_int_equal(sorted[i].number, from + (int64_t)i);
    free(sorted);
}

static void test_seed_twice(void **state)
{
    (void)state;
    char msg[CL_ERRMSG_MAX] = "";
    struct store *s = open_new();

    seed(s, CASES, USERS, 42, NOW);
    int64_t count, max_seq, max_number;
    assert_int_equal(store_case_stats(s, &count, &max_seq, msg), CL_OK);
    assert_int_equal(count, CASES);
    assert_int_equal(store_case_max_number(s, &max_number, msg), CL_OK);
    assert_int_equal(max_number, CASES);
    struct users us = read_users(s);
    assert_int_equal(us.n, USERS);

    struct feed f = read_feed(s);
    check_numbers(&f, 1, CASES);
    struct summary sum = check_cases(s, &f, NOW);
    check_mix(&sum, f.n);
    free(f.c);

    /* A second run, a period later, numbers its cases after the first
     * run's and assigns them to the same users. */
    const int64_t later = NOW + DAYS * DAY;
    seed(s, CASES, USERS, 7, later);
    assert_int_equal(store_case_stats(s, &count, &max_seq, msg), CL_OK);
    assert_int_equal(count, 2 * CASES);
    assert_int_equal(store_case_max_number(s, &max_number, msg), CL_OK);
    assert_int_equal(max_number, 2 * CASES);
    struct users again = read_users(s);
    assert_int_equal(again.n, USERS);
    assert_memory_equal(again.u, us.u, USERS * sizeof us.u[0]);

    f = read_feed(s);
    check_numbers(&f, 1, 2 * CASES);
    sum = check_cases(s, &f, later);
    check_mix(&sum, f.n);
    /* The first run's cases were not touched: they lead the feed. */
    for (size_t i = 0; i < CASES; i++)
        assert_true(f.c[i].number <= CASES);
    free(f.c);
    store_close(&s);
}

static void test_seed_is_deterministic(void **state)
{
    (void)state;
    /* The batch size only changes where transactions end, never the data. */
    struct store *a = open_new(), *b = open_new();
    struct seed_stats sa = seed(a, 500, 5, 99, NOW);
    struct seed_stats sb = seed_batched(b, 500, 5, 99, NOW, 0);
    assert_int_equal(sa.actions, sb.actions);
    struct feed fa = read_feed(a), fb = read_feed(b);
    assert_int_equal(fa.n, 500);
    assert_int_equal(fb.n, 500);
    for (size_t i = 0; i < fa.n; i++) {
        const struct case_record *x = &fa.c[i], *y = &fb.c[i];
        assert_int_equal(x->id, y->id);
        assert_int_equal(x->number, y->number);
        assert_int_equal(x->status, y->status);
        assert_int_equal(x->has_assignee, y->has_assignee);
        assert_int_equal(x->assignee.id, y->assignee.id);
        assert_string_equal(x->assignee.username, y->assignee.username);
        assert_int_equal(x->opened_at, y->opened_at);
        assert_int_equal(x->time_to_follow_up, y->time_to_follow_up);
        assert_int_equal(x->time_to_close, y->time_to_close);
        assert_int_equal(x->created_at, y->created_at);
        assert_int_equal(x->updated_at, y->updated_at);
        assert_int_equal(x->seq, y->seq);
    }
    /* Another seed gives other data. */
    struct store *c = open_new();
    seed(c, 500, 5, 100, NOW);
    struct feed fc = read_feed(c);
    size_t same = 0;
    for (size_t i = 0; i < fa.n; i++)
        same += fa.c[i].number == fc.c[i].number && fa.c[i].status == fc.c[i].status &&
                fa.c[i].updated_at == fc.c[i].updated_at;
    assert_true(same < fa.n / 2);
    free(fa.c);
    free(fb.c);
    free(fc.c);
    store_close(&a);
    store_close(&b);
    store_close(&c);
}

/* Without users nothing is assigned; the cases are still a full mix. */
static void test_seed_without_users(void **state)
{
    (void)state;
    struct store *s = open_new();
    seed(s, 300, 0, 5, NOW);
    struct feed f = read_feed(s);
    check_numbers(&f, 1, 300);
    struct summary sum = check_cases(s, &f, NOW);
    assert_int_equal(sum.assigned, 0);
    assert_true(sum.by_status[CASE_CLOSED] > 0);
    free(f.c);
    store_close(&s);
}

static void test_seed_limits(void **state)
{
    (void)state;
    char msg[CL_ERRMSG_MAX] = "";
    struct store *s = open_new();
    struct seed_stats st;
    const struct seed_options bad[] = {
        {.cases = -1, .users = 1, .days = 1, .now = NOW},
        {.cases = SEED_MAX_CASES + 1, .users = 1, .days = 1, .now = NOW},
        {.cases = 1, .users = SEED_MAX_USERS + 1, .days = 1, .now = NOW},
        {.cases = 1, .users = 1, .days = SEED_MAX_DAYS + 1, .now = NOW},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(seed_run(s, &bad[i], &st, msg), CL_EINVAL);

    /* Zero cases creates the users and nothing else; one case is created
     * at `now` and has nothing after it. */
    seed(s, 0, 3, 1, NOW);
    assert_int_equal(read_users(s).n, 3);
    seed(s, 1, 3, 1, NOW);
    struct feed f = read_feed(s);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.c[0].number, 1);
    assert_int_equal(f.c[0].created_at, NOW);
    check_cases(s, &f, NOW);
    free(f.c);
    store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_twice),
        cmocka_unit_test(test_seed_is_deterministic),
        cmocka_unit_test(test_seed_without_users),
        cmocka_unit_test(test_seed_limits),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
