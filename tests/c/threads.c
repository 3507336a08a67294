/*
 * Eight pthreads issuing, verifying and revoking on one store handle at the same time; then
 * eight threads verifying while the main thread closes the handle under them, and again while
 * it frees the handle: every call answers TESSERA_OK until then, TESSERA_CLOSED (or
 * TESSERA_INVALID_HANDLE) afterwards, and none crashes.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"

#define THREADS 8
#define TOKENS 40

static tessera_store *store;

/* Checks are counted per thread and added up after the join (the counters are not atomic). */
struct worker {
    int index;
    int passed;
    int failed;
    char tokens[TOKENS][TESSERA_TOKEN_BUF_LEN];
    char last_error[256];
};

#define EXPECT(w, cond)                                                                     \
    do {                                                                                    \
        if (cond) {                                                                         \
            (w)->passed++;                                                                  \
        } else {                                                                            \
            (w)->failed++;                                                                  \
            snprintf((w)->last_error, sizeof (w)->last_error, "line %d: %s (%s)", __LINE__, \
                     #cond, tessera_last_error_message());                                  \
        }                                                                                   \
    } while (0)

static void *issue_verify_revoke(void *arg) {
    struct worker *w = arg;
    char subject[32];
    snprintf(subject, sizeof subject, "user-%d", w->index);
    tessera_request *req = NULL;
    EXPECT(w, tessera_request_new_session(S(subject), &req) == TESSERA_OK);
    EXPECT(w, tessera_request_set_tenant(req, S("acme")) == TESSERA_OK);
    for (int i = 0; i < TOKENS; i++) {
        EXPECT(w, tessera_issue(store, req, w->tokens[i], TESSERA_TOKEN_BUF_LEN, NULL, NULL) ==
                      TESSERA_OK);
    }
    tessera_request_free(req);
    for (int i = 0; i < TOKENS; i++) {
        tessera_record *r = NULL;
        EXPECT(w, tessera_verify(store, S(w->tokens[i]), &r) == TESSERA_OK);
        EXPECT(w, r != NULL && r->subject.len == strlen(subject) &&
                      memcmp(r->subject.ptr, subject, r->subject.len) == 0);
        tessera_free(r);
    }
    /* Log out of every other device. */
    for (int i = 0; i < TOKENS; i += 2) {
        size_t n = 0;
        EXPECT(w, tessera_revoke(store, S(w->tokens[i]), &n) == TESSERA_OK && n == 1);
    }
    for (int i = 0; i < TOKENS; i++) {
        tessera_status want = i % 2 == 0 ? TESSERA_REVOKED : TESSERA_OK;
        EXPECT(w, tessera_verify(store, S(w->tokens[i]), NULL) == want);
    }
    tessera_record_list *list = NULL;
    EXPECT(w, tessera_list_subject(store, S(subject), &list) == TESSERA_OK);
    EXPECT(w, list != NULL && list->len == TOKENS / 2);
    tessera_free(list);
    return NULL;
}

static volatile int started;
/* What the verifying threads must see once the handle is gone from under them. */
static tessera_status end_status;

static void *verify_until_closed(void *arg) {
    struct worker *w = arg;
    long calls = 0;
    tessera_status s;
    for (;;) {
        s = tessera_verify(store, S(w->tokens[0]), NULL);
        calls++;
        if (calls == 5) {
            __sync_fetch_and_add(&started, 1);
        }
        if (s != TESSERA_OK) {
            break;
        }
    }
    /* Valid until the close (or free), then closed (or invalid): nothing in between. */
    EXPECT(w, s == end_status);
    EXPECT(w, calls >= 5);
    return NULL;
}

static int join_all(pthread_t *threads, struct worker *workers) {
    int failed = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        checks_passed += workers[t].passed;
        checks_failed += workers[t].failed;
        if (workers[t].failed) {
            fprintf(stderr, "thread %d: %d failed, last: %s\n", t, workers[t].failed,
                    workers[t].last_error);
            failed = 1;
        }
    }
    return failed;
}

int main(void) {
    static struct worker workers[THREADS];
    pthread_t threads[THREADS];
    CHECK_OK(tessera_store_open_in_memory(NULL, &store));

    for (int t = 0; t < THREADS; t++) {
        workers[t].index = t;
        CHECK(pthread_create(&threads[t], NULL, issue_verify_revoke, &workers[t]) == 0);
    }
    join_all(threads, workers);

    /* Everything the threads did, seen from here. */
    tessera_record_list *list = NULL;
    CHECK_OK(tessera_list_tenant(store, S("acme"), TESSERA_ANY_KIND, &list));
    CHECK(list->len == THREADS * TOKENS / 2);
    tessera_free(list);
    size_t revoked = 0;
    CHECK_OK(tessera_revoke_tenant(store, S("acme"), &revoked));
    CHECK(revoked == THREADS * TOKENS / 2);

    /* Closing under running verifies, then freeing under running verifies. */
    for (int round = 0; round < 2; round++) {
        tessera_request *req = NULL;
        CHECK_OK(tessera_request_new_session(S("closer"), &req));
        started = 0;
        end_status = round == 0 ? TESSERA_CLOSED : TESSERA_INVALID_HANDLE;
        for (int t = 0; t < THREADS; t++) {
            workers[t].passed = workers[t].failed = 0;
            CHECK_OK(tessera_issue(store, req, workers[t].tokens[0], TESSERA_TOKEN_BUF_LEN, NULL,
                                   NULL));
            CHECK(pthread_create(&threads[t], NULL, verify_until_closed, &workers[t]) == 0);
        }
        tessera_request_free(req);
        while (__sync_fetch_and_add(&started, 0) < THREADS) {
            sched_yield();
        }
        if (round == 0) {
            CHECK_OK(tessera_store_close(store));
        } else {
            tessera_store_free(store);
        }
        join_all(threads, workers);
        CHECK_STATUS(tessera_verify(store, S(workers[0].tokens[0]), NULL), end_status);
        if (round == 0) {
            tessera_store_free(store);
            CHECK_OK(tessera_store_open_in_memory(NULL, &store));
        }
    }
    return finish("threads");
}
