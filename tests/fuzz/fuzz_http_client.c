/*
 * fuzz_http_client: http_client_parse_head on arbitrary bytes (what a
 * webhook endpoint, or anything listening at its address, may answer).
 * A complete head must stay complete with more bytes appended, report a
 * 3-digit status and a head length within the input; every prefix of an
 * accepted input must be ST_AGAIN or the same answer.
 */
#include "core/status.h"
#include "http/http_client.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    int status = 0;
    size_t used = 0;
    char loc[HTTP_CLIENT_MAX_LOCATION];
    int rc = http_client_parse_head(in, size, &status, loc, sizeof(loc), &used);
    if (rc == ST_AGAIN && size >= HTTP_CLIENT_MAX_HEAD)
        __builtin_trap(); /* bounded: a head this long must be refused */
    if (rc != ST_OK)
        return 0;
    if (status < 100 || status > 999 || used == 0 || used > size || strlen(loc) >= sizeof(loc))
        __builtin_trap();
    /* The same head with a body after it parses the same. */
    char *more = malloc(size + 16);
    if (!more)
        return 0;
    memcpy(more, data, size);
    memcpy(more + size, "trailing body...", 16);
    int status2 = 0;
    size_t used2 = 0;
    char loc2[HTTP_CLIENT_MAX_LOCATION];
    if (http_client_parse_head(more, size + 16, &status2, loc2, sizeof(loc2), &used2) != ST_OK || status2 != status ||
        used2 != used || strcmp(loc, loc2) != 0)
        __builtin_trap();
    free(more);
    /* Prefixes shorter than the head are incomplete. */
    if (used > 0 && http_client_parse_head(in, used - 1, &status2, loc2, sizeof(loc2), &used2) == ST_OK)
        __builtin_trap();
    return 0;
}
