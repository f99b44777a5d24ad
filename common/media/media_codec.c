#include "media/media_codec.h"
#include "core/buf.h"
#include "core/status.h"

#include <string.h>

/*
 * Layout notes (FLV 10.1 annex E, enhanced-rtmp v1):
 *   legacy video:   [frame type:4 | codec id:4] [packet type] [cts:SI24] data
 *   enhanced video: [1 | frame type:3 | packet type:4] [FourCC:4] ([cts:SI24]) data
 * so a sequence header's configuration record starts at byte 5 in both.
 */
#define VIDEO_HDR_LEN 5
#define FOURCC(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define FOURCC_AVC1 FOURCC('a', 'v', 'c', '1')
#define FOURCC_HVC1 FOURCC('h', 'v', 'c', '1')
#define FOURCC_AV01 FOURCC('a', 'v', '0', '1')
#define FOURCC_VP09 FOURCC('v', 'p', '0', '9')

enum { EX_SEQUENCE_START = 0, EX_CODED_FRAMES = 1, EX_SEQUENCE_END = 2, EX_METADATA = 4, EX_LAST_V1 = 5 };
enum { FRAME_KEY = 1, FRAME_COMMAND = 5 };

/* The SPS fields we need end before the VUI, so an RBSP prefix this long is
 * enough even with worst-case scaling lists (12 lists of 64 se(v) <= ~1.6 KB). */
#define RBSP_MAX 2048
/* Larger than any level allows (H.264 level 6.2 is ~8.7K wide, HEVC 8K is
 * 8192); keeps width/height arithmetic far from overflow. */
#define MAX_DIMENSION 16384

/* ---- bit reader over an RBSP ---- */

struct bits {
    const uint8_t *p;
    size_t nbits;
    size_t pos;
    int overrun; /* sticky: a read went past the end */
};

static uint32_t bits_read(struct bits *b, unsigned n)
{
    uint32_t v = 0;
    if (b->overrun || n > b->nbits - b->pos) {
        b->overrun = 1;
        b->pos = b->nbits;
        return 0;
    }
    for (unsigned i = 0; i < n; i++, b->pos++)
        v = v << 1 | ((b->p[b->pos >> 3] >> (7 - (b->pos & 7))) & 1u);
    return v;
}

static void bits_skip(struct bits *b, size_t n)
{
    if (b->overrun || n > b->nbits - b->pos) {
        b->overrun = 1;
        b->pos = b->nbits;
        return;
    }
    b->pos += n;
}

/* ue(v); codes longer than 32 bits are not valid in any field we read. */
static uint32_t bits_ue(struct bits *b)
{
    unsigned zeros = 0;
    while (bits_read(b, 1) == 0) {
        if (b->overrun || ++zeros > 31) {
            b->overrun = 1;
            return 0;
        }
    }
    return (uint32_t)(((uint64_t)1 << zeros) - 1 + bits_read(b, zeros));
}

static int32_t bits_se(struct bits *b)
{
    uint32_t k = bits_ue(b);
    return (k & 1) ? (int32_t)((k + 1) / 2) : -(int32_t)(k / 2);
}

/* Copy a NAL unit minus its emulation-prevention bytes (00 00 03 -> 00 00),
 * keeping at most RBSP_MAX bytes; the tail beyond that is never needed. */
static size_t nal_to_rbsp(const uint8_t *nal, size_t len, uint8_t *rbsp)
{
    size_t n = 0, zeros = 0;
    for (size_t i = 0; i < len && n < RBSP_MAX; i++) {
        if (zeros >= 2 && nal[i] == 3) {
            zeros = 0;
            continue;
        }
        zeros = nal[i] == 0 ? zeros + 1 : 0;
        rbsp[n++] = nal[i];
    }
    return n;
}

static int fail(const char **err, const char *why)
{
    if (err)
        *err = why;
    return ST_ERROR;
}

/* ---- probes ---- */

static enum media_video_codec codec_of_fourcc(uint32_t fourcc)
{
    switch (fourcc) {
    case FOURCC_AVC1: return MEDIA_VIDEO_AVC;
    case FOURCC_HVC1: return MEDIA_VIDEO_HEVC;
    case FOURCC_AV01: return MEDIA_VIDEO_AV1;
    case FOURCC_VP09: return MEDIA_VIDEO_VP9;
    default: return MEDIA_VIDEO_OTHER;
    }
}

static int32_t rd_si24(const uint8_t *p)
{
    uint32_t v = rd_be24(p);
    return (v & 0x800000u) ? (int32_t)v - 0x1000000 : (int32_t)v;
}

static int probe_enhanced(const uint8_t *body, size_t len, struct media_video_info *out, const char **err)
{
    unsigned frame_type = (body[0] >> 4) & 7, packet_type = body[0] & 0x0f;

    out->enhanced = 1;
    out->keyframe = frame_type == FRAME_KEY;
    /* In the spec's pseudocode a command frame (unless Metadata) carries a
     * one-byte command instead of a FourCC, and the packet types added after
     * v1 (Multitrack, ModEx) move the FourCC: neither names a codec here, and
     * both pass through as OTHER rather than failing. */
    if ((frame_type == FRAME_COMMAND && packet_type != EX_METADATA) || packet_type > EX_LAST_V1) {
        out->codec = MEDIA_VIDEO_OTHER;
        return ST_OK;
    }
    if (len < VIDEO_HDR_LEN)
        return fail(err, "short enhanced video header");
    out->fourcc = rd_be32(body + 1);
    out->codec = codec_of_fourcc(out->fourcc);
    out->sequence_header = packet_type == EX_SEQUENCE_START;
    out->end_of_sequence = packet_type == EX_SEQUENCE_END;
    /* v1 gives CodedFrames a cts only for hvc1; v2 adds avc1. */
    if (packet_type == EX_CODED_FRAMES && (out->codec == MEDIA_VIDEO_AVC || out->codec == MEDIA_VIDEO_HEVC)) {
        if (len < VIDEO_HDR_LEN + 3)
            return fail(err, "short enhanced video header");
        out->cts = rd_si24(body + VIDEO_HDR_LEN);
    }
    return ST_OK;
}

int media_codec_probe_video(const uint8_t *body, size_t len, struct media_video_info *out, const char **err)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return fail(err, "empty video body");
    if (body[0] & 0x80)
        return probe_enhanced(body, len, out, err);

    unsigned codec_id = body[0] & 0x0f;
    out->keyframe = (body[0] >> 4) == FRAME_KEY;
    out->codec = codec_id == 7 ? MEDIA_VIDEO_AVC : codec_id == 12 ? MEDIA_VIDEO_HEVC : MEDIA_VIDEO_OTHER;
    if (out->codec == MEDIA_VIDEO_OTHER)
        return ST_OK;
    if (len < VIDEO_HDR_LEN)
        return fail(err, "short AVC/HEVC video header");
    out->sequence_header = body[1] == 0;
    out->end_of_sequence = body[1] == 2;
    if (body[1] == 1)
        out->cts = rd_si24(body + 2);
    return ST_OK;
}

int media_codec_probe_audio(const uint8_t *body, size_t len, struct media_audio_info *out, const char **err)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return fail(err, "empty audio body");
    switch (body[0] >> 4) {
    case 10:
        out->codec = MEDIA_AUDIO_AAC;
        if (len < 2)
            return fail(err, "AAC without packet type");
        out->sequence_header = body[1] == 0;
        break;
    case 2:
    case 14: /* MP3 8 kHz */
        out->codec = MEDIA_AUDIO_MP3;
        break;
    default:
        out->codec = MEDIA_AUDIO_OTHER;
        break;
    }
    return ST_OK;
}

/* ---- H.264 ---- */

static int avc_profile_has_chroma_info(unsigned profile)
{
    switch (profile) {
    case 100: case 110: case 122: case 244: case 44: case 83:
    case 86: case 118: case 128: case 138: case 139: case 134: case 135:
        return 1;
    default:
        return 0;
    }
}

/* scaling_list() syntax: only the deltas are coded, and a next scale of 0
 * ends the explicit part of the list. */
static void avc_skip_scaling_list(struct bits *b, unsigned size)
{
    int last = 8, next = 8;
    for (unsigned j = 0; j < size && !b->overrun; j++) {
        if (next != 0) {
            int32_t delta = bits_se(b);
            if (delta < -128 || delta > 127) {
                b->overrun = 1;
                return;
            }
            next = (last + delta + 256) % 256;
        }
        if (next != 0)
            last = next;
    }
}

static int avc_parse_sps(const uint8_t *nal, size_t len, struct media_video_config *out, const char **err)
{
    uint8_t rbsp[RBSP_MAX];
    struct bits b = { rbsp, 0, 0, 0 };

    if (len < 4 || (nal[0] & 0x1f) != 7)
        return fail(err, "not an H.264 SPS");
    b.nbits = nal_to_rbsp(nal + 1, len - 1, rbsp) * 8;

    unsigned profile = bits_read(&b, 8);
    bits_skip(&b, 8); /* constraint flags */
    unsigned level = bits_read(&b, 8);
    if (bits_ue(&b) > 31)
        return fail(err, "bad H.264 SPS id");

    uint32_t chroma_format = 1;
    int separate_planes = 0;
    if (avc_profile_has_chroma_info(profile)) {
        chroma_format = bits_ue(&b);
        if (chroma_format > 3)
            return fail(err, "bad H.264 chroma format");
        if (chroma_format == 3)
            separate_planes = (int)bits_read(&b, 1);
        if (bits_ue(&b) > 6 || bits_ue(&b) > 6) /* bit depths minus 8 */
            return fail(err, "bad H.264 bit depth");
        bits_skip(&b, 1); /* qpprime_y_zero_transform_bypass_flag */
        if (bits_read(&b, 1)) {
            unsigned lists = chroma_format != 3 ? 8 : 12;
            for (unsigned i = 0; i < lists; i++)
                if (bits_read(&b, 1))
                    avc_skip_scaling_list(&b, i < 6 ? 16 : 64);
        }
    }
    if (bits_ue(&b) > 12)
        return fail(err, "bad H.264 log2_max_frame_num");
    uint32_t poc_type = bits_ue(&b);
    if (poc_type == 0) {
        if (bits_ue(&b) > 12)
            return fail(err, "bad H.264 log2_max_pic_order_cnt_lsb");
    } else if (poc_type == 1) {
        bits_skip(&b, 1); /* delta_pic_order_always_zero_flag */
        bits_se(&b);      /* offset_for_non_ref_pic */
        bits_se(&b);      /* offset_for_top_to_bottom_field */
        uint32_t cycle = bits_ue(&b);
        if (cycle > 255)
            return fail(err, "bad H.264 POC cycle");
        for (uint32_t i = 0; i < cycle && !b.overrun; i++)
            bits_se(&b);
    } else if (poc_type != 2) {
        return fail(err, "bad H.264 POC type");
    }
    bits_ue(&b);       /* max_num_ref_frames */
    bits_skip(&b, 1);  /* gaps_in_frame_num_value_allowed_flag */
    uint64_t width_mbs = (uint64_t)bits_ue(&b) + 1;
    uint64_t height_units = (uint64_t)bits_ue(&b) + 1;
    unsigned frame_mbs_only = bits_read(&b, 1);
    if (!frame_mbs_only)
        bits_skip(&b, 1); /* mb_adaptive_frame_field_flag */
    bits_skip(&b, 1);     /* direct_8x8_inference_flag */
    uint64_t crop[4] = { 0, 0, 0, 0 }; /* left, right, top, bottom */
    if (bits_read(&b, 1))
        for (int i = 0; i < 4; i++)
            crop[i] = bits_ue(&b);
    if (b.overrun)
        return fail(err, "truncated H.264 SPS");

    uint64_t width = width_mbs * 16, height = height_units * 16 * (2 - frame_mbs_only);
    if (width > MAX_DIMENSION || height > MAX_DIMENSION)
        return fail(err, "H.264 picture too large");
    /* Crop units per 7.4.2.1.1: in luma samples, scaled by chroma subsampling
     * unless there is no chroma array (monochrome or separate planes). */
    uint64_t unit_x = 1, unit_y = 2 - frame_mbs_only;
    if (chroma_format != 0 && !separate_planes) {
        unit_x = chroma_format == 3 ? 1 : 2;
        unit_y *= chroma_format == 1 ? 2 : 1;
    }
    uint64_t cut_x = (crop[0] + crop[1]) * unit_x, cut_y = (crop[2] + crop[3]) * unit_y;
    if (cut_x >= width || cut_y >= height)
        return fail(err, "H.264 cropping exceeds picture");

    out->profile = profile;
    out->level = level;
    out->width = (unsigned)(width - cut_x);
    out->height = (unsigned)(height - cut_y);
    return ST_OK;
}

/* AVCDecoderConfigurationRecord (ISO 14496-15 5.3.3.1): 6 fixed bytes, then
 * SPS count and length-prefixed SPS; only the first SPS is read. */
static int avc_parse_record(const uint8_t *p, size_t len, struct media_video_config *out, const char **err)
{
    if (len < 6)
        return fail(err, "truncated AVC decoder configuration");
    if (p[0] != 1)
        return fail(err, "bad AVC configuration version");
    if ((p[5] & 0x1f) == 0)
        return fail(err, "AVC configuration without SPS");
    if (len < 8 || rd_be16(p + 6) > len - 8)
        return fail(err, "truncated AVC decoder configuration");
    size_t sps_len = rd_be16(p + 6);
    return avc_parse_sps(p + 8, sps_len, out, err);
}

/* ---- HEVC ---- */

/* profile_tier_level(1, max_sub_layers_minus1), H.265 7.3.3. */
static void hevc_skip_profile_tier_level(struct bits *b, unsigned max_sub_layers_minus1, unsigned *profile,
                                         unsigned *level)
{
    unsigned sub_profile[8] = { 0 }, sub_level[8] = { 0 };

    bits_skip(b, 3); /* general_profile_space, general_tier_flag */
    *profile = bits_read(b, 5);
    bits_skip(b, 32 + 4 + 43 + 1); /* compatibility, source and constraint flags */
    *level = bits_read(b, 8);
    for (unsigned i = 0; i < max_sub_layers_minus1; i++) {
        sub_profile[i] = bits_read(b, 1);
        sub_level[i] = bits_read(b, 1);
    }
    if (max_sub_layers_minus1 > 0)
        bits_skip(b, 2 * (8 - max_sub_layers_minus1)); /* reserved_zero_2bits */
    for (unsigned i = 0; i < max_sub_layers_minus1; i++) {
        if (sub_profile[i])
            bits_skip(b, 88);
        if (sub_level[i])
            bits_skip(b, 8);
    }
}

static int hevc_parse_sps(const uint8_t *nal, size_t len, struct media_video_config *out, const char **err)
{
    uint8_t rbsp[RBSP_MAX];
    struct bits b = { rbsp, 0, 0, 0 };

    if (len < 3 || ((nal[0] >> 1) & 0x3f) != 33)
        return fail(err, "not an HEVC SPS");
    b.nbits = nal_to_rbsp(nal + 2, len - 2, rbsp) * 8;

    bits_skip(&b, 4); /* sps_video_parameter_set_id */
    unsigned max_sub_layers_minus1 = bits_read(&b, 3);
    if (max_sub_layers_minus1 > 6)
        return fail(err, "bad HEVC sub-layer count");
    bits_skip(&b, 1); /* sps_temporal_id_nesting_flag */
    unsigned profile = 0, level = 0;
    hevc_skip_profile_tier_level(&b, max_sub_layers_minus1, &profile, &level);
    if (bits_ue(&b) > 15)
        return fail(err, "bad HEVC SPS id");
    uint32_t chroma_format = bits_ue(&b);
    if (chroma_format > 3)
        return fail(err, "bad HEVC chroma format");
    int separate_planes = chroma_format == 3 ? (int)bits_read(&b, 1) : 0;
    uint64_t width = bits_ue(&b), height = bits_ue(&b);
    uint64_t win[4] = { 0, 0, 0, 0 }; /* left, right, top, bottom */
    if (bits_read(&b, 1))
        for (int i = 0; i < 4; i++)
            win[i] = bits_ue(&b);
    if (b.overrun)
        return fail(err, "truncated HEVC SPS");
    if (width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION)
        return fail(err, "bad HEVC picture size");

    /* Table 6-1: SubWidthC/SubHeightC; ChromaArrayType 0 means 1x1. */
    uint64_t sub_w = 1, sub_h = 1;
    if (!separate_planes && (chroma_format == 1 || chroma_format == 2))
        sub_w = 2;
    if (!separate_planes && chroma_format == 1)
        sub_h = 2;
    uint64_t cut_x = (win[0] + win[1]) * sub_w, cut_y = (win[2] + win[3]) * sub_h;
    if (cut_x >= width || cut_y >= height)
        return fail(err, "HEVC conformance window exceeds picture");

    out->profile = profile;
    out->level = level;
    out->width = (unsigned)(width - cut_x);
    out->height = (unsigned)(height - cut_y);
    return ST_OK;
}

/* HEVCDecoderConfigurationRecord (ISO 14496-15 8.3.3.1): 22 fixed bytes,
 * numOfArrays, then per array a NAL type and length-prefixed NAL units. */
static int hevc_parse_record(const uint8_t *p, size_t len, struct media_video_config *out, const char **err)
{
    if (len < 23)
        return fail(err, "truncated HEVC decoder configuration");
    if (p[0] != 1)
        return fail(err, "bad HEVC configuration version");
    unsigned arrays = p[22];
    size_t off = 23;
    for (unsigned a = 0; a < arrays; a++) {
        if (len - off < 3)
            return fail(err, "truncated HEVC decoder configuration");
        unsigned type = p[off] & 0x3f, count = rd_be16(p + off + 1);
        off += 3;
        for (unsigned i = 0; i < count; i++) {
            if (len - off < 2)
                return fail(err, "truncated HEVC decoder configuration");
            size_t n = rd_be16(p + off);
            off += 2;
            if (n > len - off)
                return fail(err, "truncated HEVC decoder configuration");
            if (type == 33) {
                if (hevc_parse_sps(p + off, n, out, err) != ST_OK)
                    return ST_ERROR;
                return ST_OK;
            }
            off += n;
        }
    }
    return fail(err, "HEVC configuration without SPS");
}

int media_codec_parse_video_config(const uint8_t *body, size_t len, struct media_video_config *out,
                                   const char **err)
{
    struct media_video_info info;
    struct media_video_config cfg;

    memset(out, 0, sizeof(*out));
    if (media_codec_probe_video(body, len, &info, err) != ST_OK)
        return ST_ERROR;
    if (!info.sequence_header)
        return fail(err, "not a video sequence header");
    memset(&cfg, 0, sizeof(cfg));
    cfg.codec = info.codec;
    const uint8_t *rec = body + VIDEO_HDR_LEN;
    size_t rec_len = len - VIDEO_HDR_LEN;
    switch (info.codec) {
    case MEDIA_VIDEO_AVC:
        if (avc_parse_record(rec, rec_len, &cfg, err) != ST_OK)
            return ST_ERROR;
        break;
    case MEDIA_VIDEO_HEVC:
        if (hevc_parse_record(rec, rec_len, &cfg, err) != ST_OK)
            return ST_ERROR;
        break;
    case MEDIA_VIDEO_AV1:
    case MEDIA_VIDEO_VP9:
        break; /* codec only, by contract */
    default:
        return fail(err, "unsupported video codec");
    }
    *out = cfg;
    return ST_OK;
}

/* ---- AAC ---- */

static const unsigned aac_rates[13] = { 96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                        22050, 16000, 12000, 11025, 8000,  7350 };

static unsigned aac_object_type(struct bits *b)
{
    unsigned t = bits_read(b, 5);
    return t == 31 ? 32 + bits_read(b, 6) : t;
}

static int aac_rate(struct bits *b, unsigned *rate)
{
    unsigned idx = bits_read(b, 4);
    if (idx == 15) {
        *rate = bits_read(b, 24);
        return *rate ? ST_OK : ST_ERROR;
    }
    if (idx >= 13)
        return ST_ERROR;
    *rate = aac_rates[idx];
    return ST_OK;
}

/* channelConfiguration (ISO 14496-3 table 1.19, plus 23003-3 additions); 0
 * means "in the program config element", which we report as unknown. */
static unsigned aac_channels(unsigned config)
{
    static const unsigned map[16] = { 0, 1, 2, 3, 4, 5, 6, 8, 0, 0, 0, 7, 8, 24, 8, 0 };
    return map[config & 15];
}

int media_codec_parse_audio_config(const uint8_t *body, size_t len, struct media_audio_config *out,
                                   const char **err)
{
    struct media_audio_info info;
    struct bits b;
    unsigned rate;

    memset(out, 0, sizeof(*out));
    if (media_codec_probe_audio(body, len, &info, err) != ST_OK)
        return ST_ERROR;
    if (info.codec != MEDIA_AUDIO_AAC || !info.sequence_header)
        return fail(err, "not an AAC sequence header");
    b = (struct bits){ body + 2, (len - 2) * 8, 0, 0 };
    unsigned type = aac_object_type(&b);
    if (type == 0)
        return fail(err, "bad AAC object type");
    if (aac_rate(&b, &rate) != ST_OK)
        return fail(err, "bad AAC sampling frequency");
    unsigned channels = aac_channels(bits_read(&b, 4));
    /* Explicit SBR/PS signalling (HE-AAC v1/v2): the output rate is the
     * extension rate, and that is what players and ffprobe report. */
    if (type == 5 || type == 29) {
        if (aac_rate(&b, &rate) != ST_OK)
            return fail(err, "bad AAC extension sampling frequency");
    }
    if (b.overrun)
        return fail(err, "truncated AudioSpecificConfig");
    out->codec = MEDIA_AUDIO_AAC;
    out->object_type = type;
    out->sample_rate = rate;
    out->channels = channels;
    return ST_OK;
}

const char *media_codec_video_name(enum media_video_codec c)
{
    switch (c) {
    case MEDIA_VIDEO_NONE: return "none";
    case MEDIA_VIDEO_AVC: return "h264";
    case MEDIA_VIDEO_HEVC: return "hevc";
    case MEDIA_VIDEO_AV1: return "av1";
    case MEDIA_VIDEO_VP9: return "vp9";
    case MEDIA_VIDEO_OTHER: return "other";
    }
    return "unknown";
}

const char *media_codec_audio_name(enum media_audio_codec c)
{
    switch (c) {
    case MEDIA_AUDIO_NONE: return "none";
    case MEDIA_AUDIO_AAC: return "aac";
    case MEDIA_AUDIO_MP3: return "mp3";
    case MEDIA_AUDIO_OTHER: return "other";
    }
    return "unknown";
}
