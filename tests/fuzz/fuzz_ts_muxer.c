/*
 * libFuzzer driver for ts_muxer. Input framing (ours):
 *   flags:u8  bit0 video header, bit1 audio header, bit2 enhanced 'avc1'
 *             video header, bit3 small output cap (exercises roll-back)
 *   [len:u16 bytes]  video header record / raw header (see below)
 *   [len:u16 bytes]  audio header AudioSpecificConfig
 *   then samples until the input ends:
 *     kind:u8  bit0 video (else audio), bit1 key, bit2 add the FLV prefix
 *              (video: frame type, AVC packet type 1, cts from the next 3
 *              bytes; audio: AF 01), bit3 begin a new segment first
 *     dts:u16 (ms steps, accumulated), len:u16, body
 * Header and prefixed bodies get the legacy/enhanced AVC or AAC prefix so
 * most inputs reach the record, NAL and ADTS paths. Every body is an
 * exact-size heap copy so ASan sees any read past its end. Checks: output is
 * whole 0x47 packets, a failed call leaves the output as it was and names a
 * reason, and a second run of the same input gives the same bytes.
 */
#include "core/buf.h"
#include "core/status.h"
#include "hls/ts_muxer.h"

#include <stdlib.h>
#include <string.h>

struct rd {
    const uint8_t *p;
    size_t n;
};

static int take(struct rd *r, size_t k, const uint8_t **out)
{
    if (r->n < k)
        return 0;
    *out = r->p;
    r->p += k;
    r->n -= k;
    return 1;
}

static int take_u16(struct rd *r, size_t *v)
{
    const uint8_t *p;
    if (!take(r, 2, &p))
        return 0;
    *v = (size_t)p[0] << 8 | p[1];
    return 1;
}

/* Exact-size copy of prefix + data. */
static uint8_t *dup2(const uint8_t *pre, size_t pn, const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(pn + n ? pn + n : 1);
    if (!c)
        abort();
    if (pn)
        memcpy(c, pre, pn);
    if (n)
        memcpy(c + pn, p, n);
    return c;
}

static void check_packets(const struct buf *out)
{
    if (out->len % TS_MUXER_PACKET_SIZE)
        abort();
    for (size_t i = 0; i < out->len; i += TS_MUXER_PACKET_SIZE)
        if (out->data[i] != 0x47)
            abort();
}

static void run(const uint8_t *data, size_t size, struct buf *out)
{
    static const uint8_t legacy_hdr[5] = { 0x17, 0, 0, 0, 0 };
    static const uint8_t enhanced_hdr[5] = { 0x90, 'a', 'v', 'c', '1' };
    static const uint8_t aac_hdr[2] = { 0xAF, 0x00 };
    struct rd r = { data, size };
    const uint8_t *flags, *p;
    size_t n;
    uint8_t *vh = NULL, *ah = NULL;
    struct hls_codec_headers h = { 0 };
    struct ts_muxer m;
    const char *err;

    buf_init(out, 1u << 20);
    if (!take(&r, 1, &flags))
        return;
    if ((flags[0] & 1) && take_u16(&r, &n) && take(&r, n, &p)) {
        vh = dup2((flags[0] & 4) ? enhanced_hdr : legacy_hdr, 5, p, n);
        h.video = vh;
        h.video_len = (uint32_t)(5 + n);
    }
    if ((flags[0] & 2) && take_u16(&r, &n) && take(&r, n, &p)) {
        ah = dup2(aac_hdr, 2, p, n);
        h.audio = ah;
        h.audio_len = (uint32_t)(2 + n);
    }
    if (flags[0] & 8)
        out->max = 4 * TS_MUXER_PACKET_SIZE;
    err = NULL;
    if (ts_muxer_begin(&m, &h, &err) != ST_OK) {
        if (!err || m.has_video || m.has_audio)
            abort();
    }
    (void)ts_muxer_write_tables(&m, out);

    uint32_t dts = 0;
    const uint8_t *kind, *d;
    while (take(&r, 1, &kind) && take_u16(&r, &n)) {
        dts += (uint32_t)n;
        if (!take_u16(&r, &n) || !take(&r, n, &d))
            break;
        uint8_t pre[5];
        size_t pn = 0;
        int video = kind[0] & 1, key = (kind[0] >> 1) & 1;
        if (kind[0] & 4) {
            if (video) {
                pre[0] = key ? 0x17 : 0x27;
                pre[1] = 1;
                memcpy(pre + 2, d, n < 3 ? n : 3);
                if (n < 3)
                    memset(pre + 2 + n, 0, 3 - n);
                pn = 5;
                d += n < 3 ? n : 3;
                n -= n < 3 ? n : 3;
            } else {
                pre[0] = 0xAF;
                pre[1] = 1;
                pn = 2;
            }
        }
        if (kind[0] & 8) {
            err = NULL;
            if (ts_muxer_begin(&m, &h, &err) != ST_OK && !err)
                abort();
            (void)ts_muxer_write_tables(&m, out);
        }
        uint8_t *body = dup2(pre, pn, d, n);
        struct hls_sample s = { video ? HLS_SAMPLE_VIDEO : HLS_SAMPLE_AUDIO, (uint8_t)key, dts, body,
                                (uint32_t)(pn + n) };
        size_t before = out->len;
        err = NULL;
        if (ts_muxer_write_sample(&m, out, &s, &err) != ST_OK) {
            if (!err || out->len != before)
                abort();
        }
        free(body);
        if (m.cc_pat > 15 || m.cc_pmt > 15 || m.cc_video > 15 || m.cc_audio > 15)
            abort();
    }
    check_packets(out);
    free(vh);
    free(ah);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf a, b;
    if (size > 1u << 18)
        return 0;
    run(data, size, &a);
    run(data, size, &b);
    if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0))
        abort();
    buf_free(&a);
    buf_free(&b);
    return 0;
}
