/* The PostgreSQL backend's users, connected apps and server-wide secrets:
 * the records that authentication and assignment read, apart from the
 * cases and the feed of store_pg.c. */
#include <inttypes.h>
#include <string.h>

#include "common/timeutil.h"
#include "store/store_pg.h"

#define USER_COLUMNS "id, username, email"
#define APP_COLUMNS  "id, client_id, name, scopes, secret_hash, generation, revoked, created_at"

static const struct pg_sql sql[PG_STMT_COUNT] = {
    [PG_USER_ADD] = {"INSERT INTO users (username, email, created_at)"
                     " VALUES ($1::text, $2::text, $3::bigint) RETURNING id",
                     false},
    [PG_USER_BY_NAME] = {"SELECT " USER_COLUMNS " FROM users WHERE username = $1::text", true},
    [PG_USER_BY_EMAIL] = {"SELECT " USER_COLUMNS " FROM users WHERE lower(email) = lower($1::text)",
                          true},
    [PG_USER_LIST] = {"SELECT " USER_COLUMNS " FROM users ORDER BY id", true},
    [PG_APP_INSERT] = {"INSERT INTO apps (client_id, name, scopes, secret_hash, generation,"
                       " revoked, created_at) VALUES ($1::text, $2::text, $3::integer,"
                       " $4::bytea, $5::bigint, $6::integer <> 0, $7::bigint) RETURNING id",
                       false},
    [PG_APP_GET] = {"SELECT " APP_COLUMNS " FROM apps WHERE client_id = $1::text", true},
    [PG_APP_LIST] = {"SELECT " APP_COLUMNS " FROM apps ORDER BY id", true},
    [PG_APP_REVOKE] = {"UPDATE apps SET revoked = true WHERE client_id = $1::text", false},
    /* One statement reads back the generation it wrote, so concurrent
     * rotations each report their own. */
    [PG_APP_ROTATE] = {"UPDATE apps SET secret_hash = $2::bytea, generation = generation + 1"
                       " WHERE client_id = $1::text AND NOT revoked RETURNING generation",
                       false},
    [PG_META_GET] = {"SELECT value FROM meta WHERE key = $1::text", true},
    [PG_META_PUT] = {"INSERT INTO meta (key, value) VALUES ($1::text, $2::bytea)"
                     " ON CONFLICT (key) DO NOTHING",
                     false},
};

static cl_err exec(struct pg_store *s, enum pg_stmt id, const struct pg_params *p, PGresult **out,
                   const char *what, char *msg)
{
    return pg_exec(s, id, &sql[id], p, out, what, msg);
}

static void param_text(struct pg_params *p, const char *s)
{
    pg_param_bytes(p, s, strlen(s));
}

/* ---- users --------------------------------------------------------------- */

static void read_user(const PGresult *r, int row, struct user_record *u)
{
    memset(u, 0, sizeof *u);
    u->id = pg_int(r, row, 0);
    pg_text(r, row, 1, u->username, sizeof u->username);
    pg_text(r, row, 2, u->email, sizeof u->email);
}

cl_err pg_user_add(struct store *base, struct user_record *u, char *msg)
{
    struct pg_store *s = pgs(base);
    struct pg_params p = {0};
    param_text(&p, u->username);
    param_text(&p, u->email);
    pg_param_int(&p, time_now());
    PGresult *res = NULL;
    cl_err err = exec(s, PG_USER_ADD, &p, &res, "adding a user", msg);
    if (err == CL_EEXIST) {
        /* The unique violation names its constraint, never the value. */
        bool email = strcmp(s->violated, "users_email") == 0;
        return cl_errf(msg, CL_EEXIST, "%s",
                       email ? "email already exists" : "username already exists");
    }
    if (!err)
        u->id = pg_int(res, 0, 0);
    PQclear(res);
    return err;
}

static cl_err find_user(struct pg_store *s, enum pg_stmt id, const char *key,
                        struct user_record *out, char *msg)
{
    struct pg_params p = {0};
    param_text(&p, key);
    PGresult *res = NULL;
    cl_err err = exec(s, id, &p, &res, "finding a user", msg);
    if (err)
        return err;
    if (PQntuples(res) > 0)
        read_user(res, 0, out);
    else
        err = CL_ENOTFOUND;
    PQclear(res);
    return err;
}

cl_err pg_user_find(struct store *base, const char *key, struct user_record *out, char *msg)
{
    struct pg_store *s = pgs(base);
    /* A username match wins over an email match, so that a username which
     * looks like someone else's email still finds its own user. */
    cl_err err = find_user(s, PG_USER_BY_NAME, key, out, msg);
    if (err == CL_ENOTFOUND)
        err = find_user(s, PG_USER_BY_EMAIL, key, out, msg);
    if (err == CL_ENOTFOUND)
        return cl_errf(msg, CL_ENOTFOUND, "no such user");
    return err;
}

cl_err pg_user_list(struct store *base, store_user_fn fn, void *ud, char *msg)
{
    struct pg_store *s = pgs(base);
    PGresult *res = NULL;
    cl_err err = exec(s, PG_USER_LIST, NULL, &res, "listing users", msg);
    if (err)
        return err;
    for (int i = 0; i < PQntuples(res) && !err; i++) {
        struct user_record u;
        read_user(res, i, &u);
        err = fn(ud, &u);
    }
    PQclear(res);
    return err;
}

/* ---- connected apps ------------------------------------------------------ */

static cl_err read_app(const PGresult *r, int row, struct app_record *a, char *msg)
{
    memset(a, 0, sizeof *a);
    a->id = pg_int(r, row, 0);
    pg_text(r, row, 1, a->client_id, sizeof a->client_id);
    pg_text(r, row, 2, a->name, sizeof a->name);
    a->scopes = (unsigned)pg_int(r, row, 3);
    if (!pg_bytes(r, row, 4, a->secret_hash, SECRET_HASH_LEN))
        return cl_errf(msg, CL_ESTORE, "app %" PRId64 " has a malformed secret hash", a->id);
    a->generation = pg_int(r, row, 5);
    a->revoked = PQgetvalue(r, row, 6)[0] == 't';
    a->created_at = pg_int(r, row, 7);
    return CL_OK;
}

cl_err pg_app_insert(struct store *base, struct app_record *app, char *msg)
{
    struct pg_store *s = pgs(base);
    struct pg_params p = {0};
    param_text(&p, app->client_id);
    param_text(&p, app->name);
    pg_param_int(&p, app->scopes);
    pg_param_bytes(&p, app->secret_hash, SECRET_HASH_LEN);
    pg_param_int(&p, app->generation);
    pg_param_int(&p, app->revoked ? 1 : 0);
    pg_param_int(&p, app->created_at);
    PGresult *res = NULL;
    cl_err err = exec(s, PG_APP_INSERT, &p, &res, "adding an app", msg);
    if (err == CL_EEXIST)
        return cl_errf(msg, CL_EEXIST, "client_id already exists");
    if (!err)
        app->id = pg_int(res, 0, 0);
    PQclear(res);
    return err;
}

cl_err pg_app_get(struct store *base, const char *client_id, struct app_record *out, char *msg)
{
    struct pg_store *s = pgs(base);
    struct pg_params p = {0};
    param_text(&p, client_id);
    PGresult *res = NULL;
    cl_err err = exec(s, PG_APP_GET, &p, &res, "loading an app", msg);
    if (err)
        return err;
    if (PQntuples(res) == 1)
        err = read_app(res, 0, out, msg);
    else
        err = cl_errf(msg, CL_ENOTFOUND, "no such app");
    PQclear(res);
    return err;
}

cl_err pg_app_list(struct store *base, store_app_fn fn, void *ud, char *msg)
{
    struct pg_store *s = pgs(base);
    PGresult *res = NULL;
    cl_err err = exec(s, PG_APP_LIST, NULL, &res, "listing apps", msg);
    if (err)
        return err;
    for (int i = 0; i < PQntuples(res) && !err; i++) {
        struct app_record a;
        err = read_app(res, i, &a, msg);
        if (!err)
            err = fn(ud, &a);
    }
    PQclear(res);
    return err;
}

cl_err pg_app_revoke(struct store *base, const char *client_id, char *msg)
{
    struct pg_store *s = pgs(base);
    struct pg_params p = {0};
    param_text(&p, client_id);
    PGresult *res = NULL;
    cl_err err = exec(s, PG_APP_REVOKE, &p, &res, "revoking an app", msg);
    if (err)
        return err;
    if (strcmp(PQcmdTuples(res), "0") == 0)
        err = cl_errf(msg, CL_ENOTFOUND, "no such app");
    PQclear(res);
    return err;
}

cl_err pg_app_rotate(struct store *base, const char *client_id,
                     const unsigned char hash[SECRET_HASH_LEN], int64_t *generation, char *msg)
{
    struct pg_store *s = pgs(base);
    struct pg_params p = {0};
    param_text(&p, client_id);
    pg_param_bytes(&p, hash, SECRET_HASH_LEN);
    PGresult *res = NULL;
    cl_err err = exec(s, PG_APP_ROTATE, &p, &res, "rotating an app's secret", msg);
    if (err)
        return err;
    if (PQntuples(res) == 1)
        *generation = pg_int(res, 0, 0);
    else
        err = cl_errf(msg, CL_ENOTFOUND, "no such app, or it is revoked");
    PQclear(res);
    return err;
}

/* ---- server-wide secrets ------------------------------------------------- */

static cl_err meta_get(struct pg_store *s, const char *key, unsigned char *out, size_t len,
                       bool *found, char *msg)
{
    struct pg_params p = {0};
    param_text(&p, key);
    PGresult *res = NULL;
    cl_err err = exec(s, PG_META_GET, &p, &res, "reading server settings", msg);
    if (err)
        return err;
    *found = PQntuples(res) == 1;
    if (*found && !pg_bytes(res, 0, 0, out, len))
        err = cl_errf(msg, CL_ESTORE, "the stored %s is malformed", key);
    PQclear(res);
    return err;
}

cl_err pg_token_key(struct store *base, unsigned char key[TOKEN_KEY_LEN], char *msg)
{
    struct pg_store *s = pgs(base);
    bool found;
    cl_err err = meta_get(s, "token_key", key, TOKEN_KEY_LEN, &found, msg);
    if (err || found)
        return err;

    /* First use. Several processes may get here at once: each offers its
     * own key, the first insert wins, and all read back the winner. */
    unsigned char fresh[TOKEN_KEY_LEN];
    err = store_random_bytes(fresh, sizeof fresh, msg);
    if (!err) {
        struct pg_params p = {0};
        param_text(&p, "token_key");
        pg_param_bytes(&p, fresh, sizeof fresh);
        PGresult *res = NULL;
        err = exec(s, PG_META_PUT, &p, &res, "storing the token key", msg);
        PQclear(res);
    }
    explicit_bzero(fresh, sizeof fresh);
    if (err)
        return err;
    err = meta_get(s, "token_key", key, TOKEN_KEY_LEN, &found, msg);
    if (!err && !found)
        err = cl_errf(msg, CL_ESTORE, "the token key vanished after it was stored");
    return err;
}
