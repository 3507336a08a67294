/*
 * tessera from C: open a store, log a user in, check the token a request presents, log out.
 *
 * Build and run from the repository root (see examples/c/README.md):
 *
 *   cargo build --release -p tessera-ffi
 *   gcc -std=c99 -Wall -o quickstart examples/c/quickstart.c -Iinclude -Ltarget/release -ltessera
 *   LD_LIBRARY_PATH=target/release ./quickstart
 */
#include <stdio.h>
#include <string.h>

#include "tessera.h"

/* Prints what went wrong and returns 1 when `status` is not TESSERA_OK. */
static int failed(const char *what, tessera_status status) {
    if (status == TESSERA_OK) {
        return 0;
    }
    fprintf(stderr, "%s: %s: %s\n", what, tessera_status_name(status),
            tessera_last_error_message());
    return 1;
}

/* What a web backend does on every request: find the token in the header, verify it. */
static void handle_request(tessera_store *store, const char *authorization) {
    size_t offset = 0, len = 0;
    tessera_status s = tessera_parse_authorization(authorization, strlen(authorization), NULL,
                                                   &offset, &len);
    tessera_record *who = NULL;
    if (s == TESSERA_OK) {
        s = tessera_verify(store, authorization + offset, len, &who);
    }
    if (s != TESSERA_OK) {
        /* The reason is for the logs; the client gets the same 401 whatever it is. */
        printf("  -> 401 (%s)\n", tessera_status_name(s));
        return;
    }
    printf("  -> 200, hello %.*s (token %s, expires at %lld)\n", (int)who->subject.len,
           who->subject.ptr, who->id, (long long)who->expires_at);
    tessera_free(who);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "quickstart-tokens.redb";
    printf("tessera %s (ABI %u), store %s\n", tessera_version(), tessera_abi_version(), path);
    if (tessera_abi_version() != TESSERA_ABI_VERSION) {
        fprintf(stderr, "this program was built for another version of libtessera\n");
        return 1;
    }

    /* Sessions live 8 hours and die after 30 minutes without use. */
    tessera_options *options = NULL;
    tessera_store *store = NULL;
    if (failed("options", tessera_options_new(&options)) ||
        failed("ttl", tessera_options_set_session_ttl(options, 8 * 3600 * 1000)) ||
        failed("idle", tessera_options_set_session_idle_timeout(options, 30 * 60 * 1000)) ||
        failed("open", tessera_store_open(path, strlen(path), options, &store))) {
        tessera_options_free(options);
        return 1;
    }
    tessera_options_free(options);

    /* Alice typed her password, and the backend checked it: issue her a session. */
    tessera_request *login = NULL;
    char token[TESSERA_TOKEN_BUF_LEN];
    if (failed("request", tessera_request_new_session("alice", 5, &login)) ||
        failed("label", tessera_request_set_label(login, "Firefox on Linux", 16)) ||
        failed("issue", tessera_issue(store, login, token, sizeof token, NULL, NULL))) {
        tessera_request_free(login);
        tessera_store_free(store);
        return 1;
    }
    tessera_request_free(login);
    printf("issued a session token (%zu characters); it goes to the client once\n",
           strlen(token));

    char header[TESSERA_TOKEN_BUF_LEN + 16];
    snprintf(header, sizeof header, "Bearer %s", token);
    printf("request with the token:\n");
    handle_request(store, header);
    printf("request with a mistyped token:\n");
    header[20] = header[20] == 'x' ? 'y' : 'x';
    handle_request(store, header);

    /* Logout: durable when it returns; the very next request is refused. */
    size_t revoked = 0;
    if (failed("revoke", tessera_revoke(store, token, strlen(token), &revoked))) {
        tessera_store_free(store);
        return 1;
    }
    printf("logged out (%zu token revoked); the same request again:\n", revoked);
    snprintf(header, sizeof header, "Bearer %s", token);
    handle_request(store, header);

    int status = failed("close", tessera_store_close(store));
    tessera_store_free(store);
    return status;
}
