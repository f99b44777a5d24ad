/*
 * http_static: the status page and player (www/) compiled into every node,
 * and the HTTP handler that serves it.
 *
 * The assets are read-only data in the binary: cmake/embed_assets.cmake
 * turns each file under www/ into a byte array at build time and emits the
 * table http_static_assets (generated C source in the build directory).
 * "index.html" is served as "/", any other file as "/<relative path>"
 * ("/status.js", "/vendor/hls.min.js"). Nothing is read from disk or fetched
 * at run time, so a node serves the same bytes wherever it runs.
 *
 * Caching: each asset has a strong ETag fixed at build time (16 hex digits
 * of the SHA-256 of its bytes). The handler answers 304 to a matching
 * If-None-Match; "/" is sent with "Cache-Control: no-cache" (always
 * revalidated, so a new build shows at once), everything else with
 * "max-age=3600".
 *
 * Memory: static, nothing allocated; every pointer returned stays valid for
 * the life of the process. No state: any thread or loop may call these.
 */
#ifndef SC_HTTP_STATIC_H
#define SC_HTTP_STATIC_H

#include "http/http_server.h"

#include <stddef.h>

struct http_static_asset {
    const char *path;          /* URL path, "/" for index.html */
    const char *content_type;  /* with "; charset=utf-8" for text */
    const unsigned char *data; /* len bytes, plus a NUL not counted in len */
    size_t len;
    const char *etag;          /* strong validator, quotes included: "\"0123abcd...\"" */
};

/* The generated table (see above), sorted by file name. */
extern const struct http_static_asset http_static_assets[];
extern const size_t http_static_nassets;

/* The asset served at path (exact match, case-sensitive, no query part), or
 * NULL (also for a NULL path). */
const struct http_static_asset *http_static_find(const char *path);

/* The Cache-Control value for an asset: "no-cache" for "/", "max-age=3600"
 * otherwise. */
const char *http_static_cache_control(const struct http_static_asset *a);

/* 1 if an If-None-Match header value names etag ("*", or a comma-separated
 * list of entity tags, weak ones compared by their opaque part as RFC 9110
 * 13.1.2 asks), else 0. header NULL: 0. Reads at most 8 KiB of header. */
int http_static_etag_match(const char *header, const char *etag);

/* http_server handler for GET/HEAD of any asset path: 200 with the bytes,
 * Content-Type, ETag and Cache-Control; 304 with ETag and Cache-Control when
 * If-None-Match matches; 404 for a path that is no asset (when routed by a
 * prefix). ctx is unused. Returns ST_OK (answered) or ST_ERROR (the server
 * answers 500). */
int http_static_handle(struct http_server_request *req, void *ctx);

/* Route every asset path (GET and HEAD) to http_static_handle on s; uses
 * http_static_nassets route slots. ST_OK, or ST_ERROR if a route could not be
 * added (table full, path taken). */
int http_static_route(struct http_server *s);

#endif
