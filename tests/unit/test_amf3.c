#include <criterion/criterion.h>

#include "amf/amf0.h"
#include "amf/amf3.h"
#include "amf/amf_internal.h"
#include "core/status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Every proper prefix of a whole encoding is an error, checked on an exact
 * heap copy so that ASan catches any overread. */
static void check_prefixes(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct amf_value v;
        size_t used = 0;
        const char *err = NULL;
        uint8_t *copy = malloc(i ? i : 1);
        memcpy(copy, p, i);
        cr_assert_eq(amf3_decode(i ? copy : NULL, i, &v, &used, &err), ST_ERROR,
                     "prefix %zu of %zu", i, n);
        cr_assert_not_null(err);
        cr_assert_eq(v.type, AMF_UNDEFINED);
        free(copy);
    }
}

static void decode_whole(const uint8_t *p, size_t n, struct amf_value *v)
{
    size_t used = 0;
    const char *err = NULL;
    cr_assert_eq(amf3_decode(p, n, v, &used, &err), ST_OK, "decode failed: %s", err ? err : "?");
    cr_assert_eq(used, n, "consumed %zu of %zu", used, n);
    check_prefixes(p, n);
}

static const char *decode_err(const uint8_t *p, size_t n)
{
    struct amf_value v;
    size_t used = 0;
    const char *err = NULL;
    cr_assert_eq(amf3_decode(p, n, &v, &used, &err), ST_ERROR);
    cr_assert_not_null(err);
    cr_assert_eq(v.type, AMF_UNDEFINED);
    return err;
}

static void round_trip(const struct amf_value *v)
{
    struct buf b;
    buf_init(&b, 1 << 24);
    cr_assert_eq(amf3_write_value(&b, v), ST_OK);
    struct amf_value out;
    decode_whole(b.data, b.len, &out);
    cr_assert(amf_value_equal(v, &out, 0), "round trip differs");
    amf_value_free(&out);
    buf_free(&b);
}

Test(amf3, u29_edge_values)
{
    static const struct {
        double v;
        uint8_t len;
        uint8_t enc[5];
    } cases[] = {
        {0, 2, {0x04, 0x00}},
        {0x7f, 2, {0x04, 0x7f}},
        {0x80, 3, {0x04, 0x81, 0x00}},
        {0x3fff, 3, {0x04, 0xff, 0x7f}},
        {0x4000, 4, {0x04, 0x81, 0x80, 0x00}},
        {0x1fffff, 4, {0x04, 0xff, 0xff, 0x7f}},
        {0x200000, 5, {0x04, 0x80, 0xc0, 0x80, 0x00}},
        {0x0fffffff, 5, {0x04, 0xbf, 0xff, 0xff, 0xff}},
        {-1, 5, {0x04, 0xff, 0xff, 0xff, 0xff}},
        {-0x10000000, 5, {0x04, 0xc0, 0x80, 0x80, 0x00}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct amf_value v;
        decode_whole(cases[i].enc, cases[i].len, &v);
        cr_assert_eq(v.type, AMF_NUMBER);
        cr_assert_eq(v.num, cases[i].v, "case %zu: %f", i, v.num);
        struct buf b;
        buf_init(&b, 64);
        cr_assert_eq(amf3_write_value(&b, &v), ST_OK);
        cr_assert_eq(b.len, cases[i].len, "case %zu", i);
        cr_assert_arr_eq(b.data, cases[i].enc, cases[i].len, "case %zu", i);
        buf_free(&b);
    }
    /* Outside the 29-bit range, fractional or negative zero: doubles. */
    double dbl[] = {0x10000000, -0x10000001, 0.5, -0.0, NAN, INFINITY, 1e20};
    for (size_t i = 0; i < sizeof(dbl) / sizeof(dbl[0]); i++) {
        struct amf_value v = {.type = AMF_NUMBER, .num = dbl[i]};
        struct buf b;
        buf_init(&b, 64);
        cr_assert_eq(amf3_write_value(&b, &v), ST_OK);
        cr_assert_eq(b.len, 9);
        cr_assert_eq(b.data[0], 0x05);
        buf_free(&b);
        round_trip(&v);
    }
}

Test(amf3, scalars)
{
    static const uint8_t u[] = {0x00}, n[] = {0x01}, f[] = {0x02}, t[] = {0x03};
    struct amf_value v;
    decode_whole(u, 1, &v);
    cr_assert_eq(v.type, AMF_UNDEFINED);
    decode_whole(n, 1, &v);
    cr_assert_eq(v.type, AMF_NULL);
    decode_whole(f, 1, &v);
    cr_assert_eq(v.type, AMF_BOOLEAN);
    cr_assert_eq(v.boolean, 0);
    decode_whole(t, 1, &v);
    cr_assert_eq(v.boolean, 1);
    static const uint8_t d[] = {0x05, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18};
    decode_whole(d, sizeof(d), &v);
    cr_assert_eq(v.num, 3.141592653589793);
    static const uint8_t s[] = {0x06, 0x09, 'l', 'i', 'v', 'e'};
    decode_whole(s, sizeof(s), &v);
    cr_assert_eq(v.type, AMF_STRING);
    cr_assert_eq(v.len, 4);
    cr_assert_str_eq(v.str, "live");
    amf_value_free(&v);
    static const uint8_t es[] = {0x06, 0x01};
    decode_whole(es, sizeof(es), &v);
    cr_assert_eq(v.len, 0);
    cr_assert_str_eq(v.str, "");
    amf_value_free(&v);
    /* date: inline header 0x01, then the double; the time zone is not carried */
    static const uint8_t date[] = {0x08, 0x01, 0x42, 0x78, 0, 0, 0, 0, 0, 0};
    decode_whole(date, sizeof(date), &v);
    cr_assert_eq(v.type, AMF_DATE);
    cr_assert_eq(v.num, 1649267441664.0);
    cr_assert_eq(v.tz, 0);
    round_trip(&v);
    static const uint8_t xmldoc[] = {0x07, 0x07, '<', 'a', '>'}, xml[] = {0x0b, 0x07, '<', 'b', '>'};
    decode_whole(xmldoc, sizeof(xmldoc), &v);
    cr_assert_eq(v.type, AMF_XML);
    cr_assert_str_eq(v.str, "<a>");
    amf_value_free(&v);
    decode_whole(xml, sizeof(xml), &v);
    cr_assert_eq(v.type, AMF_XML);
    cr_assert_str_eq(v.str, "<b>");
    round_trip(&v);
    amf_value_free(&v);
    static const uint8_t ba[] = {0x0c, 0x07, 0x00, 0xff, 0x00};
    decode_whole(ba, sizeof(ba), &v);
    cr_assert_eq(v.type, AMF_BYTE_ARRAY);
    cr_assert_eq(v.len, 3);
    cr_assert_eq((uint8_t)v.str[1], 0xff);
    round_trip(&v);
    amf_value_free(&v);
}

Test(amf3, unsupported_markers)
{
    for (uint8_t m = 0x0d; m <= 0x10; m++)
        cr_assert_str_eq(decode_err(&m, 1), "vector types not supported");
    static const uint8_t dict[] = {0x11, 0x03, 0x00};
    cr_assert_str_eq(decode_err(dict, sizeof(dict)), "dictionary type not supported");
    static const uint8_t unk[] = {0x12}, ff[] = {0xff};
    decode_err(unk, 1);
    decode_err(ff, 1);
    decode_err(NULL, 0);
}

Test(amf3, string_references)
{
    /* ["", "a", ref 0, "bc", ref 1]: the empty string is never in the table,
     * so ref 0 is "a" and ref 1 is "bc". */
    static const uint8_t p[] = {0x09, 0x0b, 0x01, 0x06, 0x01, 0x06, 0x03, 'a', 0x06, 0x00,
                                0x06, 0x05, 'b', 'c', 0x06, 0x02};
    struct amf_value v;
    decode_whole(p, sizeof(p), &v);
    cr_assert_eq(v.type, AMF_STRICT_ARRAY);
    cr_assert_eq(v.nitems, 5);
    cr_assert_str_eq(v.items[0].str, "");
    cr_assert_str_eq(v.items[1].str, "a");
    cr_assert_str_eq(v.items[2].str, "a");
    cr_assert_str_eq(v.items[3].str, "bc");
    cr_assert_str_eq(v.items[4].str, "bc");
    cr_assert_neq(v.items[1].str, v.items[2].str);
    round_trip(&v);
    amf_value_free(&v);
    /* ref 2 does not exist */
    uint8_t bad[sizeof(p)];
    memcpy(bad, p, sizeof(p));
    bad[sizeof(p) - 1] = 0x04;
    cr_assert_str_eq(decode_err(bad, sizeof(bad)), "string reference out of range");
    /* Names share the table with values: key "k" is ref 0. */
    static const uint8_t obj[] = {0x0a, 0x0b, 0x01, 0x03, 'k', 0x06, 0x00, 0x01};
    decode_whole(obj, sizeof(obj), &v);
    cr_assert_str_eq(amf_value_get_string(&v, "k"), "k");
    amf_value_free(&v);
}

Test(amf3, traits_and_trait_references)
{
    /* [Foo{x:1}, Foo{x:2} via trait ref 0, anonymous dynamic {y:3, z:"x"}] */
    static const uint8_t p[] = {0x09, 0x07, 0x01,
                                0x0a, 0x13, 0x07, 'F', 'o', 'o', 0x03, 'x', 0x04, 0x01,
                                0x0a, 0x01, 0x04, 0x02,
                                0x0a, 0x0b, 0x01, 0x03, 'y', 0x04, 0x03, 0x03, 'z', 0x06, 0x02, 0x01};
    struct amf_value v;
    decode_whole(p, sizeof(p), &v);
    cr_assert_eq(v.nitems, 3);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(v.items[i].type, AMF_OBJECT);
        cr_assert_str_eq(v.items[i].class_name, "Foo");
        cr_assert_eq(v.items[i].nprops, 1);
        cr_assert_eq(amf_value_get_number(&v.items[i], "x", 0), i + 1);
    }
    cr_assert_null(v.items[2].class_name);
    cr_assert_eq(amf_value_get_number(&v.items[2], "y", 0), 3);
    cr_assert_str_eq(amf_value_get_string(&v.items[2], "z"), "x");
    round_trip(&v);
    amf_value_free(&v);
    /* trait ref 1 does not exist */
    uint8_t bad[sizeof(p)];
    memcpy(bad, p, sizeof(p));
    bad[14] = 0x05;
    cr_assert_str_eq(decode_err(bad, sizeof(bad)), "trait reference out of range");
    /* Sealed members and dynamic members together. */
    static const uint8_t both[] = {0x0a, 0x1b, 0x01, 0x03, 'a', 0x03, 0x03, 'b', 0x02, 0x01};
    decode_whole(both, sizeof(both), &v);
    cr_assert_eq(v.nprops, 2);
    cr_assert_str_eq(v.props[0].name, "a");
    cr_assert_str_eq(v.props[1].name, "b");
    round_trip(&v);
    amf_value_free(&v);
}

Test(amf3, externalizable_and_bad_objects)
{
    static const uint8_t ext[] = {0x0a, 0x07, 0x07, 'F', 'o', 'o', 0x00};
    cr_assert_str_eq(decode_err(ext, sizeof(ext)), "externalizable not supported");
    /* Sealed count far beyond the input. */
    static const uint8_t many[] = {0x0a, 0xbf, 0xff, 0xff, 0xf3, 0x01, 0x03, 'a'};
    decode_err(many, sizeof(many));
    static const uint8_t nul[] = {0x0a, 0x03, 0x05, 'a', 0x00};
    cr_assert_str_eq(decode_err(nul, sizeof(nul)), "NUL in class name");
}

Test(amf3, object_references)
{
    /* array #0 [ obj #1 {a:5}, ref 1, date #2, ref 2, bytes #3, ref 3 ] */
    static const uint8_t p[] = {0x09, 0x0d, 0x01,
                                0x0a, 0x0b, 0x01, 0x03, 'a', 0x04, 0x05, 0x01,
                                0x0a, 0x02,
                                0x08, 0x01, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
                                0x08, 0x04,
                                0x0c, 0x03, 0x7a,
                                0x0c, 0x06};
    struct amf_value v;
    decode_whole(p, sizeof(p), &v);
    cr_assert_eq(v.nitems, 6);
    cr_assert(amf_value_equal(&v.items[0], &v.items[1], 0));
    cr_assert_neq(v.items[0].props, v.items[1].props);
    cr_assert_eq(v.items[3].type, AMF_DATE);
    cr_assert_eq(v.items[3].num, 1.0);
    cr_assert_eq(v.items[5].type, AMF_BYTE_ARRAY);
    cr_assert_eq(v.items[5].str[0], 'z');
    amf_value_free(&v);
    uint8_t bad[sizeof(p)];
    memcpy(bad, p, sizeof(p));
    bad[sizeof(p) - 1] = 0x08; /* ref 4 */
    cr_assert_str_eq(decode_err(bad, sizeof(bad)), "object reference out of range");
    /* Self reference: the array is #0 and still open. */
    static const uint8_t self[] = {0x09, 0x03, 0x01, 0x09, 0x00};
    cr_assert_str_eq(decode_err(self, sizeof(self)), "reference to an incomplete object");
}

Test(amf3, array_with_associative_part)
{
    /* assoc {k: 1}, dense [true, null] -> ECMA array k, "0", "1" */
    static const uint8_t p[] = {0x09, 0x05, 0x03, 'k', 0x04, 0x01, 0x01, 0x03, 0x01};
    struct amf_value v;
    decode_whole(p, sizeof(p), &v);
    cr_assert_eq(v.type, AMF_ECMA_ARRAY);
    cr_assert_eq(v.nprops, 3);
    cr_assert_eq(amf_value_get_number(&v, "k", 0), 1);
    cr_assert_eq(amf_value_get(&v, "0")->boolean, 1);
    cr_assert_eq(amf_value_get(&v, "1")->type, AMF_NULL);
    round_trip(&v);
    /* And through AMF0 as an ECMA array. */
    struct buf b;
    buf_init(&b, 1024);
    cr_assert_eq(amf0_write_value(&b, &v), ST_OK);
    cr_assert_eq(b.data[0], 0x08);
    struct amf_value out;
    size_t used;
    const char *err;
    cr_assert_eq(amf0_decode(b.data, b.len, &out, &used, &err), ST_OK);
    cr_assert(amf_value_equal(&v, &out, 0));
    amf_value_free(&out);
    buf_free(&b);
    amf_value_free(&v);
    /* Empty ECMA keys cannot be written in AMF3 (the empty name ends the part). */
    struct amf_value e = {.type = AMF_ECMA_ARRAY, .nprops = 1};
    e.props = calloc(1, sizeof(*e.props));
    e.props[0].name = strdup("");
    buf_init(&b, 1024);
    cr_assert_eq(amf3_write_value(&b, &e), ST_ERROR);
    cr_assert_eq(b.len, 0);
    buf_free(&b);
    amf_value_free(&e);
}

Test(amf3, counts_bounded_before_allocating)
{
    static const uint8_t huge[] = {0x09, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01, 0x01, 0x01, 0x01};
    cr_assert_str_eq(decode_err(huge, sizeof(huge)), "too many array items");
    static const uint8_t more[] = {0x09, 0xc0, 0x01, 0x01, 0x01, 0x01}; /* 4096 items, 3 bytes */
    cr_assert_str_eq(decode_err(more, sizeof(more)), "truncated");
    static const uint8_t longstr[] = {0x06, 0xff, 0xff, 0xff, 0xff, 'a'};
    decode_err(longstr, sizeof(longstr));
    static const uint8_t longba[] = {0x0c, 0xff, 0xff, 0xff, 0xff, 'a'};
    decode_err(longba, sizeof(longba));
}

Test(amf3, depth_cap)
{
    uint8_t p[256];
    size_t n = 0;
    for (int i = 0; i < AMF3_MAX_DEPTH; i++) {
        p[n++] = 0x09;
        p[n++] = 0x03;
        p[n++] = 0x01;
    }
    p[n++] = 0x01;
    struct amf_value v;
    decode_whole(p, n, &v);
    cr_assert_eq(amf_value_height(&v), AMF3_MAX_DEPTH);
    round_trip(&v);
    amf_value_free(&v);
    memmove(p + 3, p, n);
    cr_assert_str_eq(decode_err(p, n + 3), "nesting too deep");
    /* Objects too: 32 nested anonymous dynamic objects {o: {o: ...}}. */
    n = 0;
    for (int i = 0; i < AMF3_MAX_DEPTH + 1; i++) {
        p[n++] = 0x0a;
        p[n++] = 0x0b;
        p[n++] = 0x01;
        p[n++] = 0x03;
        p[n++] = 'o';
    }
    p[n++] = 0x01;
    cr_assert_str_eq(decode_err(p, n), "nesting too deep");
}

Test(amf3, string_reference_amplification_is_bounded)
{
    /* A 60000-byte string then 4096 one-byte references to it. */
    size_t slen = 60000, n = 8 + slen + 2 * 4096;
    uint8_t *p = malloc(n), *q = p;
    *q++ = 0x09;
    *q++ = 0xc0; /* 4097 items: U29 (4097 << 1 | 1) = 0x2003 */
    *q++ = 0x03;
    *q++ = 0x01;
    *q++ = 0x06;
    *q++ = 0x87; /* U29 (60000 << 1 | 1) = 120001 = 0x1d4c1 */
    *q++ = 0xa9;
    *q++ = 0x41;
    memset(q, 's', slen);
    q += slen;
    for (int i = 0; i < 4096; i++)
        *q++ = 0x06, *q++ = 0x00;
    n = (size_t)(q - p);
    /* 4097 > cap: lower to 4096 items (one string + 4095 refs). */
    p[1] = 0xc0;
    p[2] = 0x01;
    n -= 2;
    cr_assert_str_eq(decode_err(p, n), "allocation budget exceeded");
    free(p);
}

Test(amf3, connect_through_avmplus_switch)
{
    /* AMF0 "connect", 1, then AVM+ switch to an AMF3 anonymous dynamic object
     * {app: "live", objectEncoding: 3, fpad: false} (as Flash sends with AMF3). */
    static const uint8_t p[] = {
        0x02, 0, 7, 'c', 'o', 'n', 'n', 'e', 'c', 't',
        0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
        0x11, 0x0a, 0x0b, 0x01,
        0x07, 'a', 'p', 'p', 0x06, 0x09, 'l', 'i', 'v', 'e',
        0x1d, 'o', 'b', 'j', 'e', 'c', 't', 'E', 'n', 'c', 'o', 'd', 'i', 'n', 'g', 0x04, 0x03,
        0x09, 'f', 'p', 'a', 'd', 0x02,
        0x01,
        0x05};
    struct amf_value *vals;
    size_t cnt;
    const char *err = NULL;
    cr_assert_eq(amf0_decode_all(p, sizeof(p), 8, &vals, &cnt, &err), ST_OK, "%s", err);
    cr_assert_eq(cnt, 4);
    cr_assert_str_eq(vals[0].str, "connect");
    cr_assert_eq(vals[2].type, AMF_OBJECT);
    cr_assert_null(vals[2].class_name);
    cr_assert_str_eq(amf_value_get_string(&vals[2], "app"), "live");
    cr_assert_eq(amf_value_get_number(&vals[2], "objectEncoding", 0), 3);
    cr_assert_eq(amf_value_get(&vals[2], "fpad")->boolean, 0);
    cr_assert_eq(vals[3].type, AMF_NULL);
    amf_values_free(vals, cnt);
    /* Truncating the AMF3 part fails the AMF0 call. */
    for (size_t i = 20; i < sizeof(p) - 1; i++) {
        cr_assert_eq(amf0_decode_all(p, i, 8, &vals, &cnt, &err), ST_ERROR, "len %zu", i);
        cr_assert_null(vals);
    }
    /* An AMF3 error reason is passed through. */
    static const uint8_t ext[] = {0x11, 0x0a, 0x07, 0x01};
    struct amf_value v;
    size_t used;
    cr_assert_eq(amf0_decode(ext, sizeof(ext), &v, &used, &err), ST_ERROR);
    cr_assert_str_eq(err, "externalizable not supported");
}

Test(amf3, avmplus_shares_depth_with_amf0)
{
    /* 31 AMF0 strict arrays, then AVM+ with an AMF3 array holding an array:
     * 33 levels in all. */
    uint8_t p[256];
    size_t n = 0;
    for (int i = 0; i < AMF0_MAX_DEPTH - 1; i++) {
        p[n++] = 0x0a;
        wr_be32(p + n, 1);
        n += 4;
    }
    static const uint8_t tail[] = {0x11, 0x09, 0x03, 0x01, 0x09, 0x01, 0x01};
    memcpy(p + n, tail, sizeof(tail));
    struct amf_value v;
    size_t used;
    const char *err = NULL;
    cr_assert_eq(amf0_decode(p, n + sizeof(tail), &v, &used, &err), ST_ERROR);
    cr_assert_str_eq(err, "nesting too deep");
    /* One level less fits, and AMF0 re-encoding keeps it decodable. */
    static const uint8_t tail2[] = {0x11, 0x09, 0x03, 0x01, 0x01};
    memcpy(p + n, tail2, sizeof(tail2));
    cr_assert_eq(amf0_decode(p, n + sizeof(tail2), &v, &used, &err), ST_OK, "%s", err);
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(amf0_write_value(&b, &v), ST_OK);
    struct amf_value out;
    cr_assert_eq(amf0_decode(b.data, b.len, &out, &used, &err), ST_OK, "%s", err);
    cr_assert(amf_value_equal(&v, &out, 0));
    amf_value_free(&out);
    amf_value_free(&v);
    buf_free(&b);
}

Test(amf3, garbage)
{
    uint32_t s = 777;
    uint8_t p[128];
    static const uint8_t base[] = {0x09, 0x07, 0x03, 'k', 0x06, 0x00, 0x01,
                                   0x0a, 0x13, 0x07, 'F', 'o', 'o', 0x03, 'x', 0x04, 0x01,
                                   0x0a, 0x01, 0x04, 0x02, 0x0a, 0x04, 0x0c, 0x03, 0x7a};
    for (int iter = 0; iter < 20000; iter++) {
        size_t n;
        if (iter & 1) {
            s = s * 1103515245 + 12345;
            n = (s >> 8) % sizeof(p);
            for (size_t i = 0; i < n; i++) {
                s = s * 1103515245 + 12345;
                p[i] = (uint8_t)((s >> 16) % 3 ? (s >> 16) % 14 : s >> 20);
            }
        } else {
            n = sizeof(base);
            memcpy(p, base, n);
            s = s * 1103515245 + 12345;
            p[(s >> 8) % n] = (uint8_t)(s >> 20);
        }
        struct amf_value v;
        size_t used = 0;
        const char *err = NULL;
        if (amf3_decode(p, n, &v, &used, &err) == ST_OK) {
            cr_assert_leq(used, n);
            round_trip(&v);
            amf_value_free(&v);
        } else {
            cr_assert_not_null(err);
        }
    }
}
