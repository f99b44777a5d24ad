#include "core/buf.h"
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int buf_reserve(struct buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return ST_ERROR;
    size_t need = b->len + n;
    if (need <= b->cap)
        return ST_OK;
    /* Grow geometrically, but never past the cap. */
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > b->max / 2 ? b->max : cap * 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return ST_ERROR;
    b->data = p;
    b->cap = cap;
    return ST_OK;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return ST_OK;
    if (buf_reserve(b, n) != ST_OK)
        return ST_ERROR;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return ST_OK;
}

int buf_append_u8(struct buf *b, uint8_t v) { return buf_append(b, &v, 1); }

int buf_append_be16(struct buf *b, uint16_t v)
{
    uint8_t t[2];
    wr_be16(t, v);
    return buf_append(b, t, 2);
}

int buf_append_be24(struct buf *b, uint32_t v)
{
    uint8_t t[3];
    wr_be24(t, v);
    return buf_append(b, t, 3);
}

int buf_append_be32(struct buf *b, uint32_t v)
{
    uint8_t t[4];
    wr_be32(t, v);
    return buf_append(b, t, 4);
}

int buf_append_le32(struct buf *b, uint32_t v)
{
    uint8_t t[4];
    wr_le32(t, v);
    return buf_append(b, t, 4);
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void buf_appendf(struct buf *b, const char *fmt, ...)
{
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        buf_append(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

void buf_append_json_string(struct buf *b, const char *s)
{
    buf_append_u8(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            buf_appendf(b, "\\%c", c);
        else if (c < 0x20)
            buf_appendf(b, "\\u%04x", c);
        else
            buf_append_u8(b, c);
    }
    buf_append_u8(b, '"');
}
