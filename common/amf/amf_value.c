#include "amf/amf_value.h"
#include "amf/amf_internal.h"
#include "core/status.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define AMF_BUDGET_PER_BYTE 256
#define AMF_BUDGET_BASE 65536

void amf_value_free(struct amf_value *v)
{
    if (!v)
        return;
    free(v->str);
    free(v->class_name);
    for (size_t i = 0; i < v->nprops; i++) {
        free(v->props[i].name);
        amf_value_free(&v->props[i].value);
    }
    free(v->props);
    for (size_t i = 0; i < v->nitems; i++)
        amf_value_free(&v->items[i]);
    free(v->items);
    memset(v, 0, sizeof(*v));
    v->type = AMF_UNDEFINED;
}

const struct amf_value *amf_value_get(const struct amf_value *v, const char *name)
{
    if (!v || !name || (v->type != AMF_OBJECT && v->type != AMF_ECMA_ARRAY))
        return NULL;
    size_t n = strlen(name);
    for (size_t i = 0; i < v->nprops; i++)
        if (v->props[i].name_len == n && memcmp(v->props[i].name, name, n) == 0)
            return &v->props[i].value;
    return NULL;
}

const char *amf_value_get_string(const struct amf_value *v, const char *name)
{
    const struct amf_value *p = amf_value_get(v, name);
    return p && p->type == AMF_STRING ? p->str : NULL;
}

double amf_value_get_number(const struct amf_value *v, const char *name, double dflt)
{
    const struct amf_value *p = amf_value_get(v, name);
    return p && p->type == AMF_NUMBER ? p->num : dflt;
}

size_t amf_value_budget(size_t len)
{
    if (len > (SIZE_MAX - AMF_BUDGET_BASE) / AMF_BUDGET_PER_BYTE)
        return SIZE_MAX;
    return len * AMF_BUDGET_PER_BYTE + AMF_BUDGET_BASE;
}

void *amf_value_calloc(size_t *budget, size_t n, size_t size)
{
    if (n == 0)
        n = 1;
    if (size && n > *budget / size)
        return NULL;
    void *p = calloc(n, size);
    if (p)
        *budget -= n * size;
    return p;
}

int amf_value_grow(size_t *budget, void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return ST_OK;
    size_t ncap = *cap ? *cap : 4;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    size_t more = ncap - *cap;
    if (ncap > SIZE_MAX / size || more > *budget / size)
        return ST_ERROR;
    void *p = realloc(*arr, ncap * size);
    if (!p)
        return ST_ERROR;
    memset((uint8_t *)p + *cap * size, 0, more * size);
    *budget -= more * size;
    *arr = p;
    *cap = ncap;
    return ST_OK;
}

char *amf_value_strdup(size_t *budget, const void *p, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *s = amf_value_calloc(budget, len + 1, 1);
    if (s && len)
        memcpy(s, p, len);
    return s;
}

int amf_value_copy(struct amf_value *dst, const struct amf_value *src, size_t *budget)
{
    struct amf_value v;
    memset(&v, 0, sizeof(v));
    v.type = src->type;
    v.num = src->num;
    v.boolean = src->boolean;
    v.tz = src->tz;
    if (src->str && !(v.str = amf_value_strdup(budget, src->str, src->len)))
        goto fail;
    v.len = src->len;
    if (src->class_name && !(v.class_name = amf_value_strdup(budget, src->class_name,
                                                               strlen(src->class_name))))
        goto fail;
    if (src->nprops) {
        if (!(v.props = amf_value_calloc(budget, src->nprops, sizeof(*v.props))))
            goto fail;
        for (size_t i = 0; i < src->nprops; i++) {
            const struct amf_prop *sp = &src->props[i];
            struct amf_prop *dp = &v.props[i];
            v.nprops = i + 1; /* freeable as soon as it is zeroed */
            if (!(dp->name = amf_value_strdup(budget, sp->name, sp->name_len)))
                goto fail;
            dp->name_len = sp->name_len;
            if (amf_value_copy(&dp->value, &sp->value, budget) != ST_OK)
                goto fail;
        }
    }
    if (src->nitems) {
        if (!(v.items = amf_value_calloc(budget, src->nitems, sizeof(*v.items))))
            goto fail;
        for (size_t i = 0; i < src->nitems; i++) {
            v.nitems = i + 1;
            if (amf_value_copy(&v.items[i], &src->items[i], budget) != ST_OK)
                goto fail;
        }
    }
    *dst = v;
    return ST_OK;
fail:
    amf_value_free(&v);
    *dst = v;
    return ST_ERROR;
}

int amf_value_height(const struct amf_value *v)
{
    int h = 0;
    for (size_t i = 0; i < v->nprops; i++) {
        int c = amf_value_height(&v->props[i].value);
        h = c > h ? c : h;
    }
    for (size_t i = 0; i < v->nitems; i++) {
        int c = amf_value_height(&v->items[i]);
        h = c > h ? c : h;
    }
    switch (v->type) {
    case AMF_OBJECT:
    case AMF_ECMA_ARRAY:
    case AMF_STRICT_ARRAY:
        return h + 1;
    default:
        return h;
    }
}

static int bytes_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    return alen == 0 || (a && b && memcmp(a, b, alen) == 0);
}

int amf_value_equal(const struct amf_value *a, const struct amf_value *b, int bytes_as_string)
{
    enum amf_type ta = a->type, tb = b->type;
    if (bytes_as_string) {
        if (ta == AMF_BYTE_ARRAY)
            ta = AMF_STRING;
        if (tb == AMF_BYTE_ARRAY)
            tb = AMF_STRING;
    }
    if (ta != tb)
        return 0;
    switch (ta) {
    case AMF_NUMBER:
        return memcmp(&a->num, &b->num, sizeof(double)) == 0;
    case AMF_DATE:
        return memcmp(&a->num, &b->num, sizeof(double)) == 0 && a->tz == b->tz;
    case AMF_BOOLEAN:
        return !a->boolean == !b->boolean;
    case AMF_STRING:
    case AMF_XML:
    case AMF_BYTE_ARRAY:
        return bytes_eq(a->str, a->len, b->str, b->len);
    case AMF_OBJECT:
        if (!a->class_name != !b->class_name ||
            (a->class_name && strcmp(a->class_name, b->class_name) != 0))
            return 0;
        /* fall through */
    case AMF_ECMA_ARRAY:
        if (a->nprops != b->nprops)
            return 0;
        for (size_t i = 0; i < a->nprops; i++) {
            const struct amf_prop *pa = &a->props[i], *pb = &b->props[i];
            if (!bytes_eq(pa->name, pa->name_len, pb->name, pb->name_len) ||
                !amf_value_equal(&pa->value, &pb->value, bytes_as_string))
                return 0;
        }
        return 1;
    case AMF_STRICT_ARRAY:
        if (a->nitems != b->nitems)
            return 0;
        for (size_t i = 0; i < a->nitems; i++)
            if (!amf_value_equal(&a->items[i], &b->items[i], bytes_as_string))
                return 0;
        return 1;
    case AMF_NULL:
    case AMF_UNDEFINED:
    case AMF_UNSUPPORTED:
        return 1;
    }
    return 0;
}
