/*
 * rtmp_chunk_writer: one message -> type-0 chunk + type-3 continuations.
 */
#include "rtmp/rtmp_chunk_writer.h"

#include "core/status.h"

#include <string.h>

#define EXT_TS 0xFFFFFFu

static unsigned basic_len(uint32_t csid)
{
    return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

static uint8_t *put_basic(uint8_t *p, unsigned fmt, uint32_t csid)
{
    if (csid < 64) {
        *p++ = (uint8_t)(fmt << 6 | csid);
    } else if (csid < 320) {
        *p++ = (uint8_t)(fmt << 6);
        *p++ = (uint8_t)(csid - 64);
    } else {
        *p++ = (uint8_t)(fmt << 6 | 1);
        *p++ = (uint8_t)(csid - 64);
        *p++ = (uint8_t)((csid - 64) >> 8);
    }
    return p;
}

/* 0 when chunk_size is 0 (nothing can be encoded). */
size_t rtmp_chunk_writer_size(uint32_t csid, uint32_t timestamp, uint32_t length, uint32_t chunk_size)
{
    if (chunk_size == 0)
        return 0;
    size_t chunks = length == 0 ? 1 : ((size_t)length + chunk_size - 1) / chunk_size;
    size_t per_chunk = basic_len(csid) + (timestamp >= EXT_TS ? 4 : 0);
    return chunks * per_chunk + 11 + (size_t)length;
}

int rtmp_chunk_writer_append(struct buf *out, const struct rtmp_message_header *h, const uint8_t *payload,
                             uint32_t length, uint32_t chunk_size)
{
    if (h->csid < 2 || h->csid > 65599 || chunk_size == 0 || length > 0xFFFFFFu)
        return ST_ERROR;
    size_t n = rtmp_chunk_writer_size(h->csid, h->timestamp, length, chunk_size);
    if (buf_reserve(out, n) != ST_OK)
        return ST_ERROR;
    rtmp_chunk_writer_encode(out->data + out->len, h, payload, length, chunk_size);
    out->len += n;
    return ST_OK;
}

/* The caller has validated csid, chunk_size and length (as append does). */
void rtmp_chunk_writer_encode(uint8_t *dst, const struct rtmp_message_header *h, const uint8_t *payload,
                              uint32_t length, uint32_t chunk_size)
{
    int ext = h->timestamp >= EXT_TS;
    uint8_t *p = put_basic(dst, 0, h->csid);
    wr_be24(p, ext ? EXT_TS : h->timestamp);
    wr_be24(p + 3, length);
    p[6] = h->type;
    wr_le32(p + 7, h->stream_id);
    p += 11;
    if (ext) {
        wr_be32(p, h->timestamp);
        p += 4;
    }

    /* Continuation header: the same bytes for every type-3 chunk. */
    uint8_t cont[7];
    uint8_t *c = put_basic(cont, 3, h->csid);
    if (ext) {
        wr_be32(c, h->timestamp);
        c += 4;
    }
    size_t cont_len = (size_t)(c - cont);

    uint32_t off = 0;
    for (;;) {
        uint32_t n = length - off < chunk_size ? length - off : chunk_size;
        if (n) {
            memcpy(p, payload + off, n);
            p += n;
            off += n;
        }
        if (off == length)
            break;
        memcpy(p, cont, cont_len);
        p += cont_len;
    }
}
