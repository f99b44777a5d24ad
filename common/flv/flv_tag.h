/*
 * flv_tag: the FLV file header and tag framing (11-byte tag header, body,
 * 4-byte previous-tag-size), for HTTP-FLV output, recordings and the bench
 * publisher.
 *
 * The reader is incremental and bounded: feed bytes, get one tag at a time;
 * a tag larger than max_tag_size or a bad header is ST_ERROR with a reason.
 * The writer appends to a caller-owned buf.
 */
#ifndef SC_FLV_TAG_H
#define SC_FLV_TAG_H

#include "core/buf.h"
#include <stddef.h>
#include <stdint.h>

#define FLV_TAG_AUDIO 8
#define FLV_TAG_VIDEO 9
#define FLV_TAG_SCRIPT 18
#define FLV_HEADER_SIZE 9
#define FLV_TAG_HEADER_SIZE 11

struct flv_tag {
    uint8_t type;       /* 8, 9 or 18 */
    uint32_t timestamp; /* ms, with the extended byte applied */
    uint32_t size;      /* body bytes */
    const uint8_t *body; /* borrowed: valid until the next feed */
};

struct flv_reader {
    uint32_t max_tag_size;
    int state;          /* private */
    struct buf pending; /* private: partial header/tag */
    const char *error;  /* static reason after ST_ERROR */
    int has_audio, has_video; /* from the file header */
};

/* Append the 9-byte FLV header plus PreviousTagSize0. */
int flv_tag_write_header(struct buf *out, int has_audio, int has_video);
/* Append one tag (header, body, previous-tag-size). */
int flv_tag_write(struct buf *out, uint8_t type, uint32_t timestamp, const uint8_t *body, uint32_t size);
/* Write the 11-byte tag header into dst. */
void flv_tag_write_tag_header(uint8_t dst[FLV_TAG_HEADER_SIZE], uint8_t type, uint32_t timestamp, uint32_t size);

int flv_reader_init(struct flv_reader *r, uint32_t max_tag_size);
void flv_reader_free(struct flv_reader *r);
/* Same contract as rtmp_chunk_reader_feed: ST_OK one tag, ST_AGAIN all
 * consumed, ST_ERROR reason in r->error. The file header is checked first. */
int flv_reader_feed(struct flv_reader *r, const uint8_t *in, size_t len, size_t *consumed, struct flv_tag *tag);

#endif
