/*
 * buf: a growable byte buffer with a hard cap.
 *
 * The owner embeds a struct buf, calls buf_init with the cap, and frees the
 * storage with buf_free. Appending past the cap fails with ST_ERROR and leaves
 * the buffer unchanged, so encoders never grow without bound. Pointers into
 * data are invalidated by any append (it may realloc).
 */
#ifndef SC_BUF_H
#define SC_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    size_t len;
    size_t cap; /* allocated bytes */
    size_t max; /* hard limit on len */
};

/* Start empty with no storage; max is the hard cap on len. */
void buf_init(struct buf *b, size_t max);
/* Release storage; the buffer may be reused after buf_init. */
void buf_free(struct buf *b);
/* Make room for n more bytes; ST_OK or ST_ERROR (cap or allocation). */
int buf_reserve(struct buf *b, size_t n);
/* Append n bytes; ST_OK or ST_ERROR (over the cap: nothing appended). */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_u8(struct buf *b, uint8_t v);
int buf_append_be16(struct buf *b, uint16_t v);
int buf_append_be24(struct buf *b, uint32_t v);
int buf_append_be32(struct buf *b, uint32_t v);
int buf_append_le32(struct buf *b, uint32_t v);
/* Formatted append (printf); output past the cap, or past 2 KiB per call,
 * is dropped: for stats pages, where a truncated page beats none. */
void buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal (quotes, \" \\ and control characters
 * escaped); same truncation rule. */
void buf_append_json_string(struct buf *b, const char *s);
/* Drop the first n bytes (n <= len), moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);
/* Forget the contents, keep the storage. */
static inline void buf_reset(struct buf *b) { b->len = 0; }

/* Big-endian readers for parsers; the caller has checked the length. */
static inline uint16_t rd_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd_be24(const uint8_t *p) { return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; }
static inline uint32_t rd_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint32_t rd_le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static inline void wr_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void wr_be24(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 16); p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)v; }
static inline void wr_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void wr_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

#endif
