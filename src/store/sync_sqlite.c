/* Group durability for SQLite (see store_sync_defer in store.h).
 *
 * In WAL mode a commit appends the transaction's pages to the WAL with
 * write(2) and, with synchronous = FULL, then waits for fdatasync(2) of the
 * WAL, under the database's write lock. With synchronous = NORMAL the
 * commit returns once the pages are written: the kernel has them, so they
 * survive the death of the process, and SQLite still syncs the WAL before
 * every checkpoint copies it into the database file. store_sync supplies
 * the missing flush for power loss: fdatasync of the WAL file through a
 * descriptor of its own, which flushes every page written to the file
 * before the call, whoever wrote it. The WAL file stays the same file
 * (inode) while the connection that committed is open: SQLite reuses it
 * from the start after a checkpoint, or truncates it, but deletes it only
 * when the last connection closes. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store_sqlite.h"

cl_err sqlite_sync_defer(struct store *base, char *msg)
{
    struct sqlite_store *s = sq(base);
    if (s->wal_path)
        return CL_OK;
    const char *db_path = sqlite3_db_filename(s->db, "main");
    const char *wal = db_path && *db_path ? sqlite3_filename_wal(db_path) : NULL;
    if (!wal || !*wal)
        return cl_errf(msg, CL_ESTORE, "deferring syncs: the database has no file name");
    s->wal_path = strdup(wal);
    if (!s->wal_path)
        return cl_errf(msg, CL_ENOMEM, "out of memory");
    int rc = sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        free(s->wal_path);
        s->wal_path = NULL;
        return sqlite_error(s->db, rc, "deferring syncs", msg);
    }
    return CL_OK;
}

/* Opens the WAL for flushing, and makes its directory entry durable once:
 * a file that a crash could unlink would take its flushed pages with it. */
static cl_err open_wal(struct sqlite_store *s, char *msg)
{
    s->wal_fd = open(s->wal_path, O_RDONLY | O_CLOEXEC);
    if (s->wal_fd < 0)
        return cl_errf(msg, CL_EBUSY, "opening the WAL to sync it: %s", strerror(errno));
    char *copy = strdup(s->wal_path);
    if (!copy)
        return cl_errf(msg, CL_ENOMEM, "out of memory");
    int dir = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (dir < 0 || fsync(dir) != 0) {
        int e = errno;
        if (dir >= 0)
            close(dir);
        return cl_errf(msg, CL_EBUSY, "syncing the database's directory: %s", strerror(e));
    }
    close(dir);
    return CL_OK;
}

cl_err sqlite_sync(struct store *base, char *msg)
{
    struct sqlite_store *s = sq(base);
    if (!s->wal_path)
        return CL_OK; /* commits sync by themselves */
    if (s->wal_failed)
        return cl_errf(msg, CL_EBUSY, "an earlier sync of the WAL failed: restart the server");
    cl_err err = s->wal_fd < 0 ? open_wal(s, msg) : CL_OK;
    if (!err && fdatasync(s->wal_fd) != 0)
        err = cl_errf(msg, CL_EBUSY, "syncing the WAL: %s", strerror(errno));
    /* After a failed flush the kernel may have dropped the pages it could
     * not write and call the next flush a success: never trust one again. */
    if (err)
        s->wal_failed = true;
    return err;
}

void sqlite_sync_close(struct sqlite_store *s)
{
    if (s->wal_fd >= 0)
        close(s->wal_fd);
    s->wal_fd = -1;
    free(s->wal_path);
    s->wal_path = NULL;
}
