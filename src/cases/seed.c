#include "cases/seed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases/service.h"

#define MAX_STEPS 8
#define HOUR      3600

/* One planned action of a case: what happens, and when. */
struct step {
    int64_t at;
    enum case_action_kind kind;
    enum case_status status;
    int8_t note; /* index into notes[], or -1 */
};

/* A case whose later actions are still to come, ordered in a min-heap by the
 * time of its next step so that all actions are applied in time order. */
struct pending {
    int64_t number;
    unsigned user;
    unsigned nsteps, next;
    struct step steps[MAX_STEPS];
};

/* The heap orders small keys, the time of a case's next step and where the
 * case waits in the pool, rather than the cases themselves: a sift then
 * moves 16 bytes a level instead of a whole case, and the keys of the tens
 * of thousands of open cases stay in the CPU's caches. */
struct heap_key {
    int64_t at;
    uint32_t slot;
};

struct heap {
    struct heap_key *k;
    size_t n, cap;
    struct pending *pool; /* cap slots */
    uint32_t *free;       /* the unused slots of pool, nfree of them */
    size_t nfree;
};

static const char *const first_names[] = {"john",  "jane", "maria", "li",     "ahmed", "olga",
                                          "pedro", "emma", "kenji", "fatima", "lucas", "nora"};
static const char *const last_names[] = {"doe",   "smith", "garcia", "chen", "khan",
                                         "novak", "silva", "jensen", "sato", "haddad"};
static const char *const notes[] = {
    "Called the customer; they will send details by email.",
    "Customer unhappy with delivery time. Escalated to logistics.",
    "Refund issued, waiting for confirmation.",
    "Left a voicemail, will try again tomorrow.",
    "Issue resolved on the phone; customer satisfied.",
    "Product defect confirmed, replacement shipped.",
    "Customer asked for a callback next week.",
    "Follow-up survey sent after the fix.",
};
#define NNOTES ((int)(sizeof notes / sizeof notes[0]))

/* splitmix64: tiny, fast, and good enough for plausible demo data. */
static uint64_t rnd(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int64_t between(uint64_t *st, int64_t lo, int64_t hi)
{
    return hi <= lo ? lo : lo + (int64_t)(rnd(st) % (uint64_t)(hi - lo + 1));
}

static int8_t maybe_note(uint64_t *st, unsigned percent)
{
    return rnd(st) % 100 < percent ? (int8_t)(rnd(st) % NNOTES) : -1;
}

static void add_step(struct pending *p, int64_t at, enum case_action_kind kind,
                     enum case_status status, int8_t note)
{
    if (p->nsteps < MAX_STEPS)
        p->steps[p->nsteps++] = (struct step){at, kind, status, note};
}

/* Puts p's steps in time order. The assignment is drawn independently of
 * the status changes and may fall after them; the steps must still happen
 * in time order, or the simulated clock would run back. Insertion sort,
 * stable, because there are at most MAX_STEPS. */
static void sort_steps(struct pending *p)
{
    for (unsigned i = 1; i < p->nsteps; i++) {
        struct step v = p->steps[i];
        unsigned j = i;
        for (; j > 0 && p->steps[j - 1].at > v.at; j--)
            p->steps[j] = p->steps[j - 1];
        p->steps[j] = v;
    }
}

/* Draws the steps of one case created at t0, in the order of its story. */
static void plan_steps(struct pending *p, int64_t t0, unsigned users, uint64_t *st)
{
    add_step(p, t0, ACTION_STATUS, CASE_OPEN, maybe_note(st, 30));
    if (users && rnd(st) % 100 < 85) {
        p->user = (unsigned)(rnd(st) % users);
        add_step(p, t0 + between(st, 60, 4 * HOUR), ACTION_ASSIGN, CASE_OPEN, -1);
    }
    unsigned fate = (unsigned)(rnd(st) % 100);
    int64_t t = t0 + between(st, 5 * 60, 96 * HOUR);
    if (fate < 30) {
        if (rnd(st) % 100 < 40)
            add_step(p, t, ACTION_COMMENT, CASE_OPEN, (int8_t)(rnd(st) % NNOTES));
        return;
    }
    bool straight_to_closed = fate >= 55 && rnd(st) % 100 < 15;
    if (!straight_to_closed)
        add_step(p, t, ACTION_STATUS, CASE_PROGRESS, maybe_note(st, 50));
    if (fate < 55)
        return;
    t += between(st, HOUR, 400 * HOUR);
    add_step(p, t, ACTION_STATUS, CASE_CLOSED, maybe_note(st, 60));
    if (fate < 85)
        return;
    t += between(st, HOUR, 200 * HOUR);
    add_step(p, t, ACTION_STATUS, CASE_OPEN, maybe_note(st, 80));
    if (rnd(st) % 2) {
        t += between(st, 10 * 60, 48 * HOUR);
        add_step(p, t, ACTION_STATUS, CASE_PROGRESS, maybe_note(st, 50));
    }
}

/* Plans the life of one case created at t0: it ends open (30%), in progress
 * (25%), closed (30%) or reopened after closing (15%). */
static void plan_case(struct pending *p, int64_t t0, unsigned users, uint64_t *st)
{
    p->nsteps = p->next = 0;
    plan_steps(p, t0, users, st);
    sort_steps(p);
}

static int64_t next_at(const struct pending *p)
{
    return p->steps[p->next].at;
}

/* Doubles the heap's room; every slot of the new half is free. */
static cl_err heap_grow(struct heap *h)
{
    size_t cap = h->cap ? h->cap * 2 : 1024;
    if (cap > UINT32_MAX)
        return CL_ENOMEM;
    struct heap_key *k = realloc(h->k, cap * sizeof *k);
    if (!k)
        return CL_ENOMEM;
    h->k = k;
    struct pending *pool = realloc(h->pool, cap * sizeof *pool);
    if (!pool)
        return CL_ENOMEM;
    h->pool = pool;
    uint32_t *free_slots = realloc(h->free, cap * sizeof *free_slots);
    if (!free_slots)
        return CL_ENOMEM;
    h->free = free_slots;
    for (size_t i = cap; i > h->cap; i--)
        h->free[h->nfree++] = (uint32_t)(i - 1);
    h->cap = cap;
    return CL_OK;
}

static void heap_free(struct heap *h)
{
    free(h->k);
    free(h->pool);
    free(h->free);
}

/* The time of the earliest pending step; the heap must not be empty. */
static int64_t heap_top_at(const struct heap *h)
{
    return h->k[0].at;
}

static cl_err heap_push(struct heap *h, const struct pending *p)
{
    if (h->n == h->cap) {
        cl_err err = heap_grow(h);
        if (err)
            return err;
    }
    uint32_t slot = h->free[--h->nfree];
    h->pool[slot] = *p;
    size_t i = h->n++;
    h->k[i] = (struct heap_key){next_at(p), slot};
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (h->k[up].at <= h->k[i].at)
            break;
        struct heap_key tmp = h->k[up];
        h->k[up] = h->k[i];
        h->k[i] = tmp;
        i = up;
    }
    return CL_OK;
}

/* Removes the top of the heap into *out. */
static void heap_pop(struct heap *h, struct pending *out)
{
    uint32_t slot = h->k[0].slot;
    *out = h->pool[slot];
    h->free[h->nfree++] = slot;
    h->k[0] = h->k[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->k[l].at < h->k[m].at)
            m = l;
        if (r < h->n && h->k[r].at < h->k[m].at)
            m = r;
        if (m == i)
            break;
        struct heap_key tmp = h->k[m];
        h->k[m] = h->k[i];
        h->k[i] = tmp;
        i = m;
    }
}

static void user_name(unsigned i, char *username, size_t ulen, char *email, size_t elen)
{
    const unsigned nf = sizeof first_names / sizeof first_names[0];
    const unsigned nl = sizeof last_names / sizeof last_names[0];
    const char *f = first_names[i % nf], *l = last_names[(i / nf) % nl];
    unsigned round = i / (nf * nl);
    if (round) {
        snprintf(username, ulen, "%s%s%u", f, l, round + 1);
        snprintf(email, elen, "%s.%s%u@example.com", f, l, round + 1);
    } else {
        snprintf(username, ulen, "%s%s", f, l);
        snprintf(email, elen, "%s.%s@example.com", f, l);
    }
}

/* Makes sure users 0..n-1 exist, reusing those a previous run created. */
static cl_err ensure_users(struct store *s, unsigned n, char *msg)
{
    for (unsigned i = 0; i < n; i++) {
        struct user_record u = {0};
        user_name(i, u.username, sizeof u.username, u.email, sizeof u.email);
        struct user_record found;
        cl_err err = store_user_find(s, u.username, &found, msg);
        if (err == CL_ENOTFOUND)
            err = store_user_add(s, &u, msg);
        if (err)
            return err;
    }
    return CL_OK;
}

/* Applies the next step of p through the one write path, with the clock
 * standing at the step's time. */
static cl_err apply_step(struct store *s, const struct pending *p, struct seed_stats *stats,
                         char *msg)
{
    const struct step *st = &p->steps[p->next];
    char username[USER_NAME_MAX + 1], email[USER_EMAIL_MAX + 1];
    struct case_action a = {.kind = st->kind, .number = p->number, .status = st->status};
    if (st->note >= 0) {
        a.note = notes[st->note];
        a.note_len = strlen(a.note);
    }
    if (st->kind == ACTION_ASSIGN) {
        user_name(p->user, username, sizeof username, email, sizeof email);
        a.assignee = username;
    }
    struct case_record out;
    enum case_outcome outcome;
    const char *field = NULL;
    cl_err err = case_write_in_tx(s, &a, st->at, &out, &outcome, &field, msg);
    if (err)
        return err;
    stats->actions++;
    return CL_OK;
}

cl_err seed_run(struct store *s, const struct seed_options *opts, struct seed_stats *stats,
                char *msg)
{
    struct heap h = {0};
    struct pending p;
    uint64_t st = opts->rng_seed ? opts->rng_seed : 0x5eedULL;
    int64_t span = (int64_t)opts->days * 86400, start = opts->now - span;
    int64_t first_number, created = 0, in_batch = 0;
    const int64_t batch = opts->batch ? opts->batch : SEED_BATCH;
    bool in_tx = false;
    cl_err err;

    memset(stats, 0, sizeof *stats);
    if (opts->cases < 0 || opts->cases > SEED_MAX_CASES || opts->users > SEED_MAX_USERS ||
        opts->days > SEED_MAX_DAYS)
        return cl_errf(msg, CL_EINVAL, "seed options out of range");
    if ((err = store_case_max_number(s, &first_number, msg)))
        return err;
    first_number++;
    /* Bulk mode keeps the pages of the open cases cached however large the
     * database grows; seed_run rolls back on any error, as it requires. */
    if ((err = store_bulk_begin(s, msg)))
        return err;
    if ((err = store_tx_begin(s, msg)))
        goto out;
    in_tx = true;
    if ((err = ensure_users(s, opts->users, msg)))
        goto out;

    /* Cases are created in time order; each creation first lets every earlier
     * pending action of older cases happen, so the clock never runs back. */
    while (created < opts->cases || h.n > 0) {
        int64_t t0 = INT64_MAX;
        if (created < opts->cases)
            t0 = start + (opts->cases > 1 ? span * created / (opts->cases - 1) : span);
        if (h.n > 0 && heap_top_at(&h) < t0) {
            heap_pop(&h, &p);
        } else {
            p.number = first_number + created++;
            p.user = 0;
            plan_case(&p, t0, opts->users, &st);
        }
        if ((err = apply_step(s, &p, stats, msg)))
            goto out;
        if (p.next == 0)
            stats->cases++;
        p.next++;
        if (p.next < p.nsteps && next_at(&p) <= opts->now && (err = heap_push(&h, &p)))
            goto out;
        if (++in_batch >= batch) {
            if ((err = store_tx_commit(s, msg)))
                goto out;
            in_tx = false;
            in_batch = 0;
            if (opts->progress)
                opts->progress(created, opts->cases, opts->progress_arg);
            if ((err = store_tx_begin(s, msg)))
                goto out;
            in_tx = true;
        }
    }
    /* A failed COMMIT (a lock that outlived the busy timeout) leaves the
     * transaction open, so only a successful one ends it here. */
    err = store_tx_commit(s, msg);
    if (!err)
        in_tx = false;
    if (!err && opts->progress)
        opts->progress(created, opts->cases, opts->progress_arg);
out:
    if (in_tx)
        store_tx_rollback(s);
    store_bulk_end(s);
    heap_free(&h);
    return err;
}
