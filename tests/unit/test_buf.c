#include "core/buf.h"
#include "core/status.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

Test(buf, init_is_empty)
{
    struct buf b;
    memset(&b, 0xa5, sizeof(b));
    buf_init(&b, 100);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
    cr_assert_eq(b.max, 100);
    buf_free(&b);
}

Test(buf, append_and_grow)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    uint8_t chunk[100];
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (uint8_t)i;
    for (int i = 0; i < 50; i++)
        cr_assert_eq(buf_append(&b, chunk, sizeof(chunk)), ST_OK);
    cr_assert_eq(b.len, 5000);
    cr_assert_geq(b.cap, b.len);
    for (size_t i = 0; i < b.len; i++)
        cr_assert_eq(b.data[i], (uint8_t)(i % 100), "byte %zu", i);
    buf_free(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
}

Test(buf, cap_is_hard_and_failure_changes_nothing)
{
    struct buf b;
    buf_init(&b, 1000);
    uint8_t x[600];
    memset(x, 'x', sizeof(x));
    cr_assert_eq(buf_append(&b, x, 600), ST_OK);
    cr_assert_eq(buf_append(&b, x, 401), ST_ERROR);
    cr_assert_eq(b.len, 600);
    cr_assert_eq(buf_append(&b, x, 400), ST_OK);
    cr_assert_eq(b.len, 1000);
    cr_assert_eq(buf_append_u8(&b, 1), ST_ERROR);
    cr_assert_eq(buf_append_be32(&b, 1), ST_ERROR);
    cr_assert_eq(b.len, 1000);
    cr_assert_leq(b.cap, 1000, "storage must not grow past the cap (cap=%zu)", b.cap);
    for (size_t i = 0; i < b.len; i++)
        cr_assert_eq(b.data[i], 'x');
    buf_free(&b);
}

Test(buf, growth_lands_exactly_on_cap)
{
    struct buf b;
    buf_init(&b, 1000);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(buf_append_u8(&b, (uint8_t)i), ST_OK);
    cr_assert_eq(b.len, 1000);
    cr_assert_eq(b.cap, 1000);
    cr_assert_eq(buf_append_u8(&b, 0), ST_ERROR);
    buf_free(&b);
}

Test(buf, reserve_overflow)
{
    struct buf b;
    buf_init(&b, SIZE_MAX);
    cr_assert_eq(buf_append_u8(&b, 1), ST_OK);
    /* len + n would wrap: must fail, not allocate a tiny block. */
    cr_assert_eq(buf_reserve(&b, SIZE_MAX), ST_ERROR);
    cr_assert_eq(b.len, 1);
    buf_free(&b);
    buf_init(&b, 16);
    cr_assert_eq(buf_reserve(&b, 17), ST_ERROR);
    cr_assert_eq(buf_reserve(&b, 16), ST_OK);
    cr_assert_geq(b.cap, 16);
    cr_assert_eq(b.len, 0);
    buf_free(&b);
}

Test(buf, zero_max_and_empty_append)
{
    struct buf b;
    buf_init(&b, 0);
    cr_assert_eq(buf_append(&b, NULL, 0), ST_OK);
    cr_assert_eq(buf_append_u8(&b, 1), ST_ERROR);
    cr_assert_null(b.data);
    buf_free(&b);
}

Test(buf, integer_writers)
{
    struct buf b;
    buf_init(&b, 64);
    cr_assert_eq(buf_append_u8(&b, 0xab), ST_OK);
    cr_assert_eq(buf_append_be16(&b, 0x1234), ST_OK);
    cr_assert_eq(buf_append_be24(&b, 0x56789a), ST_OK);
    cr_assert_eq(buf_append_be32(&b, 0xdeadbeef), ST_OK);
    cr_assert_eq(buf_append_le32(&b, 0x01020304), ST_OK);
    static const uint8_t want[] = {0xab, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xde, 0xad, 0xbe, 0xef, 0x04, 0x03, 0x02, 0x01};
    cr_assert_eq(b.len, sizeof(want));
    cr_assert_arr_eq(b.data, want, sizeof(want));
    /* be24 keeps only the low 24 bits. */
    buf_reset(&b);
    cr_assert_eq(buf_append_be24(&b, 0xff123456), ST_OK);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(rd_be24(b.data), 0x123456);
    buf_free(&b);
}

Test(buf, readers_and_writers_round_trip)
{
    static const uint32_t vals[] = {0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffff, 0x1000000,
                                    0x7fffffff, 0x80000000, 0xffffffff, 0x12345678};
    uint8_t p[4];
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        uint32_t v = vals[i];
        wr_be16(p, (uint16_t)v);
        cr_assert_eq(rd_be16(p), (uint16_t)v);
        cr_assert_eq(p[0], (uint8_t)(v >> 8));
        wr_be24(p, v);
        cr_assert_eq(rd_be24(p), v & 0xffffff);
        cr_assert_eq(p[0], (uint8_t)(v >> 16));
        wr_be32(p, v);
        cr_assert_eq(rd_be32(p), v);
        cr_assert_eq(p[0], (uint8_t)(v >> 24));
        wr_le32(p, v);
        cr_assert_eq(rd_le32(p), v);
        cr_assert_eq(p[0], (uint8_t)v);
    }
}

Test(buf, consume)
{
    struct buf b;
    buf_init(&b, 64);
    cr_assert_eq(buf_append(&b, "abcdefgh", 8), ST_OK);
    buf_consume(&b, 0);
    cr_assert_eq(b.len, 8);
    buf_consume(&b, 3);
    cr_assert_eq(b.len, 5);
    cr_assert_arr_eq(b.data, "defgh", 5);
    buf_consume(&b, 5);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(buf_append(&b, "xy", 2), ST_OK);
    buf_consume(&b, 100); /* more than len: empties, does not underflow */
    cr_assert_eq(b.len, 0);
    buf_free(&b);
}

Test(buf, consume_frees_room_under_the_cap)
{
    struct buf b;
    buf_init(&b, 8);
    cr_assert_eq(buf_append(&b, "12345678", 8), ST_OK);
    cr_assert_eq(buf_append_u8(&b, '9'), ST_ERROR);
    buf_consume(&b, 4);
    cr_assert_eq(buf_append(&b, "9abc", 4), ST_OK);
    cr_assert_arr_eq(b.data, "56789abc", 8);
    buf_free(&b);
}

Test(buf, reset_keeps_storage_and_reuse_after_free)
{
    struct buf b;
    buf_init(&b, 1024);
    cr_assert_eq(buf_append(&b, "hello", 5), ST_OK);
    uint8_t *data = b.data;
    size_t cap = b.cap;
    buf_reset(&b);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.data, data);
    cr_assert_eq(b.cap, cap);
    cr_assert_eq(buf_append(&b, "x", 1), ST_OK);
    cr_assert_eq(b.data, data, "no realloc when the storage suffices");
    buf_free(&b);
    buf_free(&b); /* idempotent */
    buf_init(&b, 4);
    cr_assert_eq(buf_append(&b, "abcd", 4), ST_OK);
    buf_free(&b);
}

Test(buf, appendf_and_json_string)
{
    struct buf b;
    buf_init(&b, 64);
    buf_appendf(&b, "{%s:%d,", "\"n\"", 42);
    buf_append_json_string(&b, "a\"b\\c\n\x01");
    cr_assert_eq(b.len, strlen("{\"n\":42,\"a\\\"b\\\\c\\u000a\\u0001\""));
    cr_assert_arr_eq(b.data, "{\"n\":42,\"a\\\"b\\\\c\\u000a\\u0001\"", b.len);
    /* past the cap: dropped, never over */
    for (int i = 0; i < 10; i++)
        buf_appendf(&b, "0123456789");
    cr_assert_leq(b.len, 64);
    buf_free(&b);
}
