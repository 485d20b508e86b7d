/* The case lifecycle rules of SPEC §2, as a pure function: no clock, no
 * database. Everything that decides a status or a timer is here. */
#ifndef CL_CASES_TIMERS_H
#define CL_CASES_TIMERS_H

#include <stdbool.h>
#include <stdint.h>

#include "cases/case.h"
#include "common/err.h"

/* Full hours between two epoch seconds (floor; 0 when to < from). */
int64_t case_hours(int64_t from, int64_t to);

/* Applies action a, which happened at time t, to the case cur (NULL when the
 * survey response has no case yet), writing the resulting state to next.
 * Sets *changed to false when the action changes nothing (same status, no
 * note): the caller then stores nothing. assignee is the resolved user for
 * ACTION_ASSIGN (NULL to unassign) and ignored otherwise.
 *
 * Returns CL_EINVAL with a message for msg when t lies before the case's
 * current opening time or more than CASE_CLOCK_SKEW after now. */
cl_err case_apply(const struct case_record *cur, const struct case_action *a, int64_t t,
                  int64_t now, const struct user_record *assignee, struct case_record *next,
                  bool *changed, char *msg);

#endif
