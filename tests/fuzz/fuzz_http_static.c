/*
 * libFuzzer driver for http_static: the input, as a NUL-terminated string,
 * is tried as an If-None-Match value against every asset's ETag and as a
 * path for http_static_find.
 *
 * Checks: a match needs the ETag's bytes in the first 8 KiB of the header, or
 * a "*"; a found asset has exactly the path asked for; and an exact ETag or
 * "*" always matches whatever garbage comes after a comma.
 */
#include "http/http_static.h"

#include <stdlib.h>
#include <string.h>

#define FZ_MAX 16384

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size > FZ_MAX)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    size_t slen = strlen(s);

    for (size_t i = 0; i < http_static_nassets; i++) {
        const char *etag = http_static_assets[i].etag;
        int m = http_static_etag_match(s, etag);
        if (m != 0 && m != 1)
            abort();
        if (m) {
            char head[8193];
            size_t n = slen < 8192 ? slen : 8192;
            memcpy(head, s, n);
            head[n] = '\0';
            if (!strstr(head, etag) && !strchr(head, '*'))
                abort();
        }
    }

    const struct http_static_asset *a = http_static_find(s);
    if (a && strcmp(a->path, s) != 0)
        abort();

    /* The real tag first, the fuzz bytes as later list elements. */
    const char *etag = http_static_assets[0].etag;
    size_t elen = strlen(etag);
    char *h = malloc(elen + 2 + slen + 1);
    if (h) {
        memcpy(h, etag, elen);
        memcpy(h + elen, ", ", 2);
        memcpy(h + elen + 2, s, slen + 1);
        if (!http_static_etag_match(h, etag))
            abort();
        h[0] = '*';
        h[1] = ',';
        if (!http_static_etag_match(h, "\"never\""))
            abort();
        free(h);
    }
    free(s);
    return 0;
}
