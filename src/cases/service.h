/* The one write path for cases: HTTP handlers and `closeloop seed` both call
 * it, so the rules exist once. */
#ifndef CL_CASES_SERVICE_H
#define CL_CASES_SERVICE_H

#include <stdbool.h>

#include "cases/case.h"
#include "common/err.h"
#include "store/store.h"

/* The outcome of a write, for the HTTP status code. */
enum case_outcome { CASE_CREATED, CASE_UPDATED, CASE_UNCHANGED };

/* Pass CASE_NOW as `now` to use the server clock, read once the write
 * transaction is held (what the API does); tests pass a fixed time. */
#define CASE_NOW INT64_MIN

/* What a write gives one action: err is CL_OK, or CL_EINVAL with msg for a
 * rule violation (the API answers 422, the field in `field`: "happened_at",
 * "assignee"; a static string or NULL), or CL_EBUSY/CL_ESTORE from the
 * store. c is the case as stored (or as it was, when unchanged). */
struct case_write_result {
    cl_err err;
    struct case_record c;
    enum case_outcome outcome;
    const char *field;
    char msg[CL_ERRMSG_MAX];
};

/* The write path, for one action or a group commit of many: in one write
 * transaction, for each of a[0..n) in order (an action sees the changes of
 * those before it), loads the case, resolves the assignee, applies the
 * rules at the action time (a->happened_at, or the clock read once the
 * transaction is held, or `now`), stores the new state and a history
 * event; then commits durably. res[i] receives what a[i] gave: a rule
 * violation (CL_EINVAL) fails its own action and changes nothing. A store
 * error, in any action or in the commit, rolls the transaction back and
 * fails every action that no rule failed, with that error: nothing of the
 * batch is kept, so nothing of it may be acknowledged. */
void case_write_batch(struct store *s, const struct case_action *const *a, size_t n, int64_t now,
                      struct case_write_result *res);

/* One action of case_write_batch without the transaction: the caller has
 * begun one with store_tx_begin and commits (or rolls back) itself, so that
 * a bulk writer such as `closeloop seed` can batch many actions per
 * transaction through the same rules. The results and errors of
 * case_write_result, as out parameters.
 *
 * On CL_EINVAL and on CASE_UNCHANGED nothing has been written, and the
 * transaction may go on; after any other error the caller must roll back. */
cl_err case_write_in_tx(struct store *s, const struct case_action *a, int64_t now,
                        struct case_record *out, enum case_outcome *outcome, const char **field,
                        char *msg);

#endif
