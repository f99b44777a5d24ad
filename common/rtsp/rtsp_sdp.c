#include "rtsp/rtsp_sdp.h"
#include "core/status.h"
#include "media/media_codec.h"
#include "rtsp/rtp_packetizer.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { HEVC_NAL_VPS = 32, HEVC_NAL_SPS = 33, HEVC_NAL_PPS = 34 };
enum { AVC_NAL_SPS = 7, AVC_NAL_PPS = 8 };

/* Formatted append; every line we format is short (names are bounded by the
 * caller's strings, which are appended separately). */
static int put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put(struct buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return ST_ERROR;
    return buf_append(b, tmp, (size_t)n);
}

static int put_str(struct buf *b, const char *s) { return buf_append(b, s, strlen(s)); }

static int put_base64(struct buf *b, const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (buf_reserve(b, (n + 2) / 3 * 4) != ST_OK)
        return ST_ERROR;
    char *w = (char *)b->data + b->len;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0u);
        *w++ = tab[v >> 18];
        *w++ = tab[(v >> 12) & 63];
        *w++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *w++ = i + 2 < n ? tab[v & 63] : '=';
    }
    b->len = (size_t)((uint8_t *)w - b->data);
    return ST_OK;
}

static int put_hex(struct buf *b, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (put(b, "%02X", p[i]) != ST_OK)
            return ST_ERROR;
    return ST_OK;
}

/* Parameter sets of one NAL type as a comma-separated base64 list; *any
 * tells whether there was at least one. */
static int put_params(struct buf *b, const struct rtp_packetizer_params *ps, unsigned type, int *any)
{
    *any = 0;
    for (unsigned i = 0; i < ps->n; i++) {
        unsigned t = ps->hevc ? (ps->nal[i][0] >> 1) & 0x3fu : ps->nal[i][0] & 0x1fu;
        if (t != type)
            continue;
        if ((*any && buf_append_u8(b, ',') != ST_OK) || put_base64(b, ps->nal[i], ps->len[i]) != ST_OK)
            return ST_ERROR;
        *any = 1;
    }
    return ST_OK;
}

/* The first NAL unit of a type, or NULL. */
static const uint8_t *find_param(const struct rtp_packetizer_params *ps, unsigned type, size_t *len)
{
    for (unsigned i = 0; i < ps->n; i++) {
        unsigned t = ps->hevc ? (ps->nal[i][0] >> 1) & 0x3fu : ps->nal[i][0] & 0x1fu;
        if (t == type) {
            *len = ps->len[i];
            return ps->nal[i];
        }
    }
    return NULL;
}

/* The parameter sets a decoder needs are all there. */
static int video_usable(const struct hls_codec_headers *h, struct rtp_packetizer_params *ps)
{
    size_t n;
    if (rtp_packetizer_video_params(h, ps, NULL) != ST_OK)
        return 0;
    if (ps->hevc)
        return find_param(ps, HEVC_NAL_VPS, &n) && find_param(ps, HEVC_NAL_SPS, &n) &&
               find_param(ps, HEVC_NAL_PPS, &n);
    const uint8_t *sps = find_param(ps, AVC_NAL_SPS, &n);
    return sps && n >= 4 && find_param(ps, AVC_NAL_PPS, &n);
}

static int audio_usable(const struct hls_codec_headers *h, struct media_audio_config *ac)
{
    return h && h->audio && media_codec_parse_audio_config(h->audio, h->audio_len, ac, NULL) == ST_OK &&
           ac->sample_rate > 0;
}

unsigned rtsp_sdp_tracks(const struct hls_codec_headers *h)
{
    struct rtp_packetizer_params ps;
    struct media_audio_config ac;
    return (video_usable(h, &ps) ? RTSP_SDP_VIDEO : 0) | (audio_usable(h, &ac) ? RTSP_SDP_AUDIO : 0);
}

static int put_video(struct buf *b, const struct rtp_packetizer_params *ps, unsigned pt)
{
    int any;
    if (put(b, "m=video 0 RTP/AVP %u\r\n", pt) != ST_OK)
        return ST_ERROR;
    if (ps->hevc) {
        if (put(b, "a=rtpmap:%u H265/90000\r\na=fmtp:%u sprop-vps=", pt, pt) != ST_OK ||
            put_params(b, ps, HEVC_NAL_VPS, &any) != ST_OK || put_str(b, ";sprop-sps=") != ST_OK ||
            put_params(b, ps, HEVC_NAL_SPS, &any) != ST_OK || put_str(b, ";sprop-pps=") != ST_OK ||
            put_params(b, ps, HEVC_NAL_PPS, &any) != ST_OK)
            return ST_ERROR;
    } else {
        size_t n;
        const uint8_t *sps = find_param(ps, AVC_NAL_SPS, &n);
        if (put(b, "a=rtpmap:%u H264/90000\r\na=fmtp:%u packetization-mode=1;profile-level-id=%02X%02X%02X"
                   ";sprop-parameter-sets=",
                pt, pt, sps[1], sps[2], sps[3]) != ST_OK ||
            put_params(b, ps, AVC_NAL_SPS, &any) != ST_OK || buf_append_u8(b, ',') != ST_OK ||
            put_params(b, ps, AVC_NAL_PPS, &any) != ST_OK)
            return ST_ERROR;
    }
    return put_str(b, "\r\na=control:trackID=0\r\n");
}

static int put_audio(struct buf *b, const struct hls_codec_headers *h, const struct media_audio_config *ac,
                     unsigned pt)
{
    if (put(b, "m=audio 0 RTP/AVP %u\r\na=rtpmap:%u mpeg4-generic/%u", pt, pt, ac->sample_rate) != ST_OK)
        return ST_ERROR;
    if (ac->channels && put(b, "/%u", ac->channels) != ST_OK)
        return ST_ERROR;
    if (put(b, "\r\na=fmtp:%u streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;"
               "indexdeltalength=3;config=",
            pt) != ST_OK ||
        put_hex(b, h->audio + 2, h->audio_len - 2) != ST_OK)
        return ST_ERROR;
    return put_str(b, "\r\na=control:trackID=1\r\n");
}

/* Nothing that would end or corrupt an SDP line: no control characters,
 * and (for tokens such as the address) no spaces. */
static int text_ok(const char *s, int token)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f || (token && c == ' '))
            return 0;
    }
    return 1;
}

int rtsp_sdp_build(struct buf *out, const struct hls_codec_headers *h, const char *origin_addr,
                   uint64_t session_id, const char *stream_name, uint8_t video_pt, uint8_t audio_pt)
{
    struct rtp_packetizer_params ps;
    struct media_audio_config ac;
    size_t start = out->len;
    int video = video_usable(h, &ps), audio = audio_usable(h, &ac);

    if (!video && !audio)
        return ST_ERROR;
    if (!origin_addr || !*origin_addr || !text_ok(origin_addr, 1) || (stream_name && !text_ok(stream_name, 0)))
        return ST_ERROR;
    if (video_pt > 127 || audio_pt > 127)
        return ST_ERROR;
    if (!stream_name || !*stream_name)
        stream_name = " ";

    if (put(out, "v=0\r\no=- %" PRIu64 " %" PRIu64 " IN %s ", session_id, session_id,
            strchr(origin_addr, ':') ? "IP6" : "IP4") != ST_OK ||
        put_str(out, origin_addr) != ST_OK || put_str(out, "\r\ns=") != ST_OK || put_str(out, stream_name) != ST_OK ||
        put_str(out, "\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\na=control:*\r\n") != ST_OK)
        goto fail;
    if (video && put_video(out, &ps, video_pt) != ST_OK)
        goto fail;
    if (audio && put_audio(out, h, &ac, audio_pt) != ST_OK)
        goto fail;
    return ST_OK;
fail:
    out->len = start;
    return ST_ERROR;
}
