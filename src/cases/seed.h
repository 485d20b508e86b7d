/* Realistic data through the real write path: the cases `closeloop seed` and
 * `serve --demo` create are made by case_write_in_tx, so they obey exactly
 * the rules the HTTP writes obey. */
#ifndef CL_CASES_SEED_H
#define CL_CASES_SEED_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "store/store.h"

#define SEED_MAX_CASES 100000000LL
#define SEED_MAX_USERS 100000
#define SEED_MAX_DAYS  3650
/* Actions per transaction. Every commit writes each page it changed to the
 * WAL once, and the actions of a batch fall on the pages of the same few
 * tens of thousands of open cases, so larger batches write far less: at 1M
 * cases 20000 writes under a third of what 2000 did. Larger still barely helps,
 * and would hold the write lock longer than ~0.3 s against the server's
 * writers. */
#define SEED_BATCH     20000

struct seed_options {
    int64_t cases;     /* how many new cases */
    unsigned users;    /* users to create (or reuse) and assign cases to */
    unsigned days;     /* cases are created over the last `days` days */
    uint64_t rng_seed; /* same seed, same data (given the same clock) */
    int64_t now;       /* the end of the simulated period: normally time_now() */
    unsigned batch;    /* actions per transaction; 0 for SEED_BATCH. Never changes the data */
    /* Called now and then with the number of cases created so far; may be NULL. */
    void (*progress)(int64_t done, int64_t total, void *arg);
    void *progress_arg;
};

struct seed_stats {
    int64_t cases;   /* cases created */
    int64_t actions; /* writes applied (status changes, assignments, notes) */
};

/* Creates opts->cases cases numbered after the highest existing
 * number_customergauge: a mix of open, in-progress, closed and reopened
 * cases, most of them assigned, many with notes, their actions spread over
 * opts->days days and applied in time order with the simulated clock, so that
 * created_at, updated_at and the timers all vary realistically.
 * Errors come from the store (msg says what); the cases created until then
 * stay. */
cl_err seed_run(struct store *s, const struct seed_options *opts, struct seed_stats *stats,
                char *msg);

#endif
