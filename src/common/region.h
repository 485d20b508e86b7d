/* CustomerGauge's hosting regions. A token is bound to the region that issued it. */
#ifndef CL_COMMON_REGION_H
#define CL_COMMON_REGION_H

#include <stdbool.h>

enum region { REGION_EU = 0, REGION_US = 1, REGION_AU = 2 };

/* "eu", "us" or "au" (exact, lower case) into *out. */
bool region_parse(const char *s, enum region *out);

/* The lower-case name of r. */
const char *region_name(enum region r);

#endif
