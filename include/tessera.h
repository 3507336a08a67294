/*
 * tessera.h: the C ABI of tessera, an embeddable token store.
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Link with -ltessera (libtessera.so or libtessera.a; the static library also needs
 * -lpthread -ldl -lm). ffi/README.md has a walk-through and examples/c/ a complete program.
 *
 * CONVENTIONS
 *
 * Statuses. Every fallible function returns a tessera_status: TESSERA_OK (0) on success, else
 * one stable number per outcome or fault (see the enum). On any status but TESSERA_OK no
 * output was written and nothing was changed, except where a function says otherwise (a
 * rotated token presented after its grace revokes its family: TESSERA_REUSE_DETECTED;
 * tessera_store_close closes the handle whatever its status, but in a forked child, where it
 * answers TESSERA_FORKED_CHILD and leaves the handle to tessera_store_free;
 * tessera_purge_expired keeps the batches it committed before a failure).
 * tessera_last_error_message() explains the status on the same thread, and
 * tessera_status_name() names it. Messages never
 * contain a secret. Every function that reads or writes the store file may also answer
 * TESSERA_CORRUPT when it meets a damaged page or record, whether or not its list of statuses
 * names it (tessera_check_integrity, or the `tessera check` command, examines the file).
 *
 * Inputs. Texts and bytes are (pointer, length) pairs, borrowed for the call only and never
 * required to be NUL-terminated. NULL with length 0 is the empty input; NULL with a length
 * from 1 to TESSERA_MAX_INPUT_LEN is TESSERA_NULL_ARGUMENT; a length above TESSERA_MAX_INPUT_LEN
 * is TESSERA_INVALID_ARGUMENT, NULL or not (TESSERA_MALFORMED for
 * a token text that is not NULL). Where an input is optional (documented so), NULL with length 0
 * means none and any other pointer with length 0 is the empty text. Texts must be UTF-8 (else TESSERA_INVALID_UTF8), except token
 * texts and HTTP header values, which are checked as what they are (a token that is not UTF-8
 * is TESSERA_MALFORMED). Arguments are checked in order: the first bad one decides the status
 * (except that the header parsers judge a header value's length first: an over-long value is
 * TESSERA_CREDENTIAL_TOO_LONG whatever else is wrong).
 *
 * Durations are int64_t milliseconds. Where "none" is meaningful (no expiry, no idle timeout,
 * ...) it is written TESSERA_DURATION_NONE (exactly -1); any other negative duration is
 * TESSERA_INVALID_ARGUMENT. Times are int64_t milliseconds since the Unix epoch (UTC).
 *
 * Outputs. Fixed-size outputs go to caller buffers sized by the constants below: token text
 * into a buffer of TESSERA_TOKEN_BUF_LEN bytes (written NUL-terminated), ids inside records as
 * char[TESSERA_ID_BUF_LEN]. Variable-size outputs (tessera_record, tessera_record_list,
 * tessera_stats, tessera_event_list) are allocated by the library and released, with
 * everything they point to, by one call of tessera_free(). Outputs documented as optional may be NULL; required ones may
 * not (TESSERA_NULL_ARGUMENT).
 *
 * Handles. Constructors are _new / _open and write the handle to an out-pointer; destructors
 * are _free and accept NULL. A tessera_store* is a number checked by the library, never
 * dereferenced: an unknown or freed store handle answers TESSERA_INVALID_HANDLE, a closed one
 * TESSERA_CLOSED, one inherited across fork() TESSERA_FORKED_CHILD. The other handles
 * (options, request, requirements, clock) are plain allocations: using one after its _free is
 * undefined behaviour, as with free().
 *
 * THREAD SAFETY
 *
 * - tessera_store*: share it freely. Any number of threads may call any function on one store
 *   handle at the same time, tessera_store_close and tessera_store_free included: they wait
 *   for the calls in flight on that handle (on no other), and later calls answer
 *   TESSERA_CLOSED (TESSERA_INVALID_HANDLE once freed). A long call on one handle holds up no
 *   call on another, nor any open, close, free or fork. tessera_store_open itself runs under
 *   a process-wide lock (a second open of the same file must find the first): while it runs
 *   (seconds for the repair of a large file after a crash), other opens, the close or free of
 *   a file's last handle, and fork() in any thread wait for it.
 * - tessera_clock*: share it freely; reading and moving it are atomic.
 * - tessera_requirements*, tessera_request*: build on one thread; once built, any number of
 *   threads may pass the same one to tessera_verify_with / tessera_issue at the same time.
 * - tessera_options*: one thread at a time.
 * - tessera_record, tessera_record_list, tessera_stats, tessera_event_list: read-only; any
 *   number of threads may read one until it is freed.
 * - tessera_last_error_message(): per thread; read it on the thread that got the status,
 *   before that thread's next tessera call.
 *
 * PROCESSES
 *
 * Open stores after fork(), in each process that uses them. A store handle inherited across
 * fork() answers TESSERA_FORKED_CHILD in the child (tessera_store_close too; one closed before
 * the fork answers TESSERA_CLOSED); release it with
 * tessera_store_free, which never touches the parent's file. Several processes may share one
 * file with TESSERA_CONCURRENCY_MULTI_PROCESS; otherwise a second process gets TESSERA_LOCKED.
 */

#ifndef TESSERA_H
#define TESSERA_H

/*
 * Generated by cbindgen 0.29.4 from ffi/src with ffi/cbindgen.toml: do not edit by hand.
 * Regenerate: cbindgen --config ffi/cbindgen.toml --crate tessera-ffi --output include/tessera.h ffi
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * The ABI version of this library: changed on any incompatible change of the ABI. Bindings
 * compare it with `tessera_abi_version()` when they load the library and refuse to run with
 * another one.
 */
#define TESSERA_ABI_VERSION 1

/**
 * Major version of the library (the `x` of `x.y.z`).
 */
#define TESSERA_VERSION_MAJOR 0

/**
 * Minor version of the library (the `y` of `x.y.z`).
 */
#define TESSERA_VERSION_MINOR 1

/**
 * Patch version of the library (the `z` of `x.y.z`).
 */
#define TESSERA_VERSION_PATCH 0

/**
 * The longest token text, in bytes, without a terminating NUL: a prefix of at most
 * `TESSERA_MAX_PREFIX_LEN` bytes, `_`, and 72 base62 characters.
 */
#define TESSERA_MAX_TOKEN_LEN 105

/**
 * The size of a caller buffer that receives a token text: `TESSERA_MAX_TOKEN_LEN` plus one
 * byte for the terminating NUL. `tessera_issue` refuses smaller buffers.
 */
#define TESSERA_TOKEN_BUF_LEN 106

/**
 * The length of a token id's text: 22 base62 characters (`0-9A-Za-z`).
 */
#define TESSERA_ID_LEN 22

/**
 * The size of a buffer that holds a token id's text and its terminating NUL.
 */
#define TESSERA_ID_BUF_LEN 23

/**
 * The longest token prefix, in bytes.
 */
#define TESSERA_MAX_PREFIX_LEN 32

/**
 * The longest tenant, subject, label or scope, in bytes.
 */
#define TESSERA_MAX_NAME_LEN 255

/**
 * The most scopes one token may carry.
 */
#define TESSERA_MAX_SCOPES 64

/**
 * The longest HTTP header value that `tessera_parse_header` accepts, in bytes.
 */
#define TESSERA_MAX_CREDENTIAL_LEN 4096

/**
 * The longest `(pointer, length)` input any function reads, in bytes (1 MiB). A longer length
 * is `TESSERA_INVALID_ARGUMENT`, reported before the library reads the memory; for a token
 * text (which comes from a client) it is `TESSERA_MALFORMED`, like any other bad token.
 */
#define TESSERA_MAX_INPUT_LEN 1048576

/**
 * The default page cache of a store, in bytes (32 MiB).
 */
#define TESSERA_DEFAULT_CACHE_SIZE 33554432

/**
 * The schema version of the store files this library writes.
 */
#define TESSERA_SCHEMA_VERSION 2

/**
 * Passed as a duration (milliseconds) where "none" is meaningful: no expiry, no idle timeout,
 * no maximum lifetime, no sweeper. It is exactly -1: every other negative duration is
 * `TESSERA_INVALID_ARGUMENT`.
 */
#define TESSERA_DURATION_NONE -1

/**
 * Passed as the kind to `tessera_list_tenant`: tokens of every kind.
 */
#define TESSERA_ANY_KIND 0

/**
 * What a call did. `TESSERA_OK` is 0; every other value says why the call did nothing (no
 * output was written) and `tessera_last_error_message()` says more. The numbers are stable:
 * they never change meaning and retired numbers are never reused.
 *
 * Ranges: 1-19 the answer of a verify (one per outcome), 20-29 other answers of the store
 * that are not faults (no such token, a limit reached), 30-39 an HTTP header without a usable
 * credential, 100-199 a mistake of the caller, 200-299 a problem with the store file or the
 * system, 300-399 a fault of the library.
 */
enum tessera_status
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : int32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * Success.
     */
    TESSERA_OK = 0,
    /**
     * Not a token of this store's format (wrong length, character, prefix or check digits);
     * rejected without touching storage. The last-error message says which.
     */
    TESSERA_MALFORMED = 1,
    /**
     * Well-formed, but no token has this id (never issued, or purged).
     */
    TESSERA_UNKNOWN_TOKEN = 2,
    /**
     * The id exists but the secret is wrong.
     */
    TESSERA_BAD_SECRET = 3,
    /**
     * Past its absolute expiry or its maximum lifetime.
     */
    TESSERA_EXPIRED = 4,
    /**
     * Unused for longer than its idle timeout.
     */
    TESSERA_IDLE = 5,
    /**
     * Revoked.
     */
    TESSERA_REVOKED = 6,
    /**
     * A limited-use token whose uses are all spent.
     */
    TESSERA_EXHAUSTED = 7,
    /**
     * Valid, but without every scope the requirements name.
     */
    TESSERA_SCOPE_DENIED = 8,
    /**
     * Valid, but for another tenant than the requirements name.
     */
    TESSERA_TENANT_MISMATCH = 9,
    /**
     * An old token of a rotated family was presented after its grace window; the family is
     * revoked.
     */
    TESSERA_REUSE_DETECTED = 10,
    /**
     * No stored token has this id (`tessera_get`, and renew or revoke by id).
     */
    TESSERA_NOT_FOUND = 20,
    /**
     * A limit would be exceeded: the subject already has as many live tokens as the store's
     * per-subject cap allows, with the refuse policy (`tessera_options_set_subject_cap`), or,
     * with an evict policy, the only tokens to evict are the new child's own ancestors.
     */
    TESSERA_LIMIT_REACHED = 21,
    /**
     * `tessera_parse_header`: the header value is empty or only whitespace.
     */
    TESSERA_CREDENTIAL_EMPTY = 30,
    /**
     * `tessera_parse_header`: this header does not carry a token (or its name is not UTF-8).
     */
    TESSERA_UNSUPPORTED_HEADER = 31,
    /**
     * `tessera_parse_header`: the Authorization scheme is not Token, Bearer or ApiKey.
     */
    TESSERA_UNKNOWN_SCHEME = 32,
    /**
     * `tessera_parse_header`: a scheme but no token (`Bearer`, `Token realm=x`).
     */
    TESSERA_MISSING_TOKEN = 33,
    /**
     * `tessera_parse_header`: a quoted token has no closing quote.
     */
    TESSERA_UNTERMINATED_QUOTE = 34,
    /**
     * `tessera_parse_header`: the token contains whitespace, a control character, a quote, a
     * comma, a backslash, or bytes that are not UTF-8.
     */
    TESSERA_INVALID_CHARACTER = 35,
    /**
     * `tessera_parse_header`: the value is longer than `TESSERA_MAX_CREDENTIAL_LEN`.
     */
    TESSERA_CREDENTIAL_TOO_LONG = 36,
    /**
     * A required pointer is NULL: a handle, an output, or an input whose length is not 0.
     */
    TESSERA_NULL_ARGUMENT = 100,
    /**
     * An argument is out of range or ill-formed (a bad option, an empty subject, a token id
     * that is not 22 base62 characters, a negative duration, a length above
     * `TESSERA_MAX_INPUT_LEN` but for a token text, a NUL byte in a path...). The message says
     * which.
     */
    TESSERA_INVALID_ARGUMENT = 101,
    /**
     * A text argument is not valid UTF-8.
     */
    TESSERA_INVALID_UTF8 = 102,
    /**
     * A caller buffer is smaller than the header's constant for it.
     */
    TESSERA_BUFFER_TOO_SMALL = 103,
    /**
     * The `tessera_store*` is not a handle this library returned, or it was freed.
     */
    TESSERA_INVALID_HANDLE = 104,
    /**
     * The store handle was closed by `tessera_store_close`.
     */
    TESSERA_CLOSED = 105,
    /**
     * The store handle was opened before `fork()` and used in the child. Open the store again
     * in the child; `tessera_store_free` releases the inherited handle without touching the
     * parent's file.
     */
    TESSERA_FORKED_CHILD = 106,
    /**
     * The file exists but is not a tessera store.
     */
    TESSERA_NOT_A_STORE = 200,
    /**
     * The store file is damaged.
     */
    TESSERA_CORRUPT = 201,
    /**
     * Another process has the store open and the concurrency mode does not allow sharing it.
     */
    TESSERA_LOCKED = 202,
    /**
     * The file was written by a newer version of tessera.
     */
    TESSERA_NEWER_SCHEMA = 203,
    /**
     * The store was created with a pepper and none, or another one, was given (or the
     * reverse).
     */
    TESSERA_PEPPER = 204,
    /**
     * The same file is already open in this process with other options.
     */
    TESSERA_OPTIONS_CONFLICT = 205,
    /**
     * The disk is full.
     */
    TESSERA_DISK_FULL = 206,
    /**
     * An input/output error from the operating system.
     */
    TESSERA_IO = 207,
    /**
     * An error inside the storage engine.
     */
    TESSERA_STORAGE = 208,
    /**
     * The operating system's random source failed.
     */
    TESSERA_RANDOM = 209,
    /**
     * A bug in tessera; please report it with the message.
     */
    TESSERA_INTERNAL = 300,
    /**
     * The library panicked (a bug); the call did nothing. The store handle it was called on
     * answers `TESSERA_POISONED` from then on.
     */
    TESSERA_PANIC = 301,
    /**
     * An earlier call on this store handle panicked; only `tessera_store_close` and
     * `tessera_store_free` work on it.
     */
    TESSERA_POISONED = 302,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum tessera_status tessera_status;
#else
typedef int32_t tessera_status;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * What a token is for.
 */
enum tessera_kind
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * A login: many per subject, one per device.
     */
    TESSERA_KIND_SESSION = 1,
    /**
     * An API key: owned by a tenant, optionally by a subject, scoped, long-lived.
     */
    TESSERA_KIND_API_KEY = 2,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum tessera_kind tessera_kind;
#else
typedef uint32_t tessera_kind;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * How a token was replaced by a successor.
 */
enum tessera_replacement
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * Not replaced.
     */
    TESSERA_REPLACEMENT_NONE = 0,
    /**
     * `tessera_rotate`: the old secret works until the grace window ends; presenting it later
     * is reuse, which revokes the family.
     */
    TESSERA_REPLACEMENT_ROTATED = 1,
    /**
     * `tessera_roll` (API keys): the old key works until the grace period ends, then expires.
     */
    TESSERA_REPLACEMENT_ROLLED = 2,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum tessera_replacement tessera_replacement;
#else
typedef uint32_t tessera_replacement;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * Why a token was revoked.
 */
enum tessera_revoke_reason
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * Not revoked.
     */
    TESSERA_REVOKE_NONE = 0,
    /**
     * Revoked by its own text (a logout).
     */
    TESSERA_REVOKE_LOGOUT = 1,
    /**
     * Revoked by id (an administrator or an operator).
     */
    TESSERA_REVOKE_BY_ID = 2,
    /**
     * Revoked with all of its subject's tokens.
     */
    TESSERA_REVOKE_SUBJECT = 3,
    /**
     * Revoked with all of its tenant's tokens.
     */
    TESSERA_REVOKE_TENANT = 4,
    /**
     * Revoked because its parent (or an ancestor) was revoked.
     */
    TESSERA_REVOKE_CASCADE = 5,
    /**
     * Revoked because an old token of its rotation family was reused after its grace window.
     */
    TESSERA_REVOKE_REUSE = 6,
    /**
     * Evicted to keep its subject under the per-subject cap.
     */
    TESSERA_REVOKE_CAP_EVICTION = 7,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum tessera_revoke_reason tessera_revoke_reason;
#else
typedef uint32_t tessera_revoke_reason;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * What an audit event says happened.
 */
enum tessera_event_kind
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * A token was issued (including a child, a rotation's successor or a roll's new key).
     */
    TESSERA_EVENT_ISSUED = 1,
    /**
     * A token's expiry was extended.
     */
    TESSERA_EVENT_RENEWED = 2,
    /**
     * A token was rotated (`token` is the old one; its successor has an issued event).
     */
    TESSERA_EVENT_ROTATED = 3,
    /**
     * An API key was rolled (`token` is the old one).
     */
    TESSERA_EVENT_ROLLED = 4,
    /**
     * A token was revoked, with a `reason`.
     */
    TESSERA_EVENT_REVOKED = 5,
    /**
     * Everything issued before an instant was revoked, in `scope`.
     */
    TESSERA_EVENT_REVOKED_BEFORE = 6,
    /**
     * A use of a limited-use token was counted.
     */
    TESSERA_EVENT_USED = 7,
    /**
     * The purge removed `count` tokens.
     */
    TESSERA_EVENT_PURGED = 8,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum tessera_event_kind tessera_event_kind;
#else
typedef uint32_t tessera_event_kind;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * How a credential was presented.
 */
enum tessera_scheme
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * `Authorization: Token token=...` or `Authorization: token ...`.
     */
    TESSERA_SCHEME_TOKEN = 1,
    /**
     * `Authorization: Bearer ...`.
     */
    TESSERA_SCHEME_BEARER = 2,
    /**
     * `Authorization: ApiKey ...`.
     */
    TESSERA_SCHEME_API_KEY = 3,
    /**
     * A header whose whole value is the token (`Auth-Token`, `X-Access-Token`, ...).
     */
    TESSERA_SCHEME_BARE = 4,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum tessera_scheme tessera_scheme;
#else
typedef uint32_t tessera_scheme;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * Whether issuing a token waits for the disk (`tessera_options_set_durability`).
 */
enum tessera_durability
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * `tessera_issue` returns after the token is on disk (the default).
     */
    TESSERA_DURABILITY_DURABLE = 1,
    /**
     * `tessera_issue` returns before the token is on disk: a crash may lose the newest tokens,
     * never a revocation. Not available with `TESSERA_CONCURRENCY_MULTI_PROCESS`.
     */
    TESSERA_DURABILITY_EVENTUAL = 2,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum tessera_durability tessera_durability;
#else
typedef uint32_t tessera_durability;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * Who may open the store file at the same time (`tessera_options_set_concurrency`).
 */
enum tessera_concurrency
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * This process alone (the default); verifies are fastest.
     */
    TESSERA_CONCURRENCY_EXCLUSIVE = 1,
    /**
     * Any number of processes on this machine, each opening the store itself after `fork()`
     * (pre-forking servers such as Puma, Unicorn or Gunicorn). Every commit is durable.
     */
    TESSERA_CONCURRENCY_MULTI_PROCESS = 2,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum tessera_concurrency tessera_concurrency;
#else
typedef uint32_t tessera_concurrency;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * What the per-subject cap does when a new token would exceed it
 * (`tessera_options_set_subject_cap`).
 */
enum tessera_cap_policy
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * Refuse the new token: `tessera_issue` answers `TESSERA_LIMIT_REACHED`.
     */
    TESSERA_CAP_REFUSE = 1,
    /**
     * Revoke the oldest live token of the subject (same kind).
     */
    TESSERA_CAP_EVICT_OLDEST = 2,
    /**
     * Revoke the live token of the subject (same kind) used longest ago. In the multi-process
     * mode every process then writes its recorded uses at least every flush interval (a commit
     * then), since the others rank tokens by the uses in the file.
     */
    TESSERA_CAP_EVICT_LEAST_RECENTLY_USED = 3,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum tessera_cap_policy tessera_cap_policy;
#else
typedef uint32_t tessera_cap_policy;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * Whose tokens `tessera_revoke_issued_before` revokes.
 */
enum tessera_revoke_scope
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
    /**
     * Every token of the store (`name` must be NULL with length 0).
     */
    TESSERA_SCOPE_STORE = 1,
    /**
     * Every token of the tenant `name`.
     */
    TESSERA_SCOPE_TENANT = 2,
    /**
     * Every token of the subject `name`, in every tenant.
     */
    TESSERA_SCOPE_SUBJECT = 3,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum tessera_revoke_scope tessera_revoke_scope;
#else
typedef uint32_t tessera_revoke_scope;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * A clock that moves only when told to, for tests: give it to a store with
 * `tessera_options_set_clock`, then move it with `tessera_clock_advance` or
 * `tessera_clock_set` instead of sleeping. Thread-safe: any thread may read or move it at any
 * time; a store keeps using the clock after `tessera_clock_free` released the handle.
 */
typedef struct tessera_clock tessera_clock;

/**
 * Options for opening a store: a builder made by `tessera_options_new`, changed by the
 * `tessera_options_set_*` functions, read by `tessera_store_open` (which copies it, so one
 * options object may open several stores) and released by `tessera_options_free`. Every
 * setting has a default suitable for a web backend. Not thread-safe: use it from one thread at
 * a time.
 */
typedef struct tessera_options tessera_options;

/**
 * What to issue: made by `tessera_request_new_session` or `tessera_request_new_api_key`,
 * refined by the `tessera_request_*` setters, used by `tessera_issue` (as often as wanted) and
 * released by `tessera_request_free`. The constructors and setters check each argument's
 * pointer, encoding and size (`TESSERA_INVALID_ARGUMENT` there means a length over 1 MiB, or a
 * number out of range); what a field may hold (a subject not empty, names without control
 * characters, scopes without spaces...) is checked by `tessera_issue`. Not thread-safe
 * while it is being changed; once built it may be used by several threads' `tessera_issue`
 * calls at once.
 */
typedef struct tessera_request tessera_request;

/**
 * What a request requires of a token beyond being valid: a tenant and scopes. Made by
 * `tessera_requirements_new`, used by `tessera_verify_with`, released by
 * `tessera_requirements_free`. Build one per route once, then share it: once built it may be
 * read by any number of threads at once.
 */
typedef struct tessera_requirements tessera_requirements;

/**
 * An open store. Opaque: the pointer is a handle checked by the library, never an address to
 * dereference. Safe to share between threads: any number of threads may call any function on
 * one handle at the same time, `tessera_store_close` and `tessera_store_free` included (they
 * wait for the calls in flight on this handle, and on no other; later calls answer
 * `TESSERA_CLOSED`, or `TESSERA_INVALID_HANDLE` once freed).
 */
typedef struct tessera_store tessera_store;

/**
 * A string owned by the library: `len` bytes of UTF-8 at `ptr`, followed by a NUL that `len`
 * does not count. For an optional field, `ptr` is NULL (and `len` 0) when the value is absent;
 * an empty string has a non-NULL `ptr`.
 */
typedef struct tessera_str {
    /**
     * The bytes, NUL-terminated; NULL if absent.
     */
    const char *ptr;
    /**
     * The number of bytes before the NUL.
     */
    size_t len;
} tessera_str;

/**
 * Everything the store knows about a token, except its secret. Allocated by the library
 * (`tessera_verify`, `tessera_get`, ...) and released with `tessera_free`; the strings it
 * points to live as long as the record. Times are Unix milliseconds (UTC), durations
 * milliseconds; a value with a `has_` flag is meaningful only when its flag is true (there is
 * no sentinel value). Read-only: may be read by several threads at once.
 */
typedef struct tessera_record {
    /**
     * The public id: `TESSERA_ID_LEN` base62 characters and a NUL. Safe to log and show.
     */
    char id[TESSERA_ID_BUF_LEN];
    /**
     * Session or API key.
     */
    tessera_kind kind;
    /**
     * The organization the token belongs to ("" when the host has no tenants).
     */
    struct tessera_str tenant;
    /**
     * The user the token was issued to; always present for sessions (`ptr` NULL if none).
     */
    struct tessera_str subject;
    /**
     * The scopes, an array of `scopes_len` strings (NULL when there are none).
     */
    const struct tessera_str *scopes;
    /**
     * The number of scopes.
     */
    size_t scopes_len;
    /**
     * A human-readable name (`ptr` NULL if none).
     */
    struct tessera_str label;
    /**
     * The host's opaque bytes (NULL when there are none).
     */
    const uint8_t *metadata;
    /**
     * The number of metadata bytes.
     */
    size_t metadata_len;
    /**
     * When the token was issued.
     */
    int64_t created_at;
    /**
     * Whether the token has an absolute expiry.
     */
    bool has_expires_at;
    /**
     * When it expires (already capped by its maximum lifetime).
     */
    int64_t expires_at;
    /**
     * Whether the token has an idle timeout.
     */
    bool has_idle_timeout;
    /**
     * It dies after this long without use.
     */
    int64_t idle_timeout_ms;
    /**
     * Whether the token has a maximum lifetime.
     */
    bool has_max_lifetime;
    /**
     * Renewal never takes the expiry past `created_at + max_lifetime_ms`.
     */
    int64_t max_lifetime_ms;
    /**
     * Whether the token was ever used.
     */
    bool has_last_used_at;
    /**
     * Its last successful verify or renewal: for a token with an idle timeout it may lag by up
     * to the store's flush interval; for others it is advisory and written only along with
     * other writes of uses, `tessera_flush` or close.
     */
    int64_t last_used_at;
    /**
     * Whether the token has a deadline (an expiry or an idle timeout).
     */
    bool has_deadline;
    /**
     * When it stops being valid without any further use: the earlier of its expiry and its
     * idle deadline.
     */
    int64_t deadline;
    /**
     * Successful verifies counted against `max_uses`.
     */
    uint64_t uses;
    /**
     * Whether the token is limited-use.
     */
    bool has_max_uses;
    /**
     * The number of successful verifies allowed.
     */
    uint64_t max_uses;
    /**
     * Whether the token was derived from a parent token.
     */
    bool has_parent;
    /**
     * The parent's id, NUL-terminated (all NULs when there is none).
     */
    char parent[TESSERA_ID_BUF_LEN];
    /**
     * Whether the token is a successor, rotated or rolled (then `family` names the first
     * generation).
     */
    bool has_family;
    /**
     * The id of the first token of its family, NUL-terminated; a token that is not a successor
     * (rotated or rolled) has none (all NULs), the first generation included.
     */
    char family[TESSERA_ID_BUF_LEN];
    /**
     * Whether the token was rotated or rolled: then the fields below describe its successor.
     */
    bool has_successor;
    /**
     * The successor's id, NUL-terminated (all NULs when there is none).
     */
    char successor[TESSERA_ID_BUF_LEN];
    /**
     * When the token was replaced.
     */
    int64_t replaced_at;
    /**
     * Until when the old token keeps working.
     */
    int64_t grace_until;
    /**
     * Rotation or roll (`TESSERA_REPLACEMENT_NONE` if not replaced).
     */
    tessera_replacement replacement;
    /**
     * Whether the token is revoked.
     */
    bool revoked;
    /**
     * When it was revoked.
     */
    int64_t revoked_at;
    /**
     * Why it was revoked (`TESSERA_REVOKE_NONE` if it is not).
     */
    tessera_revoke_reason revoke_reason;
} tessera_record;

/**
 * A list of records, oldest first. Allocated by the library and released, records and all,
 * with one `tessera_free` of the list.
 */
typedef struct tessera_record_list {
    /**
     * An array of `len` records (NULL when `len` is 0).
     */
    const struct tessera_record *records;
    /**
     * The number of records.
     */
    size_t len;
} tessera_record_list;

/**
 * Counts of one group of tokens.
 */
typedef struct tessera_counts {
    /**
     * Valid now.
     */
    uint64_t live;
    /**
     * Past a deadline (or a generation rotated past its grace window), waiting for the purge.
     */
    uint64_t expired;
    /**
     * Revoked, kept until their retention ends.
     */
    uint64_t revoked;
} tessera_counts;

/**
 * The counts of one kind of token.
 */
typedef struct tessera_kind_counts {
    /**
     * The kind.
     */
    tessera_kind kind;
    /**
     * Its tokens.
     */
    struct tessera_counts counts;
} tessera_kind_counts;

/**
 * The counts of one tenant.
 */
typedef struct tessera_tenant_counts {
    /**
     * The tenant.
     */
    struct tessera_str tenant;
    /**
     * Its tokens.
     */
    struct tessera_counts counts;
} tessera_tenant_counts;

/**
 * What a store holds (`tessera_store_stats`). Allocated by the library, released with one
 * `tessera_free`.
 */
typedef struct tessera_stats {
    /**
     * The schema version of the file.
     */
    uint32_t schema_version;
    /**
     * The size of the file in bytes (0 in memory).
     */
    uint64_t file_bytes;
    /**
     * Every stored token.
     */
    struct tessera_counts all;
    /**
     * By kind: an array of `kinds_len` entries (NULL when empty).
     */
    const struct tessera_kind_counts *kinds;
    /**
     * The number of kinds.
     */
    size_t kinds_len;
    /**
     * By tenant, in byte order of the tenant: an array of `tenants_len` entries (NULL when
     * empty).
     */
    const struct tessera_tenant_counts *tenants;
    /**
     * The number of tenants.
     */
    size_t tenants_len;
    /**
     * Rows the purge would remove now.
     */
    uint64_t due_for_purge;
} tessera_stats;

/**
 * One audit event: what happened to which token, never a secret. Part of a
 * `tessera_event_list`.
 */
typedef struct tessera_event {
    /**
     * Its position in the feed: pass the last one seen to `tessera_events` to read on.
     */
    uint64_t seq;
    /**
     * When, in Unix milliseconds.
     */
    int64_t at;
    /**
     * What.
     */
    tessera_event_kind kind;
    /**
     * Whether the event concerns one token.
     */
    bool has_token;
    /**
     * That token's id, NUL-terminated (all NULs when there is none).
     */
    char token[TESSERA_ID_BUF_LEN];
    /**
     * Why, for a revocation (`TESSERA_REVOKE_NONE` otherwise).
     */
    tessera_revoke_reason reason;
    /**
     * The scope of a `TESSERA_EVENT_REVOKED_BEFORE`: `store`, `tenant:<t>` or `subject:<s>`
     * (`ptr` NULL otherwise).
     */
    struct tessera_str scope;
    /**
     * How many tokens, for `TESSERA_EVENT_PURGED`.
     */
    uint64_t count;
} tessera_event;

/**
 * A list of audit events, oldest first. Allocated by the library and released with one
 * `tessera_free`.
 */
typedef struct tessera_event_list {
    /**
     * An array of `len` events (NULL when `len` is 0).
     */
    const struct tessera_event *events;
    /**
     * The number of events.
     */
    size_t len;
} tessera_event_list;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The stable name of a status, e.g. `"revoked"` for `TESSERA_REVOKED`, or
 * `"unrecognized_status"` for a number that is not a status. The string is static: never free
 * it.
 */
const char *tessera_status_name(int32_t status);

/**
 * The message that explains the last status other than `TESSERA_OK` returned on the calling
 * thread, as a NUL-terminated UTF-8 string ("" if there was none). It never contains a token's
 * secret. The pointer stays valid until the next tessera call on the same thread; copy the
 * text if you need it longer, and never free it. Calls that return `TESSERA_OK` leave the
 * message as it was.
 */
const char *tessera_last_error_message(void);

/**
 * The version of the library, e.g. `"0.1.0"`: a static NUL-terminated string, never freed.
 */
const char *tessera_version(void);

/**
 * The ABI version of the library. Compare it with `TESSERA_ABI_VERSION` from the header you
 * compiled against, and refuse to run on a mismatch.
 */
uint32_t tessera_abi_version(void);

/**
 * Opens the store in the file at `path` (`path_len` bytes, not NUL-terminated, any bytes but
 * NUL), creating it if missing, with `options` (copied; NULL: the defaults). Opening a file
 * that is already open in this process shares its store (a second handle; each must be freed).
 *
 * Open stores after `fork()`, in the process that uses them: a handle opened before answers
 * `TESSERA_FORKED_CHILD` in the child.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_ARGUMENT` (bad options, a NUL in the
 * path, a path that names no file), `TESSERA_NOT_A_STORE`, `TESSERA_CORRUPT`,
 * `TESSERA_LOCKED` (open in another process), `TESSERA_NEWER_SCHEMA`, `TESSERA_PEPPER`,
 * `TESSERA_OPTIONS_CONFLICT`, `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
 *
 * # Safety
 * `path` must be NULL or readable for `path_len` bytes; `options` NULL or a live options
 * handle; `out_store` NULL or writable.
 */
tessera_status tessera_store_open(const char *path,
                                  size_t path_len,
                                  const struct tessera_options *options,
                                  struct tessera_store **out_store);

/**
 * Opens a store that lives in memory only (for tests and caches), with `options` (copied;
 * NULL: the defaults).
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_ARGUMENT` (bad options, and the
 * multi-process mode: a store in memory is this process's alone),
 * `TESSERA_STORAGE`.
 *
 * # Safety
 * `options` must be NULL or a live options handle; `out_store` NULL or writable.
 */
tessera_status tessera_store_open_in_memory(const struct tessera_options *options,
                                            struct tessera_store **out_store);

/**
 * Closes a store handle: waits for the calls in flight on it, then, if it is the last handle
 * on its file, writes pending uses and closes the file, reporting any error doing so. The
 * handle is closed whatever that status (every later call on it answers `TESSERA_CLOSED`) and
 * must still be released with `tessera_store_free`.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED` (closed
 * already), `TESSERA_FORKED_CHILD` (the handle was inherited: the child leaves the parent's
 * file alone; free it), `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
 *
 * # Safety
 * None: the handle is looked up, never dereferenced.
 */
tessera_status tessera_store_close(struct tessera_store *store);

/**
 * Releases a store handle, closing it first if needed (use `tessera_store_close` to see errors
 * of closing). In a forked child it releases an inherited handle without touching the
 * parent's file. NULL, and a handle freed already, are no-ops. Like close, it waits for the
 * calls in flight on the handle; every later call on it answers `TESSERA_INVALID_HANDLE`.
 *
 * # Safety
 * None: the handle is looked up, never dereferenced.
 */
void tessera_store_free(struct tessera_store *store);

/**
 * Issues a token as `request` describes. The token text (the only copy of its secret: the
 * store keeps a hash) is written to `token_buf`, NUL-terminated; `token_buf_len` must be at
 * least `TESSERA_TOKEN_BUF_LEN`, checked before anything is issued. Hand the text to its
 * holder and never log it.
 *
 * Outputs: `*out_token_len` (optional: may be NULL) the text's length without the NUL;
 * `*out_record` (optional) the token's record, to release with `tessera_free`.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
 * `TESSERA_FORKED_CHILD`, `TESSERA_BUFFER_TOO_SMALL`, `TESSERA_INVALID_ARGUMENT` (a field of
 * the request is out of bounds: the message says which), `TESSERA_LIMIT_REACHED` (the
 * subject's cap, with the refuse policy), `TESSERA_RANDOM`, `TESSERA_IO`,
 * `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
 *
 * # Safety
 * `request` must be NULL or a live request handle; `token_buf` NULL or writable for
 * `token_buf_len` bytes; each output NULL or writable.
 */
tessera_status tessera_issue(const struct tessera_store *store,
                             const struct tessera_request *request,
                             char *token_buf,
                             size_t token_buf_len,
                             size_t *out_token_len,
                             struct tessera_record **out_record);

/**
 * Verifies a token text (`token_len` bytes, as the client presented it; any bytes). Malformed
 * text is rejected without touching storage. Verifying most tokens writes nothing: uses
 * (`last_used_at`, idle extensions) are recorded in memory and written in batches. Two cases
 * write to the file, durably, before the answer: a use of a limited-use token (`max_uses`) is
 * counted, and a rotated token presented after its grace revokes its whole family
 * (`TESSERA_REUSE_DETECTED`).
 *
 * Returns `TESSERA_OK` for a valid token, and then writes its record to `*out_record` if
 * `out_record` is not NULL (release it with `tessera_free`; pass NULL to skip the
 * allocation). Otherwise one status per reason: `TESSERA_MALFORMED`, `TESSERA_UNKNOWN_TOKEN`,
 * `TESSERA_BAD_SECRET`, `TESSERA_EXPIRED`, `TESSERA_IDLE`, `TESSERA_REVOKED`,
 * `TESSERA_EXHAUSTED`, `TESSERA_REUSE_DETECTED`. These details are for the host's logs: answer
 * every one of them with the same 401.
 *
 * A token text longer than `TESSERA_MAX_INPUT_LEN` is `TESSERA_MALFORMED` too, refused before
 * it is read. Other statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`,
 * `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`, `TESSERA_STORAGE`, `TESSERA_IO`, and
 * `TESSERA_DISK_FULL` (for the two verifies that write).
 *
 * # Safety
 * `token` must be NULL or readable for `token_len` bytes; `out_record` NULL or writable.
 */
tessera_status tessera_verify(const struct tessera_store *store,
                              const char *token,
                              size_t token_len,
                              struct tessera_record **out_record);

/**
 * Verifies a token text like `tessera_verify` and checks `requirements` (tenant, scopes):
 * `TESSERA_TENANT_MISMATCH` or `TESSERA_SCOPE_DENIED` when the valid token does not meet
 * them.
 *
 * # Safety
 * As `tessera_verify`; `requirements` must be NULL or a live requirements handle.
 */
tessera_status tessera_verify_with(const struct tessera_store *store,
                                   const char *token,
                                   size_t token_len,
                                   const struct tessera_requirements *requirements,
                                   struct tessera_record **out_record);

/**
 * Renews a live token presented by its text: its expiry becomes now + `extend_by_ms`, never
 * past its creation plus its maximum lifetime and never shorter than it was. Counts as a use.
 *
 * Outputs (optional): `*out_record` the token as it is now (release with `tessera_free`);
 * `*out_capped` whether the maximum lifetime cut the new expiry short.
 *
 * Statuses: the rejection statuses of `tessera_verify` if the token is not valid
 * (`TESSERA_REUSE_DETECTED` for the text of a rotated token after its grace window: its family
 * is revoked); `TESSERA_INVALID_ARGUMENT` for a negative or zero `extend_by_ms`, a token that
 * never expires, or one that was rotated or rolled (renew its successor); `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
 * `TESSERA_FORKED_CHILD`, `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
 *
 * # Safety
 * `token` must be NULL or readable for `token_len` bytes; outputs NULL or writable.
 */
tessera_status tessera_renew(const struct tessera_store *store,
                             const char *token,
                             size_t token_len,
                             int64_t extend_by_ms,
                             struct tessera_record **out_record,
                             bool *out_capped);

/**
 * Renews a live token named by its id (`TESSERA_ID_LEN` base62 characters), like
 * `tessera_renew`.
 *
 * Statuses: as `tessera_renew`, plus `TESSERA_NOT_FOUND` for an id no stored token has and
 * `TESSERA_INVALID_ARGUMENT` for text that is not an id.
 *
 * # Safety
 * `id` must be NULL or readable for `id_len` bytes; outputs NULL or writable.
 */
tessera_status tessera_renew_by_id(const struct tessera_store *store,
                                   const char *id,
                                   size_t id_len,
                                   int64_t extend_by_ms,
                                   struct tessera_record **out_record,
                                   bool *out_capped);

/**
 * Revokes one token presented by its text (a logout: the secret must match), with its
 * descendants and, for a rotated session, every generation linked to it by rotations. Durable
 * when it returns; every verify that starts afterwards answers `TESSERA_REVOKED`.
 *
 * Output (optional): `*out_revoked` the number of tokens revoked (0 if it already was).
 *
 * Statuses: `TESSERA_MALFORMED`, `TESSERA_UNKNOWN_TOKEN`, `TESSERA_BAD_SECRET` when the text
 * names no token of this store; `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`,
 * `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`, `TESSERA_IO`, `TESSERA_DISK_FULL`,
 * `TESSERA_STORAGE`.
 *
 * # Safety
 * `token` must be NULL or readable for `token_len` bytes; `out_revoked` NULL or writable.
 */
tessera_status tessera_revoke(const struct tessera_store *store,
                              const char *token,
                              size_t token_len,
                              size_t *out_revoked);

/**
 * Revokes one token named by its id (an administrative action). Durable when it returns.
 *
 * Output (optional): `*out_revoked` the number of tokens revoked (0 if it already was).
 *
 * Statuses: `TESSERA_NOT_FOUND`, `TESSERA_INVALID_ARGUMENT` (not an id), and as
 * `tessera_revoke`.
 *
 * # Safety
 * `id` must be NULL or readable for `id_len` bytes; `out_revoked` NULL or writable.
 */
tessera_status tessera_revoke_by_id(const struct tessera_store *store,
                                    const char *id,
                                    size_t id_len,
                                    size_t *out_revoked);

/**
 * Revokes every token of `subject` not revoked yet (in every tenant, of both kinds), with their
 * descendants, except the token whose id is
 * `except_id` if it is not NULL ("log out my other devices"; NULL with length 0: no
 * exception; any other pointer with length 0 is the empty text, which is not an id:
 * `TESSERA_INVALID_ARGUMENT`, and nothing is revoked). The kept token's ancestors, the
 * generations rotated from it and those it was rotated from while inside their grace window
 * are kept with it. Durable when it returns.
 *
 * Output (optional): `*out_revoked` how many were revoked, counting tokens past a deadline and
 * not purged yet.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`
 * (`except_id` is not an id), `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
 * `TESSERA_FORKED_CHILD`, `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
 *
 * # Safety
 * Each text must be NULL or readable for its length; `out_revoked` NULL or writable.
 */
tessera_status tessera_revoke_subject(const struct tessera_store *store,
                                      const char *subject,
                                      size_t subject_len,
                                      const char *except_id,
                                      size_t except_id_len,
                                      size_t *out_revoked);

/**
 * Revokes every token of `tenant` not revoked yet, with their descendants. Durable when it
 * returns.
 *
 * Output (optional): `*out_revoked` how many were revoked, counting tokens past a deadline and
 * not purged yet.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`,
 * `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`, `TESSERA_IO`,
 * `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
 *
 * # Safety
 * `tenant` must be NULL or readable for `tenant_len` bytes; `out_revoked` NULL or writable.
 */
tessera_status tessera_revoke_tenant(const struct tessera_store *store,
                                     const char *tenant,
                                     size_t tenant_len,
                                     size_t *out_revoked);

/**
 * Reads the record of the token whose id is `id`, whatever its state (revoked, expired), as
 * long as it is stored. `*out_record` is released with `tessera_free`.
 *
 * Statuses: `TESSERA_NOT_FOUND`, `TESSERA_INVALID_ARGUMENT` (not an id),
 * `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_HANDLE`,
 * `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`, `TESSERA_STORAGE`, `TESSERA_IO`.
 *
 * # Safety
 * `id` must be NULL or readable for `id_len` bytes; `out_record` NULL or writable.
 */
tessera_status tessera_get(const struct tessera_store *store,
                           const char *id,
                           size_t id_len,
                           struct tessera_record **out_record);

/**
 * Lists the live tokens of `subject` (every tenant), oldest first: a "your devices" page.
 * `*out_list` is released, records and all, with one `tessera_free`.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`,
 * `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`, `TESSERA_STORAGE`,
 * `TESSERA_IO`.
 *
 * # Safety
 * `subject` must be NULL or readable for `subject_len` bytes; `out_list` NULL or writable.
 */
tessera_status tessera_list_subject(const struct tessera_store *store,
                                    const char *subject,
                                    size_t subject_len,
                                    struct tessera_record_list **out_list);

/**
 * Lists the live tokens of `tenant` of one `tessera_kind`, or of every kind with
 * `TESSERA_ANY_KIND`, oldest first. `*out_list` is released with one `tessera_free`.
 *
 * Statuses: as `tessera_list_subject`, plus `TESSERA_INVALID_ARGUMENT` for a `kind` that is
 * neither a `tessera_kind` nor `TESSERA_ANY_KIND`.
 *
 * # Safety
 * `tenant` must be NULL or readable for `tenant_len` bytes; `out_list` NULL or writable.
 */
tessera_status tessera_list_tenant(const struct tessera_store *store,
                                   const char *tenant,
                                   size_t tenant_len,
                                   uint32_t kind,
                                   struct tessera_record_list **out_list);

/**
 * Lists the live API keys of `tenant`, oldest first. `*out_list` is released with one
 * `tessera_free`.
 *
 * Statuses: as `tessera_list_subject`.
 *
 * # Safety
 * `tenant` must be NULL or readable for `tenant_len` bytes; `out_list` NULL or writable.
 */
tessera_status tessera_list_api_keys(const struct tessera_store *store,
                                     const char *tenant,
                                     size_t tenant_len,
                                     struct tessera_record_list **out_list);

/**
 * Removes one batch (at most the store's purge batch) of expired tokens and of revoked tokens
 * past their retention.
 *
 * Outputs (optional): `*out_removed` how many were removed; `*out_more` whether more were due
 * when the batch ended.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
 * `TESSERA_FORKED_CHILD`, `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
 *
 * # Safety
 * Outputs NULL or writable.
 */
tessera_status tessera_purge_batch(const struct tessera_store *store,
                                   size_t *out_removed,
                                   bool *out_more);

/**
 * Removes every expired token (and revoked tokens past retention), batch by batch. A failure
 * keeps what the batches before it removed (the status says why it stopped; call again).
 *
 * Output (optional): `*out_removed` how many were removed.
 *
 * Statuses: as `tessera_purge_batch`.
 *
 * # Safety
 * `out_removed` NULL or writable.
 */
tessera_status tessera_purge_expired(const struct tessera_store *store,
                                     size_t *out_removed);

/**
 * Writes every use recorded by verify (`last_used_at`, idle extensions) now.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
 * `TESSERA_FORKED_CHILD`, `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
 *
 * # Safety
 * None beyond the handle rules.
 */
tessera_status tessera_flush(const struct tessera_store *store);

/**
 * Counts the stored tokens by kind, tenant and state. Reads every row: meant for operators,
 * not for a request path. `*out_stats` is released with one `tessera_free`.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
 * `TESSERA_FORKED_CHILD`, `TESSERA_STORAGE`, `TESSERA_IO`.
 *
 * # Safety
 * `out_stats` NULL or writable.
 */
tessera_status tessera_store_stats(const struct tessera_store *store,
                                   struct tessera_stats **out_stats);

/**
 * Reads how many writes this process has made on this store: write batches journaled and redb
 * commits; a batch that changed nothing is not counted (to check that verifies of tokens
 * without a use limit or idle timeout do not write).
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
 * `TESSERA_FORKED_CHILD`.
 *
 * # Safety
 * `out_commits` NULL or writable.
 */
tessera_status tessera_commits(const struct tessera_store *store,
                               uint64_t *out_commits);

/**
 * Reads the current time by the store's clock, in Unix milliseconds.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
 * `TESSERA_FORKED_CHILD`.
 *
 * # Safety
 * `out_unix_ms` NULL or writable.
 */
tessera_status tessera_now(const struct tessera_store *store,
                           int64_t *out_unix_ms);

/**
 * Takes the last error of the store's background thread (flushing uses, sweeping), if one
 * happened since the last call: `*out_status` is its status, or `TESSERA_OK` if there was
 * none. When it is not `TESSERA_OK`, `tessera_last_error_message()` explains it, although this
 * call itself returns `TESSERA_OK`.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
 * `TESSERA_FORKED_CHILD`.
 *
 * # Safety
 * `out_status` NULL or writable.
 */
tessera_status tessera_background_error(const struct tessera_store *store,
                                        tessera_status *out_status);

/**
 * Writes a consistent copy of the store to a new file at `path` (`path_len` bytes; the file
 * must not exist), also while other processes use the store in the multi-process mode.
 *
 * Output (optional): `*out_copied` the number of tokens copied.
 *
 * Statuses: `TESSERA_INVALID_ARGUMENT` (the file exists, a NUL in the path),
 * `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
 * `TESSERA_FORKED_CHILD`, `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
 *
 * # Safety
 * `path` must be NULL or readable for `path_len` bytes; `out_copied` NULL or writable.
 */
tessera_status tessera_backup(const struct tessera_store *store,
                              const char *path,
                              size_t path_len,
                              uint64_t *out_copied);

/**
 * Compacts the file: rewrites tables whose pages are less than 90 % used into full pages, then
 * returns the free space to the file system. Waits for running transactions and holds writers
 * while it runs (about a second per million tokens); needs the file not to be in use by another
 * process.
 *
 * Output (optional): `*out_compacted` whether anything was rewritten or given back.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
 * `TESSERA_FORKED_CHILD`, `TESSERA_IO`, `TESSERA_DISK_FULL` (it needs free space about the size
 * of the largest table), `TESSERA_STORAGE`.
 *
 * # Safety
 * `out_compacted` NULL or writable.
 */
tessera_status tessera_compact(const struct tessera_store *store,
                               bool *out_compacted);

/**
 * Checks the checksums of every page of the file.
 *
 * Output (optional): `*out_intact` true if no damage was found, false if damage was found and
 * repaired (the latest commits may be lost).
 *
 * Statuses: `TESSERA_CORRUPT` (the file cannot be read), `TESSERA_NULL_ARGUMENT`,
 * `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`, `TESSERA_IO`,
 * `TESSERA_STORAGE`.
 *
 * # Safety
 * `out_intact` NULL or writable.
 */
tessera_status tessera_check_integrity(const struct tessera_store *store,
                                       bool *out_intact);

/**
 * Issues a child token of the valid token `parent` (presented by its text), as `request`
 * describes (possibly for another tenant). The child never outlives its parent: its expiry is
 * cut to the parent's (`*out_clamped`, optional, says whether it was), and revoking the parent
 * revokes the child in the same transaction. A limited-use parent spends one use on each
 * child. Outputs as `tessera_issue`.
 *
 * Statuses: the rejection statuses of `tessera_verify` if the parent is not valid
 * (`TESSERA_REUSE_DETECTED` for a rotated parent after its grace window: its family is
 * revoked); the statuses of `tessera_issue` (`TESSERA_LIMIT_REACHED` also when the subject's
 * cap would evict only this child's own ancestors).
 *
 * # Safety
 * `parent` must be NULL or readable for `parent_len` bytes; the rest as `tessera_issue`.
 */
tessera_status tessera_issue_child(const struct tessera_store *store,
                                   const char *parent,
                                   size_t parent_len,
                                   const struct tessera_request *request,
                                   char *token_buf,
                                   size_t token_buf_len,
                                   size_t *out_token_len,
                                   struct tessera_record **out_record,
                                   bool *out_clamped);

/**
 * Issues a child token of the valid token whose id is `parent_id`, like
 * `tessera_issue_child`.
 *
 * Statuses: as `tessera_issue_child`, plus `TESSERA_NOT_FOUND` for an id no stored token has
 * and `TESSERA_INVALID_ARGUMENT` for text that is not an id.
 *
 * # Safety
 * `parent_id` must be NULL or readable for `parent_id_len` bytes; the rest as `tessera_issue`.
 */
tessera_status tessera_issue_child_by_id(const struct tessera_store *store,
                                         const char *parent_id,
                                         size_t parent_id_len,
                                         const struct tessera_request *request,
                                         char *token_buf,
                                         size_t token_buf_len,
                                         size_t *out_token_len,
                                         struct tessera_record **out_record,
                                         bool *out_clamped);

/**
 * Lists the tokens derived from the token whose id is `parent_id`, whatever their state,
 * oldest first. `*out_list` is released with one `tessera_free`.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT` (not
 * an id), `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`,
 * `TESSERA_STORAGE`, `TESSERA_IO`.
 *
 * # Safety
 * `parent_id` must be NULL or readable for `parent_id_len` bytes; `out_list` NULL or
 * writable.
 */
tessera_status tessera_children(const struct tessera_store *store,
                                const char *parent_id,
                                size_t parent_id_len,
                                struct tessera_record_list **out_list);

/**
 * Rotates a valid token (presented by its text): issues its successor in the same family and
 * hands it over as `tessera_issue` does. The old token keeps working for the store's rotation
 * grace; a retry inside that window returns the same successor. Presenting the old token after
 * the window is reuse: the whole family is revoked and the answer is
 * `TESSERA_REUSE_DETECTED`. A limited-use token is not rotated (`TESSERA_INVALID_ARGUMENT`).
 *
 * Statuses: the rejection statuses of `tessera_verify`; `TESSERA_BUFFER_TOO_SMALL`,
 * `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_ARGUMENT`, `TESSERA_INVALID_HANDLE`,
 * `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`, `TESSERA_RANDOM`, `TESSERA_IO`,
 * `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
 *
 * # Safety
 * `token` must be NULL or readable for `token_len` bytes; `token_buf` NULL or writable for
 * `token_buf_len` bytes; outputs NULL or writable.
 */
tessera_status tessera_rotate(const struct tessera_store *store,
                              const char *token,
                              size_t token_len,
                              char *token_buf,
                              size_t token_buf_len,
                              size_t *out_token_len,
                              struct tessera_record **out_record);

/**
 * Rolls an API key (presented by its text): issues a new key with the same tenant, subject,
 * scopes and label, handed over as `tessera_issue` does, whose lifetime starts now (it expires
 * as long after the roll as the old key did after its issue, renewals included, within the old
 * key's maximum lifetime counted from the roll: that bounds each key, not a chain of rolls);
 * the old key keeps working for `grace_ms` milliseconds, then expires.
 *
 * Statuses: the rejection statuses of `tessera_verify`; `TESSERA_INVALID_ARGUMENT` (a negative
 * grace, a token that is not an API key, a limited-use key); `TESSERA_BUFFER_TOO_SMALL`, `TESSERA_NULL_ARGUMENT`,
 * `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`, `TESSERA_RANDOM`,
 * `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
 *
 * # Safety
 * `key` must be NULL or readable for `key_len` bytes; `token_buf` NULL or writable for
 * `token_buf_len` bytes; outputs NULL or writable.
 */
tessera_status tessera_roll(const struct tessera_store *store,
                            const char *key,
                            size_t key_len,
                            int64_t grace_ms,
                            char *token_buf,
                            size_t token_buf_len,
                            size_t *out_token_len,
                            struct tessera_record **out_record);

/**
 * Rolls the API key whose id is `key_id`, like `tessera_roll`.
 *
 * Statuses: as `tessera_roll`, plus `TESSERA_NOT_FOUND` for an id no stored token has.
 *
 * # Safety
 * `key_id` must be NULL or readable for `key_id_len` bytes; the rest as `tessera_roll`.
 */
tessera_status tessera_roll_by_id(const struct tessera_store *store,
                                  const char *key_id,
                                  size_t key_id_len,
                                  int64_t grace_ms,
                                  char *token_buf,
                                  size_t token_buf_len,
                                  size_t *out_token_len,
                                  struct tessera_record **out_record);

/**
 * Revokes every token issued strictly before `before_unix_ms` in a scope, in a constant number
 * of writes ("sign out everywhere after a password change", "a key leaked yesterday"; a
 * rotated session counts as issued when its first generation was, a rolled key when it was
 * rolled): `scope`
 * is a `tessera_revoke_scope`, and `name` the tenant or the subject (NULL with length 0 for
 * `TESSERA_SCOPE_STORE`; the default tenant `""` is any other pointer with length 0). Durable
 * when it returns; the dead rows are removed later by the purge. A cutoff in the future also
 * revokes the tokens issued until then, as they are issued (cutoffs never go back); one more
 * than a day past the store's clock is refused (a time in microseconds would revoke every token
 * of the scope for ever), and so is one before 2000-01-01 while the store's clock is past it (a
 * time in seconds, `time(NULL)`, reads as January 1970 and would revoke nothing).
 *
 * Statuses: `TESSERA_INVALID_ARGUMENT` (a number that is not a `tessera_revoke_scope`, a name
 * given for the store scope or missing for the others, a cutoff more than a day ahead, or
 * before 2000 while the store's clock is past it),
 * `TESSERA_NULL_ARGUMENT`,
 * `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`,
 * `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
 *
 * # Safety
 * `name` must be NULL or readable for `name_len` bytes.
 */
tessera_status tessera_revoke_issued_before(const struct tessera_store *store,
                                            uint32_t scope,
                                            const char *name,
                                            size_t name_len,
                                            int64_t before_unix_ms);

/**
 * Reads the audit feed: the events after the cursor `since` (0 for the oldest kept), at most
 * `limit`, oldest first. Pass the last event's `seq` as `since` to read on. `*out_list` is
 * released with one `tessera_free`.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
 * `TESSERA_FORKED_CHILD`, `TESSERA_CORRUPT`, `TESSERA_STORAGE`, `TESSERA_IO`.
 *
 * # Safety
 * `out_list` must be NULL or writable.
 */
tessera_status tessera_events(const struct tessera_store *store,
                              uint64_t since,
                              size_t limit,
                              struct tessera_event_list **out_list);

/**
 * Creates options with every default: 32 MiB cache, durable issue, exclusive use, prefixes
 * `tss` (sessions) and `tsk` (API keys), no pepper, the system clock, sessions that live 24
 * hours (30 days at most through renewals) with no idle timeout, API keys that never expire,
 * uses flushed every 5 seconds, no background sweeper, revoked tokens remembered for 7 days,
 * metadata up to 4096 bytes.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT` if `out_options` is NULL.
 *
 * # Safety
 * `out_options` must be NULL or writable.
 */
tessera_status tessera_options_new(struct tessera_options **out_options);

/**
 * Releases options. NULL is a no-op.
 *
 * # Safety
 * `options` must be NULL or a live handle from `tessera_options_new`, not used afterwards.
 */
void tessera_options_free(struct tessera_options *options);

/**
 * Sets the storage engine's page cache, in bytes (at least 1 MiB; checked when the store is
 * opened).
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`.
 *
 * # Safety
 * `options` must be NULL or a live options handle.
 */
tessera_status tessera_options_set_cache_size(struct tessera_options *options,
                                              size_t bytes);

/**
 * Sets whether issuing waits for the disk: a `tessera_durability` value. Revocations always
 * do.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a number that is not a
 * `tessera_durability`.
 *
 * # Safety
 * `options` must be NULL or a live options handle.
 */
tessera_status tessera_options_set_durability(struct tessera_options *options,
                                              uint32_t durability);

/**
 * Sets who may open the file at the same time: a `tessera_concurrency` value.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a number that is not a
 * `tessera_concurrency`.
 *
 * # Safety
 * `options` must be NULL or a live options handle.
 */
tessera_status tessera_options_set_concurrency(struct tessera_options *options,
                                               uint32_t concurrency);

/**
 * Sets the token prefixes of sessions and of API keys: 1 to `TESSERA_MAX_PREFIX_LEN` ASCII
 * letters, digits or `_` each, different from each other (checked when the store is opened).
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`
 * (length above `TESSERA_MAX_INPUT_LEN`).
 *
 * # Safety
 * `options` must be NULL or a live options handle; each text must be NULL or readable for its
 * length.
 */
tessera_status tessera_options_set_prefixes(struct tessera_options *options,
                                            const char *session_prefix,
                                            size_t session_prefix_len,
                                            const char *api_key_prefix,
                                            size_t api_key_prefix_len);

/**
 * Sets a pepper: 16 to 1024 secret bytes that never touch the disk; secrets are hashed with a
 * key derived from it, so a copy of the file alone verifies nothing. A store created with a
 * pepper must always be opened with the same one. The bytes are copied (and wiped when the
 * options are freed): the caller may wipe its copy after the call.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a length outside 16..1024.
 *
 * # Safety
 * `options` must be NULL or a live options handle; `pepper` must be NULL or readable for
 * `pepper_len` bytes.
 */
tessera_status tessera_options_set_pepper(struct tessera_options *options,
                                          const uint8_t *pepper,
                                          size_t pepper_len);

/**
 * Makes the store use a manual clock for every time-based decision (instead of the system
 * clock). The store shares the clock: moving it moves the store's time.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT` if `options` or `clock` is NULL.
 *
 * # Safety
 * `options` must be NULL or a live options handle; `clock` NULL or a live clock handle.
 */
tessera_status tessera_options_set_clock(struct tessera_options *options,
                                         const struct tessera_clock *clock);

/**
 * Sets the default lifetime of a session, in milliseconds, or `TESSERA_DURATION_NONE`: no
 * default (a session still ends at its maximum lifetime,
 * `tessera_options_set_session_max_lifetime`, 30 days unless that is none too). Zero is
 * refused when the store opens.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a negative value other
 * than `TESSERA_DURATION_NONE`.
 *
 * # Safety
 * `options` must be NULL or a live options handle.
 */
tessera_status tessera_options_set_session_ttl(struct tessera_options *options,
                                               int64_t ttl_ms);

/**
 * Sets the default idle timeout of a session, in milliseconds, or `TESSERA_DURATION_NONE`
 * (the default: none).
 *
 * Statuses: as `tessera_options_set_session_ttl`.
 *
 * # Safety
 * `options` must be NULL or a live options handle.
 */
tessera_status tessera_options_set_session_idle_timeout(struct tessera_options *options,
                                                        int64_t idle_timeout_ms);

/**
 * Sets the default cap on a session's lifetime through renewals, in milliseconds, or
 * `TESSERA_DURATION_NONE` for no cap.
 *
 * Statuses: as `tessera_options_set_session_ttl`.
 *
 * # Safety
 * `options` must be NULL or a live options handle.
 */
tessera_status tessera_options_set_session_max_lifetime(struct tessera_options *options,
                                                        int64_t max_lifetime_ms);

/**
 * Sets the default lifetime of an API key, in milliseconds, or `TESSERA_DURATION_NONE` (the
 * default: API keys never expire).
 *
 * Statuses: as `tessera_options_set_session_ttl`.
 *
 * # Safety
 * `options` must be NULL or a live options handle.
 */
tessera_status tessera_options_set_api_key_ttl(struct tessera_options *options,
                                               int64_t ttl_ms);

/**
 * Sets the bound on the staleness of idle extensions, in milliseconds (100 ms to 1 hour,
 * checked when the store opens): verify records uses in memory and a background thread writes
 * those of tokens with an idle timeout at least this often. Uses of other tokens (their
 * `last_used_at`) ride along with those writes, `tessera_flush` and close, and never cause a
 * commit of their own: without idle-timeout tokens they wait for a flush or the close (at most
 * 65,536 wait; later ones are dropped). The purge waits twice this interval past a token's
 * idle deadline before it removes the token, so that a use on its way to the file (this
 * process's, or another's with the same interval) still keeps it.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a negative value.
 *
 * # Safety
 * `options` must be NULL or a live options handle.
 */
tessera_status tessera_options_set_flush_interval(struct tessera_options *options,
                                                  int64_t interval_ms);

/**
 * Runs a background sweeper that purges expired tokens this often, in milliseconds (at least
 * 100), or `TESSERA_DURATION_NONE` (the default: no sweeper; call `tessera_purge_expired`
 * yourself, or never: verify does not depend on it).
 *
 * Statuses: as `tessera_options_set_session_ttl`.
 *
 * # Safety
 * `options` must be NULL or a live options handle.
 */
tessera_status tessera_options_set_sweep_interval(struct tessera_options *options,
                                                  int64_t interval_ms);

/**
 * Sets how many expired tokens one purge transaction removes at most (1 to 100,000, checked
 * when the store opens).
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`.
 *
 * # Safety
 * `options` must be NULL or a live options handle.
 */
tessera_status tessera_options_set_purge_batch(struct tessera_options *options,
                                               size_t batch);

/**
 * Sets how long a revoked token keeps answering `TESSERA_REVOKED` (rather than
 * `TESSERA_UNKNOWN_TOKEN`) before the purge removes it, in milliseconds. A rotated-out
 * generation is kept as long past its expiry or its grace window, whichever ends later (past
 * its grace window if it never expires): presented again, it is reuse
 * (`TESSERA_REUSE_DETECTED`).
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a negative value.
 *
 * # Safety
 * `options` must be NULL or a live options handle.
 */
tessera_status tessera_options_set_revoked_retention(struct tessera_options *options,
                                                     int64_t retention_ms);

/**
 * Sets the largest metadata accepted at issue, in bytes (at most 65,536, checked when the
 * store opens).
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`.
 *
 * # Safety
 * `options` must be NULL or a live options handle.
 */
tessera_status tessera_options_set_max_metadata_len(struct tessera_options *options,
                                                    size_t max_len);

/**
 * Sets how long the previous token keeps working after `tessera_rotate`, in milliseconds
 * (parallel requests of one client must not log it out). Presenting it later is reuse, which
 * revokes its whole family.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a negative value.
 *
 * # Safety
 * `options` must be NULL or a live options handle.
 */
tessera_status tessera_options_set_rotation_grace(struct tessera_options *options,
                                                  int64_t grace_ms);

/**
 * Allows at most `max` live tokens of `kind` (a `tessera_kind`) per subject; `policy` (a
 * `tessera_cap_policy`) says what issuing one more does. Enforced inside the issuing
 * transaction. One cap per kind: a second call for the same kind replaces the first.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a number that is not a
 * `tessera_kind` or a `tessera_cap_policy`.
 *
 * # Safety
 * `options` must be NULL or a live options handle.
 */
tessera_status tessera_options_set_subject_cap(struct tessera_options *options,
                                               uint32_t kind,
                                               size_t max,
                                               uint32_t policy);

/**
 * Sets how many audit events the store keeps for `tessera_events` (the oldest are dropped
 * first; 0 turns the feed off).
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`.
 *
 * # Safety
 * `options` must be NULL or a live options handle.
 */
tessera_status tessera_options_set_event_retention(struct tessera_options *options,
                                                   size_t events);

/**
 * Creates a manual clock that reads `start_unix_ms` (milliseconds since the Unix epoch, UTC)
 * until moved.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT` if `out_clock` is NULL; `TESSERA_INVALID_ARGUMENT` for an
 * instant outside the years 1 to 9999 (-62135596800000 to 253402300799999 ms).
 *
 * # Safety
 * `out_clock` must be NULL or writable.
 */
tessera_status tessera_clock_new(int64_t start_unix_ms,
                                 struct tessera_clock **out_clock);

/**
 * Moves the clock forward by `ms` milliseconds.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a negative `ms` (use
 * `tessera_clock_set` to go back), or one that would take the clock past the year 9999 (the
 * clock is not moved; of advances racing past it on several threads, one may stop the clock
 * at its end).
 *
 * # Safety
 * `clock` must be NULL or a live clock handle.
 */
tessera_status tessera_clock_advance(const struct tessera_clock *clock,
                                     int64_t ms);

/**
 * Sets the clock to `unix_ms` (milliseconds since the Unix epoch), which may be earlier than
 * its current time.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for an instant outside the
 * years 1 to 9999 (the clock is not moved).
 *
 * # Safety
 * `clock` must be NULL or a live clock handle.
 */
tessera_status tessera_clock_set(const struct tessera_clock *clock,
                                 int64_t unix_ms);

/**
 * Reads the clock: milliseconds since the Unix epoch.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT` if `clock` or `out_unix_ms` is NULL.
 *
 * # Safety
 * `clock` must be NULL or a live clock handle; `out_unix_ms` NULL or writable.
 */
tessera_status tessera_clock_now(const struct tessera_clock *clock,
                                 int64_t *out_unix_ms);

/**
 * Releases a clock handle. Stores opened with the clock keep using it. NULL is a no-op.
 *
 * # Safety
 * `clock` must be NULL or a live clock handle, not used afterwards.
 */
void tessera_clock_free(struct tessera_clock *clock);

/**
 * Creates a request for a login session of `subject` (the user id, not empty), in the default
 * tenant "".
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`.
 *
 * # Safety
 * `subject` must be NULL or readable for `subject_len` bytes; `out_request` NULL or writable.
 */
tessera_status tessera_request_new_session(const char *subject,
                                           size_t subject_len,
                                           struct tessera_request **out_request);

/**
 * Creates a request for an API key owned by `tenant`. It never expires unless a TTL is given
 * (or the store's default API key TTL is set).
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`.
 *
 * # Safety
 * `tenant` must be NULL or readable for `tenant_len` bytes; `out_request` NULL or writable.
 */
tessera_status tessera_request_new_api_key(const char *tenant,
                                           size_t tenant_len,
                                           struct tessera_request **out_request);

/**
 * Releases a request. NULL is a no-op.
 *
 * # Safety
 * `request` must be NULL or a live request handle, not used afterwards.
 */
void tessera_request_free(struct tessera_request *request);

/**
 * Sets the tenant (organization).
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`.
 *
 * # Safety
 * `request` must be NULL or a live request handle; `tenant` NULL or readable for `tenant_len`.
 */
tessera_status tessera_request_set_tenant(struct tessera_request *request,
                                          const char *tenant,
                                          size_t tenant_len);

/**
 * Sets the subject (user, not empty); for an API key, the user who owns it.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`.
 *
 * # Safety
 * `request` must be NULL or a live request handle; `subject` NULL or readable for
 * `subject_len`.
 */
tessera_status tessera_request_set_subject(struct tessera_request *request,
                                           const char *subject,
                                           size_t subject_len);

/**
 * Adds a scope (at most `TESSERA_MAX_SCOPES` per token; no whitespace; duplicates count
 * once).
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`.
 *
 * # Safety
 * `request` must be NULL or a live request handle; `scope` NULL or readable for `scope_len`.
 */
tessera_status tessera_request_add_scope(struct tessera_request *request,
                                         const char *scope,
                                         size_t scope_len);

/**
 * Sets a human-readable name ("Firefox on Linux", "BI export").
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`.
 *
 * # Safety
 * `request` must be NULL or a live request handle; `label` NULL or readable for `label_len`.
 */
tessera_status tessera_request_set_label(struct tessera_request *request,
                                         const char *label,
                                         size_t label_len);

/**
 * Sets opaque bytes for the host (device information, for example), at most the store's
 * maximum metadata length. The bytes are copied.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_ARGUMENT`.
 *
 * # Safety
 * `request` must be NULL or a live request handle; `metadata` NULL or readable for
 * `metadata_len`.
 */
tessera_status tessera_request_set_metadata(struct tessera_request *request,
                                            const uint8_t *metadata,
                                            size_t metadata_len);

/**
 * Sets the lifetime, in milliseconds after issue (capped by the maximum lifetime), or
 * `TESSERA_DURATION_NONE`: the token never expires (unless a maximum lifetime applies). Not
 * calling it keeps the store's default.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a negative value other
 * than `TESSERA_DURATION_NONE` (zero is refused by `tessera_issue`).
 *
 * # Safety
 * `request` must be NULL or a live request handle.
 */
tessera_status tessera_request_set_ttl(struct tessera_request *request,
                                       int64_t ttl_ms);

/**
 * Sets the idle timeout, in milliseconds (the token dies after this long without a successful
 * verify or renewal), or `TESSERA_DURATION_NONE` for none whatever the store's default.
 *
 * Statuses: as `tessera_request_set_ttl`.
 *
 * # Safety
 * `request` must be NULL or a live request handle.
 */
tessera_status tessera_request_set_idle_timeout(struct tessera_request *request,
                                                int64_t idle_timeout_ms);

/**
 * Sets the maximum lifetime, in milliseconds (renewals never take the expiry past issue time
 * plus this), or `TESSERA_DURATION_NONE` for none whatever the store's default.
 *
 * Statuses: as `tessera_request_set_ttl`.
 *
 * # Safety
 * `request` must be NULL or a live request handle.
 */
tessera_status tessera_request_set_max_lifetime(struct tessera_request *request,
                                                int64_t max_lifetime_ms);

/**
 * Makes the token valid for `max_uses` successful verifies (password reset, magic link,
 * invite); 0 is refused by `tessera_issue`.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`.
 *
 * # Safety
 * `request` must be NULL or a live request handle.
 */
tessera_status tessera_request_set_max_uses(struct tessera_request *request,
                                            uint64_t max_uses);

/**
 * Creates empty requirements: any valid token passes.
 *
 * Statuses: `TESSERA_NULL_ARGUMENT` if `out_requirements` is NULL.
 *
 * # Safety
 * `out_requirements` must be NULL or writable.
 */
tessera_status tessera_requirements_new(struct tessera_requirements **out_requirements);

/**
 * Requires the token to belong to `tenant` (else `TESSERA_TENANT_MISMATCH`).
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT` (a
 * tenant no token can have: over 255 bytes, or with a control character; the requirements
 * are left as they were).
 *
 * # Safety
 * `requirements` must be NULL or a live handle used by this thread only; `tenant` NULL or
 * readable for `tenant_len`.
 */
tessera_status tessera_requirements_set_tenant(struct tessera_requirements *requirements,
                                               const char *tenant,
                                               size_t tenant_len);

/**
 * Requires the token to grant `scope` (may be called several times: all are required; else
 * `TESSERA_SCOPE_DENIED`).
 *
 * Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT` (a
 * scope no token can have: empty, over 255 bytes, or with whitespace or a control character;
 * the requirements are left as they were).
 *
 * # Safety
 * `requirements` must be NULL or a live handle used by this thread only; `scope` NULL or
 * readable for `scope_len`.
 */
tessera_status tessera_requirements_add_scope(struct tessera_requirements *requirements,
                                              const char *scope,
                                              size_t scope_len);

/**
 * Releases requirements. NULL is a no-op.
 *
 * # Safety
 * `requirements` must be NULL or a live handle, not used afterwards.
 */
void tessera_requirements_free(struct tessera_requirements *requirements);

/**
 * Releases anything the library allocated for the caller: a `tessera_record*`, a
 * `tessera_record_list*`, a `tessera_event_list*` or a `tessera_stats*` (with everything they
 * point to). NULL is a no-op. Passing any other pointer, or the same pointer twice, is undefined behaviour, as with
 * `free()`. Handles are not released here: they have their own `_free` functions.
 *
 * # Safety
 * `ptr` is NULL or a pointer returned by this library and not freed yet.
 */
void tessera_free(void *ptr);

/**
 * Finds the token in one HTTP request header, named `name` (compared case-insensitively):
 * `Authorization` (`Token token=...`, `Token token="..."`, `token ...`, `Bearer ...`,
 * `ApiKey ...`) or a bare header (`Auth-Token`, `X-Access-Token`, `X-Auth-Token`,
 * `X-Api-Key`). Nothing is checked against a store: pass the token to `tessera_verify`.
 *
 * Outputs: `*out_scheme` (optional) how it was presented; `*out_token_offset` and
 * `*out_token_len` where the token lies inside `value` (no copy is made).
 *
 * Statuses: `TESSERA_CREDENTIAL_EMPTY`, `TESSERA_UNSUPPORTED_HEADER` (including a name that
 * is not UTF-8), `TESSERA_UNKNOWN_SCHEME`, `TESSERA_MISSING_TOKEN`,
 * `TESSERA_UNTERMINATED_QUOTE`, `TESSERA_INVALID_CHARACTER` (including a value that is not
 * UTF-8), `TESSERA_CREDENTIAL_TOO_LONG` (a value of more than 4096 bytes, however long):
 * answer each with a 401. `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_ARGUMENT` (a name longer
 * than `TESSERA_MAX_INPUT_LEN`).
 *
 * # Safety
 * `name` and `value` must be NULL or readable for their lengths; outputs NULL or writable.
 */
tessera_status tessera_parse_header(const char *name,
                                    size_t name_len,
                                    const char *value,
                                    size_t value_len,
                                    tessera_scheme *out_scheme,
                                    size_t *out_token_offset,
                                    size_t *out_token_len);

/**
 * Finds the token in the value of an `Authorization` header; as `tessera_parse_header` with
 * the name `Authorization`.
 *
 * # Safety
 * `value` must be NULL or readable for `value_len` bytes; outputs NULL or writable.
 */
tessera_status tessera_parse_authorization(const char *value,
                                           size_t value_len,
                                           tessera_scheme *out_scheme,
                                           size_t *out_token_offset,
                                           size_t *out_token_len);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* TESSERA_H */
