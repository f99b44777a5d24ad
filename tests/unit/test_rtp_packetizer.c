/*
 * rtp_packetizer: RTP headers (version, PT, SSRC, sequence across frames and
 * its wrap, timestamps from pts/dts, marker), FU-A/FU fragment bits, and a
 * test-only depacketizer that reassembles every list back into NAL units and
 * AAC AUs: split + reassembly must give the input back at NAL sizes 1,
 * mtu-1, mtu, mtu+1, 10*mtu and 100 kB for several payload limits, with the
 * parameter sets in front of every IDR/IRAP. Inputs are the real ffmpeg FLV
 * (tests/data/codec/h264_aac_160x120.flv) and real x265 configuration
 * records, plus built bodies for the paths encoders rarely take. Every
 * truncation of a real body, malformed and garbage bodies must fail with
 * the list and the packetizer untouched.
 *
 * Set SC_RTP_ANNEXB=<path> to get the reassembled H.264 of the real FLV as
 * an Annex B file (to check with ffprobe / ffmpeg -f framemd5).
 */
#include <criterion/criterion.h>

#include "test_data.h"

#include "core/buf.h"
#include "core/status.h"
#include "rtsp/rtp_packetizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SC_TEST_DATA
#define SC_TEST_DATA "tests/data"
#endif

#define PT_V 96
#define PT_A 97
#define SSRC 0x11223344u
#define LIST_MAX (8u << 20)


/* ---- the real FLV: 9-byte header, then PreviousTagSize + tag ---- */

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
    int video_cfg, audio_cfg; /* tag index of each sequence header */
};

static void flv_load(struct flv *f)
{
    size_t len, off = 13;
    memset(f, 0, sizeof(*f));
    f->file = test_data_load("codec/h264_aac_160x120.flv", &len);
    f->video_cfg = f->audio_cfg = -1;
    while (off + 11 <= len) {
        const uint8_t *t = f->file + off;
        uint32_t n = rd_be24(t + 1);
        cr_assert_leq(off + 11 + n, len);
        cr_assert_lt(f->n, MAX_TAGS);
        f->tag[f->n].type = t[0];
        f->tag[f->n].ts = rd_be24(t + 4) | (uint32_t)t[7] << 24;
        f->tag[f->n].body = t + 11;
        f->tag[f->n].len = n;
        if (t[0] == 9 && n > 1 && t[12] == 0 && f->video_cfg < 0)
            f->video_cfg = f->n;
        if (t[0] == 8 && n > 1 && t[12] == 0 && f->audio_cfg < 0)
            f->audio_cfg = f->n;
        f->n++;
        off += 11 + n + 4;
    }
    cr_assert_geq(f->video_cfg, 0);
    cr_assert_geq(f->audio_cfg, 0);
}

static struct hls_codec_headers flv_headers(const struct flv *f)
{
    return (struct hls_codec_headers){ f->tag[f->video_cfg].body, f->tag[f->video_cfg].len,
                                       f->tag[f->audio_cfg].body, f->tag[f->audio_cfg].len };
}

/* ---- building bodies: NAL units are kept as be32 length + bytes ---- */

static void nal_add(struct buf *nals, const uint8_t *p, size_t n)
{
    cr_assert_eq(buf_append_be32(nals, (uint32_t)n), ST_OK);
    cr_assert_eq(buf_append(nals, p, n), ST_OK);
}

/* A NAL unit of n bytes: the header byte(s) given, then a counting pattern. */
static void nal_make(struct buf *nals, int hevc, unsigned type, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    cr_assert_not_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 7 + n);
    if (hevc) {
        p[0] = (uint8_t)(type << 1);
        if (n > 1)
            p[1] = 1; /* TID 0 + 1 */
    } else {
        p[0] = (uint8_t)(0x60 | type);
    }
    nal_add(nals, p, n);
    free(p);
}

/* A legacy (codec id 7 or 12) coded-frame body with length_size-byte
 * prefixes around the NAL units of nals. */
static void body_make(struct buf *body, int hevc, int key, int32_t cts, unsigned length_size,
                      const struct buf *nals)
{
    buf_reset(body);
    cr_assert_eq(buf_append_u8(body, (uint8_t)((key ? 0x10 : 0x20) | (hevc ? 12 : 7))), ST_OK);
    cr_assert_eq(buf_append_u8(body, 1), ST_OK);
    cr_assert_eq(buf_append_be24(body, (uint32_t)cts & 0xffffff), ST_OK);
    for (size_t off = 0; off < nals->len;) {
        uint32_t n = rd_be32(nals->data + off);
        for (unsigned i = length_size; i-- > 0;)
            cr_assert_eq(buf_append_u8(body, (uint8_t)(n >> (8 * i))), ST_OK);
        cr_assert_eq(buf_append(body, nals->data + off + 4, n), ST_OK);
        off += 4 + n;
    }
}

/* ---- test-only depacketizer ---- */

struct depack {
    int hevc;
    uint8_t pt;
    uint32_t ssrc;
    size_t mtu;
    int have_seq;
    uint16_t next_seq;
    struct buf nals;  /* reassembled NAL units (be32 length + bytes) of the last list */
    uint32_t ts;      /* RTP timestamp of the last list */
    size_t fu_start;  /* offset in nals of the NAL being reassembled */
    int in_fu;
    unsigned packets; /* in the last list */
};

static void depack_init(struct depack *d, int hevc, uint8_t pt, size_t mtu)
{
    memset(d, 0, sizeof(*d));
    d->hevc = hevc;
    d->pt = pt;
    d->ssrc = SSRC;
    d->mtu = mtu;
    buf_init(&d->nals, 1u << 24);
}

static void depack_free(struct depack *d) { buf_free(&d->nals); }

/* Common RTP header checks; returns the payload. */
static const uint8_t *check_header(struct depack *d, const struct rtp_packet_list *l, uint32_t i, size_t *n)
{
    size_t len;
    const uint8_t *p = rtp_packet_list_packet(l, i, &len);
    cr_assert_geq(len, RTP_HEADER_LEN + 1, "packet %u too short", i);
    cr_assert_leq(len, RTP_HEADER_LEN + d->mtu, "packet %u over the payload limit", i);
    cr_assert_eq(p[0], 0x80, "V=2, no padding/extension/CSRC");
    cr_assert_eq(p[1] & 0x7f, d->pt);
    cr_assert_eq(!!(p[1] & 0x80), i + 1 == l->count, "marker on the last packet only (packet %u)", i);
    if (d->have_seq)
        cr_assert_eq(rd_be16(p + 2), d->next_seq, "sequence gap at packet %u", i);
    d->have_seq = 1;
    d->next_seq = (uint16_t)(rd_be16(p + 2) + 1);
    if (i == 0)
        d->ts = rd_be32(p + 4);
    cr_assert_eq(rd_be32(p + 4), d->ts, "one timestamp per frame");
    cr_assert_eq(rd_be32(p + 8), d->ssrc);
    *n = len - RTP_HEADER_LEN;
    return p + RTP_HEADER_LEN;
}

/* Reassemble one video list (one access unit) into d->nals. */
static void depack_video(struct depack *d, const struct rtp_packet_list *l)
{
    buf_reset(&d->nals);
    d->packets = l->count;
    cr_assert_eq(l->offsets[0], RTP_PACKET_HEADROOM);
    cr_assert_eq(l->offsets[l->count], l->len + RTP_PACKET_HEADROOM);
    for (uint32_t i = 0; i < l->count; i++) {
        size_t n;
        const uint8_t *p = check_header(d, l, i, &n);
        unsigned type = d->hevc ? (p[0] >> 1) & 0x3f : p[0] & 0x1f;
        unsigned fu = d->hevc ? 49 : 28, hdr = d->hevc ? 2 : 1;
        cr_assert(type == fu || type < (d->hevc ? 48u : 24u), "only single NAL and FU packets (type %u)", type);
        if (type != fu) {
            cr_assert(!d->in_fu, "single NAL packet inside a fragmented unit");
            nal_add(&d->nals, p, n);
            continue;
        }
        cr_assert_gt(n, hdr + 1, "FU without data");
        uint8_t fh = p[hdr];
        int s = fh >> 7, e = (fh >> 6) & 1;
        cr_assert(!(s && e), "S and E both set");
        if (!d->hevc)
            cr_assert_eq(fh & 0x20, 0, "FU-A R bit");
        if (s) {
            cr_assert(!d->in_fu, "FU start inside a fragmented unit");
            d->in_fu = 1;
            d->fu_start = d->nals.len;
            cr_assert_eq(buf_append_be32(&d->nals, 0), ST_OK);
            if (d->hevc) {
                uint8_t h2[2] = { (uint8_t)((p[0] & 0x81) | (fh & 0x3f) << 1), p[1] };
                cr_assert_eq(buf_append(&d->nals, h2, 2), ST_OK);
            } else {
                cr_assert_eq(buf_append_u8(&d->nals, (uint8_t)((p[0] & 0xe0) | (fh & 0x1f))), ST_OK);
            }
        } else {
            cr_assert(d->in_fu, "FU continuation without a start");
            /* Every fragment repeats the type of the unit being rebuilt. */
            const uint8_t *h0 = d->nals.data + d->fu_start + 4;
            unsigned t0 = d->hevc ? (h0[0] >> 1) & 0x3f : h0[0] & 0x1f;
            cr_assert_eq(fh & (d->hevc ? 0x3f : 0x1f), t0);
        }
        cr_assert_eq(buf_append(&d->nals, p + hdr + 1, n - hdr - 1), ST_OK);
        if (e) {
            wr_be32(d->nals.data + d->fu_start, (uint32_t)(d->nals.len - d->fu_start - 4));
            d->in_fu = 0;
        }
    }
    cr_assert(!d->in_fu, "access unit ends inside a fragmented unit");
}

/* Reassemble one AAC list (one AU, maybe fragmented) into d->nals. */
static void depack_aac(struct depack *d, const struct rtp_packet_list *l)
{
    size_t au_size = 0;
    buf_reset(&d->nals);
    d->packets = l->count;
    for (uint32_t i = 0; i < l->count; i++) {
        size_t n;
        const uint8_t *p = check_header(d, l, i, &n);
        cr_assert_gt(n, 4);
        cr_assert_eq(rd_be16(p), 16, "AU-headers-length: one 16-bit AU-header");
        cr_assert_eq(p[3] & 7, 0, "AU-index 0");
        size_t size = rd_be16(p + 2) >> 3;
        if (i == 0)
            au_size = size;
        cr_assert_eq(size, au_size, "every fragment carries the whole AU size");
        cr_assert_eq(buf_append(&d->nals, p + 4, n - 4), ST_OK);
    }
    cr_assert_eq(d->nals.len, au_size);
}

/* ---- packetizing helpers ---- */

static int video(struct rtp_packetizer *p, const struct hls_codec_headers *h, const uint8_t *body, size_t len,
                 uint32_t dts, struct rtp_packet_list *out, const char **err)
{
    struct hls_sample s = { HLS_SAMPLE_VIDEO, 0, dts, body, (uint32_t)len };
    rtp_packet_list_reset(out);
    return rtp_packetizer_video(p, h, &s, out, err);
}

static int audio(struct rtp_packetizer *p, const uint8_t *body, size_t len, uint32_t dts,
                 struct rtp_packet_list *out, const char **err)
{
    struct hls_sample s = { HLS_SAMPLE_AUDIO, 0, dts, body, (uint32_t)len };
    rtp_packet_list_reset(out);
    return rtp_packetizer_audio(p, NULL, &s, out, err);
}

/* The n-th reassembled NAL unit's type, or -1. */
static int nth_type(const struct buf *nals, int hevc, unsigned idx, size_t *len)
{
    size_t off = 0;
    for (unsigned i = 0; off < nals->len; i++) {
        uint32_t n = rd_be32(nals->data + off);
        if (i == idx) {
            const uint8_t *p = nals->data + off + 4;
            if (len)
                *len = n;
            return hevc ? (p[0] >> 1) & 0x3f : p[0] & 0x1f;
        }
        off += 4 + n;
    }
    return -1;
}

static unsigned nal_count(const struct buf *nals)
{
    unsigned c = 0;
    for (size_t off = 0; off < nals->len; c++)
        off += 4 + rd_be32(nals->data + off);
    return c;
}

/* Parameter sets of a record as be32-prefixed NAL units. */
static void params_as_nals(const struct hls_codec_headers *h, struct buf *out)
{
    struct rtp_packetizer_params ps;
    const char *err = NULL;
    cr_assert_eq(rtp_packetizer_video_params(h, &ps, &err), ST_OK, "%s", err);
    for (unsigned i = 0; i < ps.n; i++)
        nal_add(out, ps.nal[i], ps.len[i]);
}

/* ---- headers, sequence numbers, timestamps ---- */

Test(rtp_packetizer, header_fields_and_layout)
{
    struct flv f;
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    const char *err = NULL;
    flv_load(&f);
    struct hls_codec_headers h = flv_headers(&f);
    rtp_packetizer_init(&p, PT_V, 90000, SSRC, 1000, 0xfffffff0u, 1400);
    rtp_packet_list_init(&l, LIST_MAX);

    /* The second P frame: one small NAL, cts 0 (dts 86). */
    int idx = -1;
    for (int i = 0; i < f.n; i++)
        if (f.tag[i].type == 9 && f.tag[i].len == 134)
            idx = i;
    cr_assert_geq(idx, 0);
    cr_assert_eq(video(&p, &h, f.tag[idx].body, f.tag[idx].len, f.tag[idx].ts, &l, &err), ST_OK, "%s", err);
    cr_assert_eq(l.count, 1);
    size_t n;
    const uint8_t *pkt = rtp_packet_list_packet(&l, 0, &n);
    cr_assert_eq(pkt, l.data + RTP_PACKET_HEADROOM);
    cr_assert_eq(n, RTP_HEADER_LEN + f.tag[idx].len - 9);
    cr_assert_eq(l.len, RTP_PACKET_HEADROOM + n);
    cr_assert_eq(pkt[0], 0x80);
    cr_assert_eq(pkt[1], 0x80 | PT_V, "marker + PT");
    cr_assert_eq(rd_be16(pkt + 2), 1000);
    cr_assert_eq(rd_be32(pkt + 4), 0xfffffff0u + 86u * 90u, "ts_base + pts*90 wraps mod 2^32");
    cr_assert_eq(rd_be32(pkt + 8), SSRC);
    cr_assert_eq(memcmp(pkt + 12, f.tag[idx].body + 9, n - 12), 0);
    cr_assert_eq(p.seq, 1001);
    cr_assert_eq(p.packets, 1);
    cr_assert_eq(p.octets, n - 12);

    /* The interleaved header goes into the headroom. */
    size_t il;
    uint8_t *w = rtp_packet_list_interleave(&l, 0, 2, &il);
    cr_assert_eq(w, l.data);
    cr_assert_eq(il, n + 4);
    cr_assert_eq(w[0], '$');
    cr_assert_eq(w[1], 2);
    cr_assert_eq(rd_be16(w + 2), n);
    cr_assert_eq(w[4], 0x80, "the packet itself is untouched");

    rtp_packet_list_free(&l);
    free(f.file);
}

Test(rtp_packetizer, payload_type_and_mtu_are_clamped)
{
    struct rtp_packetizer p;
    rtp_packetizer_init(&p, 0xff, 90000, 1, 0, 0, 0);
    cr_assert_eq(p.payload_type, 0x7f);
    cr_assert_eq(p.mtu, RTP_PACKETIZER_MIN_PAYLOAD);
    rtp_packetizer_init(&p, 96, 90000, 1, 0, 0, (size_t)1 << 40);
    cr_assert_eq(p.mtu, RTP_PACKETIZER_MAX_PAYLOAD);
    rtp_packetizer_init(&p, 96, 90000, 1, 0, 0, 1400);
    cr_assert_eq(p.mtu, 1400);
}

Test(rtp_packetizer, sequence_continues_across_frames_and_wraps)
{
    struct hls_codec_headers h = { 0 };
    size_t cfg_len;
    uint8_t *cfg = test_data_load("codec/h264_high_720.bin", &cfg_len);
    h.video = cfg;
    h.video_len = (uint32_t)cfg_len;
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    struct buf nals, body;
    struct depack d;
    const char *err = NULL;

    buf_init(&nals, 1 << 20);
    buf_init(&body, 1 << 20);
    rtp_packet_list_init(&l, LIST_MAX);
    rtp_packetizer_init(&p, PT_V, 90000, SSRC, 65530, 0, 100);
    depack_init(&d, 0, PT_V, 100);
    nal_make(&nals, 0, 1, 450); /* 5 fragments */
    body_make(&body, 0, 0, 0, 4, &nals);
    uint32_t seen = 0;
    int wrapped = 0;
    for (int frame = 0; frame < 4; frame++) {
        cr_assert_eq(video(&p, &h, body.data, body.len, (uint32_t)frame * 40, &l, &err), ST_OK, "%s", err);
        cr_assert_eq(l.count, 5);
        for (uint32_t i = 0; i < l.count; i++) {
            size_t n;
            uint16_t s = rd_be16(rtp_packet_list_packet(&l, i, &n) + 2);
            cr_assert_eq(s, (uint16_t)(65530 + seen), "seq %u", s);
            wrapped |= s == 0;
            seen++;
        }
        depack_video(&d, &l); /* also checks continuity across lists */
        cr_assert_eq(d.ts, (uint32_t)frame * 40 * 90);
        cr_assert_eq(d.nals.len, nals.len);
        cr_assert_eq(memcmp(d.nals.data, nals.data, nals.len), 0);
    }
    cr_assert(wrapped);
    cr_assert_eq(p.seq, (uint16_t)(65530 + 20));
    cr_assert_eq(p.packets, 20);

    depack_free(&d);
    buf_free(&nals);
    buf_free(&body);
    rtp_packet_list_free(&l);
    free(cfg);
}

Test(rtp_packetizer, video_timestamps_use_pts)
{
    size_t cfg_len;
    uint8_t *cfg = test_data_load("codec/h264_high_720.bin", &cfg_len);
    struct hls_codec_headers h = { cfg, (uint32_t)cfg_len, NULL, 0 };
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    struct buf nals, body;
    const char *err = NULL;
    size_t n;

    buf_init(&nals, 4096);
    buf_init(&body, 4096);
    rtp_packet_list_init(&l, LIST_MAX);
    rtp_packetizer_init(&p, PT_V, 90000, SSRC, 0, 1000, 1400);
    nal_make(&nals, 0, 1, 10);
    static const struct {
        uint32_t dts;
        int32_t cts;
        uint32_t ts;
    } cases[] = {
        { 0, 0, 1000 },
        { 40, 80, 1000 + 120 * 90 },
        { 1000, -40, 1000 + 960 * 90 },
        { 0, -40, (uint32_t)(1000 - 40 * 90) },                  /* negative pts wraps below ts_base */
        { 0xffffffffu, 0, 1000 + (uint32_t)(0xffffffffull * 90) }, /* no overflow at the top */
        { 3600000, 0, 1000 + 3600000u * 90 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        body_make(&body, 0, 0, cases[i].cts, 4, &nals);
        cr_assert_eq(video(&p, &h, body.data, body.len, cases[i].dts, &l, &err), ST_OK, "%s", err);
        cr_assert_eq(rd_be32(rtp_packet_list_packet(&l, 0, &n) + 4), cases[i].ts, "case %zu", i);
    }
    cr_assert_eq(rtp_packetizer_timestamp(&p, 1000), 1000 + 90000);
    cr_assert_eq(rtp_packetizer_timestamp(&p, -1000), (uint32_t)(1000 - 90000));

    buf_free(&nals);
    buf_free(&body);
    rtp_packet_list_free(&l);
    free(cfg);
}

Test(rtp_packetizer, audio_timestamps_from_absolute_ms)
{
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    const char *err = NULL;
    size_t n;
    uint8_t body[] = { 0xaf, 1, 0x21, 0x10, 0x04 };
    rtp_packet_list_init(&l, LIST_MAX);
    rtp_packetizer_init(&p, PT_A, 44100, SSRC, 7, 5, 1400);
    /* 44.1 samples per ms: rounded per frame from absolute ms, so 1000
     * frames of 23 ms land on exactly 23 s * 44100 - no accumulated drift. */
    static const struct {
        uint32_t dts, ts;
    } cases[] = { { 0, 5 }, { 23, 5 + 1014 }, { 46, 5 + 2028 }, { 23000, 5 + 1014300 },
                  { 0xffffffffu, 5 + (uint32_t)(0xffffffffull * 44100 / 1000) } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(audio(&p, body, sizeof(body), cases[i].dts, &l, &err), ST_OK, "%s", err);
        cr_assert_eq(rd_be32(rtp_packet_list_packet(&l, 0, &n) + 4), cases[i].ts, "case %zu", i);
    }
    rtp_packet_list_free(&l);
}

/* ---- fragmentation ---- */

Test(rtp_packetizer, fu_a_bits)
{
    size_t cfg_len;
    uint8_t *cfg = test_data_load("codec/h264_high_720.bin", &cfg_len);
    struct hls_codec_headers h = { cfg, (uint32_t)cfg_len, NULL, 0 };
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    struct buf nals, body;
    const char *err = NULL;

    buf_init(&nals, 1 << 16);
    buf_init(&body, 1 << 16);
    rtp_packet_list_init(&l, LIST_MAX);
    rtp_packetizer_init(&p, PT_V, 90000, SSRC, 0, 0, 1400);
    nal_make(&nals, 0, 1, 3000); /* NRI 3, type 1: 2999 data bytes = 1398 + 1398 + 203 */
    body_make(&body, 0, 0, 0, 4, &nals);
    cr_assert_eq(video(&p, &h, body.data, body.len, 0, &l, &err), ST_OK, "%s", err);
    cr_assert_eq(l.count, 3);
    static const uint8_t fu_hdr[3] = { 0x81, 0x01, 0x41 };
    static const size_t sizes[3] = { 1412, 1412, 217 };
    for (uint32_t i = 0; i < 3; i++) {
        size_t n;
        const uint8_t *pkt = rtp_packet_list_packet(&l, i, &n);
        cr_assert_eq(n, sizes[i], "packet %u", i);
        cr_assert_eq(pkt[12], 0x60 | 28, "FU indicator keeps F/NRI, type 28");
        cr_assert_eq(pkt[13], fu_hdr[i], "FU header of packet %u: %02x", i, pkt[13]);
        cr_assert_eq(!!(pkt[1] & 0x80), i == 2);
    }
    buf_free(&nals);
    buf_free(&body);
    rtp_packet_list_free(&l);
    free(cfg);
}

Test(rtp_packetizer, hevc_fu_bits)
{
    size_t cfg_len;
    uint8_t *cfg = test_data_load("codec/hevc_main_1080.bin", &cfg_len);
    struct hls_codec_headers h = { cfg, (uint32_t)cfg_len, NULL, 0 };
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    struct buf nals, body;
    const char *err = NULL;

    buf_init(&nals, 1 << 16);
    buf_init(&body, 1 << 16);
    rtp_packet_list_init(&l, LIST_MAX);
    rtp_packetizer_init(&p, PT_V, 90000, SSRC, 0, 0, 100);
    nal_make(&nals, 1, 1, 200); /* TRAIL_R: 198 data bytes = 97 + 97 + 4 */
    body_make(&body, 1, 0, 0, 4, &nals);
    cr_assert_eq(video(&p, &h, body.data, body.len, 0, &l, &err), ST_OK, "%s", err);
    cr_assert_eq(l.count, 3);
    static const uint8_t fu_hdr[3] = { 0x81, 0x01, 0x41 };
    for (uint32_t i = 0; i < 3; i++) {
        size_t n;
        const uint8_t *pkt = rtp_packet_list_packet(&l, i, &n);
        cr_assert_eq(n, i < 2 ? 112u : 19u);
        cr_assert_eq(pkt[12], 49 << 1, "PayloadHdr type 49, F and LayerId 0");
        cr_assert_eq(pkt[13], 1, "TID copied");
        cr_assert_eq(pkt[14], fu_hdr[i]);
    }
    buf_free(&nals);
    buf_free(&body);
    rtp_packet_list_free(&l);
    free(cfg);
}

/* Split + reassembly at the sizes that matter around each payload limit. */
static void reassembly_at_sizes(int hevc, const char *cfg_file)
{
    static const size_t mtus[] = { RTP_PACKETIZER_MIN_PAYLOAD, 100, 1200, 1400, 1460 };
    size_t cfg_len;
    uint8_t *cfg = test_data_load(cfg_file, &cfg_len);
    struct hls_codec_headers h = { cfg, (uint32_t)cfg_len, NULL, 0 };
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    struct buf nals, body, all;
    struct depack d;
    const char *err = NULL;
    size_t min = hevc ? 2 : 1;

    buf_init(&nals, 1 << 22);
    buf_init(&all, 1 << 22);
    buf_init(&body, 1 << 22);
    rtp_packet_list_init(&l, LIST_MAX);
    for (size_t m = 0; m < sizeof(mtus) / sizeof(mtus[0]); m++) {
        size_t mtu = mtus[m];
        size_t sizes[] = { min, mtu - 1, mtu, mtu + 1, 10 * mtu, 100000, 2 * mtu - 3, 2 * mtu - 2 };
        rtp_packetizer_init(&p, PT_V, 90000, SSRC, (uint16_t)(m * 1000), 0, mtu);
        depack_init(&d, hevc, PT_V, mtu);
        buf_reset(&all);
        /* One NAL unit per frame, then all of them in one frame. */
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            buf_reset(&nals);
            nal_make(&nals, hevc, 1, sizes[i]);
            nal_make(&all, hevc, 1, sizes[i]);
            body_make(&body, hevc, 0, 0, 4, &nals);
            cr_assert_eq(video(&p, &h, body.data, body.len, 0, &l, &err), ST_OK, "%s", err);
            depack_video(&d, &l);
            cr_assert_eq(d.nals.len, nals.len, "mtu %zu size %zu", mtu, sizes[i]);
            cr_assert_eq(memcmp(d.nals.data, nals.data, nals.len), 0, "mtu %zu size %zu", mtu, sizes[i]);
            size_t hdr = hevc ? 2 : 1, fu = hevc ? 3 : 2;
            size_t want = sizes[i] <= mtu ? 1 : (sizes[i] - hdr + mtu - fu - 1) / (mtu - fu);
            cr_assert_eq(l.count, want, "mtu %zu size %zu: %u packets", mtu, sizes[i], l.count);
        }
        body_make(&body, hevc, 0, 0, 4, &all);
        cr_assert_eq(video(&p, &h, body.data, body.len, 0, &l, &err), ST_OK, "%s", err);
        depack_video(&d, &l);
        cr_assert_eq(d.nals.len, all.len);
        cr_assert_eq(memcmp(d.nals.data, all.data, all.len), 0);
        depack_free(&d);
    }
    buf_free(&nals);
    buf_free(&all);
    buf_free(&body);
    rtp_packet_list_free(&l);
    free(cfg);
}

Test(rtp_packetizer, avc_reassembly_at_all_sizes) { reassembly_at_sizes(0, "codec/h264_high_720.bin"); }
Test(rtp_packetizer, hevc_reassembly_at_all_sizes) { reassembly_at_sizes(1, "codec/hevc_main_1080.bin"); }

Test(rtp_packetizer, nal_length_sizes_1_2_3_4)
{
    size_t cfg_len;
    uint8_t *cfg = test_data_load("codec/h264_high_720.bin", &cfg_len);
    struct hls_codec_headers h = { cfg, (uint32_t)cfg_len, NULL, 0 };
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    struct buf nals, body;
    struct depack d;
    const char *err = NULL;

    buf_init(&nals, 1 << 20);
    buf_init(&body, 1 << 20);
    rtp_packet_list_init(&l, LIST_MAX);
    rtp_packetizer_init(&p, PT_V, 90000, SSRC, 0, 0, 500);
    depack_init(&d, 0, PT_V, 500);
    for (unsigned ls = 1; ls <= 4; ls++) {
        cfg[9] = (uint8_t)(0xfc | (ls - 1)); /* lengthSizeMinusOne in the record */
        buf_reset(&nals);
        nal_make(&nals, 0, 1, 200);
        nal_make(&nals, 0, 1, ls == 1 ? 255 : 3000);
        nal_make(&nals, 0, 6, 1);
        body_make(&body, 0, 0, 0, ls, &nals);
        cr_assert_eq(video(&p, &h, body.data, body.len, 0, &l, &err), ST_OK, "size %u: %s", ls, err);
        depack_video(&d, &l);
        cr_assert_eq(d.nals.len, nals.len, "size %u", ls);
        cr_assert_eq(memcmp(d.nals.data, nals.data, nals.len), 0);
    }
    depack_free(&d);
    buf_free(&nals);
    buf_free(&body);
    rtp_packet_list_free(&l);
    free(cfg);
}

/* ---- parameter sets before random access points ---- */

/* Packetize nals as one frame and return the reassembled NAL units. */
static void round_trip(struct rtp_packetizer *p, struct depack *d, const struct hls_codec_headers *h, int hevc,
                       int key, const struct buf *nals)
{
    struct buf body;
    struct rtp_packet_list l;
    const char *err = NULL;
    buf_init(&body, 1 << 20);
    rtp_packet_list_init(&l, LIST_MAX);
    body_make(&body, hevc, key, 0, 4, nals);
    cr_assert_eq(video(p, h, body.data, body.len, 0, &l, &err), ST_OK, "%s", err);
    depack_video(d, &l);
    rtp_packet_list_free(&l);
    buf_free(&body);
}

Test(rtp_packetizer, avc_parameter_sets_before_idr)
{
    size_t cfg_len;
    uint8_t *cfg = test_data_load("codec/h264_high_720.bin", &cfg_len);
    struct hls_codec_headers h = { cfg, (uint32_t)cfg_len, NULL, 0 };
    struct rtp_packetizer p;
    struct depack d;
    struct buf nals, want;

    buf_init(&nals, 1 << 20);
    buf_init(&want, 1 << 20);
    rtp_packetizer_init(&p, PT_V, 90000, SSRC, 0, 0, 1400);
    depack_init(&d, 0, PT_V, 1400);

    /* SEI + IDR (not flagged key in FLV): SPS, PPS, SEI, IDR. */
    nal_make(&nals, 0, 6, 20);
    nal_make(&nals, 0, 5, 5000);
    round_trip(&p, &d, &h, 0, 0, &nals);
    params_as_nals(&h, &want);
    cr_assert_eq(buf_append(&want, nals.data, nals.len), ST_OK);
    cr_assert_eq(d.nals.len, want.len);
    cr_assert_eq(memcmp(d.nals.data, want.data, want.len), 0);
    cr_assert_eq(nth_type(&d.nals, 0, 0, NULL), 7);
    cr_assert_eq(nth_type(&d.nals, 0, 1, NULL), 8);

    /* AUD first: it stays first, the parameter sets follow it. */
    buf_reset(&nals);
    nal_make(&nals, 0, 9, 2);
    nal_make(&nals, 0, 5, 100);
    round_trip(&p, &d, &h, 0, 0, &nals);
    cr_assert_eq(nal_count(&d.nals), 4);
    cr_assert_eq(nth_type(&d.nals, 0, 0, NULL), 9);
    cr_assert_eq(nth_type(&d.nals, 0, 1, NULL), 7);
    cr_assert_eq(nth_type(&d.nals, 0, 2, NULL), 8);
    cr_assert_eq(nth_type(&d.nals, 0, 3, NULL), 5);

    /* Non-IDR, not a keyframe: nothing added. */
    buf_reset(&nals);
    nal_make(&nals, 0, 1, 100);
    round_trip(&p, &d, &h, 0, 0, &nals);
    cr_assert_eq(nal_count(&d.nals), 1);

    /* Flagged keyframe without IDR (open GOP, intra refresh): added. */
    round_trip(&p, &d, &h, 0, 1, &nals);
    cr_assert_eq(nal_count(&d.nals), 3);
    cr_assert_eq(nth_type(&d.nals, 0, 0, NULL), 7);

    /* The frame carries its own SPS and PPS: not duplicated. */
    buf_reset(&nals);
    nal_make(&nals, 0, 7, 12);
    nal_make(&nals, 0, 8, 4);
    nal_make(&nals, 0, 5, 100);
    round_trip(&p, &d, &h, 0, 1, &nals);
    cr_assert_eq(d.nals.len, nals.len);
    cr_assert_eq(memcmp(d.nals.data, nals.data, nals.len), 0);

    depack_free(&d);
    buf_free(&nals);
    buf_free(&want);
    free(cfg);
}

static void hevc_params_before_irap(const char *cfg_file)
{
    size_t cfg_len;
    uint8_t *cfg = test_data_load(cfg_file, &cfg_len);
    struct hls_codec_headers h = { cfg, (uint32_t)cfg_len, NULL, 0 };
    struct rtp_packetizer p;
    struct depack d;
    struct buf nals, want;

    buf_init(&nals, 1 << 20);
    buf_init(&want, 1 << 20);
    rtp_packetizer_init(&p, PT_V, 90000, SSRC, 0, 0, 1400);
    depack_init(&d, 1, PT_V, 1400);
    static const unsigned irap[] = { 16, 19, 20, 21 };
    for (size_t i = 0; i < sizeof(irap) / sizeof(irap[0]); i++) {
        buf_reset(&nals);
        buf_reset(&want);
        nal_make(&nals, 1, 35, 3); /* AUD */
        nal_make(&nals, 1, irap[i], 4000);
        round_trip(&p, &d, &h, 1, 0, &nals);
        cr_assert_eq(nth_type(&d.nals, 1, 0, NULL), 35);
        cr_assert_eq(nth_type(&d.nals, 1, 1, NULL), 32, "VPS after the AUD");
        cr_assert_eq(nth_type(&d.nals, 1, 2, NULL), 33);
        cr_assert_eq(nth_type(&d.nals, 1, 3, NULL), 34);
        cr_assert_eq(nth_type(&d.nals, 1, 4, NULL), (int)irap[i]);
        nal_add(&want, nals.data + 4, 3);
        params_as_nals(&h, &want);
        cr_assert_eq(buf_append(&want, nals.data + 7, nals.len - 7), ST_OK);
        cr_assert_eq(d.nals.len, want.len);
        cr_assert_eq(memcmp(d.nals.data, want.data, want.len), 0);
    }
    buf_reset(&nals);
    nal_make(&nals, 1, 1, 100); /* TRAIL_R */
    round_trip(&p, &d, &h, 1, 0, &nals);
    cr_assert_eq(nal_count(&d.nals), 1);
    depack_free(&d);
    buf_free(&nals);
    buf_free(&want);
    free(cfg);
}

Test(rtp_packetizer, hevc_parameter_sets_before_irap) { hevc_params_before_irap("codec/hevc_main_1080.bin"); }
Test(rtp_packetizer, hevc_enhanced_record) { hevc_params_before_irap("codec/hevc_rext444_642x362.enhanced.bin"); }

Test(rtp_packetizer, video_params_of_real_records)
{
    static const struct {
        const char *file;
        int hevc;
        unsigned n;
        unsigned types[3];
    } cases[] = {
        { "codec/h264_high_720.bin", 0, 2, { 7, 8 } },
        { "codec/hevc_main_1080.bin", 1, 3, { 32, 33, 34 } },
        { "codec/hevc_rext444_642x362.enhanced.bin", 1, 3, { 32, 33, 34 } },
        { "codec/hevc_main_720_2layers.bin", 1, 3, { 32, 33, 34 } },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        uint8_t *cfg = test_data_load(cases[i].file, &len);
        struct hls_codec_headers h = { cfg, (uint32_t)len, NULL, 0 };
        struct rtp_packetizer_params ps;
        const char *err = NULL;
        cr_assert_eq(rtp_packetizer_video_params(&h, &ps, &err), ST_OK, "%s: %s", cases[i].file, err);
        cr_assert_eq(ps.hevc, cases[i].hevc);
        cr_assert_eq(ps.length_size, 4);
        cr_assert_geq(ps.n, cases[i].n, "%s", cases[i].file);
        for (unsigned k = 0; k < cases[i].n; k++) {
            unsigned t = ps.hevc ? (ps.nal[k][0] >> 1) & 0x3f : ps.nal[k][0] & 0x1f;
            cr_assert_eq(t, cases[i].types[k], "%s nal %u", cases[i].file, k);
        }
        /* Every truncation of the record fails cleanly. */
        for (size_t k = 0; k < len; k++) {
            h.video_len = (uint32_t)k;
            uint8_t *c = malloc(k ? k : 1);
            memcpy(c, cfg, k);
            h.video = c;
            err = NULL;
            if (rtp_packetizer_video_params(&h, &ps, &err) != ST_OK)
                cr_assert_not_null(err);
            free(c);
        }
        free(cfg);
    }
}

/* ---- the real FLV, end to end ---- */

Test(rtp_packetizer, real_flv_round_trip)
{
    struct flv f;
    struct rtp_packetizer pv, pa;
    struct rtp_packet_list l;
    struct depack dv, da;
    struct buf want, annexb;
    const char *err = NULL;
    flv_load(&f);
    struct hls_codec_headers h = flv_headers(&f);

    rtp_packet_list_init(&l, LIST_MAX);
    rtp_packetizer_init(&pv, PT_V, 90000, SSRC, 40000, 123456, 1400);
    rtp_packetizer_init(&pa, PT_A, 44100, SSRC, 5, 99, 1400);
    depack_init(&dv, 0, PT_V, 1400);
    depack_init(&da, 0, PT_A, 1400);
    buf_init(&want, 1 << 20);
    buf_init(&annexb, 1 << 20);
    int frames = 0, idr_frames = 0, aus = 0;
    for (int i = 0; i < f.n; i++) {
        const uint8_t *b = f.tag[i].body;
        uint32_t n = f.tag[i].len;
        if (f.tag[i].type == 9) {
            struct hls_sample s = { HLS_SAMPLE_VIDEO, (b[0] >> 4) == 1, f.tag[i].ts, b, n };
            rtp_packet_list_reset(&l);
            cr_assert_eq(rtp_packetizer_video(&pv, &h, &s, &l, &err), ST_OK, "tag %d: %s", i, err);
            if (b[1] != 1) {
                cr_assert_eq(l.count, 0, "sequence header / end of sequence send nothing");
                continue;
            }
            depack_video(&dv, &l);
            int32_t cts = (int32_t)(rd_be24(b + 2) << 8) >> 8;
            cr_assert_eq(dv.ts, 123456u + (uint32_t)((int64_t)f.tag[i].ts + cts) * 90u);
            /* Expected: the parameter sets before the IDR, then the frame. */
            buf_reset(&want);
            int idr = 0;
            for (uint32_t off = 5; off < n; off += 4 + rd_be32(b + off))
                idr |= (b[off + 4] & 0x1f) == 5;
            if (idr) {
                params_as_nals(&h, &want);
                idr_frames++;
            }
            for (uint32_t off = 5; off < n; off += 4 + rd_be32(b + off))
                nal_add(&want, b + off + 4, rd_be32(b + off));
            cr_assert_eq(dv.nals.len, want.len, "tag %d", i);
            cr_assert_eq(memcmp(dv.nals.data, want.data, want.len), 0, "tag %d", i);
            for (size_t off = 0; off < dv.nals.len; off += 4 + rd_be32(dv.nals.data + off)) {
                static const uint8_t sc[4] = { 0, 0, 0, 1 };
                cr_assert_eq(buf_append(&annexb, sc, 4), ST_OK);
                cr_assert_eq(buf_append(&annexb, dv.nals.data + off + 4, rd_be32(dv.nals.data + off)), ST_OK);
            }
            frames++;
        } else if (f.tag[i].type == 8) {
            struct hls_sample s = { HLS_SAMPLE_AUDIO, 0, f.tag[i].ts, b, n };
            rtp_packet_list_reset(&l);
            cr_assert_eq(rtp_packetizer_audio(&pa, &h, &s, &l, &err), ST_OK, "tag %d: %s", i, err);
            if (b[1] == 0) {
                cr_assert_eq(l.count, 0);
                continue;
            }
            depack_aac(&da, &l);
            cr_assert_eq(da.ts, 99u + (uint32_t)((uint64_t)f.tag[i].ts * 44100 / 1000));
            cr_assert_eq(da.nals.len, n - 2);
            cr_assert_eq(memcmp(da.nals.data, b + 2, n - 2), 0);
            aus++;
        }
    }
    cr_assert_eq(frames, 5);
    cr_assert_eq(idr_frames, 1);
    cr_assert_eq(aus, 6);
    const char *dump = getenv("SC_RTP_ANNEXB");
    if (dump) {
        FILE *o = fopen(dump, "wb");
        cr_assert_not_null(o);
        cr_assert_eq(fwrite(annexb.data, 1, annexb.len, o), annexb.len);
        fclose(o);
    }
    depack_free(&dv);
    depack_free(&da);
    buf_free(&want);
    buf_free(&annexb);
    rtp_packet_list_free(&l);
    free(f.file);
}

/* ---- enhanced RTMP bodies ---- */

Test(rtp_packetizer, enhanced_coded_frames)
{
    size_t cfg_len;
    uint8_t *cfg = test_data_load("codec/hevc_rext444_642x362.enhanced.bin", &cfg_len);
    struct hls_codec_headers h = { cfg, (uint32_t)cfg_len, NULL, 0 };
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    struct depack d;
    struct buf nals, body;
    const char *err = NULL;

    buf_init(&nals, 1 << 16);
    buf_init(&body, 1 << 16);
    rtp_packet_list_init(&l, LIST_MAX);
    rtp_packetizer_init(&p, PT_V, 90000, SSRC, 0, 0, 1400);
    depack_init(&d, 1, PT_V, 1400);
    nal_make(&nals, 1, 1, 3000);

    /* CodedFrames (packet type 1): FourCC, then cts 40. */
    static const uint8_t coded[] = { 0xa1, 'h', 'v', 'c', '1', 0, 0, 40 };
    cr_assert_eq(buf_append(&body, coded, sizeof(coded)), ST_OK);
    cr_assert_eq(buf_append(&body, nals.data, nals.len), ST_OK);
    cr_assert_eq(video(&p, &h, body.data, body.len, 100, &l, &err), ST_OK, "%s", err);
    depack_video(&d, &l);
    cr_assert_eq(d.ts, 140 * 90);
    cr_assert_eq(d.nals.len, nals.len);
    cr_assert_eq(memcmp(d.nals.data, nals.data, nals.len), 0);

    /* CodedFramesX (packet type 3): no cts. */
    buf_reset(&body);
    static const uint8_t coded_x[] = { 0xa3, 'h', 'v', 'c', '1' };
    cr_assert_eq(buf_append(&body, coded_x, sizeof(coded_x)), ST_OK);
    cr_assert_eq(buf_append(&body, nals.data, nals.len), ST_OK);
    cr_assert_eq(video(&p, &h, body.data, body.len, 100, &l, &err), ST_OK, "%s", err);
    depack_video(&d, &l);
    cr_assert_eq(d.ts, 100 * 90);
    cr_assert_eq(memcmp(d.nals.data, nals.data, nals.len), 0);

    /* SequenceStart, SequenceEnd, Metadata: nothing to send. */
    static const uint8_t nothing[][5] = { { 0x90, 'h', 'v', 'c', '1' }, { 0x92, 'h', 'v', 'c', '1' },
                                          { 0x94, 'h', 'v', 'c', '1' } };
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(video(&p, &h, nothing[i], 5, 0, &l, &err), ST_OK, "%zu: %s", i, err);
        cr_assert_eq(l.count, 0);
    }

    /* An avc1 frame against an hvc1 record. */
    static const uint8_t avc[] = { 0xa1, 'a', 'v', 'c', '1', 0, 0, 0, 0, 0, 0, 1, 0x65 };
    err = NULL;
    cr_assert_eq(video(&p, &h, avc, sizeof(avc), 0, &l, &err), ST_ERROR);
    cr_assert_not_null(err);
    depack_free(&d);
    buf_free(&nals);
    buf_free(&body);
    rtp_packet_list_free(&l);
    free(cfg);
}

/* ---- AAC ---- */

Test(rtp_packetizer, aac_au_header_and_fragments)
{
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    struct depack d;
    const char *err = NULL;
    uint8_t *body = malloc(2 + 8192);
    cr_assert_not_null(body);
    body[0] = 0xaf;
    body[1] = 1;
    for (size_t i = 2; i < 2 + 8192; i++)
        body[i] = (uint8_t)(i * 13);
    rtp_packet_list_init(&l, LIST_MAX);
    rtp_packetizer_init(&p, PT_A, 48000, SSRC, 0, 0, 1400);
    depack_init(&d, 0, PT_A, 1400);

    /* One AU, one packet: 00 10, size 371 << 3 | index 0. */
    cr_assert_eq(audio(&p, body, 2 + 371, 0, &l, &err), ST_OK, "%s", err);
    cr_assert_eq(l.count, 1);
    size_t n;
    const uint8_t *pkt = rtp_packet_list_packet(&l, 0, &n);
    cr_assert_eq(n, 12 + 4 + 371);
    static const uint8_t hdr[4] = { 0x00, 0x10, 371 >> 5, (371 << 3) & 0xff };
    cr_assert_eq(memcmp(pkt + 12, hdr, 4), 0);
    cr_assert_eq(pkt[1], 0x80 | PT_A, "marker: complete AU");
    cr_assert_eq(memcmp(pkt + 16, body + 2, 371), 0);

    /* Sizes around the limit and the 13-bit maximum. */
    static const size_t sizes[] = { 1, 1395, 1396, 1397, 4000, 8191 };
    static const unsigned packets[] = { 1, 1, 1, 2, 3, 6 };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        cr_assert_eq(audio(&p, body, 2 + sizes[i], 0, &l, &err), ST_OK, "%s", err);
        cr_assert_eq(l.count, packets[i], "AU %zu: %u packets", sizes[i], l.count);
        depack_aac(&d, &l);
        cr_assert_eq(d.nals.len, sizes[i]);
        cr_assert_eq(memcmp(d.nals.data, body + 2, sizes[i]), 0);
    }
    uint16_t seq = p.seq;
    err = NULL;
    cr_assert_eq(audio(&p, body, 2 + 8192, 0, &l, &err), ST_ERROR);
    cr_assert_str_eq(err, "AAC frame too large for AU-size");
    cr_assert_eq(audio(&p, body, 2, 0, &l, &err), ST_ERROR, "empty AU");
    cr_assert_eq(p.seq, seq);

    /* Sequence header: nothing; other audio codecs: error. */
    static const uint8_t seqhdr[] = { 0xaf, 0, 0x12, 0x10 };
    cr_assert_eq(audio(&p, seqhdr, sizeof(seqhdr), 0, &l, &err), ST_OK);
    cr_assert_eq(l.count, 0);
    static const uint8_t mp3[] = { 0x2f, 0xff, 0xfb };
    cr_assert_eq(audio(&p, mp3, sizeof(mp3), 0, &l, &err), ST_ERROR);
    static const uint8_t bad_type[] = { 0xaf, 2, 1 };
    cr_assert_eq(audio(&p, bad_type, sizeof(bad_type), 0, &l, &err), ST_ERROR);
    cr_assert_eq(audio(&p, body, 1, 0, &l, &err), ST_ERROR, "AAC without packet type");
    cr_assert_eq(p.seq, seq);
    depack_free(&d);
    rtp_packet_list_free(&l);
    free(body);
}

/* ---- errors leave everything untouched ---- */

struct snapshot {
    struct rtp_packetizer p;
    size_t len;
    uint32_t count;
    uint8_t *data;
};

static void snap(struct snapshot *s, const struct rtp_packetizer *p, const struct rtp_packet_list *l)
{
    s->p = *p;
    s->len = l->len;
    s->count = l->count;
    s->data = malloc(l->len + 1);
    cr_assert_not_null(s->data);
    if (l->len)
        memcpy(s->data, l->data, l->len);
}

static void assert_unchanged(struct snapshot *s, const struct rtp_packetizer *p, const struct rtp_packet_list *l,
                             const char *what)
{
    cr_assert_eq(memcmp(&s->p, p, sizeof(*p)), 0, "%s: packetizer changed", what);
    cr_assert_eq(l->len, s->len, "%s", what);
    cr_assert_eq(l->count, s->count, "%s", what);
    if (l->len)
        cr_assert_eq(memcmp(l->data, s->data, l->len), 0, "%s: list changed", what);
    free(s->data);
}

Test(rtp_packetizer, malformed_video_changes_nothing)
{
    struct flv f;
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    const char *err;
    flv_load(&f);
    struct hls_codec_headers h = flv_headers(&f);
    rtp_packet_list_init(&l, LIST_MAX);
    rtp_packetizer_init(&p, PT_V, 90000, SSRC, 0, 0, 1400);
    /* Something already in the list, which the failures must keep. */
    struct hls_sample s0 = { HLS_SAMPLE_VIDEO, 0, 0, f.tag[6].body, f.tag[6].len };
    cr_assert_eq(f.tag[6].type, 9);
    cr_assert_eq(rtp_packetizer_video(&p, &h, &s0, &l, &err), ST_OK);

    static const struct {
        const char *what;
        uint8_t body[16];
        size_t len;
        const char *why;
    } cases[] = {
        { "empty", { 0 }, 0, "empty video body" },
        { "short header", { 0x27, 1, 0, 0 }, 4, "short AVC/HEVC video header" },
        { "bad packet type", { 0x27, 3, 0, 0, 0 }, 5, "bad AVC/HEVC packet type" },
        { "truncated length", { 0x27, 1, 0, 0, 0, 0, 0, 1 }, 8, "truncated NAL unit length" },
        { "overrun", { 0x27, 1, 0, 0, 0, 0, 0, 0, 3, 0x41, 0 }, 11, "NAL unit overruns the frame" },
        { "HEVC vs AVC record", { 0x2c, 1, 0, 0, 0, 0, 0, 0, 2, 2, 1 }, 11,
          "video sequence header does not match the frame" },
        { "AV1", { 0x91, 'a', 'v', '0', '1' }, 5, "video codec not supported over RTP" },
        { "VP6", { 0x24, 0, 0 }, 3, "video codec not supported over RTP" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct snapshot sn;
        struct hls_sample s = { HLS_SAMPLE_VIDEO, 0, 0, cases[i].body, (uint32_t)cases[i].len };
        snap(&sn, &p, &l);
        err = NULL;
        cr_assert_eq(rtp_packetizer_video(&p, &h, &s, &l, &err), ST_ERROR, "%s", cases[i].what);
        cr_assert_str_eq(err, cases[i].why, "%s: %s", cases[i].what, err);
        assert_unchanged(&sn, &p, &l, cases[i].what);
    }

    /* No or broken sequence header. */
    struct snapshot sn;
    struct hls_codec_headers none = { 0 };
    snap(&sn, &p, &l);
    cr_assert_eq(rtp_packetizer_video(&p, &none, &s0, &l, &err), ST_ERROR);
    cr_assert_str_eq(err, "no video sequence header");
    cr_assert_eq(rtp_packetizer_video(&p, NULL, &s0, &l, &err), ST_ERROR);
    struct hls_codec_headers cut = h;
    cut.video_len = 12;
    cr_assert_eq(rtp_packetizer_video(&p, &cut, &s0, &l, &err), ST_ERROR);
    cr_assert_str_eq(err, "bad AVC configuration record");
    assert_unchanged(&sn, &p, &l, "sequence header");

    /* HEVC NAL unit shorter than its 2-byte header. */
    size_t cfg_len;
    uint8_t *cfg = test_data_load("codec/hevc_main_1080.bin", &cfg_len);
    struct hls_codec_headers hh = { cfg, (uint32_t)cfg_len, NULL, 0 };
    static const uint8_t one[] = { 0x2c, 1, 0, 0, 0, 0, 0, 0, 1, 0x02 };
    struct hls_sample s1 = { HLS_SAMPLE_VIDEO, 0, 0, one, sizeof(one) };
    snap(&sn, &p, &l);
    cr_assert_eq(rtp_packetizer_video(&p, &hh, &s1, &l, &err), ST_ERROR);
    cr_assert_str_eq(err, "NAL unit shorter than its header");
    assert_unchanged(&sn, &p, &l, "hevc 1-byte NAL");

    /* Every truncation of every real frame: OK or ST_ERROR, and an error
     * leaves nothing behind. Zero-length NAL units are skipped. */
    for (int t = 0; t < f.n; t++) {
        if (f.tag[t].type != 9)
            continue;
        for (uint32_t k = 0; k <= f.tag[t].len; k++) {
            uint8_t *c = malloc(k + 1);
            memcpy(c, f.tag[t].body, k);
            struct hls_sample s = { HLS_SAMPLE_VIDEO, 0, 0, c, k };
            snap(&sn, &p, &l);
            err = NULL;
            if (rtp_packetizer_video(&p, &h, &s, &l, &err) == ST_ERROR) {
                cr_assert_not_null(err);
                assert_unchanged(&sn, &p, &l, "truncation");
            } else {
                free(sn.data);
            }
            free(c);
        }
        rtp_packet_list_reset(&l);
    }
    rtp_packet_list_free(&l);
    free(cfg);
    free(f.file);
}

Test(rtp_packetizer, zero_length_nal_units_are_skipped)
{
    size_t cfg_len;
    uint8_t *cfg = test_data_load("codec/h264_high_720.bin", &cfg_len);
    struct hls_codec_headers h = { cfg, (uint32_t)cfg_len, NULL, 0 };
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    const char *err = NULL;
    static const uint8_t body[] = { 0x27, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0x41, 0x9a, 0, 0, 0, 0 };
    rtp_packet_list_init(&l, LIST_MAX);
    rtp_packetizer_init(&p, PT_V, 90000, SSRC, 0, 0, 1400);
    cr_assert_eq(video(&p, &h, body, sizeof(body), 0, &l, &err), ST_OK, "%s", err);
    cr_assert_eq(l.count, 1);
    size_t n;
    const uint8_t *pkt = rtp_packet_list_packet(&l, 0, &n);
    cr_assert_eq(n, 14);
    cr_assert_eq(pkt[12], 0x41);
    /* Only empty units: a frame with nothing to send. */
    static const uint8_t empty[] = { 0x27, 1, 0, 0, 0, 0, 0, 0, 0 };
    cr_assert_eq(video(&p, &h, empty, sizeof(empty), 0, &l, &err), ST_OK);
    cr_assert_eq(l.count, 0);
    cr_assert_eq(p.seq, 1);
    rtp_packet_list_free(&l);
    free(cfg);
}

/* Fuzz regression: a NAL unit whose type is FU-A (28) went out as a single
 * NAL unit packet, which any receiver reads as a fragment. Types RFC 6184
 * and 7798 use for their packet structures (H.264 24..31, HEVC 48..63) are
 * dropped; the input is the fuzzer's, empty units included. */
Test(rtp_packetizer, unrepresentable_nal_types_are_dropped)
{
    size_t cfg_len, hcfg_len;
    uint8_t *cfg = test_data_load("codec/h264_high_720.bin", &cfg_len);
    uint8_t *hcfg = test_data_load("codec/hevc_main_1080.bin", &hcfg_len);
    struct hls_codec_headers h = { cfg, (uint32_t)cfg_len, NULL, 0 };
    struct hls_codec_headers hh = { hcfg, (uint32_t)hcfg_len, NULL, 0 };
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    struct buf nals, body;
    struct depack d;
    const char *err = NULL;

    uint8_t crash[9 + 32 + 280] = { 0x27, 0x01, 0x70, 0x00, 0x01, 0, 0, 0, 0x20, 0x9c, 0xd7, 0x15, 0x00, 0x70, 0x60 };
    rtp_packet_list_init(&l, LIST_MAX);
    rtp_packetizer_init(&p, PT_V, 90000, SSRC, 0, 0, 64);
    cr_assert_eq(video(&p, &h, crash, sizeof(crash), 0, &l, &err), ST_OK, "%s", err);
    cr_assert_eq(l.count, 0);

    /* Mixed with real units, only those go out, in order. */
    buf_init(&nals, 1 << 16);
    buf_init(&body, 1 << 16);
    for (int hevc = 0; hevc < 2; hevc++) {
        struct buf want;
        buf_init(&want, 1 << 16);
        buf_reset(&nals);
        unsigned bad[3] = { 24, 28, 31 }, bad_hevc[3] = { 48, 49, 63 };
        for (int i = 0; i < 3; i++) {
            nal_make(&nals, hevc, 1, 50 + (size_t)i * 100);
            nal_make(&want, hevc, 1, 50 + (size_t)i * 100);
            nal_make(&nals, hevc, hevc ? bad_hevc[i] : bad[i], 30 + (size_t)i * 100);
        }
        body_make(&body, hevc, 0, 0, 4, &nals);
        depack_init(&d, hevc, PT_V, 64);
        rtp_packetizer_init(&p, PT_V, 90000, SSRC, 0, 0, 64);
        cr_assert_eq(video(&p, hevc ? &hh : &h, body.data, body.len, 0, &l, &err), ST_OK, "%s", err);
        depack_video(&d, &l);
        cr_assert_eq(d.nals.len, want.len, "hevc %d", hevc);
        cr_assert_eq(memcmp(d.nals.data, want.data, want.len), 0);
        depack_free(&d);
        buf_free(&want);
    }
    buf_free(&nals);
    buf_free(&body);
    rtp_packet_list_free(&l);
    free(cfg);
    free(hcfg);
}

Test(rtp_packetizer, list_cap)
{
    size_t cfg_len;
    uint8_t *cfg = test_data_load("codec/h264_high_720.bin", &cfg_len);
    struct hls_codec_headers h = { cfg, (uint32_t)cfg_len, NULL, 0 };
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    struct buf nals, body;
    const char *err = NULL;

    buf_init(&nals, 1 << 16);
    buf_init(&body, 1 << 16);
    nal_make(&nals, 0, 1, 2000); /* 2 packets: 4+12+2+1398, 4+12+2+601 */
    body_make(&body, 0, 0, 0, 4, &nals);
    size_t need = (4 + 12 + 2 + 1398) + (4 + 12 + 2 + 601);
    rtp_packetizer_init(&p, PT_V, 90000, SSRC, 0, 0, 1400);

    rtp_packet_list_init(&l, need - 1);
    struct snapshot sn;
    snap(&sn, &p, &l);
    cr_assert_eq(video(&p, &h, body.data, body.len, 0, &l, &err), ST_ERROR);
    cr_assert_str_eq(err, "RTP packet list full");
    assert_unchanged(&sn, &p, &l, "cap");
    rtp_packet_list_free(&l);

    rtp_packet_list_init(&l, need);
    cr_assert_eq(video(&p, &h, body.data, body.len, 0, &l, &err), ST_OK);
    cr_assert_eq(l.len, need);
    cr_assert_eq(l.count, 2);
    /* Reset keeps the storage; a second frame appends after the first. */
    struct hls_sample s = { HLS_SAMPLE_VIDEO, 0, 0, body.data, (uint32_t)body.len };
    cr_assert_eq(rtp_packetizer_video(&p, &h, &s, &l, &err), ST_ERROR, "over the cap when appended");
    rtp_packet_list_reset(&l);
    cr_assert_eq(rtp_packetizer_video(&p, &h, &s, &l, &err), ST_OK);
    cr_assert_eq(l.count, 2);
    rtp_packet_list_free(&l);
    rtp_packet_list_free(&l); /* twice is harmless */
    buf_free(&nals);
    buf_free(&body);
    free(cfg);
}

Test(rtp_packetizer, appending_frames_to_one_list)
{
    size_t cfg_len;
    uint8_t *cfg = test_data_load("codec/h264_high_720.bin", &cfg_len);
    struct hls_codec_headers h = { cfg, (uint32_t)cfg_len, NULL, 0 };
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    struct buf nals, body;
    const char *err = NULL;

    buf_init(&nals, 1 << 16);
    buf_init(&body, 1 << 16);
    nal_make(&nals, 0, 1, 3000);
    body_make(&body, 0, 0, 0, 4, &nals);
    rtp_packetizer_init(&p, PT_V, 90000, SSRC, 0, 0, 1400);
    rtp_packet_list_init(&l, LIST_MAX);
    struct hls_sample s = { HLS_SAMPLE_VIDEO, 0, 0, body.data, (uint32_t)body.len };
    for (int i = 0; i < 3; i++)
        cr_assert_eq(rtp_packetizer_video(&p, &h, &s, &l, &err), ST_OK);
    cr_assert_eq(l.count, 9);
    for (uint32_t i = 0; i < 9; i++) {
        size_t n;
        const uint8_t *pkt = rtp_packet_list_packet(&l, i, &n);
        cr_assert_eq(rd_be16(pkt + 2), i);
        cr_assert_eq(!!(pkt[1] & 0x80), i % 3 == 2, "marker ends each access unit");
    }
    rtp_packet_list_free(&l);
    buf_free(&nals);
    buf_free(&body);
    free(cfg);
}

/* Seeded garbage after valid headers: never a crash, and every success
 * yields well-formed packets within the limit. */
Test(rtp_packetizer, garbage_bodies)
{
    size_t cfg_len;
    uint8_t *cfg = test_data_load("codec/h264_high_720.bin", &cfg_len);
    size_t hcfg_len;
    uint8_t *hcfg = test_data_load("codec/hevc_main_1080.bin", &hcfg_len);
    struct hls_codec_headers h = { cfg, (uint32_t)cfg_len, NULL, 0 };
    struct hls_codec_headers hh = { hcfg, (uint32_t)hcfg_len, NULL, 0 };
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    uint8_t body[600];
    uint32_t x = 2463534242u;
    const char *err;

    rtp_packet_list_init(&l, LIST_MAX);
    rtp_packetizer_init(&p, PT_V, 90000, SSRC, 0, 0, 64);
    int ok = 0;
    for (int iter = 0; iter < 20000; iter++) {
        for (size_t i = 0; i < sizeof(body); i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            body[i] = (uint8_t)x;
        }
        size_t n = x % sizeof(body);
        int hevc = iter & 1;
        body[0] = hevc ? 0x2c : 0x27;
        body[1] = 1;
        if (iter % 4 < 2 && n > 9) { /* mostly plausible lengths */
            body[5] = body[6] = 0;
            body[7] = (uint8_t)((n - 9) >> 8);
            body[8] = (uint8_t)(n - 9);
        }
        rtp_packet_list_reset(&l);
        struct hls_sample s = { HLS_SAMPLE_VIDEO, 0, 0, body, (uint32_t)n };
        err = NULL;
        if (rtp_packetizer_video(&p, hevc ? &hh : &h, &s, &l, &err) != ST_OK) {
            cr_assert_not_null(err);
            cr_assert_eq(l.count, 0);
            continue;
        }
        ok++;
        for (uint32_t i = 0; i < l.count; i++) {
            size_t len;
            const uint8_t *pkt = rtp_packet_list_packet(&l, i, &len);
            cr_assert_leq(len, 12 + 64);
            cr_assert_gt(len, 12);
            cr_assert_eq(pkt[0], 0x80);
        }
    }
    cr_assert_gt(ok, 1000, "the plausible half mostly succeeds (%d)", ok);
    rtp_packet_list_free(&l);
    free(cfg);
    free(hcfg);
}
