/*
 * fuzz_live_auth: the parsers of untrusted or operator text in live_auth.
 * The input is split at the first NUL: the head is a stream query checked
 * against a fixed secret and redacted (the redacted text must never contain
 * a sig value); the tail is a CIDR list (config text), which must parse or
 * fail with a reason and then match a few addresses without crashing.
 */
#include "core/status.h"
#include "live/live_auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    const char *query = text;
    size_t qlen = strlen(text);
    const char *cidr = qlen < size ? text + qlen + 1 : "";

    enum live_auth_result r = live_auth_check_signature("secret", "live", "cam", query, 1700000000);
    if (r == LIVE_AUTH_OK || r == LIVE_AUTH_EXPIRED) {
        /* Only a genuine signature gets this far: one the fuzzer cannot forge. */
        if (!strstr(query, "sig="))
            __builtin_trap();
    }
    char red[512];
    live_auth_redact_query(query, red, sizeof(red));
    if (strlen(red) >= sizeof(red))
        __builtin_trap();
    for (const char *p = red; (p = strstr(p, "sig=")) != NULL; p += 4)
        if ((p == red || p[-1] == '&') && strncmp(p + 4, "<redacted>", 10) != 0 && p[4] != '\0' &&
            strncmp(p + 4, "<redacted>", strlen(p + 4) < 10 ? strlen(p + 4) : 10) != 0)
            __builtin_trap();

    struct live_auth_acl acl;
    char err[256] = "";
    if (live_auth_acl_parse(&acl, cidr, err, sizeof(err)) == ST_OK) {
        struct sockaddr_in a4 = {.sin_family = AF_INET};
        struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
        inet_pton(AF_INET, "10.1.2.3", &a4.sin_addr);
        inet_pton(AF_INET6, "2001:db8::1", &a6.sin6_addr);
        live_auth_acl_match(&acl, (struct sockaddr *)&a4);
        live_auth_acl_match(&acl, (struct sockaddr *)&a6);
        for (size_t i = 0; i < acl.n; i++)
            if (acl.items[i].prefix > (acl.items[i].family == AF_INET ? 32u : 128u))
                __builtin_trap();
        live_auth_acl_free(&acl);
    } else if (err[0] == '\0' || acl.n != 0 || acl.items) {
        __builtin_trap();
    }
    free(text);
    return 0;
}
