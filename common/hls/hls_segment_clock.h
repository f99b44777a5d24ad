/*
 * hls_segment_clock: decides, where a stream is ingested (the origin, or a
 * standalone node), which HLS segment every frame belongs to, and stamps it
 * on the frame (fanout_frame: segment, FANOUT_FLAG_SEG_START, wall_ms,
 * epoch). The stamps travel with the frame to every edge (cluster_wire.h),
 * so segment boundaries and numbers are decided once, and every worker and
 * every edge that packages the stream (hls_stream.h) produces the same
 * playlists and byte-identical segments (DESIGN.md 8).
 *
 * Rule: a video keyframe opens a new segment once the current one spans at
 * least target_ms of the ingest timeline (source_ts); a stream without
 * video cuts on audio frames the same way. Timestamps that go backwards
 * (a publisher's clock reset) open a segment at once. The first segment a
 * stream ever has on this node is numbered with the Unix time in seconds,
 * then +1 per segment, also across publishers (the next publisher's first
 * segment follows the last one, so packagers mark a discontinuity rather
 * than restart). On another origin (a failover, or the encoder reconnected
 * elsewhere) the numbering continues from the last number the previous
 * origin recorded in the directory (cluster_directory_note_segment), so it
 * is a discontinuity there too. A stream that comes back after the
 * directory forgot it starts from the clock again: numbers keep growing (a
 * segment lasts >= 1 s) but jump, and packagers restart their playlists.
 *
 * Plain state embedded in the stream; no allocation; loop-confined.
 */
#ifndef SC_HLS_SEGMENT_CLOCK_H
#define SC_HLS_SEGMENT_CLOCK_H

#include "fanout/fanout_frame.h"

#include <stdint.h>

struct hls_segment_clock {
    uint32_t target_ms; /* minimum segment length, >= 1000 */
    uint32_t segment;   /* segment in progress, 0 = none yet */
    uint32_t start_ts;  /* source_ts of its first frame */
    int has_video;      /* the stream has shown video: cut on keyframes only */
    int restart;        /* a new publisher: cut at its first cut point */
};

void hls_segment_clock_init(struct hls_segment_clock *c, uint32_t target_ms);
/* A new publisher: its first keyframe opens the next segment. */
void hls_segment_clock_reset(struct hls_segment_clock *c);
/* The stream was numbered up to last elsewhere (another origin): the next
 * segment is last + 1 unless this clock is already past it. */
void hls_segment_clock_continue(struct hls_segment_clock *c, uint32_t last);
/* Stamp f (not yet shared): f->segment, SEG_START on a cut, f->wall_ms and
 * f->epoch. wall_ms is the current Unix time in ms. */
void hls_segment_clock_stamp(struct hls_segment_clock *c, struct fanout_frame *f, uint32_t epoch, uint64_t wall_ms);

#endif
