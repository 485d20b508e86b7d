/* The writer: one thread per server process that applies the actions of
 * the write endpoints, with a group commit. A write is acknowledged only
 * once it is durable, and a durable commit costs a flush of the log (an
 * fsync of SQLite's WAL, PostgreSQL's WAL flush) and the log pages the
 * transaction touched; one commit per request would make that the server's
 * write rate. So the workers hand each validated action to this thread and
 * go on serving (http_defer), and the writer applies whatever has arrived
 * since its last commit in one transaction with one commit, then answers
 * each request (http_deferred_complete). Under load a transaction carries
 * the writes of every waiting client; alone, a write waits for nothing.
 *
 * Workers never wait for the database's write lock, and a page of the sync
 * feed is never stuck behind a commit.
 *
 * The flush that makes a commit durable runs on a second thread, the
 * syncer (store_sync_defer): the writer commits a batch and goes on to the
 * next while the syncer flushes the log and only then answers the batch.
 * One flush serves every batch committed before it, and the writer's next
 * transaction overlaps the flush of the last. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/case_body.h"
#include "api/metrics.h"
#include "common/log.h"
#include "common/timeutil.h"

/* One action waiting for the writer, with copies of what it points to: the
 * request it came from is gone once the handler returns. */
struct pending {
    struct pending *next;
    struct http_deferred *d;
    struct case_write_result r; /* the writer's, for the syncer to answer */
    struct case_action a;
    const char *route;
    char app[48];
    char data[]; /* the note, then the assignee and its NUL */
};

/* A queue between two threads. */
struct handoff {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    struct pending *head, **tail;
    size_t queued;
    bool stopping;
};

struct writer {
    pthread_t tid, sync_tid;
    bool started, sync_started;
    struct metrics *metrics; /* the app's registry, for the writer's own shard */
    struct store *store;     /* owned; used by the writer thread only */

    struct handoff in;     /* workers -> writer */
    struct handoff synced; /* writer -> syncer: committed, not yet durable */

    /* The writer thread's own. */
    struct metrics_shard *shard;
    const struct case_action *batch[WRITER_BATCH_MAX];
    struct pending *items[WRITER_BATCH_MAX];
    struct case_write_result results[WRITER_BATCH_MAX];

    /* The syncer thread's own. */
    struct metrics_shard *sync_shard;
    struct buf body;
};

static void handoff_init(struct handoff *h)
{
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->wake, NULL);
    h->tail = &h->head;
}

static void handoff_fini(struct handoff *h)
{
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->mu);
}

/* Appends a list (last is its end, n its length); h->mu must be held. */
static void handoff_put_locked(struct handoff *h, struct pending *first, struct pending *last,
                               size_t n)
{
    *h->tail = first;
    h->tail = &last->next;
    if (h->queued == 0)
        pthread_cond_signal(&h->wake);
    h->queued += n;
}

/* Waits for work and takes up to max items, in order; NULL once the
 * handoff stops and is empty. */
static struct pending *handoff_take(struct handoff *h, size_t max)
{
    pthread_mutex_lock(&h->mu);
    while (!h->head && !h->stopping)
        pthread_cond_wait(&h->wake, &h->mu);
    /* Stopping still hands out everything queued before it. */
    struct pending *list = h->head;
    if (list) {
        struct pending *last = list;
        size_t n = 1;
        while (last->next && n < max) {
            last = last->next;
            n++;
        }
        h->head = last->next;
        if (!h->head)
            h->tail = &h->head;
        h->queued -= n;
        last->next = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    return list;
}

static void handoff_stop(struct handoff *h)
{
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->mu);
}

/* Applies a list of up to WRITER_BATCH_MAX actions in one transaction and
 * hands them, with their results, to the syncer. */
static void apply(struct writer *w, struct pending *list)
{
    size_t n = 0;
    struct pending *last = list;
    for (struct pending *p = list; p; p = p->next) {
        w->items[n] = p;
        w->batch[n] = &p->a;
        last = p;
        n++;
    }
    case_write_batch(w->store, w->batch, n, CASE_NOW, w->results);
    metrics_inc(w->shard, METRICS_WRITE_TXS);
    metrics_add(w->shard, METRICS_WRITES, n);
    for (size_t i = 0; i < n; i++)
        w->items[i]->r = w->results[i];

    pthread_mutex_lock(&w->synced.mu);
    handoff_put_locked(&w->synced, list, last, n);
    pthread_mutex_unlock(&w->synced.mu);
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    /* Created on this thread: the shard that counts for the calling thread
     * is the thread's own (metrics.h). */
    w->shard = metrics_shard_new(w->metrics, METRICS_WRITER_SHARD);
    struct pending *list;
    while ((list = handoff_take(&w->in, WRITER_BATCH_MAX)))
        apply(w, list);
    /* Everything committed is with the syncer: let it finish. */
    handoff_stop(&w->synced);
    return NULL;
}

/* Makes what the writer committed durable, then answers it. */
static void *syncer_main(void *arg)
{
    struct writer *w = arg;
    w->sync_shard = metrics_shard_new(w->metrics, METRICS_SYNCER_SHARD);
    struct pending *list;
    while ((list = handoff_take(&w->synced, SIZE_MAX))) {
        char msg[CL_ERRMSG_MAX] = "";
        cl_err err = store_sync(w->store, msg);
        if (err)
            log_error("write: %s", msg);
        while (list) {
            struct pending *p = list;
            list = p->next;
            /* A write that the flush did not make durable is not
             * acknowledged, though it may be there after a restart. */
            if (err && p->r.err != CL_EINVAL) {
                p->r.err = err;
                p->r.field = NULL;
                memcpy(p->r.msg, msg, sizeof p->r.msg);
            }
            buf_reset(&w->body);
            struct http_response res = {.body = &w->body, .route = p->route};
            memcpy(res.app, p->app, sizeof res.app);
            case_body_answer(&p->r, &res);
            metrics_observe(w->sync_shard, res.route, res.status,
                            time_mono_ns() - http_deferred_started_ns(p->d));
            http_deferred_complete(p->d, &res);
            free(p);
        }
    }
    return NULL;
}

cl_err writer_start(const char *db_url, struct metrics *metrics, struct writer **out, char *msg)
{
    *out = NULL;
    struct writer *w = calloc(1, sizeof *w);
    if (!w)
        return cl_errf(msg, CL_ENOMEM, "out of memory");
    w->metrics = metrics;
    handoff_init(&w->in);
    handoff_init(&w->synced);
    buf_init(&w->body, HTTP_MAX_RESPONSE_BYTES);

    /* Bulk mode: a larger page cache, and no savepoint per write, as a
     * store error fails the whole batch anyway (case_write_batch). */
    cl_err err = store_open(db_url, &w->store, msg);
    if (!err)
        err = store_bulk_begin(w->store, msg);
    if (!err)
        err = store_sync_defer(w->store, msg);
    if (err) {
        writer_stop(&w);
        return err;
    }
    int rc = pthread_create(&w->sync_tid, NULL, syncer_main, w);
    if (!rc) {
        w->sync_started = true;
        rc = pthread_create(&w->tid, NULL, writer_main, w);
    }
    if (rc) {
        writer_stop(&w);
        return cl_errf(msg, CL_ENOMEM, "cannot start the writer's threads: %s", strerror(rc));
    }
    w->started = true;
    *out = w;
    return CL_OK;
}

void writer_stop(struct writer **wp)
{
    if (!wp || !*wp)
        return;
    struct writer *w = *wp;
    /* The writer stops the syncer once it has handed over its last batch. */
    if (w->started) {
        handoff_stop(&w->in);
        pthread_join(w->tid, NULL);
    } else {
        handoff_stop(&w->synced);
    }
    if (w->sync_started)
        pthread_join(w->sync_tid, NULL);
    store_close(&w->store);
    buf_free(&w->body);
    handoff_fini(&w->synced);
    handoff_fini(&w->in);
    free(w);
    *wp = NULL;
}

cl_err writer_submit(struct writer *w, const struct case_action *a, struct http_response *res)
{
    size_t note_len = a->note ? a->note_len : 0;
    size_t assignee_len = a->assignee ? strlen(a->assignee) + 1 : 0;
    struct pending *p = malloc(sizeof *p + note_len + assignee_len);
    if (!p)
        return CL_ENOMEM;
    p->next = NULL;
    p->a = *a;
    p->route = res->route;
    memcpy(p->app, res->app, sizeof p->app);
    if (a->note) {
        memcpy(p->data, a->note, note_len);
        p->a.note = p->data;
    }
    if (a->assignee) {
        memcpy(p->data + note_len, a->assignee, assignee_len);
        p->a.assignee = p->data + note_len;
    }

    struct handoff *h = &w->in;
    pthread_mutex_lock(&h->mu);
    if (h->queued >= WRITER_QUEUE_MAX || h->stopping) {
        pthread_mutex_unlock(&h->mu);
        free(p);
        return CL_EBUSY;
    }
    /* Deferred under the lock, so that a refused write is never deferred. */
    p->d = http_defer(res);
    if (!p->d) {
        pthread_mutex_unlock(&h->mu);
        free(p);
        return CL_ENOMEM;
    }
    handoff_put_locked(h, p, p, 1);
    pthread_mutex_unlock(&h->mu);
    return CL_OK;
}
