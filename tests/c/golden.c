/*
 * The golden vectors (tests/vectors/golden.json, read by the Rust, Python and Ruby tests too)
 * through the C ABI: every token text against tessera_verify on a fresh in-memory store with
 * the default prefixes (the status name; for a malformed text the reason's fragment in the
 * last-error message and the same refusal from tessera_revoke and tessera_renew; for a
 * well-formed one its id, which tessera_revoke_by_id does not find, and tessera_revoke's
 * unknown_token), every header against tessera_parse_header (and an Authorization header
 * against tessera_parse_authorization too), and every expiry case as steps of a manual clock
 * with verify and renew.
 *
 *   golden [path/to/golden.json]  (default: tests/vectors/golden.json, from the repository root)
 *
 * Hex fields (text_hex, name_hex, value_hex) are decoded and passed as (pointer, length), NUL
 * bytes included. Every input is passed in a heap copy of exactly its length, so that ASan and
 * valgrind catch a read past it. Prints "golden: N tokens, M headers, K expiry cases passed"
 * and the usual checks line; exits non-zero on any mismatch.
 *
 * JSON is parsed with cJSON (Debian's libcjson-dev: <cjson/cJSON.h>, -lcjson).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "check.h"

#define DEFAULT_PATH "tests/vectors/golden.json"
#define VECTORS_VERSION 1

/* The case being run, for messages. */
static char where[256];

/* ---- reporting ---- */

/* Counts a failed check of the current case and says why. */
static void mismatch(const char *fmt, ...) {
    va_list ap;
    checks_failed++;
    fprintf(stderr, "golden: %s: ", where);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* A check of the current case: counted as passed, or reported with its message. */
#define EXPECT(cond, ...)                                                                   \
    do {                                                                                    \
        if (cond) {                                                                         \
            checks_passed++;                                                                \
        } else {                                                                            \
            mismatch(__VA_ARGS__);                                                          \
        }                                                                                   \
    } while (0)

/* Expects `got` (a status) to be named `want` ("ok", "malformed", ...). */
static void expect_status(const char *call, tessera_status got, const char *want) {
    const char *name = tessera_status_name(got);
    EXPECT(strcmp(name, want) == 0, "%s returned %s (%d), expected %s: %s", call, name,
           (int)got, want, got == TESSERA_OK ? "" : tessera_last_error_message());
}

/* Expects a setup call to succeed. */
#define SETUP(expr) expect_status(#expr, (expr), "ok")

/* ---- bytes ---- */

/* An input owned by the test, in a heap block of exactly `len` bytes (at least 1 allocated). */
struct bytes {
    char *ptr;
    size_t len;
};

static struct bytes bytes_alloc(size_t len) {
    struct bytes b = {malloc(len ? len : 1), len};
    if (b.ptr == NULL) {
        fprintf(stderr, "golden: out of memory\n");
        exit(2);
    }
    return b;
}

static struct bytes bytes_copy(const char *data, size_t len) {
    struct bytes b = bytes_alloc(len);
    if (len) {
        memcpy(b.ptr, data, len);
    }
    return b;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/*
 * The bytes of `case_`'s field `key`: `key_hex` decoded when present, else the UTF-8 string
 * `key`. False (after reporting it) when neither is there or the hex is not hex.
 */
static bool field_bytes(const cJSON *case_, const char *key, struct bytes *out) {
    char hex_key[64];
    snprintf(hex_key, sizeof hex_key, "%s_hex", key);
    const cJSON *hex = cJSON_GetObjectItemCaseSensitive(case_, hex_key);
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(case_, key);
    if (cJSON_IsString(hex)) {
        size_t n = strlen(hex->valuestring);
        if (text != NULL || n % 2 != 0) {
            mismatch("vectors file: bad %s (odd length, or %s given too)", hex_key, key);
            return false;
        }
        *out = bytes_alloc(n / 2);
        for (size_t i = 0; i < n / 2; i++) {
            int hi = hex_digit(hex->valuestring[2 * i]);
            int lo = hex_digit(hex->valuestring[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                mismatch("vectors file: %s is not hex", hex_key);
                free(out->ptr);
                return false;
            }
            out->ptr[i] = (char)(hi << 4 | lo);
        }
        return true;
    }
    if (cJSON_IsString(text)) {
        *out = bytes_copy(text->valuestring, strlen(text->valuestring));
        return true;
    }
    mismatch("vectors file: no string %s or %s", key, hex_key);
    return false;
}

/* ---- JSON accessors ---- */

static const char *get_string(const cJSON *obj, const char *key) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* An integer field: 1 if present and an exact integer, 0 if absent, -1 (reported) otherwise. */
static int get_int64(const cJSON *obj, const char *key, int64_t *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (item == NULL) {
        return 0;
    }
    /* cJSON keeps numbers as doubles: exact for integers below 2^53. */
    if (!cJSON_IsNumber(item) || item->valuedouble != (double)(int64_t)item->valuedouble ||
        item->valuedouble > 9007199254740992.0 || item->valuedouble < -9007199254740992.0) {
        mismatch("vectors file: %s is not an integer", key);
        return -1;
    }
    *out = (int64_t)item->valuedouble;
    return 1;
}

/* A short printable form of `b` for messages. */
static const char *shown(const char *data, size_t len) {
    static char buf[64];
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < len && o + 5 < sizeof buf; i++) {
        unsigned char c = (unsigned char)data[i];
        o += (size_t)(c >= 0x20 && c < 0x7f ? snprintf(buf + o, sizeof buf - o, "%c", c)
                                            : snprintf(buf + o, sizeof buf - o, "\\x%02x", c));
    }
    if (o + 5 >= sizeof buf) {
        snprintf(buf + o, sizeof buf - o, "...");
    }
    buf[sizeof buf - 1] = '\0';
    return buf;
}

/* ---- tokens ---- */

static int run_tokens(const cJSON *tokens, const cJSON *reasons) {
    int passed = 0;
    tessera_store *store = NULL;
    snprintf(where, sizeof where, "tokens");
    SETUP(tessera_store_open_in_memory(NULL, &store)); /* default options: prefixes tss, tsk */

    const cJSON *c;
    cJSON_ArrayForEach(c, tokens) {
        int failed_before = checks_failed;
        const char *name = get_string(c, "name");
        snprintf(where, sizeof where, "token '%s'", name ? name : "?");
        const char *verify = get_string(c, "verify");
        struct bytes text;
        if (name == NULL || verify == NULL) {
            mismatch("vectors file: no name or verify");
            continue;
        }
        if (!field_bytes(c, "text", &text)) {
            continue;
        }

        tessera_record *record = (tessera_record *)1; /* must stay untouched on a rejection */
        tessera_status got = tessera_verify(store, text.ptr, text.len, &record);
        expect_status("tessera_verify", got, verify);
        if (got != TESSERA_OK) {
            EXPECT(record == (tessera_record *)1, "tessera_verify wrote a record on %s",
                   tessera_status_name(got));
        } else {
            tessera_free(record);
        }

        if (strcmp(verify, "malformed") == 0) {
            const char *reason = get_string(c, "reason");
            const char *fragment = reason ? get_string(reasons, reason) : NULL;
            if (fragment == NULL) {
                mismatch("vectors file: malformed without a reason in reason_messages");
            } else if (got == TESSERA_MALFORMED) {
                const char *message = tessera_last_error_message();
                EXPECT(strstr(message, fragment) != NULL,
                       "reason %s: the message \"%s\" does not contain \"%s\"", reason, message,
                       fragment);
            }
            /* Every call that takes a token text refuses it the same way. */
            expect_status("tessera_revoke", tessera_revoke(store, text.ptr, text.len, NULL),
                          "malformed");
            expect_status("tessera_renew",
                          tessera_renew(store, text.ptr, text.len, 1000, NULL, NULL),
                          "malformed");
        } else if (strcmp(verify, "unknown_token") == 0) {
            /* Well-formed: its id is the 22 characters after the prefix's '_'. */
            const char *id = get_string(c, "id");
            const char *sep = memchr(text.ptr, '_', text.len);
            if (id == NULL || strlen(id) != TESSERA_ID_LEN) {
                mismatch("vectors file: unknown_token without a %d-character id", TESSERA_ID_LEN);
            } else {
                size_t after = sep ? (size_t)(text.ptr + text.len - (sep + 1)) : 0;
                EXPECT(after >= TESSERA_ID_LEN && memcmp(sep + 1, id, TESSERA_ID_LEN) == 0,
                       "id %s is not the 22 characters after the prefix of %s", id,
                       shown(text.ptr, text.len));
                struct bytes id_bytes = bytes_copy(id, TESSERA_ID_LEN);
                expect_status("tessera_revoke_by_id",
                              tessera_revoke_by_id(store, id_bytes.ptr, id_bytes.len, NULL),
                              "not_found");
                free(id_bytes.ptr);
            }
            expect_status("tessera_revoke", tessera_revoke(store, text.ptr, text.len, NULL),
                          "unknown_token");
        }
        free(text.ptr);
        if (checks_failed == failed_before) {
            passed++;
        }
    }

    snprintf(where, sizeof where, "tokens");
    SETUP(tessera_store_close(store));
    tessera_store_free(store);
    return passed;
}

/* ---- headers ---- */

static const char *scheme_name(tessera_scheme scheme) {
    switch (scheme) {
    case TESSERA_SCHEME_TOKEN: return "token";
    case TESSERA_SCHEME_BEARER: return "bearer";
    case TESSERA_SCHEME_API_KEY: return "api_key";
    case TESSERA_SCHEME_BARE: return "bare";
    default: return "unrecognized_scheme";
    }
}

/* Checks one parse result against the case: scheme + token, or the error's status name. */
static void expect_parsed(const char *call, tessera_status got, tessera_scheme scheme,
                          size_t offset, size_t len, struct bytes value, const cJSON *c) {
    const char *error = get_string(c, "error");
    if (error != NULL) {
        expect_status(call, got, error);
        return;
    }
    const char *want_scheme = get_string(c, "scheme"), *want_token = get_string(c, "token");
    if (want_scheme == NULL || want_token == NULL) {
        mismatch("vectors file: neither error nor scheme + token");
        return;
    }
    expect_status(call, got, "ok");
    if (got != TESSERA_OK) {
        return;
    }
    EXPECT(strcmp(scheme_name(scheme), want_scheme) == 0, "%s: scheme %s (%u), expected %s",
           call, scheme_name(scheme), (unsigned)scheme, want_scheme);
    bool inside = offset <= value.len && len <= value.len - offset;
    EXPECT(inside && len == strlen(want_token) && memcmp(value.ptr + offset, want_token, len) == 0,
           "%s: token at %zu+%zu, expected \"%s\"", call, offset, len,
           shown(want_token, strlen(want_token)));
}

static int run_headers(const cJSON *headers) {
    int passed = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, headers) {
        int failed_before = checks_failed;
        const char *why = get_string(c, "why");
        struct bytes name, value;
        snprintf(where, sizeof where, "header (%s)", why ? why : "?");
        if (!field_bytes(c, "name", &name)) {
            continue;
        }
        if (!field_bytes(c, "value", &value)) {
            free(name.ptr);
            continue;
        }
        char name_shown[64];
        snprintf(name_shown, sizeof name_shown, "%s", shown(name.ptr, name.len));
        snprintf(where, sizeof where, "header %s: %s (%s)", name_shown, shown(value.ptr, value.len),
                 why ? why : "?");

        /* Outputs are preset so that a rejection that writes them shows as a wrong token. */
        tessera_scheme scheme = 99;
        size_t offset = 0, len = 0;
        tessera_status got = tessera_parse_header(name.ptr, name.len, value.ptr, value.len,
                                                  &scheme, &offset, &len);
        expect_parsed("tessera_parse_header", got, scheme, offset, len, value, c);

        /* An Authorization header parses the same through tessera_parse_authorization. */
        if (name.len == 13 && strncasecmp(name.ptr, "authorization", 13) == 0) {
            scheme = 99;
            offset = len = 0;
            got = tessera_parse_authorization(value.ptr, value.len, &scheme, &offset, &len);
            expect_parsed("tessera_parse_authorization", got, scheme, offset, len, value, c);
        }
        free(name.ptr);
        free(value.ptr);
        if (checks_failed == failed_before) {
            passed++;
        }
    }
    return passed;
}

/* ---- expiry ---- */

/* Issues the case's token on `store`; false (reported) if it cannot. */
static bool issue_for(tessera_store *store, const cJSON *spec, char *token, size_t *token_len) {
    const char *kind = get_string(spec, "kind");
    tessera_request *req = NULL;
    if (kind != NULL && strcmp(kind, "session") == 0) {
        SETUP(tessera_request_new_session(S("golden"), &req));
    } else if (kind != NULL && strcmp(kind, "api_key") == 0) {
        SETUP(tessera_request_new_api_key(S("golden"), &req));
    } else {
        mismatch("vectors file: issue.kind is neither session nor api_key");
        return false;
    }
    if (req == NULL) {
        return false;
    }
    int64_t v;
    bool ok = true;
    int has;
    /* -1 is TESSERA_DURATION_NONE in the vectors as in the ABI. */
    if ((has = get_int64(spec, "ttl_ms", &v)) > 0) SETUP(tessera_request_set_ttl(req, v));
    ok = ok && has >= 0;
    if ((has = get_int64(spec, "idle_timeout_ms", &v)) > 0) {
        SETUP(tessera_request_set_idle_timeout(req, v));
    }
    ok = ok && has >= 0;
    if ((has = get_int64(spec, "max_lifetime_ms", &v)) > 0) {
        SETUP(tessera_request_set_max_lifetime(req, v));
    }
    ok = ok && has >= 0;
    if ((has = get_int64(spec, "max_uses", &v)) > 0) {
        SETUP(tessera_request_set_max_uses(req, (uint64_t)v));
    }
    ok = ok && has >= 0;
    if (ok) {
        tessera_status got =
            tessera_issue(store, req, token, TESSERA_TOKEN_BUF_LEN, token_len, NULL);
        expect_status("tessera_issue", got, "ok");
        ok = got == TESSERA_OK;
    }
    tessera_request_free(req);
    return ok;
}

static int run_expiry(const cJSON *expiry, int64_t start_ms) {
    int passed = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, expiry) {
        int failed_before = checks_failed;
        const char *name = get_string(c, "name");
        snprintf(where, sizeof where, "expiry '%s'", name ? name : "?");
        const cJSON *issue = cJSON_GetObjectItemCaseSensitive(c, "issue");
        const cJSON *steps = cJSON_GetObjectItemCaseSensitive(c, "steps");
        if (!cJSON_IsObject(issue) || !cJSON_IsArray(steps)) {
            mismatch("vectors file: no issue object or steps array");
            continue;
        }

        tessera_clock *clock = NULL;
        tessera_options *options = NULL;
        tessera_store *store = NULL;
        SETUP(tessera_clock_new(start_ms, &clock));
        SETUP(tessera_options_new(&options));
        SETUP(tessera_options_set_clock(options, clock));
        SETUP(tessera_store_open_in_memory(options, &store));
        tessera_options_free(options);

        char token[TESSERA_TOKEN_BUF_LEN];
        size_t token_len = 0;
        if (store != NULL && issue_for(store, issue, token, &token_len)) {
            struct bytes text = bytes_copy(token, token_len);
            int i = 0;
            const cJSON *step;
            cJSON_ArrayForEach(step, steps) {
                snprintf(where, sizeof where, "expiry '%s', step %d", name ? name : "?", i++);
                int64_t advance = 0, extend = 0;
                const char *action = get_string(step, "action");
                const char *expect = get_string(step, "expect");
                if (get_int64(step, "advance_ms", &advance) != 1 || action == NULL ||
                    expect == NULL) {
                    mismatch("vectors file: a step needs advance_ms, action and expect");
                    break;
                }
                SETUP(tessera_clock_advance(clock, advance));
                if (strcmp(action, "verify") == 0) {
                    expect_status("tessera_verify", tessera_verify(store, text.ptr, text.len, NULL),
                                  expect);
                } else if (strcmp(action, "renew") == 0) {
                    if (get_int64(step, "extend_by_ms", &extend) != 1) {
                        mismatch("vectors file: renew without extend_by_ms");
                        break;
                    }
                    bool capped = false;
                    tessera_status got =
                        tessera_renew(store, text.ptr, text.len, extend, NULL, &capped);
                    expect_status("tessera_renew", got, expect);
                    const cJSON *want_capped = cJSON_GetObjectItemCaseSensitive(step, "capped");
                    if (got == TESSERA_OK && want_capped != NULL) {
                        EXPECT(cJSON_IsBool(want_capped) && capped == cJSON_IsTrue(want_capped),
                               "tessera_renew: capped %s, expected %s", capped ? "true" : "false",
                               cJSON_IsTrue(want_capped) ? "true" : "false");
                    }
                } else {
                    mismatch("vectors file: unknown action '%s'", action);
                    break;
                }
            }
            free(text.ptr);
        }
        snprintf(where, sizeof where, "expiry '%s'", name ? name : "?");
        if (store != NULL) {
            SETUP(tessera_store_close(store));
        }
        tessera_store_free(store);
        tessera_clock_free(clock);
        if (checks_failed == failed_before) {
            passed++;
        }
    }
    return passed;
}

/* ---- main ---- */

static char *read_all(const char *path, size_t *out_len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 1 << 16, len = 0, n;
    char *buf = malloc(cap + 1);
    while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *bigger = realloc(buf, 2 * cap + 1);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    if (buf != NULL && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf != NULL) {
        buf[len] = '\0';
        *out_len = len;
    }
    return buf;
}

static const cJSON *array_of(const cJSON *root, const char *key) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsArray(a) ? a : NULL;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : DEFAULT_PATH;
    size_t len = 0;
    char *json = read_all(path, &len);
    if (json == NULL) {
        fprintf(stderr, "golden: cannot read %s (run from the repository root, or pass the path)\n",
                path);
        return 1;
    }
    /* cJSON's strings end at a NUL: the schema puts texts with a NUL in *_hex fields. */
    if (strstr(json, "\\u0000") != NULL) {
        fprintf(stderr, "golden: %s holds \\u0000 in a string; use a *_hex field\n", path);
        free(json);
        return 1;
    }
    cJSON *root = cJSON_ParseWithLength(json, len);
    free(json);
    if (root == NULL) {
        fprintf(stderr, "golden: %s is not JSON (near: %.40s)\n", path,
                cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "?");
        return 1;
    }

    snprintf(where, sizeof where, "%s", path);
    int64_t version = 0, start_ms = 0;
    const cJSON *tokens = array_of(root, "tokens"), *headers = array_of(root, "headers");
    const cJSON *expiry = array_of(root, "expiry");
    const cJSON *reasons = cJSON_GetObjectItemCaseSensitive(root, "reason_messages");
    const cJSON *prefixes = cJSON_GetObjectItemCaseSensitive(root, "prefixes");
    bool shape = get_int64(root, "version", &version) == 1 &&
                 get_int64(root, "clock_start_ms", &start_ms) == 1 && tokens != NULL &&
                 headers != NULL && expiry != NULL && cJSON_IsObject(reasons);
    EXPECT(shape, "vectors file: missing version, clock_start_ms, tokens, headers, expiry or "
                  "reason_messages");
    EXPECT(version == VECTORS_VERSION, "vectors version %lld, this test reads %d",
           (long long)version, VECTORS_VERSION);
    /* The tokens are verified with the default prefixes, which the file names. */
    const char *session = get_string(prefixes, "session");
    const char *api_key = get_string(prefixes, "api_key");
    EXPECT(session != NULL && api_key != NULL && strcmp(session, "tss") == 0 &&
               strcmp(api_key, "tsk") == 0,
           "vectors file: prefixes are not the defaults tss and tsk");

    int n_tokens = 0, n_headers = 0, n_expiry = 0;
    int tokens_ok = 0, headers_ok = 0, expiry_ok = 0;
    if (shape && version == VECTORS_VERSION) {
        n_tokens = cJSON_GetArraySize(tokens);
        n_headers = cJSON_GetArraySize(headers);
        n_expiry = cJSON_GetArraySize(expiry);
        /* As the other languages' tests: a truncated file must not pass quietly. */
        EXPECT(n_tokens >= 20 && n_headers >= 30 && n_expiry >= 10,
               "too few vectors: %d tokens, %d headers, %d expiry cases", n_tokens, n_headers,
               n_expiry);
        tokens_ok = run_tokens(tokens, reasons);
        headers_ok = run_headers(headers);
        expiry_ok = run_expiry(expiry, start_ms);
    }
    cJSON_Delete(root);

    if (checks_failed == 0 && tokens_ok == n_tokens && headers_ok == n_headers &&
        expiry_ok == n_expiry) {
        printf("golden: %d tokens, %d headers, %d expiry cases passed\n", n_tokens, n_headers,
               n_expiry);
    } else {
        printf("golden: FAILED: %d of %d tokens, %d of %d headers, %d of %d expiry cases passed\n",
               tokens_ok, n_tokens, headers_ok, n_headers, expiry_ok, n_expiry);
    }
    return finish("golden");
}
