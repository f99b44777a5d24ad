/*
 * libFuzzer driver for cluster_directory_parse_event (payloads of the events
 * channel come from any client of the shared Redis) and the key builder.
 * Checks the parser's promises on every accepted input.
 */
#include "cluster/cluster_directory.h"
#include "core/status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char type[8];
    struct cluster_stream_info info;
    if (cluster_directory_parse_event((const char *)data, size, type, &info) == ST_OK) {
        if (strcmp(type, "up") != 0 && strcmp(type, "down") != 0)
            abort();
        size_t k = strnlen(info.key, sizeof(info.key)), o = strnlen(info.owner, sizeof(info.owner));
        if (k == 0 || k == sizeof(info.key) || o == 0 || o == sizeof(info.owner) || strchr(info.owner, ' '))
            abort();
    }
    /* key builder: the input split into prefix / kind / rest at its NULs */
    char s[3][256];
    size_t part = 0, at = 0;
    memset(s, 0, sizeof(s));
    for (size_t i = 0; i < size && part < 3; i++) {
        if (data[i] == 0 || at == sizeof(s[0]) - 1) {
            part++;
            at = 0;
        } else {
            s[part][at++] = (char)data[i];
        }
    }
    char out[300];
    size_t cap = size % sizeof(out);
    size_t n = cluster_directory_key(out, cap, s[0], s[1], size & 1 ? NULL : s[2]);
    if (n && (n >= cap || strlen(out) != n))
        abort();
    return 0;
}
