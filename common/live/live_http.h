/*
 * live_http: the streams of a live_server over HTTP: HTTP-FLV, HLS (MPEG-TS
 * and fMP4), low-latency HLS, and the status page, on the node's HTTP
 * servers (live_api's HTTP and HTTPS listeners share one live_http).
 *
 * URLs (app and name are one path segment each):
 *   /<app>/<name>.flv          live FLV, chunked transfer, until the client goes
 *   /<app>/<name>.m3u8         HLS: MPEG-TS for H.264/AAC, fMP4 for HEVC/AV1
 *   /<app>/<name>.ll.m3u8      low-latency HLS (fMP4 parts, blocking reload)
 *   /<app>/<name>/<msn>.ts, <msn>.m4s, <msn>.<part>.m4s, init-<n>.mp4
 *   /, /status.js, /vendor/... the status page (http_static.h)
 *
 * On demand: the first HTTP request for a stream holds it (live_server_hold:
 * an edge subscribes upstream as for an RTMP player) and hangs an HLS
 * rendition off it as a fanout_tap; a rendition nobody requested for
 * hls_idle_timeout is dropped, and the hold with the last one. HTTP-FLV
 * players are fanout players (the frame's FLV form is built once and
 * shared) with the RTMP players' drop policy, so a slow reader is bounded
 * the same way.
 *
 * Waiting requests (a playlist before the first segment, LL-HLS blocking
 * reload, a preload-hinted part) are async HTTP requests parked on the
 * stream and answered when the part or segment appears, or with 503/404 at
 * their deadline. At most LIVE_HTTP_MAX_WAITERS per process.
 *
 * Ownership: live_api creates the process's live_http with the first API
 * listener (live_http_acquire) and frees it with the last. Per-stream state
 * hangs off live_stream->http and is freed with its last rendition and FLV
 * player. Loop-confined.
 */
#ifndef SC_LIVE_HTTP_H
#define SC_LIVE_HTTP_H

#include "http/http_server.h"
#include "live/live_http_auth.h"
#include "live/live_server.h"

#include <ev.h>
#include <stdint.h>

#define LIVE_HTTP_MAX_WAITERS 4096

struct live_http_stats {
    uint64_t playlists;        /* playlist responses */
    uint64_t segments;         /* segment, part and init responses */
    uint64_t segment_bytes;    /* bytes of those bodies */
    uint64_t blocked;          /* requests that had to wait */
    uint64_t wait_timeouts;    /* waiting requests answered 503/404 at their deadline */
    uint64_t not_found;        /* 404 for streams, segments, parts */
    uint64_t flv_players;      /* HTTP-FLV players accepted */
    uint64_t flv_dropped_slow; /* HTTP-FLV players closed by the drop policy */
    uint64_t refused;          /* 403 (authorization) and 503 (limits) */
};

struct live_http_waiter;
struct live_http_flv;

struct live_http {
    struct live_server *srv;
    struct ev_loop *loop;
    int refs;                        /* live_api listeners using it */
    ev_timer sweep;                  /* idle renditions, waiter deadlines */
    ev_prepare flush;                /* writes HTTP-FLV players once per loop turn */
    struct live_http_flv *flv;       /* every HTTP-FLV player */
    struct live_http_flv *dirty;     /* players with output this turn */
    uint32_t nflv;
    uint32_t nwaiters;
    struct live_http_stats stats;
    struct live_http_auth auth;      /* viewers' authorization (webhook verdict cache) */
};

/* The process's live_http for srv (created on first use); NULL on
 * allocation failure. Every acquire is matched by a release. */
struct live_http *live_http_acquire(struct live_server *srv, struct ev_loop *loop);
void live_http_release(struct live_http *h);

/* Add the delivery routes (every path, as a prefix route, and "/") to an HTTP server. */
int live_http_routes(struct live_http *h, struct http_server *http);

/* Viewers of a stream by protocol (for /v1/streams and the status page). */
uint32_t live_http_hls_viewers(const struct live_stream *st, uint64_t now_ms);

#endif
