#include "bench_common.h"

#include "amf/amf0.h"
#include "core/status.h"
#include "rtmp/rtmp_chunk_writer.h"
#include "rtmp/rtmp_message.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BENCH_CMD_CHUNK 128
#define BENCH_CMD_MAX 4096

int bench_url_parse(const char *s, struct bench_url *u)
{
    memset(u, 0, sizeof(*u));
    const char *p = strstr(s, "://");
    if (!p || (size_t)(p - s) >= sizeof(u->scheme))
        return ST_ERROR;
    memcpy(u->scheme, s, (size_t)(p - s));
    p += 3;
    u->port = strcmp(u->scheme, "rtmp") == 0 ? 1935 : 80;
    const char *slash = strchr(p, '/');
    if (!slash)
        return ST_ERROR;
    const char *colon = memchr(p, ':', (size_t)(slash - p));
    const char *hend = colon ? colon : slash;
    if (hend == p || (size_t)(hend - p) >= sizeof(u->host))
        return ST_ERROR;
    memcpy(u->host, p, (size_t)(hend - p));
    if (colon) {
        u->port = atoi(colon + 1);
        if (u->port <= 0 || u->port > 65535)
            return ST_ERROR;
    }
    const char *app = slash + 1;
    const char *slash2 = strchr(app, '/');
    if (!slash2 || slash2 == app || (size_t)(slash2 - app) >= sizeof(u->app))
        return ST_ERROR;
    memcpy(u->app, app, (size_t)(slash2 - app));
    if (!slash2[1] || strlen(slash2 + 1) >= sizeof(u->name))
        return ST_ERROR;
    memcpy(u->name, slash2 + 1, strlen(slash2 + 1) + 1); /* length checked above */
    snprintf(u->tcurl, sizeof(u->tcurl), "%s://%s:%d/%s", u->scheme, u->host, u->port, u->app);
    return ST_OK;
}

int bench_tcp_connect(const char *host, int port, int rcvbuf, int *fd)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        /* Resolve once, before the loop runs: bench programs only. */
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
        if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
            return ST_ERROR;
        sa.sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
        freeaddrinfo(res);
    }
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return ST_ERROR;
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (rcvbuf > 0)
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(s);
        errno = e;
        return ST_ERROR;
    }
    *fd = s;
    return ST_OK;
}

static uint64_t clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t bench_wall_us(void) { return clock_us(CLOCK_REALTIME); }
uint64_t bench_mono_us(void) { return clock_us(CLOCK_MONOTONIC); }

long bench_raise_nofile(long want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if ((long)rl.rlim_cur < want) {
        rl.rlim_cur = (rlim_t)want;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
            rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (long)rl.rlim_cur;
}

double bench_self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* Chunk one message at the command chunk size. */
static int put_message(struct buf *out, uint32_t csid, uint8_t type, uint32_t msid, const struct buf *body)
{
    struct rtmp_message_header h = {.csid = csid, .type = type, .timestamp = 0, .stream_id = msid};
    return rtmp_chunk_writer_append(out, &h, body->data, (uint32_t)body->len, BENCH_CMD_CHUNK);
}

int bench_rtmp_connect(struct buf *out, const struct bench_url *u, int publisher)
{
    struct buf b;
    buf_init(&b, BENCH_CMD_MAX);
    int rc = ST_OK;
    rc |= amf0_write_cstring(&b, "connect");
    rc |= amf0_write_number(&b, 1);
    rc |= amf0_write_object_start(&b);
    rc |= amf0_write_key(&b, "app");
    rc |= amf0_write_cstring(&b, u->app);
    if (publisher) {
        rc |= amf0_write_key(&b, "type");
        rc |= amf0_write_cstring(&b, "nonprivate");
    }
    rc |= amf0_write_key(&b, "flashVer");
    rc |= amf0_write_cstring(&b, publisher ? "FMLE/3.0 (compatible; sc-bench)" : "LNX 9,0,124,2");
    rc |= amf0_write_key(&b, "tcUrl");
    rc |= amf0_write_cstring(&b, u->tcurl);
    if (!publisher) {
        rc |= amf0_write_key(&b, "fpad");
        rc |= amf0_write_bool(&b, 0);
        rc |= amf0_write_key(&b, "capabilities");
        rc |= amf0_write_number(&b, 15);
        rc |= amf0_write_key(&b, "audioCodecs");
        rc |= amf0_write_number(&b, 4071);
        rc |= amf0_write_key(&b, "videoCodecs");
        rc |= amf0_write_number(&b, 252);
        rc |= amf0_write_key(&b, "videoFunction");
        rc |= amf0_write_number(&b, 1);
    }
    rc |= amf0_write_object_end(&b);
    if (rc == ST_OK)
        rc = put_message(out, RTMP_CSID_COMMAND, RTMP_MSG_COMMAND_AMF0, 0, &b);
    buf_free(&b);
    return rc == ST_OK ? ST_OK : ST_ERROR;
}

int bench_rtmp_create_stream(struct buf *out, double txn)
{
    struct buf b;
    buf_init(&b, BENCH_CMD_MAX);
    int rc = amf0_write_cstring(&b, "createStream");
    rc |= amf0_write_number(&b, txn);
    rc |= amf0_write_null(&b);
    if (rc == ST_OK)
        rc = put_message(out, RTMP_CSID_COMMAND, RTMP_MSG_COMMAND_AMF0, 0, &b);
    buf_free(&b);
    return rc == ST_OK ? ST_OK : ST_ERROR;
}

/* play and publish travel on csid 8 like ffmpeg's, on the new stream. */
static int stream_command(struct buf *out, uint32_t msid, const char *cmd, const char *name, const char *kind)
{
    struct buf b;
    buf_init(&b, BENCH_CMD_MAX);
    int rc = amf0_write_cstring(&b, cmd);
    rc |= amf0_write_number(&b, 0);
    rc |= amf0_write_null(&b);
    rc |= amf0_write_cstring(&b, name);
    if (kind)
        rc |= amf0_write_cstring(&b, kind);
    else
        rc |= amf0_write_number(&b, -1000);
    if (rc == ST_OK)
        rc = put_message(out, 8, RTMP_MSG_COMMAND_AMF0, msid, &b);
    buf_free(&b);
    return rc == ST_OK ? ST_OK : ST_ERROR;
}

int bench_rtmp_play(struct buf *out, uint32_t msid, const char *name)
{
    return stream_command(out, msid, "play", name, NULL);
}

int bench_rtmp_publish(struct buf *out, uint32_t msid, const char *name)
{
    return stream_command(out, msid, "publish", name, "live");
}

int bench_rtmp_control32(struct buf *out, uint8_t type, uint32_t value)
{
    uint8_t v[4];
    wr_be32(v, value);
    struct rtmp_message_header h = {.csid = RTMP_CSID_CONTROL, .type = type, .timestamp = 0, .stream_id = 0};
    return rtmp_chunk_writer_append(out, &h, v, 4, BENCH_CMD_CHUNK);
}

static int user_control(struct buf *out, const uint8_t *v, uint32_t len)
{
    struct rtmp_message_header h = {
        .csid = RTMP_CSID_CONTROL, .type = RTMP_MSG_USER_CONTROL, .timestamp = 0, .stream_id = 0};
    return rtmp_chunk_writer_append(out, &h, v, len, BENCH_CMD_CHUNK);
}

int bench_rtmp_set_buffer_length(struct buf *out, uint32_t msid, uint32_t ms)
{
    uint8_t v[10];
    wr_be16(v, RTMP_UC_SET_BUFFER_LENGTH);
    wr_be32(v + 2, msid);
    wr_be32(v + 6, ms);
    return user_control(out, v, sizeof(v));
}

int bench_rtmp_ping_response(struct buf *out, uint32_t value)
{
    uint8_t v[6];
    wr_be16(v, RTMP_UC_PING_RESPONSE);
    wr_be32(v + 2, value);
    return user_control(out, v, sizeof(v));
}

/* Our UUID for user_data_unregistered; no zero bytes (no emulation prevention). */
static const uint8_t stamp_uuid[16] = {'s', 'c', '-', 'b', 'e', 'n', 'c', 'h', 0x5c, 0x1b, 0xe7, 0x42,
                                       0x9a, 0x77, 0x31, 0xd4};

size_t bench_stamp_write(uint8_t *dst, unsigned nal_len_size, uint64_t wall_us)
{
    static const char hex[] = "0123456789abcdef";
    const uint32_t nal_len = BENCH_STAMP_NAL_SIZE - 4; /* 33 */
    size_t o = 0;
    for (unsigned i = 0; i < nal_len_size; i++)
        dst[o++] = (uint8_t)(nal_len >> (8 * (nal_len_size - 1 - i)));
    dst[o++] = 0x06; /* SEI */
    dst[o++] = 0x05; /* user_data_unregistered */
    dst[o++] = 16 + 13; /* payload: UUID + 13 hex digits */
    memcpy(dst + o, stamp_uuid, 16);
    o += 16;
    for (int i = 12; i >= 0; i--)
        dst[o++] = (uint8_t)hex[(wall_us >> (4 * i)) & 0xf];
    dst[o++] = 0x80; /* rbsp trailing bits */
    return o;
}

int bench_stamp_find(const uint8_t *nals, size_t len, unsigned nal_len_size, uint64_t *wall_us)
{
    size_t o = 0;
    /* Our SEI is first; look at a few NALs in case a relay reorders. */
    for (int k = 0; k < 4 && o + nal_len_size <= len; k++) {
        uint32_t n = 0;
        for (unsigned i = 0; i < nal_len_size; i++)
            n = n << 8 | nals[o + i];
        o += nal_len_size;
        if (n > len - o)
            return ST_AGAIN;
        const uint8_t *p = nals + o;
        if (n == BENCH_STAMP_NAL_SIZE - 4 && (p[0] & 0x1f) == 6 && p[1] == 5 && p[2] == 29 && memcmp(p + 3, stamp_uuid, 16) == 0) {
            uint64_t v = 0;
            for (int i = 0; i < 13; i++) {
                uint8_t c = p[19 + i];
                v = v << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
            }
            *wall_us = v;
            return ST_OK;
        }
        o += n;
    }
    return ST_AGAIN;
}

/* Buckets: 10 µs up to 10 ms, 1 ms up to 1 s, 100 ms up to 120 s. */
#define H_FINE 1000u
#define H_MID 990u
#define H_COARSE 1190u
#define H_BUCKETS (H_FINE + H_MID + H_COARSE + 1)

static uint32_t hist_index(uint64_t us)
{
    if (us < 10000)
        return (uint32_t)(us / 10);
    if (us < 1000000)
        return H_FINE + (uint32_t)((us - 10000) / 1000);
    if (us < 120000000)
        return H_FINE + H_MID + (uint32_t)((us - 1000000) / 100000);
    return H_BUCKETS - 1;
}

static double hist_value_ms(uint32_t i)
{
    if (i < H_FINE)
        return (i * 10 + 5) / 1000.0;
    if (i < H_FINE + H_MID)
        return 10.0 + (i - H_FINE) + 0.5;
    if (i < H_FINE + H_MID + H_COARSE)
        return 1000.0 + (i - H_FINE - H_MID) * 100.0 + 50.0;
    return 120000.0;
}

int bench_hist_init(struct bench_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->bucket = calloc(H_BUCKETS, sizeof(*h->bucket));
    return h->bucket ? ST_OK : ST_ERROR;
}

void bench_hist_free(struct bench_hist *h)
{
    free(h->bucket);
    h->bucket = NULL;
}

void bench_hist_add(struct bench_hist *h, uint64_t us)
{
    h->bucket[hist_index(us)]++;
    h->n++;
    h->sum_us += (double)us;
    if (us > h->max_us)
        h->max_us = us;
}

double bench_hist_ms(const struct bench_hist *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)(h->n - 1)) + 1, seen = 0;
    for (uint32_t i = 0; i < H_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank)
            return hist_value_ms(i);
    }
    return hist_value_ms(H_BUCKETS - 1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_quantile(double *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}
