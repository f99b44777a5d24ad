/*
 * libFuzzer driver for fmp4_muxer. Input framing (all big-endian):
 *   u8  flags: bit0 video header present, bit1 audio header present,
 *              bit2 tiny output cap (exercises the rollback paths)
 *   u16 video header length, bytes;  u16 audio header length, bytes
 *   u16 end_dts offset from the last dts
 *   samples to the end: u8 kind (bit0 video, bit7 keyframe, 0x7e = bad kind),
 *                       u16 dts delta, u16 length, bytes (cut to what is left)
 * Every header and body is an exact-size heap copy so ASan catches any read
 * past a length. Checks: errors carry a reason and roll the output back;
 * successes are well-formed top-level boxes that tile the output.
 */
#include "core/buf.h"
#include "core/status.h"
#include "hls/fmp4_muxer.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SAMPLES 64

struct in {
    const uint8_t *p;
    size_t left;
};

static uint32_t take(struct in *in, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v <<= 8;
        if (in->left) {
            v |= *in->p++;
            in->left--;
        }
    }
    return v;
}

static uint8_t *take_bytes(struct in *in, size_t n, uint32_t *got)
{
    if (n > in->left)
        n = in->left;
    uint8_t *c = malloc(n ? n : 1);
    if (!c)
        abort();
    if (n)
        memcpy(c, in->p, n);
    in->p += n;
    in->left -= n;
    *got = (uint32_t)n;
    return c;
}

/* Top-level boxes must tile [from, len) exactly, in the given order. */
static void check_boxes(const struct buf *b, size_t from, const char *a, const char *z)
{
    size_t off = from;
    const char *want[2] = { a, z };
    for (int i = 0; i < 2; i++) {
        if (b->len - off < 8)
            abort();
        uint32_t size = rd_be32(b->data + off);
        if (size < 8 || size > b->len - off || memcmp(b->data + off + 4, want[i], 4) != 0)
            abort();
        off += size;
    }
    if (off != b->len)
        abort();
}

static void check_call(int rc, const struct buf *b, size_t before, const char *err, const char *a,
                       const char *z)
{
    if (rc == ST_OK)
        check_boxes(b, before, a, z);
    else if (rc != ST_ERROR || !err || b->len != before)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct in in = { data, size };
    struct hls_codec_headers h = { NULL, 0, NULL, 0 };
    struct hls_sample s[MAX_SAMPLES];
    uint8_t *bodies[MAX_SAMPLES];
    size_t n = 0;

    unsigned flags = take(&in, 1);
    uint32_t vlen, alen;
    uint8_t *v = take_bytes(&in, take(&in, 2), &vlen);
    uint8_t *a = take_bytes(&in, take(&in, 2), &alen);
    if (flags & 1) {
        h.video = v;
        h.video_len = vlen;
    }
    if (flags & 2) {
        h.audio = a;
        h.audio_len = alen;
    }
    uint32_t end_delta = take(&in, 2), dts = 0;
    while (in.left > 0 && n < MAX_SAMPLES) {
        unsigned kind = take(&in, 1);
        dts += take(&in, 2);
        size_t len = take(&in, 2);
        s[n].kind = (kind & 0x7e) == 0x7e ? 7 : (kind & 1) ? HLS_SAMPLE_VIDEO : HLS_SAMPLE_AUDIO;
        s[n].key = (kind & 0x80) != 0;
        s[n].dts = dts;
        bodies[n] = take_bytes(&in, len, &s[n].len);
        s[n].body = bodies[n];
        n++;
    }

    struct buf out;
    const char *err = NULL;
    buf_init(&out, (flags & 4) ? 300 : 1 << 20);
    int rc = fmp4_muxer_init_segment(&out, &h, &err);
    check_call(rc, &out, 0, err, "ftyp", "moov");
    size_t before = out.len;
    err = NULL;
    rc = fmp4_muxer_fragment(&out, &h, 1, s, n, dts + end_delta, &err);
    check_call(rc, &out, before, err, "moof", "mdat");

    buf_free(&out);
    for (size_t i = 0; i < n; i++)
        free(bodies[i]);
    free(v);
    free(a);
    return 0;
}
