/* The rules of SPEC §2 "Timers". The function works on a copy of the case
 * and publishes it only on success, so a rejected action leaves the caller's
 * state as it was. */
#include "cases/timers.h"

#include <string.h>

#include "common/timeutil.h"

#define SECS_PER_HOUR 3600

int64_t case_hours(int64_t from, int64_t to)
{
    if (to < from)
        return 0;
    return (to - from) / SECS_PER_HOUR;
}

/* The state of a survey response's case before its first action: opened at
 * the time of that action, which also becomes its creation time. */
static void case_new(int64_t number, int64_t t, struct case_record *c)
{
    memset(c, 0, sizeof *c);
    c->number = number;
    c->status = CASE_OPEN;
    c->opened_at = t;
    c->created_at = t;
    c->time_to_follow_up = CASE_NONE;
    c->time_to_close = CASE_NONE;
}

/* Moves c into status s at time t. Returns false when c already has it. */
static bool set_status(struct case_record *c, enum case_status s, int64_t t)
{
    if (c->status == s)
        return false;
    c->status = s;
    switch (s) {
    case CASE_OPEN:
        /* Reopening restarts the clock and forgets both timers. */
        c->opened_at = t;
        c->time_to_follow_up = CASE_NONE;
        c->time_to_close = CASE_NONE;
        break;
    case CASE_PROGRESS:
        if (c->time_to_follow_up == CASE_NONE)
            c->time_to_follow_up = case_hours(c->opened_at, t);
        c->time_to_close = CASE_NONE;
        break;
    case CASE_CLOSED:
        /* Closing straight from open is also the first follow-up. */
        if (c->time_to_follow_up == CASE_NONE)
            c->time_to_follow_up = case_hours(c->opened_at, t);
        c->time_to_close = case_hours(c->opened_at, t);
        break;
    }
    return true;
}

static bool set_assignee(struct case_record *c, const struct user_record *u)
{
    bool changed = c->has_assignee != (u != NULL) || (u && c->assignee.id != u->id);
    if (u) {
        c->has_assignee = true;
        c->assignee = *u;
    } else {
        c->has_assignee = false;
        memset(&c->assignee, 0, sizeof c->assignee);
    }
    return changed;
}

cl_err case_apply(const struct case_record *cur, const struct case_action *a, int64_t t,
                  int64_t now, const struct user_record *assignee, struct case_record *next,
                  bool *changed, char *msg)
{
    *changed = false;
    if (t > now + CASE_CLOCK_SKEW)
        return cl_errf(msg, CL_EINVAL, "The happened_at must not be in the future.");
    if (cur && t < cur->opened_at) {
        char opened[TIME_FORMAT_LEN + 1];
        time_format(cur->opened_at, opened);
        return cl_errf(msg, CL_EINVAL,
                       "The happened_at must not be before the case was opened (%s).", opened);
    }

    struct case_record c;
    if (cur)
        c = *cur;
    else
        case_new(a->number, t, &c);

    bool did = false;
    switch (a->kind) {
    case ACTION_STATUS:
        did = set_status(&c, a->status, t) || (a->note != NULL && a->note_len > 0);
        break;
    case ACTION_ASSIGN:
        did = set_assignee(&c, assignee);
        break;
    case ACTION_COMMENT:
        /* The note itself is history, which the caller stores. */
        did = true;
        break;
    }
    /* Creating the case is a change whatever the action did to it. */
    *changed = did || cur == NULL;
    *next = c;
    return CL_OK;
}
