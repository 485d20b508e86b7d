/* The SQLite backend of the store: the connection, transactions, cases and
 * the sync feed. Users, apps and the token key are in store_sqlite_auth.c.
 * One connection per struct store, used by one thread, with every statement
 * prepared once and reused. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "store/store_sqlite.h"

#define CASE_COLUMNS                                                                               \
    "c.id, c.number, c.status, c.assignee_id, u.username, u.email, c.opened_at, "                  \
    "c.time_to_follow_up, c.time_to_close, c.created_at, c.updated_at, c.seq"
/* The page query's columns: CASE_COLUMNS without the assignee's name and
 * email, which come from the connection's user cache (see page_assignee). */
#define PAGE_COLUMNS                                                                               \
    "id, number, status, assignee_id, opened_at, time_to_follow_up, time_to_close, created_at, "   \
    "updated_at, seq"
#define EVENT_COLUMNS "kind, status, note, assignee_id, happened_at, recorded_at"

/* The SQL of this file's statement slots.
 *
 * The page query names its indexes so that the plan cannot change under
 * it: the probe walks cases_updated backwards to the last case changed
 * before a bound, and the page walks cases_seq forwards within a seq range,
 * which is already in the order the feed needs. The updated_at filter of
 * the page is redundant with the seq range and costs nothing; it keeps a
 * page correct even if the counters were ever wrong. The page joins no
 * users: a LEFT JOIN cost every row a second B-tree search, for the few
 * assignees a database has (see page_assignee).
 *
 * The case update does not SET number, which never changes, but matches
 * it: SQLite rewrites the entry of every index whose column a SET names,
 * even to the same value, and the unique number index would be rewritten on
 * every update of every case for nothing. */
static const char *const sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN",
    [ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT case_put",
    [ST_RELEASE] = "RELEASE case_put",
    [ST_ROLLBACK_TO] = "ROLLBACK TO case_put",
    [ST_CASE_GET] = "SELECT " CASE_COLUMNS " FROM cases AS c"
                    " LEFT JOIN users AS u ON u.id = c.assignee_id WHERE c.number = ?1",
    [ST_FEED_GET] = "SELECT last_seq, last_updated_at FROM feed WHERE id = 1",
    [ST_FEED_SET] = "UPDATE feed SET last_seq = ?1, last_updated_at = ?2 WHERE id = 1",
    [ST_CASE_INSERT] = "INSERT INTO cases (number, status, assignee_id, opened_at,"
                       " time_to_follow_up, time_to_close, created_at, updated_at, seq)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_CASE_UPDATE] = "UPDATE cases SET status = ?2, assignee_id = ?3,"
                       " opened_at = ?4, time_to_follow_up = ?5, time_to_close = ?6,"
                       " created_at = ?7, updated_at = ?8, seq = ?9 WHERE id = ?10 AND number = ?1",
    [ST_EVENT_INSERT] = "INSERT INTO case_events (case_id, kind, status, note, assignee_id,"
                        " happened_at, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_EVENT_LIST] = "SELECT " EVENT_COLUMNS " FROM case_events INDEXED BY case_events_case"
                      " WHERE case_id = ?1 ORDER BY id",
    [ST_PROBE] = "SELECT seq FROM cases INDEXED BY cases_updated WHERE updated_at < ?1"
                 " ORDER BY updated_at DESC, seq DESC LIMIT 1",
    [ST_PAGE] = "SELECT " PAGE_COLUMNS " FROM cases INDEXED BY cases_seq"
                " WHERE seq > ?1 AND seq <= ?2 AND updated_at >= ?3 AND updated_at < ?4"
                " ORDER BY seq LIMIT ?5",
    /* The page without a window: no per-row filter to evaluate. */
    [ST_PAGE_ALL] = "SELECT " PAGE_COLUMNS " FROM cases INDEXED BY cases_seq"
                    " WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    [ST_USER_GET] = "SELECT username, email FROM users WHERE id = ?1",
    [ST_STATS] = "SELECT count(*), coalesce(max(seq), 0) FROM cases",
    [ST_MAX_NUMBER] = "SELECT coalesce(max(number), 0) FROM cases",
    [ST_USER_VERSION] = "PRAGMA user_version",
};

static const struct store_ops sqlite_ops;

/* How many WAL frames a connection in bulk mode lets pile up before it
 * checkpoints (SQLite's default is 1000, 4 MiB). A checkpoint copies each
 * page once however often it changed since the last one, and the pages a
 * bulk load keeps changing are few, so rarer checkpoints copy far fewer
 * pages. The WAL file may grow to about this many pages (64 MiB). */
#define BULK_AUTOCHECKPOINT 16384

/* The largest part of the database file that is read through a memory map
 * (see configure): 1 GiB, as a string for the PRAGMA. */
#define STORE_MMAP_BYTES "1073741824"

cl_err sqlite_error(sqlite3 *db, int rc, const char *what, char *msg)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return cl_errf(msg, CL_EBUSY, "%s: the database is locked by another writer", what);
    case SQLITE_FULL:
        return cl_errf(msg, CL_EBUSY, "%s: the disk or database is full", what);
    case SQLITE_READONLY:
        return cl_errf(msg, CL_EBUSY, "%s: the database is read-only", what);
    case SQLITE_IOERR:
        return cl_errf(msg, CL_EBUSY, "%s: disk I/O error", what);
    case SQLITE_NOMEM:
        return cl_errf(msg, CL_ENOMEM, "%s: out of memory", what);
    default:
        return cl_errf(msg, CL_ESTORE, "%s: %s", what,
                       db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    }
}

cl_err sqlite_stmt(struct sqlite_store *s, enum stmt id, const char *text, sqlite3_stmt **out,
                   char *msg)
{
    if (!s->st[id]) {
        int rc = sqlite3_prepare_v3(s->db, text, -1, SQLITE_PREPARE_PERSISTENT, &s->st[id], NULL);
        if (rc != SQLITE_OK)
            return sqlite_error(s->db, rc, "preparing a statement", msg);
    }
    *out = s->st[id];
    return CL_OK;
}

void sqlite_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

void sqlite_column_text(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
    const unsigned char *p = sqlite3_column_text(st, i);
    size_t n = p ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, p, n);
    dst[n] = '\0';
}

/* This file's statements: the slot, with its SQL from the table above. */
static cl_err stmt(struct sqlite_store *s, enum stmt id, sqlite3_stmt **out, char *msg)
{
    return sqlite_stmt(s, id, sql[id], out, msg);
}

/* Runs a statement that returns no rows. */
static cl_err run(struct sqlite_store *s, enum stmt id, const char *what, char *msg)
{
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, id, &st, msg);
    if (err)
        return err;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = sqlite_error(s->db, rc, what, msg);
    sqlite_done(st);
    return err;
}

static void bind_opt(sqlite3_stmt *st, int i, bool present, int64_t v)
{
    if (present)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static int64_t column_opt(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? CASE_NONE : sqlite3_column_int64(st, i);
}

/* ---- connection ---------------------------------------------------------- */

/* Creates the file with mode 0600 if it does not exist, because the
 * database holds secret hashes and the token signing key; SQLite gives its
 * -wal and -shm files the same mode. An existing file keeps its mode. */
static cl_err create_private(const char *path, char *msg)
{
    if (strcmp(path, ":memory:") == 0)
        return CL_OK;
    /* O_EXCL: only a file we create here is closed again. Closing any
     * descriptor of an existing database would drop every POSIX lock this
     * process holds on it, SQLite's included (fcntl locks are per process),
     * and another connection could then delete a WAL still in use. */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return CL_OK;
        return cl_errf(msg, CL_ESTORE, "cannot open database %s: %s", path, strerror(errno));
    }
    close(fd);
    return CL_OK;
}

static int journal_mode_cb(void *ud, int ncol, char **values, char **names)
{
    (void)names;
    char *mode = ud;
    if (ncol > 0 && values[0])
        snprintf(mode, 16, "%s", values[0]);
    return 0;
}

/* WAL lets readers (sync pages) proceed while one writer commits.
 * synchronous=FULL makes every COMMIT fsync the WAL before it returns: in
 * WAL mode the default NORMAL survives a crash of the process but may lose
 * the last commits on power loss or an OS crash, and a write the API has
 * acknowledged must never be lost. */
static cl_err configure(sqlite3 *db, char *msg)
{
    char mode[16] = "";
    int rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", journal_mode_cb, mode, NULL);
    if (rc != SQLITE_OK)
        return sqlite_error(db, rc, "enabling write-ahead logging", msg);
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0)
        log_warn("store: SQLite could not use WAL mode (journal mode is '%s'); "
                 "readers will wait for writers",
                 mode);
    rc = sqlite3_exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sqlite_error(db, rc, "configuring the connection", msg);
    /* Sync pages read the database file through a memory map: a page that
     * is not in this connection's small cache then costs no pread and no
     * copy, which on a database larger than the cache was a third of the
     * CPU time of a page. The map is read-only (writes still go through
     * the WAL) and the kernel's page cache backs it for every connection
     * alike. SQLite caps the size at its compile-time limit. */
    rc = sqlite3_exec(db, "PRAGMA mmap_size = " STORE_MMAP_BYTES, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sqlite_error(db, rc, "mapping the database", msg);
    return CL_OK;
}

cl_err store_sqlite_open(const char *path, struct store **out, char *msg)
{
    *out = NULL;
    cl_err err = create_private(path, msg);
    if (err)
        return err;
    sqlite3 *db = NULL;
    /* NOMUTEX: a connection belongs to one thread, so SQLite's per-call
     * locking would only cost time. */
    int rc = sqlite3_open_v2(
        path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        err = db ? sqlite_error(db, rc, "opening the database", msg)
                 : cl_errf(msg, CL_ENOMEM, "opening the database: out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    err = configure(db, msg);
    if (!err)
        err = sqlite_migrate(db, msg);
    if (err)
        goto fail;

    struct sqlite_store *s = calloc(1, sizeof *s);
    if (!s) {
        err = cl_errf(msg, CL_ENOMEM, "opening the database: out of memory");
        goto fail;
    }
    s->base.ops = &sqlite_ops;
    s->db = db;
    s->wal_fd = -1;
    *out = &s->base;
    return CL_OK;

fail:
    sqlite3_close(db);
    return err;
}

static void sqlite_close(struct store *base)
{
    struct sqlite_store *s = sq(base);
    sqlite_sync_close(s);
    for (size_t i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    /* A transaction still open here was abandoned by its caller: closing
     * rolls it back. The last connection to close checkpoints the WAL. */
    int rc = sqlite3_close(s->db);
    if (rc != SQLITE_OK)
        log_warn("store: closing the database failed: %s", sqlite3_errstr(rc));
    free(s->users);
    free(s);
}

/* ---- bulk writing -------------------------------------------------------- */

/* Runs a PRAGMA that returns one integer. */
static cl_err pragma_int(struct sqlite_store *s, const char *text, int64_t *out, char *msg)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, text, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    cl_err err = rc == SQLITE_OK ? CL_OK : sqlite_error(s->db, rc, "reading a setting", msg);
    sqlite3_finalize(st);
    return err;
}

static cl_err set_cache_size(struct sqlite_store *s, int64_t pages_or_kib, char *msg)
{
    char text[64];
    snprintf(text, sizeof text, "PRAGMA cache_size = %lld", (long long)pages_or_kib);
    int rc = sqlite3_exec(s->db, text, NULL, NULL, NULL);
    return rc == SQLITE_OK ? CL_OK : sqlite_error(s->db, rc, "sizing the page cache", msg);
}

static cl_err sqlite_bulk_begin(struct store *base, char *msg)
{
    struct sqlite_store *s = sq(base);
    if (s->bulk)
        return CL_OK;
    if (!sqlite3_get_autocommit(s->db))
        return cl_errf(msg, CL_ESTORE, "bulk mode cannot begin inside a transaction");
    cl_err err = pragma_int(s, "PRAGMA cache_size", &s->saved_cache_size, msg);
    if (!err)
        err = pragma_int(s, "PRAGMA wal_autocheckpoint", &s->saved_autocheckpoint, msg);
    /* A negative cache_size is a size in KiB rather than in pages. */
    if (!err)
        err = set_cache_size(s, -(int64_t)STORE_BULK_CACHE_KIB, msg);
    if (err)
        return err;
    sqlite3_wal_autocheckpoint(s->db, BULK_AUTOCHECKPOINT);
    s->bulk = true;
    s->put_failed = false;
    return CL_OK;
}

static void sqlite_bulk_end(struct store *base)
{
    struct sqlite_store *s = sq(base);
    if (!s->bulk)
        return;
    s->bulk = false;
    char msg[CL_ERRMSG_MAX];
    if (set_cache_size(s, s->saved_cache_size, msg))
        log_warn("store: %s", msg);
    sqlite3_wal_autocheckpoint(s->db, (int)s->saved_autocheckpoint);
    if (sqlite3_get_autocommit(s->db)) {
        /* Copy the deferred pages back now, rather than leave a long
         * checkpoint to the next commit of some other writer. PASSIVE never
         * waits for readers; whatever it cannot copy yet is copied later. */
        int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY)
            log_warn("store: checkpointing after a bulk load failed: %s", sqlite3_errstr(rc));
    }
    /* Shrinking cache_size already dropped the pages above the limit; this
     * also frees the ones that remain unused. */
    sqlite3_db_release_memory(s->db);
}

void store_sqlite_busy_timeout(struct store *s, int ms)
{
    sqlite3_busy_timeout(sq(s)->db, ms);
}

int64_t store_sqlite_cache_size(struct store *s)
{
    int64_t size = 0;
    char msg[CL_ERRMSG_MAX];
    if (pragma_int(sq(s), "PRAGMA cache_size", &size, msg))
        return 0;
    return size;
}

/* ---- transactions -------------------------------------------------------- */

static cl_err sqlite_tx_begin(struct store *base, char *msg)
{
    struct sqlite_store *s = sq(base);
    /* IMMEDIATE takes the write lock now, so writers queue here (for up to
     * the busy timeout) and commit one at a time, in seq order. */
    cl_err err = run(s, ST_BEGIN_IMMEDIATE, "beginning a write transaction", msg);
    if (!err)
        s->put_failed = false;
    return err;
}

static void sqlite_tx_rollback(struct store *base);

static cl_err sqlite_tx_commit(struct store *base, char *msg)
{
    struct sqlite_store *s = sq(base);
    if (s->put_failed) {
        /* A put in bulk mode has no savepoint of its own, so a failed one
         * may have left part of its writes: committing them would break
         * the feed's invariants. */
        sqlite_tx_rollback(base);
        return cl_errf(msg, CL_ESTORE,
                       "committing: a case write failed in this bulk transaction, "
                       "so it was rolled back");
    }
    return run(s, ST_COMMIT, "committing", msg);
}

static void sqlite_tx_rollback(struct store *base)
{
    struct sqlite_store *s = sq(base);
    s->put_failed = false;
    if (sqlite3_get_autocommit(s->db))
        return;
    char msg[CL_ERRMSG_MAX];
    if (run(s, ST_ROLLBACK, "rolling back", msg))
        log_warn("store: %s", msg);
}

/* ---- cases --------------------------------------------------------------- */

/* Reads id, number and status, the first three columns of both
 * CASE_COLUMNS and PAGE_COLUMNS. */
static cl_err read_head(sqlite3_stmt *st, struct case_record *c, char *msg)
{
    c->id = sqlite3_column_int64(st, 0);
    c->number = sqlite3_column_int64(st, 1);
    int status = sqlite3_column_int(st, 2);
    if (status < CASE_OPEN || status > CASE_CLOSED)
        return cl_errf(msg, CL_ESTORE, "case %lld has an invalid status %d", (long long)c->id,
                       status);
    c->status = (enum case_status)status;
    return CL_OK;
}

/* Reads opened_at, the two timers, created_at, updated_at and seq, which
 * CASE_COLUMNS and PAGE_COLUMNS end with, from column col on. */
static void read_tail(sqlite3_stmt *st, int col, struct case_record *c)
{
    c->opened_at = sqlite3_column_int64(st, col);
    c->time_to_follow_up = column_opt(st, col + 1);
    c->time_to_close = column_opt(st, col + 2);
    c->created_at = sqlite3_column_int64(st, col + 3);
    c->updated_at = sqlite3_column_int64(st, col + 4);
    c->seq = sqlite3_column_int64(st, col + 5);
}

/* Reads a row of CASE_COLUMNS. */
static cl_err read_case(sqlite3_stmt *st, struct case_record *c, char *msg)
{
    memset(c, 0, sizeof *c);
    cl_err err = read_head(st, c, msg);
    if (err)
        return err;
    if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
        c->has_assignee = true;
        c->assignee.id = sqlite3_column_int64(st, 3);
        sqlite_column_text(st, 4, c->assignee.username, sizeof c->assignee.username);
        sqlite_column_text(st, 5, c->assignee.email, sizeof c->assignee.email);
    }
    read_tail(st, 6, c);
    return CL_OK;
}

static cl_err sqlite_case_get(struct store *base, int64_t number, struct case_record *out,
                              char *msg)
{
    struct sqlite_store *s = sq(base);
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_CASE_GET, &st, msg);
    if (err)
        return err;
    sqlite3_bind_int64(st, 1, number);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        err = read_case(st, out, msg);
    else if (rc == SQLITE_DONE)
        err = cl_errf(msg, CL_ENOTFOUND, "no case for number %lld", (long long)number);
    else
        err = sqlite_error(s->db, rc, "loading a case", msg);
    sqlite_done(st);
    return err;
}

static cl_err feed_next(struct sqlite_store *s, int64_t now, int64_t *seq, int64_t *updated_at,
                        char *msg)
{
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_FEED_GET, &st, msg);
    if (err)
        return err;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0) + 1;
        int64_t last = sqlite3_column_int64(st, 1);
        *updated_at = now > last ? now : last;
    } else if (rc == SQLITE_DONE) {
        err = cl_errf(msg, CL_ESTORE, "the feed counters are missing");
    } else {
        err = sqlite_error(s->db, rc, "reading the feed counters", msg);
    }
    sqlite_done(st);
    if (err)
        return err;

    err = stmt(s, ST_FEED_SET, &st, msg);
    if (err)
        return err;
    sqlite3_bind_int64(st, 1, *seq);
    sqlite3_bind_int64(st, 2, *updated_at);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        err = sqlite_error(s->db, rc, "advancing the feed counters", msg);
    sqlite_done(st);
    return err;
}

/* Writes the case row; *id is the case's id (in for an update, out for an
 * insert). */
static cl_err write_case(struct sqlite_store *s, const struct case_record *c, int64_t seq,
                         int64_t updated_at, int64_t *id, char *msg)
{
    bool insert = c->id == 0;
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, insert ? ST_CASE_INSERT : ST_CASE_UPDATE, &st, msg);
    if (err)
        return err;
    sqlite3_bind_int64(st, 1, c->number);
    sqlite3_bind_int(st, 2, (int)c->status);
    bind_opt(st, 3, c->has_assignee, c->assignee.id);
    sqlite3_bind_int64(st, 4, c->opened_at);
    bind_opt(st, 5, c->time_to_follow_up >= 0, c->time_to_follow_up);
    bind_opt(st, 6, c->time_to_close >= 0, c->time_to_close);
    sqlite3_bind_int64(st, 7, c->created_at);
    sqlite3_bind_int64(st, 8, updated_at);
    sqlite3_bind_int64(st, 9, seq);
    if (!insert)
        sqlite3_bind_int64(st, 10, c->id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT_UNIQUE && insert)
        err =
            cl_errf(msg, CL_EEXIST, "a case for number %lld already exists", (long long)c->number);
    else if (rc != SQLITE_DONE)
        err = sqlite_error(s->db, rc, "storing a case", msg);
    else if (insert)
        *id = sqlite3_last_insert_rowid(s->db);
    else if (sqlite3_changes(s->db) == 0)
        err = cl_errf(msg, CL_ENOTFOUND, "case %lld with number %lld does not exist",
                      (long long)c->id, (long long)c->number);
    else
        *id = c->id;
    sqlite_done(st);
    return err;
}

static cl_err write_event(struct sqlite_store *s, int64_t case_id, const struct case_event *ev,
                          char *msg)
{
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_EVENT_INSERT, &st, msg);
    if (err)
        return err;
    sqlite3_bind_int64(st, 1, case_id);
    sqlite3_bind_int(st, 2, (int)ev->kind);
    sqlite3_bind_int(st, 3, (int)ev->status);
    if (ev->note)
        sqlite3_bind_text(st, 4, ev->note, (int)ev->note_len, SQLITE_STATIC);
    bind_opt(st, 5, ev->assignee_id != 0, ev->assignee_id);
    sqlite3_bind_int64(st, 6, ev->happened_at);
    sqlite3_bind_int64(st, 7, ev->recorded_at);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        err = sqlite_error(s->db, rc, "storing a case event", msg);
    sqlite_done(st);
    return err;
}

static cl_err sqlite_case_put(struct store *base, struct case_record *c,
                              const struct case_event *ev, int64_t now, char *msg)
{
    struct sqlite_store *s = sq(base);
    if (sqlite3_get_autocommit(s->db))
        return cl_errf(msg, CL_ESTORE, "storing a case: no transaction");
    if (ev->note && ev->note_len > CASE_NOTE_MAX)
        return cl_errf(msg, CL_ELIMIT, "the note is longer than %d bytes", CASE_NOTE_MAX);
    /* A savepoint makes the three writes all-or-nothing even when the
     * caller goes on to commit after a failure. It costs a copy of every
     * page the put changes (SQLite's sub-journal), about a quarter of a
     * put's time, so bulk mode does without it and instead lets a
     * transaction with a failed put only be rolled back. */
    bool savepoint = !s->bulk;
    cl_err err = savepoint ? run(s, ST_SAVEPOINT, "storing a case", msg) : CL_OK;
    if (err)
        return err;
    int64_t seq = 0, updated_at = 0, id = 0;
    err = feed_next(s, now, &seq, &updated_at, msg);
    if (!err)
        err = write_case(s, c, seq, updated_at, &id, msg);
    if (!err)
        err = write_event(s, id, ev, msg);
    if (err && !savepoint) {
        s->put_failed = true;
        return err;
    }
    if (err) {
        char ignored[CL_ERRMSG_MAX];
        run(s, ST_ROLLBACK_TO, "undoing a case write", ignored);
        run(s, ST_RELEASE, "undoing a case write", ignored);
        return err;
    }
    if (savepoint && (err = run(s, ST_RELEASE, "storing a case", msg)))
        return err;
    c->id = id;
    c->seq = seq;
    c->updated_at = updated_at;
    return CL_OK;
}

/* ---- the sync feed ------------------------------------------------------ */

/* Users are only ever inserted (no statement updates or deletes one), so a
 * committed user id names the same username and email for the life of the
 * database, and a page can take its assignees from this cache instead of a
 * B-tree search per row. A slot is filled only inside a read transaction of
 * the page's own, which sees committed rows alone: a user that a write
 * transaction open on this connection inserted could still roll back, and
 * its id later go to someone else. */
#define USER_CACHE_SLOTS 256 /* a power of two; about 84 KiB a connection */

struct user_cache {
    bool used[USER_CACHE_SLOTS];
    struct user_record slot[USER_CACHE_SLOTS];
};

/* The assignee with this id, from the cache or the users table; cacheable
 * says whether this transaction reads committed rows only. */
static cl_err page_assignee(struct sqlite_store *s, int64_t id, bool cacheable,
                            struct user_record *out, char *msg)
{
    struct user_cache *uc = s->users;
    size_t i = (size_t)((uint64_t)id & (USER_CACHE_SLOTS - 1));
    if (uc && uc->used[i] && uc->slot[i].id == id) {
        *out = uc->slot[i];
        return CL_OK;
    }
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_USER_GET, &st, msg);
    if (err)
        return err;
    sqlite3_bind_int64(st, 1, id);
    out->id = id;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        sqlite_column_text(st, 0, out->username, sizeof out->username);
        sqlite_column_text(st, 1, out->email, sizeof out->email);
    } else if (rc == SQLITE_DONE) {
        /* What the LEFT JOIN gave for an id without a user (written with
         * foreign keys off): empty strings, not cached, since a user added
         * later may take the id. */
        out->username[0] = '\0';
        out->email[0] = '\0';
        cacheable = false;
    } else {
        err = sqlite_error(s->db, rc, "reading the sync feed", msg);
    }
    sqlite_done(st);
    if (!err && cacheable && uc) {
        uc->used[i] = true;
        uc->slot[i] = *out;
    }
    return err;
}

/* Reads a row of PAGE_COLUMNS. Every field is set, without clearing the
 * whole record first: its user strings are most of its 400 bytes. */
static cl_err read_page_row(struct sqlite_store *s, sqlite3_stmt *st, bool cacheable,
                            struct case_record *c, char *msg)
{
    cl_err err = read_head(st, c, msg);
    if (err)
        return err;
    read_tail(st, 4, c);
    c->has_assignee = sqlite3_column_type(st, 3) != SQLITE_NULL;
    if (c->has_assignee)
        return page_assignee(s, sqlite3_column_int64(st, 3), cacheable, &c->assignee, msg);
    c->assignee.id = 0;
    c->assignee.username[0] = '\0';
    c->assignee.email[0] = '\0';
    return CL_OK;
}

/* The largest seq of a case changed before `before`, or 0 when none. */
static cl_err probe(struct sqlite_store *s, int64_t before, int64_t *seq, char *msg)
{
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_PROBE, &st, msg);
    if (err)
        return err;
    sqlite3_bind_int64(st, 1, before);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *seq = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE)
        *seq = 0;
    else
        err = sqlite_error(s->db, rc, "reading the sync feed", msg);
    sqlite_done(st);
    return err;
}

static cl_err page_rows(struct sqlite_store *s, const struct page_query *q, bool cacheable,
                        store_case_fn fn, void *ud, char *msg)
{
    int64_t lo_seq = 0, hi_seq = INT64_MAX;
    cl_err err = CL_OK;
    if (q->updated_lo != INT64_MIN)
        err = probe(s, q->updated_lo, &lo_seq, msg);
    if (!err && q->updated_hi != INT64_MAX)
        err = probe(s, q->updated_hi, &hi_seq, msg);
    if (err)
        return err;
    int64_t from = q->cursor > lo_seq ? q->cursor : lo_seq;
    if (from >= hi_seq || q->limit == 0 || q->updated_lo >= q->updated_hi)
        return CL_OK;

    sqlite3_stmt *st = NULL;
    bool window = q->updated_lo != INT64_MIN || q->updated_hi != INT64_MAX;
    err = stmt(s, window ? ST_PAGE : ST_PAGE_ALL, &st, msg);
    if (err)
        return err;
    sqlite3_bind_int64(st, 1, from);
    if (window) {
        sqlite3_bind_int64(st, 2, hi_seq);
        sqlite3_bind_int64(st, 3, q->updated_lo);
        sqlite3_bind_int64(st, 4, q->updated_hi);
        sqlite3_bind_int64(st, 5, q->limit);
    } else {
        sqlite3_bind_int64(st, 2, q->limit);
    }
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            err = sqlite_error(s->db, rc, "reading the sync feed", msg);
            break;
        }
        struct case_record c;
        err = read_page_row(s, st, cacheable, &c, msg);
        if (!err)
            err = fn(ud, &c);
        if (err)
            break;
    }
    sqlite_done(st);
    return err;
}

static cl_err sqlite_page_fetch(struct store *base, const struct page_query *q, store_case_fn fn,
                                void *ud, char *msg)
{
    struct sqlite_store *s = sq(base);
    /* The probes and the page must read one snapshot: a seq range computed
     * before a concurrent commit and applied after it could skip a case
     * that moved past the range's end. A deferred BEGIN pins the snapshot
     * at the first read. */
    bool own_tx = sqlite3_get_autocommit(s->db);
    if (own_tx) {
        cl_err err = run(s, ST_BEGIN, "reading the sync feed", msg);
        if (err)
            return err;
    }
    /* Without memory for the cache, every assignee is read from the table. */
    if (!s->users)
        s->users = calloc(1, sizeof *s->users);
    cl_err err = page_rows(s, q, own_tx, fn, ud, msg);
    if (own_tx) {
        /* Ending a read transaction cannot lose anything, so a failure
         * here only matters when the page itself succeeded. */
        char end_msg[CL_ERRMSG_MAX];
        cl_err end = run(s, ST_COMMIT, "reading the sync feed", end_msg);
        if (end) {
            sqlite_tx_rollback(base);
            if (!err)
                err = cl_errf(msg, end, "%s", end_msg);
        }
    }
    return err;
}

/* Reads the feed row, which every write updates. A deleted or replaced
 * file is checked first: SQLite would go on reading and writing the
 * unlinked inode, and every acknowledged write would be lost at restart. */
static cl_err sqlite_ping(struct store *base, char *msg)
{
    struct sqlite_store *s = sq(base);
    int moved = 0;
    if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK && moved)
        return cl_errf(msg, CL_ESTORE,
                       "the database file was deleted, moved or replaced since it was opened");
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_FEED_GET, &st, msg);
    if (err)
        return err;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        err = cl_errf(msg, CL_ESTORE, "the feed counters are missing");
    else if (rc != SQLITE_ROW)
        err = sqlite_error(s->db, rc, "checking the database", msg);
    sqlite_done(st);
    return err;
}

static cl_err sqlite_case_stats(struct store *base, int64_t *count, int64_t *max_seq, char *msg)
{
    struct sqlite_store *s = sq(base);
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_STATS, &st, msg);
    if (err)
        return err;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *count = sqlite3_column_int64(st, 0);
        *max_seq = sqlite3_column_int64(st, 1);
    } else {
        err = sqlite_error(s->db, rc, "counting cases", msg);
    }
    sqlite_done(st);
    return err;
}

static cl_err sqlite_case_max_number(struct store *base, int64_t *max_number, char *msg)
{
    struct sqlite_store *s = sq(base);
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_MAX_NUMBER, &st, msg);
    if (err)
        return err;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *max_number = sqlite3_column_int64(st, 0);
    else
        err = sqlite_error(s->db, rc, "finding the highest case number", msg);
    sqlite_done(st);
    return err;
}

/* Reads a row of EVENT_COLUMNS. ev->note points into the statement's row,
 * so it is valid until the next step or reset. */
static cl_err read_event(sqlite3_stmt *st, int64_t case_id, struct case_event *ev, char *msg)
{
    memset(ev, 0, sizeof *ev);
    int kind = sqlite3_column_int(st, 0), status = sqlite3_column_int(st, 1);
    if (kind < ACTION_STATUS || kind > ACTION_COMMENT || status < CASE_OPEN || status > CASE_CLOSED)
        return cl_errf(msg, CL_ESTORE, "case %lld has an invalid event (kind %d, status %d)",
                       (long long)case_id, kind, status);
    ev->kind = (enum case_action_kind)kind;
    ev->status = (enum case_status)status;
    if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
        /* Only SQL NULL and a failed allocation give a NULL pointer here. */
        ev->note = (const char *)sqlite3_column_text(st, 2);
        if (!ev->note)
            return cl_errf(msg, CL_ENOMEM, "reading a case's history: out of memory");
        ev->note_len = (size_t)sqlite3_column_bytes(st, 2);
    }
    ev->assignee_id = sqlite3_column_type(st, 3) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 3);
    ev->happened_at = sqlite3_column_int64(st, 4);
    ev->recorded_at = sqlite3_column_int64(st, 5);
    return CL_OK;
}

static cl_err sqlite_case_history(struct store *base, int64_t case_id, store_event_fn fn, void *ud,
                                  char *msg)
{
    struct sqlite_store *s = sq(base);
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_EVENT_LIST, &st, msg);
    if (err)
        return err;
    /* One statement reads one snapshot, so a history is never seen half
     * written, even outside a transaction. */
    sqlite3_bind_int64(st, 1, case_id);
    int rc = SQLITE_DONE;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct case_event ev;
        err = read_event(st, case_id, &ev, msg);
        if (!err)
            err = fn(ud, &ev);
    }
    if (!err && rc != SQLITE_DONE)
        err = sqlite_error(s->db, rc, "reading a case's history", msg);
    sqlite_done(st);
    return err;
}

/* ---- diagnostics --------------------------------------------------------- */

static cl_err sqlite_schema_version(struct store *base, int64_t *version, char *msg)
{
    struct sqlite_store *s = sq(base);
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_USER_VERSION, &st, msg);
    if (err)
        return err;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int64(st, 0);
    else
        err = sqlite_error(s->db, rc, "reading the schema version", msg);
    sqlite_done(st);
    return err;
}

static cl_err sqlite_page_plan(struct store *base, void (*fn)(void *ud, const char *step), void *ud,
                               char *msg)
{
    struct sqlite_store *s = sq(base);
    static const enum stmt explained[] = {ST_PROBE, ST_PAGE, ST_PAGE_ALL, ST_USER_GET};
    for (size_t i = 0; i < sizeof explained / sizeof explained[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "EXPLAIN QUERY PLAN %s", sql[explained[i]]);
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(s->db, text, -1, &st, NULL);
        if (rc == SQLITE_OK)
            while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                fn(ud, (const char *)sqlite3_column_text(st, 3));
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return sqlite_error(s->db, rc, "explaining the page query", msg);
    }
    return CL_OK;
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sqlite_close,
    .ping = sqlite_ping,
    .tx_begin = sqlite_tx_begin,
    .tx_commit = sqlite_tx_commit,
    .tx_rollback = sqlite_tx_rollback,
    .sync_defer = sqlite_sync_defer,
    .sync = sqlite_sync,
    .bulk_begin = sqlite_bulk_begin,
    .bulk_end = sqlite_bulk_end,
    .case_get = sqlite_case_get,
    .case_put = sqlite_case_put,
    .page_fetch = sqlite_page_fetch,
    .case_stats = sqlite_case_stats,
    .case_max_number = sqlite_case_max_number,
    .case_history = sqlite_case_history,
    .user_add = sqlite_user_add,
    .user_find = sqlite_user_find,
    .user_list = sqlite_user_list,
    .app_insert = sqlite_app_insert,
    .app_get = sqlite_app_get,
    .app_list = sqlite_app_list,
    .app_revoke = sqlite_app_revoke,
    .app_rotate = sqlite_app_rotate,
    .token_key = sqlite_token_key,
    .schema_version = sqlite_schema_version,
    .page_plan = sqlite_page_plan,
};
