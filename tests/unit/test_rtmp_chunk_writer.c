/*
 * Unit tests for rtmp_chunk_writer: known byte layouts, error cases, and
 * round trips through rtmp_chunk_reader (reader(writer(x)) == x) over sizes,
 * chunk stream ids, timestamps and chunk sizes, alone and interleaved.
 */
#include <criterion/criterion.h>

#include "core/buf.h"
#include "core/status.h"
#include "rtmp/rtmp_chunk_reader.h"
#include "rtmp/rtmp_chunk_writer.h"

#include <stdlib.h>
#include <string.h>

static void expect_bytes(const struct buf *b, const uint8_t *want, size_t n)
{
    cr_assert_eq(b->len, n, "length %zu, want %zu", b->len, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(b->data[i], want[i], "byte %zu: %02x want %02x", i, b->data[i], want[i]);
}

Test(writer, layout_one_byte_csid)
{
    struct rtmp_message_header h = {.csid = 4, .type = 9, .timestamp = 0x010203, .stream_id = 1};
    static const uint8_t want[] = {0x04, 0x01, 0x02, 0x03, 0x00, 0x00, 0x05, 0x09, 0x01, 0x00, 0x00, 0x00,
                                   'a',  'b',  0xc4, 'c',  'd',  0xc4, 'e'};
    struct buf b;
    buf_init(&b, 1 << 20);
    cr_assert_eq(rtmp_chunk_writer_append(&b, &h, (const uint8_t *)"abcde", 5, 2), ST_OK);
    expect_bytes(&b, want, sizeof(want));
    cr_assert_eq(rtmp_chunk_writer_size(4, 0x010203, 5, 2), sizeof(want));
    buf_free(&b);
}

Test(writer, layout_three_byte_csid_extended_timestamp)
{
    struct rtmp_message_header h = {.csid = 320, .type = 8, .timestamp = 0x01000000, .stream_id = 0x01020304};
    static const uint8_t want[] = {
        0x01, 0x00, 0x01,                   /* fmt 0, csid 320 */
        0xff, 0xff, 0xff, 0x00, 0x00, 0x03, /* ts = extended, length 3 */
        0x08, 0x04, 0x03, 0x02, 0x01,       /* type, stream id LE */
        0x01, 0x00, 0x00, 0x00,             /* extended timestamp */
        'x',  'y',                          /* first chunk */
        0xc1, 0x00, 0x01,                   /* fmt 3, csid 320 */
        0x01, 0x00, 0x00, 0x00,             /* extended timestamp repeated */
        'z'};
    struct buf b;
    buf_init(&b, 1 << 20);
    cr_assert_eq(rtmp_chunk_writer_append(&b, &h, (const uint8_t *)"xyz", 3, 2), ST_OK);
    expect_bytes(&b, want, sizeof(want));
    cr_assert_eq(rtmp_chunk_writer_size(320, 0x01000000, 3, 2), sizeof(want));
    buf_free(&b);
}

Test(writer, layout_two_byte_csid_and_empty_message)
{
    struct rtmp_message_header h = {.csid = 319, .type = 20, .timestamp = 0xFFFFFE, .stream_id = 0};
    static const uint8_t want[] = {0x00, 0xff, 0xff, 0xff, 0xfe, 0x00, 0x00, 0x00, 0x14, 0, 0, 0, 0};
    struct buf b;
    buf_init(&b, 1 << 20);
    cr_assert_eq(rtmp_chunk_writer_append(&b, &h, NULL, 0, 128), ST_OK);
    expect_bytes(&b, want, sizeof(want));
    buf_free(&b);

    /* csid 64: the first 2-byte form value */
    h.csid = 64;
    buf_init(&b, 1 << 20);
    cr_assert_eq(rtmp_chunk_writer_append(&b, &h, NULL, 0, 128), ST_OK);
    cr_assert_eq(b.data[0], 0x00);
    cr_assert_eq(b.data[1], 0x00);
    buf_free(&b);
}

Test(writer, timestamp_0xffffff_is_extended)
{
    struct rtmp_message_header h = {.csid = 3, .type = 20, .timestamp = 0xFFFFFF};
    struct buf b;
    buf_init(&b, 1 << 20);
    cr_assert_eq(rtmp_chunk_writer_append(&b, &h, (const uint8_t *)"q", 1, 128), ST_OK);
    cr_assert_eq(b.len, 1 + 11 + 4 + 1);
    cr_assert_eq(rd_be24(b.data + 1), 0xFFFFFF);
    cr_assert_eq(rd_be32(b.data + 12), 0xFFFFFF);
    buf_free(&b);
}

Test(writer, errors_leave_buffer_unchanged)
{
    struct buf b;
    buf_init(&b, 40);
    cr_assert_eq(buf_append(&b, "pre", 3), ST_OK);
    uint8_t payload[64] = {0};
    static const uint32_t bad_csid[] = {0, 1, 65600, 0xFFFFFFFFu};
    for (size_t i = 0; i < 4; i++) {
        struct rtmp_message_header h = {.csid = bad_csid[i], .type = 8};
        cr_assert_eq(rtmp_chunk_writer_append(&b, &h, payload, 4, 128), ST_ERROR, "csid %u", bad_csid[i]);
        cr_assert_eq(b.len, 3);
    }
    struct rtmp_message_header h = {.csid = 3, .type = 8};
    cr_assert_eq(rtmp_chunk_writer_append(&b, &h, payload, 4, 0), ST_ERROR);
    cr_assert_eq(b.len, 3);
    /* 12 + 26 = 38 bytes would not fit after the 3 already there (cap 40) */
    cr_assert_eq(rtmp_chunk_writer_append(&b, &h, payload, 26, 128), ST_ERROR);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(rtmp_chunk_writer_append(&b, &h, payload, 25, 128), ST_OK);
    cr_assert_eq(b.len, 40);
    cr_assert(memcmp(b.data, "pre", 3) == 0);
    cr_assert_eq(b.data[3], 0x03);
    buf_free(&b);
    cr_assert_eq(rtmp_chunk_writer_size(3, 0, 10, 0), 0);
}

Test(writer, encode_matches_append)
{
    uint8_t payload[1000];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 31);
    struct rtmp_message_header h = {.csid = 70, .type = 9, .timestamp = 0x12345678, .stream_id = 1};
    size_t n = rtmp_chunk_writer_size(70, 0x12345678, 1000, 100);
    cr_assert_eq(n, 10 * (2 + 4) + 11 + 1000);
    uint8_t *dst = malloc(n + 1);
    dst[n] = 0xA5; /* guard */
    rtmp_chunk_writer_encode(dst, &h, payload, 1000, 100);
    cr_assert_eq(dst[n], 0xA5);
    struct buf b;
    buf_init(&b, 1 << 20);
    cr_assert_eq(rtmp_chunk_writer_append(&b, &h, payload, 1000, 100), ST_OK);
    cr_assert_eq(b.len, n);
    cr_assert(memcmp(b.data, dst, n) == 0);
    buf_free(&b);
    free(dst);
}

/* ---- round trips ---- */

struct got {
    struct rtmp_message m;
    uint8_t *copy;
};

/* Feed d[0..len) in pieces of `step` bytes (0 = whole) to a reader at
 * chunk size cs; collect up to max messages with payload copies. */
static size_t decode(const uint8_t *d, size_t len, uint32_t cs, size_t step, struct got *out, size_t max)
{
    struct rtmp_chunk_reader r;
    cr_assert_eq(rtmp_chunk_reader_init(&r, 65536, 1 << 24), ST_OK);
    cr_assert_eq(rtmp_chunk_reader_set_chunk_size(&r, cs), ST_OK);
    size_t n = 0, off = 0;
    while (off < len) {
        size_t end = step && len - off > step ? off + step : len;
        for (;;) {
            size_t used;
            struct rtmp_message m;
            int rc = rtmp_chunk_reader_feed(&r, d + off, end - off, &used, &m);
            off += used;
            cr_assert_neq(rc, ST_ERROR, "reader: %s", r.error);
            if (rc == ST_AGAIN)
                break;
            cr_assert_lt(n, max);
            out[n].m = m;
            out[n].copy = malloc(m.length ? m.length : 1);
            memcpy(out[n].copy, m.payload, m.length);
            n++;
        }
        cr_assert_eq(off, end);
    }
    cr_assert_eq(r.bytes_in, len);
    rtmp_chunk_reader_free(&r);
    return n;
}

static void got_free(struct got *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(g[i].copy);
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (uint8_t)(x >> 24);
    }
}

Test(roundtrip, sizes_csids_timestamps_chunk_sizes)
{
    static const uint32_t chunk_sizes[] = {1, 128, 4096, 65536};
    static const uint32_t csids[] = {2, 63, 64, 319, 320, 65599};
    static const uint32_t stamps[] = {0, 0xFFFFFE, 0xFFFFFF, 0xFFFFFFFF};
    uint8_t *payload = malloc(4 * 65536 + 16);
    fill(payload, 4 * 65536 + 16, 7);
    unsigned cases = 0;
    for (size_t a = 0; a < 4; a++) {
        uint32_t cs = chunk_sizes[a];
        uint32_t sizes[] = {0, 1, cs - 1, cs, cs + 1, cs < 1000 ? 70000 : 3 * cs + 5};
        for (size_t b = 0; b < 6; b++)
            for (size_t c = 0; c < 4; c++)
                for (size_t e = 0; e < 6; e++) {
                    struct rtmp_message_header h = {.csid = csids[b],
                                                    .type = (uint8_t)(8 + e),
                                                    .timestamp = stamps[c],
                                                    .stream_id = (uint32_t)(a * 1000 + c)};
                    uint32_t len = sizes[e];
                    struct buf out;
                    buf_init(&out, 1 << 24);
                    cr_assert_eq(rtmp_chunk_writer_append(&out, &h, payload, len, cs), ST_OK);
                    cr_assert_eq(out.len, rtmp_chunk_writer_size(h.csid, h.timestamp, len, cs));
                    /* two copies back to back: a second type-0 message on the
                     * same chunk stream must parse the same way */
                    cr_assert_eq(rtmp_chunk_writer_append(&out, &h, payload, len, cs), ST_OK);
                    size_t steps[] = {0, 1, 7};
                    for (size_t s = 0; s < (len <= 1000 ? 3u : 1u); s++) {
                        struct got g[2];
                        size_t n = decode(out.data, out.len, cs, steps[s], g, 2);
                        cr_assert_eq(n, 2, "cs %u csid %u ts %u len %u", cs, h.csid, h.timestamp, len);
                        for (size_t i = 0; i < 2; i++) {
                            cr_assert_eq(g[i].m.csid, h.csid);
                            cr_assert_eq(g[i].m.type, h.type);
                            cr_assert_eq(g[i].m.timestamp, h.timestamp);
                            cr_assert_eq(g[i].m.stream_id, h.stream_id);
                            cr_assert_eq(g[i].m.length, len);
                            cr_assert(memcmp(g[i].copy, payload, len) == 0);
                        }
                        got_free(g, n);
                    }
                    buf_free(&out);
                    cases++;
                }
    }
    cr_assert_eq(cases, 4 * 6 * 4 * 6);
    free(payload);
}

/* Length of the k-th chunk of a writer-encoded message (k = 0 is the one
 * with the type-0 header), from the spec's layout. */
static size_t chunk_len(uint32_t csid, uint32_t ts, uint32_t len, uint32_t cs, size_t k)
{
    size_t basic = csid < 64 ? 1 : csid < 320 ? 2 : 3, ext = ts >= 0xFFFFFF ? 4 : 0;
    size_t body_left = len - k * cs;
    size_t body = body_left < cs ? body_left : cs;
    return basic + ext + (k == 0 ? 11 : 0) + body;
}

Test(roundtrip, interleaved_chunk_by_chunk)
{
    static const uint32_t csids[] = {2, 63, 64, 319, 320, 65599};
    static const uint32_t lens[] = {0, 5000, 129, 700, 128, 3000};
    static const uint32_t stamps[] = {0, 0xFFFFFF, 1234, 0xFFFFFFFF, 0x10000000, 40};
    enum { N = 6 };
    for (uint32_t cs = 1; cs <= 4096; cs = cs == 1 ? 128 : cs * 32) {
        struct buf enc[N];
        uint8_t *payload[N];
        size_t pos[N], chunk[N], total = 0;
        for (int i = 0; i < N; i++) {
            payload[i] = malloc(lens[i] + 1);
            fill(payload[i], lens[i], (uint32_t)i + 100);
            struct rtmp_message_header h = {.csid = csids[i], .type = 9, .timestamp = stamps[i], .stream_id = 1};
            buf_init(&enc[i], 1 << 24);
            cr_assert_eq(rtmp_chunk_writer_append(&enc[i], &h, payload[i], lens[i], cs), ST_OK);
            pos[i] = chunk[i] = 0;
            total += enc[i].len;
        }
        /* round-robin one chunk at a time; record completion order */
        uint8_t *mix = malloc(total);
        size_t mlen = 0;
        int order[N], norder = 0;
        while (norder < N) {
            for (int i = 0; i < N; i++) {
                if (pos[i] == enc[i].len)
                    continue;
                size_t n = chunk_len(csids[i], stamps[i], lens[i], cs, chunk[i]++);
                cr_assert_leq(pos[i] + n, enc[i].len);
                memcpy(mix + mlen, enc[i].data + pos[i], n);
                mlen += n;
                pos[i] += n;
                if (pos[i] == enc[i].len)
                    order[norder++] = i;
            }
        }
        cr_assert_eq(mlen, total);
        for (size_t step = 0; step <= 3; step += 3) {
            struct got g[N];
            size_t n = decode(mix, mlen, cs, step, g, N);
            cr_assert_eq(n, N);
            for (int k = 0; k < N; k++) {
                int i = order[k];
                cr_assert_eq(g[k].m.csid, csids[i], "cs %u: message %d on csid %u", cs, k, g[k].m.csid);
                cr_assert_eq(g[k].m.length, lens[i]);
                cr_assert_eq(g[k].m.timestamp, stamps[i]);
                cr_assert(memcmp(g[k].copy, payload[i], lens[i]) == 0);
            }
            got_free(g, n);
        }
        free(mix);
        for (int i = 0; i < N; i++) {
            buf_free(&enc[i]);
            free(payload[i]);
        }
    }
}
