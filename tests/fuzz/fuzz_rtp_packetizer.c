/*
 * libFuzzer driver for the RTSP media modules: rtp_packetizer (video and
 * audio), rtsp_sdp and the rtcp_report parser.
 *
 * Input: byte 0 picks the target, byte 1 the payload limit (16 + 8 * b),
 * the rest is the data:
 *   0, 1  video body against a real H.264 / HEVC configuration record
 *   2     video: byte 2 = record length L, then L bytes of sequence-header
 *         body, then the frame body
 *   3     audio body
 *   4     SDP: byte 2 = video header length L, then L bytes, then the audio
 *         header
 *   5     RTCP compound packet
 * Every successful packetization is checked: packet sizes within the limit,
 * RTP header fields, consecutive sequence numbers, one timestamp, marker on
 * the last packet only, and the FU fragments reassemble into the frame's
 * NAL units in order, with only the record's parameter sets added. Each
 * call gets an exact-size heap copy so ASan catches any read past the end.
 */
#include "core/buf.h"
#include "core/status.h"
#include "rtsp/rtcp_report.h"
#include "rtsp/rtp_packetizer.h"
#include "rtsp/rtsp_sdp.h"

#include <stdlib.h>
#include <string.h>

/* tests/data/codec/h264_high_720.bin and hevc_main_1080.bin */
static const uint8_t avc_cfg[] = {
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00, 0x1f, 0xac,
    0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1,
    0x83, 0x19, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd, 0xf8, 0xf8, 0x00,
};
static const uint8_t hevc_cfg[] = {
    0x1c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x78,
    0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03, 0x20, 0x00, 0x01, 0x00, 0x18, 0x40, 0x01, 0x0c,
    0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x78,
    0x95, 0x98, 0x09, 0x21, 0x00, 0x01, 0x00, 0x2a, 0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90,
    0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0xa0, 0x03, 0xc0, 0x80, 0x10, 0xe5, 0x96, 0x56, 0x69, 0x24,
    0xca, 0xf0, 0x16, 0x80, 0x80, 0x00, 0x00, 0x03, 0x00, 0x80, 0x00, 0x00, 0x0c, 0x84, 0x22, 0x00, 0x01, 0x00,
    0x07, 0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40,
};

static uint8_t *dup(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    if (c && n)
        memcpy(c, p, n);
    return c;
}

static int same(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) { return an == bn && !memcmp(a, b, an); }

/* RTP header checks on every packet of one frame. */
static void check_headers(const struct rtp_packetizer *p, const struct rtp_packet_list *l, uint16_t seq0)
{
    uint32_t ts = 0;
    if (l->count && l->offsets[l->count] != l->len + RTP_PACKET_HEADROOM)
        abort();
    for (uint32_t i = 0; i < l->count; i++) {
        size_t n;
        const uint8_t *h = rtp_packet_list_packet(l, i, &n);
        int marker = !!(h[1] & 0x80), last = i + 1 == l->count;
        if (n <= RTP_HEADER_LEN || n > RTP_HEADER_LEN + p->mtu || h[0] != 0x80 || (h[1] & 0x7f) != p->payload_type ||
            rd_be16(h + 2) != (uint16_t)(seq0 + i) || rd_be32(h + 8) != p->ssrc || marker != last)
            abort();
        if (i == 0)
            ts = rd_be32(h + 4);
        else if (rd_be32(h + 4) != ts)
            abort();
    }
}

/* The frame's next NAL unit that can travel over RTP: not empty, and not
 * of a type RFC 6184/7798 use for their own packet structures. */
static int next_nal(const uint8_t *frame, size_t len, const struct rtp_packetizer_params *ps, size_t *off,
                    const uint8_t **nal, size_t *n)
{
    while (*off < len) {
        size_t k = 0;
        for (unsigned i = 0; i < ps->length_size; i++)
            k = k << 8 | frame[*off + i];
        *nal = frame + *off + ps->length_size;
        *n = k;
        *off += ps->length_size + k;
        if (k && ((ps->hevc ? ((*nal)[0] >> 1) & 0x3f : (*nal)[0] & 0x1f) < (ps->hevc ? 48u : 24u)))
            return 1;
    }
    return 0;
}

/* Reassemble the NAL units and match them against the frame's. */
static void check_video(const struct rtp_packet_list *l, const struct rtp_packetizer_params *ps, const uint8_t *frame,
                        size_t frame_len)
{
    struct buf out;
    size_t start = 0, off = 0, fu = 0;
    int in_fu = 0, hevc = ps->hevc;
    buf_init(&out, 1u << 26);
    for (uint32_t i = 0; i < l->count; i++) {
        size_t n;
        const uint8_t *pl = rtp_packet_list_packet(l, i, &n) + RTP_HEADER_LEN;
        n -= RTP_HEADER_LEN;
        unsigned type = hevc ? (pl[0] >> 1) & 0x3f : pl[0] & 0x1f, hdr = hevc ? 2 : 1;
        if (type != (hevc ? 49u : 28u)) {
            if (in_fu || buf_append_be32(&out, (uint32_t)n) || buf_append(&out, pl, n))
                abort();
            continue;
        }
        if (n <= hdr + 1)
            abort();
        uint8_t fh = pl[hdr];
        if (fh & 0x80) {
            if (in_fu || (fh & 0x40))
                abort();
            in_fu = 1;
            fu = out.len;
            uint8_t h2[2] = { (uint8_t)((pl[0] & 0x81) | (fh & 0x3f) << 1), pl[1] };
            uint8_t h1 = (uint8_t)((pl[0] & 0xe0) | (fh & 0x1f));
            if (buf_append_be32(&out, 0) || buf_append(&out, hevc ? h2 : &h1, hdr))
                abort();
        } else if (!in_fu) {
            abort();
        }
        if (buf_append(&out, pl + hdr + 1, n - hdr - 1))
            abort();
        if (fh & 0x40) {
            wr_be32(out.data + fu, (uint32_t)(out.len - fu - 4));
            in_fu = 0;
        }
    }
    if (in_fu)
        abort();
    /* Greedy in-order match of the frame's sendable NAL units; anything
     * else must be one of the record's parameter sets. */
    const uint8_t *want = NULL;
    size_t want_len = 0;
    int have = next_nal(frame, frame_len, ps, &off, &want, &want_len);
    while (start < out.len) {
        size_t n = rd_be32(out.data + start);
        const uint8_t *nal = out.data + start + 4;
        if (have && same(nal, n, want, want_len)) {
            have = next_nal(frame, frame_len, ps, &off, &want, &want_len);
        } else {
            int found = 0;
            for (unsigned i = 0; i < ps->n && !found; i++)
                found = same(nal, n, ps->nal[i], ps->len[i]);
            if (!found)
                abort();
        }
        start += 4 + n;
    }
    if (have)
        abort();
    buf_free(&out);
}

static void run_video(const uint8_t *cfg, size_t cfg_len, const uint8_t *body, size_t len, size_t mtu)
{
    uint8_t *c = dup(cfg, cfg_len), *b = dup(body, len);
    struct hls_codec_headers h = { c, (uint32_t)cfg_len, NULL, 0 };
    struct hls_sample s = { HLS_SAMPLE_VIDEO, 0, 1000, b, (uint32_t)len };
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    struct rtp_packetizer_params ps;
    const char *err = NULL;

    rtp_packetizer_init(&p, 96, 90000, 0x1234, 65500, 0, mtu);
    rtp_packet_list_init(&l, 1u << 26);
    if (rtp_packetizer_video(&p, &h, &s, &l, &err) == ST_OK) {
        check_headers(&p, &l, 65500);
        if (p.seq != (uint16_t)(65500 + l.count))
            abort();
        if (l.count && rtp_packetizer_video_params(&h, &ps, &err) == ST_OK) {
            /* Coded frame data starts at 5 (legacy, CodedFramesX) or 8
             * (enhanced CodedFrames). */
            size_t data = (b[0] & 0x80) && (b[0] & 0x0f) == 1 ? 8 : 5;
            check_video(&l, &ps, b + data, len - data);
        }
    } else if (!err || l.count || p.seq != 65500) {
        abort();
    }
    rtp_packet_list_free(&l);
    free(c);
    free(b);
}

static void run_audio(const uint8_t *body, size_t len, size_t mtu)
{
    uint8_t *b = dup(body, len);
    struct hls_sample s = { HLS_SAMPLE_AUDIO, 0, 1000, b, (uint32_t)len };
    struct rtp_packetizer p;
    struct rtp_packet_list l;
    const char *err = NULL;

    rtp_packetizer_init(&p, 97, 44100, 0x1234, 1, 0, mtu);
    rtp_packet_list_init(&l, 1u << 20);
    if (rtp_packetizer_audio(&p, NULL, &s, &l, &err) == ST_OK) {
        check_headers(&p, &l, 1);
        size_t total = 0;
        for (uint32_t i = 0; i < l.count; i++) {
            size_t n;
            const uint8_t *pl = rtp_packet_list_packet(&l, i, &n) + RTP_HEADER_LEN;
            if (rd_be16(pl) != 16 || (size_t)(rd_be16(pl + 2) >> 3) != len - 2 ||
                memcmp(pl + 4, b + 2 + total, n - RTP_HEADER_LEN - 4))
                abort();
            total += n - RTP_HEADER_LEN - 4;
        }
        if (l.count && total != len - 2)
            abort();
    } else if (!err || l.count) {
        abort();
    }
    rtp_packet_list_free(&l);
    free(b);
}

static void run_sdp(const uint8_t *d, size_t n)
{
    if (n < 1)
        return;
    size_t vl = d[0] < n - 1 ? d[0] : n - 1;
    uint8_t *v = dup(d + 1, vl), *a = dup(d + 1 + vl, n - 1 - vl);
    struct hls_codec_headers h = { vl ? v : NULL, (uint32_t)vl, n - 1 - vl ? a : NULL, (uint32_t)(n - 1 - vl) };
    struct buf out;
    buf_init(&out, 1u << 20);
    unsigned tracks = rtsp_sdp_tracks(&h);
    int rc = rtsp_sdp_build(&out, &h, "192.0.2.1", 1, "fuzz", 96, 97);
    if ((rc == ST_OK) != (tracks != 0) || (rc != ST_OK && out.len))
        abort();
    /* No line may be broken by the input: every CR is followed by LF. */
    for (size_t i = 0; i < out.len; i++)
        if ((out.data[i] == '\r') != (i + 1 < out.len && out.data[i + 1] == '\n') ||
            (out.data[i] == '\n') != (i > 0 && out.data[i - 1] == '\r') || out.data[i] == 0)
            abort();
    buf_free(&out);
    free(v);
    free(a);
}

static void run_rtcp(const uint8_t *d, size_t n)
{
    uint8_t *c = dup(d, n);
    struct rtcp_report_info info;
    const char *err = NULL;
    if (rtcp_report_parse(c, n, &info, &err) == ST_OK) {
        if (n % 4 || info.count == 0 || info.count > n / 4 || info.kinds == 0)
            abort();
    } else if (!err) {
        abort();
    }
    free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > (1u << 20))
        return 0;
    size_t mtu = 16 + (size_t)data[1] * 8;
    const uint8_t *d = data + 2;
    size_t n = size - 2;
    switch (data[0] % 6) {
    case 0:
        run_video(avc_cfg, sizeof(avc_cfg), d, n, mtu);
        break;
    case 1:
        run_video(hevc_cfg, sizeof(hevc_cfg), d, n, mtu);
        break;
    case 2:
        if (n >= 1 && d[0] <= n - 1)
            run_video(d + 1, d[0], d + 1 + d[0], n - 1 - d[0], mtu);
        break;
    case 3:
        run_audio(d, n, mtu);
        break;
    case 4:
        run_sdp(d, n);
        break;
    default:
        run_rtcp(d, n);
        break;
    }
    return 0;
}
