/*
 * fanout_frame: one media message (audio, video or data) as an immutable,
 * reference-counted object shared by every player of a stream.
 *
 * The frame holds the FLV tag body and, encoded once at creation, its RTMP
 * chunked form (type-0 header on message stream 1, at the node's output chunk
 * size, see rtmp_chunk_writer.h). Players queue references and write
 * straight from frame->rtmp; nothing is serialized per player unless a
 * player's session really differs (fanout_player handles that slow path).
 *
 * Lifetime: fanout_frame_new returns a frame with one reference owned by the
 * caller; every holder calls fanout_frame_unref once; the last one frees it.
 * The count is atomic because a ZeroMQ zero-copy send may release a frame
 * from an I/O thread (STYLE.md 7). One malloc per frame (header, body and
 * RTMP bytes in one block), so a frame costs one allocation.
 */
#ifndef SC_FANOUT_FRAME_H
#define SC_FANOUT_FRAME_H

#include <stdatomic.h>
#include <stdint.h>

enum fanout_frame_kind { FANOUT_AUDIO = 8, FANOUT_VIDEO = 9, FANOUT_DATA = 18 };

enum {
    FANOUT_FLAG_KEY = 1,        /* video keyframe (GOP start) */
    FANOUT_FLAG_SEQ_HEADER = 2, /* codec configuration (AVC/HEVC/AAC sequence header) */
    FANOUT_FLAG_METADATA = 4,   /* onMetaData data message */
    FANOUT_FLAG_SEG_START = 8   /* keyframe that opens HLS segment `segment` */
};

#define FANOUT_FLV_HEAD_MAX 24 /* "%x\r\n" (at most 8 hex digits) + 11 */
#define FANOUT_FLV_TAIL 6       /* u32 PreviousTagSize + "\r\n" */

struct fanout_frame {
    atomic_int refs;
    uint8_t kind;         /* enum fanout_frame_kind (= RTMP/FLV type) */
    uint8_t flags;        /* FANOUT_FLAG_* */
    uint32_t timestamp;   /* ms, the publisher's (or rebased) timeline */
    /* Stamped where the stream is ingested (origin) and replicated as is, so
     * every node segments it the same way (DESIGN.md 8, hls_segment_clock.h).
     * Zero on frames that carry no stamp. */
    uint32_t source_ts;   /* ms, the ingesting node's timeline (never rebased) */
    uint32_t segment;     /* HLS segment this frame belongs to, 0 = none yet */
    uint32_t epoch;       /* replication epoch the frame was published in */
    uint64_t wall_ms;     /* ingest wall clock, Unix ms (program date-time) */
    /* Replication seq the ingesting node gave the frame (0 elsewhere), so a
     * snapshot of cached frames can say where each one was in the stream. */
    uint64_t seq;
    uint32_t body_len;
    uint32_t rtmp_len;
    uint8_t *body;        /* FLV tag body, inside this allocation */
    uint8_t *rtmp;        /* RTMP chunks, inside this allocation */
    /* HTTP-FLV form, also built once: one HTTP/1.1 chunk per tag, written as
     * flv_head (chunk-size line + 11-byte tag header), body, flv_tail
     * (PreviousTagSize + CRLF). */
    uint8_t flv_head_len;
    uint8_t flv_head[FANOUT_FLV_HEAD_MAX];
    uint8_t flv_tail[FANOUT_FLV_TAIL];
};

/* Bytes of f in its HTTP-FLV form. */
static inline uint32_t fanout_frame_flv_len(const struct fanout_frame *f)
{
    return f->flv_head_len + f->body_len + FANOUT_FLV_TAIL;
}

/* Build a frame; chunk_size is the output chunk size used for frame->rtmp.
 * The HLS stamps start as source_ts = timestamp and the rest zero; the
 * creator sets them before sharing the frame. Returns NULL on allocation
 * failure. */
struct fanout_frame *fanout_frame_new(uint8_t kind, uint8_t flags, uint32_t timestamp, const uint8_t *body,
                                      uint32_t body_len, uint32_t chunk_size);

static inline struct fanout_frame *fanout_frame_ref(struct fanout_frame *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

/* Drop one reference; frees at zero. NULL is ignored. */
void fanout_frame_unref(struct fanout_frame *f);

/* Live frames in this process (for stats and leak tests). */
long fanout_frame_live_count(void);

#endif
