/* The retry schedule: exponential backoff with jitter, Retry-After, and a
 * total deadline. Pure arithmetic on times the caller passes in, so the unit
 * tests can drive it without sleeping. */
#ifndef CL_CLIENT_RETRY_H
#define CL_CLIENT_RETRY_H

#include <stdint.h>

struct retry_policy {
    int64_t base_ms;     /* the first backoff ceiling */
    int64_t max_ms;      /* no backoff ceiling above this */
    int64_t deadline_ms; /* no attempt starts later than this after the first */
};

struct retry {
    struct retry_policy policy;
    int64_t start_ms;  /* monotonic time of the first attempt */
    unsigned attempts; /* failed attempts so far */
    uint64_t rng;      /* xorshift64 state; never 0 */
};

/* Starts a schedule for one request whose first attempt is at now_ms. The
 * seed makes the jitter reproducible in tests; 0 is replaced by a constant. */
void retry_start(struct retry *r, const struct retry_policy *p, int64_t now_ms, uint64_t seed);

/* The backoff ceiling before retry number `attempt` (0-based):
 * min(max_ms, base_ms * 2^attempt), without overflow. */
int64_t retry_ceiling(const struct retry_policy *p, unsigned attempt);

/* Records a failed attempt and returns how many milliseconds to wait before
 * the next one, or -1 to give up.
 *
 * The wait is "equal jitter": half the ceiling plus a random part of the
 * other half, so waits grow but clients spread out. A server's Retry-After
 * (retry_after_ms >= 0; -1 when absent) is a minimum. The wait is cut short
 * so that a last attempt starts at the deadline, except that a Retry-After
 * reaching past the deadline means give up now: retrying early would only
 * be refused again. Once the deadline has passed, always -1. */
int64_t retry_next(struct retry *r, int64_t now_ms, int64_t retry_after_ms);

/* Milliseconds left until the deadline (0 when it has passed). */
int64_t retry_remaining(const struct retry *r, int64_t now_ms);

#endif
