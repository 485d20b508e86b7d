/* The app cache: a snapshot of every app's (id, generation, revoked), sorted
 * by id for binary search. Apps are few and change rarely, so reloading the
 * whole table every APP_CACHE_TTL_MS is cheaper than tracking changes. */
#include "auth/app_cache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define APP_CACHE_INITIAL 16

struct app_state {
    int64_t id;
    int64_t generation;
    bool revoked;
    char client_id[CLIENT_ID_LEN + 1]; /* for the access log */
};

struct app_cache {
    struct store *store; /* borrowed */
    struct app_state *apps;
    size_t n, cap;
    bool loaded;       /* whether apps holds a complete snapshot */
    int64_t loaded_ms; /* monotonic time of that snapshot */
};

struct app_cache *app_cache_new(struct store *s)
{
    struct app_cache *c = calloc(1, sizeof *c);
    if (c)
        c->store = s;
    return c;
}

void app_cache_free(struct app_cache **c)
{
    if (!c || !*c)
        return;
    free((*c)->apps);
    free(*c);
    *c = NULL;
}

/* store_app_list callback: appends one app's state, growing the array. */
static cl_err collect(void *ud, const struct app_record *a)
{
    struct app_cache *c = ud;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : APP_CACHE_INITIAL;
        struct app_state *p = realloc(c->apps, cap * sizeof *p);
        if (!p)
            return CL_ENOMEM;
        c->apps = p;
        c->cap = cap;
    }
    struct app_state *st = &c->apps[c->n++];
    *st = (struct app_state){a->id, a->generation, a->revoked, ""};
    memcpy(st->client_id, a->client_id, sizeof st->client_id);
    return CL_OK;
}

static int by_id(const void *a, const void *b)
{
    int64_t x = ((const struct app_state *)a)->id, y = ((const struct app_state *)b)->id;
    return (x > y) - (x < y);
}

static cl_err reload(struct app_cache *c, int64_t now_ms)
{
    char msg[CL_ERRMSG_MAX] = "";
    c->loaded = false;
    c->n = 0;
    cl_err err = store_app_list(c->store, collect, c, msg);
    if (err) {
        /* A half-read snapshot could accept a revoked app; drop it. */
        c->n = 0;
        log_warn("app cache: reload failed: %s: %s", cl_strerror(err), *msg ? msg : "-");
        return err;
    }
    /* The store lists in no promised order. */
    qsort(c->apps, c->n, sizeof *c->apps, by_id);
    c->loaded = true;
    c->loaded_ms = now_ms;
    return CL_OK;
}

static const struct app_state *find(const struct app_cache *c, int64_t id)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->apps[mid].id == id)
            return &c->apps[mid];
        if (c->apps[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

cl_err app_cache_check(struct app_cache *c, const struct token_claims *t, int64_t now_ms)
{
    bool fresh = false;
    if (!c->loaded || now_ms - c->loaded_ms >= APP_CACHE_TTL_MS) {
        cl_err err = reload(c, now_ms);
        if (err)
            return err;
        fresh = true;
    }
    const struct app_state *a = find(c, t->app_id);
    /* A validly signed token for an app the snapshot does not know, or for a
     * newer generation than it knows, was issued after the snapshot was
     * taken: reload once rather than reject a client that just got its
     * token. Only tokens we signed get here, so this cannot be forced at
     * will by a stranger. */
    if (!fresh && (!a || a->generation < t->generation)) {
        cl_err err = reload(c, now_ms);
        if (err)
            return err;
        a = find(c, t->app_id);
    }
    if (!a || a->revoked || a->generation != t->generation)
        return CL_EAUTH;
    return CL_OK;
}

const char *app_cache_client_id(const struct app_cache *c, int64_t app_id)
{
    const struct app_state *a = c->loaded ? find(c, app_id) : NULL;
    return a ? a->client_id : NULL;
}
