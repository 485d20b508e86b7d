/* The one write path for cases (see service.h): load, resolve, apply the
 * lifecycle rules of timers.c, store. The transaction makes the read and the
 * write one step, so two concurrent writers to a case cannot both act on the
 * state before the other's change. */
#include <stdio.h>
#include <string.h>

#include "cases/service.h"

#include "common/timeutil.h"
#include "cases/timers.h"

cl_err case_write_in_tx(struct store *s, const struct case_action *a, int64_t now,
                        struct case_record *out, enum case_outcome *outcome, const char **field,
                        char *msg)
{
    struct case_record cur, next;
    struct user_record user;
    const struct user_record *assignee = NULL;
    bool exists = true, changed = false;

    *field = NULL;
    cl_err err = store_case_get(s, a->number, &cur, msg);
    if (err == CL_ENOTFOUND)
        exists = false;
    else if (err)
        return err;

    if (a->kind == ACTION_ASSIGN && a->assignee) {
        err = store_user_find(s, a->assignee, &user, msg);
        if (err == CL_ENOTFOUND) {
            *field = "assignee";
            return cl_errf(msg, CL_EINVAL, "The selected assignee %s does not exist.", a->assignee);
        }
        if (err)
            return err;
        assignee = &user;
    }

    /* Without happened_at the action happens now. */
    int64_t t = a->has_happened_at ? a->happened_at : now;
    memset(&next, 0, sizeof next);
    err = case_apply(exists ? &cur : NULL, a, t, now, assignee, &next, &changed, msg);
    if (err) {
        if (err == CL_EINVAL)
            *field = "happened_at";
        return err;
    }

    if (!changed) {
        *out = cur;
        *outcome = CASE_UNCHANGED;
        return CL_OK;
    }

    /* The event records the state after the action, like the case itself. */
    struct case_event ev = {
        .kind = a->kind,
        .status = next.status,
        .note = a->note,
        .note_len = a->note ? a->note_len : 0,
        .assignee_id = next.has_assignee ? next.assignee.id : 0,
        .happened_at = t,
        .recorded_at = now,
    };
    err = store_case_put(s, &next, &ev, now, msg);
    if (err)
        return err;
    *out = next;
    *outcome = exists ? CASE_UPDATED : CASE_CREATED;
    return CL_OK;
}

void case_write_batch(struct store *s, const struct case_action *const *a, size_t n, int64_t now,
                      struct case_write_result *res)
{
    char msg[CL_ERRMSG_MAX] = "";
    bool changed = false;

    for (size_t i = 0; i < n; i++)
        res[i] = (struct case_write_result){.err = CL_OK, .outcome = CASE_UNCHANGED};
    cl_err err = store_tx_begin(s, msg);
    /* Read the clock only once the write lock is held: a time read before
     * waiting for it could lie before the opening time another writer
     * committed meanwhile, and a write without happened_at would then be
     * refused as back-dated. */
    if (now == CASE_NOW)
        now = time_now();
    for (size_t i = 0; i < n && !err; i++) {
        struct case_write_result *r = &res[i];
        r->err = case_write_in_tx(s, a[i], now, &r->c, &r->outcome, &r->field, r->msg);
        if (r->err == CL_EINVAL)
            continue;
        if (r->err) {
            err = r->err;
            snprintf(msg, sizeof msg, "%s", r->msg);
        } else if (r->outcome != CASE_UNCHANGED) {
            changed = true;
        }
    }
    /* A batch that changed nothing has nothing to commit. */
    if (!err && changed)
        err = store_tx_commit(s, msg);
    if (err || !changed)
        store_tx_rollback(s);
    if (!err)
        return;
    for (size_t i = 0; i < n; i++) {
        if (res[i].err == CL_EINVAL)
            continue;
        res[i].err = err;
        res[i].field = NULL;
        snprintf(res[i].msg, sizeof res[i].msg, "%s", msg);
    }
}
