#include "hls/fmp4_muxer.h"
#include "core/status.h"
#include "media/media_codec.h"

#include <string.h>

/*
 * Box layout follows ISO/IEC 14496-12 (ftyp, moov, moof, ...), 14496-15
 * (avcC, hvcC), AV1-ISOBMFF (av1C, AV1 sample format) and 14496-14 (esds).
 * Sizes are written as placeholders and patched when a box closes, so no
 * size is computed twice; the writer records offsets, never pointers, since
 * any append may move out->data.
 */

#define FLV_VIDEO_HDR 5 /* legacy: flags, packet type, cts; enhanced: flags, FourCC */
#define FLV_AUDIO_HDR 2 /* sound format byte, AAC packet type */
#define MAX_ASC 1024    /* AudioSpecificConfig with a PCE is well below this */
#define AUDIO_DEFAULT_DURATION 1024
#define VIDEO_DEFAULT_DURATION 3000

/* trun sample_flags (14496-12 8.8.3.1): sample_depends_on in bits 25..24,
 * sample_is_non_sync_sample in bit 16. */
#define FLAGS_SYNC 0x02000000u     /* depends on no other sample */
#define FLAGS_NON_SYNC 0x01010000u /* depends on others, not a sync sample */

enum { TRUN_DATA_OFFSET = 0x1, TRUN_DURATION = 0x100, TRUN_SIZE = 0x200, TRUN_FLAGS = 0x400, TRUN_CTS = 0x800 };
enum { TFHD_DEFAULT_BASE_IS_MOOF = 0x020000 };

/* AV1 OBU types (AV1 spec 6.2.2) the sample format cares about. */
enum { OBU_SEQUENCE_HEADER = 1, OBU_TEMPORAL_DELIMITER = 2, OBU_REDUNDANT_FRAME_HEADER = 7, OBU_TILE_LIST = 8,
       OBU_PADDING = 15 };

/* What the sequence headers say, re-derived on every call (cheap, and keeps
 * the module stateless). Pointers borrow from struct hls_codec_headers. */
struct tracks {
    int has_video, has_audio;
    enum media_video_codec vcodec;
    const uint8_t *vrec; /* AVC/HEVC/AV1 configuration record */
    size_t vrec_len;
    unsigned nal_len_size; /* AVC/HEVC NAL length prefix: 1, 2 or 4 */
    unsigned width, height;
    const uint8_t *asc; /* AudioSpecificConfig */
    size_t asc_len;
    unsigned sample_rate, channels;
};

static int fail(const char **err, const char *why)
{
    if (err)
        *err = why;
    return ST_ERROR;
}

/* ---- writer: sticky failure, so box code reads straight through ---- */

struct wr {
    struct buf *b;
    int bad; /* an append hit the cap or a box outgrew 32 bits */
};

static void put(struct wr *w, const void *p, size_t n)
{
    if (!w->bad && buf_append(w->b, p, n) != ST_OK)
        w->bad = 1;
}

static void put8(struct wr *w, uint8_t v) { put(w, &v, 1); }

static void put16(struct wr *w, uint16_t v)
{
    uint8_t t[2];
    wr_be16(t, v);
    put(w, t, 2);
}

static void put32(struct wr *w, uint32_t v)
{
    uint8_t t[4];
    wr_be32(t, v);
    put(w, t, 4);
}

static void put64(struct wr *w, uint64_t v)
{
    put32(w, (uint32_t)(v >> 32));
    put32(w, (uint32_t)v);
}

static void zeros(struct wr *w, size_t n)
{
    static const uint8_t z[32];
    while (n > 0) {
        size_t k = n < sizeof(z) ? n : sizeof(z);
        put(w, z, k);
        n -= k;
    }
}

static size_t box_open(struct wr *w, const char *type)
{
    size_t at = w->b->len;
    put32(w, 0);
    put(w, type, 4);
    return at;
}

static size_t fullbox_open(struct wr *w, const char *type, uint8_t version, uint32_t flags)
{
    size_t at = box_open(w, type);
    put32(w, (uint32_t)version << 24 | (flags & 0xffffff));
    return at;
}

static void patch32(struct wr *w, size_t at, uint32_t v)
{
    if (!w->bad)
        wr_be32(w->b->data + at, v);
}

static void box_close(struct wr *w, size_t at)
{
    if (!w->bad && w->b->len - at > UINT32_MAX)
        w->bad = 1;
    patch32(w, at, (uint32_t)(w->b->len - at));
}

/* ---- bit reader for the AV1 sequence header ---- */

struct bits {
    const uint8_t *p;
    size_t nbits, pos;
    int overrun;
};

static uint32_t bits_get(struct bits *b, unsigned n)
{
    uint32_t v = 0;
    if (b->overrun || n > b->nbits - b->pos) {
        b->overrun = 1;
        return 0;
    }
    for (unsigned i = 0; i < n; i++, b->pos++)
        v = v << 1 | ((b->p[b->pos >> 3] >> (7 - (b->pos & 7))) & 1u);
    return v;
}

/* uvlc() (AV1 4.10.3); only skipped, so the value is not assembled. */
static void bits_skip_uvlc(struct bits *b)
{
    unsigned zeros_seen = 0;
    while (!b->overrun && bits_get(b, 1) == 0)
        zeros_seen++;
    if (zeros_seen < 32)
        (void)bits_get(b, zeros_seen);
}

/* ---- AV1 OBU framing ---- */

/* leb128() (AV1 4.10.5): at most 8 bytes, value below 2^32. */
static int leb128(const uint8_t *p, size_t len, uint64_t *value, size_t *used)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8 && i < len; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (v > UINT32_MAX)
                return ST_ERROR;
            *value = v;
            *used = i + 1;
            return ST_OK;
        }
    }
    return ST_ERROR;
}

struct obu {
    unsigned type;
    size_t hdr_len; /* header + extension + size field */
    size_t len;     /* whole OBU */
};

/* One OBU at p; without a size field it runs to the end (allowed for the
 * last OBU of a sample, AV1-ISOBMFF 2.4). */
static int obu_next(const uint8_t *p, size_t len, struct obu *o, const char **err)
{
    if (p[0] & 0x80)
        return fail(err, "AV1 OBU forbidden bit set");
    size_t hl = 1 + ((p[0] >> 2) & 1);
    if (hl > len)
        return fail(err, "truncated AV1 OBU header");
    uint64_t payload = len - hl;
    size_t used = 0;
    if (p[0] & 0x02) {
        if (leb128(p + hl, len - hl, &payload, &used) != ST_OK || payload > len - hl - used)
            return fail(err, "truncated AV1 OBU");
    }
    o->type = (p[0] >> 3) & 15;
    o->hdr_len = hl + used;
    o->len = hl + used + (size_t)payload;
    return ST_OK;
}

/*
 * Walk an AV1 temporal unit, dropping the OBUs AV1-ISOBMFF 2.4 says samples
 * should not carry (temporal delimiters, padding, redundant frame headers):
 * encoders feeding RTMP emit temporal delimiters, which an MP4 sample must
 * not need. With w NULL it only validates and measures.
 */
static int av1_sample(const uint8_t *p, size_t len, struct wr *w, size_t *kept, const char **err)
{
    size_t off = 0, total = 0;
    while (off < len) {
        struct obu o;
        if (obu_next(p + off, len - off, &o, err) != ST_OK)
            return ST_ERROR;
        if (o.type == OBU_TILE_LIST)
            return fail(err, "AV1 tile list OBU in a sample");
        if (o.type != OBU_TEMPORAL_DELIMITER && o.type != OBU_PADDING && o.type != OBU_REDUNDANT_FRAME_HEADER) {
            total += o.len;
            if (w)
                put(w, p + off, o.len);
        }
        off += o.len;
    }
    *kept = total;
    return ST_OK;
}

/* max_frame_{width,height}_minus_1 from a sequence header OBU payload
 * (AV1 5.5.1); everything before them is skipped field by field. */
static int av1_parse_sequence_header(const uint8_t *p, size_t len, struct tracks *t, const char **err)
{
    struct bits b = { p, len * 8, 0, 0 };

    bits_get(&b, 3); /* seq_profile */
    bits_get(&b, 1); /* still_picture */
    if (bits_get(&b, 1)) { /* reduced_still_picture_header */
        bits_get(&b, 5);   /* seq_level_idx[0] */
    } else {
        unsigned decoder_model_info = 0, buffer_delay_len = 0;
        if (bits_get(&b, 1)) { /* timing_info_present_flag */
            bits_get(&b, 32);  /* num_units_in_display_tick */
            bits_get(&b, 32);  /* time_scale */
            if (bits_get(&b, 1))
                bits_skip_uvlc(&b); /* num_ticks_per_picture_minus_1 */
            decoder_model_info = bits_get(&b, 1);
            if (decoder_model_info) {
                buffer_delay_len = bits_get(&b, 5) + 1;
                bits_get(&b, 32); /* num_units_in_decoding_tick */
                bits_get(&b, 10); /* removal time and presentation time lengths */
            }
        }
        unsigned initial_display_delay = bits_get(&b, 1);
        unsigned points = bits_get(&b, 5) + 1;
        for (unsigned i = 0; i < points && !b.overrun; i++) {
            bits_get(&b, 12); /* operating_point_idc */
            if (bits_get(&b, 5) > 7)
                bits_get(&b, 1); /* seq_tier */
            if (decoder_model_info && bits_get(&b, 1)) {
                bits_get(&b, buffer_delay_len); /* decoder_buffer_delay */
                bits_get(&b, buffer_delay_len); /* encoder_buffer_delay */
                bits_get(&b, 1);                /* low_delay_mode_flag */
            }
            if (initial_display_delay && bits_get(&b, 1))
                bits_get(&b, 4);
        }
    }
    unsigned wbits = bits_get(&b, 4) + 1, hbits = bits_get(&b, 4) + 1;
    uint64_t width = (uint64_t)bits_get(&b, wbits) + 1, height = (uint64_t)bits_get(&b, hbits) + 1;
    if (b.overrun)
        return fail(err, "truncated AV1 sequence header");
    if (width > UINT16_MAX || height > UINT16_MAX)
        return fail(err, "AV1 frame too large");
    t->width = (unsigned)width;
    t->height = (unsigned)height;
    return ST_OK;
}

/* AV1CodecConfigurationRecord: 4 fixed bytes, then configOBUs whose first
 * OBU, if any, is the sequence header; we require it, since the sample entry
 * needs its frame size (and without it AV1-ISOBMFF wants a 'colr' box). */
static int av1_parse_record(struct tracks *t, const char **err)
{
    const uint8_t *p = t->vrec;
    size_t len = t->vrec_len;
    struct obu o;

    if (len < 4 || p[0] != 0x81)
        return fail(err, "bad AV1 configuration record");
    if (len == 4)
        return fail(err, "AV1 configuration without sequence header");
    if (obu_next(p + 4, len - 4, &o, err) != ST_OK)
        return ST_ERROR;
    if (o.type != OBU_SEQUENCE_HEADER)
        return fail(err, "AV1 configuration without sequence header");
    return av1_parse_sequence_header(p + 4 + o.hdr_len, o.len - o.hdr_len, t, err);
}

/* ---- AVC/HEVC records: media_codec reads the SPS; check the framing of
 * everything we copy into avcC/hvcC so a player never sees a short box ---- */

static int nal_list(const uint8_t *p, size_t len, size_t *off, unsigned count, const char *why, const char **err)
{
    for (unsigned i = 0; i < count; i++) {
        if (len - *off < 2 || rd_be16(p + *off) > len - *off - 2)
            return fail(err, why);
        *off += 2 + rd_be16(p + *off);
    }
    return ST_OK;
}

/* 14496-15 5.3.3.1; trailing bytes (the High-profile chroma/bit-depth
 * extension, which encoders may omit) are not checked. */
static int avc_check_record(struct tracks *t, const char **err)
{
    const uint8_t *p = t->vrec;
    size_t off = 6;
    const char *why = "truncated AVC decoder configuration";

    if (t->vrec_len < 7)
        return fail(err, why);
    if (nal_list(p, t->vrec_len, &off, p[5] & 0x1f, why, err) != ST_OK)
        return ST_ERROR;
    if (off >= t->vrec_len)
        return fail(err, why);
    unsigned pps = p[off++];
    if (nal_list(p, t->vrec_len, &off, pps, why, err) != ST_OK)
        return ST_ERROR;
    t->nal_len_size = (p[4] & 3) + 1u;
    return ST_OK;
}

/* 14496-15 8.3.3.1: 22 fixed bytes, numOfArrays, arrays of NAL units. */
static int hevc_check_record(struct tracks *t, const char **err)
{
    const uint8_t *p = t->vrec;
    size_t off = 23, len = t->vrec_len;
    const char *why = "truncated HEVC decoder configuration";

    if (len < 23)
        return fail(err, why);
    for (unsigned a = 0; a < p[22]; a++) {
        if (len - off < 3)
            return fail(err, why);
        unsigned count = rd_be16(p + off + 1);
        off += 3;
        if (nal_list(p, len, &off, count, why, err) != ST_OK)
            return ST_ERROR;
    }
    t->nal_len_size = (p[21] & 3) + 1u;
    return ST_OK;
}

static int parse_headers(const struct hls_codec_headers *h, struct tracks *t, const char **err)
{
    memset(t, 0, sizeof(*t));
    if (!h->video && !h->audio)
        return fail(err, "no audio or video sequence header");
    if (h->video) {
        struct media_video_config vc;
        if (media_codec_parse_video_config(h->video, h->video_len, &vc, err) != ST_OK)
            return ST_ERROR;
        t->has_video = 1;
        t->vcodec = vc.codec;
        t->vrec = h->video + FLV_VIDEO_HDR; /* the parse guarantees >= 5 bytes */
        t->vrec_len = h->video_len - FLV_VIDEO_HDR;
        t->width = vc.width;
        t->height = vc.height;
        int rc;
        switch (vc.codec) {
        case MEDIA_VIDEO_AVC: rc = avc_check_record(t, err); break;
        case MEDIA_VIDEO_HEVC: rc = hevc_check_record(t, err); break;
        case MEDIA_VIDEO_AV1: rc = av1_parse_record(t, err); break;
        default: return fail(err, "unsupported video codec for fMP4");
        }
        if (rc != ST_OK)
            return ST_ERROR;
        if (t->nal_len_size == 3)
            return fail(err, "bad NAL length size in decoder configuration");
    }
    if (h->audio) {
        struct media_audio_config ac;
        if (media_codec_parse_audio_config(h->audio, h->audio_len, &ac, err) != ST_OK)
            return ST_ERROR;
        t->has_audio = 1;
        t->asc = h->audio + FLV_AUDIO_HDR;
        t->asc_len = h->audio_len - FLV_AUDIO_HDR;
        if (t->asc_len > MAX_ASC)
            return fail(err, "AAC configuration too long");
        t->sample_rate = ac.sample_rate;
        t->channels = ac.channels ? ac.channels : 2; /* 0: layout in a PCE */
    }
    return ST_OK;
}

/* ---- init segment ---- */

static void put_matrix(struct wr *w)
{
    static const uint32_t unity[9] = { 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000 };
    for (int i = 0; i < 9; i++)
        put32(w, unity[i]);
}

/* Descriptor header of 14496-1 8.3.3: tag, then the size 7 bits a byte. */
static size_t desc_hdr_len(size_t n) { return n < 0x80 ? 2 : n < 0x4000 ? 3 : 4; }

static void put_desc_hdr(struct wr *w, uint8_t tag, size_t n)
{
    put8(w, tag);
    for (size_t k = desc_hdr_len(n) - 1; k-- > 0;)
        put8(w, (uint8_t)(((n >> (7 * k)) & 0x7f) | (k ? 0x80 : 0)));
}

static void put_esds(struct wr *w, const struct tracks *t)
{
    size_t dsi = t->asc_len;
    size_t dcd = 13 + desc_hdr_len(dsi) + dsi;
    size_t es = 3 + desc_hdr_len(dcd) + dcd + 3;
    size_t at = fullbox_open(w, "esds", 0, 0);
    put_desc_hdr(w, 0x03, es); /* ES_Descriptor */
    put16(w, FMP4_MUXER_AUDIO_TRACK);
    put8(w, 0);                /* no dependency, URL or OCR stream */
    put_desc_hdr(w, 0x04, dcd); /* DecoderConfigDescriptor */
    put8(w, 0x40);             /* Audio ISO/IEC 14496-3 */
    put8(w, 0x15);             /* AudioStream << 2 | reserved 1 */
    zeros(w, 3 + 4 + 4);       /* bufferSizeDB, maxBitrate, avgBitrate: unknown */
    put_desc_hdr(w, 0x05, dsi); /* DecoderSpecificInfo */
    put(w, t->asc, dsi);
    put_desc_hdr(w, 0x06, 1);  /* SLConfigDescriptor */
    put8(w, 0x02);             /* predefined: MP4 */
    box_close(w, at);
}

static void put_video_entry(struct wr *w, const struct tracks *t)
{
    static const char aom[32] = "\012AOM Coding";
    const char *type = "avc1", *config = "avcC";
    if (t->vcodec == MEDIA_VIDEO_HEVC) {
        type = "hvc1";
        config = "hvcC";
    } else if (t->vcodec == MEDIA_VIDEO_AV1) {
        type = "av01";
        config = "av1C";
    }
    size_t at = box_open(w, type);
    zeros(w, 6);
    put16(w, 1);              /* data_reference_index */
    zeros(w, 16);             /* pre_defined, reserved */
    put16(w, (uint16_t)t->width);
    put16(w, (uint16_t)t->height);
    put32(w, 0x00480000);     /* 72 dpi */
    put32(w, 0x00480000);
    put32(w, 0);
    put16(w, 1);              /* frame_count */
    if (t->vcodec == MEDIA_VIDEO_AV1)
        put(w, aom, sizeof(aom)); /* the name AV1-ISOBMFF recommends */
    else
        zeros(w, 32);
    put16(w, 0x0018);         /* depth: colour, no alpha */
    put16(w, 0xffff);         /* pre_defined = -1 */
    size_t c = box_open(w, config);
    put(w, t->vrec, t->vrec_len);
    box_close(w, c);
    box_close(w, at);
}

static void put_audio_entry(struct wr *w, const struct tracks *t)
{
    size_t at = box_open(w, "mp4a");
    zeros(w, 6);
    put16(w, 1); /* data_reference_index */
    zeros(w, 8);
    put16(w, (uint16_t)t->channels);
    put16(w, 16); /* samplesize */
    zeros(w, 4);
    /* 16.16 fixed point; rates above 65535 do not fit, and the ASC is what
     * decoders use anyway. */
    put32(w, t->sample_rate <= 0xffff ? t->sample_rate << 16 : 0);
    put_esds(w, t);
    box_close(w, at);
}

static void put_trak(struct wr *w, const struct tracks *t, int video)
{
    size_t trak = box_open(w, "trak");

    size_t at = fullbox_open(w, "tkhd", 0, 3); /* enabled, in movie */
    zeros(w, 8);                               /* creation, modification */
    put32(w, video ? FMP4_MUXER_VIDEO_TRACK : FMP4_MUXER_AUDIO_TRACK);
    zeros(w, 4 + 4 + 8 + 2 + 2); /* reserved, duration, reserved, layer, alternate_group */
    put16(w, video ? 0 : 0x0100); /* volume */
    zeros(w, 2);
    put_matrix(w);
    put32(w, video ? t->width << 16 : 0);
    put32(w, video ? t->height << 16 : 0);
    box_close(w, at);

    size_t mdia = box_open(w, "mdia");
    at = fullbox_open(w, "mdhd", 0, 0);
    zeros(w, 8);
    put32(w, video ? FMP4_MUXER_VIDEO_TIMESCALE : t->sample_rate);
    put32(w, 0);      /* duration: fragments carry it */
    put16(w, 0x55c4); /* 'und' packed as 3 x 5 bits */
    put16(w, 0);
    box_close(w, at);

    at = fullbox_open(w, "hdlr", 0, 0);
    put32(w, 0);
    put(w, video ? "vide" : "soun", 4);
    zeros(w, 12);
    if (video)
        put(w, "VideoHandler", 13);
    else
        put(w, "SoundHandler", 13);
    box_close(w, at);

    size_t minf = box_open(w, "minf");
    if (video) {
        at = fullbox_open(w, "vmhd", 0, 1);
        zeros(w, 8); /* graphicsmode copy, opcolor */
    } else {
        at = fullbox_open(w, "smhd", 0, 0);
        zeros(w, 4); /* balance, reserved */
    }
    box_close(w, at);

    size_t dinf = box_open(w, "dinf");
    size_t dref = fullbox_open(w, "dref", 0, 0);
    put32(w, 1);
    box_close(w, fullbox_open(w, "url ", 0, 1)); /* media in this file */
    box_close(w, dref);
    box_close(w, dinf);

    size_t stbl = box_open(w, "stbl");
    at = fullbox_open(w, "stsd", 0, 0);
    put32(w, 1);
    if (video)
        put_video_entry(w, t);
    else
        put_audio_entry(w, t);
    box_close(w, at);
    /* Empty sample tables: every sample lives in a fragment. */
    at = fullbox_open(w, "stts", 0, 0);
    put32(w, 0);
    box_close(w, at);
    at = fullbox_open(w, "stsc", 0, 0);
    put32(w, 0);
    box_close(w, at);
    at = fullbox_open(w, "stsz", 0, 0);
    put32(w, 0);
    put32(w, 0);
    box_close(w, at);
    at = fullbox_open(w, "stco", 0, 0);
    put32(w, 0);
    box_close(w, at);
    box_close(w, stbl);

    box_close(w, minf);
    box_close(w, mdia);
    box_close(w, trak);
}

static void put_trex(struct wr *w, uint32_t track)
{
    size_t at = fullbox_open(w, "trex", 0, 0);
    put32(w, track);
    put32(w, 1); /* default_sample_description_index */
    zeros(w, 12); /* duration, size, flags: every trun carries its own */
    box_close(w, at);
}

int fmp4_muxer_init_segment(struct buf *out, const struct hls_codec_headers *h, const char **err)
{
    struct tracks t;
    struct wr w = { out, 0 };
    size_t start = out->len;

    if (parse_headers(h, &t, err) != ST_OK)
        return ST_ERROR;

    size_t at = box_open(&w, "ftyp");
    put(&w, "iso6", 4);
    put32(&w, 0);
    put(&w, "iso6cmfcmp41", 12);
    if (t.has_video && t.vcodec == MEDIA_VIDEO_AV1)
        put(&w, "av01", 4); /* required by AV1-ISOBMFF 2.1 */
    box_close(&w, at);

    size_t moov = box_open(&w, "moov");
    at = fullbox_open(&w, "mvhd", 0, 0);
    zeros(&w, 8);
    put32(&w, 1000); /* movie timescale; no duration (live) */
    put32(&w, 0);
    put32(&w, 0x00010000); /* rate 1.0 */
    put16(&w, 0x0100);     /* volume 1.0 */
    zeros(&w, 10);
    put_matrix(&w);
    zeros(&w, 24);
    put32(&w, FMP4_MUXER_AUDIO_TRACK + 1); /* next_track_ID */
    box_close(&w, at);
    if (t.has_video)
        put_trak(&w, &t, 1);
    if (t.has_audio)
        put_trak(&w, &t, 0);
    size_t mvex = box_open(&w, "mvex");
    if (t.has_video)
        put_trex(&w, FMP4_MUXER_VIDEO_TRACK);
    if (t.has_audio)
        put_trex(&w, FMP4_MUXER_AUDIO_TRACK);
    box_close(&w, mvex);
    box_close(&w, moov);

    if (w.bad) {
        out->len = start;
        return fail(err, "init segment exceeds the output cap");
    }
    return ST_OK;
}

/* ---- fragments ---- */

/* What one sample puts into mdat. */
struct payload {
    int skip;           /* no media: header, end of sequence, command, empty */
    const uint8_t *p;   /* bytes after the FLV header */
    size_t len;
    uint32_t size;      /* bytes in mdat (AV1 drops some OBUs) */
    int32_t cts;        /* ms */
};

static int check_nal_framing(const uint8_t *p, size_t len, unsigned nls, const char **err)
{
    size_t off = 0;
    while (off < len) {
        if (len - off < nls)
            return fail(err, "truncated NAL length prefix");
        size_t n = 0;
        for (unsigned i = 0; i < nls; i++)
            n = n << 8 | p[off + i];
        off += nls;
        if (n == 0)
            return fail(err, "empty NAL unit");
        if (n > len - off)
            return fail(err, "NAL unit overruns the frame");
        off += n;
    }
    return ST_OK;
}

static int video_payload(const struct tracks *t, const struct hls_sample *s, struct payload *pl, const char **err)
{
    const uint8_t *b = s->body;
    struct media_video_info vi;
    size_t hdr;

    memset(pl, 0, sizeof(*pl));
    /* Command frames (frame type 5) carry a command byte, not a picture,
     * and may be shorter than a full header: skip before probing. */
    if (s->len > 0 && ((b[0] & 0x80) ? (b[0] >> 4) & 7 : b[0] >> 4) == 5) {
        pl->skip = 1;
        return ST_OK;
    }
    if (media_codec_probe_video(b, s->len, &vi, err) != ST_OK)
        return ST_ERROR;
    if (!vi.enhanced) {
        if (vi.codec == MEDIA_VIDEO_OTHER)
            return fail(err, "video codec differs from its sequence header");
        if (b[1] == 0 || b[1] == 2) { /* sequence header, end of sequence */
            pl->skip = 1;
            return ST_OK;
        }
        if (b[1] != 1)
            return fail(err, "bad AVC/HEVC packet type");
        hdr = FLV_VIDEO_HDR;
    } else {
        switch (b[0] & 0x0f) {
        case 0: /* SequenceStart */
        case 2: /* SequenceEnd */
        case 4: /* Metadata */
        case 5: /* MPEG2TSSequenceStart */
            pl->skip = 1;
            return ST_OK;
        case 1: /* CodedFrames: AVC/HEVC add a composition time */
            hdr = FLV_VIDEO_HDR + (vi.codec == MEDIA_VIDEO_AVC || vi.codec == MEDIA_VIDEO_HEVC ? 3 : 0);
            break;
        case 3: /* CodedFramesX: composition time zero */
            hdr = FLV_VIDEO_HDR;
            break;
        default:
            return fail(err, "unsupported enhanced video packet type");
        }
    }
    if (vi.codec != t->vcodec)
        return fail(err, "video codec differs from its sequence header");
    pl->p = b + hdr; /* the probe checked len >= hdr */
    pl->len = s->len - hdr;
    pl->cts = vi.cts;
    if (pl->len == 0) {
        pl->skip = 1;
        return ST_OK;
    }
    if (t->vcodec == MEDIA_VIDEO_AV1) {
        size_t kept;
        if (av1_sample(pl->p, pl->len, NULL, &kept, err) != ST_OK)
            return ST_ERROR;
        pl->skip = kept == 0;
        pl->size = (uint32_t)kept;
        return ST_OK;
    }
    if (check_nal_framing(pl->p, pl->len, t->nal_len_size, err) != ST_OK)
        return ST_ERROR;
    pl->size = (uint32_t)pl->len;
    return ST_OK;
}

static int audio_payload(const struct hls_sample *s, struct payload *pl, const char **err)
{
    struct media_audio_info ai;

    memset(pl, 0, sizeof(*pl));
    if (media_codec_probe_audio(s->body, s->len, &ai, err) != ST_OK)
        return ST_ERROR;
    if (ai.codec != MEDIA_AUDIO_AAC)
        return fail(err, "audio sample is not AAC");
    if (s->body[1] > 1)
        return fail(err, "bad AAC packet type");
    pl->p = s->body + FLV_AUDIO_HDR;
    pl->len = s->len - FLV_AUDIO_HDR;
    pl->size = (uint32_t)pl->len;
    pl->skip = s->body[1] == 0 || pl->len == 0;
    return ST_OK;
}

static int sample_payload(const struct tracks *t, const struct hls_sample *s, struct payload *pl, const char **err)
{
    return s->kind == HLS_SAMPLE_VIDEO ? video_payload(t, s, pl, err) : audio_payload(s, pl, err);
}

/* round(ms * timescale / 1000); absolute, so successive differences never
 * accumulate rounding. */
static uint64_t ticks(uint32_t ms, uint32_t timescale) { return ((uint64_t)ms * timescale + 500) / 1000; }

static uint32_t tick_diff(uint32_t from_ms, uint32_t to_ms, uint32_t timescale)
{
    uint64_t a = ticks(from_ms, timescale), b = ticks(to_ms, timescale);
    if (b <= a)
        return 0;
    return b - a > UINT32_MAX ? UINT32_MAX : (uint32_t)(b - a);
}

/* One track's run in this fragment. */
struct run {
    uint32_t count;
    uint64_t bytes;        /* its share of mdat */
    size_t data_offset_at; /* where trun's data_offset waits to be patched */
};

static void put_entry(struct wr *w, const struct hls_sample *s, const struct payload *pl, uint32_t duration,
                      int video, int with_cts, uint32_t timescale)
{
    put32(w, duration);
    put32(w, pl->size);
    put32(w, !video || s->key ? FLAGS_SYNC : FLAGS_NON_SYNC);
    if (with_cts)
        put32(w, (uint32_t)(int32_t)((int64_t)pl->cts * timescale / 1000));
}

/* traf for one track, or nothing when s holds no media for it. */
static int put_traf(struct wr *w, const struct tracks *t, int video, const struct hls_sample *s, size_t n,
                    uint32_t end_dts, struct run *run, const char **err)
{
    uint8_t kind = video ? HLS_SAMPLE_VIDEO : HLS_SAMPLE_AUDIO;
    uint32_t timescale = video ? FMP4_MUXER_VIDEO_TIMESCALE : t->sample_rate;
    /* AV1-ISOBMFF forbids composition offsets; AVC/HEVC need signed ones. */
    int with_cts = video && t->vcodec != MEDIA_VIDEO_AV1;
    struct payload pl, prev_pl;
    size_t i, prev = 0;
    uint32_t last_duration = 0;

    memset(run, 0, sizeof(*run));
    for (i = 0; i < n; i++) {
        if (s[i].kind != kind)
            continue;
        if (sample_payload(t, &s[i], &pl, err) != ST_OK)
            return ST_ERROR;
        if (!pl.skip)
            break;
    }
    if (i == n)
        return ST_OK;

    size_t traf = box_open(w, "traf");
    size_t at = fullbox_open(w, "tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF);
    put32(w, video ? FMP4_MUXER_VIDEO_TRACK : FMP4_MUXER_AUDIO_TRACK);
    box_close(w, at);
    at = fullbox_open(w, "tfdt", 1, 0);
    put64(w, ticks(s[i].dts, timescale));
    box_close(w, at);
    size_t trun = fullbox_open(w, "trun", with_cts ? 1 : 0,
                               TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS | (with_cts ? TRUN_CTS : 0));
    size_t count_at = w->b->len;
    put32(w, 0);
    run->data_offset_at = w->b->len;
    put32(w, 0);

    /* Each entry is written when the next sample of the track gives its
     * duration; the last one after the loop. */
    prev = i;
    prev_pl = pl;
    for (i++; i < n; i++) {
        if (s[i].kind != kind)
            continue;
        if (sample_payload(t, &s[i], &pl, err) != ST_OK)
            return ST_ERROR;
        if (pl.skip)
            continue;
        last_duration = tick_diff(s[prev].dts, s[i].dts, timescale);
        put_entry(w, &s[prev], &prev_pl, last_duration, video, with_cts, timescale);
        run->count++;
        run->bytes += prev_pl.size;
        prev = i;
        prev_pl = pl;
    }
    uint32_t duration;
    if (end_dts > s[prev].dts)
        duration = tick_diff(s[prev].dts, end_dts, timescale);
    else if (run->count > 0)
        duration = last_duration;
    else
        duration = video ? VIDEO_DEFAULT_DURATION : AUDIO_DEFAULT_DURATION;
    put_entry(w, &s[prev], &prev_pl, duration, video, with_cts, timescale);
    run->count++;
    run->bytes += prev_pl.size;

    patch32(w, count_at, run->count);
    box_close(w, trun);
    box_close(w, traf);
    return ST_OK;
}

static void put_run(struct wr *w, const struct tracks *t, uint8_t kind, const struct hls_sample *s, size_t n)
{
    struct payload pl;
    for (size_t i = 0; i < n; i++) {
        /* Already validated by put_traf: cannot fail here. */
        if (s[i].kind != kind || sample_payload(t, &s[i], &pl, NULL) != ST_OK || pl.skip)
            continue;
        if (kind == HLS_SAMPLE_VIDEO && t->vcodec == MEDIA_VIDEO_AV1) {
            size_t kept;
            (void)av1_sample(pl.p, pl.len, w, &kept, NULL);
        } else {
            put(w, pl.p, pl.len);
        }
    }
}

int fmp4_muxer_fragment(struct buf *out, const struct hls_codec_headers *h, uint32_t sequence_number,
                        const struct hls_sample *s, size_t n, uint32_t end_dts, const char **err)
{
    struct tracks t;
    struct wr w = { out, 0 };
    struct run vrun, arun;
    size_t start = out->len;
    const char *why = NULL;

    if (parse_headers(h, &t, err) != ST_OK)
        return ST_ERROR;
    for (size_t i = 0; i < n; i++) {
        if (s[i].kind == HLS_SAMPLE_VIDEO ? !t.has_video : s[i].kind == HLS_SAMPLE_AUDIO ? !t.has_audio : 1)
            return fail(err, s[i].kind == HLS_SAMPLE_VIDEO || s[i].kind == HLS_SAMPLE_AUDIO
                                 ? "sample for a track without sequence header"
                                 : "bad sample kind");
        if (!s[i].body && s[i].len)
            return fail(err, "sample without body");
    }

    size_t moof = box_open(&w, "moof");
    size_t at = fullbox_open(&w, "mfhd", 0, 0);
    put32(&w, sequence_number);
    box_close(&w, at);
    if (put_traf(&w, &t, 1, s, n, end_dts, &vrun, &why) != ST_OK ||
        put_traf(&w, &t, 0, s, n, end_dts, &arun, &why) != ST_OK)
        goto fail;
    if (vrun.count + arun.count == 0) {
        why = "fragment without media samples";
        goto fail;
    }
    box_close(&w, moof);

    /* trun's data_offset is signed 32-bit: keep the whole fragment below 2 GiB. */
    uint64_t moof_size = out->len - moof, mdat_size = 8 + vrun.bytes + arun.bytes;
    if (moof_size + mdat_size > INT32_MAX) {
        why = "fragment too large";
        goto fail;
    }
    /* Runs follow each other in mdat: video first, then audio. */
    if (vrun.count)
        patch32(&w, vrun.data_offset_at, (uint32_t)(moof_size + 8));
    if (arun.count)
        patch32(&w, arun.data_offset_at, (uint32_t)(moof_size + 8 + vrun.bytes));
    put32(&w, (uint32_t)mdat_size);
    put(&w, "mdat", 4);
    put_run(&w, &t, HLS_SAMPLE_VIDEO, s, n);
    put_run(&w, &t, HLS_SAMPLE_AUDIO, s, n);
    if (!w.bad)
        return ST_OK;
    why = "fragment exceeds the output cap";
fail:
    out->len = start;
    return fail(err, why);
}
