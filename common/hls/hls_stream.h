/*
 * hls_stream: the HLS rendition of one live stream on one node: segments
 * (MPEG-TS, or fMP4 with optional low-latency parts), their init segments
 * and the media playlist, built from the replicated frames (fanout_frame.h).
 *
 * Determinism (DESIGN.md 8): every worker and every edge fed the same frames
 * serves the same playlist text and byte-identical segments, parts and init
 * segments, even one that started receiving later. Everything written is a
 * function of the frames' stamps (hls_segment_clock.h): dts = source_ts,
 * segment numbers and boundaries (FANOUT_FLAG_SEG_START), epoch, wall_ms.
 * No clock, no randomness, no node data. A node lists only segments whose
 * SEG_START frame it saw; frames before its first SEG_START are ignored.
 *
 * Segments. A segment is every audio/video frame from its SEG_START frame to
 * the next SEG_START (exclusive), in arrival order; it completes when the
 * next SEG_START arrives (duration = difference of the two source_ts) or
 * when a frame of another epoch arrives (duration = last dts - first dts +
 * the last frame interval). A new segment continues the held ones when its
 * number is the previous one + 1 and either its epoch is the same (and its
 * codec headers are byte-identical) or its epoch is the previous + 1 (an
 * EXT-X-DISCONTINUITY, with a new EXT-X-MAP if the headers changed). Any
 * other start (gap, numbers going back, epoch jump, codec change inside an
 * epoch, or a segment this node had to abandon) drops every held segment and
 * starts over. A segment is abandoned (never listed) when it outgrows
 * max_bytes (after every complete segment was evicted for it) or
 * HLS_STREAM_MAX_PARTS, when a frame stamped with a later segment shows a
 * SEG_START was missed, or (fMP4) when none of its frames muxed or its init
 * segment cannot be built.
 *
 * Discontinuity numbering rule: EXT-X-DISCONTINUITY-SEQUENCE is the epoch of
 * the first listed segment, and an EXT-X-DISCONTINUITY tag appears only
 * before a listed segment (never the first) whose epoch is its
 * predecessor's + 1. So the discontinuity number a client computes for a
 * segment is always its epoch, on every node and every reload.
 *
 * URIs are relative to the playlist (/<app>/<name>.m3u8): "<name>/<msn>.ts",
 * "<name>/<msn>.m4s", "<name>/<msn>.<part>.m4s", "<name>/init-<id>.mp4".
 * The init id is a 64-bit FNV-1a hash of the codec headers (printed in
 * decimal): for the video then the audio header, a presence byte (0/1), the
 * length as big-endian u32 and the bytes. Not a segment number: a node that
 * joined late cannot know which segment first used the headers, but every
 * node hashes the same bytes, and the same name always means the same bytes
 * (cache-safe across republishes).
 *
 * fMP4 parts: a part closes at the first frame whose source_ts is at least
 * 7/8 of part_ms after the part's start (that frame opens the next part), at
 * the segment's end, or when HLS_STREAM_PART_FRAMES frames are queued. The
 * 7/8 threshold keeps parts within [0.875, 1] x PART-TARGET (= part_ms) as
 * RFC 8216bis asks, as long as frames are at most part_ms/8 apart. A part is
 * one fmp4_muxer_fragment (sequence number msn * 1000 + part, modulo 2^32,
 * end_dts = start of the next part); a segment is the concatenation of its
 * parts. INDEPENDENT=YES when the part starts with a video keyframe, or the
 * stream has no video. Parts are fetchable for the segment in progress and
 * the last HLS_STREAM_PART_SEGMENTS complete ones, and listed for the segment
 * in progress and the last HLS_STREAM_PART_SEGMENTS - 1 complete ones.
 *
 * Memory: per stream, allocated at init: the held-segment ring (window + 2
 * complete segments stay downloadable, the last `window` are listed), the
 * init-segment table and the part scratch. Segment, part and init bytes are
 * refcounted blobs; bytes held (complete segments + the segment in progress)
 * never exceed max_bytes: the oldest segments are evicted first. A muxer
 * error on a frame is logged once per stream (LOG_WARN), counted, and that
 * frame is skipped; the first dropped segment is logged too, the rest counted.
 *
 * Loop-confined: one loop owns a stream and every blob it hands out (plain
 * int refcounts). Blobs stay valid until the holder unrefs them, however far
 * the stream moves on.
 */
#ifndef SC_HLS_STREAM_H
#define SC_HLS_STREAM_H

#include "core/buf.h"
#include "fanout/fanout_frame.h"
#include "hls/hls_sample.h"
#include "hls/ts_muxer.h"

#include <stddef.h>
#include <stdint.h>

enum { HLS_FORMAT_TS = 0, HLS_FORMAT_FMP4 = 1 };

/* Bits of hls_stream_push's result: what became available. */
enum { HLS_STREAM_NEW_PART = 1, HLS_STREAM_NEW_SEGMENT = 2 };

#define HLS_STREAM_NAME_MAX 128      /* name length limit, excluding NUL */
#define HLS_STREAM_WINDOW_MAX 1000   /* settings.window upper bound */
#define HLS_STREAM_PART_FRAMES 2048  /* frames queued in one part at most */
#define HLS_STREAM_MAX_PARTS 1000    /* parts of one segment at most */
#define HLS_STREAM_PART_SEGMENTS 3   /* complete segments whose parts are kept */
#define HLS_STREAM_MIN_BYTES (64 * 1024)

/* A refcounted, immutable byte string (a segment, a part, an init segment).
 * A part of a complete segment is a view into the segment's blob (parent). */
struct hls_blob {
    int refs;
    size_t len;
    uint8_t *data;
    struct hls_blob *parent; /* view: data lies in parent, which this holds a reference on */
};

static inline struct hls_blob *hls_blob_ref(struct hls_blob *b)
{
    b->refs++;
    return b;
}

/* Drop one reference; frees at zero. NULL is ignored. */
void hls_blob_unref(struct hls_blob *b);

struct hls_stream_settings {
    int format;         /* HLS_FORMAT_TS or HLS_FORMAT_FMP4 */
    int low_latency;    /* fMP4 only: list parts, preload hint, blocking reload, skip */
    uint32_t window;    /* segments listed, 1..HLS_STREAM_WINDOW_MAX, e.g. 6 */
    uint32_t part_ms;   /* fMP4 part target (PART-TARGET), >= 100, e.g. 500 */
    size_t max_bytes;   /* cap on bytes held (segments + parts), >= HLS_STREAM_MIN_BYTES */
};

struct hls_part {
    struct hls_blob *blob;
    uint32_t dur_ms;
    uint8_t independent;
};

struct hls_seg {
    uint64_t msn;
    uint32_t epoch;
    uint32_t start_ts;  /* source_ts of the SEG_START frame */
    uint32_t dur_ms;    /* set when complete */
    uint64_t wall_ms;   /* of the SEG_START frame: EXT-X-PROGRAM-DATE-TIME */
    uint64_t init_id;   /* hash of the codec headers (fMP4: init segment name) */
    uint8_t disc;       /* epoch = predecessor's + 1: EXT-X-DISCONTINUITY */
    struct hls_blob *blob;   /* complete segment bytes; NULL while in progress */
    struct hls_part *parts;  /* fMP4 */
    uint32_t nparts, parts_cap;
};

struct hls_init {
    uint64_t id;
    struct hls_blob *blob;
};

struct hls_stream_stats {
    uint64_t last_msn;     /* newest complete segment (0 when none held) */
    uint32_t segments;     /* complete segments held */
    size_t bytes;          /* bytes held (complete segments + segment in progress) */
    uint64_t mux_errors;   /* frames skipped on a muxer error */
    uint64_t restarts;     /* times the held segments were dropped */
    uint64_t abandoned;    /* segments given up (see above) */
};

struct hls_stream {
    struct hls_stream_settings set;
    char name[HLS_STREAM_NAME_MAX + 1];

    /* Codec headers: latest received, and those of the segment in progress. */
    struct fanout_frame *pend_video, *pend_audio;
    struct fanout_frame *cur_video, *cur_audio;

    /* Complete segments, oldest first, ring of cap = window + 2. */
    struct hls_seg *segs;
    uint32_t seg_cap, seg_head, seg_count;

    /* Segment in progress. */
    int in_progress;
    struct hls_seg cur;
    uint32_t cur_max_ts, cur_vlast, cur_vprev, cur_alast, cur_aprev;
    uint32_t cur_vcount, cur_acount;
    struct buf cur_ts;          /* TS bytes written so far */
    struct ts_muxer ts;
    struct fanout_frame **part_frames; /* fMP4 part in progress */
    uint32_t part_nframes;
    size_t part_body_bytes;
    uint32_t part_start_ts;
    struct hls_sample *samples;        /* scratch, HLS_STREAM_PART_FRAMES */
    struct buf scratch;                /* fragment output */

    /* Continuity of the current run: newest complete segment. */
    int have_last;
    uint64_t last_msn;
    uint32_t last_epoch;
    uint64_t last_init_id;
    int need_restart;                  /* a segment was abandoned */

    struct hls_init *inits;            /* cap = window + 3 */
    uint32_t ninits, inits_cap;

    size_t bytes;                      /* complete segments + segment in progress */
    int warned, warned_drop;           /* a muxer error / a dropped segment was logged */
    struct hls_stream_stats stats;
};

/* Check the settings, copy name (non-empty, at most HLS_STREAM_NAME_MAX
 * bytes, printable ASCII without '"', '/' or '\\'), allocate the tables.
 * ST_OK, or ST_ERROR (bad settings or allocation; nothing to free). */
int hls_stream_init(struct hls_stream *h, const struct hls_stream_settings *s, const char *name);

/* Release everything the stream holds (frame and blob references); blobs
 * handed out stay valid until their holders unref them. */
void hls_stream_free(struct hls_stream *h);

/* Feed one frame; the stream takes its own references on what it keeps.
 * Sequence-header frames update the codec headers (applied at the next
 * SEG_START); metadata and other data frames are ignored. Returns a mask of
 * HLS_STREAM_NEW_PART / HLS_STREAM_NEW_SEGMENT (0 when nothing new) so the
 * caller can wake blocked requests. */
unsigned hls_stream_push(struct hls_stream *h, struct fanout_frame *f);

/* New references (the caller unrefs), or NULL when not, or no longer,
 * available. A segment is available once complete. Parts exist only in
 * low-latency fMP4. init_id is the number in "init-<id>.mp4". */
struct hls_blob *hls_stream_segment(struct hls_stream *h, uint64_t msn);
struct hls_blob *hls_stream_part(struct hls_stream *h, uint64_t msn, uint32_t part);
struct hls_blob *hls_stream_init_segment(struct hls_stream *h, uint64_t init_id);

/* Append the media playlist to out (skip = _HLS_skip=YES: a delta update
 * with EXT-X-SKIP, honoured in low-latency mode only). ST_OK; ST_AGAIN when
 * no complete segment is held yet (out untouched); ST_ERROR when out's cap is
 * hit (out rolled back). */
int hls_stream_playlist(struct hls_stream *h, struct buf *out, int skip);

/* For blocking playlist reload (_HLS_msn, _HLS_part; part -1 = the whole
 * segment) and for part/segment requests that may wait:
 *   1  reached: the segment is complete, or the part closed, in this run
 *      (it may already be evicted: the fetch then returns NULL -> 404, while
 *      a blocking reload answers with the playlist at once, RFC 8216bis 6.2.5.2);
 *   0  not yet but expected soon: msn is the segment in progress or the next
 *      one (also while this node has seen no segment at all, and for a whole
 *      segment older than the one in progress before any completed here);
 *  -1  never: more than two segments ahead of the last complete one (answer
 *      400), a part in a non-low-latency stream, or a part before the segments
 *      this node has (404). */
int hls_stream_ready(const struct hls_stream *h, uint64_t msn, int32_t part);

/* Counters for the status page and metrics. */
void hls_stream_get_stats(const struct hls_stream *h, struct hls_stream_stats *out);

/* Format unix_ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, proleptic Gregorian,
 * no time zone lookup) into out[25] with the NUL. */
void hls_stream_format_date(char out[25], uint64_t unix_ms);

#endif
