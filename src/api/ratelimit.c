/* GCRA over an open-addressing table of atomics. See ratelimit.h.
 *
 * Per key the state is tat, the time at which the bucket would be full
 * again. A request at now conforms when, after it, the bucket is still
 * within burst tokens of empty: max(tat, now) + interval - now <=
 * burst * interval. A conforming request moves tat forward by one interval;
 * a refused one changes nothing, so a client that keeps hammering does not
 * push its own recovery further away. */
#include "api/ratelimit.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define NS_PER_SEC 1000000000LL

struct slot {
    _Atomic int64_t key; /* 0: free */
    _Atomic int64_t tat; /* monotonic ns; 0: never used (a full bucket) */
};

struct ratelimit {
    int64_t interval_ns;  /* one token's worth of time */
    int64_t tolerance_ns; /* burst * interval_ns */
    atomic_flag warned_full;
    struct slot slots[RATELIMIT_MAX_KEYS];
};

bool ratelimit_parse(const char *s, struct ratelimit_rate *out)
{
    char *end = NULL;
    if (!s || *s < '0' || *s > '9')
        return false;
    unsigned long n = strtoul(s, &end, 10);
    if (n < 1 || n > RATELIMIT_MAX_COUNT || end[0] != '/' || !end[1] || end[2])
        return false;
    switch (end[1]) {
    case 's':
        out->period = 1;
        break;
    case 'm':
        out->period = 60;
        break;
    case 'h':
        out->period = 3600;
        break;
    default:
        return false;
    }
    out->count = (uint32_t)n;
    return true;
}

struct ratelimit *ratelimit_new(const struct ratelimit_rate *rate, uint32_t burst)
{
    if (!rate || rate->count < 1 || rate->count > RATELIMIT_MAX_COUNT || rate->period < 1 ||
        burst < 1 || burst > RATELIMIT_MAX_BURST)
        return NULL;
    struct ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    rl->interval_ns = (int64_t)rate->period * NS_PER_SEC / rate->count;
    if (rl->interval_ns < 1)
        rl->interval_ns = 1;
    rl->tolerance_ns = rl->interval_ns * (int64_t)burst;
    atomic_flag_clear(&rl->warned_full);
    for (size_t i = 0; i < RATELIMIT_MAX_KEYS; i++) {
        atomic_init(&rl->slots[i].key, 0);
        atomic_init(&rl->slots[i].tat, 0);
    }
    return rl;
}

void ratelimit_free(struct ratelimit **rl)
{
    if (!rl)
        return;
    free(*rl);
    *rl = NULL;
}

/* Finds the key's slot, claiming a free one the first time. Linear probing
 * from a multiplicative hash; a slot once claimed is never released, so a
 * lookup may stop at the first free slot. NULL when the table is full. */
static struct slot *find(struct ratelimit *rl, int64_t key)
{
    size_t h = (size_t)(((uint64_t)key * 0x9e3779b97f4a7c15ULL) >> 32) % RATELIMIT_MAX_KEYS;
    for (size_t i = 0; i < RATELIMIT_MAX_KEYS; i++) {
        struct slot *s = &rl->slots[(h + i) % RATELIMIT_MAX_KEYS];
        int64_t k = atomic_load_explicit(&s->key, memory_order_acquire);
        if (k == key)
            return s;
        if (k == 0) {
            int64_t expected = 0;
            if (atomic_compare_exchange_strong_explicit(
                    &s->key, &expected, key, memory_order_acq_rel, memory_order_acquire) ||
                expected == key)
                return s;
        }
    }
    return NULL;
}

bool ratelimit_take(struct ratelimit *rl, int64_t key, int64_t now_ns, int64_t *retry_after_ns)
{
    *retry_after_ns = 0;
    struct slot *s = key > 0 ? find(rl, key) : NULL;
    if (!s) {
        if (key > 0 && !atomic_flag_test_and_set(&rl->warned_full))
            log_warn("rate limit: more than %d apps; the others are not limited",
                     RATELIMIT_MAX_KEYS);
        return true;
    }
    int64_t tat = atomic_load_explicit(&s->tat, memory_order_relaxed);
    for (;;) {
        int64_t next = (tat > now_ns ? tat : now_ns) + rl->interval_ns;
        int64_t over = next - now_ns - rl->tolerance_ns;
        if (over > 0) {
            *retry_after_ns = over;
            return false;
        }
        /* On failure tat holds the value another thread stored: retry
         * with it, so that concurrent requests each take their own token. */
        if (atomic_compare_exchange_weak_explicit(&s->tat, &tat, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    }
}
