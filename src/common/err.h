/* The one error type of closeloop's internals.
 *
 * Every fallible internal function returns a cl_err; CL_OK is 0 so callers
 * write `if (err) return err;`. Detail text, when there is any, goes into a
 * caller-provided buffer of CL_ERRMSG_MAX bytes. */
#ifndef CL_COMMON_ERR_H
#define CL_COMMON_ERR_H

#define CL_ERRMSG_MAX 256

typedef enum cl_err {
    CL_OK = 0,
    CL_ENOMEM,     /* an allocation failed */
    CL_EINVAL,     /* invalid input; the message says which */
    CL_ELIMIT,     /* a named limit was exceeded */
    CL_ENOTFOUND,  /* no such record */
    CL_EEXIST,     /* the record already exists (unique key) */
    CL_EAUTH,      /* authentication failed; deliberately unspecific */
    CL_EFORBIDDEN, /* authenticated, but not allowed */
    CL_EBUSY,      /* the database is locked or unreachable; retry later */
    CL_ESTORE,     /* any other database error */
    CL_EIO,        /* an operating system call failed */
} cl_err;

/* Returns a static, human-readable name for err. Never NULL. */
const char *cl_strerror(cl_err err);

/* Formats a message into msg (CL_ERRMSG_MAX bytes, may be NULL) and returns
 * err, so that a failure path reads `return cl_errf(msg, CL_EINVAL, "...")`. */
cl_err cl_errf(char *msg, cl_err err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
