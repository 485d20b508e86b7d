/* Inside the store: the backend vtable behind store.h, and what the SQLite
 * backend's files share. Not used outside src/store, except by the store's
 * own unit test (for the test-only functions at the end). */
#ifndef CL_STORE_STORE_IMPL_H
#define CL_STORE_STORE_IMPL_H

#include <stdint.h>

#include "common/err.h"
#include "store/store.h"

/* How long a connection waits for another writer's lock before CL_EBUSY. */
#define STORE_BUSY_TIMEOUT_MS 5000

/* One function per store.h operation, with the same contract. A backend
 * defines one static const instance; store.c dispatches through it. */
struct store_ops {
    const char *name; /* "sqlite", "postgres": for messages */
    void (*close)(struct store *s);
    cl_err (*ping)(struct store *s, char *msg); /* NULL: always healthy */

    cl_err (*tx_begin)(struct store *s, char *msg);
    cl_err (*tx_commit)(struct store *s, char *msg);
    void (*tx_rollback)(struct store *s);
    /* Both may be NULL: commits are then durable by themselves. */
    cl_err (*sync_defer)(struct store *s, char *msg);
    cl_err (*sync)(struct store *s, char *msg);
    /* Both may be NULL: bulk mode is then a no-op for the backend. */
    cl_err (*bulk_begin)(struct store *s, char *msg);
    void (*bulk_end)(struct store *s);

    cl_err (*case_get)(struct store *s, int64_t number, struct case_record *out, char *msg);
    cl_err (*case_put)(struct store *s, struct case_record *c, const struct case_event *ev,
                       int64_t now, char *msg);
    cl_err (*page_fetch)(struct store *s, const struct page_query *q, store_case_fn fn, void *ud,
                         char *msg);
    cl_err (*case_stats)(struct store *s, int64_t *count, int64_t *max_seq, char *msg);
    cl_err (*case_max_number)(struct store *s, int64_t *max_number, char *msg);
    cl_err (*case_history)(struct store *s, int64_t case_id, store_event_fn fn, void *ud,
                           char *msg);

    cl_err (*user_add)(struct store *s, struct user_record *u, char *msg);
    cl_err (*user_find)(struct store *s, const char *key, struct user_record *out, char *msg);
    cl_err (*user_list)(struct store *s, store_user_fn fn, void *ud, char *msg);

    cl_err (*app_insert)(struct store *s, struct app_record *app, char *msg);
    cl_err (*app_get)(struct store *s, const char *client_id, struct app_record *out, char *msg);
    cl_err (*app_list)(struct store *s, store_app_fn fn, void *ud, char *msg);
    cl_err (*app_revoke)(struct store *s, const char *client_id, char *msg);
    cl_err (*app_rotate)(struct store *s, const char *client_id,
                         const unsigned char hash[SECRET_HASH_LEN], int64_t *generation, char *msg);

    cl_err (*token_key)(struct store *s, unsigned char key[TOKEN_KEY_LEN], char *msg);

    /* Diagnostics, used by the unit tests; a backend may leave them NULL. */
    cl_err (*schema_version)(struct store *s, int64_t *version, char *msg);
    cl_err (*page_plan)(struct store *s, void (*fn)(void *ud, const char *step), void *ud,
                        char *msg);
};

/* Every backend's connection struct starts with this, so that a
 * struct store * can be cast to the backend's type. */
struct store {
    const struct store_ops *ops;
};

/* Fills buf with n bytes from the OS CSPRNG (getrandom(2)), for the token
 * key that a backend creates on first use. CL_EIO when the OS fails. */
cl_err store_random_bytes(void *buf, size_t n, char *msg);

/* ---- the SQLite backend (store_sqlite*.c, migrate_sqlite.c) ----------- */

struct sqlite3;

/* Opens and migrates the SQLite database file at path (created with mode
 * 0600 when missing). On success *out owns the connection. */
cl_err store_sqlite_open(const char *path, struct store **out, char *msg);

/* Maps a failed SQLite result code rc of db to a cl_err and writes a
 * message starting with `what` into msg: CL_EBUSY for a lock that outlived
 * the busy timeout, a full disk, a read-only database or an I/O error (the
 * service is unavailable but may recover); CL_ENOMEM; CL_ESTORE otherwise.
 * Messages come from SQLite's own text, which names tables and columns but
 * never bound values, so they hold no secrets. */
cl_err sqlite_error(struct sqlite3 *db, int rc, const char *what, char *msg);

/* Brings the schema of db to STORE_SCHEMA_VERSION inside one BEGIN IMMEDIATE
 * transaction, so that several processes opening a new database at once
 * migrate it exactly once. Refuses (CL_ESTORE) a database whose version is
 * newer than this program knows. */
cl_err sqlite_migrate(struct sqlite3 *db, char *msg);

/* ---- the PostgreSQL backend (store_pg*.c, migrate_pg.c) -------------- */

/* Connects to the PostgreSQL database at url (a libpq connection URI) and
 * migrates it. On success *out owns the connection. The URL may hold a
 * password: it is kept for reconnecting but never written to a message. */
cl_err store_pg_open(const char *url, struct store **out, char *msg);

/* ---- test-only --------------------------------------------------------- */

/* The schema version of the open database (PRAGMA user_version on SQLite). */
cl_err store_schema_version(struct store *s, int64_t *version, char *msg);

/* Calls fn with each step of the query plans of the statements that
 * store_page_fetch runs, so a test can check that none scans the cases
 * table or sorts. CL_EINVAL when the backend cannot explain. */
cl_err store_page_plan(struct store *s, void (*fn)(void *ud, const char *step), void *ud,
                       char *msg);

/* Changes how long an SQLite connection waits for a lock, so a test can
 * observe CL_EBUSY without waiting STORE_BUSY_TIMEOUT_MS. s must be an
 * SQLite store. */
void store_sqlite_busy_timeout(struct store *s, int ms);

/* The PRAGMA cache_size of an SQLite store's connection (pages, or KiB
 * when negative), so a test can see bulk mode change it and restore it;
 * 0 if it cannot be read. s must be an SQLite store. */
int64_t store_sqlite_cache_size(struct store *s);

#endif
