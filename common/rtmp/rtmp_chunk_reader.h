/*
 * rtmp_chunk_reader: reassembles RTMP messages from the chunk stream.
 *
 * Handles all four chunk header formats, chunk stream ids 2..65599 (1-, 2-
 * and 3-byte basic headers), extended timestamps (including on type-3
 * continuation chunks, where the 4-byte extended field is repeated when the
 * message's header used one), timestamp deltas, and interleaved chunk streams.
 *
 * Bounds (set at init, STYLE.md 5): the peer's chunk size may not exceed
 * max_chunk_size, a message may not exceed max_message_size, at most
 * RTMP_CHUNK_READER_MAX_STREAMS chunk streams can be in use at once. Going
 * over a bound is ST_ERROR with a reason in r->error; the connection is then
 * unusable.
 *
 * The reader does not interpret protocol control messages: the caller applies
 * Set Chunk Size (rtmp_chunk_reader_set_chunk_size) and Abort
 * (rtmp_chunk_reader_abort) as it sees them, before feeding more bytes. It
 * counts bytes for acknowledgements (r->bytes_in).
 *
 * Memory: per-connection. init allocates the stream table; reassembly buffers
 * grow per chunk stream up to the message size in use; free releases all.
 * A delivered message's payload points into the reader and stays valid until
 * the next call to feed/abort/free.
 */
#ifndef SC_RTMP_CHUNK_READER_H
#define SC_RTMP_CHUNK_READER_H

#include <stddef.h>
#include <stdint.h>

#define RTMP_CHUNK_READER_MAX_STREAMS 64
#define RTMP_DEFAULT_CHUNK_SIZE 128

struct rtmp_message {
    uint32_t csid;        /* chunk stream id it arrived on */
    uint8_t type;         /* message type id */
    uint32_t length;      /* payload bytes */
    uint32_t timestamp;   /* absolute ms (deltas applied), 32-bit wrapping */
    uint32_t stream_id;   /* message stream id */
    const uint8_t *payload;
};

struct rtmp_chunk_stream; /* private */

struct rtmp_chunk_reader {
    uint32_t chunk_size;       /* current peer chunk size */
    uint32_t max_chunk_size;   /* cap on Set Chunk Size */
    uint32_t max_message_size; /* cap on a message length */
    uint64_t bytes_in;         /* chunk-stream bytes consumed so far */
    const char *error;         /* static reason after ST_ERROR */
    /* private parse state */
    struct rtmp_chunk_stream *streams; /* grows up to RTMP_CHUNK_READER_MAX_STREAMS slots */
    unsigned nstreams;
    unsigned streams_cap; /* slots allocated */
    uint8_t hdr[18];  /* partial chunk header being collected */
    unsigned hdr_have;
    int in_payload;   /* 1 while reading a chunk body */
    struct rtmp_chunk_stream *cur;
    uint32_t chunk_left; /* body bytes left in the current chunk */
    uint64_t mem_total;  /* bytes allocated for reassembly buffers */
    uint64_t clock;      /* LRU stamps for chunk stream slot reuse */
};

/* Initialise with the caps. ST_OK or ST_ERROR (allocation). */
int rtmp_chunk_reader_init(struct rtmp_chunk_reader *r, uint32_t max_chunk_size,
                           uint32_t max_message_size);
void rtmp_chunk_reader_free(struct rtmp_chunk_reader *r);

/* Parse from in[0..len). ST_OK: one whole message in *msg, *consumed bytes
 * used (call again with the rest). ST_AGAIN: all len bytes consumed, no
 * message complete yet. ST_ERROR: r->error says why. */
int rtmp_chunk_reader_feed(struct rtmp_chunk_reader *r, const uint8_t *in, size_t len,
                           size_t *consumed, struct rtmp_message *msg);

/* Apply a peer Set Chunk Size. ST_ERROR if 0, above 0x7fffffff or above the cap. */
int rtmp_chunk_reader_set_chunk_size(struct rtmp_chunk_reader *r, uint32_t size);

/* Drop a partly received message on csid (Abort message). */
void rtmp_chunk_reader_abort(struct rtmp_chunk_reader *r, uint32_t csid);

#endif
