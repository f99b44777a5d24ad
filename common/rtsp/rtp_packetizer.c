#include "rtsp/rtp_packetizer.h"
#include "core/buf.h"
#include "core/status.h"
#include "media/media_codec.h"

#include <stdlib.h>
#include <string.h>

/*
 * Every packetize call runs in three steps so that a failure leaves nothing
 * behind: validate the body and the configuration record, size the output
 * with the same emit code in "count" mode, reserve once, then emit (which
 * can no longer fail).
 */

#define AAC_MAX_AU 8191    /* 13-bit AU-size */
#define LIST_MAX_BYTES ((size_t)UINT32_MAX - 2 * RTP_PACKET_HEADROOM) /* offsets are u32 */

enum { AVC_NAL_IDR = 5, AVC_NAL_SPS = 7, AVC_NAL_PPS = 8, AVC_NAL_AUD = 9, AVC_NAL_FU_A = 28 };
enum { HEVC_NAL_IRAP_FIRST = 16, HEVC_NAL_IRAP_LAST = 23, HEVC_NAL_VPS = 32, HEVC_NAL_SPS = 33, HEVC_NAL_PPS = 34,
       HEVC_NAL_AUD = 35, HEVC_NAL_FU = 49 };
enum { EX_CODED_FRAMES = 1, EX_CODED_FRAMES_X = 3 };

static int fail(const char **err, const char *why)
{
    if (err)
        *err = why;
    return ST_ERROR;
}

/* ---- packet list ---- */

void rtp_packet_list_init(struct rtp_packet_list *l, size_t max)
{
    memset(l, 0, sizeof(*l));
    l->max = max < LIST_MAX_BYTES ? max : LIST_MAX_BYTES;
}

void rtp_packet_list_free(struct rtp_packet_list *l)
{
    free(l->data);
    free(l->offsets);
    l->data = NULL;
    l->offsets = NULL;
    l->len = l->cap = 0;
    l->count = l->offsets_cap = 0;
}

void rtp_packet_list_reset(struct rtp_packet_list *l)
{
    l->len = 0;
    l->count = 0;
}

uint8_t *rtp_packet_list_interleave(struct rtp_packet_list *l, uint32_t i, uint8_t channel, size_t *len)
{
    size_t n;
    uint8_t *pkt = rtp_packet_list_packet(l, i, &n);
    uint8_t *h = pkt - RTP_PACKET_HEADROOM;
    h[0] = '$';
    h[1] = channel;
    wr_be16(h + 2, (uint16_t)n); /* n <= 12 + RTP_PACKETIZER_MAX_PAYLOAD */
    *len = n + RTP_PACKET_HEADROOM;
    return h;
}

/* Room for `bytes` more bytes and `packets` more packets, or ST_ERROR with
 * the list untouched (its contents; storage may have grown). */
static int list_reserve(struct rtp_packet_list *l, uint64_t bytes, uint64_t packets)
{
    if (bytes > l->max || l->len > l->max - bytes)
        return ST_ERROR;
    size_t need = l->len + (size_t)bytes;
    if (need > l->cap) {
        size_t cap = l->cap ? l->cap : 4096;
        while (cap < need)
            cap = cap > l->max / 2 ? l->max : cap * 2;
        uint8_t *d = realloc(l->data, cap);
        if (!d)
            return ST_ERROR;
        l->data = d;
        l->cap = cap;
    }
    /* packets <= bytes / (headroom + header), so this cannot overflow. */
    uint64_t entries = (uint64_t)l->count + packets + 1;
    if (entries > l->offsets_cap) {
        uint64_t cap = l->offsets_cap ? l->offsets_cap : 64;
        while (cap < entries)
            cap *= 2;
        if (cap > UINT32_MAX || cap > SIZE_MAX / sizeof(uint32_t))
            return ST_ERROR;
        uint32_t *o = realloc(l->offsets, (size_t)cap * sizeof(uint32_t));
        if (!o)
            return ST_ERROR;
        l->offsets = o;
        l->offsets_cap = (uint32_t)cap;
    }
    return ST_OK;
}

/* ---- emitter: counts in the sizing pass, writes in the emit pass ---- */

struct emit {
    struct rtp_packetizer *p;
    struct rtp_packet_list *l; /* NULL in the sizing pass */
    uint32_t ts;
    uint64_t bytes;   /* sizing pass: bytes needed */
    uint64_t packets; /* sizing pass: packets needed */
};

/* One packet: RTP header, then pre (payload header bytes), then data. */
static void emit_packet(struct emit *e, const uint8_t *pre, size_t pre_len, const uint8_t *data, size_t n)
{
    size_t payload = pre_len + n;
    if (!e->l) {
        e->bytes += RTP_PACKET_HEADROOM + RTP_HEADER_LEN + payload;
        e->packets++;
        return;
    }
    struct rtp_packet_list *l = e->l;
    struct rtp_packetizer *p = e->p;
    uint8_t *w = l->data + l->len;

    memset(w, 0, RTP_PACKET_HEADROOM);
    w += RTP_PACKET_HEADROOM;
    l->offsets[l->count] = (uint32_t)(w - l->data);
    w[0] = 0x80; /* V=2, P=0, X=0, CC=0 */
    w[1] = p->payload_type;
    wr_be16(w + 2, p->seq);
    wr_be32(w + 4, e->ts);
    wr_be32(w + 8, p->ssrc);
    if (pre_len)
        memcpy(w + RTP_HEADER_LEN, pre, pre_len);
    memcpy(w + RTP_HEADER_LEN + pre_len, data, n);
    l->len += RTP_PACKET_HEADROOM + RTP_HEADER_LEN + payload;
    l->count++;
    l->offsets[l->count] = (uint32_t)(l->len + RTP_PACKET_HEADROOM);
    p->seq++;
    p->packets++;
    p->octets += (uint32_t)payload;
}

/* The marker goes on the last packet this call appended. */
static void emit_marker(struct emit *e, uint32_t first)
{
    if (e->l && e->l->count > first)
        e->l->data[e->l->offsets[e->l->count - 1] + 1] |= 0x80;
}

/* One NAL unit: a single NAL unit packet when it fits, else fragments
 * (FU-A for H.264, FU for HEVC) whose payload header copies F/NRI (H.264) or
 * F/LayerId/TID (HEVC) from the NAL header and whose FU header carries the
 * original type. The NAL header itself is not repeated in the fragments. */
static void emit_nal(struct emit *e, int hevc, const uint8_t *nal, size_t n)
{
    size_t mtu = e->p->mtu;
    if (n <= mtu) {
        emit_packet(e, NULL, 0, nal, n);
        return;
    }
    uint8_t pre[3];
    size_t hdr_len, pre_len;
    uint8_t type;
    if (hevc) {
        type = (nal[0] >> 1) & 0x3f;
        pre[0] = (uint8_t)((nal[0] & 0x81) | HEVC_NAL_FU << 1);
        pre[1] = nal[1];
        hdr_len = 2;
        pre_len = 3;
    } else {
        type = nal[0] & 0x1f;
        pre[0] = (uint8_t)((nal[0] & 0xe0) | AVC_NAL_FU_A);
        hdr_len = 1;
        pre_len = 2;
    }
    const uint8_t *d = nal + hdr_len;
    size_t left = n - hdr_len, chunk = mtu - pre_len;
    int start = 1;
    while (left > 0) {
        size_t k = left < chunk ? left : chunk;
        pre[pre_len - 1] = (uint8_t)((start ? 0x80 : 0) | (k == left ? 0x40 : 0) | type);
        emit_packet(e, pre, pre_len, d, k);
        d += k;
        left -= k;
        start = 0;
    }
}

/* ---- configuration record ---- */

static unsigned nal_type(int hevc, const uint8_t *nal)
{
    return hevc ? (nal[0] >> 1) & 0x3fu : nal[0] & 0x1fu;
}

/* Types H.264 leaves unspecified (24..31) and HEVC too (48..63) are what
 * RFC 6184/7798 use for aggregation and fragmentation packets: sent as a
 * single NAL unit packet they would be misread by every receiver, and
 * decoders ignore them anyway, so they are dropped. */
static int nal_sendable(int hevc, const uint8_t *nal, size_t n)
{
    return n >= (hevc ? 2u : 1u) && nal_type(hevc, nal) < (hevc ? 48u : 24u);
}

static int ps_add(struct rtp_packetizer_params *ps, const uint8_t *nal, size_t n)
{
    if (ps->n == RTP_PACKETIZER_MAX_PARAMS)
        return ST_ERROR;
    ps->nal[ps->n] = nal;
    ps->len[ps->n++] = n;
    return ST_OK;
}

/* `count` length-prefixed NAL units at *off; those of type `want` are kept
 * (want < 0: none), others are skipped (a broken record may list anything). */
static int record_nals(const uint8_t *r, size_t len, size_t *off, unsigned count, int want,
                       struct rtp_packetizer_params *ps)
{
    for (unsigned i = 0; i < count; i++) {
        if (len - *off < 2)
            return ST_ERROR;
        size_t n = rd_be16(r + *off);
        *off += 2;
        if (n > len - *off)
            return ST_ERROR;
        const uint8_t *nal = r + *off;
        if (want >= 0 && nal_sendable(ps->hevc, nal, n) && nal_type(ps->hevc, nal) == (unsigned)want &&
            ps_add(ps, nal, n) != ST_OK)
            return ST_ERROR;
        *off += n;
    }
    return ST_OK;
}

/* AVCDecoderConfigurationRecord (ISO 14496-15 5.3.3.1): SPS then PPS. */
static int avc_record(const uint8_t *r, size_t len, struct rtp_packetizer_params *ps, const char **err)
{
    if (len < 7 || r[0] != 1)
        return fail(err, "bad AVC configuration record");
    ps->length_size = (r[4] & 3u) + 1;
    size_t off = 6;
    if (record_nals(r, len, &off, r[5] & 0x1fu, AVC_NAL_SPS, ps) != ST_OK || len - off < 1)
        return fail(err, "bad AVC configuration record");
    unsigned npps = r[off++];
    if (record_nals(r, len, &off, npps, AVC_NAL_PPS, ps) != ST_OK)
        return fail(err, "bad AVC configuration record");
    return ST_OK;
}

/* HEVCDecoderConfigurationRecord (ISO 14496-15 8.3.3.1): arrays by NAL type;
 * VPS, SPS and PPS are collected in that order whatever the array order. */
static int hevc_record(const uint8_t *r, size_t len, struct rtp_packetizer_params *ps, const char **err)
{
    static const unsigned order[3] = { HEVC_NAL_VPS, HEVC_NAL_SPS, HEVC_NAL_PPS };
    if (len < 23 || r[0] != 1)
        return fail(err, "bad HEVC configuration record");
    ps->length_size = (r[21] & 3u) + 1;
    for (int pass = 0; pass < 3; pass++) {
        size_t off = 23;
        for (unsigned a = 0; a < r[22]; a++) {
            if (len - off < 3)
                return fail(err, "bad HEVC configuration record");
            unsigned type = r[off] & 0x3fu, count = rd_be16(r + off + 1);
            off += 3;
            if (record_nals(r, len, &off, count, type == order[pass] ? (int)type : -1, ps) != ST_OK)
                return fail(err, "bad HEVC configuration record");
        }
    }
    return ST_OK;
}

int rtp_packetizer_video_params(const struct hls_codec_headers *h, struct rtp_packetizer_params *out,
                                const char **err)
{
    struct media_video_info ci;
    memset(out, 0, sizeof(*out));
    if (!h || !h->video)
        return fail(err, "no video sequence header");
    if (media_codec_probe_video(h->video, h->video_len, &ci, err) != ST_OK)
        return ST_ERROR;
    if (!ci.sequence_header || (ci.codec != MEDIA_VIDEO_AVC && ci.codec != MEDIA_VIDEO_HEVC))
        return fail(err, "not an AVC/HEVC sequence header");
    /* Legacy and enhanced SequenceStart both put the record at byte 5. */
    out->hevc = ci.codec == MEDIA_VIDEO_HEVC;
    if (out->hevc)
        return hevc_record(h->video + 5, h->video_len - 5, out, err);
    return avc_record(h->video + 5, h->video_len - 5, out, err);
}

/* ---- video ---- */

struct frame {
    const uint8_t *p; /* length-prefixed NAL units */
    size_t len;
    unsigned length_size;
    int hevc;
};

/* Next NAL unit at *off: 1 with nal/n set, 0 at the end; zero-length and
 * unsendable units are skipped. Only called on frames frame_check accepted. */
static int frame_next(const struct frame *f, size_t *off, const uint8_t **nal, size_t *n)
{
    while (*off < f->len) {
        size_t k = 0;
        for (unsigned i = 0; i < f->length_size; i++)
            k = k << 8 | f->p[*off + i];
        *off += f->length_size;
        *nal = f->p + *off;
        *n = k;
        *off += k;
        if (k && nal_sendable(f->hevc, *nal, k))
            return 1;
    }
    return 0;
}

/* Bounds of every NAL unit, and whether the unit needs the parameter sets:
 * it holds a random access slice and does not carry its own set of them. */
static int frame_check(const struct frame *f, int key, int *need_ps, const char **err)
{
    size_t off = 0, min = f->hevc ? 2 : 1;
    int irap = 0, has_vps = 0, has_sps = 0, has_pps = 0;
    while (off < f->len) {
        if (f->len - off < f->length_size)
            return fail(err, "truncated NAL unit length");
        size_t k = 0;
        for (unsigned i = 0; i < f->length_size; i++)
            k = k << 8 | f->p[off + i];
        off += f->length_size;
        if (k > f->len - off)
            return fail(err, "NAL unit overruns the frame");
        if (k == 0)
            continue;
        if (k < min)
            return fail(err, "NAL unit shorter than its header");
        unsigned t = nal_type(f->hevc, f->p + off);
        if (f->hevc) {
            irap |= t >= HEVC_NAL_IRAP_FIRST && t <= HEVC_NAL_IRAP_LAST;
            has_vps |= t == HEVC_NAL_VPS;
            has_sps |= t == HEVC_NAL_SPS;
            has_pps |= t == HEVC_NAL_PPS;
        } else {
            irap |= t == AVC_NAL_IDR;
            has_vps = 1;
            has_sps |= t == AVC_NAL_SPS;
            has_pps |= t == AVC_NAL_PPS;
        }
        off += k;
    }
    *need_ps = (irap || key) && !(has_vps && has_sps && has_pps);
    return ST_OK;
}

static void emit_frame(struct emit *e, const struct frame *f, const struct rtp_packetizer_params *ps, int need_ps)
{
    size_t off = 0, n;
    const uint8_t *nal;
    unsigned aud = f->hevc ? HEVC_NAL_AUD : AVC_NAL_AUD;
    while (frame_next(f, &off, &nal, &n)) {
        if (need_ps && nal_type(f->hevc, nal) != aud) {
            for (unsigned i = 0; i < ps->n; i++)
                emit_nal(e, f->hevc, ps->nal[i], ps->len[i]);
            need_ps = 0;
        }
        emit_nal(e, f->hevc, nal, n);
    }
}

/* AU-headers-length (16 bits: one 16-bit AU-header), AU-size:13 | index:3,
 * then the AU or a fragment of it (RFC 3640 3.2.1, 3.3.6). */
static void emit_aac(struct emit *e, const uint8_t *au, size_t n)
{
    uint8_t pre[4] = { 0x00, 0x10, (uint8_t)(n >> 5), (uint8_t)(n << 3) };
    size_t chunk = e->p->mtu - sizeof(pre);
    do {
        size_t k = n < chunk ? n : chunk;
        emit_packet(e, pre, sizeof(pre), au, k);
        au += k;
        n -= k;
    } while (n > 0);
}

/* ---- both ---- */

static void emit_all(struct emit *e, const struct frame *f, const struct rtp_packetizer_params *ps, int need_ps,
                     const uint8_t *au, size_t au_len)
{
    uint32_t first = e->l ? e->l->count : 0;
    if (f)
        emit_frame(e, f, ps, need_ps);
    else
        emit_aac(e, au, au_len);
    emit_marker(e, first);
}

/* Size, reserve, emit: the video frame f (with ps) or the AAC AU. */
static int run(struct rtp_packetizer *p, struct rtp_packet_list *out, uint32_t ts, const struct frame *f,
               const struct rtp_packetizer_params *ps, int need_ps, const uint8_t *au, size_t au_len, const char **err)
{
    struct emit e = { p, NULL, ts, 0, 0 };
    emit_all(&e, f, ps, need_ps, au, au_len);
    if (list_reserve(out, e.bytes, e.packets) != ST_OK)
        return fail(err, "RTP packet list full");
    e.l = out;
    emit_all(&e, f, ps, need_ps, au, au_len);
    return ST_OK;
}

/* ---- public ---- */

int rtp_packetizer_video(struct rtp_packetizer *p, const struct hls_codec_headers *h, const struct hls_sample *s,
                         struct rtp_packet_list *out, const char **err)
{
    struct media_video_info vi;
    struct rtp_packetizer_params ps;
    struct frame f;
    size_t data_off;
    int need_ps;

    if (media_codec_probe_video(s->body, s->len, &vi, err) != ST_OK)
        return ST_ERROR;
    if (vi.codec != MEDIA_VIDEO_AVC && vi.codec != MEDIA_VIDEO_HEVC)
        return fail(err, "video codec not supported over RTP");
    if (vi.sequence_header || vi.end_of_sequence)
        return ST_OK;
    if (vi.enhanced) {
        unsigned type = s->body[0] & 0x0fu;
        if (type == EX_CODED_FRAMES)
            data_off = 8; /* after the composition time, which the probe checked */
        else if (type == EX_CODED_FRAMES_X)
            data_off = 5;
        else
            return ST_OK; /* metadata and the like: nothing to send */
    } else {
        if ((s->body[0] >> 4) == 5)
            return ST_OK; /* video info/command frame */
        if (s->body[1] != 1)
            return fail(err, "bad AVC/HEVC packet type");
        data_off = 5;
    }
    if (rtp_packetizer_video_params(h, &ps, err) != ST_OK)
        return ST_ERROR;
    if (ps.hevc != (vi.codec == MEDIA_VIDEO_HEVC))
        return fail(err, "video sequence header does not match the frame");
    f = (struct frame){ s->body + data_off, s->len - data_off, ps.length_size, vi.codec == MEDIA_VIDEO_HEVC };
    if (frame_check(&f, vi.keyframe || s->key, &need_ps, err) != ST_OK)
        return ST_ERROR;
    uint32_t ts = rtp_packetizer_timestamp(p, (int64_t)s->dts + vi.cts);
    return run(p, out, ts, &f, &ps, need_ps, NULL, 0, err);
}

int rtp_packetizer_audio(struct rtp_packetizer *p, const struct hls_codec_headers *h, const struct hls_sample *s,
                         struct rtp_packet_list *out, const char **err)
{
    struct media_audio_info ai;
    (void)h;

    if (media_codec_probe_audio(s->body, s->len, &ai, err) != ST_OK)
        return ST_ERROR;
    if (ai.codec != MEDIA_AUDIO_AAC)
        return fail(err, "audio codec not supported over RTP");
    if (ai.sequence_header)
        return ST_OK;
    if (s->body[1] != 1)
        return fail(err, "bad AAC packet type");
    if (s->len == 2)
        return fail(err, "empty AAC frame");
    if (s->len - 2 > AAC_MAX_AU)
        return fail(err, "AAC frame too large for AU-size");
    return run(p, out, rtp_packetizer_timestamp(p, s->dts), NULL, NULL, 0, s->body + 2, s->len - 2, err);
}

void rtp_packetizer_init(struct rtp_packetizer *p, uint8_t payload_type, uint32_t clock_rate, uint32_t ssrc,
                         uint16_t first_seq, uint32_t ts_base, size_t max_payload)
{
    memset(p, 0, sizeof(*p));
    p->payload_type = payload_type & 0x7f;
    p->clock = clock_rate;
    p->ssrc = ssrc;
    p->seq = first_seq;
    p->ts_base = ts_base;
    p->mtu = max_payload < RTP_PACKETIZER_MIN_PAYLOAD   ? RTP_PACKETIZER_MIN_PAYLOAD
             : max_payload > RTP_PACKETIZER_MAX_PAYLOAD ? RTP_PACKETIZER_MAX_PAYLOAD
                                                        : max_payload;
}

uint32_t rtp_packetizer_timestamp(const struct rtp_packetizer *p, int64_t ms)
{
    /* Only the low 32 bits matter, so the whole-second part may wrap in
     * unsigned arithmetic; the sub-second part is exact (< 2^42). */
    uint64_t ticks = (uint64_t)(ms / 1000) * p->clock + (uint64_t)(ms % 1000 * (int64_t)p->clock / 1000);
    return p->ts_base + (uint32_t)ticks;
}
