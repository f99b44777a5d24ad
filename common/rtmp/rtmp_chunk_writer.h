/*
 * rtmp_chunk_writer: turns one message into chunks at a given chunk size.
 *
 * Stateless on purpose: every message starts with a type-0 header (absolute
 * timestamp, length, type, stream id) and continues with type-3 headers
 * (repeating the extended timestamp when one is used). That costs a few header
 * bytes but makes the chunked form of a media frame independent of the
 * player, so the fan-out encodes it once and shares it (DESIGN.md 3.5).
 *
 * Appends to a caller-owned buf; ST_OK or ST_ERROR (buf cap, csid out of
 * range 2..65599, chunk size 0).
 */
#ifndef SC_RTMP_CHUNK_WRITER_H
#define SC_RTMP_CHUNK_WRITER_H

#include "core/buf.h"
#include <stdint.h>

struct rtmp_message_header {
    uint32_t csid;
    uint8_t type;
    uint32_t timestamp; /* absolute ms */
    uint32_t stream_id;
};

/* Exact number of bytes rtmp_chunk_writer_append will add. */
size_t rtmp_chunk_writer_size(uint32_t csid, uint32_t timestamp, uint32_t length, uint32_t chunk_size);

/* Append payload[0..length) as chunks. */
int rtmp_chunk_writer_append(struct buf *out, const struct rtmp_message_header *h,
                             const uint8_t *payload, uint32_t length, uint32_t chunk_size);

/* Same into a caller-provided array of rtmp_chunk_writer_size() bytes. */
void rtmp_chunk_writer_encode(uint8_t *dst, const struct rtmp_message_header *h, const uint8_t *payload,
                              uint32_t length, uint32_t chunk_size);

#endif
