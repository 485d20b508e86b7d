/* The store's contract on PostgreSQL, where it differs in kind from SQLite:
 * migrating once, the page query's generic plan, the feed counters kept by
 * a transaction, a put that finds nothing to write, the token key shared by
 * every connection, and connections that die under the store.
 *
 * Needs a server: CLOSELOOP_TEST_PG holds the URL of a database on it
 * whose role may create databases (make test starts a throwaway cluster,
 * scripts/pg-cluster.sh). Without it every test is skipped. Each test
 * works in a database of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_impl.h"

#define MARCH_1 1646092800LL /* 2022-03-01 00:00:00 UTC */

static const char *admin_url;
static int db_counter;

/* Runs sql on a connection to url; fails the test on error. */
static void admin_exec(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connecting to %s: %s", url, PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* Creates an empty database and writes its URL into out: the admin URL
 * with its database name replaced. */
static void new_db(char *out, size_t n)
{
    char name[64], sql[128];
    snprintf(name, sizeof name, "unit_store_%d_%d", (int)getpid(), ++db_counter);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    admin_exec(admin_url, sql);
    /* postgres://user@host:port/dbname[?params] */
    const char *path = strchr(strstr(admin_url, "://") + 3, '/');
    const char *query = path ? strchr(path, '?') : NULL;
    int prefix = path ? (int)(path - admin_url) : (int)strlen(admin_url);
    snprintf(out, n, "%.*s/%s%s", prefix, admin_url, name, query ? query : "");
}

static struct store *open_ok(const char *url)
{
    struct store *s = NULL;
    char msg[CL_ERRMSG_MAX] = "";
    if (store_open(url, &s, msg))
        fail_msg("store_open: %s", msg);
    return s;
}

static int setup(void **state)
{
    (void)state;
    admin_url = getenv("CLOSELOOP_TEST_PG");
    return 0;
}

#define NEED_PG()                                                                                  \
    do {                                                                                           \
        if (!admin_url || !*admin_url)                                                             \
            skip();                                                                                \
    } while (0)

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

static cl_err put(struct store *s, struct case_record *c, int64_t now, char *msg)
{
    struct case_event ev = {
        .kind = ACTION_STATUS, .status = c->status, .happened_at = now, .recorded_at = now};
    return store_case_put(s, c, &ev, now, msg);
}

static void put_committed(struct store *s, struct case_record *c, int64_t now)
{
    char msg[CL_ERRMSG_MAX] = "";
    assert_int_equal(store_tx_begin(s, msg), CL_OK);
    if (put(s, c, now, msg))
        fail_msg("store_case_put: %s", msg);
    if (store_tx_commit(s, msg))
        fail_msg("store_tx_commit: %s", msg);
}

static cl_err count_case(void *ud, const struct case_record *c)
{
    (void)c;
    (*(int *)ud)++;
    return CL_OK;
}

static int page_count(struct store *s, int64_t cursor)
{
    int n = 0;
    char msg[CL_ERRMSG_MAX] = "";
    struct page_query q = {
        .cursor = cursor, .limit = 1000, .updated_lo = INT64_MIN, .updated_hi = INT64_MAX};
    if (store_page_fetch(s, &q, count_case, &n, msg))
        fail_msg("store_page_fetch: %s", msg);
    return n;
}

/* The backend pid of s's connection, seen from s itself. */
static int backend_pid_of(const char *url)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r = PQexec(c, "SELECT pid FROM pg_stat_activity WHERE application_name ="
                            " 'closeloop' AND datname = current_database() LIMIT 1");
    int pid = PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    PQfinish(c);
    return pid;
}

/* Ends every closeloop session on the database at url, as a restart of the
 * server would. */
static void kill_sessions(const char *url)
{
    admin_exec(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'closeloop' AND datname = current_database()");
}

/* ---- tests ---------------------------------------------------------------- */

static void test_migrates_once(void **state)
{
    (void)state;
    NEED_PG();
    char url[512], msg[CL_ERRMSG_MAX];
    new_db(url, sizeof url);
    struct store *a = open_ok(url), *b = open_ok(url);
    int64_t v = 0;
    assert_int_equal(store_schema_version(b, &v, msg), CL_OK);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
    store_close(&a);
    store_close(&b);

    /* A newer schema is refused, as on SQLite. */
    char sql[64];
    snprintf(sql, sizeof sql, "UPDATE schema_version SET version = %d", STORE_SCHEMA_VERSION + 1);
    admin_exec(url, sql);
    assert_int_equal(store_open(url, &a, msg), CL_ESTORE);
    assert_non_null(strstr(msg, "newer"));
    assert_null(a);
}

struct plan {
    char text[4096];
};

static void plan_step(void *ud, const char *step)
{
    struct plan *p = ud;
    size_t n = strlen(p->text);
    snprintf(p->text + n, sizeof p->text - n, "%s\n", step);
}

static void test_generic_plan_has_no_scan_or_sort(void **state)
{
    (void)state;
    NEED_PG();
    char url[512], msg[CL_ERRMSG_MAX];
    new_db(url, sizeof url);
    struct store *s = open_ok(url);
    /* On a table of a few pages a scan and a sort is the cheaper plan, and
     * PostgreSQL rightly takes it; the plan that matters is the one for a
     * table of many, written here directly, as the store's own writes would
     * take minutes. */
    admin_exec(url, "INSERT INTO cases (number, status, opened_at, created_at, updated_at, seq)"
                    " SELECT g, g % 3, 1646092800 + g, 1646092800 + g, 1646092800 + g * 10, g"
                    " FROM generate_series(1, 50000) AS g;"
                    " UPDATE feed SET last_seq = 50000, last_updated_at = 1646092800 + 500000;"
                    " ANALYZE");
    struct plan p = {0};
    if (store_page_plan(s, plan_step, &p, msg))
        fail_msg("store_page_plan: %s", msg);
    print_message("%s", p.text);
    assert_non_null(strstr(p.text, "cases_seq"));
    assert_non_null(strstr(p.text, "cases_updated"));
    assert_null(strstr(p.text, "Sort"));
    assert_null(strstr(p.text, "Seq Scan on cases"));
    store_close(&s);
}

static void test_feed_counters_and_noop_puts(void **state)
{
    (void)state;
    NEED_PG();
    char url[512], msg[CL_ERRMSG_MAX];
    new_db(url, sizeof url);
    struct store *s = open_ok(url);

    /* Several puts in one transaction take consecutive seqs, and
     * updated_at never goes back even when the clock does. */
    assert_int_equal(store_tx_begin(s, msg), CL_OK);
    struct case_record a = new_case(1, MARCH_1), b = new_case(2, MARCH_1);
    assert_int_equal(put(s, &a, MARCH_1 + 100, msg), CL_OK);
    assert_int_equal(put(s, &b, MARCH_1 + 50, msg), CL_OK);
    assert_int_equal(b.seq, a.seq + 1);
    assert_int_equal(b.updated_at, MARCH_1 + 100);

    /* An insert of a taken number and an update of a wrong id write
     * nothing and leave the transaction usable. */
    struct case_record dup = new_case(1, MARCH_1);
    assert_int_equal(put(s, &dup, MARCH_1 + 200, msg), CL_EEXIST);
    struct case_record ghost = new_case(3, MARCH_1);
    ghost.id = 999;
    assert_int_equal(put(s, &ghost, MARCH_1 + 200, msg), CL_ENOTFOUND);
    assert_int_equal(store_tx_commit(s, msg), CL_OK);

    int64_t count = 0, max_seq = 0;
    assert_int_equal(store_case_stats(s, &count, &max_seq, msg), CL_OK);
    assert_int_equal(count, 2);
    assert_int_equal(max_seq, b.seq);

    /* A rolled-back put leaves no trace, not even in the counters. */
    assert_int_equal(store_tx_begin(s, msg), CL_OK);
    struct case_record c = new_case(4, MARCH_1);
    assert_int_equal(put(s, &c, MARCH_1 + 300, msg), CL_OK);
    store_tx_rollback(s);
    struct case_record d = new_case(5, MARCH_1);
    put_committed(s, &d, MARCH_1 + 300);
    assert_int_equal(d.seq, b.seq + 1);
    assert_int_equal(page_count(s, 0), 3);
    store_close(&s);
}

static void test_token_key_shared(void **state)
{
    (void)state;
    NEED_PG();
    char url[512], msg[CL_ERRMSG_MAX];
    new_db(url, sizeof url);
    struct store *a = open_ok(url), *b = open_ok(url);
    unsigned char ka[TOKEN_KEY_LEN], kb[TOKEN_KEY_LEN], zero[TOKEN_KEY_LEN] = {0};
    assert_int_equal(store_token_key(a, ka, msg), CL_OK);
    assert_int_equal(store_token_key(b, kb, msg), CL_OK);
    assert_memory_equal(ka, kb, TOKEN_KEY_LEN);
    assert_memory_not_equal(ka, zero, TOKEN_KEY_LEN);
    store_close(&a);
    store_close(&b);
}

static void test_users_unique_email_any_case(void **state)
{
    (void)state;
    NEED_PG();
    char url[512], msg[CL_ERRMSG_MAX];
    new_db(url, sizeof url);
    struct store *s = open_ok(url);
    struct user_record u = {0}, v = {0}, found;
    snprintf(u.username, sizeof u.username, "jane");
    snprintf(u.email, sizeof u.email, "jane@example.com");
    assert_int_equal(store_user_add(s, &u, msg), CL_OK);
    snprintf(v.username, sizeof v.username, "jane2");
    snprintf(v.email, sizeof v.email, "JANE@example.com");
    assert_int_equal(store_user_add(s, &v, msg), CL_EEXIST);
    assert_string_equal(msg, "email already exists");
    snprintf(v.email, sizeof v.email, "other@example.com");
    snprintf(v.username, sizeof v.username, "jane");
    assert_int_equal(store_user_add(s, &v, msg), CL_EEXIST);
    assert_string_equal(msg, "username already exists");
    assert_int_equal(store_user_find(s, "Jane@Example.com", &found, msg), CL_OK);
    assert_int_equal(found.id, u.id);
    store_close(&s);
}

static void test_survives_lost_connection(void **state)
{
    (void)state;
    NEED_PG();
    char url[512], msg[CL_ERRMSG_MAX];
    new_db(url, sizeof url);
    struct store *s = open_ok(url);
    struct case_record a = new_case(1, MARCH_1);
    put_committed(s, &a, MARCH_1 + 1);
    assert_true(backend_pid_of(url) > 0);

    /* Outside a transaction: a read and a write's BEGIN go through on a
     * fresh connection, without an error. */
    kill_sessions(url);
    assert_int_equal(page_count(s, 0), 1);
    kill_sessions(url);
    struct case_record b = new_case(2, MARCH_1);
    put_committed(s, &b, MARCH_1 + 2);

    /* Inside one: the write fails as unavailable, is not committed, and
     * the next transaction works. */
    assert_int_equal(store_tx_begin(s, msg), CL_OK);
    struct case_record c = new_case(3, MARCH_1);
    kill_sessions(url);
    cl_err err = put(s, &c, MARCH_1 + 3, msg);
    if (!err)
        err = store_tx_commit(s, msg);
    assert_int_equal(err, CL_EBUSY);
    store_tx_rollback(s);
    /* The reconnect may be held back for a moment after a failure. */
    for (int i = 0; i < 50 && store_ping(s, msg) != CL_OK; i++)
        usleep(100 * 1000);
    assert_int_equal(store_ping(s, msg), CL_OK);
    assert_int_equal(page_count(s, 0), 2);
    struct case_record d = new_case(4, MARCH_1);
    put_committed(s, &d, MARCH_1 + 4);
    assert_int_equal(page_count(s, 0), 3);
    store_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrates_once),
        cmocka_unit_test(test_generic_plan_has_no_scan_or_sort),
        cmocka_unit_test(test_feed_counters_and_noop_puts),
        cmocka_unit_test(test_token_key_shared),
        cmocka_unit_test(test_users_unique_email_any_case),
        cmocka_unit_test(test_survives_lost_connection),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
