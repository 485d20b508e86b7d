/* The domain model: cases, the actions that change them, and the users they
 * are assigned to. Plain data; the rules that move a case from one state to
 * the next live in timers.c, and persistence in the store. */
#ifndef CL_CASES_CASE_H
#define CL_CASES_CASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define USER_NAME_MAX   64                 /* bytes */
#define USER_EMAIL_MAX  254                /* bytes, RFC 5321 path limit */
#define CASE_NOTE_MAX   5000               /* bytes of UTF-8 */
#define CASE_NUMBER_MAX 9007199254740991LL /* 2^53 - 1: exact in every JSON reader */
#define CASE_CLOCK_SKEW 60                 /* seconds an action time may lie in the future */

/* A null timer or time is stored as CASE_NONE. */
#define CASE_NONE (-1)

enum case_status { CASE_OPEN = 0, CASE_PROGRESS = 1, CASE_CLOSED = 2 };

/* "open", "progress" or "closed". */
const char *case_status_name(enum case_status s);

/* Parses exactly one of the three names. */
bool case_status_parse(const char *s, size_t n, enum case_status *out);

struct user_record {
    int64_t id;
    char username[USER_NAME_MAX + 1];
    char email[USER_EMAIL_MAX + 1];
};

struct case_record {
    int64_t id;     /* 0 until the store inserts it */
    int64_t number; /* number_customergauge: the survey response */
    enum case_status status;
    bool has_assignee;
    struct user_record assignee;
    int64_t opened_at;         /* when the case was last (re)opened: timers start here */
    int64_t time_to_follow_up; /* full hours, or CASE_NONE */
    int64_t time_to_close;     /* full hours, or CASE_NONE */
    int64_t created_at;        /* time of the creating action */
    int64_t updated_at;        /* server time of the last change; set by the store */
    int64_t seq;               /* position in the sync feed; set by the store */
};

enum case_action_kind { ACTION_STATUS = 0, ACTION_ASSIGN = 1, ACTION_COMMENT = 2 };

/* One write request, validated by the API layer. */
struct case_action {
    enum case_action_kind kind;
    int64_t number;
    enum case_status status; /* ACTION_STATUS */
    const char *note;        /* optional (NULL); required for ACTION_COMMENT */
    size_t note_len;
    const char *assignee; /* ACTION_ASSIGN: username or email, NULL to unassign */
    bool has_happened_at;
    int64_t happened_at; /* the action time, when given */
};

/* One entry of a case's history, stored with every change. */
struct case_event {
    enum case_action_kind kind;
    enum case_status status; /* status after the action */
    const char *note;        /* NULL when none */
    size_t note_len;
    int64_t assignee_id; /* 0 when none / unassigned */
    int64_t happened_at; /* the action time */
    int64_t recorded_at; /* server time */
};

#endif
