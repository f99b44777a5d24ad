#include "http/http_static.h"

#include "core/status.h"

#include <stdio.h>
#include <string.h>

#define ETAG_HEADER_MAX 8192 /* If-None-Match bytes looked at */

const struct http_static_asset *http_static_find(const char *path)
{
    if (!path)
        return NULL;
    for (size_t i = 0; i < http_static_nassets; i++)
        if (strcmp(http_static_assets[i].path, path) == 0)
            return &http_static_assets[i];
    return NULL;
}

const char *http_static_cache_control(const struct http_static_asset *a)
{
    /* The page names the other assets; revalidating it on every load is
     * what lets a new build replace a cached script within one reload. */
    return strcmp(a->path, "/") == 0 ? "no-cache" : "max-age=3600";
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int http_static_etag_match(const char *header, const char *etag)
{
    if (!header || !etag)
        return 0;
    size_t elen = strlen(etag);
    size_t n = strnlen(header, ETAG_HEADER_MAX);
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_ows(header[i]) || header[i] == ','))
            i++;
        if (i == n)
            break;
        size_t start = i;
        if (header[i] == '*') {
            size_t j = i + 1;
            while (j < n && is_ows(header[j]))
                j++;
            if (j == n || header[j] == ',')
                return 1;
        } else {
            /* Weak comparison: "W/" does not matter for If-None-Match. */
            if (n - i >= 2 && header[i] == 'W' && header[i + 1] == '/')
                start = i += 2;
            if (i < n && header[i] == '"') {
                const char *close = memchr(header + i + 1, '"', n - i - 1);
                if (close) {
                    size_t tlen = (size_t)(close - (header + start)) + 1;
                    if (tlen == elen && memcmp(header + start, etag, elen) == 0)
                        return 1;
                    i = (size_t)(close - header) + 1;
                }
            }
        }
        /* Past this element (or a malformed one) to the next comma. */
        while (i < n && header[i] != ',')
            i++;
    }
    return 0;
}

int http_static_handle(struct http_server_request *req, void *ctx)
{
    (void)ctx;
    const char *path = http_server_request_path(req);
    const struct http_static_asset *a = http_static_find(path);
    if (!a) {
        static const char msg[] = "no such page\n";
        return http_server_send(req, 404, "text/plain; charset=utf-8", msg, sizeof(msg) - 1, NULL);
    }
    char headers[256];
    int hn = snprintf(headers, sizeof(headers), "ETag: %s\r\nCache-Control: %s\r\nX-Content-Type-Options: nosniff\r\n",
                      a->etag, http_static_cache_control(a));
    if (hn < 0 || (size_t)hn >= sizeof(headers))
        return ST_ERROR;
    if (http_static_etag_match(http_server_request_header(req, "If-None-Match"), a->etag))
        return http_server_send(req, 304, NULL, a->data, 0, headers);
    /* Static bytes: sent without a copy (hls.js is 600 KB per download). */
    return http_server_send_shared(req, 200, a->content_type, a->data, a->len, headers, NULL, NULL);
}

int http_static_route(struct http_server *s)
{
    for (size_t i = 0; i < http_static_nassets; i++)
        if (http_server_route(s, http_static_assets[i].path, HTTP_SERVER_GET | HTTP_SERVER_HEAD, http_static_handle,
                              NULL) != ST_OK)
            return ST_ERROR;
    return ST_OK;
}
