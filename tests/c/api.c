/*
 * A C program that uses every function of tessera's ABI the way a web backend written in C
 * would: options and a manual clock, a store file, sessions, API keys, limited-use tokens,
 * verify with requirements, the header parser, renewal, every kind of revocation, listings,
 * statistics, expiry and purge, backup, compaction, the integrity check, closing and reopening.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define MINUTE ((int64_t)60 * 1000)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)
/* 2026-11-23T00:00:00Z */
#define T0 ((int64_t)1795392000000)

static const uint8_t PEPPER[32] = "0123456789abcdef0123456789abcdef";

static int str_is(tessera_str s, const char *want) {
    return s.ptr != NULL && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0 &&
           s.ptr[s.len] == '\0';
}

/* Options of the store under test; the caller frees them. */
static tessera_options *test_options(const tessera_clock *clock) {
    tessera_options *o = NULL;
    CHECK_OK(tessera_options_new(&o));
    CHECK_OK(tessera_options_set_cache_size(o, 8u << 20));
    CHECK_OK(tessera_options_set_durability(o, TESSERA_DURABILITY_DURABLE));
    CHECK_OK(tessera_options_set_concurrency(o, TESSERA_CONCURRENCY_EXCLUSIVE));
    CHECK_OK(tessera_options_set_prefixes(o, S("app"), S("appkey")));
    CHECK_OK(tessera_options_set_pepper(o, PEPPER, sizeof PEPPER));
    CHECK_OK(tessera_options_set_clock(o, clock));
    CHECK_OK(tessera_options_set_session_ttl(o, 8 * HOUR));
    CHECK_OK(tessera_options_set_session_idle_timeout(o, 30 * MINUTE));
    CHECK_OK(tessera_options_set_session_max_lifetime(o, 7 * DAY));
    CHECK_OK(tessera_options_set_api_key_ttl(o, TESSERA_DURATION_NONE));
    CHECK_OK(tessera_options_set_flush_interval(o, 1000));
    CHECK_OK(tessera_options_set_sweep_interval(o, TESSERA_DURATION_NONE));
    CHECK_OK(tessera_options_set_purge_batch(o, 2));
    CHECK_OK(tessera_options_set_revoked_retention(o, DAY));
    CHECK_OK(tessera_options_set_max_metadata_len(o, 1024));
    return o;
}

/* Issues `request`; the token text goes to `token` (TESSERA_TOKEN_BUF_LEN bytes). */
static tessera_record *issue(tessera_store *store, const tessera_request *request, char *token) {
    tessera_record *record = NULL;
    size_t len = 0;
    CHECK_OK(tessera_issue(store, request, token, TESSERA_TOKEN_BUF_LEN, &len, &record));
    CHECK(len == strlen(token));
    CHECK(record != NULL);
    return record;
}

static void versions(void) {
    CHECK(tessera_abi_version() == TESSERA_ABI_VERSION);
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", TESSERA_VERSION_MAJOR, TESSERA_VERSION_MINOR,
             TESSERA_VERSION_PATCH);
    CHECK(strcmp(tessera_version(), want) == 0);
    CHECK(strcmp(tessera_status_name(TESSERA_OK), "ok") == 0);
    CHECK(strcmp(tessera_status_name(TESSERA_REVOKED), "revoked") == 0);
    CHECK(strcmp(tessera_status_name(TESSERA_FORKED_CHILD), "forked_child") == 0);
    CHECK(strcmp(tessera_status_name(12345), "unrecognized_status") == 0);
}

static void header_parser(const char *token) {
    char value[256];
    tessera_scheme scheme = 0;
    size_t offset = 0, len = 0;

    snprintf(value, sizeof value, "Bearer %s", token);
    CHECK_OK(tessera_parse_header(S("Authorization"), S(value), &scheme, &offset, &len));
    CHECK(scheme == TESSERA_SCHEME_BEARER && offset == 7 && len == strlen(token));
    CHECK(memcmp(value + offset, token, len) == 0);

    snprintf(value, sizeof value, "Token token=\"%s\"", token);
    CHECK_OK(tessera_parse_authorization(S(value), &scheme, &offset, &len));
    CHECK(scheme == TESSERA_SCHEME_TOKEN && offset == 13 && len == strlen(token));

    snprintf(value, sizeof value, "ApiKey %s", token);
    CHECK_OK(tessera_parse_header(S("authorization"), S(value), &scheme, &offset, &len));
    CHECK(scheme == TESSERA_SCHEME_API_KEY && offset == 7);

    snprintf(value, sizeof value, "  %s ", token);
    CHECK_OK(tessera_parse_header(S("X-Access-Token"), S(value), NULL, &offset, &len));
    CHECK(offset == 2 && len == strlen(token));

    CHECK_STATUS(tessera_parse_header(S("Authorization"), S("Basic dXNlcjpwYXNz"), &scheme,
                                      &offset, &len),
                 TESSERA_UNKNOWN_SCHEME);
    CHECK_STATUS(tessera_parse_header(S("Cookie"), S("a=b"), &scheme, &offset, &len),
                 TESSERA_UNSUPPORTED_HEADER);
    /* A header longer than the limit on every input is a bad credential too, not a usage error. */
    size_t huge_len = 2u * 1024 * 1024;
    char *huge = malloc(huge_len);
    CHECK(huge != NULL);
    memset(huge, 'x', huge_len);
    memcpy(huge, "Token ", 6);
    CHECK_STATUS(tessera_parse_header(S("Authorization"), huge, huge_len, &scheme, &offset, &len),
                 TESSERA_CREDENTIAL_TOO_LONG);
    CHECK_STATUS(tessera_parse_authorization(huge, huge_len, &scheme, &offset, &len),
                 TESSERA_CREDENTIAL_TOO_LONG);
    free(huge);
}

/* Child tokens, rotation, rolling keys, per-subject caps, epochs and the audit feed. */
static void lifecycles(void) {
    tessera_clock *clock = NULL;
    CHECK_OK(tessera_clock_new(T0, &clock));
    tessera_options *o = NULL;
    CHECK_OK(tessera_options_new(&o));
    CHECK_OK(tessera_options_set_clock(o, clock));
    CHECK_OK(tessera_options_set_rotation_grace(o, 30 * 1000));
    CHECK_OK(tessera_options_set_subject_cap(o, TESSERA_KIND_SESSION, 2, TESSERA_CAP_EVICT_OLDEST));
    CHECK_OK(tessera_options_set_subject_cap(o, TESSERA_KIND_API_KEY, 1, TESSERA_CAP_REFUSE));
    CHECK_OK(tessera_options_set_event_retention(o, 1000));
    tessera_store *store = NULL;
    CHECK_OK(tessera_store_open_in_memory(o, &store));
    tessera_options_free(o);

    /* A parent session and two children: one by the parent's text, one by its id. */
    tessera_request *req = NULL;
    CHECK_OK(tessera_request_new_session(S("frank"), &req));
    CHECK_OK(tessera_request_set_ttl(req, HOUR));
    char parent[TESSERA_TOKEN_BUF_LEN];
    tessera_record *r = issue(store, req, parent);
    char parent_id[TESSERA_ID_BUF_LEN];
    memcpy(parent_id, r->id, sizeof parent_id);
    tessera_free(r);
    tessera_request_free(req);
    CHECK_OK(tessera_request_new_api_key(S("partner"), &req));
    CHECK_OK(tessera_request_set_ttl(req, 2 * HOUR));
    char child[TESSERA_TOKEN_BUF_LEN];
    size_t len = 0;
    bool clamped = false;
    CHECK_OK(tessera_issue_child(store, S(parent), req, child, sizeof child, &len, &r, &clamped));
    CHECK(clamped && len == strlen(child));
    CHECK(r->has_parent && strcmp(r->parent, parent_id) == 0 && r->expires_at == T0 + HOUR);
    char child_id[TESSERA_ID_BUF_LEN];
    memcpy(child_id, r->id, sizeof child_id);
    tessera_free(r);
    CHECK_OK(tessera_request_set_ttl(req, MINUTE));
    CHECK_OK(tessera_clock_advance(clock, 1000)); /* so that the children list in this order */
    CHECK_OK(tessera_issue_child_by_id(store, S(parent_id), req, child, sizeof child, NULL, NULL,
                                       &clamped));
    CHECK(!clamped);
    tessera_request_free(req);
    tessera_record_list *list = NULL;
    CHECK_OK(tessera_children(store, S(parent_id), &list));
    CHECK(list->len == 2 && strcmp(list->records[0].id, child_id) == 0);
    tessera_free(list);
    CHECK_OK(tessera_revoke(store, S(parent), NULL));
    CHECK_STATUS(tessera_verify(store, S(child), NULL), TESSERA_REVOKED);
    CHECK_OK(tessera_get(store, S(child_id), &r));
    CHECK(r->revoke_reason == TESSERA_REVOKE_CASCADE);
    tessera_free(r);

    /* Rotation: the old token works during the grace window; after it, reuse kills the family. */
    CHECK_OK(tessera_request_new_session(S("gina"), &req));
    char first[TESSERA_TOKEN_BUF_LEN], second[TESSERA_TOKEN_BUF_LEN];
    r = issue(store, req, first);
    char first_id[TESSERA_ID_BUF_LEN];
    memcpy(first_id, r->id, sizeof first_id);
    tessera_free(r);
    CHECK_OK(tessera_rotate(store, S(first), second, sizeof second, &len, &r));
    CHECK(len == strlen(second) && strcmp(first, second) != 0);
    CHECK(r->has_family && strcmp(r->family, first_id) == 0);
    char second_id[TESSERA_ID_BUF_LEN];
    memcpy(second_id, r->id, sizeof second_id);
    tessera_free(r);
    CHECK_OK(tessera_get(store, S(first_id), &r));
    CHECK(r->has_successor && strcmp(r->successor, second_id) == 0);
    CHECK(r->replacement == TESSERA_REPLACEMENT_ROTATED && r->replaced_at == T0 + 1000);
    CHECK(r->grace_until == T0 + 1000 + 30 * 1000);
    tessera_free(r);
    CHECK_OK(tessera_verify(store, S(first), NULL));
    CHECK_OK(tessera_verify(store, S(second), NULL));
    CHECK_OK(tessera_clock_advance(clock, 31 * 1000));
    CHECK_STATUS(tessera_verify(store, S(first), NULL), TESSERA_REUSE_DETECTED);
    CHECK_STATUS(tessera_verify(store, S(second), NULL), TESSERA_REVOKED);
    CHECK_OK(tessera_get(store, S(second_id), &r));
    CHECK(r->revoke_reason == TESSERA_REVOKE_REUSE);
    tessera_free(r);

    /* Per-subject cap on sessions: a third login of gina evicts her oldest live one. */
    char g1[TESSERA_TOKEN_BUF_LEN], g2[TESSERA_TOKEN_BUF_LEN], g3[TESSERA_TOKEN_BUF_LEN];
    tessera_free(issue(store, req, g1));
    CHECK_OK(tessera_clock_advance(clock, 1000));
    tessera_free(issue(store, req, g2));
    CHECK_OK(tessera_clock_advance(clock, 1000));
    tessera_free(issue(store, req, g3));
    tessera_request_free(req);
    CHECK_STATUS(tessera_verify(store, S(g1), NULL), TESSERA_REVOKED);
    CHECK_OK(tessera_verify(store, S(g2), NULL));
    CHECK_OK(tessera_verify(store, S(g3), NULL));

    /* Rolling an API key, whose cap (one per subject) refuses a second key. */
    CHECK_OK(tessera_request_new_api_key(S("acme"), &req));
    CHECK_OK(tessera_request_set_subject(req, S("hank")));
    CHECK_OK(tessera_request_add_scope(req, S("deploy")));
    char k1[TESSERA_TOKEN_BUF_LEN], k2[TESSERA_TOKEN_BUF_LEN], k3[TESSERA_TOKEN_BUF_LEN];
    CHECK_OK(tessera_issue(store, req, k1, sizeof k1, NULL, NULL));
    CHECK_STATUS(tessera_issue(store, req, k2, sizeof k2, NULL, NULL), TESSERA_LIMIT_REACHED);
    tessera_request_free(req);
    CHECK_OK(tessera_roll(store, S(k1), MINUTE, k2, sizeof k2, NULL, &r));
    CHECK(r->scopes_len == 1 && str_is(r->scopes[0], "deploy") && str_is(r->subject, "hank"));
    char k2_id[TESSERA_ID_BUF_LEN];
    memcpy(k2_id, r->id, sizeof k2_id);
    tessera_free(r);
    CHECK_OK(tessera_verify(store, S(k1), NULL));
    CHECK_OK(tessera_verify(store, S(k2), NULL));
    CHECK_OK(tessera_clock_advance(clock, MINUTE));
    CHECK_STATUS(tessera_verify(store, S(k1), NULL), TESSERA_EXPIRED);
    CHECK_OK(tessera_roll_by_id(store, S(k2_id), 0, k3, sizeof k3, &len, NULL));
    CHECK(len == strlen(k3));
    CHECK_STATUS(tessera_verify(store, S(k2), NULL), TESSERA_EXPIRED);
    CHECK_OK(tessera_verify(store, S(k3), NULL));

    /* Everything issued before now, by subject, tenant and store. */
    int64_t now = 0;
    CHECK_OK(tessera_now(store, &now));
    CHECK_OK(tessera_revoke_issued_before(store, TESSERA_SCOPE_SUBJECT, S("gina"), now + 1));
    CHECK_STATUS(tessera_verify(store, S(g3), NULL), TESSERA_REVOKED);
    CHECK_OK(tessera_verify(store, S(k3), NULL));
    CHECK_OK(tessera_revoke_issued_before(store, TESSERA_SCOPE_TENANT, S("acme"), now + 1));
    CHECK_STATUS(tessera_verify(store, S(k3), NULL), TESSERA_REVOKED);
    CHECK_OK(tessera_revoke_issued_before(store, TESSERA_SCOPE_STORE, NULL, 0, now + 1));

    /* The audit feed tells all of it, in order, by id only. */
    tessera_event_list *events = NULL;
    CHECK_OK(tessera_events(store, 0, 1000, &events));
    CHECK(events->len > 10 && events->events[0].kind == TESSERA_EVENT_ISSUED);
    CHECK(events->events[0].has_token && strcmp(events->events[0].token, parent_id) == 0);
    int cascades = 0, rotations = 0, rolls = 0, before = 0;
    for (size_t i = 0; i < events->len; i++) {
        const tessera_event *e = &events->events[i];
        CHECK(i == 0 || e->seq > events->events[i - 1].seq);
        cascades += e->kind == TESSERA_EVENT_REVOKED && e->reason == TESSERA_REVOKE_CASCADE;
        rotations += e->kind == TESSERA_EVENT_ROTATED;
        rolls += e->kind == TESSERA_EVENT_ROLLED;
        if (e->kind == TESSERA_EVENT_REVOKED_BEFORE) {
            before++;
            CHECK(!e->has_token && e->scope.ptr != NULL);
        }
    }
    CHECK(cascades == 2 && rotations == 1 && rolls == 2 && before == 3);
    CHECK(str_is(events->events[events->len - 1].scope, "store"));
    uint64_t last = events->events[events->len - 1].seq;
    tessera_free(events);
    CHECK_OK(tessera_events(store, last, 10, &events));
    CHECK(events->len == 0 && events->events == NULL);
    tessera_free(events);

    CHECK_OK(tessera_store_close(store));
    tessera_store_free(store);
    tessera_clock_free(clock);
}

int main(void) {
    versions();

    char dir[] = "/tmp/tessera-c-api-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128], backup[128];
    snprintf(path, sizeof path, "%s/tokens.redb", dir);
    snprintf(backup, sizeof backup, "%s/backup.redb", dir);

    tessera_clock *clock = NULL;
    CHECK_OK(tessera_clock_new(T0, &clock));
    int64_t now = 0;
    CHECK_OK(tessera_clock_now(clock, &now));
    CHECK(now == T0);

    tessera_options *options = test_options(clock);
    tessera_store *store = NULL;
    CHECK_OK(tessera_store_open(S(path), options, &store));
    CHECK_OK(tessera_now(store, &now));
    CHECK(now == T0);

    /* A login session on a laptop. */
    static const uint8_t device[] = {'f', 'x', 0, 1, 2};
    tessera_request *login = NULL;
    CHECK_OK(tessera_request_new_session(S("alice"), &login));
    CHECK_OK(tessera_request_set_tenant(login, S("acme")));
    CHECK_OK(tessera_request_set_label(login, S("Firefox on Linux")));
    CHECK_OK(tessera_request_set_metadata(login, device, sizeof device));
    CHECK_OK(tessera_request_add_scope(login, S("profile:read")));
    char laptop[TESSERA_TOKEN_BUF_LEN];
    tessera_record *r = issue(store, login, laptop);
    CHECK(strncmp(laptop, "app_", 4) == 0 && strlen(laptop) == 4 + 72);
    CHECK(strlen(r->id) == TESSERA_ID_LEN);
    CHECK(strstr(laptop, r->id) == laptop + 4);
    CHECK(r->kind == TESSERA_KIND_SESSION);
    CHECK(str_is(r->tenant, "acme") && str_is(r->subject, "alice"));
    CHECK(str_is(r->label, "Firefox on Linux"));
    CHECK(r->scopes_len == 1 && str_is(r->scopes[0], "profile:read"));
    CHECK(r->metadata_len == sizeof device && memcmp(r->metadata, device, sizeof device) == 0);
    CHECK(r->created_at == T0);
    CHECK(r->has_expires_at && r->expires_at == T0 + 8 * HOUR);
    CHECK(r->has_idle_timeout && r->idle_timeout_ms == 30 * MINUTE);
    CHECK(r->has_max_lifetime && r->max_lifetime_ms == 7 * DAY);
    CHECK(r->has_deadline && r->deadline == T0 + 30 * MINUTE);
    CHECK(!r->has_last_used_at && r->uses == 0 && !r->has_max_uses && !r->has_parent);
    CHECK(!r->revoked && r->revoke_reason == TESSERA_REVOKE_NONE);
    char laptop_id[TESSERA_ID_BUF_LEN];
    memcpy(laptop_id, r->id, sizeof laptop_id);
    tessera_free(r);

    /* The same user on a phone. */
    CHECK_OK(tessera_request_set_label(login, S("Phone")));
    char phone[TESSERA_TOKEN_BUF_LEN];
    r = issue(store, login, phone);
    char phone_id[TESSERA_ID_BUF_LEN];
    memcpy(phone_id, r->id, sizeof phone_id);
    tessera_free(r);
    tessera_request_free(login);

    /* Verify: no write, the record comes back when asked for. */
    uint64_t commits_before = 0, commits_after = 0;
    CHECK_OK(tessera_commits(store, &commits_before));
    CHECK(commits_before > 0);
    CHECK_OK(tessera_verify(store, S(laptop), &r));
    CHECK(str_is(r->subject, "alice") && r->has_last_used_at && r->last_used_at == T0);
    tessera_free(r);
    CHECK_OK(tessera_verify(store, S(phone), NULL));
    CHECK_OK(tessera_commits(store, &commits_after));
    CHECK(commits_after == commits_before);

    header_parser(laptop);

    /* Requirements of a route. */
    tessera_requirements *profile = NULL, *admin = NULL, *other = NULL;
    CHECK_OK(tessera_requirements_new(&profile));
    CHECK_OK(tessera_requirements_set_tenant(profile, S("acme")));
    CHECK_OK(tessera_requirements_add_scope(profile, S("profile:read")));
    /* A requirement no token can meet is the caller's mistake, refused at once; the
     * requirements stay as they were. */
    CHECK_STATUS(tessera_requirements_add_scope(profile, S("profile:read ")),
                 TESSERA_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_requirements_add_scope(profile, S("")), TESSERA_INVALID_ARGUMENT);
    CHECK_STATUS(tessera_requirements_set_tenant(profile, S("ac\nme")), TESSERA_INVALID_ARGUMENT);
    CHECK_OK(tessera_requirements_new(&admin));
    CHECK_OK(tessera_requirements_add_scope(admin, S("admin")));
    CHECK_OK(tessera_requirements_new(&other));
    CHECK_OK(tessera_requirements_set_tenant(other, S("globex")));
    CHECK_OK(tessera_verify_with(store, S(laptop), profile, NULL));
    CHECK_STATUS(tessera_verify_with(store, S(laptop), admin, NULL), TESSERA_SCOPE_DENIED);
    CHECK_STATUS(tessera_verify_with(store, S(laptop), other, NULL), TESSERA_TENANT_MISMATCH);
    tessera_requirements_free(profile);
    tessera_requirements_free(admin);
    tessera_requirements_free(other);

    /* An API key of the tenant, owned by bob, that never expires. */
    tessera_request *key_req = NULL;
    CHECK_OK(tessera_request_new_api_key(S("acme"), &key_req));
    CHECK_OK(tessera_request_set_subject(key_req, S("bob")));
    CHECK_OK(tessera_request_add_scope(key_req, S("reports:read")));
    CHECK_OK(tessera_request_add_scope(key_req, S("locations:12")));
    CHECK_OK(tessera_request_set_label(key_req, S("BI export")));
    CHECK_OK(tessera_request_set_ttl(key_req, TESSERA_DURATION_NONE));
    CHECK_OK(tessera_request_set_idle_timeout(key_req, TESSERA_DURATION_NONE));
    CHECK_OK(tessera_request_set_max_lifetime(key_req, TESSERA_DURATION_NONE));
    char key[TESSERA_TOKEN_BUF_LEN];
    r = issue(store, key_req, key);
    CHECK(strncmp(key, "appkey_", 7) == 0);
    CHECK(r->kind == TESSERA_KIND_API_KEY && !r->has_expires_at && !r->has_deadline);
    CHECK(r->scopes_len == 2 && str_is(r->scopes[1], "locations:12"));
    char key_id[TESSERA_ID_BUF_LEN];
    memcpy(key_id, r->id, sizeof key_id);
    tessera_free(r);
    tessera_request_free(key_req);

    /* A one-time magic link for carol, valid 15 minutes. */
    tessera_request *link_req = NULL;
    CHECK_OK(tessera_request_new_session(S("carol"), &link_req));
    CHECK_OK(tessera_request_set_ttl(link_req, 15 * MINUTE));
    CHECK_OK(tessera_request_set_max_uses(link_req, 1));
    char link[TESSERA_TOKEN_BUF_LEN];
    size_t link_len = 0;
    CHECK_OK(tessera_issue(store, link_req, link, sizeof link, &link_len, NULL));
    CHECK(link_len == strlen(link));
    tessera_request_free(link_req);
    CHECK_OK(tessera_verify(store, S(link), &r));
    CHECK(r->has_max_uses && r->max_uses == 1 && r->uses == 1);
    tessera_free(r);
    CHECK_STATUS(tessera_verify(store, S(link), NULL), TESSERA_EXHAUSTED);

    /* Listings. */
    tessera_record_list *list = NULL;
    CHECK_OK(tessera_list_subject(store, S("alice"), &list));
    CHECK(list->len == 2);
    if (list->len == 2) {
        /* Oldest first; both were issued at T0, so by id. */
        const tessera_record *a = &list->records[0], *b = &list->records[1];
        CHECK(a->created_at == T0 && b->created_at == T0 && strcmp(a->id, b->id) < 0);
        CHECK((strcmp(a->id, laptop_id) == 0 && strcmp(b->id, phone_id) == 0) ||
              (strcmp(a->id, phone_id) == 0 && strcmp(b->id, laptop_id) == 0));
        CHECK(str_is(strcmp(a->id, laptop_id) == 0 ? a->label : b->label, "Firefox on Linux"));
    }
    tessera_free(list);
    CHECK_OK(tessera_list_tenant(store, S("acme"), TESSERA_ANY_KIND, &list));
    CHECK(list->len == 3);
    tessera_free(list);
    CHECK_OK(tessera_list_tenant(store, S("acme"), TESSERA_KIND_SESSION, &list));
    CHECK(list->len == 2);
    tessera_free(list);
    CHECK_OK(tessera_list_api_keys(store, S("acme"), &list));
    CHECK(list->len == 1 && strcmp(list->records[0].id, key_id) == 0);
    tessera_free(list);
    CHECK_OK(tessera_list_subject(store, S("nobody"), &list));
    CHECK(list->len == 0 && list->records == NULL);
    tessera_free(list);

    /* Get by id. */
    CHECK_OK(tessera_get(store, S(key_id), &r));
    CHECK(str_is(r->subject, "bob") && str_is(r->label, "BI export"));
    tessera_free(r);

    /* Idle timeout and renewal, on the manual clock. */
    CHECK_OK(tessera_clock_advance(clock, 20 * MINUTE));
    CHECK_OK(tessera_verify(store, S(laptop), NULL)); /* a use at T0+20m */
    CHECK_OK(tessera_clock_advance(clock, 25 * MINUTE)); /* T0+45m */
    CHECK_STATUS(tessera_verify(store, S(phone), NULL), TESSERA_IDLE);
    CHECK_OK(tessera_verify(store, S(laptop), NULL));
    bool capped = true;
    CHECK_OK(tessera_renew(store, S(laptop), 9 * HOUR, &r, &capped));
    CHECK(!capped && r->expires_at == T0 + 45 * MINUTE + 9 * HOUR);
    tessera_free(r);
    CHECK_OK(tessera_renew_by_id(store, S(laptop_id), 30 * DAY, &r, &capped));
    CHECK(capped && r->expires_at == T0 + 7 * DAY);
    tessera_free(r);
    CHECK_OK(tessera_renew_by_id(store, S(laptop_id), HOUR, NULL, NULL));

    /* Revocations. */
    size_t revoked = 0;
    CHECK_OK(tessera_revoke(store, S(laptop), &revoked));
    CHECK(revoked == 1);
    CHECK_STATUS(tessera_verify(store, S(laptop), NULL), TESSERA_REVOKED);
    CHECK_OK(tessera_revoke(store, S(laptop), &revoked));
    CHECK(revoked == 0);
    CHECK_OK(tessera_get(store, S(laptop_id), &r));
    CHECK(r->revoked && r->revoke_reason == TESSERA_REVOKE_LOGOUT);
    CHECK(r->revoked_at == T0 + 45 * MINUTE);
    tessera_free(r);

    char dave1[TESSERA_TOKEN_BUF_LEN], dave2[TESSERA_TOKEN_BUF_LEN], dave3[TESSERA_TOKEN_BUF_LEN];
    tessera_request *dave = NULL;
    CHECK_OK(tessera_request_new_session(S("dave"), &dave));
    CHECK_OK(tessera_request_set_tenant(dave, S("globex")));
    tessera_free(issue(store, dave, dave1));
    tessera_free(issue(store, dave, dave2));
    r = issue(store, dave, dave3);
    char dave3_id[TESSERA_ID_BUF_LEN];
    memcpy(dave3_id, r->id, sizeof dave3_id);
    tessera_free(r);
    tessera_request_free(dave);
    CHECK_OK(tessera_revoke_subject(store, S("dave"), S(dave3_id), &revoked));
    CHECK(revoked == 2);
    CHECK_STATUS(tessera_verify(store, S(dave1), NULL), TESSERA_REVOKED);
    CHECK_OK(tessera_verify(store, S(dave3), NULL));
    CHECK_OK(tessera_revoke_by_id(store, S(dave3_id), &revoked));
    CHECK(revoked == 1);
    CHECK_OK(tessera_get(store, S(dave3_id), &r));
    CHECK(r->revoke_reason == TESSERA_REVOKE_BY_ID);
    tessera_free(r);
    CHECK_OK(tessera_revoke_subject(store, S("carol"), NULL, 0, NULL));
    CHECK_OK(tessera_revoke_tenant(store, S("acme"), &revoked));
    CHECK(revoked == 2); /* the API key and the idle phone session; the laptop's was revoked */
    CHECK_STATUS(tessera_verify(store, S(key), NULL), TESSERA_REVOKED);

    /* Statistics. */
    CHECK_OK(tessera_flush(store));
    tessera_stats *stats = NULL;
    CHECK_OK(tessera_store_stats(store, &stats));
    CHECK(stats->schema_version == TESSERA_SCHEMA_VERSION && stats->file_bytes > 0);
    CHECK(stats->all.live + stats->all.expired + stats->all.revoked == 7);
    CHECK(stats->all.live == 0);
    CHECK(stats->kinds_len == 2 && stats->kinds[0].kind == TESSERA_KIND_SESSION);
    CHECK(stats->kinds[1].kind == TESSERA_KIND_API_KEY && stats->kinds[1].counts.revoked == 1);
    CHECK(stats->tenants_len == 3 && str_is(stats->tenants[0].tenant, ""));
    CHECK(str_is(stats->tenants[1].tenant, "acme") && str_is(stats->tenants[2].tenant, "globex"));
    tessera_free(stats);

    /* Expiry and purge: two days later every token is past its deadline or retention. */
    CHECK_OK(tessera_clock_set(clock, T0 + 9 * DAY));
    size_t removed = 0;
    bool more = false;
    CHECK_OK(tessera_purge_batch(store, &removed, &more));
    CHECK(removed == 2 && more);
    CHECK_OK(tessera_purge_expired(store, &removed));
    CHECK(removed == 5);
    CHECK_OK(tessera_purge_batch(store, NULL, NULL));
    CHECK_STATUS(tessera_get(store, S(key_id), &r), TESSERA_NOT_FOUND);
    CHECK_STATUS(tessera_verify(store, S(key), NULL), TESSERA_UNKNOWN_TOKEN);

    /* A key that survives a reopen, a backup, compaction and the integrity check. */
    CHECK_OK(tessera_request_new_api_key(S("initech"), &key_req));
    char kept[TESSERA_TOKEN_BUF_LEN];
    CHECK_OK(tessera_issue(store, key_req, kept, sizeof kept, NULL, NULL));
    tessera_request_free(key_req);
    tessera_status background = TESSERA_INTERNAL;
    CHECK_OK(tessera_background_error(store, &background));
    CHECK(background == TESSERA_OK);
    uint64_t copied = 0;
    CHECK_OK(tessera_backup(store, S(backup), &copied));
    CHECK(copied == 1);
    bool compacted = false, intact = false;
    CHECK_OK(tessera_compact(store, &compacted));
    CHECK_OK(tessera_check_integrity(store, &intact));
    CHECK(intact);
    CHECK_OK(tessera_store_close(store));
    tessera_store_free(store);

    CHECK_OK(tessera_store_open(S(path), options, &store));
    CHECK_OK(tessera_verify(store, S(kept), NULL));
    CHECK_OK(tessera_store_close(store));
    tessera_store_free(store);
    CHECK_OK(tessera_store_open(S(backup), options, &store));
    CHECK_OK(tessera_verify(store, S(kept), NULL));
    tessera_store_free(store); /* free closes too */

    /* Without the pepper, the file verifies nothing. */
    tessera_options *plain = NULL;
    CHECK_OK(tessera_options_new(&plain));
    CHECK_OK(tessera_options_set_prefixes(plain, S("app"), S("appkey")));
    CHECK_STATUS(tessera_store_open(S(path), plain, &store), TESSERA_PEPPER);
    CHECK(strstr(tessera_last_error_message(), "pepper") != NULL);
    tessera_options_free(plain);

    /* In memory, with the defaults. */
    CHECK_OK(tessera_store_open_in_memory(NULL, &store));
    CHECK_OK(tessera_request_new_session(S("erin"), &login));
    char mem[TESSERA_TOKEN_BUF_LEN];
    CHECK_OK(tessera_issue(store, login, mem, sizeof mem, NULL, NULL));
    CHECK(strncmp(mem, "tss_", 4) == 0);
    CHECK_OK(tessera_verify(store, S(mem), NULL));
    tessera_request_free(login);
    CHECK_OK(tessera_store_close(store));
    tessera_store_free(store);

    tessera_options_free(options);
    tessera_clock_free(clock);
    lifecycles();
    unlink(path);
    unlink(backup);
    rmdir(dir);
    return finish("api");
}
