#include <criterion/criterion.h>

#include "amf/amf0.h"
#include "amf/amf3.h"
#include "amf/amf_internal.h"
#include "core/status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SC_TEST_DATA
#define SC_TEST_DATA "tests/data"
#endif

/* Every proper prefix of a whole encoding must be an error (values are
 * prefix-free, so none can decode), and the whole must decode exactly. */
static void check_prefixes(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct amf_value v;
        size_t used = 0;
        const char *err = NULL;
        uint8_t *copy = malloc(i ? i : 1); /* exact size so ASan sees overreads */
        memcpy(copy, p, i);
        cr_assert_eq(amf0_decode(i ? copy : NULL, i, &v, &used, &err), ST_ERROR,
                     "prefix %zu of %zu", i, n);
        cr_assert_not_null(err);
        cr_assert_eq(v.type, AMF_UNDEFINED);
        cr_assert_null(v.props);
        cr_assert_null(v.str);
        free(copy);
    }
}

static void decode_whole(const uint8_t *p, size_t n, struct amf_value *v)
{
    size_t used = 0;
    const char *err = NULL;
    int rc = amf0_decode(p, n, v, &used, &err);
    cr_assert_eq(rc, ST_OK, "decode failed: %s", err ? err : "?");
    cr_assert_eq(used, n, "consumed %zu of %zu", used, n);
}

static const char *decode_err(const uint8_t *p, size_t n)
{
    struct amf_value v;
    size_t used = 0;
    const char *err = NULL;
    cr_assert_eq(amf0_decode(p, n, &v, &used, &err), ST_ERROR);
    cr_assert_not_null(err);
    cr_assert_eq(v.type, AMF_UNDEFINED);
    return err;
}

/* write -> decode -> equal, plus every truncation; returns the encoding size.
 * loose: an AMF3 byte array (via the AVM+ switch) comes back as a string. */
static size_t round_trip_ex(const struct amf_value *v, int loose)
{
    struct buf b;
    buf_init(&b, 1 << 24);
    cr_assert_eq(amf0_write_value(&b, v), ST_OK);
    struct amf_value out;
    decode_whole(b.data, b.len, &out);
    cr_assert(amf_value_equal(v, &out, loose), "round trip differs");
    amf_value_free(&out);
    check_prefixes(b.data, b.len);
    size_t n = b.len;
    buf_free(&b);
    return n;
}

static size_t round_trip(const struct amf_value *v) { return round_trip_ex(v, 0); }

static struct amf_value num(double d) { return (struct amf_value){.type = AMF_NUMBER, .num = d}; }

static struct amf_value str(const char *s)
{
    struct amf_value v = {.type = AMF_STRING, .len = strlen(s)};
    v.str = strdup(s);
    return v;
}

static void add(struct amf_value *o, const char *name, struct amf_value val)
{
    o->props = realloc(o->props, (o->nprops + 1) * sizeof(*o->props));
    struct amf_prop *p = &o->props[o->nprops++];
    p->name = strdup(name);
    p->name_len = strlen(name);
    p->value = val;
}

static void push(struct amf_value *a, struct amf_value val)
{
    a->items = realloc(a->items, (a->nitems + 1) * sizeof(*a->items));
    a->items[a->nitems++] = val;
}

Test(amf0, scalars_round_trip)
{
    double nums[] = {0.0, -0.0, 1.0, -1.5, 1e300, INFINITY, -INFINITY, NAN, 4294967296.0};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        struct amf_value v = num(nums[i]);
        cr_assert_eq(round_trip(&v), 9);
    }
    struct amf_value t = {.type = AMF_BOOLEAN, .boolean = 1}, f = {.type = AMF_BOOLEAN};
    cr_assert_eq(round_trip(&t), 2);
    cr_assert_eq(round_trip(&f), 2);
    struct amf_value n = {.type = AMF_NULL}, u = {.type = AMF_UNDEFINED}, x = {.type = AMF_UNSUPPORTED};
    cr_assert_eq(round_trip(&n), 1);
    cr_assert_eq(round_trip(&u), 1);
    cr_assert_eq(round_trip(&x), 1);
    struct amf_value d = {.type = AMF_DATE, .num = 1700000000000.0, .tz = -120};
    cr_assert_eq(round_trip(&d), 11);
}

Test(amf0, strings_round_trip)
{
    struct amf_value s = str("");
    cr_assert_eq(round_trip(&s), 3);
    amf_value_free(&s);
    s = str("live");
    cr_assert_eq(round_trip(&s), 7);
    amf_value_free(&s);
    /* Embedded NUL kept. */
    struct amf_value z = {.type = AMF_STRING, .str = malloc(4), .len = 3};
    memcpy(z.str, "a\0b", 4);
    round_trip(&z);
    amf_value_free(&z);
    /* 65535 fits a short string, 65536 switches to a long string. */
    size_t lens[] = {65535, 65536, 70000};
    size_t sizes[] = {3 + 65535, 5 + 65536, 5 + 70000};
    for (size_t i = 0; i < 3; i++) {
        struct amf_value l = {.type = AMF_STRING, .len = lens[i], .str = malloc(lens[i] + 1)};
        memset(l.str, 'x', lens[i]);
        l.str[lens[i]] = 0;
        struct buf b;
        buf_init(&b, 1 << 20);
        cr_assert_eq(amf0_write_value(&b, &l), ST_OK);
        cr_assert_eq(b.len, sizes[i]);
        cr_assert_eq(b.data[0], i == 0 ? 0x02 : 0x0c);
        struct amf_value out;
        decode_whole(b.data, b.len, &out);
        cr_assert(amf_value_equal(&l, &out, 0));
        amf_value_free(&out);
        buf_free(&b);
        amf_value_free(&l);
    }
    struct amf_value xml = {.type = AMF_XML, .str = strdup("<a/>"), .len = 4};
    cr_assert_eq(round_trip(&xml), 9);
    amf_value_free(&xml);
}

Test(amf0, containers_round_trip)
{
    struct amf_value o = {.type = AMF_OBJECT};
    add(&o, "app", str("live"));
    add(&o, "n", num(3));
    add(&o, "", num(4)); /* empty key that is not the end marker */
    struct amf_value inner = {.type = AMF_ECMA_ARRAY};
    add(&inner, "duration", num(0));
    add(&inner, "width", num(320));
    add(&o, "meta", inner);
    struct amf_value arr = {.type = AMF_STRICT_ARRAY};
    push(&arr, num(1));
    push(&arr, str("two"));
    push(&arr, (struct amf_value){.type = AMF_NULL});
    push(&arr, (struct amf_value){.type = AMF_STRICT_ARRAY});
    add(&o, "list", arr);
    struct amf_value typed = {.type = AMF_OBJECT, .class_name = strdup("flash.Point")};
    add(&typed, "x", num(1));
    add(&o, "pt", typed);
    add(&o, "empty", (struct amf_value){.type = AMF_OBJECT});
    add(&o, "emptyecma", (struct amf_value){.type = AMF_ECMA_ARRAY});
    round_trip(&o);
    cr_assert_str_eq(amf_value_get_string(&o, "app"), "live");
    cr_assert_eq(amf_value_get_number(&o, "n", -1), 3);
    cr_assert_eq(amf_value_get_number(&o, "app", -1), -1);
    cr_assert_null(amf_value_get(&o, "nope"));
    cr_assert_null(amf_value_get_string(&o, "n"));
    amf_value_free(&o);
    cr_assert_eq(o.type, AMF_UNDEFINED);
    cr_assert_null(o.props);
    amf_value_free(&o); /* second free of a reset value is harmless */
}

Test(amf0, builder_api_matches_hand_bytes)
{
    struct buf b;
    buf_init(&b, 4096);
    cr_assert_eq(amf0_write_cstring(&b, "_result"), ST_OK);
    cr_assert_eq(amf0_write_number(&b, 1), ST_OK);
    cr_assert_eq(amf0_write_object_start(&b), ST_OK);
    cr_assert_eq(amf0_write_key(&b, "ok"), ST_OK);
    cr_assert_eq(amf0_write_bool(&b, 1), ST_OK);
    cr_assert_eq(amf0_write_object_end(&b), ST_OK);
    cr_assert_eq(amf0_write_ecma_array_start(&b, 1), ST_OK);
    cr_assert_eq(amf0_write_key(&b, "k"), ST_OK);
    cr_assert_eq(amf0_write_null(&b), ST_OK);
    cr_assert_eq(amf0_write_object_end(&b), ST_OK);
    cr_assert_eq(amf0_write_undefined(&b), ST_OK);
    static const uint8_t want[] = {
        0x02, 0x00, 0x07, '_', 'r', 'e', 's', 'u', 'l', 't',
        0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
        0x03, 0x00, 0x02, 'o', 'k', 0x01, 0x01, 0x00, 0x00, 0x09,
        0x08, 0, 0, 0, 1, 0x00, 0x01, 'k', 0x05, 0x00, 0x00, 0x09,
        0x06};
    cr_assert_eq(b.len, sizeof(want));
    cr_assert_arr_eq(b.data, want, sizeof(want));
    struct amf_value *vals;
    size_t n;
    const char *err = NULL;
    cr_assert_eq(amf0_decode_all(b.data, b.len, 10, &vals, &n, &err), ST_OK);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(vals[0].str, "_result");
    cr_assert_eq(vals[1].num, 1);
    cr_assert_eq(amf_value_get(&vals[2], "ok")->boolean, 1);
    cr_assert_eq(vals[3].type, AMF_ECMA_ARRAY);
    cr_assert_eq(amf_value_get(&vals[3], "k")->type, AMF_NULL);
    cr_assert_eq(vals[4].type, AMF_UNDEFINED);
    amf_values_free(vals, n);
    /* More values than allowed. */
    cr_assert_eq(amf0_decode_all(b.data, b.len, 4, &vals, &n, &err), ST_ERROR);
    cr_assert_null(vals);
    cr_assert_eq(n, 0);
    /* A truncated last value fails the whole call. */
    cr_assert_eq(amf0_decode_all(b.data, b.len - 2, 10, &vals, &n, &err), ST_ERROR);
    buf_free(&b);
    /* Empty input: no values. */
    cr_assert_eq(amf0_decode_all((const uint8_t *)"", 0, 10, &vals, &n, &err), ST_OK);
    cr_assert_eq(n, 0);
    amf_values_free(vals, n);
}

Test(amf0, writer_respects_cap_and_rolls_back)
{
    struct buf b;
    buf_init(&b, 16);
    cr_assert_eq(amf0_write_cstring(&b, "0123456789"), ST_OK);
    size_t len = b.len;
    cr_assert_eq(amf0_write_cstring(&b, "0123456789"), ST_ERROR);
    cr_assert_eq(amf0_write_number(&b, 1), ST_ERROR);
    cr_assert_eq(b.len, len);
    struct amf_value o = {.type = AMF_OBJECT};
    add(&o, "a", num(1));
    cr_assert_eq(amf0_write_value(&b, &o), ST_ERROR); /* fits partly: nothing kept */
    cr_assert_eq(b.len, len);
    amf_value_free(&o);
    buf_free(&b);
}

Test(amf0, hand_encoded_types)
{
    /* date with a timezone, xml, typed object, unsupported, long string */
    static const uint8_t date[] = {0x0b, 0x42, 0x78, 0, 0, 0, 0, 0, 0, 0xff, 0xc4};
    struct amf_value v;
    decode_whole(date, sizeof(date), &v);
    cr_assert_eq(v.type, AMF_DATE);
    cr_assert_eq(v.num, 1649267441664.0);
    cr_assert_eq(v.tz, -60);
    check_prefixes(date, sizeof(date));
    static const uint8_t xml[] = {0x0f, 0, 0, 0, 3, '<', 'a', '>'};
    decode_whole(xml, sizeof(xml), &v);
    cr_assert_eq(v.type, AMF_XML);
    cr_assert_eq(v.len, 3);
    cr_assert_str_eq(v.str, "<a>");
    amf_value_free(&v);
    static const uint8_t typed[] = {0x10, 0, 2, 'P', 't', 0, 1, 'x', 0x01, 0x00, 0, 0, 9};
    decode_whole(typed, sizeof(typed), &v);
    cr_assert_eq(v.type, AMF_OBJECT);
    cr_assert_str_eq(v.class_name, "Pt");
    cr_assert_eq(amf_value_get(&v, "x")->boolean, 0);
    amf_value_free(&v);
    check_prefixes(typed, sizeof(typed));
    static const uint8_t uns[] = {0x0d};
    decode_whole(uns, 1, &v);
    cr_assert_eq(v.type, AMF_UNSUPPORTED);
    static const uint8_t ls[] = {0x0c, 0, 0, 0, 2, 'h', 'i'};
    decode_whole(ls, sizeof(ls), &v);
    cr_assert_eq(v.type, AMF_STRING);
    cr_assert_str_eq(v.str, "hi");
    amf_value_free(&v);
    /* Boolean: any non-zero byte is true. */
    static const uint8_t b7[] = {0x01, 0x07};
    decode_whole(b7, 2, &v);
    cr_assert_eq(v.boolean, 1);
}

Test(amf0, rejected_types)
{
    static const uint8_t clip[] = {0x04}, rec[] = {0x0e}, end[] = {0x09}, unk[] = {0x12}, ff[] = {0xff};
    decode_err(clip, 1);
    decode_err(rec, 1);
    cr_assert_str_eq(decode_err(end, 1), "unexpected object end");
    decode_err(unk, 1);
    decode_err(ff, 1);
    /* Object end as a property value. */
    static const uint8_t endval[] = {0x03, 0, 1, 'a', 0x09, 0, 0, 9};
    decode_err(endval, sizeof(endval));
    decode_err(NULL, 0);
}

Test(amf0, ecma_count_is_only_a_hint)
{
    /* count 0 but two members (seen from real encoders), then count 100 with one */
    static const uint8_t lie0[] = {0x08, 0, 0, 0, 0, 0, 1, 'a', 0x05, 0, 1, 'b', 0x06, 0, 0, 9};
    struct amf_value v;
    decode_whole(lie0, sizeof(lie0), &v);
    cr_assert_eq(v.type, AMF_ECMA_ARRAY);
    cr_assert_eq(v.nprops, 2);
    amf_value_free(&v);
    check_prefixes(lie0, sizeof(lie0));
    static const uint8_t lie100[] = {0x08, 0, 0, 0, 100, 0, 1, 'a', 0x05, 0, 0, 9};
    decode_whole(lie100, sizeof(lie100), &v);
    cr_assert_eq(v.nprops, 1);
    amf_value_free(&v);
    /* No end marker: truncated. */
    decode_err(lie100, sizeof(lie100) - 3);
}

Test(amf0, strict_array_counts_bounded_before_allocating)
{
    static const uint8_t huge[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x05, 0x05, 0x05, 0x05, 0x05};
    decode_err(huge, sizeof(huge));
    /* Within the item cap but more than the bytes left. */
    static const uint8_t more[] = {0x0a, 0, 0, 0x10, 0, 0x05, 0x05};
    decode_err(more, sizeof(more));
    /* Exactly the cap works, one more does not. */
    size_t n = 5 + AMF0_MAX_ITEMS + 1;
    uint8_t *p = malloc(n);
    memset(p, 0x05, n);
    p[0] = 0x0a;
    wr_be32(p + 1, AMF0_MAX_ITEMS);
    struct amf_value v;
    decode_whole(p, n - 1, &v);
    cr_assert_eq(v.nitems, AMF0_MAX_ITEMS);
    amf_value_free(&v);
    wr_be32(p + 1, AMF0_MAX_ITEMS + 1);
    cr_assert_str_eq(decode_err(p, n), "too many array items");
    free(p);
}

Test(amf0, object_property_cap)
{
    size_t n = 1 + (AMF0_MAX_ITEMS + 1) * 3 + 3;
    uint8_t *p = calloc(1, n), *q = p;
    *q++ = 0x03;
    for (size_t i = 0; i < AMF0_MAX_ITEMS + 1; i++) {
        q += 2; /* empty key, not followed by the end marker */
        *q++ = 0x05;
    }
    q[2] = 0x09;
    cr_assert_str_eq(decode_err(p, n), "too many properties");
    /* Drop one property: accepted. */
    memmove(p + 1, p + 4, n - 4);
    struct amf_value v;
    decode_whole(p, n - 3, &v);
    cr_assert_eq(v.nprops, AMF0_MAX_ITEMS);
    amf_value_free(&v);
    free(p);
}

static size_t nest(uint8_t *p, int levels, uint8_t inner)
{
    size_t n = 0;
    for (int i = 0; i < levels; i++) {
        p[n++] = 0x0a; /* strict array of one */
        wr_be32(p + n, 1);
        n += 4;
    }
    p[n++] = inner;
    return n;
}

Test(amf0, depth_cap)
{
    uint8_t p[512];
    struct amf_value v;
    size_t n = nest(p, AMF0_MAX_DEPTH, 0x05);
    decode_whole(p, n, &v);
    cr_assert_eq(amf_value_height(&v), AMF0_MAX_DEPTH);
    round_trip(&v);
    amf_value_free(&v);
    n = nest(p, AMF0_MAX_DEPTH + 1, 0x05);
    cr_assert_str_eq(decode_err(p, n), "nesting too deep");
    /* Objects count the same way: 31 arrays + an object holding an object. */
    n = nest(p, AMF0_MAX_DEPTH - 1, 0x03);
    static const uint8_t tail[] = {0, 1, 'o', 0x03, 0, 0, 9, 0, 0, 9};
    memcpy(p + n, tail, sizeof(tail));
    cr_assert_str_eq(decode_err(p, n + sizeof(tail)), "nesting too deep");
}

Test(amf0, references)
{
    /* [0] {a: [1] {x: 1}}, then ref 1, ref 0, ref 2 (out of range) */
    static const uint8_t p[] = {
        0x03, 0, 1, 'a', 0x03, 0, 1, 'x', 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 9,
        0x07, 0, 1,
        0x07, 0, 0};
    struct amf_value *vals;
    size_t n;
    const char *err = NULL;
    cr_assert_eq(amf0_decode_all(p, sizeof(p), 8, &vals, &n, &err), ST_OK, "%s", err);
    cr_assert_eq(n, 3);
    cr_assert_eq(vals[1].type, AMF_OBJECT);
    cr_assert_eq(amf_value_get_number(&vals[1], "x", 0), 1);
    cr_assert(amf_value_equal(&vals[0], &vals[2], 0));
    cr_assert_neq(vals[0].props, vals[2].props); /* deep copy, not shared */
    amf_values_free(vals, n);

    uint8_t bad[sizeof(p)];
    memcpy(bad, p, sizeof(p));
    bad[sizeof(p) - 1] = 2;
    cr_assert_eq(amf0_decode_all(bad, sizeof(bad), 8, &vals, &n, &err), ST_ERROR);
    cr_assert_str_eq(err, "reference index out of range");
    cr_assert_null(vals);

    /* Reference at the top of a fresh call: the table is per call. */
    static const uint8_t lone[] = {0x07, 0, 0};
    decode_err(lone, sizeof(lone));
    check_prefixes(lone, sizeof(lone));
    /* Self reference while the object is still open. */
    static const uint8_t self[] = {0x03, 0, 1, 's', 0x07, 0, 0, 0, 0, 9};
    cr_assert_str_eq(decode_err(self, sizeof(self)), "reference to an incomplete object");
    /* Strict and ECMA arrays and typed objects count too: ref 2 is the typed object. */
    static const uint8_t mix[] = {0x0a, 0, 0, 0, 2, 0x08, 0, 0, 0, 0, 0, 0, 9,
                                  0x10, 0, 1, 'T', 0, 0, 9, 0x07, 0, 2};
    cr_assert_eq(amf0_decode_all(mix, sizeof(mix), 8, &vals, &n, &err), ST_OK, "%s", err);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(vals[1].class_name, "T");
    amf_values_free(vals, n);
}

Test(amf0, reference_copy_keeps_depth_cap)
{
    /* A 16-deep value, then a 17-deep holder referencing it: the copy would sit
     * 33 deep. */
    uint8_t p[512];
    size_t n = nest(p, 16, 0x05);
    size_t m = nest(p + n, 17, 0x07);
    p[n + m] = 0;
    p[n + m + 1] = 0;
    struct amf_value *vals;
    size_t cnt;
    const char *err = NULL;
    cr_assert_eq(amf0_decode_all(p, n + m + 2, 4, &vals, &cnt, &err), ST_ERROR);
    cr_assert_str_eq(err, "nesting too deep");
    /* 16 deep holder: the copy ends exactly at the cap. */
    m = nest(p + n, 16, 0x07);
    p[n + m] = 0;
    p[n + m + 1] = 0;
    cr_assert_eq(amf0_decode_all(p, n + m + 2, 4, &vals, &cnt, &err), ST_OK, "%s", err);
    cr_assert_eq(amf_value_height(&vals[1]), AMF0_MAX_DEPTH);
    amf_values_free(vals, cnt);
}

Test(amf0, allocation_budget_scales_with_input)
{
    /* A 10-byte message may never allocate megabytes, a large one gets room. */
    cr_assert_lt(amf_value_budget(10), 128 * 1024);
    cr_assert_geq(amf_value_budget(1 << 20), 128u << 20);
    cr_assert_eq(amf_value_budget(SIZE_MAX / 2), SIZE_MAX);
}

Test(amf0, reference_amplification_is_bounded)
{
    /* {s: 60000-byte string}, then an array of 4096 references to it: 240 MB of
     * copies from 72 KB of input must fail on the budget, not allocate. */
    size_t slen = 60000, n = 1 + 2 + 1 + 1 + 4 + slen + 3 + 5 + 4096 * 3;
    uint8_t *p = calloc(1, n), *q = p;
    *q++ = 0x03;
    *q++ = 0;
    *q++ = 1;
    *q++ = 's';
    *q++ = 0x0c;
    wr_be32(q, (uint32_t)slen);
    q += 4;
    memset(q, 'y', slen);
    q += slen;
    *q++ = 0;
    *q++ = 0;
    *q++ = 9;
    *q++ = 0x0a;
    wr_be32(q, 4096);
    q += 4;
    for (int i = 0; i < 4096; i++) {
        *q++ = 0x07;
        *q++ = 0;
        *q++ = 0;
    }
    cr_assert_eq((size_t)(q - p), n);
    struct amf_value *vals;
    size_t cnt;
    const char *err = NULL;
    cr_assert_eq(amf0_decode_all(p, n, 4, &vals, &cnt, &err), ST_ERROR);
    cr_assert_str_eq(err, "allocation budget exceeded");
    free(p);
}

Test(amf0, long_key_written_through_avmplus)
{
    size_t klen = 70000;
    struct amf_value o = {.type = AMF_OBJECT};
    char *key = malloc(klen + 1);
    memset(key, 'k', klen);
    key[klen] = 0;
    add(&o, key, num(7));
    add(&o, "", str("empty key"));
    struct buf b;
    buf_init(&b, 1 << 20);
    cr_assert_eq(amf0_write_value(&b, &o), ST_OK);
    cr_assert_eq(b.data[0], 0x11);
    struct amf_value out;
    decode_whole(b.data, b.len, &out);
    cr_assert(amf_value_equal(&o, &out, 0));
    amf_value_free(&out);
    buf_free(&b);
    /* The plain key writer cannot carry it. */
    buf_init(&b, 1 << 20);
    cr_assert_eq(amf0_write_key(&b, key), ST_ERROR);
    cr_assert_eq(b.len, 0);
    buf_free(&b);
    free(key);
    amf_value_free(&o);
}

Test(amf0, byte_array_written_as_long_string)
{
    struct amf_value ba = {.type = AMF_BYTE_ARRAY, .str = malloc(3), .len = 2};
    memcpy(ba.str, "\x01\x00", 3);
    struct buf b;
    buf_init(&b, 64);
    cr_assert_eq(amf0_write_value(&b, &ba), ST_OK);
    static const uint8_t want[] = {0x0c, 0, 0, 0, 2, 1, 0};
    cr_assert_eq(b.len, sizeof(want));
    cr_assert_arr_eq(b.data, want, sizeof(want));
    struct amf_value out;
    decode_whole(b.data, b.len, &out);
    cr_assert_eq(out.type, AMF_STRING);
    cr_assert(amf_value_equal(&ba, &out, 1));
    cr_assert_not(amf_value_equal(&ba, &out, 0));
    amf_value_free(&out);
    amf_value_free(&ba);
    buf_free(&b);
}

static uint8_t *load(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", SC_TEST_DATA, name);
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

/* The message starting with the AMF0 string `needle` (chunk size 4096: one
 * chunk). The 12-byte type-0 chunk header right before it gives the length. */
static const uint8_t *find_message(const uint8_t *d, size_t n, const char *needle, uint8_t type,
                                   size_t *len)
{
    size_t nl = strlen(needle);
    for (size_t i = 3073 + 12; i + 3 + nl <= n; i++) {
        if (d[i] == 0x02 && rd_be16(d + i + 1) == nl && memcmp(d + i + 3, needle, nl) == 0) {
            const uint8_t *h = d + i - 12;
            cr_assert_eq(h[0] >> 6, 0, "type-0 chunk header expected");
            cr_assert_eq(h[7], type);
            *len = rd_be24(h + 4);
            cr_assert_leq(i + *len, n);
            return d + i;
        }
    }
    cr_assert_fail("%s not found", needle);
    return NULL;
}

Test(amf0, obs_connect_from_capture)
{
    size_t n, mlen;
    uint8_t *d = load("publish-obs.c2s.bin", &n);
    const uint8_t *m = find_message(d, n, "connect", 0x14, &mlen);
    cr_assert_eq(mlen, 191);
    struct amf_value *vals;
    size_t cnt;
    const char *err = NULL;
    cr_assert_eq(amf0_decode_all(m, mlen, 16, &vals, &cnt, &err), ST_OK, "%s", err);
    cr_assert_eq(cnt, 3);
    cr_assert_str_eq(vals[0].str, "connect");
    cr_assert_eq(vals[1].num, 1);
    cr_assert_eq(vals[2].type, AMF_OBJECT);
    cr_assert_str_eq(amf_value_get_string(&vals[2], "app"), "live");
    cr_assert_str_eq(amf_value_get_string(&vals[2], "type"), "nonprivate");
    const struct amf_value *ga = amf_value_get(&vals[2], "supportsGoAway");
    cr_assert_not_null(ga);
    cr_assert_eq(ga->type, AMF_BOOLEAN);
    cr_assert_eq(ga->boolean, 1);
    cr_assert_str_eq(amf_value_get_string(&vals[2], "tcUrl"), "rtmp://127.0.0.1:19360/live");
    /* Re-encoding gives back the same bytes. */
    struct buf b;
    buf_init(&b, 4096);
    for (size_t i = 0; i < cnt; i++)
        cr_assert_eq(amf0_write_value(&b, &vals[i]), ST_OK);
    cr_assert_eq(b.len, mlen);
    cr_assert_arr_eq(b.data, m, mlen);
    buf_free(&b);
    amf_values_free(vals, cnt);
    /* Every truncation of the command object fails. */
    size_t used;
    struct amf_value v;
    cr_assert_eq(amf0_decode(m + 19, mlen - 19, &v, &used, &err), ST_OK);
    cr_assert_eq(used, mlen - 19);
    amf_value_free(&v);
    check_prefixes(m + 19, mlen - 19);
    free(d);
}

Test(amf0, obs_metadata_from_capture)
{
    size_t n, mlen;
    uint8_t *d = load("publish-obs.c2s.bin", &n);
    const uint8_t *m = find_message(d, n, "@setDataFrame", 0x12, &mlen);
    struct amf_value *vals;
    size_t cnt;
    const char *err = NULL;
    cr_assert_eq(amf0_decode_all(m, mlen, 16, &vals, &cnt, &err), ST_OK, "%s", err);
    cr_assert_eq(cnt, 3);
    cr_assert_str_eq(vals[1].str, "onMetaData");
    cr_assert(vals[2].type == AMF_ECMA_ARRAY || vals[2].type == AMF_OBJECT);
    cr_assert_eq(amf_value_get_number(&vals[2], "width", 0), 320);
    cr_assert_eq(amf_value_get_number(&vals[2], "height", 0), 240);
    amf_values_free(vals, cnt);
    free(d);
}

/* Deterministic garbage, and garbage spliced into a valid message: never a
 * crash, and on success the value re-encodes and decodes to itself. */
Test(amf0, garbage)
{
    uint32_t s = 12345;
    uint8_t p[256];
    static const uint8_t base[] = {0x03, 0, 3, 'a', 'p', 'p', 0x02, 0, 4, 'l', 'i', 'v', 'e',
                                   0, 1, 'r', 0x07, 0, 0, 0, 1, 'l', 0x0a, 0, 0, 0, 1, 0x05,
                                   0, 0, 9};
    for (int iter = 0; iter < 20000; iter++) {
        size_t n;
        if (iter & 1) {
            n = (s >> 8) % sizeof(p);
            for (size_t i = 0; i < n; i++) {
                s = s * 1103515245 + 12345;
                p[i] = (uint8_t)(s >> 16) % 20; /* mostly valid markers */
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
        if (amf0_decode(p, n, &v, &used, &err) == ST_OK) {
            cr_assert_leq(used, n);
            round_trip_ex(&v, 1);
            amf_value_free(&v);
        } else {
            cr_assert_not_null(err);
        }
    }
}
