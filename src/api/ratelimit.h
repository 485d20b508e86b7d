/* A per-key rate limiter shared by every worker thread of the process: a
 * token bucket of `burst` tokens refilled at `count` per `period`, kept as
 * the generic cell rate algorithm (GCRA), i.e. one "theoretical arrival
 * time" per key updated with a compare-and-swap. No lock, no background
 * refill, and exact: a key gets at most burst + rate * t requests in any
 * interval of length t, however many threads serve it.
 *
 * Keys are Connected App ids (> 0). The table holds RATELIMIT_MAX_KEYS keys
 * and never forgets one (apps are few and long-lived); a key that finds the
 * table full is not limited, and a warning is logged once. */
#ifndef CL_API_RATELIMIT_H
#define CL_API_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RATELIMIT_MAX_KEYS  8192
#define RATELIMIT_MAX_COUNT 1000000 /* requests per period */
#define RATELIMIT_MAX_BURST 1000000

/* A rate as the command line gives it: "N/s", "N/m" or "N/h". */
struct ratelimit_rate {
    uint32_t count;  /* 1..RATELIMIT_MAX_COUNT */
    uint32_t period; /* seconds: 1, 60 or 3600 */
};

/* Parses "N/s", "N/m" or "N/h" (N from 1 to RATELIMIT_MAX_COUNT); false for
 * anything else. */
bool ratelimit_parse(const char *s, struct ratelimit_rate *out);

struct ratelimit;

/* A limiter allowing rate, with bursts of up to burst requests (1 to
 * RATELIMIT_MAX_BURST). NULL when out of memory or an argument is out of
 * range. */
struct ratelimit *ratelimit_new(const struct ratelimit_rate *rate, uint32_t burst);

/* Frees the limiter and sets *rl to NULL. NULL-safe. */
void ratelimit_free(struct ratelimit **rl);

/* Takes one token for key at monotonic time now_ns. True when the request
 * may proceed. Otherwise false, and *retry_after_ns says how long until a
 * token will be there (> 0). Safe to call from any thread. */
bool ratelimit_take(struct ratelimit *rl, int64_t key, int64_t now_ns, int64_t *retry_after_ns);

#endif
