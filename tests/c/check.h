/*
 * A few assertion macros shared by the C tests of tessera's ABI. Each program counts its
 * checks and ends with finish(), which prints "<name>: N checks passed, M failed" (the line
 * tests/c/run.sh adds up) and returns the exit status.
 */
#ifndef TESSERA_TEST_CHECK_H
#define TESSERA_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

#include "tessera.h"

static int checks_passed;
static int checks_failed;

/* The (pointer, length) pair of a string literal or a NUL-terminated string. */
#define S(text) (text), strlen(text)

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (cond) {                                                                         \
            checks_passed++;                                                                \
        } else {                                                                            \
            checks_failed++;                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);        \
        }                                                                                   \
    } while (0)

/* Asserts that `expr` returns the status `expected`. */
#define CHECK_STATUS(expr, expected)                                                        \
    do {                                                                                    \
        tessera_status got_ = (expr);                                                       \
        tessera_status want_ = (expected);                                                  \
        if (got_ == want_) {                                                                \
            checks_passed++;                                                                \
        } else {                                                                            \
            checks_failed++;                                                                \
            fprintf(stderr, "%s:%d: %s\n    returned %s (%d), expected %s (%d): %s\n",      \
                    __FILE__, __LINE__, #expr, tessera_status_name(got_), (int)got_,        \
                    tessera_status_name(want_), (int)want_, tessera_last_error_message());  \
        }                                                                                   \
    } while (0)

#define CHECK_OK(expr) CHECK_STATUS((expr), TESSERA_OK)

/* Prints the summary line; returns the program's exit status. */
static int finish(const char *program) {
    printf("%s: %d checks passed, %d failed\n", program, checks_passed, checks_failed);
    return checks_failed == 0 ? 0 : 1;
}

#endif
