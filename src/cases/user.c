#include "cases/user.h"

#include <string.h>

#include "cases/case.h"

#define EMAIL_LOCAL_MAX 64
#define EMAIL_LABEL_MAX 63

/* ASCII letters and digits only. isalnum() would follow the process's
 * locale, and in a single-byte locale such as Latin-1 it accepts bytes that
 * are halves of UTF-8 characters, so the same name could be valid in one
 * process and invalid in another. */
static bool alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool user_username_valid(const char *s, size_t n, char *msg)
{
    if (n == 0 || n > USER_NAME_MAX) {
        cl_errf(msg, CL_EINVAL, "a username has 1 to %d characters", USER_NAME_MAX);
        return false;
    }
    if (!alnum((unsigned char)s[0])) {
        cl_errf(msg, CL_EINVAL, "a username starts with a letter or a digit");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!alnum(c) && c != '.' && c != '_' && c != '-') {
            cl_errf(msg, CL_EINVAL, "a username has only letters, digits, '.', '_' and '-'");
            return false;
        }
    }
    return true;
}

static bool atext(unsigned char c)
{
    return alnum(c) || (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}

bool user_email_valid(const char *s, size_t n, char *msg)
{
    const char *at = memchr(s, '@', n);
    if (n == 0 || n > USER_EMAIL_MAX || !at || memchr(at + 1, '@', n - (size_t)(at - s) - 1)) {
        cl_errf(msg, CL_EINVAL, "not a valid email address");
        return false;
    }
    size_t local = (size_t)(at - s);
    if (local == 0 || local > EMAIL_LOCAL_MAX || s[0] == '.' || s[local - 1] == '.') {
        cl_errf(msg, CL_EINVAL, "not a valid email address (local part)");
        return false;
    }
    for (size_t i = 0; i < local; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(atext(c) || (c == '.' && s[i + 1] != '.'))) {
            cl_errf(msg, CL_EINVAL, "not a valid email address (local part)");
            return false;
        }
    }
    /* The domain: labels separated by single dots, at least two labels. */
    const char *d = at + 1, *end = s + n;
    size_t labels = 0;
    while (d < end) {
        const char *dot = memchr(d, '.', (size_t)(end - d));
        const char *le = dot ? dot : end;
        size_t len = (size_t)(le - d);
        if (len == 0 || len > EMAIL_LABEL_MAX || d[0] == '-' || le[-1] == '-') {
            cl_errf(msg, CL_EINVAL, "not a valid email address (domain)");
            return false;
        }
        for (const char *p = d; p < le; p++) {
            if (!alnum((unsigned char)*p) && *p != '-') {
                cl_errf(msg, CL_EINVAL, "not a valid email address (domain)");
                return false;
            }
        }
        labels++;
        if (!dot)
            break;
        d = dot + 1;
        if (d == end) { /* a trailing dot */
            cl_errf(msg, CL_EINVAL, "not a valid email address (domain)");
            return false;
        }
    }
    if (labels < 2) {
        cl_errf(msg, CL_EINVAL, "not a valid email address (the domain needs a dot)");
        return false;
    }
    return true;
}
