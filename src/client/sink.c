/* The sinks of `closeloop sync`. File outputs (JSONL, CSV) record the cursor
 * in a separate state file written atomically after the page is on disk;
 * SQLite records it in the same transaction as the page's rows.
 *
 * SQLite output is written by a thread of its own: sink_write_page copies
 * the page and returns, so that the next page is fetched and parsed while
 * this one goes into the database (the two took about the same time, one
 * after the other). At most two pages wait or are being written. */
#include "client/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/csv.h"
#include "client/parse.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/timeutil.h"

/* A page of output is at most about the size of the response it came from. */
#define PAGE_OUT_MAX      (4 * (size_t)CL_RESPONSE_MAX)
#define BUSY_TIMEOUT_MS   10000
/* SQLite output commits several pages at once: a page's cases are spread
 * over the whole id index (they come ordered by change), so each commit
 * writes most of the index pages it touched to the WAL again, and a commit
 * per page rewrote the index many times over. A batch ends after this many
 * rows or this long, whichever comes first, so that a slow server still
 * sees its progress recorded every second. The rows themselves are stored
 * in the order they arrive (the table's rowid), next to each other, and
 * found by id through the unique index: a million random ids make an index
 * of about 12 MiB, where the rows keyed by id were 100 MiB of table pages
 * written at random. */
#define SQLITE_BATCH_ROWS 65536
#define SQLITE_BATCH_MS   1000
/* The page cache (8 MiB, in KiB as SQLite wants it) holds most of the id
 * index's hot pages; a batch's dirty pages beyond it are spilled early. */
#define SQLITE_CACHE_KIB  8192
/* Checkpoints every 40 MiB of WAL instead of SQLite's 4 MiB: each one
 * fsyncs the database, and a larger WAL folds more rewrites of a page. */
#define SQLITE_WAL_PAGES  10000

/* A page for the SQLite thread: copies of the cases and their strings. */
struct page_copy {
    struct parsed_page arr; /* the cases and their assignees; arr.n of them */
    char *strings;
    size_t strings_cap;
    int64_t next;
};

struct sink {
    enum sink_format format;
    const char *source; /* borrowed from the config, which outlives the sink */
    const char *since;
    const char *until;
    bool have_cursor;
    int64_t cursor;
    /* File outputs. */
    int fd;           /* 1 for stdout */
    bool regular;     /* a regular file: it can be truncated and fsync'ed */
    int64_t offset;   /* bytes of output that belong to recorded pages */
    char *state_path; /* owned; NULL without --state */
    struct buf out;   /* one page of output */
    /* SQLite. */
    sqlite3 *db;
    sqlite3_stmt *upsert_case;
    sqlite3_stmt *upsert_state;
    size_t pending;   /* rows in the open transaction, which holds whole pages */
    int64_t batch_ms; /* when the open transaction began */
    /* The SQLite thread. The database is its own while it runs; mu guards
     * the hand-over and the first error, which stops it writing. */
    pthread_t writer;
    bool writer_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct page_copy copies[2];
    struct page_copy *free_copies[2]; /* not in use */
    size_t nfree;
    struct page_copy *queued; /* handed over, not yet taken */
    bool busy;                /* the thread is writing a page */
    bool stopping;
    cl_err async_err;
    char async_msg[CL_ERRMSG_MAX];
};

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static cl_err io_fail(char *msg, const char *what, const char *path)
{
    return cl_errf(msg, CL_EIO, "%s %s: %s", what, path, strerror(errno));
}

/* ---- the state file of JSONL and CSV outputs ---------------------------- */

/* Reads {"source","since","until","cursor","output_bytes"}; a missing file is
 * not an error (first run). */
static cl_err state_read(struct sink *s, char *msg)
{
    FILE *f = fopen(s->state_path, "r");
    if (!f) {
        if (errno == ENOENT)
            return CL_OK;
        return io_fail(msg, "cannot read state file", s->state_path);
    }
    char text[SINK_STATE_MAX];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    json_t *root = json_loadb(text, n, 0, NULL);
    json_t *cursor = json_object_get(root, "cursor");
    json_t *bytes = json_object_get(root, "output_bytes");
    const char *source = json_string_value(json_object_get(root, "source"));
    const char *since = json_string_value(json_object_get(root, "since"));
    const char *until = json_string_value(json_object_get(root, "until"));
    cl_err err = CL_OK;
    if (!json_is_integer(cursor) || json_integer_value(cursor) < 0 || !source || !since || !until) {
        err = cl_errf(msg, CL_EINVAL, "state file %s is not a closeloop sync state", s->state_path);
    } else if (strcmp(source, s->source) != 0 || strcmp(since, or_empty(s->since)) != 0 ||
               strcmp(until, or_empty(s->until)) != 0) {
        /* A cursor only covers the window it was made for: resuming another
         * window from it would silently skip cases. */
        err = cl_errf(msg, CL_EINVAL,
                      "state file %s belongs to another sync (%s, since '%s', until '%s')",
                      s->state_path, source, since, until);
    } else {
        s->have_cursor = true;
        s->cursor = json_integer_value(cursor);
        s->offset = json_is_integer(bytes) ? json_integer_value(bytes) : -1;
    }
    json_decref(root);
    return err;
}

/* Makes a rename in the state file's directory durable. */
static void sync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

static cl_err write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return CL_EIO;
        }
        p += w;
        n -= (size_t)w;
    }
    return CL_OK;
}

/* Replaces the state file atomically: a reader (or the next run after a
 * crash) sees the old state or the new one, never a torn one. */
static cl_err state_write(struct sink *s, int64_t cursor, char *msg)
{
    struct buf b;
    buf_init(&b, SINK_STATE_MAX);
    buf_puts(&b, "{\"source\":");
    json_cstr(&b, s->source);
    buf_puts(&b, ",\"since\":");
    json_cstr(&b, or_empty(s->since));
    buf_puts(&b, ",\"until\":");
    json_cstr(&b, or_empty(s->until));
    buf_printf(&b, ",\"cursor\":%lld,\"output_bytes\":%lld}\n", (long long)cursor,
               (long long)s->offset);
    if (buf_failed(&b)) {
        buf_free(&b);
        return cl_errf(msg, CL_ELIMIT, "state too large");
    }
    size_t n = strlen(s->state_path) + 5;
    char *tmp = malloc(n);
    if (!tmp) {
        buf_free(&b);
        return CL_ENOMEM;
    }
    snprintf(tmp, n, "%s.tmp", s->state_path);
    cl_err err = CL_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        err = io_fail(msg, "cannot write state file", tmp);
    } else {
        if (write_all(fd, b.data, b.len) || fsync(fd) != 0)
            err = io_fail(msg, "cannot write state file", tmp);
        if (close(fd) != 0 && !err)
            err = io_fail(msg, "cannot write state file", tmp);
        if (!err && rename(tmp, s->state_path) != 0)
            err = io_fail(msg, "cannot replace state file", s->state_path);
        if (err)
            unlink(tmp);
        else
            sync_dir_of(s->state_path);
    }
    free(tmp);
    buf_free(&b);
    if (!err) {
        s->have_cursor = true;
        s->cursor = cursor;
    }
    return err;
}

/* ---- JSONL and CSV ---------------------------------------------------- */

static cl_err file_open(struct sink *s, const struct sink_config *cfg, char *msg)
{
    buf_init(&s->out, PAGE_OUT_MAX);
    s->offset = 0;
    if (cfg->state_path) {
        s->state_path = strdup(cfg->state_path);
        if (!s->state_path)
            return CL_ENOMEM;
        cl_err err = state_read(s, msg);
        if (err)
            return err;
    }
    if (!cfg->path) {
        s->fd = STDOUT_FILENO;
        s->regular = false;
        s->offset = 0;
    } else {
        /* Without a stored state this is a fresh export; with one, the file
         * is the log of earlier runs and is appended to. */
        int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (s->have_cursor ? 0 : O_TRUNC);
        s->fd = open(cfg->path, flags, 0644);
        if (s->fd < 0)
            return io_fail(msg, "cannot open output", cfg->path);
        struct stat st;
        if (fstat(s->fd, &st) != 0)
            return io_fail(msg, "cannot stat output", cfg->path);
        s->regular = S_ISREG(st.st_mode);
        int64_t size = s->regular ? (int64_t)st.st_size : 0;
        /* Bytes past the recorded offset were written by a run that died
         * before recording their page: that page will be fetched again, so
         * cut them off rather than duplicate them or leave a torn line. */
        if (s->regular && s->have_cursor && s->offset >= 0 && size > s->offset) {
            if (ftruncate(s->fd, (off_t)s->offset) != 0)
                return io_fail(msg, "cannot truncate output", cfg->path);
            size = s->offset;
        }
        if (s->regular && lseek(s->fd, 0, SEEK_END) < 0)
            return io_fail(msg, "cannot seek output", cfg->path);
        s->offset = size;
    }
    if (s->format == SINK_CSV) {
        bool empty = s->regular ? s->offset == 0 : !s->have_cursor;
        if (empty) {
            buf_puts(&s->out, CSV_HEADER);
        }
    }
    return CL_OK;
}

static cl_err file_page(struct sink *s, const cl_case *cases, size_t n, int64_t next, char *msg)
{
    for (size_t i = 0; i < n; i++) {
        if (s->format == SINK_CSV) {
            csv_case(&s->out, &cases[i]);
        } else {
            buf_append(&s->out, cases[i].json, cases[i].json_len);
            buf_putc(&s->out, '\n');
        }
    }
    if (buf_failed(&s->out))
        return cl_errf(msg, s->out.err, "page output too large");
    if (write_all(s->fd, s->out.data, s->out.len) != CL_OK)
        return cl_errf(msg, CL_EIO, "cannot write output: %s", strerror(errno));
    s->offset += (int64_t)s->out.len;
    buf_reset(&s->out);
    if (!s->state_path)
        return CL_OK;
    /* The page must be on disk before the cursor that skips it is. */
    if (s->regular && fdatasync(s->fd) != 0)
        return cl_errf(msg, CL_EIO, "cannot sync output: %s", strerror(errno));
    return state_write(s, next, msg);
}

/* ---- SQLite ------------------------------------------------------------- */

static const char *const sqlite_schema =
    "PRAGMA journal_mode=WAL;"
    /* In WAL mode NORMAL may lose the last transactions on power loss, but
     * rows and cursor are lost together, so a page is re-applied, never
     * skipped. A killed process loses nothing. */
    "PRAGMA synchronous=NORMAL;"
    /* A table made by an earlier version has id INTEGER PRIMARY KEY: the
     * upsert works on both. */
    "CREATE TABLE IF NOT EXISTS close_loop_cases ("
    " id INTEGER NOT NULL UNIQUE,"
    " number_customergauge INTEGER,"
    " status TEXT,"
    " assignee_id INTEGER,"
    " assignee_username TEXT,"
    " assignee_email TEXT,"
    " time_to_follow_up INTEGER,"
    " time_to_close INTEGER,"
    " created_at TEXT,"
    " updated_at TEXT);"
    "CREATE TABLE IF NOT EXISTS close_loop_sync_state ("
    " source TEXT NOT NULL,"
    " since_date TEXT NOT NULL," /* '' when the window has no start */
    " until_date TEXT NOT NULL,"
    " cursor INTEGER NOT NULL,"
    " synced_at TEXT NOT NULL,"
    " PRIMARY KEY (source, since_date, until_date));";

static const char *const sql_upsert_case =
    "INSERT INTO close_loop_cases (id, number_customergauge, status, assignee_id,"
    " assignee_username, assignee_email, time_to_follow_up, time_to_close, created_at,"
    " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    " ON CONFLICT (id) DO UPDATE SET number_customergauge = excluded.number_customergauge,"
    " status = excluded.status, assignee_id = excluded.assignee_id,"
    " assignee_username = excluded.assignee_username, assignee_email = excluded.assignee_email,"
    " time_to_follow_up = excluded.time_to_follow_up, time_to_close = excluded.time_to_close,"
    " created_at = excluded.created_at, updated_at = excluded.updated_at";

static const char *const sql_upsert_state =
    "INSERT INTO close_loop_sync_state (source, since_date, until_date, cursor, synced_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (source, since_date, until_date)"
    " DO UPDATE SET cursor = excluded.cursor, synced_at = excluded.synced_at";

static cl_err db_fail(struct sink *s, char *msg, const char *what)
{
    int code = sqlite3_errcode(s->db);
    cl_err err = (code == SQLITE_BUSY || code == SQLITE_LOCKED) ? CL_EBUSY : CL_ESTORE;
    return cl_errf(msg, err, "%s: %s", what, sqlite3_errmsg(s->db));
}

static cl_err db_open(struct sink *s, const struct sink_config *cfg, char *msg)
{
    if (!cfg->path)
        return cl_errf(msg, CL_EINVAL, "SQLite output needs a path");
    /* NOMUTEX: the sink is used by one thread, so SQLite's locking of every
     * call would only cost time (a few percent of a sync into SQLite). */
    if (sqlite3_open_v2(cfg->path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        return db_fail(s, msg, "cannot open the SQLite database");
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    if (sqlite3_exec(s->db, sqlite_schema, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(s, msg, "cannot create the tables");
    char tuning[96];
    snprintf(tuning, sizeof tuning, "PRAGMA cache_size=-%d; PRAGMA wal_autocheckpoint=%d;",
             SQLITE_CACHE_KIB, SQLITE_WAL_PAGES);
    if (sqlite3_exec(s->db, tuning, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(s, msg, "cannot configure the database");
    if (sqlite3_prepare_v2(s->db, sql_upsert_case, -1, &s->upsert_case, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, sql_upsert_state, -1, &s->upsert_state, NULL) != SQLITE_OK)
        return db_fail(s, msg, "cannot prepare statements");
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT cursor FROM close_loop_sync_state WHERE source = ?1"
                           " AND since_date = ?2 AND until_date = ?3",
                           -1, &q, NULL) != SQLITE_OK)
        return db_fail(s, msg, "cannot read the sync state");
    sqlite3_bind_text(q, 1, s->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, or_empty(s->since), -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, or_empty(s->until), -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        s->have_cursor = true;
        s->cursor = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(s, msg, "cannot read the sync state");
    return CL_OK;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_hours(sqlite3_stmt *st, int i, int64_t h)
{
    if (h == CL_HOURS_NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, h);
}

static cl_err db_record_cursor(struct sink *s, int64_t cursor, char *msg)
{
    char now[TIME_FORMAT_LEN + 1];
    time_format(time_now(), now);
    sqlite3_stmt *st = s->upsert_state;
    sqlite3_bind_text(st, 1, s->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, or_empty(s->since), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, or_empty(s->until), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, cursor);
    sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return db_fail(s, msg, "cannot record the cursor");
    return CL_OK;
}

static cl_err db_upsert(struct sink *s, const cl_case *k, char *msg)
{
    sqlite3_stmt *st = s->upsert_case;
    sqlite3_bind_int64(st, 1, k->id);
    sqlite3_bind_int64(st, 2, k->number_customergauge);
    bind_text_or_null(st, 3, k->status);
    if (k->assignee)
        sqlite3_bind_int64(st, 4, k->assignee->id);
    else
        sqlite3_bind_null(st, 4);
    bind_text_or_null(st, 5, k->assignee ? k->assignee->username : NULL);
    bind_text_or_null(st, 6, k->assignee ? k->assignee->email : NULL);
    bind_hours(st, 7, k->time_to_follow_up);
    bind_hours(st, 8, k->time_to_close);
    bind_text_or_null(st, 9, k->created_at);
    bind_text_or_null(st, 10, k->updated_at);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return db_fail(s, msg, "cannot store a case");
    return CL_OK;
}

/* Commits the open batch, if any. */
static cl_err db_commit(struct sink *s, char *msg)
{
    if (sqlite3_get_autocommit(s->db))
        return CL_OK;
    s->pending = 0;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        cl_err err = db_fail(s, msg, "cannot commit");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return err;
    }
    return CL_OK;
}

/* The page's rows and its cursor commit together or not at all, in a
 * transaction that may hold earlier whole pages too (see SQLITE_BATCH_ROWS);
 * commit = true ends the batch with this page. */
static cl_err db_page(struct sink *s, const cl_case *cases, size_t n, int64_t next, bool commit,
                      char *msg)
{
    if (sqlite3_get_autocommit(s->db)) {
        if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
            return db_fail(s, msg, "cannot begin a transaction");
        s->pending = 0;
        s->batch_ms = time_mono_ms();
    }
    cl_err err = CL_OK;
    for (size_t i = 0; i < n && !err; i++)
        err = db_upsert(s, &cases[i], msg);
    if (!err)
        err = db_record_cursor(s, next, msg);
    if (err) {
        /* The earlier pages of the batch go too; their cursor with them. */
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->pending = 0;
        return err;
    }
    s->pending += n;
    if (commit || s->pending >= SQLITE_BATCH_ROWS ||
        time_mono_ms() - s->batch_ms >= SQLITE_BATCH_MS) {
        err = db_commit(s, msg);
        if (err)
            return err;
    }
    s->have_cursor = true;
    s->cursor = next;
    return CL_OK;
}

/* ---- the SQLite thread --------------------------------------------------- */

static size_t str_size(const char *p)
{
    return p ? strlen(p) + 1 : 0;
}

/* Copies a string into the arena at *at; NULL stays NULL. */
static const char *str_copy(const char *p, char *arena, size_t *at)
{
    if (!p)
        return NULL;
    size_t n = strlen(p) + 1;
    char *out = memcpy(arena + *at, p, n);
    *at += n;
    return out;
}

/* Fills c with a copy of the page; CL_ENOMEM leaves c usable. */
static cl_err page_copy_fill(struct page_copy *c, const cl_case *cases, size_t n, int64_t next)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const cl_case *k = &cases[i];
        bytes += str_size(k->status) + str_size(k->created_at) + str_size(k->updated_at);
        if (k->assignee)
            bytes += str_size(k->assignee->username) + str_size(k->assignee->email);
    }
    if (parsed_page_reserve(&c->arr, n))
        return CL_ENOMEM;
    if (bytes > c->strings_cap) {
        char *p = realloc(c->strings, bytes);
        if (!p)
            return CL_ENOMEM;
        c->strings = p;
        c->strings_cap = bytes;
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const cl_case *k = &cases[i];
        cl_case *o = &c->arr.cases[i];
        *o = *k;
        /* The sink stores the fields, not the server's JSON. */
        o->json = NULL;
        o->json_len = 0;
        o->status = str_copy(k->status, c->strings, &at);
        o->created_at = str_copy(k->created_at, c->strings, &at);
        o->updated_at = str_copy(k->updated_at, c->strings, &at);
        if (k->assignee) {
            cl_assignee *a = &c->arr.assignees[i];
            a->id = k->assignee->id;
            a->username = str_copy(k->assignee->username, c->strings, &at);
            a->email = str_copy(k->assignee->email, c->strings, &at);
            o->assignee = a;
        }
    }
    c->arr.n = n;
    c->next = next;
    return CL_OK;
}

static void *async_main(void *arg)
{
    struct sink *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->queued && !s->stopping)
            pthread_cond_wait(&s->cv, &s->mu);
        struct page_copy *c = s->queued;
        if (!c)
            break;
        s->queued = NULL;
        s->busy = true;
        bool failed = s->async_err != CL_OK;
        pthread_mutex_unlock(&s->mu);

        char msg[CL_ERRMSG_MAX] = "";
        cl_err err = failed ? CL_OK : db_page(s, c->arr.cases, c->arr.n, c->next, false, msg);

        pthread_mutex_lock(&s->mu);
        if (err && !s->async_err) {
            s->async_err = err;
            memcpy(s->async_msg, msg, sizeof msg);
        }
        s->free_copies[s->nfree++] = c;
        s->busy = false;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static cl_err async_error_locked(const struct sink *s, char *msg)
{
    if (s->async_err && msg)
        memcpy(msg, s->async_msg, CL_ERRMSG_MAX);
    return s->async_err;
}

static cl_err async_start(struct sink *s, char *msg)
{
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->free_copies[0] = &s->copies[0];
    s->free_copies[1] = &s->copies[1];
    s->nfree = 2;
    int rc = pthread_create(&s->writer, NULL, async_main, s);
    if (rc) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        return cl_errf(msg, CL_ENOMEM, "cannot start the SQLite writer: %s", strerror(rc));
    }
    s->writer_started = true;
    return CL_OK;
}

/* Hands a copy of the page to the thread; returns at once unless two pages
 * are in its hands already. Reports the thread's first error instead. */
static cl_err async_page(struct sink *s, const cl_case *cases, size_t n, int64_t next, char *msg)
{
    pthread_mutex_lock(&s->mu);
    while (!s->async_err && (s->nfree == 0 || s->queued))
        pthread_cond_wait(&s->cv, &s->mu);
    cl_err err = async_error_locked(s, msg);
    struct page_copy *c = err ? NULL : s->free_copies[--s->nfree];
    pthread_mutex_unlock(&s->mu);
    if (err)
        return err;

    /* The copy is made outside the lock, in a buffer the thread does not
     * hold. */
    err = page_copy_fill(c, cases, n, next);
    pthread_mutex_lock(&s->mu);
    if (err) {
        s->free_copies[s->nfree++] = c;
        cl_errf(msg, err, "out of memory");
    } else {
        s->queued = c;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return err;
}

/* Waits until every page handed over is written; returns the first error. */
static cl_err async_wait_idle(struct sink *s, char *msg)
{
    pthread_mutex_lock(&s->mu);
    while (s->queued || s->busy)
        pthread_cond_wait(&s->cv, &s->mu);
    cl_err err = async_error_locked(s, msg);
    pthread_mutex_unlock(&s->mu);
    return err;
}

static void async_stop(struct sink *s)
{
    if (!s->writer_started)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->writer, NULL);
    s->writer_started = false;
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

/* ---- the interface ------------------------------------------------------ */

cl_err sink_open(const struct sink_config *cfg, struct sink **out, char *msg)
{
    *out = NULL;
    struct sink *s = calloc(1, sizeof *s);
    if (!s)
        return CL_ENOMEM;
    s->format = cfg->format;
    s->source = cfg->source;
    s->since = cfg->since;
    s->until = cfg->until;
    s->fd = -1;
    cl_err err = cfg->format == SINK_SQLITE ? db_open(s, cfg, msg) : file_open(s, cfg, msg);
    if (!err && cfg->format == SINK_SQLITE)
        err = async_start(s, msg);
    if (err) {
        sink_free(&s);
        return err;
    }
    *out = s;
    return CL_OK;
}

bool sink_stored_cursor(const struct sink *s, int64_t *cursor)
{
    if (s->have_cursor)
        *cursor = s->cursor;
    return s->have_cursor;
}

cl_err sink_write_page(struct sink *s, const cl_case *cases, size_t n, int64_t next, char *msg)
{
    if (s->format == SINK_SQLITE)
        return async_page(s, cases, n, next, msg);
    return file_page(s, cases, n, next, msg);
}

cl_err sink_finish(struct sink *s, int64_t cursor, char *msg)
{
    if (s->format == SINK_SQLITE) {
        /* Once the thread is idle, the database is this thread's again. */
        cl_err err = async_wait_idle(s, msg);
        if (err)
            return err;
        if (s->have_cursor && s->cursor == cursor)
            return db_commit(s, msg);
        return db_page(s, NULL, 0, cursor, true, msg);
    }
    /* A CSV header for an export that found no cases is still owed. */
    if (s->out.len > 0 && write_all(s->fd, s->out.data, s->out.len) != CL_OK)
        return cl_errf(msg, CL_EIO, "cannot write output: %s", strerror(errno));
    s->offset += (int64_t)s->out.len;
    buf_reset(&s->out);
    if (s->state_path && !(s->have_cursor && s->cursor == cursor)) {
        if (s->regular && fdatasync(s->fd) != 0)
            return cl_errf(msg, CL_EIO, "cannot sync output: %s", strerror(errno));
        return state_write(s, cursor, msg);
    }
    return CL_OK;
}

void sink_free(struct sink **ps)
{
    if (!ps || !*ps)
        return;
    struct sink *s = *ps;
    /* The pages handed over are whole and carry their cursor: the thread
     * writes them before it stops. */
    async_stop(s);
    if (s->fd > STDOUT_FILENO)
        close(s->fd);
    buf_free(&s->out);
    free(s->state_path);
    /* Pages written before a failure elsewhere (the network, the server)
     * are whole and carry their cursor: keep them, as a commit per page
     * would have. A failed write already rolled its batch back. */
    if (s->db && !sqlite3_get_autocommit(s->db)) {
        char msg[CL_ERRMSG_MAX];
        db_commit(s, msg);
    }
    sqlite3_finalize(s->upsert_case);
    sqlite3_finalize(s->upsert_state);
    if (s->db)
        sqlite3_close(s->db);
    for (size_t i = 0; i < 2; i++) {
        free(s->copies[i].arr.cases);
        free(s->copies[i].arr.assignees);
        free(s->copies[i].strings);
    }
    free(s);
    *ps = NULL;
}
