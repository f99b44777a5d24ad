/*
 * bench_publisher: publishes a pre-encoded H.264+AAC FLV file over RTMP in
 * real time, N streams at once from one libev loop, for as long as asked.
 *
 * The file is read into memory once (it is generated beforehand by
 * compare.sh with ffmpeg; nothing is encoded here). Each stream sends
 * onMetaData and the codec headers once, then the media tags paced on the
 * monotonic clock, looping the file with continuous timestamps. Every video
 * frame gets a wall-clock stamp (an SEI NAL, bench_common.h) written at the
 * moment the frame is handed to the socket, which bench_players turns into
 * delivery lag.
 *
 * Stream names: the URL's name when --streams is 1, else NAME-0 .. NAME-(N-1).
 * Output: one summary line on stdout ("bench_publisher: key=value ...").
 * Exit status 0 when every stream published until the end, 1 when one
 * failed, 2 on a usage or setup error.
 */
#include "bench_common.h"

#include "amf/amf0.h"
#include "core/buf.h"
#include "core/status.h"
#include "flv/flv_tag.h"
#include "rtmp/rtmp_chunk_reader.h"
#include "rtmp/rtmp_chunk_writer.h"
#include "rtmp/rtmp_handshake.h"
#include "rtmp/rtmp_message.h"

#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OUT_MAX (16u << 20) /* a server this far behind has failed */
#define CSID_AUDIO 4
#define CSID_VIDEO 6
#define CSID_DATA 5

struct tag {
    uint8_t type;
    uint32_t ts; /* ms from the first media tag */
    uint32_t size;
    const uint8_t *body;
};

enum step { STEP_TCP, STEP_HANDSHAKE, STEP_CONNECT, STEP_CREATE, STEP_PUBLISH, STEP_LIVE, STEP_DEAD };

struct pub {
    int id, fd;
    char name[300];
    ev_io rio, wio;
    ev_timer tick;
    enum step step;
    const char *error;
    struct rtmp_handshake hs;
    struct rtmp_chunk_reader rd;
    int rd_ready;
    struct buf out;
    uint32_t msid;
    uint64_t t_live;   /* mono µs when media started */
    size_t next;       /* next media tag */
    uint64_t loops;
    uint64_t frames, bytes;
    uint64_t late_max; /* µs a tag went out after its due time */
};

static struct {
    struct ev_loop *loop;
    struct bench_url url;
    int nstreams;
    double duration;
    uint32_t chunk;
    uint8_t *file;
    struct tag *tags;
    size_t ntags;
    const struct tag *meta, *avc_header, *aac_header;
    uint32_t period; /* ms of one loop of the file */
    unsigned nal_len;
    uint8_t *scratch;
    struct pub *pubs;
    ev_timer finish;
    ev_signal sigint, sigterm;
} g;

static void pub_fail(struct pub *p, const char *why)
{
    if (p->step == STEP_DEAD)
        return;
    if (!p->error)
        p->error = why;
    fprintf(stderr, "bench_publisher: stream %s: %s\n", p->name, p->error);
    p->step = STEP_DEAD;
    ev_io_stop(g.loop, &p->rio);
    ev_io_stop(g.loop, &p->wio);
    ev_timer_stop(g.loop, &p->tick);
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

static void pub_flush(struct pub *p)
{
    while (p->out.len > 0) {
        ssize_t n = write(p->fd, p->out.data, p->out.len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                ev_io_start(g.loop, &p->wio);
                return;
            }
            pub_fail(p, "write failed");
            return;
        }
        buf_consume(&p->out, (size_t)n);
    }
    ev_io_stop(g.loop, &p->wio);
}

static int put(struct pub *p, uint32_t csid, uint8_t type, uint32_t ts, const uint8_t *body, uint32_t len)
{
    struct rtmp_message_header h = {.csid = csid, .type = type, .timestamp = ts, .stream_id = p->msid};
    if (rtmp_chunk_writer_append(&p->out, &h, body, len, g.chunk) != ST_OK) {
        pub_fail(p, "server not reading: output buffer full");
        return ST_ERROR;
    }
    p->frames++;
    p->bytes += len;
    return ST_OK;
}

/* Video frames get the wall-clock SEI in front of their NALs. */
static int put_tag(struct pub *p, const struct tag *t, uint32_t ts)
{
    if (t->type == FLV_TAG_VIDEO && t->size > 5 && (t->body[0] & 0x0f) == 7 && t->body[1] == 1) {
        memcpy(g.scratch, t->body, 5);
        size_t n = bench_stamp_write(g.scratch + 5, g.nal_len, bench_wall_us());
        memcpy(g.scratch + 5 + n, t->body + 5, t->size - 5);
        return put(p, CSID_VIDEO, RTMP_MSG_VIDEO, ts, g.scratch, (uint32_t)(t->size + n));
    }
    uint32_t csid = t->type == FLV_TAG_AUDIO ? CSID_AUDIO : t->type == FLV_TAG_VIDEO ? CSID_VIDEO : CSID_DATA;
    return put(p, csid, t->type, ts, t->body, t->size);
}

static void schedule(struct pub *p)
{
    uint64_t due = p->t_live + ((uint64_t)g.tags[p->next].ts + p->loops * g.period) * 1000u;
    uint64_t now = bench_mono_us();
    ev_timer_set(&p->tick, due > now ? (double)(due - now) / 1e6 : 0, 0);
    ev_timer_start(g.loop, &p->tick);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pub *p = w->data;
    uint64_t now = bench_mono_us();
    for (;;) {
        const struct tag *t = &g.tags[p->next];
        uint64_t ts = (uint64_t)t->ts + p->loops * g.period;
        uint64_t due = p->t_live + ts * 1000u;
        if (due > now)
            break;
        if (now - due > p->late_max)
            p->late_max = now - due;
        if (put_tag(p, t, (uint32_t)ts) != ST_OK)
            return;
        if (++p->next == g.ntags) {
            p->next = 0;
            p->loops++;
        }
    }
    pub_flush(p);
    if (p->step == STEP_LIVE)
        schedule(p);
}

static void go_live(struct pub *p)
{
    p->step = STEP_LIVE;
    if (bench_rtmp_control32(&p->out, RTMP_MSG_SET_CHUNK_SIZE, g.chunk) != ST_OK) {
        pub_fail(p, "output buffer full");
        return;
    }
    if (g.meta) {
        /* Publishers wrap metadata in @setDataFrame; servers store onMetaData. */
        struct buf b;
        buf_init(&b, (size_t)g.meta->size + 64);
        int rc = amf0_write_cstring(&b, "@setDataFrame");
        rc |= buf_append(&b, g.meta->body, g.meta->size);
        if (rc == ST_OK)
            rc = put(p, CSID_DATA, RTMP_MSG_DATA_AMF0, 0, b.data, (uint32_t)b.len);
        buf_free(&b);
        if (rc != ST_OK)
            return;
    }
    if (g.avc_header && put(p, CSID_VIDEO, RTMP_MSG_VIDEO, 0, g.avc_header->body, g.avc_header->size) != ST_OK)
        return;
    if (g.aac_header && put(p, CSID_AUDIO, RTMP_MSG_AUDIO, 0, g.aac_header->body, g.aac_header->size) != ST_OK)
        return;
    p->t_live = bench_mono_us();
    on_tick(g.loop, &p->tick, 0);
}

static int on_command(struct pub *p, const struct rtmp_message *m)
{
    struct amf_value *v = NULL;
    size_t n = 0;
    const char *err = NULL;
    if (amf0_decode_all(m->payload, m->length, 8, &v, &n, &err) != ST_OK) {
        p->error = "bad AMF0 command";
        return ST_ERROR;
    }
    int rc = ST_OK;
    const char *name = n > 0 && v[0].type == AMF_STRING ? v[0].str : "";
    double txn = n > 1 && v[1].type == AMF_NUMBER ? v[1].num : -1;
    if (strcmp(name, "_result") == 0 && p->step == STEP_CONNECT && txn == 1) {
        rc = bench_rtmp_create_stream(&p->out, 2);
        p->step = STEP_CREATE;
    } else if (strcmp(name, "_result") == 0 && p->step == STEP_CREATE && txn == 2) {
        p->msid = n > 3 && v[3].type == AMF_NUMBER ? (uint32_t)v[3].num : 1;
        rc = bench_rtmp_publish(&p->out, p->msid, p->name);
        p->step = STEP_PUBLISH;
    } else if (strcmp(name, "_error") == 0) {
        p->error = "server answered _error";
        rc = ST_ERROR;
    } else if (strcmp(name, "onStatus") == 0 && n > 3) {
        const char *code = amf_value_get_string(&v[3], "code");
        if (code && strcmp(code, "NetStream.Publish.Start") == 0 && p->step == STEP_PUBLISH) {
            amf_values_free(v, n);
            go_live(p);
            return p->step == STEP_DEAD ? ST_ERROR : ST_OK;
        }
        if (code && (strstr(code, "BadName") || strstr(code, "Failed") || strstr(code, "Rejected"))) {
            p->error = "publish refused";
            rc = ST_ERROR;
        }
    }
    amf_values_free(v, n);
    return rc;
}

static int on_input(struct pub *p, const uint8_t *in, size_t n)
{
    size_t used = 0;
    if (p->step == STEP_HANDSHAKE) {
        int rc = rtmp_handshake_feed(&p->hs, in, n, &used, &p->out);
        if (rc == ST_ERROR) {
            p->error = p->hs.error;
            return ST_ERROR;
        }
        if (rc == ST_AGAIN)
            return ST_OK;
        if (rtmp_chunk_reader_init(&p->rd, 1 << 24, 16 << 20) != ST_OK)
            return ST_ERROR;
        p->rd_ready = 1;
        if (bench_rtmp_connect(&p->out, &g.url, 1) != ST_OK)
            return ST_ERROR;
        p->step = STEP_CONNECT;
    }
    while (used < n && p->step != STEP_DEAD) {
        struct rtmp_message m;
        size_t k = 0;
        int rc = rtmp_chunk_reader_feed(&p->rd, in + used, n - used, &k, &m);
        used += k;
        if (rc == ST_AGAIN)
            break;
        if (rc != ST_OK) {
            p->error = p->rd.error;
            return ST_ERROR;
        }
        if (m.type == RTMP_MSG_SET_CHUNK_SIZE && m.length >= 4)
            rtmp_chunk_reader_set_chunk_size(&p->rd, rd_be32(m.payload) & 0x7fffffff);
        else if (m.type == RTMP_MSG_USER_CONTROL && m.length >= 6 && rd_be16(m.payload) == RTMP_UC_PING_REQUEST)
            bench_rtmp_ping_response(&p->out, rd_be32(m.payload + 2));
        else if (m.type == RTMP_MSG_COMMAND_AMF0 && on_command(p, &m) != ST_OK)
            return ST_ERROR;
    }
    return ST_OK;
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pub *p = w->data;
    uint8_t in[16384];
    ssize_t n = read(p->fd, in, sizeof(in));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        pub_fail(p, n == 0 ? "closed by server" : "read error");
        return;
    }
    if (n < 0)
        return;
    if (on_input(p, in, (size_t)n) != ST_OK) {
        pub_fail(p, "protocol error");
        return;
    }
    if (p->step != STEP_DEAD && p->out.len)
        pub_flush(p);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pub *p = w->data;
    if (p->step == STEP_TCP) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            pub_fail(p, "tcp connect failed");
            return;
        }
        if (rtmp_handshake_client_start(&p->hs, &p->out) != ST_OK) {
            pub_fail(p, "handshake start failed");
            return;
        }
        p->step = STEP_HANDSHAKE;
        ev_io_start(loop, &p->rio);
    }
    pub_flush(p);
}

static void on_finish(struct ev_loop *loop, ev_timer *w, int revents) { ev_break(loop, EVBREAK_ALL); }
static void on_signal(struct ev_loop *loop, ev_signal *w, int revents) { ev_break(loop, EVBREAK_ALL); }

static int load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ST_ERROR;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(size > 0 ? (size_t)size : 1);
    if (!data || size <= 0 || fread(data, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(data);
        return ST_ERROR;
    }
    fclose(f);
    /* Tags are copied into one block so their bodies stay valid. */
    g.file = malloc((size_t)size);
    g.tags = calloc((size_t)size / 16 + 1, sizeof(*g.tags));
    struct flv_reader r;
    if (!g.file || !g.tags || flv_reader_init(&r, 16u << 20) != ST_OK) {
        free(data);
        return ST_ERROR;
    }
    size_t off = 0, used_store = 0, maxsize = 0;
    uint32_t first = UINT32_MAX, last = 0, v_first = 0, v_last = 0, nvideo = 0;
    int rc = ST_OK;
    while (off < (size_t)size) {
        struct flv_tag t;
        size_t k = 0;
        rc = flv_reader_feed(&r, data + off, (size_t)size - off, &k, &t);
        off += k;
        if (rc == ST_AGAIN)
            break;
        if (rc != ST_OK) {
            fprintf(stderr, "bench_publisher: %s: %s\n", path, r.error);
            break;
        }
        memcpy(g.file + used_store, t.body, t.size);
        struct tag tag = {t.type, t.timestamp, t.size, g.file + used_store};
        used_store += t.size;
        if (t.size > maxsize)
            maxsize = t.size;
        if (t.type == FLV_TAG_SCRIPT) {
            if (!g.meta)
                g.meta = &g.tags[g.ntags];
            else
                continue;
        } else if (t.type == FLV_TAG_VIDEO && t.size > 9 && t.body[1] == 0) {
            if (!g.avc_header) {
                g.avc_header = &g.tags[g.ntags];
                g.nal_len = (t.body[9] & 3) + 1u;
            }
            else
                continue;
        } else if (t.type == FLV_TAG_AUDIO && t.size >= 2 && (t.body[0] >> 4) == 10 && t.body[1] == 0) {
            if (!g.aac_header)
                g.aac_header = &g.tags[g.ntags];
            else
                continue;
        } else {
            if (t.timestamp < first)
                first = t.timestamp;
            if (t.timestamp > last)
                last = t.timestamp;
            if (t.type == FLV_TAG_VIDEO) {
                if (nvideo++ == 0)
                    v_first = t.timestamp;
                v_last = t.timestamp;
            }
        }
        g.tags[g.ntags++] = tag;
    }
    flv_reader_free(&r);
    free(data);
    if (rc == ST_ERROR || first == UINT32_MAX)
        return ST_ERROR;
    /* Headers live in their own slots; keep only media in the paced list. */
    struct tag *media = calloc(g.ntags, sizeof(*media));
    struct tag meta = {0}, avc = {0}, aac = {0};
    int has_meta = g.meta != NULL, has_avc = g.avc_header != NULL, has_aac = g.aac_header != NULL;
    if (has_meta)
        meta = *g.meta;
    if (has_avc)
        avc = *g.avc_header;
    if (has_aac)
        aac = *g.aac_header;
    size_t nm = 0;
    for (size_t i = 0; media && i < g.ntags; i++) {
        const struct tag *t = &g.tags[i];
        if (t == g.meta || t == g.avc_header || t == g.aac_header)
            continue;
        media[nm] = *t;
        media[nm].ts -= first;
        nm++;
    }
    if (!media || nm == 0)
        return ST_ERROR;
    /* From here g.tags is the media list; headers moved to a small array. */
    static struct tag headers[3];
    headers[0] = meta;
    headers[1] = avc;
    headers[2] = aac;
    g.meta = has_meta ? &headers[0] : NULL;
    g.avc_header = has_avc ? &headers[1] : NULL;
    g.aac_header = has_aac ? &headers[2] : NULL;
    free(g.tags);
    g.tags = media;
    g.ntags = nm;
    uint32_t interval = nvideo > 1 ? (v_last - v_first) / (nvideo - 1) : 33;
    g.period = last - first + (interval ? interval : 33);
    if (!g.nal_len)
        g.nal_len = 4;
    g.scratch = malloc(maxsize + BENCH_STAMP_NAL_SIZE + 16);
    return g.scratch ? ST_OK : ST_ERROR;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_publisher --url rtmp://HOST:PORT/APP/NAME --file F.flv [options]\n"
                    "  -s, --streams N     streams (names NAME-0..NAME-N-1 when N > 1; default 1)\n"
                    "  -t, --duration S    run time (default 20)\n"
                    "      --chunk-size B  outgoing chunk size (default 4096)\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"url", required_argument, 0, 'u'},
                                         {"file", required_argument, 0, 'f'},
                                         {"streams", required_argument, 0, 's'},
                                         {"duration", required_argument, 0, 't'},
                                         {"chunk-size", required_argument, 0, 'c'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *url = NULL, *file = NULL;
    g.nstreams = 1;
    g.duration = 20;
    g.chunk = 4096;
    int o;
    while ((o = getopt_long(argc, argv, "u:f:s:t:h", opts, NULL)) != -1) {
        switch (o) {
        case 'u': url = optarg; break;
        case 'f': file = optarg; break;
        case 's': g.nstreams = atoi(optarg); break;
        case 't': g.duration = atof(optarg); break;
        case 'c': g.chunk = (uint32_t)atoi(optarg); break;
        default: usage(); return o == 'h' ? 0 : 2;
        }
    }
    if (!url || !file || g.nstreams <= 0 || g.duration <= 0 || g.chunk < 128 || g.chunk > 65536) {
        usage();
        return 2;
    }
    if (bench_url_parse(url, &g.url) != ST_OK || strcmp(g.url.scheme, "rtmp") != 0) {
        fprintf(stderr, "bench_publisher: bad url %s\n", url);
        return 2;
    }
    if (load_file(file) != ST_OK) {
        fprintf(stderr, "bench_publisher: cannot load %s (need an FLV with media)\n", file);
        return 2;
    }
    bench_raise_nofile(g.nstreams + 64);
    signal(SIGPIPE, SIG_IGN);
    g.loop = ev_default_loop(EVFLAG_AUTO);
    g.pubs = calloc((size_t)g.nstreams, sizeof(*g.pubs));
    if (!g.pubs)
        return 2;
    for (int i = 0; i < g.nstreams; i++) {
        struct pub *p = &g.pubs[i];
        p->id = i;
        p->fd = -1;
        buf_init(&p->out, OUT_MAX);
        if (g.nstreams == 1)
            snprintf(p->name, sizeof(p->name), "%s", g.url.name);
        else
            snprintf(p->name, sizeof(p->name), "%s-%d", g.url.name, i);
        ev_timer_init(&p->tick, on_tick, 0, 0);
        p->tick.data = p;
        if (bench_tcp_connect(g.url.host, g.url.port, 0, &p->fd) != ST_OK) {
            pub_fail(p, strerror(errno));
            continue;
        }
        ev_io_init(&p->rio, on_read, p->fd, EV_READ);
        ev_io_init(&p->wio, on_write, p->fd, EV_WRITE);
        p->rio.data = p->wio.data = p;
        ev_io_start(g.loop, &p->wio);
    }
    ev_timer_init(&g.finish, on_finish, g.duration, 0);
    ev_timer_start(g.loop, &g.finish);
    ev_signal_init(&g.sigint, on_signal, SIGINT);
    ev_signal_start(g.loop, &g.sigint);
    ev_signal_init(&g.sigterm, on_signal, SIGTERM);
    ev_signal_start(g.loop, &g.sigterm);
    uint64_t t0 = bench_mono_us();
    ev_run(g.loop, 0);
    double wall = (double)(bench_mono_us() - t0) / 1e6;

    int live = 0, failed = 0;
    uint64_t frames = 0, bytes = 0, late = 0, loops = 0;
    for (int i = 0; i < g.nstreams; i++) {
        struct pub *p = &g.pubs[i];
        if (p->step == STEP_LIVE)
            live++;
        else
            failed++;
        frames += p->frames;
        bytes += p->bytes;
        loops += p->loops;
        if (p->late_max > late)
            late = p->late_max;
        if (p->fd >= 0)
            close(p->fd);
        if (p->rd_ready)
            rtmp_chunk_reader_free(&p->rd);
        buf_free(&p->out);
    }
    printf("bench_publisher: streams=%d live=%d failed=%d frames=%llu bytes=%llu mbps=%.2f loops=%llu "
           "late_ms_max=%.1f cpu_pct=%.0f\n",
           g.nstreams, live, failed, (unsigned long long)frames, (unsigned long long)bytes,
           wall > 0 ? (double)bytes * 8 / wall / 1e6 : 0, (unsigned long long)loops, (double)late / 1000.0,
           wall > 0 ? bench_self_cpu_s() / wall * 100 : 0);
    fflush(stdout);
    free(g.pubs);
    free(g.tags);
    free(g.file);
    free(g.scratch);
    return failed ? 1 : 0;
}
