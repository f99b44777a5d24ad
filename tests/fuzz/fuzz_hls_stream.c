/*
 * libFuzzer driver for hls_stream: the input is a script of frames and
 * requests played against three streams at once (MPEG-TS, fMP4, low-latency
 * fMP4), all with a small byte cap so eviction and abandonment happen. Frames
 * carry fuzzed stamps (segment numbers, SEG_START, epochs, timestamps going
 * back) and bodies that are either well-formed (real AVC/AAC headers,
 * length-prefixed NAL units) or raw fuzz bytes.
 *
 * Invariants checked after every step: bytes held <= max_bytes; held segments
 * are consecutive and fetchable; playlists start with #EXTM3U, end with a
 * newline and list no more than `window` segments; ready() stays within
 * -1..1; a second rendering gives the same text. Leaks are ASan's business.
 */
#include "core/buf.h"
#include "core/log.h"
#include "core/status.h"
#include "fanout/fanout_frame.h"
#include "hls/hls_stream.h"

#include <stdlib.h>
#include <string.h>

#define CAP HLS_STREAM_MIN_BYTES

/* The sequence headers of tests/data/codec/h264_aac_160x120.flv. */
static const uint8_t avc_hdr[] = {0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x42, 0xc0, 0x0b, 0xff, 0xe1,
                                  0x00, 0x18, 0x67, 0x42, 0xc0, 0x0b, 0xda, 0x0a, 0x11, 0xf9, 0x70,
                                  0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x32,
                                  0x0f, 0x14, 0x2a, 0xa0, 0x01, 0x00, 0x04, 0x68, 0xce, 0x0f, 0xc8};
static const uint8_t aac_hdr[] = {0xaf, 0x00, 0x13, 0x90, 0x56, 0xe5, 0x00};
static const uint8_t aac_mono[] = {0xaf, 0x00, 0x13, 0x88};

struct script {
    const uint8_t *p;
    size_t n, off;
};

static uint8_t next(struct script *s) { return s->off < s->n ? s->p[s->off++] : 0; }

struct state {
    uint32_t ts, segment, epoch;
    uint64_t wall;
};

/* A body: well-formed media of `kind` built around fuzz bytes, or raw bytes. */
static uint32_t make_body(struct script *s, uint8_t kind, int key, uint8_t *out, uint32_t cap)
{
    uint8_t mode = next(s);
    uint32_t len = next(s);
    if (mode & 0x80)
        len = len << 4 | (next(s) & 15);
    if (len > cap - 16)
        len = cap - 16;
    uint32_t n = 0;
    if ((mode & 3) == 0) { /* raw */
        for (uint32_t i = 0; i < len; i++)
            out[n++] = next(s);
        return n;
    }
    if (kind == FANOUT_VIDEO) {
        out[n++] = key ? 0x17 : 0x27;
        out[n++] = (mode & 3) == 3 ? 2 : 1; /* sometimes end of sequence */
        out[n++] = 0;
        out[n++] = 0;
        out[n++] = next(s) & 0x3f; /* composition time */
        wr_be32(out + n, len + 1);
        n += 4;
        out[n++] = key ? 0x65 : 0x41;
    } else {
        out[n++] = 0xaf;
        out[n++] = 1;
    }
    for (uint32_t i = 0; i < len; i++)
        out[n++] = next(s);
    return n;
}

static void check(struct hls_stream *h)
{
    struct hls_stream_stats st;
    hls_stream_get_stats(h, &st);
    if (st.bytes > CAP)
        abort();
    for (uint32_t i = 0; i < st.segments; i++) {
        struct hls_blob *b = hls_stream_segment(h, st.last_msn - i);
        if (!b || b->refs < 2)
            abort();
        hls_blob_unref(b);
    }
    if (st.segments && hls_stream_segment(h, st.last_msn - st.segments))
        abort(); /* would not be consecutive, or not evicted */
}

static void render(struct hls_stream *h, int skip)
{
    /* Fixed storage (cap == max, so never reallocated): allocations under ASan
     * cost more than the rendering itself. */
    static uint8_t sa[1 << 16], sb[1 << 16];
    struct buf a = {sa, 0, sizeof(sa), sizeof(sa)}, b = {sb, 0, sizeof(sb), sizeof(sb)};
    int ra = hls_stream_playlist(h, &a, skip), rb = hls_stream_playlist(h, &b, skip);
    if (ra != rb || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len)))
        abort();
    if (ra == ST_OK) {
        if (a.len < 8 || memcmp(a.data, "#EXTM3U\n", 8) || a.data[a.len - 1] != '\n')
            abort();
        unsigned n = 0;
        for (size_t i = 0; i + 7 < a.len; i++)
            n += !memcmp(a.data + i, "#EXTINF", 7);
        if (n > h->set.window)
            abort();
    } else if ((ra != ST_AGAIN && ra != ST_ERROR) || a.len) {
        abort(); /* ST_ERROR only if 64 KB were not enough */
    }
}

static void fetch(struct hls_stream *h, struct script *s)
{
    struct hls_stream_stats st;
    hls_stream_get_stats(h, &st);
    uint64_t msn = st.last_msn + (uint64_t)(int8_t)next(s);
    int32_t part = (int32_t)(int8_t)next(s);
    int r = hls_stream_ready(h, msn, part);
    if (r < -1 || r > 1)
        abort();
    hls_blob_unref(hls_stream_segment(h, msn));
    hls_blob_unref(hls_stream_part(h, msn, (uint32_t)part));
    hls_blob_unref(hls_stream_init_segment(h, msn));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t body[8192];
    log_set_level(LOG_LEVEL_ERROR); /* muxer warnings are expected here */
    struct hls_stream hs[3];
    struct hls_stream_settings set[3] = {
        {HLS_FORMAT_TS, 0, 3, 500, CAP},
        {HLS_FORMAT_FMP4, 0, 2, 300, CAP},
        {HLS_FORMAT_FMP4, 1, 4, 100, CAP},
    };
    for (int i = 0; i < 3; i++)
        if (hls_stream_init(&hs[i], &set[i], "fz") != ST_OK)
            abort();
    struct script s = {data, size, 0};
    struct state st = {1000, 100, 1, 1795849200123ULL};
    while (s.off < s.n) {
        uint8_t op = next(&s);
        struct fanout_frame *f = NULL;
        switch (op & 7) {
        case 0:
        case 1:
        case 2: { /* media frame; op bits choose kind, key, SEG_START, timing */
            uint8_t kind = (op & 7) == 2 ? FANOUT_AUDIO : FANOUT_VIDEO;
            int key = (op & 8) != 0;
            uint8_t flags = key && kind == FANOUT_VIDEO ? FANOUT_FLAG_KEY : 0;
            if (op & 16) {
                flags |= FANOUT_FLAG_SEG_START;
                st.segment++;
            }
            st.ts += (op & 32) ? (uint32_t)(int8_t)next(&s) : (uint32_t)next(&s) * 4u;
            uint32_t n = make_body(&s, kind, key, body, sizeof(body));
            f = fanout_frame_new(kind, flags, st.ts, body, n, 4096);
            break;
        }
        case 3: { /* sequence header: real, alternative or fuzzed */
            uint8_t kind = op & 8 ? FANOUT_AUDIO : FANOUT_VIDEO;
            const uint8_t *p = kind == FANOUT_VIDEO ? avc_hdr : (op & 16 ? aac_mono : aac_hdr);
            uint32_t n = kind == FANOUT_VIDEO ? sizeof(avc_hdr) : op & 16 ? sizeof(aac_mono) : sizeof(aac_hdr);
            if (op & 32) {
                n = make_body(&s, kind, 1, body, sizeof(body));
                body[1 % (n ? n : 1)] = 0;
                p = body;
            }
            f = fanout_frame_new(kind, FANOUT_FLAG_SEQ_HEADER, st.ts, p, n, 4096);
            break;
        }
        case 4: /* stamps: epoch change, segment jump */
            st.epoch += op & 8 ? 1 : (uint32_t)(int8_t)next(&s);
            if (op & 16)
                st.segment += (uint32_t)(int8_t)next(&s);
            if (op & 32)
                st.ts -= next(&s) * 16u;
            break;
        case 5:
            for (int i = 0; i < 3; i++)
                render(&hs[i], (op & 8) != 0);
            break;
        case 6:
            for (int i = 0; i < 3; i++)
                fetch(&hs[i], &s);
            break;
        case 7:
            f = fanout_frame_new(FANOUT_DATA, op & 8 ? FANOUT_FLAG_METADATA : FANOUT_FLAG_SEG_START, st.ts,
                                 (const uint8_t *)"\x02", 1, 4096);
            break;
        }
        if (f) {
            f->segment = st.segment;
            f->epoch = st.epoch;
            f->wall_ms = st.wall + st.ts;
            for (int i = 0; i < 3; i++) {
                unsigned m = hls_stream_push(&hs[i], f);
                if (m & ~(unsigned)(HLS_STREAM_NEW_PART | HLS_STREAM_NEW_SEGMENT))
                    abort();
                if ((m & HLS_STREAM_NEW_PART) && !set[i].low_latency && set[i].format == HLS_FORMAT_TS)
                    abort();
            }
            fanout_frame_unref(f);
        }
        for (int i = 0; i < 3; i++)
            check(&hs[i]);
    }
    for (int i = 0; i < 3; i++) {
        render(&hs[i], 1);
        hls_stream_free(&hs[i]);
    }
    return 0;
}
