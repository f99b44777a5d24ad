#include "rtsp/rtsp_server.h"

#include "core/buf.h"
#include "core/log.h"
#include "core/status.h"
#include "fanout/fanout_stream.h"
#include "live/live_gate.h"
#include "live/live_registry.h"
#include "live/live_server.h"
#include "media/media_codec.h"
#include "net/net_transport.h"
#include "rtsp/rtcp_report.h"
#include "rtsp/rtp_packetizer.h"
#include "rtsp/rtsp_request.h"
#include "rtsp/rtsp_sdp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SC_VERSION
#define SC_VERSION "dev"
#endif

#define CONTAINER_OF(p, type, member) ((type *)(void *)((char *)(p) - offsetof(type, member)))

enum { TRACK_VIDEO = 0, TRACK_AUDIO = 1, NTRACKS = 2 };

#define VIDEO_PT 96
#define AUDIO_PT 97
#define RTP_MAX_PAYLOAD 1400       /* fits a 1500-byte MTU with IP/UDP/RTP headers */
#define IN_BUF 4096                /* unparsed input held while a DESCRIBE waits */
#define OUT_MAX (256 * 1024)       /* responses and interleaved RTCP queued per connection */
#define SDP_MAX 16384
#define UNITS_PER_WRITEV 64        /* interleaved packets per writev (2 iovecs each) */
#define UDP_BATCH 64               /* datagrams per sendmmsg */
#define UDP_RECV_PER_WAKE 32
#define UDP_PAIR_ATTEMPTS 64
#define SESSION_ID_BYTES 8
#define LINGER_MS 2000              /* after a 400: read and discard this long before closing */
#define TICK_S 0.25
#define PACE_S 0.002
#define METHODS "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER"

/* --- configuration ------------------------------------------------------ */

#define F(f) offsetof(struct rtsp_settings, f)

static const struct config_directive rtsp_directives[] = {
    {"rtsp_listen", CONFIG_ADDR, F(listen), "", 0, 0,
     "RTSP listen address HOST:PORT serving live streams as rtsp://HOST:PORT/app/name (RTP over UDP or TCP "
     "interleaved); empty = off",
     0},
    {"rtsp_session_timeout", CONFIG_MS, F(session_timeout), "60s", 1000, 3600000,
     "an RTSP session without a request or RTCP from its player for this long is closed (announced to players "
     "as Session ;timeout=)",
     1},
    {"rtsp_udp_port_range", CONFIG_STRING, F(udp_port_range), "", 0, 0,
     "server UDP ports LOW-HIGH for RTP/RTCP pairs (two per track and player, e.g. \"20000-29999\"); empty = any "
     "free port",
     0},
};

int rtsp_server_config_append(struct config_directive *table, size_t cap, size_t *n, size_t base)
{
    return config_append_table(table, cap, n, rtsp_directives, sizeof(rtsp_directives) / sizeof(rtsp_directives[0]),
                               base);
}

int rtsp_server_parse_port_range(const char *s, uint16_t *lo, uint16_t *hi)
{
    *lo = *hi = 0;
    if (!s || !*s)
        return ST_OK;
    char *end;
    errno = 0;
    long a = strtol(s, &end, 10);
    if (end == s || *end != '-' || errno)
        return ST_ERROR;
    const char *p = end + 1;
    long b = strtol(p, &end, 10);
    if (end == p || *end != '\0' || errno)
        return ST_ERROR;
    if (a < 1024 || b > 65535 || a > b)
        return ST_ERROR;
    /* room for one even RTP port and the odd RTCP port after it */
    long first_even = a + (a & 1);
    if (first_even + 1 > b)
        return ST_ERROR;
    *lo = (uint16_t)a;
    *hi = (uint16_t)b;
    return ST_OK;
}

int rtsp_settings_check(const struct rtsp_settings *s)
{
    uint16_t lo, hi;
    if (rtsp_server_parse_port_range(s->udp_port_range, &lo, &hi) != ST_OK) {
        LOG_ERROR("rtsp: rtsp_udp_port_range \"%s\": want LOW-HIGH with 1024 <= LOW, HIGH <= 65535 and room for "
                  "an even/odd pair",
                  s->udp_port_range);
        return ST_ERROR;
    }
    return ST_OK;
}

int rtsp_server_clock_note(struct rtsp_server_clock *c, int64_t media_ms, uint64_t wall_ms)
{
    if (c->set) {
        int64_t d = rtsp_server_clock_media_at(c, wall_ms) - media_ms;
        if (d <= RTSP_SERVER_CLOCK_RESYNC_MS && d >= -RTSP_SERVER_CLOCK_RESYNC_MS)
            return 0;
    }
    c->set = 1;
    c->media_ms = media_ms;
    c->wall_ms = wall_ms;
    return 1;
}

int64_t rtsp_server_clock_media_at(const struct rtsp_server_clock *c, uint64_t wall_ms)
{
    return c->media_ms + (int64_t)(wall_ms - c->wall_ms);
}

/* --- objects ------------------------------------------------------------ */

/* The RTP packets of one frame, shared by every session of the stream. The
 * headroom before each packet is never written: sessions send their own
 * interleaved header. */
struct rtsp_blob {
    int refs;
    uint8_t track; /* TRACK_* */
    uint8_t key;   /* video keyframe: a session may start here */
    uint32_t count;
    size_t bytes;  /* RTP bytes of all packets, for queue accounting */
    uint32_t *offsets; /* count + 1, as in struct rtp_packet_list */
    uint8_t *data;
};

/* One track of a session: where its packets go. */
struct rtsp_track_out {
    int setup;
    uint8_t channel[2];  /* TCP: interleaved RTP / RTCP channels */
    int fd[2];           /* UDP: our RTP / RTCP sockets, -1 when none */
    uint16_t server_port[2];
    struct sockaddr_storage dst[2]; /* UDP: the player's RTP / RTCP addresses */
    socklen_t dst_len;
    ev_io io[2];         /* UDP: reads (RTCP, NAT punches) */
    uint32_t packets;    /* sent to this player, for its sender reports */
    uint32_t octets;     /* RTP payload octets, idem */
    struct rtsp_conn *conn;
};

struct rtsp_session {
    struct rtsp_conn *conn;
    int active;
    char id[2 * SESSION_ID_BYTES + 1];
    struct rtsp_stream *stream;
    enum rtsp_lower lower;
    struct rtsp_track_out track[NTRACKS];
    int playing;
    int authorized;       /* passed play authorization: on_done when it ends */
    struct rtsp_blob **ring;
    uint32_t ring_cap, head, count;
    uint32_t pkt;         /* next packet of ring[head] */
    uint32_t pkt_off;     /* TCP: bytes of that packet's interleaved unit written */
    size_t queued_bytes, max_bytes;
    int wait_key;         /* skip video until a keyframe */
    uint64_t behind_since_ms;
    uint64_t next_sr_ms;
    uint64_t frames_dropped;
    struct rtsp_session *prev, *next; /* the stream's playing sessions */
};

struct rtsp_conn {
    struct rtsp_server *srv;
    struct net_transport tr;
    ev_io rio, wio;
    struct sockaddr_storage peer_sa, local_sa;
    char peer[64];
    char local_ip[64];
    struct rtsp_request req;
    uint8_t in[IN_BUF];
    size_t in_len;
    struct buf out;        /* responses and interleaved RTCP */
    size_t out_off;
    uint64_t last_activity_ms;
    struct rtsp_session session;
    char auth_key[LIVE_KEY_MAX]; /* stream this connection's DESCRIBE was authorized for */
    char auth_asked[LIVE_KEY_MAX]; /* stream an on_play webhook is deciding (auth_waiting) */
    int auth_waiting;              /* the current request waits for that webhook: input is held */
    struct rtsp_stream *described; /* reference kept from a DESCRIBE until SETUP (or close):
                                      the stream and its GOP stay between the two */
    /* a DESCRIBE waiting for codec headers */
    struct rtsp_stream *wait_stream;
    uint64_t wait_deadline_ms;
    long wait_cseq;
    int wait_ready;
    char wait_base[512];
    struct rtsp_conn *wait_next;
    const char *close_reason; /* set: freed at the end of the turn */
    int close_after_flush;    /* answer a bad request, then linger */
    uint64_t linger_until_ms; /* lingering close: the write side is shut, input is discarded until
                                 the peer closes or this time (so a RST cannot eat the answer) */
    int reading_stopped;
    int in_dirty;
    struct rtsp_conn *prev, *next, *dirty_next, *closing_next;
};

struct rtsp_stream {
    struct rtsp_server *srv;
    struct live_stream *st;
    struct fanout_tap tap;
    unsigned refs;         /* sessions and waiting DESCRIBEs */
    unsigned tracks;       /* RTSP_SDP_* of the current codec headers */
    int media_seen;        /* an audio/video frame arrived (headers are complete) */
    struct rtp_packetizer pk[NTRACKS];
    struct rtp_packet_list scratch;
    struct rtsp_blob **gop;
    uint32_t gop_count, gop_max;
    size_t gop_bytes, gop_max_bytes;
    int gop_overflow;
    struct rtsp_server_clock clock;
    struct rtsp_session *players;
    struct rtsp_conn *waiting;
    const char *last_error; /* last packetizer failure, logged once per reason */
    struct rtsp_stream *prev, *next;
};

static uint64_t now_ms(const struct rtsp_server *srv) { return (uint64_t)(ev_now(srv->loop) * 1000.0); }

static void random_bytes(void *p, size_t n)
{
    uint8_t *b = p;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(b + got, n - got, GRND_NONBLOCK);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    /* No entropy yet (early boot): unpredictability is nice to have here,
     * not a security property; fall back to the clock. */
    static uint64_t x;
    if (got < n) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec;
        for (; got < n; got++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b[got] = (uint8_t)x;
        }
    }
}

static void conn_fail(struct rtsp_conn *c, const char *why);
static void conn_mark_dirty(struct rtsp_conn *c);
static void answer_describe(struct rtsp_conn *c);

/* --- blobs -------------------------------------------------------------- */

static struct rtsp_blob *blob_ref(struct rtsp_blob *b)
{
    b->refs++;
    return b;
}

static void blob_unref(struct rtsp_blob *b)
{
    if (b && --b->refs == 0)
        free(b);
}

/* Copy the packets of the scratch list into one block. */
static struct rtsp_blob *blob_new(const struct rtp_packet_list *l, uint8_t track, uint8_t key)
{
    size_t offs = ((size_t)l->count + 1) * sizeof(uint32_t);
    struct rtsp_blob *b = malloc(sizeof(*b) + offs + l->len);
    if (!b)
        return NULL;
    b->refs = 1;
    b->track = track;
    b->key = key;
    b->count = l->count;
    b->offsets = (uint32_t *)(void *)(b + 1);
    b->data = (uint8_t *)b->offsets + offs;
    memcpy(b->offsets, l->offsets, offs);
    memcpy(b->data, l->data, l->len);
    b->bytes = l->len - (size_t)l->count * RTP_PACKET_HEADROOM;
    return b;
}

static const uint8_t *blob_packet(const struct rtsp_blob *b, uint32_t i, size_t *len)
{
    *len = (size_t)(b->offsets[i + 1] - b->offsets[i]) - RTP_PACKET_HEADROOM;
    return b->data + b->offsets[i];
}

/* --- sessions: queue ---------------------------------------------------- */

static const struct live_settings *live_settings_of(const struct rtsp_server *srv) { return srv->live->settings; }

static void session_note_behind(struct rtsp_session *s, struct rtsp_conn *c, uint64_t now)
{
    const struct live_settings *ls = live_settings_of(c->srv);
    if (s->behind_since_ms == 0) {
        s->behind_since_ms = now ? now : 1;
    } else if (ls->player_max_behind > 0 && now - s->behind_since_ms > (uint64_t)ls->player_max_behind &&
               !c->close_reason) {
        c->srv->stats.sessions_dropped_slow++;
        LOG_WARN("rtsp: session %s peer=%s stream=%s too slow: dropping for longer than player_max_behind", s->id,
                 c->peer, s->stream->st->key);
        conn_fail(c, "player too slow");
    }
}

/* Queue a blob under the drop policy (fanout_player's, for RTP). */
static void session_enqueue(struct rtsp_session *s, struct rtsp_conn *c, struct rtsp_blob *b, uint64_t now)
{
    if (!s->track[b->track].setup)
        return;
    if (b->track == TRACK_VIDEO && s->wait_key && !b->key)
        return;
    if (s->count == s->ring_cap || s->queued_bytes + b->bytes > s->max_bytes) {
        if (b->track == TRACK_VIDEO)
            s->wait_key = 1;
        s->frames_dropped++;
        c->srv->stats.frames_dropped++;
        session_note_behind(s, c, now);
        return;
    }
    if (b->track == TRACK_VIDEO && b->key)
        s->wait_key = 0;
    s->ring[(s->head + s->count) % s->ring_cap] = blob_ref(b);
    s->count++;
    s->queued_bytes += b->bytes;
    conn_mark_dirty(c);
}

static void session_pop(struct rtsp_session *s)
{
    struct rtsp_blob *b = s->ring[s->head];
    s->queued_bytes -= b->bytes;
    blob_unref(b);
    s->ring[s->head] = NULL;
    s->head = (s->head + 1) % s->ring_cap;
    s->count--;
    s->pkt = 0;
    s->pkt_off = 0;
}

/* Insert bytes in front of the unsent control output. */
static int out_prepend(struct rtsp_conn *c, const uint8_t *p, size_t n)
{
    if (buf_reserve(&c->out, n) != ST_OK)
        return ST_ERROR;
    memmove(c->out.data + c->out_off + n, c->out.data + c->out_off, c->out.len - c->out_off);
    memcpy(c->out.data + c->out_off, p, n);
    c->out.len += n;
    return ST_OK;
}

/* The interleaved header of packet len on channel ch. */
static void interleave_header(uint8_t h[4], uint8_t ch, size_t len)
{
    h[0] = '$';
    h[1] = ch;
    wr_be16(h + 2, (uint16_t)len);
}

/* A TCP packet half written must be finished before anything else goes on
 * the connection: move its rest to the control output, then drop the
 * whole queue (PAUSE, TEARDOWN, errors). */
static void session_drop_queue(struct rtsp_session *s, struct rtsp_conn *c)
{
    if (s->count > 0 && s->pkt_off > 0) {
        struct rtsp_blob *b = s->ring[s->head];
        size_t len;
        const uint8_t *p = blob_packet(b, s->pkt, &len);
        uint8_t h[4];
        interleave_header(h, s->track[b->track].channel[0], len);
        if (s->pkt_off < 4) {
            if (out_prepend(c, p, len) != ST_OK || out_prepend(c, h + s->pkt_off, 4 - s->pkt_off) != ST_OK)
                conn_fail(c, "output buffer full");
        } else if (out_prepend(c, p + (s->pkt_off - 4), len - (s->pkt_off - 4)) != ST_OK) {
            conn_fail(c, "output buffer full");
        }
        s->pkt_off = 0;
    }
    while (s->count > 0)
        session_pop(s);
    s->wait_key = 1;
}

/* --- sessions: sender reports ------------------------------------------- */

static void send_sender_reports(struct rtsp_session *s, struct rtsp_conn *c, uint64_t now)
{
    struct rtsp_stream *st = s->stream;
    s->next_sr_ms = now + RTSP_SERVER_SR_INTERVAL_MS;
    if (!st->clock.set)
        return; /* no media yet: nothing to map */
    int64_t media = rtsp_server_clock_media_at(&st->clock, now);
    uint64_t ntp = rtcp_report_ntp_from_unix_ms(now);
    char cname[96];
    snprintf(cname, sizeof(cname), "streamcluster@%s", c->local_ip);
    for (int t = 0; t < NTRACKS; t++) {
        struct rtsp_track_out *tr = &s->track[t];
        if (!tr->setup || st->pk[t].clock == 0)
            continue;
        uint8_t pkt[4 + 512];
        struct buf b;
        buf_init(&b, sizeof(pkt));
        if (rtcp_report_sender(&b, st->pk[t].ssrc, ntp, rtp_packetizer_timestamp(&st->pk[t], media), tr->packets,
                               tr->octets, cname) != ST_OK) {
            buf_free(&b);
            continue;
        }
        memcpy(pkt + 4, b.data, b.len);
        size_t n = b.len;
        buf_free(&b);
        if (s->lower == RTSP_LOWER_TCP) {
            interleave_header(pkt, tr->channel[1], n);
            if (buf_append(&c->out, pkt, 4 + n) != ST_OK) {
                conn_fail(c, "output buffer full");
                return;
            }
            conn_mark_dirty(c);
        } else {
            ssize_t r = sendto(tr->fd[1], pkt + 4, n, MSG_DONTWAIT, (struct sockaddr *)&tr->dst[1], tr->dst_len);
            if (r < 0)
                continue; /* like RTP: a refused datagram is lost */
        }
        c->srv->stats.sender_reports++;
        c->srv->stats.bytes_out += n;
    }
}

/* --- streams ------------------------------------------------------------ */

static struct hls_codec_headers stream_headers(const struct rtsp_stream *s)
{
    const struct fanout_stream *fs = &s->st->fanout;
    struct hls_codec_headers h = {0};
    if (fs->video_header) {
        h.video = fs->video_header->body;
        h.video_len = fs->video_header->body_len;
    }
    if (fs->audio_header) {
        h.audio = fs->audio_header->body;
        h.audio_len = fs->audio_header->body_len;
    }
    return h;
}

/* Codec headers changed: which tracks we can serve, and the audio clock
 * (the AAC sample rate). Sequence numbers and timestamps continue. */
static void stream_refresh_headers(struct rtsp_stream *s)
{
    struct hls_codec_headers h = stream_headers(s);
    s->tracks = rtsp_sdp_tracks(&h);
    struct media_audio_config ac;
    const char *err;
    if (h.audio && media_codec_parse_audio_config(h.audio, h.audio_len, &ac, &err) == ST_OK && ac.sample_rate > 0 &&
        ac.sample_rate != s->pk[TRACK_AUDIO].clock) {
        struct rtp_packetizer *p = &s->pk[TRACK_AUDIO];
        rtp_packetizer_init(p, AUDIO_PT, ac.sample_rate, p->ssrc, p->seq, p->ts_base, RTP_MAX_PAYLOAD);
    }
}

static int stream_ready(const struct rtsp_stream *s)
{
    const struct fanout_stream *fs = &s->st->fanout;
    return s->media_seen || fs->gop_count > 0 || (fs->video_header && fs->audio_header);
}

static void gop_clear(struct rtsp_stream *s)
{
    for (uint32_t i = 0; i < s->gop_count; i++)
        blob_unref(s->gop[i]);
    s->gop_count = 0;
    s->gop_bytes = 0;
}

static void gop_add(struct rtsp_stream *s, struct rtsp_blob *b)
{
    if (b->track == TRACK_VIDEO && b->key) {
        gop_clear(s);
        s->gop_overflow = 0;
    } else if (s->gop_count == 0 || s->gop_overflow) {
        return; /* the cache always starts at a keyframe */
    }
    if (s->gop_count == s->gop_max || s->gop_bytes + b->bytes > s->gop_max_bytes) {
        gop_clear(s);
        s->gop_overflow = 1;
        return;
    }
    s->gop[s->gop_count++] = blob_ref(b);
    s->gop_bytes += b->bytes;
}

/* Packetize one audio/video frame into a new blob (one reference for the
 * caller), or NULL (a track we do not serve, an empty or bad frame). */
static struct rtsp_blob *stream_packetize(struct rtsp_stream *s, const struct fanout_frame *f)
{
    int t = f->kind == FANOUT_VIDEO ? TRACK_VIDEO : TRACK_AUDIO;
    if (!(s->tracks & (t == TRACK_VIDEO ? RTSP_SDP_VIDEO : RTSP_SDP_AUDIO)) || s->pk[t].clock == 0)
        return NULL;
    struct hls_codec_headers h = stream_headers(s);
    struct hls_sample smp = {.kind = f->kind,
                             .key = (f->flags & FANOUT_FLAG_KEY) != 0,
                             .dts = f->timestamp,
                             .body = f->body,
                             .len = f->body_len};
    const char *err = NULL;
    rtp_packet_list_reset(&s->scratch);
    int rc = t == TRACK_VIDEO ? rtp_packetizer_video(&s->pk[t], &h, &smp, &s->scratch, &err)
                              : rtp_packetizer_audio(&s->pk[t], &h, &smp, &s->scratch, &err);
    if (rc != ST_OK) {
        s->srv->stats.frames_failed++;
        if (err != s->last_error)
            LOG_WARN("rtsp: stream=%s %s frame ts=%u not packetized: %s", s->st->key,
                     t == TRACK_VIDEO ? "video" : "audio", f->timestamp, err ? err : "?");
        s->last_error = err;
        return NULL;
    }
    if (s->scratch.count == 0)
        return NULL;
    struct rtsp_blob *b = blob_new(&s->scratch, (uint8_t)t, t == TRACK_VIDEO && (f->flags & FANOUT_FLAG_KEY));
    if (!b)
        s->srv->stats.frames_failed++;
    return b;
}

static void stream_wake_waiting(struct rtsp_stream *s)
{
    if (!s->waiting || !stream_ready(s))
        return;
    for (struct rtsp_conn *c = s->waiting; c; c = c->wait_next) {
        c->wait_ready = 1;
        conn_mark_dirty(c);
    }
}

static void tap_frame(struct fanout_tap *t, struct fanout_frame *f)
{
    struct rtsp_stream *s = CONTAINER_OF(t, struct rtsp_stream, tap);
    if (f->kind != FANOUT_VIDEO && f->kind != FANOUT_AUDIO)
        return;
    if (f->flags & FANOUT_FLAG_SEQ_HEADER) {
        stream_refresh_headers(s);
        stream_wake_waiting(s);
        return;
    }
    s->media_seen = 1;
    struct rtsp_blob *b = stream_packetize(s, f);
    if (b) {
        uint64_t now = now_ms(s->srv);
        rtsp_server_clock_note(&s->clock, f->timestamp, now);
        gop_add(s, b);
        for (struct rtsp_session *p = s->players; p; p = p->next)
            session_enqueue(p, p->conn, b, now);
        blob_unref(b);
    }
    stream_wake_waiting(s);
}

/* The publisher left (or the edge's upstream restarted): the next frames
 * may come from another encoder with another timeline. */
static void tap_clear(struct fanout_tap *t)
{
    struct rtsp_stream *s = CONTAINER_OF(t, struct rtsp_stream, tap);
    gop_clear(s);
    s->gop_overflow = 0;
    s->media_seen = 0;
    s->clock.set = 0;
    for (struct rtsp_session *p = s->players; p; p = p->next)
        p->wait_key = 1;
}

static struct rtsp_stream *stream_find(struct rtsp_server *srv, const char *key)
{
    for (struct rtsp_stream *s = srv->streams; s; s = s->next)
        if (strcmp(s->st->key, key) == 0)
            return s;
    return NULL;
}

/* Find or create the stream of key and take a reference. NULL on
 * allocation failure. */
static struct rtsp_stream *stream_get(struct rtsp_server *srv, const char *key)
{
    struct rtsp_stream *s = stream_find(srv, key);
    if (s) {
        s->refs++;
        s->st->rtsp_viewers = s->refs;
        return s;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    const struct live_settings *ls = live_settings_of(srv);
    s->gop_max = ls->gop_cache_frames > 0 ? (uint32_t)ls->gop_cache_frames : 0;
    s->gop_max_bytes = ls->gop_cache_bytes;
    s->gop = calloc(s->gop_max ? s->gop_max : 1, sizeof(*s->gop));
    if (!s->gop) {
        free(s);
        return NULL;
    }
    struct live_stream *st = live_server_hold(srv->live, key);
    if (!st) {
        free(s->gop);
        free(s);
        return NULL;
    }
    s->srv = srv;
    s->st = st;
    s->refs = 1;
    st->rtsp_viewers = 1;
    rtp_packet_list_init(&s->scratch, ls->max_message_size + 65536);
    uint32_t r[6];
    random_bytes(r, sizeof(r));
    rtp_packetizer_init(&s->pk[TRACK_VIDEO], VIDEO_PT, 90000, r[0], (uint16_t)r[1], r[2], RTP_MAX_PAYLOAD);
    rtp_packetizer_init(&s->pk[TRACK_AUDIO], AUDIO_PT, 0, r[3], (uint16_t)r[4], r[5], RTP_MAX_PAYLOAD);
    stream_refresh_headers(s);
    /* What the stream already has: the GOP becomes the start of every PLAY. */
    const struct fanout_stream *fs = &st->fanout;
    for (uint32_t i = 0; i < fs->gop_count; i++) {
        struct rtsp_blob *b = stream_packetize(s, fs->gop[i]);
        if (b) {
            gop_add(s, b);
            blob_unref(b);
        }
    }
    if (fs->gop_count > 0)
        rtsp_server_clock_note(&s->clock, fs->gop[fs->gop_count - 1]->timestamp, now_ms(srv));
    s->tap.frame = tap_frame;
    s->tap.clear = tap_clear;
    fanout_stream_add_tap(&st->fanout, &s->tap);
    s->next = srv->streams;
    if (srv->streams)
        srv->streams->prev = s;
    srv->streams = s;
    srv->stats.streams++;
    return s;
}

/* Drop a reference; the last one unhooks the stream and unholds it. Never
 * called from inside the tap's callbacks. */
static void stream_put(struct rtsp_stream *s)
{
    s->st->rtsp_viewers = s->refs - 1;
    if (--s->refs > 0)
        return;
    struct rtsp_server *srv = s->srv;
    fanout_stream_remove_tap(&s->st->fanout, &s->tap);
    gop_clear(s);
    free(s->gop);
    rtp_packet_list_free(&s->scratch);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    srv->stats.streams--;
    live_server_unhold(srv->live, s->st); /* may free the live stream */
    free(s);
}

/* --- sessions: life ----------------------------------------------------- */

static void split_key(const char *key, char *app, size_t alen, const char **name)
{
    const char *slash = strchr(key, '/');
    size_t n = slash ? (size_t)(slash - key) : strlen(key);
    if (n >= alen)
        n = alen - 1;
    memcpy(app, key, n);
    app[n] = '\0';
    *name = slash ? slash + 1 : "";
}

static void track_close(struct rtsp_server *srv, struct rtsp_track_out *tr)
{
    for (int i = 0; i < 2; i++) {
        if (tr->fd[i] >= 0) {
            ev_io_stop(srv->loop, &tr->io[i]);
            close(tr->fd[i]);
        }
        tr->fd[i] = -1;
    }
    tr->setup = 0;
}

static void session_unlink_player(struct rtsp_session *s)
{
    if (!s->playing)
        return;
    struct rtsp_stream *st = s->stream;
    if (s->prev)
        s->prev->next = s->next;
    else
        st->players = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->playing = 0;
}

static void session_end(struct rtsp_conn *c, const char *why)
{
    struct rtsp_session *s = &c->session;
    if (!s->active)
        return;
    struct rtsp_server *srv = c->srv;
    session_unlink_player(s);
    session_drop_queue(s, c);
    free(s->ring);
    s->ring = NULL;
    uint64_t packets = 0;
    for (int t = 0; t < NTRACKS; t++) {
        packets += s->track[t].packets;
        track_close(srv, &s->track[t]);
    }
    LOG_INFO("rtsp: session %s ended (%s) peer=%s stream=%s packets=%" PRIu64 " dropped_frames=%" PRIu64, s->id, why,
             c->peer, s->stream->st->key, packets, s->frames_dropped);
    if (s->authorized && srv->live->gate) {
        char app[LIVE_KEY_MAX];
        const char *name;
        split_key(s->stream->st->key, app, sizeof(app), &name);
        struct live_gate_subject who = {.act = LIVE_AUTH_PLAY, .app = app, .name = name, .query = "",
                                        .peer = (const struct sockaddr *)&c->peer_sa, .peer_s = c->peer};
        live_gate_done(srv->live->gate, &who);
    }
    stream_put(s->stream);
    s->stream = NULL;
    s->active = 0;
    srv->stats.sessions--;
}

static int session_begin(struct rtsp_conn *c, struct rtsp_stream *st, enum rtsp_lower lower)
{
    struct rtsp_session *s = &c->session;
    const struct live_settings *ls = live_settings_of(c->srv);
    memset(s, 0, sizeof(*s));
    s->conn = c;
    for (int t = 0; t < NTRACKS; t++) {
        s->track[t].fd[0] = s->track[t].fd[1] = -1;
        s->track[t].conn = c;
    }
    s->ring_cap = ls->player_queue_frames > 0 ? (uint32_t)ls->player_queue_frames : 1024;
    s->ring = calloc(s->ring_cap, sizeof(*s->ring));
    if (!s->ring)
        return ST_ERROR;
    uint8_t id[SESSION_ID_BYTES];
    random_bytes(id, sizeof(id));
    for (int i = 0; i < SESSION_ID_BYTES; i++)
        snprintf(s->id + 2 * i, 3, "%02X", id[i]);
    s->max_bytes = ls->player_max_queue;
    s->stream = st;
    s->lower = lower;
    s->wait_key = 1;
    s->active = 1;
    c->srv->stats.sessions++;
    c->srv->stats.sessions_total++;
    if (lower == RTSP_LOWER_UDP)
        c->srv->stats.sessions_udp++;
    else
        c->srv->stats.sessions_tcp++;
    return ST_OK;
}

/* --- UDP ---------------------------------------------------------------- */

static int udp_socket(int family)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return fd;
}

static int udp_bind(int fd, const struct sockaddr_storage *local, uint16_t port)
{
    struct sockaddr_storage a = *local;
    socklen_t len;
    if (a.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&a)->sin6_port = htons(port);
        len = sizeof(struct sockaddr_in6);
    } else {
        ((struct sockaddr_in *)&a)->sin_port = htons(port);
        len = sizeof(struct sockaddr_in);
    }
    return bind(fd, (struct sockaddr *)&a, len);
}

static uint16_t udp_port_of(int fd)
{
    struct sockaddr_storage a;
    socklen_t len = sizeof(a);
    if (getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return 0;
    return ntohs(a.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&a)->sin6_port : ((struct sockaddr_in *)&a)->sin_port);
}

/* Two sockets on the conn's local address, RTP on an even port and RTCP
 * on the next one, from the configured range or anywhere. ST_OK or
 * ST_ERROR (no free pair, logged by the caller). */
static int udp_pair(struct rtsp_server *srv, const struct sockaddr_storage *local, int fd[2], uint16_t port[2])
{
    for (int attempt = 0; attempt < UDP_PAIR_ATTEMPTS; attempt++) {
        uint16_t p = 0;
        if (srv->port_lo) {
            uint32_t first = srv->port_lo + (srv->port_lo & 1u);
            uint32_t pairs = (uint32_t)(srv->port_hi - first + 1) / 2;
            if (srv->port_next < first || srv->port_next + 1u > srv->port_hi)
                srv->port_next = (uint16_t)first;
            p = srv->port_next;
            srv->port_next = (uint16_t)(p + 2u > srv->port_hi ? first : p + 2u);
            if (attempt >= (int)pairs)
                return ST_ERROR;
        }
        fd[0] = udp_socket(local->ss_family);
        fd[1] = udp_socket(local->ss_family);
        if (fd[0] < 0 || fd[1] < 0)
            goto retry;
        if (udp_bind(fd[0], local, p) != 0)
            goto retry;
        port[0] = udp_port_of(fd[0]);
        /* Any port: the kernel may give an odd one; RTP wants even. */
        if (port[0] == 0 || port[0] == 65535 || ((port[0] & 1) && attempt < UDP_PAIR_ATTEMPTS / 2))
            goto retry;
        if (udp_bind(fd[1], local, (uint16_t)(port[0] + 1)) != 0)
            goto retry;
        port[1] = (uint16_t)(port[0] + 1);
        return ST_OK;
    retry:
        if (fd[0] >= 0)
            close(fd[0]);
        if (fd[1] >= 0)
            close(fd[1]);
        fd[0] = fd[1] = -1;
    }
    return ST_ERROR;
}

static int same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
                      sizeof(struct in6_addr)) == 0;
    return 0;
}

/* Datagrams from the player: RTCP receiver reports (keep-alive) and the
 * NAT-opening packets ffmpeg sends to both ports. Others' are ignored. */
static void udp_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct rtsp_track_out *tr = w->data;
    struct rtsp_conn *c = tr->conn;
    int is_rtcp = w == &tr->io[1];
    uint8_t buf[2048];
    for (int i = 0; i < UDP_RECV_PER_WAKE; i++) {
        struct sockaddr_storage from;
        socklen_t flen = sizeof(from);
        ssize_t n = recvfrom(w->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
        if (n < 0)
            break;
        if (!same_host(&from, &c->peer_sa) || c->close_reason)
            continue;
        if (is_rtcp) {
            struct rtcp_report_info info;
            const char *err;
            if (rtcp_report_parse(buf, (size_t)n, &info, &err) != ST_OK)
                continue;
            c->srv->stats.rtcp_in++;
        }
        c->last_activity_ms = now_ms(c->srv);
    }
}

/* Send what the UDP session has queued, within this turn's budget.
 * Returns 1 when packets are left for a later turn. */
static int flush_udp(struct rtsp_session *s, struct rtsp_conn *c)
{
    struct rtsp_server *srv = c->srv;
    size_t budget = RTSP_SERVER_UDP_TURN_BYTES;
    while (s->count > 0) {
        struct rtsp_blob *b = s->ring[s->head];
        struct rtsp_track_out *tr = &s->track[b->track];
        struct mmsghdr msgs[UDP_BATCH];
        struct iovec iov[UDP_BATCH];
        unsigned k = 0;
        size_t sum = 0;
        for (uint32_t i = s->pkt; i < b->count && k < UDP_BATCH; i++) {
            size_t len;
            const uint8_t *p = blob_packet(b, i, &len);
            if (sum > 0 && sum + len > budget)
                break;
            iov[k].iov_base = (void *)p;
            iov[k].iov_len = len;
            memset(&msgs[k], 0, sizeof(msgs[k]));
            msgs[k].msg_hdr.msg_iov = &iov[k];
            msgs[k].msg_hdr.msg_iovlen = 1;
            msgs[k].msg_hdr.msg_name = &tr->dst[0];
            msgs[k].msg_hdr.msg_namelen = tr->dst_len;
            sum += len;
            k++;
        }
        if (k == 0)
            return 1; /* budget spent */
        int n = sendmmsg(tr->fd[0], msgs, k, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* EAGAIN/ENOBUFS: the socket is full; anything else (an ICMP
             * error surfacing): the datagram is lost either way. Drop one
             * packet, never buffer more than the ring. */
            srv->stats.packets_dropped++;
            int full = errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS;
            if (++s->pkt == b->count)
                session_pop(s);
            if (full)
                return s->count > 0;
            continue;
        }
        for (int i = 0; i < n; i++) {
            size_t len = iov[i].iov_len;
            tr->packets++;
            tr->octets += (uint32_t)(len - RTP_HEADER_LEN);
            srv->stats.packets_out++;
            srv->stats.bytes_out += len;
            budget -= len < budget ? len : budget;
        }
        s->pkt += (uint32_t)n;
        if (s->pkt == b->count)
            session_pop(s);
        if (budget == 0)
            break;
    }
    return s->count > 0;
}

/* --- connections: output ------------------------------------------------ */

static void conn_mark_dirty(struct rtsp_conn *c)
{
    if (c->in_dirty || c->close_reason)
        return;
    c->in_dirty = 1;
    c->dirty_next = c->srv->dirty;
    c->srv->dirty = c;
}

static void conn_fail(struct rtsp_conn *c, const char *why)
{
    if (c->close_reason)
        return;
    c->close_reason = why;
    c->closing_next = c->srv->closing;
    c->srv->closing = c;
}

/* What one writev covered, in order: control bytes or one interleaved unit. */
struct out_part {
    int unit;   /* 1: a packet ('$' header + RTP), 0: control bytes */
    size_t len; /* bytes of it in this writev */
};

/* Write control output and, for a TCP session, queued packets as
 * interleaved units. ST_OK (all written), ST_AGAIN (socket full) or
 * ST_ERROR. */
static int flush_tcp(struct rtsp_conn *c)
{
    struct rtsp_session *s = &c->session;
    int ring = s->active && s->lower == RTSP_LOWER_TCP;
    for (;;) {
        struct iovec iov[2 * UNITS_PER_WRITEV + 1];
        struct out_part parts[UNITS_PER_WRITEV + 1];
        uint8_t hdr[UNITS_PER_WRITEV][4];
        int niov = 0, nparts = 0, nunits = 0;
        uint32_t bi = 0, pi = s->pkt; /* cursor: blob (from head) and packet */
        size_t ctrl = c->out.len - c->out_off;
        int ctrl_added = 0;
        while (ring && bi < s->count && nunits < UNITS_PER_WRITEV) {
            if (nunits == 1 || (nunits == 0 && s->pkt_off == 0)) {
                if (ctrl && !ctrl_added) {
                    /* control output goes at a packet boundary */
                    iov[niov].iov_base = c->out.data + c->out_off;
                    iov[niov++].iov_len = ctrl;
                    parts[nparts++] = (struct out_part){0, ctrl};
                    ctrl_added = 1;
                }
            }
            struct rtsp_blob *b = s->ring[(s->head + bi) % s->ring_cap];
            size_t len;
            const uint8_t *p = blob_packet(b, pi, &len);
            size_t skip = nunits == 0 ? s->pkt_off : 0;
            interleave_header(hdr[nunits], s->track[b->track].channel[0], len);
            if (skip < 4) {
                iov[niov].iov_base = hdr[nunits] + skip;
                iov[niov++].iov_len = 4 - skip;
                iov[niov].iov_base = (void *)p;
                iov[niov++].iov_len = len;
            } else {
                iov[niov].iov_base = (void *)(p + (skip - 4));
                iov[niov++].iov_len = len - (skip - 4);
            }
            parts[nparts++] = (struct out_part){1, 4 + len - skip};
            nunits++;
            if (++pi == b->count) {
                pi = 0;
                bi++;
            }
        }
        if (ctrl && !ctrl_added) {
            iov[niov].iov_base = c->out.data + c->out_off;
            iov[niov++].iov_len = ctrl;
            parts[nparts++] = (struct out_part){0, ctrl};
        }
        if (niov == 0)
            return ST_OK;
        size_t offered = 0, w = 0;
        for (int i = 0; i < nparts; i++)
            offered += parts[i].len;
        int rc = net_transport_writev(&c->tr, iov, niov, &w);
        if (rc == ST_ERROR)
            return ST_ERROR;
        c->srv->stats.bytes_out += w;
        int short_write = rc == ST_AGAIN || w < offered;
        for (int i = 0; i < nparts && w > 0; i++) {
            size_t take = w < parts[i].len ? w : parts[i].len;
            w -= take;
            if (!parts[i].unit) {
                c->out_off += take;
                continue;
            }
            if (take < parts[i].len) {
                s->pkt_off += (uint32_t)take;
                break;
            }
            struct rtsp_blob *b = s->ring[s->head];
            struct rtsp_track_out *tr = &s->track[b->track];
            size_t len;
            blob_packet(b, s->pkt, &len);
            tr->packets++;
            tr->octets += (uint32_t)(len - RTP_HEADER_LEN);
            c->srv->stats.packets_out++;
            s->pkt_off = 0;
            if (++s->pkt == b->count)
                session_pop(s);
        }
        if (c->out_off == c->out.len) {
            buf_reset(&c->out);
            c->out_off = 0;
        }
        if (short_write)
            return ST_AGAIN;
        /* everything offered went out: more units may be queued beyond this batch */
    }
}

static void process_input(struct rtsp_conn *c);

/* One connection's output for this turn. */
static void conn_flush(struct rtsp_conn *c)
{
    struct rtsp_server *srv = c->srv;
    struct rtsp_session *s = &c->session;
    if (c->close_reason)
        return;
    if (c->wait_stream && (c->wait_ready || stream_ready(c->wait_stream)))
        answer_describe(c);
    int rc = flush_tcp(c);
    if (rc == ST_ERROR) {
        conn_fail(c, "write error");
        return;
    }
    if (rc == ST_AGAIN)
        ev_io_start(srv->loop, &c->wio);
    else
        ev_io_stop(srv->loop, &c->wio);
    if (s->active && s->lower == RTSP_LOWER_UDP && s->count > 0 && flush_udp(s, c))
        ev_timer_start(srv->loop, &srv->pace); /* one-shot: a later turn goes on */
    if (s->active && s->count == 0)
        s->behind_since_ms = 0;
    if (c->close_after_flush && c->out_off == c->out.len && !c->linger_until_ms) {
        net_transport_shutdown(&c->tr);
        c->linger_until_ms = now_ms(srv) + LINGER_MS;
        ev_io_start(srv->loop, &c->rio);
    }
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct rtsp_conn *c = w->data;
    ev_io_stop(loop, w);
    conn_mark_dirty(c);
}

static void pace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rtsp_server *srv = w->data;
    for (struct rtsp_conn *c = srv->conns; c; c = c->next)
        if (c->session.active && c->session.lower == RTSP_LOWER_UDP && c->session.count > 0)
            conn_mark_dirty(c);
}

/* --- connections: responses --------------------------------------------- */

static const char *reason_of(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Request Entity Too Large";
    case 414: return "Request-URI Too Large";
    case 453: return "Not Enough Bandwidth";
    case 454: return "Session Not Found";
    case 455: return "Method Not Valid in This State";
    case 459: return "Aggregate Operation Not Allowed";
    case 461: return "Unsupported Transport";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "RTSP Version Not Supported";
    case 551: return "Option not supported";
    default: return "Error";
    }
}

/* Queue a response. extra: header lines, each ending in CRLF, or NULL. */
static void respond(struct rtsp_conn *c, int status, long cseq, const char *extra, const char *ctype,
                    const void *body, size_t body_len)
{
    char head[4096];
    int n = snprintf(head, sizeof(head), "RTSP/1.0 %d %s\r\n", status, reason_of(status));
    if (cseq >= 0)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "CSeq: %ld\r\n", cseq);
    n += snprintf(head + n, sizeof(head) - (size_t)n, "Server: streamcluster/%s\r\n%s", SC_VERSION, extra ? extra : "");
    if (body_len)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Type: %s\r\nContent-Length: %zu\r\n", ctype,
                      body_len);
    n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
    if (n <= 0 || (size_t)n >= sizeof(head) || buf_append(&c->out, head, (size_t)n) != ST_OK ||
        (body_len && buf_append(&c->out, body, body_len) != ST_OK)) {
        conn_fail(c, "output buffer full");
        return;
    }
    conn_mark_dirty(c);
}

/* "Session: ID" for responses to requests of the session. */
static void session_line(const struct rtsp_conn *c, char *out, size_t cap, int with_timeout)
{
    out[0] = '\0';
    if (!c->session.active)
        return;
    if (with_timeout)
        snprintf(out, cap, "Session: %s;timeout=%ld\r\n", c->session.id,
                 c->srv->settings->session_timeout / 1000 > 0 ? c->srv->settings->session_timeout / 1000 : 1);
    else
        snprintf(out, cap, "Session: %s\r\n", c->session.id);
}

/* --- request handling --------------------------------------------------- */

struct target {
    char key[LIVE_KEY_MAX]; /* "app/name" */
    int track;              /* TRACK_*, -1 for the aggregate */
    const char *query;      /* after '?' in the Request-URI, "" if none */
};

/* Split a Request-URI into stream key and track. ST_OK or ST_ERROR. */
static int parse_target(const char *uri, struct target *t)
{
    char path[LIVE_KEY_MAX + 16];
    if (rtsp_request_uri_path(uri, path, sizeof(path)) != ST_OK)
        return ST_ERROR;
    const char *q = strchr(uri, '?');
    t->query = q ? q + 1 : "";
    t->track = -1;
    char *last = strrchr(path, '/');
    const char *seg = last ? last + 1 : path;
    if (strncmp(seg, "trackID=", 8) == 0 && (seg[8] == '0' || seg[8] == '1') && seg[9] == '\0') {
        t->track = seg[8] - '0';
        if (last)
            *last = '\0';
        else
            path[0] = '\0';
    }
    size_t n = strlen(path);
    if (n >= sizeof(t->key))
        return ST_ERROR;
    memcpy(t->key, path, n + 1);
    return ST_OK;
}

/* The Request-URI without query, without trailing '/': the base of track
 * URLs (Content-Base adds the '/'). */
static void base_url(const char *uri, char *out, size_t cap)
{
    size_t n = strcspn(uri, "?#");
    while (n > 0 && uri[n - 1] == '/')
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(out, uri, n);
    out[n] = '\0';
}

static void webhook_answer(void *ctx, uint64_t id, enum live_auth_action act, const struct live_gate_verdict *v);

/* Play authorization through live_gate: the local rules, then the on_play
 * webhook if configured (once per stream and connection). 0 allowed,
 * AUTH_WAIT (the webhook decides: the request is held and handled again
 * when it answers), else the status to answer. */
#define AUTH_WAIT (-1)
static int authorize(struct rtsp_conn *c, const char *key, const char *query)
{
    struct live_gate *g = c->srv->live->gate;
    if (!g || strcmp(c->auth_key, key) == 0)
        return 0;
    char app[LIVE_KEY_MAX];
    const char *name;
    split_key(key, app, sizeof(app), &name);
    struct live_gate_subject who = {.act = LIVE_AUTH_PLAY,
                                    .id = (2ull << 61) | ++c->srv->auth_ids,
                                    .app = app,
                                    .name = name,
                                    .query = query,
                                    .peer = (const struct sockaddr *)&c->peer_sa,
                                    .peer_s = c->peer,
                                    .proto = "rtsp",
                                    .cb = webhook_answer,
                                    .cb_ctx = c};
    struct live_gate_verdict v;
    memset(&v, 0, sizeof(v));
    int rc = live_gate_check(g, &who, (int64_t)time(NULL), &v);
    if (rc == ST_AGAIN) {
        snprintf(c->auth_asked, sizeof(c->auth_asked), "%s", key);
        c->auth_waiting = 1;
        return AUTH_WAIT;
    }
    if (rc != ST_OK) {
        c->srv->stats.auth_refused++;
        LOG_WARN("rtsp: play refused peer=%s stream=%s: %s", c->peer, key, live_auth_reason(v.result));
        return 403;
    }
    snprintf(c->auth_key, sizeof(c->auth_key), "%s", key);
    return 0;
}

static void stop_waiting(struct rtsp_conn *c)
{
    struct rtsp_stream *s = c->wait_stream;
    if (!s)
        return;
    for (struct rtsp_conn **pp = &s->waiting; *pp; pp = &(*pp)->wait_next)
        if (*pp == c) {
            *pp = c->wait_next;
            break;
        }
    c->wait_next = NULL;
    c->wait_stream = NULL;
    c->wait_ready = 0;
    stream_put(s);
    if (c->reading_stopped && !c->close_reason) {
        c->reading_stopped = 0;
        ev_io_start(c->srv->loop, &c->rio);
    }
}

/* Answer the pending DESCRIBE (ready, or its deadline passed) and go on
 * with the requests that arrived meanwhile. */
static void answer_describe(struct rtsp_conn *c)
{
    struct rtsp_stream *s = c->wait_stream;
    long cseq = c->wait_cseq;
    if (!stream_ready(s)) {
        c->srv->stats.not_found++;
        LOG_INFO("rtsp: DESCRIBE peer=%s stream=%s: no codec headers within %d ms, 404", c->peer, s->st->key,
                 RTSP_SERVER_DESCRIBE_WAIT_MS);
        respond(c, 404, cseq, NULL, NULL, NULL, 0);
    } else {
        struct hls_codec_headers h = stream_headers(s);
        struct buf sdp;
        buf_init(&sdp, SDP_MAX);
        uint64_t sid;
        random_bytes(&sid, sizeof(sid));
        sid &= 0x7fffffffffffffffull;
        if (rtsp_sdp_build(&sdp, &h, c->local_ip, sid, s->st->key, VIDEO_PT, AUDIO_PT) != ST_OK) {
            c->srv->stats.not_found++;
            LOG_INFO("rtsp: DESCRIBE peer=%s stream=%s: no track we can send (codecs), 404", c->peer, s->st->key);
            respond(c, 404, cseq, NULL, NULL, NULL, 0);
        } else {
            char extra[700];
            snprintf(extra, sizeof(extra), "Content-Base: %s/\r\n", c->wait_base);
            respond(c, 200, cseq, extra, "application/sdp", sdp.data, sdp.len);
            if (c->described)
                stream_put(c->described);
            c->described = s;
            s->refs++;
        }
        buf_free(&sdp);
    }
    stop_waiting(c);
    process_input(c);
}

static void handle_describe(struct rtsp_conn *c, const struct target *t)
{
    struct rtsp_request *r = &c->req;
    if (t->key[0] == '\0' || !strchr(t->key, '/')) {
        c->srv->stats.not_found++;
        respond(c, 404, r->cseq, NULL, NULL, NULL, 0);
        return;
    }
    int st = authorize(c, t->key, t->query);
    if (st == AUTH_WAIT)
        return;
    if (st) {
        respond(c, st, r->cseq, NULL, NULL, NULL, 0);
        return;
    }
    struct rtsp_stream *s = stream_get(c->srv, t->key);
    if (!s) {
        respond(c, 503, r->cseq, NULL, NULL, NULL, 0);
        return;
    }
    c->wait_stream = s;
    c->wait_cseq = r->cseq;
    c->wait_deadline_ms = now_ms(c->srv) + RTSP_SERVER_DESCRIBE_WAIT_MS;
    base_url(r->uri, c->wait_base, sizeof(c->wait_base));
    c->wait_next = s->waiting;
    s->waiting = c;
    c->wait_ready = stream_ready(s);
    conn_mark_dirty(c); /* answered by this turn's flush when ready */
}

/* The session named by the request, or NULL after answering 454. */
static struct rtsp_session *request_session(struct rtsp_conn *c, int required)
{
    struct rtsp_request *r = &c->req;
    const char *v = rtsp_request_header(r, "session");
    char id[64];
    if (!v) {
        if (required)
            respond(c, 454, r->cseq, NULL, NULL, NULL, 0);
        return NULL;
    }
    if (rtsp_request_session_id(v, id, sizeof(id)) != ST_OK || !c->session.active ||
        strcmp(id, c->session.id) != 0) {
        respond(c, 454, r->cseq, NULL, NULL, NULL, 0);
        return NULL;
    }
    return &c->session;
}

static void handle_setup(struct rtsp_conn *c, const struct target *t)
{
    struct rtsp_request *r = &c->req;
    struct rtsp_server *srv = c->srv;
    const char *sv = rtsp_request_header(r, "session");
    struct rtsp_session *s = NULL;
    if (sv && !(s = request_session(c, 1)))
        return;
    const char *tv = rtsp_request_header(r, "transport");
    struct rtsp_transport tp;
    int rc = tv ? rtsp_request_transport(tv, &tp) : ST_DONE;
    if (rc == ST_ERROR) {
        respond(c, 400, r->cseq, NULL, NULL, NULL, 0);
        return;
    }
    if (rc != ST_OK) {
        respond(c, 461, r->cseq, NULL, NULL, NULL, 0);
        return;
    }
    if (t->track < 0 || t->key[0] == '\0') {
        respond(c, 459, r->cseq, NULL, NULL, NULL, 0); /* SETUP of the aggregate: name a track */
        return;
    }
    if (!s && c->session.active) {
        /* A client that forgot the Session header: fine on the same stream. */
        if (strcmp(c->session.stream->st->key, t->key) != 0) {
            respond(c, 459, r->cseq, NULL, NULL, NULL, 0);
            return;
        }
        s = &c->session;
    }
    if (s && strcmp(s->stream->st->key, t->key) != 0) {
        respond(c, 459, r->cseq, NULL, NULL, NULL, 0);
        return;
    }
    if (s && s->playing) {
        respond(c, 455, r->cseq, NULL, NULL, NULL, 0);
        return;
    }
    if (s && s->lower != tp.lower) {
        respond(c, 461, r->cseq, NULL, NULL, NULL, 0); /* one lower transport per session */
        return;
    }
    unsigned bit = t->track == TRACK_VIDEO ? RTSP_SDP_VIDEO : RTSP_SDP_AUDIO;
    int created = 0;
    if (!s) {
        int st = authorize(c, t->key, t->query);
        if (st == AUTH_WAIT)
            return;
        if (st) {
            respond(c, st, r->cseq, NULL, NULL, NULL, 0);
            return;
        }
        struct rtsp_stream *stream = stream_get(srv, t->key);
        if (!stream || !stream_ready(stream) || !(stream->tracks & bit)) {
            /* SETUP without DESCRIBE: only for a stream with codec headers */
            if (stream)
                stream_put(stream);
            srv->stats.not_found++;
            respond(c, 404, r->cseq, NULL, NULL, NULL, 0);
            return;
        }
        if (session_begin(c, stream, tp.lower) != ST_OK) {
            stream_put(stream);
            respond(c, 503, r->cseq, NULL, NULL, NULL, 0);
            return;
        }
        s = &c->session;
        s->authorized = srv->live->gate != NULL;
        created = 1;
        LOG_INFO("rtsp: session %s started peer=%s stream=%s transport=%s", s->id, c->peer, t->key,
                 tp.lower == RTSP_LOWER_UDP ? "udp" : "tcp");
    }
    if (!(s->stream->tracks & bit)) {
        respond(c, 404, r->cseq, NULL, NULL, NULL, 0);
        return;
    }
    struct rtsp_track_out *tr = &s->track[t->track];
    track_close(srv, tr); /* a repeated SETUP replaces the transport */
    char line[256];
    uint32_t ssrc = s->stream->pk[t->track].ssrc;
    if (tp.lower == RTSP_LOWER_UDP) {
        if (udp_pair(srv, &c->local_sa, tr->fd, tr->server_port) != ST_OK) {
            LOG_WARN("rtsp: session %s peer=%s: no free UDP port pair%s", s->id, c->peer,
                     srv->port_lo ? " in rtsp_udp_port_range" : "");
            if (created)
                session_end(c, "no UDP ports"); /* the client never learnt its id */
            respond(c, 453, r->cseq, NULL, NULL, NULL, 0);
            return;
        }
        for (int i = 0; i < 2; i++) {
            tr->dst[i] = c->peer_sa;
            if (c->peer_sa.ss_family == AF_INET6)
                ((struct sockaddr_in6 *)&tr->dst[i])->sin6_port = htons(tp.client_port[i]);
            else
                ((struct sockaddr_in *)&tr->dst[i])->sin_port = htons(tp.client_port[i]);
            ev_io_init(&tr->io[i], udp_read_cb, tr->fd[i], EV_READ);
            tr->io[i].data = tr;
            ev_io_start(srv->loop, &tr->io[i]);
        }
        tr->dst_len = c->peer_sa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        snprintf(line, sizeof(line),
                 "Transport: RTP/AVP;unicast;client_port=%u-%u;server_port=%u-%u;ssrc=%08" PRIX32 "\r\n",
                 tp.client_port[0], tp.client_port[1], tr->server_port[0], tr->server_port[1], ssrc);
    } else {
        if (tp.has_interleaved) {
            tr->channel[0] = tp.interleaved[0];
            tr->channel[1] = tp.interleaved[1];
        } else {
            tr->channel[0] = (uint8_t)(2 * t->track);
            tr->channel[1] = (uint8_t)(2 * t->track + 1);
        }
        snprintf(line, sizeof(line), "Transport: RTP/AVP/TCP;unicast;interleaved=%u-%u;ssrc=%08" PRIX32 "\r\n",
                 tr->channel[0], tr->channel[1], ssrc);
    }
    tr->setup = 1;
    char extra[512];
    session_line(c, extra, sizeof(extra), 1);
    size_t used = strlen(extra);
    snprintf(extra + used, sizeof(extra) - used, "%s", line);
    respond(c, 200, r->cseq, extra, NULL, NULL, 0);
}

static void handle_play(struct rtsp_conn *c, const struct target *t)
{
    struct rtsp_request *r = &c->req;
    struct rtsp_session *s = request_session(c, 1);
    if (!s)
        return;
    if (t->key[0] && strcmp(t->key, s->stream->st->key) != 0) {
        respond(c, 459, r->cseq, NULL, NULL, NULL, 0);
        return;
    }
    if (!s->track[TRACK_VIDEO].setup && !s->track[TRACK_AUDIO].setup) {
        respond(c, 455, r->cseq, NULL, NULL, NULL, 0);
        return;
    }
    struct rtsp_stream *st = s->stream;
    uint64_t now = now_ms(c->srv);
    if (!s->playing) {
        s->playing = 1;
        s->prev = NULL;
        s->next = st->players;
        if (st->players)
            st->players->prev = s;
        st->players = s;
        s->wait_key = 1;
        s->behind_since_ms = 0;
        for (uint32_t i = 0; i < st->gop_count; i++)
            session_enqueue(s, c, st->gop[i], now);
    }
    /* RTP-Info: where each track starts, the first packet queued for it. */
    char base[512], extra[1800];
    base_url(r->uri, base, sizeof(base));
    if (t->track >= 0) {
        char *slash = strrchr(base, '/');
        if (slash)
            *slash = '\0';
    }
    session_line(c, extra, sizeof(extra), 0);
    size_t n = strlen(extra);
    n += (size_t)snprintf(extra + n, sizeof(extra) - n, "Range: npt=0.000-\r\nRTP-Info: ");
    int first = 1;
    for (int k = 0; k < NTRACKS; k++) {
        if (!s->track[k].setup)
            continue;
        uint16_t seq = st->pk[k].seq;
        uint32_t rtptime =
            rtp_packetizer_timestamp(&st->pk[k], st->clock.set ? rtsp_server_clock_media_at(&st->clock, now) : 0);
        for (uint32_t i = 0; i < s->count; i++) {
            struct rtsp_blob *b = s->ring[(s->head + i) % s->ring_cap];
            if (b->track != k)
                continue;
            size_t len;
            const uint8_t *p = blob_packet(b, i == 0 ? s->pkt : 0, &len);
            seq = rd_be16(p + 2);
            rtptime = rd_be32(p + 4);
            break;
        }
        n += (size_t)snprintf(extra + n, sizeof(extra) - n, "%surl=%s/trackID=%d;seq=%u;rtptime=%" PRIu32,
                              first ? "" : ",", base, k, seq, rtptime);
        first = 0;
        if (n >= sizeof(extra))
            break;
    }
    if (n + 3 > sizeof(extra)) {
        respond(c, 500, r->cseq, NULL, NULL, NULL, 0);
        return;
    }
    memcpy(extra + n, "\r\n", 3);
    respond(c, 200, r->cseq, extra, NULL, NULL, 0);
    send_sender_reports(s, c, now);
}

static void handle_pause(struct rtsp_conn *c)
{
    struct rtsp_session *s = request_session(c, 1);
    if (!s)
        return;
    session_unlink_player(s);
    session_drop_queue(s, c);
    char extra[128];
    session_line(c, extra, sizeof(extra), 0);
    respond(c, 200, c->req.cseq, extra, NULL, NULL, 0);
}

static void handle_teardown(struct rtsp_conn *c)
{
    struct rtsp_session *s = request_session(c, 1);
    if (!s)
        return;
    session_end(c, "teardown");
    respond(c, 200, c->req.cseq, NULL, NULL, NULL, 0);
}

static void handle_request(struct rtsp_conn *c)
{
    struct rtsp_request *r = &c->req;
    const char *m = r->method;
    const char *req = rtsp_request_header(r, "require");
    if (req) {
        char extra[600];
        snprintf(extra, sizeof(extra), "Unsupported: %.500s\r\n", req);
        respond(c, 551, r->cseq, extra, NULL, NULL, 0);
        return;
    }
    if (strcmp(m, "OPTIONS") == 0) {
        char extra[256];
        if (rtsp_request_header(r, "session") && !request_session(c, 0))
            return;
        session_line(c, extra, sizeof(extra), 0);
        size_t used = strlen(extra);
        snprintf(extra + used, sizeof(extra) - used, "Public: %s\r\n", METHODS);
        respond(c, 200, r->cseq, extra, NULL, NULL, 0);
        return;
    }
    if (strcmp(m, "GET_PARAMETER") == 0 || strcmp(m, "SET_PARAMETER") == 0) {
        char extra[128];
        if (rtsp_request_header(r, "session") && !request_session(c, 0))
            return;
        session_line(c, extra, sizeof(extra), 0);
        respond(c, 200, r->cseq, extra, NULL, NULL, 0);
        return;
    }
    int known = strcmp(m, "DESCRIBE") == 0 || strcmp(m, "SETUP") == 0 || strcmp(m, "PLAY") == 0 ||
                strcmp(m, "PAUSE") == 0 || strcmp(m, "TEARDOWN") == 0;
    if (!known) {
        int other = strcmp(m, "ANNOUNCE") == 0 || strcmp(m, "RECORD") == 0 || strcmp(m, "REDIRECT") == 0;
        respond(c, other ? 405 : 501, r->cseq, "Allow: " METHODS "\r\n", NULL, NULL, 0);
        return;
    }
    struct target t;
    if (parse_target(r->uri, &t) != ST_OK) {
        respond(c, 400, r->cseq, NULL, NULL, NULL, 0);
        return;
    }
    if (strcmp(m, "DESCRIBE") == 0)
        handle_describe(c, &t);
    else if (strcmp(m, "SETUP") == 0)
        handle_setup(c, &t);
    else if (strcmp(m, "PLAY") == 0)
        handle_play(c, &t);
    else if (strcmp(m, "PAUSE") == 0)
        handle_pause(c);
    else
        handle_teardown(c);
}

/* A '$' frame from the player: RTCP on a track's odd channel is a
 * keep-alive; anything else is ignored. */
static void handle_interleaved(struct rtsp_conn *c)
{
    struct rtsp_session *s = &c->session;
    struct rtsp_request *r = &c->req;
    if (!s->active || s->lower != RTSP_LOWER_TCP)
        return;
    for (int t = 0; t < NTRACKS; t++) {
        if (!s->track[t].setup || s->track[t].channel[1] != r->channel)
            continue;
        struct rtcp_report_info info;
        const char *err;
        if (rtcp_report_parse(r->data, r->data_len, &info, &err) == ST_OK)
            c->srv->stats.rtcp_in++;
        return;
    }
}

static void bad_request(struct rtsp_conn *c)
{
    struct rtsp_request *r = &c->req;
    c->srv->stats.bad_requests++;
    LOG_WARN("rtsp: bad request from %s: %s (%d); closing the connection", c->peer, r->error, r->status);
    session_end(c, "bad request");
    respond(c, r->status ? r->status : 400, r->cseq, "Connection: close\r\n", NULL, NULL, 0);
    c->close_after_flush = 1;
    c->in_len = 0;
    ev_io_stop(c->srv->loop, &c->rio); /* until the answer is out */
}

/* Parse and handle what is buffered, until a DESCRIBE has to wait. */
static void process_input(struct rtsp_conn *c)
{
    while (c->in_len > 0 && !c->wait_stream && !c->auth_waiting && !c->close_after_flush && !c->close_reason) {
        size_t used = 0;
        int rc = rtsp_request_parse(&c->req, c->in, c->in_len, &used);
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        if (rc == ST_AGAIN)
            break;
        if (rc == ST_ERROR) {
            bad_request(c);
            break;
        }
        if (c->req.kind == RTSP_REQUEST_INTERLEAVED)
            handle_interleaved(c);
        else
            handle_request(c);
        if (c->auth_waiting)
            break; /* the request stays parsed until the webhook answers */
        rtsp_request_reset(&c->req);
    }
}

/* The on_play webhook answered for the held request: allowed, it is handled
 * again (now authorized); refused, or renamed (a rename has no RTSP form
 * here), it gets 403. Then the input that waited behind it. */
static void webhook_answer(void *ctx, uint64_t id, enum live_auth_action act, const struct live_gate_verdict *v)
{
    (void)id;
    (void)act;
    struct rtsp_conn *c = ctx;
    c->auth_waiting = 0;
    if (c->close_reason)
        return;
    if (v->result == LIVE_AUTH_OK && !v->rename[0]) {
        snprintf(c->auth_key, sizeof(c->auth_key), "%s", c->auth_asked);
        handle_request(c);
    } else {
        c->srv->stats.auth_refused++;
        LOG_WARN("rtsp: play refused peer=%s stream=%s: %s", c->peer, c->auth_asked,
                 v->rename[0] ? "the on_play webhook renamed the stream (not supported over RTSP)"
                              : live_auth_reason(v->result));
        respond(c, 403, c->req.cseq, NULL, NULL, NULL, 0);
    }
    if (c->auth_waiting)
        return;
    rtsp_request_reset(&c->req);
    process_input(c);
    if (c->reading_stopped && !c->close_reason && !c->wait_stream && !c->auth_waiting) {
        c->reading_stopped = 0; /* the buffer filled up while we waited */
        ev_io_start(c->srv->loop, &c->rio);
    }
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct rtsp_conn *c = w->data;
    if (c->close_reason)
        return;
    if (c->linger_until_ms) {
        uint8_t junk[4096];
        size_t n;
        int rc = ST_AGAIN;
        for (int i = 0; i < 16 && (rc = net_transport_read(&c->tr, junk, sizeof(junk), &n)) == ST_OK; i++)
            ;
        if (rc != ST_AGAIN)
            conn_fail(c, "bad request");
        return;
    }
    if (c->in_len == sizeof(c->in)) {
        /* A DESCRIBE waits and the client keeps sending: hold off. */
        ev_io_stop(loop, w);
        c->reading_stopped = 1;
        return;
    }
    size_t n = 0;
    int rc = net_transport_read(&c->tr, c->in + c->in_len, sizeof(c->in) - c->in_len, &n);
    if (rc == ST_AGAIN)
        return;
    if (rc == ST_DONE) {
        conn_fail(c, "peer closed");
        return;
    }
    if (rc == ST_ERROR) {
        conn_fail(c, "read error");
        return;
    }
    c->in_len += n;
    c->last_activity_ms = now_ms(c->srv);
    process_input(c);
}

/* --- connections: life -------------------------------------------------- */

static void conn_free(struct rtsp_conn *c)
{
    struct rtsp_server *srv = c->srv;
    if (c->session.active)
        LOG_DEBUG("rtsp: connection %s closing: %s", c->peer, c->close_reason ? c->close_reason : "?");
    session_end(c, c->close_reason ? c->close_reason : "closed");
    if (c->auth_waiting)
        live_gate_forget(srv->live->gate, c); /* its answer must not find a freed connection */
    if (c->wait_stream) {
        c->reading_stopped = 0;
        stop_waiting(c);
    }
    if (c->described)
        stream_put(c->described);
    ev_io_stop(srv->loop, &c->rio);
    ev_io_stop(srv->loop, &c->wio);
    net_transport_close(&c->tr);
    rtsp_request_free(&c->req);
    buf_free(&c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->stats.connections--;
    free(c);
}

static void format_ip(const struct sockaddr_storage *sa, char *out, size_t cap)
{
    out[0] = '\0';
    if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a6->sin6_addr, out, (socklen_t)cap);
    } else if (sa->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    }
}

static void accept_cb(struct net_listener *l, int fd, const struct sockaddr_storage *peer)
{
    struct rtsp_server *srv = l->owner;
    const struct live_settings *ls = live_settings_of(srv);
    char who[64];
    net_format_address(peer, who, sizeof(who));
    if (ls->max_connections > 0 && srv->stats.connections >= (uint64_t)ls->max_connections) {
        srv->stats.connections_refused++;
        LOG_WARN("rtsp: refusing %s: max_connections reached", who);
        close(fd);
        return;
    }
    struct rtsp_conn *c = calloc(1, sizeof(*c));
    if (!c || rtsp_request_init(&c->req, NULL) != ST_OK) {
        LOG_WARN("rtsp: refusing %s: out of memory", who);
        free(c);
        close(fd);
        return;
    }
    c->srv = srv;
    net_transport_tcp_init(&c->tr, fd);
    c->peer_sa = *peer;
    snprintf(c->peer, sizeof(c->peer), "%s", who);
    socklen_t len = sizeof(c->local_sa);
    if (getsockname(fd, (struct sockaddr *)&c->local_sa, &len) != 0)
        c->local_sa.ss_family = peer->ss_family;
    format_ip(&c->local_sa, c->local_ip, sizeof(c->local_ip));
    if (!c->local_ip[0])
        snprintf(c->local_ip, sizeof(c->local_ip), "0.0.0.0");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* interleaved RTP: no Nagle delay */
    buf_init(&c->out, OUT_MAX);
    c->wait_cseq = -1;
    c->last_activity_ms = now_ms(srv);
    ev_io_init(&c->rio, read_cb, fd, EV_READ);
    ev_io_init(&c->wio, write_cb, fd, EV_WRITE);
    c->rio.data = c->wio.data = c;
    ev_io_start(srv->loop, &c->rio);
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->stats.connections++;
    srv->stats.connections_total++;
}

/* Once per loop turn, before blocking: flush the connections with output,
 * then free the ones that failed. */
static void flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct rtsp_server *srv = w->data;
    while (srv->dirty || srv->closing) {
        while (srv->dirty) {
            struct rtsp_conn *c = srv->dirty;
            srv->dirty = c->dirty_next;
            c->dirty_next = NULL;
            c->in_dirty = 0;
            conn_flush(c);
        }
        struct rtsp_conn *dead = srv->closing;
        srv->closing = NULL;
        for (struct rtsp_conn *c = dead, *next; c; c = next) {
            next = c->closing_next;
            conn_free(c);
        }
    }
}

/* Four times a second: DESCRIBE deadlines, session timeouts, SR. */
static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rtsp_server *srv = w->data;
    uint64_t now = now_ms(srv);
    uint64_t timeout = (uint64_t)srv->settings->session_timeout;
    for (struct rtsp_conn *c = srv->conns; c; c = c->next) {
        if (c->close_reason)
            continue;
        if (c->linger_until_ms) {
            if (now >= c->linger_until_ms)
                conn_fail(c, "bad request");
            continue;
        }
        if (c->wait_stream && now >= c->wait_deadline_ms) {
            conn_mark_dirty(c);
            c->wait_ready = 1; /* answered (404 unless ready) by the flush */
            continue;
        }
        if (c->wait_stream)
            continue;
        if (now - c->last_activity_ms > timeout) {
            if (c->session.active) {
                srv->stats.sessions_timed_out++;
                LOG_INFO("rtsp: session %s timed out peer=%s stream=%s: no request or RTCP for %ld ms",
                         c->session.id, c->peer, c->session.stream->st->key, srv->settings->session_timeout);
                session_end(c, "timeout");
            }
            conn_fail(c, "idle timeout");
            continue;
        }
        if (c->session.active && c->session.playing && now >= c->session.next_sr_ms)
            send_sender_reports(&c->session, c, now);
    }
}

int rtsp_server_start(struct rtsp_server *srv, struct ev_loop *loop, const struct rtsp_settings *settings,
                      struct live_server *live, int reuse_port)
{
    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    srv->settings = settings;
    srv->live = live;
    srv->listener.fd = -1;
    if (!settings->listen || !settings->listen[0])
        return ST_OK;
    if (rtsp_settings_check(settings) != ST_OK)
        return ST_ERROR;
    rtsp_server_parse_port_range(settings->udp_port_range, &srv->port_lo, &srv->port_hi);
    if (net_listener_open(&srv->listener, loop, settings->listen, reuse_port, accept_cb, srv) != ST_OK)
        return ST_ERROR;
    ev_prepare_init(&srv->flush_watcher, flush_cb);
    srv->flush_watcher.data = srv;
    ev_prepare_start(loop, &srv->flush_watcher);
    ev_timer_init(&srv->tick, tick_cb, TICK_S, TICK_S);
    srv->tick.data = srv;
    ev_timer_start(loop, &srv->tick);
    ev_timer_init(&srv->pace, pace_cb, PACE_S, 0);
    srv->pace.data = srv;
    srv->running = 1;
    LOG_INFO("rtsp: listening on %s port=%d session_timeout=%ld ms udp_ports=%s", settings->listen,
             net_listener_port(&srv->listener), settings->session_timeout,
             settings->udp_port_range && settings->udp_port_range[0] ? settings->udp_port_range : "any");
    return ST_OK;
}

void rtsp_server_stop_accepting(struct rtsp_server *srv)
{
    if (srv->running)
        net_listener_close(&srv->listener, srv->loop);
}

void rtsp_server_stop(struct rtsp_server *srv)
{
    if (!srv->running)
        return;
    net_listener_close(&srv->listener, srv->loop);
    while (srv->conns) {
        struct rtsp_conn *c = srv->conns;
        if (!c->close_reason)
            c->close_reason = "server shutting down";
        conn_free(c);
    }
    srv->dirty = NULL;
    srv->closing = NULL;
    ev_prepare_stop(srv->loop, &srv->flush_watcher);
    ev_timer_stop(srv->loop, &srv->tick);
    ev_timer_stop(srv->loop, &srv->pace);
    srv->running = 0;
}

int rtsp_server_port(const struct rtsp_server *srv)
{
    return srv->running ? net_listener_port(&srv->listener) : -1;
}
