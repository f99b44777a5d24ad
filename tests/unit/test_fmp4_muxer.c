/*
 * fmp4_muxer: every output is read back with a small box walker (sizes add
 * up, box order, sample entries and config records, trun counts/sizes/
 * offsets pointing into mdat, tfdt, durations, flags, composition offsets).
 * Inputs: the real ffmpeg FLV in tests/data/codec (H.264 + AAC), the real
 * HEVC/AAC sequence headers there, an av1C from libaom, and hand-built
 * frames for the cases encoders do not produce. Every malformed input must
 * fail with a reason and leave the output exactly as it was.
 */
#include <criterion/criterion.h>

#include "test_data.h"

#include "core/buf.h"
#include "core/status.h"
#include "hls/fmp4_muxer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SC_TEST_DATA
#define SC_TEST_DATA "tests/data"
#endif

#define CAP (1u << 24)
#define MAX_RUN 512
#define MAX_SAMPLES 128

/* av1C written by ffmpeg/libaom for a 320x240 4:2:0 8-bit stream. */
static const uint8_t av1c_320x240[] = { 0x81, 0x00, 0x0c, 0x00, 0x0a, 0x0b, 0x00, 0x00, 0x00,
                                        0x04, 0x3c, 0xff, 0xbc, 0xda, 0xf9, 0x00, 0x40 };

/* ---- helpers: files, FLV ---- */


/* Exact-size heap copy, so ASan sees any read past the end. */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    cr_assert_not_null(c);
    if (n)
        memcpy(c, p, n);
    return c;
}

struct flv {
    uint8_t *file;
    struct hls_codec_headers h;
    struct hls_sample s[MAX_SAMPLES];
    size_t n;
};

/* 9-byte header, then PreviousTagSize + 11-byte tag header + body. Every
 * audio/video tag becomes a sample (sequence headers too: the muxer must
 * skip them); the first sequence headers become the codec headers. */
static void load_flv(struct flv *f, const char *rel)
{
    size_t len, p = 9;
    memset(f, 0, sizeof(*f));
    f->file = test_data_load(rel, &len);
    cr_assert(len > 13 && memcmp(f->file, "FLV", 3) == 0);
    while (p + 4 + 11 <= len) {
        p += 4;
        const uint8_t *t = f->file + p;
        uint32_t size = rd_be24(t + 1), ts = rd_be24(t + 4) | (uint32_t)t[7] << 24;
        cr_assert_leq(p + 11 + size, len);
        const uint8_t *body = t + 11;
        p += 11 + size;
        if ((t[0] != 8 && t[0] != 9) || size == 0)
            continue;
        cr_assert_lt(f->n, MAX_SAMPLES);
        struct hls_sample *s = &f->s[f->n++];
        s->kind = t[0];
        s->dts = ts;
        s->body = body;
        s->len = size;
        if (t[0] == 9) {
            s->key = (body[0] >> 4) == 1;
            if (size > 1 && body[1] == 0 && !f->h.video) {
                f->h.video = body;
                f->h.video_len = size;
            }
        } else if (size > 1 && body[1] == 0 && !f->h.audio) {
            f->h.audio = body;
            f->h.audio_len = size;
        }
    }
}

/* ---- helpers: box walker ---- */

struct box {
    char type[5];
    const uint8_t *start; /* header */
    const uint8_t *body;  /* after header (and, for full boxes, still the version/flags) */
    size_t size, body_len;
};

/* Bytes a container box carries before its children. */
static size_t child_offset(const char *type)
{
    static const struct {
        const char *type;
        size_t skip;
    } containers[] = {
        { "moov", 0 }, { "trak", 0 }, { "mdia", 0 }, { "minf", 0 }, { "dinf", 0 }, { "stbl", 0 },
        { "mvex", 0 }, { "moof", 0 }, { "traf", 0 }, { "stsd", 8 }, { "dref", 8 }, { "avc1", 78 },
        { "hvc1", 78 }, { "av01", 78 }, { "mp4a", 28 },
    };
    for (size_t i = 0; i < sizeof(containers) / sizeof(containers[0]); i++)
        if (strcmp(type, containers[i].type) == 0)
            return containers[i].skip;
    return (size_t)-1;
}

/* Children of [p, p+len): sizes must tile the range exactly. */
static size_t children(const uint8_t *p, size_t len, struct box *out, size_t max)
{
    size_t off = 0, n = 0;
    while (off < len) {
        cr_assert_geq(len - off, 8, "box header truncated at %zu", off);
        uint32_t size = rd_be32(p + off);
        cr_assert_geq(size, 8, "box size %u < 8", size);
        cr_assert_leq(size, len - off, "box overruns its parent");
        cr_assert_lt(n, max);
        struct box *b = &out[n++];
        memcpy(b->type, p + off + 4, 4);
        b->type[4] = 0;
        b->start = p + off;
        b->body = p + off + 8;
        b->size = size;
        b->body_len = size - 8;
        off += size;
    }
    return n;
}

/* Every container in the tree, recursively. */
static void check_tree(const uint8_t *p, size_t len)
{
    struct box kids[32];
    size_t n = children(p, len, kids, 32);
    for (size_t i = 0; i < n; i++) {
        size_t skip = child_offset(kids[i].type);
        if (skip == (size_t)-1)
            continue;
        cr_assert_geq(kids[i].body_len, skip, "%s too short", kids[i].type);
        check_tree(kids[i].body + skip, kids[i].body_len - skip);
    }
}

/* The idx-th child of parent named type; the parent's body is its box body. */
static struct box child(const struct box *parent, const char *type, int idx)
{
    struct box kids[32];
    size_t skip = child_offset(parent->type);
    cr_assert_neq(skip, (size_t)-1, "%s is not a container", parent->type);
    size_t n = children(parent->body + skip, parent->body_len - skip, kids, 32);
    for (size_t i = 0; i < n; i++)
        if (strcmp(kids[i].type, type) == 0 && idx-- == 0)
            return kids[i];
    cr_assert_fail("no %s in %s", type, parent->type);
    return kids[0];
}

static struct box root(const uint8_t *p, size_t len, const char *type)
{
    struct box kids[8];
    size_t n = children(p, len, kids, 8);
    for (size_t i = 0; i < n; i++)
        if (strcmp(kids[i].type, type) == 0)
            return kids[i];
    cr_assert_fail("no top-level %s", type);
    return kids[0];
}

static size_t count_children(const struct box *parent, const char *type)
{
    struct box kids[32];
    size_t skip = child_offset(parent->type), k = 0;
    size_t n = children(parent->body + skip, parent->body_len - skip, kids, 32);
    for (size_t i = 0; i < n; i++)
        k += strcmp(kids[i].type, type) == 0;
    return k;
}

/* ---- helpers: fragment reader ---- */

struct track_run {
    uint32_t track;
    uint64_t tfdt;
    uint8_t trun_version;
    uint32_t trun_flags, count;
    uint32_t dur[MAX_RUN], size[MAX_RUN], flags[MAX_RUN];
    int32_t cts[MAX_RUN];
    const uint8_t *data; /* this run's bytes in mdat */
    size_t data_len;
};

struct frag {
    uint32_t seq;
    int ntracks;
    struct track_run t[2];
    const uint8_t *mdat;
    size_t mdat_len;
};

/* Read one moof+mdat filling exactly [p, p+len). */
static void parse_fragment(const uint8_t *p, size_t len, struct frag *f)
{
    struct box top[4];
    memset(f, 0, sizeof(*f));
    check_tree(p, len);
    cr_assert_eq(children(p, len, top, 4), 2, "fragment is not moof+mdat");
    cr_assert_str_eq(top[0].type, "moof");
    cr_assert_str_eq(top[1].type, "mdat");
    f->mdat = top[1].body;
    f->mdat_len = top[1].body_len;

    struct box kids[8];
    size_t n = children(top[0].body, top[0].body_len, kids, 8);
    cr_assert_geq(n, 2);
    cr_assert_str_eq(kids[0].type, "mfhd");
    f->seq = rd_be32(kids[0].body + 4);
    size_t used = 0;
    for (size_t i = 1; i < n; i++) {
        cr_assert_str_eq(kids[i].type, "traf");
        cr_assert_lt(f->ntracks, 2);
        struct track_run *r = &f->t[f->ntracks++];
        struct box tk[4];
        cr_assert_eq(children(kids[i].body, kids[i].body_len, tk, 4), 3, "traf is not tfhd+tfdt+trun");
        cr_assert_str_eq(tk[0].type, "tfhd");
        cr_assert_str_eq(tk[1].type, "tfdt");
        cr_assert_str_eq(tk[2].type, "trun");
        cr_assert_eq(rd_be32(tk[0].body), 0x00020000u, "tfhd must be default-base-is-moof only");
        cr_assert_eq(tk[0].body_len, 8);
        r->track = rd_be32(tk[0].body + 4);
        cr_assert_eq(tk[1].body[0], 1, "tfdt version 1");
        cr_assert_eq(tk[1].body_len, 12);
        r->tfdt = (uint64_t)rd_be32(tk[1].body + 4) << 32 | rd_be32(tk[1].body + 8);

        const uint8_t *t = tk[2].body;
        r->trun_version = t[0];
        r->trun_flags = rd_be32(t) & 0xffffff;
        r->count = rd_be32(t + 4);
        cr_assert_leq(r->count, MAX_RUN);
        cr_assert(r->trun_flags & 0x1, "data offset present");
        int cts = (r->trun_flags & 0x800) != 0;
        size_t per = 12 + (cts ? 4 : 0);
        cr_assert_eq(r->trun_flags & ~0x800u, 0x701u);
        cr_assert_eq(tk[2].body_len, 12 + per * r->count, "trun size");
        uint32_t data_offset = rd_be32(t + 8);
        size_t total = 0;
        for (uint32_t k = 0; k < r->count; k++) {
            const uint8_t *e = t + 12 + per * k;
            r->dur[k] = rd_be32(e);
            r->size[k] = rd_be32(e + 4);
            r->flags[k] = rd_be32(e + 8);
            r->cts[k] = cts ? (int32_t)rd_be32(e + 12) : 0;
            total += r->size[k];
        }
        /* The offset is from the start of moof and must land inside mdat,
         * right after the previous track's run. */
        cr_assert_eq(data_offset, top[0].size + 8 + used, "data offset");
        cr_assert_leq(used + total, f->mdat_len);
        r->data = f->mdat + used;
        r->data_len = total;
        used += total;
    }
    cr_assert_eq(used, f->mdat_len, "runs must cover mdat exactly");
}

/* The body a muxer must copy: after the 5-byte (legacy AVC) or 2-byte (AAC) header. */
static void payload_of(const struct hls_sample *s, const uint8_t **p, size_t *n)
{
    size_t hdr = s->kind == HLS_SAMPLE_VIDEO ? 5 : 2;
    *p = s->body + hdr;
    *n = s->len - hdr;
}

static int is_media(const struct hls_sample *s) { return s->len > 2 && s->body[1] == 1; }

static uint64_t ticks(uint32_t ms, uint32_t ts) { return ((uint64_t)ms * ts + 500) / 1000; }

/* Buffer pre-filled with a marker so "unchanged" means bytes, not only len. */
static void prefilled(struct buf *b, size_t cap)
{
    buf_init(b, cap);
    cr_assert_eq(buf_append(b, "PREFIX", 6), ST_OK);
}

static void assert_untouched(const struct buf *b)
{
    cr_assert_eq(b->len, 6, "output not rolled back (len %zu)", b->len);
    cr_assert(memcmp(b->data, "PREFIX", 6) == 0);
}

/* ---- init segments ---- */

static void check_ftyp(const uint8_t *p, size_t len, int av1)
{
    struct box f = root(p, len, "ftyp");
    cr_assert(memcmp(f.body, "iso6", 4) == 0, "major brand");
    int cmfc = 0, has_av01 = 0;
    for (size_t off = 8; off + 4 <= f.body_len; off += 4) {
        cmfc |= memcmp(f.body + off, "cmfc", 4) == 0;
        has_av01 |= memcmp(f.body + off, "av01", 4) == 0;
    }
    cr_assert(cmfc);
    cr_assert_eq(has_av01, av1);
}

/* trak of the given id with its sample entry; checks the common boxes. */
static struct box check_trak(const struct box *moov, int idx, uint32_t id, const char *handler,
                             uint32_t timescale, const char *entry)
{
    struct box trak = child(moov, "trak", idx);
    struct box tkhd = child(&trak, "tkhd", 0);
    cr_assert_eq(rd_be32(tkhd.body + 12), id);
    struct box mdia = child(&trak, "mdia", 0);
    struct box mdhd = child(&mdia, "mdhd", 0);
    cr_assert_eq(rd_be32(mdhd.body + 12), timescale);
    struct box hdlr = child(&mdia, "hdlr", 0);
    cr_assert(memcmp(hdlr.body + 8, handler, 4) == 0);
    struct box minf = child(&mdia, "minf", 0);
    child(&minf, strcmp(handler, "vide") == 0 ? "vmhd" : "smhd", 0);
    struct box dinf = child(&minf, "dinf", 0);
    struct box dref = child(&dinf, "dref", 0);
    child(&dref, "url ", 0);
    struct box stbl = child(&minf, "stbl", 0);
    const char *order[] = { "stsd", "stts", "stsc", "stsz", "stco" };
    struct box kids[8];
    cr_assert_eq(children(stbl.body, stbl.body_len, kids, 8), 5);
    for (int i = 0; i < 5; i++)
        cr_assert_str_eq(kids[i].type, order[i]);
    struct box stsd = child(&stbl, "stsd", 0);
    cr_assert_eq(rd_be32(stsd.body + 4), 1, "one sample entry");
    return child(&stsd, entry, 0);
}

static void check_video_trak(const struct box *moov, const char *entry, const char *config,
                             const uint8_t *rec, size_t rec_len, unsigned w, unsigned h)
{
    struct box e = check_trak(moov, 0, 1, "vide", 90000, entry);
    cr_assert_eq(rd_be16(e.body + 24), w, "sample entry width");
    cr_assert_eq(rd_be16(e.body + 26), h, "sample entry height");
    struct box trak = child(moov, "trak", 0);
    struct box tkhd = child(&trak, "tkhd", 0);
    cr_assert_eq(rd_be32(tkhd.body + 76), w << 16);
    cr_assert_eq(rd_be32(tkhd.body + 80), h << 16);
    struct box c = child(&e, config, 0);
    cr_assert_eq(c.body_len, rec_len);
    cr_assert(memcmp(c.body, rec, rec_len) == 0, "%s must be the record as published", config);
}

/* esds: ES_Descriptor > DecoderConfigDescriptor > DecoderSpecificInfo. */
static void check_esds(const struct box *mp4a, const uint8_t *asc, size_t asc_len)
{
    struct box esds = child(mp4a, "esds", 0);
    const uint8_t *p = esds.body + 4, *end = esds.body + esds.body_len;
    const uint8_t expect_tags[] = { 3, 4, 5 };
    size_t skip_after[] = { 3, 13, 0 };
    for (int i = 0; i < 3; i++) {
        cr_assert_lt(p, end);
        cr_assert_eq(*p++, expect_tags[i]);
        size_t n = 0;
        do {
            cr_assert_lt(p, end);
            n = n << 7 | (*p & 0x7f);
        } while (*p++ & 0x80);
        cr_assert_leq(n, (size_t)(end - p));
        if (i == 1)
            cr_assert_eq(p[0], 0x40, "objectTypeIndication: MPEG-4 audio");
        if (i == 2) {
            cr_assert_eq(n, asc_len);
            cr_assert(memcmp(p, asc, asc_len) == 0, "AudioSpecificConfig copied as-is");
            p += n;
        }
        p += skip_after[i];
    }
    cr_assert(end - p == 3 && p[0] == 6 && p[1] == 1 && p[2] == 2, "SLConfigDescriptor");
}

Test(fmp4_muxer, init_h264_aac_from_ffmpeg_flv)
{
    struct flv f;
    struct buf out;
    const char *err = NULL;
    load_flv(&f, "codec/h264_aac_160x120.flv");
    cr_assert_not_null(f.h.video);
    cr_assert_not_null(f.h.audio);
    buf_init(&out, CAP);
    cr_assert_eq(fmp4_muxer_init_segment(&out, &f.h, &err), ST_OK, "%s", err);
    check_tree(out.data, out.len);

    struct box top[4];
    cr_assert_eq(children(out.data, out.len, top, 4), 2);
    cr_assert_str_eq(top[0].type, "ftyp");
    cr_assert_str_eq(top[1].type, "moov");
    check_ftyp(out.data, out.len, 0);
    struct box moov = top[1], kids[8];
    const char *order[] = { "mvhd", "trak", "trak", "mvex" };
    cr_assert_eq(children(moov.body, moov.body_len, kids, 8), 4);
    for (int i = 0; i < 4; i++)
        cr_assert_str_eq(kids[i].type, order[i]);
    cr_assert_eq(rd_be32(kids[0].body + 12), 1000, "mvhd timescale");
    cr_assert_eq(rd_be32(kids[0].body + 96), 3, "next_track_ID");

    check_video_trak(&moov, "avc1", "avcC", f.h.video + 5, f.h.video_len - 5, 160, 120);
    struct box mp4a = check_trak(&moov, 1, 2, "soun", 22050, "mp4a");
    cr_assert_eq(rd_be16(mp4a.body + 16), 2, "channels");
    cr_assert_eq(rd_be32(mp4a.body + 24), 22050u << 16, "sample rate");
    check_esds(&mp4a, f.h.audio + 2, f.h.audio_len - 2);

    struct box mvex = child(&moov, "mvex", 0);
    cr_assert_eq(count_children(&mvex, "trex"), 2);
    cr_assert_eq(rd_be32(child(&mvex, "trex", 0).body + 4), 1);
    cr_assert_eq(rd_be32(child(&mvex, "trex", 1).body + 4), 2);
    cr_assert_eq(rd_be32(child(&mvex, "trex", 1).body + 8), 1, "default sample description");
    buf_free(&out);
    free(f.file);
}

static void init_video_only(const uint8_t *hdr, size_t len, const char *entry, const char *config, unsigned w,
                            unsigned h, int av1)
{
    struct hls_codec_headers hh = { hdr, (uint32_t)len, NULL, 0 };
    struct buf out;
    const char *err = NULL;
    buf_init(&out, CAP);
    cr_assert_eq(fmp4_muxer_init_segment(&out, &hh, &err), ST_OK, "%s", err);
    check_tree(out.data, out.len);
    check_ftyp(out.data, out.len, av1);
    struct box moov = root(out.data, out.len, "moov");
    cr_assert_eq(count_children(&moov, "trak"), 1);
    check_video_trak(&moov, entry, config, hdr + 5, len - 5, w, h);
    struct box mvex = child(&moov, "mvex", 0);
    cr_assert_eq(count_children(&mvex, "trex"), 1);
    cr_assert_eq(rd_be32(child(&mvex, "trex", 0).body + 4), 1);
    buf_free(&out);
}

Test(fmp4_muxer, init_hevc_legacy_and_enhanced)
{
    size_t n;
    uint8_t *p = test_data_load("codec/hevc_main_1080.bin", &n);
    init_video_only(p, n, "hvc1", "hvcC", 1920, 1080, 0);
    free(p);
    p = test_data_load("codec/hevc_rext444_642x362.enhanced.bin", &n);
    init_video_only(p, n, "hvc1", "hvcC", 642, 362, 0);
    free(p);
}

Test(fmp4_muxer, init_avc_enhanced_fourcc)
{
    size_t n;
    uint8_t *p = test_data_load("codec/h264_high_720.bin", &n);
    uint8_t *e = malloc(n);
    cr_assert_not_null(e);
    memcpy(e, (const uint8_t[]){ 0x90, 'a', 'v', 'c', '1' }, 5);
    memcpy(e + 5, p + 5, n - 5);
    init_video_only(e, n, "avc1", "avcC", 1280, 720, 0);
    free(e);
    free(p);
}

Test(fmp4_muxer, init_av1)
{
    uint8_t hdr[5 + sizeof(av1c_320x240)] = { 0x90, 'a', 'v', '0', '1' };
    memcpy(hdr + 5, av1c_320x240, sizeof(av1c_320x240));
    init_video_only(hdr, sizeof(hdr), "av01", "av1C", 320, 240, 1);
}

Test(fmp4_muxer, init_audio_only)
{
    size_t n;
    uint8_t *p = test_data_load("codec/aac_lc_48000_mono.bin", &n);
    struct hls_codec_headers h = { NULL, 0, p, (uint32_t)n };
    struct buf out;
    const char *err = NULL;
    buf_init(&out, CAP);
    cr_assert_eq(fmp4_muxer_init_segment(&out, &h, &err), ST_OK, "%s", err);
    check_tree(out.data, out.len);
    struct box moov = root(out.data, out.len, "moov");
    cr_assert_eq(count_children(&moov, "trak"), 1);
    struct box mp4a = check_trak(&moov, 0, 2, "soun", 48000, "mp4a");
    cr_assert_eq(rd_be16(mp4a.body + 16), 1, "mono");
    check_esds(&mp4a, p + 2, n - 2);
    cr_assert_eq(rd_be32(child(&moov, "mvhd", 0).body + 96), 3);
    buf_free(&out);
    free(p);
}

/* Must fail, with a reason, output untouched. */
static void expect_init_error(const uint8_t *v, size_t vlen, const uint8_t *a, size_t alen, const char *what)
{
    uint8_t *vc = v ? dup_exact(v, vlen) : NULL, *ac = a ? dup_exact(a, alen) : NULL;
    struct hls_codec_headers h = { vc, (uint32_t)vlen, ac, (uint32_t)alen };
    struct buf out;
    const char *err = NULL;
    prefilled(&out, CAP);
    cr_assert_eq(fmp4_muxer_init_segment(&out, &h, &err), ST_ERROR, "accepted: %s", what);
    cr_assert_not_null(err, "no reason: %s", what);
    assert_untouched(&out);
    buf_free(&out);
    free(vc);
    free(ac);
}

Test(fmp4_muxer, init_rejects_unsupported_and_malformed)
{
    size_t n;
    uint8_t *avc = test_data_load("codec/h264_high_720.bin", &n);
    uint8_t av1[5 + sizeof(av1c_320x240)] = { 0x90, 'a', 'v', '0', '1' };
    memcpy(av1 + 5, av1c_320x240, sizeof(av1c_320x240));
    static const uint8_t vp9[] = { 0x90, 'v', 'p', '0', '9', 1, 0, 0, 0, 0, 0, 0 };
    static const uint8_t sorenson[] = { 0x12, 0, 0, 0, 0, 0 };
    static const uint8_t mp3[] = { 0x2f, 0xff, 0xfb };
    static const uint8_t aac_raw[] = { 0xaf, 0x01, 0x21, 0x10 };
    static const uint8_t aac_bad_rate[] = { 0xaf, 0x00, 0x17, 0x90 }; /* frequency index 14 */

    expect_init_error(NULL, 0, NULL, 0, "no headers");
    expect_init_error(vp9, sizeof(vp9), NULL, 0, "vp9");
    expect_init_error(sorenson, sizeof(sorenson), NULL, 0, "sorenson");
    expect_init_error(NULL, 0, mp3, sizeof(mp3), "mp3");
    expect_init_error(NULL, 0, aac_raw, sizeof(aac_raw), "AAC raw frame as header");
    expect_init_error(NULL, 0, aac_bad_rate, sizeof(aac_bad_rate), "AAC bad rate");
    expect_init_error(avc, 0, NULL, 0, "empty video header");

    /* A good video header does not save a bad audio one, nor the reverse. */
    expect_init_error(avc, n, aac_raw, sizeof(aac_raw), "good video + bad audio");
    expect_init_error(vp9, sizeof(vp9), (const uint8_t[]){ 0xaf, 0, 0x12, 0x10 }, 4, "bad video + good audio");

    /* lengthSizeMinusOne = 2 (3-byte NAL lengths) is not allowed. */
    uint8_t *bad = dup_exact(avc, n);
    bad[5 + 4] = 0xfe;
    expect_init_error(bad, n, NULL, 0, "3-byte NAL lengths");
    /* PPS count larger than what follows. */
    memcpy(bad, avc, n);
    size_t pps_count_at = 5 + 6 + 2 + rd_be16(avc + 5 + 6);
    bad[pps_count_at] = 2;
    expect_init_error(bad, n, NULL, 0, "PPS count overruns");
    free(bad);

    uint8_t a[sizeof(av1)];
    memcpy(a, av1, sizeof(av1));
    a[5] = 0x01; /* marker bit clear */
    expect_init_error(a, sizeof(a), NULL, 0, "av1C marker");
    expect_init_error(av1, 9, NULL, 0, "av1C without configOBUs");
    memcpy(a, av1, sizeof(av1));
    a[9] = 0x2a; /* metadata OBU (type 5) first */
    expect_init_error(a, sizeof(a), NULL, 0, "av1C without sequence header first");
    memcpy(a, av1, sizeof(av1));
    a[10] = 0x7f; /* OBU size past the end */
    expect_init_error(a, sizeof(a), NULL, 0, "av1C OBU overrun");
    free(avc);
}

/* Every cut of a record that removes part of a parameter set must fail;
 * nothing may read past the cut (exact-size copies). */
Test(fmp4_muxer, init_every_truncation)
{
    const char *files[] = { "codec/h264_high_720.bin", "codec/h264_cqm_1080.bin", "codec/hevc_main_1080.bin",
                            "codec/hevc_main_720_2layers.bin", "codec/hevc_rext444_642x362.enhanced.bin" };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        size_t n;
        uint8_t *p = test_data_load(files[i], &n);
        size_t must_fail_below = n;
        if (p[0] == 0x17) { /* AVC: the High-profile extension after the PPS is optional */
            size_t off = 5 + 6;
            for (unsigned k = 0; k < (p[10] & 0x1fu); k++)
                off += 2 + rd_be16(p + off);
            unsigned pps = p[off++];
            for (unsigned k = 0; k < pps; k++)
                off += 2 + rd_be16(p + off);
            must_fail_below = off;
        }
        for (size_t cut = 0; cut < n; cut++) {
            uint8_t *c = dup_exact(p, cut);
            struct hls_codec_headers h = { c, (uint32_t)cut, NULL, 0 };
            struct buf out;
            const char *err = NULL;
            prefilled(&out, CAP);
            int rc = fmp4_muxer_init_segment(&out, &h, &err);
            if (cut < must_fail_below) {
                cr_assert_eq(rc, ST_ERROR, "%s cut at %zu accepted", files[i], cut);
                cr_assert_not_null(err);
                assert_untouched(&out);
            } else {
                cr_assert_eq(rc, ST_OK, "%s cut at %zu: %s", files[i], cut, err);
                check_tree(out.data + 6, out.len - 6);
            }
            buf_free(&out);
            free(c);
        }
        free(p);
    }
    uint8_t av1[5 + sizeof(av1c_320x240)] = { 0x90, 'a', 'v', '0', '1' };
    memcpy(av1 + 5, av1c_320x240, sizeof(av1c_320x240));
    for (size_t cut = 0; cut < sizeof(av1); cut++)
        expect_init_error(av1, cut, NULL, 0, "truncated av1C");
}

/* ---- fragments ---- */

struct frames {
    uint8_t bodies[16][64];
    struct hls_sample s[16];
    size_t n;
};

/* Legacy AVC coded frame: FLV header with cts, then NALs as 4-byte-length units. */
static void add_avc(struct frames *f, uint32_t dts, int key, int32_t cts, const uint8_t *nals, size_t len)
{
    uint8_t *b = f->bodies[f->n];
    cr_assert_leq(5 + len, sizeof(f->bodies[0]));
    b[0] = key ? 0x17 : 0x27;
    b[1] = 1;
    wr_be24(b + 2, (uint32_t)cts & 0xffffff);
    memcpy(b + 5, nals, len);
    f->s[f->n] = (struct hls_sample){ HLS_SAMPLE_VIDEO, (uint8_t)key, dts, b, (uint32_t)(5 + len) };
    f->n++;
}

static void add_raw(struct frames *f, uint8_t kind, uint32_t dts, int key, const uint8_t *body, size_t len)
{
    cr_assert_leq(len, sizeof(f->bodies[0]));
    memcpy(f->bodies[f->n], body, len);
    f->s[f->n] = (struct hls_sample){ kind, (uint8_t)key, dts, f->bodies[f->n], (uint32_t)len };
    f->n++;
}

static void add_aac(struct frames *f, uint32_t dts, const uint8_t *raw, size_t len)
{
    uint8_t b[64] = { 0xaf, 0x01 };
    memcpy(b + 2, raw, len);
    add_raw(f, HLS_SAMPLE_AUDIO, dts, 0, b, 2 + len);
}

static const uint8_t nal_idr[] = { 0, 0, 0, 3, 0x65, 0x88, 0x84, 0, 0, 0, 2, 0x06, 0x05 };
static const uint8_t nal_p[] = { 0, 0, 0, 4, 0x41, 0x9a, 0x21, 0x6c };
static const uint8_t nal_b[] = { 0, 0, 0, 2, 0x01, 0x9e };

/* Headers from the real FLV: H.264 160x120 and AAC at 22050 Hz. */
static struct flv g_flv;

static void setup_flv(void) { load_flv(&g_flv, "codec/h264_aac_160x120.flv"); }
static void teardown_flv(void) { free(g_flv.file); }

static void mux(const struct hls_codec_headers *h, uint32_t seq, const struct hls_sample *s, size_t n,
                uint32_t end_dts, struct buf *out, struct frag *fr)
{
    const char *err = NULL;
    buf_init(out, CAP);
    cr_assert_eq(fmp4_muxer_fragment(out, h, seq, s, n, end_dts, &err), ST_OK, "%s", err);
    parse_fragment(out->data, out->len, fr);
}

Test(fmp4_muxer, fragment_layout_and_timing, .init = setup_flv, .fini = teardown_flv)
{
    struct frames f = { .n = 0 };
    add_avc(&f, 1000, 1, 80, nal_idr, sizeof(nal_idr));
    add_aac(&f, 1000, (const uint8_t[]){ 0x21, 0x10, 0x04 }, 3);
    add_raw(&f, HLS_SAMPLE_VIDEO, 1000, 1, g_flv.h.video, g_flv.h.video_len); /* skipped */
    add_avc(&f, 1040, 0, -40, nal_b, sizeof(nal_b));
    add_aac(&f, 1046, (const uint8_t[]){ 0x21, 0x10, 0x05, 0x06 }, 4);
    add_raw(&f, HLS_SAMPLE_AUDIO, 1046, 0, g_flv.h.audio, g_flv.h.audio_len); /* skipped */
    add_avc(&f, 1080, 0, 0, nal_p, sizeof(nal_p));
    add_aac(&f, 1093, (const uint8_t[]){ 0x21 }, 1);
    add_raw(&f, HLS_SAMPLE_VIDEO, 1090, 0, (const uint8_t[]){ 0x17, 2, 0, 0, 0 }, 5); /* end of sequence */

    struct buf out;
    struct frag fr;
    mux(&g_flv.h, 77, f.s, f.n, 1120, &out, &fr);
    cr_assert_eq(fr.seq, 77);
    cr_assert_eq(fr.ntracks, 2);
    cr_assert_eq(fr.t[0].track, 1, "video traf first");
    cr_assert_eq(fr.t[1].track, 2);

    const struct track_run *v = &fr.t[0];
    cr_assert_eq(v->tfdt, 90000);
    cr_assert_eq(v->trun_version, 1, "signed composition offsets");
    cr_assert_eq(v->trun_flags, 0xf01);
    cr_assert_eq(v->count, 3);
    const uint32_t vdur[] = { 3600, 3600, 3600 }, vflags[] = { 0x02000000, 0x01010000, 0x01010000 };
    const int32_t vcts[] = { 7200, -3600, 0 };
    const uint32_t vsize[] = { sizeof(nal_idr), sizeof(nal_b), sizeof(nal_p) };
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(v->dur[i], vdur[i], "video duration %d", i);
        cr_assert_eq(v->flags[i], vflags[i], "video flags %d", i);
        cr_assert_eq(v->cts[i], vcts[i], "video cts %d", i);
        cr_assert_eq(v->size[i], vsize[i], "video size %d", i);
    }
    cr_assert(memcmp(v->data, nal_idr, sizeof(nal_idr)) == 0);
    cr_assert(memcmp(v->data + sizeof(nal_idr), nal_b, sizeof(nal_b)) == 0);
    cr_assert(memcmp(v->data + sizeof(nal_idr) + sizeof(nal_b), nal_p, sizeof(nal_p)) == 0);

    const struct track_run *a = &fr.t[1];
    cr_assert_eq(a->tfdt, 22050);
    cr_assert_eq(a->trun_version, 0);
    cr_assert_eq(a->trun_flags, 0x701, "no composition offsets for audio");
    cr_assert_eq(a->count, 3);
    /* Each dts converted on its own, then subtracted: 22050, 23064, 24101, 24696. */
    cr_assert_eq(a->dur[0], 1014);
    cr_assert_eq(a->dur[1], 1037);
    cr_assert_eq(a->dur[2], 595);
    cr_assert_eq(a->size[0], 3);
    cr_assert_eq(a->size[1], 4);
    cr_assert_eq(a->size[2], 1);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(a->flags[i], 0x02000000);
    cr_assert(memcmp(a->data, (const uint8_t[]){ 0x21, 0x10, 0x04, 0x21, 0x10, 0x05, 0x06, 0x21 }, 8) == 0);
    buf_free(&out);
}

Test(fmp4_muxer, last_duration_rules, .init = setup_flv, .fini = teardown_flv)
{
    struct frames f = { .n = 0 };
    struct buf out;
    struct frag fr;

    /* end_dts not after the last sample: repeat the previous duration. */
    add_avc(&f, 0, 1, 0, nal_idr, sizeof(nal_idr));
    add_avc(&f, 50, 0, 0, nal_p, sizeof(nal_p));
    add_aac(&f, 10, (const uint8_t[]){ 1 }, 1);
    add_aac(&f, 30, (const uint8_t[]){ 2 }, 1);
    mux(&g_flv.h, 1, f.s, f.n, 50, &out, &fr);
    cr_assert_eq(fr.t[0].dur[1], 4500);
    cr_assert_eq(fr.t[1].dur[1], fr.t[1].dur[0]);
    cr_assert_eq(fr.t[1].dur[0], ticks(30, 22050) - ticks(10, 22050));
    buf_free(&out);

    /* A lone sample and no usable end: defaults. */
    f.n = 0;
    add_avc(&f, 500, 1, 0, nal_idr, sizeof(nal_idr));
    add_aac(&f, 500, (const uint8_t[]){ 1 }, 1);
    mux(&g_flv.h, 2, f.s, f.n, 0, &out, &fr);
    cr_assert_eq(fr.t[0].dur[0], 3000);
    cr_assert_eq(fr.t[1].dur[0], 1024);
    buf_free(&out);

    /* end_dts after it: used. */
    mux(&g_flv.h, 3, f.s, f.n, 520, &out, &fr);
    cr_assert_eq(fr.t[0].dur[0], 1800);
    cr_assert_eq(fr.t[1].dur[0], ticks(520, 22050) - ticks(500, 22050));
    buf_free(&out);

    /* dts going backwards: zero, not a wrapped huge value. */
    f.n = 0;
    add_avc(&f, 100, 1, 0, nal_idr, sizeof(nal_idr));
    add_avc(&f, 90, 0, 0, nal_p, sizeof(nal_p));
    mux(&g_flv.h, 4, f.s, f.n, 130, &out, &fr);
    cr_assert_eq(fr.ntracks, 1);
    cr_assert_eq(fr.t[0].dur[0], 0);
    cr_assert_eq(fr.t[0].dur[1], 3600);
    buf_free(&out);
}

/* 44.1 kHz AAC at 1024-sample frames in ms: durations jitter by a tick but
 * always add up to the exact span (no drift), fragment after fragment. */
Test(fmp4_muxer, no_drift_across_fragments)
{
    const uint8_t aac44[] = { 0xaf, 0x00, 0x12, 0x10 };
    struct hls_codec_headers h = { NULL, 0, aac44, sizeof(aac44) };
    static uint8_t bodies[400][3];
    static struct hls_sample s[400];
    for (int i = 0; i < 400; i++) {
        bodies[i][0] = 0xaf;
        bodies[i][1] = 0x01;
        bodies[i][2] = (uint8_t)i;
        s[i] = (struct hls_sample){ HLS_SAMPLE_AUDIO, 0, (uint32_t)((i * 1024 * 1000 + 22050) / 44100), bodies[i], 3 };
    }
    uint64_t next_tfdt = ticks(s[0].dts, 44100);
    for (int k = 0; k < 400; k += 100) {
        struct buf out;
        struct frag fr;
        uint32_t end = k + 100 < 400 ? s[k + 100].dts : s[399].dts + 23;
        mux(&h, (uint32_t)k, s + k, 100, end, &out, &fr);
        cr_assert_eq(fr.ntracks, 1);
        cr_assert_eq(fr.t[0].track, 2);
        cr_assert_eq(fr.t[0].tfdt, next_tfdt, "fragment %d starts where the previous ended", k / 100);
        uint64_t sum = 0;
        for (uint32_t i = 0; i < fr.t[0].count; i++) {
            /* 23 or 24 ms of 44.1 kHz ticks, give or take the rounding */
            cr_assert(fr.t[0].dur[i] >= 1014 && fr.t[0].dur[i] <= 1059, "duration %u", fr.t[0].dur[i]);
            sum += fr.t[0].dur[i];
        }
        cr_assert_eq(fr.t[0].tfdt + sum, ticks(end, 44100));
        next_tfdt = fr.t[0].tfdt + sum;
        buf_free(&out);
    }
}

static void expect_fragment_error(const struct hls_codec_headers *h, const struct hls_sample *s, size_t n,
                                  const char *what)
{
    /* Exact-size copies of every body. */
    struct hls_sample c[16];
    cr_assert_leq(n, 16);
    for (size_t i = 0; i < n; i++) {
        c[i] = s[i];
        c[i].body = s[i].body ? dup_exact(s[i].body, s[i].len) : NULL;
    }
    struct buf out;
    const char *err = NULL;
    prefilled(&out, CAP);
    cr_assert_eq(fmp4_muxer_fragment(&out, h, 1, c, n, 0, &err), ST_ERROR, "accepted: %s", what);
    cr_assert_not_null(err, "no reason: %s", what);
    assert_untouched(&out);
    buf_free(&out);
    for (size_t i = 0; i < n; i++)
        free((void *)c[i].body);
}

Test(fmp4_muxer, fragment_rejects_malformed, .init = setup_flv, .fini = teardown_flv)
{
    static const struct {
        uint8_t kind;
        uint8_t body[16];
        uint32_t len;
        const char *what;
    } bad[] = {
        { 9, { 0x17, 1, 0, 0, 0, 0, 0, 0 }, 8, "truncated NAL length" },
        { 9, { 0x17, 1, 0, 0, 0, 0, 0, 0, 9, 0x65 }, 10, "NAL overruns" },
        { 9, { 0x17, 1, 0, 0, 0, 0, 0, 0, 0 }, 9, "zero-length NAL" },
        { 9, { 0x17, 3, 0, 0, 0, 0, 0, 0, 1, 0x65 }, 10, "AVC packet type 3" },
        { 9, { 0x27, 1, 0 }, 3, "short AVC header" },
        { 9, { 0x27 }, 1, "one byte" },
        { 9, { 0 }, 0, "empty video body" },
        { 9, { 0x1c, 1, 0, 0, 0, 0, 0, 0, 1, 0x26 }, 10, "HEVC frame on an AVC track" },
        { 9, { 0x12, 0, 0 }, 3, "Sorenson frame on an AVC track" },
        { 9, { 0x91, 'h', 'v', 'c', '1', 0, 0, 0, 0, 0, 0, 1, 0x26 }, 13, "enhanced HEVC on an AVC track" },
        { 9, { 0x96, 0, 'a', 'v', 'c', '1' }, 6, "enhanced multitrack" },
        { 9, { 0x97, 'a', 'v', 'c', '1' }, 5, "enhanced ModEx" },
        { 9, { 0x91, 'a', 'v', 'c', '1', 0, 0 }, 7, "enhanced avc1 without cts" },
        { 8, { 0x2f, 0xff, 0xfb }, 3, "MP3 audio" },
        { 8, { 0xaf, 2, 1 }, 3, "AAC packet type 2" },
        { 8, { 0xaf }, 1, "AAC without packet type" },
        { 7, { 0xaf, 1, 1 }, 3, "bad kind" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct frames f = { .n = 0 };
        add_avc(&f, 0, 1, 0, nal_idr, sizeof(nal_idr)); /* good samples around the bad one */
        add_raw(&f, bad[i].kind, 10, 0, bad[i].body, bad[i].len);
        add_aac(&f, 20, (const uint8_t[]){ 1 }, 1);
        expect_fragment_error(&g_flv.h, f.s, f.n, bad[i].what);
        /* Alone too (the first sample of a track takes another path). */
        expect_fragment_error(&g_flv.h, f.s + 1, 1, bad[i].what);
    }

    /* Nothing to mux. */
    struct frames f = { .n = 0 };
    expect_fragment_error(&g_flv.h, f.s, 0, "no samples");
    add_raw(&f, HLS_SAMPLE_VIDEO, 0, 1, g_flv.h.video, g_flv.h.video_len);
    add_raw(&f, HLS_SAMPLE_AUDIO, 0, 0, g_flv.h.audio, g_flv.h.audio_len);
    add_raw(&f, HLS_SAMPLE_AUDIO, 0, 0, (const uint8_t[]){ 0xaf, 1 }, 2); /* empty AAC frame */
    add_raw(&f, HLS_SAMPLE_VIDEO, 0, 0, (const uint8_t[]){ 0x17, 1, 0, 0, 0 }, 5); /* empty AVC frame */
    expect_fragment_error(&g_flv.h, f.s, f.n, "only headers and empty frames");

    /* A track the headers do not have. */
    struct hls_codec_headers audio_only = { NULL, 0, g_flv.h.audio, g_flv.h.audio_len };
    f.n = 0;
    add_aac(&f, 0, (const uint8_t[]){ 1 }, 1);
    add_avc(&f, 0, 1, 0, nal_idr, sizeof(nal_idr));
    expect_fragment_error(&audio_only, f.s, f.n, "video without video header");
    struct hls_codec_headers video_only = { g_flv.h.video, g_flv.h.video_len, NULL, 0 };
    expect_fragment_error(&video_only, f.s, f.n, "audio without audio header");

    /* Bad headers fail the fragment too. */
    struct hls_codec_headers none = { NULL, 0, NULL, 0 };
    expect_fragment_error(&none, f.s, f.n, "no headers");

    /* Body pointer missing. */
    struct hls_sample nul = { HLS_SAMPLE_VIDEO, 1, 0, NULL, 4 };
    expect_fragment_error(&g_flv.h, &nul, 1, "NULL body");
}

Test(fmp4_muxer, skips_command_frames, .init = setup_flv, .fini = teardown_flv)
{
    struct frames f = { .n = 0 };
    struct buf out;
    struct frag fr;
    add_avc(&f, 0, 1, 0, nal_idr, sizeof(nal_idr));
    add_raw(&f, HLS_SAMPLE_VIDEO, 20, 0, (const uint8_t[]){ 0x57, 0 }, 2);       /* legacy command frame */
    add_raw(&f, HLS_SAMPLE_VIDEO, 30, 0, (const uint8_t[]){ 0xd0, 1 }, 2);       /* enhanced command frame */
    add_raw(&f, HLS_SAMPLE_VIDEO, 35, 0, (const uint8_t[]){ 0x94, 'a', 'v', 'c', '1', 2 }, 6); /* metadata */
    add_avc(&f, 40, 0, 0, nal_p, sizeof(nal_p));
    mux(&g_flv.h, 1, f.s, f.n, 80, &out, &fr);
    cr_assert_eq(fr.ntracks, 1);
    cr_assert_eq(fr.t[0].count, 2);
    cr_assert_eq(fr.t[0].dur[0], 3600);
    buf_free(&out);
}

Test(fmp4_muxer, output_cap_respected, .init = setup_flv, .fini = teardown_flv)
{
    struct buf out;
    const char *err = NULL;
    size_t full_init, full_frag;

    buf_init(&out, CAP);
    cr_assert_eq(fmp4_muxer_init_segment(&out, &g_flv.h, &err), ST_OK);
    full_init = out.len;
    buf_free(&out);
    buf_init(&out, CAP);
    cr_assert_eq(fmp4_muxer_fragment(&out, &g_flv.h, 1, g_flv.s, g_flv.n, 300, &err), ST_OK);
    full_frag = out.len;
    buf_free(&out);

    for (size_t cap = 6; cap < full_init + 6; cap += 7) {
        prefilled(&out, cap);
        err = NULL;
        cr_assert_eq(fmp4_muxer_init_segment(&out, &g_flv.h, &err), ST_ERROR);
        cr_assert_not_null(err);
        assert_untouched(&out);
        buf_free(&out);
    }
    for (size_t cap = 6; cap < full_frag + 6; cap += 13) {
        prefilled(&out, cap);
        err = NULL;
        cr_assert_eq(fmp4_muxer_fragment(&out, &g_flv.h, 1, g_flv.s, g_flv.n, 300, &err), ST_ERROR);
        cr_assert_not_null(err);
        assert_untouched(&out);
        buf_free(&out);
    }
    prefilled(&out, full_frag + 6);
    cr_assert_eq(fmp4_muxer_fragment(&out, &g_flv.h, 1, g_flv.s, g_flv.n, 300, &err), ST_OK, "exact fit");
    buf_free(&out);
}

Test(fmp4_muxer, deterministic_and_appending, .init = setup_flv, .fini = teardown_flv)
{
    struct buf a, b;
    const char *err = NULL;
    buf_init(&a, CAP);
    prefilled(&b, CAP);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(fmp4_muxer_init_segment(&a, &g_flv.h, &err), ST_OK);
        cr_assert_eq(fmp4_muxer_fragment(&a, &g_flv.h, 5, g_flv.s, g_flv.n, 300, &err), ST_OK);
    }
    cr_assert_eq(fmp4_muxer_init_segment(&b, &g_flv.h, &err), ST_OK);
    cr_assert_eq(fmp4_muxer_fragment(&b, &g_flv.h, 5, g_flv.s, g_flv.n, 300, &err), ST_OK);
    cr_assert_eq(a.len % 2, 0);
    cr_assert(memcmp(a.data, a.data + a.len / 2, a.len / 2) == 0, "same input, same bytes");
    cr_assert_eq(b.len, 6 + a.len / 2);
    cr_assert(memcmp(b.data, "PREFIX", 6) == 0 && memcmp(b.data + 6, a.data, a.len / 2) == 0, "appends");
    buf_free(&a);
    buf_free(&b);
}

/* The real file whole, as ~0.5 s fragments (one here: the file is 0.25 s),
 * then cut after every sample ("split at every offset"), then one sample
 * per fragment ("byte by byte"): each track's bytes and sample count must be
 * the same however it is cut, and each fragment's timeline must end at
 * end_dts. */
struct track_total {
    uint8_t data[16384];
    size_t len;
    uint32_t count;
};

static void collect(const struct frag *fr, struct track_total tt[2], uint32_t end_dts, const uint32_t first[2],
                    const uint32_t last[2])
{
    for (int i = 0; i < fr->ntracks; i++) {
        const struct track_run *r = &fr->t[i];
        int t = (int)r->track - 1;
        uint32_t timescale = r->track == 1 ? 90000 : 22050;
        cr_assert_eq(r->tfdt, ticks(first[t], timescale));
        uint64_t sum = 0;
        for (uint32_t k = 0; k < r->count; k++)
            sum += r->dur[k];
        if (end_dts > last[t])
            cr_assert_eq(r->tfdt + sum, ticks(end_dts, timescale), "timeline must reach end_dts");
        cr_assert_leq(tt[t].len + r->data_len, sizeof(tt[t].data));
        memcpy(tt[t].data + tt[t].len, r->data, r->data_len);
        tt[t].len += r->data_len;
        tt[t].count += r->count;
    }
}

/* Mux s[from..to) and fold it into tt. */
static void mux_range(const struct flv *f, size_t from, size_t to, uint32_t seq, struct track_total tt[2])
{
    struct buf out;
    struct frag fr;
    const char *err = NULL;
    uint32_t first[2] = { 0, 0 }, last[2] = { 0, 0 };
    int seen[2] = { 0, 0 }, media = 0;
    for (size_t i = from; i < to; i++) {
        int t = f->s[i].kind == HLS_SAMPLE_VIDEO ? 0 : 1;
        if (!is_media(&f->s[i]))
            continue;
        if (!seen[t])
            first[t] = f->s[i].dts;
        seen[t] = media = 1;
        last[t] = f->s[i].dts;
    }
    uint32_t end = to < f->n ? f->s[to].dts : 0;
    buf_init(&out, CAP);
    int rc = fmp4_muxer_fragment(&out, &f->h, seq, f->s + from, to - from, end, &err);
    if (!media) {
        cr_assert_eq(rc, ST_ERROR, "a fragment of headers only must fail");
        cr_assert_eq(out.len, 0);
        buf_free(&out);
        return;
    }
    cr_assert_eq(rc, ST_OK, "%s", err);
    parse_fragment(out.data, out.len, &fr);
    cr_assert_eq(fr.seq, seq);
    collect(&fr, tt, end, first, last);
    buf_free(&out);
}

Test(fmp4_muxer, real_flv_cut_every_way, .init = setup_flv, .fini = teardown_flv)
{
    static struct track_total whole[2], split[2], single[2];
    const struct flv *f = &g_flv;
    memset(whole, 0, sizeof(whole));

    /* ~0.5 s fragments starting at video keyframes. */
    size_t start = 0;
    uint32_t seq = 1;
    for (size_t i = 1; i <= f->n; i++) {
        if (i < f->n && !(f->s[i].dts >= f->s[start].dts + 500 && f->s[i].kind == 9 && f->s[i].key))
            continue;
        mux_range(f, start, i, seq++, whole);
        start = i;
    }
    cr_assert_eq(seq, 2, "the 0.25 s file is one fragment");

    /* The reference: what the FLV bodies hold, in order, per track. */
    uint8_t ref[2][16384];
    size_t ref_len[2] = { 0, 0 };
    uint32_t ref_count[2] = { 0, 0 };
    for (size_t i = 0; i < f->n; i++) {
        if (!is_media(&f->s[i]))
            continue;
        int t = f->s[i].kind == HLS_SAMPLE_VIDEO ? 0 : 1;
        const uint8_t *p;
        size_t n;
        payload_of(&f->s[i], &p, &n);
        memcpy(ref[t] + ref_len[t], p, n);
        ref_len[t] += n;
        ref_count[t]++;
    }
    cr_assert_eq(ref_count[0], 5);
    cr_assert_eq(ref_count[1], 6);
    for (int t = 0; t < 2; t++) {
        cr_assert_eq(whole[t].count, ref_count[t]);
        cr_assert_eq(whole[t].len, ref_len[t]);
        cr_assert(memcmp(whole[t].data, ref[t], ref_len[t]) == 0);
    }

    for (size_t cut = 1; cut < f->n; cut++) {
        memset(split, 0, sizeof(split));
        mux_range(f, 0, cut, 1, split);
        mux_range(f, cut, f->n, 2, split);
        for (int t = 0; t < 2; t++) {
            cr_assert_eq(split[t].count, ref_count[t], "cut %zu", cut);
            cr_assert_eq(split[t].len, ref_len[t]);
            cr_assert(memcmp(split[t].data, ref[t], ref_len[t]) == 0, "cut %zu", cut);
        }
    }

    memset(single, 0, sizeof(single));
    for (size_t i = 0; i < f->n; i++)
        mux_range(f, i, i + 1, (uint32_t)i, single);
    for (int t = 0; t < 2; t++) {
        cr_assert_eq(single[t].count, ref_count[t]);
        cr_assert(memcmp(single[t].data, ref[t], ref_len[t]) == 0);
    }
}

/* Every real frame cut at every length: framing errors are caught (never
 * read past), and what is accepted is exactly the NAL units that fit. */
Test(fmp4_muxer, real_frames_every_truncation, .init = setup_flv, .fini = teardown_flv)
{
    for (size_t i = 0; i < g_flv.n; i++) {
        const struct hls_sample *s = &g_flv.s[i];
        if (!is_media(s))
            continue;
        for (uint32_t cut = 0; cut < s->len; cut++) {
            struct hls_sample c = *s;
            c.body = dup_exact(s->body, cut);
            c.len = cut;
            struct buf out;
            const char *err = NULL;
            prefilled(&out, CAP);
            int rc = fmp4_muxer_fragment(&out, &g_flv.h, 1, &c, 1, 0, &err);
            int expect_ok;
            if (s->kind == HLS_SAMPLE_AUDIO) {
                expect_ok = cut > 2;
            } else {
                /* OK exactly at a NAL boundary past the header. */
                expect_ok = 0;
                for (size_t off = 5; off + 4 <= s->len && off < cut;) {
                    off += 4 + rd_be32(s->body + off);
                    if (off == cut)
                        expect_ok = 1;
                }
            }
            if (expect_ok) {
                cr_assert_eq(rc, ST_OK, "sample %zu cut %u: %s", i, cut, err);
                struct frag fr;
                parse_fragment(out.data + 6, out.len - 6, &fr);
                cr_assert_eq(fr.t[0].size[0], cut - (s->kind == HLS_SAMPLE_VIDEO ? 5 : 2));
            } else {
                cr_assert_eq(rc, ST_ERROR, "sample %zu cut %u accepted", i, cut);
                cr_assert_not_null(err);
                assert_untouched(&out);
            }
            buf_free(&out);
            free((void *)c.body);
        }
    }
}

Test(fmp4_muxer, hevc_fragment)
{
    size_t n;
    uint8_t *hdr = test_data_load("codec/hevc_main_1080.bin", &n);
    struct hls_codec_headers h = { hdr, (uint32_t)n, NULL, 0 };
    struct frames f = { .n = 0 };
    static const uint8_t nal[] = { 0, 0, 0, 3, 0x26, 0x01, 0xaf };
    uint8_t b[32];

    /* Legacy codec id 12 frame with cts 40. */
    memcpy(b, (const uint8_t[]){ 0x1c, 1, 0, 0, 40 }, 5);
    memcpy(b + 5, nal, sizeof(nal));
    add_raw(&f, HLS_SAMPLE_VIDEO, 0, 1, b, 5 + sizeof(nal));
    /* Enhanced CodedFrames: cts -40 after the FourCC. */
    memcpy(b, (const uint8_t[]){ 0xa1, 'h', 'v', 'c', '1', 0xff, 0xff, 0xd8 }, 8);
    memcpy(b + 8, nal, sizeof(nal));
    add_raw(&f, HLS_SAMPLE_VIDEO, 40, 0, b, 8 + sizeof(nal));
    /* Enhanced CodedFramesX: no cts field. */
    memcpy(b, (const uint8_t[]){ 0xa3, 'h', 'v', 'c', '1' }, 5);
    memcpy(b + 5, nal, sizeof(nal));
    add_raw(&f, HLS_SAMPLE_VIDEO, 80, 0, b, 5 + sizeof(nal));

    struct buf out;
    struct frag fr;
    mux(&h, 9, f.s, f.n, 120, &out, &fr);
    cr_assert_eq(fr.ntracks, 1);
    const struct track_run *r = &fr.t[0];
    cr_assert_eq(r->count, 3);
    cr_assert_eq(r->cts[0], 3600);
    cr_assert_eq(r->cts[1], -3600);
    cr_assert_eq(r->cts[2], 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(r->size[i], sizeof(nal));
        cr_assert(memcmp(r->data + i * sizeof(nal), nal, sizeof(nal)) == 0);
    }
    cr_assert_eq(r->flags[0], 0x02000000);
    cr_assert_eq(r->flags[1], 0x01010000);
    buf_free(&out);

    /* An AVC frame on the HEVC track is refused. */
    struct frames g = { .n = 0 };
    add_avc(&g, 0, 1, 0, nal_idr, sizeof(nal_idr));
    expect_fragment_error(&h, g.s, g.n, "AVC on HEVC");
    free(hdr);
}

Test(fmp4_muxer, av1_fragment)
{
    uint8_t hdr[5 + sizeof(av1c_320x240)] = { 0x90, 'a', 'v', '0', '1' };
    memcpy(hdr + 5, av1c_320x240, sizeof(av1c_320x240));
    struct hls_codec_headers h = { hdr, sizeof(hdr), NULL, 0 };
    struct frames f = { .n = 0 };
    /* TD, sequence header (3-byte payload), frame OBU (2 bytes). */
    static const uint8_t key[] = { 0x91, 'a', 'v', '0', '1', 0x12, 0x00, 0x0a, 0x03, 1, 2, 3, 0x32, 0x02, 4, 5 };
    /* TD, padding, frame OBU with extension header and no size field (last OBU). */
    static const uint8_t inter[] = { 0x91, 'a', 'v', '0', '1', 0x12, 0x00, 0x7a, 0x01, 9, 0x34, 0x10, 6, 7, 8 };
    /* Only a TD: nothing left, skipped. */
    static const uint8_t td_only[] = { 0x91, 'a', 'v', '0', '1', 0x12, 0x00 };
    add_raw(&f, HLS_SAMPLE_VIDEO, 0, 1, key, sizeof(key));
    add_raw(&f, HLS_SAMPLE_VIDEO, 40, 0, td_only, sizeof(td_only));
    add_raw(&f, HLS_SAMPLE_VIDEO, 40, 0, inter, sizeof(inter));

    struct buf out;
    struct frag fr;
    mux(&h, 1, f.s, f.n, 80, &out, &fr);
    const struct track_run *r = &fr.t[0];
    cr_assert_eq(r->trun_version, 0);
    cr_assert_eq(r->trun_flags, 0x701, "AV1-ISOBMFF: no composition offsets");
    cr_assert_eq(r->count, 2);
    cr_assert_eq(r->size[0], 9);
    cr_assert_eq(r->size[1], 5);
    cr_assert_eq(r->dur[0], 3600);
    static const uint8_t expect[] = { 0x0a, 0x03, 1, 2, 3, 0x32, 0x02, 4, 5, 0x34, 0x10, 6, 7, 8 };
    cr_assert_eq(r->data_len, sizeof(expect));
    cr_assert(memcmp(r->data, expect, sizeof(expect)) == 0, "temporal delimiters and padding dropped");
    buf_free(&out);

    static const struct {
        uint8_t body[12];
        uint32_t len;
        const char *what;
    } bad[] = {
        { { 0x91, 'a', 'v', '0', '1', 0xb2, 0x00 }, 7, "forbidden bit" },
        { { 0x91, 'a', 'v', '0', '1', 0x32, 0x05, 1, 2 }, 9, "OBU size past the end" },
        { { 0x91, 'a', 'v', '0', '1', 0x32, 0x80 }, 7, "leb128 runs off the end" },
        { { 0x91, 'a', 'v', '0', '1', 0x32, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80 }, 12, "leb128 too long" },
        { { 0x91, 'a', 'v', '0', '1', 0x36 }, 6, "extension byte missing" },
        { { 0x91, 'a', 'v', '0', '1', 0x42, 0x00 }, 7, "tile list OBU" },
        { { 0x91, 'h', 'v', 'c', '1', 0, 0, 0, 0, 0, 0, 0 }, 12, "HEVC on an AV1 track" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct frames g = { .n = 0 };
        add_raw(&g, HLS_SAMPLE_VIDEO, 0, 1, bad[i].body, bad[i].len);
        expect_fragment_error(&h, g.s, g.n, bad[i].what);
    }
}
