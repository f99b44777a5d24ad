/*
 * bench_players: a load generator of N live players in one process, on one
 * libev loop.
 *
 * Each connection opens a TCP socket to the server, speaks the protocol
 * (RTMP now: simple handshake, connect, createStream, play; the protocol is a
 * small ops table so HTTP-FLV can be added as a second one), and measures:
 * time from TCP connect to the first video keyframe, bytes and media
 * messages received, stalls (a gap of more than 2 s between media messages),
 * and delivery lag: now - the wall-clock stamp bench_publisher put in each
 * video frame (bench_common.h). Lag is only sampled for live frames (stamped
 * after the player asked to play: GOP-cache frames are history, not lag) and,
 * for the summary percentiles, only in the steady window (after the ramp and
 * --settle seconds).
 *
 * Slow mode: a fraction of players read at --slow-kbps (e.g. a quarter of the
 * stream rate) through a token bucket; their lag is how far behind live they
 * get, reported separately with whether the server disconnected them.
 *
 * Output: one summary line on stdout ("bench_players: key=value ..."), a
 * per-connection CSV with --csv. Memory: per connection, one struct plus the
 * chunk reader's reassembly buffers; one shared read buffer. Exit status 0
 * when the run completed (failures are reported in the summary), 2 on a
 * usage or setup error.
 */
#include "bench_common.h"

#include "amf/amf0.h"
#include "core/buf.h"
#include "core/status.h"
#include "rtmp/rtmp_chunk_reader.h"
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

#define STALL_US 2000000u
#define READ_BUF (256 * 1024)
#define OUT_MAX (64 * 1024)

enum conn_end { END_RUNNING, END_FAILED, END_DISCONNECTED, END_FINISHED };
static const char *const end_names[] = {"running", "failed", "disconnected", "finished"};

enum rtmp_step { STEP_TCP, STEP_HANDSHAKE, STEP_CONNECT, STEP_CREATE, STEP_PLAY };

struct bench_conn;

/* A player protocol: how to open the conversation and what to do with bytes. */
struct bench_proto {
    const char *name;
    /* TCP is up: queue the opening bytes in c->out. ST_OK/ST_ERROR. */
    int (*start)(struct bench_conn *c);
    /* Bytes from the server; media go to conn_media. ST_OK or ST_ERROR (c->error). */
    int (*input)(struct bench_conn *c, const uint8_t *p, size_t n);
    /* Release protocol state. */
    void (*release)(struct bench_conn *c);
};

struct bench_conn {
    int id, fd;
    ev_io rio, wio;
    const struct bench_proto *proto;
    enum conn_end end;
    const char *error;
    int slow, throttled;
    double tokens; /* slow mode: bytes it may read now */
    struct buf out;

    /* RTMP */
    enum rtmp_step step;
    struct rtmp_handshake *hs; /* only during the handshake */
    struct rtmp_chunk_reader rd;
    int rd_ready;
    uint32_t ack_window;
    uint64_t acked;
    unsigned nal_len;

    /* measures (µs on the monotonic clock unless wall) */
    uint64_t t_start, t_tcp, t_first_key, t_end, last_media;
    uint64_t play_wall;     /* wall clock when play was sent */
    uint64_t bytes, msgs, vframes, aframes;
    uint32_t stalls;
    uint64_t max_gap;
    uint64_t lag_n, lag_max, lag_last;
    double lag_sum;
};

static struct {
    struct ev_loop *loop;
    struct bench_url url;
    const struct bench_proto *proto;
    int nplayers, nstreams;
    double rate, duration, settle, slow_fraction, slow_kbps;
    int rcvbuf;
    const char *csv;
    struct bench_conn *conns;
    int started;
    uint64_t t0, window_start, window_end;
    uint64_t bytes_total, bytes_at_window;
    double cpu_at_window;
    int in_window;
    struct bench_hist lag, slow_lag;
    ev_timer ramp, refill, finish, window;
    ev_signal sigint, sigterm;
    uint8_t rbuf[READ_BUF];
} g;

static void conn_close(struct bench_conn *c, enum conn_end end, const char *why)
{
    if (c->end != END_RUNNING)
        return;
    c->end = end;
    if (!c->error)
        c->error = why;
    c->t_end = bench_mono_us();
    ev_io_stop(g.loop, &c->rio);
    ev_io_stop(g.loop, &c->wio);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->proto)
        c->proto->release(c);
    buf_free(&c->out);
}

static void conn_flush(struct bench_conn *c)
{
    while (c->out.len > 0) {
        ssize_t n = write(c->fd, c->out.data, c->out.len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                ev_io_start(g.loop, &c->wio);
                return;
            }
            conn_close(c, END_DISCONNECTED, "write failed");
            return;
        }
        buf_consume(&c->out, (size_t)n);
    }
    if (c->step != STEP_TCP)
        ev_io_stop(g.loop, &c->wio);
}

/* One audio/video/data message from the server, whatever the protocol. */
static void conn_media(struct bench_conn *c, uint8_t type, const uint8_t *p, size_t len)
{
    uint64_t now = bench_mono_us();
    if (c->last_media) {
        uint64_t gap = now - c->last_media;
        if (gap > c->max_gap)
            c->max_gap = gap;
        if (gap > STALL_US)
            c->stalls++;
    }
    c->last_media = now;
    c->msgs++;
    if (type == RTMP_MSG_AUDIO) {
        c->aframes++;
        return;
    }
    if (type != RTMP_MSG_VIDEO || len < 5 || (p[0] & 0x0f) != 7)
        return; /* only AVC carries our stamp */
    if (p[1] == 0) {
        if (len >= 10)
            c->nal_len = (p[9] & 3) + 1u;
        return;
    }
    if (p[1] != 1)
        return;
    c->vframes++;
    if (!c->t_first_key && (p[0] >> 4) == 1)
        c->t_first_key = now;
    uint64_t stamp;
    if (bench_stamp_find(p + 5, len - 5, c->nal_len, &stamp) != ST_OK || stamp < c->play_wall)
        return;
    uint64_t wall = bench_wall_us();
    uint64_t lag = wall > stamp ? wall - stamp : 0;
    c->lag_n++;
    c->lag_sum += (double)lag;
    c->lag_last = lag;
    if (lag > c->lag_max)
        c->lag_max = lag;
    if (c->slow)
        bench_hist_add(&g.slow_lag, lag);
    else if (g.in_window)
        bench_hist_add(&g.lag, lag);
}

/* ---- RTMP ---- */

static int rtmp_start(struct bench_conn *c)
{
    c->hs = malloc(sizeof(*c->hs));
    if (!c->hs || rtmp_handshake_client_start(c->hs, &c->out) != ST_OK) {
        c->error = "handshake start failed";
        return ST_ERROR;
    }
    c->step = STEP_HANDSHAKE;
    return ST_OK;
}

static void rtmp_release(struct bench_conn *c)
{
    free(c->hs);
    c->hs = NULL;
    if (c->rd_ready)
        rtmp_chunk_reader_free(&c->rd);
    c->rd_ready = 0;
}

static int rtmp_command(struct bench_conn *c, const struct rtmp_message *m)
{
    struct amf_value *v = NULL;
    size_t n = 0;
    const char *err = NULL;
    if (amf0_decode_all(m->payload, m->length, 8, &v, &n, &err) != ST_OK) {
        c->error = "bad AMF0 command";
        return ST_ERROR;
    }
    int rc = ST_OK;
    const char *name = n > 0 && v[0].type == AMF_STRING ? v[0].str : "";
    double txn = n > 1 && v[1].type == AMF_NUMBER ? v[1].num : -1;
    if (strcmp(name, "_result") == 0) {
        if (c->step == STEP_CONNECT && txn == 1) {
            rc = bench_rtmp_create_stream(&c->out, 2);
            c->step = STEP_CREATE;
        } else if (c->step == STEP_CREATE && txn == 2) {
            uint32_t msid = n > 3 && v[3].type == AMF_NUMBER ? (uint32_t)v[3].num : 1;
            rc = bench_rtmp_set_buffer_length(&c->out, msid, 1000);
            if (rc == ST_OK && g.nstreams > 1) {
                char sname[300];
                snprintf(sname, sizeof(sname), "%s-%d", g.url.name, c->id % g.nstreams);
                rc = bench_rtmp_play(&c->out, msid, sname);
            } else if (rc == ST_OK) {
                rc = bench_rtmp_play(&c->out, msid, g.url.name);
            }
            c->play_wall = bench_wall_us();
            c->step = STEP_PLAY;
        }
    } else if (strcmp(name, "_error") == 0) {
        c->error = "server answered _error";
        rc = ST_ERROR;
    } else if (strcmp(name, "onStatus") == 0 && n > 3) {
        const char *code = amf_value_get_string(&v[3], "code");
        if (code && (strstr(code, "Failed") || strstr(code, "NotFound") || strstr(code, "Rejected") ||
                     strstr(code, "BadName"))) {
            c->error = "play refused";
            rc = ST_ERROR;
        }
    }
    amf_values_free(v, n);
    if (rc != ST_OK && !c->error)
        c->error = "output buffer full";
    return rc;
}

static int rtmp_message(struct bench_conn *c, const struct rtmp_message *m)
{
    switch (m->type) {
    case RTMP_MSG_SET_CHUNK_SIZE:
        if (m->length >= 4 && rtmp_chunk_reader_set_chunk_size(&c->rd, rd_be32(m->payload) & 0x7fffffff) != ST_OK) {
            c->error = "bad chunk size";
            return ST_ERROR;
        }
        return ST_OK;
    case RTMP_MSG_WINDOW_ACK_SIZE:
        if (m->length >= 4)
            c->ack_window = rd_be32(m->payload);
        return ST_OK;
    case RTMP_MSG_USER_CONTROL:
        if (m->length >= 6 && rd_be16(m->payload) == RTMP_UC_PING_REQUEST)
            return bench_rtmp_ping_response(&c->out, rd_be32(m->payload + 2));
        return ST_OK;
    case RTMP_MSG_COMMAND_AMF0:
        return rtmp_command(c, m);
    case RTMP_MSG_AUDIO:
    case RTMP_MSG_VIDEO:
    case RTMP_MSG_DATA_AMF0:
        conn_media(c, m->type, m->payload, m->length);
        return ST_OK;
    default:
        return ST_OK;
    }
}

static int rtmp_input(struct bench_conn *c, const uint8_t *p, size_t n)
{
    size_t used = 0;
    if (c->step == STEP_HANDSHAKE) {
        int rc = rtmp_handshake_feed(c->hs, p, n, &used, &c->out);
        if (rc == ST_ERROR) {
            c->error = c->hs->error;
            return ST_ERROR;
        }
        if (rc == ST_AGAIN)
            return ST_OK;
        free(c->hs);
        c->hs = NULL;
        if (rtmp_chunk_reader_init(&c->rd, 1 << 24, 16 << 20) != ST_OK) {
            c->error = "out of memory";
            return ST_ERROR;
        }
        c->rd_ready = 1;
        if (bench_rtmp_connect(&c->out, &g.url, 0) != ST_OK) {
            c->error = "connect encode failed";
            return ST_ERROR;
        }
        c->step = STEP_CONNECT;
    }
    while (used < n) {
        struct rtmp_message m;
        size_t k = 0;
        int rc = rtmp_chunk_reader_feed(&c->rd, p + used, n - used, &k, &m);
        used += k;
        if (rc == ST_AGAIN)
            break;
        if (rc != ST_OK) {
            c->error = c->rd.error;
            return ST_ERROR;
        }
        if (rtmp_message(c, &m) != ST_OK)
            return ST_ERROR;
    }
    if (c->ack_window && c->rd.bytes_in - c->acked >= c->ack_window) {
        c->acked = c->rd.bytes_in;
        if (bench_rtmp_control32(&c->out, RTMP_MSG_ACK, (uint32_t)c->rd.bytes_in) != ST_OK) {
            c->error = "output buffer full";
            return ST_ERROR;
        }
    }
    return ST_OK;
}

static const struct bench_proto proto_rtmp = {"rtmp", rtmp_start, rtmp_input, rtmp_release};

/* ---- connection I/O ---- */

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct bench_conn *c = w->data;
    size_t want = READ_BUF;
    if (c->slow) {
        if (c->tokens < 1) {
            ev_io_stop(loop, &c->rio);
            c->throttled = 1;
            return;
        }
        if (c->tokens < want)
            want = (size_t)c->tokens;
    }
    ssize_t n = read(c->fd, g.rbuf, want);
    if (n == 0) {
        conn_close(c, c->t_first_key ? END_DISCONNECTED : END_FAILED, "closed by server");
        return;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        conn_close(c, c->t_first_key ? END_DISCONNECTED : END_FAILED, "read error");
        return;
    }
    c->bytes += (uint64_t)n;
    g.bytes_total += (uint64_t)n;
    if (c->slow)
        c->tokens -= (double)n;
    if (c->proto->input(c, g.rbuf, (size_t)n) != ST_OK) {
        conn_close(c, c->t_first_key ? END_DISCONNECTED : END_FAILED, "protocol error");
        return;
    }
    if (c->out.len)
        conn_flush(c);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct bench_conn *c = w->data;
    if (c->step == STEP_TCP) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            conn_close(c, END_FAILED, "tcp connect failed");
            return;
        }
        c->t_tcp = bench_mono_us();
        if (c->proto->start(c) != ST_OK) {
            conn_close(c, END_FAILED, "start failed");
            return;
        }
        ev_io_start(loop, &c->rio);
    }
    conn_flush(c);
}

static void conn_open(struct bench_conn *c, int id)
{
    memset(c, 0, sizeof(*c));
    c->id = id;
    c->fd = -1;
    c->proto = g.proto;
    c->nal_len = 4;
    /* Spread evenly: player id is slow when floor(id * F) steps, so any N
     * gets round(N * F) slow players (id % 1000 made the first 100 of 200 slow at 0.1). */
    c->slow = g.slow_fraction > 0 && (long)((id + 1) * g.slow_fraction) > (long)(id * g.slow_fraction);
    c->tokens = g.slow_kbps * 125.0 * 0.1;
    buf_init(&c->out, OUT_MAX);
    c->t_start = bench_mono_us();
    if (bench_tcp_connect(g.url.host, g.url.port, c->slow ? g.rcvbuf : 0, &c->fd) != ST_OK) {
        c->proto = NULL;
        conn_close(c, END_FAILED, strerror(errno));
        return;
    }
    ev_io_init(&c->rio, on_read, c->fd, EV_READ);
    ev_io_init(&c->wio, on_write, c->fd, EV_WRITE);
    c->rio.data = c->wio.data = c;
    ev_io_start(g.loop, &c->wio);
}

/* ---- timers ---- */

static void on_ramp(struct ev_loop *loop, ev_timer *w, int revents)
{
    double elapsed = (double)(bench_mono_us() - g.t0) / 1e6;
    int target = (int)(elapsed * g.rate) + 1;
    if (target > g.nplayers)
        target = g.nplayers;
    while (g.started < target) {
        conn_open(&g.conns[g.started], g.started);
        g.started++;
    }
    if (g.started == g.nplayers) {
        ev_timer_stop(loop, w);
        /* The steady window opens --settle seconds after the last player. */
        ev_timer_set(&g.window, g.settle, 0);
        ev_timer_start(loop, &g.window);
    }
}

static void on_window(struct ev_loop *loop, ev_timer *w, int revents)
{
    g.in_window = 1;
    g.window_start = bench_mono_us();
    g.bytes_at_window = g.bytes_total;
    g.cpu_at_window = bench_self_cpu_s();
}

static void on_refill(struct ev_loop *loop, ev_timer *w, int revents)
{
    double add = g.slow_kbps * 125.0 * w->repeat, cap = g.slow_kbps * 125.0 * 0.2;
    for (int i = 0; i < g.started; i++) {
        struct bench_conn *c = &g.conns[i];
        if (!c->slow || c->end != END_RUNNING)
            continue;
        c->tokens += add;
        if (c->tokens > cap)
            c->tokens = cap;
        if (c->throttled && c->tokens >= 1) {
            c->throttled = 0;
            ev_io_start(loop, &c->rio);
        }
    }
}

static void on_finish(struct ev_loop *loop, ev_timer *w, int revents) { ev_break(loop, EVBREAK_ALL); }

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents) { ev_break(loop, EVBREAK_ALL); }

/* ---- report ---- */

static double ms(uint64_t us) { return (double)us / 1000.0; }

static void write_csv(void)
{
    FILE *f = fopen(g.csv, "w");
    if (!f) {
        fprintf(stderr, "bench_players: cannot write %s: %s\n", g.csv, strerror(errno));
        return;
    }
    fprintf(f, "id,slow,end,reason,tcp_ms,first_key_ms,bytes,msgs,video_frames,audio_frames,stalls,max_gap_ms,"
               "lag_samples,lag_avg_ms,lag_max_ms,lag_last_ms,alive_s\n");
    for (int i = 0; i < g.started; i++) {
        struct bench_conn *c = &g.conns[i];
        fprintf(f, "%d,%d,%s,%s,%.2f,%.2f,%llu,%llu,%llu,%llu,%u,%.1f,%llu,%.2f,%.2f,%.2f,%.2f\n", c->id, c->slow,
                end_names[c->end], c->error ? c->error : "", c->t_tcp ? ms(c->t_tcp - c->t_start) : -1.0,
                c->t_first_key ? ms(c->t_first_key - c->t_start) : -1.0, (unsigned long long)c->bytes,
                (unsigned long long)c->msgs, (unsigned long long)c->vframes, (unsigned long long)c->aframes,
                c->stalls, ms(c->max_gap), (unsigned long long)c->lag_n,
                c->lag_n ? c->lag_sum / (double)c->lag_n / 1000.0 : 0.0, ms(c->lag_max), ms(c->lag_last),
                (double)(c->t_end - c->t_start) / 1e6);
    }
    fclose(f);
}

static void report(void)
{
    uint64_t now = bench_mono_us();
    int connected = 0, failed = 0, disconnected = 0, stalled = 0, slow = 0, slow_disc = 0, normal = 0;
    uint32_t stalls = 0;
    uint64_t msgs = 0;
    double *ff = calloc((size_t)g.nplayers + 1, sizeof(double));
    size_t nff = 0;
    for (int i = 0; i < g.started; i++) {
        struct bench_conn *c = &g.conns[i];
        if (c->end == END_RUNNING) {
            if (c->last_media && now - c->last_media > STALL_US)
                c->stalls++; /* silent until the end */
            conn_close(c, c->t_first_key ? END_FINISHED : END_FAILED,
                       c->t_first_key ? NULL : "no keyframe before the end");
        }
        msgs += c->msgs;
        if (c->t_first_key) {
            connected++;
            if (ff)
                ff[nff++] = ms(c->t_first_key - c->t_start);
        }
        if (c->slow) {
            slow++;
            if (c->end == END_DISCONNECTED)
                slow_disc++;
            continue;
        }
        normal++;
        if (c->end == END_FAILED)
            failed++;
        if (c->end == END_DISCONNECTED)
            disconnected++;
        stalls += c->stalls;
        if (c->stalls)
            stalled++;
    }
    double wdur = g.in_window ? (double)(now - g.window_start) / 1e6 : 0;
    double mbps = wdur > 0 ? (double)(g.bytes_total - g.bytes_at_window) * 8 / wdur / 1e6 : 0;
    double cpu = wdur > 0 ? (bench_self_cpu_s() - g.cpu_at_window) / wdur * 100 : 0;
    printf("bench_players: proto=%s players=%d started=%d connected=%d failed=%d disconnected=%d "
           "first_frame_ms_p50=%.1f first_frame_ms_p99=%.1f lag_ms_p50=%.2f lag_ms_p99=%.2f lag_ms_max=%.1f "
           "lag_samples=%llu stalls=%u stalled_players=%d bytes=%llu msgs=%llu mbps=%.1f window_s=%.1f "
           "slow=%d slow_lag_ms_p50=%.0f slow_lag_ms_max=%.0f slow_disconnected=%d gen_cpu_pct=%.0f\n",
           g.proto->name, g.nplayers, g.started, connected, failed, disconnected, bench_quantile(ff, nff, 0.5),
           bench_quantile(ff, nff, 0.99), bench_hist_ms(&g.lag, 0.5), bench_hist_ms(&g.lag, 0.99),
           ms(g.lag.max_us), (unsigned long long)g.lag.n, stalls, stalled, (unsigned long long)g.bytes_total,
           (unsigned long long)msgs, mbps, wdur, slow, bench_hist_ms(&g.slow_lag, 0.5), ms(g.slow_lag.max_us),
           slow_disc, cpu);
    fflush(stdout);
    (void)normal;
    free(ff);
    if (g.csv)
        write_csv();
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_players --url rtmp://HOST:PORT/APP/NAME [options]\n"
            "  -n, --players N        players (default 10)\n"
            "  -r, --rate R           new connections per second (default 200)\n"
            "  -t, --duration S       run time from the first connection (default 20)\n"
            "      --settle S         seconds after the ramp before the steady window (default 2)\n"
            "      --slow-fraction F  share of players reading slowly (0..1, default 0)\n"
            "      --slow-kbps K      read rate of slow players (default 125)\n"
            "      --rcvbuf BYTES     SO_RCVBUF of slow players (default: kernel)\n"
            "      --streams K        play NAME-(i %% K) instead of NAME (bench_publisher --streams K)\n"
            "      --csv FILE         per-connection CSV\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"url", required_argument, 0, 'u'},
                                         {"players", required_argument, 0, 'n'},
                                         {"rate", required_argument, 0, 'r'},
                                         {"duration", required_argument, 0, 't'},
                                         {"settle", required_argument, 0, 's'},
                                         {"slow-fraction", required_argument, 0, 'f'},
                                         {"slow-kbps", required_argument, 0, 'k'},
                                         {"rcvbuf", required_argument, 0, 'b'},
                                         {"csv", required_argument, 0, 'c'},
                                         {"streams", required_argument, 0, 'S'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *url = NULL;
    g.nplayers = 10;
    g.nstreams = 1;
    g.rate = 200;
    g.duration = 20;
    g.settle = 2;
    g.slow_kbps = 125;
    int o;
    while ((o = getopt_long(argc, argv, "u:n:r:t:h", opts, NULL)) != -1) {
        switch (o) {
        case 'u': url = optarg; break;
        case 'n': g.nplayers = atoi(optarg); break;
        case 'r': g.rate = atof(optarg); break;
        case 't': g.duration = atof(optarg); break;
        case 's': g.settle = atof(optarg); break;
        case 'f': g.slow_fraction = atof(optarg); break;
        case 'k': g.slow_kbps = atof(optarg); break;
        case 'b': g.rcvbuf = atoi(optarg); break;
        case 'c': g.csv = optarg; break;
        case 'S': g.nstreams = atoi(optarg); break;
        default: usage(); return o == 'h' ? 0 : 2;
        }
    }
    if (!url || g.nplayers <= 0 || g.rate <= 0 || g.duration <= 0 || g.slow_fraction < 0 || g.slow_fraction > 1) {
        usage();
        return 2;
    }
    if (bench_url_parse(url, &g.url) != ST_OK) {
        fprintf(stderr, "bench_players: bad url %s\n", url);
        return 2;
    }
    if (strcmp(g.url.scheme, "rtmp") != 0) {
        fprintf(stderr, "bench_players: only rtmp:// is supported for now\n");
        return 2;
    }
    g.proto = &proto_rtmp;
    long lim = bench_raise_nofile(g.nplayers + 64);
    if (lim < g.nplayers + 16) {
        fprintf(stderr, "bench_players: RLIMIT_NOFILE %ld is too low for %d players\n", lim, g.nplayers);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    g.conns = calloc((size_t)g.nplayers, sizeof(*g.conns));
    if (!g.conns || bench_hist_init(&g.lag) != ST_OK || bench_hist_init(&g.slow_lag) != ST_OK) {
        fprintf(stderr, "bench_players: out of memory\n");
        return 2;
    }
    g.loop = ev_default_loop(EVFLAG_AUTO);
    g.t0 = bench_mono_us();
    ev_timer_init(&g.ramp, on_ramp, 0, 0.005);
    ev_timer_start(g.loop, &g.ramp);
    ev_timer_init(&g.window, on_window, 0, 0);
    ev_timer_init(&g.finish, on_finish, g.duration, 0);
    ev_timer_start(g.loop, &g.finish);
    if (g.slow_fraction > 0) {
        ev_timer_init(&g.refill, on_refill, 0.02, 0.02);
        ev_timer_start(g.loop, &g.refill);
    }
    ev_signal_init(&g.sigint, on_signal, SIGINT);
    ev_signal_start(g.loop, &g.sigint);
    ev_signal_init(&g.sigterm, on_signal, SIGTERM);
    ev_signal_start(g.loop, &g.sigterm);
    ev_run(g.loop, 0);
    report();
    bench_hist_free(&g.lag);
    bench_hist_free(&g.slow_lag);
    free(g.conns);
    return 0;
}
