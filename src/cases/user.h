/* The people cases are assigned to: what makes a username and an email valid. */
#ifndef CL_CASES_USER_H
#define CL_CASES_USER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/* A username is 1..USER_NAME_MAX bytes of letters, digits, '.', '_' and '-',
 * starting with a letter or digit. On failure msg says why. */
bool user_username_valid(const char *s, size_t n, char *msg);

/* An email is local@domain: a dot-atom local part of at most 64 bytes
 * (RFC 5322 atext, no leading, trailing or doubled dots) and a domain of at
 * least two dot-separated labels of letters, digits and inner hyphens, at
 * most USER_EMAIL_MAX bytes in all. Quoted local parts and address literals
 * are deliberately not accepted. On failure msg says why. */
bool user_email_valid(const char *s, size_t n, char *msg);

#endif
