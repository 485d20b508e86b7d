/* What the files of the SQLite backend share: the connection struct, the
 * slots of its prepared statements, and the helpers that prepare and read
 * them. store_sqlite.c holds the connection, transactions and cases;
 * store_sqlite_auth.c holds users, apps and the token key. Private to
 * src/store. */
#ifndef CL_STORE_STORE_SQLITE_H
#define CL_STORE_STORE_SQLITE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "store/store_impl.h"

/* ---- group durability (sync_sqlite.c) -------------------------------------- */

/* store_sync_defer and store_sync of the SQLite backend; sqlite_sync_close releases
 * what they hold. */
cl_err sqlite_sync_defer(struct store *s, char *msg);
cl_err sqlite_sync(struct store *s, char *msg);
struct sqlite_store;
void sqlite_sync_close(struct sqlite_store *s);

/* One slot per statement the backend runs. The SQL of a slot lives in the
 * file that uses it; the enum is shared so that one connection can keep
 * every statement prepared in one array. */
enum stmt {
    /* store_sqlite.c */
    ST_BEGIN,
    ST_BEGIN_IMMEDIATE,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_CASE_GET,
    ST_FEED_GET,
    ST_FEED_SET,
    ST_CASE_INSERT,
    ST_CASE_UPDATE,
    ST_EVENT_INSERT,
    ST_EVENT_LIST,
    ST_PROBE,
    ST_PAGE,
    ST_PAGE_ALL,
    ST_USER_GET,
    ST_STATS,
    ST_MAX_NUMBER,
    ST_USER_VERSION,
    /* store_sqlite_auth.c */
    ST_USER_ADD,
    ST_USER_BY_NAME,
    ST_USER_BY_EMAIL,
    ST_USER_LIST,
    ST_APP_INSERT,
    ST_APP_GET,
    ST_APP_LIST,
    ST_APP_REVOKE,
    ST_APP_ROTATE,
    ST_META_GET,
    ST_META_PUT,
    ST_COUNT
};

struct sqlite_store {
    struct store base; /* first, so a struct store * points here */
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    /* Bulk mode (store_bulk_begin): the settings to restore at its end, and
     * whether a put without its savepoint failed in the open transaction,
     * which may then only be rolled back. */
    bool bulk;
    bool put_failed;
    int64_t saved_cache_size;
    int64_t saved_autocheckpoint;
    /* store_sync_defer: the WAL's path, and the descriptor store_sync
     * flushes it through (-1 until the first store_sync); wal_failed once
     * a flush failed. Touched by store_sync's thread only. */
    char *wal_path;
    int wal_fd;
    bool wal_failed;
    /* The assignees the page query has read, by id (store_sqlite.c);
     * allocated by the first page, NULL until then. */
    struct user_cache *users;
};

static inline struct sqlite_store *sq(struct store *s)
{
    return (struct sqlite_store *)s;
}

/* Sets *out to the statement of slot id, preparing text on first use; the
 * connection owns it until store_close. A slot must always be given the
 * same text, which is why each file keeps its slots' SQL in one table. */
cl_err sqlite_stmt(struct sqlite_store *s, enum stmt id, const char *text, sqlite3_stmt **out,
                   char *msg);

/* Makes a statement ready for its next use. Resetting also ends the read
 * transaction an unfinished SELECT holds in autocommit mode. */
void sqlite_done(sqlite3_stmt *st);

/* Copies text column i of the current row into dst of size cap,
 * truncating (never past cap); a NULL column gives "". */
void sqlite_column_text(sqlite3_stmt *st, int i, char *dst, size_t cap);

/* The users, apps and token key operations of store_sqlite_auth.c, for the
 * ops table in store_sqlite.c. Each has the contract of the store.h
 * function of the same name (store_ for sqlite_); base is an SQLite store. */
cl_err sqlite_user_add(struct store *base, struct user_record *u, char *msg);
cl_err sqlite_user_find(struct store *base, const char *key, struct user_record *out, char *msg);
cl_err sqlite_user_list(struct store *base, store_user_fn fn, void *ud, char *msg);
cl_err sqlite_app_insert(struct store *base, struct app_record *app, char *msg);
cl_err sqlite_app_get(struct store *base, const char *client_id, struct app_record *out, char *msg);
cl_err sqlite_app_list(struct store *base, store_app_fn fn, void *ud, char *msg);
cl_err sqlite_app_revoke(struct store *base, const char *client_id, char *msg);
cl_err sqlite_app_rotate(struct store *base, const char *client_id,
                         const unsigned char hash[SECRET_HASH_LEN], int64_t *generation, char *msg);
cl_err sqlite_token_key(struct store *base, unsigned char key[TOKEN_KEY_LEN], char *msg);

#endif
