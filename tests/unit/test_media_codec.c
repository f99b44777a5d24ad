/*
 * media_codec: probes and sequence-header parsing against real encoder
 * output (a publish capture, and x264/x265/ffmpeg-aac headers extracted into
 * tests/data/codec/), hand-built SPS for the paths encoders do not take
 * (POC type 1, monochrome, absurd sizes), every truncation of each real
 * record, and seeded garbage.
 */
#include <criterion/criterion.h>

#include "test_data.h"

#include "core/status.h"
#include "media/media_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SC_TEST_DATA
#define SC_TEST_DATA "tests/data"
#endif


static const uint8_t *find(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return hay + i;
    return NULL;
}

/* ---- bit writer for hand-built SPS ---- */

struct bw {
    uint8_t rbsp[512];
    size_t nbits;
};

static void put(struct bw *w, uint64_t v, unsigned n)
{
    for (unsigned i = n; i-- > 0; w->nbits++) {
        cr_assert_lt(w->nbits / 8, sizeof(w->rbsp));
        if ((v >> i) & 1)
            w->rbsp[w->nbits / 8] |= (uint8_t)(0x80 >> (w->nbits % 8));
    }
}

static void put_ue(struct bw *w, uint64_t v)
{
    uint64_t x = v + 1;
    unsigned bits = 0;
    while ((x >> bits) > 1)
        bits++;
    put(w, 0, bits);
    put(w, x, bits + 1);
}

static void put_se(struct bw *w, int64_t v) { put_ue(w, v > 0 ? (uint64_t)(2 * v - 1) : (uint64_t)(-2 * v)); }

/* rbsp_trailing_bits, then the NAL with emulation prevention inserted; the
 * number of inserted bytes goes to *epb. */
static size_t to_nal(struct bw *w, uint8_t hdr, uint8_t *nal, size_t *epb)
{
    put(w, 1, 1);
    while (w->nbits % 8)
        put(w, 0, 1);
    size_t n = 0, zeros = 0;
    *epb = 0;
    nal[n++] = hdr;
    for (size_t i = 0; i < w->nbits / 8; i++) {
        uint8_t c = w->rbsp[i];
        if (zeros >= 2 && c <= 3) {
            nal[n++] = 3;
            zeros = 0;
            (*epb)++;
        }
        nal[n++] = c;
        zeros = c == 0 ? zeros + 1 : 0;
    }
    return n;
}

/* A legacy AVC sequence header body around one SPS. */
static size_t avc_body(const uint8_t *sps, size_t sps_len, uint8_t *out)
{
    static const uint8_t pps[] = { 0x68, 0xce, 0x3c, 0x80 };
    size_t n = 0;
    const uint8_t head[] = { 0x17, 0, 0, 0, 0, 1, sps[1], sps[2], sps[3], 0xff, 0xe1 };
    memcpy(out, head, sizeof(head));
    n = sizeof(head);
    out[n++] = (uint8_t)(sps_len >> 8);
    out[n++] = (uint8_t)sps_len;
    memcpy(out + n, sps, sps_len);
    n += sps_len;
    out[n++] = 1;
    out[n++] = 0;
    out[n++] = sizeof(pps);
    memcpy(out + n, pps, sizeof(pps));
    return n + sizeof(pps);
}

struct sps_spec {
    unsigned profile, level;
    unsigned chroma_format; /* only written for high profiles */
    int separate_planes;
    int scaling;            /* write all 8 lists with custom values */
    unsigned poc_type;
    int64_t poc1_offset;    /* offset_for_non_ref_pic for POC type 1 */
    uint64_t width_mbs_minus1, height_units_minus1;
    int frame_mbs_only;
    int crop;
    uint64_t crop_lrtb[4];
};

static size_t build_avc_sps(const struct sps_spec *s, uint8_t *nal, size_t *epb)
{
    struct bw w;
    memset(&w, 0, sizeof(w));
    put(&w, s->profile, 8);
    put(&w, 0, 8);
    put(&w, s->level, 8);
    put_ue(&w, 0); /* sps id */
    if (s->profile == 100 || s->profile == 122 || s->profile == 244) {
        put_ue(&w, s->chroma_format);
        if (s->chroma_format == 3)
            put(&w, (uint64_t)s->separate_planes, 1);
        put_ue(&w, 0);
        put_ue(&w, 0);
        put(&w, 0, 1);
        put(&w, (uint64_t)s->scaling, 1);
        if (s->scaling) {
            for (int i = 0; i < 8; i++) {
                put(&w, 1, 1);
                int size = i < 6 ? 16 : 64;
                for (int j = 0; j < size; j++)
                    put_se(&w, (j % 3) - 1 + (j == 0 ? 9 : 0));
            }
        }
    }
    put_ue(&w, 0); /* log2_max_frame_num_minus4 */
    put_ue(&w, s->poc_type);
    if (s->poc_type == 0) {
        put_ue(&w, 2);
    } else if (s->poc_type == 1) {
        put(&w, 0, 1);
        put_se(&w, s->poc1_offset);
        put_se(&w, -3);
        put_ue(&w, 3);
        put_se(&w, 1);
        put_se(&w, -1000);
        put_se(&w, 77);
    }
    put_ue(&w, 4);
    put(&w, 0, 1);
    put_ue(&w, s->width_mbs_minus1);
    put_ue(&w, s->height_units_minus1);
    put(&w, (uint64_t)s->frame_mbs_only, 1);
    if (!s->frame_mbs_only)
        put(&w, 0, 1);
    put(&w, 1, 1);
    put(&w, (uint64_t)s->crop, 1);
    if (s->crop)
        for (int i = 0; i < 4; i++)
            put_ue(&w, s->crop_lrtb[i]);
    put(&w, 0, 1); /* vui_parameters_present_flag */
    return to_nal(&w, 0x67, nal, epb);
}

static int parse_spec(const struct sps_spec *s, struct media_video_config *cfg, const char **err)
{
    uint8_t nal[600], body[700];
    size_t epb;
    size_t n = build_avc_sps(s, nal, &epb);
    size_t bn = avc_body(nal, n, body);
    return media_codec_parse_video_config(body, bn, cfg, err);
}

/* ---- real headers ---- */

Test(media_codec, capture_publish_ffmpeg)
{
    size_t n;
    uint8_t *cap = test_data_load("publish-ffmpeg.c2s.bin", &n);
    static const uint8_t vsig[] = { 0x17, 0x00, 0x00, 0x00, 0x00, 0x01 };
    const uint8_t *v = find(cap, n, vsig, sizeof(vsig));
    cr_assert_not_null(v);
    /* The message length is not known here; trailing bytes after the record
     * are never read, so hand the parser a bounded window. */
    size_t vlen = (size_t)(cap + n - v) < 128 ? (size_t)(cap + n - v) : 128;

    struct media_video_info vi;
    const char *err = NULL;
    cr_assert_eq(media_codec_probe_video(v, vlen, &vi, &err), ST_OK);
    cr_assert_eq(vi.codec, MEDIA_VIDEO_AVC);
    cr_assert(vi.keyframe && vi.sequence_header && !vi.enhanced && !vi.end_of_sequence);

    struct media_video_config vc;
    cr_assert_eq(media_codec_parse_video_config(v, vlen, &vc, &err), ST_OK, "%s", err);
    cr_assert_eq(vc.codec, MEDIA_VIDEO_AVC);
    cr_assert_eq(vc.profile, 66);
    cr_assert_eq(vc.level, 20);
    cr_assert_eq(vc.width, 320);
    cr_assert_eq(vc.height, 240);

    static const uint8_t asig[] = { 0xaf, 0x00 };
    const uint8_t *a = find(v, (size_t)(cap + n - v), asig, sizeof(asig));
    cr_assert_not_null(a);
    struct media_audio_config ac;
    cr_assert_eq(media_codec_parse_audio_config(a, 7, &ac, &err), ST_OK, "%s", err);
    cr_assert_eq(ac.codec, MEDIA_AUDIO_AAC);
    cr_assert_eq(ac.object_type, 2);
    cr_assert_eq(ac.sample_rate, 44100);
    cr_assert_eq(ac.channels, 2);
    free(cap);
}

struct real_case {
    const char *file;
    enum media_video_codec codec;
    unsigned profile, level, width, height;
    int enhanced;
};

static const struct real_case real_cases[] = {
    { "codec/h264_high_720.bin", MEDIA_VIDEO_AVC, 100, 31, 1280, 720, 0 },
    { "codec/h264_high_1080.bin", MEDIA_VIDEO_AVC, 100, 40, 1920, 1080, 0 },   /* crop 8 rows */
    { "codec/h264_cqm_1080.bin", MEDIA_VIDEO_AVC, 100, 40, 1920, 1080, 0 },    /* scaling lists */
    { "codec/h264_interlaced_1080.bin", MEDIA_VIDEO_AVC, 100, 40, 1920, 1080, 0 }, /* field MBs */
    { "codec/h264_main_642x362.bin", MEDIA_VIDEO_AVC, 77, 30, 642, 362, 0 },
    { "codec/h264_422_640x362.bin", MEDIA_VIDEO_AVC, 122, 30, 640, 362, 0 },
    { "codec/h264_444_642x362.bin", MEDIA_VIDEO_AVC, 244, 30, 642, 362, 0 },
    { "codec/hevc_main_1080.bin", MEDIA_VIDEO_HEVC, 1, 120, 1920, 1080, 0 },
    { "codec/hevc_main_720_2layers.bin", MEDIA_VIDEO_HEVC, 1, 93, 1280, 720, 0 }, /* sub-layers */
    { "codec/hevc_rext444_642x362.enhanced.bin", MEDIA_VIDEO_HEVC, 4, 63, 642, 362, 1 },
};

/* Offset just past the SPS NAL unit: shorter bodies cannot be parsed. */
static size_t sps_end(const uint8_t *b, size_t n, enum media_video_codec codec)
{
    if (codec == MEDIA_VIDEO_AVC)
        return 5 + 8 + ((size_t)b[11] << 8 | b[12]);
    size_t off = 5 + 23;
    for (unsigned a = 0; a < b[5 + 22]; a++) {
        unsigned type = b[off] & 0x3f, count = (unsigned)b[off + 1] << 8 | b[off + 2];
        off += 3;
        for (unsigned i = 0; i < count; i++) {
            size_t len = (size_t)b[off] << 8 | b[off + 1];
            off += 2 + len;
            if (type == 33)
                return off;
        }
    }
    cr_assert_fail("no SPS");
    return n;
}

Test(media_codec, real_sequence_headers)
{
    for (size_t i = 0; i < sizeof(real_cases) / sizeof(real_cases[0]); i++) {
        const struct real_case *c = &real_cases[i];
        size_t n;
        uint8_t *b = test_data_load(c->file, &n);
        cr_assert_leq(n, 512, "%s too big for the repo", c->file);
        struct media_video_info vi;
        struct media_video_config vc;
        const char *err = NULL;
        cr_assert_eq(media_codec_probe_video(b, n, &vi, &err), ST_OK);
        cr_assert_eq(vi.codec, c->codec, "%s", c->file);
        cr_assert_eq(vi.enhanced, c->enhanced, "%s", c->file);
        cr_assert(vi.sequence_header && vi.keyframe, "%s", c->file);
        cr_assert_eq(media_codec_parse_video_config(b, n, &vc, &err), ST_OK, "%s: %s", c->file, err);
        cr_assert_eq(vc.codec, c->codec, "%s", c->file);
        cr_assert_eq(vc.profile, c->profile, "%s profile %u", c->file, vc.profile);
        cr_assert_eq(vc.level, c->level, "%s level %u", c->file, vc.level);
        cr_assert_eq(vc.width, c->width, "%s width %u", c->file, vc.width);
        cr_assert_eq(vc.height, c->height, "%s height %u", c->file, vc.height);

        /* Every truncation: an error with a reason (never a read past the
         * length, ASan checks) until the SPS is whole, then the same answer. */
        size_t end = sps_end(b, n, c->codec);
        for (size_t k = 0; k <= n; k++) {
            uint8_t *cut = malloc(k ? k : 1);
            memcpy(cut, b, k);
            struct media_video_config t;
            err = NULL;
            int rc = media_codec_parse_video_config(cut, k, &t, &err);
            if (k < end) {
                cr_assert_eq(rc, ST_ERROR, "%s cut at %zu parsed", c->file, k);
                cr_assert_not_null(err);
                cr_assert_eq(t.width, 0);
            } else {
                cr_assert_eq(rc, ST_OK, "%s cut at %zu: %s", c->file, k, err);
                cr_assert_eq(memcmp(&t, &vc, sizeof(t)), 0);
            }
            free(cut);
        }
        free(b);
    }
}

Test(media_codec, real_aac_header)
{
    size_t n;
    uint8_t *b = test_data_load("codec/aac_lc_48000_mono.bin", &n);
    struct media_audio_info ai;
    struct media_audio_config ac;
    const char *err = NULL;
    cr_assert_eq(media_codec_probe_audio(b, n, &ai, &err), ST_OK);
    cr_assert(ai.codec == MEDIA_AUDIO_AAC && ai.sequence_header);
    cr_assert_eq(media_codec_parse_audio_config(b, n, &ac, &err), ST_OK, "%s", err);
    cr_assert_eq(ac.object_type, 2);
    cr_assert_eq(ac.sample_rate, 48000);
    cr_assert_eq(ac.channels, 1);
    for (size_t k = 0; k < 4; k++)
        cr_assert_eq(media_codec_parse_audio_config(b, k, &ac, &err), ST_ERROR, "cut at %zu", k);
    free(b);
}

/* ---- hand-built SPS ---- */

static struct sps_spec base_spec(void)
{
    struct sps_spec s;
    memset(&s, 0, sizeof(s));
    s.profile = 100;
    s.level = 40;
    s.chroma_format = 1;
    s.width_mbs_minus1 = 119;
    s.height_units_minus1 = 67;
    s.frame_mbs_only = 1;
    return s;
}

Test(media_codec, sps_poc_type_1_with_emulation_prevention)
{
    struct sps_spec s = base_spec();
    s.poc_type = 1;
    s.poc1_offset = 600000000; /* 30 leading zero bits: forces 00 00 03 */
    s.crop = 1;
    s.crop_lrtb[3] = 4;
    uint8_t nal[600];
    size_t epb;
    build_avc_sps(&s, nal, &epb);
    cr_assert_gt(epb, 0, "the case must exercise emulation prevention");
    struct media_video_config c;
    const char *err = NULL;
    cr_assert_eq(parse_spec(&s, &c, &err), ST_OK, "%s", err);
    cr_assert_eq(c.width, 1920);
    cr_assert_eq(c.height, 1080);
}

Test(media_codec, sps_poc_type_2_and_scaling_lists)
{
    struct sps_spec s = base_spec();
    s.poc_type = 2;
    s.scaling = 1;
    struct media_video_config c;
    const char *err = NULL;
    cr_assert_eq(parse_spec(&s, &c, &err), ST_OK, "%s", err);
    cr_assert_eq(c.width, 1920);
    cr_assert_eq(c.height, 1088);
}

Test(media_codec, sps_crop_units_per_chroma_format)
{
    struct {
        unsigned chroma;
        int separate, frame_mbs_only;
        unsigned w, h;
    } t[] = {
        /* crop 1,1,1,1: unit x/y = (2,2) for 4:2:0, (2,1) 4:2:2, (1,1) 4:4:4 and
         * monochrome and separate planes; y doubles without frame_mbs_only. */
        { 1, 0, 1, 320 - 4, 240 - 4 }, { 2, 0, 1, 320 - 4, 240 - 2 }, { 3, 0, 1, 320 - 2, 240 - 2 },
        { 0, 0, 1, 320 - 2, 240 - 2 }, { 3, 1, 1, 320 - 2, 240 - 2 }, { 1, 0, 0, 320 - 4, 480 - 8 },
        { 0, 0, 0, 320 - 2, 480 - 4 },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct sps_spec s = base_spec();
        s.chroma_format = t[i].chroma;
        s.separate_planes = t[i].separate;
        s.frame_mbs_only = t[i].frame_mbs_only;
        s.width_mbs_minus1 = 19;
        s.height_units_minus1 = 14;
        s.crop = 1;
        for (int k = 0; k < 4; k++)
            s.crop_lrtb[k] = 1;
        struct media_video_config c;
        const char *err = NULL;
        cr_assert_eq(parse_spec(&s, &c, &err), ST_OK, "case %zu: %s", i, err);
        cr_assert_eq(c.width, t[i].w, "case %zu width %u", i, c.width);
        cr_assert_eq(c.height, t[i].h, "case %zu height %u", i, c.height);
    }
}

Test(media_codec, sps_absurd_values)
{
    struct media_video_config c;
    const char *err;
    struct sps_spec s;

    s = base_spec();
    s.width_mbs_minus1 = 0xfffffffeu; /* would overflow 32-bit width * 16 */
    err = NULL;
    cr_assert_eq(parse_spec(&s, &c, &err), ST_ERROR);
    cr_assert_str_eq(err, "H.264 picture too large");
    cr_assert_eq(c.width, 0);

    s = base_spec();
    s.height_units_minus1 = 2000;
    cr_assert_eq(parse_spec(&s, &c, &err), ST_ERROR);

    s = base_spec();
    s.crop = 1;
    s.crop_lrtb[0] = 0xfffffffeu; /* crop wider than the picture */
    err = NULL;
    cr_assert_eq(parse_spec(&s, &c, &err), ST_ERROR);
    cr_assert_str_eq(err, "H.264 cropping exceeds picture");

    s = base_spec();
    s.chroma_format = 4;
    cr_assert_eq(parse_spec(&s, &c, &err), ST_ERROR);
    cr_assert_str_eq(err, "bad H.264 chroma format");

    s = base_spec();
    s.poc_type = 3;
    cr_assert_eq(parse_spec(&s, &c, &err), ST_ERROR);
    cr_assert_str_eq(err, "bad H.264 POC type");
}

Test(media_codec, sps_garbage_exp_golomb)
{
    /* All zeros after the fixed bytes: an exp-Golomb code that never ends. */
    uint8_t body[64] = { 0x17, 0, 0, 0, 0, 1, 100, 0, 40, 0xff, 0xe1, 0, 20, 0x67, 100, 0, 40 };
    struct media_video_config c;
    const char *err = NULL;
    cr_assert_eq(media_codec_parse_video_config(body, sizeof(body), &c, &err), ST_ERROR);
    cr_assert_str_eq(err, "truncated H.264 SPS");
    /* And a NAL that is not an SPS. */
    body[13] = 0x68;
    cr_assert_eq(media_codec_parse_video_config(body, sizeof(body), &c, &err), ST_ERROR);
    cr_assert_str_eq(err, "not an H.264 SPS");
}

Test(media_codec, malformed_records)
{
    struct media_video_config c;
    const char *err;
    /* version 0 */
    uint8_t v0[] = { 0x17, 0, 0, 0, 0, 0, 66, 0, 30, 0xff, 0xe1, 0, 4, 0x67, 66, 0, 30 };
    cr_assert_eq(media_codec_parse_video_config(v0, sizeof(v0), &c, &err), ST_ERROR);
    cr_assert_str_eq(err, "bad AVC configuration version");
    /* no SPS */
    uint8_t none[] = { 0x17, 0, 0, 0, 0, 1, 66, 0, 30, 0xff, 0xe0, 1, 0, 4, 0x68, 1, 2, 3 };
    cr_assert_eq(media_codec_parse_video_config(none, sizeof(none), &c, &err), ST_ERROR);
    cr_assert_str_eq(err, "AVC configuration without SPS");
    /* SPS length beyond the body */
    uint8_t big[] = { 0x17, 0, 0, 0, 0, 1, 66, 0, 30, 0xff, 0xe1, 0xff, 0xff, 0x67, 66, 0, 30 };
    cr_assert_eq(media_codec_parse_video_config(big, sizeof(big), &c, &err), ST_ERROR);
    cr_assert_str_eq(err, "truncated AVC decoder configuration");
    /* HEVC record with arrays but no SPS */
    uint8_t h[5 + 23 + 3 + 2 + 3] = { 0x1c, 0, 0, 0, 0, 1 };
    h[5 + 22] = 1;
    h[5 + 23] = 32;
    h[5 + 25] = 1;
    h[5 + 27] = 3;
    cr_assert_eq(media_codec_parse_video_config(h, sizeof(h), &c, &err), ST_ERROR);
    cr_assert_str_eq(err, "HEVC configuration without SPS");
    /* HEVC array count claiming more NAL units than present */
    h[5 + 25] = 9;
    cr_assert_eq(media_codec_parse_video_config(h, sizeof(h), &c, &err), ST_ERROR);
    cr_assert_str_eq(err, "truncated HEVC decoder configuration");
    /* a coded frame is not a sequence header */
    uint8_t nalu[] = { 0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41 };
    cr_assert_eq(media_codec_parse_video_config(nalu, sizeof(nalu), &c, &err), ST_ERROR);
    cr_assert_str_eq(err, "not a video sequence header");
    /* legacy codec that has no configuration record */
    uint8_t vp6[] = { 0x14, 0, 0, 0, 0, 0 };
    cr_assert_eq(media_codec_parse_video_config(vp6, sizeof(vp6), &c, &err), ST_ERROR);
}

Test(media_codec, hevc_absurd_sps)
{
    size_t n;
    uint8_t *b = test_data_load("codec/hevc_main_1080.bin", &n);
    /* Find the SPS NAL and corrupt the first byte of pic_width: the real one
     * is 1920; set the whole tail to zeros so ue() never terminates. */
    size_t end = sps_end(b, n, MEDIA_VIDEO_HEVC);
    uint8_t *z = malloc(n);
    memcpy(z, b, n);
    size_t sps_len = 0;
    for (size_t i = 5 + 23; i + 1 < end; i++)
        if (((z[i] >> 1) & 0x3f) == 33 && z[i - 2] == 0) {
            sps_len = (size_t)z[i - 2] << 8 | z[i - 1];
            if (i + sps_len == end) {
                memset(z + i + 2 + 13, 0, sps_len - 2 - 13);
                break;
            }
        }
    cr_assert_gt(sps_len, 15);
    struct media_video_config c;
    const char *err = NULL;
    cr_assert_eq(media_codec_parse_video_config(z, n, &c, &err), ST_ERROR);
    cr_assert_str_eq(err, "truncated HEVC SPS");
    /* Wrong configuration version. */
    memcpy(z, b, n);
    z[5] = 0;
    cr_assert_eq(media_codec_parse_video_config(z, n, &c, &err), ST_ERROR);
    cr_assert_str_eq(err, "bad HEVC configuration version");
    free(z);
    free(b);
}

/* ---- probes ---- */

Test(media_codec, probe_video_legacy)
{
    struct media_video_info v;
    const char *err = NULL;
    uint8_t nalu[] = { 0x27, 0x01, 0xff, 0xff, 0xfe, 0, 0, 0, 2, 0x41, 0x9a };
    cr_assert_eq(media_codec_probe_video(nalu, sizeof(nalu), &v, &err), ST_OK);
    cr_assert(v.codec == MEDIA_VIDEO_AVC && !v.keyframe && !v.sequence_header && !v.enhanced);
    cr_assert_eq(v.cts, -2);
    nalu[2] = 0x00; nalu[3] = 0x00; nalu[4] = 0x50;
    cr_assert_eq(media_codec_probe_video(nalu, sizeof(nalu), &v, &err), ST_OK);
    cr_assert_eq(v.cts, 80);

    uint8_t eos[] = { 0x17, 0x02, 0, 0, 0 };
    cr_assert_eq(media_codec_probe_video(eos, sizeof(eos), &v, &err), ST_OK);
    cr_assert(v.end_of_sequence && v.keyframe && !v.sequence_header && v.cts == 0);

    uint8_t hevc[] = { 0x1c, 0x01, 0, 0, 0x21, 0 };
    cr_assert_eq(media_codec_probe_video(hevc, sizeof(hevc), &v, &err), ST_OK);
    cr_assert(v.codec == MEDIA_VIDEO_HEVC && v.keyframe && v.cts == 33);

    uint8_t sorenson[] = { 0x22 };
    cr_assert_eq(media_codec_probe_video(sorenson, 1, &v, &err), ST_OK);
    cr_assert(v.codec == MEDIA_VIDEO_OTHER && !v.keyframe);
    uint8_t generated_key[] = { 0x47, 0x01, 0, 0, 0 };
    cr_assert_eq(media_codec_probe_video(generated_key, 5, &v, &err), ST_OK);
    cr_assert(v.codec == MEDIA_VIDEO_AVC && !v.keyframe);

    err = NULL;
    cr_assert_eq(media_codec_probe_video(nalu, 0, &v, &err), ST_ERROR);
    cr_assert_str_eq(err, "empty video body");
    for (size_t k = 1; k < 5; k++)
        cr_assert_eq(media_codec_probe_video(nalu, k, &v, &err), ST_ERROR, "AVC cut at %zu", k);
    cr_assert_eq(media_codec_probe_video(hevc, 2, &v, &err), ST_ERROR);
}

Test(media_codec, probe_video_enhanced)
{
    struct media_video_info v;
    const char *err = NULL;
    uint8_t hvc_start[] = { 0x90, 'h', 'v', 'c', '1', 1 };
    cr_assert_eq(media_codec_probe_video(hvc_start, sizeof(hvc_start), &v, &err), ST_OK);
    cr_assert(v.enhanced && v.codec == MEDIA_VIDEO_HEVC && v.keyframe && v.sequence_header);
    cr_assert_eq(v.fourcc, 0x68766331u);

    uint8_t hvc_frame[] = { 0xa1, 'h', 'v', 'c', '1', 0xff, 0xff, 0xd8, 0, 0 };
    cr_assert_eq(media_codec_probe_video(hvc_frame, sizeof(hvc_frame), &v, &err), ST_OK);
    cr_assert(v.codec == MEDIA_VIDEO_HEVC && !v.keyframe && !v.sequence_header);
    cr_assert_eq(v.cts, -40);
    cr_assert_eq(media_codec_probe_video(hvc_frame, 7, &v, &err), ST_ERROR, "cts cut off");

    uint8_t hvc_x[] = { 0x93, 'h', 'v', 'c', '1', 0, 0, 1 };
    cr_assert_eq(media_codec_probe_video(hvc_x, sizeof(hvc_x), &v, &err), ST_OK);
    cr_assert(v.keyframe && v.cts == 0, "CodedFramesX has no cts");

    uint8_t av1[] = { 0xa1, 'a', 'v', '0', '1', 0x12, 0 };
    cr_assert_eq(media_codec_probe_video(av1, sizeof(av1), &v, &err), ST_OK);
    cr_assert(v.codec == MEDIA_VIDEO_AV1 && v.cts == 0, "AV1 frames carry no cts");

    uint8_t vp9_end[] = { 0x92, 'v', 'p', '0', '9' };
    cr_assert_eq(media_codec_probe_video(vp9_end, sizeof(vp9_end), &v, &err), ST_OK);
    cr_assert(v.codec == MEDIA_VIDEO_VP9 && v.end_of_sequence);

    uint8_t avc1[] = { 0x91, 'a', 'v', 'c', '1', 0, 0, 0x10, 0, 0 };
    cr_assert_eq(media_codec_probe_video(avc1, sizeof(avc1), &v, &err), ST_OK);
    cr_assert(v.codec == MEDIA_VIDEO_AVC && v.cts == 16);

    uint8_t unknown[] = { 0x90, 'v', 'v', 'c', '1' };
    cr_assert_eq(media_codec_probe_video(unknown, sizeof(unknown), &v, &err), ST_OK);
    cr_assert(v.codec == MEDIA_VIDEO_OTHER && v.enhanced && v.fourcc == 0x76766331u);

    uint8_t command[] = { 0xd0, 0x00 }; /* frame type 5: one command byte, no FourCC */
    cr_assert_eq(media_codec_probe_video(command, sizeof(command), &v, &err), ST_OK);
    cr_assert(v.enhanced && v.codec == MEDIA_VIDEO_OTHER && !v.sequence_header);

    for (size_t k = 1; k < 5; k++) {
        err = NULL;
        cr_assert_eq(media_codec_probe_video(hvc_start, k, &v, &err), ST_ERROR, "cut at %zu", k);
        cr_assert_str_eq(err, "short enhanced video header");
    }

    /* Enhanced AV1/VP9 sequence starts: codec only. */
    uint8_t av1_start[] = { 0x90, 'a', 'v', '0', '1', 0x81, 0, 0x0c, 0 };
    struct media_video_config c;
    cr_assert_eq(media_codec_parse_video_config(av1_start, sizeof(av1_start), &c, &err), ST_OK);
    cr_assert(c.codec == MEDIA_VIDEO_AV1 && c.width == 0 && c.profile == 0);
}

Test(media_codec, probe_audio)
{
    struct media_audio_info a;
    const char *err = NULL;
    uint8_t aac_seq[] = { 0xaf, 0x00, 0x12, 0x10 };
    cr_assert_eq(media_codec_probe_audio(aac_seq, sizeof(aac_seq), &a, &err), ST_OK);
    cr_assert(a.codec == MEDIA_AUDIO_AAC && a.sequence_header);
    uint8_t aac_raw[] = { 0xaf, 0x01, 0x21 };
    cr_assert_eq(media_codec_probe_audio(aac_raw, sizeof(aac_raw), &a, &err), ST_OK);
    cr_assert(a.codec == MEDIA_AUDIO_AAC && !a.sequence_header);
    err = NULL;
    cr_assert_eq(media_codec_probe_audio(aac_raw, 1, &a, &err), ST_ERROR);
    cr_assert_str_eq(err, "AAC without packet type");
    cr_assert_eq(media_codec_probe_audio(aac_raw, 0, &a, &err), ST_ERROR);
    cr_assert_str_eq(err, "empty audio body");
    uint8_t mp3[] = { 0x2f };
    cr_assert_eq(media_codec_probe_audio(mp3, 1, &a, &err), ST_OK);
    cr_assert(a.codec == MEDIA_AUDIO_MP3 && !a.sequence_header);
    uint8_t nelly[] = { 0x6e, 0x00 };
    cr_assert_eq(media_codec_probe_audio(nelly, 2, &a, &err), ST_OK);
    cr_assert(a.codec == MEDIA_AUDIO_OTHER && !a.sequence_header);
}

Test(media_codec, audio_specific_config_variants)
{
    struct {
        uint8_t body[8];
        size_t len;
        int rc;
        unsigned type, rate, channels;
    } t[] = {
        { { 0xaf, 0, 0x12, 0x10 }, 4, ST_OK, 2, 44100, 2 },
        { { 0xaf, 0, 0x11, 0x90 }, 4, ST_OK, 2, 48000, 2 },
        { { 0xaf, 0, 0x13, 0x88 }, 4, ST_OK, 2, 22050, 1 },
        { { 0xaf, 0, 0x11, 0xb8 }, 4, ST_OK, 2, 48000, 8 },           /* channel config 7 = 7.1 */
        /* escape: 31 then 6 bits (10) = type 42 (USAC), index 3, 2 channels */
        { { 0xaf, 0, 0xf9, 0x46, 0x40 }, 5, ST_OK, 42, 48000, 2 },
        /* explicit rate: type 2, index 15, 24-bit 12345, 1 channel */
        { { 0xaf, 0, 0x17, 0x80, 0x18, 0x1c, 0x88 }, 7, ST_OK, 2, 12345, 1 },
        /* HE-AAC explicit: type 5, core 24 kHz (6), stereo, ext 48 kHz (3), then type 2 */
        { { 0xaf, 0, 0x2b, 0x11, 0x88 }, 5, ST_OK, 5, 48000, 2 },
        { { 0xaf, 0, 0x16, 0x90 }, 4, ST_ERROR, 0, 0, 0 },             /* reserved index 13 */
        { { 0xaf, 0, 0x07, 0x90 }, 4, ST_ERROR, 0, 0, 0 },             /* object type 0 */
        { { 0xaf, 0, 0x17, 0x80, 0x60 }, 5, ST_ERROR, 0, 0, 0 },       /* explicit rate cut */
        { { 0xaf, 0, 0x12 }, 3, ST_ERROR, 0, 0, 0 },                   /* one byte */
        { { 0xaf, 0 }, 2, ST_ERROR, 0, 0, 0 },                         /* empty ASC */
        { { 0xaf, 1, 0x12, 0x10 }, 4, ST_ERROR, 0, 0, 0 },             /* raw frame */
        { { 0x2f, 0, 0x12, 0x10 }, 4, ST_ERROR, 0, 0, 0 },             /* MP3 */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct media_audio_config c;
        const char *err = NULL;
        int rc = media_codec_parse_audio_config(t[i].body, t[i].len, &c, &err);
        cr_assert_eq(rc, t[i].rc, "case %zu: rc %d (%s)", i, rc, err ? err : "");
        if (rc != ST_OK) {
            cr_assert_not_null(err, "case %zu", i);
            cr_assert_eq(c.codec, MEDIA_AUDIO_NONE);
            continue;
        }
        cr_assert_eq(c.object_type, t[i].type, "case %zu type %u", i, c.object_type);
        cr_assert_eq(c.sample_rate, t[i].rate, "case %zu rate %u", i, c.sample_rate);
        cr_assert_eq(c.channels, t[i].channels, "case %zu channels %u", i, c.channels);
    }
}

Test(media_codec, zero_length_bodies)
{
    uint8_t x = 0;
    struct media_video_config vc;
    struct media_audio_config ac;
    const char *err = NULL;
    cr_assert_eq(media_codec_parse_video_config(&x, 0, &vc, &err), ST_ERROR);
    cr_assert_not_null(err);
    err = NULL;
    cr_assert_eq(media_codec_parse_audio_config(&x, 0, &ac, &err), ST_ERROR);
    cr_assert_not_null(err);
    /* err may be NULL. */
    cr_assert_eq(media_codec_parse_audio_config(&x, 0, &ac, NULL), ST_ERROR);
}

Test(media_codec, names)
{
    cr_assert_str_eq(media_codec_video_name(MEDIA_VIDEO_AVC), "h264");
    cr_assert_str_eq(media_codec_video_name(MEDIA_VIDEO_HEVC), "hevc");
    cr_assert_str_eq(media_codec_video_name(MEDIA_VIDEO_AV1), "av1");
    cr_assert_str_eq(media_codec_video_name(MEDIA_VIDEO_VP9), "vp9");
    cr_assert_str_eq(media_codec_video_name(MEDIA_VIDEO_OTHER), "other");
    cr_assert_str_eq(media_codec_video_name((enum media_video_codec)99), "unknown");
    cr_assert_str_eq(media_codec_audio_name(MEDIA_AUDIO_AAC), "aac");
    cr_assert_str_eq(media_codec_audio_name(MEDIA_AUDIO_MP3), "mp3");
    cr_assert_str_eq(media_codec_audio_name(MEDIA_AUDIO_NONE), "none");
}

/* Seeded garbage after valid-looking prefixes: never a crash or an
 * out-of-range answer. */
Test(media_codec, garbage)
{
    uint32_t seed = 12345;
    static const uint8_t prefixes[][6] = {
        { 0x17, 0, 0, 0, 0, 1 }, { 0x1c, 0, 0, 0, 0, 1 }, { 0x90, 'h', 'v', 'c', '1', 1 },
        { 0x90, 'a', 'v', 'c', '1', 1 }, { 0xaf, 0, 0, 0, 0, 0 },
    };
    int ok = 0;
    for (int iter = 0; iter < 20000; iter++) {
        uint8_t b[96];
        size_t len = 0;
        const uint8_t *pre = prefixes[iter % 5];
        size_t plen = iter % 5 == 4 ? 2 : 6;
        memcpy(b, pre, plen);
        for (size_t i = plen; i < sizeof(b); i++) {
            seed = seed * 1103515245u + 12345u;
            b[i] = (uint8_t)(seed >> 16);
        }
        if (iter % 5 == 0) {
            /* keep the AVC SPS length and NAL type plausible */
            b[11] = 0;
            b[12] = (uint8_t)(b[12] % 80);
            b[13] = 0x67;
        }
        seed = seed * 1103515245u + 12345u;
        len = (seed >> 16) % sizeof(b);
        struct media_video_config vc;
        struct media_audio_config ac;
        const char *err = NULL;
        int rc = iter % 5 == 4 ? media_codec_parse_audio_config(b, len, &ac, &err)
                               : media_codec_parse_video_config(b, len, &vc, &err);
        if (rc == ST_OK) {
            ok++;
            if (iter % 5 != 4)
                cr_assert(vc.width <= 16384 && vc.height <= 16384);
        } else {
            cr_assert_eq(rc, ST_ERROR);
            cr_assert_not_null(err);
        }
    }
    cr_assert_gt(ok, 0, "some garbage should parse, or the test proves nothing");
}
