/* Group commit for the write endpoints. A write is acknowledged only once
 * it is durable, and on SQLite that is an fsync of the WAL per commit: one
 * commit per request would make the disk's flush time the server's write
 * rate. So the writes a worker receives in one round of its event loop wait
 * in this queue, deferred (http_defer), and after the round
 * write_queue_flush applies them all in one transaction with one commit,
 * then answers each. No answer leaves before the commit that makes its
 * write durable; under load a round holds several writes, alone one, so a
 * lone write waits for nothing. */
#include <stdlib.h>
#include <string.h>

#include "api/case_body.h"
#include "api/metrics.h"
#include "common/timeutil.h"

/* One deferred write, with copies of what its action points to: the
 * request it came from is gone once the handler returns. */
struct queued_write {
    struct http_deferred *d;
    struct case_action a;
    const char *route;
    char app[48];
    char note[CASE_NOTE_MAX];
    char assignee[USER_EMAIL_MAX + 1];
};

struct write_queue {
    size_t n;
    struct queued_write w[WRITE_QUEUE_MAX];
    /* Scratch of write_queue_flush. */
    const struct case_action *batch[WRITE_QUEUE_MAX];
    struct case_write_result results[WRITE_QUEUE_MAX];
};

struct write_queue *write_queue_new(void)
{
    return calloc(1, sizeof(struct write_queue));
}

void write_queue_free(struct write_queue **q)
{
    if (!q || !*q)
        return;
    free(*q);
    *q = NULL;
}

bool write_queue_add(struct api_thread *t, const struct case_action *a, struct http_response *res)
{
    struct write_queue *q = t->writes;
    if (!q)
        return false;
    if (q->n == WRITE_QUEUE_MAX) {
        /* res->body is the transport's one buffer: the flush may use it,
         * since nothing has been written into it for this request yet. */
        write_queue_flush(t, res->body);
        buf_reset(res->body);
    }
    struct http_deferred *d = http_defer(res);
    if (!d)
        return false;

    struct queued_write *w = &q->w[q->n++];
    w->d = d;
    w->a = *a;
    w->route = res->route;
    memcpy(w->app, res->app, sizeof w->app);
    /* The API's validation bounds both (CASE_NOTE_MAX, USER_EMAIL_MAX). */
    if (a->note) {
        memcpy(w->note, a->note, a->note_len);
        w->a.note = w->note;
    }
    if (a->assignee) {
        size_t n = strlen(a->assignee);
        memcpy(w->assignee, a->assignee, n + 1);
        w->a.assignee = w->assignee;
    }
    return true;
}

void write_queue_flush(struct api_thread *t, struct buf *body)
{
    struct write_queue *q = t->writes;
    if (!q || q->n == 0)
        return;

    /* A client that went away gets no answer, and its write is not made:
     * it was never acknowledged. */
    size_t n = 0;
    for (size_t i = 0; i < q->n; i++)
        if (http_deferred_alive(q->w[i].d))
            q->batch[n++] = &q->w[i].a;
    if (n > 0) {
        pthread_mutex_lock(t->write_lock);
        case_write_batch(t->store, q->batch, n, CASE_NOW, q->results);
        pthread_mutex_unlock(t->write_lock);
        metrics_inc(t->metrics, METRICS_WRITE_TXS);
        metrics_add(t->metrics, METRICS_WRITES, n);
    }

    size_t r = 0;
    for (size_t i = 0; i < q->n; i++) {
        struct queued_write *w = &q->w[i];
        if (!http_deferred_alive(w->d)) {
            http_deferred_drop(w->d);
            continue;
        }
        buf_reset(body);
        struct http_response res = {.body = body, .route = w->route};
        memcpy(res.app, w->app, sizeof res.app);
        case_body_answer(&q->results[r++], &res);
        metrics_observe(t->metrics, res.route, res.status,
                        time_mono_ns() - http_deferred_started_ns(w->d));
        http_deferred_send(w->d, &res);
    }
    q->n = 0;
}
