#include "amf/amf3.h"
#include "amf/amf_internal.h"
#include "core/status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    M_UNDEFINED = 0x00, M_NULL, M_FALSE, M_TRUE, M_INTEGER, M_DOUBLE, M_STRING, M_XML_DOC,
    M_DATE, M_ARRAY, M_OBJECT, M_XML, M_BYTE_ARRAY, M_VECTOR_INT, M_VECTOR_UINT,
    M_VECTOR_DOUBLE, M_VECTOR_OBJECT, M_DICTIONARY
};

/* Entries per reference table (strings, objects, traits). Each entry costs at
 * least one input byte anyway; the cap keeps a single table small. */
#define AMF3_MAX_REFS 65536

#define U29_MAX 0x1fffffffu
#define INT29_MIN (-0x10000000)
#define INT29_MAX 0x0fffffff

/* Strings and traits point into the input: referencing them costs nothing
 * until a value is built from them. */
struct slice {
    const uint8_t *p;
    size_t len;
};

struct traits {
    struct slice class_name;
    struct slice *members; /* sealed member names */
    size_t nmembers;
    int dynamic;
};

/* Object table entry: a shallow snapshot once complete (see amf0.c). */
struct oref {
    struct amf_value snap;
    int done;
};

struct dec {
    const uint8_t *p;
    size_t len, pos;
    const char *err;
    size_t *budget;
    struct slice *strs;
    size_t nstrs, strcap;
    struct oref *objs;
    size_t nobjs, objcap;
    struct traits *traits;
    size_t ntraits, traitcap;
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

/* Up to four bytes: 7 bits from each of the first three (high bit = more),
 * all 8 bits of the fourth. */
static int read_u29(struct dec *d, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        if (need(d, 1) != ST_OK)
            return ST_ERROR;
        uint8_t c = d->p[d->pos++];
        if (i == 3) {
            *out = v << 8 | c;
            return ST_OK;
        }
        v = v << 7 | (c & 0x7f);
        if (!(c & 0x80)) {
            *out = v;
            return ST_OK;
        }
    }
    return ST_ERROR; /* not reached */
}

static int table_add(struct dec *d, void **arr, size_t *n, size_t *cap, size_t size)
{
    if (*n >= AMF3_MAX_REFS)
        return fail(d, "reference table full");
    if (amf_value_grow(d->budget, arr, cap, *n + 1, size) != ST_OK)
        return fail(d, "allocation budget exceeded");
    (*n)++;
    return ST_OK;
}

/* UTF-8-vr: inline (added to the string table unless empty) or a reference. */
static int read_str(struct dec *d, struct slice *s)
{
    uint32_t h;
    if (read_u29(d, &h) != ST_OK)
        return ST_ERROR;
    if (!(h & 1)) {
        if ((h >> 1) >= d->nstrs)
            return fail(d, "string reference out of range");
        *s = d->strs[h >> 1];
        return ST_OK;
    }
    size_t n = h >> 1;
    if (need(d, n) != ST_OK)
        return ST_ERROR;
    s->p = d->p + d->pos;
    s->len = n;
    d->pos += n;
    if (n) {
        void *arr = d->strs;
        int rc = table_add(d, &arr, &d->nstrs, &d->strcap, sizeof(*d->strs));
        d->strs = arr;
        if (rc != ST_OK)
            return ST_ERROR;
        d->strs[d->nstrs - 1] = *s;
    }
    return ST_OK;
}

static char *dup_slice(struct dec *d, struct slice s)
{
    char *p = amf_value_strdup(d->budget, s.p, s.len);
    if (!p)
        fail(d, "allocation budget exceeded");
    return p;
}

static int obj_open(struct dec *d, size_t *idx)
{
    void *arr = d->objs;
    int rc = table_add(d, &arr, &d->nobjs, &d->objcap, sizeof(*d->objs));
    d->objs = arr;
    *idx = d->nobjs - 1;
    return rc;
}

static void obj_close(struct dec *d, size_t idx, const struct amf_value *v)
{
    d->objs[idx].snap = *v;
    d->objs[idx].done = 1;
}

/* Header of a referenceable value: bit 0 clear = reference into the object
 * table (deep copied into v, *is_ref set), else the rest is *h >> 1. */
static int read_ref_header(struct dec *d, struct amf_value *v, uint32_t *h, int *is_ref, int depth)
{
    *is_ref = 0;
    if (read_u29(d, h) != ST_OK)
        return ST_ERROR;
    if (*h & 1) {
        *h >>= 1;
        return ST_OK;
    }
    size_t idx = *h >> 1;
    *is_ref = 1;
    if (idx >= d->nobjs)
        return fail(d, "object reference out of range");
    if (!d->objs[idx].done)
        return fail(d, "reference to an incomplete object");
    if (depth + amf_value_height(&d->objs[idx].snap) > AMF3_MAX_DEPTH)
        return fail(d, "nesting too deep");
    if (amf_value_copy(v, &d->objs[idx].snap, d->budget) != ST_OK)
        return fail(d, "allocation budget exceeded");
    return ST_OK;
}

/* XML, XML document, byte array: a length-prefixed blob in the object table. */
static int decode_blob(struct dec *d, struct amf_value *v, enum amf_type type, int depth)
{
    uint32_t n;
    int is_ref;
    size_t idx;
    int rc = read_ref_header(d, v, &n, &is_ref, depth);
    if (rc != ST_OK || is_ref)
        return rc;
    if (need(d, n) != ST_OK || obj_open(d, &idx) != ST_OK)
        return ST_ERROR;
    v->type = type;
    v->len = n;
    if (!(v->str = dup_slice(d, (struct slice){d->p + d->pos, n})))
        return ST_ERROR;
    d->pos += n;
    obj_close(d, idx, v);
    return ST_OK;
}

static double rd_double(const uint8_t *p)
{
    uint64_t u = (uint64_t)rd_be32(p) << 32 | rd_be32(p + 4);
    double v;
    memcpy(&v, &u, sizeof(v));
    return v;
}

static int decode_date(struct dec *d, struct amf_value *v, int depth)
{
    uint32_t h;
    int is_ref;
    size_t idx;
    int rc = read_ref_header(d, v, &h, &is_ref, depth);
    if (rc != ST_OK || is_ref)
        return rc;
    if (need(d, 8) != ST_OK || obj_open(d, &idx) != ST_OK)
        return ST_ERROR;
    v->type = AMF_DATE;
    v->num = rd_double(d->p + d->pos);
    d->pos += 8;
    obj_close(d, idx, v);
    return ST_OK;
}

static int decode_value(struct dec *d, struct amf_value *out, int depth);

/* Append one property; the name is copied from the input slice. */
static struct amf_prop *add_prop(struct dec *d, struct amf_value *v, size_t *cap, struct slice name)
{
    if (v->nprops >= AMF3_MAX_ITEMS) {
        fail(d, "too many properties");
        return NULL;
    }
    void *arr = v->props;
    if (amf_value_grow(d->budget, &arr, cap, v->nprops + 1, sizeof(*v->props)) != ST_OK) {
        fail(d, "allocation budget exceeded");
        return NULL;
    }
    v->props = arr;
    struct amf_prop *p = &v->props[v->nprops++];
    if (!(p->name = dup_slice(d, name)))
        return NULL;
    p->name_len = name.len;
    return p;
}

/* Name/value pairs up to the empty name (array associative part, dynamic
 * object members). */
static int decode_assoc(struct dec *d, struct amf_value *v, size_t *cap, int depth)
{
    for (;;) {
        struct slice name;
        if (read_str(d, &name) != ST_OK)
            return ST_ERROR;
        if (name.len == 0)
            return ST_OK;
        struct amf_prop *p = add_prop(d, v, cap, name);
        if (!p || decode_value(d, &p->value, depth) != ST_OK)
            return ST_ERROR;
    }
}

/* Dense items become the whole value when there is no associative part, else
 * properties named "0", "1", ... after the associative ones (the ECMA view). */
static int decode_array(struct dec *d, struct amf_value *v, int depth)
{
    uint32_t n;
    int is_ref;
    size_t idx, cap = 0;
    int rc = read_ref_header(d, v, &n, &is_ref, depth);
    if (rc != ST_OK || is_ref)
        return rc;
    if (depth >= AMF3_MAX_DEPTH)
        return fail(d, "nesting too deep");
    if (n > AMF3_MAX_ITEMS)
        return fail(d, "too many array items");
    if (obj_open(d, &idx) != ST_OK)
        return ST_ERROR;
    v->type = AMF_ECMA_ARRAY;
    if (decode_assoc(d, v, &cap, depth + 1) != ST_OK)
        return ST_ERROR;
    if (n > d->len - d->pos) /* every item takes at least one byte */
        return fail(d, "truncated");
    if (v->nprops == 0) {
        v->type = AMF_STRICT_ARRAY;
        if (n && !(v->items = amf_value_calloc(d->budget, n, sizeof(*v->items))))
            return fail(d, "allocation budget exceeded");
        for (uint32_t i = 0; i < n; i++) {
            v->nitems = i + 1;
            if (decode_value(d, &v->items[i], depth + 1) != ST_OK)
                return ST_ERROR;
        }
    } else {
        for (uint32_t i = 0; i < n; i++) {
            char name[16];
            struct slice key = {(const uint8_t *)name, 0};
            key.len = (size_t)snprintf(name, sizeof(name), "%u", (unsigned)i);
            struct amf_prop *p = add_prop(d, v, &cap, key);
            if (!p || decode_value(d, &p->value, depth + 1) != ST_OK)
                return ST_ERROR;
        }
    }
    obj_close(d, idx, v);
    return ST_OK;
}

/* U29O-traits after the object marker: a trait reference, or inline traits
 * that go into the trait table before any member is read. */
static int read_traits(struct dec *d, uint32_t h, const struct traits **out)
{
    if (!(h & 1)) {
        if ((h >> 1) >= d->ntraits)
            return fail(d, "trait reference out of range");
        *out = &d->traits[h >> 1];
        return ST_OK;
    }
    if (h & 2)
        return fail(d, "externalizable not supported");
    struct traits t = {.dynamic = (h & 4) != 0};
    size_t n = h >> 3;
    if (n > AMF3_MAX_ITEMS)
        return fail(d, "too many sealed members");
    if (read_str(d, &t.class_name) != ST_OK)
        return ST_ERROR;
    if (n > d->len - d->pos) /* every name takes at least one byte */
        return fail(d, "truncated");
    if (n && !(t.members = amf_value_calloc(d->budget, n, sizeof(*t.members))))
        return fail(d, "allocation budget exceeded");
    for (size_t i = 0; i < n; i++) {
        if (read_str(d, &t.members[i]) != ST_OK) {
            free(t.members);
            return ST_ERROR;
        }
    }
    t.nmembers = n;
    void *arr = d->traits;
    int rc = table_add(d, &arr, &d->ntraits, &d->traitcap, sizeof(*d->traits));
    d->traits = arr;
    if (rc != ST_OK) {
        free(t.members);
        return ST_ERROR;
    }
    d->traits[d->ntraits - 1] = t;
    *out = &d->traits[d->ntraits - 1];
    return ST_OK;
}

static int decode_object(struct dec *d, struct amf_value *v, int depth)
{
    uint32_t h;
    int is_ref;
    size_t idx, cap = 0;
    const struct traits *t;
    int rc = read_ref_header(d, v, &h, &is_ref, depth);
    if (rc != ST_OK || is_ref)
        return rc;
    if (depth >= AMF3_MAX_DEPTH)
        return fail(d, "nesting too deep");
    if (obj_open(d, &idx) != ST_OK || read_traits(d, h, &t) != ST_OK)
        return ST_ERROR;
    /* Copy what we need: a nested inline trait may move the trait table. */
    struct traits tr = *t;
    v->type = AMF_OBJECT;
    /* class_name has no length: a NUL inside would not survive re-encoding. */
    if (memchr(tr.class_name.p, 0, tr.class_name.len))
        return fail(d, "NUL in class name");
    if (tr.class_name.len && !(v->class_name = dup_slice(d, tr.class_name)))
        return ST_ERROR;
    if (tr.nmembers > d->len - d->pos)
        return fail(d, "truncated");
    for (size_t i = 0; i < tr.nmembers; i++) {
        struct amf_prop *p = add_prop(d, v, &cap, tr.members[i]);
        if (!p || decode_value(d, &p->value, depth + 1) != ST_OK)
            return ST_ERROR;
    }
    if (tr.dynamic && decode_assoc(d, v, &cap, depth + 1) != ST_OK)
        return ST_ERROR;
    obj_close(d, idx, v);
    return ST_OK;
}

static int decode_value(struct dec *d, struct amf_value *out, int depth)
{
    memset(out, 0, sizeof(*out));
    out->type = AMF_UNDEFINED;
    if (need(d, 1) != ST_OK)
        return ST_ERROR;
    uint8_t m = d->p[d->pos++];
    switch (m) {
    case M_UNDEFINED:
        return ST_OK;
    case M_NULL:
        out->type = AMF_NULL;
        return ST_OK;
    case M_FALSE:
    case M_TRUE:
        out->type = AMF_BOOLEAN;
        out->boolean = m == M_TRUE;
        return ST_OK;
    case M_INTEGER: {
        uint32_t u;
        if (read_u29(d, &u) != ST_OK)
            return ST_ERROR;
        out->type = AMF_NUMBER;
        out->num = (u & 0x10000000) ? (double)((int32_t)u - 0x20000000) : (double)u;
        return ST_OK;
    }
    case M_DOUBLE:
        if (need(d, 8) != ST_OK)
            return ST_ERROR;
        out->type = AMF_NUMBER;
        out->num = rd_double(d->p + d->pos);
        d->pos += 8;
        return ST_OK;
    case M_STRING: {
        struct slice s;
        if (read_str(d, &s) != ST_OK)
            return ST_ERROR;
        out->type = AMF_STRING;
        out->len = s.len;
        return (out->str = dup_slice(d, s)) ? ST_OK : ST_ERROR;
    }
    case M_XML_DOC:
    case M_XML:
        return decode_blob(d, out, AMF_XML, depth);
    case M_BYTE_ARRAY:
        return decode_blob(d, out, AMF_BYTE_ARRAY, depth);
    case M_DATE:
        return decode_date(d, out, depth);
    case M_ARRAY:
        return decode_array(d, out, depth);
    case M_OBJECT:
        return decode_object(d, out, depth);
    case M_VECTOR_INT:
    case M_VECTOR_UINT:
    case M_VECTOR_DOUBLE:
    case M_VECTOR_OBJECT:
        return fail(d, "vector types not supported");
    case M_DICTIONARY:
        return fail(d, "dictionary type not supported");
    default:
        return fail(d, "unknown AMF3 type");
    }
}

int amf3_decode_nested(const uint8_t *data, size_t len, struct amf_value *out, size_t *consumed,
                       const char **err, int depth, size_t *budget)
{
    struct dec d;
    memset(&d, 0, sizeof(d));
    d.p = data;
    d.len = data ? len : 0;
    d.budget = budget;
    int rc = decode_value(&d, out, depth);
    free(d.strs);
    free(d.objs);
    for (size_t i = 0; i < d.ntraits; i++)
        free(d.traits[i].members);
    free(d.traits);
    if (rc != ST_OK) {
        amf_value_free(out);
        if (err)
            *err = d.err ? d.err : "bad AMF3 value";
        return ST_ERROR;
    }
    if (consumed)
        *consumed = d.pos;
    return ST_OK;
}

int amf3_decode(const uint8_t *data, size_t len, struct amf_value *out, size_t *consumed,
                const char **err)
{
    size_t budget = amf_value_budget(len);
    return amf3_decode_nested(data, len, out, consumed, err, 0, &budget);
}

/* ---- encoder: no references, every object with inline sealed traits ---- */

static int write_u29(struct buf *b, uint32_t v)
{
    uint8_t t[4];
    size_t n;
    if (v > U29_MAX)
        return ST_ERROR;
    if (v < 0x80) {
        t[0] = (uint8_t)v;
        n = 1;
    } else if (v < 0x4000) {
        t[0] = (uint8_t)(v >> 7 | 0x80);
        t[1] = (uint8_t)(v & 0x7f);
        n = 2;
    } else if (v < 0x200000) {
        t[0] = (uint8_t)(v >> 14 | 0x80);
        t[1] = (uint8_t)(v >> 7 | 0x80);
        t[2] = (uint8_t)(v & 0x7f);
        n = 3;
    } else {
        t[0] = (uint8_t)(v >> 22 | 0x80);
        t[1] = (uint8_t)(v >> 15 | 0x80);
        t[2] = (uint8_t)(v >> 8 | 0x80);
        t[3] = (uint8_t)v;
        n = 4;
    }
    return buf_append(b, t, n);
}

/* Inline length header (len << 1 | 1) then the bytes. */
static int write_inline(struct buf *b, const char *s, size_t len)
{
    if (len > U29_MAX >> 1 || write_u29(b, (uint32_t)len << 1 | 1) != ST_OK)
        return ST_ERROR;
    return buf_append(b, s, len);
}

static int write_value(struct buf *b, const struct amf_value *v)
{
    uint8_t t[8];
    uint64_t u;
    switch (v->type) {
    case AMF_UNDEFINED:
    case AMF_UNSUPPORTED:
        return buf_append_u8(b, M_UNDEFINED);
    case AMF_NULL:
        return buf_append_u8(b, M_NULL);
    case AMF_BOOLEAN:
        return buf_append_u8(b, v->boolean ? M_TRUE : M_FALSE);
    case AMF_NUMBER:
        /* Integer form only when it decodes to the very same double. */
        if (v->num >= INT29_MIN && v->num <= INT29_MAX && v->num == floor(v->num) &&
            !(v->num == 0 && signbit(v->num))) {
            int32_t i = (int32_t)v->num;
            if (buf_append_u8(b, M_INTEGER) != ST_OK)
                return ST_ERROR;
            return write_u29(b, (uint32_t)i & U29_MAX);
        }
        memcpy(&u, &v->num, sizeof(u));
        wr_be32(t, (uint32_t)(u >> 32));
        wr_be32(t + 4, (uint32_t)u);
        if (buf_append_u8(b, M_DOUBLE) != ST_OK)
            return ST_ERROR;
        return buf_append(b, t, 8);
    case AMF_STRING:
        if (buf_append_u8(b, M_STRING) != ST_OK)
            return ST_ERROR;
        return write_inline(b, v->str, v->len);
    case AMF_XML:
    case AMF_BYTE_ARRAY:
        if (buf_append_u8(b, v->type == AMF_XML ? M_XML : M_BYTE_ARRAY) != ST_OK)
            return ST_ERROR;
        return write_inline(b, v->str, v->len);
    case AMF_DATE:
        memcpy(&u, &v->num, sizeof(u));
        wr_be32(t, (uint32_t)(u >> 32));
        wr_be32(t + 4, (uint32_t)u);
        if (buf_append_u8(b, M_DATE) != ST_OK || buf_append_u8(b, 0x01) != ST_OK)
            return ST_ERROR;
        return buf_append(b, t, 8);
    case AMF_STRICT_ARRAY:
        if (v->nitems > U29_MAX >> 1 || buf_append_u8(b, M_ARRAY) != ST_OK ||
            write_u29(b, (uint32_t)v->nitems << 1 | 1) != ST_OK || buf_append_u8(b, 0x01) != ST_OK)
            return ST_ERROR;
        for (size_t i = 0; i < v->nitems; i++)
            if (write_value(b, &v->items[i]) != ST_OK)
                return ST_ERROR;
        return ST_OK;
    case AMF_ECMA_ARRAY:
        /* All members associative; the empty name is the terminator, so an
         * empty key cannot be carried. */
        if (buf_append_u8(b, M_ARRAY) != ST_OK || buf_append_u8(b, 0x01) != ST_OK)
            return ST_ERROR;
        for (size_t i = 0; i < v->nprops; i++)
            if (v->props[i].name_len == 0 ||
                write_inline(b, v->props[i].name, v->props[i].name_len) != ST_OK ||
                write_value(b, &v->props[i].value) != ST_OK)
                return ST_ERROR;
        return buf_append_u8(b, 0x01);
    case AMF_OBJECT: {
        /* Sealed members keep order, duplicates and empty names. */
        const char *cn = v->class_name ? v->class_name : "";
        if (v->nprops > U29_MAX >> 4 || buf_append_u8(b, M_OBJECT) != ST_OK ||
            write_u29(b, (uint32_t)v->nprops << 4 | 0x03) != ST_OK ||
            write_inline(b, cn, strlen(cn)) != ST_OK)
            return ST_ERROR;
        for (size_t i = 0; i < v->nprops; i++)
            if (write_inline(b, v->props[i].name, v->props[i].name_len) != ST_OK)
                return ST_ERROR;
        for (size_t i = 0; i < v->nprops; i++)
            if (write_value(b, &v->props[i].value) != ST_OK)
                return ST_ERROR;
        return ST_OK;
    }
    }
    return ST_ERROR;
}

int amf3_write_value(struct buf *b, const struct amf_value *v)
{
    size_t mark = b->len;
    if (write_value(b, v) != ST_OK) {
        b->len = mark;
        return ST_ERROR;
    }
    return ST_OK;
}
