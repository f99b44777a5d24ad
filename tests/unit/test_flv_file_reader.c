/*
 * flv_file_reader: scan (index, sequence headers, metadata), seek, reads,
 * and the tails a crash or garbage leaves: every synthetic file is also cut
 * at every offset, and scanned from a real file with budgets that split it
 * at every chunk position; oversized, encrypted and unknown tags, bad
 * headers, audio-only indexes, index bounds.
 */
#include <criterion/criterion.h>

#include "core/buf.h"
#include "core/status.h"
#include "flv/flv_tag.h"
#include "record/flv_file_reader.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SC_TEST_DATA
#define SC_TEST_DATA "tests/data"
#endif

#define MAX_TAG (1u << 20)

static const uint8_t meta[] = {0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 0x05};
static const uint8_t vhdr[] = {0x17, 0x00, 0, 0, 0, 1, 0x42, 0, 0x1e};
static const uint8_t ahdr[] = {0xaf, 0x00, 0x12, 0x10};
static const uint8_t key[] = {0x17, 0x01, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88};
static const uint8_t inter[] = {0x27, 0x01, 0, 0, 0, 0, 0, 0, 2, 0x41, 0x9a};
static const uint8_t aac[] = {0xaf, 0x01, 0x21, 0x10, 0x04};

/* metadata, both headers, then ms of 25 fps video (key every second) and
 * audio every 23 ms; the tag count goes to *ntags. */
static void make_file_ms(struct buf *b, int *ntags, uint32_t ms)
{
    buf_init(b, 1 << 22);
    cr_assert_eq(flv_tag_write_header(b, 1, 1), ST_OK);
    flv_tag_write(b, 18, 0, meta, sizeof(meta));
    flv_tag_write(b, 8, 0, ahdr, sizeof(ahdr));
    flv_tag_write(b, 9, 0, vhdr, sizeof(vhdr));
    int n = 3;
    uint32_t a = 0;
    for (uint32_t v = 0; v < ms; v += 40) {
        for (; a <= v; a += 23, n++)
            flv_tag_write(b, 8, a, aac, sizeof(aac));
        if (v % 1000 == 0)
            flv_tag_write(b, 9, v, key, sizeof(key));
        else
            flv_tag_write(b, 9, v, inter, sizeof(inter));
        n++;
    }
    *ntags = n;
}

static void make_file(struct buf *b, int *ntags) { make_file_ms(b, ntags, 3000); }

/* Offsets of every tag of a well-formed file, and its end. */
static size_t tag_offsets(const uint8_t *p, size_t n, uint64_t *offs, size_t max)
{
    size_t k = 0;
    for (size_t off = 13; off + 11 <= n && k < max;) {
        uint32_t size = rd_be24(p + off + 1);
        if (off + 15 + size > n)
            break;
        offs[k++] = off;
        off += 15 + size;
    }
    return k;
}

static void scan_all(struct flv_file_reader *r)
{
    int rc, rounds = 0;
    while ((rc = flv_file_reader_scan(r, 0)) == ST_AGAIN)
        cr_assert_lt(++rounds, 1000000);
    cr_assert_eq(rc, ST_OK, "scan: %s", r->error ? r->error : "?");
    cr_assert(r->scan_done);
}

Test(flv_file_reader, scan_synthetic)
{
    struct buf b;
    int ntags;
    make_file(&b, &ntags);
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open_mem(&r, b.data, b.len, MAX_TAG, 1024), ST_OK);
    scan_all(&r);
    cr_assert_eq(r.tags, (uint64_t)ntags);
    cr_assert_eq(r.end, b.len);
    cr_assert(!r.truncated);
    cr_assert_null(r.stop_reason);
    cr_assert(r.has_audio && r.has_video);
    cr_assert_eq(r.meta_off, 13);
    cr_assert_eq(r.ahdr_off, 13 + 15 + sizeof(meta));
    cr_assert_eq(r.vhdr_off, r.ahdr_off + 15 + sizeof(ahdr));
    cr_assert_eq(r.nkeys, 3);
    for (uint32_t i = 0; i < 3; i++) {
        cr_assert_eq(r.keys[i].timestamp, i * 1000);
        cr_assert_eq(b.data[r.keys[i].offset], 9);
        cr_assert_eq(b.data[r.keys[i].offset + 11], 0x17);
    }
    cr_assert_eq(r.first_ts, 0);
    cr_assert_eq(r.last_ts, 2960);
    flv_file_reader_close(&r);
    buf_free(&b);
}

Test(flv_file_reader, seek)
{
    struct buf b;
    int ntags;
    make_file(&b, &ntags);
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open_mem(&r, b.data, b.len, MAX_TAG, 1024), ST_OK);
    scan_all(&r);
    struct { uint32_t ms, want; } cases[] = {{0, 0}, {1, 0}, {999, 0}, {1000, 1000}, {1999, 1000}, {2000, 2000},
                                             {99999, 2000}, {UINT32_MAX, 2000}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t off;
        uint32_t ts;
        flv_file_reader_seek(&r, cases[i].ms, &off, &ts);
        cr_assert_eq(ts, cases[i].want, "seek %u", cases[i].ms);
        struct flv_file_tag t;
        struct buf tb;
        buf_init(&tb, MAX_TAG);
        cr_assert_eq(flv_file_reader_read(&r, &off, &t, &tb), ST_OK);
        cr_assert(t.keyframe);
        cr_assert_eq(t.timestamp, cases[i].want);
        buf_free(&tb);
    }
    flv_file_reader_close(&r);
    buf_free(&b);
}

Test(flv_file_reader, seek_without_index)
{
    struct buf b;
    buf_init(&b, 4096);
    flv_tag_write_header(&b, 0, 0);
    flv_tag_write(&b, 18, 0, meta, sizeof(meta));
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open_mem(&r, b.data, b.len, MAX_TAG, 1024), ST_OK);
    scan_all(&r);
    uint64_t off;
    uint32_t ts;
    flv_file_reader_seek(&r, 5000, &off, &ts);
    cr_assert_eq(off, r.data_start);
    cr_assert_eq(ts, 0);
    flv_file_reader_close(&r);
    buf_free(&b);
}

/* Read every tag in order and compare with the writer's bytes. */
static void read_all(struct flv_file_reader *r, const uint8_t *p, size_t ntags)
{
    uint64_t off = r->data_start;
    struct buf tb;
    buf_init(&tb, MAX_TAG);
    for (size_t i = 0; i < ntags; i++) {
        struct flv_file_tag t;
        uint64_t at = off;
        cr_assert_eq(flv_file_reader_read(r, &off, &t, &tb), ST_OK, "tag %zu: %s", i, r->error ? r->error : "");
        cr_assert_eq(t.type, p[at] & 0x1f);
        cr_assert_eq(t.size, rd_be24(p + at + 1));
        cr_assert_eq(t.timestamp, rd_be24(p + at + 4) | (uint32_t)p[at + 7] << 24);
        cr_assert_eq(memcmp(t.body, p + at + 11, t.size), 0);
        cr_assert_eq(off, at + 15 + t.size);
    }
    struct flv_file_tag t;
    cr_assert_eq(flv_file_reader_read(r, &off, &t, &tb), ST_DONE);
    buf_free(&tb);
}

Test(flv_file_reader, read_in_order)
{
    struct buf b;
    int ntags;
    make_file(&b, &ntags);
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open_mem(&r, b.data, b.len, MAX_TAG, 1024), ST_OK);
    scan_all(&r);
    read_all(&r, b.data, (size_t)ntags);
    flv_file_reader_close(&r);
    buf_free(&b);
}

/* A crash cuts the file anywhere: what is whole stays readable. */
Test(flv_file_reader, truncated_at_every_offset)
{
    struct buf b;
    int ntags;
    make_file_ms(&b, &ntags, 1100);
    uint64_t offs[512];
    size_t all = tag_offsets(b.data, b.len, offs, 512);
    cr_assert_eq(all, (size_t)ntags);
    for (size_t cut = 0; cut < b.len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, b.data, cut);
        struct flv_file_reader r;
        int rc = flv_file_reader_open_mem(&r, copy, cut, MAX_TAG, 1024);
        if (cut < 13) {
            cr_assert_eq(rc, ST_ERROR, "cut %zu", cut);
            free(copy);
            continue;
        }
        cr_assert_eq(rc, ST_OK, "cut %zu", cut);
        scan_all(&r);
        size_t whole = tag_offsets(copy, cut, offs, 512);
        cr_assert_eq(r.tags, whole, "cut %zu", cut);
        uint64_t boundary = whole ? offs[whole - 1] + 15 + rd_be24(copy + offs[whole - 1] + 1) : 13;
        cr_assert_eq(r.end, boundary, "cut %zu", cut);
        cr_assert_eq(r.truncated, cut != boundary, "cut %zu", cut);
        read_all(&r, copy, whole);
        flv_file_reader_close(&r);
        free(copy);
    }
    buf_free(&b);
}

Test(flv_file_reader, bad_headers)
{
    uint8_t h[13] = {'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0};
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open_mem(&r, h, sizeof(h), MAX_TAG, 16), ST_OK);
    scan_all(&r);
    cr_assert_eq(r.tags, 0);
    cr_assert(!r.truncated);
    flv_file_reader_close(&r);
    cr_assert_eq(flv_file_reader_open_mem(&r, NULL, 0, MAX_TAG, 16), ST_ERROR);
    cr_assert_eq(flv_file_reader_open_mem(&r, h, 12, MAX_TAG, 16), ST_ERROR);
    uint8_t bad[13];
    memcpy(bad, h, 13);
    bad[0] = 'G';
    cr_assert_eq(flv_file_reader_open_mem(&r, bad, 13, MAX_TAG, 16), ST_ERROR);
    cr_assert_not_null(r.error);
    memcpy(bad, h, 13);
    bad[3] = 2;
    cr_assert_eq(flv_file_reader_open_mem(&r, bad, 13, MAX_TAG, 16), ST_ERROR);
    memcpy(bad, h, 13);
    bad[8] = 8; /* data offset inside the header */
    cr_assert_eq(flv_file_reader_open_mem(&r, bad, 13, MAX_TAG, 16), ST_ERROR);
    memcpy(bad, h, 13);
    bad[5] = 0x7f; /* data offset in the gigabytes */
    cr_assert_eq(flv_file_reader_open_mem(&r, bad, 13, MAX_TAG, 16), ST_ERROR);
}

/* Fuzzer find: a DataOffset past the end of the file made the scan read
 * beyond it. */
Test(flv_file_reader, regression_data_offset_past_end)
{
    static const uint8_t crash[] = {'F', 'L', 'V', 1, 0, 0, 0, 5, 9, 0, 0, 0, 0, 0x12, 0, 0, 0x0e, 0, 0, 0,
                                    0, 0, 0, 0, 2, 0, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', 5};
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open_mem(&r, crash, sizeof(crash), MAX_TAG, 64), ST_ERROR);
    cr_assert_str_eq(r.error, "not an FLV file (data offset past the end)");
    /* Exactly at the end: a file without tags. */
    uint8_t at_end[17] = {'F', 'L', 'V', 1, 5, 0, 0, 0, 13};
    cr_assert_eq(flv_file_reader_open_mem(&r, at_end, sizeof(at_end), MAX_TAG, 64), ST_OK);
    scan_all(&r);
    cr_assert_eq(r.tags, 0);
    cr_assert(!r.truncated);
    flv_file_reader_close(&r);
}

Test(flv_file_reader, data_offset_honoured)
{
    struct buf b;
    buf_init(&b, 4096);
    uint8_t h[16] = {'F', 'L', 'V', 1, 5, 0, 0, 0, 12, 0xee, 0xee, 0xee, 0, 0, 0, 0};
    buf_append(&b, h, sizeof(h));
    flv_tag_write(&b, 9, 7, key, sizeof(key));
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open_mem(&r, b.data, b.len, MAX_TAG, 16), ST_OK);
    cr_assert_eq(r.data_start, 16);
    scan_all(&r);
    cr_assert_eq(r.tags, 1);
    cr_assert_eq(r.nkeys, 1);
    cr_assert_eq(r.keys[0].timestamp, 7);
    flv_file_reader_close(&r);
    buf_free(&b);
}

/* A good prefix followed by something that is not a tag stops the scan
 * there, without an error. */
static void stops_at(const uint8_t *tail, size_t n, uint32_t max_tag, const char *why)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    flv_tag_write_header(&b, 1, 1);
    flv_tag_write(&b, 9, 0, key, sizeof(key));
    size_t good = b.len;
    buf_append(&b, tail, n);
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open_mem(&r, b.data, b.len, max_tag, 16), ST_OK);
    scan_all(&r);
    cr_assert_eq(r.tags, 1, "%s", why);
    cr_assert_eq(r.end, good, "%s", why);
    cr_assert(r.truncated, "%s", why);
    cr_assert_str_eq(r.stop_reason, why);
    flv_file_reader_close(&r);
    buf_free(&b);
}

Test(flv_file_reader, garbage_tails)
{
    uint8_t unknown[20] = {7, 0, 0, 1};
    stops_at(unknown, sizeof(unknown), MAX_TAG, "unknown tag type");
    uint8_t encrypted[20] = {0x29, 0, 0, 1};
    stops_at(encrypted, sizeof(encrypted), MAX_TAG, "encrypted tag");
    uint8_t oversized[64] = {9, 0, 0, 40};
    stops_at(oversized, sizeof(oversized), 32, "tag over max_tag_size");
    uint8_t huge[20] = {9, 0xff, 0xff, 0xff};
    stops_at(huge, sizeof(huge), MAX_TAG, "tag over max_tag_size");
    uint8_t short_body[20] = {9, 0, 0, 10};
    stops_at(short_body, sizeof(short_body), MAX_TAG, "truncated tag");
    uint8_t short_head[5] = {9, 0, 0};
    stops_at(short_head, sizeof(short_head), MAX_TAG, "truncated tag header");
    uint8_t zeros[4096] = {0};
    stops_at(zeros, sizeof(zeros), MAX_TAG, "unknown tag type");
}

Test(flv_file_reader, audio_only_index_then_video)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    flv_tag_write_header(&b, 1, 0);
    flv_tag_write(&b, 8, 0, ahdr, sizeof(ahdr));
    for (uint32_t a = 100; a < 3100; a += 23)
        flv_tag_write(&b, 8, a, aac, sizeof(aac));
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open_mem(&r, b.data, b.len, MAX_TAG, 1024), ST_OK);
    scan_all(&r);
    cr_assert_eq(r.first_ts, 100);
    cr_assert_geq(r.nkeys, 5);
    cr_assert_eq(r.keys[0].timestamp, 100);
    for (uint32_t i = 1; i < r.nkeys; i++)
        cr_assert_geq(r.keys[i].timestamp - r.keys[i - 1].timestamp, FLV_FILE_READER_AUDIO_STEP);
    flv_file_reader_close(&r);
    /* Video arriving later replaces the audio points with keyframes. */
    flv_tag_write(&b, 9, 3200, inter, sizeof(inter));
    flv_tag_write(&b, 9, 3240, key, sizeof(key));
    cr_assert_eq(flv_file_reader_open_mem(&r, b.data, b.len, MAX_TAG, 1024), ST_OK);
    scan_all(&r);
    cr_assert_eq(r.nkeys, 1);
    cr_assert_eq(r.keys[0].timestamp, 3240);
    flv_file_reader_close(&r);
    buf_free(&b);
}

Test(flv_file_reader, index_order_and_bound)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    flv_tag_write_header(&b, 0, 1);
    uint32_t ts[] = {1000, 500, 2000, 3000, 4000, 5000};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
        flv_tag_write(&b, 9, ts[i], key, sizeof(key));
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open_mem(&r, b.data, b.len, MAX_TAG, 3), ST_OK);
    scan_all(&r);
    cr_assert_eq(r.tags, 6);
    cr_assert_eq(r.nkeys, 3, "backwards key skipped, then capped at max_keys");
    cr_assert_eq(r.keys[0].timestamp, 1000);
    cr_assert_eq(r.keys[1].timestamp, 2000);
    cr_assert_eq(r.keys[2].timestamp, 3000);
    flv_file_reader_close(&r);
    buf_free(&b);
}

Test(flv_file_reader, extended_timestamp_and_empty_body)
{
    struct buf b;
    buf_init(&b, 4096);
    flv_tag_write_header(&b, 1, 1);
    flv_tag_write(&b, 9, 0x12345678, key, sizeof(key));
    flv_tag_write(&b, 18, 0x12345679, NULL, 0);
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open_mem(&r, b.data, b.len, MAX_TAG, 16), ST_OK);
    scan_all(&r);
    cr_assert_eq(r.tags, 2);
    cr_assert_eq(r.keys[0].timestamp, 0x12345678);
    read_all(&r, b.data, 2);
    flv_file_reader_close(&r);
    buf_free(&b);
}

static char *write_temp(const uint8_t *p, size_t n)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/test_flv_file_reader.XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, p, n), (ssize_t)n);
    close(fd);
    return path;
}

/* Tags larger than a read chunk, scanned from a file with budgets that stop
 * the scan at every kind of position, give what the memory scan gives. */
Test(flv_file_reader, file_scan_with_budgets)
{
    struct buf b;
    buf_init(&b, 8 << 20);
    flv_tag_write_header(&b, 1, 1);
    uint8_t *big = malloc(200000);
    for (size_t i = 0; i < 200000; i++)
        big[i] = (uint8_t)(i * 7);
    big[0] = 0x17;
    big[1] = 1;
    int n = 0;
    for (uint32_t t = 0; t < 20; t++, n++) {
        if (t % 5 == 0)
            flv_tag_write(&b, 9, t * 40, big, 200000 - t * 997);
        else
            flv_tag_write(&b, 9, t * 40, inter, sizeof(inter));
    }
    char *path = write_temp(b.data, b.len);
    size_t budgets[] = {0, 1, 4096, 65536, 70000, 1 << 20};
    for (size_t k = 0; k < sizeof(budgets) / sizeof(budgets[0]); k++) {
        struct flv_file_reader r;
        cr_assert_eq(flv_file_reader_open(&r, path, MAX_TAG, 64), ST_OK);
        int rc, rounds = 0;
        while ((rc = flv_file_reader_scan(&r, budgets[k])) == ST_AGAIN) {
            rounds++;
            /* Reads work on what is scanned so far, then wait for more. */
            uint64_t off = r.end;
            struct flv_file_tag t;
            struct buf tb;
            buf_init(&tb, MAX_TAG);
            cr_assert_eq(flv_file_reader_read(&r, &off, &t, &tb), ST_AGAIN);
            buf_free(&tb);
        }
        cr_assert_eq(rc, ST_OK);
        if (budgets[k] == 1)
            cr_assert_gt(rounds, 3, "a small budget must split the scan");
        cr_assert_eq(r.tags, (uint64_t)n, "budget %zu", budgets[k]);
        cr_assert_eq(r.nkeys, 4);
        cr_assert_eq(r.end, b.len);
        read_all(&r, b.data, (size_t)n);
        flv_file_reader_close(&r);
    }
    /* The file shrinks under a scanned reader: reads fail, nothing crashes. */
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open(&r, path, MAX_TAG, 64), ST_OK);
    scan_all(&r);
    cr_assert_eq(truncate(path, 1000), 0);
    uint64_t off = r.keys[1].offset;
    struct flv_file_tag t;
    struct buf tb;
    buf_init(&tb, MAX_TAG);
    cr_assert_eq(flv_file_reader_read(&r, &off, &t, &tb), ST_ERROR);
    cr_assert_not_null(r.error);
    buf_free(&tb);
    flv_file_reader_close(&r);
    unlink(path);
    free(big);
    buf_free(&b);
}

Test(flv_file_reader, open_errors)
{
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open(&r, "/nonexistent/x.flv", MAX_TAG, 16), ST_ERROR);
    cr_assert_neq(r.err, 0);
    cr_assert_eq(flv_file_reader_open(&r, "/tmp", MAX_TAG, 16), ST_ERROR);
    cr_assert_str_eq(r.error, "not a regular file");
}

Test(flv_file_reader, real_ffmpeg_file)
{
    struct flv_file_reader r;
    cr_assert_eq(flv_file_reader_open(&r, SC_TEST_DATA "/codec/h264_aac_160x120.flv", MAX_TAG, 64), ST_OK);
    scan_all(&r);
    cr_assert(!r.truncated, "%s", r.stop_reason ? r.stop_reason : "");
    cr_assert_eq(r.end, r.size);
    cr_assert_neq(r.meta_off, 0);
    cr_assert_neq(r.vhdr_off, 0);
    cr_assert_neq(r.ahdr_off, 0);
    cr_assert_eq(r.nkeys, 1);
    cr_assert(r.seen_audio && r.seen_video);
    cr_assert_eq(r.tags, 1 + 2 + 5 + 6 + 1, "onMetaData, two headers, 5 video and 6 audio frames, end of sequence");
    cr_assert_eq(r.keys[0].timestamp, 46);
    flv_file_reader_close(&r);
}

Test(flv_file_reader, classify)
{
    struct flv_file_tag t;
    flv_file_reader_classify(9, vhdr, sizeof(vhdr), &t);
    cr_assert(t.seq_header && !t.keyframe);
    flv_file_reader_classify(9, key, sizeof(key), &t);
    cr_assert(t.keyframe && !t.seq_header);
    flv_file_reader_classify(9, inter, sizeof(inter), &t);
    cr_assert(!t.keyframe && !t.seq_header);
    flv_file_reader_classify(8, ahdr, sizeof(ahdr), &t);
    cr_assert(t.seq_header);
    flv_file_reader_classify(8, aac, sizeof(aac), &t);
    cr_assert(!t.seq_header);
    flv_file_reader_classify(18, meta, sizeof(meta), &t);
    cr_assert(t.metadata);
    flv_file_reader_classify(18, meta, 5, &t);
    cr_assert(!t.metadata);
    flv_file_reader_classify(9, NULL, 0, &t);
    cr_assert(!t.keyframe && !t.seq_header);
    const uint8_t enhanced_key[] = {0x91, 'a', 'v', 'c', '1', 0, 0, 0, 0, 0, 0, 1, 0x65}; /* key, CodedFrames */
    flv_file_reader_classify(9, enhanced_key, sizeof(enhanced_key), &t);
    cr_assert(t.keyframe);
    const uint8_t eos[] = {0x17, 0x02, 0, 0, 0};
    flv_file_reader_classify(9, eos, sizeof(eos), &t);
    cr_assert(!t.keyframe && !t.seq_header, "end of sequence is not a random-access point");
}
