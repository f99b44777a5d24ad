/*
 * Unit tests for rtsp_server.
 *
 * Pure parts: the rtsp_udp_port_range parser, the stream clock (anchor,
 * resync) and the sender-report mapping: both tracks' SR, built the way the
 * server builds them, must put frames of the same media time at the same
 * wall time whatever the random timestamp bases (wrap included).
 *
 * In process: the real server on a private libev loop over a hand-set
 * live_server (registry only), fed with the real H.264/AAC frames of
 * tests/data/codec/h264_aac_160x120.flv through the stream's fan-out, and
 * non-blocking client sockets pumped next to the loop: DESCRIBE waiting for
 * codec headers, TCP-interleaved and UDP play (framing, sequence continuity,
 * SR first), pipelined requests, status codes, a malformed request (400,
 * closed, others unaffected), a silent session timing out, and a reader
 * that never reads (ring full: frames dropped, session closed).
 */
#include <criterion/criterion.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/status.h"
#include "fanout/fanout_frame.h"
#include "fanout/fanout_stream.h"
#include "live/live_registry.h"
#include "live/live_server.h"
#include "rtsp/rtcp_report.h"
#include "rtsp/rtp_packetizer.h"
#include "rtsp/rtsp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SC_TEST_DATA
#define SC_TEST_DATA "tests/data"
#endif

/* ---- pure parts ---- */

Test(rtsp_server, port_range)
{
    uint16_t lo, hi;
    cr_assert_eq(rtsp_server_parse_port_range("", &lo, &hi), ST_OK);
    cr_assert_eq(lo, 0);
    cr_assert_eq(hi, 0);
    cr_assert_eq(rtsp_server_parse_port_range(NULL, &lo, &hi), ST_OK);
    cr_assert_eq(rtsp_server_parse_port_range("20000-29999", &lo, &hi), ST_OK);
    cr_assert_eq(lo, 20000);
    cr_assert_eq(hi, 29999);
    cr_assert_eq(rtsp_server_parse_port_range("1024-1025", &lo, &hi), ST_OK, "one even/odd pair");
    cr_assert_eq(rtsp_server_parse_port_range("1025-1026", &lo, &hi), ST_ERROR, "no even port with its odd one");
    cr_assert_eq(rtsp_server_parse_port_range("1025-1027", &lo, &hi), ST_OK);
    cr_assert_eq(rtsp_server_parse_port_range("1023-2000", &lo, &hi), ST_ERROR);
    cr_assert_eq(rtsp_server_parse_port_range("2000-65536", &lo, &hi), ST_ERROR);
    cr_assert_eq(rtsp_server_parse_port_range("3000-2000", &lo, &hi), ST_ERROR);
    cr_assert_eq(rtsp_server_parse_port_range("2000", &lo, &hi), ST_ERROR);
    cr_assert_eq(rtsp_server_parse_port_range("2000-", &lo, &hi), ST_ERROR);
    cr_assert_eq(rtsp_server_parse_port_range("-2000", &lo, &hi), ST_ERROR);
    cr_assert_eq(rtsp_server_parse_port_range("2000-3000x", &lo, &hi), ST_ERROR);
    cr_assert_eq(lo, 0, "cleared on error");
}

Test(rtsp_server, clock_anchor_and_resync)
{
    struct rtsp_server_clock c = {0};
    cr_assert_eq(rtsp_server_clock_note(&c, 5000, 1700000000000ull), 1, "first frame anchors");
    cr_assert_eq(rtsp_server_clock_media_at(&c, 1700000000000ull), 5000);
    cr_assert_eq(rtsp_server_clock_media_at(&c, 1700000001234ull), 6234);
    /* frames arriving with jitter keep the anchor */
    cr_assert_eq(rtsp_server_clock_note(&c, 6040, 1700000001000ull), 0);
    cr_assert_eq(rtsp_server_clock_note(&c, 6000 - RTSP_SERVER_CLOCK_RESYNC_MS, 1700000001000ull), 0);
    cr_assert_eq(c.media_ms, 5000);
    /* a timeline jump (new publisher) re-anchors */
    cr_assert_eq(rtsp_server_clock_note(&c, 100, 1700000002000ull), 1);
    cr_assert_eq(rtsp_server_clock_media_at(&c, 1700000002500ull), 600);
    cr_assert_eq(rtsp_server_clock_note(&c, 600 + RTSP_SERVER_CLOCK_RESYNC_MS + 1, 1700000002500ull), 1);
}

/* What a receiver does with an SR: wall time of an RTP timestamp. */
static double sr_wall(uint64_t ntp, uint32_t sr_rtp, uint32_t clock, uint32_t ts)
{
    double sr_wall_s = (double)(ntp >> 32) + (double)(uint32_t)ntp / 4294967296.0;
    return sr_wall_s + (double)(int32_t)(ts - sr_rtp) / clock;
}

Test(rtsp_server, sender_report_mapping_keeps_tracks_in_sync)
{
    uint32_t bases[][2] = {{0, 0}, {0xfffff000u, 0x10}, {123456789u, 0xffffff00u}, {0x80000000u, 0x7fffffffu}};
    for (size_t k = 0; k < sizeof(bases) / sizeof(bases[0]); k++) {
        struct rtp_packetizer v, a;
        rtp_packetizer_init(&v, 96, 90000, 1, 0, bases[k][0], 1400);
        rtp_packetizer_init(&a, 97, 44100, 2, 0, bases[k][1], 1400);
        struct rtsp_server_clock c = {0};
        uint64_t wall0 = 1700000000000ull;
        rtsp_server_clock_note(&c, 90000, wall0); /* media time 90 s arrived at wall0 */
        /* SRs of both tracks sent at different moments, as the tick sends them */
        uint64_t wv = wall0 + 4321, wa = wall0 + 4999;
        uint64_t ntp_v = rtcp_report_ntp_from_unix_ms(wv), ntp_a = rtcp_report_ntp_from_unix_ms(wa);
        uint32_t rtp_v = rtp_packetizer_timestamp(&v, rtsp_server_clock_media_at(&c, wv));
        uint32_t rtp_a = rtp_packetizer_timestamp(&a, rtsp_server_clock_media_at(&c, wa));
        for (int64_t media = 89000; media < 99000; media += 333) {
            double tv = sr_wall(ntp_v, rtp_v, 90000, rtp_packetizer_timestamp(&v, media));
            double ta = sr_wall(ntp_a, rtp_a, 44100, rtp_packetizer_timestamp(&a, media));
            cr_assert_lt(tv - ta < 0 ? ta - tv : tv - ta, 0.002, "bases %zu media %lld: video %.4f audio %.4f", k,
                         (long long)media, tv, ta);
            /* and it is the wall time the media was live at */
            double want = (double)(wall0 + (uint64_t)(media - 90000)) / 1000.0 + 2208988800.0;
            double got = tv - (double)(uint64_t)(tv / 4294967296.0) * 4294967296.0;
            double w = want - (double)(uint64_t)(want / 4294967296.0) * 4294967296.0;
            cr_assert_lt(got - w < 0 ? w - got : got - w, 0.002, "bases %zu media %lld", k, (long long)media);
        }
    }
}

Test(rtsp_server, config_directives)
{
    struct config_directive table[8];
    size_t n = 0;
    cr_assert_eq(rtsp_server_config_append(table, 8, &n, 0), ST_OK);
    cr_assert_eq(n, 3);
    struct rtsp_settings s;
    memset(&s, 0, sizeof(s));
    cr_assert_eq(config_set_defaults(table, n, &s), ST_OK);
    cr_assert_str_eq(s.listen, "");
    cr_assert_eq(s.session_timeout, 60000);
    cr_assert_str_eq(s.udp_port_range, "");
    char err[256];
    cr_assert_eq(config_set(table, n, &s, "rtsp_listen", "127.0.0.1:8554", err, sizeof(err)), ST_OK);
    cr_assert_str_eq(s.listen, "127.0.0.1:8554");
    cr_assert_eq(config_set(table, n, &s, "rtsp_session_timeout", "500", err, sizeof(err)), ST_ERROR, "below 1 s");
    cr_assert_eq(config_set(table, n, &s, "rtsp_listen", "bad/host:1", err, sizeof(err)), ST_ERROR);
    config_free(table, n, &s);
    cr_assert_eq(rtsp_server_config_append(table, 4, &n, 0), ST_ERROR, "table full");
}

/* ---- the real FLV ---- */

#define MAX_TAGS 64
struct flv {
    uint8_t *file;
    int n;
    struct {
        uint8_t type;
        uint32_t ts;
        const uint8_t *body;
        uint32_t len;
    } tag[MAX_TAGS];
};

static void flv_load(struct flv *f)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/codec/h264_aac_160x120.flv", SC_TEST_DATA);
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    memset(f, 0, sizeof(*f));
    f->file = malloc((size_t)len);
    cr_assert_not_null(f->file);
    cr_assert_eq(fread(f->file, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    size_t off = 13;
    while (off + 11 <= (size_t)len && f->n < MAX_TAGS) {
        const uint8_t *t = f->file + off;
        uint32_t n = rd_be24(t + 1);
        f->tag[f->n].type = t[0];
        f->tag[f->n].ts = rd_be24(t + 4) | (uint32_t)t[7] << 24;
        f->tag[f->n].body = t + 11;
        f->tag[f->n].len = n;
        f->n++;
        off += 11 + n + 4;
    }
    cr_assert_geq(f->n, 10);
}

/* ---- fixture: live registry + rtsp server on a private loop ---- */

#define KEY "live/t"

static struct {
    struct ev_loop *loop;
    struct live_settings ls;
    struct live_server live;
    struct rtsp_settings rs;
    struct rtsp_server srv;
    struct flv flv;
    struct live_stream *st;
    uint32_t next_ts; /* media timeline of the next pushed loop of the FLV */
    int port;
} F;

static void fx_start_range(long session_timeout, long queue_frames, long max_behind, const char *range);

static void fx_start(long session_timeout, long queue_frames, long max_behind)
{
    fx_start_range(session_timeout, queue_frames, max_behind, "");
}

static void fx_start_range(long session_timeout, long queue_frames, long max_behind, const char *range)
{
    memset(&F, 0, sizeof(F));
    flv_load(&F.flv);
    F.loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert_not_null(F.loop);
    F.ls.player_queue_frames = queue_frames;
    F.ls.player_max_queue = 8u << 20;
    F.ls.player_max_behind = max_behind;
    F.ls.gop_cache_frames = 900;
    F.ls.gop_cache_bytes = 16u << 20;
    F.ls.max_message_size = 1u << 20;
    F.ls.max_connections = 100;
    F.live.loop = F.loop;
    F.live.settings = &F.ls;
    live_registry_init(&F.live.registry, 900, 16u << 20);
    /* the stream exists as if published here: holds come and go around it */
    F.st = live_registry_get(&F.live.registry, KEY);
    cr_assert_not_null(F.st);
    F.st->publisher = &F;
    F.rs.listen = "127.0.0.1:0";
    F.rs.session_timeout = session_timeout;
    F.rs.udp_port_range = (char *)range;
    cr_assert_eq(rtsp_server_start(&F.srv, F.loop, &F.rs, &F.live, 0), ST_OK);
    F.port = rtsp_server_port(&F.srv);
    cr_assert_gt(F.port, 0);
}

static void fx_stop(void)
{
    rtsp_server_stop(&F.srv);
    cr_assert_eq(F.srv.stats.streams, 0, "every stream unheld");
    cr_assert_eq(F.st->holds, 0);
    cr_assert_eq(F.st->fanout.taps, NULL, "tap removed");
    live_registry_free(&F.live.registry);
    ev_loop_destroy(F.loop);
    free(F.flv.file);
    cr_assert_eq(fanout_frame_live_count(), 0, "frames leaked");
}

static void push_tag(int i, uint32_t ts)
{
    uint8_t type = F.flv.tag[i].type;
    const uint8_t *b = F.flv.tag[i].body;
    uint8_t flags = 0;
    if (type == 9 && (b[0] >> 4) == 1)
        flags |= FANOUT_FLAG_KEY;
    if ((type == 9 || type == 8) && b[1] == 0)
        flags |= FANOUT_FLAG_SEQ_HEADER;
    if (type == 18)
        flags |= FANOUT_FLAG_METADATA;
    struct fanout_frame *f = fanout_frame_new(type, flags, ts, b, F.flv.tag[i].len, 4096);
    cr_assert_not_null(f);
    fanout_stream_push(&F.st->fanout, f, live_server_now_ms(&F.live));
    fanout_frame_unref(f);
}

/* Metadata and the two sequence headers. */
static void push_headers(void)
{
    for (int i = 0; i < F.flv.n; i++) {
        const uint8_t *b = F.flv.tag[i].body;
        if (F.flv.tag[i].type == 18 || ((F.flv.tag[i].type == 8 || F.flv.tag[i].type == 9) && b[1] == 0))
            push_tag(i, 0);
    }
}

/* One loop of the FLV's media (keyframe first), continuing the timeline. */
static void push_media_loop(void)
{
    uint32_t base = F.next_ts, last = 0;
    for (int i = 0; i < F.flv.n; i++) {
        const uint8_t *b = F.flv.tag[i].body;
        uint8_t type = F.flv.tag[i].type;
        if ((type != 8 && type != 9) || b[1] != 1)
            continue; /* headers, metadata, end of sequence */
        push_tag(i, base + F.flv.tag[i].ts);
        last = F.flv.tag[i].ts;
    }
    F.next_ts = base + last + 40;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- a non-blocking client pumped next to the loop ---- */

struct cli {
    int fd;
    uint8_t buf[1 << 16];
    size_t len;
    int closed;
    uint32_t frames[256];   /* interleaved frames per channel */
    int have_seq[256];
    uint16_t last_seq[256];
    uint32_t seq_gaps;
    int first[4];           /* channels of the first interleaved frames */
    int nfirst;
    uint64_t bytes;
};

static struct cli *cli_new(int rcvbuf)
{
    struct cli *c = calloc(1, sizeof(*c));
    cr_assert_not_null(c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    cr_assert_geq(c->fd, 0);
    if (rcvbuf)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)F.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(c->fd, (struct sockaddr *)&a, sizeof(a));
    cr_assert(rc == 0 || errno == EINPROGRESS);
    return c;
}

static void cli_free(struct cli *c)
{
    close(c->fd);
    free(c);
}

static void cli_send(struct cli *c, const char *s, size_t n)
{
    size_t off = 0;
    uint64_t deadline = mono_ms() + 2000;
    while (off < n && mono_ms() < deadline) {
        ssize_t w = send(c->fd, s + off, n - off, MSG_NOSIGNAL);
        if (w > 0)
            off += (size_t)w;
        ev_run(F.loop, EVRUN_NOWAIT);
    }
    cr_assert_eq(off, n, "could not send the request");
}

/* Read what is there; count complete interleaved frames off the front. */
static void cli_read(struct cli *c)
{
    for (;;) {
        if (c->len == sizeof(c->buf))
            break;
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            c->closed = 1;
            break;
        }
        if (n < 0)
            break;
        c->len += (size_t)n;
        c->bytes += (uint64_t)n;
    }
    while (c->len >= 4 && c->buf[0] == '$') {
        size_t n = rd_be16(c->buf + 2);
        if (c->len < 4 + n)
            break;
        uint8_t ch = c->buf[1];
        if (c->nfirst < 4)
            c->first[c->nfirst++] = ch;
        c->frames[ch]++;
        if (!(ch & 1)) {
            cr_assert_geq(n, 12, "RTP header");
            cr_assert_eq(c->buf[4] >> 6, 2, "RTP version");
            uint16_t seq = rd_be16(c->buf + 6);
            if (c->have_seq[ch] && (uint16_t)(seq - c->last_seq[ch]) != 1)
                c->seq_gaps++;
            c->have_seq[ch] = 1;
            c->last_seq[ch] = seq;
        } else {
            struct rtcp_report_info info;
            const char *err;
            cr_assert_eq(rtcp_report_parse(c->buf + 4, n, &info, &err), ST_OK, "RTCP from the server");
            cr_assert(info.kinds & RTCP_REPORT_SR);
        }
        memmove(c->buf, c->buf + 4 + n, c->len - 4 - n);
        c->len -= 4 + n;
    }
}

/* Run the loop and the client for ms. */
static void pump_for(struct cli *c, int ms)
{
    uint64_t end = mono_ms() + (uint64_t)ms;
    while (mono_ms() < end) {
        ev_run(F.loop, EVRUN_NOWAIT);
        if (c)
            cli_read(c);
        poll(NULL, 0, 1);
    }
}

struct reply {
    int status;
    char head[4096];
    char body[8192];
};

/* The next response (interleaved frames before it are counted). 0 when
 * none came within ms. */
static int cli_reply(struct cli *c, int ms, struct reply *r)
{
    uint64_t end = mono_ms() + (uint64_t)ms;
    memset(r, 0, sizeof(*r));
    for (;;) {
        ev_run(F.loop, EVRUN_NOWAIT);
        cli_read(c);
        if (c->len > 0 && c->buf[0] != '$') {
            uint8_t *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
            if (e) {
                size_t hlen = (size_t)(e - c->buf);
                cr_assert_lt(hlen, sizeof(r->head));
                memcpy(r->head, c->buf, hlen);
                const char *cl = strstr(r->head, "Content-Length: ");
                size_t blen = cl ? (size_t)atol(cl + 16) : 0;
                if (c->len >= hlen + 4 + blen) {
                    cr_assert_lt(blen, sizeof(r->body));
                    memcpy(r->body, e + 4, blen);
                    cr_assert_eq(sscanf(r->head, "RTSP/1.0 %d ", &r->status), 1, "%s", r->head);
                    memmove(c->buf, e + 4 + blen, c->len - hlen - 4 - blen);
                    c->len -= hlen + 4 + blen;
                    return 1;
                }
            }
        }
        if (mono_ms() >= end || c->closed)
            return 0;
        poll(NULL, 0, 1);
    }
}

static int request(struct cli *c, const char *method, const char *url, int cseq, const char *extra,
                   struct reply *r)
{
    char req[1024];
    int n = snprintf(req, sizeof(req), "%s %s RTSP/1.0\r\nCSeq: %d\r\n%s\r\n", method, url, cseq, extra ? extra : "");
    cli_send(c, req, (size_t)n);
    cr_assert(cli_reply(c, 3000, r), "no answer to %s", method);
    char want[32];
    snprintf(want, sizeof(want), "CSeq: %d\r\n", cseq);
    cr_assert_not_null(strstr(r->head, want), "CSeq not echoed: %s", r->head);
    return r->status;
}

static void header(const struct reply *r, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = strstr(r->head, name);
    cr_assert_not_null(p, "no %s in %s", name, r->head);
    p += strlen(name);
    size_t n = strcspn(p, "\r");
    cr_assert_lt(n, cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

static char url[128];
static const char *base_url(void)
{
    snprintf(url, sizeof(url), "rtsp://127.0.0.1:%d/" KEY, F.port);
    return url;
}

/* DESCRIBE + SETUP of both tracks with the given transports; the session
 * header line ("Session: X\r\n") into sess. */
static void setup_both(struct cli *c, const char *t0, const char *t1, char *sess, size_t cap)
{
    struct reply r;
    char u[160], extra[300], id[64];
    cr_assert_eq(request(c, "DESCRIBE", base_url(), 1, "Accept: application/sdp\r\n", &r), 200);
    snprintf(u, sizeof(u), "%s/trackID=0", base_url());
    snprintf(extra, sizeof(extra), "Transport: %s\r\n", t0);
    cr_assert_eq(request(c, "SETUP", u, 2, extra, &r), 200, "%s", r.head);
    header(&r, "Session: ", id, sizeof(id));
    *strchr(id, ';') = '\0';
    snprintf(sess, cap, "Session: %s\r\n", id);
    snprintf(u, sizeof(u), "%s/trackID=1", base_url());
    snprintf(extra, sizeof(extra), "Transport: %s\r\n%s", t1, sess);
    cr_assert_eq(request(c, "SETUP", u, 3, extra, &r), 200, "%s", r.head);
}

/* ---- in-process tests ---- */

Test(rtsp_server, describe_waits_for_codec_headers)
{
    fx_start(60000, 1024, 10000);
    struct cli *c = cli_new(0);
    struct reply r;
    char req[256];
    int n = snprintf(req, sizeof(req), "DESCRIBE %s RTSP/1.0\r\nCSeq: 5\r\n\r\n", base_url());
    cli_send(c, req, (size_t)n);
    cr_assert_eq(cli_reply(c, 300, &r), 0, "answered before the stream had codec headers");
    cr_assert_eq(F.st->holds, 1, "DESCRIBE holds the stream");
    push_headers();
    cr_assert(cli_reply(c, 2000, &r));
    cr_assert_eq(r.status, 200, "%s", r.head);
    char cb[200], want[200];
    header(&r, "Content-Base: ", cb, sizeof(cb));
    snprintf(want, sizeof(want), "%s/", base_url());
    cr_assert_str_eq(cb, want);
    cr_assert_not_null(strstr(r.head, "Content-Type: application/sdp"));
    cr_assert_not_null(strstr(r.body, "a=rtpmap:96 H264/90000"), "%s", r.body);
    cr_assert_not_null(strstr(r.body, "a=rtpmap:97 mpeg4-generic/"), "%s", r.body);
    cr_assert_not_null(strstr(r.body, "a=control:trackID=1"));
    /* a path that names no app/name key: 404 at once */
    cr_assert_eq(request(c, "DESCRIBE", "rtsp://127.0.0.1/nokey", 6, NULL, &r), 404);
    cli_free(c);
    pump_for(NULL, 50);
    cr_assert_eq(F.st->holds, 0, "closing the connection unholds");
    fx_stop();
}

Test(rtsp_server, tcp_interleaved_play)
{
    fx_start(60000, 1024, 10000);
    push_headers();
    push_media_loop(); /* a GOP already cached when the player comes */
    struct cli *c = cli_new(0);
    char sess[80], extra[200];
    setup_both(c, "RTP/AVP/TCP;unicast;interleaved=0-1", "RTP/AVP/TCP;unicast;interleaved=2-3", sess, sizeof(sess));
    struct reply r;
    snprintf(extra, sizeof(extra), "%sRange: npt=0.000-\r\n", sess);
    cr_assert_eq(request(c, "PLAY", base_url(), 4, extra, &r), 200);
    char info[400];
    header(&r, "RTP-Info: ", info, sizeof(info));
    cr_assert_not_null(strstr(info, "/trackID=0;seq="), "%s", info);
    cr_assert_not_null(strstr(info, "/trackID=1;seq="), "%s", info);
    for (int i = 0; i < 5; i++) {
        push_media_loop();
        pump_for(c, 20);
    }
    pump_for(c, 100);
    cr_assert_eq(c->nfirst, 4);
    cr_assert((c->first[0] == 1 && c->first[1] == 3) || (c->first[0] == 3 && c->first[1] == 1),
              "sender reports first, got channels %d %d", c->first[0], c->first[1]);
    cr_assert_gt(c->frames[0], 20, "video packets: %u", c->frames[0]);
    cr_assert_gt(c->frames[2], 20, "audio packets: %u", c->frames[2]);
    cr_assert_eq(c->seq_gaps, 0);
    cr_assert_eq(F.srv.stats.packets_out, c->frames[0] + c->frames[2]);
    cr_assert_eq(F.srv.stats.sessions, 1);
    cr_assert_eq(F.srv.stats.sessions_tcp, 1);
    /* keep-alive and teardown */
    cr_assert_eq(request(c, "GET_PARAMETER", base_url(), 5, sess, &r), 200);
    cr_assert_eq(request(c, "TEARDOWN", base_url(), 6, sess, &r), 200);
    cr_assert_eq(F.srv.stats.sessions, 0);
    cr_assert_eq(request(c, "PLAY", base_url(), 7, sess, &r), 454, "the session is gone");
    cli_free(c);
    pump_for(NULL, 50);
    fx_stop();
}

Test(rtsp_server, udp_play)
{
    fx_start(60000, 1024, 10000);
    push_headers();
    push_media_loop();
    int u[2];
    uint16_t port[2];
    for (int i = 0; i < 2; i++) {
        u[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        cr_assert_eq(bind(u[i], (struct sockaddr *)&a, sizeof(a)), 0);
        socklen_t len = sizeof(a);
        getsockname(u[i], (struct sockaddr *)&a, &len);
        port[i] = ntohs(a.sin_port);
    }
    struct cli *c = cli_new(0);
    struct reply r;
    char u0[160], extra[300], tr[300], id[64];
    cr_assert_eq(request(c, "DESCRIBE", base_url(), 1, NULL, &r), 200);
    snprintf(u0, sizeof(u0), "%s/trackID=0", base_url());
    snprintf(extra, sizeof(extra), "Transport: RTP/AVP/UDP;unicast;client_port=%u-%u\r\n", port[0], port[1]);
    cr_assert_eq(request(c, "SETUP", u0, 2, extra, &r), 200, "%s", r.head);
    header(&r, "Transport: ", tr, sizeof(tr));
    unsigned sp0, sp1;
    const char *sp = strstr(tr, "server_port=");
    cr_assert_not_null(sp, "%s", tr);
    cr_assert_eq(sscanf(sp, "server_port=%u-%u", &sp0, &sp1), 2);
    cr_assert_eq(sp1, sp0 + 1);
    cr_assert_eq(sp0 % 2, 0, "RTP on an even port");
    header(&r, "Session: ", id, sizeof(id));
    *strchr(id, ';') = '\0';
    snprintf(extra, sizeof(extra), "Session: %s\r\n", id);
    cr_assert_eq(request(c, "PLAY", base_url(), 3, extra, &r), 200);
    for (int i = 0; i < 5; i++) {
        push_media_loop();
        pump_for(c, 20);
    }
    unsigned rtp = 0, sr = 0, gaps = 0, from_server_port = 1;
    int have = 0;
    uint16_t last = 0;
    uint8_t d[2048];
    for (int i = 0; i < 2; i++) {
        struct sockaddr_in from;
        socklen_t flen = sizeof(from);
        ssize_t n;
        while ((n = recvfrom(u[i], d, sizeof(d), 0, (struct sockaddr *)&from, &flen)) > 0) {
            if (ntohs(from.sin_port) != (i ? sp1 : sp0))
                from_server_port = 0;
            if (i == 0) {
                rtp++;
                uint16_t seq = rd_be16(d + 2);
                if (have && (uint16_t)(seq - last) != 1)
                    gaps++;
                have = 1;
                last = seq;
            } else if (n >= 28 && d[1] == RTCP_REPORT_PT_SR) {
                sr++;
            }
        }
    }
    cr_assert_gt(rtp, 20);
    cr_assert_eq(gaps, 0);
    cr_assert_geq(sr, 1, "SR at PLAY");
    cr_assert(from_server_port, "datagrams come from the announced server ports");
    cr_assert_eq(F.srv.stats.packets_out, rtp);
    cr_assert_eq(F.srv.stats.sessions_udp, 1);
    cli_free(c);
    pump_for(NULL, 50);
    cr_assert_eq(F.srv.stats.sessions, 0, "the session ends with its connection");
    close(u[0]);
    close(u[1]);
    fx_stop();
}

Test(rtsp_server, pipelined_requests_and_status_codes)
{
    fx_start(60000, 1024, 10000);
    push_headers();
    struct cli *c = cli_new(0);
    char two[512];
    int n = snprintf(two, sizeof(two),
                     "OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\nDESCRIBE %s RTSP/1.0\r\nCSeq: 2\r\n\r\n"
                     "GET_PARAMETER * RTSP/1.0\r\nCSeq: 3\r\nContent-Length: 4\r\n\r\nabcd",
                     base_url());
    cli_send(c, two, (size_t)n);
    struct reply r;
    cr_assert(cli_reply(c, 2000, &r));
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(r.head, "CSeq: 1\r\n"));
    cr_assert_not_null(strstr(r.head, "Public: OPTIONS, DESCRIBE, SETUP, PLAY"));
    cr_assert(cli_reply(c, 2000, &r));
    cr_assert_not_null(strstr(r.head, "CSeq: 2\r\n"), "answers in order: %s", r.head);
    cr_assert(cli_reply(c, 2000, &r));
    cr_assert_not_null(strstr(r.head, "CSeq: 3\r\n"));
    char u[160];
    snprintf(u, sizeof(u), "%s/trackID=0", base_url());
    cr_assert_eq(request(c, "SETUP", u, 4, "Transport: RTP/AVP;multicast\r\n", &r), 461);
    cr_assert_eq(request(c, "SETUP", u, 5, NULL, &r), 461, "no Transport");
    cr_assert_eq(request(c, "SETUP", u, 6, "Transport: RTP/AVP;unicast;client_port=9-x\r\n", &r), 400);
    cr_assert_eq(request(c, "SETUP", base_url(), 7, "Transport: RTP/AVP/TCP;interleaved=0-1\r\n", &r), 459);
    cr_assert_eq(request(c, "PLAY", base_url(), 8, "Session: 123\r\n", &r), 454);
    cr_assert_eq(request(c, "PLAY", base_url(), 9, NULL, &r), 454);
    cr_assert_eq(request(c, "ANNOUNCE", base_url(), 10, NULL, &r), 405);
    cr_assert_eq(request(c, "OPTIONS", "*", 11, "Require: funky-feature\r\n", &r), 551);
    cr_assert_not_null(strstr(r.head, "Unsupported: funky-feature"));
    cr_assert_eq(request(c, "SETUP", u, 12, "Transport: RTP/AVP/TCP;interleaved=0-1\r\n", &r), 200);
    char other[200];
    snprintf(other, sizeof(other), "rtsp://127.0.0.1:%d/live/other/trackID=0", F.port);
    cr_assert_eq(request(c, "SETUP", other, 13, "Transport: RTP/AVP/TCP;interleaved=2-3\r\n", &r), 459,
                 "one stream per connection");
    cli_free(c);
    pump_for(NULL, 50);
    fx_stop();
}

Test(rtsp_server, malformed_request_closes_that_connection_only)
{
    fx_start(60000, 1024, 10000);
    push_headers();
    struct cli *good = cli_new(0), *bad = cli_new(0);
    char sess[80];
    setup_both(good, "RTP/AVP/TCP;unicast;interleaved=0-1", "RTP/AVP/TCP;unicast;interleaved=2-3", sess, sizeof(sess));
    struct reply r;
    cr_assert_eq(request(good, "PLAY", base_url(), 4, sess, &r), 200);
    static const char junk[] = "OPTIONS * RTSP/1.0\r\nCSeq: 9\r\nX: a\0b\r\n\r\nOPTIONS * RTSP/1.0\r\nCSeq: 10\r\n\r\n";
    cli_send(bad, junk, sizeof(junk) - 1);
    cr_assert(cli_reply(bad, 2000, &r));
    cr_assert_eq(r.status, 400);
    cr_assert_not_null(strstr(r.head, "CSeq: 9\r\n"));
    cr_assert_eq(cli_reply(bad, 300, &r), 0, "nothing answered after the bad request");
    shutdown(bad->fd, SHUT_WR);
    pump_for(bad, 200);
    cr_assert(bad->closed, "the bad connection is closed");
    cr_assert_eq(F.srv.stats.bad_requests, 1);
    uint32_t before = good->frames[0];
    push_media_loop();
    push_media_loop();
    pump_for(good, 100);
    cr_assert_gt(good->frames[0], before, "the good player goes on");
    cr_assert_not(good->closed);
    cli_free(good);
    cli_free(bad);
    pump_for(NULL, 50);
    fx_stop();
}

Test(rtsp_server, silent_session_times_out)
{
    fx_start(400, 1024, 10000);
    push_headers();
    struct cli *c = cli_new(0);
    char sess[80];
    setup_both(c, "RTP/AVP/TCP;unicast;interleaved=0-1", "RTP/AVP/TCP;unicast;interleaved=2-3", sess, sizeof(sess));
    struct reply r;
    cr_assert_eq(request(c, "PLAY", base_url(), 4, sess, &r), 200);
    cr_assert_not_null(strstr(r.head, "Session: "), "%s", r.head);
    uint64_t t0 = mono_ms();
    while (!c->closed && mono_ms() - t0 < 3000)
        pump_for(c, 20);
    cr_assert(c->closed, "silent session kept");
    uint64_t took = mono_ms() - t0;
    cr_assert_geq(took, 350);
    cr_assert_leq(took, 1500);
    cr_assert_eq(F.srv.stats.sessions_timed_out, 1);
    cr_assert_eq(F.srv.stats.sessions, 0);
    cli_free(c);
    fx_stop();
}

Test(rtsp_server, keepalive_rtcp_keeps_a_session)
{
    fx_start(400, 1024, 10000);
    push_headers();
    struct cli *c = cli_new(0);
    char sess[80];
    setup_both(c, "RTP/AVP/TCP;unicast;interleaved=0-1", "RTP/AVP/TCP;unicast;interleaved=2-3", sess, sizeof(sess));
    struct reply r;
    cr_assert_eq(request(c, "PLAY", base_url(), 4, sess, &r), 200);
    /* an RTCP receiver report on channel 1 every 150 ms, as players send */
    static const uint8_t rr[] = {'$', 1, 0, 8, 0x80, 201, 0, 1, 0x12, 0x34, 0x56, 0x78};
    for (int i = 0; i < 10; i++) {
        cli_send(c, (const char *)rr, sizeof(rr));
        pump_for(c, 150);
    }
    cr_assert_not(c->closed, "RTCP counts as keep-alive");
    cr_assert_geq(F.srv.stats.rtcp_in, 10);
    cr_assert_eq(F.srv.stats.sessions_timed_out, 0);
    cli_free(c);
    pump_for(NULL, 50);
    fx_stop();
}

Test(rtsp_server, reader_that_never_reads_is_dropped)
{
    fx_start(60000, 64, 300);
    push_headers();
    struct cli *c = cli_new(2048);
    char sess[80];
    setup_both(c, "RTP/AVP/TCP;unicast;interleaved=0-1", "RTP/AVP/TCP;unicast;interleaved=2-3", sess, sizeof(sess));
    struct reply r;
    cr_assert_eq(request(c, "PLAY", base_url(), 4, sess, &r), 200);
    /* from now on the client reads nothing */
    uint64_t t0 = mono_ms();
    while (F.srv.stats.sessions > 0 && mono_ms() - t0 < 5000) {
        for (int i = 0; i < 20; i++)
            push_media_loop();
        uint64_t end = mono_ms() + 10;
        while (mono_ms() < end)
            ev_run(F.loop, EVRUN_NOWAIT);
    }
    cr_assert_eq(F.srv.stats.sessions, 0, "a player that never reads is closed");
    cr_assert_eq(F.srv.stats.sessions_dropped_slow, 1);
    cr_assert_gt(F.srv.stats.frames_dropped, 0);
    cli_free(c);
    pump_for(NULL, 50);
    fx_stop();
}

/* Two RTP/RTCP pairs in the range: two tracks get them (RTP even, RTCP
 * next), a third SETUP gets 453 and leaves no session behind, and closing
 * the first player gives the ports back. */
Test(rtsp_server, udp_port_range_exhausted)
{
    /* a range of four ports that are free right now */
    int probe = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(probe, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(probe, (struct sockaddr *)&a, &len);
    close(probe);
    unsigned lo = (ntohs(a.sin_port) & ~3u) < 1024 ? 40000 : (ntohs(a.sin_port) & ~3u);
    char range[32];
    snprintf(range, sizeof(range), "%u-%u", lo, lo + 3);
    fx_start_range(60000, 1024, 10000, range);
    push_headers();
    struct cli *c = cli_new(0), *d = cli_new(0);
    char sess[80];
    setup_both(c, "RTP/AVP;unicast;client_port=5000-5001", "RTP/AVP;unicast;client_port=5002-5003", sess,
               sizeof(sess));
    struct reply r;
    char u[160];
    cr_assert_eq(request(d, "DESCRIBE", base_url(), 1, NULL, &r), 200);
    snprintf(u, sizeof(u), "%s/trackID=0", base_url());
    cr_assert_eq(request(d, "SETUP", u, 2, "Transport: RTP/AVP;unicast;client_port=5004-5005\r\n", &r), 453);
    cr_assert_null(strstr(r.head, "Session:"));
    cr_assert_eq(F.srv.stats.sessions, 1, "the failed SETUP left no session");
    cli_free(c);
    pump_for(NULL, 50);
    cr_assert_eq(request(d, "SETUP", u, 3, "Transport: RTP/AVP;unicast;client_port=5004-5005\r\n", &r), 200);
    char tr[200];
    header(&r, "Transport: ", tr, sizeof(tr));
    unsigned sp0 = 0, sp1 = 0;
    cr_assert_eq(sscanf(strstr(tr, "server_port="), "server_port=%u-%u", &sp0, &sp1), 2);
    cr_assert(sp0 == lo || sp0 == lo + 2, "port %u outside %s", sp0, range);
    cr_assert_eq(sp1, sp0 + 1);
    cli_free(d);
    pump_for(NULL, 50);
    fx_stop();
}
