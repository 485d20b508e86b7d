/* The SQLite backend's users, connected apps and server-wide secrets: the
 * records that authentication and assignment read, apart from the cases and
 * the feed of store_sqlite.c. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/timeutil.h"
#include "store/store_sqlite.h"

#define USER_COLUMNS "id, username, email"
#define APP_COLUMNS  "id, client_id, name, scopes, secret_hash, generation, revoked, created_at"

/* The SQL of this file's statement slots. */
static const char *const sql[ST_COUNT] = {
    [ST_USER_ADD] = "INSERT INTO users (username, email, created_at) VALUES (?1, ?2, ?3)",
    [ST_USER_BY_NAME] = "SELECT " USER_COLUMNS " FROM users WHERE username = ?1",
    [ST_USER_BY_EMAIL] = "SELECT " USER_COLUMNS " FROM users WHERE email = ?1",
    [ST_USER_LIST] = "SELECT " USER_COLUMNS " FROM users ORDER BY id",
    [ST_APP_INSERT] = "INSERT INTO apps (client_id, name, scopes, secret_hash, generation,"
                      " revoked, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_APP_GET] = "SELECT " APP_COLUMNS " FROM apps WHERE client_id = ?1",
    [ST_APP_LIST] = "SELECT " APP_COLUMNS " FROM apps ORDER BY id",
    [ST_APP_REVOKE] = "UPDATE apps SET revoked = 1 WHERE client_id = ?1",
    [ST_APP_ROTATE] = "UPDATE apps SET secret_hash = ?2, generation = generation + 1"
                      " WHERE client_id = ?1 AND revoked = 0 RETURNING generation",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_PUT] = "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
};

/* This file's statements: the slot, with its SQL from the table above. */
static cl_err stmt(struct sqlite_store *s, enum stmt id, sqlite3_stmt **out, char *msg)
{
    return sqlite_stmt(s, id, sql[id], out, msg);
}

/* ---- users --------------------------------------------------------------- */

static void read_user(sqlite3_stmt *st, struct user_record *u)
{
    memset(u, 0, sizeof *u);
    u->id = sqlite3_column_int64(st, 0);
    sqlite_column_text(st, 1, u->username, sizeof u->username);
    sqlite_column_text(st, 2, u->email, sizeof u->email);
}

cl_err sqlite_user_add(struct store *base, struct user_record *u, char *msg)
{
    struct sqlite_store *s = sq(base);
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_USER_ADD, &st, msg);
    if (err)
        return err;
    sqlite3_bind_text(st, 1, u->username, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, u->email, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, time_now());
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        u->id = sqlite3_last_insert_rowid(s->db);
    } else if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        /* SQLite names the violated column: "UNIQUE constraint failed: users.email". */
        bool email = strstr(sqlite3_errmsg(s->db), "users.email") != NULL;
        err = cl_errf(msg, CL_EEXIST, "%s",
                      email ? "email already exists" : "username already exists");
    } else {
        err = sqlite_error(s->db, rc, "adding a user", msg);
    }
    sqlite_done(st);
    return err;
}

static cl_err find_user(struct sqlite_store *s, enum stmt id, const char *key,
                        struct user_record *out, char *msg)
{
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, id, &st, msg);
    if (err)
        return err;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        read_user(st, out);
    else if (rc == SQLITE_DONE)
        err = CL_ENOTFOUND;
    else
        err = sqlite_error(s->db, rc, "finding a user", msg);
    sqlite_done(st);
    return err;
}

cl_err sqlite_user_find(struct store *base, const char *key, struct user_record *out, char *msg)
{
    struct sqlite_store *s = sq(base);
    /* A username match wins over an email match, so that a username which
     * looks like someone else's email still finds its own user. */
    cl_err err = find_user(s, ST_USER_BY_NAME, key, out, msg);
    if (err == CL_ENOTFOUND)
        err = find_user(s, ST_USER_BY_EMAIL, key, out, msg);
    if (err == CL_ENOTFOUND)
        return cl_errf(msg, CL_ENOTFOUND, "no such user");
    return err;
}

cl_err sqlite_user_list(struct store *base, store_user_fn fn, void *ud, char *msg)
{
    struct sqlite_store *s = sq(base);
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_USER_LIST, &st, msg);
    if (err)
        return err;
    int rc = SQLITE_DONE;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct user_record u;
        read_user(st, &u);
        err = fn(ud, &u);
    }
    if (!err && rc != SQLITE_DONE)
        err = sqlite_error(s->db, rc, "listing users", msg);
    sqlite_done(st);
    return err;
}

/* ---- connected apps ------------------------------------------------------ */

static cl_err read_app(sqlite3_stmt *st, struct app_record *a, char *msg)
{
    memset(a, 0, sizeof *a);
    a->id = sqlite3_column_int64(st, 0);
    sqlite_column_text(st, 1, a->client_id, sizeof a->client_id);
    sqlite_column_text(st, 2, a->name, sizeof a->name);
    a->scopes = (unsigned)sqlite3_column_int(st, 3);
    const void *hash = sqlite3_column_blob(st, 4);
    if (!hash || sqlite3_column_bytes(st, 4) != SECRET_HASH_LEN)
        return cl_errf(msg, CL_ESTORE, "app %lld has a malformed secret hash", (long long)a->id);
    memcpy(a->secret_hash, hash, SECRET_HASH_LEN);
    a->generation = sqlite3_column_int64(st, 5);
    a->revoked = sqlite3_column_int(st, 6) != 0;
    a->created_at = sqlite3_column_int64(st, 7);
    return CL_OK;
}

cl_err sqlite_app_insert(struct store *base, struct app_record *app, char *msg)
{
    struct sqlite_store *s = sq(base);
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_APP_INSERT, &st, msg);
    if (err)
        return err;
    sqlite3_bind_text(st, 1, app->client_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, app->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, app->scopes);
    sqlite3_bind_blob(st, 4, app->secret_hash, SECRET_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, app->generation);
    sqlite3_bind_int(st, 6, app->revoked ? 1 : 0);
    sqlite3_bind_int64(st, 7, app->created_at);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        app->id = sqlite3_last_insert_rowid(s->db);
    else if (rc == SQLITE_CONSTRAINT_UNIQUE)
        err = cl_errf(msg, CL_EEXIST, "client_id already exists");
    else
        err = sqlite_error(s->db, rc, "adding an app", msg);
    sqlite_done(st);
    return err;
}

cl_err sqlite_app_get(struct store *base, const char *client_id, struct app_record *out, char *msg)
{
    struct sqlite_store *s = sq(base);
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_APP_GET, &st, msg);
    if (err)
        return err;
    sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        err = read_app(st, out, msg);
    else if (rc == SQLITE_DONE)
        err = cl_errf(msg, CL_ENOTFOUND, "no such app");
    else
        err = sqlite_error(s->db, rc, "loading an app", msg);
    sqlite_done(st);
    return err;
}

cl_err sqlite_app_list(struct store *base, store_app_fn fn, void *ud, char *msg)
{
    struct sqlite_store *s = sq(base);
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_APP_LIST, &st, msg);
    if (err)
        return err;
    int rc = SQLITE_DONE;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct app_record a;
        err = read_app(st, &a, msg);
        if (!err)
            err = fn(ud, &a);
    }
    if (!err && rc != SQLITE_DONE)
        err = sqlite_error(s->db, rc, "listing apps", msg);
    sqlite_done(st);
    return err;
}

cl_err sqlite_app_revoke(struct store *base, const char *client_id, char *msg)
{
    struct sqlite_store *s = sq(base);
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_APP_REVOKE, &st, msg);
    if (err)
        return err;
    sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        err = sqlite_error(s->db, rc, "revoking an app", msg);
    else if (sqlite3_changes(s->db) == 0)
        err = cl_errf(msg, CL_ENOTFOUND, "no such app");
    sqlite_done(st);
    return err;
}

cl_err sqlite_app_rotate(struct store *base, const char *client_id,
                         const unsigned char hash[SECRET_HASH_LEN], int64_t *generation, char *msg)
{
    struct sqlite_store *s = sq(base);
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_APP_ROTATE, &st, msg);
    if (err)
        return err;
    sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, hash, SECRET_HASH_LEN, SQLITE_STATIC);
    /* One statement reads back the generation it wrote, so concurrent
     * rotations each report their own. */
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *generation = sqlite3_column_int64(st, 0);
        rc = sqlite3_step(st);
    } else if (rc == SQLITE_DONE) {
        err = cl_errf(msg, CL_ENOTFOUND, "no such app, or it is revoked");
    }
    if (!err && rc != SQLITE_DONE)
        err = sqlite_error(s->db, rc, "rotating an app's secret", msg);
    sqlite_done(st);
    return err;
}

/* ---- server-wide secrets ------------------------------------------------- */

static cl_err meta_get(struct sqlite_store *s, const char *key, void *out, size_t len, bool *found,
                       char *msg)
{
    sqlite3_stmt *st = NULL;
    cl_err err = stmt(s, ST_META_GET, &st, msg);
    if (err)
        return err;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    *found = false;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(st, 0);
        if (!p || (size_t)sqlite3_column_bytes(st, 0) != len) {
            err = cl_errf(msg, CL_ESTORE, "the stored %s is malformed", key);
        } else {
            memcpy(out, p, len);
            *found = true;
        }
    } else if (rc != SQLITE_DONE) {
        err = sqlite_error(s->db, rc, "reading server settings", msg);
    }
    sqlite_done(st);
    return err;
}

cl_err sqlite_token_key(struct store *base, unsigned char key[TOKEN_KEY_LEN], char *msg)
{
    struct sqlite_store *s = sq(base);
    bool found;
    cl_err err = meta_get(s, "token_key", key, TOKEN_KEY_LEN, &found, msg);
    if (err || found)
        return err;

    /* First use. Several processes may get here at once: each offers its
     * own key, the first insert wins, and all read back the winner. */
    unsigned char fresh[TOKEN_KEY_LEN];
    err = store_random_bytes(fresh, sizeof fresh, msg);
    sqlite3_stmt *st = NULL;
    if (!err)
        err = stmt(s, ST_META_PUT, &st, msg);
    if (!err) {
        sqlite3_bind_text(st, 1, "token_key", -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, fresh, sizeof fresh, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            err = sqlite_error(s->db, rc, "storing the token key", msg);
        sqlite_done(st);
    }
    explicit_bzero(fresh, sizeof fresh);
    if (err)
        return err;
    err = meta_get(s, "token_key", key, TOKEN_KEY_LEN, &found, msg);
    if (!err && !found)
        err = cl_errf(msg, CL_ESTORE, "the token key vanished after it was stored");
    return err;
}
