#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *cl_strerror(cl_err err)
{
    switch (err) {
    case CL_OK:
        return "ok";
    case CL_ENOMEM:
        return "out of memory";
    case CL_EINVAL:
        return "invalid input";
    case CL_ELIMIT:
        return "limit exceeded";
    case CL_ENOTFOUND:
        return "not found";
    case CL_EEXIST:
        return "already exists";
    case CL_EAUTH:
        return "authentication failed";
    case CL_EFORBIDDEN:
        return "forbidden";
    case CL_EBUSY:
        return "database unavailable";
    case CL_ESTORE:
        return "database error";
    case CL_EIO:
        return "i/o error";
    }
    return "unknown error";
}

cl_err cl_errf(char *msg, cl_err err, const char *fmt, ...)
{
    if (msg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, CL_ERRMSG_MAX, fmt, ap);
        va_end(ap);
    }
    return err;
}
