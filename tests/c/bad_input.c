/*
 * The bad-input matrix of tessera's ABI: every function against a NULL handle, NULL inputs
 * with a length, NULL outputs, zero and huge lengths, non-UTF-8 text, embedded NUL bytes,
 * wrong prefixes and check digits, forged and truncated tokens, a too-small token buffer, bad
 * enum numbers and durations, use after close, double close, use after free, garbage handles,
 * and use in a forked child. Each case asserts its documented status, and the process must
 * survive all of them (under ASan, UBSan and valgrind too).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static int cases;

/* One row of the matrix: `expr` must return `expected`. */
#define CASE(expr, expected)                                                                \
    do {                                                                                    \
        cases++;                                                                            \
        CHECK_STATUS((expr), (expected));                                                   \
    } while (0)

#define HUGE_LEN SIZE_MAX
#define TOO_LONG (TESSERA_MAX_INPUT_LEN + 1)

static const char NOT_UTF8[] = "al\xff\xfeice";
static const char WITH_NUL[] = "al\0ice";
#define WITH_NUL_LEN 6

static tessera_clock *clock_;
static int store_calls; /* rows added by one every_store_call() */
static tessera_options *options;
static tessera_request *session;
static tessera_requirements *needs;
static tessera_store *store;
static char token[TESSERA_TOKEN_BUF_LEN];
static char id[TESSERA_ID_BUF_LEN];

/* ---- forging tokens: recompute the check digits after changing a character ---- */

static uint32_t crc32(const char *data, size_t len) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint8_t)data[i];
        for (int k = 0; k < 8; k++) {
            crc = (crc & 1) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
    }
    return ~crc;
}

/*
 * Ends a forked child with `code`, by exec rather than exit: the child cannot free what it
 * inherited (the parent's threads do not exist in it, and an inherited store must never be
 * touched), so valgrind's leak check at exit would report the parent's memory as lost. After
 * an exec nothing of the child's image is left to check.
 */
static void end_child(int code) {
    fflush(NULL);
    execl("/bin/sh", "sh", "-c", code == 0 ? "exit 0" : "exit 1", (char *)NULL);
    _exit(code == 0 ? 0 : 1);
}

static const char BASE62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Copies `t`, flips the character at `pos` between '0' and '1', and fixes the check digits. */
static void forge(const char *t, size_t pos, char *out) {
    size_t len = strlen(t);
    memcpy(out, t, len + 1);
    out[pos] = out[pos] == '0' ? '1' : '0';
    uint64_t check = crc32(out, len - 6);
    for (int i = 5; i >= 0; i--) {
        out[len - 6 + i] = BASE62[check % 62];
        check /= 62;
    }
}

/* ---- every store function with otherwise valid arguments ---- */

static void every_store_call(tessera_store *s, tessera_status expected) {
    char buf[TESSERA_TOKEN_BUF_LEN];
    char backup_path[] = "/tmp/tessera-c-never-written.redb";
    tessera_record *r = NULL;
    tessera_record_list *l = NULL;
    tessera_stats *st = NULL;
    size_t n = 0;
    bool b = false;
    uint64_t u = 0;
    int64_t t = 0;
    tessera_status bg = TESSERA_OK;
    tessera_event_list *ev = NULL;
    int first = cases;
    CASE(tessera_issue(s, session, buf, sizeof buf, &n, &r), expected);
    CASE(tessera_issue_child(s, S(token), session, buf, sizeof buf, &n, &r, &b), expected);
    CASE(tessera_issue_child_by_id(s, S(id), session, buf, sizeof buf, &n, &r, &b), expected);
    CASE(tessera_children(s, S(id), &l), expected);
    CASE(tessera_rotate(s, S(token), buf, sizeof buf, &n, &r), expected);
    CASE(tessera_roll(s, S(token), 1000, buf, sizeof buf, &n, &r), expected);
    CASE(tessera_roll_by_id(s, S(id), 1000, buf, sizeof buf, &n, &r), expected);
    CASE(tessera_revoke_issued_before(s, TESSERA_SCOPE_SUBJECT, S("alice"), 0), expected);
    CASE(tessera_events(s, 0, 10, &ev), expected);
    CASE(tessera_verify(s, S(token), &r), expected);
    CASE(tessera_verify_with(s, S(token), needs, &r), expected);
    CASE(tessera_renew(s, S(token), 1000, &r, &b), expected);
    CASE(tessera_renew_by_id(s, S(id), 1000, &r, &b), expected);
    CASE(tessera_revoke(s, S(token), &n), expected);
    CASE(tessera_revoke_by_id(s, S(id), &n), expected);
    CASE(tessera_revoke_subject(s, S("alice"), NULL, 0, &n), expected);
    CASE(tessera_revoke_tenant(s, S("acme"), &n), expected);
    CASE(tessera_get(s, S(id), &r), expected);
    CASE(tessera_list_subject(s, S("alice"), &l), expected);
    CASE(tessera_list_tenant(s, S("acme"), TESSERA_ANY_KIND, &l), expected);
    CASE(tessera_list_api_keys(s, S("acme"), &l), expected);
    CASE(tessera_purge_batch(s, &n, &b), expected);
    CASE(tessera_purge_expired(s, &n), expected);
    CASE(tessera_flush(s), expected);
    CASE(tessera_store_stats(s, &st), expected);
    CASE(tessera_commits(s, &u), expected);
    CASE(tessera_now(s, &t), expected);
    CASE(tessera_background_error(s, &bg), expected);
    CASE(tessera_backup(s, S(backup_path), &u), expected);
    CASE(tessera_compact(s, &b), expected);
    CASE(tessera_check_integrity(s, &b), expected);
    store_calls = cases - first;
}

static void null_and_freed_handles(void) {
    every_store_call(NULL, TESSERA_NULL_ARGUMENT);
    CASE(tessera_store_close(NULL), TESSERA_NULL_ARGUMENT);
    /* A pointer this library never returned, and a handle of another type. */
    every_store_call((tessera_store *)(uintptr_t)0x7e55e7a0, TESSERA_INVALID_HANDLE);
    CASE(tessera_store_close((tessera_store *)(uintptr_t)0x7e55e7a0), TESSERA_INVALID_HANDLE);
    CASE(tessera_verify((const tessera_store *)(const void *)options, S(token), NULL),
         TESSERA_INVALID_HANDLE);

    /* Every other handle: NULL is TESSERA_NULL_ARGUMENT. */
    int64_t t = 0;
    CASE(tessera_clock_advance(NULL, 1), TESSERA_NULL_ARGUMENT);
    CASE(tessera_clock_set(NULL, 1), TESSERA_NULL_ARGUMENT);
    CASE(tessera_clock_now(NULL, &t), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_cache_size(NULL, 1 << 20), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_durability(NULL, TESSERA_DURABILITY_DURABLE), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_concurrency(NULL, TESSERA_CONCURRENCY_EXCLUSIVE),
         TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_prefixes(NULL, S("a"), S("b")), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_pepper(NULL, (const uint8_t *)"0123456789abcdef", 16),
         TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_clock(NULL, clock_), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_clock(options, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_session_ttl(NULL, 1000), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_session_idle_timeout(NULL, 1000), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_session_max_lifetime(NULL, 1000), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_api_key_ttl(NULL, 1000), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_flush_interval(NULL, 1000), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_sweep_interval(NULL, 1000), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_purge_batch(NULL, 10), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_revoked_retention(NULL, 1000), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_max_metadata_len(NULL, 10), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_rotation_grace(NULL, 10), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_subject_cap(NULL, TESSERA_KIND_SESSION, 1, TESSERA_CAP_REFUSE),
         TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_event_retention(NULL, 10), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_set_tenant(NULL, S("acme")), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_set_subject(NULL, S("bob")), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_add_scope(NULL, S("read")), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_set_label(NULL, S("x")), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_set_metadata(NULL, (const uint8_t *)"x", 1), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_set_ttl(NULL, 1000), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_set_idle_timeout(NULL, 1000), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_set_max_lifetime(NULL, 1000), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_set_max_uses(NULL, 1), TESSERA_NULL_ARGUMENT);
    CASE(tessera_requirements_set_tenant(NULL, S("acme")), TESSERA_NULL_ARGUMENT);
    CASE(tessera_requirements_add_scope(NULL, S("read")), TESSERA_NULL_ARGUMENT);
    char buf[TESSERA_TOKEN_BUF_LEN];
    CASE(tessera_issue(store, NULL, buf, sizeof buf, NULL, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_verify_with(store, S(token), NULL, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_issue_child(store, S(token), NULL, buf, sizeof buf, NULL, NULL, NULL),
         TESSERA_NULL_ARGUMENT);
    CASE(tessera_issue_child_by_id(store, S(id), NULL, buf, sizeof buf, NULL, NULL, NULL),
         TESSERA_NULL_ARGUMENT);

    /* Destructors accept NULL. */
    cases++;
    tessera_store_free(NULL);
    tessera_options_free(NULL);
    tessera_request_free(NULL);
    tessera_requirements_free(NULL);
    tessera_clock_free(NULL);
    tessera_free(NULL);
    tessera_store_free((tessera_store *)(uintptr_t)0x7e55e7a0); /* unknown: ignored */
    CHECK(1);
}

static void null_inputs_with_length(void) {
    tessera_options *o = NULL;
    tessera_request *q = NULL;
    tessera_record *r = NULL;
    tessera_record_list *l = NULL;
    tessera_store *s = NULL;
    size_t n = 0, off = 0;
    CHECK_OK(tessera_options_new(&o));
    CASE(tessera_options_set_prefixes(o, NULL, 3, S("b")), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_prefixes(o, S("a"), NULL, 3), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_pepper(o, NULL, 16), TESSERA_NULL_ARGUMENT);
    CASE(tessera_store_open(NULL, 5, NULL, &s), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_new_session(NULL, 5, &q), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_new_api_key(NULL, 5, &q), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_set_tenant(session, NULL, 1), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_set_subject(session, NULL, 1), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_add_scope(session, NULL, 1), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_set_label(session, NULL, 1), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_set_metadata(session, NULL, 1), TESSERA_NULL_ARGUMENT);
    CASE(tessera_requirements_set_tenant(needs, NULL, 1), TESSERA_NULL_ARGUMENT);
    CASE(tessera_requirements_add_scope(needs, NULL, 1), TESSERA_NULL_ARGUMENT);
    CASE(tessera_verify(store, NULL, 10, &r), TESSERA_NULL_ARGUMENT);
    CASE(tessera_verify_with(store, NULL, 10, needs, &r), TESSERA_NULL_ARGUMENT);
    CASE(tessera_renew(store, NULL, 10, 1000, NULL, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_renew_by_id(store, NULL, TESSERA_ID_LEN, 1000, NULL, NULL),
         TESSERA_NULL_ARGUMENT);
    CASE(tessera_revoke(store, NULL, 10, &n), TESSERA_NULL_ARGUMENT);
    CASE(tessera_revoke_by_id(store, NULL, TESSERA_ID_LEN, &n), TESSERA_NULL_ARGUMENT);
    CASE(tessera_revoke_subject(store, NULL, 5, NULL, 0, &n), TESSERA_NULL_ARGUMENT);
    CASE(tessera_revoke_subject(store, S("alice"), NULL, TESSERA_ID_LEN, &n),
         TESSERA_NULL_ARGUMENT);
    CASE(tessera_revoke_tenant(store, NULL, 4, &n), TESSERA_NULL_ARGUMENT);
    CASE(tessera_get(store, NULL, TESSERA_ID_LEN, &r), TESSERA_NULL_ARGUMENT);
    CASE(tessera_list_subject(store, NULL, 5, &l), TESSERA_NULL_ARGUMENT);
    CASE(tessera_list_tenant(store, NULL, 4, TESSERA_ANY_KIND, &l), TESSERA_NULL_ARGUMENT);
    CASE(tessera_list_api_keys(store, NULL, 4, &l), TESSERA_NULL_ARGUMENT);
    CASE(tessera_backup(store, NULL, 10, NULL), TESSERA_NULL_ARGUMENT);
    char buf[TESSERA_TOKEN_BUF_LEN];
    CASE(tessera_issue_child(store, NULL, 10, session, buf, sizeof buf, NULL, NULL, NULL),
         TESSERA_NULL_ARGUMENT);
    CASE(tessera_issue_child_by_id(store, NULL, TESSERA_ID_LEN, session, buf, sizeof buf, NULL,
                                   NULL, NULL),
         TESSERA_NULL_ARGUMENT);
    CASE(tessera_children(store, NULL, TESSERA_ID_LEN, &l), TESSERA_NULL_ARGUMENT);
    CASE(tessera_rotate(store, NULL, 10, buf, sizeof buf, NULL, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_roll(store, NULL, 10, 0, buf, sizeof buf, NULL, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_roll_by_id(store, NULL, TESSERA_ID_LEN, 0, buf, sizeof buf, NULL, NULL),
         TESSERA_NULL_ARGUMENT);
    CASE(tessera_revoke_issued_before(store, TESSERA_SCOPE_TENANT, NULL, 4, 0),
         TESSERA_NULL_ARGUMENT);
    CASE(tessera_parse_header(NULL, 13, S("Bearer x"), NULL, &off, &n), TESSERA_NULL_ARGUMENT);
    CASE(tessera_parse_header(S("Authorization"), NULL, 8, NULL, &off, &n),
         TESSERA_NULL_ARGUMENT);
    CASE(tessera_parse_authorization(NULL, 8, NULL, &off, &n), TESSERA_NULL_ARGUMENT);
    tessera_options_free(o);
}

static void huge_lengths(void) {
    /* The pointer is valid but tiny: the length must be refused before any read (a token text
     * that long is a client's malformed token, anything else the host's mistake). */
    const char *p = "x";
    tessera_options *o = NULL;
    tessera_request *q = NULL;
    tessera_record *r = NULL;
    tessera_record_list *l = NULL;
    tessera_store *s = NULL;
    size_t n = 0, off = 0;
    CHECK_OK(tessera_options_new(&o));
    CASE(tessera_options_set_prefixes(o, p, HUGE_LEN, S("b")), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_prefixes(o, S("a"), p, TOO_LONG), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_pepper(o, (const uint8_t *)p, HUGE_LEN), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_store_open(p, HUGE_LEN, NULL, &s), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_request_new_session(p, HUGE_LEN, &q), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_request_new_api_key(p, TOO_LONG, &q), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_request_set_tenant(session, p, HUGE_LEN), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_request_set_subject(session, p, HUGE_LEN), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_request_add_scope(session, p, HUGE_LEN), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_request_set_label(session, p, HUGE_LEN), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_request_set_metadata(session, (const uint8_t *)p, HUGE_LEN),
         TESSERA_INVALID_ARGUMENT);
    CASE(tessera_requirements_set_tenant(needs, p, HUGE_LEN), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_requirements_add_scope(needs, p, HUGE_LEN), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_verify(store, p, HUGE_LEN, &r), TESSERA_MALFORMED);
    CASE(tessera_verify(store, p, TOO_LONG, &r), TESSERA_MALFORMED);
    CASE(tessera_verify_with(store, p, HUGE_LEN, needs, &r), TESSERA_MALFORMED);
    CASE(tessera_renew(store, p, HUGE_LEN, 1000, NULL, NULL), TESSERA_MALFORMED);
    CASE(tessera_renew_by_id(store, p, HUGE_LEN, 1000, NULL, NULL), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_revoke(store, p, HUGE_LEN, &n), TESSERA_MALFORMED);
    CASE(tessera_revoke_by_id(store, p, HUGE_LEN, &n), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_revoke_subject(store, p, HUGE_LEN, NULL, 0, &n), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_revoke_subject(store, S("alice"), p, HUGE_LEN, &n), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_revoke_tenant(store, p, HUGE_LEN, &n), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_get(store, p, HUGE_LEN, &r), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_list_subject(store, p, HUGE_LEN, &l), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_list_tenant(store, p, HUGE_LEN, TESSERA_ANY_KIND, &l), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_list_api_keys(store, p, HUGE_LEN, &l), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_backup(store, p, HUGE_LEN, NULL), TESSERA_INVALID_ARGUMENT);
    char buf[TESSERA_TOKEN_BUF_LEN];
    CASE(tessera_issue_child(store, p, HUGE_LEN, session, buf, sizeof buf, NULL, NULL, NULL),
         TESSERA_MALFORMED);
    CASE(tessera_issue_child_by_id(store, p, HUGE_LEN, session, buf, sizeof buf, NULL, NULL,
                                   NULL),
         TESSERA_INVALID_ARGUMENT);
    CASE(tessera_children(store, p, HUGE_LEN, &l), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_rotate(store, p, HUGE_LEN, buf, sizeof buf, NULL, NULL), TESSERA_MALFORMED);
    CASE(tessera_roll(store, p, TOO_LONG, 0, buf, sizeof buf, NULL, NULL), TESSERA_MALFORMED);
    CASE(tessera_roll_by_id(store, p, HUGE_LEN, 0, buf, sizeof buf, NULL, NULL),
         TESSERA_INVALID_ARGUMENT);
    CASE(tessera_revoke_issued_before(store, TESSERA_SCOPE_SUBJECT, p, HUGE_LEN, 0),
         TESSERA_INVALID_ARGUMENT);
    CASE(tessera_parse_header(p, HUGE_LEN, S("Bearer x"), NULL, &off, &n),
         TESSERA_INVALID_ARGUMENT);
    /* A header value of any length above the parser's limit is a bad credential (a 401 for the
     * host), still refused before any read. */
    CASE(tessera_parse_header(S("Authorization"), p, HUGE_LEN, NULL, &off, &n),
         TESSERA_CREDENTIAL_TOO_LONG);
    CASE(tessera_parse_authorization(p, HUGE_LEN, NULL, &off, &n), TESSERA_CREDENTIAL_TOO_LONG);
    /* Long but allowed: the parser's own limit. */
    static char long_value[TESSERA_MAX_CREDENTIAL_LEN + 2];
    memset(long_value, 'a', sizeof long_value - 1);
    CASE(tessera_parse_header(S("X-Api-Key"), long_value, sizeof long_value - 1, NULL, &off, &n),
         TESSERA_CREDENTIAL_TOO_LONG);
    tessera_options_free(o);
}

static void null_outputs(void) {
    char buf[TESSERA_TOKEN_BUF_LEN];
    size_t n = 0;
    /* Required outputs. */
    CASE(tessera_options_new(NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_clock_new(0, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_clock_now(clock_, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_new_session(S("bob"), NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_request_new_api_key(S("acme"), NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_requirements_new(NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_store_open(S("/tmp/tessera-c-never-opened.redb"), NULL, NULL),
         TESSERA_NULL_ARGUMENT);
    CASE(tessera_store_open_in_memory(NULL, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_issue(store, session, NULL, sizeof buf, NULL, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_get(store, S(id), NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_list_subject(store, S("alice"), NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_list_tenant(store, S("acme"), TESSERA_ANY_KIND, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_list_api_keys(store, S("acme"), NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_store_stats(store, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_commits(store, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_now(store, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_background_error(store, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_children(store, S(id), NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_events(store, 0, 10, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_issue_child(store, S(token), session, NULL, sizeof buf, NULL, NULL, NULL),
         TESSERA_NULL_ARGUMENT);
    CASE(tessera_rotate(store, S(token), NULL, sizeof buf, NULL, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_roll(store, S(token), 0, NULL, sizeof buf, NULL, NULL), TESSERA_NULL_ARGUMENT);
    CASE(tessera_parse_header(S("Authorization"), S("Bearer x"), NULL, NULL, &n),
         TESSERA_NULL_ARGUMENT);
    CASE(tessera_parse_header(S("Authorization"), S("Bearer x"), NULL, &n, NULL),
         TESSERA_NULL_ARGUMENT);
    CASE(tessera_parse_authorization(S("Bearer x"), NULL, NULL, &n), TESSERA_NULL_ARGUMENT);
    CASE(tessera_parse_authorization(S("Bearer x"), NULL, &n, NULL), TESSERA_NULL_ARGUMENT);
    /* Optional outputs may be NULL. */
    CASE(tessera_verify(store, S(token), NULL), TESSERA_OK);
    CASE(tessera_renew(store, S(token), 1000, NULL, NULL), TESSERA_OK);
    CASE(tessera_renew_by_id(store, S(id), 1000, NULL, NULL), TESSERA_OK);
    CASE(tessera_purge_batch(store, NULL, NULL), TESSERA_OK);
    CASE(tessera_purge_expired(store, NULL), TESSERA_OK);
    CASE(tessera_compact(store, NULL), TESSERA_OK);
    CASE(tessera_check_integrity(store, NULL), TESSERA_OK);
    CASE(tessera_revoke_subject(store, S("nobody"), NULL, 0, NULL), TESSERA_OK);
    CASE(tessera_revoke_tenant(store, S("nobody"), NULL), TESSERA_OK);
    CASE(tessera_parse_header(S("Authorization"), S("Bearer x"), NULL, &n, &n), TESSERA_OK);
    CASE(tessera_issue_child(store, S(token), session, buf, sizeof buf, NULL, NULL, NULL),
         TESSERA_OK);
}

/* Issues a session request that is expected to fail at issue time, and frees it. */
static void refused_at_issue(tessera_request *q, tessera_status expected) {
    char buf[TESSERA_TOKEN_BUF_LEN];
    CASE(tessera_issue(store, q, buf, sizeof buf, NULL, NULL), expected);
    tessera_request_free(q);
}

static tessera_request *new_session(const char *subject, size_t len) {
    tessera_request *q = NULL;
    CHECK_OK(tessera_request_new_session(subject, len, &q));
    return q;
}

static void zero_lengths_utf8_and_nul(void) {
    tessera_request *q = NULL;
    tessera_record *r = NULL;
    tessera_record_list *l = NULL;
    tessera_store *s = NULL;
    size_t n = 0, off = 0;
    char buf[TESSERA_TOKEN_BUF_LEN];

    /* Zero lengths: the empty input, judged by what it is for. */
    refused_at_issue(new_session("", 0), TESSERA_INVALID_ARGUMENT); /* a session needs one */
    CHECK_OK(tessera_request_new_api_key("", 0, &q)); /* the default tenant */
    CASE(tessera_issue(store, q, buf, sizeof buf, NULL, NULL), TESSERA_OK);
    tessera_request_free(q);
    q = new_session(S("bob"));
    CHECK_OK(tessera_request_add_scope(q, NULL, 0));
    refused_at_issue(q, TESSERA_INVALID_ARGUMENT); /* an empty scope */
    CASE(tessera_verify(store, NULL, 0, &r), TESSERA_MALFORMED);
    CASE(tessera_verify(store, "", 0, &r), TESSERA_MALFORMED);
    CASE(tessera_revoke(store, NULL, 0, &n), TESSERA_MALFORMED);
    CASE(tessera_renew(store, NULL, 0, 1000, NULL, NULL), TESSERA_MALFORMED);
    CASE(tessera_get(store, NULL, 0, &r), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_revoke_by_id(store, "", 0, &n), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_renew_by_id(store, "", 0, 1000, NULL, NULL), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_revoke_subject(store, S("alice"), "", 0, &n), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_list_subject(store, NULL, 0, &l), TESSERA_OK);
    CHECK(l != NULL && l->len == 0);
    tessera_free(l);
    CASE(tessera_store_open(NULL, 0, NULL, &s), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_backup(store, "", 0, NULL), TESSERA_IO); /* no such file or directory */
    CASE(tessera_parse_header(S("Authorization"), NULL, 0, NULL, &off, &n),
         TESSERA_CREDENTIAL_EMPTY);
    CASE(tessera_parse_header(NULL, 0, S("x"), NULL, &off, &n), TESSERA_UNSUPPORTED_HEADER);
    CASE(tessera_parse_authorization(S("   "), NULL, &off, &n), TESSERA_CREDENTIAL_EMPTY);

    /* Text that is not UTF-8. */
    CASE(tessera_request_new_session(S(NOT_UTF8), &q), TESSERA_INVALID_UTF8);
    CASE(tessera_request_new_api_key(S(NOT_UTF8), &q), TESSERA_INVALID_UTF8);
    CASE(tessera_request_set_tenant(session, S(NOT_UTF8)), TESSERA_INVALID_UTF8);
    CASE(tessera_request_set_subject(session, S(NOT_UTF8)), TESSERA_INVALID_UTF8);
    CASE(tessera_request_add_scope(session, S(NOT_UTF8)), TESSERA_INVALID_UTF8);
    CASE(tessera_request_set_label(session, S(NOT_UTF8)), TESSERA_INVALID_UTF8);
    CASE(tessera_request_set_metadata(session, (const uint8_t *)NOT_UTF8, 6), TESSERA_OK);
    CASE(tessera_requirements_set_tenant(needs, S(NOT_UTF8)), TESSERA_INVALID_UTF8);
    CASE(tessera_requirements_add_scope(needs, S(NOT_UTF8)), TESSERA_INVALID_UTF8);
    CASE(tessera_options_set_prefixes(options, S(NOT_UTF8), S("b")), TESSERA_INVALID_UTF8);
    CASE(tessera_verify(store, S(NOT_UTF8), &r), TESSERA_MALFORMED);
    CASE(tessera_revoke(store, S(NOT_UTF8), &n), TESSERA_MALFORMED);
    CASE(tessera_get(store, S(NOT_UTF8), &r), TESSERA_INVALID_UTF8);
    CASE(tessera_renew_by_id(store, S(NOT_UTF8), 1000, NULL, NULL), TESSERA_INVALID_UTF8);
    CASE(tessera_revoke_by_id(store, S(NOT_UTF8), &n), TESSERA_INVALID_UTF8);
    CASE(tessera_revoke_subject(store, S(NOT_UTF8), NULL, 0, &n), TESSERA_INVALID_UTF8);
    CASE(tessera_revoke_subject(store, S("alice"), S(NOT_UTF8), &n), TESSERA_INVALID_UTF8);
    CASE(tessera_revoke_tenant(store, S(NOT_UTF8), &n), TESSERA_INVALID_UTF8);
    CASE(tessera_list_subject(store, S(NOT_UTF8), &l), TESSERA_INVALID_UTF8);
    CASE(tessera_list_tenant(store, S(NOT_UTF8), TESSERA_ANY_KIND, &l), TESSERA_INVALID_UTF8);
    CASE(tessera_list_api_keys(store, S(NOT_UTF8), &l), TESSERA_INVALID_UTF8);
    CASE(tessera_children(store, S(NOT_UTF8), &l), TESSERA_INVALID_UTF8);
    CASE(tessera_revoke_issued_before(store, TESSERA_SCOPE_TENANT, S(NOT_UTF8), 0),
         TESSERA_INVALID_UTF8);
    CASE(tessera_rotate(store, S(NOT_UTF8), buf, sizeof buf, NULL, NULL), TESSERA_MALFORMED);
    CASE(tessera_roll(store, S(NOT_UTF8), 0, buf, sizeof buf, NULL, NULL), TESSERA_MALFORMED);
    CASE(tessera_issue_child(store, S(NOT_UTF8), session, buf, sizeof buf, NULL, NULL, NULL),
         TESSERA_MALFORMED);
    CASE(tessera_parse_header(S(NOT_UTF8), S("abc"), NULL, &off, &n),
         TESSERA_UNSUPPORTED_HEADER);
    CASE(tessera_parse_header(S("X-Auth-Token"), S(NOT_UTF8), NULL, &off, &n),
         TESSERA_INVALID_CHARACTER);
    CASE(tessera_parse_authorization(S("Bearer \xff"), NULL, &off, &n),
         TESSERA_INVALID_CHARACTER);

    /* Embedded NUL bytes. */
    refused_at_issue(new_session(WITH_NUL, WITH_NUL_LEN), TESSERA_INVALID_ARGUMENT);
    q = new_session(S("bob"));
    CHECK_OK(tessera_request_set_tenant(q, WITH_NUL, WITH_NUL_LEN));
    refused_at_issue(q, TESSERA_INVALID_ARGUMENT);
    q = new_session(S("bob"));
    CHECK_OK(tessera_request_add_scope(q, WITH_NUL, WITH_NUL_LEN));
    refused_at_issue(q, TESSERA_INVALID_ARGUMENT);
    q = new_session(S("bob"));
    CHECK_OK(tessera_request_set_label(q, WITH_NUL, WITH_NUL_LEN));
    refused_at_issue(q, TESSERA_INVALID_ARGUMENT);
    q = new_session(S("bob"));
    CHECK_OK(tessera_request_set_metadata(q, (const uint8_t *)WITH_NUL, WITH_NUL_LEN));
    refused_at_issue(q, TESSERA_OK); /* metadata is bytes */
    char nul_token[TESSERA_TOKEN_BUF_LEN + 1];
    memcpy(nul_token, token, strlen(token) + 1);
    nul_token[10] = '\0';
    CASE(tessera_verify(store, nul_token, strlen(token), &r), TESSERA_MALFORMED);
    CASE(tessera_verify(store, token, strlen(token) + 1, &r), TESSERA_MALFORMED);
    char nul_id[TESSERA_ID_BUF_LEN];
    memcpy(nul_id, id, sizeof nul_id);
    nul_id[3] = '\0';
    CASE(tessera_get(store, nul_id, TESSERA_ID_LEN, &r), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_store_open("/tmp/a\0b", 8, NULL, &s), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_backup(store, "/tmp/a\0b", 8, NULL), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_parse_header(S("X-Api-Key"), "ab\0cd", 5, NULL, &off, &n),
         TESSERA_INVALID_CHARACTER);
    tessera_options *o = NULL;
    CHECK_OK(tessera_options_new(&o));
    CHECK_OK(tessera_options_set_prefixes(o, "a\0b", 3, S("k")));
    CASE(tessera_store_open_in_memory(o, &s), TESSERA_INVALID_ARGUMENT);
    tessera_options_free(o);
}

static void wrong_and_forged_tokens(void) {
    tessera_record *r = NULL;
    size_t n = 0;
    size_t len = strlen(token);
    char forged[TESSERA_TOKEN_BUF_LEN];

    /* Another store's prefix. */
    tessera_store *other = NULL;
    tessera_options *o = NULL;
    CHECK_OK(tessera_options_new(&o));
    CHECK_OK(tessera_options_set_prefixes(o, S("other"), S("otherkey")));
    CHECK_OK(tessera_store_open_in_memory(o, &other));
    tessera_options_free(o);
    CASE(tessera_verify(other, S(token), &r), TESSERA_MALFORMED);
    CHECK(strstr(tessera_last_error_message(), "prefix") != NULL);
    CASE(tessera_revoke(other, S(token), &n), TESSERA_MALFORMED);
    tessera_store_free(other);

    /* A changed character without matching check digits. */
    memcpy(forged, token, len + 1);
    forged[10] = forged[10] == 'A' ? 'B' : 'A';
    CASE(tessera_verify(store, forged, len, &r), TESSERA_MALFORMED);
    CHECK(strstr(tessera_last_error_message(), "check") != NULL);
    memcpy(forged, token, len + 1);
    forged[len - 1] = forged[len - 1] == 'A' ? 'B' : 'A';
    CASE(tessera_verify(store, forged, len, &r), TESSERA_MALFORMED);
    memcpy(forged, token, len + 1);
    forged[3] = '-'; /* the separator */
    CASE(tessera_verify(store, forged, len, &r), TESSERA_MALFORMED);

    /* A forged secret with valid check digits: the id exists, the secret is wrong. */
    forge(token, len - 7, forged);
    CASE(tessera_verify(store, S(forged), &r), TESSERA_BAD_SECRET);
    CHECK(strstr(tessera_last_error_message(), forged + 4 + TESSERA_ID_LEN) == NULL);
    CASE(tessera_revoke(store, S(forged), &n), TESSERA_BAD_SECRET);
    CASE(tessera_renew(store, S(forged), 1000, NULL, NULL), TESSERA_BAD_SECRET);
    char buf[TESSERA_TOKEN_BUF_LEN];
    CASE(tessera_rotate(store, S(forged), buf, sizeof buf, NULL, NULL), TESSERA_BAD_SECRET);
    CASE(tessera_issue_child(store, S(forged), session, buf, sizeof buf, NULL, NULL, NULL),
         TESSERA_BAD_SECRET);
    /* A forged id with valid check digits: no such token. */
    forge(token, 4 + 10, forged);
    CASE(tessera_verify(store, S(forged), &r), TESSERA_UNKNOWN_TOKEN);
    CASE(tessera_revoke(store, S(forged), &n), TESSERA_UNKNOWN_TOKEN);

    /* Every truncation, and one character too many. */
    cases++;
    for (size_t cut = 0; cut < len; cut++) {
        CHECK_STATUS(tessera_verify(store, token, cut, &r), TESSERA_MALFORMED);
    }
    cases++;
    for (size_t cut = 0; cut < len; cut += 7) {
        CHECK_STATUS(tessera_revoke(store, token, cut, &n), TESSERA_MALFORMED);
        CHECK_STATUS(tessera_rotate(store, token, cut, buf, sizeof buf, NULL, NULL),
                     TESSERA_MALFORMED);
    }
    memcpy(forged, token, len + 1);
    forged[len] = '0';
    CASE(tessera_verify(store, forged, len + 1, &r), TESSERA_MALFORMED);
    CASE(tessera_verify(store, S(token), &r), TESSERA_OK); /* still fine */
    tessera_free(r);
}

static void small_buffers_bad_numbers_and_ids(void) {
    char buf[TESSERA_TOKEN_BUF_LEN];
    size_t n = 0;
    uint64_t before = 0, after = 0;
    tessera_record *r = NULL;
    tessera_record_list *l = NULL;
    tessera_store *s = NULL;

    /* A too-small token buffer is refused before anything is issued. */
    CHECK_OK(tessera_commits(store, &before));
    CASE(tessera_issue(store, session, buf, TESSERA_TOKEN_BUF_LEN - 1, &n, &r),
         TESSERA_BUFFER_TOO_SMALL);
    CASE(tessera_issue(store, session, buf, 0, &n, &r), TESSERA_BUFFER_TOO_SMALL);
    CHECK_OK(tessera_commits(store, &after));
    CHECK(after == before);
    CASE(tessera_rotate(store, S(token), buf, TESSERA_TOKEN_BUF_LEN - 1, &n, &r),
         TESSERA_BUFFER_TOO_SMALL);
    CASE(tessera_issue_child(store, S(token), session, buf, 10, &n, &r, NULL),
         TESSERA_BUFFER_TOO_SMALL);
    CASE(tessera_roll_by_id(store, S(id), 0, buf, 1, &n, &r), TESSERA_BUFFER_TOO_SMALL);
    CHECK_OK(tessera_commits(store, &after));
    CHECK(after == before);
    CASE(tessera_issue(store, session, buf, TESSERA_TOKEN_BUF_LEN, &n, NULL), TESSERA_OK);
    CHECK(n == strlen(buf));

    /* Numbers that are not one of the enum's. */
    CASE(tessera_options_set_durability(options, 0), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_durability(options, 3), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_concurrency(options, 0), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_concurrency(options, 77), TESSERA_INVALID_ARGUMENT);
    /* A store in memory is this process's alone: the multi-process mode needs a file. */
    {
        tessera_options *multi = NULL;
        tessera_store *none = NULL;
        CHECK_OK(tessera_options_new(&multi));
        CHECK_OK(tessera_options_set_concurrency(multi, TESSERA_CONCURRENCY_MULTI_PROCESS));
        CASE(tessera_store_open_in_memory(multi, &none), TESSERA_INVALID_ARGUMENT);
        CHECK(none == NULL);
        CHECK(strstr(tessera_last_error_message(), "needs a file") != NULL);
        tessera_options_free(multi);
    }
    CASE(tessera_list_tenant(store, S("acme"), 3, &l), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_subject_cap(options, 0, 1, TESSERA_CAP_REFUSE),
         TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_subject_cap(options, TESSERA_KIND_SESSION, 1, 4),
         TESSERA_INVALID_ARGUMENT);
    CASE(tessera_revoke_issued_before(store, 0, NULL, 0, 0), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_revoke_issued_before(store, 4, S("x"), 0), TESSERA_INVALID_ARGUMENT);
    /* In order: the bad scope (argument 2) decides, not the NULL name after it. */
    CASE(tessera_revoke_issued_before(store, 9, NULL, 5, 0), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_revoke_issued_before(store, TESSERA_SCOPE_STORE, S("x"), 0),
         TESSERA_INVALID_ARGUMENT);
    CASE(tessera_revoke_issued_before(store, TESSERA_SCOPE_SUBJECT, NULL, 0, 0),
         TESSERA_INVALID_ARGUMENT);
    /* Seconds where milliseconds are expected (January 1970), and an instant before 1970: a
       "sign out everywhere" that would revoke nothing is refused, not taken in silence. */
    CASE(tessera_revoke_issued_before(store, TESSERA_SCOPE_SUBJECT, S("alice"),
                                      (int64_t)time(NULL)),
         TESSERA_INVALID_ARGUMENT);
    CHECK(strstr(tessera_last_error_message(), "seconds") != NULL);
    CASE(tessera_revoke_issued_before(store, TESSERA_SCOPE_STORE, NULL, 0, -1),
         TESSERA_INVALID_ARGUMENT);
    cases++;
    CHECK(strcmp(tessera_status_name(-1), "unrecognized_status") == 0);
    CHECK(strcmp(tessera_status_name(INT32_MAX), "unrecognized_status") == 0);

    /* Durations. */
    CASE(tessera_options_set_session_ttl(options, -2), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_session_ttl(options, INT64_MIN), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_flush_interval(options, TESSERA_DURATION_NONE),
         TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_revoked_retention(options, -5), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_sweep_interval(options, -7), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_request_set_ttl(session, -2), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_request_set_idle_timeout(session, -2), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_request_set_max_lifetime(session, -2), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_clock_advance(clock_, -1), TESSERA_INVALID_ARGUMENT);
    /* A clock reads the years 1 to 9999: past them a store would issue tokens already expired. */
    {
        tessera_clock *far = NULL;
        int64_t read = 0;
        CASE(tessera_clock_new(INT64_MAX, &far), TESSERA_INVALID_ARGUMENT);
        CHECK(far == NULL);
        CASE(tessera_clock_new(INT64_MIN, &far), TESSERA_INVALID_ARGUMENT);
        CASE(tessera_clock_new(253402300800000, &far), TESSERA_INVALID_ARGUMENT);
        CHECK_OK(tessera_clock_new(253402300799999, &far));
        CASE(tessera_clock_advance(far, 1), TESSERA_INVALID_ARGUMENT);
        CHECK(strstr(tessera_last_error_message(), "9999") != NULL);
        CASE(tessera_clock_set(far, INT64_MIN), TESSERA_INVALID_ARGUMENT);
        CASE(tessera_clock_set(far, -62135596800001), TESSERA_INVALID_ARGUMENT);
        CHECK_OK(tessera_clock_now(far, &read));
        CHECK(read == 253402300799999);
        CHECK_OK(tessera_clock_set(far, -62135596800000));
        CASE(tessera_clock_advance(far, INT64_MAX), TESSERA_INVALID_ARGUMENT);
        CHECK_OK(tessera_clock_now(far, &read));
        CHECK(read == -62135596800000);
        tessera_clock_free(far);
    }
    CASE(tessera_options_set_rotation_grace(options, -1), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_roll(store, S(token), -1, buf, sizeof buf, NULL, NULL), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_renew(store, S(token), -1, NULL, NULL), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_renew(store, S(token), 0, NULL, NULL), TESSERA_INVALID_ARGUMENT);
    tessera_request *q = new_session(S("bob"));
    CHECK_OK(tessera_request_set_ttl(q, 0));
    refused_at_issue(q, TESSERA_INVALID_ARGUMENT);
    q = new_session(S("bob"));
    CHECK_OK(tessera_request_set_max_uses(q, 0));
    refused_at_issue(q, TESSERA_INVALID_ARGUMENT);
    /* An API key that never expires cannot be renewed. */
    CHECK_OK(tessera_request_new_api_key(S("acme"), &q));
    char key[TESSERA_TOKEN_BUF_LEN];
    CHECK_OK(tessera_issue(store, q, key, sizeof key, NULL, NULL));
    tessera_request_free(q);
    CASE(tessera_renew(store, S(key), 1000, NULL, NULL), TESSERA_INVALID_ARGUMENT);
    /* Only API keys roll; a rolled key neither rolls again nor rotates. */
    CASE(tessera_roll(store, S(token), 0, buf, sizeof buf, NULL, NULL), TESSERA_INVALID_ARGUMENT);
    char rolled[TESSERA_TOKEN_BUF_LEN];
    CASE(tessera_roll(store, S(key), 60000, rolled, sizeof rolled, NULL, NULL), TESSERA_OK);
    CASE(tessera_roll(store, S(key), 0, buf, sizeof buf, NULL, NULL), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_rotate(store, S(key), buf, sizeof buf, NULL, NULL), TESSERA_INVALID_ARGUMENT);

    /* Requests out of bounds. */
    q = new_session(S("bob"));
    cases++;
    for (int i = 0; i <= TESSERA_MAX_SCOPES; i++) {
        char scope[16];
        snprintf(scope, sizeof scope, "s%d", i);
        CHECK_OK(tessera_request_add_scope(q, S(scope)));
    }
    refused_at_issue(q, TESSERA_INVALID_ARGUMENT);
    q = new_session(S("bob"));
    CHECK_OK(tessera_request_add_scope(q, S("read write")));
    refused_at_issue(q, TESSERA_INVALID_ARGUMENT);
    static char long_name[TESSERA_MAX_NAME_LEN + 1];
    memset(long_name, 'n', sizeof long_name);
    refused_at_issue(new_session(long_name, sizeof long_name), TESSERA_INVALID_ARGUMENT);
    static uint8_t big[1025];
    q = new_session(S("bob"));
    CHECK_OK(tessera_request_set_metadata(q, big, sizeof big)); /* the store allows 1024 */
    refused_at_issue(q, TESSERA_INVALID_ARGUMENT);

    /* Options out of bounds, refused when the store opens. */
    tessera_options *o = NULL;
#define BAD_OPTION(call)                                                                    \
    do {                                                                                    \
        CHECK_OK(tessera_options_new(&o));                                                  \
        CHECK_OK(call);                                                                     \
        CASE(tessera_store_open_in_memory(o, &s), TESSERA_INVALID_ARGUMENT);                \
        tessera_options_free(o);                                                            \
    } while (0)
    BAD_OPTION(tessera_options_set_cache_size(o, 0));
    BAD_OPTION(tessera_options_set_prefixes(o, S("same"), S("same")));
    BAD_OPTION(tessera_options_set_prefixes(o, S("my-app"), S("key")));
    BAD_OPTION(tessera_options_set_prefixes(o, S("p23456789012345678901234567890123"), S("k")));
    BAD_OPTION(tessera_options_set_prefixes(o, NULL, 0, S("k")));
    BAD_OPTION(tessera_options_set_flush_interval(o, 50));
    BAD_OPTION(tessera_options_set_sweep_interval(o, 10));
    BAD_OPTION(tessera_options_set_purge_batch(o, 0));
    BAD_OPTION(tessera_options_set_max_metadata_len(o, 70000));
    BAD_OPTION(tessera_options_set_session_ttl(o, 0));
    CHECK_OK(tessera_options_new(&o));
    CHECK_OK(tessera_options_set_concurrency(o, TESSERA_CONCURRENCY_MULTI_PROCESS));
    CHECK_OK(tessera_options_set_durability(o, TESSERA_DURABILITY_EVENTUAL));
    CASE(tessera_store_open_in_memory(o, &s), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_pepper(o, (const uint8_t *)"too short", 9), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_pepper(o, big, sizeof big), TESSERA_INVALID_ARGUMENT);
    tessera_options_free(o);

    /* Ids. */
    CASE(tessera_get(store, id, TESSERA_ID_LEN - 1, &r), TESSERA_INVALID_ARGUMENT);
    char long_id[TESSERA_ID_BUF_LEN + 1];
    snprintf(long_id, sizeof long_id, "%s0", id);
    CASE(tessera_get(store, S(long_id), &r), TESSERA_INVALID_ARGUMENT);
    char bad_id[TESSERA_ID_BUF_LEN];
    memcpy(bad_id, id, sizeof bad_id);
    bad_id[5] = '!';
    CASE(tessera_get(store, S(bad_id), &r), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_get(store, S("zzzzzzzzzzz00000000000"), &r), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_get(store, S("0000000000000000000000"), &r), TESSERA_NOT_FOUND);
    CASE(tessera_revoke_by_id(store, S("0000000000000000000000"), &n), TESSERA_NOT_FOUND);
    CASE(tessera_renew_by_id(store, S("0000000000000000000000"), 1000, NULL, NULL),
         TESSERA_NOT_FOUND);
    CASE(tessera_roll_by_id(store, S("0000000000000000000000"), 0, buf, sizeof buf, NULL, NULL),
         TESSERA_NOT_FOUND);
    CASE(tessera_issue_child_by_id(store, S("0000000000000000000000"), session, buf, sizeof buf,
                                   NULL, NULL, NULL),
         TESSERA_NOT_FOUND);
    CASE(tessera_children(store, S(bad_id), &l), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_revoke_subject(store, S("alice"), S(bad_id), &n), TESSERA_INVALID_ARGUMENT);
    CHECK(strstr(tessera_last_error_message(), "except_id") != NULL);
}

/* A setter that fails changes nothing: the options set before it stay in force (the pepper, the
 * prefixes, the clock), whatever the failure (a bad number, a bad length, bad UTF-8, NULL). */
static void failed_setters_change_nothing(void) {
    char dir[] = "/tmp/tessera-c-options-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/tokens.redb", dir);
    static const uint8_t pepper[] = "a pepper of 32 bytes, not less!!";
    tessera_clock *c = NULL;
    tessera_options *o = NULL, *plain = NULL;
    tessera_request *q = NULL;
    tessera_store *s = NULL;
    char t[TESSERA_TOKEN_BUF_LEN];
    int64_t now = 0;

    CHECK_OK(tessera_clock_new(1795392000000, &c));
    CHECK_OK(tessera_options_new(&o));
    CHECK_OK(tessera_options_set_pepper(o, pepper, 32));
    CHECK_OK(tessera_options_set_prefixes(o, S("kept"), S("keptkey")));
    CHECK_OK(tessera_options_set_clock(o, c));
    CASE(tessera_options_set_durability(o, 0), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_concurrency(o, 9), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_pepper(o, (const uint8_t *)"too short", 9), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_pepper(o, NULL, 16), TESSERA_NULL_ARGUMENT);
    CASE(tessera_options_set_prefixes(o, S(NOT_UTF8), S("k")), TESSERA_INVALID_UTF8);
    CASE(tessera_options_set_session_ttl(o, -2), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_flush_interval(o, TESSERA_DURATION_NONE), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_subject_cap(o, 0, 1, TESSERA_CAP_REFUSE), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_options_set_clock(o, NULL), TESSERA_NULL_ARGUMENT);

    /* The prefixes and the clock are still in force... */
    CHECK_OK(tessera_store_open(S(path), o, &s));
    CHECK_OK(tessera_request_new_session(S("carol"), &q));
    CHECK_OK(tessera_issue(s, q, t, sizeof t, NULL, NULL));
    tessera_request_free(q);
    CHECK(strncmp(t, "kept_", 5) == 0);
    CHECK_OK(tessera_now(s, &now));
    CHECK(now == 1795392000000);
    CHECK_OK(tessera_store_close(s));
    tessera_store_free(s);

    /* ...and so is the pepper: the file was created with it, and opens with it only. */
    CHECK_OK(tessera_options_new(&plain));
    CHECK_OK(tessera_options_set_prefixes(plain, S("kept"), S("keptkey")));
    s = NULL;
    CASE(tessera_store_open(S(path), plain, &s), TESSERA_PEPPER);
    CHECK(s == NULL);
    tessera_options_free(plain);
    CHECK_OK(tessera_store_open(S(path), o, &s));
    CASE(tessera_verify(s, S(t), NULL), TESSERA_OK);
    CHECK_OK(tessera_store_close(s));
    tessera_store_free(s);

    tessera_options_free(o);
    tessera_clock_free(c);
    unlink(path);
    rmdir(dir);
}

/* An empty text is not an absent one: NULL with length 0 is "none" where an input is optional,
 * any other pointer with length 0 is the empty text. */
static void empty_is_not_absent(void) {
    tessera_store *s = NULL;
    tessera_request *q = NULL;
    char in_default[TESSERA_TOKEN_BUF_LEN], in_acme[TESSERA_TOKEN_BUF_LEN];
    tessera_record *r = NULL;
    size_t n = 0;
    int64_t now = 0;

    CHECK_OK(tessera_store_open_in_memory(options, &s));
    CHECK_OK(tessera_request_new_session(S("dave"), &q));
    CHECK_OK(tessera_issue(s, q, in_default, sizeof in_default, NULL, NULL));
    CHECK_OK(tessera_request_set_tenant(q, S("acme")));
    CHECK_OK(tessera_issue(s, q, in_acme, sizeof in_acme, NULL, &r));
    tessera_request_free(q);
    CHECK_OK(tessera_now(s, &now));
    /* The default tenant "" is a tenant like any other. */
    CASE(tessera_revoke_issued_before(s, TESSERA_SCOPE_TENANT, "", 0, now + 1), TESSERA_OK);
    CASE(tessera_verify(s, S(in_default), NULL), TESSERA_REVOKED);
    CASE(tessera_verify(s, S(in_acme), NULL), TESSERA_OK);
    CASE(tessera_revoke_issued_before(s, TESSERA_SCOPE_TENANT, NULL, 0, now + 1),
         TESSERA_INVALID_ARGUMENT);
    CASE(tessera_revoke_issued_before(s, TESSERA_SCOPE_STORE, "", 0, now + 1),
         TESSERA_INVALID_ARGUMENT);
    /* A cutoff more than a day ahead (microseconds passed as milliseconds) would revoke every
       token issued for ever: refused, and the acme token still verifies. */
    CASE(tessera_revoke_issued_before(s, TESSERA_SCOPE_STORE, NULL, 0, now * 1000),
         TESSERA_INVALID_ARGUMENT);
    CASE(tessera_revoke_issued_before(s, TESSERA_SCOPE_TENANT, S("acme"),
                                      now + 24 * 3600 * 1000 + 1),
         TESSERA_INVALID_ARGUMENT);
    CASE(tessera_verify(s, S(in_acme), NULL), TESSERA_OK);
    /* An empty except_id is not "no exception": it is not an id, and nothing is revoked. */
    CASE(tessera_revoke_subject(s, S("dave"), "", 0, &n), TESSERA_INVALID_ARGUMENT);
    CASE(tessera_verify(s, S(in_acme), NULL), TESSERA_OK);
    CASE(tessera_revoke_subject(s, S("dave"), S(r->id), &n), TESSERA_OK);
    CASE(tessera_verify(s, S(in_acme), NULL), TESSERA_OK);
    tessera_free(r);
    CHECK_OK(tessera_store_close(s));
    tessera_store_free(s);
}

static void files(void) {
    char dir[] = "/tmp/tessera-c-bad-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128], text_file[128], weird[128];
    tessera_store *s = NULL, *again = NULL;

    /* A file that is not a store. */
    snprintf(text_file, sizeof text_file, "%s/notes.txt", dir);
    FILE *f = fopen(text_file, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs("hello, this is not a token store\n", f);
        fclose(f);
    }
    CASE(tessera_store_open(S(text_file), NULL, &s), TESSERA_NOT_A_STORE);
    /* A directory, and a file in a directory that does not exist. */
    CASE(tessera_store_open(S(dir), NULL, &s), TESSERA_IO);
    snprintf(path, sizeof path, "%s/missing/tokens.redb", dir);
    CASE(tessera_store_open(S(path), NULL, &s), TESSERA_IO);

    /* The same file twice: the same options share the store, others conflict. */
    snprintf(path, sizeof path, "%s/tokens.redb", dir);
    CHECK_OK(tessera_store_open(S(path), NULL, &s));
    CASE(tessera_store_open(S(path), NULL, &again), TESSERA_OK);
    tessera_options *o = NULL;
    CHECK_OK(tessera_options_new(&o));
    CHECK_OK(tessera_options_set_prefixes(o, S("x"), S("y")));
    tessera_store *conflict = NULL;
    CASE(tessera_store_open(S(path), o, &conflict), TESSERA_OPTIONS_CONFLICT);
    tessera_options_free(o);
    CASE(tessera_store_close(again), TESSERA_OK);
    tessera_store_free(again);
    CASE(tessera_verify(s, S(token), NULL), TESSERA_UNKNOWN_TOKEN); /* s is still open */
    /* A backup over an existing file. */
    CASE(tessera_backup(s, S(text_file), NULL), TESSERA_INVALID_ARGUMENT);

    /* A path that is not UTF-8 is a valid file name on Unix. */
    snprintf(weird, sizeof weird, "%s/t\xff\xfe.redb", dir);
    CASE(tessera_store_open(S(weird), NULL, &again), TESSERA_OK);
    tessera_store_free(again);

    /* Another process cannot open the file while this one has it. */
    cases++;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        tessera_store *child = NULL;
        tessera_status st = tessera_store_open(S(path), NULL, &child);
        if (st != TESSERA_LOCKED) {
            fprintf(stderr, "child: open returned %s\n", tessera_status_name(st));
        }
        end_child(st == TESSERA_LOCKED ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    CHECK_OK(tessera_store_close(s));
    tessera_store_free(s);
    unlink(path);
    unlink(weird);
    unlink(text_file);
    rmdir(dir);
}

static void closed_and_freed(void) {
    tessera_store *s = NULL;
    CHECK_OK(tessera_store_open_in_memory(options, &s));
    CASE(tessera_store_close(s), TESSERA_OK);
    every_store_call(s, TESSERA_CLOSED);
    CASE(tessera_store_close(s), TESSERA_CLOSED); /* double close */
    CHECK(strstr(tessera_last_error_message(), "closed") != NULL);
    tessera_store_free(s);
    every_store_call(s, TESSERA_INVALID_HANDLE); /* use after free */
    CASE(tessera_store_close(s), TESSERA_INVALID_HANDLE);
    cases++;
    tessera_store_free(s); /* double free: ignored */
    CHECK(1);
    /* A handle freed without closing first. */
    CHECK_OK(tessera_store_open_in_memory(options, &s));
    tessera_store_free(s);
    CASE(tessera_verify(s, S(token), NULL), TESSERA_INVALID_HANDLE);
}

static void forked_child(void) {
    /* A fresh token, so that the parent can check the store after the child is gone. */
    char mine[TESSERA_TOKEN_BUF_LEN];
    CHECK_OK(tessera_issue(store, session, mine, sizeof mine, NULL, NULL));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        checks_failed = 0;
        every_store_call(store, TESSERA_FORKED_CHILD);
        CASE(tessera_store_close(store), TESSERA_FORKED_CHILD);
        CHECK(strstr(tessera_last_error_message(), "fork") != NULL);
        tessera_store_free(store); /* releases the inherited handle, leaves the file alone */
        CASE(tessera_verify(store, S(mine), NULL), TESSERA_INVALID_HANDLE);
        /* The child opens its own store. */
        tessera_store *own = NULL;
        char t[TESSERA_TOKEN_BUF_LEN];
        CASE(tessera_store_open_in_memory(options, &own), TESSERA_OK);
        CASE(tessera_issue(own, session, t, sizeof t, NULL, NULL), TESSERA_OK);
        CASE(tessera_verify(own, S(t), NULL), TESSERA_OK);
        CHECK_OK(tessera_store_close(own));
        tessera_store_free(own);
        end_child(checks_failed);
    }
    /* The child's rows (every store call, then 5 more), counted here: the child's counter dies
     * with it, and its exit status says whether they all passed. */
    cases += store_calls + 5;
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The parent's handle is untouched. */
    CASE(tessera_verify(store, S(mine), NULL), TESSERA_OK);
}

int main(void) {
    CHECK_OK(tessera_clock_new(1795392000000, &clock_));
    CHECK_OK(tessera_options_new(&options));
    CHECK_OK(tessera_options_set_clock(options, clock_));
    CHECK_OK(tessera_options_set_max_metadata_len(options, 1024));
    CHECK_OK(tessera_store_open_in_memory(options, &store));
    CHECK_OK(tessera_request_new_session(S("alice"), &session));
    CHECK_OK(tessera_request_set_tenant(session, S("acme")));
    CHECK_OK(tessera_requirements_new(&needs));
    CHECK_OK(tessera_requirements_set_tenant(needs, S("acme")));
    tessera_record *r = NULL;
    CHECK_OK(tessera_issue(store, session, token, sizeof token, NULL, &r));
    memcpy(id, r->id, sizeof id);
    tessera_free(r);

    null_and_freed_handles();
    null_inputs_with_length();
    huge_lengths();
    null_outputs();
    zero_lengths_utf8_and_nul();
    wrong_and_forged_tokens();
    small_buffers_bad_numbers_and_ids();
    failed_setters_change_nothing();
    empty_is_not_absent();
    files();
    closed_and_freed();
    forked_child();

    CHECK_OK(tessera_store_close(store));
    tessera_store_free(store);
    tessera_request_free(session);
    tessera_requirements_free(needs);
    tessera_options_free(options);
    tessera_clock_free(clock_);
    printf("bad-input matrix: %d cases\n", cases);
    return finish("bad_input");
}
