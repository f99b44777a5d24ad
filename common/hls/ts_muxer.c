#include "hls/ts_muxer.h"
#include "core/status.h"
#include "media/media_codec.h"

#include <assert.h>
#include <string.h>

/*
 * Wire notes (ISO/IEC 13818-1):
 *   TS packet:  47 | TEI PUSI prio PID:13 | scrambling:2 afc:2 cc:4 | [adaptation field] payload
 *   adaptation: length | disc RAI prio PCR OPCR splice private ext | [PCR 6 bytes] stuffing 0xFF...
 *   PES:        00 00 01 stream_id | length:16 | 10 scr:2 prio align copyright original |
 *               PTS_DTS:2 ... | header_length | PTS [DTS]
 * The continuity counter advances only on packets that carry payload; all of
 * ours do.
 */
#define TS_SYNC 0x47
#define TS_PAYLOAD 184 /* bytes after the 4-byte header */
#define TS_MASK33 ((UINT64_C(1) << 33) - 1)
#define PCR_INTERVAL 9000 /* 100 ms at 90 kHz */
#define AF_RAI 0x40
#define AF_PCR 0x10
#define PES_VIDEO 0xE0
#define PES_AUDIO 0xC0
#define PES_HDR_MAX 19 /* start code, id, length, flags, PTS, DTS */
#define ADTS_HDR 7
#define ADTS_FRAME_MAX 8191 /* 13-bit aac_frame_length, header included */
#define PROGRAM_NUMBER 1
#define TS_ID 1

enum { AVC_NAL_SPS = 7, AVC_NAL_PPS = 8, AVC_NAL_AUD = 9 };
enum { AAC_LC = 2, AAC_SBR = 5, AAC_PS = 29 };

static const uint8_t start_code[4] = { 0, 0, 0, 1 };
/* AUD with primary_pic_type 7 (any slice type) and its stop bit. */
static const uint8_t aud[6] = { 0, 0, 0, 1, AVC_NAL_AUD, 0xF0 };

static int fail(const char **err, const char *why)
{
    if (err)
        *err = why;
    return ST_ERROR;
}

/* CRC-32/MPEG-2: polynomial 0x04C11DB7, MSB first, init ~0, no final xor.
 * Two short sections per segment, so bitwise is fast enough. */
static uint32_t crc32_mpeg2(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint32_t)p[i] << 24;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x80000000u) ? crc << 1 ^ 0x04C11DB7u : crc << 1;
    }
    return crc;
}

/* ---- codec configuration ---- */

/* AVCDecoderConfigurationRecord (ISO 14496-15 5.3.3.1): version, profile,
 * compatibility, level, 6 bits + lengthSizeMinusOne, 3 bits + numSPS, SPS
 * (16-bit length + NAL)..., numPPS, PPS... The optional high-profile tail is
 * not needed for Annex B and is ignored. */
static int parse_avc_record(struct ts_muxer *m, const uint8_t *p, size_t len, const char **err)
{
    if (len < 6)
        return fail(err, "truncated AVC decoder configuration");
    if (p[0] != 1)
        return fail(err, "bad AVC configuration version");
    unsigned nls = (p[4] & 3u) + 1;
    if (nls == 3)
        return fail(err, "bad AVC NAL length size");
    size_t off = 5;
    m->params_len = 0;
    for (int set = 0; set < 2; set++) {
        if (off >= len)
            return fail(err, "truncated AVC decoder configuration");
        unsigned count = set == 0 ? p[off] & 0x1fu : p[off];
        unsigned want = set == 0 ? AVC_NAL_SPS : AVC_NAL_PPS;
        off++;
        if (count == 0)
            return fail(err, set == 0 ? "AVC configuration without SPS" : "AVC configuration without PPS");
        for (unsigned i = 0; i < count; i++) {
            if (len - off < 2)
                return fail(err, "truncated AVC decoder configuration");
            size_t n = rd_be16(p + off);
            off += 2;
            if (n == 0 || n > len - off)
                return fail(err, "truncated AVC decoder configuration");
            if ((p[off] & 0x1fu) != want)
                return fail(err, "unexpected NAL type in AVC configuration");
            if (n + sizeof(start_code) > sizeof(m->params) - m->params_len)
                return fail(err, "AVC parameter sets too large");
            memcpy(m->params + m->params_len, start_code, sizeof(start_code));
            memcpy(m->params + m->params_len + sizeof(start_code), p + off, n);
            m->params_len = (uint16_t)(m->params_len + sizeof(start_code) + n);
            off += n;
        }
    }
    m->nal_length_size = (uint8_t)nls;
    return ST_OK;
}

static unsigned get_bits(const uint8_t *p, size_t len, size_t *pos, unsigned n, int *overrun)
{
    unsigned v = 0;
    for (unsigned i = 0; i < n; i++, (*pos)++) {
        if (*pos >= len * 8) {
            *overrun = 1;
            return 0;
        }
        v = v << 1 | ((p[*pos >> 3] >> (7 - (*pos & 7))) & 1u);
    }
    return v;
}

static unsigned get_object_type(const uint8_t *p, size_t len, size_t *pos, int *overrun)
{
    unsigned t = get_bits(p, len, pos, 5, overrun);
    return t == 31 ? 32 + get_bits(p, len, pos, 6, overrun) : t;
}

/* AudioSpecificConfig (ISO 14496-3 1.6.2.1) reduced to what ADTS can say:
 * profile = object type - 1 (Main, LC, SSR, LTP), a table sample rate index
 * and a channel configuration. Explicit SBR/PS signalling is mapped to its
 * core (LC) at the core rate, as decoders find SBR/PS in the frames anyway. */
static int parse_audio_config(struct ts_muxer *m, const uint8_t *p, size_t len, const char **err)
{
    size_t pos = 0;
    int overrun = 0;
    unsigned type = get_object_type(p, len, &pos, &overrun);
    unsigned rate = get_bits(p, len, &pos, 4, &overrun);
    unsigned channels = get_bits(p, len, &pos, 4, &overrun);
    if (!overrun && (type == AAC_SBR || type == AAC_PS)) {
        if (get_bits(p, len, &pos, 4, &overrun) == 15) /* extensionSamplingFrequencyIndex */
            get_bits(p, len, &pos, 24, &overrun);
        type = get_object_type(p, len, &pos, &overrun);
    }
    if (overrun)
        return fail(err, "truncated AudioSpecificConfig");
    if (type < 1 || type > 4)
        return fail(err, "AAC object type not representable in ADTS");
    if (rate > 12)
        return fail(err, "AAC sample rate not representable in ADTS");
    if (channels < 1 || channels > 7)
        return fail(err, "AAC channel configuration not representable in ADTS");
    m->aac_profile = (uint8_t)(type - 1);
    m->aac_rate_index = (uint8_t)rate;
    m->aac_channels = (uint8_t)channels;
    return ST_OK;
}

int ts_muxer_begin(struct ts_muxer *m, const struct hls_codec_headers *h, const char **err)
{
    struct media_video_info vi;
    struct media_audio_info ai;

    /* Zeroing the whole state (params included) is what makes begin reset
     * everything; the bytes of one segment cannot depend on the last. */
    memset(m, 0, sizeof(*m));
    if (h->video) {
        if (media_codec_probe_video(h->video, h->video_len, &vi, err) != ST_OK)
            goto fail;
        if (vi.codec == MEDIA_VIDEO_AVC) {
            if (!vi.sequence_header) {
                fail(err, "video header is not an AVC sequence header");
                goto fail;
            }
            /* Legacy and enhanced SequenceStart both put the record at 5;
             * the probe has checked those 5 bytes are there. */
            if (parse_avc_record(m, h->video + 5, h->video_len - 5, err) != ST_OK)
                goto fail;
            m->has_video = 1;
        }
    }
    if (h->audio) {
        if (media_codec_probe_audio(h->audio, h->audio_len, &ai, err) != ST_OK)
            goto fail;
        if (ai.codec == MEDIA_AUDIO_AAC) {
            if (!ai.sequence_header) {
                fail(err, "audio header is not an AAC sequence header");
                goto fail;
            }
            if (parse_audio_config(m, h->audio + 2, h->audio_len - 2, err) != ST_OK)
                goto fail;
            m->has_audio = 1;
        }
    }
    return ST_OK;
fail:
    memset(m, 0, sizeof(*m));
    return ST_ERROR;
}

/* ---- tables ---- */

/* One PSI section in one packet: pointer_field 0, the section, 0xFF after. */
static void put_section(uint8_t *dst, unsigned pid, uint8_t *cc, const uint8_t *sec, size_t n)
{
    dst[0] = TS_SYNC;
    dst[1] = (uint8_t)(0x40 | pid >> 8);
    dst[2] = (uint8_t)pid;
    dst[3] = (uint8_t)(0x10 | *cc);
    *cc = (uint8_t)((*cc + 1) & 15);
    dst[4] = 0;
    memcpy(dst + 5, sec, n);
    memset(dst + 5 + n, 0xFF, TS_MUXER_PACKET_SIZE - 5 - n);
}

/* Fill in section_length and the CRC of a section whose body ends at n;
 * returns the full section size. */
static size_t close_section(uint8_t *sec, size_t n)
{
    size_t section_length = n - 3 + 4;
    sec[1] = (uint8_t)(0xB0 | section_length >> 8);
    sec[2] = (uint8_t)section_length;
    wr_be32(sec + n, crc32_mpeg2(sec, n));
    return n + 4;
}

int ts_muxer_write_tables(struct ts_muxer *m, struct buf *out)
{
    uint8_t sec[32];
    size_t n;

    if (buf_reserve(out, 2 * TS_MUXER_PACKET_SIZE) != ST_OK)
        return ST_ERROR;
    uint8_t *dst = out->data + out->len;

    /* PAT: table 0, one program pointing at the PMT. Version 0,
     * current_next 1, section 0 of 0 in both tables. */
    n = 0;
    sec[n++] = 0x00;
    n += 2; /* section_length */
    wr_be16(sec + n, TS_ID), n += 2;
    sec[n++] = 0xC1;
    sec[n++] = 0;
    sec[n++] = 0;
    wr_be16(sec + n, PROGRAM_NUMBER), n += 2;
    wr_be16(sec + n, 0xE000 | TS_MUXER_PID_PMT), n += 2;
    put_section(dst, TS_MUXER_PID_PAT, &m->cc_pat, sec, close_section(sec, n));

    /* PMT: table 2; PCR PID 0x1FFF means "no PCR" for an empty program. */
    unsigned pcr_pid = m->has_video ? TS_MUXER_PID_VIDEO : m->has_audio ? TS_MUXER_PID_AUDIO : 0x1FFF;
    n = 0;
    sec[n++] = 0x02;
    n += 2;
    wr_be16(sec + n, PROGRAM_NUMBER), n += 2;
    sec[n++] = 0xC1;
    sec[n++] = 0;
    sec[n++] = 0;
    wr_be16(sec + n, (uint16_t)(0xE000 | pcr_pid)), n += 2;
    wr_be16(sec + n, 0xF000), n += 2; /* program_info_length 0 */
    if (m->has_video) {
        sec[n++] = TS_MUXER_STREAM_TYPE_H264;
        wr_be16(sec + n, 0xE000 | TS_MUXER_PID_VIDEO), n += 2;
        wr_be16(sec + n, 0xF000), n += 2;
    }
    if (m->has_audio) {
        sec[n++] = TS_MUXER_STREAM_TYPE_AAC;
        wr_be16(sec + n, 0xE000 | TS_MUXER_PID_AUDIO), n += 2;
        wr_be16(sec + n, 0xF000), n += 2;
    }
    put_section(dst + TS_MUXER_PACKET_SIZE, TS_MUXER_PID_PMT, &m->cc_pmt, sec, close_section(sec, n));

    out->len += 2 * TS_MUXER_PACKET_SIZE;
    return ST_OK;
}

/* ---- PES payload source ---- */

/*
 * The PES payload (header + elementary stream) is a few fixed pieces followed,
 * for video, by the NAL units of the AVCC run, each behind a start code. It
 * is walked twice: once to validate and size it, once to copy it straight
 * into the reserved TS packets, so no intermediate buffer is needed.
 */
struct es_src {
    const uint8_t *piece[4];
    size_t piece_len[4];
    unsigned npieces, next_piece;
    const uint8_t *cur; /* bytes left of the current piece */
    size_t cur_len;
    const uint8_t *avcc; /* NAL run, NULL for audio */
    size_t avcc_len, avcc_pos;
    unsigned nls;
    const uint8_t *nal; /* NAL due after the start code just handed out */
    size_t nal_len;
};

/* Next NAL of an AVCC run: 1 with *nal set, 0 at the end, ST_ERROR when
 * malformed. Empty NALs and AUDs are dropped: we write our own AUD, and an
 * access unit may hold only one. */
static int avcc_next(const uint8_t *p, size_t len, size_t *pos, unsigned nls, const uint8_t **nal,
                     size_t *nal_len, const char **err)
{
    while (*pos < len) {
        if (len - *pos < nls)
            return fail(err, "truncated NAL length");
        size_t n = 0;
        for (unsigned i = 0; i < nls; i++)
            n = n << 8 | p[*pos + i];
        *pos += nls;
        if (n > len - *pos)
            return fail(err, "NAL length past the body");
        const uint8_t *q = p + *pos;
        *pos += n;
        if (n == 0 || (q[0] & 0x1fu) == AVC_NAL_AUD)
            continue;
        *nal = q;
        *nal_len = n;
        return 1;
    }
    return 0;
}

static void src_add(struct es_src *s, const uint8_t *p, size_t n)
{
    s->piece[s->npieces] = p;
    s->piece_len[s->npieces++] = n;
}

static void src_advance(struct es_src *s)
{
    if (s->next_piece < s->npieces) {
        s->cur = s->piece[s->next_piece];
        s->cur_len = s->piece_len[s->next_piece++];
    } else if (s->nal) {
        s->cur = s->nal;
        s->cur_len = s->nal_len;
        s->nal = NULL;
    } else {
        int r = avcc_next(s->avcc, s->avcc_len, &s->avcc_pos, s->nls, &s->nal, &s->nal_len, NULL);
        /* The first pass validated the run and sized the copy from it. */
        assert(r == 1);
        (void)r;
        s->cur = start_code;
        s->cur_len = sizeof(start_code);
    }
}

static void src_copy(struct es_src *s, uint8_t *dst, size_t n)
{
    while (n > 0) {
        while (s->cur_len == 0)
            src_advance(s);
        size_t k = n < s->cur_len ? n : s->cur_len;
        memcpy(dst, s->cur, k);
        dst += k;
        s->cur += k;
        s->cur_len -= k;
        n -= k;
    }
}

/* ---- packetizer ---- */

static void put_pcr(uint8_t *p, uint64_t base)
{
    p[0] = (uint8_t)(base >> 25);
    p[1] = (uint8_t)(base >> 17);
    p[2] = (uint8_t)(base >> 9);
    p[3] = (uint8_t)(base >> 1);
    p[4] = (uint8_t)((base & 1) << 7 | 0x7E); /* 6 reserved bits, extension 0 */
    p[5] = 0;
}

/* Bytes of adaptation field the first packet needs for its flags. */
static size_t first_af_len(uint8_t flags) { return flags ? 2 + ((flags & AF_PCR) ? 6 : 0) : 0; }

static size_t packet_count(size_t total, uint8_t flags)
{
    size_t first = TS_PAYLOAD - first_af_len(flags);
    return total <= first ? 1 : 1 + (total - first + TS_PAYLOAD - 1) / TS_PAYLOAD;
}

/* Split total bytes of src into packets at dst; flags (RAI/PCR) go in the
 * first. A packet short of payload (the last, or the only one) is filled
 * up by adaptation-field stuffing. */
static void put_pes_packets(uint8_t *dst, unsigned pid, uint8_t *cc, struct es_src *src, size_t total, uint8_t flags,
                            uint64_t pcr)
{
    for (int first = 1; total > 0; first = 0, dst += TS_MUXER_PACKET_SIZE) {
        uint8_t af_flags = first ? flags : 0;
        size_t room = TS_PAYLOAD - first_af_len(af_flags);
        size_t n = room < total ? room : total;
        size_t field = TS_PAYLOAD - n; /* adaptation field bytes, length byte included */
        dst[0] = TS_SYNC;
        dst[1] = (uint8_t)((first ? 0x40 : 0) | pid >> 8);
        dst[2] = (uint8_t)pid;
        dst[3] = (uint8_t)((field ? 0x30 : 0x10) | *cc);
        *cc = (uint8_t)((*cc + 1) & 15);
        if (field) {
            /* One byte of stuffing is the length byte alone (length 0). */
            dst[4] = (uint8_t)(field - 1);
            if (field > 1) {
                dst[5] = af_flags;
                memset(dst + 6, 0xFF, field - 2);
                if (af_flags & AF_PCR)
                    put_pcr(dst + 6, pcr);
            }
        }
        src_copy(src, dst + 4 + field, n);
        total -= n;
    }
}

static void put_ts(uint8_t *p, unsigned prefix, uint64_t ts)
{
    p[0] = (uint8_t)(prefix << 4 | (ts >> 29 & 0x0E) | 1);
    p[1] = (uint8_t)(ts >> 22);
    p[2] = (uint8_t)(ts >> 14 | 1);
    p[3] = (uint8_t)(ts >> 7);
    p[4] = (uint8_t)(ts << 1 | 1);
}

/* PES header with data_alignment_indicator (every PES starts an access
 * unit / ADTS frame); returns its size. A video PES too long for the 16-bit
 * length says 0 (unbounded), which 13818-1 allows only for video. */
static size_t put_pes_header(uint8_t *p, uint8_t stream_id, size_t es_len, uint64_t pts, uint64_t dts)
{
    size_t hdr = pts != dts ? 10 : 5;
    size_t len = 3 + hdr + es_len;
    p[0] = 0;
    p[1] = 0;
    p[2] = 1;
    p[3] = stream_id;
    wr_be16(p + 4, (uint16_t)(len > 0xFFFF ? 0 : len));
    p[6] = 0x84;
    p[7] = pts != dts ? 0xC0 : 0x80;
    p[8] = (uint8_t)hdr;
    put_ts(p + 9, pts != dts ? 3 : 2, pts);
    if (pts != dts)
        put_ts(p + 14, 1, dts);
    return 9 + hdr;
}

/* ---- samples ---- */

struct pes_plan {
    struct es_src src;
    uint8_t hdr[PES_HDR_MAX];
    uint8_t adts[ADTS_HDR];
    size_t es_len;
    unsigned pid;
    uint8_t stream_id;
    int32_t cts; /* ms */
};

/* 1 when the sample is to be muxed (plan filled), 0 to skip it, ST_ERROR. */
static int plan_video(const struct ts_muxer *m, const struct hls_sample *s, struct pes_plan *pl, const char **err)
{
    struct media_video_info vi;
    size_t off;

    /* Legacy frame type 5 is a video info/command frame, not a picture. */
    if (s->len > 0 && !(s->body[0] & 0x80) && (s->body[0] >> 4) == 5)
        return 0;
    if (media_codec_probe_video(s->body, s->len, &vi, err) != ST_OK)
        return ST_ERROR;
    /* Not muxed: other codecs (the PMT only has H.264), sequence headers
     * (begin took the configuration), end of sequence, metadata, and video
     * when begin saw no AVC configuration. */
    if (vi.codec != MEDIA_VIDEO_AVC || !m->has_video || vi.sequence_header)
        return 0;
    if (vi.enhanced) {
        unsigned type = s->body[0] & 0x0fu;
        if (type == 1)
            off = 8; /* CodedFrames: composition time follows the FourCC */
        else if (type == 3)
            off = 5; /* CodedFramesX: composition time 0 */
        else
            return 0;
    } else {
        if (s->body[1] != 1)
            return 0;
        off = 5;
    }
    if (s->len <= off)
        return fail(err, "empty video sample");

    const uint8_t *run = s->body + off, *nal;
    size_t run_len = s->len - off, pos = 0, nal_len, count = 0, es = sizeof(aud);
    int r;
    while ((r = avcc_next(run, run_len, &pos, m->nal_length_size, &nal, &nal_len, err)) == 1) {
        es += sizeof(start_code) + nal_len;
        count++;
    }
    if (r != 0)
        return ST_ERROR;
    if (count == 0)
        return fail(err, "video sample without NAL units");

    memset(&pl->src, 0, sizeof(pl->src));
    src_add(&pl->src, pl->hdr, 0); /* length set once the header is written */
    src_add(&pl->src, aud, sizeof(aud));
    if (s->key) {
        src_add(&pl->src, m->params, m->params_len);
        es += m->params_len;
    }
    pl->src.avcc = run;
    pl->src.avcc_len = run_len;
    pl->src.nls = m->nal_length_size;
    pl->es_len = es;
    pl->pid = TS_MUXER_PID_VIDEO;
    pl->stream_id = PES_VIDEO;
    pl->cts = vi.cts;
    return 1;
}

static int plan_audio(const struct ts_muxer *m, const struct hls_sample *s, struct pes_plan *pl, const char **err)
{
    struct media_audio_info ai;

    if (media_codec_probe_audio(s->body, s->len, &ai, err) != ST_OK)
        return ST_ERROR;
    /* Not muxed: other codecs, the AAC sequence header (begin took it),
     * unknown AAC packet types, audio when begin saw no AAC configuration. */
    if (ai.codec != MEDIA_AUDIO_AAC || !m->has_audio || s->body[1] != 1)
        return 0;
    size_t raw = s->len - 2;
    if (raw == 0)
        return fail(err, "empty audio sample");
    if (raw > ADTS_FRAME_MAX - ADTS_HDR)
        return fail(err, "AAC frame too large for ADTS");

    /* ADTS fixed + variable header, MPEG-4, no CRC, buffer fullness 0x7FF
     * (variable rate), one raw data block. */
    size_t frame = raw + ADTS_HDR;
    uint8_t *a = pl->adts;
    a[0] = 0xFF;
    a[1] = 0xF1;
    a[2] = (uint8_t)(m->aac_profile << 6 | m->aac_rate_index << 2 | m->aac_channels >> 2);
    a[3] = (uint8_t)((m->aac_channels & 3) << 6 | frame >> 11);
    a[4] = (uint8_t)(frame >> 3);
    a[5] = (uint8_t)((frame & 7) << 5 | 0x1F);
    a[6] = 0xFC;

    memset(&pl->src, 0, sizeof(pl->src));
    src_add(&pl->src, pl->hdr, 0);
    src_add(&pl->src, pl->adts, ADTS_HDR);
    src_add(&pl->src, s->body + 2, raw);
    pl->es_len = frame;
    pl->pid = TS_MUXER_PID_AUDIO;
    pl->stream_id = PES_AUDIO;
    pl->cts = 0;
    return 1;
}

int ts_muxer_write_sample(struct ts_muxer *m, struct buf *out, const struct hls_sample *s, const char **err)
{
    struct pes_plan pl;
    int r;

    if (s->kind == HLS_SAMPLE_VIDEO)
        r = plan_video(m, s, &pl, err);
    else if (s->kind == HLS_SAMPLE_AUDIO)
        r = plan_audio(m, s, &pl, err);
    else
        r = 0; /* nothing else has a place in the program */
    if (r != 1)
        return r == 0 ? ST_OK : ST_ERROR;

    uint64_t dts = (uint64_t)s->dts * 90 & TS_MASK33;
    uint64_t pts = (uint64_t)((int64_t)dts + (int64_t)pl.cts * 90) & TS_MASK33;
    size_t hdr = put_pes_header(pl.hdr, pl.stream_id, pl.es_len, pts, dts);
    pl.src.piece_len[0] = hdr;

    int video = pl.pid == TS_MUXER_PID_VIDEO, key = video && s->key;
    int on_pcr_pid = video || !m->has_video;
    uint8_t flags = key ? AF_RAI : 0;
    /* Unsigned 33-bit distance: a backward jump is a huge one, so it also
     * gets a fresh PCR. */
    if (on_pcr_pid && (key || !m->pcr_sent || ((dts - m->last_pcr) & TS_MASK33) >= PCR_INTERVAL))
        flags |= AF_PCR;

    size_t total = hdr + pl.es_len;
    size_t bytes = packet_count(total, flags) * TS_MUXER_PACKET_SIZE;
    if (buf_reserve(out, bytes) != ST_OK)
        return fail(err, "output buffer full");
    /* Nothing can fail from here: out and the counters change together. */
    put_pes_packets(out->data + out->len, pl.pid, video ? &m->cc_video : &m->cc_audio, &pl.src, total, flags, dts);
    out->len += bytes;
    if (flags & AF_PCR) {
        m->pcr_sent = 1;
        m->last_pcr = dts;
    }
    return ST_OK;
}
