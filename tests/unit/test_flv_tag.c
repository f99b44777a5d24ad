/*
 * flv_tag: writer byte layout, and the reader on written streams, a real
 * ffmpeg FLV file and malformed inputs. Every reader case runs whole, one
 * byte at a time and split at every offset, and must give the same tags and
 * the same final status/reason in all three.
 */
#include <criterion/criterion.h>

#include "core/status.h"
#include "flv/flv_tag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SC_TEST_DATA
#define SC_TEST_DATA "tests/data"
#endif

#define MAX_TAGS 64

struct got_tag {
    uint8_t type;
    uint32_t timestamp, size;
    uint8_t *body;
};

struct result {
    int ntags;
    struct got_tag tags[MAX_TAGS];
    int rc;            /* ST_AGAIN at the end of input, or ST_ERROR */
    const char *error; /* static string from the reader */
    int has_audio, has_video;
};

static void result_free(struct result *res)
{
    for (int i = 0; i < res->ntags; i++)
        free(res->tags[i].body);
    res->ntags = 0;
}

/* Feed one chunk until the reader wants more; 0 to go on, -1 after an error. */
static int feed_chunk(struct flv_reader *r, const uint8_t *p, size_t n, struct result *res)
{
    size_t off = 0;
    for (;;) {
        size_t used = 12345;
        struct flv_tag t;
        int rc = flv_reader_feed(r, p + off, n - off, &used, &t);
        cr_assert_leq(used, n - off);
        off += used;
        if (rc == ST_AGAIN) {
            cr_assert_eq(off, n, "ST_AGAIN must consume everything");
            res->rc = ST_AGAIN;
            return 0;
        }
        if (rc == ST_ERROR) {
            cr_assert_not_null(r->error);
            res->rc = ST_ERROR;
            res->error = r->error;
            return -1;
        }
        cr_assert_eq(rc, ST_OK);
        cr_assert_lt(res->ntags, MAX_TAGS);
        struct got_tag *g = &res->tags[res->ntags++];
        g->type = t.type;
        g->timestamp = t.timestamp;
        g->size = t.size;
        g->body = malloc(t.size ? t.size : 1);
        memcpy(g->body, t.body, t.size);
    }
}

/* mode 0: whole; 1: byte by byte; 2: split at `split`. */
static void run(const uint8_t *p, size_t n, uint32_t max_tag, int mode, size_t split, struct result *res)
{
    struct flv_reader r;
    memset(res, 0, sizeof(*res));
    cr_assert_eq(flv_reader_init(&r, max_tag), ST_OK);
    if (mode == 0) {
        feed_chunk(&r, p, n, res);
    } else if (mode == 1) {
        res->rc = ST_AGAIN;
        for (size_t i = 0; i < n; i++)
            if (feed_chunk(&r, p + i, 1, res) < 0)
                break;
    } else {
        res->rc = ST_AGAIN;
        if (feed_chunk(&r, p, split, res) == 0)
            feed_chunk(&r, p + split, n - split, res);
    }
    res->has_audio = r.has_audio;
    res->has_video = r.has_video;
    flv_reader_free(&r);
}

static void assert_same(const struct result *a, const struct result *b, const char *what)
{
    cr_assert_eq(a->ntags, b->ntags, "%s: %d vs %d tags", what, a->ntags, b->ntags);
    cr_assert_eq(a->rc, b->rc, "%s", what);
    if (a->rc == ST_ERROR)
        cr_assert_str_eq(a->error, b->error, "%s", what);
    cr_assert_eq(a->has_audio, b->has_audio, "%s", what);
    cr_assert_eq(a->has_video, b->has_video, "%s", what);
    for (int i = 0; i < a->ntags; i++) {
        cr_assert_eq(a->tags[i].type, b->tags[i].type, "%s tag %d", what, i);
        cr_assert_eq(a->tags[i].timestamp, b->tags[i].timestamp, "%s tag %d", what, i);
        cr_assert_eq(a->tags[i].size, b->tags[i].size, "%s tag %d", what, i);
        cr_assert_eq(memcmp(a->tags[i].body, b->tags[i].body, a->tags[i].size), 0, "%s tag %d", what, i);
    }
}

/* Whole, byte-by-byte and every split agree; the whole run is returned. */
static void run_all(const uint8_t *p, size_t n, uint32_t max_tag, struct result *whole)
{
    struct result other;
    run(p, n, max_tag, 0, 0, whole);
    run(p, n, max_tag, 1, 0, &other);
    assert_same(whole, &other, "byte-by-byte");
    result_free(&other);
    for (size_t k = 0; k <= n; k++) {
        char what[64];
        snprintf(what, sizeof(what), "split at %zu", k);
        run(p, n, max_tag, 2, k, &other);
        assert_same(whole, &other, what);
        result_free(&other);
    }
}

static uint8_t *load(const char *rel, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", SC_TEST_DATA, rel);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* ---- writer ---- */

Test(flv_tag, write_header_bytes)
{
    struct buf b;
    buf_init(&b, 1024);
    cr_assert_eq(flv_tag_write_header(&b, 1, 1), ST_OK);
    static const uint8_t av[] = { 'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0 };
    cr_assert_eq(b.len, sizeof(av));
    cr_assert_eq(memcmp(b.data, av, sizeof(av)), 0);
    buf_reset(&b);
    cr_assert_eq(flv_tag_write_header(&b, 0, 1), ST_OK);
    cr_assert_eq(b.data[4], 1);
    buf_reset(&b);
    cr_assert_eq(flv_tag_write_header(&b, 1, 0), ST_OK);
    cr_assert_eq(b.data[4], 4);
    buf_free(&b);
}

Test(flv_tag, write_tag_bytes)
{
    struct buf b;
    buf_init(&b, 1024);
    const uint8_t body[] = { 0x17, 0x01, 0x02 };
    cr_assert_eq(flv_tag_write(&b, FLV_TAG_VIDEO, 0x12345678, body, sizeof(body)), ST_OK);
    static const uint8_t want[] = { 9, 0, 0, 3, 0x34, 0x56, 0x78, 0x12, 0, 0, 0, 0x17, 0x01, 0x02, 0, 0, 0, 14 };
    cr_assert_eq(b.len, sizeof(want));
    cr_assert_eq(memcmp(b.data, want, sizeof(want)), 0);

    uint8_t h[FLV_TAG_HEADER_SIZE];
    flv_tag_write_tag_header(h, FLV_TAG_AUDIO, 1000, 0x010203);
    static const uint8_t wh[] = { 8, 1, 2, 3, 0, 0x03, 0xe8, 0, 0, 0, 0 };
    cr_assert_eq(memcmp(h, wh, sizeof(wh)), 0);

    /* Empty body is a valid tag. */
    buf_reset(&b);
    cr_assert_eq(flv_tag_write(&b, FLV_TAG_SCRIPT, 0, NULL, 0), ST_OK);
    cr_assert_eq(b.len, 15);
    cr_assert_eq(b.data[14], 11);
    buf_free(&b);
}

Test(flv_tag, write_respects_cap)
{
    struct buf b;
    uint8_t body[16] = { 0 };
    buf_init(&b, 24);
    cr_assert_eq(flv_tag_write(&b, FLV_TAG_AUDIO, 0, body, 8), ST_OK); /* 23 bytes */
    cr_assert_eq(flv_tag_write(&b, FLV_TAG_AUDIO, 0, body, 0), ST_ERROR);
    cr_assert_eq(b.len, 23, "a failed write leaves no half tag");
    cr_assert_eq(flv_tag_write_header(&b, 1, 1), ST_ERROR);
    cr_assert_eq(b.len, 23);
    buf_free(&b);
    buf_init(&b, 64u << 20);
    cr_assert_eq(flv_tag_write(&b, FLV_TAG_VIDEO, 0, body, 0x1000000), ST_ERROR, "24-bit size");
    cr_assert_eq(b.len, 0);
    buf_free(&b);
}

/* ---- reader ---- */

struct spec_tag {
    uint8_t type;
    uint32_t ts, size;
};

static const struct spec_tag spec_tags[] = {
    { FLV_TAG_SCRIPT, 0, 20 },       { FLV_TAG_VIDEO, 0, 0 },   { FLV_TAG_AUDIO, 0, 7 },
    { FLV_TAG_VIDEO, 0x01000005, 300 }, { FLV_TAG_AUDIO, 0xffffffff, 1 },
};
#define NSPEC (sizeof(spec_tags) / sizeof(spec_tags[0]))

static void build_stream(struct buf *b, size_t *tag_end)
{
    buf_init(b, 1 << 20);
    cr_assert_eq(flv_tag_write_header(b, 1, 1), ST_OK);
    for (size_t i = 0; i < NSPEC; i++) {
        uint8_t body[300];
        for (uint32_t k = 0; k < spec_tags[i].size; k++)
            body[k] = (uint8_t)(k * 7 + i);
        cr_assert_eq(flv_tag_write(b, spec_tags[i].type, spec_tags[i].ts, body, spec_tags[i].size), ST_OK);
        if (tag_end)
            tag_end[i] = b->len;
    }
}

Test(flv_tag, roundtrip_every_split)
{
    struct buf b;
    size_t ends[NSPEC];
    build_stream(&b, ends);
    struct result res;
    run_all(b.data, b.len, 1 << 16, &res);
    cr_assert_eq(res.rc, ST_AGAIN);
    cr_assert(res.has_audio && res.has_video);
    cr_assert_eq(res.ntags, (int)NSPEC);
    for (size_t i = 0; i < NSPEC; i++) {
        cr_assert_eq(res.tags[i].type, spec_tags[i].type);
        cr_assert_eq(res.tags[i].timestamp, spec_tags[i].ts, "tag %zu ts %u", i, res.tags[i].timestamp);
        cr_assert_eq(res.tags[i].size, spec_tags[i].size);
        for (uint32_t k = 0; k < spec_tags[i].size; k++)
            cr_assert_eq(res.tags[i].body[k], (uint8_t)(k * 7 + i));
    }
    result_free(&res);

    /* Every truncation: never an error, exactly the tags whose trailer
     * arrived. */
    for (size_t n = 0; n < b.len; n++) {
        struct result t;
        run(b.data, n, 1 << 16, 0, 0, &t);
        cr_assert_eq(t.rc, ST_AGAIN, "cut at %zu", n);
        int want = 0;
        while (want < (int)NSPEC && ends[want] <= n)
            want++;
        cr_assert_eq(t.ntags, want, "cut at %zu: %d tags", n, t.ntags);
        result_free(&t);
    }
    buf_free(&b);
}

Test(flv_tag, real_ffmpeg_file)
{
    size_t n;
    uint8_t *p = load("codec/h264_aac_160x120.flv", &n);
    struct result res;
    run_all(p, n, 1 << 20, &res);
    cr_assert_eq(res.rc, ST_AGAIN);
    cr_assert(res.has_audio && res.has_video);
    cr_assert_eq(res.ntags, 15);
    cr_assert_eq(res.tags[0].type, FLV_TAG_SCRIPT);
    cr_assert_eq(memcmp(res.tags[0].body, "\x02\x00\x0aonMetaData", 13), 0);
    int first_video = -1, last_video = -1, audio = 0;
    uint32_t last_ts = 0;
    size_t bytes = 9 + 4;
    for (int i = 0; i < res.ntags; i++) {
        bytes += 11 + res.tags[i].size + 4;
        if (res.tags[i].type == FLV_TAG_AUDIO)
            audio++;
        if (res.tags[i].type != FLV_TAG_VIDEO)
            continue;
        if (first_video < 0)
            first_video = i;
        cr_assert_geq(res.tags[i].timestamp, last_ts);
        last_ts = res.tags[i].timestamp;
        last_video = i;
    }
    cr_assert_eq(bytes, n, "tags must cover the file exactly");
    cr_assert_eq(audio, 7);
    cr_assert_eq(res.tags[first_video].body[0], 0x17);
    cr_assert_eq(res.tags[first_video].body[1], 0x00, "AVC sequence header first");
    cr_assert_eq(res.tags[last_video].body[1], 0x02, "ffmpeg ends with end-of-sequence");
    cr_assert_geq(last_ts, 160);
    result_free(&res);
    free(p);
}

Test(flv_tag, header_extra_bytes_skipped)
{
    uint8_t s[] = { 'F', 'L', 'V', 1, 1, 0, 0, 0, 14, 0xde, 0xad, 0xbe, 0xef, 0x99, 0, 0, 0, 0,
                    9, 0, 0, 2, 0, 0, 7, 0, 0, 0, 0, 0x27, 0x01, 0, 0, 0, 13 };
    struct result res;
    run_all(s, sizeof(s), 100, &res);
    cr_assert_eq(res.rc, ST_AGAIN);
    cr_assert(!res.has_audio && res.has_video);
    cr_assert_eq(res.ntags, 1);
    cr_assert_eq(res.tags[0].type, FLV_TAG_VIDEO);
    cr_assert_eq(res.tags[0].timestamp, 7);
    cr_assert_eq(res.tags[0].body[0], 0x27);
    result_free(&res);
}

Test(flv_tag, previous_tag_size_mismatch_tolerated)
{
    struct buf b;
    build_stream(&b, NULL);
    /* Corrupt PreviousTagSize0 and the first tag's trailer. */
    b.data[12] = 0x55;
    size_t first_trailer = 13 + 11 + 20;
    memset(b.data + first_trailer, 0xff, 4);
    struct result res;
    run_all(b.data, b.len, 1 << 16, &res);
    cr_assert_eq(res.rc, ST_AGAIN);
    cr_assert_eq(res.ntags, (int)NSPEC);
    result_free(&res);
    buf_free(&b);
}

Test(flv_tag, reserved_bits_ignored)
{
    struct buf b;
    build_stream(&b, NULL);
    b.data[13] |= 0xc0; /* script tag with both reserved bits */
    struct result res;
    run_all(b.data, b.len, 1 << 16, &res);
    cr_assert_eq(res.rc, ST_AGAIN);
    cr_assert_eq(res.ntags, (int)NSPEC);
    cr_assert_eq(res.tags[0].type, FLV_TAG_SCRIPT);
    result_free(&res);
    buf_free(&b);
}

struct bad_case {
    const char *name;
    size_t offset; /* where to write the patch in the built stream */
    uint8_t patch[4];
    size_t patch_len;
    uint32_t max_tag;
    int tags_before;
    const char *error;
};

Test(flv_tag, malformed_inputs)
{
    /* Second tag (video, size 0) header starts at 13 + 11 + 20 + 4 = 48. */
    static const struct bad_case cases[] = {
        { "signature", 0, { 'F', 'L', 'X' }, 3, 1 << 16, 0, "not an FLV file" },
        { "garbage", 0, { 0x03, 0x00, 0x00, 0x00 }, 4, 1 << 16, 0, "not an FLV file" },
        { "version", 3, { 2 }, 1, 1 << 16, 0, "unsupported FLV version" },
        { "offset small", 5, { 0, 0, 0, 8 }, 4, 1 << 16, 0, "FLV data offset too small" },
        { "offset huge", 5, { 0xff, 0xff, 0xff, 0xff }, 4, 1 << 16, 0, "FLV data offset too large" },
        { "type 7", 48, { 7 }, 1, 1 << 16, 1, "bad tag type 7" },
        { "type 0", 13, { 0 }, 1, 1 << 16, 0, "bad tag type 0" },
        { "type 31", 48, { 31 }, 1, 1 << 16, 1, "bad tag type 31" },
        { "filter bit", 48, { 0x29 }, 1, 1 << 16, 1, "encrypted FLV tag (filter bit set)" },
        { "oversized", 49, { 0x01, 0x00, 0x01 }, 3, 1 << 16, 1, "FLV tag too large" },
        { "over small cap", 13, { FLV_TAG_SCRIPT }, 1, 19, 0, "FLV tag too large" },
        { "max 24-bit size", 49, { 0xff, 0xff, 0xff }, 3, 0xffffffffu, 1, NULL }, /* truncated, not error */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad_case *c = &cases[i];
        struct buf b;
        build_stream(&b, NULL);
        memcpy(b.data + c->offset, c->patch, c->patch_len);
        struct result res;
        run_all(b.data, b.len, c->max_tag, &res);
        cr_assert_eq(res.ntags, c->tags_before, "%s: %d tags", c->name, res.ntags);
        if (c->error) {
            cr_assert_eq(res.rc, ST_ERROR, "%s", c->name);
            cr_assert_str_eq(res.error, c->error, "%s", c->name);
        } else {
            cr_assert_eq(res.rc, ST_AGAIN, "%s", c->name);
        }
        result_free(&res);
        buf_free(&b);
    }
}

Test(flv_tag, error_is_sticky_and_empty_feed)
{
    struct flv_reader r;
    struct flv_tag t;
    size_t used = 99;
    cr_assert_eq(flv_reader_init(&r, 0), ST_ERROR);
    cr_assert_eq(flv_reader_init(&r, 1000), ST_OK);
    cr_assert_eq(flv_reader_feed(&r, (const uint8_t *)"", 0, &used, &t), ST_AGAIN);
    cr_assert_eq(used, 0);
    cr_assert_eq(flv_reader_feed(&r, (const uint8_t *)"FLX", 3, &used, &t), ST_ERROR);
    struct buf b;
    build_stream(&b, NULL);
    used = 99;
    cr_assert_eq(flv_reader_feed(&r, b.data, b.len, &used, &t), ST_ERROR);
    cr_assert_eq(used, 0);
    cr_assert_str_eq(r.error, "not an FLV file");
    flv_reader_free(&r);
    buf_free(&b);
}

Test(flv_tag, body_owned_by_reader)
{
    struct buf b;
    build_stream(&b, NULL);
    struct flv_reader r;
    struct flv_tag t;
    size_t used;
    cr_assert_eq(flv_reader_init(&r, 1 << 16), ST_OK);
    cr_assert_eq(flv_reader_feed(&r, b.data, b.len, &used, &t), ST_OK);
    cr_assert_eq(used, 13 + 11 + 20 + 4);
    cr_assert_eq(t.size, 20);
    /* The caller may reuse its input buffer before looking at the tag. */
    uint8_t first = b.data[13 + 11];
    memset(b.data, 0xee, used);
    cr_assert_eq(t.body[0], first);
    flv_reader_free(&r);
    buf_free(&b);
}

/* Seeded garbage after a valid header: same answer in every mode, no crash. */
Test(flv_tag, garbage)
{
    uint32_t seed = 777;
    for (int iter = 0; iter < 40; iter++) {
        uint8_t s[200] = { 'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0 };
        for (size_t i = 13; i < sizeof(s); i++) {
            seed = seed * 1103515245u + 12345u;
            s[i] = (uint8_t)(seed >> 16);
        }
        /* Half the runs start with a plausible tag type so the body path runs. */
        if (iter % 2) {
            s[13] = (uint8_t)(8 + (iter % 4 == 1));
            s[14] = 0;
            s[15] = 0;
        }
        struct result res;
        run_all(s, sizeof(s), 150, &res);
        cr_assert(res.rc == ST_AGAIN || res.rc == ST_ERROR);
        result_free(&res);
    }
}
