/* The PostgreSQL backend of the store: the connection, transactions, cases
 * and the sync feed. Users, apps and the token key are in store_pg_auth.c,
 * the schema in migrate_pg.c.
 *
 * One libpq connection per struct store, used by one thread. A connection
 * that dies (the database restarted, the network failed) is replaced on the
 * next call; until a new one can be made, calls fail at once with CL_EBUSY
 * and the API answers 503. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "store/store_pg.h"

#define CASE_COLUMNS                                                                               \
    "c.id, c.number, c.status, c.assignee_id, u.username, u.email, c.opened_at, "                  \
    "c.time_to_follow_up, c.time_to_close, c.created_at, c.updated_at, c.seq"
#define EVENT_COLUMNS "kind, status, note, assignee_id, happened_at, recorded_at"

/* A put is one statement, one round trip: the case row and its event. The
 * seq and updated_at it stores come from the counters that the transaction
 * holds locked (see pg_tx_begin). An insert of a number that has a case,
 * or an update of an id and number that match none, returns no row and
 * writes nothing, so the transaction stays usable, as on SQLite. */
#define EVENT_INSERT                                                                               \
    " INSERT INTO case_events (case_id, kind, status, note, assignee_id, happened_at,"             \
    " recorded_at) SELECT c.id, $10::smallint, $11::smallint, $12::text, $13::bigint,"             \
    " $14::bigint, $15::bigint FROM c RETURNING case_id"

/* The probe of a date bound: the largest seq of a case changed before it.
 * Because updated_at never decreases along seq, the cases changed in
 * [lo, hi) are exactly those with seq in (probe(lo), probe(hi)], so the page
 * is one walk of cases_seq between two index probes of cases_updated, and
 * needs no filter on updated_at. Leaving that filter out matters here: with
 * it, PostgreSQL's generic plan for the prepared statement could prefer
 * cases_updated and a sort. Uncorrelated subqueries run once per statement,
 * and one statement reads one snapshot, so the probes and the page agree. */
#define PROBE(param)                                                                               \
    "coalesce((SELECT p.seq FROM cases AS p WHERE p.updated_at < " param                           \
    " ORDER BY p.updated_at DESC, p.seq DESC LIMIT 1), 0)"

static const struct pg_sql sql[PG_STMT_COUNT] = {
    [PG_CASE_GET] = {"SELECT " CASE_COLUMNS " FROM cases AS c"
                     " LEFT JOIN users AS u ON u.id = c.assignee_id WHERE c.number = $1::bigint",
                     true},
    [PG_CASE_INSERT] = {"WITH c AS (INSERT INTO cases (number, status, assignee_id, opened_at,"
                        " time_to_follow_up, time_to_close, created_at, updated_at, seq)"
                        " VALUES ($1::bigint, $2::smallint, $3::bigint, $4::bigint, $5::bigint,"
                        " $6::bigint, $7::bigint, $8::bigint, $9::bigint)"
                        " ON CONFLICT (number) DO NOTHING RETURNING id)" EVENT_INSERT,
                        false},
    [PG_CASE_UPDATE] =
        {"WITH c AS (UPDATE cases SET status = $2::smallint,"
         " assignee_id = $3::bigint, opened_at = $4::bigint,"
         " time_to_follow_up = $5::bigint, time_to_close = $6::bigint,"
         " created_at = $7::bigint, updated_at = $8::bigint, seq = $9::bigint"
         " WHERE id = $16::bigint AND number = $1::bigint RETURNING id)" EVENT_INSERT,
         false},
    [PG_EVENT_LIST] = {"SELECT " EVENT_COLUMNS
                       " FROM case_events WHERE case_id = $1::bigint ORDER BY id",
                       true},
    [PG_PAGE] = {"SELECT " CASE_COLUMNS " FROM cases AS c"
                 " LEFT JOIN users AS u ON u.id = c.assignee_id"
                 " WHERE c.seq > greatest($1::bigint, " PROBE(
                     "$2::bigint") ")"
                                   " AND c.seq <= " PROBE(
                                       "$3::bigint") " ORDER BY c.seq LIMIT $4::bigint",
                 true},
    [PG_STATS] = {"SELECT count(*), coalesce(max(seq), 0) FROM cases", true},
    [PG_MAX_NUMBER] = {"SELECT coalesce(max(number), 0) FROM cases", true},
    [PG_PING] = {"SELECT last_seq FROM feed WHERE id = 1", true},
    [PG_SCHEMA_VERSION] = {"SELECT coalesce(max(version), 0) FROM schema_version", true},
};

static const struct store_ops pg_ops;

/* ---- parameters and results ---------------------------------------------- */

void pg_param_int(struct pg_params *p, int64_t v)
{
    int i = p->n++;
    snprintf(p->ints[i], sizeof p->ints[i], "%" PRId64, v);
    p->values[i] = p->ints[i];
    p->lengths[i] = 0;
    p->formats[i] = 0;
}

void pg_param_null(struct pg_params *p)
{
    int i = p->n++;
    p->values[i] = NULL;
    p->lengths[i] = 0;
    p->formats[i] = 0;
}

void pg_param_opt(struct pg_params *p, bool present, int64_t v)
{
    if (present)
        pg_param_int(p, v);
    else
        pg_param_null(p);
}

void pg_param_bytes(struct pg_params *p, const void *data, size_t n)
{
    int i = p->n++;
    /* A zero-length binary value still needs a non-NULL pointer, or it
     * would be sent as SQL NULL. */
    p->values[i] = n ? data : "";
    p->lengths[i] = (int)n;
    p->formats[i] = 1;
}

int64_t pg_int(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

bool pg_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) != 0;
}

void pg_text(const PGresult *r, int row, int col, char *dst, size_t cap)
{
    size_t n = (size_t)PQgetlength(r, row, col);
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, PQgetvalue(r, row, col), n);
    dst[n] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool pg_bytes(const PGresult *r, int row, int col, unsigned char *out, size_t n)
{
    if (PQgetisnull(r, row, col))
        return false;
    /* bytea_output = hex (set on every connection): "\x" and two digits a
     * byte. */
    const char *v = PQgetvalue(r, row, col);
    if ((size_t)PQgetlength(r, row, col) != 2 + 2 * n || v[0] != '\\' || v[1] != 'x')
        return false;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(v[2 + 2 * i]), lo = hex_digit(v[3 + 2 * i]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* ---- errors -------------------------------------------------------------- */

static bool state_is(const char *state, const char *code)
{
    return state && strncmp(state, code, strlen(code)) == 0;
}

/* The first line of text, which is all of libpq's messages a reader needs. */
static int first_line(const char *text)
{
    return (int)strcspn(text, "\n");
}

cl_err pg_error(struct pg_store *s, const PGresult *res, const char *what, char *msg)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *text = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!text)
        text = s->conn ? PQerrorMessage(s->conn) : "not connected";

    /* A connection that failed, or a server going away, is an outage. */
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK || !state || state_is(state, "08") ||
        state_is(state, "57P"))
        return cl_errf(msg, CL_EBUSY, "%s: the database is unreachable: %.*s", what,
                       first_line(text), text);
    if (state_is(state, "53"))
        return cl_errf(msg, CL_EBUSY, "%s: the database is out of disk space or resources: %.*s",
                       what, first_line(text), text);
    if (state_is(state, "55P03") || state_is(state, "57014") || state_is(state, "40"))
        return cl_errf(msg, CL_EBUSY, "%s: the database is busy: %.*s", what, first_line(text),
                       text);
    if (state_is(state, "25006"))
        return cl_errf(msg, CL_EBUSY, "%s: the database is read-only", what);
    const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    snprintf(s->violated, sizeof s->violated, "%s", constraint ? constraint : "");
    if (state_is(state, "23505"))
        return cl_errf(msg, CL_EEXIST, "%s: %.*s", what, first_line(text), text);
    return cl_errf(msg, CL_ESTORE, "%s: %.*s", what, first_line(text), text);
}

/* ---- connection ---------------------------------------------------------- */

/* What every connection needs, whatever the server's defaults: a commit
 * returns only once it is durable (an acknowledged write must survive a
 * crash of the database server too); waiting for a lock or a statement is
 * bounded (CL_EBUSY, then 503, rather than a request that hangs); bytea and
 * text travel in the forms this file decodes. The lock timeout is the
 * SQLite backend's busy timeout. */
#define STR_(x) #x
#define STR(x)  STR_(x)
static const char session_sql[] =
    "SET synchronous_commit = on;"
    " SET lock_timeout = " STR(
        STORE_BUSY_TIMEOUT_MS) ";"
                               " SET statement_timeout = " STR(
                                   PG_STATEMENT_TIMEOUT_MS) ";"
                                                            " SET bytea_output = hex;"
                                                            " SET client_encoding = 'UTF8'";

/* Text is stored as UTF-8: the database must hold it as such (or as bytes,
 * SQL_ASCII); any other encoding would refuse or alter some notes. */
static cl_err check_encoding(PGconn *conn, char *msg)
{
    const char *enc = PQparameterStatus(conn, "server_encoding");
    if (enc && strcmp(enc, "UTF8") != 0 && strcmp(enc, "SQL_ASCII") != 0)
        return cl_errf(msg, CL_ESTORE,
                       "the database's encoding is %s: closeloop needs UTF8 "
                       "(CREATE DATABASE ... ENCODING 'UTF8')",
                       enc);
    return CL_OK;
}

/* Opens a connection to url and prepares its session. Defaults come first
 * in the keyword list so that the URL's own settings override them. */
static cl_err connect_url(const char *url, PGconn **out, char *msg)
{
    static const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *values[] = {PG_CONNECT_TIMEOUT_S, "closeloop", url, NULL};
    *out = NULL;
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (!conn)
        return cl_errf(msg, CL_ENOMEM, "connecting to PostgreSQL: out of memory");
    if (PQstatus(conn) != CONNECTION_OK) {
        /* libpq's message names the host and port, never the password. */
        const char *text = PQerrorMessage(conn);
        cl_err err =
            cl_errf(msg, CL_EBUSY, "connecting to PostgreSQL: %.*s", first_line(text), text);
        PQfinish(conn);
        return err;
    }
    cl_err err = check_encoding(conn, msg);
    if (!err) {
        PGresult *res = PQexec(conn, session_sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            const char *text = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            if (!text)
                text = PQerrorMessage(conn);
            err =
                cl_errf(msg, CL_EBUSY, "configuring the connection: %.*s", first_line(text), text);
        }
        PQclear(res);
    }
    if (err) {
        PQfinish(conn);
        return err;
    }
    *out = conn;
    return CL_OK;
}

static void disconnect(struct pg_store *s)
{
    PQfinish(s->conn);
    s->conn = NULL;
    memset(s->prepared, 0, sizeof s->prepared);
}

/* Makes sure there is a live connection, replacing a dead one, but not
 * more often than every PG_RECONNECT_MS. A transaction cannot survive its
 * connection: inside one, a dead connection is an error until the caller
 * rolls back. */
static cl_err ensure_connected(struct pg_store *s, char *msg)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        return CL_OK;
    if (s->in_tx)
        return cl_errf(msg, CL_EBUSY, "the connection to the database was lost");
    int64_t now = time_mono_ms();
    if (now < s->next_connect_ms)
        return cl_errf(msg, CL_EBUSY, "the database is unreachable (retrying)");
    disconnect(s);
    cl_err err = connect_url(s->url, &s->conn, msg);
    if (err) {
        s->next_connect_ms = now + PG_RECONNECT_MS;
        return err;
    }
    log_info("store: connected to PostgreSQL again");
    return CL_OK;
}

/* Whether a failure lost the connection before the statement could have
 * done anything that must not be done twice. */
static bool connection_lost(const struct pg_store *s)
{
    return !s->conn || PQstatus(s->conn) != CONNECTION_OK;
}

static PGresult *exec_once(struct pg_store *s, enum pg_stmt id, const struct pg_sql *q,
                           const struct pg_params *p)
{
    char name[16];
    snprintf(name, sizeof name, "cl%d", (int)id);
    if (!s->prepared[id]) {
        PGresult *res = PQprepare(s->conn, name, q->text, 0, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            return res;
        PQclear(res);
        s->prepared[id] = true;
    }
    return PQexecPrepared(s->conn, name, p ? p->n : 0, p ? p->values : NULL, p ? p->lengths : NULL,
                          p ? p->formats : NULL, 0);
}

cl_err pg_exec(struct pg_store *s, enum pg_stmt id, const struct pg_sql *q,
               const struct pg_params *p, PGresult **out, const char *what, char *msg)
{
    *out = NULL;
    for (int attempt = 0;; attempt++) {
        cl_err err = ensure_connected(s, msg);
        if (err)
            return err;
        PGresult *res = exec_once(s, id, q, p);
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            *out = res;
            return CL_OK;
        }
        /* A connection that died since its last use (the database was
         * restarted) fails the first statement sent on it. A read outside
         * a transaction is sent once more on a fresh connection, so that a
         * restart costs no request an error; a write might have committed
         * before the connection died, and is not. */
        bool retry = attempt == 0 && q->read_only && !s->in_tx && connection_lost(s);
        if (!retry) {
            err = pg_error(s, res, what, msg);
            PQclear(res);
            return err;
        }
        PQclear(res);
        s->next_connect_ms = 0;
    }
}

/* Runs plain SQL without parameters (transaction control), on the live
 * connection. */
static cl_err exec_simple(struct pg_store *s, const char *text, const char *what, char *msg)
{
    PGresult *res = PQexec(s->conn, text);
    cl_err err = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK
                     ? CL_OK
                     : pg_error(s, res, what, msg);
    PQclear(res);
    return err;
}

cl_err store_pg_open(const char *url, struct store **out, char *msg)
{
    *out = NULL;
    struct pg_store *s = calloc(1, sizeof *s);
    char *copy = strdup(url);
    if (!s || !copy) {
        free(s);
        free(copy);
        return cl_errf(msg, CL_ENOMEM, "opening the database: out of memory");
    }
    s->base.ops = &pg_ops;
    s->url = copy;
    cl_err err = connect_url(url, &s->conn, msg);
    if (!err)
        err = pg_migrate(s->conn, msg);
    if (err) {
        disconnect(s);
        explicit_bzero(s->url, strlen(s->url));
        free(s->url);
        free(s);
        return err;
    }
    *out = &s->base;
    return CL_OK;
}

static void pg_close(struct store *base)
{
    struct pg_store *s = pgs(base);
    /* A transaction still open here was abandoned by its caller: ending the
     * session rolls it back. */
    disconnect(s);
    explicit_bzero(s->url, strlen(s->url));
    free(s->url);
    free(s);
}

static cl_err pg_ping(struct store *base, char *msg)
{
    struct pg_store *s = pgs(base);
    PGresult *res = NULL;
    cl_err err = pg_exec(s, PG_PING, &sql[PG_PING], NULL, &res, "checking the database", msg);
    if (!err && PQntuples(res) != 1)
        err = cl_errf(msg, CL_ESTORE, "the feed counters are missing");
    PQclear(res);
    return err;
}

/* ---- transactions -------------------------------------------------------- */

static cl_err pg_tx_begin(struct store *base, char *msg)
{
    struct pg_store *s = pgs(base);
    if (s->in_tx)
        return cl_errf(msg, CL_ESTORE, "beginning a transaction: one is already open");
    /* Locking the feed row is the write lock of SPEC §2's seq: writers of
     * every process queue here (for up to lock_timeout) and commit one at a
     * time, in seq order, so a reader's snapshot always holds a prefix of
     * the feed. It also makes the case read that follows see every write
     * committed before this one, as BEGIN IMMEDIATE does on SQLite.
     *
     * The counters are read here and written back once, at commit, rather
     * than updated by every put: each update of a row leaves a version that
     * the next must step over until the transaction ends, so a transaction
     * of many puts (closeloop seed) would slow down with every one.
     *
     * Nothing has been done yet if the connection turns out to be dead, so
     * the BEGIN is tried once more on a fresh connection. */
    static const char begin_sql[] =
        "BEGIN; SELECT last_seq, last_updated_at FROM feed WHERE id = 1 FOR UPDATE";
    for (int attempt = 0;; attempt++) {
        cl_err err = ensure_connected(s, msg);
        if (err)
            return err;
        PGresult *res = PQexec(s->conn, begin_sql);
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
            s->last_seq = pg_int(res, 0, 0);
            s->last_updated_at = pg_int(res, 0, 1);
            s->feed_dirty = false;
            s->in_tx = true;
            PQclear(res);
            return CL_OK;
        }
        err = PQresultStatus(res) == PGRES_TUPLES_OK
                  ? cl_errf(msg, CL_ESTORE,
                            "beginning a write transaction: the feed counters "
                            "are missing")
                  : pg_error(s, res, "beginning a write transaction", msg);
        PQclear(res);
        if (!connection_lost(s) && PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
            res = PQexec(s->conn, "ROLLBACK");
            PQclear(res);
        }
        if (attempt > 0 || !connection_lost(s))
            return err;
        s->next_connect_ms = 0;
    }
}

static void pg_tx_rollback(struct store *base)
{
    struct pg_store *s = pgs(base);
    if (!s->in_tx)
        return;
    s->in_tx = false;
    if (connection_lost(s) || PQtransactionStatus(s->conn) == PQTRANS_IDLE)
        return;
    char msg[CL_ERRMSG_MAX];
    if (exec_simple(s, "ROLLBACK", "rolling back", msg))
        log_warn("store: %s", msg);
}

static cl_err pg_tx_commit(struct store *base, char *msg)
{
    struct pg_store *s = pgs(base);
    if (!s->in_tx)
        return cl_errf(msg, CL_ESTORE, "committing: no transaction");
    if (connection_lost(s)) {
        s->in_tx = false;
        return cl_errf(msg, CL_EBUSY, "committing: the connection to the database was lost");
    }
    /* COMMIT of a transaction in which a statement failed succeeds as a
     * ROLLBACK, so it must not be mistaken for a commit. */
    if (PQtransactionStatus(s->conn) != PQTRANS_INTRANS) {
        pg_tx_rollback(base);
        return cl_errf(msg, CL_ESTORE,
                       "committing: a statement failed in this transaction, so it was rolled back");
    }
    /* The counters go back in the same round trip as the COMMIT. Should
     * the UPDATE fail, PostgreSQL skips the COMMIT and the result is the
     * UPDATE's error: the transaction is then rolled back below. */
    char text[160] = "COMMIT";
    if (s->feed_dirty)
        snprintf(text, sizeof text,
                 "UPDATE feed SET last_seq = %" PRId64 ", last_updated_at = %" PRId64
                 " WHERE id = 1; COMMIT",
                 s->last_seq, s->last_updated_at);
    PGresult *res = PQexec(s->conn, text);
    cl_err err = CL_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        err = pg_error(s, res, "committing", msg);
    else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
        err = cl_errf(msg, CL_ESTORE, "committing: the transaction was rolled back");
    if (err && !connection_lost(s) && PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
        PGresult *rb = PQexec(s->conn, "ROLLBACK");
        PQclear(rb);
    }
    PQclear(res);
    /* Whatever happened, the transaction is over: committed, rolled back,
     * or lost with the connection (then it is not acknowledged). */
    s->in_tx = false;
    return err;
}

/* ---- cases --------------------------------------------------------------- */

/* Reads row `row` of CASE_COLUMNS. */
static cl_err read_case(const PGresult *r, int row, struct case_record *c, char *msg)
{
    memset(c, 0, sizeof *c);
    c->id = pg_int(r, row, 0);
    c->number = pg_int(r, row, 1);
    int64_t status = pg_int(r, row, 2);
    if (status < CASE_OPEN || status > CASE_CLOSED)
        return cl_errf(msg, CL_ESTORE, "case %" PRId64 " has an invalid status %" PRId64, c->id,
                       status);
    c->status = (enum case_status)status;
    if (!pg_null(r, row, 3)) {
        c->has_assignee = true;
        c->assignee.id = pg_int(r, row, 3);
        pg_text(r, row, 4, c->assignee.username, sizeof c->assignee.username);
        pg_text(r, row, 5, c->assignee.email, sizeof c->assignee.email);
    }
    c->opened_at = pg_int(r, row, 6);
    c->time_to_follow_up = pg_null(r, row, 7) ? CASE_NONE : pg_int(r, row, 7);
    c->time_to_close = pg_null(r, row, 8) ? CASE_NONE : pg_int(r, row, 8);
    c->created_at = pg_int(r, row, 9);
    c->updated_at = pg_int(r, row, 10);
    c->seq = pg_int(r, row, 11);
    return CL_OK;
}

static cl_err pg_case_get(struct store *base, int64_t number, struct case_record *out, char *msg)
{
    struct pg_store *s = pgs(base);
    struct pg_params p = {0};
    pg_param_int(&p, number);
    PGresult *res = NULL;
    cl_err err = pg_exec(s, PG_CASE_GET, &sql[PG_CASE_GET], &p, &res, "loading a case", msg);
    if (err)
        return err;
    if (PQntuples(res) == 1)
        err = read_case(res, 0, out, msg);
    else
        err = cl_errf(msg, CL_ENOTFOUND, "no case for number %" PRId64, number);
    PQclear(res);
    return err;
}

static cl_err pg_case_put(struct store *base, struct case_record *c, const struct case_event *ev,
                          int64_t now, char *msg)
{
    struct pg_store *s = pgs(base);
    if (!s->in_tx)
        return cl_errf(msg, CL_ESTORE, "storing a case: no transaction");
    if (ev->note && ev->note_len > CASE_NOTE_MAX)
        return cl_errf(msg, CL_ELIMIT, "the note is longer than %d bytes", CASE_NOTE_MAX);
    bool insert = c->id == 0;
    int64_t seq = s->last_seq + 1;
    int64_t updated_at = now > s->last_updated_at ? now : s->last_updated_at;
    struct pg_params p = {0};
    pg_param_int(&p, c->number);                                       /* $1 */
    pg_param_int(&p, (int64_t)c->status);                              /* $2 */
    pg_param_opt(&p, c->has_assignee, c->assignee.id);                 /* $3 */
    pg_param_int(&p, c->opened_at);                                    /* $4 */
    pg_param_opt(&p, c->time_to_follow_up >= 0, c->time_to_follow_up); /* $5 */
    pg_param_opt(&p, c->time_to_close >= 0, c->time_to_close);         /* $6 */
    pg_param_int(&p, c->created_at);                                   /* $7 */
    pg_param_int(&p, updated_at);                                      /* $8 */
    pg_param_int(&p, seq);                                             /* $9 */
    pg_param_int(&p, (int64_t)ev->kind);                               /* $10 */
    pg_param_int(&p, (int64_t)ev->status);                             /* $11 */
    if (ev->note)
        pg_param_bytes(&p, ev->note, ev->note_len); /* $12 */
    else
        pg_param_null(&p);
    pg_param_opt(&p, ev->assignee_id != 0, ev->assignee_id); /* $13 */
    pg_param_int(&p, ev->happened_at);                       /* $14 */
    pg_param_int(&p, ev->recorded_at);                       /* $15 */
    if (!insert)
        pg_param_int(&p, c->id); /* $16 */

    enum pg_stmt id = insert ? PG_CASE_INSERT : PG_CASE_UPDATE;
    PGresult *res = NULL;
    cl_err err = pg_exec(s, id, &sql[id], &p, &res, "storing a case", msg);
    if (err)
        return err;
    if (PQntuples(res) == 1) {
        c->id = pg_int(res, 0, 0);
        c->seq = seq;
        c->updated_at = updated_at;
        s->last_seq = seq;
        s->last_updated_at = updated_at;
        s->feed_dirty = true;
    } else if (insert) {
        err = cl_errf(msg, CL_EEXIST, "a case for number %" PRId64 " already exists", c->number);
    } else {
        err = cl_errf(msg, CL_ENOTFOUND, "case %" PRId64 " with number %" PRId64 " does not exist",
                      c->id, c->number);
    }
    PQclear(res);
    return err;
}

static cl_err pg_page_fetch(struct store *base, const struct page_query *q, store_case_fn fn,
                            void *ud, char *msg)
{
    struct pg_store *s = pgs(base);
    if (q->limit == 0 || q->updated_lo >= q->updated_hi)
        return CL_OK;
    struct pg_params p = {0};
    pg_param_int(&p, q->cursor);
    pg_param_int(&p, q->updated_lo);
    pg_param_int(&p, q->updated_hi);
    pg_param_int(&p, q->limit);
    PGresult *res = NULL;
    cl_err err = pg_exec(s, PG_PAGE, &sql[PG_PAGE], &p, &res, "reading the sync feed", msg);
    if (err)
        return err;
    int n = PQntuples(res);
    for (int i = 0; i < n && !err; i++) {
        struct case_record c;
        err = read_case(res, i, &c, msg);
        if (!err)
            err = fn(ud, &c);
    }
    PQclear(res);
    return err;
}

static cl_err pg_case_stats(struct store *base, int64_t *count, int64_t *max_seq, char *msg)
{
    struct pg_store *s = pgs(base);
    PGresult *res = NULL;
    cl_err err = pg_exec(s, PG_STATS, &sql[PG_STATS], NULL, &res, "counting cases", msg);
    if (err)
        return err;
    *count = pg_int(res, 0, 0);
    *max_seq = pg_int(res, 0, 1);
    PQclear(res);
    return CL_OK;
}

static cl_err pg_case_max_number(struct store *base, int64_t *max_number, char *msg)
{
    struct pg_store *s = pgs(base);
    PGresult *res = NULL;
    cl_err err = pg_exec(s, PG_MAX_NUMBER, &sql[PG_MAX_NUMBER], NULL, &res,
                         "finding the highest case number", msg);
    if (err)
        return err;
    *max_number = pg_int(res, 0, 0);
    PQclear(res);
    return CL_OK;
}

static cl_err pg_case_history(struct store *base, int64_t case_id, store_event_fn fn, void *ud,
                              char *msg)
{
    struct pg_store *s = pgs(base);
    struct pg_params p = {0};
    pg_param_int(&p, case_id);
    PGresult *res = NULL;
    /* One statement reads one snapshot, and its whole result is in memory
     * before the first call, so fn may use the connection. */
    cl_err err =
        pg_exec(s, PG_EVENT_LIST, &sql[PG_EVENT_LIST], &p, &res, "reading a case's history", msg);
    if (err)
        return err;
    int n = PQntuples(res);
    for (int i = 0; i < n && !err; i++) {
        struct case_event ev = {0};
        int64_t kind = pg_int(res, i, 0), status = pg_int(res, i, 1);
        if (kind < ACTION_STATUS || kind > ACTION_COMMENT || status < CASE_OPEN ||
            status > CASE_CLOSED) {
            err = cl_errf(msg, CL_ESTORE,
                          "case %" PRId64 " has an invalid event (kind %" PRId64 ", status %" PRId64
                          ")",
                          case_id, kind, status);
            break;
        }
        ev.kind = (enum case_action_kind)kind;
        ev.status = (enum case_status)status;
        if (!pg_null(res, i, 2)) {
            ev.note = PQgetvalue(res, i, 2);
            ev.note_len = (size_t)PQgetlength(res, i, 2);
        }
        ev.assignee_id = pg_null(res, i, 3) ? 0 : pg_int(res, i, 3);
        ev.happened_at = pg_int(res, i, 4);
        ev.recorded_at = pg_int(res, i, 5);
        err = fn(ud, &ev);
    }
    PQclear(res);
    return err;
}

/* ---- diagnostics --------------------------------------------------------- */

static cl_err ignore_case(void *ud, const struct case_record *c)
{
    (void)ud;
    (void)c;
    return CL_OK;
}

static cl_err pg_schema_version(struct store *base, int64_t *version, char *msg)
{
    struct pg_store *s = pgs(base);
    PGresult *res = NULL;
    cl_err err = pg_exec(s, PG_SCHEMA_VERSION, &sql[PG_SCHEMA_VERSION], NULL, &res,
                         "reading the schema version", msg);
    if (err)
        return err;
    *version = pg_int(res, 0, 0);
    PQclear(res);
    return CL_OK;
}

/* Explains the page statement as the server plans it once it is prepared
 * and run often: with the generic plan that repeated executions end up
 * using, which is the one that must not scan or sort. */
static cl_err pg_page_plan(struct store *base, void (*fn)(void *ud, const char *step), void *ud,
                           char *msg)
{
    struct pg_store *s = pgs(base);
    const struct page_query q = {.cursor = 0, .limit = 1, .updated_lo = 0, .updated_hi = 1};
    /* Running the page once prepares its statement on this connection. */
    cl_err err = pg_page_fetch(
        base,
        &(struct page_query){
            .cursor = 0, .limit = 1, .updated_lo = INT64_MIN, .updated_hi = INT64_MAX},
        ignore_case, NULL, msg);
    if (err)
        return err;
    char text[160];
    snprintf(text, sizeof text, "EXPLAIN EXECUTE cl%d(%" PRId64 ", %" PRId64 ", %" PRId64 ", %u)",
             (int)PG_PAGE, q.cursor, q.updated_lo, q.updated_hi, q.limit);
    err = exec_simple(s, "SET plan_cache_mode = force_generic_plan", "explaining the page query",
                      msg);
    if (err)
        return err;
    PGresult *res = PQexec(s->conn, text);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        err = pg_error(s, res, "explaining the page query", msg);
    } else {
        for (int i = 0; i < PQntuples(res); i++)
            fn(ud, PQgetvalue(res, i, 0));
    }
    PQclear(res);
    char ignored[CL_ERRMSG_MAX];
    exec_simple(s, "RESET plan_cache_mode", "explaining the page query", ignored);
    return err;
}

static const struct store_ops pg_ops = {
    .name = "postgres",
    .close = pg_close,
    .ping = pg_ping,
    .tx_begin = pg_tx_begin,
    .tx_commit = pg_tx_commit,
    .tx_rollback = pg_tx_rollback,
    .case_get = pg_case_get,
    .case_put = pg_case_put,
    .page_fetch = pg_page_fetch,
    .case_stats = pg_case_stats,
    .case_max_number = pg_case_max_number,
    .case_history = pg_case_history,
    .user_add = pg_user_add,
    .user_find = pg_user_find,
    .user_list = pg_user_list,
    .app_insert = pg_app_insert,
    .app_get = pg_app_get,
    .app_list = pg_app_list,
    .app_revoke = pg_app_revoke,
    .app_rotate = pg_app_rotate,
    .token_key = pg_token_key,
    .schema_version = pg_schema_version,
    .page_plan = pg_page_plan,
};
