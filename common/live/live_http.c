#include "live/live_http.h"

#include "core/buf.h"
#include "core/log.h"
#include "core/status.h"
#include "hls/hls_stream.h"
#include "http/http_request.h"
#include "http/http_static.h"
#include "live/live_gate.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HLS_VIEWER_SLOTS 64
#define HLS_VIEWER_WINDOW_MS 10000
#define WAIT_MAX_MS 8000
#define FLV_CTRL_MAX 65536
#define PLAYLIST_MAX (1u << 20)
#define AUDIO_ONLY_AFTER_FRAMES 50

enum { R_TS = 0, R_FMP4 = 1, R_COUNT = 2 };

/* What a request asks for, parsed from its path. */
enum want_kind { W_PLAYLIST, W_SEGMENT, W_PART, W_INIT };

struct want {
    enum want_kind kind;
    int rendition;   /* R_TS / R_FMP4, or -1 = pick by codec (plain .m3u8) */
    uint64_t msn;    /* segment, or blocking-reload _HLS_msn (UINT64_MAX = none) */
    int32_t part;    /* part, or _HLS_part (-1 = none) */
    int skip;        /* _HLS_skip=YES */
};

/* Per stream: the renditions and the requests waiting on it. */
struct http_stream {
    struct live_http *h;
    struct live_stream *st;
    struct fanout_tap tap;
    struct hls_stream *r[R_COUNT];
    uint64_t last_request[R_COUNT]; /* ms; a rendition idle too long goes */
    int held;                       /* live_server_hold taken */
    struct live_http_waiter *waiters;
    struct {
        uint32_t ip_hash;
        uint64_t last_ms;
    } viewers[HLS_VIEWER_SLOTS];
};

struct live_http_waiter {
    struct live_http_waiter *next;
    struct http_server *http;
    struct http_server_handle handle;
    struct want want;
    uint64_t deadline_ms;
    char query[LIVE_HTTP_QUERY_MAX]; /* carried into the playlist's URIs (signed keys) */
};

struct live_http_flv {
    ev_io rio, wio;
    struct live_http *h;
    struct live_stream *st;
    struct net_transport transport;
    struct fanout_player out;
    struct live_http_flv *next, *prev;   /* all players */
    struct live_http_flv *dirty_next;
    int in_dirty;
    int closing;
    char peer[64];
};

static uint64_t now_ms(const struct live_http *h) { return (uint64_t)(ev_now(h->loop) * 1000.0); }

/* ---- per-stream state ------------------------------------------------- */

static void stream_tap_frame(struct fanout_tap *t, struct fanout_frame *f);
static void stream_tap_clear(struct fanout_tap *t);
static void waiters_run(struct http_stream *hs, int final);

static struct http_stream *stream_get(struct live_http *h, const char *key)
{
    struct live_stream *st = live_registry_find(&h->srv->registry, key);
    if (st && st->http)
        return st->http;
    struct http_stream *hs = calloc(1, sizeof(*hs));
    if (!hs)
        return NULL;
    st = live_server_hold(h->srv, key);
    if (!st) {
        free(hs);
        return NULL;
    }
    hs->h = h;
    hs->st = st;
    hs->held = 1;
    hs->tap.frame = stream_tap_frame;
    hs->tap.clear = stream_tap_clear;
    st->http = hs;
    fanout_stream_add_tap(&st->fanout, &hs->tap);
    return hs;
}

/* Free hs when nothing uses it any more: no rendition, no waiter, no
 * HTTP-FLV player of its stream. */
static void stream_maybe_free(struct http_stream *hs)
{
    for (int i = 0; i < R_COUNT; i++)
        if (hs->r[i])
            return;
    if (hs->waiters || hs->st->flv_players)
        return;
    struct live_stream *st = hs->st;
    fanout_stream_remove_tap(&st->fanout, &hs->tap);
    st->http = NULL;
    struct live_http *h = hs->h;
    int held = hs->held;
    free(hs);
    if (held)
        live_server_unhold(h->srv, st);
}

static void rendition_free(struct http_stream *hs, int i)
{
    if (!hs->r[i])
        return;
    hls_stream_free(hs->r[i]);
    free(hs->r[i]);
    hs->r[i] = NULL;
}

/* The stream's base name for relative URIs: the part after "app/". */
static const char *stream_base(const struct live_stream *st)
{
    const char *slash = strrchr(st->key, '/');
    return slash ? slash + 1 : st->key;
}

/* Create rendition i and prime it with what the stream already has: codec
 * headers and the GOP (useful when it starts at a segment cut). */
static struct hls_stream *rendition_get(struct http_stream *hs, int i)
{
    if (hs->r[i])
        return hs->r[i];
    const struct live_settings *cfg = hs->h->srv->settings;
    struct hls_stream_settings s = {.format = i == R_TS ? HLS_FORMAT_TS : HLS_FORMAT_FMP4,
                                    .low_latency = i == R_FMP4,
                                    .window = (uint32_t)cfg->hls_window,
                                    .part_ms = (uint32_t)cfg->hls_part_duration,
                                    .max_bytes = cfg->hls_max_bytes};
    struct hls_stream *r = calloc(1, sizeof(*r));
    if (!r || hls_stream_init(r, &s, stream_base(hs->st)) != ST_OK) {
        free(r);
        return NULL;
    }
    struct fanout_stream *fs = &hs->st->fanout;
    if (fs->video_header)
        hls_stream_push(r, fs->video_header);
    if (fs->audio_header)
        hls_stream_push(r, fs->audio_header);
    for (uint32_t k = 0; k < fs->gop_count; k++)
        hls_stream_push(r, fs->gop[k]);
    hs->r[i] = r;
    LOG_INFO("hls: stream=%s %s rendition started", hs->st->key, i == R_TS ? "mpeg-ts" : "fmp4");
    return r;
}

static void stream_tap_frame(struct fanout_tap *t, struct fanout_frame *f)
{
    struct http_stream *hs = (struct http_stream *)((char *)t - offsetof(struct http_stream, tap));
    unsigned events = 0;
    for (int i = 0; i < R_COUNT; i++)
        if (hs->r[i])
            events |= hls_stream_push(hs->r[i], f);
    if (hs->waiters && (events || (f->flags & FANOUT_FLAG_SEQ_HEADER)))
        waiters_run(hs, 0);
}

static void stream_tap_clear(struct fanout_tap *t)
{
    (void)t; /* renditions see the next publisher's segment numbers and restart themselves */
}

static uint32_t ip_hash(const char *peer)
{
    /* The address without the port: one viewer per client address. */
    uint32_t hsh = 2166136261u;
    const char *end = strrchr(peer, ':');
    for (const char *p = peer; *p && p != end; p++)
        hsh = (hsh ^ (uint8_t)*p) * 16777619u;
    return hsh ? hsh : 1;
}

static void note_viewer(struct http_stream *hs, const char *peer, uint64_t now)
{
    uint32_t k = ip_hash(peer);
    int oldest = 0;
    for (int i = 0; i < HLS_VIEWER_SLOTS; i++) {
        if (hs->viewers[i].ip_hash == k) {
            hs->viewers[i].last_ms = now;
            return;
        }
        if (hs->viewers[i].last_ms < hs->viewers[oldest].last_ms)
            oldest = i;
    }
    hs->viewers[oldest].ip_hash = k;
    hs->viewers[oldest].last_ms = now;
}

uint32_t live_http_hls_viewers(const struct live_stream *st, uint64_t now)
{
    const struct http_stream *hs = st->http;
    uint32_t n = 0;
    if (!hs)
        return 0;
    for (int i = 0; i < HLS_VIEWER_SLOTS; i++)
        if (hs->viewers[i].ip_hash && now - hs->viewers[i].last_ms < HLS_VIEWER_WINDOW_MS)
            n++;
    return n;
}

/* ---- answering --------------------------------------------------------- */

static void send_text(struct http_server_request *req, int status, const char *extra, const char *msg)
{
    char hdr[256];
    snprintf(hdr, sizeof(hdr), "Cache-Control: no-cache\r\n%s", extra ? extra : "");
    http_server_send(req, status, "text/plain; charset=utf-8", msg, strlen(msg), hdr);
}

static void blob_release(void *ctx) { hls_blob_unref(ctx); }

/* "Range: bytes=a-b" (one range). 0 = no range, 1 = [*from, *to] set, -1 =
 * unsatisfiable or malformed. */
static int parse_range(const char *v, size_t len, size_t *from, size_t *to)
{
    if (!v)
        return 0;
    if (strncmp(v, "bytes=", 6) != 0 || strchr(v, ','))
        return -1;
    v += 6;
    char *end;
    if (*v == '-') {
        unsigned long long n = strtoull(v + 1, &end, 10);
        if (end == v + 1 || *end || n == 0 || len == 0)
            return -1;
        *from = n >= len ? 0 : len - (size_t)n;
        *to = len - 1;
        return 1;
    }
    unsigned long long a = strtoull(v, &end, 10);
    if (end == v || *end != '-')
        return -1;
    const char *b = end + 1;
    unsigned long long z = len ? len - 1 : 0;
    if (*b) {
        z = strtoull(b, &end, 10);
        if (end == b || *end || z < a)
            return -1;
    }
    if (a >= len)
        return -1;
    if (z >= len)
        z = len - 1;
    *from = (size_t)a;
    *to = (size_t)z;
    return 1;
}

/* Send a segment/part/init blob, honouring a Range header. Takes over the
 * caller's blob reference. */
static void send_blob(struct live_http *h, struct http_server_request *req, struct hls_blob *b, const char *ctype)
{
    size_t from = 0, to = b->len ? b->len - 1 : 0;
    int r = parse_range(http_server_request_header(req, "Range"), b->len, &from, &to);
    char hdr[256];
    if (r < 0) {
        snprintf(hdr, sizeof(hdr), "Content-Range: bytes */%zu\r\nCache-Control: no-cache\r\n", b->len);
        http_server_send(req, 416, "text/plain; charset=utf-8", "range not satisfiable\n", 22, hdr);
        hls_blob_unref(b);
        return;
    }
    size_t n = r ? to - from + 1 : b->len;
    int off = snprintf(hdr, sizeof(hdr), "Cache-Control: max-age=3600\r\nAccept-Ranges: bytes\r\n");
    if (r)
        snprintf(hdr + off, sizeof(hdr) - (size_t)off, "Content-Range: bytes %zu-%zu/%zu\r\n", from, to, b->len);
    h->stats.segments++;
    h->stats.segment_bytes += n;
    http_server_send_shared(req, r ? 206 : 200, ctype, b->data + from, n, hdr, blob_release, b);
}

/* Append "?query" to every URI of a playlist (signed keys travel on). */
static int add_query(struct buf *out, const struct buf *in, const char *query)
{
    const char *p = (const char *)in->data, *end = p + in->len;
    size_t ql = strlen(query);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (p < le && *p != '#') {
            if (buf_append(out, p, (size_t)(le - p)) || buf_append(out, "?", 1) || buf_append(out, query, ql))
                return ST_ERROR;
        } else {
            /* URI="..." attributes (EXT-X-MAP, EXT-X-PART, EXT-X-PRELOAD-HINT). */
            const char *q = p;
            for (;;) {
                const char *u = memmem(q, (size_t)(le - q), "URI=\"", 5);
                const char *close = u ? memchr(u + 5, '"', (size_t)(le - u - 5)) : NULL;
                if (!close) {
                    if (buf_append(out, q, (size_t)(le - q)))
                        return ST_ERROR;
                    break;
                }
                if (buf_append(out, q, (size_t)(close - q)) || buf_append(out, "?", 1) ||
                    buf_append(out, query, ql))
                    return ST_ERROR;
                q = close;
            }
        }
        if (nl && buf_append(out, "\n", 1))
            return ST_ERROR;
        p = nl ? nl + 1 : end;
    }
    return ST_OK;
}

/* Which rendition a plain .m3u8 gets: MPEG-TS unless the codec needs fMP4.
 * -1 while the codecs are not known yet. */
static int auto_rendition(const struct live_stream *st)
{
    if (st->video.codec == MEDIA_VIDEO_HEVC || st->video.codec == MEDIA_VIDEO_AV1)
        return R_FMP4;
    if (st->video.codec == MEDIA_VIDEO_AVC)
        return st->fanout.video_header ? R_TS : -1;
    if (st->fanout.video_header)
        return R_FMP4;
    /* No video header yet: audio-only only once plenty of audio came
     * without one (a snapshot may deliver the audio header first). */
    if (st->fanout.audio_header && st->fanout.frames_in >= AUDIO_ONLY_AFTER_FRAMES)
        return R_TS;
    return -1;
}

/* Try to answer w on hs now. ST_OK answered (or the client is gone),
 * ST_AGAIN wait. final: the deadline passed, answer whatever the state. */
static int serve(struct http_stream *hs, struct http_server_request *req, struct want *w, const char *query,
                 int final)
{
    struct live_http *h = hs->h;
    uint64_t now = now_ms(h);
    int ri = w->rendition >= 0 ? w->rendition : auto_rendition(hs->st);
    if (ri < 0) {
        if (!final)
            return ST_AGAIN;
        h->stats.wait_timeouts++;
        if (hs->st->fanout.frames_in == 0) {
            h->stats.not_found++;
            send_text(req, 404, NULL, "stream not found: nothing published under this name\n");
        } else {
            send_text(req, 503, "Retry-After: 1\r\n", "stream has no codec headers yet\n");
        }
        return ST_OK;
    }
    struct hls_stream *r = rendition_get(hs, ri);
    if (!r) {
        send_text(req, 503, "Retry-After: 1\r\n", "out of memory\n");
        return ST_OK;
    }
    hs->last_request[ri] = now;
    note_viewer(hs, http_server_request_peer(req), now);
    if (w->kind == W_PLAYLIST) {
        if (w->msn != UINT64_MAX) {
            int ready = hls_stream_ready(r, w->msn, w->part);
            if (ready < 0) {
                send_text(req, 400, NULL, "_HLS_msn/_HLS_part too far ahead of the live edge\n");
                return ST_OK;
            }
            if (ready == 0 && !final)
                return ST_AGAIN;
        }
        struct buf b;
        buf_init(&b, PLAYLIST_MAX);
        int rc = hls_stream_playlist(r, &b, w->skip);
        if (rc == ST_AGAIN && !final) {
            buf_free(&b);
            return ST_AGAIN;
        }
        if (rc != ST_OK) {
            buf_free(&b);
            h->stats.wait_timeouts++;
            if (hs->st->fanout.frames_in == 0) {
                h->stats.not_found++;
                send_text(req, 404, NULL, "stream not found: nothing published under this name\n");
            } else {
                send_text(req, 503, "Retry-After: 1\r\n", "no complete segment yet\n");
            }
            return ST_OK;
        }
        struct buf q;
        buf_init(&q, PLAYLIST_MAX * 2);
        const struct buf *body = &b;
        if (query && *query) {
            if (add_query(&q, &b, query) == ST_OK)
                body = &q;
        }
        h->stats.playlists++;
        http_server_send(req, 200, "application/vnd.apple.mpegurl", body->data, body->len,
                         "Cache-Control: no-cache\r\n");
        buf_free(&b);
        buf_free(&q);
        return ST_OK;
    }
    struct hls_blob *blob = NULL;
    const char *ctype = ri == R_TS ? "video/mp2t" : "video/mp4";
    if (w->kind == W_INIT) {
        /* A worker that has not started a segment yet (just subscribed, or its
         * rendition just created) has no init segment, while another worker
         * already lists it: wait as for a segment instead of a 404. */
        if (r->ninits == 0 && !final)
            return ST_AGAIN;
        blob = hls_stream_init_segment(r, w->msn);
    } else {
        int ready = hls_stream_ready(r, w->msn, w->kind == W_PART ? w->part : -1);
        if (ready == 0 && !final)
            return ST_AGAIN;
        blob = w->kind == W_PART ? hls_stream_part(r, w->msn, (uint32_t)w->part) : hls_stream_segment(r, w->msn);
    }
    if (!blob) {
        h->stats.not_found++;
        send_text(req, 404, NULL, "segment not available (too old, not yet made, or never)\n");
        return ST_OK;
    }
    send_blob(h, req, blob, ctype);
    return ST_OK;
}

static void waiters_run(struct http_stream *hs, int final_all)
{
    struct live_http *h = hs->h;
    uint64_t now = now_ms(h);
    struct live_http_waiter **pp = &hs->waiters;
    while (*pp) {
        struct live_http_waiter *w = *pp;
        struct http_server_request *req = http_server_request_lookup(w->http, w->handle);
        int done = 1;
        if (req)
            done = serve(hs, req, &w->want, w->query, final_all || now >= w->deadline_ms) == ST_OK;
        if (done) {
            *pp = w->next;
            free(w);
            h->nwaiters--;
        } else {
            pp = &w->next;
        }
    }
}

/* ---- HTTP-FLV ---------------------------------------------------------- */

static void flv_close(struct live_http_flv *p, const char *why)
{
    struct live_http *h = p->h;
    LOG_INFO("http-flv end stream=%s peer=%s reason=\"%s\" sent=%" PRIu64 " dropped=%" PRIu64, p->st->key, p->peer,
             why, p->out.bytes_written, p->out.frames_dropped);
    ev_io_stop(h->loop, &p->rio);
    ev_io_stop(h->loop, &p->wio);
    net_transport_close(&p->transport);
    if (p->in_dirty) {
        for (struct live_http_flv **pp = &h->dirty; *pp; pp = &(*pp)->dirty_next)
            if (*pp == p) {
                *pp = p->dirty_next;
                break;
            }
    }
    if (p->prev)
        p->prev->next = p->next;
    else
        h->flv = p->next;
    if (p->next)
        p->next->prev = p->prev;
    h->nflv--;
    struct live_stream *st = p->st;
    fanout_stream_remove_player(&st->fanout, &p->out);
    fanout_player_free(&p->out);
    st->flv_players--;
    free(p);
    struct http_stream *hs = st->http;
    if (hs)
        stream_maybe_free(hs);
    live_server_unhold(h->srv, st); /* the player's own hold, taken in flv_start */
}

static int flv_writev(void *ctx, const struct iovec *iov, int iovcnt, size_t *written)
{
    struct live_http_flv *p = ctx;
    return net_transport_writev(&p->transport, iov, iovcnt, written);
}

static void flv_wake(struct fanout_player *fp)
{
    struct live_http_flv *p = fp->owner;
    if (p->in_dirty)
        return;
    p->in_dirty = 1;
    p->dirty_next = p->h->dirty;
    p->h->dirty = p;
}

/* Write what is queued; closes p on error or when the drop policy gave up. */
static void flv_flush(struct live_http_flv *p)
{
    struct live_http *h = p->h;
    if (p->out.failed) {
        h->stats.flv_dropped_slow++;
        h->srv->stats.players_dropped_slow++;
        flv_close(p, p->out.failed);
        return;
    }
    uint64_t before = p->out.bytes_written;
    int rc = fanout_player_flush(&p->out, flv_writev, p);
    h->srv->stats.bytes_out += p->out.bytes_written - before;
    if (rc == ST_ERROR) {
        flv_close(p, p->transport.error ? p->transport.error : strerror(p->transport.err));
        return;
    }
    int want = rc == ST_AGAIN || p->transport.unsent;
    if (want && !ev_is_active(&p->wio))
        ev_io_start(h->loop, &p->wio);
    else if (!want && ev_is_active(&p->wio))
        ev_io_stop(h->loop, &p->wio);
}

static void flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    struct live_http *h = w->data;
    while (h->dirty) {
        struct live_http_flv *p = h->dirty;
        h->dirty = p->dirty_next;
        p->in_dirty = 0;
        flv_flush(p);
    }
}

static void flv_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    flv_flush(w->data);
}

static void flv_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct live_http_flv *p = w->data;
    uint8_t tmp[1024];
    for (int i = 0; i < 16; i++) {
        size_t n = 0;
        int rc = net_transport_read(&p->transport, tmp, sizeof(tmp), &n);
        if (rc == ST_AGAIN)
            return;
        if (rc != ST_OK) {
            flv_close(p, rc == ST_DONE ? "peer closed" : "read error");
            return;
        }
    }
}

static int flv_start(struct live_http *h, struct http_server_request *req, const char *key)
{
    const struct live_settings *cfg = h->srv->settings;
    if (cfg->http_flv_max_players > 0 && h->nflv >= (uint32_t)cfg->http_flv_max_players) {
        h->stats.refused++;
        send_text(req, 503, "Retry-After: 5\r\n", "too many HTTP-FLV players on this node\n");
        return ST_OK;
    }
    if (!strcmp(http_server_request_method(req), "HEAD")) {
        http_server_send(req, 200, "video/x-flv", "", 0, "Cache-Control: no-cache\r\n");
        return ST_OK;
    }
    struct live_http_flv *p = calloc(1, sizeof(*p));
    if (!p || fanout_player_init(&p->out, (uint32_t)cfg->player_queue_frames, cfg->player_max_queue, FLV_CTRL_MAX,
                                 (uint32_t)cfg->player_max_behind) != ST_OK) {
        free(p);
        send_text(req, 503, NULL, "out of memory\n");
        return ST_OK;
    }
    struct live_stream *st = live_server_hold(h->srv, key);
    if (!st) {
        fanout_player_free(&p->out);
        free(p);
        send_text(req, 503, NULL, "out of memory\n");
        return ST_OK;
    }
    snprintf(p->peer, sizeof(p->peer), "%s", http_server_request_peer(req));
    if (http_server_takeover(req, &p->transport) != ST_OK) {
        live_server_unhold(h->srv, st);
        fanout_player_free(&p->out);
        free(p);
        send_text(req, 500, NULL, "cannot stream on this connection\n");
        return ST_OK;
    }
    /* The RTMP players' socket caps, so the drop policy (not a large kernel
     * buffer) decides how far behind a slow HTTP reader gets. */
    if (cfg->socket_sndbuf > 0) {
        int sz = (int)cfg->socket_sndbuf;
        setsockopt(p->transport.fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    if (cfg->socket_notsent_lowat > 0) {
        int lowat = (int)cfg->socket_notsent_lowat;
        setsockopt(p->transport.fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
    }
    p->h = h;
    p->st = st;
    p->out.flv = 1;
    p->out.max_queue_ms = (uint32_t)cfg->player_max_delay;
    p->out.owner = p;
    p->out.wake = flv_wake;
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nTransfer-Encoding: chunked\r\n"
                               "Cache-Control: no-cache\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n"
                               "d\r\nFLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\r\n";
    buf_append(&p->out.ctrl, head, sizeof(head) - 1);
    ev_io_init(&p->rio, flv_read_cb, p->transport.fd, EV_READ);
    ev_io_init(&p->wio, flv_write_cb, p->transport.fd, EV_WRITE);
    p->rio.data = p->wio.data = p;
    ev_io_start(h->loop, &p->rio);
    p->next = h->flv;
    if (h->flv)
        h->flv->prev = p;
    h->flv = p;
    h->nflv++;
    h->stats.flv_players++;
    st->flv_players++;
    /* The hold stays until flv_close: it keeps the stream (and an edge's
     * subscription) as long as the player. */
    fanout_stream_add_player(&st->fanout, &p->out, live_server_now_ms(h->srv));
    fanout_player_ctrl_appended(&p->out);
    LOG_INFO("http-flv start stream=%s peer=%s", key, p->peer);
    return ST_OK;
}

/* ---- routing ----------------------------------------------------------- */

static int valid_segment(const char *s, size_t n)
{
    if (n == 0 || n >= LIVE_KEY_MAX / 2 || (n == 2 && s[0] == '.' && s[1] == '.') || (n == 1 && s[0] == '.'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '%' || s[i] == '\\' || (unsigned char)s[i] < 0x21)
            return 0;
    return 1;
}

static int ends_with(const char *s, size_t n, const char *suffix, size_t *stem)
{
    size_t k = strlen(suffix);
    if (n <= k || memcmp(s + n - k, suffix, k) != 0)
        return 0;
    *stem = n - k;
    return 1;
}

/* "<digits>" -> value; 0 on anything else. */
static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 20)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* The segment file names: <msn>.ts, <msn>.m4s, <msn>.<part>.m4s, init-<n>.mp4. */
static int parse_file(const char *f, size_t n, struct want *w)
{
    size_t stem;
    w->part = -1;
    w->skip = 0;
    if (ends_with(f, n, ".ts", &stem)) {
        w->kind = W_SEGMENT;
        w->rendition = R_TS;
        return parse_u64(f, stem, &w->msn);
    }
    if (n > 5 && !memcmp(f, "init-", 5) && ends_with(f, n, ".mp4", &stem)) {
        w->kind = W_INIT;
        w->rendition = R_FMP4;
        return parse_u64(f + 5, stem - 5, &w->msn);
    }
    if (ends_with(f, n, ".m4s", &stem)) {
        w->rendition = R_FMP4;
        const char *dot = memchr(f, '.', stem);
        if (!dot) {
            w->kind = W_SEGMENT;
            return parse_u64(f, stem, &w->msn);
        }
        uint64_t part;
        w->kind = W_PART;
        if (!parse_u64(f, (size_t)(dot - f), &w->msn) || !parse_u64(dot + 1, stem - (size_t)(dot - f) - 1, &part) ||
            part > INT32_MAX)
            return 0;
        w->part = (int32_t)part;
        return 1;
    }
    return 0;
}

/* _HLS_msn, _HLS_part, _HLS_skip of a playlist request. ST_ERROR: malformed. */
static int parse_blocking(const char *query, struct want *w)
{
    char v[32];
    w->msn = UINT64_MAX;
    w->part = -1;
    if (!query || !*query)
        return ST_OK;
    if (http_request_query_param(query, "_HLS_msn", v, sizeof(v), NULL) == ST_OK) {
        if (!parse_u64(v, strlen(v), &w->msn))
            return ST_ERROR;
    }
    if (http_request_query_param(query, "_HLS_part", v, sizeof(v), NULL) == ST_OK) {
        uint64_t p;
        if (w->msn == UINT64_MAX || !parse_u64(v, strlen(v), &p) || p > INT32_MAX)
            return ST_ERROR;
        w->part = (int32_t)p;
    }
    if (http_request_query_param(query, "_HLS_skip", v, sizeof(v), NULL) == ST_OK)
        w->skip = !strcmp(v, "YES") || !strcmp(v, "v2");
    return ST_OK;
}

/* The query without the LL-HLS directives, to carry into URIs and to
 * authorize with. ST_ERROR when it does not fit in cap. */
static int carried_query(const char *query, char *out, size_t cap)
{
    out[0] = '\0';
    if (!query)
        return ST_OK;
    size_t n = 0;
    const char *p = query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (strncmp(p, "_HLS_", 5) != 0 && len) {
            if (n + len + 2 >= cap)
                return ST_ERROR;
            if (n)
                out[n++] = '&';
            memcpy(out + n, p, len);
            n += len;
            out[n] = '\0';
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return ST_OK;
}

static int handle(struct http_server_request *req, void *ctx)
{
    struct live_http *h = ctx;
    const char *path = http_server_request_path(req);
    const char *query = http_server_request_query(req);
    if (http_static_find(path))
        return http_static_handle(req, NULL);
    /* Split /<app>/<rest>[/<file>] */
    const char *app = path + 1;
    const char *s1 = strchr(app, '/');
    if (!s1) {
        h->stats.not_found++;
        send_text(req, 404, NULL, "not found: expected /<app>/<name>.m3u8, .ll.m3u8 or .flv\n");
        return ST_OK;
    }
    size_t app_len = (size_t)(s1 - app);
    const char *rest = s1 + 1;
    const char *s2 = strchr(rest, '/');
    size_t rest_len = s2 ? (size_t)(s2 - rest) : strlen(rest);
    const char *file = s2 ? s2 + 1 : NULL;
    if (!valid_segment(app, app_len) || !valid_segment(rest, rest_len) || (file && (strchr(file, '/') || !*file))) {
        h->stats.not_found++;
        send_text(req, 404, NULL, "not found: bad stream path\n");
        return ST_OK;
    }
    struct want w = {.rendition = -1, .msn = UINT64_MAX, .part = -1};
    size_t name_len = rest_len;
    int flv = 0;
    if (!file) {
        size_t stem;
        if (ends_with(rest, rest_len, ".flv", &stem)) {
            flv = 1;
        } else if (ends_with(rest, rest_len, ".ll.m3u8", &stem)) {
            w.rendition = R_FMP4;
        } else if (!ends_with(rest, rest_len, ".m3u8", &stem)) {
            h->stats.not_found++;
            send_text(req, 404, NULL, "not found: expected /<app>/<name>.m3u8, .ll.m3u8 or .flv\n");
            return ST_OK;
        }
        name_len = stem;
        w.kind = W_PLAYLIST;
        if (!flv && parse_blocking(query, &w) != ST_OK) {
            send_text(req, 400, NULL, "bad _HLS_msn/_HLS_part/_HLS_skip\n");
            return ST_OK;
        }
    } else if (!parse_file(file, strlen(file), &w)) {
        h->stats.not_found++;
        send_text(req, 404, NULL, "not found: unknown segment name\n");
        return ST_OK;
    }
    char appname[LIVE_KEY_MAX / 2], name[LIVE_KEY_MAX / 2], key[LIVE_KEY_MAX];
    snprintf(appname, sizeof(appname), "%.*s", (int)app_len, app);
    snprintf(name, sizeof(name), "%.*s", (int)name_len, rest);
    if (!name[0]) {
        send_text(req, 404, NULL, "not found: empty stream name\n");
        return ST_OK;
    }
    snprintf(key, sizeof(key), "%s/%s", appname, name);
    char carried[LIVE_HTTP_QUERY_MAX];
    if (carried_query(query, carried, sizeof(carried)) != ST_OK) {
        send_text(req, 414, NULL, "query too long\n");
        return ST_OK;
    }
    /* The play rules and the on_play webhook, as for RTMP players (what
     * follows the name goes into a rename's redirect). */
    int auth = live_http_auth_check(&h->auth, h->srv->gate, req, appname, name, carried, rest + name_len);
    if (auth == ST_AGAIN)
        return HTTP_SERVER_ASYNC;
    if (auth != ST_OK) {
        h->stats.refused++;
        return ST_OK;
    }
    if (flv)
        return flv_start(h, req, key);
    struct http_stream *hs = stream_get(h, key);
    if (!hs) {
        send_text(req, 503, NULL, "out of memory\n");
        return ST_OK;
    }
    int rc = serve(hs, req, &w, carried, 0);
    if (rc == ST_AGAIN) {
        struct live_http_waiter *wt = h->nwaiters < LIVE_HTTP_MAX_WAITERS ? calloc(1, sizeof(*wt)) : NULL;
        if (!wt) {
            h->stats.refused++;
            send_text(req, 503, "Retry-After: 1\r\n", "too many waiting requests\n");
        } else {
            long timeout = h->srv->settings->http_timeout - 1000;
            wt->http = NULL;
            wt->handle = http_server_request_handle(req);
            wt->want = w;
            wt->deadline_ms = now_ms(h) + (uint64_t)(timeout < WAIT_MAX_MS ? (timeout > 500 ? timeout : 500)
                                                                           : WAIT_MAX_MS);
            snprintf(wt->query, sizeof(wt->query), "%s", carried);
            wt->http = http_server_request_server(req);
            wt->next = hs->waiters;
            hs->waiters = wt;
            h->nwaiters++;
            h->stats.blocked++;
            return HTTP_SERVER_ASYNC;
        }
    }
    stream_maybe_free(hs);
    return ST_OK;
}

static int handle_index(struct http_server_request *req, void *ctx)
{
    (void)ctx;
    return http_static_handle(req, NULL);
}

/* ---- lifetime ---------------------------------------------------------- */

static void sweep_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct live_http *h = t->data;
    uint64_t now = now_ms(h);
    uint64_t idle = (uint64_t)h->srv->settings->hls_idle_timeout;
    /* A player the drop policy gave up on may never be woken again (its
     * queue never empties, its socket never drains): close it here. */
    for (struct live_http_flv *p = h->flv, *next; p; p = next) {
        next = p->next;
        if (p->out.failed)
            flv_flush(p);
    }
    for (int b = 0; b < LIVE_REGISTRY_BUCKETS; b++) {
        struct live_stream *st = h->srv->registry.buckets[b];
        while (st) {
            struct live_stream *next = st->next; /* st may be freed below */
            struct http_stream *hs = st->http;
            if (hs) {
                if (hs->waiters)
                    waiters_run(hs, 0);
                for (int i = 0; i < R_COUNT; i++)
                    if (hs->r[i] && now - hs->last_request[i] > idle) {
                        LOG_INFO("hls: stream=%s %s rendition idle for %llu ms: dropped", st->key,
                                 i == R_TS ? "mpeg-ts" : "fmp4", (unsigned long long)idle);
                        rendition_free(hs, i);
                    }
                stream_maybe_free(hs);
            }
            st = next;
        }
    }
}

struct live_http *live_http_acquire(struct live_server *srv, struct ev_loop *loop)
{
    if (srv->http_delivery) {
        srv->http_delivery->refs++;
        return srv->http_delivery;
    }
    struct live_http *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->srv = srv;
    h->loop = loop;
    h->refs = 1;
    ev_timer_init(&h->sweep, sweep_cb, 0.25, 0.25);
    h->sweep.data = h;
    ev_timer_start(loop, &h->sweep);
    ev_unref(loop); /* housekeeping must not keep the loop alive */
    ev_prepare_init(&h->flush, flush_cb);
    h->flush.data = h;
    ev_prepare_start(loop, &h->flush);
    ev_unref(loop);
    live_http_auth_init(&h->auth, loop, handle, h);
    srv->http_delivery = h;
    return h;
}

void live_http_release(struct live_http *h)
{
    if (!h || --h->refs > 0)
        return;
    live_http_auth_free(&h->auth, h->srv->gate);
    while (h->flv)
        flv_close(h->flv, "server stopping");
    for (int b = 0; b < LIVE_REGISTRY_BUCKETS; b++) {
        struct live_stream *st = h->srv->registry.buckets[b];
        while (st) {
            struct live_stream *next = st->next;
            struct http_stream *hs = st->http;
            if (hs) {
                while (hs->waiters) {
                    struct live_http_waiter *w = hs->waiters;
                    hs->waiters = w->next;
                    free(w);
                }
                for (int i = 0; i < R_COUNT; i++)
                    rendition_free(hs, i);
                stream_maybe_free(hs);
            }
            st = next;
        }
    }
    ev_ref(h->loop);
    ev_timer_stop(h->loop, &h->sweep);
    ev_ref(h->loop);
    ev_prepare_stop(h->loop, &h->flush);
    h->srv->http_delivery = NULL;
    free(h);
}

int live_http_routes(struct live_http *h, struct http_server *http)
{
    if (http_server_route(http, "/", HTTP_SERVER_GET, handle_index, h) != ST_OK ||
        http_server_route(http, "/*", HTTP_SERVER_GET, handle, h) != ST_OK)
        return ST_ERROR;
    return ST_OK;
}
