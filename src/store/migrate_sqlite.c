/* The SQLite schema, as a list of versioned steps. PRAGMA user_version
 * records the last step applied; a step is never edited once released, only
 * followed by a new one. */
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>

#include "store/store_impl.h"

struct migration {
    int version; /* user_version after this step */
    const char *sql;
};

/* Version 1. Times are epoch seconds; a NULL timer is CASE_NONE.
 *
 * feed holds the counters of the sync feed in one row: every case change
 * takes seq = last_seq + 1 and updated_at = max(now, last_updated_at), so
 * updated_at never decreases along seq, which lets a date window be found
 * as a seq range by two probes of cases_updated.
 *
 * cases.seq has a named unique index (rather than an inline UNIQUE) so that
 * the page query can name it with INDEXED BY and can never fall back to a
 * scan or a sort. */
static const char v1[] = "CREATE TABLE meta ("
                         "  key TEXT PRIMARY KEY,"
                         "  value BLOB NOT NULL);"
                         "CREATE TABLE feed ("
                         "  id INTEGER PRIMARY KEY CHECK (id = 1),"
                         "  last_seq INTEGER NOT NULL,"
                         "  last_updated_at INTEGER NOT NULL);"
                         "INSERT INTO feed (id, last_seq, last_updated_at) VALUES (1, 0, 0);"
                         "CREATE TABLE users ("
                         "  id INTEGER PRIMARY KEY,"
                         "  username TEXT NOT NULL UNIQUE,"
                         "  email TEXT NOT NULL UNIQUE COLLATE NOCASE,"
                         "  created_at INTEGER NOT NULL);"
                         "CREATE TABLE apps ("
                         "  id INTEGER PRIMARY KEY,"
                         "  client_id TEXT NOT NULL UNIQUE,"
                         "  name TEXT NOT NULL,"
                         "  scopes INTEGER NOT NULL,"
                         "  secret_hash BLOB NOT NULL,"
                         "  generation INTEGER NOT NULL,"
                         "  revoked INTEGER NOT NULL DEFAULT 0,"
                         "  created_at INTEGER NOT NULL);"
                         "CREATE TABLE cases ("
                         "  id INTEGER PRIMARY KEY,"
                         "  number INTEGER NOT NULL UNIQUE,"
                         "  status INTEGER NOT NULL CHECK (status BETWEEN 0 AND 2),"
                         "  assignee_id INTEGER REFERENCES users(id),"
                         "  opened_at INTEGER NOT NULL,"
                         "  time_to_follow_up INTEGER,"
                         "  time_to_close INTEGER,"
                         "  created_at INTEGER NOT NULL,"
                         "  updated_at INTEGER NOT NULL,"
                         "  seq INTEGER NOT NULL);"
                         "CREATE UNIQUE INDEX cases_seq ON cases (seq);"
                         "CREATE INDEX cases_updated ON cases (updated_at, seq);"
                         "CREATE TABLE case_events ("
                         "  id INTEGER PRIMARY KEY,"
                         "  case_id INTEGER NOT NULL REFERENCES cases(id),"
                         "  kind INTEGER NOT NULL,"
                         "  status INTEGER NOT NULL,"
                         "  note TEXT,"
                         "  assignee_id INTEGER,"
                         "  happened_at INTEGER NOT NULL,"
                         "  recorded_at INTEGER NOT NULL);"
                         "CREATE INDEX case_events_case ON case_events (case_id, id);";

/* Version 2. The sync feed reads pages from cases_seq alone: the index
 * carries every column of a page, so a page is one range scan of it instead
 * of a table search per row (which was a quarter of the CPU time of a
 * per_page=1000 page). A changed case rewrites its entry here in any case,
 * since its seq changes; the wider entry costs bytes, not B-tree searches.
 * The index is no longer unique on seq alone: seq is unique because every
 * change takes feed.last_seq + 1 under the database's write lock. */
static const char v2[] = "DROP INDEX cases_seq;"
                         "CREATE INDEX cases_seq ON cases (seq, id, number, status, assignee_id,"
                         "  opened_at, time_to_follow_up, time_to_close, created_at, updated_at);";

static const struct migration migrations[] = {
    {1, v1},
    {2, v2},
};

_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration step per schema version");

static cl_err read_version(sqlite3 *db, int *version, char *msg)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *version = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    cl_err err = rc == SQLITE_OK ? CL_OK : sqlite_error(db, rc, "reading the schema version", msg);
    sqlite3_finalize(st);
    return err;
}

static cl_err check_not_newer(int version, char *msg)
{
    if (version > STORE_SCHEMA_VERSION)
        return cl_errf(msg, CL_ESTORE,
                       "the database has schema version %d, newer than this program's %d: "
                       "upgrade closeloop",
                       version, STORE_SCHEMA_VERSION);
    return CL_OK;
}

static cl_err apply(sqlite3 *db, int from, char *msg)
{
    for (size_t i = 0; i < sizeof migrations / sizeof migrations[0]; i++) {
        const struct migration *m = &migrations[i];
        if (m->version <= from)
            continue;
        int rc = sqlite3_exec(db, m->sql, NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            char what[64];
            snprintf(what, sizeof what, "migrating to schema version %d", m->version);
            return sqlite_error(db, rc, what, msg);
        }
        char pragma[48];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", m->version);
        rc = sqlite3_exec(db, pragma, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return sqlite_error(db, rc, "recording the schema version", msg);
    }
    return CL_OK;
}

cl_err sqlite_migrate(sqlite3 *db, char *msg)
{
    int version = 0;
    cl_err err = read_version(db, &version, msg);
    if (err)
        return err;
    /* The common case, an up-to-date database, takes no write lock, so many
     * workers can open their connections at once. */
    if (version == STORE_SCHEMA_VERSION)
        return CL_OK;
    err = check_not_newer(version, msg);
    if (err)
        return err;

    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sqlite_error(db, rc, "locking the database for migration", msg);
    /* Another process may have migrated while this one waited for the lock:
     * read the version again, now under the lock. */
    err = read_version(db, &version, msg);
    if (!err)
        err = check_not_newer(version, msg);
    if (!err)
        err = apply(db, version, msg);
    if (!err) {
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            err = sqlite_error(db, rc, "committing the migration", msg);
    }
    if (err && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return err;
}
