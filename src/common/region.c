#include "common/region.h"

#include <string.h>

static const char *const names[] = {"eu", "us", "au"};

bool region_parse(const char *s, enum region *out)
{
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum region)i;
            return true;
        }
    }
    return false;
}

const char *region_name(enum region r)
{
    return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "?";
}
