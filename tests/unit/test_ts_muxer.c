/*
 * ts_muxer: the output is demuxed again by an independent reader written
 * here (packet framing, adaptation fields, continuity counters per PID, PSI
 * with its own table-driven CRC-32/MPEG-2, PES headers) and compared with
 * what the input says it must be: timestamps, ADTS fields, the exact Annex B
 * stream. Inputs: the real ffmpeg FLV file (H.264 + AAC) end to end, and
 * hand-built samples for the paths it does not take (composition offsets,
 * enhanced RTMP, every PES size around packet boundaries, malformed bodies
 * cut at every offset, wrap-around, the output cap).
 */
#include <criterion/criterion.h>

#include "test_data.h"

#include "core/buf.h"
#include "core/status.h"
#include "hls/ts_muxer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SC_TEST_DATA
#define SC_TEST_DATA "tests/data"
#endif

#define MASK33 ((UINT64_C(1) << 33) - 1)
#define OUT_MAX (16u << 20)

/* ---- helpers: files, CRC ---- */


/* Table-driven on purpose: the muxer computes it bit by bit. */
static uint32_t crc_table[256];

static uint32_t test_crc(const uint8_t *p, size_t n)
{
    if (!crc_table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i << 24;
            for (int k = 0; k < 8; k++)
                c = (c & 0x80000000u) ? (c << 1) ^ 0x04C11DB7u : c << 1;
            crc_table[i] = c;
        }
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        crc = (crc << 8) ^ crc_table[(crc >> 24) ^ p[i]];
    return crc;
}

/* ---- the FLV input ---- */

#define MAX_SAMPLES 64

struct flv_input {
    uint8_t *file;
    struct hls_codec_headers h;
    struct hls_sample s[MAX_SAMPLES];
    int n;
};

static void flv_load(struct flv_input *in)
{
    size_t len;
    memset(in, 0, sizeof(*in));
    in->file = test_data_load("codec/h264_aac_160x120.flv", &len);
    cr_assert_geq(len, 13);
    cr_assert_eq(memcmp(in->file, "FLV", 3), 0);
    size_t off = 13; /* header + PreviousTagSize0 */
    while (len - off >= 11) {
        const uint8_t *t = in->file + off;
        uint32_t size = (uint32_t)t[1] << 16 | (uint32_t)t[2] << 8 | t[3];
        uint32_t ts = (uint32_t)t[7] << 24 | (uint32_t)t[4] << 16 | (uint32_t)t[5] << 8 | t[6];
        cr_assert_leq(size, len - off - 11);
        const uint8_t *body = t + 11;
        if (t[0] == 9 && size >= 2 && body[1] == 0) {
            in->h.video = body;
            in->h.video_len = size;
        } else if (t[0] == 8 && size >= 2 && body[1] == 0) {
            in->h.audio = body;
            in->h.audio_len = size;
        } else if (t[0] == 8 || t[0] == 9) {
            cr_assert_lt(in->n, MAX_SAMPLES);
            in->s[in->n++] = (struct hls_sample){ t[0], (uint8_t)(t[0] == 9 && body[0] >> 4 == 1), ts, body, size };
        }
        off += 11 + size + 4;
    }
    cr_assert_not_null(in->h.video);
    cr_assert_not_null(in->h.audio);
    cr_assert_gt(in->n, 10);
}

/* ---- an independent demuxer ---- */

#define MAX_PES 256

struct pes {
    unsigned pid;
    uint8_t data[65536];
    size_t len;
    int rai, pcr_flag;
    uint64_t pcr;
};

struct demux {
    int cc[8192];
    uint8_t pat[184], pmt[184];
    size_t pat_len, pmt_len;
    int npat, npmt, npackets;
    struct pes *pes;
    int npes;
};

/* Forget what was read; the PES storage is kept for the next run. */
static void demux_reset(struct demux *d)
{
    struct pes *keep = d->pes;
    memset(d, 0, sizeof(*d));
    for (int i = 0; i < 8192; i++)
        d->cc[i] = -1;
    d->pes = keep;
}

static void demux_init(struct demux *d)
{
    d->pes = calloc(MAX_PES, sizeof(*d->pes));
    cr_assert_not_null(d->pes);
    demux_reset(d);
}

static void demux_free(struct demux *d) { free(d->pes); }

static void demux_section(struct demux *d, unsigned pid, const uint8_t *p, size_t n)
{
    cr_assert_eq(p[0], 0, "pointer_field");
    const uint8_t *sec = p + 1;
    size_t slen = ((size_t)(sec[1] & 0x0F) << 8 | sec[2]) + 3;
    cr_assert_eq(sec[1] & 0xF0, 0xB0, "section syntax + reserved bits");
    cr_assert_leq(slen, n - 1);
    for (size_t i = 1 + slen; i < n; i++)
        cr_assert_eq(p[i], 0xFF, "PSI stuffing");
    uint32_t crc = (uint32_t)sec[slen - 4] << 24 | (uint32_t)sec[slen - 3] << 16 | (uint32_t)sec[slen - 2] << 8 |
                   sec[slen - 1];
    cr_assert_eq(crc, test_crc(sec, slen - 4), "CRC of table %u", sec[0]);
    if (pid == 0) {
        memcpy(d->pat, sec, slen);
        d->pat_len = slen;
        d->npat++;
    } else {
        memcpy(d->pmt, sec, slen);
        d->pmt_len = slen;
        d->npmt++;
    }
}

static void demux(struct demux *d, const uint8_t *p, size_t len)
{
    cr_assert_eq(len % 188, 0, "output is whole packets");
    for (size_t off = 0; off < len; off += 188) {
        const uint8_t *k = p + off;
        d->npackets++;
        cr_assert_eq(k[0], 0x47, "sync byte at %zu", off);
        cr_assert_eq(k[1] & 0x80, 0, "TEI");
        unsigned pid = (unsigned)(k[1] & 0x1F) << 8 | k[2];
        int pusi = (k[1] & 0x40) != 0;
        unsigned afc = (k[3] >> 4) & 3, cc = k[3] & 15;
        cr_assert_eq(k[3] & 0xC0, 0, "scrambling");
        cr_assert_neq(afc, 0);
        size_t hdr = 4;
        int rai = 0, pcr_flag = 0;
        uint64_t pcr = 0;
        if (afc & 2) {
            size_t af = k[4];
            cr_assert_leq(af, (afc & 1) ? 182u : 183u);
            if (af > 0) {
                uint8_t flags = k[5];
                cr_assert_eq(flags & ~0x50, 0, "unexpected adaptation flags %02x", flags);
                rai = (flags & 0x40) != 0;
                pcr_flag = (flags & 0x10) != 0;
                size_t used = 1;
                if (pcr_flag) {
                    cr_assert_geq(af, 7);
                    pcr = (uint64_t)k[6] << 25 | (uint64_t)k[7] << 17 | (uint64_t)k[8] << 9 | (uint64_t)k[9] << 1 |
                          k[10] >> 7;
                    cr_assert_eq(k[10] & 0x7F, 0x7E, "PCR reserved bits / extension");
                    cr_assert_eq(k[11], 0);
                    used += 6;
                }
                for (size_t i = used; i < af; i++)
                    cr_assert_eq(k[5 + i], 0xFF, "adaptation stuffing");
            }
            hdr += 1 + af;
        }
        if (afc & 1) {
            /* begin resets counters to 0, and every segment here is one begin. */
            int want = d->cc[pid] < 0 ? 0 : (d->cc[pid] + 1) & 15;
            cr_assert_eq((int)cc, want, "continuity counter of PID %#x", pid);
            d->cc[pid] = (int)cc;
        }
        cr_assert(!(rai || pcr_flag) || pusi, "RAI/PCR only at a PES start");
        const uint8_t *pl = k + hdr;
        size_t n = 188 - hdr;
        if (pid == 0 || pid == 0x1000) {
            cr_assert(pusi);
            demux_section(d, pid, pl, n);
            continue;
        }
        cr_assert(pid == 0x100 || pid == 0x101, "unexpected PID %#x", pid);
        struct pes *e = NULL;
        if (pusi) {
            cr_assert_lt(d->npes, MAX_PES);
            e = &d->pes[d->npes++];
            e->pid = pid;
            e->rai = rai;
            e->pcr_flag = pcr_flag;
            e->pcr = pcr;
            e->len = 0;
        } else {
            for (int i = d->npes - 1; i >= 0 && !e; i--)
                if (d->pes[i].pid == pid)
                    e = &d->pes[i];
            cr_assert_not_null(e, "continuation without a start");
        }
        cr_assert_leq(n, sizeof(e->data) - e->len);
        memcpy(e->data + e->len, pl, n);
        e->len += n;
    }
}

static uint64_t read_ts(const uint8_t *p, unsigned prefix)
{
    cr_assert_eq(p[0] >> 4, prefix, "PTS/DTS prefix");
    cr_assert(p[0] & 1 && p[2] & 1 && p[4] & 1, "marker bits");
    return (uint64_t)(p[0] & 0x0E) << 29 | (uint64_t)p[1] << 22 | (uint64_t)(p[2] >> 1) << 15 | (uint64_t)p[3] << 7 |
           p[4] >> 1;
}

struct pes_info {
    uint64_t pts, dts;
    int has_dts;
    const uint8_t *es;
    size_t es_len;
};

static struct pes_info parse_pes(const struct pes *e)
{
    struct pes_info r = { 0 };
    const uint8_t *p = e->data;
    cr_assert_geq(e->len, 14);
    cr_assert(p[0] == 0 && p[1] == 0 && p[2] == 1, "PES start code");
    cr_assert_eq(p[3], e->pid == 0x100 ? 0xE0 : 0xC0, "stream_id");
    size_t plen = (size_t)p[4] << 8 | p[5];
    if (plen == 0)
        cr_assert_eq(e->pid, 0x100, "unbounded PES only for video");
    else
        cr_assert_eq(plen, e->len - 6, "PES_packet_length");
    cr_assert_eq(p[6], 0x84);
    unsigned flags = p[7] >> 6;
    cr_assert(flags == 2 || flags == 3);
    cr_assert_eq(p[7] & 0x3F, 0);
    cr_assert_eq(p[8], flags == 3 ? 10 : 5);
    r.has_dts = flags == 3;
    r.pts = read_ts(p + 9, flags == 3 ? 3 : 2);
    r.dts = r.has_dts ? read_ts(p + 14, 1) : r.pts;
    if (r.has_dts)
        cr_assert_neq(r.pts, r.dts, "DTS written although equal to PTS");
    r.es = p + 9 + p[8];
    r.es_len = e->len - 9 - p[8];
    return r;
}

/* ---- expected Annex B, built without the muxer ---- */

static const uint8_t AUD[6] = { 0, 0, 0, 1, 9, 0xF0 };

static void append(uint8_t *dst, size_t *n, size_t cap, const void *p, size_t k)
{
    cr_assert_leq(k, cap - *n);
    memcpy(dst + *n, p, k);
    *n += k;
}

/* AUD, SPS/PPS of the record when key, then each NAL (except AUDs). */
static size_t expected_annexb(const uint8_t *record, size_t rlen, const uint8_t *run, size_t len, unsigned nls,
                              int key, uint8_t *dst, size_t cap)
{
    static const uint8_t sc[4] = { 0, 0, 0, 1 };
    size_t n = 0;
    append(dst, &n, cap, AUD, sizeof(AUD));
    if (key) {
        size_t off = 5;
        for (int set = 0; set < 2; set++) {
            unsigned count = set ? record[off] : record[off] & 0x1F;
            off++;
            for (unsigned i = 0; i < count; i++) {
                size_t k = (size_t)record[off] << 8 | record[off + 1];
                cr_assert_leq(off + 2 + k, rlen);
                append(dst, &n, cap, sc, 4);
                append(dst, &n, cap, record + off + 2, k);
                off += 2 + k;
            }
        }
    }
    for (size_t off = 0; off < len;) {
        size_t k = 0;
        for (unsigned i = 0; i < nls; i++)
            k = k << 8 | run[off + i];
        off += nls;
        if (k && (run[off] & 0x1F) != 9) {
            append(dst, &n, cap, sc, 4);
            append(dst, &n, cap, run + off, k);
        }
        off += k;
    }
    return n;
}

/* ---- hand-built inputs ---- */

/* Legacy AVC sequence header: 4-byte lengths, one SPS, one PPS. */
static const uint8_t VHDR[] = { 0x17, 0, 0, 0, 0, 0x01, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0x00, 0x05, 0x67,
                                0x42, 0xC0, 0x1E, 0x95, 0x01, 0x00, 0x03, 0x68, 0xCE, 0x3C };
/* AAC LC, 44.1 kHz (index 4), stereo. */
static const uint8_t AHDR[] = { 0xAF, 0x00, 0x12, 0x10 };

static const struct hls_codec_headers HDRS = { VHDR, sizeof(VHDR), AHDR, sizeof(AHDR) };

/* A legacy AVC coded frame around the given AVCC run. */
static size_t video_body(uint8_t *dst, int key, int32_t cts, const uint8_t *run, size_t n)
{
    dst[0] = key ? 0x17 : 0x27;
    dst[1] = 1;
    dst[2] = (uint8_t)((uint32_t)cts >> 16);
    dst[3] = (uint8_t)((uint32_t)cts >> 8);
    dst[4] = (uint8_t)cts;
    memcpy(dst + 5, run, n);
    return 5 + n;
}

/* An AVCC run of one NAL of type t, n bytes, no zero bytes in it. */
static size_t one_nal(uint8_t *dst, uint8_t t, size_t n)
{
    dst[0] = (uint8_t)(n >> 24);
    dst[1] = (uint8_t)(n >> 16);
    dst[2] = (uint8_t)(n >> 8);
    dst[3] = (uint8_t)n;
    dst[4] = t;
    for (size_t i = 1; i < n; i++)
        dst[4 + i] = (uint8_t)(0x11 + i % 200);
    return 4 + n;
}

static void begin_ok(struct ts_muxer *m, const struct hls_codec_headers *h)
{
    const char *err = NULL;
    cr_assert_eq(ts_muxer_begin(m, h, &err), ST_OK, "begin: %s", err ? err : "");
}

static void write_ok(struct ts_muxer *m, struct buf *out, const struct hls_sample *s)
{
    const char *err = NULL;
    cr_assert_eq(ts_muxer_write_sample(m, out, s, &err), ST_OK, "write: %s", err ? err : "");
}

/* ---- tests ---- */

Test(ts_muxer, test_crc_matches_catalogue_check_value)
{
    cr_assert_eq(test_crc((const uint8_t *)"123456789", 9), 0x0376E6E7u);
}

Test(ts_muxer, tables_av)
{
    struct ts_muxer m;
    struct buf out;
    struct demux d;
    buf_init(&out, OUT_MAX);
    demux_init(&d);
    begin_ok(&m, &HDRS);
    cr_assert_eq(ts_muxer_write_tables(&m, &out), ST_OK);
    cr_assert_eq(out.len, 376);
    demux(&d, out.data, out.len);
    cr_assert_eq(d.npat, 1);
    cr_assert_eq(d.npmt, 1);
    static const uint8_t pat[] = { 0x00, 0xB0, 0x0D, 0x00, 0x01, 0xC1, 0x00, 0x00, 0x00, 0x01, 0xF0, 0x00 };
    cr_assert_eq(d.pat_len, sizeof(pat) + 4);
    cr_assert_eq(memcmp(d.pat, pat, sizeof(pat)), 0);
    static const uint8_t pmt[] = { 0x02, 0xB0, 0x17, 0x00, 0x01, 0xC1, 0x00, 0x00, 0xE1, 0x00, 0xF0, 0x00,
                                   0x1B, 0xE1, 0x00, 0xF0, 0x00, 0x0F, 0xE1, 0x01, 0xF0, 0x00 };
    cr_assert_eq(d.pmt_len, sizeof(pmt) + 4);
    cr_assert_eq(memcmp(d.pmt, pmt, sizeof(pmt)), 0);
    /* Counters go on per PID across repeated tables. */
    cr_assert_eq(ts_muxer_write_tables(&m, &out), ST_OK);
    cr_assert_eq(ts_muxer_write_tables(&m, &out), ST_OK);
    demux_reset(&d);
    demux(&d, out.data, out.len);
    cr_assert_eq(d.cc[0], 2);
    cr_assert_eq(d.cc[0x1000], 2);
    demux_free(&d);
    buf_free(&out);
}

Test(ts_muxer, tables_audio_only_video_only_and_empty)
{
    struct ts_muxer m;
    struct buf out;
    struct demux d;
    struct hls_codec_headers h;
    buf_init(&out, OUT_MAX);

    h = (struct hls_codec_headers){ NULL, 0, AHDR, sizeof(AHDR) };
    begin_ok(&m, &h);
    cr_assert_eq(ts_muxer_write_tables(&m, &out), ST_OK);
    demux_init(&d);
    demux(&d, out.data, out.len);
    cr_assert_eq(d.pmt_len, 12 + 5 + 4);
    cr_assert_eq((d.pmt[8] & 0x1F) << 8 | d.pmt[9], 0x101, "PCR on audio");
    cr_assert_eq(d.pmt[12], 0x0F);
    demux_free(&d);

    buf_reset(&out);
    h = (struct hls_codec_headers){ VHDR, sizeof(VHDR), NULL, 0 };
    begin_ok(&m, &h);
    cr_assert_eq(ts_muxer_write_tables(&m, &out), ST_OK);
    demux_init(&d);
    demux(&d, out.data, out.len);
    cr_assert_eq(d.pmt_len, 12 + 5 + 4);
    cr_assert_eq((d.pmt[8] & 0x1F) << 8 | d.pmt[9], 0x100);
    cr_assert_eq(d.pmt[12], 0x1B);
    demux_free(&d);

    buf_reset(&out);
    h = (struct hls_codec_headers){ NULL, 0, NULL, 0 };
    begin_ok(&m, &h);
    cr_assert_eq(ts_muxer_write_tables(&m, &out), ST_OK);
    demux_init(&d);
    demux(&d, out.data, out.len);
    cr_assert_eq(d.pmt_len, 12 + 4);
    cr_assert_eq((d.pmt[8] & 0x1F) << 8 | d.pmt[9], 0x1FFF, "no PCR PID");
    demux_free(&d);
    buf_free(&out);
}

/* Mux the whole FLV file; returns the number of samples muxed. */
static int mux_flv(const struct flv_input *in, struct buf *out)
{
    struct ts_muxer m;
    begin_ok(&m, &in->h);
    cr_assert_eq(ts_muxer_write_tables(&m, out), ST_OK);
    int n = 0;
    for (int i = 0; i < in->n; i++) {
        size_t before = out->len;
        write_ok(&m, out, &in->s[i]);
        n += out->len > before;
    }
    return n;
}

Test(ts_muxer, real_flv_end_to_end)
{
    struct flv_input in;
    struct buf out;
    struct demux d;
    static uint8_t want[65536];
    flv_load(&in);
    buf_init(&out, OUT_MAX);
    int muxed = mux_flv(&in, &out);
    demux_init(&d);
    demux(&d, out.data, out.len);
    cr_assert_eq(d.npat, 1);
    cr_assert_eq(d.npmt, 1);
    cr_assert_eq(d.npes, muxed);

    const uint8_t *rec = in.h.video + 5;
    int pes = 0, keys = 0, audio = 0;
    for (int i = 0; i < in.n; i++) {
        const struct hls_sample *s = &in.s[i];
        if (s->kind == 9 && s->body[1] != 1)
            continue; /* the end-of-sequence tag at the end */
        cr_assert_lt(pes, d.npes);
        const struct pes *e = &d.pes[pes++];
        struct pes_info pi = parse_pes(e);
        cr_assert_eq(pi.dts, (uint64_t)s->dts * 90, "dts of sample %d", i);
        if (s->kind == 9) {
            int32_t cts = (int32_t)((uint32_t)s->body[2] << 16 | (uint32_t)s->body[3] << 8 | s->body[4]);
            cr_assert_eq(pi.pts, (uint64_t)(s->dts + cts) * 90);
            cr_assert_eq(e->pid, 0x100);
            size_t n = expected_annexb(rec, in.h.video_len - 5, s->body + 5, s->len - 5, 4, s->key, want,
                                       sizeof(want));
            cr_assert_eq(pi.es_len, n, "video ES size of sample %d", i);
            cr_assert_eq(memcmp(pi.es, want, n), 0, "video ES of sample %d", i);
            cr_assert_eq(e->rai, s->key);
            if (s->key) {
                keys++;
                cr_assert(e->pcr_flag);
                cr_assert_eq(e->pcr, pi.dts, "PCR = dts");
                /* SPS, PPS, then the IDR slice, by NAL type in the output. */
                int order = 0;
                for (size_t k = 0; k + 4 < pi.es_len; k++) {
                    if (memcmp(pi.es + k, "\0\0\0\1", 4) != 0)
                        continue;
                    unsigned t = pi.es[k + 4] & 0x1F;
                    if (t == 7 && order == 0)
                        order = 1;
                    else if (t == 8 && order == 1)
                        order = 2;
                    else if (t == 5 && order == 2)
                        order = 3;
                }
                cr_assert_eq(order, 3, "SPS, PPS before IDR");
            }
        } else {
            audio++;
            cr_assert_eq(e->pid, 0x101);
            cr_assert_not(pi.has_dts);
            cr_assert_not(e->pcr_flag, "PCR is on video");
            cr_assert_eq(pi.es_len, s->len - 2 + 7);
            const uint8_t *a = pi.es;
            /* ASC 13 90: LC at 22050 Hz (index 7), 2 channels. */
            cr_assert_eq(a[0], 0xFF);
            cr_assert_eq(a[1], 0xF1, "MPEG-4, layer 0, no CRC");
            cr_assert_eq(a[2] >> 6, 1, "profile LC");
            cr_assert_eq((a[2] >> 2) & 15, 7, "rate index");
            cr_assert_eq((a[2] & 1) << 2 | a[3] >> 6, 2, "channels");
            cr_assert_eq(((size_t)(a[3] & 3) << 11 | (size_t)a[4] << 3 | a[5] >> 5), s->len - 2 + 7, "frame length");
            cr_assert_eq((a[5] & 0x1F) << 6 | a[6] >> 2, 0x7FF, "buffer fullness");
            cr_assert_eq(a[6] & 3, 0, "one raw data block");
            cr_assert_eq(memcmp(a + 7, s->body + 2, s->len - 2), 0);
        }
    }
    cr_assert_eq(pes, d.npes);
    cr_assert_eq(keys, 1);
    cr_assert_gt(audio, 3);
    demux_free(&d);
    buf_free(&out);
    free(in.file);
}

Test(ts_muxer, deterministic_and_begin_resets)
{
    struct flv_input in;
    struct buf a, b;
    flv_load(&in);
    buf_init(&a, OUT_MAX);
    buf_init(&b, OUT_MAX);
    mux_flv(&in, &a);
    mux_flv(&in, &b);
    cr_assert_eq(a.len, b.len);
    cr_assert_eq(memcmp(a.data, b.data, a.len), 0);

    /* A second segment through the same muxer after begin is byte-identical
     * to the first: nothing leaks from one segment into the next. */
    struct ts_muxer m;
    buf_reset(&b);
    begin_ok(&m, &in.h);
    for (int i = 0; i < in.n; i++)
        write_ok(&m, &b, &in.s[i]);
    size_t mid = b.len;
    begin_ok(&m, &in.h);
    cr_assert_eq(ts_muxer_write_tables(&m, &b), ST_OK);
    for (int i = 0; i < in.n; i++)
        write_ok(&m, &b, &in.s[i]);
    cr_assert_eq(b.len - mid, a.len);
    cr_assert_eq(memcmp(b.data + mid, a.data, a.len), 0);
    buf_free(&a);
    buf_free(&b);
    free(in.file);
}

Test(ts_muxer, composition_offset_writes_dts)
{
    struct ts_muxer m;
    struct buf out;
    struct demux d;
    uint8_t run[64], body[80];
    buf_init(&out, OUT_MAX);
    begin_ok(&m, &HDRS);
    size_t rn = one_nal(run, 0x41, 20);
    static const int32_t cts[] = { 0, 80, -40, 0x7FFFFF, -0x800000 };
    for (size_t i = 0; i < sizeof(cts) / sizeof(cts[0]); i++) {
        size_t bn = video_body(body, 0, cts[i], run, rn);
        struct hls_sample s = { HLS_SAMPLE_VIDEO, 0, 1000, body, (uint32_t)bn };
        write_ok(&m, &out, &s);
    }
    demux_init(&d);
    demux(&d, out.data, out.len);
    cr_assert_eq(d.npes, 5);
    for (int i = 0; i < 5; i++) {
        struct pes_info pi = parse_pes(&d.pes[i]);
        cr_assert_eq(pi.dts, 90000);
        cr_assert_eq(pi.pts, (uint64_t)(90000 + (int64_t)cts[i] * 90) & MASK33, "cts %d", cts[i]);
        cr_assert_eq(pi.has_dts, cts[i] != 0);
    }
    demux_free(&d);
    buf_free(&out);
}

Test(ts_muxer, timestamps_wrap_at_33_bits)
{
    struct ts_muxer m;
    struct buf out;
    struct demux d;
    uint8_t run[64], body[80];
    buf_init(&out, OUT_MAX);
    begin_ok(&m, &HDRS);
    size_t rn = one_nal(run, 0x65, 20);
    size_t bn = video_body(body, 1, 100, run, rn);
    static const uint32_t dts[] = { 0xFFFFFFFFu, 95443718u /* just past 2^33 / 90 */, 95443717u /* just below */ };
    for (int i = 0; i < 3; i++) {
        struct hls_sample s = { HLS_SAMPLE_VIDEO, 1, dts[i], body, (uint32_t)bn };
        write_ok(&m, &out, &s);
    }
    static const uint8_t araw[] = { 0x21, 0x10, 0x04 };
    uint8_t abody[8] = { 0xAF, 0x01 };
    memcpy(abody + 2, araw, sizeof(araw));
    struct hls_sample as = { HLS_SAMPLE_AUDIO, 0, 0xFFFFFFFFu, abody, 2 + sizeof(araw) };
    write_ok(&m, &out, &as);
    demux_init(&d);
    demux(&d, out.data, out.len);
    cr_assert_eq(d.npes, 4);
    for (int i = 0; i < 3; i++) {
        struct pes_info pi = parse_pes(&d.pes[i]);
        uint64_t want = (uint64_t)dts[i] * 90 & MASK33;
        cr_assert_eq(pi.dts, want);
        cr_assert_eq(pi.pts, (want + 9000) & MASK33);
        cr_assert_eq(d.pes[i].pcr, want);
    }
    cr_assert_eq(parse_pes(&d.pes[3]).pts, (uint64_t)0xFFFFFFFFu * 90 & MASK33);
    demux_free(&d);
    buf_free(&out);
}

Test(ts_muxer, pcr_every_100ms_on_pcr_pid)
{
    struct ts_muxer m;
    struct buf out;
    struct demux d;
    uint8_t run[64], body[80];
    buf_init(&out, OUT_MAX);
    begin_ok(&m, &HDRS);
    size_t rn = one_nal(run, 0x41, 30);
    size_t bn = video_body(body, 0, 0, run, rn);
    uint8_t abody[] = { 0xAF, 0x01, 0x21, 0x10 };
    /* Video every 40 ms (non-key), audio in between. */
    for (uint32_t t = 0; t <= 400; t += 40) {
        struct hls_sample s = { HLS_SAMPLE_VIDEO, 0, t, body, (uint32_t)bn };
        struct hls_sample a = { HLS_SAMPLE_AUDIO, 0, t + 5, abody, sizeof(abody) };
        write_ok(&m, &out, &s);
        write_ok(&m, &out, &a);
    }
    /* Exactly 100 ms after the last PCR (360) is due. */
    struct hls_sample exact = { HLS_SAMPLE_VIDEO, 0, 460, body, (uint32_t)bn };
    write_ok(&m, &out, &exact);
    /* A backward jump gets a PCR at once. */
    struct hls_sample back = { HLS_SAMPLE_VIDEO, 0, 50, body, (uint32_t)bn };
    write_ok(&m, &out, &back);
    demux_init(&d);
    demux(&d, out.data, out.len);
    uint64_t want_pcr[] = { 0, 120, 240, 360, 460, 50 };
    size_t np = 0;
    for (int i = 0; i < d.npes; i++) {
        if (d.pes[i].pid != 0x100) {
            cr_assert_not(d.pes[i].pcr_flag);
            continue;
        }
        if (d.pes[i].pcr_flag) {
            cr_assert_lt(np, 6);
            cr_assert_eq(d.pes[i].pcr, want_pcr[np] * 90, "PCR %zu", np);
            np++;
        }
    }
    cr_assert_eq(np, 6);
    demux_free(&d);

    /* Audio-only: the PCR moves to the audio PID. */
    struct hls_codec_headers h = { NULL, 0, AHDR, sizeof(AHDR) };
    buf_reset(&out);
    begin_ok(&m, &h);
    for (uint32_t t = 0; t < 300; t += 23) {
        struct hls_sample a = { HLS_SAMPLE_AUDIO, 0, t, abody, sizeof(abody) };
        write_ok(&m, &out, &a);
    }
    demux_init(&d);
    demux(&d, out.data, out.len);
    uint64_t want_a[] = { 0, 115, 230 };
    np = 0;
    for (int i = 0; i < d.npes; i++) {
        if (d.pes[i].pcr_flag) {
            cr_assert_lt(np, 3);
            cr_assert_eq(d.pes[i].pcr, want_a[np] * 90);
            np++;
        }
    }
    cr_assert_eq(np, 3);
    demux_free(&d);
    buf_free(&out);
}

/* Every PES size from tiny to a few packets, key (PCR) and not: the
 * stuffing (1 byte, 2 bytes, more) and the packet split must always add up. */
Test(ts_muxer, every_pes_size_around_packet_boundaries)
{
    struct ts_muxer m;
    struct buf out;
    struct demux d;
    static uint8_t run[1024], body[1100], want[2048];
    buf_init(&out, OUT_MAX);
    demux_init(&d);
    const uint8_t *rec = VHDR + 5;
    for (int key = 0; key < 2; key++) {
        for (size_t n = 1; n <= 700; n++) {
            buf_reset(&out);
            begin_ok(&m, &HDRS);
            size_t rn = one_nal(run, key ? 0x65 : 0x41, n);
            size_t bn = video_body(body, key, 0, run, rn);
            struct hls_sample s = { HLS_SAMPLE_VIDEO, (uint8_t)key, 40, body, (uint32_t)bn };
            write_ok(&m, &out, &s);
            demux_reset(&d);
            demux(&d, out.data, out.len);
            cr_assert_eq(d.npes, 1);
            struct pes_info pi = parse_pes(&d.pes[0]);
            size_t wn = expected_annexb(rec, sizeof(VHDR) - 5, run, rn, 4, key, want, sizeof(want));
            cr_assert_eq(pi.es_len, wn, "size %zu key %d", n, key);
            cr_assert_eq(memcmp(pi.es, want, wn), 0);
            /* The fewest packets that can hold it. */
            size_t total = 14 + wn, first = 184 - 8;
            size_t packets = total <= first ? 1 : 1 + (total - first + 183) / 184;
            cr_assert_eq((size_t)d.npackets, packets, "size %zu", n);
        }
    }
    /* Audio too (no adaptation flags, PES header 14 bytes). */
    for (size_t n = 1; n <= 400; n++) {
        buf_reset(&out);
        begin_ok(&m, &HDRS);
        body[0] = 0xAF;
        body[1] = 1;
        memset(body + 2, 0x5A, n);
        struct hls_sample s = { HLS_SAMPLE_AUDIO, 0, 40, body, (uint32_t)(n + 2) };
        write_ok(&m, &out, &s);
        demux_reset(&d);
        demux(&d, out.data, out.len);
        cr_assert_eq(d.npes, 1);
        struct pes_info pi = parse_pes(&d.pes[0]);
        cr_assert_eq(pi.es_len, n + 7);
        cr_assert_eq(memcmp(pi.es + 7, body + 2, n), 0);
        cr_assert_eq((size_t)d.npackets, (14 + 7 + n + 183) / 184);
    }
    demux_free(&d);
    buf_free(&out);
}

Test(ts_muxer, large_video_pes_is_unbounded)
{
    struct ts_muxer m;
    struct buf out;
    static uint8_t run[70000], body[70010];
    buf_init(&out, OUT_MAX);
    begin_ok(&m, &HDRS);
    size_t rn = one_nal(run, 0x41, 65536);
    size_t bn = video_body(body, 0, 0, run, rn);
    struct hls_sample s = { HLS_SAMPLE_VIDEO, 0, 0, body, (uint32_t)bn };
    write_ok(&m, &out, &s);
    /* Walk the packets ourselves: the demux helper caps a PES at 64 KiB. */
    cr_assert_eq(out.len % 188, 0);
    const uint8_t *p = out.data;
    size_t hdr = 4 + ((p[3] & 0x20) ? 1 + p[4] : 0);
    cr_assert_eq(p[hdr + 4], 0);
    cr_assert_eq(p[hdr + 5], 0, "PES_packet_length 0 past 65535");
    size_t payload = 0;
    for (size_t off = 0; off < out.len; off += 188) {
        cr_assert_eq(out.data[off], 0x47);
        cr_assert_eq(out.data[off + 3] & 15, (off / 188) & 15);
        payload += 184 - ((out.data[off + 3] & 0x20) ? 1u + out.data[off + 4] : 0u);
    }
    cr_assert_eq(payload, 14 + 6 + 4 + 65536);
    buf_free(&out);
}

Test(ts_muxer, aac_frame_size_limit)
{
    struct ts_muxer m;
    struct buf out;
    static uint8_t body[8200];
    const char *err = NULL;
    buf_init(&out, OUT_MAX);
    begin_ok(&m, &HDRS);
    body[0] = 0xAF;
    body[1] = 1;
    struct hls_sample s = { HLS_SAMPLE_AUDIO, 0, 0, body, 2 + 8184 };
    write_ok(&m, &out, &s);
    size_t len = out.len;
    s.len++;
    cr_assert_eq(ts_muxer_write_sample(&m, &out, &s, &err), ST_ERROR);
    cr_assert_str_eq(err, "AAC frame too large for ADTS");
    cr_assert_eq(out.len, len);
    buf_free(&out);
}

Test(ts_muxer, skipped_samples_write_nothing)
{
    struct ts_muxer m;
    struct buf out;
    buf_init(&out, OUT_MAX);
    begin_ok(&m, &HDRS);
    static const uint8_t eos[] = { 0x17, 2, 0, 0, 0 };
    static const uint8_t hevc[] = { 0x1C, 1, 0, 0, 0, 0, 0, 0, 2, 0x26, 0x01 };
    static const uint8_t vp6[] = { 0x24, 0x11, 0x22 };
    static const uint8_t cmd[] = { 0x57, 0x01 };
    static const uint8_t ex_meta[] = { 0x84, 'a', 'v', 'c', '1', 0x02 };
    static const uint8_t ex_hvc[] = { 0x91, 'h', 'v', 'c', '1', 0, 0, 0, 0, 0, 0, 2, 0x26, 0x01 };
    static const uint8_t mp3[] = { 0x2F, 0xFF, 0xFB, 0x90 };
    static const uint8_t aac_unknown[] = { 0xAF, 0x07, 0x11 };
    const struct hls_sample skip[] = {
        { HLS_SAMPLE_VIDEO, 1, 0, VHDR, sizeof(VHDR) },
        { HLS_SAMPLE_AUDIO, 0, 0, AHDR, sizeof(AHDR) },
        { HLS_SAMPLE_VIDEO, 0, 0, eos, sizeof(eos) },
        { HLS_SAMPLE_VIDEO, 1, 0, hevc, sizeof(hevc) },
        { HLS_SAMPLE_VIDEO, 0, 0, vp6, sizeof(vp6) },
        { HLS_SAMPLE_VIDEO, 0, 0, cmd, sizeof(cmd) },
        { HLS_SAMPLE_VIDEO, 0, 0, ex_meta, sizeof(ex_meta) },
        { HLS_SAMPLE_VIDEO, 1, 0, ex_hvc, sizeof(ex_hvc) },
        { HLS_SAMPLE_AUDIO, 0, 0, mp3, sizeof(mp3) },
        { HLS_SAMPLE_AUDIO, 0, 0, aac_unknown, sizeof(aac_unknown) },
        { 18, 0, 0, mp3, sizeof(mp3) },
    };
    for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++) {
        write_ok(&m, &out, &skip[i]);
        cr_assert_eq(out.len, 0, "case %zu wrote", i);
    }
    /* Streams begin did not set up are skipped too. */
    uint8_t run[32], body[48];
    size_t bn = video_body(body, 1, 0, run, one_nal(run, 0x65, 10));
    struct hls_sample v = { HLS_SAMPLE_VIDEO, 1, 0, body, (uint32_t)bn };
    static const uint8_t araw[] = { 0xAF, 0x01, 0x21 };
    struct hls_sample a = { HLS_SAMPLE_AUDIO, 0, 0, araw, sizeof(araw) };
    struct hls_codec_headers only_a = { NULL, 0, AHDR, sizeof(AHDR) }, only_v = { VHDR, sizeof(VHDR), NULL, 0 };
    begin_ok(&m, &only_a);
    write_ok(&m, &out, &v);
    cr_assert_eq(out.len, 0);
    begin_ok(&m, &only_v);
    write_ok(&m, &out, &a);
    cr_assert_eq(out.len, 0);
    buf_free(&out);
}

/* A bad sample leaves out and the counters exactly as they were: the next
 * good sample comes out as if the bad one had never been offered. */
static void expect_rejected(const struct hls_sample *bad, const char *reason)
{
    struct ts_muxer m1, m2;
    struct buf a, b;
    uint8_t run[32], body[48];
    const char *err = NULL;
    size_t bn = video_body(body, 0, 0, run, one_nal(run, 0x41, 10));
    struct hls_sample good = { HLS_SAMPLE_VIDEO, 0, 0, body, (uint32_t)bn };

    buf_init(&a, OUT_MAX);
    buf_init(&b, OUT_MAX);
    begin_ok(&m1, &HDRS);
    begin_ok(&m2, &HDRS);
    write_ok(&m1, &a, &good);
    write_ok(&m2, &b, &good);
    size_t len = b.len;
    int rc = ts_muxer_write_sample(&m2, &b, bad, &err);
    cr_assert_eq(rc, ST_ERROR);
    cr_assert_not_null(err);
    if (reason)
        cr_assert_str_eq(err, reason);
    cr_assert_eq(b.len, len);
    cr_assert_eq(memcmp(a.data, b.data, len), 0);
    write_ok(&m1, &a, &good);
    write_ok(&m2, &b, &good);
    cr_assert_eq(a.len, b.len);
    cr_assert_eq(memcmp(a.data, b.data, a.len), 0);
    buf_free(&a);
    buf_free(&b);
}

Test(ts_muxer, malformed_samples_rejected)
{
    static const uint8_t trunc_len[] = { 0x27, 1, 0, 0, 0, 0, 0, 0, 5, 0x41, 1, 2, 3, 4, 0, 0 };
    static const uint8_t past[] = { 0x27, 1, 0, 0, 0, 0, 0, 0, 9, 0x41, 1, 2 };
    static const uint8_t hdr_only[] = { 0x27, 1, 0, 0, 0 };
    static const uint8_t short_hdr[] = { 0x27, 1, 0 };
    static const uint8_t aud_only[] = { 0x27, 1, 0, 0, 0, 0, 0, 0, 2, 0x09, 0xF0, 0, 0, 0, 0 };
    static const uint8_t aac_hdr_only[] = { 0xAF, 0x01 };
    static const uint8_t aac_short[] = { 0xAF };
    const struct {
        struct hls_sample s;
        const char *reason;
    } cases[] = {
        { { HLS_SAMPLE_VIDEO, 0, 0, trunc_len, sizeof(trunc_len) }, "truncated NAL length" },
        { { HLS_SAMPLE_VIDEO, 0, 0, past, sizeof(past) }, "NAL length past the body" },
        { { HLS_SAMPLE_VIDEO, 0, 0, hdr_only, sizeof(hdr_only) }, "empty video sample" },
        { { HLS_SAMPLE_VIDEO, 0, 0, short_hdr, sizeof(short_hdr) }, NULL },
        { { HLS_SAMPLE_VIDEO, 0, 0, NULL, 0 }, NULL },
        { { HLS_SAMPLE_VIDEO, 0, 0, aud_only, sizeof(aud_only) }, "video sample without NAL units" },
        { { HLS_SAMPLE_AUDIO, 0, 0, aac_hdr_only, sizeof(aac_hdr_only) }, "empty audio sample" },
        { { HLS_SAMPLE_AUDIO, 0, 0, aac_short, sizeof(aac_short) }, NULL },
        { { HLS_SAMPLE_AUDIO, 0, 0, NULL, 0 }, NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_rejected(&cases[i].s, cases[i].reason);
}

/* Every truncation of every real video sample: accepted exactly when the cut
 * falls on a NAL boundary, otherwise rejected with nothing written. */
Test(ts_muxer, real_samples_cut_at_every_offset)
{
    struct flv_input in;
    struct ts_muxer m;
    struct buf out;
    flv_load(&in);
    buf_init(&out, OUT_MAX);
    begin_ok(&m, &in.h);
    for (int i = 0; i < in.n; i++) {
        const struct hls_sample *s = &in.s[i];
        if (s->kind != HLS_SAMPLE_VIDEO || s->body[1] != 1)
            continue;
        /* NAL boundaries of the full body. */
        uint8_t boundary[8192] = { 0 };
        cr_assert_lt(s->len, sizeof(boundary));
        for (size_t off = 5; off < s->len;) {
            boundary[off] = 1;
            off += 4 + rd_be32(s->body + off);
        }
        boundary[s->len] = 1;
        boundary[5] = 0; /* no NAL at all */
        for (uint32_t cut = 0; cut < s->len; cut++) {
            struct hls_sample t = *s;
            t.len = cut;
            const char *err = NULL;
            size_t len = out.len;
            int rc = ts_muxer_write_sample(&m, &out, &t, &err);
            if (boundary[cut]) {
                cr_assert_eq(rc, ST_OK, "cut %u: %s", cut, err ? err : "");
                cr_assert_gt(out.len, len);
            } else {
                cr_assert_eq(rc, ST_ERROR, "cut %u of sample %d", cut, i);
                cr_assert_not_null(err);
                cr_assert_eq(out.len, len);
            }
        }
    }
    struct demux *d = malloc(sizeof(*d));
    cr_assert_not_null(d);
    demux_init(d);
    demux(d, out.data, out.len); /* counters stayed continuous throughout */
    demux_free(d);
    free(d);
    buf_free(&out);
    free(in.file);
}

Test(ts_muxer, output_cap_rolls_back)
{
    struct ts_muxer m;
    struct buf out;
    uint8_t run[600], body[620];
    const char *err = NULL;
    buf_init(&out, 376 + 188 * 2);
    begin_ok(&m, &HDRS);
    cr_assert_eq(ts_muxer_write_tables(&m, &out), ST_OK);
    size_t bn = video_body(body, 1, 0, run, one_nal(run, 0x65, 500));
    struct hls_sample s = { HLS_SAMPLE_VIDEO, 1, 0, body, (uint32_t)bn };
    cr_assert_eq(ts_muxer_write_sample(&m, &out, &s, &err), ST_ERROR);
    cr_assert_str_eq(err, "output buffer full");
    cr_assert_eq(out.len, 376);
    cr_assert_eq(m.cc_video, 0);
    cr_assert_eq(m.pcr_sent, 0);
    /* A sample that fits still starts at counter 0 with a PCR. */
    bn = video_body(body, 1, 0, run, one_nal(run, 0x65, 100));
    s.len = (uint32_t)bn;
    write_ok(&m, &out, &s);
    cr_assert_eq(out.len, 376 + 188);
    cr_assert_eq(out.data[376 + 3] & 15, 0);
    cr_assert_eq(out.data[376 + 5], 0x50);
    /* Tables: all or nothing. */
    cr_assert_eq(ts_muxer_write_tables(&m, &out), ST_ERROR);
    cr_assert_eq(out.len, 376 + 188);
    cr_assert_eq(m.cc_pat, 1);
    buf_free(&out);
}

Test(ts_muxer, enhanced_avc1_matches_legacy)
{
    static const uint8_t ex_hdr_prefix[] = { 0x90, 'a', 'v', 'c', '1' };
    uint8_t ehdr[64], run[64], legacy[96], ex1[96], ex3[96];
    memcpy(ehdr, ex_hdr_prefix, 5);
    memcpy(ehdr + 5, VHDR + 5, sizeof(VHDR) - 5);
    struct hls_codec_headers eh = { ehdr, sizeof(VHDR), AHDR, sizeof(AHDR) };
    size_t rn = one_nal(run, 0x65, 40);

    /* Legacy key frame with cts 40; enhanced CodedFrames (cts 40) gives the
     * same bytes; CodedFramesX (no cts) the same as legacy with cts 0. */
    size_t ln = video_body(legacy, 1, 40, run, rn);
    static const uint8_t ex1_hdr[] = { 0x91, 'a', 'v', 'c', '1', 0, 0, 40 };
    memcpy(ex1, ex1_hdr, 8);
    memcpy(ex1 + 8, run, rn);
    static const uint8_t ex3_hdr[] = { 0x93, 'a', 'v', 'c', '1' };
    memcpy(ex3, ex3_hdr, 5);
    memcpy(ex3 + 5, run, rn);

    struct ts_muxer m;
    struct buf a, b;
    buf_init(&a, OUT_MAX);
    buf_init(&b, OUT_MAX);
    struct hls_sample s = { HLS_SAMPLE_VIDEO, 1, 80, legacy, (uint32_t)ln };
    begin_ok(&m, &HDRS);
    write_ok(&m, &a, &s);
    s = (struct hls_sample){ HLS_SAMPLE_VIDEO, 1, 80, ehdr, sizeof(VHDR) }; /* SequenceStart: skipped */
    begin_ok(&m, &eh);
    write_ok(&m, &b, &s);
    cr_assert_eq(b.len, 0);
    s = (struct hls_sample){ HLS_SAMPLE_VIDEO, 1, 80, ex1, (uint32_t)(8 + rn) };
    write_ok(&m, &b, &s);
    cr_assert_eq(a.len, b.len);
    cr_assert_eq(memcmp(a.data, b.data, a.len), 0);

    buf_reset(&a);
    buf_reset(&b);
    ln = video_body(legacy, 1, 0, run, rn);
    s = (struct hls_sample){ HLS_SAMPLE_VIDEO, 1, 80, legacy, (uint32_t)ln };
    begin_ok(&m, &HDRS);
    write_ok(&m, &a, &s);
    s = (struct hls_sample){ HLS_SAMPLE_VIDEO, 1, 80, ex3, (uint32_t)(5 + rn) };
    begin_ok(&m, &eh);
    write_ok(&m, &b, &s);
    cr_assert_eq(a.len, b.len);
    cr_assert_eq(memcmp(a.data, b.data, a.len), 0);
    buf_free(&a);
    buf_free(&b);
}

Test(ts_muxer, two_byte_nal_lengths_and_several_parameter_sets)
{
    /* lengthSizeMinusOne 1, two SPS, two PPS. */
    static const uint8_t hdr[] = { 0x17, 0, 0, 0, 0, 0x01, 0x64, 0x00, 0x1F, 0xFD, 0xE2, 0x00, 0x02, 0x67, 0x64,
                                   0x00, 0x03, 0x67, 0x64, 0x01, 0x02, 0x00, 0x02, 0x68, 0xEE, 0x00, 0x02, 0x68, 0xEF };
    static const uint8_t body[] = { 0x17, 1, 0, 0, 0, 0x00, 0x03, 0x06, 0x05, 0x80, 0x00, 0x00,
                                    0x00, 0x02, 0x09, 0x10, 0x00, 0x04, 0x65, 0x88, 0x84, 0x21 };
    static const uint8_t want[] = { 0, 0, 0, 1, 9,    0xF0, 0, 0, 0, 1, 0x67, 0x64, 0, 0, 0, 1, 0x67,
                                    0x64, 0x01, 0,    0, 0,    1, 0x68, 0xEE, 0,  0,  0,    1, 0x68, 0xEF, 0,
                                    0,    0,    1,    0x06, 0x05, 0x80, 0, 0, 0, 1, 0x65, 0x88, 0x84, 0x21 };
    struct hls_codec_headers h = { hdr, sizeof(hdr), NULL, 0 };
    struct ts_muxer m;
    struct buf out;
    struct demux d;
    buf_init(&out, OUT_MAX);
    begin_ok(&m, &h);
    cr_assert_eq(m.nal_length_size, 2);
    struct hls_sample s = { HLS_SAMPLE_VIDEO, 1, 0, body, sizeof(body) };
    write_ok(&m, &out, &s);
    demux_init(&d);
    demux(&d, out.data, out.len);
    struct pes_info pi = parse_pes(&d.pes[0]);
    cr_assert_eq(pi.es_len, sizeof(want));
    cr_assert_eq(memcmp(pi.es, want, sizeof(want)), 0);
    demux_free(&d);
    buf_free(&out);
}

Test(ts_muxer, audio_configs)
{
    struct ts_muxer m;
    const char *err;
    static const struct {
        uint8_t asc[8];
        size_t n;
        int ok;
        uint8_t profile, rate, channels;
    } cases[] = {
        { { 0x12, 0x10 }, 2, 1, 1, 4, 2 },                   /* LC 44.1 kHz stereo */
        { { 0x11, 0x88 }, 2, 1, 1, 3, 1 },                   /* LC 48 kHz mono */
        { { 0x11, 0xB0 }, 2, 1, 1, 3, 6 },                   /* LC 48 kHz 5.1 */
        { { 0x21, 0xB8 }, 2, 1, 3, 3, 7 },                   /* LTP 48 kHz 7.1 */
        { { 0x0A, 0x10 }, 2, 1, 0, 4, 2 },                   /* Main */
        { { 0x13, 0x90, 0x56, 0xE5, 0x00 }, 5, 1, 1, 7, 2 }, /* LC + backward-compatible SBR tail */
        { { 0x2B, 0x92, 0x08, 0x00 }, 4, 1, 1, 7, 2 },       /* explicit SBR: core LC at 22.05 kHz */
        { { 0xEB, 0x89, 0x88, 0x00 }, 4, 1, 1, 7, 1 },       /* explicit PS (29) */
        { { 0x12, 0x00 }, 2, 0, 0, 0, 0 },                   /* channel configuration 0 (PCE) */
        { { 0x17, 0x80, 0x00, 0x00, 0x10 }, 5, 0, 0, 0, 0 }, /* explicit 24-bit rate */
        { { 0x16, 0x90 }, 2, 0, 0, 0, 0 },                   /* rate index 13 */
        { { 0x3A, 0x10 }, 2, 0, 0, 0, 0 },                   /* object type 7 */
        { { 0xF8, 0x41, 0x08 }, 3, 0, 0, 0, 0 },             /* escape: object type 34 */
        { { 0x12 }, 1, 0, 0, 0, 0 },                         /* truncated */
        { { 0 }, 0, 0, 0, 0, 0 },                            /* nothing */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t body[10] = { 0xAF, 0x00 };
        memcpy(body + 2, cases[i].asc, cases[i].n);
        struct hls_codec_headers h = { VHDR, sizeof(VHDR), body, (uint32_t)(2 + cases[i].n) };
        err = NULL;
        int rc = ts_muxer_begin(&m, &h, &err);
        if (!cases[i].ok) {
            cr_assert_eq(rc, ST_ERROR, "case %zu", i);
            cr_assert_not_null(err);
            cr_assert_eq(m.has_video + m.has_audio, 0, "failed begin leaves no streams");
            continue;
        }
        cr_assert_eq(rc, ST_OK, "case %zu: %s", i, err ? err : "");
        cr_assert_eq(m.aac_profile, cases[i].profile, "case %zu", i);
        cr_assert_eq(m.aac_rate_index, cases[i].rate, "case %zu", i);
        cr_assert_eq(m.aac_channels, cases[i].channels, "case %zu", i);
        /* And the ADTS header of a frame says the same. */
        struct buf out;
        struct demux d;
        static const uint8_t raw[] = { 0xAF, 0x01, 0x21, 0x2A };
        struct hls_sample a = { HLS_SAMPLE_AUDIO, 0, 0, raw, sizeof(raw) };
        buf_init(&out, OUT_MAX);
        write_ok(&m, &out, &a);
        demux_init(&d);
        demux(&d, out.data, out.len);
        const uint8_t *x = parse_pes(&d.pes[0]).es;
        cr_assert_eq(x[2] >> 6, cases[i].profile);
        cr_assert_eq((x[2] >> 2) & 15, cases[i].rate);
        cr_assert_eq((x[2] & 1) << 2 | x[3] >> 6, cases[i].channels);
        cr_assert_eq(x[2] & 2, 0, "private bit");
        cr_assert_eq(x[3] & 0x3C, 0, "original/home/copyright bits");
        demux_free(&d);
        buf_free(&out);
    }
}

Test(ts_muxer, begin_headers)
{
    struct ts_muxer m;
    const char *err = NULL;
    /* Every truncation of the real and the hand-built AVC header fails cleanly
     * (the full one succeeds). */
    struct flv_input in;
    flv_load(&in);
    const struct hls_codec_headers *full[] = { &in.h, &HDRS };
    for (int k = 0; k < 2; k++) {
        for (uint32_t cut = 0; cut <= full[k]->video_len; cut++) {
            struct hls_codec_headers h = { full[k]->video, cut, NULL, 0 };
            err = NULL;
            int rc = ts_muxer_begin(&m, &h, &err);
            if (cut == full[k]->video_len) {
                cr_assert_eq(rc, ST_OK, "%s", err ? err : "");
                cr_assert(m.has_video);
            } else {
                cr_assert_eq(rc, ST_ERROR, "cut %u", cut);
                cr_assert_not_null(err);
            }
        }
    }
    free(in.file);

    /* Non-AVC / non-AAC headers leave the stream out without failing. */
    static const uint8_t hevc[] = { 0x1C, 0, 0, 0, 0, 1, 2, 3 };
    static const uint8_t mp3[] = { 0x2F, 0xFF };
    struct hls_codec_headers h = { hevc, sizeof(hevc), mp3, sizeof(mp3) };
    begin_ok(&m, &h);
    cr_assert_eq(m.has_video, 0);
    cr_assert_eq(m.has_audio, 0);

    static const uint8_t not_seq[] = { 0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65 };
    static const uint8_t bad_version[] = { 0x17, 0, 0, 0, 0, 0x02, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 1, 0x67, 1, 0, 1, 0x68 };
    static const uint8_t three_byte[] = { 0x17, 0, 0, 0, 0, 0x01, 0x42, 0xC0, 0x1E, 0xFE, 0xE1, 0, 1, 0x67, 1, 0, 1, 0x68 };
    static const uint8_t no_sps[] = { 0x17, 0, 0, 0, 0, 0x01, 0x42, 0xC0, 0x1E, 0xFF, 0xE0, 1, 0, 1, 0x68 };
    static const uint8_t no_pps[] = { 0x17, 0, 0, 0, 0, 0x01, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 1, 0x67, 0 };
    static const uint8_t wrong_nal[] = { 0x17, 0, 0, 0, 0, 0x01, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 1, 0x68, 1, 0, 1, 0x68 };
    static const uint8_t zero_sps[] = { 0x17, 0, 0, 0, 0, 0x01, 0x42, 0xC0, 0x1E, 0xFF, 0xE1, 0, 0, 1, 0, 1, 0x68 };
    static const uint8_t aac_raw[] = { 0xAF, 0x01, 0x12, 0x10 };
    const struct {
        struct hls_codec_headers h;
        const char *reason;
    } bad[] = {
        { { not_seq, sizeof(not_seq), NULL, 0 }, "video header is not an AVC sequence header" },
        { { bad_version, sizeof(bad_version), NULL, 0 }, "bad AVC configuration version" },
        { { three_byte, sizeof(three_byte), NULL, 0 }, "bad AVC NAL length size" },
        { { no_sps, sizeof(no_sps), NULL, 0 }, "AVC configuration without SPS" },
        { { no_pps, sizeof(no_pps), NULL, 0 }, "AVC configuration without PPS" },
        { { wrong_nal, sizeof(wrong_nal), NULL, 0 }, "unexpected NAL type in AVC configuration" },
        { { zero_sps, sizeof(zero_sps), NULL, 0 }, "truncated AVC decoder configuration" },
        { { VHDR, sizeof(VHDR), aac_raw, sizeof(aac_raw) }, "audio header is not an AAC sequence header" },
        { { VHDR, sizeof(VHDR), AHDR, 0 }, NULL },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        cr_assert_eq(ts_muxer_begin(&m, &bad[i].h, &err), ST_ERROR, "case %zu", i);
        cr_assert_not_null(err);
        if (bad[i].reason)
            cr_assert_str_eq(err, bad[i].reason, "case %zu", i);
        cr_assert_eq(m.has_video + m.has_audio, 0);
    }

    /* Parameter sets beyond TS_MUXER_PARAMS_MAX are refused, not truncated. */
    static uint8_t big[16 + 2 * (TS_MUXER_PARAMS_MAX / 2 + 2)];
    size_t n = 0;
    static const uint8_t big_prefix[] = { 0x17, 0, 0, 0, 0, 0x01, 0x42, 0xC0, 0x1E, 0xFF, 0xE2 };
    memcpy(big, big_prefix, sizeof(big_prefix));
    n = sizeof(big_prefix);
    for (int i = 0; i < 2; i++) {
        size_t k = TS_MUXER_PARAMS_MAX / 2;
        big[n++] = (uint8_t)(k >> 8);
        big[n++] = (uint8_t)k;
        big[n] = 0x67;
        memset(big + n + 1, 0x11, k - 1);
        n += k;
    }
    big[n++] = 1;
    big[n++] = 0;
    big[n++] = 1;
    big[n++] = 0x68;
    cr_assert_leq(n, sizeof(big));
    struct hls_codec_headers hb = { big, (uint32_t)n, NULL, 0 };
    cr_assert_eq(ts_muxer_begin(&m, &hb, &err), ST_ERROR);
    cr_assert_str_eq(err, "AVC parameter sets too large");
}
