/* What the files of the PostgreSQL backend share: the connection struct,
 * the slots of its prepared statements, query parameters, and the helpers
 * that run statements and read their results. store_pg.c holds the
 * connection, transactions, cases and the feed; store_pg_auth.c holds
 * users, apps and the token key; migrate_pg.c the schema. Private to
 * src/store.
 *
 * Every statement is sent with the extended protocol as a named prepared
 * statement, prepared on the connection the first time it is used, with
 * text results. Parameters are typed in the SQL ($1::bigint), so that a
 * statement's plan never depends on guessed types. */
#ifndef CL_STORE_STORE_PG_H
#define CL_STORE_STORE_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "store/store_impl.h"

/* A connection that failed is not dialled again sooner than this, so that
 * while the database is down a request is answered 503 at once rather than
 * after another connection attempt. */
#define PG_RECONNECT_MS 500

/* How long one connection attempt may take (libpq's connect_timeout, in
 * seconds) when the URL does not say. */
#define PG_CONNECT_TIMEOUT_S "5"

/* No statement may run longer than this; a page or a write takes
 * milliseconds, so one that takes longer is stuck, not slow. */
#define PG_STATEMENT_TIMEOUT_MS 30000

enum pg_stmt {
    /* store_pg.c */
    PG_CASE_GET,
    PG_CASE_INSERT,
    PG_CASE_UPDATE,
    PG_EVENT_LIST,
    PG_PAGE,
    PG_STATS,
    PG_MAX_NUMBER,
    PG_PING,
    PG_SCHEMA_VERSION,
    /* store_pg_auth.c */
    PG_USER_ADD,
    PG_USER_BY_NAME,
    PG_USER_BY_EMAIL,
    PG_USER_LIST,
    PG_APP_INSERT,
    PG_APP_GET,
    PG_APP_LIST,
    PG_APP_REVOKE,
    PG_APP_ROTATE,
    PG_META_GET,
    PG_META_PUT,
    PG_STMT_COUNT
};

/* One statement slot: its SQL, and whether it only reads, which makes it
 * safe to send again on a new connection when the old one turned out to be
 * dead (a write might have committed before the connection died). */
struct pg_sql {
    const char *text;
    bool read_only;
};

struct pg_store {
    struct store base; /* first, so a struct store * points here */
    PGconn *conn;      /* NULL while disconnected */
    char *url;         /* owned; holds the password, if any: never logged */
    bool prepared[PG_STMT_COUNT];
    bool in_tx; /* between a successful tx_begin and its end */
    /* The feed counters, read under the feed row's lock by tx_begin and
     * advanced here by each put; tx_commit writes them back with the
     * COMMIT when a put changed them. */
    int64_t last_seq, last_updated_at;
    bool feed_dirty;
    int64_t next_connect_ms; /* monotonic: no reconnect attempt before this */
    /* The constraint that the last failed statement violated ("" if none),
     * so that a caller can say which unique field was taken. */
    char violated[64];
};

static inline struct pg_store *pgs(struct store *s)
{
    return (struct pg_store *)s;
}

/* The parameters of one statement. Integers are sent as text; strings and
 * byte strings in binary, with their length, so that neither needs a
 * terminating NUL or escaping. */
#define PG_PARAMS_MAX 16
#define PG_INT_TEXT   24 /* "-9223372036854775808" and a NUL */

struct pg_params {
    int n;
    const char *values[PG_PARAMS_MAX];
    int lengths[PG_PARAMS_MAX];
    int formats[PG_PARAMS_MAX];
    char ints[PG_PARAMS_MAX][PG_INT_TEXT];
};

void pg_param_int(struct pg_params *p, int64_t v);
void pg_param_null(struct pg_params *p);
/* An integer when present, else SQL NULL. */
void pg_param_opt(struct pg_params *p, bool present, int64_t v);
/* n bytes at data (borrowed until the statement has run), for a text or
 * bytea parameter. */
void pg_param_bytes(struct pg_params *p, const void *data, size_t n);

/* Runs statement slot id (whose SQL is sql, always the same for a slot)
 * with params p (may be NULL), reconnecting first if the connection is
 * down. On success *out holds the result (PGRES_TUPLES_OK or
 * PGRES_COMMAND_OK), which the caller frees with PQclear. On failure *out is
 * NULL and the error is mapped by pg_error, with `what` saying what was
 * being done. */
cl_err pg_exec(struct pg_store *s, enum pg_stmt id, const struct pg_sql *sql,
               const struct pg_params *p, PGresult **out, const char *what, char *msg);

/* Maps a failed result (res may be NULL) of s's connection to a cl_err and
 * a message starting with `what`: CL_EBUSY when the database is
 * unreachable, shutting down, out of disk, read-only, or a lock or
 * statement timed out (the service is unavailable but may recover);
 * CL_EEXIST for a unique violation (s->violated names the constraint);
 * CL_ESTORE otherwise. Messages are
 * PostgreSQL's primary message, which names objects but never the values
 * bound to a statement. */
cl_err pg_error(struct pg_store *s, const PGresult *res, const char *what, char *msg);

/* Column readers of a text-format result. */
int64_t pg_int(const PGresult *r, int row, int col);
bool pg_null(const PGresult *r, int row, int col);
/* Copies text column col into dst of size cap, truncating (never past
 * cap); NULL gives "". */
void pg_text(const PGresult *r, int row, int col, char *dst, size_t cap);
/* Decodes a bytea column (hex output) of exactly n bytes into out; false
 * when it is NULL, malformed or another length. */
bool pg_bytes(const PGresult *r, int row, int col, unsigned char *out, size_t n);

/* Brings the schema to STORE_SCHEMA_VERSION (migrate_pg.c). Several
 * processes opening a new database at once migrate it exactly once: the
 * steps run in one transaction under an advisory lock. Refuses (CL_ESTORE)
 * a database whose version is newer than this program knows. */
cl_err pg_migrate(PGconn *conn, char *msg);

/* The users, apps and token key operations of store_pg_auth.c, for the ops
 * table in store_pg.c; each has the contract of the store.h function of the
 * same name (store_ for pg_). */
cl_err pg_user_add(struct store *base, struct user_record *u, char *msg);
cl_err pg_user_find(struct store *base, const char *key, struct user_record *out, char *msg);
cl_err pg_user_list(struct store *base, store_user_fn fn, void *ud, char *msg);
cl_err pg_app_insert(struct store *base, struct app_record *app, char *msg);
cl_err pg_app_get(struct store *base, const char *client_id, struct app_record *out, char *msg);
cl_err pg_app_list(struct store *base, store_app_fn fn, void *ud, char *msg);
cl_err pg_app_revoke(struct store *base, const char *client_id, char *msg);
cl_err pg_app_rotate(struct store *base, const char *client_id,
                     const unsigned char hash[SECRET_HASH_LEN], int64_t *generation, char *msg);
cl_err pg_token_key(struct store *base, unsigned char key[TOKEN_KEY_LEN], char *msg);

#endif
