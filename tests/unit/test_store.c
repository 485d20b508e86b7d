/* The store's contract on SQLite: migrations, the feed's seq and updated_at
 * rules, page windows and cursors, the page query's plan, case history,
 * users, apps, the token key, writer serialization and bulk mode. Every
 * test uses its own database file in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_impl.h"
#include "store/store_sqlite.h"

#define DAY     86400
/* 2022-03-01 00:00:00 UTC. */
#define MARCH_1 1646092800LL

static char tmpdir[64];
static int db_counter;

/* A fresh database path for each call. */
static void db_path(char *out, size_t n)
{
    snprintf(out, n, "%s/t%d.db", tmpdir, ++db_counter);
}

static struct store *open_ok(const char *path)
{
    struct store *s = NULL;
    char msg[CL_ERRMSG_MAX] = "";
    cl_err err = store_open(path, &s, msg);
    if (err)
        fail_msg("store_open(%s): %s", path, msg);
    return s;
}

static struct store *open_new(char *path, size_t n)
{
    db_path(path, n);
    return open_ok(path);
}

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
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_store.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Writes a case as the service would: in one transaction, with an event. */
static void put_case(struct store *s, struct case_record *c, int64_t now)
{
    char msg[CL_ERRMSG_MAX] = "";
    struct case_event ev = {
        .kind = ACTION_STATUS, .status = c->status, .happened_at = now, .recorded_at = now};
    assert_int_equal(store_tx_begin(s, msg), CL_OK);
    cl_err err = store_case_put(s, c, &ev, now, msg);
    if (err)
        fail_msg("store_case_put: %s", msg);
    assert_int_equal(store_tx_commit(s, msg), CL_OK);
}

static struct case_record new_case(int64_t number, int64_t at)
{
    struct case_record c = {.number = number,
                            .status = CASE_OPEN,
                            .opened_at = at,
                            .time_to_follow_up = CASE_NONE,
                            .time_to_close = CASE_NONE,
                            .created_at = at};
    return c;
}

/* Collects a page's cases. */
struct page {
    size_t n;
    struct case_record c[16];
};

static cl_err collect(void *ud, const struct case_record *c)
{
    struct page *p = ud;
    if (p->n == sizeof p->c / sizeof p->c[0])
        return CL_ELIMIT;
    p->c[p->n++] = *c;
    return CL_OK;
}

static struct page fetch(struct store *s, int64_t cursor, unsigned limit, int64_t lo, int64_t hi)
{
    struct page p = {0};
    struct page_query q = {.cursor = cursor, .limit = limit, .updated_lo = lo, .updated_hi = hi};
    char msg[CL_ERRMSG_MAX] = "";
    cl_err err = store_page_fetch(s, &q, collect, &p, msg);
    if (err)
        fail_msg("store_page_fetch: %s", msg);
    return p;
}

/* ---- opening and migrating ------------------------------------------------ */

static void test_open_migrates_once(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    struct store *s = open_new(path, sizeof path);
    int64_t v = 0;
    assert_int_equal(store_schema_version(s, &v, msg), CL_OK);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
    assert_int_equal(v, 2);
    store_close(&s);
    assert_null(s);

    s = open_ok(path);
    assert_int_equal(store_schema_version(s, &v, msg), CL_OK);
    assert_int_equal(v, 2);
    store_close(&s);

    /* The file holds secret hashes and the token key: owner only. */
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 077, 0);
}

struct opener {
    const char *path;
    cl_err err;
    char msg[CL_ERRMSG_MAX];
};

static void *open_and_close(void *arg)
{
    struct opener *o = arg;
    struct store *s = NULL;
    o->err = store_open(o->path, &s, o->msg);
    store_close(&s);
    return NULL;
}

/* Worker threads open their connections to a new database at the same
 * time: the migration runs once and none of them fails. */
static void test_concurrent_first_open(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    db_path(path, sizeof path);
    enum { N = 8 };
    struct opener o[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        o[i] = (struct opener){.path = path};
        assert_int_equal(pthread_create(&t[i], NULL, open_and_close, &o[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        if (o[i].err)
            fail_msg("opener %d: %s", i, o[i].msg);
    }
    struct store *s = open_ok(path);
    int64_t v = 0;
    assert_int_equal(store_schema_version(s, &v, msg), CL_OK);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
    store_close(&s);
}

static void test_open_urls(void **state)
{
    (void)state;
    char path[128], url[160], msg[CL_ERRMSG_MAX];
    struct store *s = NULL;
    /* Nothing listens on port 1: the PostgreSQL backend is chosen, fails
     * at once as unavailable, and does not repeat the password. */
    assert_int_equal(store_open("postgres://u:secretpw@127.0.0.1:1/db", &s, msg), CL_EBUSY);
    assert_non_null(strstr(msg, "PostgreSQL"));
    assert_null(strstr(msg, "secretpw"));
    assert_int_equal(store_open("postgresql://u@127.0.0.1:1/db?password=secretpw", &s, msg),
                     CL_EBUSY);
    assert_null(strstr(msg, "secretpw"));
    assert_int_equal(store_open("", &s, msg), CL_EINVAL);
    assert_int_equal(store_open("sqlite:", &s, msg), CL_EINVAL);
    assert_null(s);

    db_path(path, sizeof path);
    snprintf(url, sizeof url, "sqlite:%s", path);
    s = open_ok(url);
    store_close(&s);
    assert_int_equal(access(path, F_OK), 0);

    snprintf(url, sizeof url, "%s/no/such/dir/x.db", tmpdir);
    assert_int_equal(store_open(url, &s, msg), CL_ESTORE);

    store_close(NULL);
    store_close(&s);
}

static void test_url_redact(void **state)
{
    (void)state;
    static const struct {
        const char *url, *shown;
    } cases[] = {
        {"./closeloop.db", "./closeloop.db"},
        {"sqlite:/tmp/a:b@c.db", "sqlite:/tmp/a:b@c.db"},
        {"postgres://host/db", "postgres://host/db"},
        {"postgres://user@host:5432/db", "postgres://user@host:5432/db"},
        {"postgres://user:pw@host/db", "postgres://user:***@host/db"},
        {"postgresql://user:p@ss@host/db", "postgresql://user:***@host/db"},
        {"postgres://user:pw@host/db?sslmode=require&password=pw2&x=1",
         "postgres://user:***@host/db?sslmode=require&password=***&x=1"},
        {"postgres://host/db?password=pw", "postgres://host/db?password=***"},
        {"postgres://host/a@b", "postgres://host/a@b"},
    };
    char out[STORE_URL_SHOWN_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(store_url_redact(cases[i].url, out, sizeof out), cases[i].shown);
    /* Truncation never runs past the buffer. */
    char small[12];
    assert_string_equal(store_url_redact("postgres://user:pw@host/db", small, sizeof small),
                        "postgres://");
}

static void test_refuses_newer_schema(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    struct store *s = open_new(path, sizeof path);
    store_close(&s);

    /* Simulate a database written by a newer closeloop. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(store_open(path, &s, msg), CL_ESTORE);
    assert_non_null(strstr(msg, "newer"));
    assert_null(s);
}

/* ---- group durability ------------------------------------------------------ */

struct syncer {
    struct store *s;
    _Atomic bool stop;
    int syncs, failures;
};

static void *sync_until_stopped(void *arg)
{
    struct syncer *y = arg;
    char msg[CL_ERRMSG_MAX];
    do {
        if (store_sync(y->s, msg))
            y->failures++;
        y->syncs++;
    } while (!atomic_load(&y->stop));
    return NULL;
}

/* After store_sync_defer the connection commits without a flush of its own
 * (synchronous = NORMAL) while another thread flushes the WAL, and every
 * commit is there on the next open. */
static void test_sync_beside_commits(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    struct store *s = open_new(path, sizeof path);
    assert_int_equal(store_sync(s, msg), CL_OK); /* nothing deferred: nothing to do */
    assert_int_equal(store_sync_defer(s, msg), CL_OK);
    assert_int_equal(store_sync_defer(s, msg), CL_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(sq(s)->db, "PRAGMA synchronous", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1); /* NORMAL */
    sqlite3_finalize(st);

    struct syncer y = {.s = s};
    pthread_t tid;
    assert_int_equal(pthread_create(&tid, NULL, sync_until_stopped, &y), 0);
    for (int64_t n = 1; n <= 200; n++) {
        struct case_record c = new_case(n, MARCH_1 + n);
        put_case(s, &c, MARCH_1 + n);
    }
    atomic_store(&y.stop, true);
    pthread_join(tid, NULL);
    assert_int_equal(y.failures, 0);
    assert_true(y.syncs > 0);
    assert_int_equal(store_sync(s, msg), CL_OK);
    store_close(&s);

    s = open_ok(path);
    int64_t count, max_seq;
    assert_int_equal(store_case_stats(s, &count, &max_seq, msg), CL_OK);
    assert_int_equal(count, 200);
    assert_int_equal(max_seq, 200);
    store_close(&s);
}

/* A database of schema version 1 (cases_seq on seq alone) is brought to
 * the current version on open, keeps its cases, and serves its pages from
 * the covering index. */
static void test_upgrades_version_1(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    struct store *s = open_new(path, sizeof path);
    for (int64_t n = 1; n <= 5; n++) {
        struct case_record c = new_case(n, MARCH_1 + n);
        put_case(s, &c, MARCH_1 + n);
    }
    store_close(&s);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP INDEX cases_seq;"
                                  "CREATE UNIQUE INDEX cases_seq ON cases (seq);"
                                  "PRAGMA user_version = 1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(store_open(path, &s, msg), CL_OK);
    int64_t v = 0;
    assert_int_equal(store_schema_version(s, &v, msg), CL_OK);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
    struct page p = fetch(s, 0, 10, INT64_MIN, INT64_MAX);
    assert_int_equal(p.n, 5);
    for (size_t i = 0; i < p.n; i++) {
        assert_int_equal(p.c[i].number, (int64_t)i + 1);
        assert_int_equal(p.c[i].updated_at, MARCH_1 + (int64_t)i + 1);
    }
    store_close(&s);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT sql FROM sqlite_master WHERE name = 'cases_seq'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_non_null(strstr((const char *)sqlite3_column_text(st, 0), "updated_at"));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_reopen_keeps_data(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    struct store *s = open_new(path, sizeof path);
    struct user_record u = {0};
    snprintf(u.username, sizeof u.username, "ana");
    snprintf(u.email, sizeof u.email, "ana@example.com");
    assert_int_equal(store_user_add(s, &u, msg), CL_OK);
    struct case_record c = new_case(42, MARCH_1);
    c.has_assignee = true;
    c.assignee = u;
    put_case(s, &c, MARCH_1 + 10);
    store_close(&s);

    s = open_ok(path);
    struct case_record got;
    assert_int_equal(store_case_get(s, 42, &got, msg), CL_OK);
    assert_int_equal(got.id, c.id);
    assert_int_equal(got.number, 42);
    assert_int_equal(got.status, CASE_OPEN);
    assert_true(got.has_assignee);
    assert_int_equal(got.assignee.id, u.id);
    assert_string_equal(got.assignee.username, "ana");
    assert_string_equal(got.assignee.email, "ana@example.com");
    assert_int_equal(got.opened_at, MARCH_1);
    assert_int_equal(got.time_to_follow_up, CASE_NONE);
    assert_int_equal(got.time_to_close, CASE_NONE);
    assert_int_equal(got.created_at, MARCH_1);
    assert_int_equal(got.updated_at, MARCH_1 + 10);
    assert_int_equal(got.seq, 1);
    assert_int_equal(store_case_get(s, 43, &got, msg), CL_ENOTFOUND);
    store_close(&s);
}

/* ---- the feed ------------------------------------------------------------- */

static void test_seq_increases_updated_at_never_decreases(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    struct store *s = open_new(path, sizeof path);
    struct case_record a = new_case(1, MARCH_1), b = new_case(2, MARCH_1);
    put_case(s, &a, MARCH_1 + 1000);
    assert_int_equal(a.seq, 1);
    assert_int_equal(a.updated_at, MARCH_1 + 1000);
    put_case(s, &b, MARCH_1 + 2000);
    assert_int_equal(b.seq, 2);
    assert_int_equal(b.updated_at, MARCH_1 + 2000);

    /* The clock went backwards: updated_at holds at the newest so far. */
    a.status = CASE_PROGRESS;
    a.time_to_follow_up = 0;
    put_case(s, &a, MARCH_1 + 1500);
    assert_int_equal(a.seq, 3);
    assert_int_equal(a.updated_at, MARCH_1 + 2000);
    put_case(s, &b, MARCH_1 + 3000);
    assert_int_equal(b.seq, 4);
    assert_int_equal(b.updated_at, MARCH_1 + 3000);

    struct case_record got;
    assert_int_equal(store_case_get(s, 1, &got, msg), CL_OK);
    assert_int_equal(got.status, CASE_PROGRESS);
    assert_int_equal(got.time_to_follow_up, 0);
    assert_int_equal(got.seq, 3);
    assert_false(got.has_assignee);

    int64_t count, max_seq;
    assert_int_equal(store_case_stats(s, &count, &max_seq, msg), CL_OK);
    assert_int_equal(count, 2);
    assert_int_equal(max_seq, 4);
    store_close(&s);
}

static void test_put_needs_transaction(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    struct store *s = open_new(path, sizeof path);
    struct case_record c = new_case(1, MARCH_1);
    struct case_event ev = {.kind = ACTION_STATUS, .happened_at = MARCH_1};
    assert_int_equal(store_case_put(s, &c, &ev, MARCH_1, msg), CL_ESTORE);
    assert_non_null(strstr(msg, "no transaction"));
    assert_int_equal(c.id, 0);
    store_tx_rollback(s); /* no-op outside a transaction */
    store_close(&s);
}

static void test_failed_put_changes_nothing(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    struct store *s = open_new(path, sizeof path);
    struct case_record a = new_case(1, MARCH_1);
    put_case(s, &a, MARCH_1);

    /* A second case for the same number, then an update of a missing case:
     * both fail, and neither consumes a seq even though the caller commits. */
    struct case_record dup = new_case(1, MARCH_1);
    struct case_record ghost = new_case(2, MARCH_1);
    ghost.id = 999;
    struct case_event ev = {.kind = ACTION_STATUS, .happened_at = MARCH_1};
    assert_int_equal(store_tx_begin(s, msg), CL_OK);
    assert_int_equal(store_case_put(s, &dup, &ev, MARCH_1, msg), CL_EEXIST);
    assert_int_equal(store_case_put(s, &ghost, &ev, MARCH_1, msg), CL_ENOTFOUND);
    /* An update cannot give a case another number. */
    struct case_record renumbered = a;
    renumbered.number = 5;
    assert_int_equal(store_case_put(s, &renumbered, &ev, MARCH_1, msg), CL_ENOTFOUND);
    assert_int_equal(store_tx_commit(s, msg), CL_OK);

    struct case_record b = new_case(3, MARCH_1);
    put_case(s, &b, MARCH_1);
    assert_int_equal(b.seq, 2);

    /* A rolled-back put leaves no trace either. */
    struct case_record c = new_case(4, MARCH_1);
    assert_int_equal(store_tx_begin(s, msg), CL_OK);
    assert_int_equal(store_case_put(s, &c, &ev, MARCH_1, msg), CL_OK);
    store_tx_rollback(s);
    struct case_record got;
    assert_int_equal(store_case_get(s, 4, &got, msg), CL_ENOTFOUND);
    int64_t count, max_seq;
    assert_int_equal(store_case_stats(s, &count, &max_seq, msg), CL_OK);
    assert_int_equal(count, 2);
    assert_int_equal(max_seq, 2);
    store_close(&s);
}

static void test_page_order_limit_cursor(void **state)
{
    (void)state;
    char path[128];
    struct store *s = open_new(path, sizeof path);
    struct case_record c[5];
    for (int i = 0; i < 5; i++) {
        c[i] = new_case(100 + i, MARCH_1);
        put_case(s, &c[i], MARCH_1 + i);
    }

    struct page p = fetch(s, 0, 2, INT64_MIN, INT64_MAX);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.c[0].number, 100);
    assert_int_equal(p.c[1].number, 101);
    p = fetch(s, p.c[1].seq, 2, INT64_MIN, INT64_MAX);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.c[0].number, 102);
    assert_int_equal(p.c[1].number, 103);
    p = fetch(s, p.c[1].seq, 2, INT64_MIN, INT64_MAX);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.c[0].number, 104);
    p = fetch(s, p.c[0].seq, 2, INT64_MIN, INT64_MAX);
    assert_int_equal(p.n, 0);
    p = fetch(s, 1000, 10, INT64_MIN, INT64_MAX);
    assert_int_equal(p.n, 0);

    p = fetch(s, 0, 10, INT64_MIN, INT64_MAX);
    assert_int_equal(p.n, 5);
    for (size_t i = 1; i < p.n; i++)
        assert_true(p.c[i].seq > p.c[i - 1].seq);
    store_close(&s);
}

static void test_page_window_edges(void **state)
{
    (void)state;
    char path[128];
    struct store *s = open_new(path, sizeof path);
    /* Updated the second before the day, at its first and last seconds, and
     * at the first second of the next day. */
    const int64_t at[] = {MARCH_1 - 1, MARCH_1, MARCH_1 + DAY - 1, MARCH_1 + DAY};
    for (int i = 0; i < 4; i++) {
        struct case_record c = new_case(10 + i, MARCH_1 - DAY);
        put_case(s, &c, at[i]);
    }

    struct page p = fetch(s, 0, 100, MARCH_1, MARCH_1 + DAY);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.c[0].number, 11);
    assert_int_equal(p.c[1].number, 12);

    /* Start only, end only. */
    p = fetch(s, 0, 100, MARCH_1, INT64_MAX);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.c[0].number, 11);
    p = fetch(s, 0, 100, INT64_MIN, MARCH_1 + DAY);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.c[2].number, 12);

    /* A cursor inside the window, and paging by one. */
    p = fetch(s, 0, 1, MARCH_1, MARCH_1 + DAY);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.c[0].number, 11);
    p = fetch(s, p.c[0].seq, 1, MARCH_1, MARCH_1 + DAY);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.c[0].number, 12);
    p = fetch(s, p.c[0].seq, 1, MARCH_1, MARCH_1 + DAY);
    assert_int_equal(p.n, 0);

    /* Windows with nothing in them, before, after and empty. */
    assert_int_equal(fetch(s, 0, 100, MARCH_1 - 10 * DAY, MARCH_1 - 9 * DAY).n, 0);
    assert_int_equal(fetch(s, 0, 100, MARCH_1 + 5 * DAY, MARCH_1 + 6 * DAY).n, 0);
    assert_int_equal(fetch(s, 0, 100, MARCH_1, MARCH_1).n, 0);
    store_close(&s);
}

static void test_case_updated_twice_appears_once(void **state)
{
    (void)state;
    char path[128];
    struct store *s = open_new(path, sizeof path);
    struct case_record a = new_case(1, MARCH_1), b = new_case(2, MARCH_1);
    put_case(s, &a, MARCH_1);
    put_case(s, &b, MARCH_1 + 1);
    a.status = CASE_CLOSED;
    a.time_to_follow_up = 1;
    a.time_to_close = 2;
    put_case(s, &a, MARCH_1 + 2);
    a.status = CASE_OPEN;
    a.time_to_follow_up = CASE_NONE;
    a.time_to_close = CASE_NONE;
    put_case(s, &a, MARCH_1 + 3);

    struct page p = fetch(s, 0, 100, INT64_MIN, INT64_MAX);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.c[0].number, 2);
    assert_int_equal(p.c[1].number, 1);
    assert_int_equal(p.c[1].seq, 4);
    assert_int_equal(p.c[1].status, CASE_OPEN);
    assert_int_equal(p.c[1].time_to_close, CASE_NONE);
    assert_int_equal(p.c[1].updated_at, MARCH_1 + 3);

    /* A client that had seen seq 1 gets the change once. */
    p = fetch(s, 1, 100, INT64_MIN, INT64_MAX);
    assert_int_equal(p.n, 2);
    p = fetch(s, 2, 100, INT64_MIN, INT64_MAX);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.c[0].number, 1);
    store_close(&s);
}

static cl_err stop_after_one(void *ud, const struct case_record *c)
{
    (void)c;
    int *calls = ud;
    return ++*calls == 1 ? CL_ELIMIT : CL_OK;
}

static void test_page_callback_stops(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    struct store *s = open_new(path, sizeof path);
    for (int i = 0; i < 3; i++) {
        struct case_record c = new_case(i + 1, MARCH_1);
        put_case(s, &c, MARCH_1);
    }
    int calls = 0;
    struct page_query q = {.limit = 10, .updated_lo = INT64_MIN, .updated_hi = INT64_MAX};
    assert_int_equal(store_page_fetch(s, &q, stop_after_one, &calls, msg), CL_ELIMIT);
    assert_int_equal(calls, 1);
    /* The connection is usable for writes afterwards. */
    struct case_record c = new_case(9, MARCH_1);
    put_case(s, &c, MARCH_1);
    assert_int_equal(c.seq, 4);
    store_close(&s);
}

struct plan {
    size_t n;
    char step[16][160];
};

static void plan_step(void *ud, const char *step)
{
    struct plan *p = ud;
    if (p->n < sizeof p->step / sizeof p->step[0])
        snprintf(p->step[p->n++], sizeof p->step[0], "%s", step);
}

/* The page's cost must not grow with the cursor's depth or the cases
 * outside the window: every step is an index search, and nothing sorts. */
static void test_page_plan_uses_indexes(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    struct store *s = open_new(path, sizeof path);
    struct plan p = {0};
    cl_err err = store_page_plan(s, plan_step, &p, msg);
    if (err)
        fail_msg("store_page_plan: %s", msg);
    assert_true(p.n >= 3);
    bool seq_index = false, updated_index = false;
    for (size_t i = 0; i < p.n; i++) {
        print_message("plan: %s\n", p.step[i]);
        assert_null(strstr(p.step[i], "SCAN"));
        assert_null(strstr(p.step[i], "TEMP B-TREE"));
        assert_non_null(strstr(p.step[i], "SEARCH"));
        /* The page reads the index alone, never the table. */
        seq_index |= strstr(p.step[i], "COVERING INDEX cases_seq") != NULL;
        updated_index |= strstr(p.step[i], "cases_updated") != NULL;
    }
    assert_true(seq_index);
    assert_true(updated_index);
    store_close(&s);
}

/* ---- case history --------------------------------------------------------- */

/* Copies a history, notes included, since a note lives only as long as its
 * callback: ev[i].note is left pointing nowhere useful, has_note[i] and
 * note[i] say what it held. */
struct history {
    size_t n;
    struct case_event ev[8];
    bool has_note[8];
    char note[8][64];
};

static cl_err collect_event(void *ud, const struct case_event *ev)
{
    struct history *h = ud;
    if (h->n == sizeof h->ev / sizeof h->ev[0])
        return CL_ELIMIT;
    h->ev[h->n] = *ev;
    if (ev->note) {
        assert_true(ev->note_len < sizeof h->note[0]);
        memcpy(h->note[h->n], ev->note, ev->note_len);
        h->note[h->n][ev->note_len] = '\0';
        h->has_note[h->n] = true;
    }
    h->n++;
    return CL_OK;
}

static struct history history(struct store *s, int64_t case_id)
{
    struct history h = {0};
    char msg[CL_ERRMSG_MAX] = "";
    cl_err err = store_case_history(s, case_id, collect_event, &h, msg);
    if (err)
        fail_msg("store_case_history: %s", msg);
    return h;
}

/* Stores c with the event ev, as one transaction. */
static void put_event(struct store *s, struct case_record *c, struct case_event ev)
{
    char msg[CL_ERRMSG_MAX] = "";
    assert_int_equal(store_tx_begin(s, msg), CL_OK);
    cl_err err = store_case_put(s, c, &ev, ev.recorded_at, msg);
    if (err)
        fail_msg("store_case_put: %s", msg);
    assert_int_equal(store_tx_commit(s, msg), CL_OK);
}

static cl_err stop_after_one_event(void *ud, const struct case_event *ev)
{
    (void)ev;
    int *calls = ud;
    return ++*calls == 1 ? CL_ELIMIT : CL_OK;
}

static void test_case_history(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    struct store *s = open_new(path, sizeof path);
    struct user_record u = {0};
    snprintf(u.username, sizeof u.username, "ana");
    snprintf(u.email, sizeof u.email, "ana@example.com");
    assert_int_equal(store_user_add(s, &u, msg), CL_OK);

    /* Case 1 is created, assigned, commented on, closed with a back-dated
     * action time and reopened; case 2's event comes in between. The note
     * of the comment is given with a length shorter than its string. */
    struct case_record a = new_case(1, MARCH_1), b = new_case(2, MARCH_1);
    put_event(s, &a,
              (struct case_event){.kind = ACTION_STATUS,
                                  .status = CASE_OPEN,
                                  .note = "created",
                                  .note_len = 7,
                                  .happened_at = MARCH_1,
                                  .recorded_at = MARCH_1 + 5});
    a.has_assignee = true;
    a.assignee = u;
    put_event(s, &a,
              (struct case_event){.kind = ACTION_ASSIGN,
                                  .assignee_id = u.id,
                                  .happened_at = MARCH_1 + 60,
                                  .recorded_at = MARCH_1 + 60});
    put_event(s, &b,
              (struct case_event){.kind = ACTION_STATUS,
                                  .status = CASE_OPEN,
                                  .happened_at = MARCH_1 + 70,
                                  .recorded_at = MARCH_1 + 70});
    put_event(s, &a,
              (struct case_event){.kind = ACTION_COMMENT,
                                  .note = "called them, no answer",
                                  .note_len = 12,
                                  .assignee_id = u.id,
                                  .happened_at = MARCH_1 + 3600,
                                  .recorded_at = MARCH_1 + 3600});
    a.status = CASE_CLOSED;
    put_event(s, &a,
              (struct case_event){.kind = ACTION_STATUS,
                                  .status = CASE_CLOSED,
                                  .note = "",
                                  .note_len = 0,
                                  .assignee_id = u.id,
                                  .happened_at = MARCH_1 + 7200,
                                  .recorded_at = MARCH_1 + DAY});
    a.status = CASE_OPEN;
    put_event(s, &a,
              (struct case_event){.kind = ACTION_STATUS,
                                  .status = CASE_OPEN,
                                  .assignee_id = u.id,
                                  .happened_at = MARCH_1 + 2 * DAY,
                                  .recorded_at = MARCH_1 + 2 * DAY});

    struct history h = history(s, a.id);
    assert_int_equal(h.n, 5);
    static const struct {
        int kind, status;
        const char *note;
        bool assigned;
        int64_t happened, recorded;
    } want[] = {
        {ACTION_STATUS, CASE_OPEN, "created", false, MARCH_1, MARCH_1 + 5},
        {ACTION_ASSIGN, CASE_OPEN, NULL, true, MARCH_1 + 60, MARCH_1 + 60},
        {ACTION_COMMENT, CASE_OPEN, "called them,", true, MARCH_1 + 3600, MARCH_1 + 3600},
        {ACTION_STATUS, CASE_CLOSED, "", true, MARCH_1 + 7200, MARCH_1 + DAY},
        {ACTION_STATUS, CASE_OPEN, NULL, true, MARCH_1 + 2 * DAY, MARCH_1 + 2 * DAY},
    };
    for (size_t i = 0; i < h.n; i++) {
        print_message("event %zu\n", i);
        assert_int_equal(h.ev[i].kind, want[i].kind);
        assert_int_equal(h.ev[i].status, want[i].status);
        if (want[i].note) {
            assert_true(h.has_note[i]);
            assert_string_equal(h.note[i], want[i].note);
            assert_int_equal(h.ev[i].note_len, strlen(want[i].note));
        } else {
            assert_false(h.has_note[i]);
            assert_int_equal(h.ev[i].note_len, 0);
        }
        assert_int_equal(h.ev[i].assignee_id, want[i].assigned ? u.id : 0);
        assert_int_equal(h.ev[i].happened_at, want[i].happened);
        assert_int_equal(h.ev[i].recorded_at, want[i].recorded);
    }

    h = history(s, b.id);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.ev[0].happened_at, MARCH_1 + 70);

    /* No such case: no events, no error. */
    assert_int_equal(history(s, 999).n, 0);

    /* Inside a write transaction the history includes the uncommitted
     * event; a rollback takes it away again. */
    assert_int_equal(store_tx_begin(s, msg), CL_OK);
    struct case_event ev = {.kind = ACTION_COMMENT,
                            .note = "draft",
                            .note_len = 5,
                            .happened_at = MARCH_1 + 3 * DAY,
                            .recorded_at = MARCH_1 + 3 * DAY};
    assert_int_equal(store_case_put(s, &b, &ev, ev.recorded_at, msg), CL_OK);
    assert_int_equal(history(s, b.id).n, 2);
    store_tx_rollback(s);
    assert_int_equal(history(s, b.id).n, 1);

    /* A callback's error stops the walk and comes back; the statement is
     * reset, so the next walk starts from the beginning. */
    int calls = 0;
    assert_int_equal(store_case_history(s, a.id, stop_after_one_event, &calls, msg), CL_ELIMIT);
    assert_int_equal(calls, 1);
    assert_int_equal(history(s, a.id).n, 5);
    store_close(&s);
}

/* ---- users ---------------------------------------------------------------- */

static cl_err collect_user(void *ud, const struct user_record *u)
{
    struct page *p = ud;
    p->c[p->n++].assignee = *u;
    return CL_OK;
}

static void test_users(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    struct store *s = open_new(path, sizeof path);
    struct user_record a = {0}, b = {0}, dup = {0}, got;
    snprintf(a.username, sizeof a.username, "ana");
    snprintf(a.email, sizeof a.email, "Ana@Example.com");
    snprintf(b.username, sizeof b.username, "bo");
    snprintf(b.email, sizeof b.email, "bo@example.com");
    assert_int_equal(store_user_add(s, &a, msg), CL_OK);
    assert_int_equal(store_user_add(s, &b, msg), CL_OK);
    assert_true(b.id > a.id);

    snprintf(dup.username, sizeof dup.username, "ana");
    snprintf(dup.email, sizeof dup.email, "other@example.com");
    assert_int_equal(store_user_add(s, &dup, msg), CL_EEXIST);
    assert_string_equal(msg, "username already exists");
    snprintf(dup.username, sizeof dup.username, "ana2");
    snprintf(dup.email, sizeof dup.email, "ana@example.COM");
    assert_int_equal(store_user_add(s, &dup, msg), CL_EEXIST);
    assert_string_equal(msg, "email already exists");

    assert_int_equal(store_user_find(s, "ana", &got, msg), CL_OK);
    assert_int_equal(got.id, a.id);
    assert_int_equal(store_user_find(s, "ana@example.com", &got, msg), CL_OK);
    assert_int_equal(got.id, a.id);
    assert_string_equal(got.email, "Ana@Example.com");
    assert_int_equal(store_user_find(s, "bo@example.com", &got, msg), CL_OK);
    assert_int_equal(got.id, b.id);
    assert_int_equal(store_user_find(s, "ANA", &got, msg), CL_ENOTFOUND);
    assert_int_equal(store_user_find(s, "nobody", &got, msg), CL_ENOTFOUND);

    struct page p = {0};
    assert_int_equal(store_user_list(s, collect_user, &p, msg), CL_OK);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.c[0].assignee.username, "ana");
    assert_string_equal(p.c[1].assignee.username, "bo");
    store_close(&s);
}

/* ---- apps ----------------------------------------------------------------- */

static struct app_record new_app(const char *client_id, const char *name, unsigned char fill)
{
    struct app_record a = {
        .scopes = SCOPE_READ | SCOPE_WRITE, .generation = 1, .created_at = MARCH_1};
    snprintf(a.client_id, sizeof a.client_id, "%s", client_id);
    snprintf(a.name, sizeof a.name, "%s", name);
    memset(a.secret_hash, fill, sizeof a.secret_hash);
    return a;
}

static cl_err count_app(void *ud, const struct app_record *a)
{
    struct plan *p = ud;
    snprintf(p->step[p->n++], sizeof p->step[0], "%s", a->name);
    return CL_OK;
}

static void test_apps(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    struct store *s = open_new(path, sizeof path);
    struct app_record a = new_app("aaaa", "first", 0x11), b = new_app("bbbb", "second", 0x22);
    assert_int_equal(store_app_insert(s, &a, msg), CL_OK);
    assert_int_equal(store_app_insert(s, &b, msg), CL_OK);
    assert_true(b.id > a.id);
    struct app_record dup = new_app("aaaa", "again", 0x33);
    assert_int_equal(store_app_insert(s, &dup, msg), CL_EEXIST);

    struct app_record got;
    assert_int_equal(store_app_get(s, "aaaa", &got, msg), CL_OK);
    assert_int_equal(got.id, a.id);
    assert_string_equal(got.name, "first");
    assert_int_equal(got.scopes, SCOPE_READ | SCOPE_WRITE);
    assert_memory_equal(got.secret_hash, a.secret_hash, SECRET_HASH_LEN);
    assert_int_equal(got.generation, 1);
    assert_false(got.revoked);
    assert_int_equal(got.created_at, MARCH_1);
    assert_int_equal(store_app_get(s, "zzzz", &got, msg), CL_ENOTFOUND);

    unsigned char hash[SECRET_HASH_LEN];
    memset(hash, 0x44, sizeof hash);
    int64_t gen = 0;
    assert_int_equal(store_app_rotate(s, "aaaa", hash, &gen, msg), CL_OK);
    assert_int_equal(gen, 2);
    assert_int_equal(store_app_get(s, "aaaa", &got, msg), CL_OK);
    assert_int_equal(got.generation, 2);
    assert_memory_equal(got.secret_hash, hash, SECRET_HASH_LEN);
    assert_int_equal(store_app_rotate(s, "zzzz", hash, &gen, msg), CL_ENOTFOUND);

    assert_int_equal(store_app_revoke(s, "aaaa", msg), CL_OK);
    assert_int_equal(store_app_get(s, "aaaa", &got, msg), CL_OK);
    assert_true(got.revoked);
    assert_int_equal(store_app_rotate(s, "aaaa", hash, &gen, msg), CL_ENOTFOUND);
    assert_int_equal(store_app_revoke(s, "zzzz", msg), CL_ENOTFOUND);

    struct plan names = {0};
    assert_int_equal(store_app_list(s, count_app, &names, msg), CL_OK);
    assert_int_equal(names.n, 2);
    assert_string_equal(names.step[0], "first");
    assert_string_equal(names.step[1], "second");
    store_close(&s);
}

/* ---- token key ------------------------------------------------------------ */

static void test_token_key_is_shared(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    struct store *s1 = open_new(path, sizeof path);
    struct store *s2 = open_ok(path);
    unsigned char k1[TOKEN_KEY_LEN], k2[TOKEN_KEY_LEN], k3[TOKEN_KEY_LEN], zero[TOKEN_KEY_LEN];
    memset(zero, 0, sizeof zero);
    assert_int_equal(store_token_key(s1, k1, msg), CL_OK);
    assert_int_equal(store_token_key(s2, k2, msg), CL_OK);
    assert_memory_equal(k1, k2, TOKEN_KEY_LEN);
    assert_memory_not_equal(k1, zero, TOKEN_KEY_LEN);
    store_close(&s1);
    store_close(&s2);
    s1 = open_ok(path);
    assert_int_equal(store_token_key(s1, k3, msg), CL_OK);
    assert_memory_equal(k1, k3, TOKEN_KEY_LEN);
    store_close(&s1);
}

/* ---- writers -------------------------------------------------------------- */

struct delayed_commit {
    struct store *s;
    cl_err err;
};

static void *commit_later(void *arg)
{
    struct delayed_commit *d = arg;
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    char msg[CL_ERRMSG_MAX];
    d->err = store_tx_commit(d->s, msg);
    return NULL;
}

static void test_writers_serialize(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    struct store *a = open_new(path, sizeof path);
    struct store *b = open_ok(path);

    /* While a holds the write lock, b gives up after its busy timeout. */
    store_sqlite_busy_timeout(b, 50);
    assert_int_equal(store_tx_begin(a, msg), CL_OK);
    assert_int_equal(store_tx_begin(b, msg), CL_EBUSY);
    assert_non_null(strstr(msg, "locked"));
    /* Readers are not blocked by the writer. */
    assert_int_equal(fetch(b, 0, 10, INT64_MIN, INT64_MAX).n, 0);
    store_tx_rollback(a);

    /* With the normal timeout, b waits for a's commit, then sees its case
     * and continues the feed after it. */
    store_sqlite_busy_timeout(b, STORE_BUSY_TIMEOUT_MS);
    assert_int_equal(store_tx_begin(a, msg), CL_OK);
    struct case_record c1 = new_case(1, MARCH_1);
    struct case_event ev = {.kind = ACTION_STATUS, .happened_at = MARCH_1};
    assert_int_equal(store_case_put(a, &c1, &ev, MARCH_1, msg), CL_OK);
    struct delayed_commit d = {.s = a, .err = CL_ESTORE};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, commit_later, &d), 0);
    cl_err err = store_tx_begin(b, msg);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(err, CL_OK);
    assert_int_equal(d.err, CL_OK);
    struct case_record c2 = new_case(2, MARCH_1);
    assert_int_equal(store_case_put(b, &c2, &ev, MARCH_1, msg), CL_OK);
    assert_int_equal(store_tx_commit(b, msg), CL_OK);
    assert_int_equal(c1.seq, 1);
    assert_int_equal(c2.seq, 2);

    store_close(&a);
    store_close(&b);
}

/* Bulk mode tunes only its own connection and restores it at the end; in
 * it, a failed put leaves a transaction that can only be rolled back. */
static void test_bulk_mode(void **state)
{
    (void)state;
    char path[128], msg[CL_ERRMSG_MAX];
    struct store *s = open_new(path, sizeof path);
    struct store *other = open_ok(path);
    const int64_t normal = store_sqlite_cache_size(s);
    assert_int_not_equal(normal, 0);

    /* Not inside a transaction. */
    assert_int_equal(store_tx_begin(s, msg), CL_OK);
    assert_int_equal(store_bulk_begin(s, msg), CL_ESTORE);
    store_tx_rollback(s);

    assert_int_equal(store_bulk_begin(s, msg), CL_OK);
    assert_int_equal(store_sqlite_cache_size(s), -STORE_BULK_CACHE_KIB);
    assert_int_equal(store_sqlite_cache_size(other), normal);
    struct case_record a = new_case(1, MARCH_1);
    put_case(s, &a, MARCH_1);
    assert_int_equal(a.seq, 1);

    /* A put that fails after a good one: the commit is refused and takes
     * the good put with it, so no half-written put can reach the feed. */
    struct case_record b = new_case(2, MARCH_1), dup = new_case(1, MARCH_1);
    struct case_event ev = {.kind = ACTION_STATUS, .happened_at = MARCH_1};
    assert_int_equal(store_tx_begin(s, msg), CL_OK);
    assert_int_equal(store_case_put(s, &b, &ev, MARCH_1, msg), CL_OK);
    assert_int_equal(store_case_put(s, &dup, &ev, MARCH_1, msg), CL_EEXIST);
    assert_int_equal(store_tx_commit(s, msg), CL_ESTORE);
    assert_non_null(strstr(msg, "rolled back"));
    struct case_record got;
    assert_int_equal(store_case_get(other, 2, &got, msg), CL_ENOTFOUND);
    int64_t count, max_seq;
    assert_int_equal(store_case_stats(other, &count, &max_seq, msg), CL_OK);
    assert_int_equal(count, 1);
    assert_int_equal(max_seq, 1);

    /* The next transaction starts clean. */
    b = new_case(2, MARCH_1);
    put_case(s, &b, MARCH_1);
    assert_int_equal(b.seq, 2);

    store_bulk_end(s);
    assert_int_equal(store_sqlite_cache_size(s), normal);
    store_bulk_end(s); /* no-op outside bulk mode */

    /* Outside bulk mode a failed put undoes itself, and the caller may
     * commit the rest. */
    struct case_record c = new_case(3, MARCH_1);
    dup = new_case(1, MARCH_1);
    assert_int_equal(store_tx_begin(s, msg), CL_OK);
    assert_int_equal(store_case_put(s, &c, &ev, MARCH_1, msg), CL_OK);
    assert_int_equal(store_case_put(s, &dup, &ev, MARCH_1, msg), CL_EEXIST);
    assert_int_equal(store_tx_commit(s, msg), CL_OK);
    assert_int_equal(store_case_stats(other, &count, &max_seq, msg), CL_OK);
    assert_int_equal(count, 3);
    assert_int_equal(max_seq, 3);
    store_close(&s);
    store_close(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_migrates_once),
        cmocka_unit_test(test_concurrent_first_open),
        cmocka_unit_test(test_open_urls),
        cmocka_unit_test(test_url_redact),
        cmocka_unit_test(test_refuses_newer_schema),
        cmocka_unit_test(test_reopen_keeps_data),
        cmocka_unit_test(test_seq_increases_updated_at_never_decreases),
        cmocka_unit_test(test_put_needs_transaction),
        cmocka_unit_test(test_failed_put_changes_nothing),
        cmocka_unit_test(test_page_order_limit_cursor),
        cmocka_unit_test(test_page_window_edges),
        cmocka_unit_test(test_case_updated_twice_appears_once),
        cmocka_unit_test(test_page_callback_stops),
        cmocka_unit_test(test_page_plan_uses_indexes),
        cmocka_unit_test(test_upgrades_version_1),
        cmocka_unit_test(test_sync_beside_commits),
        cmocka_unit_test(test_case_history),
        cmocka_unit_test(test_users),
        cmocka_unit_test(test_apps),
        cmocka_unit_test(test_token_key_is_shared),
        cmocka_unit_test(test_writers_serialize),
        cmocka_unit_test(test_bulk_mode),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
