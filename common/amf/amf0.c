#include "amf/amf0.h"
#include "amf/amf3.h"
#include "amf/amf_internal.h"
#include "core/status.h"

#include <stdlib.h>
#include <string.h>

enum {
    M_NUMBER = 0x00, M_BOOLEAN, M_STRING, M_OBJECT, M_MOVIECLIP, M_NULL, M_UNDEFINED,
    M_REFERENCE, M_ECMA_ARRAY, M_OBJECT_END, M_STRICT_ARRAY, M_DATE, M_LONG_STRING,
    M_UNSUPPORTED, M_RECORDSET, M_XML, M_TYPED_OBJECT, M_AVMPLUS
};

/* One entry per complex value (object, typed object, ECMA and strict array),
 * in the order they start, as the AMF0 spec numbers them. The snapshot is a
 * shallow copy taken when the value is complete: its heap pointers stay valid
 * until the call returns, even after the struct itself moves into a parent. */
struct ref {
    struct amf_value snap;
    int done;
};

struct dec {
    const uint8_t *p;
    size_t len, pos;
    const char *err;
    size_t budget;
    struct ref *refs;
    size_t nrefs, refcap;
};

static int fail(struct dec *d, const char *why)
{
    if (!d->err)
        d->err = why;
    return ST_ERROR;
}

static int need(struct dec *d, size_t n)
{
    return d->len - d->pos >= n ? ST_OK : fail(d, "truncated");
}

static double rd_double(const uint8_t *p)
{
    uint64_t u = (uint64_t)rd_be32(p) << 32 | rd_be32(p + 4);
    double v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

/* A string of n bytes at the cursor, copied; the length is checked against
 * the remaining input before any allocation. */
static int read_bytes(struct dec *d, size_t n, char **out)
{
    if (need(d, n) != ST_OK)
        return ST_ERROR;
    if (!(*out = amf_value_strdup(&d->budget, d->p + d->pos, n)))
        return fail(d, "allocation budget exceeded");
    d->pos += n;
    return ST_OK;
}

static int read_u16_string(struct dec *d, char **out, size_t *len)
{
    if (need(d, 2) != ST_OK)
        return ST_ERROR;
    *len = rd_be16(d->p + d->pos);
    d->pos += 2;
    return read_bytes(d, *len, out);
}

static int read_u32_string(struct dec *d, char **out, size_t *len)
{
    if (need(d, 4) != ST_OK)
        return ST_ERROR;
    *len = rd_be32(d->p + d->pos);
    d->pos += 4;
    return read_bytes(d, *len, out);
}

static int ref_open(struct dec *d, size_t *idx)
{
    /* Indices are 16-bit on the wire; later entries are unreachable but the
     * table must still count them, so stop growing it past that range. */
    if (d->nrefs > UINT16_MAX) {
        *idx = SIZE_MAX;
        return ST_OK;
    }
    void *arr = d->refs;
    if (amf_value_grow(&d->budget, &arr, &d->refcap, d->nrefs + 1, sizeof(*d->refs)) != ST_OK)
        return fail(d, "allocation budget exceeded");
    d->refs = arr;
    *idx = d->nrefs++;
    return ST_OK;
}

static void ref_close(struct dec *d, size_t idx, const struct amf_value *v)
{
    if (idx == SIZE_MAX)
        return;
    d->refs[idx].snap = *v;
    d->refs[idx].done = 1;
}

static int decode_value(struct dec *d, struct amf_value *out, int depth);

/* Properties up to the 00 00 09 end marker (objects, typed objects, ECMA
 * arrays: the ECMA count is only a hint, encoders get it wrong). */
static int decode_props(struct dec *d, struct amf_value *v, int depth)
{
    size_t cap = 0;
    for (;;) {
        if (need(d, 3) != ST_OK)
            return ST_ERROR;
        size_t nlen = rd_be16(d->p + d->pos);
        if (nlen == 0 && d->p[d->pos + 2] == M_OBJECT_END) {
            d->pos += 3;
            return ST_OK;
        }
        if (v->nprops >= AMF0_MAX_ITEMS)
            return fail(d, "too many properties");
        void *arr = v->props;
        if (amf_value_grow(&d->budget, &arr, &cap, v->nprops + 1, sizeof(*v->props)) != ST_OK)
            return fail(d, "allocation budget exceeded");
        v->props = arr;
        struct amf_prop *p = &v->props[v->nprops++];
        if (read_u16_string(d, &p->name, &p->name_len) != ST_OK)
            return ST_ERROR;
        if (decode_value(d, &p->value, depth) != ST_OK)
            return ST_ERROR;
    }
}

static int decode_strict_array(struct dec *d, struct amf_value *v, int depth)
{
    if (need(d, 4) != ST_OK)
        return ST_ERROR;
    uint32_t n = rd_be32(d->p + d->pos);
    d->pos += 4;
    if (n > AMF0_MAX_ITEMS)
        return fail(d, "too many array items");
    if (n > d->len - d->pos) /* every item takes at least one byte */
        return fail(d, "truncated");
    if (n && !(v->items = amf_value_calloc(&d->budget, n, sizeof(*v->items))))
        return fail(d, "allocation budget exceeded");
    for (uint32_t i = 0; i < n; i++) {
        v->nitems = i + 1;
        if (decode_value(d, &v->items[i], depth) != ST_OK)
            return ST_ERROR;
    }
    return ST_OK;
}

static int decode_reference(struct dec *d, struct amf_value *v, int depth)
{
    if (need(d, 2) != ST_OK)
        return ST_ERROR;
    size_t idx = rd_be16(d->p + d->pos);
    d->pos += 2;
    if (idx >= d->nrefs)
        return fail(d, "reference index out of range");
    if (!d->refs[idx].done)
        return fail(d, "reference to an incomplete object");
    if (depth + amf_value_height(&d->refs[idx].snap) > AMF0_MAX_DEPTH)
        return fail(d, "nesting too deep");
    if (amf_value_copy(v, &d->refs[idx].snap, &d->budget) != ST_OK)
        return fail(d, "allocation budget exceeded");
    return ST_OK;
}

/* Containers: one table entry from the start, the contents one level deeper. */
static int decode_complex(struct dec *d, uint8_t m, struct amf_value *v, int depth)
{
    size_t idx;
    if (depth >= AMF0_MAX_DEPTH)
        return fail(d, "nesting too deep");
    if (ref_open(d, &idx) != ST_OK)
        return ST_ERROR;
    int rc;
    switch (m) {
    case M_TYPED_OBJECT: {
        size_t n;
        v->type = AMF_OBJECT;
        if (read_u16_string(d, &v->class_name, &n) != ST_OK)
            return ST_ERROR;
        rc = decode_props(d, v, depth + 1);
        break;
    }
    case M_OBJECT:
        v->type = AMF_OBJECT;
        rc = decode_props(d, v, depth + 1);
        break;
    case M_ECMA_ARRAY:
        v->type = AMF_ECMA_ARRAY;
        if (need(d, 4) != ST_OK)
            return ST_ERROR;
        d->pos += 4;
        rc = decode_props(d, v, depth + 1);
        break;
    default:
        v->type = AMF_STRICT_ARRAY;
        rc = decode_strict_array(d, v, depth + 1);
        break;
    }
    if (rc == ST_OK)
        ref_close(d, idx, v);
    return rc;
}

/* On error *out may be partly built; the caller frees it. */
static int decode_value(struct dec *d, struct amf_value *out, int depth)
{
    memset(out, 0, sizeof(*out));
    out->type = AMF_UNDEFINED;
    if (need(d, 1) != ST_OK)
        return ST_ERROR;
    uint8_t m = d->p[d->pos++];
    switch (m) {
    case M_NUMBER:
        if (need(d, 8) != ST_OK)
            return ST_ERROR;
        out->type = AMF_NUMBER;
        out->num = rd_double(d->p + d->pos);
        d->pos += 8;
        return ST_OK;
    case M_BOOLEAN:
        if (need(d, 1) != ST_OK)
            return ST_ERROR;
        out->type = AMF_BOOLEAN;
        out->boolean = d->p[d->pos++] != 0;
        return ST_OK;
    case M_STRING:
        out->type = AMF_STRING;
        return read_u16_string(d, &out->str, &out->len);
    case M_LONG_STRING:
        out->type = AMF_STRING;
        return read_u32_string(d, &out->str, &out->len);
    case M_XML:
        out->type = AMF_XML;
        return read_u32_string(d, &out->str, &out->len);
    case M_NULL:
        out->type = AMF_NULL;
        return ST_OK;
    case M_UNDEFINED:
        return ST_OK;
    case M_UNSUPPORTED:
        out->type = AMF_UNSUPPORTED;
        return ST_OK;
    case M_DATE:
        if (need(d, 10) != ST_OK)
            return ST_ERROR;
        out->type = AMF_DATE;
        out->num = rd_double(d->p + d->pos);
        out->tz = (int16_t)rd_be16(d->p + d->pos + 8);
        d->pos += 10;
        return ST_OK;
    case M_REFERENCE:
        return decode_reference(d, out, depth);
    case M_OBJECT:
    case M_TYPED_OBJECT:
    case M_ECMA_ARRAY:
    case M_STRICT_ARRAY:
        return decode_complex(d, m, out, depth);
    case M_AVMPLUS: {
        size_t used = 0;
        const char *e = NULL;
        if (amf3_decode_nested(d->p + d->pos, d->len - d->pos, out, &used, &e, depth,
                               &d->budget) != ST_OK)
            return fail(d, e ? e : "bad AMF3 value");
        d->pos += used;
        return ST_OK;
    }
    case M_MOVIECLIP:
        return fail(d, "movieclip type not supported");
    case M_RECORDSET:
        return fail(d, "recordset type not supported");
    case M_OBJECT_END:
        return fail(d, "unexpected object end");
    default:
        return fail(d, "unknown AMF0 type");
    }
}

static void dec_init(struct dec *d, const uint8_t *data, size_t len)
{
    memset(d, 0, sizeof(*d));
    d->p = data;
    d->len = data ? len : 0;
    d->budget = amf_value_budget(len);
}

int amf0_decode(const uint8_t *data, size_t len, struct amf_value *out, size_t *consumed,
                const char **err)
{
    struct dec d;
    dec_init(&d, data, len);
    int rc = decode_value(&d, out, 0);
    free(d.refs);
    if (rc != ST_OK) {
        amf_value_free(out);
        if (err)
            *err = d.err;
        return ST_ERROR;
    }
    if (consumed)
        *consumed = d.pos;
    return ST_OK;
}

int amf0_decode_all(const uint8_t *data, size_t len, size_t max_values, struct amf_value **out,
                    size_t *count, const char **err)
{
    struct dec d;
    struct amf_value *vals = NULL;
    size_t n = 0, cap = 0;
    dec_init(&d, data, len);
    while (d.pos < d.len) {
        void *arr = vals;
        if (n >= max_values) {
            fail(&d, "too many values");
            goto fail;
        }
        if (amf_value_grow(&d.budget, &arr, &cap, n + 1, sizeof(*vals)) != ST_OK) {
            fail(&d, "allocation budget exceeded");
            goto fail;
        }
        vals = arr;
        n++;
        if (decode_value(&d, &vals[n - 1], 0) != ST_OK)
            goto fail;
    }
    free(d.refs);
    *out = vals;
    *count = n;
    return ST_OK;
fail:
    free(d.refs);
    amf_values_free(vals, n);
    *out = NULL;
    *count = 0;
    if (err)
        *err = d.err;
    return ST_ERROR;
}

void amf_values_free(struct amf_value *values, size_t count)
{
    for (size_t i = 0; i < count; i++)
        amf_value_free(&values[i]);
    free(values);
}

/* ---- encoders ---- */

static int wr_double(struct buf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    uint8_t t[8];
    wr_be32(t, (uint32_t)(u >> 32));
    wr_be32(t + 4, (uint32_t)u);
    return buf_append(b, t, 8);
}

/* Multi-part writes go through these so that a failure leaves b unchanged:
 * encoders either append a whole value or nothing. */
static int rollback(struct buf *b, size_t mark)
{
    b->len = mark;
    return ST_ERROR;
}

int amf0_write_number(struct buf *b, double v)
{
    size_t mark = b->len;
    if (buf_reserve(b, 9) != ST_OK)
        return ST_ERROR;
    if (buf_append_u8(b, M_NUMBER) != ST_OK || wr_double(b, v) != ST_OK)
        return rollback(b, mark);
    return ST_OK;
}

int amf0_write_bool(struct buf *b, int v)
{
    uint8_t t[2] = {M_BOOLEAN, v ? 1 : 0};
    return buf_append(b, t, 2);
}

static int write_u32_blob(struct buf *b, uint8_t marker, const char *s, size_t len)
{
    if (len > UINT32_MAX || buf_reserve(b, 5 + len) != ST_OK)
        return ST_ERROR;
    buf_append_u8(b, marker);
    buf_append_be32(b, (uint32_t)len);
    buf_append(b, s, len);
    return ST_OK;
}

int amf0_write_string(struct buf *b, const char *s, size_t len)
{
    if (len > UINT16_MAX)
        return write_u32_blob(b, M_LONG_STRING, s, len);
    if (buf_reserve(b, 3 + len) != ST_OK)
        return ST_ERROR;
    buf_append_u8(b, M_STRING);
    buf_append_be16(b, (uint16_t)len);
    buf_append(b, s, len);
    return ST_OK;
}

int amf0_write_cstring(struct buf *b, const char *s) { return amf0_write_string(b, s, strlen(s)); }

int amf0_write_null(struct buf *b) { return buf_append_u8(b, M_NULL); }

int amf0_write_undefined(struct buf *b) { return buf_append_u8(b, M_UNDEFINED); }

int amf0_write_object_start(struct buf *b) { return buf_append_u8(b, M_OBJECT); }

int amf0_write_ecma_array_start(struct buf *b, uint32_t count)
{
    uint8_t t[5] = {M_ECMA_ARRAY};
    wr_be32(t + 1, count);
    return buf_append(b, t, 5);
}

static int write_key(struct buf *b, const char *name, size_t len)
{
    if (len > UINT16_MAX || buf_reserve(b, 2 + len) != ST_OK)
        return ST_ERROR;
    buf_append_be16(b, (uint16_t)len);
    buf_append(b, name, len);
    return ST_OK;
}

int amf0_write_key(struct buf *b, const char *name) { return write_key(b, name, strlen(name)); }

int amf0_write_object_end(struct buf *b)
{
    static const uint8_t end[3] = {0, 0, M_OBJECT_END};
    return buf_append(b, end, 3);
}

static int write_value(struct buf *b, const struct amf_value *v);

/* AMF0 keys are 16-bit; an AMF3 value decoded through the AVM+ switch may
 * carry longer ones, and is then written back the same way. */
static int needs_avmplus(const struct amf_value *v)
{
    for (size_t i = 0; i < v->nprops; i++)
        if (v->props[i].name_len > UINT16_MAX)
            return 1;
    return 0;
}

static int write_props(struct buf *b, const struct amf_value *v)
{
    for (size_t i = 0; i < v->nprops; i++)
        if (write_key(b, v->props[i].name, v->props[i].name_len) != ST_OK ||
            write_value(b, &v->props[i].value) != ST_OK)
            return ST_ERROR;
    return amf0_write_object_end(b);
}

static int write_value(struct buf *b, const struct amf_value *v)
{
    switch (v->type) {
    case AMF_NUMBER:
        return amf0_write_number(b, v->num);
    case AMF_BOOLEAN:
        return amf0_write_bool(b, v->boolean);
    case AMF_STRING:
        return amf0_write_string(b, v->str, v->len);
    case AMF_BYTE_ARRAY:
        return write_u32_blob(b, M_LONG_STRING, v->str, v->len);
    case AMF_XML:
        return write_u32_blob(b, M_XML, v->str, v->len);
    case AMF_NULL:
        return amf0_write_null(b);
    case AMF_UNDEFINED:
        return amf0_write_undefined(b);
    case AMF_UNSUPPORTED:
        return buf_append_u8(b, M_UNSUPPORTED);
    case AMF_DATE:
        if (buf_append_u8(b, M_DATE) != ST_OK || wr_double(b, v->num) != ST_OK)
            return ST_ERROR;
        return buf_append_be16(b, (uint16_t)v->tz);
    case AMF_OBJECT:
        if (needs_avmplus(v))
            break;
        if (v->class_name) {
            if (buf_append_u8(b, M_TYPED_OBJECT) != ST_OK ||
                write_key(b, v->class_name, strlen(v->class_name)) != ST_OK)
                return ST_ERROR;
        } else if (amf0_write_object_start(b) != ST_OK) {
            return ST_ERROR;
        }
        return write_props(b, v);
    case AMF_ECMA_ARRAY:
        if (needs_avmplus(v))
            break;
        if (v->nprops > UINT32_MAX || amf0_write_ecma_array_start(b, (uint32_t)v->nprops) != ST_OK)
            return ST_ERROR;
        return write_props(b, v);
    case AMF_STRICT_ARRAY:
        if (v->nitems > UINT32_MAX || buf_append_u8(b, M_STRICT_ARRAY) != ST_OK ||
            buf_append_be32(b, (uint32_t)v->nitems) != ST_OK)
            return ST_ERROR;
        for (size_t i = 0; i < v->nitems; i++)
            if (write_value(b, &v->items[i]) != ST_OK)
                return ST_ERROR;
        return ST_OK;
    default:
        return ST_ERROR;
    }
    if (buf_append_u8(b, M_AVMPLUS) != ST_OK)
        return ST_ERROR;
    return amf3_write_value(b, v);
}

int amf0_write_value(struct buf *b, const struct amf_value *v)
{
    size_t mark = b->len;
    if (write_value(b, v) != ST_OK)
        return rollback(b, mark);
    return ST_OK;
}
