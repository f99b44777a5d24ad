/*
 * bench_common: what the bench programs share: URL parsing, non-blocking TCP
 * connects, clocks, the RTMP client-side command encoders, the wall-clock
 * stamp carried inside each video frame, and a latency histogram.
 *
 * The stamp is an H.264 SEI NAL (user_data_unregistered, our own UUID, the
 * send time as 13 hex digits of microseconds since the epoch) prepended to
 * the frame's AVCC payload by bench_publisher. Servers forward video bytes
 * untouched, so the same stamp survives nginx-rtmp, our origin, the
 * origin->edge hop and (later) HTTP-FLV; hex digits never need H.264
 * emulation prevention.
 *
 * Encoders append to a caller-owned buf and return ST_OK/ST_ERROR (buf cap).
 * The histogram is allocated by bench_hist_init and freed by
 * bench_hist_free. Nothing here touches an event loop.
 */
#ifndef SC_BENCH_COMMON_H
#define SC_BENCH_COMMON_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

struct bench_url {
    char scheme[8];   /* "rtmp" (later "http") */
    char host[64];
    int port;
    char app[128];
    char name[256];   /* stream name (may hold a query string) */
    char tcurl[512];  /* scheme://host:port/app */
};

/* Parse scheme://host[:port]/app/name. ST_OK or ST_ERROR. */
int bench_url_parse(const char *s, struct bench_url *u);

/* Start a non-blocking TCP connect (TCP_NODELAY, optional SO_RCVBUF when
 * rcvbuf > 0). ST_OK with *fd set, or ST_ERROR (errno kept). */
int bench_tcp_connect(const char *host, int port, int rcvbuf, int *fd);

uint64_t bench_wall_us(void); /* CLOCK_REALTIME, µs */
uint64_t bench_mono_us(void); /* CLOCK_MONOTONIC, µs */

/* Raise RLIMIT_NOFILE to at least want (up to the hard limit). Returns the
 * soft limit now in force. */
long bench_raise_nofile(long want);

/* CPU seconds (user+system) this process used so far. */
double bench_self_cpu_s(void);

/* ---- RTMP client messages (chunk size 128 unless said otherwise) ---- */

/* connect(app, tcUrl, ...) as transaction 1 on csid 3, stream 0. */
int bench_rtmp_connect(struct buf *out, const struct bench_url *u, int publisher);
/* createStream as transaction txn. */
int bench_rtmp_create_stream(struct buf *out, double txn);
/* play(name, -1000) on msid (live only, as ffmpeg sends). */
int bench_rtmp_play(struct buf *out, uint32_t msid, const char *name);
/* publish(name, "live") on msid. */
int bench_rtmp_publish(struct buf *out, uint32_t msid, const char *name);
/* Protocol control: Set Chunk Size, Acknowledgement, Window Ack Size. */
int bench_rtmp_control32(struct buf *out, uint8_t type, uint32_t value);
/* User control: Set Buffer Length (msid, ms). */
int bench_rtmp_set_buffer_length(struct buf *out, uint32_t msid, uint32_t ms);
/* User control: Ping Response echoing the request's 4-byte value. */
int bench_rtmp_ping_response(struct buf *out, uint32_t value);

/* ---- the wall-clock stamp ---- */

/* Bytes bench_stamp_write adds to a video payload (NAL length + SEI). */
#define BENCH_STAMP_NAL_SIZE 37
/* Write a length-prefixed SEI NAL carrying wall_us into dst (BENCH_STAMP_NAL_SIZE
 * - 4 + nal_len_size bytes). Returns the bytes written. */
size_t bench_stamp_write(uint8_t *dst, unsigned nal_len_size, uint64_t wall_us);
/* Look for our SEI among the first NALs of an AVCC payload (the bytes after
 * the 5-byte FLV AVC header). ST_OK with *wall_us, or ST_AGAIN (none). */
int bench_stamp_find(const uint8_t *nals, size_t len, unsigned nal_len_size, uint64_t *wall_us);

/* ---- latency histogram, µs resolution that coarsens with the value ---- */

struct bench_hist {
    uint32_t *bucket;
    uint64_t n;
    uint64_t max_us;
    double sum_us;
};

int bench_hist_init(struct bench_hist *h);
void bench_hist_free(struct bench_hist *h);
void bench_hist_add(struct bench_hist *h, uint64_t us);
/* Value at quantile q (0..1) in ms, 0 when empty. */
double bench_hist_ms(const struct bench_hist *h, double q);

/* Quantile q of an array of doubles (sorted in place); 0 when n == 0. */
double bench_quantile(double *v, size_t n, double q);

#endif
