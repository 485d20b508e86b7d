#include "cases/case.h"

#include <string.h>

/* Indexed by enum case_status; these are the API's spellings. */
static const char *const status_names[] = {"open", "progress", "closed"};

#define STATUS_COUNT (sizeof status_names / sizeof status_names[0])

const char *case_status_name(enum case_status s)
{
    return (unsigned)s < STATUS_COUNT ? status_names[s] : "?";
}

bool case_status_parse(const char *s, size_t n, enum case_status *out)
{
    for (unsigned i = 0; i < STATUS_COUNT; i++) {
        if (strlen(status_names[i]) == n && memcmp(s, status_names[i], n) == 0) {
            *out = (enum case_status)i;
            return true;
        }
    }
    return false;
}
