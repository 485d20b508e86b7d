/* The public store functions: choose a backend from the URL, then forward
 * every call through the connection's ops table. */
#include "store/store.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "store/store_impl.h"

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

cl_err store_random_bytes(void *buf, size_t n, char *msg)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return cl_errf(msg, CL_EIO, "getrandom: %s", strerror(errno));
        p += (size_t)got;
        n -= (size_t)got;
    }
    return CL_OK;
}

static bool is_pg_url(const char *url)
{
    return has_prefix(url, "postgres://") || has_prefix(url, "postgresql://");
}

/* Appends n bytes of src to out (of size cap) at *len, truncating. */
static void put(char *out, size_t cap, size_t *len, const char *src, size_t n)
{
    if (*len + 1 >= cap)
        return;
    if (n > cap - 1 - *len)
        n = cap - 1 - *len;
    memcpy(out + *len, src, n);
    *len += n;
    out[*len] = '\0';
}

char *store_url_redact(const char *url, char *out, size_t cap)
{
    size_t len = 0;
    if (!cap)
        return out;
    out[0] = '\0';
    if (!is_pg_url(url)) {
        put(out, cap, &len, url, strlen(url));
        return out;
    }
    /* postgres://user:password@host/db?password=...: the user info ends at
     * the last '@' before the path, and a password is what follows its ':'. */
    const char *rest = strstr(url, "://") + 3;
    put(out, cap, &len, url, (size_t)(rest - url));
    size_t authority = strcspn(rest, "/?");
    const char *at = NULL;
    for (const char *p = rest; p < rest + authority; p++)
        if (*p == '@')
            at = p;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (colon) {
            put(out, cap, &len, rest, (size_t)(colon - rest));
            put(out, cap, &len, ":***", 4);
            rest = at;
        }
    }
    /* Query parameters: each password=... value is hidden. */
    const char *q = strchr(rest, '?');
    if (!q) {
        put(out, cap, &len, rest, strlen(rest));
        return out;
    }
    put(out, cap, &len, rest, (size_t)(q - rest));
    for (const char *p = q; *p;) {
        size_t n = strcspn(p + 1, "&") + 1; /* "?key=value" or "&key=value" */
        if (strncmp(p + 1, "password=", 9) == 0) {
            put(out, cap, &len, p, 10);
            put(out, cap, &len, "***", 3);
        } else {
            put(out, cap, &len, p, n);
        }
        p += n;
    }
    return out;
}

cl_err store_open(const char *url, struct store **out, char *msg)
{
    *out = NULL;
    if (!url || !*url)
        return cl_errf(msg, CL_EINVAL, "empty database URL");
    /* The URL of a PostgreSQL database may hold a password, so it is never
     * echoed back in a message. */
    if (is_pg_url(url))
        return store_pg_open(url, out, msg);
    const char *path = has_prefix(url, "sqlite:") ? url + strlen("sqlite:") : url;
    if (!*path)
        return cl_errf(msg, CL_EINVAL, "empty SQLite database path");
    return store_sqlite_open(path, out, msg);
}

void store_close(struct store **s)
{
    if (!s || !*s)
        return;
    (*s)->ops->close(*s);
    *s = NULL;
}

cl_err store_ping(struct store *s, char *msg)
{
    return s->ops->ping ? s->ops->ping(s, msg) : CL_OK;
}

cl_err store_tx_begin(struct store *s, char *msg)
{
    return s->ops->tx_begin(s, msg);
}

cl_err store_tx_commit(struct store *s, char *msg)
{
    return s->ops->tx_commit(s, msg);
}

void store_tx_rollback(struct store *s)
{
    s->ops->tx_rollback(s);
}

cl_err store_sync_defer(struct store *s, char *msg)
{
    return s->ops->sync_defer ? s->ops->sync_defer(s, msg) : CL_OK;
}

cl_err store_sync(struct store *s, char *msg)
{
    return s->ops->sync ? s->ops->sync(s, msg) : CL_OK;
}

cl_err store_bulk_begin(struct store *s, char *msg)
{
    return s->ops->bulk_begin ? s->ops->bulk_begin(s, msg) : CL_OK;
}

void store_bulk_end(struct store *s)
{
    if (s->ops->bulk_end)
        s->ops->bulk_end(s);
}

cl_err store_case_get(struct store *s, int64_t number, struct case_record *out, char *msg)
{
    return s->ops->case_get(s, number, out, msg);
}

cl_err store_case_put(struct store *s, struct case_record *c, const struct case_event *ev,
                      int64_t now, char *msg)
{
    return s->ops->case_put(s, c, ev, now, msg);
}

cl_err store_page_fetch(struct store *s, const struct page_query *q, store_case_fn fn, void *ud,
                        char *msg)
{
    return s->ops->page_fetch(s, q, fn, ud, msg);
}

cl_err store_case_stats(struct store *s, int64_t *count, int64_t *max_seq, char *msg)
{
    return s->ops->case_stats(s, count, max_seq, msg);
}

cl_err store_case_max_number(struct store *s, int64_t *max_number, char *msg)
{
    return s->ops->case_max_number(s, max_number, msg);
}

cl_err store_case_history(struct store *s, int64_t case_id, store_event_fn fn, void *ud, char *msg)
{
    return s->ops->case_history(s, case_id, fn, ud, msg);
}

cl_err store_user_add(struct store *s, struct user_record *u, char *msg)
{
    return s->ops->user_add(s, u, msg);
}

cl_err store_user_find(struct store *s, const char *key, struct user_record *out, char *msg)
{
    return s->ops->user_find(s, key, out, msg);
}

cl_err store_user_list(struct store *s, store_user_fn fn, void *ud, char *msg)
{
    return s->ops->user_list(s, fn, ud, msg);
}

cl_err store_app_insert(struct store *s, struct app_record *app, char *msg)
{
    return s->ops->app_insert(s, app, msg);
}

cl_err store_app_get(struct store *s, const char *client_id, struct app_record *out, char *msg)
{
    return s->ops->app_get(s, client_id, out, msg);
}

cl_err store_app_list(struct store *s, store_app_fn fn, void *ud, char *msg)
{
    return s->ops->app_list(s, fn, ud, msg);
}

cl_err store_app_revoke(struct store *s, const char *client_id, char *msg)
{
    return s->ops->app_revoke(s, client_id, msg);
}

cl_err store_app_rotate(struct store *s, const char *client_id,
                        const unsigned char hash[SECRET_HASH_LEN], int64_t *generation, char *msg)
{
    return s->ops->app_rotate(s, client_id, hash, generation, msg);
}

cl_err store_token_key(struct store *s, unsigned char key[TOKEN_KEY_LEN], char *msg)
{
    return s->ops->token_key(s, key, msg);
}

cl_err store_schema_version(struct store *s, int64_t *version, char *msg)
{
    if (!s->ops->schema_version)
        return cl_errf(msg, CL_EINVAL, "the %s store cannot report its schema version",
                       s->ops->name);
    return s->ops->schema_version(s, version, msg);
}

cl_err store_page_plan(struct store *s, void (*fn)(void *ud, const char *step), void *ud, char *msg)
{
    if (!s->ops->page_plan)
        return cl_errf(msg, CL_EINVAL, "the %s store cannot explain its queries", s->ops->name);
    return s->ops->page_plan(s, fn, ud, msg);
}
