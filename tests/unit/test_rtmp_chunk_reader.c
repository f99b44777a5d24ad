/*
 * Unit tests for rtmp_chunk_reader: real captures replayed whole, byte by
 * byte and split at many offsets; handcrafted header formats, extended
 * timestamps, caps, truncation and garbage.
 */
#include <criterion/criterion.h>

#include "core/buf.h"
#include "core/status.h"
#include "rtmp/rtmp_chunk_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SC_TEST_DATA
#define SC_TEST_DATA "tests/data"
#endif

#define HANDSHAKE_LEN 3073
#define BIG_CAP (16u << 20)

/* ---- running the reader over a byte string cut into segments ---- */

struct rec {
    uint32_t csid, type, length, timestamp, stream_id;
    uint32_t pad; /* explicit, so memcmp of records compares no padding */
    uint64_t hash; /* FNV-1a of the payload */
};

struct run {
    struct rec *m;
    size_t n, cap;
    int status; /* ST_AGAIN (all consumed) or ST_ERROR */
    const char *error;
    uint64_t bytes_in;
    uint32_t chunk_size;
    size_t csc_after;     /* 1-based index of the first Set Chunk Size, 0 if none */
    unsigned counts[256]; /* messages per type */
};

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void run_free(struct run *o)
{
    free(o->m);
    memset(o, 0, sizeof(*o));
}

/* Feed d[0..len) cut at the sorted interior offsets cuts[0..ncuts); apply Set
 * Chunk Size and Abort as a connection would. */
static void run_cuts(const uint8_t *d, size_t len, const size_t *cuts, size_t ncuts, uint32_t max_chunk,
                     uint32_t max_msg, struct run *o)
{
    struct rtmp_chunk_reader r;
    memset(o, 0, sizeof(*o));
    cr_assert_eq(rtmp_chunk_reader_init(&r, max_chunk, max_msg), ST_OK);
    o->status = ST_AGAIN;
    size_t start = 0;
    for (size_t c = 0; c <= ncuts && o->status != ST_ERROR; c++) {
        size_t end = c < ncuts ? cuts[c] : len;
        size_t off = start;
        for (;;) {
            size_t used = 0;
            struct rtmp_message m;
            int rc = rtmp_chunk_reader_feed(&r, d + off, end - off, &used, &m);
            cr_assert_leq(used, end - off);
            off += used;
            if (rc == ST_AGAIN) {
                cr_assert_eq(off, end, "ST_AGAIN must consume everything");
                break;
            }
            if (rc == ST_ERROR) {
                cr_assert_not_null(r.error);
                o->status = ST_ERROR;
                o->error = r.error;
                break;
            }
            cr_assert_eq(rc, ST_OK);
            cr_assert_not_null(m.payload);
            if (o->n == o->cap) {
                o->cap = o->cap ? 2 * o->cap : 64;
                o->m = realloc(o->m, o->cap * sizeof(*o->m));
                cr_assert_not_null(o->m);
            }
            o->m[o->n++] = (struct rec){m.csid, m.type, m.length, m.timestamp, m.stream_id, 0, fnv(m.payload, m.length)};
            o->counts[m.type]++;
            if (m.type == 1 && m.length >= 4) {
                if (!o->csc_after)
                    o->csc_after = o->n;
                if (rtmp_chunk_reader_set_chunk_size(&r, rd_be32(m.payload)) != ST_OK) {
                    o->status = ST_ERROR;
                    o->error = r.error;
                    break;
                }
            } else if (m.type == 2 && m.length >= 4) {
                rtmp_chunk_reader_abort(&r, rd_be32(m.payload));
            }
        }
        start = end;
    }
    o->bytes_in = r.bytes_in;
    o->chunk_size = r.chunk_size;
    rtmp_chunk_reader_free(&r);
}

static void run_whole(const uint8_t *d, size_t len, uint32_t max_chunk, uint32_t max_msg, struct run *o)
{
    run_cuts(d, len, NULL, 0, max_chunk, max_msg, o);
}

static void run_bytewise(const uint8_t *d, size_t len, uint32_t max_chunk, uint32_t max_msg, struct run *o)
{
    size_t *cuts = malloc((len ? len : 1) * sizeof(*cuts));
    cr_assert_not_null(cuts);
    size_t n = 0;
    for (size_t i = 1; i < len; i++)
        cuts[n++] = i;
    run_cuts(d, len, cuts, n, max_chunk, max_msg, o);
    free(cuts);
}

static void assert_same(const struct run *a, const struct run *b, const char *what, size_t at)
{
    cr_assert_eq(a->status, b->status, "%s %zu: status", what, at);
    cr_assert_eq(a->n, b->n, "%s %zu: %zu vs %zu messages", what, at, a->n, b->n);
    if (a->n)
        cr_assert(memcmp(a->m, b->m, a->n * sizeof(*a->m)) == 0, "%s %zu: messages differ", what, at);
    if (a->status == ST_ERROR)
        cr_assert_str_eq(a->error, b->error, "%s %zu", what, at);
    else
        cr_assert_eq(a->bytes_in, b->bytes_in, "%s %zu: bytes_in", what, at);
    cr_assert_eq(a->chunk_size, b->chunk_size, "%s %zu: chunk size", what, at);
}

/* Whole, byte by byte and split at every offset must agree (past 2 KB, at
 * every 11th offset to stay fast); the whole run is left in *whole for the
 * caller's checks. */
static void run_all_ways(const uint8_t *d, size_t len, uint32_t max_chunk, uint32_t max_msg, struct run *whole)
{
    struct run o;
    run_whole(d, len, max_chunk, max_msg, whole);
    run_bytewise(d, len, max_chunk, max_msg, &o);
    assert_same(whole, &o, "bytewise", 0);
    run_free(&o);
    for (size_t k = 1; k < len; k += k < 2048 ? 1 : 11) {
        run_cuts(d, len, &k, 1, max_chunk, max_msg, &o);
        assert_same(whole, &o, "split", k);
        run_free(&o);
    }
}

/* ---- real captures ---- */

struct capture {
    const char *file;
    unsigned total, t1, t4, t5, t6, t8, t9, t18, t20;
    size_t csc_after; /* message # of the first Set Chunk Size, 0 = none */
    uint32_t final_chunk_size;
};

static uint8_t *load(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", SC_TEST_DATA, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)n);
    cr_assert_not_null(d);
    cr_assert_eq(fread(d, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return d;
}

static void check_capture(const struct capture *c)
{
    size_t flen;
    uint8_t *file = load(c->file, &flen);
    cr_assert_gt(flen, HANDSHAKE_LEN);
    const uint8_t *d = file + HANDSHAKE_LEN;
    size_t len = flen - HANDSHAKE_LEN;

    struct run w, o;
    run_whole(d, len, 65536, BIG_CAP, &w);
    cr_assert_eq(w.status, ST_AGAIN, "%s: %s", c->file, w.error ? w.error : "");
    cr_assert_eq(w.bytes_in, len);
    cr_assert_eq(w.n, c->total, "%s: %zu messages", c->file, w.n);
    cr_assert_eq(w.counts[1], c->t1);
    cr_assert_eq(w.counts[4], c->t4);
    cr_assert_eq(w.counts[5], c->t5);
    cr_assert_eq(w.counts[6], c->t6);
    cr_assert_eq(w.counts[8], c->t8, "%s: %u audio", c->file, w.counts[8]);
    cr_assert_eq(w.counts[9], c->t9, "%s: %u video", c->file, w.counts[9]);
    cr_assert_eq(w.counts[18], c->t18);
    cr_assert_eq(w.counts[20], c->t20);
    cr_assert_eq(w.csc_after, c->csc_after);
    cr_assert_eq(w.chunk_size, c->final_chunk_size);

    /* Media timestamps (deltas applied) never go backwards per track, and
     * media sits on message stream 1. */
    uint32_t last[2] = {0, 0};
    for (size_t i = 0; i < w.n; i++) {
        const struct rec *m = &w.m[i];
        if (m->type != 8 && m->type != 9)
            continue;
        cr_assert_geq(m->timestamp, last[m->type - 8], "%s: message %zu goes back in time", c->file, i);
        last[m->type - 8] = m->timestamp;
        cr_assert_eq(m->stream_id, 1);
        cr_assert_gt(m->length, 0);
    }

    /* The stream ends on a chunk boundary: a message appended after the
     * capture parses cleanly. */
    {
        size_t tl = len + 13;
        uint8_t *t = malloc(tl);
        memcpy(t, d, len);
        static const uint8_t tail[13] = {0x03, 0, 0, 9, 0, 0, 1, 20, 0, 0, 0, 0, 0x5a};
        memcpy(t + len, tail, sizeof(tail));
        run_whole(t, tl, 65536, BIG_CAP, &o);
        cr_assert_eq(o.n, w.n + 1);
        cr_assert_eq(o.m[w.n].csid, 3);
        cr_assert_eq(o.m[w.n].timestamp, 9);
        cr_assert_eq(o.m[w.n].hash, fnv(tail + 12, 1));
        run_free(&o);
        free(t);
    }

    run_bytewise(d, len, 65536, BIG_CAP, &o);
    assert_same(&w, &o, "bytewise", 0);
    run_free(&o);

    /* Every split offset of a prefix of a few KB. */
    size_t plen = len < 4096 ? len : 4096;
    struct run pw;
    run_whole(d, plen, 65536, BIG_CAP, &pw);
    for (size_t k = 1; k < plen; k++) {
        run_cuts(d, plen, &k, 1, 65536, BIG_CAP, &o);
        assert_same(&pw, &o, "prefix split", k);
        run_free(&o);
    }
    run_free(&pw);

    /* Many split points across the whole file. */
    for (size_t i = 1; i <= 97; i++) {
        size_t k = len * i / 98 + i;
        if (k >= len)
            continue;
        run_cuts(d, len, &k, 1, 65536, BIG_CAP, &o);
        assert_same(&w, &o, "split", k);
        run_free(&o);
    }

    /* Random segment sizes (slow drip with odd reads). */
    size_t *cuts = malloc(len * sizeof(*cuts));
    for (uint32_t seed = 1; seed <= 3; seed++) {
        uint32_t x = seed * 2654435761u;
        size_t n = 0, at = 0;
        for (;;) {
            x = x * 1664525u + 1013904223u;
            at += 1 + (x >> 8) % (seed == 1 ? 7 : 1500);
            if (at >= len)
                break;
            cuts[n++] = at;
        }
        run_cuts(d, len, cuts, n, 65536, BIG_CAP, &o);
        assert_same(&w, &o, "random segments, seed", seed);
        run_free(&o);
    }
    free(cuts);
    run_free(&w);
    free(file);
}

#define PUB_S2C(name) {name, 7, 1, 0, 1, 1, 0, 0, 0, 4, 3, 4096}

static const struct capture captures[] = {
    {"publish-ffmpeg.c2s.bin", 286, 1, 0, 0, 0, 175, 102, 1, 7, 2, 4096},
    {"publish-obs.c2s.bin", 310, 1, 0, 0, 0, 190, 111, 1, 7, 1, 4096},
    {"publish-gst-rtmp2sink.c2s.bin", 303, 1, 0, 1, 0, 173, 102, 19, 7, 7, 128},
    {"publish-gst-rtmpsink.c2s.bin", 301, 0, 0, 0, 0, 173, 102, 19, 7, 0, 128},
    {"play-ffmpeg.c2s.bin", 7, 0, 1, 1, 0, 0, 0, 0, 5, 0, 128},
    {"play-rtmpdump.c2s.bin", 8, 0, 2, 1, 0, 0, 0, 0, 5, 0, 128},
    {"play-gst-rtmp2src.c2s.bin", 7, 0, 2, 2, 0, 0, 0, 0, 3, 0, 128},
    PUB_S2C("publish-ffmpeg.s2c.bin"),
    PUB_S2C("publish-obs.s2c.bin"),
    PUB_S2C("publish-gst-rtmp2sink.s2c.bin"),
    PUB_S2C("publish-gst-rtmpsink.s2c.bin"),
    {"play-ffmpeg.s2c.bin", 190, 1, 2, 1, 1, 133, 47, 2, 3, 3, 4096},
    {"play-rtmpdump.s2c.bin", 208, 1, 2, 1, 1, 128, 70, 2, 3, 3, 4096},
    {"play-gst-rtmp2src.s2c.bin", 176, 1, 1, 1, 1, 123, 44, 2, 3, 3, 4096},
};

Test(capture, publish_ffmpeg_c2s) { check_capture(&captures[0]); }
Test(capture, publish_obs_c2s) { check_capture(&captures[1]); }
Test(capture, publish_gst_rtmp2sink_c2s) { check_capture(&captures[2]); }
Test(capture, publish_gst_rtmpsink_c2s) { check_capture(&captures[3]); }
Test(capture, play_ffmpeg_c2s) { check_capture(&captures[4]); }
Test(capture, play_rtmpdump_c2s) { check_capture(&captures[5]); }
Test(capture, play_gst_rtmp2src_c2s) { check_capture(&captures[6]); }
Test(capture, publish_ffmpeg_s2c) { check_capture(&captures[7]); }
Test(capture, publish_obs_s2c) { check_capture(&captures[8]); }
Test(capture, publish_gst_rtmp2sink_s2c) { check_capture(&captures[9]); }
Test(capture, publish_gst_rtmpsink_s2c) { check_capture(&captures[10]); }
Test(capture, play_ffmpeg_s2c) { check_capture(&captures[11]); }
Test(capture, play_rtmpdump_s2c) { check_capture(&captures[12]); }
Test(capture, play_gst_rtmp2src_s2c) { check_capture(&captures[13]); }

/* ---- handcrafted chunk streams ---- */

/* Basic header for csid in the shortest form. */
static void put_basic(struct buf *b, unsigned fmt, uint32_t csid)
{
    if (csid < 64) {
        buf_append_u8(b, (uint8_t)(fmt << 6 | csid));
    } else if (csid < 320) {
        buf_append_u8(b, (uint8_t)(fmt << 6));
        buf_append_u8(b, (uint8_t)(csid - 64));
    } else {
        buf_append_u8(b, (uint8_t)(fmt << 6 | 1));
        buf_append_u8(b, (uint8_t)(csid - 64));
        buf_append_u8(b, (uint8_t)((csid - 64) >> 8));
    }
}

/* A chunk header of format fmt; ts is the timestamp (fmt 0) or delta (1, 2),
 * written extended when >= 0xFFFFFF; for fmt 3, ext3 >= 0 adds a 4-byte
 * extended field holding ext3. */
static void put_hdr(struct buf *b, unsigned fmt, uint32_t csid, uint32_t ts, uint32_t len, uint8_t type,
                    uint32_t sid, int64_t ext3)
{
    put_basic(b, fmt, csid);
    if (fmt < 3) {
        buf_append_be24(b, ts >= 0xFFFFFF ? 0xFFFFFF : ts);
        if (fmt < 2) {
            buf_append_be24(b, len);
            buf_append_u8(b, type);
        }
        if (fmt == 0)
            buf_append_le32(b, sid);
        if (ts >= 0xFFFFFF)
            buf_append_be32(b, ts);
    } else if (ext3 >= 0) {
        buf_append_be32(b, (uint32_t)ext3);
    }
}

static void put_body(struct buf *b, uint32_t seed, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf_append_u8(b, (uint8_t)(seed + i * 7));
}

static uint64_t body_hash(uint32_t seed, size_t n)
{
    struct buf b;
    buf_init(&b, 1 << 24);
    put_body(&b, seed, n);
    uint64_t h = fnv(b.data ? b.data : (const uint8_t *)"", n);
    buf_free(&b);
    return h;
}

static void expect_msg(const struct run *o, size_t i, uint32_t csid, uint8_t type, uint32_t len, uint32_t ts,
                       uint32_t sid)
{
    cr_assert_lt(i, o->n, "message %zu missing (%zu)", i, o->n);
    const struct rec *m = &o->m[i];
    cr_assert_eq(m->csid, csid, "msg %zu csid %u", i, m->csid);
    cr_assert_eq(m->type, type, "msg %zu type %u", i, m->type);
    cr_assert_eq(m->length, len, "msg %zu length %u", i, m->length);
    cr_assert_eq(m->timestamp, ts, "msg %zu ts %u want %u", i, m->timestamp, ts);
    cr_assert_eq(m->stream_id, sid, "msg %zu sid %u", i, m->stream_id);
}

Test(handcrafted, formats_and_deltas)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    put_hdr(&b, 0, 4, 1000, 3, 8, 1, -1);
    put_body(&b, 1, 3);
    put_hdr(&b, 1, 4, 20, 2, 9, 0, -1);
    put_body(&b, 2, 2);
    put_hdr(&b, 2, 4, 33, 0, 0, 0, -1);
    put_body(&b, 3, 2);
    put_hdr(&b, 3, 4, 0, 0, 0, 0, -1); /* new message: delta 33 again */
    put_body(&b, 4, 2);
    struct run o;
    run_all_ways(b.data, b.len, 65536, 1 << 20, &o);
    cr_assert_eq(o.status, ST_AGAIN);
    cr_assert_eq(o.n, 4);
    expect_msg(&o, 0, 4, 8, 3, 1000, 1);
    expect_msg(&o, 1, 4, 9, 2, 1020, 1);
    expect_msg(&o, 2, 4, 9, 2, 1053, 1);
    expect_msg(&o, 3, 4, 9, 2, 1086, 1);
    cr_assert_eq(o.m[0].hash, body_hash(1, 3));
    cr_assert_eq(o.m[3].hash, body_hash(4, 2));
    cr_assert_eq(o.bytes_in, b.len);
    run_free(&o);
    buf_free(&b);
}

/* Spec 5.3.1.2.4: a type-3 chunk right after a type-0 one reuses the type-0
 * timestamp as its delta. */
Test(handcrafted, type3_after_type0_repeats_timestamp_as_delta)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    put_hdr(&b, 0, 6, 40, 1, 9, 1, -1);
    put_body(&b, 1, 1);
    put_hdr(&b, 3, 6, 0, 0, 0, 0, -1);
    put_body(&b, 2, 1);
    put_hdr(&b, 3, 6, 0, 0, 0, 0, -1);
    put_body(&b, 3, 1);
    struct run o;
    run_all_ways(b.data, b.len, 65536, 1 << 20, &o);
    cr_assert_eq(o.n, 3);
    expect_msg(&o, 0, 6, 9, 1, 40, 1);
    expect_msg(&o, 1, 6, 9, 1, 80, 1);
    expect_msg(&o, 2, 6, 9, 1, 120, 1);
    run_free(&o);
    buf_free(&b);
}

Test(handcrafted, multi_chunk_message_and_chunk_size_change)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    /* 300 bytes at chunk size 128: 128 + 128 + 44 */
    put_hdr(&b, 0, 5, 7, 300, 8, 1, -1);
    put_body(&b, 9, 128);
    put_hdr(&b, 3, 5, 0, 0, 0, 0, -1);
    put_body(&b, 9 + 128 * 7, 128);
    put_hdr(&b, 3, 5, 0, 0, 0, 0, -1);
    put_body(&b, 9 + 256 * 7, 44);
    /* Set Chunk Size 200 on csid 2 */
    put_hdr(&b, 0, 2, 0, 4, 1, 0, -1);
    buf_append_be32(&b, 200);
    put_hdr(&b, 0, 5, 8, 300, 8, 1, -1);
    put_body(&b, 9, 200);
    put_hdr(&b, 3, 5, 0, 0, 0, 0, -1);
    put_body(&b, 9 + 200 * 7, 100);
    struct run o;
    run_all_ways(b.data, b.len, 65536, 1 << 20, &o);
    cr_assert_eq(o.status, ST_AGAIN);
    cr_assert_eq(o.n, 3);
    expect_msg(&o, 0, 5, 8, 300, 7, 1);
    expect_msg(&o, 2, 5, 8, 300, 8, 1);
    cr_assert_eq(o.m[0].hash, body_hash(9, 300));
    cr_assert_eq(o.m[2].hash, body_hash(9, 300));
    cr_assert_eq(o.chunk_size, 200);
    run_free(&o);
    buf_free(&b);
}

Test(handcrafted, interleaved_chunk_streams)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    put_hdr(&b, 0, 4, 100, 200, 8, 1, -1);
    put_body(&b, 1, 128);
    put_hdr(&b, 0, 6, 90, 150, 9, 1, -1);
    put_body(&b, 2, 128);
    put_hdr(&b, 0, 300, 5, 3, 20, 0, -1); /* a short one on a 2-byte csid */
    put_body(&b, 3, 3);
    put_hdr(&b, 3, 6, 0, 0, 0, 0, -1);
    put_body(&b, 2 + 128 * 7, 22);
    put_hdr(&b, 3, 4, 0, 0, 0, 0, -1);
    put_body(&b, 1 + 128 * 7, 72);
    struct run o;
    run_all_ways(b.data, b.len, 65536, 1 << 20, &o);
    cr_assert_eq(o.n, 3);
    expect_msg(&o, 0, 300, 20, 3, 5, 0);
    expect_msg(&o, 1, 6, 9, 150, 90, 1);
    expect_msg(&o, 2, 4, 8, 200, 100, 1);
    cr_assert_eq(o.m[1].hash, body_hash(2, 150));
    cr_assert_eq(o.m[2].hash, body_hash(1, 200));
    run_free(&o);
    buf_free(&b);
}

Test(handcrafted, long_basic_headers)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    /* csid 64 in the 3-byte form is the same chunk stream as the 2-byte form */
    put_hdr(&b, 0, 64, 10, 1, 8, 3, -1);
    put_body(&b, 1, 1);
    buf_append_u8(&b, 0xc1); /* fmt 3, 3-byte form */
    buf_append_u8(&b, 0);
    buf_append_u8(&b, 0);
    put_body(&b, 2, 1);
    put_hdr(&b, 0, 65599, 2, 1, 9, 1, -1);
    put_body(&b, 2, 1);
    struct run o;
    run_all_ways(b.data, b.len, 65536, 1 << 20, &o);
    cr_assert_eq(o.status, ST_AGAIN);
    cr_assert_eq(o.n, 3);
    expect_msg(&o, 0, 64, 8, 1, 10, 3);
    expect_msg(&o, 1, 64, 8, 1, 20, 3);
    expect_msg(&o, 2, 65599, 9, 1, 2, 1);
    run_free(&o);
    buf_free(&b);
}

Test(handcrafted, extended_timestamps)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    /* type 0 with an extended timestamp, 200 bytes over two chunks: the
     * type-3 continuation repeats the extended field */
    put_hdr(&b, 0, 4, 0x01000000, 200, 9, 1, -1);
    put_body(&b, 5, 128);
    put_hdr(&b, 3, 4, 0, 0, 0, 0, 0x01000000);
    put_body(&b, 5 + 128 * 7, 72);
    /* type 3 new message: extended field present, delta = type-0 timestamp */
    put_hdr(&b, 3, 4, 0, 0, 0, 0, 0x01000000);
    put_body(&b, 6, 128);
    put_hdr(&b, 3, 4, 0, 0, 0, 0, 0x01000000);
    put_body(&b, 6 + 128 * 7, 72);
    /* type 2 with a small delta: no more extended field */
    put_hdr(&b, 2, 4, 5, 0, 0, 0, -1);
    put_body(&b, 7, 128);
    put_hdr(&b, 3, 4, 0, 0, 0, 0, -1);
    put_body(&b, 7 + 128 * 7, 72);
    /* type 1 with an extended delta, wrapping the 32-bit clock */
    put_hdr(&b, 1, 4, 0xFFFFFFF0u, 1, 8, 0, -1);
    put_body(&b, 8, 1);
    /* timestamp exactly 0xFFFFFF needs the extended form */
    put_hdr(&b, 0, 3, 0xFFFFFF, 1, 20, 0, -1);
    put_body(&b, 9, 1);
    put_hdr(&b, 0, 3, 0xFFFFFE, 1, 20, 0, -1);
    put_body(&b, 9, 1);
    struct run o;
    run_all_ways(b.data, b.len, 65536, 1 << 20, &o);
    cr_assert_eq(o.status, ST_AGAIN, "%s", o.error ? o.error : "");
    cr_assert_eq(o.n, 6);
    expect_msg(&o, 0, 4, 9, 200, 0x01000000, 1);
    expect_msg(&o, 1, 4, 9, 200, 0x02000000, 1);
    expect_msg(&o, 2, 4, 9, 200, 0x02000005, 1);
    expect_msg(&o, 3, 4, 8, 1, 0x01FFFFF5, 1);
    expect_msg(&o, 4, 3, 20, 1, 0xFFFFFF, 0);
    expect_msg(&o, 5, 3, 20, 1, 0xFFFFFE, 0);
    cr_assert_eq(o.m[0].hash, body_hash(5, 200));
    cr_assert_eq(o.m[1].hash, body_hash(6, 200));
    cr_assert_eq(o.m[2].hash, body_hash(7, 200));
    run_free(&o);
    buf_free(&b);
}

Test(handcrafted, zero_length_message)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    put_hdr(&b, 0, 3, 1, 0, 20, 0, -1);
    put_hdr(&b, 1, 3, 1, 0, 20, 0, -1);
    put_hdr(&b, 0, 3, 5, 2, 20, 0, -1);
    put_body(&b, 1, 2);
    struct run o;
    run_all_ways(b.data, b.len, 65536, 1 << 20, &o);
    cr_assert_eq(o.n, 3);
    expect_msg(&o, 0, 3, 20, 0, 1, 0);
    expect_msg(&o, 1, 3, 20, 0, 2, 0);
    expect_msg(&o, 2, 3, 20, 2, 5, 0);
    run_free(&o);
    buf_free(&b);
}

Test(handcrafted, abort_drops_partial_message)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    put_hdr(&b, 0, 4, 10, 200, 8, 1, -1);
    put_body(&b, 1, 128);
    /* Abort csid 4 */
    put_hdr(&b, 0, 2, 0, 4, 2, 0, -1);
    buf_append_be32(&b, 4);
    /* a fresh message on csid 4; the old one's remaining 72 bytes never come */
    put_hdr(&b, 0, 4, 20, 3, 8, 1, -1);
    put_body(&b, 2, 3);
    struct run o;
    run_all_ways(b.data, b.len, 65536, 1 << 20, &o);
    cr_assert_eq(o.status, ST_AGAIN);
    cr_assert_eq(o.n, 2);
    expect_msg(&o, 0, 2, 2, 4, 0, 0);
    expect_msg(&o, 1, 4, 8, 3, 20, 1);
    cr_assert_eq(o.m[1].hash, body_hash(2, 3));
    run_free(&o);
    buf_free(&b);
}

Test(handcrafted, abort_mid_chunk_skips_rest_of_chunk)
{
    struct rtmp_chunk_reader r;
    struct buf b;
    buf_init(&b, 1 << 20);
    put_hdr(&b, 0, 4, 10, 200, 8, 1, -1);
    put_body(&b, 1, 128);
    size_t mid = b.len - 50;
    put_hdr(&b, 0, 4, 20, 1, 8, 1, -1);
    put_body(&b, 2, 1);
    cr_assert_eq(rtmp_chunk_reader_init(&r, 65536, 1 << 20), ST_OK);
    size_t used;
    struct rtmp_message m;
    cr_assert_eq(rtmp_chunk_reader_feed(&r, b.data, mid, &used, &m), ST_AGAIN);
    rtmp_chunk_reader_abort(&r, 4);
    cr_assert_eq(rtmp_chunk_reader_feed(&r, b.data + mid, b.len - mid, &used, &m), ST_OK);
    cr_assert_eq(used, b.len - mid);
    cr_assert_eq(m.length, 1);
    cr_assert_eq(m.timestamp, 20);
    cr_assert_eq(m.payload[0], 2);
    rtmp_chunk_reader_abort(&r, 99); /* unknown csid: nothing happens */
    rtmp_chunk_reader_free(&r);
    buf_free(&b);
}

Test(handcrafted, truncated_input_loses_nothing)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    put_hdr(&b, 0, 65599, 0x01020304, 300, 9, 1, -1);
    put_body(&b, 1, 128);
    put_hdr(&b, 3, 65599, 0, 0, 0, 0, 0x01020304);
    put_body(&b, 1 + 128 * 7, 128);
    put_hdr(&b, 3, 65599, 0, 0, 0, 0, 0x01020304);
    put_body(&b, 1 + 256 * 7, 44);
    for (size_t k = 0; k < b.len; k++) {
        struct rtmp_chunk_reader r;
        size_t used;
        struct rtmp_message m;
        cr_assert_eq(rtmp_chunk_reader_init(&r, 65536, 1 << 20), ST_OK);
        cr_assert_eq(rtmp_chunk_reader_feed(&r, b.data, k, &used, &m), ST_AGAIN, "prefix %zu", k);
        cr_assert_eq(used, k);
        cr_assert_eq(r.bytes_in, k);
        cr_assert_eq(rtmp_chunk_reader_feed(&r, b.data + k, b.len - k, &used, &m), ST_OK);
        cr_assert_eq(used, b.len - k);
        cr_assert_eq(m.length, 300);
        cr_assert_eq(m.timestamp, 0x01020304);
        cr_assert_eq(m.csid, 65599);
        cr_assert_eq(fnv(m.payload, m.length), body_hash(1, 300));
        cr_assert_eq(rtmp_chunk_reader_feed(&r, b.data, 0, &used, &m), ST_AGAIN);
        cr_assert_eq(used, 0);
        rtmp_chunk_reader_free(&r);
    }
    buf_free(&b);
}

/* ---- errors ---- */

static void expect_error(const struct buf *b, uint32_t max_msg, const char *why, size_t msgs_before)
{
    struct run o;
    run_all_ways(b->data, b->len, 65536, max_msg, &o);
    cr_assert_eq(o.status, ST_ERROR);
    cr_assert_str_eq(o.error, why);
    cr_assert_eq(o.n, msgs_before);
    run_free(&o);
}

Test(errors, no_initial_type0)
{
    for (unsigned fmt = 1; fmt <= 3; fmt++) {
        struct buf b;
        buf_init(&b, 1 << 20);
        put_hdr(&b, 0, 3, 0, 1, 20, 0, -1);
        put_body(&b, 1, 1);
        put_hdr(&b, fmt, 5, 0, 1, 20, 0, -1);
        put_body(&b, 1, 1);
        expect_error(&b, 1 << 20, "chunk stream without an initial type-0 header", 1);
        buf_free(&b);
    }
}

Test(errors, oversize_message)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    put_hdr(&b, 0, 3, 0, 100, 20, 0, -1);
    put_body(&b, 1, 100);
    put_hdr(&b, 0, 3, 0, 101, 20, 0, -1);
    expect_error(&b, 100, "message larger than the maximum message size", 1);
    b.len = 0;
    put_hdr(&b, 0, 3, 0, 10, 20, 0, -1);
    put_body(&b, 1, 10);
    put_hdr(&b, 1, 3, 0, 0xFFFFFF, 20, 0, -1); /* via type 1 */
    expect_error(&b, 100, "message larger than the maximum message size", 1);
    buf_free(&b);
}

Test(errors, length_change_mid_message)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    put_hdr(&b, 0, 4, 0, 200, 8, 1, -1);
    put_body(&b, 1, 128);
    put_hdr(&b, 1, 4, 0, 100, 8, 0, -1);
    put_body(&b, 1, 72);
    expect_error(&b, 1 << 20, "message length changed mid-message", 0);

    /* the same length in a type-1 header mid-message is tolerated */
    b.len = 0;
    put_hdr(&b, 0, 4, 0, 200, 8, 1, -1);
    put_body(&b, 1, 128);
    put_hdr(&b, 1, 4, 3, 200, 8, 0, -1);
    put_body(&b, 1 + 128 * 7, 72);
    struct run o;
    run_all_ways(b.data, b.len, 65536, 1 << 20, &o);
    cr_assert_eq(o.status, ST_AGAIN);
    cr_assert_eq(o.n, 1);
    expect_msg(&o, 0, 4, 8, 200, 0, 1);
    cr_assert_eq(o.m[0].hash, body_hash(1, 200));
    run_free(&o);
    buf_free(&b);
}

Test(errors, chunk_size_caps)
{
    static const uint32_t bad[] = {0, 0x80000000u, 0xFFFFFFFFu, 65537};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rtmp_chunk_reader r;
        cr_assert_eq(rtmp_chunk_reader_init(&r, 65536, 1 << 20), ST_OK);
        cr_assert_eq(rtmp_chunk_reader_set_chunk_size(&r, bad[i]), ST_ERROR, "size %u", bad[i]);
        cr_assert_not_null(r.error);
        cr_assert_eq(r.chunk_size, 128);
        /* the reader is dead after an error */
        size_t used = 99;
        struct rtmp_message m;
        static const uint8_t one[] = {0x03};
        cr_assert_eq(rtmp_chunk_reader_feed(&r, one, 1, &used, &m), ST_ERROR);
        cr_assert_eq(used, 0);
        rtmp_chunk_reader_free(&r);
    }
    struct rtmp_chunk_reader r;
    cr_assert_eq(rtmp_chunk_reader_init(&r, 65536, 1 << 20), ST_OK);
    cr_assert_eq(rtmp_chunk_reader_set_chunk_size(&r, 65536), ST_OK);
    cr_assert_eq(rtmp_chunk_reader_set_chunk_size(&r, 1), ST_OK);
    cr_assert_eq(r.chunk_size, 1);
    rtmp_chunk_reader_free(&r);

    /* an absurd Set Chunk Size from the peer, through the message path */
    struct buf b;
    buf_init(&b, 1 << 20);
    put_hdr(&b, 0, 2, 0, 4, 1, 0, -1);
    buf_append_be32(&b, 0x7fffffff);
    put_hdr(&b, 0, 3, 0, 1, 20, 0, -1);
    put_body(&b, 1, 1);
    expect_error(&b, 1 << 20, "chunk size above the maximum", 1);
    buf_free(&b);
}

Test(errors, too_many_chunk_streams)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    /* 64 partial messages hold every slot */
    for (uint32_t c = 0; c < RTMP_CHUNK_READER_MAX_STREAMS; c++) {
        put_hdr(&b, 0, 3 + c, 0, 200, 8, 1, -1);
        put_body(&b, 1, 128);
    }
    size_t full = b.len;
    put_hdr(&b, 0, 3 + RTMP_CHUNK_READER_MAX_STREAMS, 0, 1, 8, 1, -1);
    put_body(&b, 1, 1);
    expect_error(&b, 1 << 20, "too many chunk streams with partial messages", 0);

    /* once csid 3 completes, its slot can be reused by a new csid ... */
    b.len = full;
    put_hdr(&b, 3, 3, 0, 0, 0, 0, -1);
    put_body(&b, 1 + 128 * 7, 72);
    put_hdr(&b, 0, 1000, 0, 1, 8, 1, -1);
    put_body(&b, 1, 1);
    size_t reused = b.len;
    struct run o;
    run_whole(b.data, b.len, 65536, 1 << 20, &o);
    cr_assert_eq(o.status, ST_AGAIN);
    cr_assert_eq(o.n, 2);
    expect_msg(&o, 1, 1000, 8, 1, 0, 1);
    run_free(&o);
    /* ... and csid 3 is forgotten */
    put_hdr(&b, 1, 3, 0, 1, 8, 0, -1);
    put_body(&b, 1, 1);
    run_whole(b.data, b.len, 65536, 1 << 20, &o);
    cr_assert_eq(o.status, ST_ERROR);
    cr_assert_str_eq(o.error, "chunk stream without an initial type-0 header");
    run_free(&o);
    /* the other 63 partial messages are intact */
    b.len = reused;
    for (uint32_t c = 1; c < RTMP_CHUNK_READER_MAX_STREAMS; c++) {
        put_hdr(&b, 3, 3 + c, 0, 0, 0, 0, -1);
        put_body(&b, 1 + 128 * 7, 72);
    }
    run_whole(b.data, b.len, 65536, 1 << 20, &o);
    cr_assert_eq(o.status, ST_AGAIN);
    cr_assert_eq(o.n, RTMP_CHUNK_READER_MAX_STREAMS + 1);
    for (size_t i = 2; i < o.n; i++)
        cr_assert_eq(o.m[i].hash, body_hash(1, 200));
    run_free(&o);
    buf_free(&b);
}

Test(errors, memory_budget)
{
    /* max message 1000: at most 4000 bytes of reassembly buffers */
    struct buf b;
    buf_init(&b, 1 << 20);
    for (uint32_t c = 0; c < 5; c++) {
        put_hdr(&b, 0, 3 + c, 0, 1000, 8, 1, -1);
        put_body(&b, 1, 128);
    }
    expect_error(&b, 1000, "partial messages over the memory budget", 0);

    /* completed messages' buffers are reclaimed for new ones */
    b.len = 0;
    for (uint32_t c = 0; c < 8; c++) {
        put_hdr(&b, 0, 3 + c, 0, 1000, 8, 1, -1);
        put_body(&b, (uint8_t)c, 128);
        for (int k = 1; k < 8; k++) {
            put_hdr(&b, 3, 3 + c, 0, 0, 0, 0, -1);
            put_body(&b, (uint8_t)(c + 128 * 7 * k), k < 7 ? 128 : 104);
        }
    }
    struct run o;
    run_all_ways(b.data, b.len, 65536, 1000, &o);
    cr_assert_eq(o.status, ST_AGAIN, "%s", o.error ? o.error : "");
    cr_assert_eq(o.n, 8);
    for (uint32_t c = 0; c < 8; c++)
        cr_assert_eq(o.m[c].hash, body_hash((uint8_t)c, 1000));
    run_free(&o);
    buf_free(&b);
}

Test(errors, garbage)
{
    uint8_t g[3000];
    for (uint32_t seed = 1; seed <= 40; seed++) {
        uint32_t x = seed;
        for (size_t i = 0; i < sizeof(g); i++) {
            x = x * 1103515245u + 12345u;
            g[i] = (uint8_t)(x >> 16);
        }
        /* start with a valid type-0 header half the time, so more of the
         * parser is reached */
        if (seed & 1)
            g[0] = 0x03;
        struct run w, o;
        run_whole(g, sizeof(g), 65536, 1 << 20, &w);
        run_bytewise(g, sizeof(g), 65536, 1 << 20, &o);
        assert_same(&w, &o, "garbage bytewise, seed", seed);
        run_free(&o);
        for (size_t k = 1; k < 200; k += 7) {
            run_cuts(g, sizeof(g), &k, 1, 65536, 1 << 20, &o);
            assert_same(&w, &o, "garbage split", k);
            run_free(&o);
        }
        run_free(&w);
    }
    /* a typical garbage start: fmt 1 on a new chunk stream */
    static const uint8_t http[] = "GET / HTTP/1.1\r\n\r\n";
    struct run o;
    run_whole(http, sizeof(http) - 1, 65536, 1 << 20, &o);
    cr_assert_eq(o.status, ST_ERROR);
    cr_assert_str_eq(o.error, "chunk stream without an initial type-0 header");
    run_free(&o);
}
