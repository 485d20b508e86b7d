/* A sync pass: builds each page request, parses the page into cl_case
 * records, and follows cursor.next until the server returns an empty page.
 * Memory does not grow with the size of the sync: one page is held, and at
 * most one more is on its way.
 *
 * That one is the prefetch. The next page's request can only be made with
 * the cursor the current page ends with, but the server then takes about
 * as long to build the next page as the client takes to parse and use this
 * one. So as soon as a page has arrived, its cursor is read off its end
 * (page_peek_next) and the next page is requested on a thread of its own,
 * while this one is parsed and handed out. The parse has the last word: if
 * the page says otherwise, the prefetched answer is dropped and the right
 * page is requested. While a prefetch runs it owns the client (its curl
 * handle, token and error text); this file waits for it before touching
 * the client again. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/internal.h"
#include "client/parse.h"
#include "common/timeutil.h"

#define DATE_LEN  10 /* strlen("YYYY-mm-dd") */
/* Decoded strings and compact records are never larger than the response. */
#define ARENA_MAX ((size_t)CL_RESPONSE_MAX + 1)
#define QUERY_MAX 256

struct cl_sync {
    cl_client *c;
    char since[DATE_LEN + 1]; /* "" when absent */
    char until[DATE_LEN + 1];
    int per_page;
    int64_t cursor;        /* the cursor the next request is made with */
    int64_t handed;        /* what cl_sync_cursor reports */
    bool done;             /* an empty page was served */
    struct parsed_page pp; /* the cases of the current page */
    size_t n, pos;         /* cases on the page, and handed out of it */
    struct buf strings;    /* the cases' decoded strings */
    struct buf json;       /* the compact JSON of each case, back to back */
    struct buf body;       /* the current page's response, taken from the client */
    char *url;
    cl_page page;
    /* The prefetch: ahead is true while its thread runs or until it is
     * joined; its answer is in c->body when ahead_rc is CLC_OK. */
    bool ahead;
    pthread_t ahead_tid;
    int64_t ahead_cursor;
    char *ahead_url;
    cl_code ahead_rc;
};

static bool valid_date(const char *s)
{
    int64_t epoch;
    return s && time_parse_date(s, strlen(s), &epoch);
}

cl_code cl_sync_new(cl_client *c, const cl_query *q, cl_sync **out)
{
    *out = NULL;
    if (!c || !q)
        return CLC_BAD_ARGUMENT;
    if (q->since && !valid_date(q->since))
        return client_fail(c, CLC_BAD_ARGUMENT, "since must be a real date as YYYY-mm-dd");
    if (q->until && !valid_date(q->until))
        return client_fail(c, CLC_BAD_ARGUMENT, "until must be a real date as YYYY-mm-dd");
    /* Same-length ISO dates compare as strings. */
    if (q->since && q->until && strcmp(q->since, q->until) > 0)
        return client_fail(c, CLC_BAD_ARGUMENT, "since is after until");
    if (q->per_page < 0 || q->per_page > CL_PER_PAGE_MAX)
        return client_fail(c, CLC_BAD_ARGUMENT, "per_page must be 1..%d", CL_PER_PAGE_MAX);
    if (q->cursor < 0)
        return client_fail(c, CLC_BAD_ARGUMENT, "cursor must not be negative");
    cl_sync *s = calloc(1, sizeof *s);
    if (!s)
        return CLC_OUT_OF_MEMORY;
    s->url = malloc(strlen(c->sync_url) + QUERY_MAX);
    s->ahead_url = malloc(strlen(c->sync_url) + QUERY_MAX);
    if (!s->url || !s->ahead_url) {
        free(s->url);
        free(s->ahead_url);
        free(s);
        return CLC_OUT_OF_MEMORY;
    }
    s->c = c;
    if (q->since)
        memcpy(s->since, q->since, DATE_LEN + 1);
    if (q->until)
        memcpy(s->until, q->until, DATE_LEN + 1);
    s->per_page = q->per_page;
    s->cursor = s->handed = q->cursor;
    buf_init(&s->strings, ARENA_MAX);
    buf_init(&s->json, ARENA_MAX);
    buf_init(&s->body, CL_RESPONSE_MAX);
    *out = s;
    return CLC_OK;
}

static void drop_page(cl_sync *s)
{
    s->n = s->pos = 0;
}

static cl_code ahead_join(cl_sync *s);

void cl_sync_free(cl_sync **ps)
{
    if (!ps || !*ps)
        return;
    cl_sync *s = *ps;
    /* A caller that stops early leaves a request on its way. */
    if (s->ahead)
        ahead_join(s);
    free(s->pp.cases);
    free(s->pp.assignees);
    buf_free(&s->strings);
    buf_free(&s->json);
    buf_free(&s->body);
    free(s->url);
    free(s->ahead_url);
    free(s);
    *ps = NULL;
}

int64_t cl_sync_cursor(const cl_sync *s)
{
    return s->handed;
}

/* The request URL for a cursor, into url. The first request of a pass from
 * the beginning carries no cursor, as the documentation describes. */
static void build_url(const cl_sync *s, char *url, int64_t cursor)
{
    char *p = url + sprintf(url, "%s", s->c->sync_url);
    char sep = '?';
    if (s->per_page > 0) {
        p += sprintf(p, "%cper_page=%d", sep, s->per_page);
        sep = '&';
    }
    if (cursor > 0) {
        p += sprintf(p, "%ccursor=%lld", sep, (long long)cursor);
        sep = '&';
    }
    /* Brackets are percent-encoded: RFC 3986 reserves them in a query. */
    if (s->since[0]) {
        p += sprintf(p, "%cupdated_at%%5Bstart%%5D=%s", sep, s->since);
        sep = '&';
    }
    if (s->until[0])
        sprintf(p, "%cupdated_at%%5Bend%%5D=%s", sep, s->until);
}

static void *ahead_main(void *arg)
{
    cl_sync *s = arg;
    s->ahead_rc = client_get(s->c, s->ahead_url);
    return NULL;
}

/* Requests the page at cursor on the prefetch thread; without a thread,
 * the page is simply requested when it is needed. */
static void ahead_start(cl_sync *s, int64_t cursor)
{
    build_url(s, s->ahead_url, cursor);
    s->ahead_cursor = cursor;
    s->ahead = pthread_create(&s->ahead_tid, NULL, ahead_main, s) == 0;
}

/* Waits for the prefetch; returns its code. */
static cl_code ahead_join(cl_sync *s)
{
    pthread_join(s->ahead_tid, NULL);
    s->ahead = false;
    return s->ahead_rc;
}

/* Requests (or collects the prefetch of) and parses the page at s->cursor. */
static cl_code fetch_page(cl_sync *s)
{
    cl_client *c = s->c;
    drop_page(s);
    cl_code rc;
    if (s->ahead && s->ahead_cursor == s->cursor) {
        rc = ahead_join(s);
    } else {
        if (s->ahead)
            ahead_join(s); /* a guess the page proved wrong */
        build_url(s, s->url, s->cursor);
        rc = client_get(c, s->url);
    }
    if (rc)
        return rc;
    /* The page moves out of the client, which is free for the next. */
    struct buf t = s->body;
    s->body = c->body;
    c->body = t;
    size_t len = s->body.len;
    const char *body = s->body.data ? s->body.data : "";
    /* A page with cases moves the cursor on; an empty one ends the pass. */
    int64_t guess;
    if (page_peek_next(body, len, &guess) && guess > s->cursor)
        ahead_start(s, guess);

    /* The arenas are sized once per page, so the cases' pointers into them
     * never move while the page is handed out. */
    buf_reset(&s->strings);
    buf_reset(&s->json);
    if (buf_reserve(&s->strings, len + 1) || buf_reserve(&s->json, len + 1))
        return CLC_OUT_OF_MEMORY;
    char msg[CL_ERRMSG_MAX] = "";
    cl_err err = page_parse(body, len, s->strings.data, s->json.data, &s->pp, msg);
    /* Past this point the client may be needed for an error message. */
    if (s->ahead && (err || s->pp.n == 0 || s->pp.next != s->ahead_cursor))
        ahead_join(s);
    if (err == CL_ENOMEM)
        return CLC_OUT_OF_MEMORY;
    if (err)
        return client_fail(c, CLC_PROTOCOL, "sync endpoint: invalid page: %s", msg);
    if (s->pp.n == 0) {
        s->done = true;
        return CLC_OK;
    }
    /* A page with cases must move the cursor, or the pass would never end. */
    if (s->pp.next == s->cursor)
        return client_fail(c, CLC_PROTOCOL, "sync endpoint: cursor did not advance past %lld",
                           (long long)s->cursor);
    s->n = s->pp.n;
    s->cursor = s->pp.next;
    return CLC_OK;
}

cl_code cl_sync_next_page(cl_sync *s, const cl_page **page)
{
    *page = NULL;
    if (s->pos == s->n && !s->done) {
        cl_code rc = fetch_page(s);
        if (rc)
            return rc;
    }
    if (s->pos == s->n)
        return CLC_OK; /* done: the server served an empty page */
    s->page.cases = s->pp.cases + s->pos;
    s->page.count = s->n - s->pos;
    s->page.cursor = s->cursor;
    s->pos = s->n;
    s->handed = s->cursor;
    *page = &s->page;
    return CLC_OK;
}

cl_code cl_sync_next_case(cl_sync *s, const cl_case **rec)
{
    *rec = NULL;
    if (s->pos == s->n && !s->done) {
        cl_code rc = fetch_page(s);
        if (rc)
            return rc;
    }
    if (s->pos == s->n)
        return CLC_OK;
    *rec = &s->pp.cases[s->pos++];
    if (s->pos == s->n)
        s->handed = s->cursor;
    return CLC_OK;
}
