#include "client/retry.h"

void retry_start(struct retry *r, const struct retry_policy *p, int64_t now_ms, uint64_t seed)
{
    r->policy = *p;
    r->start_ms = now_ms;
    r->attempts = 0;
    r->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

int64_t retry_ceiling(const struct retry_policy *p, unsigned attempt)
{
    int64_t c = p->base_ms > 0 ? p->base_ms : 1;
    /* Doubling stops at max_ms, so the shift can never overflow. */
    for (unsigned i = 0; i < attempt && c < p->max_ms; i++)
        c *= 2;
    return c < p->max_ms ? c : p->max_ms;
}

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

int64_t retry_remaining(const struct retry *r, int64_t now_ms)
{
    int64_t left = r->start_ms + r->policy.deadline_ms - now_ms;
    return left > 0 ? left : 0;
}

int64_t retry_next(struct retry *r, int64_t now_ms, int64_t retry_after_ms)
{
    int64_t left = retry_remaining(r, now_ms);
    int64_t ceiling = retry_ceiling(&r->policy, r->attempts);
    r->attempts++;
    if (left <= 0)
        return -1;
    int64_t half = ceiling / 2;
    int64_t wait = ceiling - half + (int64_t)(xorshift64(&r->rng) % (uint64_t)(half + 1));
    if (retry_after_ms >= 0) {
        if (retry_after_ms > left)
            return -1;
        if (wait < retry_after_ms)
            wait = retry_after_ms;
    }
    return wait < left ? wait : left;
}
