/* The storage interface: the only way handlers, commands and domain code reach
 * the database, and the only place SQL exists. One `struct store` is one
 * database connection: not thread-safe, so each worker thread opens its own.
 *
 * Backends: SQLite ("PATH" or "sqlite:PATH") and, later, PostgreSQL
 * ("postgres://..." or "postgresql://..."). Both run the same versioned
 * migrations on open.
 *
 * Errors: CL_ENOTFOUND and CL_EEXIST as documented per function; CL_EBUSY
 * when the database is locked or unreachable (callers answer 503);
 * CL_ESTORE for anything else. Details go into msg (CL_ERRMSG_MAX bytes,
 * may be NULL) and never contain secrets. */
#ifndef CL_STORE_STORE_H
#define CL_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cases/case.h"
#include "common/err.h"

#define STORE_SCHEMA_VERSION 2
#define APP_NAME_MAX         100
#define CLIENT_ID_LEN        32 /* lower-case hex characters */
#define SECRET_HASH_LEN      32
#define TOKEN_KEY_LEN        32

struct store;

/* Opens (creating if needed) and migrates the database at url. On success
 * *out owns the connection; release it with store_close. */
cl_err store_open(const char *url, struct store **out, char *msg);

/* Writes url into out (cap bytes, truncating) as it may be shown in a log
 * or a message: a PostgreSQL URL's password, in its user-info part or as a
 * password= parameter, is replaced by "***". Returns out. */
#define STORE_URL_SHOWN_MAX 512
char *store_url_redact(const char *url, char *out, size_t cap);

/* Closes the connection and sets *s to NULL. NULL-safe. */
void store_close(struct store **s);

/* A cheap health check of the connection, for GET /healthz: the database
 * still answers a read, and (SQLite) its file has not been deleted or
 * replaced since it was opened, which would make every later write vanish.
 * CL_OK, or the error that a real request would meet. */
cl_err store_ping(struct store *s, char *msg);

/* ---- transactions ------------------------------------------------------
 * Writes to cases happen inside one write transaction that serializes all
 * writers of the database, so that seq values commit in increasing order.
 * store_tx_commit returns only once the transaction is durable. */
cl_err store_tx_begin(struct store *s, char *msg);
cl_err store_tx_commit(struct store *s, char *msg);
void store_tx_rollback(struct store *s); /* no-op outside a transaction */

/* ---- group durability ---------------------------------------------------
 * For the server's writer, which commits the writes of many requests one
 * transaction after another and acknowledges them only once they are
 * durable. After store_sync_defer(s), a commit on s returns as soon as its
 * changes are in the database's log: they survive the death of the
 * process, but not yet a power loss. store_sync(s) then makes durable
 * every commit on s that returned before the call. store_sync may run on
 * another thread while s goes on with the next transaction (it is the one
 * function of a store that may), so that the flush of one commit overlaps
 * the work of the next, and one flush serves every commit made before it.
 * Call store_sync from one thread at a time, and stop calling it before
 * store_close.
 *
 * A failed store_sync fails every later one (CL_EBUSY): what it was to
 * make durable may be lost, and so may be what follows. A backend whose
 * commit is durable by itself (PostgreSQL) does nothing in either. */
cl_err store_sync_defer(struct store *s, char *msg);
cl_err store_sync(struct store *s, char *msg);

/* ---- bulk writing -----------------------------------------------------
 * For a command that writes a great many cases in large transactions
 * (closeloop seed). Between store_bulk_begin and store_bulk_end this
 * connection, and no other, may trade memory for speed: the SQLite backend
 * keeps up to STORE_BULK_CACHE_KIB of pages in memory (instead of about
 * 2 MiB) so that the B-tree pages of recently written cases stay cached as
 * the database grows, and checkpoints its WAL less often. What is stored,
 * and how durable a commit is, do not change.
 *
 * One rule changes: in bulk mode store_case_put is no longer all-or-nothing
 * on its own. After a failed put the caller must roll the transaction back;
 * a backend may refuse to commit it (the SQLite backend then answers
 * CL_ESTORE and rolls it back), so half a put is never committed.
 *
 * Call both outside a transaction. A backend with nothing to tune may do
 * nothing. store_bulk_end restores the normal settings and returns the
 * extra memory; it is a no-op outside bulk mode. */
#define STORE_BULK_CACHE_KIB (64 * 1024)

cl_err store_bulk_begin(struct store *s, char *msg);
void store_bulk_end(struct store *s);

/* ---- cases ------------------------------------------------------------ */

/* Loads the case of survey response `number` (inside a transaction, for
 * update). CL_ENOTFOUND when there is none. */
cl_err store_case_get(struct store *s, int64_t number, struct case_record *out, char *msg);

/* Inserts (c->id == 0) or updates the case and appends ev to its history.
 * Assigns c->id on insert, and always a new c->seq greater than every seq
 * before it and c->updated_at = max(now, the newest updated_at so far), so
 * that updated_at never decreases along seq. Must run inside a transaction.
 * CL_EEXIST when inserting a number that has a case; CL_ENOTFOUND when
 * updating and no case has both c->id and c->number (a case's number never
 * changes). On failure nothing of the put is stored (but see bulk mode). */
cl_err store_case_put(struct store *s, struct case_record *c, const struct case_event *ev,
                      int64_t now, char *msg);

struct page_query {
    int64_t cursor;     /* cases with seq > cursor */
    unsigned limit;     /* 1..1000 */
    int64_t updated_lo; /* inclusive epoch second, or INT64_MIN for none */
    int64_t updated_hi; /* exclusive epoch second, or INT64_MAX for none */
};

/* Called once per case of a page, in seq order. A non-zero return stops the
 * fetch and is returned by store_page_fetch. */
typedef cl_err (*store_case_fn)(void *ud, const struct case_record *c);

/* Streams one page of the sync feed to fn. The cost is independent of the
 * cursor's depth and of the number of cases outside the window: because
 * updated_at never decreases along seq, the window is a contiguous seq range
 * found by two index probes. */
cl_err store_page_fetch(struct store *s, const struct page_query *q, store_case_fn fn, void *ud,
                        char *msg);

/* The number of cases, and the highest seq (0 when empty). */
cl_err store_case_stats(struct store *s, int64_t *count, int64_t *max_seq, char *msg);

/* The highest case number (number_customergauge) stored, or 0 when there are
 * no cases; one index probe. */
cl_err store_case_max_number(struct store *s, int64_t *max_number, char *msg);

/* Called once per event of a case's history. ev and ev->note are valid only
 * during the call. A non-zero return stops the walk and is returned by
 * store_case_history. */
typedef cl_err (*store_event_fn)(void *ud, const struct case_event *ev);

/* Streams the history of the case with id case_id (case_record.id, not its
 * number) to fn: every stored action, status change, note or assignment,
 * with its action time and server time, in the order they were stored.
 * Reads one consistent snapshot, inside or outside a transaction. A case
 * without events, or an unknown id, gives no calls and CL_OK. fn may call
 * other store functions on s, but not store_case_history. */
cl_err store_case_history(struct store *s, int64_t case_id, store_event_fn fn, void *ud, char *msg);

/* ---- users ------------------------------------------------------------ */

/* Inserts a user; sets u->id. CL_EEXIST (msg names the field) when the
 * username or email is taken. */
cl_err store_user_add(struct store *s, struct user_record *u, char *msg);

/* Finds a user whose username or email equals key. CL_ENOTFOUND otherwise. */
cl_err store_user_find(struct store *s, const char *key, struct user_record *out, char *msg);

typedef cl_err (*store_user_fn)(void *ud, const struct user_record *u);
cl_err store_user_list(struct store *s, store_user_fn fn, void *ud, char *msg);

/* ---- connected apps --------------------------------------------------- */

#define SCOPE_READ  1u
#define SCOPE_WRITE 2u

struct app_record {
    int64_t id;
    char client_id[CLIENT_ID_LEN + 1];
    char name[APP_NAME_MAX + 1];
    unsigned scopes; /* SCOPE_* bits */
    unsigned char secret_hash[SECRET_HASH_LEN];
    int64_t generation; /* bumped by rotate: older tokens die */
    bool revoked;
    int64_t created_at;
};

/* Inserts app (its id is set); CL_EEXIST if the client_id exists. */
cl_err store_app_insert(struct store *s, struct app_record *app, char *msg);

/* CL_ENOTFOUND when no app has this client_id. */
cl_err store_app_get(struct store *s, const char *client_id, struct app_record *out, char *msg);

typedef cl_err (*store_app_fn)(void *ud, const struct app_record *a);
cl_err store_app_list(struct store *s, store_app_fn fn, void *ud, char *msg);

/* Marks the app revoked. CL_ENOTFOUND when unknown. */
cl_err store_app_revoke(struct store *s, const char *client_id, char *msg);

/* Replaces the secret hash and increments the generation; sets
 * *generation to the new value. CL_ENOTFOUND when unknown or revoked. */
cl_err store_app_rotate(struct store *s, const char *client_id,
                        const unsigned char hash[SECRET_HASH_LEN], int64_t *generation, char *msg);

/* ---- server-wide secrets ---------------------------------------------- */

/* Returns the token signing key, creating it from the OS CSPRNG the first
 * time, atomically, so that every process on this database signs and
 * verifies with the same key. */
cl_err store_token_key(struct store *s, unsigned char key[TOKEN_KEY_LEN], char *msg);

#endif
