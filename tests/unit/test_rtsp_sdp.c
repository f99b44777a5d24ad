/*
 * rtsp_sdp: the exact SDP for the real ffmpeg FLV (H.264 + HE-AAC) and for
 * real x265 records (expected base64 computed independently, and matching
 * what ffmpeg's own RTP muxer writes for the same FLV), single-track
 * streams, base64 padding at every length mod 3, which tracks are
 * described, bad arguments, and every cap below the needed size (the buf
 * must stay exactly as it was).
 */
#include <criterion/criterion.h>

#include "test_data.h"

#include "core/buf.h"
#include "core/status.h"
#include "rtsp/rtsp_sdp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SC_TEST_DATA
#define SC_TEST_DATA "tests/data"
#endif


/* The sequence headers of tests/data/codec/h264_aac_160x120.flv (FLV
 * header, then PreviousTagSize + 11-byte tag header + body). */
struct flv_headers {
    uint8_t *file;
    struct hls_codec_headers h;
};

static void flv_headers(struct flv_headers *f)
{
    size_t len, off = 13;
    f->file = test_data_load("codec/h264_aac_160x120.flv", &len);
    memset(&f->h, 0, sizeof(f->h));
    while (off + 11 <= len) {
        const uint8_t *t = f->file + off;
        uint32_t n = rd_be24(t + 1);
        cr_assert_leq(off + 11 + n, len);
        if (t[0] == 9 && n > 1 && t[12] == 0 && !f->h.video) {
            f->h.video = t + 11;
            f->h.video_len = n;
        }
        if (t[0] == 8 && n > 1 && t[12] == 0 && !f->h.audio) {
            f->h.audio = t + 11;
            f->h.audio_len = n;
        }
        off += 11 + n + 4;
    }
    cr_assert_not_null(f->h.video);
    cr_assert_not_null(f->h.audio);
}

static void assert_text(const struct buf *b, const char *want)
{
    cr_assert_eq(b->len, strlen(want), "got %zu bytes:\n%.*s\nwant:\n%s", b->len, (int)b->len, (const char *)b->data,
                 want);
    cr_assert_eq(memcmp(b->data, want, b->len), 0, "got:\n%.*s\nwant:\n%s", (int)b->len, (const char *)b->data,
                 want);
}

#define HEAD(addr, name)                                                                                            \
    "v=0\r\no=- 1234567890123 1234567890123 IN IP4 " addr "\r\ns=" name                                             \
    "\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\na=control:*\r\n"
#define FLV_VIDEO                                                                                                   \
    "m=video 0 RTP/AVP 96\r\n"                                                                                      \
    "a=rtpmap:96 H264/90000\r\n"                                                                                    \
    "a=fmtp:96 packetization-mode=1;profile-level-id=42C00B;"                                                       \
    "sprop-parameter-sets=Z0LAC9oKEflwEQAAAwABAAADADIPFCqg,aM4PyA==\r\n"                                            \
    "a=control:trackID=0\r\n"
#define FLV_AUDIO                                                                                                   \
    "m=audio 0 RTP/AVP 97\r\n"                                                                                      \
    "a=rtpmap:97 mpeg4-generic/22050/2\r\n"                                                                         \
    "a=fmtp:97 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;"                          \
    "indexdeltalength=3;config=139056E500\r\n"                                                                      \
    "a=control:trackID=1\r\n"

#define SID 1234567890123ull

Test(rtsp_sdp, real_flv_exact)
{
    struct flv_headers f;
    struct buf b;
    flv_headers(&f);
    buf_init(&b, 4096);
    cr_assert_eq(rtsp_sdp_tracks(&f.h), RTSP_SDP_VIDEO | RTSP_SDP_AUDIO);
    cr_assert_eq(rtsp_sdp_build(&b, &f.h, "192.0.2.1", SID, "live/bars", 96, 97), ST_OK);
    assert_text(&b, HEAD("192.0.2.1", "live/bars") FLV_VIDEO FLV_AUDIO);
    buf_free(&b);
    free(f.file);
}

Test(rtsp_sdp, single_tracks_keep_their_ids)
{
    struct flv_headers f;
    struct buf b;
    flv_headers(&f);
    buf_init(&b, 4096);

    struct hls_codec_headers v = f.h;
    v.audio = NULL;
    v.audio_len = 0;
    cr_assert_eq(rtsp_sdp_tracks(&v), RTSP_SDP_VIDEO);
    cr_assert_eq(rtsp_sdp_build(&b, &v, "192.0.2.1", SID, "live/bars", 96, 97), ST_OK);
    assert_text(&b, HEAD("192.0.2.1", "live/bars") FLV_VIDEO);

    struct hls_codec_headers a = f.h;
    a.video = NULL;
    a.video_len = 0;
    buf_reset(&b);
    cr_assert_eq(rtsp_sdp_tracks(&a), RTSP_SDP_AUDIO);
    cr_assert_eq(rtsp_sdp_build(&b, &a, "192.0.2.1", SID, "live/bars", 96, 97), ST_OK);
    assert_text(&b, HEAD("192.0.2.1", "live/bars") FLV_AUDIO);

    struct hls_codec_headers none = { 0 };
    buf_reset(&b);
    cr_assert_eq(rtsp_sdp_tracks(&none), 0);
    cr_assert_eq(rtsp_sdp_tracks(NULL), 0);
    cr_assert_eq(rtsp_sdp_build(&b, &none, "192.0.2.1", SID, "x", 96, 97), ST_ERROR);
    cr_assert_eq(b.len, 0);
    buf_free(&b);
    free(f.file);
}

Test(rtsp_sdp, hevc_exact)
{
    static const struct {
        const char *file;
        const char *fmtp;
    } cases[] = {
        { "codec/hevc_main_1080.bin",
          "a=fmtp:96 sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwB4lZgJ;"
          "sprop-sps=QgEBAWAAAAMAkAAAAwAAAwB4oAPAgBDlllZpJMrwFoCAAAADAIAAAAyE;sprop-pps=RAHBcrRiQA==\r\n" },
        { "codec/hevc_main_720_2layers.bin",
          "a=fmtp:96 sprop-vps=QAEMAv//AWAAAAMAkAAAAwAAAwBdAACVmKzASA==;"
          "sprop-sps=QgECAWAAAAMAkAAAAwAAAwBdAACgAoCALRZZWYrNJJleAtAQAAADABAAAAMBkIA=;sprop-pps=RAHBcrRiQA==\r\n" },
        { "codec/hevc_rext444_642x362.enhanced.bin",
          "a=fmtp:96 sprop-vps=QAEMAf//BAgAAAMAnggAAAMAAD+VmAk=;"
          "sprop-sps=QgEBBAgAAAMAnggAAAMAAD+QAKJALjnnyys0kmV4C0BAAAADAEAAAAZC;sprop-pps=RAHBcoYMRiQ=\r\n" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len;
        uint8_t *cfg = test_data_load(cases[i].file, &len);
        struct hls_codec_headers h = { cfg, (uint32_t)len, NULL, 0 };
        struct buf b, want;
        buf_init(&b, 4096);
        buf_init(&want, 4096);
        cr_assert_eq(rtsp_sdp_build(&b, &h, "10.0.0.1", 7, "hevc", 96, 97), ST_OK, "%s", cases[i].file);
        const char *head = "v=0\r\no=- 7 7 IN IP4 10.0.0.1\r\ns=hevc\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
                           "a=control:*\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\n";
        cr_assert_eq(buf_append(&want, head, strlen(head)), ST_OK);
        cr_assert_eq(buf_append(&want, cases[i].fmtp, strlen(cases[i].fmtp)), ST_OK);
        cr_assert_eq(buf_append(&want, "a=control:trackID=0\r\n", 21), ST_OK);
        cr_assert_eq(buf_append_u8(&want, 0), ST_OK);
        assert_text(&b, (const char *)want.data);
        buf_free(&b);
        buf_free(&want);
        free(cfg);
    }
}

Test(rtsp_sdp, aac_mono_48k)
{
    size_t len;
    uint8_t *cfg = test_data_load("codec/aac_lc_48000_mono.bin", &len);
    struct hls_codec_headers h = { NULL, 0, cfg, (uint32_t)len };
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(rtsp_sdp_build(&b, &h, "10.0.0.1", 1, "a", 96, 100), ST_OK);
    const char *want = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=a\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\na=control:*\r\n"
                       "m=audio 0 RTP/AVP 100\r\na=rtpmap:100 mpeg4-generic/48000/1\r\n"
                       "a=fmtp:100 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;"
                       "indexdeltalength=3;config=118856E500\r\na=control:trackID=1\r\n";
    assert_text(&b, want);

    /* channelConfiguration 0 (a PCE): the channel count is left out. */
    static const uint8_t pce[] = { 0xaf, 0, 0x11, 0x80 };
    struct hls_codec_headers hp = { NULL, 0, pce, sizeof(pce) };
    buf_reset(&b);
    cr_assert_eq(rtsp_sdp_build(&b, &hp, "10.0.0.1", 1, "a", 96, 97), ST_OK);
    cr_assert_not_null(memmem(b.data, b.len, "mpeg4-generic/48000\r\n", 21));
    cr_assert_not_null(memmem(b.data, b.len, "config=1180\r\n", 13));
    buf_free(&b);
    free(cfg);
}

/* Built records: SPS of 4, 5 and 6 bytes cover all base64 paddings, and
 * several SPS/PPS are all listed in record order. */
Test(rtsp_sdp, base64_padding_and_lists)
{
    static const struct {
        uint8_t body[40];
        size_t len;
        const char *fmtp;
    } cases[] = {
        { { 0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 1, 0x68 }, 21,
          "profile-level-id=64001F;sprop-parameter-sets=Z2QAHw==,aA==\r\n" },
        { { 0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 5, 0x67, 0x64, 0, 0x1f, 0xac, 1, 0, 1, 0x68 }, 22,
          "profile-level-id=64001F;sprop-parameter-sets=Z2QAH6w=,aA==\r\n" },
        { { 0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 6, 0x67, 0x64, 0, 0x1f, 0xac, 0xd9, 1, 0, 1, 0x68 },
          23, "profile-level-id=64001F;sprop-parameter-sets=Z2QAH6zZ,aA==\r\n" },
        { { 0x17, 0, 0, 0, 0, 1, 0x4d, 0x40, 0x28, 0xff, 0xe2, 0, 4, 0x67, 0x4d, 0x40, 0x28, 0, 4, 0x67, 0x64, 0,
            0x1f, 2, 0, 1, 0x68, 0, 1, 0x68 },
          30, "profile-level-id=4D4028;sprop-parameter-sets=Z01AKA==,Z2QAHw==,aA==,aA==\r\n" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hls_codec_headers h = { cases[i].body, (uint32_t)cases[i].len, NULL, 0 };
        struct buf b;
        buf_init(&b, 4096);
        cr_assert_eq(rtsp_sdp_build(&b, &h, "h", 1, "s", 96, 97), ST_OK, "case %zu", i);
        cr_assert_not_null(memmem(b.data, b.len, cases[i].fmtp, strlen(cases[i].fmtp)), "case %zu:\n%.*s", i,
                           (int)b.len, (const char *)b.data);
        buf_free(&b);
    }
}

Test(rtsp_sdp, tracks_that_cannot_be_described_are_left_out)
{
    struct flv_headers f;
    flv_headers(&f);
    struct hls_codec_headers h = f.h;

    /* Truncated video record, AV1, MP3, an AAC frame instead of a header. */
    h.video_len = 12;
    cr_assert_eq(rtsp_sdp_tracks(&h), RTSP_SDP_AUDIO);
    static const uint8_t av1[] = { 0x90, 'a', 'v', '0', '1', 0x81, 0, 0, 0 };
    h.video = av1;
    h.video_len = sizeof(av1);
    cr_assert_eq(rtsp_sdp_tracks(&h), RTSP_SDP_AUDIO);
    static const uint8_t mp3[] = { 0x2f, 0xff, 0xfb, 0x90 };
    h.audio = mp3;
    h.audio_len = sizeof(mp3);
    cr_assert_eq(rtsp_sdp_tracks(&h), 0);
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(rtsp_sdp_build(&b, &h, "192.0.2.1", 1, "x", 96, 97), ST_ERROR);
    static const uint8_t raw[] = { 0xaf, 1, 0x21, 0x10 };
    h.audio = raw;
    h.audio_len = sizeof(raw);
    cr_assert_eq(rtsp_sdp_tracks(&h), 0);

    /* AVC record without PPS, or with an SPS too short for profile-level-id. */
    static const uint8_t no_pps[] = { 0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 0 };
    struct hls_codec_headers v = { no_pps, sizeof(no_pps), NULL, 0 };
    cr_assert_eq(rtsp_sdp_tracks(&v), 0);
    static const uint8_t short_sps[] = { 0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 3, 0x67, 0x64, 0, 1, 0, 1,
                                         0x68 };
    v.video = short_sps;
    v.video_len = sizeof(short_sps);
    cr_assert_eq(rtsp_sdp_tracks(&v), 0);
    buf_free(&b);
    free(f.file);
}

Test(rtsp_sdp, origin_and_name)
{
    struct flv_headers f;
    struct buf b;
    flv_headers(&f);
    buf_init(&b, 4096);
    cr_assert_eq(rtsp_sdp_build(&b, &f.h, "2001:db8::1", 5, NULL, 96, 97), ST_OK);
    static const char v6[] = "v=0\r\no=- 5 5 IN IP6 2001:db8::1\r\ns= \r\nc=IN IP4 0.0.0.0\r\n";
    cr_assert_eq(memcmp(b.data, v6, strlen(v6)), 0, "%.*s", (int)b.len, (const char *)b.data);
    buf_reset(&b);
    cr_assert_eq(rtsp_sdp_build(&b, &f.h, "h", 5, "", 96, 97), ST_OK);
    cr_assert_not_null(memmem(b.data, b.len, "\r\ns= \r\n", 7));
    buf_reset(&b);
    cr_assert_eq(rtsp_sdp_build(&b, &f.h, "h", 5, "caf\xc3\xa9 live", 96, 97), ST_OK, "UTF-8 and spaces in s=");
    static const char utf8[] = "\r\ns=caf\xc3\xa9 live\r\n";
    cr_assert_not_null(memmem(b.data, b.len, utf8, strlen(utf8)));

    /* Rejected, with the buffer left as it was. */
    cr_assert_eq(buf_append(&b, "keep", 4), ST_OK);
    size_t before = b.len;
    static const struct {
        const char *addr, *name;
        unsigned vpt, apt;
    } bad[] = {
        { NULL, "x", 96, 97 },  { "", "x", 96, 97 },        { "a b", "x", 96, 97 }, { "a\r\n", "x", 96, 97 },
        { "h", "x\r\na=evil", 96, 97 }, { "h", "x\n", 96, 97 }, { "h", "x\x7f", 96, 97 }, { "h", "x", 128, 97 },
        { "h", "x", 96, 200 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(rtsp_sdp_build(&b, &f.h, bad[i].addr, 1, bad[i].name, (uint8_t)bad[i].vpt, (uint8_t)bad[i].apt),
                     ST_ERROR, "case %zu", i);
        cr_assert_eq(b.len, before, "case %zu", i);
        cr_assert_eq(memcmp(b.data + before - 4, "keep", 4), 0);
    }
    buf_free(&b);
    free(f.file);
}

Test(rtsp_sdp, every_cap_below_the_size_fails_cleanly)
{
    struct flv_headers f;
    struct buf b;
    flv_headers(&f);
    buf_init(&b, 4096);
    cr_assert_eq(rtsp_sdp_build(&b, &f.h, "192.0.2.1", SID, "live/bars", 96, 97), ST_OK);
    size_t need = b.len;
    buf_free(&b);
    for (size_t cap = 0; cap <= need; cap++) {
        buf_init(&b, cap + 3);
        cr_assert_eq(buf_append(&b, "pre", 3), ST_OK);
        int rc = rtsp_sdp_build(&b, &f.h, "192.0.2.1", SID, "live/bars", 96, 97);
        if (cap < need) {
            cr_assert_eq(rc, ST_ERROR, "cap %zu", cap);
            cr_assert_eq(b.len, 3, "cap %zu", cap);
        } else {
            cr_assert_eq(rc, ST_OK);
            cr_assert_eq(b.len, need + 3);
            cr_assert_eq(memcmp(b.data, "prev=0\r\n", 8), 0);
        }
        buf_free(&b);
    }
    free(f.file);
}
