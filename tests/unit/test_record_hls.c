/*
 * record_hls: segment boundaries at index entries of about the target
 * length (longer when keyframes are sparse), the VOD playlist text, segment
 * muxing (whole TS packets, both PIDs, self-contained), bounds and errors.
 */
#include <criterion/criterion.h>

#include "core/buf.h"
#include "core/status.h"
#include "flv/flv_tag.h"
#include "hls/ts_muxer.h"
#include "record/record_hls.h"

#include <stdio.h>
#include <string.h>

#ifndef SC_TEST_DATA
#define SC_TEST_DATA "tests/data"
#endif

static const uint8_t vhdr[] = {0x17, 0x00, 0, 0, 0, 0x01, 0x42, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x04,
                               0x67, 0x42, 0x00, 0x1e, 0x01, 0x00, 0x02, 0x68, 0xce};
static const uint8_t ahdr[] = {0xaf, 0x00, 0x12, 0x10};
static const uint8_t key[] = {0x17, 0x01, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88};
static const uint8_t inter[] = {0x27, 0x01, 0, 0, 0, 0, 0, 0, 2, 0x41, 0x9a};
static const uint8_t aac[] = {0xaf, 0x01, 0x21, 0x10, 0x04};

static struct buf file;
static struct flv_file_reader r;

/* ms of 25 fps video with a keyframe every key_ms, and audio. */
static void make(uint32_t ms, uint32_t key_ms)
{
    buf_init(&file, 1 << 22);
    flv_tag_write_header(&file, 1, 1);
    flv_tag_write(&file, 8, 0, ahdr, sizeof(ahdr));
    flv_tag_write(&file, 9, 0, vhdr, sizeof(vhdr));
    for (uint32_t t = 0; t < ms; t += 40) {
        flv_tag_write(&file, 9, t, t % key_ms ? inter : key, sizeof(key));
        flv_tag_write(&file, 8, t, aac, sizeof(aac));
    }
    cr_assert_eq(flv_file_reader_open_mem(&r, file.data, file.len, 1 << 20, 1024), ST_OK);
    cr_assert_eq(flv_file_reader_scan(&r, 0), ST_OK);
}

static void done(void)
{
    flv_file_reader_close(&r);
    buf_free(&file);
}

Test(record_hls, segments_at_target, .fini = done)
{
    make(10000, 1000);
    cr_assert_eq(record_hls_count(&r, 4000), 3);
    struct record_hls_segment s;
    uint32_t want[][2] = {{0, 4000}, {4000, 4000}, {8000, 1960}};
    for (uint32_t i = 0; i < 3; i++) {
        cr_assert_eq(record_hls_segment_at(&r, 4000, i, &s), ST_OK);
        cr_assert_eq(s.ts, want[i][0]);
        cr_assert_eq(s.duration, want[i][1]);
        cr_assert_eq(s.start, r.keys[i * 4].offset);
        cr_assert_eq(s.end, i < 2 ? r.keys[(i + 1) * 4].offset : r.end);
    }
    cr_assert_eq(record_hls_segment_at(&r, 4000, 3, &s), ST_DONE);
    cr_assert_eq(record_hls_segment_at(&r, 4000, UINT32_MAX, &s), ST_DONE);
    cr_assert_eq(record_hls_count(&r, 1000), 10);
    cr_assert_eq(record_hls_count(&r, 100000), 1);
}

Test(record_hls, playlist_text, .fini = done)
{
    make(10000, 1000);
    struct buf b;
    buf_init(&b, 65536);
    cr_assert_eq(record_hls_playlist(&r, 4000, "cam-1/", &b), ST_OK);
    buf_append_u8(&b, 0);
    cr_assert_str_eq((char *)b.data, "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:4\n"
                                     "#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:4.000,\ncam-1/0.ts\n#EXTINF:4.000,\ncam-1/1.ts\n"
                                     "#EXTINF:1.960,\ncam-1/2.ts\n#EXT-X-ENDLIST\n");
    buf_free(&b);
    buf_init(&b, 64);
    cr_assert_eq(record_hls_playlist(&r, 4000, "cam-1/", &b), ST_ERROR, "over the output cap");
    buf_free(&b);
}

Test(record_hls, sparse_keyframes, .fini = done)
{
    make(12000, 5000);
    cr_assert_eq(record_hls_count(&r, 2000), 3);
    struct buf b;
    buf_init(&b, 65536);
    cr_assert_eq(record_hls_playlist(&r, 2000, "", &b), ST_OK);
    buf_append_u8(&b, 0);
    cr_assert_not_null(strstr((char *)b.data, "#EXT-X-TARGETDURATION:5\n"), "%s", b.data);
    cr_assert_not_null(strstr((char *)b.data, "#EXTINF:5.000,\n0.ts\n#EXTINF:5.000,\n1.ts\n#EXTINF:1.960,\n2.ts\n"));
    buf_free(&b);
}

static int has_pid(const struct buf *b, unsigned pid)
{
    for (size_t off = 0; off + 188 <= b->len; off += 188)
        if ((((unsigned)b->data[off + 1] & 0x1f) << 8 | b->data[off + 2]) == pid)
            return 1;
    return 0;
}

Test(record_hls, segment_mux, .fini = done)
{
    make(10000, 1000);
    for (uint32_t i = 0; i < 3; i++) {
        struct buf b;
        buf_init(&b, 4 << 20);
        const char *err = "unset";
        cr_assert_eq(record_hls_segment(&r, 4000, i, &b, &err), ST_OK, "%s", err);
        cr_assert_gt(b.len, 188 * 3);
        cr_assert_eq(b.len % 188, 0);
        for (size_t off = 0; off < b.len; off += 188)
            cr_assert_eq(b.data[off], 0x47);
        cr_assert(has_pid(&b, TS_MUXER_PID_PAT) && has_pid(&b, TS_MUXER_PID_PMT));
        cr_assert(has_pid(&b, TS_MUXER_PID_VIDEO) && has_pid(&b, TS_MUXER_PID_AUDIO));
        cr_assert_eq(b.data[1] & 0x1f, 0, "a segment opens with its own PAT");
        buf_free(&b);
    }
    struct buf b;
    buf_init(&b, 4 << 20);
    const char *err;
    cr_assert_eq(record_hls_segment(&r, 4000, 3, &b, &err), ST_DONE);
    cr_assert_eq(b.len, 0);
    buf_free(&b);
    buf_init(&b, 1000);
    err = NULL;
    cr_assert_eq(record_hls_segment(&r, 4000, 0, &b, &err), ST_ERROR, "over the output cap");
    cr_assert_not_null(err);
    buf_free(&b);
}

Test(record_hls, no_index_no_segments)
{
    buf_init(&file, 4096);
    flv_tag_write_header(&file, 1, 1);
    flv_tag_write(&file, 9, 0, vhdr, sizeof(vhdr));
    cr_assert_eq(flv_file_reader_open_mem(&r, file.data, file.len, 1 << 20, 16), ST_OK);
    cr_assert_eq(flv_file_reader_scan(&r, 0), ST_OK);
    cr_assert_eq(record_hls_count(&r, 4000), 0);
    struct buf b;
    buf_init(&b, 4096);
    const char *err;
    cr_assert_eq(record_hls_segment(&r, 4000, 0, &b, &err), ST_DONE);
    cr_assert_eq(record_hls_playlist(&r, 4000, "", &b), ST_OK);
    buf_append_u8(&b, 0);
    cr_assert_null(strstr((char *)b.data, "#EXTINF"));
    cr_assert_not_null(strstr((char *)b.data, "#EXT-X-ENDLIST"));
    buf_free(&b);
    done();
}

Test(record_hls, bad_codec_header_is_an_error)
{
    static const uint8_t broken[] = {0x17, 0x00, 0, 0, 0, 0x01, 0x42};
    buf_init(&file, 4096);
    flv_tag_write_header(&file, 0, 1);
    flv_tag_write(&file, 9, 0, broken, sizeof(broken));
    flv_tag_write(&file, 9, 0, key, sizeof(key));
    cr_assert_eq(flv_file_reader_open_mem(&r, file.data, file.len, 1 << 20, 16), ST_OK);
    cr_assert_eq(flv_file_reader_scan(&r, 0), ST_OK);
    struct buf b;
    buf_init(&b, 65536);
    const char *err = NULL;
    cr_assert_eq(record_hls_segment(&r, 4000, 0, &b, &err), ST_ERROR);
    cr_assert_not_null(err);
    buf_free(&b);
    done();
}

Test(record_hls, real_ffmpeg_file)
{
    cr_assert_eq(flv_file_reader_open(&r, SC_TEST_DATA "/codec/h264_aac_160x120.flv", 1 << 20, 64), ST_OK);
    cr_assert_eq(flv_file_reader_scan(&r, 0), ST_OK);
    cr_assert_eq(record_hls_count(&r, 4000), 1);
    struct buf b;
    buf_init(&b, 4 << 20);
    const char *err = NULL;
    cr_assert_eq(record_hls_segment(&r, 4000, 0, &b, &err), ST_OK, "%s", err ? err : "");
    cr_assert(has_pid(&b, TS_MUXER_PID_VIDEO) && has_pid(&b, TS_MUXER_PID_AUDIO));
    buf_free(&b);
    flv_file_reader_close(&r);
}
